//! Previewing a new version of one step on 10,000 stored users, through the
//! admin API and the CLI: exactly the users whose outputs change are
//! reported, and nothing is written.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USERS: usize = 10_000;

fn repo_file(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel).display().to_string()
}

/// User `i`: in Sales when `i.is_multiple_of(5)`, else Engineering; a work email at
/// `eu.example` when `i.is_multiple_of(7)`, else at `corp.example`.
fn user(i: usize) -> Value {
    let domain = if i.is_multiple_of(7) { "EU.example" } else { "corp.example" };
    let department = if i.is_multiple_of(5) { "Sales" } else { "Engineering" };
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": format!("user{i}"),
        "externalId": format!("ext-{i}"),
        "displayName": format!("User Number{i}"),
        "emails": [{"value": format!("User{i}@{domain}"), "type": "work", "primary": true}],
        ENTERPRISE: {"department": department},
    })
}

/// `acme` runs the Rhai twins of the example plugins: department scope
/// (Engineering and Sales), name split, work email, match by email.
fn start() -> Gateway {
    let mut toml = String::from("[tenants.acme]\nidp = \"entra\"\n");
    for (plugin, config) in [
        ("department-scope", "config = { departments = [\"Engineering\", \"Sales\"] }\n"),
        ("name-split", ""),
        ("work-email", ""),
        ("match-by-email", ""),
    ] {
        let path = repo_file(&format!("examples/rhai/{plugin}.rhai"));
        toml += &format!("\n[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {path:?}\n{config}");
    }
    Gateway::start_tenants(&toml)
}

/// Store `USERS` users through Bulk, 1,000 at a time; their ids by index.
fn seed(gw: &Gateway, token: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(USERS);
    for start in (0..USERS).step_by(1000) {
        let ops: Vec<Value> = (start..(start + 1000).min(USERS))
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user(i)}))
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
        let r = gw.post("/Bulk", token, &body).expect(200);
        for op in r.json["Operations"].as_array().expect("Operations") {
            assert_eq!(op["status"], "201", "{op}");
            ids.push(op["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned());
        }
    }
    ids
}

/// The work-email script, with `eu.example` addresses moved to `corp.eu`.
fn work_email_v2(dir: &Path) -> String {
    let source = std::fs::read_to_string(repo_file("examples/rhai/work-email.rhai")).unwrap();
    let old = "    user[\"userName\"] = user_name;";
    assert!(source.contains(old), "the example script changed; update this test");
    let new = "    if user_name.ends_with(\"@eu.example\") {\n        user_name.replace(\"@eu.example\", \"@corp.eu\");\n    }\n";
    let path = dir.join("work-email-v2.rhai");
    std::fs::write(&path, source.replace(old, &format!("{new}{old}"))).unwrap();
    path.display().to_string()
}

