//! `examples/legacy-hr` (its own non-SCIM API) behind the gateway through
//! the `legacy-hr-connector` plugin: the IdPs' sequences, then legacy-hr's
//! own API read field by field; its awkward parts (no PATCH, soft delete,
//! its own uniqueness rule, a rate limit); and hostile connectors stopped
//! by the host.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::fake::{Action, Fake};
use crate::harness::{ADMIN_TOKEN, Gateway, eventually};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const API_KEY: &str = "legacy-hr-e2e-key-0123";

/// A running legacy-hr.
pub struct LegacyHr {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for LegacyHr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn legacy_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_scimgate")).with_file_name("legacy-hr");
    if !bin.is_file() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-q", "-p", "legacy-hr"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("cargo build -p legacy-hr");
        assert!(status.success(), "building legacy-hr failed");
    }
    bin
}

impl LegacyHr {
    pub fn start(rate_limit: u32) -> LegacyHr {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(legacy_bin())
            .args(["--listen", "127.0.0.1:0", "--api-key", API_KEY, "--rate-limit", &rate_limit.to_string()])
            .arg("--db")
            .arg(dir.path().join("hr.db"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start legacy-hr");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("legacy-hr said {line:?}")).to_owned();
        LegacyHr { child, url, _dir: dir }
    }

    /// legacy-hr's own API, with its key.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}{path}", self.url);
        let resp = match (method, body) {
            ("GET", _) => agent.get(&url).header("x-api-key", API_KEY).call(),
            ("DELETE", _) => agent.delete(&url).header("x-api-key", API_KEY).call(),
            ("POST", Some(b)) => agent.post(&url).header("x-api-key", API_KEY).send_json(&b),
            ("PUT", Some(b)) => agent.put(&url).header("x-api-key", API_KEY).send_json(&b),
            other => panic!("no {other:?}"),
        };
        let mut resp = resp.expect("legacy-hr request");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The live employee with `mail`, from legacy-hr's own API.
    pub fn employee(&self, mail: &str) -> Option<Value> {
        let (status, list) = self.api("GET", &format!("/api/v1/employees?mail={}", mail.replace('@', "%40")), None);
        assert_eq!(status, 200, "{list}");
        list["data"].as_array().and_then(|d| d.first().cloned())
    }

    pub fn team(&self, name: &str) -> Option<Value> {
        let (_, list) = self.api("GET", &format!("/api/v1/teams?name={name}"), None);
        list["data"].as_array().and_then(|d| d.first().cloned())
    }
}

/// A gateway whose tenant `hr` fronts `hr` through `plugin`.
fn front(hr: &LegacyHr, plugin: &str, upstream_extra: &str) -> (Gateway, String) {
    let toml = format!(
        "[admin]\n[tenants.hr]\nidp = \"entra\"\n[tenants.hr.upstream]\nkind = \"connector\"\nurl = \"{}\"\n\
         plugin = {plugin:?}\nauth = {{ kind = \"header\", name = \"X-Api-Key\", value = \"${{env:HR_KEY}}\" }}\n{upstream_extra}\n",
        hr.url
    );
    // The JavaScript and Python components are large: compiled once per
    // run, in the cache the tests share.
    let cache = format!("plugin_cache = {:?}", crate::harness::shared_plugin_cache().display().to_string());
    let gw = Gateway::start_config(&cache, &toml, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN), ("HR_KEY", API_KEY)]);
    let token = gw.token("hr");
    (gw, token)
}

fn entra_user(user_name: &str, mail: &str, department: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": format!("ext-{user_name}"),
        "userName": user_name,
        "active": true,
        "displayName": "Ann Lee",
        "emails": [{"primary": true, "type": "work", "value": mail}],
        "name": {"formatted": "Ann Lee", "familyName": "Lee", "givenName": "Ann"},
        ENTERPRISE: {"department": department, "employeeNumber": format!("E-{user_name}")},
    })
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

#[test]
fn entra_cycle_into_legacy_hr_through_the_connector() {
    entra_cycle_through(plugin_artifacts::LEGACY_HR_CONNECTOR);
}

/// The same cycle through the connector's JavaScript and Python ports
/// (`plugins/js/legacy-hr-connector`, `plugins/python/legacy-hr-connector`).
#[test]
fn entra_cycle_through_the_javascript_and_python_connectors() {
    let Some(dir) = crate::harness::guest_plugins("javascript_and_python_connectors") else { return };
    for lang in ["js", "python"] {
        let plugin = dir.join(lang).join("legacy-hr-connector.wasm");
        eprintln!("{}", plugin.display());
        entra_cycle_through(plugin.to_str().unwrap());
    }
}

