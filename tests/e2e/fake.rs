//! A scriptable HTTP/1.1 server for upstream fault tests: it answers each
//! request as the test's script says (a status, a malformed body, a reset
//! in the middle of the body, a stall, or a forward to a real upstream), and
//! records what it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How to answer one request.
pub enum Action {
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Headers promise more body than is sent, then the connection closes.
    ResetMidBody,
    /// Close the connection without a word.
    Close,
    /// Wait, then answer.
    Stall(Duration, Box<Action>),
    /// Send the request on to a real server (`http://host:port`) and relay
    /// its answer, after `delay`.
    Forward {
        to: String,
        delay: Duration,
    },
}

impl Action {
    pub fn json(status: u16, body: serde_json::Value) -> Action {
        Action::Respond { status, headers: vec![], body: body.to_string() }
    }
}

type Script = dyn Fn(&Received, usize) -> Action + Send + Sync;

pub struct Fake {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Fake {
    /// Serve until the test process ends; `script(request, n)` (n counts
    /// from 0 over every request) decides each answer.
    pub fn start(script: impl Fn(&Received, usize) -> Action + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake");
        let port = listener.local_addr().unwrap().port();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (script, log) = (script.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &*script, &log));
            }
        });
        Fake { port, received }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, script: &Script, log: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut out = stream;
    loop {
        let Some(req) = read_request(&mut reader) else { return };
        let n = {
            let mut log = log.lock().unwrap();
            log.push(req.clone());
            log.len() - 1
        };
        if !answer(&mut out, &req, script(&req, n)) {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

/// Write the answer; false when the connection is done.
fn answer(out: &mut TcpStream, req: &Received, action: Action) -> bool {
    match action {
        Action::Respond { status, headers, body } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            out.write_all(head.as_bytes()).and_then(|()| out.write_all(body.as_bytes())).is_ok()
        }
        Action::ResetMidBody => {
            let _ = out.write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/scim+json\r\ncontent-length: 500\r\n\r\n{\"id\": \"half");
            let _ = out.flush();
            false
        }
        Action::Close => false,
        Action::Stall(d, then) => {
            std::thread::sleep(d);
            answer(out, req, *then)
        }
        Action::Forward { to, delay } => {
            let (status, headers, body) = forward(&to, req);
            std::thread::sleep(delay);
            answer(out, req, Action::Respond { status, headers, body })
        }
    }
}

fn forward(to: &str, req: &Received) -> (u16, Vec<(&'static str, String)>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = format!("{to}{}", req.path);
    let auth = req.header("authorization").unwrap_or_default().to_owned();
    let result = match req.method.as_str() {
        "GET" => agent.get(&url).header("authorization", &auth).call(),
        "DELETE" => agent.delete(&url).header("authorization", &auth).call(),
        m => {
            let r = match m {
                "POST" => agent.post(&url),
                "PUT" => agent.put(&url),
                _ => agent.patch(&url),
            };
            r.header("authorization", &auth).header("content-type", "application/scim+json").send(req.body.as_str())
        }
    };
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            (status, vec![], body)
        }
        Err(e) => (599, vec![], format!("forward failed: {e}")),
    }
}
