//! End-to-end tests: start the real binary on a free port with a fresh
//! database and talk to it over HTTP.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ureq::http::{HeaderMap, Request};

const KEY: &str = "test-key-123";

/// A running `legacy-hr`, killed on drop.
struct Server {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
    /// Holds the database; handed on by [`Server::terminate`] for a restart.
    dir: Option<tempfile::TempDir>,
}

/// One answer: status, headers, and the JSON body (`Null` when empty).
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

fn spawn(args: &[&str]) -> (Child, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_legacy-hr"))
        .args(args)
        .env_remove("LEGACY_HR_API_KEY")
        .env_remove("LEGACY_HR_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn legacy-hr");
    // Drain stderr so the child never blocks on it; keep it for diagnostics.
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().expect("stderr");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("stderr lock").push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (child, stderr)
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().expect("tempdir"), extra)
    }

    /// Start on the database `hr.db` in `dir`.
    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let db = dir.path().join("hr.db");
        let db = db.to_str().expect("utf-8 path");
        let mut args = vec!["--listen", "127.0.0.1:0", "--db", db, "--api-key", KEY];
        args.extend_from_slice(extra);
        let (mut child, stderr) = spawn(&args);

        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let Some(base) = line.trim_end().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no `listening on` line (got {line:?}); stderr:\n{}", stderr.lock().expect("lock"));
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        Server { child, base: base.to_owned(), stderr, agent, dir: Some(dir) }
    }

    /// A request with full control over the headers and the raw body.
    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        let mut req = Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let result = match body {
            Some(body) => {
                let req = req.header("content-type", "application/json").body(body.to_owned()).expect("request");
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.body_mut().read_to_string().expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: non-JSON body {text:?}: {e}"))
        };
        Reply { status, headers, body }
    }

    /// An authenticated request with an optional JSON body.
    fn api(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, &[("x-api-key", KEY)], body.map(|b| b.to_string()).as_deref())
    }

    fn create_employee(&self, body: Value) -> Value {
        let r = self.api("POST", "/api/v1/employees", Some(body));
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["employee"].clone()
    }

    /// Ask for a graceful stop and wait for the exit; returns the database
    /// directory for a restart.
    fn terminate(mut self) -> (ExitStatus, tempfile::TempDir) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, self.dir.take().expect("database dir"));
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM; stderr:\n{}", self.stderr.lock().expect("lock"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ann() -> Value {
    json!({"mail": "Ann.Lee@Example.com", "first": "Ann", "last": "Lee", "emp_no": "E1001", "title": "Engineer", "dept": "R&D"})
}

