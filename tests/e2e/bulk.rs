//! `POST /Bulk` (RFC 7644 §3.7) against the real binary: bulkId references,
//! failOnErrors, the limits, the tenant's pipeline on every operation and
//! one provisioning-log record per operation.

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

fn bulk(operations: Value) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": operations})
}

fn statuses(r: &Response) -> Vec<String> {
    r.json["Operations"]
        .as_array()
        .unwrap_or_else(|| panic!("no Operations: {}", r.describe()))
        .iter()
        .map(|o| o["status"].as_str().unwrap_or_else(|| panic!("status is a string: {o}")).to_owned())
        .collect()
}

/// `scimgate log --tenant T --json`, newest first.
fn log_json(gw: &Gateway, tenant: &str) -> Vec<Value> {
    gw.cli_ok(&["log", "--tenant", tenant, "--json", "--limit", "100"])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_bulk_creates_a_user_and_a_group_of_it_by_bulk_id_then_patches_and_logs_each_operation() {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    let r = gw
        .post(
            "/Bulk",
            &t,
            &bulk(json!([
                {"method": "POST", "path": "/Users", "bulkId": "ann", "data": user_body("ann")},
                {"method": "POST", "path": "/Groups", "bulkId": "staff",
                 "data": {"schemas": [GROUP_SCHEMA], "displayName": "Staff", "members": [{"value": "bulkId:ann"}]}},
                {"method": "PATCH", "path": "/Users/bulkId:ann",
                 "data": patch_ops(json!([{"op": "replace", "path": "title", "value": "Boss"}]))},
            ])),
        )
        .expect(200);
    assert_scim_content_type(&r);
    assert_eq!(r.json["schemas"], json!([BULK_RESPONSE]));
    assert_eq!(statuses(&r), ["201", "201", "200"], "{}", r.describe());
    let ops = r.json["Operations"].as_array().unwrap();
    assert_eq!((ops[0]["method"].as_str(), ops[0]["bulkId"].as_str()), (Some("POST"), Some("ann")));
    let user_location = ops[0]["location"].as_str().expect("location");
    assert!(user_location.starts_with(&gw.scim_base()), "{user_location}");
    let ann = user_location.rsplit('/').next().unwrap().to_owned();
    let group_location = ops[1]["location"].as_str().unwrap();
    let staff = group_location.rsplit('/').next().unwrap();
    assert!(ops[0]["version"].as_str().is_some_and(|v| v.starts_with("W/")), "{}", ops[0]);

    let user = gw.get(&format!("/Users/{ann}"), &t).expect(200).json;
    assert_eq!(user["title"], "Boss");
    assert_eq!(ops[2]["version"], json!(gw.get(&format!("/Users/{ann}"), &t).header("etag").unwrap()));
    let group = gw.get(&format!("/Groups/{staff}"), &t).expect(200).json;
    assert_eq!(member_ids(&group), vec![ann.clone()], "bulkId:ann became Ann's id: {group}");

    let records = eventually("the bulk's records", || {
        let records = log_json(&gw, "acme");
        records.iter().any(|r| r["operation"] == "bulk").then_some(records)
    });
    let bulk_record = records.iter().find(|r| r["operation"] == "bulk").unwrap();
    let request_id = bulk_record["request_id"].as_str().unwrap();
    let mut ran: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["request_id"] == request_id && r["operation"] != "bulk")
        .map(|r| (r["operation"].as_str().unwrap().to_owned(), r["resource_id"].as_str().unwrap().to_owned()))
        .collect();
    ran.reverse();
    let want = [("create", ann.as_str()), ("create", staff), ("patch", ann.as_str())];
    let want: Vec<(String, String)> = want.iter().map(|(o, id)| (o.to_string(), id.to_string())).collect();
    assert_eq!(ran, want, "one record per operation, under the bulk's request id: {records:#?}");
}

#[test]
fn fail_on_errors_stops_after_the_first_error() {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    create_user(&gw.client(), &t, "taken");
    let mut request = bulk(json!([
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("first")},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body("taken")},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": user_body("never")},
    ]));
    request["failOnErrors"] = json!(1);
    let r = gw.post("/Bulk", &t, &request).expect(200);
    assert_eq!(statuses(&r), ["201", "409"], "the third operation is neither run nor answered: {}", r.describe());
    let refused = &r.json["Operations"][1];
    assert_eq!(refused["bulkId"], "b");
    assert_eq!(refused["response"]["scimType"], "uniqueness");
    assert_eq!(refused["response"]["status"], "409");
    let never = gw.get("/Users?filter=userName%20eq%20%22never%22", &t).expect(200);
    assert_eq!(never.json["totalResults"], 0);

    // Without failOnErrors every operation runs.
    request.as_object_mut().unwrap().remove("failOnErrors");
    request["Operations"][0]["data"]["userName"] = json!("second");
    let r = gw.post("/Bulk", &t, &request).expect(200);
    assert_eq!(statuses(&r), ["201", "409", "201"], "{}", r.describe());
}

