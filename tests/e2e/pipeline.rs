//! The plugin pipeline in the request path: the example plugins chained in a
//! tenant, as Wasm components and as their Rhai twins, driven the way Entra
//! provisions, with the embedded target's accounts, the IdP's read-back and
//! the provisioning log checked after each step.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::{Gateway, eventually};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Clone, Copy, Debug)]
enum Kind {
    Wasm,
    Rhai,
    /// The JavaScript and Python ports (`plugins/js`, `plugins/python`).
    Js,
    Python,
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A `[[tenants.T.steps]]` entry for one example plugin in `kind`.
fn step(tenant: &str, kind: Kind, plugin: &str, config: &str) -> String {
    let path = match kind {
        Kind::Wasm => PathBuf::from(match plugin {
            "work-email" => plugin_artifacts::WORK_EMAIL,
            "department-scope" => plugin_artifacts::DEPARTMENT_SCOPE,
            "match-by-email" => plugin_artifacts::MATCH_BY_EMAIL,
            "name-split" => plugin_artifacts::NAME_SPLIT,
            other => panic!("no plugin {other}"),
        }),
        Kind::Rhai => repo_file(&format!("examples/rhai/{plugin}.rhai")),
        Kind::Js | Kind::Python => {
            let guests = std::env::var_os("SCIMGATE_GUEST_PLUGINS").map(PathBuf::from).expect("guest plugins");
            guests.join(if matches!(kind, Kind::Js) { "js" } else { "python" }).join(format!("{plugin}.wasm"))
        }
    };
    let kind = match kind {
        Kind::Rhai => "rhai",
        Kind::Wasm | Kind::Js | Kind::Python => "wasm",
    };
    let config = if config.is_empty() { String::new() } else { format!("config = {config}\n") };
    format!("\n[[tenants.{tenant}.steps]]\nkind = \"{kind}\"\npath = {:?}\n{config}", path.display().to_string())
}

/// `acme` runs all four example plugins; `plain` has no pipeline.
fn start(kind: Kind) -> Gateway {
    let mut toml = String::from(
        "[tenants.acme]\nidp = \"entra\"\n[tenants.acme.policy]\non_scope_exit = \"deactivate\"\non_delete = \"deactivate\"\n",
    );
    toml += &step("acme", kind, "department-scope", "{ departments = [\"Engineering\"] }");
    toml += &step("acme", kind, "name-split", "");
    toml += &step("acme", kind, "work-email", "");
    toml += &step("acme", kind, "match-by-email", "");
    toml += "\n[tenants.plain]\n";
    match kind {
        Kind::Wasm | Kind::Rhai => Gateway::start_tenants(&toml),
        // Large components: compiled once per run, in a cache the tests share.
        Kind::Js | Kind::Python => Gateway::start_config(
            &format!("plugin_cache = {:?}", crate::harness::shared_plugin_cache().display().to_string()),
            &format!("[admin]\n{toml}"),
            &[("SCIMGATE_ADMIN_TOKEN", crate::harness::ADMIN_TOKEN)],
        ),
    }
}

fn user(user_name: &str, external_id: &str, email: Option<&str>, department: &str) -> Value {
    let mut doc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": user_name,
        "externalId": external_id,
        "displayName": "Barbara Jensen",
        "active": true,
        ENTERPRISE: {"department": department},
    });
    if let Some(email) = email {
        doc["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    }
    doc
}

fn department_patch(department: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": department}],
    })
}

/// The provisioning-log records of `tenant`, newest first.
fn log(gw: &Gateway, tenant: &str) -> Vec<Value> {
    let out = gw.cli_ok(&["log", "--tenant", tenant, "--json", "--limit", "100"]);
    out.lines().map(|l| serde_json::from_str(l).expect("a JSON log line")).collect()
}

fn log_of(gw: &Gateway, tenant: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually("the provisioning-log record", || log(gw, tenant).into_iter().find(&pred))
}

fn account_linked_to<'a>(accounts: &'a [Value], id: &str) -> Option<&'a Value> {
    accounts.iter().find(|a| a["linked_to"] == id)
}

