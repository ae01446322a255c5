//! The service's decisions, phase by phase, in process: a real store in a
//! temp dir, tenants built from TOML as `serve` builds them, no HTTP.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::config::Config;
use crate::failure::Party;
use crate::upstream::UpstreamPool;

struct Fixture {
    service: Arc<Service>,
    tenant: Arc<Tenant>,
    _dir: tempfile::TempDir,
}

/// A service over a fresh store and tenant `acme` configured by `tenant_toml`.
fn fixture(tenant_toml: &str) -> Fixture {
    fixture_with(tenant_toml, BulkLimits::default())
}

fn fixture_with(tenant_toml: &str, bulk: BulkLimits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &format!("[store]\npath = \"unused.db\"\n[tenants.acme]\n{tenant_toml}"),
        Path::new("scimgate.toml"),
    )
    .unwrap();
    let engine = wasm_host::PluginEngine::new(wasm_host::EngineConfig::default()).unwrap();
    let metrics = Arc::new(Metrics::new(true));
    let pool = UpstreamPool::new(metrics.clone());
    let tenant = crate::tenant::build("acme", &config.tenants["acme"], &engine, &pool, 1).unwrap();
    let store = Store::open(&dir.path().join("store.db")).unwrap();
    Fixture { service: Arc::new(Service::new(store, metrics, bulk)), tenant: Arc::new(tenant), _dir: dir }
}

fn request(method: Method, path: &str, body: Option<Value>) -> ScimRequest {
    ScimRequest {
        method,
        route: Route::parse(path).unwrap(),
        query: Vec::new(),
        body,
        if_match: None,
        if_none_match: None,
        base_url: "http://gw/scim/v2".into(),
        request_id: "test".into(),
    }
}

impl Fixture {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<ScimResponse> {
        self.service.handle(&self.tenant, &request(method, path, body)).await
    }

    async fn create_user(&self, doc: Value) -> String {
        let created = self.send(Method::Post, "/Users", Some(doc)).await.unwrap();
        created.resource_id.unwrap()
    }

    async fn accounts(&self) -> Vec<crate::store::TargetAccount> {
        self.service.store().target_accounts("acme", ResourceKind::User).await.unwrap()
    }
}

const SCOPED: &str = r#"
[[tenants.acme.steps]]
kind = "mapping"
scope = 'userType eq "Employee"'
[tenants.acme.steps.transform_in]
"userName" = "lower(userName)"
"#;

fn user(name: &str, user_type: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "userType": user_type})
}

#[tokio::test]
async fn route_refuses_a_method_the_endpoint_does_not_take() {
    let f = fixture("");
    let failure = f.send(Method::Delete, "/Users", None).await.unwrap_err();
    assert!(matches!(failure, Failure::MethodNotAllowed("GET, POST")), "{failure:?}");
    assert_eq!(failure.party(), Party::Client);
    let failure = f.send(Method::Post, "/Me", Some(json!({}))).await.unwrap_err();
    assert_eq!(failure.reply("r").error.status, 501);
    let failure = f.send(Method::Get, "/Bulk", None).await.unwrap_err();
    assert!(matches!(failure, Failure::MethodNotAllowed("POST")), "{failure:?}");
}

#[tokio::test]
async fn a_tenant_without_steps_has_no_target_side() {
    let f = fixture("");
    let id = f.create_user(user("Ann", "Employee")).await;
    assert!(f.accounts().await.is_empty(), "no pipeline: the shadow is all there is");
    let patched = f
        .send(
            Method::Patch,
            &format!("/Users/{id}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]})),
        )
        .await
        .unwrap();
    assert_eq!(patched.body.unwrap()["title"], "Boss");
    assert_eq!(patched.outcome, None);
}

#[tokio::test]
async fn scope_decides_whether_the_target_gets_an_account() {
    let f = fixture(SCOPED);
    let out = f.send(Method::Post, "/Users", Some(user("Con", "Contractor"))).await.unwrap();
    assert_eq!(out.outcome, Some("out_of_scope"));
    assert!(out.detail.unwrap().contains("out of scope"));
    assert!(f.accounts().await.is_empty());

    let id = out.resource_id.unwrap();
    let replaced = f.send(Method::Put, &format!("/Users/{id}"), Some(user("Con", "Employee"))).await.unwrap();
    assert_eq!(replaced.outcome, None, "entering scope creates the account");
    let accounts = f.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].doc["userName"], "con", "the account holds what transform-in made");
    // The IdP reads the target's truth over its own document.
    assert_eq!(replaced.body.unwrap()["userName"], "con");
}

