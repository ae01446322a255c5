//! The provisioning log's trace: what each stage of a request decided, read
//! back through the admin API (`GET /admin/tenants/{t}/log/{seq}`), and the
//! live tail (`GET /admin/tenants/{t}/log/stream`, Server-Sent Events).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::{Action, Fake};
use crate::harness::{ADMIN_TOKEN, Gateway, eventually};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const UPSTREAM_TOKEN: &str = "upstream-secret-token-4242";
const PASSWORD: &str = "Okta-Sends-This-Pa55word";
/// What the mapping sets as the target's password (a legacy target wants one).
const GENERATED: &str = "Mapped-Initial-Pa55word";

/// `acme`: a Rhai scope step (Engineering only) and a mapping (the work
/// email becomes the target's `userName`, a constant its `password`) in
/// front of `upstream`.
fn gateway(upstream: &str) -> Gateway {
    let scope = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rhai/department-scope.rhai");
    let toml = format!(
        "[admin]\n[tenants.acme]\nidp = \"okta\"\n\
         [tenants.acme.upstream]\nkind = \"scim\"\nurl = \"{upstream}\"\nretries = 0\n\
         auth = {{ kind = \"bearer\", token = \"${{env:UPSTREAM_TOKEN}}\" }}\n\
         [[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\nconfig = {{ departments = [\"Engineering\"] }}\n\
         [[tenants.acme.steps]]\nkind = \"mapping\"\n[tenants.acme.steps.transform_in]\n\
         \"userName\" = 'emails[type eq \"work\"].value'\n\"nickName\" = \"userName\"\n\
         \"password\" = \"'{GENERATED}'\"\n",
        scope.display().to_string()
    );
    Gateway::start_config("", &toml, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN), ("UPSTREAM_TOKEN", UPSTREAM_TOKEN)])
}

/// An upstream that creates every user but `broken@…`, which it fails with 500.
fn upstream() -> Fake {
    Fake::start(|req, n| {
        if req.method != "POST" {
            return Action::json(404, json!({"detail": "not here"}));
        }
        if req.body.contains("broken@example.com") {
            return Action::json(500, json!({"detail": "the upstream's database is down"}));
        }
        let mut doc: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        doc["id"] = json!(format!("up-{n}"));
        Action::json(201, doc)
    })
}

fn okta_user(login: &str, department: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": login,
        "name": {"givenName": "Pat", "familyName": "Doe"},
        "emails": [{"value": format!("{login}@example.com"), "type": "work", "primary": true}],
        "active": true,
        "password": PASSWORD,
        ENTERPRISE: {"department": department},
    })
}

/// The newest listed record of `acme` that `pred` accepts, then that record
/// read by seq (with its trace).
fn record(gw: &Gateway, pred: impl Fn(&Value) -> bool) -> Value {
    let listed = eventually("the provisioning-log record", || {
        let page = gw.admin_get("/admin/tenants/acme/log?limit=100");
        page["records"].as_array().and_then(|r| r.iter().find(|r| pred(r)).cloned())
    });
    assert!(listed.get("trace").is_none(), "listings leave traces out: {listed}");
    gw.admin_get(&format!("/admin/tenants/acme/log/{}", listed["seq"]))
}

fn stages(record: &Value) -> Vec<Value> {
    record["trace"].as_array().cloned().unwrap_or_else(|| panic!("no trace: {record}"))
}

fn stage<'a>(stages: &'a [Value], name: &str) -> Option<&'a Value> {
    stages.iter().find(|s| s["stage"] == name)
}

fn names(stages: &[Value]) -> Vec<&str> {
    stages.iter().map(|s| s["stage"].as_str().unwrap_or_default()).collect()
}

