//! Hot reload under load: one tenant's mapping, Rhai script and Wasm plugin
//! rewritten 100 times (valid and invalid versions alternating) while two
//! tenants provision. Every response must come from one snapshot (a marker
//! each valid version stamps through all three steps), no request may fail,
//! an invalid version must never take effect, and the other tenant must not
//! notice.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Gateway, eventually};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const RHAI_VALID: &str = "fn transform_in(user, ctx) { user.nickName = ctx.config.marker; user }";
const RHAI_INVALID: &str = "fn transform_in(user, ctx) { user.nickName = ; }";

/// `acme`'s tenant file: the marker goes to all three steps through it, so
/// any state of the files a reload may catch is either invalid or carries
/// one marker throughout.
fn acme_toml(marker: &str, valid: bool) -> String {
    let title = if valid { format!("'\"{marker}\"'") } else { "'lower('".to_owned() };
    format!(
        r#"idp = "entra"
[[steps]]
kind = "mapping"
[steps.transform_in]
"title" = {title}

[[steps]]
kind = "rhai"
path = "acme.rhai"
config = {{ marker = "{marker}" }}

[[steps]]
kind = "wasm"
path = "acme.wasm"
config = {{ marker = "{marker}" }}
"#
    )
}

fn other_toml() -> String {
    format!("[[steps]]\nkind = \"wasm\"\npath = {:?}\n", plugin_artifacts::WORK_EMAIL)
}

fn start() -> Gateway {
    let stamp = std::fs::read(plugin_artifacts::STAMP).unwrap();
    let acme = acme_toml("v0", true);
    let other = other_toml();
    let files: [(&str, &[u8]); 4] = [
        ("tenants/acme.toml", acme.as_bytes()),
        ("tenants/acme.rhai", RHAI_VALID.as_bytes()),
        ("tenants/acme.wasm", &stamp),
        ("tenants/other.toml", other.as_bytes()),
    ];
    Gateway::start_files("tenants_dir = \"tenants\"", "", "[admin]\n", &files, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN)])
}

fn write(gw: &Gateway, rel: &str, content: &[u8]) {
    let path = gw.dir.path().join("tenants").join(rel);
    // Write then rename, as editors and deploy tools do: a reload never
    // reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

fn reload(gw: &Gateway) -> Value {
    gw.admin_post("/admin/reload", &json!({})).expect(200).json
}

fn status(gw: &Gateway, tenant: &str) -> Value {
    let all = gw.admin_get("/admin/tenants");
    all["tenants"].as_array().unwrap().iter().find(|t| t["name"] == tenant).cloned().unwrap_or(Value::Null)
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
           "emails": [{"value": format!("{name}@Example.com"), "type": "work", "primary": true}]})
}

/// The marker a response was made with; panics if its steps disagree.
fn marker_of(resp: &Value) -> String {
    let title = resp["title"].as_str().unwrap_or("?");
    let nick = resp["nickName"].as_str().unwrap_or("?");
    let stamp = resp[ENTERPRISE]["costCenter"].as_str().unwrap_or("?");
    assert!(title == nick && nick == stamp, "a response mixed snapshots: {title} {nick} {stamp}: {resp}");
    title.to_owned()
}

