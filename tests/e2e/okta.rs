//! Okta Lifecycle Management flows (Okta's SCIM 2.0 reference, OKTA-REF, and
//! the SCIM 1.1 reference's Test Connector requests, OKTA-REF11), copied from
//! /work/shared/idp/README.md section 2. Okta's own ids in the doc bodies are
//! replaced by the ids our gateway issued.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

/// OKTA-REF "Create user flow" step 2, verbatim.
fn create_user_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {
            "givenName": "Test",
            "familyName": "User"
        },
        "emails": [{
            "primary": true,
            "value": "test.user@okta.local",
            "type": "work"
        }],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

/// What the server must echo of `create_user_body` (not the writeOnly
/// password, not the readOnly groups).
fn echoed_user_attrs() -> Value {
    let mut b = create_user_body();
    let o = b.as_object_mut().unwrap();
    for k in ["schemas", "password", "groups"] {
        o.remove(k);
    }
    b
}

/// OKTA-REF "Update (PUT)" body, with our id.
fn put_user_body(id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "userName": "test.user@okta.local",
        "name": {
            "givenName": "Another",
            "middleName": "Excited",
            "familyName": "User"
        },
        "emails": [{
            "primary": true,
            "value": "test.user@okta.local",
            "type": "work",
            "display": "test.user@okta.local"
        }],
        "active": true,
        "groups": [],
        "meta": {
            "resourceType": "User"
        }
    })
}

struct Okta {
    gw: Gateway,
    token: String,
}

impl Okta {
    fn new() -> Okta {
        let gw = Gateway::start(&["okta"]);
        let token = gw.token("okta");
        Okta { gw, token }
    }

    fn create_user(&self) -> Value {
        self.gw.post("/Users", &self.token, &create_user_body()).expect(201).json
    }

    fn get(&self, path: &str) -> Response {
        self.gw.get(path, &self.token)
    }
}

fn assert_empty_okta_list(r: &Response) {
    assert!(list_resources(r).is_empty(), "{}", r.describe());
    assert_eq!(r.json["totalResults"], json!(0), "{}", r.describe());
    assert_eq!(r.json["startIndex"], json!(1), "{}", r.describe());
    assert_eq!(r.json["itemsPerPage"], json!(0), "{}", r.describe());
    assert_eq!(r.json["Resources"], json!([]), "{}", r.describe());
}

// ---------------------------------------------------------------------------
// Users

#[test]
fn okta_create_user_flow_filter_finds_nothing_then_post_with_password_and_groups() {
    let o = Okta::new();
    // Step 1: check for the user, exactly as Okta encodes it.
    let q = "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100";
    assert_empty_okta_list(&o.get(q));

    // Step 2: create.
    let r = o.gw.post("/Users", &o.token, &create_user_body()).expect(201);
    assert_scim_content_type(&r);
    assert_resource_meta(&r.json, "User", &o.gw.scim_base());
    assert_echoes(&echoed_user_attrs(), &r.json, "POST /Users (Okta)");
    assert!(r.json.get("password").is_none(), "password returned: {}", r.json);
    assert!(r.json["groups"].is_null() || r.json["groups"] == json!([]), "groups: {}", r.json);
    let id = id_of(&r.json);
    assert_ne!(id, "test.user@okta.local");
    assert_ne!(id, "00ujl29u0le5T6Aj10h7", "id must not be the client's externalId");

    // The same lookup now finds it.
    let r = o.get(q);
    let res = list_resources(&r);
    assert_eq!(res.len(), 1, "{}", r.describe());
    assert_eq!(r.json["totalResults"], json!(1));
    assert_eq!(res[0]["id"], json!(id));

    // Retrieve one user.
    let r = o.get(&format!("/Users/{id}")).expect(200);
    assert_echoes(&echoed_user_attrs(), &r.json, "GET /Users/{id}");
    assert!(r.json.get("password").is_none());
}