fn provisioning_cycle(kind: Kind) {
    let gw = start(kind);
    let token = gw.token("acme");

    // In scope: every plugin shapes the target account.
    let created =
        gw.post("/Users", &token, &user("bjensen", "ext-1", Some("Barbara.Jensen@Example.com"), "Engineering"));
    let created = created.expect(201).json;
    let id = created["id"].as_str().unwrap().to_owned();
    // The IdP reads back the target's truth: work-email made the userName,
    // name-split the name; everything else is as the IdP wrote it.
    assert_eq!(created["userName"], "barbara.jensen@example.com", "{kind:?}: {created}");
    assert_eq!(created["name"]["givenName"], "Barbara");
    assert_eq!(created["name"]["familyName"], "Jensen");
    assert_eq!(created["externalId"], "ext-1");
    let accounts = gw.target_accounts("acme", "Users");
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let account = account_linked_to(&accounts, &id).expect("the account is linked to the SCIM id");
    assert_eq!(account["active"], true);
    assert_eq!(account["doc"]["userName"], "barbara.jensen@example.com");
    assert_eq!(account["doc"]["name"]["formatted"], "Barbara Jensen");
    let read = gw.get(&format!("/Users/{id}"), &token).expect(200).json;
    assert_eq!(read["userName"], "barbara.jensen@example.com");
    assert_eq!(read[ENTERPRISE]["department"], "Engineering");

    // No work email: work-email refuses with a 400 that names it; nothing is written.
    let refused = gw.post("/Users", &token, &user("nomail", "ext-2", None, "Engineering")).expect(400);
    assert!(refused.json["detail"].as_str().unwrap().contains("work email"), "{}", refused.body);
    assert_eq!(refused.json["scimType"], "invalidValue");
    let filtered = gw.get("/Users?filter=userName eq \"nomail\"", &token).expect(200).json;
    assert_eq!(filtered["totalResults"], 0);
    let record = log_of(&gw, "acme", |r| r["status"] == 400);
    assert!(record["error"].as_str().unwrap().contains("work email"), "{record}");

    // Out of scope: kept in the shadow, answered as written, never sent to the target.
    let marketing = gw
        .post("/Users", &token, &user("mmarketing", "ext-3", Some("M.Marketing@Example.com"), "Marketing"))
        .expect(201);
    let marketing_id = marketing.json["id"].as_str().unwrap().to_owned();
    assert_eq!(marketing.json["userName"], "mmarketing", "as the IdP wrote it");
    assert_eq!(gw.target_accounts("acme", "Users").len(), 1);
    let record = log_of(&gw, "acme", |r| r["resource_id"] == marketing_id.as_str() && r["operation"] == "create");
    assert_eq!(record["outcome"], "out_of_scope", "{record}");
    assert!(record["detail"].as_str().unwrap().contains("Marketing"), "{record}");
    // Entra's matching filter finds it, as the IdP expects.
    let found = gw.get("/Users?filter=userName eq \"mmarketing\"", &token).expect(200).json;
    assert_eq!(found["totalResults"], 1);

    // Entering scope creates the account.
    gw.patch(&format!("/Users/{marketing_id}"), &token, &department_patch("Engineering")).expect(200);
    let accounts = gw.target_accounts("acme", "Users");
    assert_eq!(accounts.len(), 2);
    assert_eq!(account_linked_to(&accounts, &marketing_id).unwrap()["doc"]["userName"], "m.marketing@example.com");

    // Leaving scope deactivates (the tenant's policy); the IdP still reads its own values.
    let left = gw.patch(&format!("/Users/{id}"), &token, &department_patch("Sales")).expect(200).json;
    assert_eq!(left[ENTERPRISE]["department"], "Sales");
    assert_eq!(left["userName"], "bjensen", "out of scope: the shadow as written");
    let accounts = gw.target_accounts("acme", "Users");
    let account = account_linked_to(&accounts, &id).unwrap();
    assert_eq!(account["active"], false, "{account}");
    let record = log_of(&gw, "acme", |r| r["resource_id"] == id.as_str() && r["outcome"] == "left_scope");
    assert_eq!(record["operation"], "patch");

    // Coming back reactivates the same account.
    gw.patch(&format!("/Users/{id}"), &token, &department_patch("Engineering")).expect(200);
    let accounts = gw.target_accounts("acme", "Users");
    assert_eq!(account_linked_to(&accounts, &id).unwrap()["active"], true);
    assert_eq!(accounts.len(), 2);

    // An IdP delete keeps the account, inactive and unlinked (policy).
    gw.delete(&format!("/Users/{id}"), &token).expect(204);
    gw.get(&format!("/Users/{id}"), &token).expect(404);
    let accounts = gw.target_accounts("acme", "Users");
    assert_eq!(accounts.len(), 2);
    let kept = accounts.iter().find(|a| a["doc"]["userName"] == "barbara.jensen@example.com").unwrap();
    assert_eq!((kept["active"].clone(), kept["linked_to"].clone()), (json!(false), Value::Null));
    let kept_id = kept["target_id"].clone();

    // A new create of the same person matches it (externalId first) and links
    // instead of creating a duplicate.
    let again = gw.post("/Users", &token, &user("bjensen", "ext-1", Some("barbara.jensen@example.com"), "Engineering"));
    let new_id = again.expect(201).json["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id, "a new SCIM id");
    let accounts = gw.target_accounts("acme", "Users");
    assert_eq!(accounts.len(), 2, "no duplicate account: {accounts:?}");
    let relinked = account_linked_to(&accounts, &new_id).unwrap();
    assert_eq!((relinked["target_id"].clone(), relinked["active"].clone()), (kept_id, json!(true)));
    let record = log_of(&gw, "acme", |r| r["resource_id"] == new_id.as_str() && r["operation"] == "create");
    assert_eq!(record["outcome"], "linked", "{record}");
    assert!(record["detail"].as_str().unwrap().contains("externalId"), "{record}");

    // Lists go through the same read-back.
    let page = gw.get("/Users?filter=externalId eq \"ext-1\"", &token).expect(200).json;
    assert_eq!(page["Resources"][0]["userName"], "barbara.jensen@example.com");

    // The tenant without a pipeline is untouched by all of it.
    let plain = gw.token("plain");
    let doc = user("Plain.User", "p-1", None, "Marketing");
    assert_eq!(gw.post("/Users", &plain, &doc).expect(201).json["userName"], "Plain.User");
    assert!(gw.target_accounts("plain", "Users").is_empty());
}

#[test]
fn wasm_plugins_shape_a_provisioning_cycle() {
    provisioning_cycle(Kind::Wasm);
}

#[test]
fn rhai_twins_shape_the_same_provisioning_cycle() {
    provisioning_cycle(Kind::Rhai);
}

#[test]
fn javascript_ports_shape_the_same_provisioning_cycle() {
    if crate::harness::guest_plugins("javascript_ports").is_some() {
        provisioning_cycle(Kind::Js);
    }
}

#[test]
fn python_ports_shape_the_same_provisioning_cycle() {
    if crate::harness::guest_plugins("python_ports").is_some() {
        provisioning_cycle(Kind::Python);
    }
}

#[test]
fn dry_run_shows_every_stage_without_writing() {
    let gw = start(Kind::Wasm);
    let token = gw.token("acme");
    let doc = user("Dry.Run", "ext-9", Some("Dry.Run@Example.com"), "Engineering");
    let report = gw.admin_post("/admin/tenants/acme/dry-run", &doc).expect(200).json;
    assert_eq!(report["scope"]["in_scope"], true, "{report}");
    let stages: Vec<(String, String)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["hook"].as_str().unwrap().to_owned()))
        .collect();
    let hooks: Vec<&str> = stages.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(hooks, ["scope", "transform-in", "transform-in", "match-keys"], "{stages:?}");
    assert_eq!(report["target"]["userName"], "dry.run@example.com");
    assert_eq!(report["match_keys"][0]["attribute"], "externalId");
    assert_eq!(report["match"]["result"], "create");
    // Nothing was written.
    assert!(gw.target_accounts("acme", "Users").is_empty());
    assert_eq!(gw.get("/Users", &token).expect(200).json["totalResults"], 0);

    // Once the account exists, the dry run says it would link.
    gw.post("/Users", &token, &doc).expect(201);
    gw.delete(&format!("/Users/{}", gw.get("/Users", &token).json["Resources"][0]["id"].as_str().unwrap()), &token)
        .expect(204);
    let report = gw.admin_post("/admin/tenants/acme/dry-run", &doc).expect(200).json;
    assert_eq!(report["match"]["result"], "link", "{report}");

    // Out of scope, with the reason.
    let report =
        gw.admin_post("/admin/tenants/acme/dry-run", &user("x", "e", Some("x@example.com"), "Sales")).expect(200).json;
    assert_eq!(report["scope"]["in_scope"], false);
    assert!(report["scope"]["reason"].as_str().unwrap().contains("Sales"), "{report}");
    assert!(report["target"].is_null());

    // The admin API wants its own token, not a tenant's.
    let denied = gw.admin().try_raw("GET", "/admin/tenants", Some(&token), &[], None).unwrap();
    assert_eq!(denied.status, 401);
}