#[tokio::test]
async fn a_step_that_refuses_fails_the_write_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("refuse.rhai");
    std::fs::write(&script, "fn transform_in(user, ctx) { reject(\"no work email\") }").unwrap();
    let f = fixture(&format!("[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\n", script.display().to_string()));
    let failure = f.send(Method::Post, "/Users", Some(user("ann", "Employee"))).await.unwrap_err();
    assert_eq!(failure.party(), Party::Step, "{failure}");
    assert_eq!(failure.reply("r").error.status, 400);
    assert!(failure.needs_admin());
    assert_eq!(f.service.store().count("acme", ResourceKind::User).await.unwrap(), 0);
}

#[tokio::test]
async fn a_stale_if_match_is_refused_before_the_pipeline_runs() {
    let f = fixture(SCOPED);
    let id = f.create_user(user("Ann", "Employee")).await;
    let mut req = request(Method::Put, &format!("/Users/{id}"), Some(user("Ann", "Contractor")));
    req.if_match = Some("W/\"41\"".into());
    let failure = f.service.handle(&f.tenant, &req).await.unwrap_err();
    assert_eq!(failure.reply("r").error.status, 412);
    assert!(f.accounts().await[0].active, "the account is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_through_the_pipeline_take_turns_and_all_count() {
    let f = Arc::new(fixture(SCOPED));
    let id = f.create_user(user("Racer", "Contractor")).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (f, id) = (f.clone(), id.clone());
            tokio::spawn(async move {
                let ops = json!([
                    {"op": "replace", "path": "userType", "value": "Employee"},
                    {"op": "add", "path": "phoneNumbers", "value": [{"value": format!("+1-555-01{i:02}")}]},
                ]);
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
                f.send(Method::Patch, &format!("/Users/{id}"), Some(body)).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every PATCH succeeds");
    }
    let accounts = f.accounts().await;
    assert_eq!(accounts.len(), 1, "one account for the user that entered scope");
    let phones = accounts[0].doc["phoneNumbers"].as_array().unwrap().len();
    assert_eq!(phones, 16, "every PATCH's change reached the target: {}", accounts[0].doc);
}

fn bulk(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations})
}

fn member_of(bulk_id: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Staff",
           "members": [{"value": format!("bulkId:{bulk_id}")}]})
}

#[tokio::test]
async fn a_bulk_runs_each_operation_as_a_request_of_its_own() {
    let f = fixture(SCOPED);
    let done = f
        .send(
            Method::Post,
            "/Bulk",
            Some(bulk(json!([
                {"method": "POST", "path": "/Users", "bulkId": "ann", "data": user("Ann", "Employee")},
                {"method": "POST", "path": "/Groups", "bulkId": "staff", "data": member_of("ann")},
                {"method": "PATCH", "path": "/Users/bulkId:ann", "data": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}},
            ]))),
        )
        .await
        .unwrap();
    assert_eq!(done.status, 200);
    let body = done.body.unwrap();
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:BulkResponse");
    let ops = body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200"], "{body}");
    let accounts = f.accounts().await;
    let ann = &accounts[0];
    assert_eq!(ann.doc["userName"], "ann", "the pipeline's transform-in ran for the bulk's POST");
    assert_eq!(ann.doc["title"], "Boss", "and for its PATCH");
    let location = ops[0]["location"].as_str().unwrap();
    let ann_id = location.rsplit('/').next().unwrap();
    assert_eq!(ops[2]["location"], location);
    assert!(ops[0]["version"].as_str().unwrap().starts_with("W/"));
    let group_id = done.operations[1].resource_id.clone().unwrap();
    let group = f.send(Method::Get, &format!("/Groups/{group_id}"), None).await.unwrap().body.unwrap();
    assert_eq!(group["members"][0]["value"], ann_id, "bulkId:ann became Ann's id");
    let logged: Vec<_> = done.operations.iter().map(|o| (o.operation, o.status)).collect();
    assert_eq!(logged, [("create", 201), ("create", 201), ("patch", 200)]);
}