fn entra_cycle_through(plugin: &str) {
    let hr = LegacyHr::start(0);
    let (gw, t) = front(&hr, plugin, "");
    let created = gw
        .post("/Users", &t, &entra_user("ann@contoso.onmicrosoft.com", "ann.lee@contoso.com", "Research"))
        .expect(201);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let e = hr.employee("ann.lee@contoso.com").expect("an employee in legacy-hr");
    assert_eq!((e["first"].as_str(), e["last"].as_str()), (Some("Ann"), Some("Lee")));
    assert_eq!(e["dept"], "Research");
    assert_eq!(e["emp_no"], "E-ann@contoso.onmicrosoft.com");
    assert_eq!(e["display"], "Ann Lee");
    assert_eq!(e["status"], "A");
    let emp_id = e["id"].as_i64().unwrap();
    // The IdP reads the user back through the connector's `get`.
    let got = gw.get(&format!("/Users/{id}"), &t).expect(200);
    assert_eq!(got.json[ENTERPRISE]["department"], "Research");
    assert_eq!(got.json["active"], true);

    // PATCH (which legacy-hr lacks): applied to the shadow, sent as a PUT.
    gw.patch(
        &format!("/Users/{id}"),
        &t,
        &patch(json!([
            {"op": "Replace", "path": "name.familyName", "value": "Smith"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"},
        ])),
    )
    .expect(200);
    let e = hr.employee("ann.lee@contoso.com").unwrap();
    assert_eq!(
        (e["id"].as_i64(), e["last"].as_str(), e["dept"].as_str()),
        (Some(emp_id), Some("Smith"), Some("Sales"))
    );
    gw.patch(&format!("/Users/{id}"), &t, &patch(json!([{"op": "Replace", "path": "active", "value": "False"}])))
        .expect(200);
    assert_eq!(hr.employee("ann.lee@contoso.com").unwrap()["status"], "T");
    gw.patch(&format!("/Users/{id}"), &t, &patch(json!([{"op": "Replace", "path": "active", "value": true}])))
        .expect(200);

    // Groups are teams; members are employee ids.
    let bob = gw.post("/Users", &t, &entra_user("bob@contoso.onmicrosoft.com", "bob@contoso.com", "Sales")).expect(201);
    let bob_id = bob.json["id"].as_str().unwrap().to_owned();
    let bob_emp = hr.employee("bob@contoso.com").unwrap()["id"].as_i64().unwrap();
    let group = gw
        .post(
            "/Groups",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"}),
        )
        .expect(201);
    let gid = group.json["id"].as_str().unwrap().to_owned();
    gw.patch(
        &format!("/Groups/{gid}"),
        &t,
        &patch(json!([{"op": "Add", "path": "members", "value": [{"value": id}, {"value": bob_id}]}])),
    )
    .expect(204);
    let team = hr.team("Sales").expect("a team");
    let mut members: Vec<i64> = team["members"].as_array().unwrap().iter().filter_map(Value::as_i64).collect();
    members.sort();
    let mut want = vec![emp_id, bob_emp];
    want.sort();
    assert_eq!(members, want);
    gw.patch(
        &format!("/Groups/{gid}"),
        &t,
        &patch(json!([{"op": "Remove", "path": format!("members[value eq \"{id}\"]")}])),
    )
    .expect(204);
    assert_eq!(hr.team("Sales").unwrap()["members"], json!([bob_emp]));

    // Delete: legacy-hr soft-deletes (the employee is gone from its live
    // list, kept with `deleted_at`).
    gw.delete(&format!("/Users/{id}"), &t).expect(204);
    assert!(hr.employee("ann.lee@contoso.com").is_none());
    let (status, gone) = hr.api("GET", &format!("/api/v1/employees/{emp_id}?include_deleted=true"), None);
    assert_eq!(status, 200);
    assert!(gone["employee"]["deleted_at"].is_string(), "{gone}");
    gw.get(&format!("/Users/{id}"), &t).expect(404);
    // legacy-hr's own uniqueness rules: a deleted employee's emp_no is never
    // reused (the IdP hears why), but the mail may come back.
    let mut ann = entra_user("ann@contoso.onmicrosoft.com", "ann.lee@contoso.com", "Research");
    let refused = gw.post("/Users", &t, &ann).expect(409);
    assert_eq!(refused.json["scimType"], "uniqueness");
    assert!(refused.json["detail"].as_str().unwrap().contains("never reused"), "{}", refused.body);
    ann[ENTERPRISE]["employeeNumber"] = json!("E-2");
    let again = gw.post("/Users", &t, &ann).expect(201);
    assert_ne!(again.json["id"], id.as_str());
    assert_ne!(hr.employee("ann.lee@contoso.com").unwrap()["id"].as_i64(), Some(emp_id), "a new employee");
    gw.delete(&format!("/Groups/{gid}"), &t).expect(204);
    assert!(hr.team("Sales").is_none());
}

#[test]
fn okta_cycle_and_an_existing_employee_is_linked_not_duplicated() {
    let hr = LegacyHr::start(0);
    let (gw, t) = front(&hr, plugin_artifacts::LEGACY_HR_CONNECTOR, "");
    // An employee made in legacy-hr before the gateway knew it.
    let (status, _) = hr.api(
        "POST",
        "/api/v1/employees",
        Some(json!({"mail": "carol.diaz@example.com", "first": "Carol", "last": "D", "status": "A"})),
    );
    assert_eq!(status, 201);
    let mut user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "carol@example.com",
        "name": {"givenName": "Carol", "familyName": "Diaz"},
        "emails": [{"primary": true, "value": "carol.diaz@example.com", "type": "work"}],
        "displayName": "Carol Diaz",
        "password": "1mz050nq",
        "active": true,
    });
    let created = gw.post("/Users", &t, &user).expect(201);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let (_, all) = hr.api("GET", "/api/v1/employees", None);
    assert_eq!(all["total"], 1, "linked, not duplicated: {all}");
    assert_eq!(all["data"][0]["last"], "Diaz", "brought up to date");
    eventually("the link in the provisioning log", || {
        let log = gw.admin_get("/admin/tenants/hr/log?operation=create");
        log["records"].as_array().unwrap().iter().any(|r| r["outcome"] == "linked").then_some(())
    });
    // Okta: PUT everything, deactivate by PUT.
    user["id"] = json!(id);
    user["name"]["familyName"] = json!("Diaz-Ortiz");
    gw.put(&format!("/Users/{id}"), &t, &user).expect(200);
    assert_eq!(hr.employee("carol.diaz@example.com").unwrap()["last"], "Diaz-Ortiz");
    user["active"] = json!(false);
    gw.put(&format!("/Users/{id}"), &t, &user).expect(200);
    assert_eq!(hr.employee("carol.diaz@example.com").unwrap()["status"], "T");
    // Group push with members.
    gw.post(
        "/Groups",
        &t,
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops", "members": [{"value": id}]}),
    )
    .expect(201);
    let emp = hr.employee("carol.diaz@example.com").unwrap()["id"].as_i64().unwrap();
    assert_eq!(hr.team("Ops").unwrap()["members"], json!([emp]));
    // A document legacy-hr cannot hold is refused with its reason.
    let resp = gw
        .post(
            "/Users",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@example.com"}),
        )
        .expect(400);
    assert!(resp.json["detail"].as_str().unwrap().contains("givenName"), "{}", resp.body);
}