#[test]
fn a_declarative_mapping_renames_and_scopes() {
    let toml = r#"
[tenants.acme]
[[tenants.acme.steps]]
kind = "mapping"
scope = 'userType eq "Employee"'
match_keys = ["externalId"]
[tenants.acme.steps.transform_in]
"userName" = 'lower(emails[type eq "work"].value)'
"nickName" = 'concat(name.givenName, ".", name.familyName)'
"#;
    let gw = Gateway::start_tenants(toml);
    let token = gw.token("acme");
    let doc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "whatever", "externalId": "m-1", "userType": "Employee",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "Ada@Example.com", "type": "work"}],
    });
    let created = gw.post("/Users", &token, &doc).expect(201).json;
    assert_eq!(created["userName"], "ada@example.com", "{created}");
    assert_eq!(created["nickName"], "Ada.Lovelace");
    let accounts = gw.target_accounts("acme", "Users");
    assert_eq!(accounts[0]["doc"]["nickName"], "Ada.Lovelace");
    let contractor = json!({"userName": "c", "userType": "Contractor", "externalId": "m-2"});
    let out = gw.post("/Users", &token, &contractor).expect(201).json;
    assert_eq!(out["userName"], "c");
    assert_eq!(gw.target_accounts("acme", "Users").len(), 1);
}