#[tokio::test]
async fn a_forward_reference_waits_for_its_post_and_a_cycle_is_a_conflict() {
    let f = fixture("");
    let ops = json!([
        {"method": "POST", "path": "/Groups", "bulkId": "staff", "data": member_of("bob")},
        {"method": "POST", "path": "/Users", "bulkId": "bob", "data": user("Bob", "Employee")},
        {"method": "POST", "path": "/Groups", "bulkId": "a", "data": member_of("b")},
        {"method": "POST", "path": "/Groups", "bulkId": "b", "data": member_of("a")},
        {"method": "DELETE", "path": "/Users/bulkId:nobody"},
    ]);
    let done = f.send(Method::Post, "/Bulk", Some(bulk(ops))).await.unwrap();
    let body = done.body.unwrap();
    let answered: Vec<(&str, &str)> = body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["bulkId"].as_str().unwrap_or("-"), o["status"].as_str().unwrap()))
        .collect();
    assert_eq!(answered, [("bob", "201"), ("-", "409"), ("staff", "201"), ("a", "409"), ("b", "409")], "{body}");
    let unknown = &body["Operations"][1]["response"];
    assert_eq!(unknown["scimType"], "invalidValue");
    assert!(unknown["detail"].as_str().unwrap().contains("bulkId:nobody"), "{unknown}");
    assert!(body["Operations"][3]["response"]["detail"].as_str().unwrap().contains("cycle"));
    assert_eq!(f.service.store().count("acme", ResourceKind::Group).await.unwrap(), 1);
}

#[tokio::test]
async fn fail_on_errors_stops_the_bulk_and_a_step_failure_is_answered_per_operation() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("refuse.rhai");
    std::fs::write(&script, "fn transform_in(user, ctx) { if user[\"userName\"] == \"bad\" { reject(\"no\") } user }")
        .unwrap();
    let f = fixture(&format!("[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\n", script.display().to_string()));
    let mut request = bulk(json!([
        {"method": "POST", "path": "/Users", "bulkId": "1", "data": user("good", "Employee")},
        {"method": "POST", "path": "/Users", "bulkId": "2", "data": user("bad", "Employee")},
        {"method": "POST", "path": "/Users", "bulkId": "3", "data": user("later", "Employee")},
    ]));
    request["failOnErrors"] = json!(1);
    let done = f.send(Method::Post, "/Bulk", Some(request)).await.unwrap();
    let body = done.body.unwrap();
    let ops = body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "the third operation never ran: {body}");
    assert_eq!((ops[1]["status"].as_str(), ops[1]["response"]["status"].as_str()), (Some("400"), Some("400")));
    let refused = &done.operations[1];
    assert_eq!((refused.failed_by, refused.needs_admin), (Some(Party::Step), true));
    assert!(done.detail.unwrap().contains("stopped by failOnErrors"));
    assert_eq!(f.service.store().count("acme", ResourceKind::User).await.unwrap(), 1);
}