#[test]
fn a_hundred_rewrites_under_load_drop_nothing_and_mix_nothing() {
    let gw = start();
    let acme = gw.token("acme");
    let other = gw.token("other");
    let other_version = status(&gw, "other")["version"].clone();
    let stop = Arc::new(AtomicBool::new(false));

    let mut load = Vec::new();
    for worker in 0..2 {
        let (client, token, stop) = (gw.client(), acme.clone(), stop.clone());
        load.push(std::thread::spawn(move || {
            let mut markers = BTreeSet::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = serde_json::to_vec(&user(&format!("acme{worker}-{n}"))).unwrap();
                let resp = client.send("POST", "/Users", Some(&token), &[], Some(body));
                assert_eq!(resp.status, 201, "acme request {n} failed: {}", resp.describe());
                markers.insert(marker_of(&resp.json));
            }
            (n, markers)
        }));
    }
    let (client, stop_other) = (gw.client(), stop.clone());
    let steady = std::thread::spawn(move || {
        let mut n = 0;
        while !stop_other.load(Ordering::Relaxed) {
            n += 1;
            let body = serde_json::to_vec(&user(&format!("Other-{n}"))).unwrap();
            let resp = client.send("POST", "/Users", Some(&other), &[], Some(body));
            assert_eq!(resp.status, 201, "other request {n} failed: {}", resp.describe());
            assert_eq!(resp.json["userName"], format!("other-{n}@example.com"));
        }
        n
    });

    let stamp = std::fs::read(plugin_artifacts::STAMP).unwrap();
    let probe = gw.token("acme");
    for i in 1..=100u32 {
        let marker = format!("v{i}");
        if i.is_multiple_of(2) {
            // Valid: the code files first, the tenant file (and its marker) last.
            write(&gw, "acme.rhai", RHAI_VALID.as_bytes());
            write(&gw, "acme.wasm", &stamp);
            write(&gw, "acme.toml", acme_toml(&marker, true).as_bytes());
            reload(&gw);
            let s = status(&gw, "acme");
            assert!(s["last_error"].is_null(), "version {i} was valid: {s}");
            let resp = gw.post("/Users", &probe, &user(&format!("probe{i}"))).expect(201);
            assert_eq!(marker_of(&resp.json), marker, "version {i} serves");
        } else {
            // Invalid three ways: a mapping that does not parse, a script that
            // does not compile, bytes that are no component.
            write(&gw, "acme.toml", acme_toml(&marker, false).as_bytes());
            write(&gw, "acme.rhai", RHAI_INVALID.as_bytes());
            write(&gw, "acme.wasm", b"\0asm not a component");
            reload(&gw);
            let s = status(&gw, "acme");
            assert!(s["last_error"].as_str().is_some_and(|e| e.contains("acme")), "version {i} was invalid: {s}");
            let resp = gw.post("/Users", &probe, &user(&format!("probe{i}"))).expect(201);
            assert_eq!(marker_of(&resp.json), format!("v{}", i - 1), "the previous version keeps serving");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for worker in load {
        let (n, markers) = worker.join().expect("no acme request failed or mixed");
        total += n;
        for m in &markers {
            let version: u32 = m.trim_start_matches('v').parse().unwrap();
            assert!(version.is_multiple_of(2), "invalid version {m} took effect");
        }
    }
    let other_requests = steady.join().expect("no other-tenant request failed");
    assert!(total > 0 && other_requests > 0);
    assert_eq!(status(&gw, "other")["version"], other_version, "the other tenant was never rebuilt");
}

#[test]
fn file_changes_and_sighup_reload_and_tenants_come_and_go() {
    let gw = start();
    let acme = gw.token("acme");
    let other = gw.token("other");

    // An edited file is picked up by itself.
    write(&gw, "acme.toml", acme_toml("watched", true).as_bytes());
    eventually("the watcher reloads", || {
        let resp = gw.post("/Users", &acme, &user(&format!("w{}", rand_suffix())));
        (resp.status == 201 && marker_of(&resp.json) == "watched").then_some(())
    });

    // A broken file shows in the admin API with the file and line, and changes nothing.
    std::fs::write(gw.dir.path().join("tenants/acme.toml"), "idp = \"entra\"\n[[steps]\nkind = 1\n").unwrap();
    let s = eventually("the refusal is reported", || {
        let s = status(&gw, "acme");
        s["last_error"].as_str().is_some().then_some(s)
    });
    let error = s["last_error"].as_str().unwrap();
    assert!(error.contains("acme.toml") && error.contains("line 2"), "{error}");
    let resp = gw.post("/Users", &acme, &user("still")).expect(201);
    assert_eq!(marker_of(&resp.json), "watched");

    // SIGHUP reloads too.
    write(&gw, "acme.toml", acme_toml("hup", true).as_bytes());
    gw.sighup();
    eventually("SIGHUP reloads", || {
        let resp = gw.post("/Users", &acme, &user(&format!("h{}", rand_suffix())));
        (marker_of(&resp.json) == "hup").then_some(())
    });

    // A removed tenant's tokens stop working at once; a new tenant serves.
    std::fs::remove_file(gw.dir.path().join("tenants/other.toml")).unwrap();
    let report = reload(&gw);
    assert_eq!(report["removed"], json!(["other"]), "{report}");
    gw.get("/Users", &other).expect(401);
    write(&gw, "fresh.toml", b"idp = \"okta\"\n");
    let report = reload(&gw);
    assert_eq!(report["added"], json!(["fresh"]), "{report}");
    let fresh = gw.token("fresh");
    gw.get("/Users", &fresh).expect(200);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

#[test]
fn check_reports_every_problem_with_its_file() {
    let gw = start();
    let bad_dir = gw.dir.path().join("tenants");
    std::fs::write(bad_dir.join("broken.toml"), "[[steps]]\nkind = \"rhai\"\npath = \"broken.rhai\"\n").unwrap();
    std::fs::write(bad_dir.join("broken.rhai"), "fn transform_in(user, ctx) {\n  let x = ;\n}\n").unwrap();
    std::fs::write(bad_dir.join("typo.toml"), "idp = \"entra\"\nstepz = []\n").unwrap();
    let out = gw.cli(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("ok      acme (3 steps)"), "{stdout}");
    assert!(stdout.contains("FAILED  broken") && stdout.contains("broken.rhai:2:"), "{stdout}");
    assert!(stdout.contains("FAILED  typo") && stdout.contains("typo.toml") && stdout.contains("stepz"), "{stdout}");
    std::fs::remove_file(bad_dir.join("broken.toml")).unwrap();
    std::fs::remove_file(bad_dir.join("typo.toml")).unwrap();
    let out = gw.cli(&["check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn the_admin_api_manages_tokens_and_pages_the_log() {
    let gw = start();
    let issued = gw.admin_post("/admin/tenants/acme/tokens", &json!({})).expect(200).json;
    let token = issued["token"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap().to_owned();
    gw.get("/Users", &token).expect(200);
    let listed = gw.admin_get("/admin/tenants/acme/tokens");
    assert!(listed["tokens"].as_array().unwrap().iter().any(|t| t["id"] == id.as_str()), "{listed}");
    assert!(!listed.to_string().contains(&token), "a listing never shows a secret");

    for n in 0..5 {
        gw.post("/Users", &token, &user(&format!("paged{n}"))).expect(201);
    }
    gw.post("/Users", &token, &json!({"userName": "paged0"})).expect(409);
    let all = eventually("the records are written", || {
        let page = gw.admin_get("/admin/tenants/acme/log?operation=create&limit=1000");
        (page["records"].as_array().unwrap().len() == 6).then_some(page)
    });
    let errors = gw.admin_get("/admin/tenants/acme/log?outcome=error");
    assert_eq!(errors["records"].as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors["records"][0]["status"], 409);
    // Paging backwards, two at a time, visits each record once.
    let mut seen = Vec::new();
    let mut path = "/admin/tenants/acme/log?operation=create&limit=2".to_owned();
    loop {
        let page = gw.admin_get(&path);
        seen.extend(page["records"].as_array().unwrap().iter().map(|r| r["seq"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/admin/tenants/acme/log?operation=create&limit=2&before={before}"),
            None => break,
        }
    }
    let expected: Vec<i64> = all["records"].as_array().unwrap().iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seen, expected);
    let one = all["records"].as_array().unwrap().iter().find_map(|r| r["resource_id"].as_str()).unwrap().to_owned();
    let by_resource = gw.admin_get(&format!("/admin/tenants/acme/log?resource_id={one}"));
    assert_eq!(by_resource["records"].as_array().unwrap().len(), 1);

    let revoked = gw.admin().try_raw("DELETE", &format!("/admin/tokens/{id}"), Some(ADMIN_TOKEN), &[], None).unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.describe());
    eventually("the revoked token stops working", || (gw.get("/Users", &token).status == 401).then_some(()));
}

/// A script far past the function limit (it would take seconds to
/// compile, holding up the reload) is refused at once, naming the limit;
/// the tenant keeps its running snapshot, and another tenant's change in
/// the same reload takes effect.
#[test]
fn a_script_too_large_to_compile_is_refused_at_once_and_delays_no_other_tenant() {
    let gw = start();
    let (acme, other) = (gw.token("acme"), gw.token("other"));
    let huge: String = (0..20_000).map(|i| format!("fn f{i}(x) {{ let g = |y| y + {i}; g.call(x) }}\n")).collect();
    write(&gw, "acme.rhai", huge.as_bytes());
    write(&gw, "other.toml", b"idp = \"okta\"\n");
    let started = std::time::Instant::now();
    let report = reload(&gw);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "the reload took {took:?}");
    assert_eq!(report["changed"], json!(["other"]), "{report}");
    let refused = report["failed"].to_string();
    assert!(refused.contains("acme") && refused.contains("max_script_bytes"), "{report}");
    // acme still serves its last good snapshot; other serves its new one.
    let resp = gw.post("/Users", &acme, &user("kept")).expect(201);
    assert_eq!(marker_of(&resp.json), "v0");
    let plain = gw.post("/Users", &other, &user("plain")).expect(201);
    assert_eq!(plain.json["userName"], "plain", "other's new config has no steps");
}