#[test]
fn a_tenant_extension_schema_is_served_and_mapped() {
    let toml = r#"
[tenants.acme]
[[tenants.acme.extensions]]
id = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
name = "AcmeUser"
description = "Acme's own user attributes"
[[tenants.acme.extensions.attributes]]
name = "badgeColor"
canonical_values = ["red", "green"]
[[tenants.acme.extensions.attributes]]
name = "clearance"
type = "integer"

[[tenants.acme.steps]]
kind = "mapping"
[tenants.acme.steps.transform_in]
"urn:ietf:params:scim:schemas:extension:acme:2.0:User:badgeColor" = 'default(urn:ietf:params:scim:schemas:extension:acme:2.0:User:badgeColor, "red")'

[tenants.other]
"#;
    const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
    let gw = Gateway::start_tenants(toml);
    let token = gw.token("acme");
    let schemas = gw.get("/Schemas", &token).expect(200).json;
    let ids: Vec<&str> = schemas["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&ACME), "{ids:?}");
    let schema = gw.get(&format!("/Schemas/{ACME}"), &token).expect(200).json;
    assert_eq!(schema["name"], "AcmeUser");
    assert_eq!(schema["attributes"][1]["type"], "integer");
    let user_type = gw.get("/ResourceTypes/User", &token).expect(200).json;
    let extensions: Vec<&str> =
        user_type["schemaExtensions"].as_array().unwrap().iter().map(|e| e["schema"].as_str().unwrap()).collect();
    assert!(extensions.contains(&ACME), "{extensions:?}");

    // Another tenant sees nothing of it.
    let other = gw.token("other");
    gw.get(&format!("/Schemas/{ACME}"), &other).expect(404);

    // The attribute is stored, defaulted by the mapping, filterable.
    let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ACME], "userName": "amy",
                     ACME: {"clearance": 3}});
    let created = gw.post("/Users", &token, &doc).expect(201).json;
    assert_eq!(created[ACME]["clearance"], 3, "{created}");
    assert_eq!(created[ACME]["badgeColor"], "red", "the target's default reads back");
    let found = gw.get(&format!("/Users?filter={ACME}:clearance gt 2"), &token).expect(200).json;
    assert_eq!(found["totalResults"], 1, "{found}");
}

