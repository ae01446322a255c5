//! `scimgate log`: the provisioning log records what the IdP did.

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

const KEYS: [&str; 10] = [
    "time",
    "tenant",
    "operation",
    "resource_type",
    "resource_id",
    "outcome",
    "status",
    "duration_ms",
    "error",
    "request_id",
];

/// `log --tenant T --json [--limit N]`, parsed.
fn log_json(gw: &Gateway, tenant: &str, limit: Option<usize>) -> Vec<Value> {
    let limit = limit.map(|n| n.to_string());
    let mut args = vec!["log", "--tenant", tenant, "--json"];
    if let Some(l) = &limit {
        args.extend(["--limit", l]);
    }
    gw.cli_ok(&args)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log --json line is not JSON ({e}): {l:?}")))
        .collect()
}

/// A status that may be logged as a number or as a numeric string.
fn status_of(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// (operation(s) accepted, resource_type, resource id, status)
type Expected = (&'static [&'static str], Option<&'static str>, Option<String>, u16);

#[test]
fn provisioning_log_json_lists_operations_newest_first_with_status_and_resource_ids() {
    let gw = Gateway::start(&["acme", "globex"]);
    let t = gw.token("acme");
    let c = gw.client();

    let mut expected: Vec<Expected> = Vec::new();
    let uid = id_of(&create_user(&c, &t, "logged@example.com"));
    expected.push((&["create"], Some("User"), Some(uid.clone()), 201));
    c.get(&format!("/Users/{uid}"), &t).expect(200);
    expected.push((&["get"], Some("User"), Some(uid.clone()), 200));
    c.get("/Users/no-such-id", &t).expect(404);
    expected.push((&["get"], Some("User"), None, 404));
    c.get("/Users?filter=userName eq \"logged@example.com\"", &t).expect(200);
    expected.push((&["list", "search"], Some("User"), None, 200));
    c.post("/Users/.search", &t, &json!({"schemas": [SEARCH_SCHEMA], "filter": "userName pr"})).expect(200);
    expected.push((&["search"], Some("User"), None, 200));
    c.put(&format!("/Users/{uid}"), &t, &user_body("logged@example.com")).expect(200);
    expected.push((&["replace"], Some("User"), Some(uid.clone()), 200));
    c.patch(&format!("/Users/{uid}"), &t, &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])))
        .expect(200);
    expected.push((&["patch"], Some("User"), Some(uid.clone()), 200));
    c.get("/ServiceProviderConfig", &t).expect(200);
    expected.push((&["config"], None, None, 200));
    let gid = id_of(&create_group(&c, &t, "Logged", &[]));
    expected.push((&["create"], Some("Group"), Some(gid.clone()), 201));
    c.post("/Groups", &t, &json!({"schemas": [GROUP_SCHEMA], "displayName": "logged"})).expect(409);
    expected.push((&["create"], Some("Group"), None, 409));
    c.delete(&format!("/Users/{uid}"), &t).expect(204);
    expected.push((&["delete"], Some("User"), Some(uid.clone()), 204));

    let records = eventually("all records in `scimgate log`", || {
        let r = log_json(&gw, "acme", Some(100));
        (r.len() >= expected.len()).then_some(r)
    });
    assert_eq!(records.len(), expected.len(), "one record per request: {records:#?}");

    let mut request_ids = std::collections::HashSet::new();
    // newest first
    for (rec, (ops, rtype, rid, status)) in records.iter().zip(expected.iter().rev()) {
        for k in KEYS {
            assert!(rec.get(k).is_some(), "record lacks `{k}`: {rec}");
        }
        assert_eq!(rec["tenant"], json!("acme"), "{rec}");
        let op = rec["operation"].as_str().unwrap_or_default();
        assert!(ops.contains(&op), "operation {op:?}, expected one of {ops:?}: {rec}");
        if let Some(rt) = rtype {
            assert_eq!(rec["resource_type"], json!(rt), "{rec}");
        }
        if let Some(id) = rid {
            assert_eq!(rec["resource_id"], json!(id), "{rec}");
        }
        assert_eq!(status_of(&rec["status"]), Some(u64::from(*status)), "status: {rec}");
        let outcome = if *status < 400 { "ok" } else { "error" };
        assert_eq!(rec["outcome"], json!(outcome), "{rec}");
        if *status >= 400 {
            assert!(
                rec["error"].as_str().is_some_and(|e| !e.is_empty()),
                "an error record says what went wrong: {rec}"
            );
        }
        assert!(rec["duration_ms"].is_number(), "duration_ms: {rec}");
        assert!(rec["time"].as_str().is_some_and(|s| !s.is_empty()), "time: {rec}");
        let req_id = rec["request_id"].as_str().unwrap_or_default().to_string();
        assert!(!req_id.is_empty(), "request_id: {rec}");
        assert!(request_ids.insert(req_id), "request_id must be unique per request: {rec}");
    }

    // --limit keeps the newest N.
    let newest = log_json(&gw, "acme", Some(3));
    assert_eq!(newest, records[..3].to_vec());
    // Other tenants' logs are separate.
    assert!(log_json(&gw, "globex", None).is_empty(), "globex made no requests");
    // The human format works too.
    let text = gw.cli_ok(&["log", "--tenant", "acme"]);
    assert!(text.contains(&uid), "`scimgate log` (text) mentions the resource id: {text}");
}

#[test]
fn provisioning_log_records_group_patch_and_discovery_endpoints() {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    let c = gw.client();
    let uid = id_of(&create_user(&c, &t, "m@example.com"));
    let gid = id_of(&create_group(&c, &t, "G", &[]));
    c.patch(
        &format!("/Groups/{gid}"),
        &t,
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": uid}]}])),
    )
    .expect(204);
    c.get("/Schemas", &t).expect(200);
    c.get("/ResourceTypes", &t).expect(200);
    let records = eventually("5 records", || {
        let r = log_json(&gw, "acme", None);
        (r.len() >= 5).then_some(r)
    });
    assert_eq!(records[0]["operation"], json!("config"));
    assert_eq!(records[1]["operation"], json!("config"));
    assert_eq!(records[2]["operation"], json!("patch"));
    assert_eq!(records[2]["resource_type"], json!("Group"));
    assert_eq!(records[2]["resource_id"], json!(gid));
    assert_eq!(status_of(&records[2]["status"]), Some(204));
    assert_eq!(records[2]["outcome"], json!("ok"));
}

#[test]
fn provisioning_log_keeps_records_of_requests_answered_before_sigterm() {
    let mut gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    let c = gw.client();
    for i in 0..20 {
        create_user(&c, &t, &format!("flush{i}@example.com"));
    }
    // Stop right away: records still queued must be flushed, not dropped.
    assert!(gw.sigterm().success());
    let records = log_json(&gw, "acme", Some(100));
    assert_eq!(records.len(), 20, "answered requests missing from the log after a graceful stop");
    assert!(records.iter().all(|r| r["operation"] == json!("create") && status_of(&r["status"]) == Some(201)));
}