#[test]
fn okta_put_full_update_returns_updated_user_and_ignores_readonly_fields() {
    let o = Okta::new();
    let created = o.create_user();
    let id = id_of(&created);
    // Okta GETs, then PUTs the whole object.
    o.get(&format!("/Users/{id}")).expect(200);
    let body = put_user_body(&id);
    let r = o.gw.put(&format!("/Users/{id}"), &o.token, &body).expect(200);
    let mut echoed = body.clone();
    for k in ["schemas", "groups", "meta"] {
        echoed.as_object_mut().unwrap().remove(k);
    }
    assert_echoes(&echoed, &r.json, "PUT response");
    assert_eq!(r.json["name"], body["name"], "name replaced as a whole");
    assert_eq!(r.json["meta"]["created"], created["meta"]["created"], "meta.created survives PUT");
    assert_ne!(r.json["meta"]["version"], created["meta"]["version"], "version changes on PUT");
    assert_echoes(&echoed, &o.get(&format!("/Users/{id}")).expect(200).json, "GET after PUT");

    // readOnly attributes in a PUT body are ignored: a foreign id, meta and groups.
    let mut foreign = put_user_body("23a35c27-23d3-4c03-b4c5-6443c09e7173");
    foreign["meta"] = json!({"resourceType": "User", "created": "2001-01-01T00:00:00Z", "version": "W/\"bogus\""});
    foreign["name"]["givenName"] = json!("Third");
    let r = o.gw.put(&format!("/Users/{id}"), &o.token, &foreign).expect(200);
    assert_eq!(r.json["id"], json!(id), "PUT must not change the id");
    assert_eq!(r.json["name"]["givenName"], json!("Third"));
    assert_eq!(r.json["meta"]["created"], created["meta"]["created"]);
    assert_scim_error(&o.get("/Users/23a35c27-23d3-4c03-b4c5-6443c09e7173"), 404, None);
}

#[test]
fn okta_aiw_put_deactivation_sets_active_false() {
    let o = Okta::new();
    let id = id_of(&o.create_user());
    let mut body = put_user_body(&id);
    body["active"] = json!(false);
    let r = o.gw.put(&format!("/Users/{id}"), &o.token, &body).expect(200);
    assert_eq!(r.json["active"], json!(false));
    assert_eq!(o.get(&format!("/Users/{id}")).expect(200).json["active"], json!(false));
}

#[test]
fn okta_patch_deactivate_and_reactivate_with_no_path_value_object() {
    let o = Okta::new();
    let id = id_of(&o.create_user());
    let path = format!("/Users/{id}");
    let r =
        o.gw.patch(
            &path,
            &o.token,
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "replace",
                    "value": {
                        "active": false
                    }
                }]
            }),
        )
        .expect(200);
    assert_eq!(r.json["active"], json!(false), "{}", r.describe());
    assert_echoes(
        &json!({"userName": "test.user@okta.local", "name": {"givenName": "Test", "familyName": "User"}}),
        &r.json,
        "rest unchanged",
    );
    assert_eq!(o.get(&path).expect(200).json["active"], json!(false));

    let r = o.gw.patch(&path, &o.token, &patch_ops(json!([{"op": "replace", "value": {"active": true}}]))).expect(200);
    assert_eq!(r.json["active"], json!(true));
    assert_eq!(o.get(&path).expect(200).json["active"], json!(true));
}

#[test]
fn okta_username_case_sensitivity_check_all_caps_filter_finds_user() {
    let o = Okta::new();
    let id = id_of(&o.create_user());
    for name in ["TEST.USER@OKTA.LOCAL", "Test.User@Okta.Local", "test.user@okta.local"] {
        let r = o.get(&format!("/Users?filter=userName eq \"{name}\"&startIndex=1&count=100"));
        let res = list_resources(&r);
        assert_eq!(res.len(), 1, "userName eq {name:?} must match case-insensitively: {}", r.describe());
        assert_eq!(res[0]["id"], json!(id));
        assert_eq!(res[0]["userName"], json!("test.user@okta.local"), "userName is returned as stored");
    }
}