#[test]
fn employee_lifecycle() {
    let s = Server::start(&[]);
    let e = s.create_employee(ann());
    let id = e["id"].as_i64().expect("integer id");
    assert_eq!(e["status"], "A");
    assert_eq!(e["display"], Value::Null);
    assert_eq!(e["manager_id"], Value::Null);
    assert_eq!(e["created_at"], e["updated_at"]);
    assert!(e.get("deleted_at").is_none(), "{e}");

    let r = s.api("GET", &format!("/api/v1/employees/{id}"), None);
    assert_eq!((r.status, &r.body["employee"]), (200, &e));

    // PUT is a full replace: title and dept are gone, status defaults to A.
    let r = s.api(
        "PUT",
        &format!("/api/v1/employees/{id}"),
        Some(json!({"mail": "ann.lee@example.com", "first": "Ann", "last": "Lee-Smith", "display": "Ann L-S"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let put = &r.body["employee"];
    assert_eq!(put["last"], "Lee-Smith");
    assert_eq!(put["title"], Value::Null);
    assert_eq!(put["emp_no"], Value::Null);
    assert_eq!(put["created_at"], e["created_at"]);

    let boss = s.create_employee(json!({"mail": "boss@example.com", "first": "Bo", "last": "Ss", "status": "T"}));
    let report = s.create_employee(
        json!({"mail": "rep@example.com", "first": "Re", "last": "Port", "manager_id": boss["id"], "emp_no": "E2"}),
    );
    assert_eq!(report["manager_id"], boss["id"]);

    // Filters and paging.
    let r = s.api("GET", "/api/v1/employees?mail=ANN.LEE%40EXAMPLE.COM", None);
    assert_eq!((r.status, r.body["total"].as_u64()), (200, Some(1)));
    assert_eq!(r.body["data"][0]["id"], id);
    let r = s.api("GET", "/api/v1/employees?emp_no=E2", None);
    assert_eq!(r.body["data"][0]["id"], report["id"]);
    let r = s.api("GET", "/api/v1/employees?status=T", None);
    assert_eq!(r.body["data"][0]["id"], boss["id"]);
    let r = s.api("GET", "/api/v1/employees?per_page=2&page=2", None);
    assert_eq!(r.body, json!({"data": [report.clone()], "page": 2, "per_page": 2, "total": 3}));
    let r = s.api("GET", "/api/v1/employees", None);
    let ids: Vec<i64> = r.body["data"].as_array().expect("data").iter().filter_map(|e| e["id"].as_i64()).collect();
    assert_eq!(ids, vec![id, id + 1, id + 2]);
    assert_eq!(r.body["per_page"], 50);
    let r = s.api("GET", "/api/v1/employees?per_page=201", None);
    assert_eq!((r.status, r.code(), r.field()), (422, "VALIDATION", "per_page"));

    // Soft delete.
    let path = format!("/api/v1/employees/{id}");
    assert_eq!(s.api("DELETE", &path, None).status, 204);
    let r = s.api("GET", &path, None);
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    assert_eq!(s.api("DELETE", &path, None).status, 404);
    assert_eq!(s.api("PUT", &path, Some(ann())).status, 404);
    assert_eq!(s.api("GET", "/api/v1/employees", None).body["total"], 2);
    let r = s.api("GET", "/api/v1/employees?include_deleted=true", None);
    assert_eq!(r.body["total"], 3);
    let gone = &r.body["data"][0];
    assert_eq!((gone["id"].as_i64(), &gone["status"]), (Some(id), &json!("T")));
    assert!(gone["deleted_at"].is_string(), "{gone}");
    assert_eq!(r.body["data"][1]["deleted_at"], Value::Null);
    let r = s.api("GET", &format!("{path}?include_deleted=true"), None);
    assert_eq!(r.status, 200);
    assert!(r.body["employee"]["deleted_at"].is_string());

    // Deleting a manager clears it from the reports.
    assert_eq!(s.api("DELETE", &format!("/api/v1/employees/{}", boss["id"]), None).status, 204);
    let r = s.api("GET", &format!("/api/v1/employees/{}", report["id"]), None);
    assert_eq!(r.body["employee"]["manager_id"], Value::Null);
    assert_eq!(s.api("GET", "/api/v1/employees/999", None).status, 404);
}

#[test]
fn uniqueness_rules_differ_for_mail_and_emp_no() {
    let s = Server::start(&[]);
    let first = s.create_employee(ann());

    let r = s.api("POST", "/api/v1/employees", Some(json!({"mail": "ANN.LEE@example.COM", "first": "A", "last": "L"})));
    assert_eq!((r.status, r.code(), r.field()), (409, "DUPLICATE", "mail"));
    let r = s.api(
        "POST",
        "/api/v1/employees",
        Some(json!({"mail": "x@example.com", "first": "X", "last": "Y", "emp_no": "E1001"})),
    );
    assert_eq!((r.status, r.code(), r.field()), (409, "DUPLICATE", "emp_no"));

    assert_eq!(s.api("DELETE", &format!("/api/v1/employees/{}", first["id"]), None).status, 204);
    // The mail of a deleted employee is free again...
    let again = s.create_employee(json!({"mail": "ann.lee@example.com", "first": "Ann", "last": "Again"}));
    assert_ne!(again["id"], first["id"]);
    // ...its emp_no never is.
    let r = s.api(
        "POST",
        "/api/v1/employees",
        Some(json!({"mail": "y@example.com", "first": "Y", "last": "Z", "emp_no": "E1001"})),
    );
    assert_eq!((r.status, r.field()), (409, "emp_no"));
    let r = s.api(
        "PUT",
        &format!("/api/v1/employees/{}", again["id"]),
        Some(json!({"mail": "ann.lee@example.com", "first": "Ann", "last": "Again", "emp_no": "E1001"})),
    );
    assert_eq!((r.status, r.field()), (409, "emp_no"));
}

#[test]
fn patch_is_not_allowed() {
    let s = Server::start(&[]);
    let e = s.create_employee(ann());
    let r = s.api("PATCH", &format!("/api/v1/employees/{}", e["id"]), Some(json!({"title": "Boss"})));
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(r.header("allow"), "GET, PUT, DELETE");
    // Unchanged.
    assert_eq!(s.api("GET", &format!("/api/v1/employees/{}", e["id"]), None).body["employee"]["title"], "Engineer");
}

#[test]
fn teams_and_membership() {
    let s = Server::start(&[]);
    let a = s.create_employee(json!({"mail": "a@x.com", "first": "A", "last": "A"}))["id"].as_i64().expect("id");
    let b = s.create_employee(json!({"mail": "b@x.com", "first": "B", "last": "B"}))["id"].as_i64().expect("id");
    let c = s.create_employee(json!({"mail": "c@x.com", "first": "C", "last": "C"}))["id"].as_i64().expect("id");

    let r = s.api("POST", "/api/v1/teams", Some(json!({"name": "Engineering", "members": [b, a]})));
    assert_eq!(r.status, 201, "{}", r.body);
    let team = r.body["team"].clone();
    let tid = team["id"].as_i64().expect("id");
    assert_eq!(team["members"], json!([a, b]));
    let tpath = format!("/api/v1/teams/{tid}");

    let r = s.api("POST", "/api/v1/teams", Some(json!({"name": "ENGINEERING"})));
    assert_eq!((r.status, r.code(), r.field()), (409, "DUPLICATE", "name"));
    let r = s.api("POST", "/api/v1/teams", Some(json!({"name": "Ops", "members": [a, 999]})));
    assert_eq!((r.status, r.code(), r.field()), (422, "VALIDATION", "members"));

    // Adding is idempotent; removing a non-member is a 404.
    for _ in 0..2 {
        let r = s.api("POST", &format!("{tpath}/members"), Some(json!({"employee_id": c})));
        assert_eq!(r.status, 204, "{}", r.body);
    }
    assert_eq!(s.api("GET", &tpath, None).body["team"]["members"], json!([a, b, c]));
    assert_eq!(s.api("DELETE", &format!("{tpath}/members/{b}"), None).status, 204);
    let r = s.api("DELETE", &format!("{tpath}/members/{b}"), None);
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = s.api("POST", &format!("{tpath}/members"), Some(json!({"employee_id": 999})));
    assert_eq!((r.status, r.field()), (422, "employee_id"));

    // A soft-deleted employee leaves every team (which counts as a change
    // of the team) and cannot join one.
    let before = s.api("GET", &tpath, None).body["team"].clone();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(s.api("DELETE", &format!("/api/v1/employees/{a}"), None).status, 204);
    let after = s.api("GET", &tpath, None).body["team"].clone();
    assert_eq!(after["members"], json!([c]));
    assert_ne!(after["updated_at"], before["updated_at"]);
    let r = s.api("POST", &format!("{tpath}/members"), Some(json!({"employee_id": a})));
    assert_eq!((r.status, r.field()), (422, "employee_id"));

    // PUT replaces name and members; absent members means none.
    let r = s.api("PUT", &tpath, Some(json!({"name": "Platform", "members": [b]})));
    assert_eq!((r.status, &r.body["team"]["members"]), (200, &json!([b])));
    let r = s.api("PUT", &tpath, Some(json!({"name": "Platform"})));
    assert_eq!(r.body["team"]["members"], json!([]));

    s.api("POST", "/api/v1/teams", Some(json!({"name": "Ops"})));
    let r = s.api("GET", "/api/v1/teams?name=platform", None);
    assert_eq!((r.body["total"].as_u64(), &r.body["data"][0]["id"]), (Some(1), &json!(tid)));
    assert_eq!(s.api("GET", "/api/v1/teams", None).body["total"], 2);

    assert_eq!(s.api("DELETE", &tpath, None).status, 204);
    assert_eq!(s.api("GET", &tpath, None).status, 404);
    assert_eq!(s.api("DELETE", &tpath, None).status, 404);
    let r = s.api("PATCH", &tpath, None);
    assert_eq!((r.status, r.header("allow")), (405, "GET, PUT, DELETE"));
}

#[test]
fn authentication_and_routing() {
    let s = Server::start(&[]);
    let r = s.call("GET", "/healthz", &[], None);
    assert_eq!((r.status, &r.body), (200, &json!({"ok": true})));

    let r = s.call("GET", "/api/v1/employees", &[], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    assert!(r.body["error"]["message"].is_string());
    assert_eq!(s.call("GET", "/api/v1/employees", &[("x-api-key", "test-key-124")], None).status, 401);
    assert_eq!(s.call("GET", "/api/v1/employees", &[("x-api-key", "test-key-1234")], None).status, 401);
    // Unknown API routes are hidden behind authentication.
    assert_eq!(s.call("GET", "/api/v1/nope", &[], None).status, 401);

    let r = s.api("GET", "/api/v1/nope", None);
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    assert_eq!(s.api("GET", "/api/v1/employees/abc", None).status, 404);
    assert_eq!(s.call("GET", "/", &[], None).code(), "NOT_FOUND");
}

#[test]
fn malformed_and_invalid_bodies() {
    let s = Server::start(&[]);
    let r = s.call("POST", "/api/v1/employees", &[("x-api-key", KEY)], Some(r#"{"mail": "a@x.com", "first": "#));
    assert_eq!((r.status, r.code()), (400, "BAD_REQUEST"));

    let cases = [
        (json!({"first": "A", "last": "B"}), "mail"),
        (json!({"mail": "no-at-sign", "first": "A", "last": "B"}), "mail"),
        (json!({"mail": "a@x.com", "first": "", "last": "B"}), "first"),
        (json!({"mail": "a@x.com", "first": "A", "last": "B", "status": "X"}), "status"),
        (json!({"mail": "a@x.com", "first": "A", "last": "B", "manager_id": 999}), "manager_id"),
        (json!({"mail": "a@x.com", "first": "A", "last": "B", "emails": []}), "emails"),
    ];
    for (body, field) in cases {
        let r = s.api("POST", "/api/v1/employees", Some(body.clone()));
        assert_eq!((r.status, r.code(), r.field()), (422, "VALIDATION", field), "{body}");
    }

    let big = format!(r#"{{"mail":"a@x.com","first":"A","last":"{}"}}"#, "x".repeat(1024 * 1024));
    // The 413 comes before the body is read, so send the body only after
    // the server agrees (as a well-behaved client of large uploads would).
    let headers = [("x-api-key", KEY), ("expect", "100-continue")];
    let r = s.call("POST", "/api/v1/employees", &headers, Some(&big));
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));
    assert_eq!(s.api("GET", "/api/v1/employees", None).body["total"], 0);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let s = Server::start(&["--rate-limit", "2"]);
    let statuses: Vec<Reply> = (0..4).map(|_| s.api("GET", "/api/v1/employees", None)).collect();
    assert_eq!((statuses[0].status, statuses[1].status), (200, 200));
    let limited = statuses.iter().find(|r| r.status == 429).expect("a 429 within 4 quick requests");
    assert_eq!(limited.code(), "RATE_LIMITED");
    let retry_after: u64 = limited.header("retry-after").parse().expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    // Health checks are not limited.
    assert_eq!(s.call("GET", "/healthz", &[], None).status, 200);
    // Obeying Retry-After gets through again.
    std::thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(s.api("GET", "/api/v1/employees", None).status, 200);
}

#[test]
fn sigterm_stops_gracefully_and_data_survives_a_restart() {
    let s = Server::start(&[]);
    let e = s.create_employee(ann());
    let (status, dir) = s.terminate();
    assert!(status.success(), "{status:?}");
    let s = Server::start_in(dir, &[]);
    let r = s.api("GET", &format!("/api/v1/employees/{}", e["id"]), None);
    assert_eq!((r.status, &r.body["employee"]), (200, &e));
}

#[test]
fn refuses_to_start_without_an_api_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hr.db");
    let out = Command::new(env!("CARGO_BIN_EXE_legacy-hr"))
        .args(["--listen", "127.0.0.1:0", "--db", db.to_str().expect("utf-8")])
        .env_remove("LEGACY_HR_API_KEY")
        .output()
        .expect("run legacy-hr");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "must not announce an address");
    assert!(String::from_utf8_lossy(&out.stderr).contains("LEGACY_HR_API_KEY"));
}