#[test]
fn legacy_hr_rate_limit_reaches_the_idp_as_429_and_nothing_is_lost() {
    let hr = LegacyHr::start(2);
    let (gw, t) = front(&hr, plugin_artifacts::LEGACY_HR_CONNECTOR, "");
    let mut pending: Vec<usize> = (0..8).collect();
    let mut saw_429 = false;
    for _ in 0..30 {
        if pending.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for &i in &pending {
            let body = entra_user(&format!("u{i}@contoso.onmicrosoft.com"), &format!("u{i}@contoso.com"), "Ops");
            let resp = gw.post("/Users", &t, &body);
            match resp.status {
                201 => {}
                429 => {
                    saw_429 = true;
                    assert!(resp.header("retry-after").is_some(), "{}", resp.describe());
                    next.push(i);
                }
                other => panic!("unexpected {other}: {}", resp.describe()),
            }
        }
        pending = next;
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(1100));
        }
    }
    assert!(pending.is_empty(), "still pending: {pending:?}");
    assert!(saw_429, "legacy-hr at 2/s must push back");
    std::thread::sleep(Duration::from_millis(1100));
    let (_, all) = hr.api("GET", "/api/v1/employees?per_page=100", None);
    assert_eq!(all["total"], 8, "each user exactly once: {all}");
}