#[test]
fn okta_duplicate_create_returns_409_uniqueness_including_case_variant_and_external_id() {
    let o = Okta::new();
    o.create_user();
    let r = o.gw.post("/Users", &o.token, &create_user_body());
    assert_scim_error(&r, 409, Some("uniqueness"));

    let mut upper = create_user_body();
    upper["userName"] = json!("TEST.USER@OKTA.LOCAL");
    upper["externalId"] = json!("other-external-id");
    assert_scim_error(&o.gw.post("/Users", &o.token, &upper), 409, Some("uniqueness"));

    let mut same_ext = create_user_body();
    same_ext["userName"] = json!("someone.else@okta.local");
    assert_scim_error(&o.gw.post("/Users", &o.token, &same_ext), 409, Some("uniqueness"));

    // Only one user exists.
    let all = list_resources(&o.get("/Users?startIndex=1&count=100"));
    assert_eq!(all.len(), 1);
}

#[test]
fn okta_password_is_accepted_but_never_returned() {
    let o = Okta::new();
    let id = id_of(&o.create_user());
    let path = format!("/Users/{id}");
    let mut put = put_user_body(&id);
    put["password"] = json!("n3wPassw0rd");
    let responses = vec![
        o.get(&path).expect(200),
        o.get("/Users").expect(200),
        o.get("/Users?filter=userName eq \"test.user@okta.local\"").expect(200),
        o.gw.put(&path, &o.token, &put).expect(200),
        // Okta's password sync (OIN) is a PATCH.
        o.gw.patch(&path, &o.token, &patch_ops(json!([{"op": "replace", "value": {"password": "0therPassw0rd"}}])))
            .expect(200),
        o.gw.patch(&path, &o.token, &patch_ops(json!([{"op": "replace", "path": "password", "value": "3rdPassw0rd"}])))
            .expect(200),
        o.gw.post(
            "/Users/.search",
            &o.token,
            &json!({"schemas": [SEARCH_SCHEMA], "filter": "userName eq \"test.user@okta.local\""}),
        )
        .expect(200),
        o.get(&format!("{path}?attributes=password")).expect(200),
    ];
    for r in responses {
        for secret in ["1mz050nq", "n3wPassw0rd", "0therPassw0rd", "3rdPassw0rd", "\"password\""] {
            assert!(!r.body.contains(secret), "response leaks {secret}: {}", r.describe());
        }
    }
}

// ---------------------------------------------------------------------------
// Paging

#[test]
fn okta_import_pages_through_250_users_with_count_100() {
    let o = Okta::new();
    let c = o.gw.client();
    let created: Vec<String> =
        (0..250).map(|i| id_of(&create_user(&c, &o.token, &format!("user{i:03}@okta.local")))).collect();

    // Okta's import loop: always count=100, startIndex += 100 while it has seen
    // fewer than totalResults.
    let mut seen: Vec<String> = Vec::new();
    let mut page_sizes = Vec::new();
    let mut start = 1;
    loop {
        let r = o.get(&format!("/Users?startIndex={start}&count=100"));
        let res = list_resources(&r);
        assert_eq!(r.json["totalResults"], json!(250), "page {start}: {}", r.describe());
        assert_eq!(r.json["startIndex"], json!(start), "page {start}");
        assert_eq!(r.json["itemsPerPage"], json!(res.len()), "page {start}");
        page_sizes.push(res.len());
        seen.extend(res.iter().map(id_of));
        if seen.len() >= 250 || res.is_empty() || page_sizes.len() > 5 {
            break;
        }
        start += 100;
    }
    assert_eq!(page_sizes, vec![100, 100, 50]);
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "duplicates across pages");
    assert_eq!(seen, created, "pages must list every user once, in creation order");

    // Past the end: an empty page, still with the total.
    let r = o.get("/Users?startIndex=251&count=100");
    assert!(list_resources(&r).is_empty());
    assert_eq!(r.json["totalResults"], json!(250));
}