#[test]
fn too_many_operations_or_bytes_is_413_and_the_limits_are_advertised() {
    let gw = Gateway::start_with(&["acme"], "bulk_max_operations = 2\nmax_body_bytes = 4096", &[]);
    let t = gw.token("acme");
    let spc = gw.get("/ServiceProviderConfig", &t).expect(200).json;
    assert_eq!(spc["bulk"], json!({"supported": true, "maxOperations": 2, "maxPayloadSize": 4096}));

    let op = |n: u32| json!({"method": "POST", "path": "/Users", "bulkId": n.to_string(), "data": user_body(&format!("u{n}"))});
    let r = gw.post("/Bulk", &t, &bulk(json!([op(1), op(2), op(3)])));
    assert_scim_error(&r, 413, None);
    assert!(r.json["detail"].as_str().unwrap().contains("maxOperations is 2"), "{}", r.describe());
    let r = gw.post(
        "/Bulk",
        &t,
        &bulk(json!([{"method": "POST", "path": "/Users", "bulkId": "big",
        "data": {"schemas": [USER_SCHEMA], "userName": "big", "title": "x".repeat(5000)}}])),
    );
    assert_scim_error(&r, 413, None);
    assert_eq!(gw.get("/Users", &t).expect(200).json["totalResults"], 0, "nothing of a refused bulk was written");
    gw.post("/Bulk", &t, &bulk(json!([op(1), op(2)]))).expect(200);
}

#[test]
fn a_pipeline_step_shapes_each_operation_of_a_bulk() {
    let toml = r#"
[tenants.acme]
[[tenants.acme.steps]]
kind = "mapping"
[tenants.acme.steps.transform_in]
"userName" = 'lower(userName)'
"#;
    let gw = Gateway::start_tenants(toml);
    let t = gw.token("acme");
    let r = gw
        .post(
            "/Bulk",
            &t,
            &bulk(json!([
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("Ada.Lovelace")},
                {"method": "POST", "path": "/Users", "bulkId": "g", "data": user_body("Grace.HOPPER")},
                {"method": "PUT", "path": "/Users/bulkId:a", "data": user_body("ADA")},
            ])),
        )
        .expect(200);
    assert_eq!(statuses(&r), ["201", "201", "200"], "{}", r.describe());
    let mut names: Vec<String> =
        gw.target_accounts("acme", "Users").iter().map(|a| a["doc"]["userName"].as_str().unwrap().to_owned()).collect();
    names.sort();
    assert_eq!(names, ["ada", "grace.hopper"]);
}

/// A hundred operations: 80 users, then 10 groups of 8 members each named
/// by `bulkId:` (two of them before the users they name), then 10 PATCHes
/// by `bulkId:`. Every one succeeds and the groups hold the right users.
#[test]
fn a_hundred_operations_with_cross_references_all_succeed() {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    let group = |g: usize| {
        let members: Vec<Value> = (0..8).map(|m| json!({"value": format!("bulkId:u{}", g * 8 + m)})).collect();
        json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{g}"),
               "data": {"schemas": [GROUP_SCHEMA], "displayName": format!("Team {g}"), "members": members}})
    };
    // Two groups come first: they wait for the users they name.
    let mut ops: Vec<Value> = vec![group(8), group(9)];
    ops.extend((0..80).map(|u| {
        json!({"method": "POST", "path": "/Users", "bulkId": format!("u{u}"), "data": user_body(&format!("bulk{u}"))})
    }));
    ops.extend((0..8).map(group));
    ops.extend((0..10).map(|g| {
        json!({"method": "PATCH", "path": format!("/Groups/bulkId:g{g}"),
               "data": patch_ops(json!([{"op": "replace", "path": "displayName", "value": format!("Renamed {g}")}]))})
    }));
    assert_eq!(ops.len(), 100);
    let r = gw.post("/Bulk", &t, &bulk(Value::Array(ops))).expect(200);
    let statuses = statuses(&r);
    assert_eq!(statuses.len(), 100);
    assert!(statuses.iter().all(|s| s == "201" || s == "200" || s == "204"), "{statuses:?}");
    let users = gw.get("/Users?count=200", &t).expect(200).json;
    assert_eq!(users["totalResults"], 80);
    let groups = gw.get("/Groups?count=20", &t).expect(200).json;
    let groups = groups["Resources"].as_array().unwrap();
    assert_eq!(groups.len(), 10);
    for g in groups {
        let n: usize = g["displayName"].as_str().unwrap().trim_start_matches("Renamed ").parse().unwrap();
        let mut names: Vec<String> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                gw.get(&format!("/Users/{}", m["value"].as_str().unwrap()), &t).expect(200).json["userName"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        names.sort();
        let mut want: Vec<String> = (0..8).map(|m| format!("bulk{}", n * 8 + m)).collect();
        want.sort();
        assert_eq!(names, want, "group {n}");
    }
}