#[tokio::test]
async fn a_bulk_past_max_operations_is_refused_whole_and_its_limits_are_advertised() {
    let f = fixture_with("", BulkLimits { max_operations: 2, max_payload_bytes: 4096 });
    let op = json!({"method": "POST", "path": "/Users", "bulkId": "x", "data": user("x", "Employee")});
    let failure = f.send(Method::Post, "/Bulk", Some(bulk(json!([op, op, op])))).await.unwrap_err();
    let error = failure.reply("r").error;
    assert_eq!(error.status, 413);
    assert!(error.detail.contains("maxOperations is 2"), "{}", error.detail);
    assert_eq!(f.service.store().count("acme", ResourceKind::User).await.unwrap(), 0);
    let config = f.send(Method::Get, "/ServiceProviderConfig", None).await.unwrap().body.unwrap();
    assert_eq!(config["bulk"], json!({"supported": true, "maxOperations": 2, "maxPayloadSize": 4096}));
}

#[tokio::test]
async fn a_bulk_operation_version_is_its_if_match() {
    let f = fixture(SCOPED);
    let id = f.create_user(user("Ann", "Employee")).await;
    let path = format!("/Users/{id}");
    let done = f
        .send(
            Method::Post,
            "/Bulk",
            Some(bulk(json!([
                {"method": "PUT", "path": path, "version": "W/\"41\"", "data": user("Ann", "Contractor")},
                {"method": "DELETE", "path": path, "version": "W/\"41\""},
            ]))),
        )
        .await
        .unwrap();
    let body = done.body.unwrap();
    for op in body["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], "412", "{body}");
        assert_eq!(op["location"], format!("http://gw/scim/v2{path}"));
    }
    assert!(f.accounts().await[0].active, "the account is untouched");
}

const MATCHING: &str = r#"
[tenants.acme.policy]
on_delete = "deactivate"
[[tenants.acme.steps]]
kind = "mapping"
match_keys = ["externalId"]
[tenants.acme.steps.transform_in]
"userName" = "lower(userName)"
"#;

fn stage_names(stages: &[crate::trace::Stage]) -> Vec<&str> {
    stages.iter().map(|s| s.stage.as_str()).collect()
}

#[tokio::test]
async fn a_traced_create_records_each_stage_and_the_account_it_linked() {
    let f = fixture(MATCHING);
    let user = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "externalId": "e-1"});
    let first = f.create_user(user("Ann")).await;
    f.send(Method::Delete, &format!("/Users/{first}"), None).await.unwrap();
    let (linked, stages) = crate::trace::collect(f.send(Method::Post, "/Users", Some(user("Anna")))).await;
    assert_eq!(linked.unwrap().outcome, Some("linked"));
    assert_eq!(stage_names(&stages), ["transform-in", "match-keys", "plan", "store", "match"], "{stages:#?}");
    assert_eq!(stages[0].step.as_deref(), Some("mapping#1"));
    assert_eq!(stages[0].decision["userName"], "anna", "the mapping's output");
    assert!(stages[1].decision.to_string().contains("e-1"), "{stages:#?}");
    let account = stages[3].decision["target_id"].as_str().unwrap().to_owned();
    assert_eq!(stages[3].decision["outcome"], "linked");
    assert_eq!(
        stages[4].decision,
        json!({"result": "link", "target_id": account, "attribute": "externalId", "policy": "link"})
    );
}

#[tokio::test]
async fn a_step_that_refuses_leaves_its_failure_in_the_trace_after_the_calls_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("refuse.rhai");
    std::fs::write(&script, "fn transform_in(user, ctx) { reject(\"no work email\") }").unwrap();
    let steps = format!("[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\n", script.display().to_string());
    let f = fixture(&format!("{SCOPED}{steps}"));
    let (failed, stages) = crate::trace::collect(f.send(Method::Post, "/Users", Some(user("ann", "Employee")))).await;
    assert!(failed.is_err());
    assert_eq!(stage_names(&stages), ["scope", "transform-in", "step-failed"], "{stages:#?}");
    assert_eq!(stages[0].decision, json!({"in_scope": true}), "the calls before it are kept");
    assert_eq!(stages[1].decision["userName"], "ann");
    assert_eq!(stages[2].step.as_deref(), Some("refuse.rhai"));
    assert_eq!(stages[2].decision["reason"], "rejected");
    assert!(stages[2].decision["error"].as_str().unwrap().contains("no work email"));
}