#[test]
fn okta_test_connector_requests_users_count_2_and_groups_count_100() {
    let o = Okta::new();
    // Against an empty tenant first.
    assert_empty_okta_list(&o.get("/Users?startIndex=1&count=2"));
    assert_empty_okta_list(&o.get("/Groups?startIndex=1&count=100"));

    let c = o.gw.client();
    for i in 0..3 {
        create_user(&c, &o.token, &format!("u{i}@okta.local"));
    }
    create_group(&c, &o.token, "Everyone", &[]);
    let r = o.get("/Users?startIndex=1&count=2");
    assert_eq!(list_resources(&r).len(), 2, "{}", r.describe());
    assert_eq!(r.json["totalResults"], json!(3));
    assert_eq!(r.json["itemsPerPage"], json!(2));
    let r = o.get("/Groups?startIndex=1&count=100");
    assert_eq!(list_resources(&r).len(), 1);
    assert_eq!(r.json["totalResults"], json!(1));
}

// ---------------------------------------------------------------------------
// Group push

#[test]
fn okta_group_push_create_find_rename_membership_and_delete() {
    let o = Okta::new();
    let u1 = id_of(&o.create_user());
    let u2 = id_of(&create_user(&o.gw.client(), &o.token, "second.user@okta.local"));
    let mut both = vec![u1.clone(), u2.clone()];
    both.sort();

    // Find by name first: nothing.
    let find = "/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100";
    assert_empty_okta_list(&o.get(find));

    // Create.
    let r =
        o.gw.post(
            "/Groups",
            &o.token,
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Test SCIMv2",
                "members": []
            }),
        )
        .expect(201);
    assert_resource_meta(&r.json, "Group", &o.gw.scim_base());
    assert_eq!(r.json["displayName"], json!("Test SCIMv2"));
    assert!(r.json["members"].is_null() || r.json["members"] == json!([]), "{}", r.describe());
    let gid = id_of(&r.json);
    let gpath = format!("/Groups/{gid}");

    let res = list_resources(&o.get(find));
    assert_eq!(res.len(), 1);
    assert_eq!(res[0]["id"], json!(gid));

    // Rename (OIN PATCH, the value object carries the read-only id).
    let rename = |name: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{
                "op": "replace",
                "value": {
                    "id": gid,
                    "displayName": name
                }
            }]
        })
    };
    o.gw.patch(&gpath, &o.token, &rename("Test SCIMv2 renamed")).expect(204);
    let g = o.get(&gpath).expect(200).json;
    assert_eq!(g["displayName"], json!("Test SCIMv2 renamed"));
    assert_eq!(g["id"], json!(gid));
    // ... sent again unchanged with every membership update.
    o.gw.patch(&gpath, &o.token, &rename("Test SCIMv2")).expect(204);
    assert_eq!(o.get(&gpath).expect(200).json["displayName"], json!("Test SCIMv2"));

    // Membership (OIN PATCH): remove one member by filter and add another, in one request.
    o.gw.patch(
        &gpath,
        &o.token,
        &patch_ops(
            json!([{"op": "add", "path": "members", "value": [{"value": u2, "display": "second.user@okta.local"}]}]),
        ),
    )
    .expect(204);
    assert_eq!(member_ids(&o.get(&gpath).expect(200).json), vec![u2.clone()]);
    let r = o.gw.patch(
        &gpath,
        &o.token,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{
                "op": "remove",
                "path": format!("members[value eq \"{u2}\"]")
                },
                {
                "op": "add",
                "path": "members",
                "value": [{
                    "value": u1,
                    "display": "test.user@okta.local"
                }]
            }]
        }),
    );
    r.expect(204);
    let g = o.get(&gpath).expect(200).json;
    assert_eq!(member_ids(&g), vec![u1.clone()]);
    let m = &g["members"][0];
    assert_eq!(m["value"], json!(u1));
    assert!(m["display"].is_string(), "member display: {g}");

    // Membership (AIW PUT).
    let r =
        o.gw.put(
            &gpath,
            &o.token,
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Test SCIMv2",
                "members": [
                        {
                        "value": u2,
                        "display": "second.user@okta.local"
                        }
                ]
            }),
        )
        .expect(200);
    assert_eq!(r.json["displayName"], json!("Test SCIMv2"));
    assert_eq!(r.json["id"], json!(gid));
    assert_eq!(member_ids(&r.json), vec![u2.clone()], "PUT response: {}", r.describe());
    assert_eq!(member_ids(&o.get(&gpath).expect(200).json), vec![u2.clone()]);

    // Full membership push.
    o.gw.patch(
        &gpath,
        &o.token,
        &json!({
          "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
          ],
          "Operations": [
            {
              "op": "replace",
              "path": "members",
              "value": [
                {
                  "value": u1,
                  "display": "test.user@okta.local"
                },
                {
                  "value": u2,
                  "display": "test.user@okta.local"
                }
              ]
            }
          ]
        }),
    )
    .expect(204);
    assert_eq!(member_ids(&o.get(&gpath).expect(200).json), both);
    // Replacing with the same set again is idempotent.
    o.gw.patch(&gpath, &o.token, &patch_ops(json!([{"op": "replace", "path": "members", "value": [{"value": u2}]}])))
        .expect(204);
    assert_eq!(member_ids(&o.get(&gpath).expect(200).json), vec![u2.clone()]);

    // Import lists it.
    let all = list_resources(&o.get("/Groups?startIndex=1&count=100"));
    assert_eq!(all.len(), 1);

    // Delete.
    let r = o.gw.delete(&gpath, &o.token).expect(204);
    assert!(r.body.is_empty());
    assert_scim_error(&o.get(&gpath), 404, None);
    assert_empty_okta_list(&o.get(find));
    // Users are not deleted with the group.
    o.get(&format!("/Users/{u1}")).expect(200);
    o.get(&format!("/Users/{u2}")).expect(200);
}