fn events(ndjson: &str) -> Vec<Value> {
    ndjson.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[test]
fn a_preview_of_ten_thousand_users_reports_exactly_those_whose_output_changes_and_writes_nothing() {
    let gw = start();
    let token = gw.token("acme");
    let ids = seed(&gw, &token);
    // The log is written behind the answers: wait for the last Bulk's record.
    let log_before = eventually("the seeding's log records", || {
        let bulks = gw.admin_get("/admin/tenants/acme/log?operation=bulk&limit=100");
        (bulks["records"].as_array()?.len() == USERS / 1000).then(|| gw.admin_get("/admin/tenants/acme/log?limit=1"))
    });
    let dir = tempfile::tempdir().unwrap();
    let script = work_email_v2(dir.path());

    let r = gw.admin_post(
        "/admin/tenants/acme/preview",
        &json!({"step": 3, "plugin": script, "resourceType": "User", "max_changes": USERS}),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let events = events(&r.body);
    let progress: Vec<&Value> = events.iter().filter_map(|e| e.get("progress")).collect();
    assert!(progress.len() >= USERS / 512, "progress after each page: {progress:?}");
    assert_eq!(progress.last().unwrap(), &&json!({"done": USERS, "total": USERS}));
    let changes: Vec<&Value> = events.iter().filter_map(|e| e.get("change")).collect();
    let changed: BTreeSet<&str> = changes.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> = (0..USERS).filter(|i| i.is_multiple_of(7)).map(|i| ids[i].as_str()).collect();
    let extra: Vec<&&Value> = changes.iter().filter(|c| !expected.contains(c["id"].as_str().unwrap())).collect();
    assert!(extra.is_empty(), "changes of users not at eu.example: {extra:?}");
    assert_eq!(changed, expected, "the changed users are exactly those at eu.example");
    let i = 14;
    let change = changes.iter().find(|c| c["id"] == ids[i].as_str()).unwrap();
    assert_eq!(
        change["attributes"],
        json!([{"attribute": "userName", "before": "user14@eu.example", "after": "user14@corp.eu"}]),
        "{change}"
    );
    assert!(change.get("scope").is_none() && change.get("keys_gained").is_none(), "{change}");
    let summary = &events.last().unwrap()["summary"];
    assert_eq!(summary["resources"], USERS);
    assert_eq!(summary["changed"], expected.len());
    assert_eq!(summary["unchanged"], USERS - expected.len());
    assert_eq!(summary["attributes"], json!({"userName": expected.len()}));
    assert_eq!(summary["left_scope"], 0);

    // Nothing was written: the users read back as before, the log is as it was.
    let alice = gw.get(&format!("/Users/{}", ids[i]), &token).expect(200);
    assert_eq!(alice.json["userName"], "user14@eu.example", "as before the preview");
    assert_eq!(gw.admin_get("/admin/tenants/acme/log?limit=1"), log_before);

    // The CLI, on the scope step with a narrower config: Sales users leave.
    let scope = repo_file("examples/rhai/department-scope.rhai");
    let out = gw.cli_ok(&[
        "plugin",
        "preview",
        "--tenant",
        "acme",
        "--step",
        "1",
        "--with",
        &scope,
        "--step-config",
        r#"{"departments": ["Engineering"]}"#,
        "--json",
    ]);
    let events = self::events(&out);
    let summary = &events.last().unwrap()["summary"];
    let sales = (0..USERS).filter(|i| i.is_multiple_of(5)).count();
    assert_eq!((summary["left_scope"].as_u64(), summary["changed"].as_u64()), (Some(sales as u64), Some(sales as u64)));
    let left: BTreeSet<&str> =
        events.iter().filter_map(|e| e.get("change")).map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(left.len(), 1000, "the listed changes stop at --max-changes' default");
    assert_eq!(summary["unlisted"], sales - 1000);
    let sales_ids: BTreeSet<&str> = (0..USERS).filter(|i| i.is_multiple_of(5)).map(|i| ids[i].as_str()).collect();
    assert!(left.is_subset(&sales_ids), "only Sales users leave scope");
    let one = events.iter().find_map(|e| e.get("change")).unwrap();
    assert_eq!(one["scope"]["before"], json!({"in_scope": true}), "{one}");
    assert_eq!(one["scope"]["after"]["in_scope"], false, "{one}");

    // The human form names the change and the counts.
    let text = gw.cli_ok(&["plugin", "preview", "--tenant", "acme", "--step", "3", "--with", &script]);
    let line = text.lines().find(|l| l.contains(ids[i].as_str())).expect("a line per change");
    assert!(line.contains(r#"userName "user14@eu.example" -> "user14@corp.eu""#), "{line}");
    assert!(text.contains(&format!("{USERS} resources in")), "{text}");
}

#[test]
fn a_preview_that_cannot_be_built_says_why() {
    let gw = start();
    let missing = gw.admin_post("/admin/tenants/acme/preview", &json!({"step": 9, "plugin": "x.rhai"}));
    assert_eq!(missing.status, 400, "{}", missing.describe());
    assert!(missing.json["detail"].as_str().unwrap().contains("has 4 steps"), "{}", missing.describe());
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.rhai");
    std::fs::write(&broken, "fn transform_in(user, ctx) { user[ }").unwrap();
    let r = gw.admin_post("/admin/tenants/acme/preview", &json!({"step": 3, "plugin": broken}));
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(gw.admin_post("/admin/tenants/nope/preview", &json!({"step": 1, "plugin": "x.rhai"})).status, 404);
    let wrong = gw.admin_post("/admin/tenants/acme/preview", &json!({"step": 1, "plugin": "x.txt"}));
    assert_eq!(wrong.status, 400, "{}", wrong.describe());
}