#[test]
fn hostile_connectors_are_stopped_by_the_host() {
    let hr = LegacyHr::start(0);
    let user = entra_user("ann@contoso.onmicrosoft.com", "ann@contoso.com", "Ops");
    for (mode, detail) in [
        ("elsewhere", "http.send to http://example.com denied"),
        ("loop", "more than 16 HTTP requests in one call"),
        ("spin", "took longer than its deadline of 500 ms"),
        ("host-header", "may not set the Host header"),
    ] {
        let extra = format!("deadline_ms = 500\nconfig = {{ mode = \"{mode}\" }}\n");
        let (gw, t) = front(&hr, plugin_artifacts::HOSTILE_CONNECTOR, &extra);
        let resp = gw.post("/Users", &t, &user).expect(500);
        assert!(resp.json["detail"].as_str().unwrap().contains(detail), "{mode}: {}", resp.body);
        let q = gw.get("/Users?filter=userName%20eq%20%22ann@contoso.onmicrosoft.com%22", &t).expect(200);
        assert_eq!(q.json["totalResults"], 0, "nothing written");
    }
    // The real connector pointed elsewhere by its config is stopped too.
    let (gw, t) = front(&hr, plugin_artifacts::LEGACY_HR_CONNECTOR, "config = { base_url = \"http://example.com\" }\n");
    let resp = gw.post("/Users", &t, &user).expect(500);
    assert!(resp.json["detail"].as_str().unwrap().contains("denied"), "{}", resp.body);
    let (_, all) = hr.api("GET", "/api/v1/employees", None);
    assert_eq!(all["total"], 0);
}

/// Behind a connector with a 300 ms deadline, an upstream that answers
/// after 2.5 s: each call stops at its deadline (the wait for the answer
/// included), and 96 at once do not hold a thread each.
#[test]
fn a_slow_upstream_stops_connector_calls_at_their_deadline_without_a_thread_each() {
    const AT_ONCE: usize = 96;
    let slow = Fake::start(|_, _| Action::Stall(Duration::from_millis(2500), Box::new(Action::json(404, json!({})))));
    let toml = format!(
        "[admin]\n[tenants.hr]\nidp = \"entra\"\n[tenants.hr.upstream]\nkind = \"connector\"\nurl = \"{}\"\n\
         plugin = {:?}\ndeadline_ms = 300\n",
        slow.url(),
        plugin_artifacts::LEGACY_HR_CONNECTOR
    );
    let gw = Gateway::start_config("", &toml, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let token = gw.token("hr");

    let started = std::time::Instant::now();
    let resp = gw.post("/Users", &token, &entra_user("ann@contoso.onmicrosoft.com", "ann@contoso.com", "Ops"));
    let took = started.elapsed();
    assert_eq!(resp.status, 500, "{}", resp.describe());
    assert!(resp.json["detail"].as_str().unwrap().contains("deadline of 300 ms"), "{}", resp.body);
    assert!(took < Duration::from_millis(1300), "stopped at the deadline, not at the upstream's pace: {took:?}");

    let idle_threads = gw.proc_status("Threads");
    let mut rss_after = Vec::new();
    for burst in 0..3 {
        let racers: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let (client, token) = (gw.client(), token.clone());
                std::thread::spawn(move || {
                    let name = format!("u{burst}-{i}@contoso.onmicrosoft.com");
                    client
                        .post("/Users", &token, &entra_user(&name, &format!("u{burst}-{i}@contoso.com"), "Ops"))
                        .status
                })
            })
            .collect();
        let mut most_threads = 0;
        while racers.iter().any(|r| !r.is_finished()) {
            most_threads = most_threads.max(gw.proc_status("Threads"));
            std::thread::sleep(Duration::from_millis(20));
        }
        let statuses: Vec<u16> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert!(statuses.iter().all(|s| *s == 500 || *s == 429), "{statuses:?}");
        assert!(
            most_threads < idle_threads + AT_ONCE as u64 / 2,
            "{AT_ONCE} waiting calls took {most_threads} threads (idle: {idle_threads})"
        );
        rss_after.push(gw.proc_status("VmRSS"));
    }
    // Repeated bursts reuse what the first one grew: no climb (bounded
    // threads leave glibc a bounded set of arenas).
    assert!(rss_after[2] < rss_after[0] + 32 * 1024, "RSS after each burst (kB): {rss_after:?}");
    let list = gw.get("/Users", &token).expect(200);
    assert_eq!(list.json["totalResults"], 0, "nothing written");
}
