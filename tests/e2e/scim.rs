//! SCIM assertions and fixtures shared by the test modules.

use serde_json::{Value, json};

use crate::harness::{Client, Response};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Asserts an RFC 7644 §3.12 error response.
#[track_caller]
pub fn assert_scim_error(resp: &Response, status: u16, scim_type: Option<&str>) {
    assert_eq!(resp.status, status, "status: {}", resp.describe());
    assert_scim_content_type(resp);
    let body = &resp.json;
    assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "error schemas: {}", resp.describe());
    assert_eq!(body["status"], json!(status.to_string()), "error `status` must be a string: {}", resp.describe());
    if let Some(t) = scim_type {
        assert_eq!(body["scimType"], json!(t), "scimType: {}", resp.describe());
    }
}

#[track_caller]
pub fn assert_scim_content_type(resp: &Response) {
    let ct = resp.header("content-type").unwrap_or("");
    assert!(ct.starts_with("application/scim+json"), "Content-Type must be application/scim+json: {}", resp.describe());
}

/// Asserts a ListResponse (integers, startIndex, Resources array) and returns
/// its Resources.
#[track_caller]
pub fn list_resources(resp: &Response) -> Vec<Value> {
    assert_eq!(resp.status, 200, "list status: {}", resp.describe());
    assert_scim_content_type(resp);
    let b = &resp.json;
    assert_eq!(b["schemas"], json!([LIST_SCHEMA]), "ListResponse schemas: {}", resp.describe());
    for k in ["totalResults", "startIndex", "itemsPerPage"] {
        assert!(b[k].is_u64(), "`{k}` must be a JSON integer: {}", resp.describe());
    }
    let res = b["Resources"].as_array().unwrap_or_else(|| panic!("`Resources` must be an array: {}", resp.describe()));
    assert_eq!(
        b["itemsPerPage"].as_u64().unwrap() as usize,
        res.len(),
        "itemsPerPage != len(Resources): {}",
        resp.describe()
    );
    assert!(
        b["totalResults"].as_u64().unwrap() as usize >= res.len(),
        "totalResults < len(Resources): {}",
        resp.describe()
    );
    res.clone()
}

/// Asserts that every attribute the client sent comes back with the same value.
/// Objects are compared key by key (the server may add keys), arrays element by
/// element. `null` or empty arrays sent may come back missing.
#[track_caller]
pub fn assert_echoes(sent: &Value, got: &Value, ctx: &str) {
    fn walk(sent: &Value, got: &Value, at: &str, errs: &mut Vec<String>) {
        match (sent, got) {
            (Value::Null, Value::Null) => {}
            (Value::Null, _) => errs.push(format!("{at}: sent null, got {got}")),
            (Value::Array(s), Value::Null) if s.is_empty() => {}
            (Value::Object(s), Value::Object(g)) => {
                for (k, v) in s {
                    let gv = g.get(k).unwrap_or(&Value::Null);
                    if v.is_null() && gv.is_null() {
                        continue;
                    }
                    walk(v, gv, &format!("{at}.{k}"), errs);
                }
            }
            (Value::Array(s), Value::Array(g)) => {
                if s.len() != g.len() {
                    errs.push(format!("{at}: sent {} elements {sent}, got {} {got}", s.len(), g.len()));
                } else {
                    for (i, (sv, gv)) in s.iter().zip(g).enumerate() {
                        walk(sv, gv, &format!("{at}[{i}]"), errs);
                    }
                }
            }
            _ if sent == got => {}
            _ => errs.push(format!("{at}: sent {sent}, got {got}")),
        }
    }
    let mut errs = Vec::new();
    walk(sent, got, "", &mut errs);
    assert!(errs.is_empty(), "{ctx}: values not returned as sent:\n  {}\nfull response: {got}", errs.join("\n  "));
}

/// Asserts the server-generated parts of a resource: opaque id, meta.
#[track_caller]
pub fn assert_resource_meta(res: &Value, resource_type: &str, base: &str) {
    let id = res["id"].as_str().unwrap_or_else(|| panic!("resource without string id: {res}"));
    assert!(!id.is_empty(), "empty id: {res}");
    let meta = &res["meta"];
    assert_eq!(meta["resourceType"], json!(resource_type), "meta.resourceType: {res}");
    for k in ["created", "lastModified", "location", "version"] {
        assert!(meta[k].is_string(), "meta.{k} missing: {res}");
    }
    let plural = if resource_type == "User" { "Users" } else { "Groups" };
    assert_eq!(meta["location"], json!(format!("{base}/{plural}/{id}")), "meta.location: {res}");
    assert!(meta["version"].as_str().unwrap().starts_with("W/\""), "meta.version must be a weak ETag: {res}");
    assert!(res.get("password").is_none(), "password must never be returned: {res}");
}

/// A minimal user body.
pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true
    })
}

/// POSTs a user, asserts 201 and returns the created resource.
#[track_caller]
pub fn create_user(c: &Client, token: &str, user_name: &str) -> Value {
    let r = c.post("/Users", token, &user_body(user_name));
    assert_eq!(r.status, 201, "create user {user_name}: {}", r.describe());
    r.json
}

/// POSTs a group with the given member ids, asserts 201, returns the resource.
#[track_caller]
pub fn create_group(c: &Client, token: &str, display_name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let r =
        c.post("/Groups", token, &json!({"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": members}));
    assert_eq!(r.status, 201, "create group {display_name}: {}", r.describe());
    r.json
}

pub fn id_of(res: &Value) -> String {
    res["id"].as_str().unwrap_or_else(|| panic!("no id in {res}")).to_string()
}

/// The member ids of a group resource (empty if `members` is absent).
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|a| a.iter().map(|m| m["value"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// A PatchOp body.
pub fn patch_ops(ops: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}
