//! Starts the real `scimgate` binary and talks HTTP to it.
//!
//! [`Gateway`] owns a temp dir (config + store), the child process and its
//! captured stderr. [`Client`] is a cloneable, `Send` HTTP client bound to one
//! gateway address (threads in the crash test each get a clone).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The gateway under test: this build's, or `SCIMGATE_E2E_BIN` (another
/// build through the same suite, e.g. to show that a test fails before a fix).
pub static BIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("SCIMGATE_E2E_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_scimgate").to_owned())
});

/// `SCIMGATE_E2E_POSTGRES=postgres://USER@HOST:PORT`: every test gateway
/// stores on PostgreSQL instead of SQLite, in a database of its own made
/// under that server (and dropped after the test).
pub static POSTGRES: std::sync::LazyLock<Option<String>> = std::sync::LazyLock::new(|| {
    std::env::var("SCIMGATE_E2E_POSTGRES").ok().filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('/').to_owned())
});

/// Whether this run's gateways store on PostgreSQL.
pub fn on_postgres() -> bool {
    POSTGRES.is_some()
}

/// A fresh, empty database under `SCIMGATE_E2E_POSTGRES`: its URL and name.
pub fn fresh_database(base: &str) -> (String, String) {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("e2e_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let mut admin = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to {base}/postgres: {e}"));
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
    (format!("{base}/{name}"), name)
}

fn drop_database(base: &str, name: &str) {
    if let Ok(mut admin) = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// How long we wait for the gateway to print its address.
/// A bound for failures, not a wait: a gateway compiling large JavaScript or
/// Python components for the first time takes minutes in a busy debug build.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);
/// Generous deadline for "eventually" conditions (the contracts promise 2 s;
/// we only poll, we never assert how long it took).
pub const EVENTUALLY: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// HTTP

/// A response with its body already read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body parsed as JSON; `Value::Null` if empty or not JSON.
    pub json: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `status body` for assertion messages.
    pub fn describe(&self) -> String {
        format!("HTTP {} {:?} body: {}", self.status, self.headers, self.body)
    }

    /// Panics unless the status is `want`.
    #[track_caller]
    pub fn expect(self, want: u16) -> Self {
        assert_eq!(self.status, want, "unexpected status: {}", self.describe());
        self
    }
}

#[derive(Clone)]
pub struct Client {
    /// `http://127.0.0.1:PORT`
    pub root: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(root: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client { root: root.trim_end_matches('/').to_string(), agent }
    }

    /// SCIM base, `http://127.0.0.1:PORT/scim/v2`.
    pub fn scim_base(&self) -> String {
        format!("{}/scim/v2", self.root)
    }

    /// Any request against a path under the server root (e.g.
    /// `/scim/v2/Users`). The query string is percent-encoded here, so tests may
    /// write filters as IdPs mean them: `?filter=userName eq "x"`.
    pub fn try_raw(
        &self,
        method: &str,
        root_path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, ureq::Error> {
        let url = format!("{}{}", self.root, encode_query(root_path));
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req = req.header("Accept", "application/scim+json");
        if body.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req = req.header("Content-Type", "application/scim+json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = match body {
            Some(b) => self.agent.run(req.body(b).expect("request builds"))?,
            None => self.agent.run(req.body(()).expect("request builds"))?,
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = resp.body_mut().with_config().limit(64 << 20).read_to_string()?;
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(Response { status, headers, body, json })
    }

    /// Like [`Client::try_raw`] but the path is relative to the SCIM base and a
    /// transport error panics.
    #[track_caller]
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Response {
        match self.try_raw(method, &format!("/scim/v2{path}"), token, headers, body) {
            Ok(r) => r,
            Err(e) => panic!("{method} {path}: transport error: {e}"),
        }
    }

    /// `send`, returning `Err` on transport errors (for the crash test).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Response, ureq::Error> {
        let body = body.map(|b| serde_json::to_vec(b).unwrap());
        self.try_raw(method, &format!("/scim/v2{path}"), Some(token), &[], body)
    }

    #[track_caller]
    pub fn get(&self, path: &str, token: &str) -> Response {
        self.send("GET", path, Some(token), &[], None)
    }
    #[track_caller]
    pub fn delete(&self, path: &str, token: &str) -> Response {
        self.send("DELETE", path, Some(token), &[], None)
    }
    #[track_caller]
    pub fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send("POST", path, Some(token), &[], Some(serde_json::to_vec(body).unwrap()))
    }
    #[track_caller]
    pub fn put(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send("PUT", path, Some(token), &[], Some(serde_json::to_vec(body).unwrap()))
    }
    #[track_caller]
    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send("PATCH", path, Some(token), &[], Some(serde_json::to_vec(body).unwrap()))
    }
}