#[test]
fn provlog_trace_shows_each_stage_decision_through_a_pipeline_and_an_upstream() {
    let fake = upstream();
    let gw = gateway(&format!("{}/scim/v2", fake.url()));
    let token = gw.token("acme");

    // In scope: scope, mapping, plan, the upstream's create, the commit.
    let id =
        gw.post("/Users", &token, &okta_user("pat", "Engineering")).expect(201).json["id"].as_str().unwrap().to_owned();
    let created = record(&gw, |r| r["resource_id"] == id.as_str() && r["operation"] == "create");
    let trace = stages(&created);
    assert_eq!(names(&trace), ["scope", "transform-in", "plan", "upstream", "store", "match"], "{created:#}");
    assert_eq!(trace[0]["step"], "department-scope.rhai", "{created:#}");
    assert_eq!(trace[0]["decision"], json!({"in_scope": true}));
    assert_eq!(trace[1]["decision"]["userName"], "pat@example.com", "the mapping's output: {created:#}");
    assert!(trace[0]["ms"].is_number() && trace[1]["ms"].is_number(), "hooks are timed: {created:#}");
    let call = &trace[3];
    assert_eq!(call["decision"]["method"], "POST", "{call}");
    assert_eq!(call["decision"]["path"], "/Users", "{call}");
    assert_eq!(call["decision"]["status"], 201, "{call}");
    assert_eq!(trace[4]["decision"]["outcome"], "created", "{created:#}");
    let target_id = trace[4]["decision"]["target_id"].as_str().unwrap_or_default();
    assert!(target_id.starts_with("up-"), "the upstream's id: {created:#}");
    assert_eq!(trace[5]["decision"], json!({"result": "create", "target_id": target_id}));

    // Out of scope: the scope step's reason, and no upstream call at all.
    let sent = fake.received().len();
    let out =
        gw.post("/Users", &token, &okta_user("mo", "Marketing")).expect(201).json["id"].as_str().unwrap().to_owned();
    let skipped = record(&gw, |r| r["resource_id"] == out.as_str() && r["operation"] == "create");
    assert_eq!(skipped["outcome"], "out_of_scope", "{skipped:#}");
    let trace = stages(&skipped);
    assert_eq!(names(&trace), ["scope", "plan", "store"], "{skipped:#}");
    assert_eq!(trace[0]["decision"]["in_scope"], false);
    assert!(trace[0]["decision"]["reason"].as_str().is_some_and(|r| r.contains("Marketing")), "{skipped:#}");
    assert_eq!(trace[1]["decision"]["scoped_out_by"], "department-scope.rhai");
    assert_eq!(trace[2]["decision"]["outcome"], "out_of_scope");
    assert_eq!(fake.received().len(), sent, "an out-of-scope user reached the upstream");

    // The upstream fails: its status in the trace, nothing committed.
    gw.post("/Users", &token, &okta_user("broken", "Engineering")).expect(502);
    let failed = record(&gw, |r| r["status"] == 502);
    assert_eq!(failed["failed_by"], "upstream", "{failed:#}");
    let trace = stages(&failed);
    assert_eq!(names(&trace), ["scope", "transform-in", "plan", "upstream"], "{failed:#}");
    let call = &trace[3]["decision"];
    assert_eq!(call["status"], 500, "{failed:#}");
    assert!(call["error"].as_str().is_some_and(|e| e.contains("database is down")), "{failed:#}");

    // Secrets: not the posted password, not the one the mapping made (which
    // the upstream did get), not the upstream's token, anywhere.
    assert!(fake.received()[0].body.contains(GENERATED), "the mapping sets a password");
    for r in [&created, &skipped, &failed] {
        let text = r.to_string();
        assert!(!text.contains(PASSWORD) && !text.contains(GENERATED), "a password in the trace: {text}");
        assert!(!text.contains("password"), "a password in the trace: {text}");
        assert!(!text.contains(UPSTREAM_TOKEN), "the upstream's token in the trace: {text}");
    }
    let input = stage(&stages(&created), "transform-in").cloned().unwrap_or_default();
    assert!(input["decision"]["emails"].is_array(), "documents are kept (only secrets go): {input}");

    // Absent, malformed or another tenant's: 404.
    let elsewhere = format!("/admin/tenants/other/log/{}", created["seq"]);
    for path in ["/admin/tenants/acme/log/999999", "/admin/tenants/acme/log/nope", elsewhere.as_str()] {
        let resp = gw.admin().try_raw("GET", path, Some(ADMIN_TOKEN), &[], None).expect("admin request");
        assert_eq!(resp.status, 404, "{path}: {}", resp.describe());
        assert_eq!(resp.json["status"], "404", "a SCIM error: {}", resp.describe());
    }
}