#[test]
fn okta_group_duplicate_display_name_case_insensitive_returns_409() {
    let o = Okta::new();
    create_group(&o.gw.client(), &o.token, "Test SCIMv2", &[]);
    for name in ["Test SCIMv2", "TEST scimv2"] {
        let r = o.gw.post("/Groups", &o.token, &json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": []}));
        assert_scim_error(&r, 409, Some("uniqueness"));
    }
}

/// Okta's "Basic Auth" mode: the CLI prints a username and password (the
/// token's id and the token, stored only as a hash), the IdP sends them as
/// HTTP Basic, and a revoked token stops working either way.
#[test]
fn basic_auth_credentials_work_like_their_token() {
    use base64::Engine as _;
    let gw = Gateway::start(&["acme"]);
    let out = gw.cli_ok(&["token", "issue", "--tenant", "acme", "--basic"]);
    let field = |name: &str| {
        out.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned()).unwrap_or_else(|| panic!("{out}"))
    };
    let (username, password) = (field("username:"), field("password:"));
    let basic = |user: &str, pass: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
    };
    let client = gw.client();
    let ok = client.send("GET", "/Users", None, &[("authorization", &basic(&username, &password))], None);
    assert_eq!(ok.status, 200, "{}", ok.describe());
    let body = serde_json::to_vec(&serde_json::json!({"userName": "okta-basic"})).unwrap();
    client.send("POST", "/Users", None, &[("authorization", &basic(&username, &password))], Some(body)).expect(201);
    // The same token as a bearer token is the same tenant.
    assert_eq!(gw.get("/Users", &password).expect(200).json["totalResults"], 1);

    let other = gw.token("acme");
    for (user, pass) in
        [(username.as_str(), "wrong"), ("0000000000000000", password.as_str()), (username.as_str(), other.as_str())]
    {
        let refused = client.send("GET", "/Users", None, &[("authorization", &basic(user, pass))], None);
        assert_eq!(refused.status, 401, "{}", refused.describe());
        assert!(refused.header("www-authenticate").unwrap().contains("Basic"), "{}", refused.describe());
    }
    let config = gw.get("/ServiceProviderConfig", &password).expect(200).json;
    let schemes: Vec<&str> =
        config["authenticationSchemes"].as_array().unwrap().iter().filter_map(|s| s["type"].as_str()).collect();
    assert_eq!(schemes, ["oauthbearertoken", "httpbasic"]);

    gw.cli_ok(&["token", "revoke", "--id", &username]);
    crate::harness::eventually("the revocation applies", || {
        let r = client.send("GET", "/Users", None, &[("authorization", &basic(&username, &password))], None);
        (r.status == 401).then_some(())
    });
}