/// Percent-encodes the query part of `path` (everything after the first
/// `?`), keeping `=`, `&` and `%` so that pre-encoded queries pass unchanged.
pub fn encode_query(path: &str) -> String {
    let Some((p, q)) = path.split_once('?') else {
        return path.to_string();
    };
    let mut out = String::with_capacity(path.len() + 16);
    out.push_str(p);
    out.push('?');
    for b in q.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~=&%/:@!$'()*,;?".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Gateway process

pub struct Gateway {
    /// Shared with its replicas ([`Gateway::replica`]).
    pub dir: Arc<tempfile::TempDir>,
    /// The PostgreSQL database this gateway made (and drops), if any.
    database: Option<String>,
    pub config: PathBuf,
    child: Option<Child>,
    client: Client,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    env: Vec<(String, String)>,
    /// The admin API, when the config has `[admin]`.
    admin: Option<Client>,
}

/// The admin token every test gateway with an admin listener uses.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

impl Gateway {
    /// A gateway with one table per tenant and default settings.
    pub fn start(tenants: &[&str]) -> Gateway {
        Gateway::start_with(tenants, "", &[])
    }

    /// `server_extra` is TOML put under `[server]`, `env` is added to the
    /// child's environment.
    pub fn start_with(tenants: &[&str], server_extra: &str, env: &[(&str, &str)]) -> Gateway {
        let mut toml = String::new();
        for t in tenants {
            toml.push_str(&format!("\n[tenants.{t}]\n"));
        }
        Gateway::start_config(server_extra, &toml, env)
    }

    /// A gateway with an admin listener and `tenants_toml` as the tenant
    /// part of its config (relative paths in it resolve against the temp dir).
    pub fn start_tenants(tenants_toml: &str) -> Gateway {
        let toml = format!("[admin]\n{tenants_toml}");
        Gateway::start_config("", &toml, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN)])
    }

    /// `extra` follows the `[store]` table verbatim.
    pub fn start_config(server_extra: &str, extra: &str, env: &[(&str, &str)]) -> Gateway {
        Gateway::start_files("", &format!("[server]\n{server_extra}\n"), extra, &[], env)
    }

    /// A gateway whose config is `top` (top-level keys), `tables`, the
    /// `[store]` table, then `extra`; `files` (relative path, content) are
    /// written into its directory first.
    pub fn start_files(top: &str, tables: &str, extra: &str, files: &[(&str, &[u8])], env: &[(&str, &str)]) -> Gateway {
        Gateway::start_on(POSTGRES.as_deref(), top, tables, extra, files, env)
    }

    /// A gateway on SQLite whatever `SCIMGATE_E2E_POSTGRES` says, with
    /// `tenants_toml` after `[store]`.
    pub fn start_sqlite(tenants_toml: &str) -> Gateway {
        Gateway::start_on(None, "", "[server]\n", tenants_toml, &[], &[])
    }

    /// Drop `name` (a database under `SCIMGATE_E2E_POSTGRES`) with this gateway.
    pub fn adopt_database(&mut self, name: String) {
        self.database = Some(name);
    }

    fn start_on(
        postgres: Option<&str>,
        top: &str,
        tables: &str,
        extra: &str,
        files: &[(&str, &[u8])],
        env: &[(&str, &str)],
    ) -> Gateway {
        let dir = tempfile::Builder::new().prefix("scimgate-e2e-").tempdir().expect("temp dir");
        for (rel, content) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let config = dir.path().join("scimgate.toml");
        let (store, database) = match postgres {
            Some(base) => {
                let (url, name) = fresh_database(base);
                (format!("[store]\nurl = \"{url}\"\npool = 8\n"), Some(name))
            }
            None => ("[store]\npath = \"scimgate.db\"\n".to_owned(), None),
        };
        let toml = format!("{top}\n{tables}\n{store}\n{extra}");
        let has_admin = toml.lines().any(|l| l.trim() == "[admin]");
        std::fs::write(&config, toml).expect("write config");
        // Run the processes from a different directory than the config's, so
        // that relative store paths must resolve against the config file.
        std::fs::create_dir(dir.path().join("cwd")).expect("cwd dir");
        let mut gw = Gateway {
            dir: Arc::new(dir),
            database,
            config,
            child: None,
            client: Client::new("http://127.0.0.1:1"),
            stderr: Arc::default(),
            stdout: Arc::default(),
            readers: Vec::new(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            admin: has_admin.then(|| Client::new("http://127.0.0.1:1")),
        };
        gw.spawn();
        gw
    }

    /// Another gateway process on the same config and store (a replica
    /// behind a load balancer). Its database, if any, stays the first's.
    pub fn replica(&self) -> Gateway {
        let mut gw = Gateway {
            dir: self.dir.clone(),
            database: None,
            config: self.config.clone(),
            child: None,
            client: Client::new("http://127.0.0.1:1"),
            stderr: Arc::default(),
            stdout: Arc::default(),
            readers: Vec::new(),
            env: self.env.clone(),
            admin: self.admin.as_ref().map(|_| Client::new("http://127.0.0.1:1")),
        };
        gw.spawn();
        gw
    }

    fn cwd(&self) -> PathBuf {
        self.dir.path().join("cwd")
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "gateway already running");
        let mut cmd = Command::new(BIN.as_str());
        cmd.args(["serve", "--config"])
            .arg(&self.config)
            .args(["--listen", "127.0.0.1:0"])
            .args(if self.admin.is_some() { &["--admin-listen", "127.0.0.1:0"][..] } else { &[] })
            .current_dir(self.cwd())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", *BIN));
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();

        let (tx, rx) = mpsc::channel::<String>();
        let stdout = self.stdout.clone();
        self.readers.push(std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                stdout.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        }));
        let stderr = self.stderr.clone();
        self.readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stderr.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }));
        self.child = Some(child);

        let line = rx.recv_timeout(STARTUP_TIMEOUT);
        let addr = line.as_deref().ok().and_then(|l| {
            l.strip_prefix("listening on http://127.0.0.1:")
                .or_else(|| l.strip_prefix("listening on https://127.0.0.1:"))
        });
        match addr.and_then(|port| port.trim().parse::<u16>().ok()) {
            Some(port) => {
                self.client = Client::new(&format!("http://127.0.0.1:{port}"));
                if self.admin.is_some() {
                    let line = rx.recv_timeout(STARTUP_TIMEOUT);
                    let port = line
                        .as_deref()
                        .ok()
                        .and_then(|l| l.strip_prefix("admin listening on http://127.0.0.1:"))
                        .and_then(|p| p.trim().parse::<u16>().ok())
                        .unwrap_or_else(|| panic!("no admin listener line (got {line:?})"));
                    self.admin = Some(Client::new(&format!("http://127.0.0.1:{port}")));
                }
            }
            None => {
                let status = self.stop_hard();
                // Let the reader threads drain the pipes.
                for h in self.readers.drain(..) {
                    let _ = h.join();
                }
                panic!(
                    "gateway did not report `listening on http://127.0.0.1:PORT` (got {line:?}, exit {status:?})\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
        }
    }

    /// Kills the child if it is running and reaps it.
    fn stop_hard(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The admin API client (the gateway must have been started with one).
    pub fn admin(&self) -> Client {
        self.admin.clone().expect("this gateway has no admin listener")
    }

    /// `GET` on the admin API with the admin token; the JSON body.
    #[track_caller]
    pub fn admin_get(&self, path: &str) -> Value {
        let resp = self.admin().try_raw("GET", path, Some(ADMIN_TOKEN), &[], None).expect("admin request");
        resp.expect(200).json
    }

    /// `POST` a JSON body on the admin API with the admin token.
    #[track_caller]
    pub fn admin_post(&self, path: &str, body: &Value) -> Response {
        let body = serde_json::to_vec(body).unwrap();
        self.admin().try_raw("POST", path, Some(ADMIN_TOKEN), &[], Some(body)).expect("admin request")
    }

    /// The embedded target's accounts of `endpoint` (`Users`, `Groups`).
    pub fn target_accounts(&self, tenant: &str, endpoint: &str) -> Vec<Value> {
        let body = self.admin_get(&format!("/admin/tenants/{tenant}/target/{endpoint}"));
        body["accounts"].as_array().cloned().unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT/scim/v2`
    pub fn scim_base(&self) -> String {
        self.client.scim_base()
    }

    /// Everything the gateway wrote to stderr so far (all runs).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Every stdout line of all runs so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Runs `scimgate ARGS --config F` to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN.as_str());
        cmd.args(args).arg("--config").arg(&self.config).current_dir(self.cwd()).stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap_or_else(|e| panic!("run scimgate {args:?}: {e}"))
    }

    /// Runs the CLI, asserts success and returns stdout.
    #[track_caller]
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "scimgate {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// `scimgate token issue --tenant T`: the new bearer token.
    #[track_caller]
    pub fn token(&self, tenant: &str) -> String {
        let out = self.cli_ok(&["token", "issue", "--tenant", tenant]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "token issue must print exactly one line, got {out:?}");
        let token = lines[0].trim();
        assert!(!token.is_empty() && !token.contains(char::is_whitespace), "bad token line {out:?}");
        token.to_string()
    }

    /// A line of `/proc/PID/status` of the running gateway, as a number
    /// (`Threads`, `VmRSS` in kB).
    pub fn proc_status(&self, field: &str) -> u64 {
        let pid = self.child.as_ref().expect("gateway running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("gateway running");
        // SAFETY: plain syscall on a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 failed");
        child.wait().expect("reap gateway");
    }

    /// SIGTERM and wait (bounded) for the exit; returns the exit status.
    /// Send SIGHUP (reload) to the running gateway.
    pub fn sighup(&self) {
        let child = self.child.as_ref().expect("gateway running");
        // SAFETY: plain syscall on a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
        assert_eq!(rc, 0, "kill -HUP failed");
    }

    pub fn sigterm(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("gateway running");
        // SAFETY: plain syscall on a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("gateway did not exit after SIGTERM\n--- stderr ---\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the gateway (gracefully if it is running) and starts it again on
    /// the same config and store. The port changes; use a fresh [`Client`].
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.sigterm();
            assert!(status.success(), "graceful stop failed: {status}\n--- stderr ---\n{}", self.stderr());
        }
        self.spawn();
    }

    /// Whether the child is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().expect("try_wait").is_none())
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    // Shortcuts to the current client.
    #[track_caller]
    pub fn get(&self, path: &str, token: &str) -> Response {
        self.client.get(path, token)
    }
    #[track_caller]
    pub fn delete(&self, path: &str, token: &str) -> Response {
        self.client.delete(path, token)
    }
    #[track_caller]
    pub fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(path, token, body)
    }
    #[track_caller]
    pub fn put(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.put(path, token, body)
    }
    #[track_caller]
    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.patch(path, token, body)
    }
    #[track_caller]
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Response {
        self.client.send(method, path, token, headers, body)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // A failed test shows how its gateway ended (a dying process may
        // take a moment to be reaped) and the end of what it printed.
        let panicking = std::thread::panicking();
        let mut died = None;
        if panicking && let Some(child) = self.child.as_mut() {
            let give_up = Instant::now() + Duration::from_secs(2);
            while died.is_none() && Instant::now() < give_up {
                died = child.try_wait().ok().flatten();
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.stop_hard();
        if let (Some(base), Some(name)) = (POSTGRES.as_deref(), &self.database) {
            drop_database(base, name);
        }
        if panicking {
            let stderr = self.stderr();
            let mut cut = stderr.len().saturating_sub(8000);
            while !stderr.is_char_boundary(cut) {
                cut += 1;
            }
            let tail = &stderr[cut..];
            let how = died.map_or_else(|| "was still running".to_owned(), |status| format!("had exited ({status})"));
            eprintln!("--- the gateway {how}; its stderr ends ---\n{tail}");
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the test modules

/// Polls `f` until it returns `Some`, panicking with `what` after [`EVENTUALLY`].
#[track_caller]
/// Where `plugins/guests/build` put the JavaScript and Python example
/// plugins (`js/NAME.wasm`, `python/NAME.wasm`), when the run has them
/// (`SCIMGATE_GUEST_PLUGINS`, set by `.ci/run`). Tests that need them say
/// they are skipped without.
pub fn guest_plugins(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os("SCIMGATE_GUEST_PLUGINS") {
        Some(dir) => Some(dir.into()),
        None => {
            eprintln!("{test}: skipped (set SCIMGATE_GUEST_PLUGINS after bash plugins/guests/build)");
            None
        }
    }
}

/// A compiled-component cache shared by the tests that load the large
/// JavaScript and Python components, so each compiles once per run: the
/// one `scimgate-wasm-host`'s tests use (the same engine settings, so the
/// same compatibility hash).
pub fn shared_plugin_cache() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A random-looking GUID (8-4-4-4-12 hex), like Entra's Test Connection.
pub fn guid() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ N.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    let mut next = || {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}