/// A reader of the admin listener's event stream over a raw connection.
struct Tail {
    lines: BufReader<TcpStream>,
}

impl Tail {
    fn open(gw: &Gateway, tenant: &str, last_event_id: Option<i64>) -> Tail {
        let addr = gw.admin().root.trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(&addr).expect("connect to the admin listener");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        write!(
            stream,
            "GET /admin/tenants/{tenant}/log/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Accept: text/event-stream\r\n{resume}\r\n"
        )
        .unwrap();
        let mut lines = BufReader::new(stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            lines.read_line(&mut line).expect("the stream's head");
            if line.trim().is_empty() {
                break;
            }
            head.push(line.trim().to_ascii_lowercase());
        }
        assert!(head[0].starts_with("http/1.1 200"), "{head:?}");
        assert!(head.iter().any(|h| h == "content-type: text/event-stream"), "{head:?}");
        Tail { lines }
    }

    /// The next event: its `id:` and its `data:` JSON (comments and the
    /// chunked encoding's lines skipped).
    fn next(&mut self) -> (i64, Value) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut id = None;
        while Instant::now() < deadline {
            let mut line = String::new();
            self.lines.read_line(&mut line).expect("an event within 10 s");
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.parse().expect("a numeric id"));
            } else if let Some(data) = line.strip_prefix("data: ") {
                let id = id.expect("id: comes before data:");
                return (id, serde_json::from_str(data).expect("data: is one line of JSON"));
            }
        }
        panic!("no event within 10 s");
    }
}

#[test]
fn provlog_stream_sends_new_records_as_events_and_resumes_after_last_event_id() {
    let mut gw = Gateway::start_tenants("[tenants.acme]\n[tenants.other]\n");
    let token = gw.token("acme");
    let other = gw.token("other");
    let user = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});

    let mut tail = Tail::open(&gw, "acme", None);
    // Another tenant's record never shows in acme's tail.
    gw.post("/Users", &other, &user("elsewhere")).expect(201);
    let first = gw.post("/Users", &token, &user("first")).expect(201).json["id"].as_str().unwrap().to_owned();
    let (seq1, event) = tail.next();
    assert_eq!(event["seq"], seq1, "{event}");
    assert_eq!(event["tenant"], "acme", "{event}");
    assert_eq!(event["operation"], "create", "{event}");
    assert_eq!(event["resource_id"], first.as_str(), "{event}");
    // No pipeline: the trace is the commit alone.
    assert_eq!(names(&stages(&event)), ["store"], "{event}");
    assert_eq!(event["trace"][0]["decision"]["outcome"], "unchanged", "{event}");

    let second = gw.post("/Users", &token, &user("second")).expect(201).json["id"].as_str().unwrap().to_owned();
    let (seq2, event) = tail.next();
    assert!(seq2 > seq1);
    assert_eq!(event["resource_id"], second.as_str(), "{event}");
    drop(tail);

    // Resuming after the first: the second comes from the store, then live ones.
    let mut resumed = Tail::open(&gw, "acme", Some(seq1));
    let (seq, event) = resumed.next();
    assert_eq!((seq, event["resource_id"].clone()), (seq2, json!(second)), "{event}");
    gw.get(&format!("/Users/{first}"), &token).expect(200);
    let (seq3, event) = resumed.next();
    assert!(seq3 > seq2);
    assert_eq!(event["operation"], "get", "{event}");
    assert!(event.get("trace").is_none(), "a read from the store goes through no stage: {event}");

    // The stream needs the admin token.
    let refused =
        gw.admin().try_raw("GET", "/admin/tenants/acme/log/stream", Some("wrong"), &[], None).expect("admin request");
    assert_eq!(refused.status, 401, "{}", refused.describe());

    // An open stream does not hold up a graceful stop.
    let started = Instant::now();
    assert!(gw.sigterm().success(), "{}", gw.stderr());
    assert!(started.elapsed() < Duration::from_secs(5), "stopping took {:?} with a tail open", started.elapsed());
    drop(resumed);
}