#[test]
fn lifecycle_events_run_after_the_write_and_never_undo_it() {
    let scripts = tempfile::tempdir().unwrap();
    let notify = scripts.path().join("notify.rhai");
    std::fs::write(
        &notify,
        r#"fn on_event(event, user, ctx) {
               log("info", `${event}: ${user.userName} (${ctx.operation})`);
               if event == "deleted" { throw "the webhook is down"; }
           }"#,
    )
    .unwrap();
    let toml = format!("[tenants.acme]\n[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\n", notify.display());
    let gw = Gateway::start_tenants(&toml);
    let token = gw.token("acme");
    let id = gw.post("/Users", &token, &json!({"userName": "eve", "active": true})).expect(201).json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    gw.patch(&format!("/Users/{id}"), &token, &deactivate).expect(200);
    let reactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "value": {"active": true}}]});
    gw.patch(&format!("/Users/{id}"), &token, &reactivate).expect(200);
    gw.put(&format!("/Users/{id}"), &token, &json!({"userName": "eve", "active": true, "title": "CFO"})).expect(200);
    // The hook fails on delete; the delete stands.
    gw.delete(&format!("/Users/{id}"), &token).expect(204);
    gw.get(&format!("/Users/{id}"), &token).expect(404);
    assert!(gw.target_accounts("acme", "Users").is_empty());

    let detail_of = |operation: &str, needle: &str| {
        log_of(&gw, "acme", |r| r["operation"] == operation && r["detail"].as_str().is_some_and(|d| d.contains(needle)))
    };
    detail_of("create", "created: eve (create)");
    detail_of("patch", "deactivated: eve (patch)");
    detail_of("patch", "reactivated: eve (patch)");
    detail_of("replace", "updated: eve (replace)");
    let deleted = detail_of("delete", "the webhook is down");
    assert_eq!(deleted["status"], 204, "{deleted}");
}

#[test]
fn a_pushed_group_links_to_the_existing_target_group() {
    // Okta's "Link Group": the target already has the group (kept when the
    // IdP deleted its SCIM twin), a new push finds it by displayName.
    let toml = r#"
[tenants.acme]
idp = "okta"
[tenants.acme.policy]
on_delete = "deactivate"
[[tenants.acme.steps]]
kind = "mapping"
match_keys = ["displayName"]
"#;
    let gw = Gateway::start_tenants(toml);
    let token = gw.token("acme");
    let member = gw.post("/Users", &token, &json!({"userName": "m1"})).expect(201).json["id"].clone();
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering",
                       "members": [{"value": member}]});
    let first = gw.post("/Groups", &token, &group).expect(201).json["id"].as_str().unwrap().to_owned();
    gw.delete(&format!("/Groups/{first}"), &token).expect(204);
    let kept = gw.target_accounts("acme", "Groups");
    assert_eq!((kept.len(), kept[0]["active"].clone()), (1, json!(false)), "{kept:?}");
    let second = gw.post("/Groups", &token, &group).expect(201).json;
    assert_eq!(second["members"][0]["value"], member, "members are kept by the gateway");
    let second = second["id"].as_str().unwrap().to_owned();
    let accounts = gw.target_accounts("acme", "Groups");
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(accounts[0]["linked_to"], second.as_str());
    assert_eq!(accounts[0]["target_id"], kept[0]["target_id"]);
    let record = log_of(&gw, "acme", |r| r["resource_id"] == second.as_str() && r["operation"] == "create");
    assert_eq!(record["outcome"], "linked", "{record}");
}
