//! Microsoft Entra ID provisioning, request by request.
//!
//! The bodies are the ones in Microsoft's tutorial "Develop and plan
//! provisioning for a SCIM endpoint in Microsoft Entra ID" (MS-TUT) and the
//! SCIM compatibility page (MS-COMPAT), copied from /work/shared/idp/README.md
//! section 1. Ids in paths and member values are the ones our gateway issued.

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

/// MS-TUT "Create User" request body, verbatim.
fn create_user_body() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
        }],
        "meta": {
            "resourceType": "User"
        },
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName"
        },
        "roles": []
    })
}

/// MS-TUT "Create Group" request body, verbatim.
fn create_group_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {
            "resourceType": "Group"
        }
    })
}

/// The attributes of `create_user_body` the server must echo (no schemas,
/// no roles: the sample response drops the empty roles and the extension URN).
fn echoed_user_attrs() -> Value {
    let mut b = create_user_body();
    let o = b.as_object_mut().unwrap();
    o.remove("schemas");
    o.remove("roles");
    b
}

struct Entra {
    gw: Gateway,
    token: String,
}

impl Entra {
    fn new() -> Entra {
        let gw = Gateway::start(&["contoso"]);
        let token = gw.token("contoso");
        Entra { gw, token }
    }

    fn create_user(&self) -> Value {
        self.gw.post("/Users", &self.token, &create_user_body()).expect(201).json
    }

    fn create_group(&self) -> Value {
        self.gw.post("/Groups", &self.token, &create_group_body()).expect(201).json
    }

    /// A second, unrelated user (for membership tests).
    fn other_user(&self, user_name: &str) -> String {
        id_of(&create_user(&self.gw.client(), &self.token, user_name))
    }

    fn get(&self, path: &str) -> Response {
        self.gw.get(path, &self.token)
    }

    fn patch(&self, path: &str, body: &Value) -> Response {
        self.gw.patch(path, &self.token, body)
    }
}

// ---------------------------------------------------------------------------
// Users

#[test]
fn entra_create_user_returns_201_with_location_etag_meta_and_values_as_sent() {
    let e = Entra::new();
    let r = e.gw.post("/Users", &e.token, &create_user_body()).expect(201);
    assert_scim_content_type(&r);
    let u = &r.json;
    assert_resource_meta(u, "User", &e.gw.scim_base());
    assert_echoes(&echoed_user_attrs(), u, "POST /Users (Entra)");
    assert!(u["schemas"].as_array().unwrap().contains(&json!(USER_SCHEMA)), "schemas: {u}");
    let id = id_of(u);
    assert_ne!(id, "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "id must be server generated, not the userName");
    assert_ne!(id, "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "id must be server generated, not the externalId");
    assert_eq!(r.header("location"), u["meta"]["location"].as_str(), "Location header = meta.location");
    assert_eq!(r.header("etag"), u["meta"]["version"].as_str(), "ETag header = meta.version");
}

#[test]
fn entra_create_user_accepts_null_attribute_values() {
    // MS-TUT "Handling provisioning" example 2, with the extension URN spelled
    // correctly (the doc's `...:2.0User` typo was fixed in the service in 2018).
    let e = Entra::new();
    let body = json!({
       "schemas":
       [
         "urn:ietf:params:scim:schemas:core:2.0:User",
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
       "externalId":"jyoung",
       "userName":"jyoung@testuser.com",
       "active":true,
       "addresses":null,
       "displayName":"Joy Young",
       "emails": [
         {
           "type":"work",
           "value":"jyoung@Contoso.com",
           "primary":true}],
       "meta": {
         "resourceType":"User"},
        "name":{
         "familyName":"Young",
         "givenName":"Joy"},
       "phoneNumbers":null,
       "preferredLanguage":null,
       "title":null
    });
    let r = e.gw.post("/Users", &e.token, &body).expect(201);
    let mut echoed = body.clone();
    echoed.as_object_mut().unwrap().remove("schemas");
    assert_echoes(&echoed, &r.json, "POST /Users with nulls");
    // Entra's lookup by externalId (MS-TUT example 1, value quoted as the service sends it).
    let found = list_resources(&e.get("/Users?filter=externalId eq \"jyoung\""));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], r.json["id"]);
}

#[test]
fn entra_get_user_by_id_returns_200_and_unknown_id_returns_404_error() {
    let e = Entra::new();
    let created = e.create_user();
    let id = id_of(&created);

    let r = e.get(&format!("/Users/{id}")).expect(200);
    assert_scim_content_type(&r);
    assert_eq!(r.json["id"], json!(id));
    assert_echoes(&echoed_user_attrs(), &r.json, "GET /Users/{id}");
    assert_eq!(r.json["meta"]["version"], created["meta"]["version"], "unchanged resource keeps its version");

    // MS-TUT "User not found": the id from the doc does not exist here.
    let r = e.get("/Users/5171a35d82074e068ce2");
    assert_scim_error(&r, 404, None);
}

#[test]
fn entra_get_user_by_query_username_externalid_and_work_email() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    for filter in [
        "userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"",
        "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"",
        // RFC 7644 spelling of "the work email is ..."
        "emails[type eq \"work\" and value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"]",
    ] {
        let r = e.get(&format!("/Users?filter={filter}"));
        let res = list_resources(&r);
        assert_eq!(r.json["totalResults"], json!(1), "{filter}: {}", r.describe());
        assert_eq!(r.json["startIndex"], json!(1), "{filter}: {}", r.describe());
        assert_eq!(res[0]["id"], json!(id), "{filter}");
        assert_echoes(&echoed_user_attrs(), &res[0], filter);
    }
}

#[test]
fn entra_get_user_by_query_with_zero_results_returns_empty_list_response() {
    let e = Entra::new();
    e.create_user();
    let r = e.get("/Users?filter=userName eq \"non-existent user\"");
    let res = list_resources(&r);
    assert!(res.is_empty());
    assert_eq!(r.json["totalResults"], json!(0));
    assert_eq!(r.json["startIndex"], json!(1));
    assert_eq!(r.json["Resources"], json!([]), "Resources must be present and empty: {}", r.describe());
}

#[test]
fn entra_test_connection_random_guid_queries_return_200_empty_list_and_404s() {
    let e = Entra::new();
    e.create_user();
    e.create_group();
    let g = guid();
    for q in [
        format!("/Users?filter=userName eq \"{g}\""),
        format!("/Users?filter=externalId eq \"{g}\""),
        format!("/Groups?excludedAttributes=members&filter=displayName eq \"{g}\""),
    ] {
        let r = e.get(&q);
        assert!(list_resources(&r).is_empty(), "{q}: {}", r.describe());
        assert_eq!(r.json["totalResults"], json!(0), "{q}");
        assert_eq!(r.json["Resources"], json!([]), "{q}: {}", r.describe());
    }
    // "fetch a random user and group" to check the credentials
    assert_scim_error(&e.get(&format!("/Users/{g}")), 404, None);
    assert_scim_error(&e.get(&format!("/Groups/{g}?excludedAttributes=members")), 404, None);
}

#[test]
fn entra_patch_user_replaces_work_email_by_filter_path_and_family_name() {
    let e = Entra::new();
    let created = e.create_user();
    let id = id_of(&created);
    let r = e
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                        {
                        "op": "Replace",
                        "path": "emails[type eq \"work\"].value",
                        "value": "updatedEmail@microsoft.com"
                        },
                        {
                        "op": "Replace",
                        "path": "name.familyName",
                        "value": "updatedFamilyName"
                        }
                ]
            }),
        )
        .expect(200);
    let want = json!({
        "id": id,
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        // formatted is stored as sent; the server does not recompute it
        "name": {"formatted": "givenName familyName", "familyName": "updatedFamilyName", "givenName": "givenName"},
        "active": true,
        "emails": [{"value": "updatedEmail@microsoft.com", "type": "work", "primary": true}]
    });
    assert_echoes(&want, &r.json, "PATCH response");
    assert_eq!(r.json["name"].as_object().unwrap().len(), 3, "name: {}", r.json["name"]);
    assert_ne!(r.json["meta"]["version"], created["meta"]["version"], "version must change on modification");
    let g = e.get(&format!("/Users/{id}")).expect(200);
    assert_echoes(&want, &g.json, "GET after PATCH");
    let found =
        list_resources(&e.get("/Users?filter=emails[type eq \"work\" and value eq \"updatedEmail@microsoft.com\"]"));
    assert_eq!(found.len(), 1);
}

/// MS-TUT: "Any uniqueness attribute must be filterable, e.g. both
/// `userName eq "user@contoso.com"` and `emails[type eq "work"].value eq
/// "user@contoso.com"`". The second form (a value path followed by a
/// sub-attribute) is PATCH-path syntax; RFC 7644's filter ABNF does not have it,
/// so this is an Entra extension a gateway needs when email is the matching
/// attribute.
#[test]
fn entra_filter_by_work_email_with_value_path_sub_attribute_extension() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    let r = e.get("/Users?filter=emails[type eq \"work\"].value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"");
    let res = list_resources(&r);
    assert_eq!(res.len(), 1, "{}", r.describe());
    assert_eq!(res[0]["id"], json!(id));
    let r = e.get("/Users?filter=emails[type eq \"home\"].value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"");
    assert!(list_resources(&r).is_empty(), "{}", r.describe());
}

#[test]
fn entra_patch_work_email_filter_path_leaves_other_emails_alone() {
    let e = Entra::new();
    let body = json!({
        "schemas": [USER_SCHEMA],
        "userName": "two.mails@testuser.com",
        "emails": [
            {"value": "home@example.com", "type": "home"},
            {"value": "work@example.com", "type": "work", "primary": true}
        ]
    });
    let id = id_of(&e.gw.post("/Users", &e.token, &body).expect(201).json);
    let r = e
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(
                json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new-work@example.com"}]),
            ),
        )
        .expect(200);
    let mut emails = r.json["emails"].as_array().unwrap().clone();
    emails.sort_by_key(|m| m["type"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        emails,
        vec![
            json!({"value": "home@example.com", "type": "home"}),
            json!({"value": "new-work@example.com", "type": "work", "primary": true}),
        ],
        "{}",
        r.describe()
    );
}

#[test]
fn entra_patch_user_single_valued_username_then_filters_follow() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    let r = e
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Replace",
                    "path": "userName",
                    "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
                }]
            }),
        )
        .expect(200);
    let mut want = echoed_user_attrs();
    want["userName"] = json!("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com");
    assert_echoes(&want, &r.json, "PATCH userName response");
    assert_eq!(r.json["id"], json!(id), "id must not change with userName");

    let old = e.get("/Users?filter=userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"");
    assert!(list_resources(&old).is_empty(), "old userName still matches: {}", old.describe());
    let new = list_resources(&e.get("/Users?filter=userName eq \"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com\""));
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["id"], json!(id));
}

#[test]
fn entra_disable_user_accepts_boolean_false_and_string_false_and_user_stays_visible() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    let path = format!("/Users/{id}");
    let active = |value: Value, op: &str| {
        // MS-TUT "Disable User" (value false) and MS-COMPAT (value "False"/"True").
        let body = json!({
            "Operations": [{"op": op, "path": "active", "value": value}],
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
        });
        let r = e.patch(&path, &body).expect(200);
        assert_eq!(r.json["id"], json!(id));
        r.json["active"].clone()
    };
    assert_eq!(active(json!(false), "Replace"), json!(false), "real boolean false");
    assert_eq!(active(json!("True"), "Replace"), json!(true), "string \"True\" is stored as boolean true");
    assert_eq!(active(json!("False"), "Replace"), json!(false), "string \"False\" is stored as boolean false");
    assert_eq!(active(json!(true), "replace"), json!(true), "lowercase op (aadOptscim062020)");
    assert_eq!(active(json!(false), "replace"), json!(false));

    // "The user object should be returned in a request whether or not the user is active."
    let g = e.get(&path).expect(200);
    assert_eq!(g.json["active"], json!(false));
    let found = list_resources(&e.get("/Users?filter=userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\""));
    assert_eq!(found.len(), 1, "inactive users must still be found");
    assert_eq!(found[0]["active"], json!(false));
}

#[test]
fn entra_add_single_value_attribute_with_capitalised_and_lowercase_op() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    // MS-COMPAT "Add a single-value string attribute, without flag"
    let r = e
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "nickName", "value": "Babs"}]
            }),
        )
        .expect(200);
    assert_eq!(r.json["nickName"], json!("Babs"), "{}", r.describe());
    // ... with flag
    let r = e
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "nickName", "value": "Babs2"}]
            }),
        )
        .expect(200);
    assert_eq!(r.json["nickName"], json!("Babs2"), "{}", r.describe());
}

#[test]
fn entra_replace_multiple_attributes_without_flag_including_enterprise_urn_path() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    // MS-COMPAT "Replace multiple attributes, without flag", verbatim
    let body = json!({
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
            {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
            {"op": "Replace", "path": "externalId", "value": "Eqpj"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
        ]
    });
    let r = e.patch(&format!("/Users/{id}"), &body).expect(200);
    let want = json!({
        "displayName": "Pvlo",
        "emails": [{"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true}],
        "name": {"givenName": "Gtfd", "familyName": "Pkqf", "formatted": "givenName familyName"},
        "externalId": "Eqpj",
        ENTERPRISE_SCHEMA: {"employeeNumber": "Eqpj"}
    });
    assert_echoes(&want, &r.json, "PATCH response");
    assert!(
        r.json["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE_SCHEMA)),
        "extension URN in schemas: {}",
        r.json
    );
    assert_echoes(&want, &e.get(&format!("/Users/{id}")).expect(200).json, "GET after PATCH");
}

#[test]
fn entra_replace_multiple_attributes_with_flag_no_path_value_with_dotted_and_urn_keys() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    // MS-COMPAT "Replace multiple attributes, with flag", verbatim
    let body = json!({
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {
                "op": "replace",
                "path": "emails[type eq \"work\"].value",
                "value": "TestMhvaes@test.microsoft.com"
            },
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
                }
            }
        ]
    });
    let r = e.patch(&format!("/Users/{id}"), &body).expect(200);
    let want = json!({
        "displayName": "Bjfe",
        "emails": [{"value": "TestMhvaes@test.microsoft.com", "type": "work", "primary": true}],
        "name": {"givenName": "Kkom", "familyName": "Unua", "formatted": "givenName familyName"},
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        ENTERPRISE_SCHEMA: {"employeeNumber": "Aklq"}
    });
    assert_echoes(&want, &r.json, "PATCH response");
    for bad in [
        "name.givenName",
        "name.familyName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ] {
        assert!(r.json.get(bad).is_none(), "dotted key {bad:?} stored literally: {}", r.json);
    }
    assert_echoes(&want, &e.get(&format!("/Users/{id}")).expect(200).json, "GET after PATCH");
}

#[test]
fn entra_delete_user_returns_204_then_get_404_and_filter_empty() {
    let e = Entra::new();
    let id = id_of(&e.create_user());
    let r = e.gw.delete(&format!("/Users/{id}"), &e.token).expect(204);
    assert!(r.body.is_empty(), "204 must have no body: {}", r.describe());
    assert_scim_error(&e.get(&format!("/Users/{id}")), 404, None);
    assert!(
        list_resources(&e.get("/Users?filter=userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\""))
            .is_empty()
    );
    // A second DELETE is a 404 too.
    assert_scim_error(&e.gw.delete(&format!("/Users/{id}"), &e.token), 404, None);
}

// ---------------------------------------------------------------------------
// Groups

#[test]
fn entra_create_group_with_adscim_schema_urn_and_meta_resource_type_returns_201() {
    let e = Entra::new();
    let r = e.gw.post("/Groups", &e.token, &create_group_body()).expect(201);
    assert_scim_content_type(&r);
    let g = &r.json;
    assert_resource_meta(g, "Group", &e.gw.scim_base());
    assert_eq!(g["displayName"], json!("displayName"));
    assert_eq!(g["externalId"], json!("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
    assert!(g["schemas"].as_array().unwrap().contains(&json!(GROUP_SCHEMA)), "schemas: {g}");
    assert!(g["members"].is_null() || g["members"] == json!([]), "new group has no members: {g}");
    assert_eq!(r.header("location"), g["meta"]["location"].as_str(), "Location header = meta.location");
    assert_eq!(r.header("etag"), g["meta"]["version"].as_str(), "ETag header = meta.version");
}

#[test]
fn entra_get_group_with_excluded_attributes_members_omits_members() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let uid = e.other_user("member@testuser.com");
    e.patch(
        &format!("/Groups/{gid}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": uid}]}])),
    )
    .expect(204);

    let r = e.get(&format!("/Groups/{gid}?excludedAttributes=members")).expect(200);
    assert!(r.json.get("members").is_none(), "members must be excluded: {}", r.describe());
    assert_eq!(r.json["id"], json!(gid));
    assert_eq!(r.json["displayName"], json!("displayName"));
    assert_eq!(r.json["externalId"], json!("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
    assert_eq!(r.json["meta"]["resourceType"], json!("Group"));

    let full = e.get(&format!("/Groups/{gid}")).expect(200);
    assert_eq!(member_ids(&full.json), vec![uid]);
}

#[test]
fn entra_get_group_by_display_name_filter_with_excluded_members() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let uid = e.other_user("member@testuser.com");
    e.patch(
        &format!("/Groups/{gid}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": uid}]}])),
    )
    .expect(204);
    for name in ["displayName", "DISPLAYNAME"] {
        let r = e.get(&format!("/Groups?excludedAttributes=members&filter=displayName eq \"{name}\""));
        let res = list_resources(&r);
        assert_eq!(res.len(), 1, "displayName eq {name:?} (caseExact=false): {}", r.describe());
        assert_eq!(res[0]["id"], json!(gid));
        assert_eq!(res[0]["displayName"], json!("displayName"));
        assert!(res[0].get("members").is_none(), "members must be excluded: {}", r.describe());
    }
}

#[test]
fn entra_patch_group_display_name_returns_204_and_renames() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let r = e
        .patch(
            &format!("/Groups/{gid}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Replace",
                    "path": "displayName",
                    "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
                }]
            }),
        )
        .expect(204);
    assert!(r.body.is_empty(), "204 must have no body: {}", r.describe());
    let g = e.get(&format!("/Groups/{gid}?excludedAttributes=members")).expect(200);
    assert_eq!(g.json["displayName"], json!("1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"));
    assert!(list_resources(&e.get("/Groups?filter=displayName eq \"displayName\"")).is_empty());
}

#[test]
fn entra_patch_group_add_members_with_null_ref_returns_204_and_members_resolve() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let u1 = e.other_user("one@testuser.com");
    let u2 = e.other_user("two@testuser.com");
    // MS-TUT "Update Group [Add Members]" ("$ref": null), with two members in
    // one PATCH (gallery checklist: "multiple group memberships with a single PATCH").
    let r = e
        .patch(
            &format!("/Groups/{gid}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Add",
                    "path": "members",
                    "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}]
                }]
            }),
        )
        .expect(204);
    assert!(r.body.is_empty(), "204 must have no body: {}", r.describe());

    let g = e.get(&format!("/Groups/{gid}")).expect(200).json;
    let mut want = vec![u1.clone(), u2.clone()];
    want.sort();
    assert_eq!(member_ids(&g), want);
    let base = e.gw.scim_base();
    for m in g["members"].as_array().unwrap() {
        let v = m["value"].as_str().unwrap();
        assert_eq!(m["type"], json!("User"), "member type: {m}");
        assert_eq!(m["$ref"], json!(format!("{base}/Users/{v}")), "member $ref: {m}");
        assert!(m["display"].as_str().is_some_and(|d| !d.is_empty()), "member display: {m}");
    }
    // The user's readOnly `groups` lists the group.
    let u = e.get(&format!("/Users/{u1}")).expect(200).json;
    let groups: Vec<&str> =
        u["groups"].as_array().map(|a| a.iter().filter_map(|x| x["value"].as_str()).collect()).unwrap_or_default();
    assert_eq!(groups, vec![gid.as_str()], "user.groups: {u}");

    // Adding an existing member again is not a duplicate.
    e.patch(
        &format!("/Groups/{gid}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u1}]}])),
    )
    .expect(204);
    assert_eq!(member_ids(&e.get(&format!("/Groups/{gid}")).expect(200).json), want);
}

#[test]
fn entra_patch_group_remove_member_with_value_list_default_dialect() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let u1 = e.other_user("one@testuser.com");
    let u2 = e.other_user("two@testuser.com");
    e.patch(
        &format!("/Groups/{gid}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u2}]}])),
    )
    .expect(204);
    // MS-TUT "Update Group [Remove Members]"
    let r = e
        .patch(
            &format!("/Groups/{gid}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Remove",
                    "path": "members",
                    "value": [{
                        "$ref": null,
                        "value": u1
                    }]
                }]
            }),
        )
        .expect(204);
    assert!(r.body.is_empty());
    assert_eq!(member_ids(&e.get(&format!("/Groups/{gid}")).expect(200).json), vec![u2.clone()]);
    // MS-COMPAT "Remove a group member, without flag" (no $ref)
    e.patch(
        &format!("/Groups/{gid}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Remove", "path": "members", "value": [{"value": u2}]}]
        }),
    )
    .expect(204);
    assert!(member_ids(&e.get(&format!("/Groups/{gid}")).expect(200).json).is_empty());
    // the users themselves are untouched
    e.get(&format!("/Users/{u1}")).expect(200);
    e.get(&format!("/Users/{u2}")).expect(200);
}

#[test]
fn entra_patch_group_remove_member_with_filter_path_flag_dialect() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let u1 = e.other_user("one@testuser.com");
    let u2 = e.other_user("two@testuser.com");
    e.patch(
        &format!("/Groups/{gid}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u2}]}])),
    )
    .expect(204);
    // MS-COMPAT "Remove a group member, with flag"
    let r = e
        .patch(
            &format!("/Groups/{gid}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "remove", "path": format!("members[value eq \"{u1}\"]")}]
            }),
        )
        .expect(204);
    assert!(r.body.is_empty());
    assert_eq!(member_ids(&e.get(&format!("/Groups/{gid}")).expect(200).json), vec![u2]);
}

#[test]
fn entra_delete_group_returns_204_then_404_and_users_lose_the_group() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let uid = e.other_user("one@testuser.com");
    e.patch(
        &format!("/Groups/{gid}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": uid}]}])),
    )
    .expect(204);
    let r = e.gw.delete(&format!("/Groups/{gid}"), &e.token).expect(204);
    assert!(r.body.is_empty(), "204 must have no body: {}", r.describe());
    assert_scim_error(&e.get(&format!("/Groups/{gid}?excludedAttributes=members")), 404, None);
    assert!(
        list_resources(&e.get("/Groups?excludedAttributes=members&filter=displayName eq \"displayName\"")).is_empty()
    );
    let u = e.get(&format!("/Users/{uid}")).expect(200).json;
    assert!(u["groups"].is_null() || u["groups"] == json!([]), "deleted group still in user.groups: {u}");
    // The displayName is free again.
    e.create_group();
}

#[test]
fn entra_delete_user_removes_it_from_its_groups() {
    let e = Entra::new();
    let gid = id_of(&e.create_group());
    let u1 = e.other_user("one@testuser.com");
    let u2 = e.other_user("two@testuser.com");
    e.patch(
        &format!("/Groups/{gid}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u2}]}])),
    )
    .expect(204);
    e.gw.delete(&format!("/Users/{u1}"), &e.token).expect(204);
    assert_eq!(member_ids(&e.get(&format!("/Groups/{gid}")).expect(200).json), vec![u2]);
}

#[test]
fn entra_discovery_schemas_is_a_list_response_with_username_case_insensitive_unique() {
    let e = Entra::new();
    let r = e.get("/Schemas");
    let schemas = list_resources(&r);
    let ids: Vec<&str> = schemas.iter().filter_map(|s| s["id"].as_str()).collect();
    for want in [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA] {
        assert!(ids.contains(&want), "/Schemas lacks {want}: {ids:?}");
    }
    let user = schemas.iter().find(|s| s["id"] == json!(USER_SCHEMA)).unwrap();
    let user_name = user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == json!("userName")).unwrap();
    assert_eq!(user_name["required"], json!(true), "{user_name}");
    assert_eq!(user_name["caseExact"], json!(false), "{user_name}");
    assert_eq!(user_name["uniqueness"], json!("server"), "{user_name}");
    // "If a value isn't present, don't send null values."
    assert!(!r.body.contains(": null") && !r.body.contains(":null"), "/Schemas contains null values");
}

#[test]
fn entra_post_with_string_boolean_active_true_stores_a_boolean() {
    // README section 0 #2: the default job sends `"active": "True"` in a POST body.
    let e = Entra::new();
    let mut body = create_user_body();
    body["active"] = json!("True");
    let r = e.gw.post("/Users", &e.token, &body).expect(201);
    assert_eq!(r.json["active"], json!(true), "{}", r.describe());
    let found = list_resources(&e.get("/Users?filter=active eq true"));
    assert_eq!(found.len(), 1, "the stored value is a boolean, so `active eq true` matches");
}

#[test]
fn entra_add_manager_with_ref_value_array_on_bare_path() {
    // MS-TUT "Handling provisioning" example 4: `manager` as a bare path whose
    // value is an array of {$ref, value}; it means the enterprise extension's manager.
    let e = Entra::new();
    let boss = e.other_user("boss@testuser.com");
    let id = id_of(&e.create_user());
    let r = e.patch(
        &format!("/Users/{id}"),
        &json!({
            "schemas":
            [
              "urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations":
            [
              {
                "op":"Add",
                "path":"manager",
                "value":
                  [
                    {
                      "$ref": format!("http://localhost/scim/Users/{boss}"),
                      "value": boss}]}]
        }),
    );
    let r = r.expect(200);
    assert_eq!(r.json[ENTERPRISE_SCHEMA]["manager"]["value"], json!(boss), "{}", r.describe());
    // The RFC spelling (URN-qualified path, complex value) works too.
    let r = e.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": {"value": boss}
        }])),
    );
    assert_eq!(r.expect(200).json[ENTERPRISE_SCHEMA]["manager"]["value"], json!(boss));
}

#[test]
fn entra_feature_flag_query_parameter_in_tenant_url_is_ignored() {
    // MS-COMPAT: the flag goes in the Tenant URL (`.../scim?aadOptscim062020`),
    // so it arrives as a bare query parameter on every request.
    let e = Entra::new();
    let r = e.gw.post("/Users?aadOptscim062020", &e.token, &create_user_body()).expect(201);
    let id = id_of(&r.json);
    let found = list_resources(
        &e.get("/Users?aadOptscim062020&filter=userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\""),
    );
    assert_eq!(found.len(), 1);
    e.get(&format!("/Users/{id}?aadOptscim062020")).expect(200);
    let r = e.patch(
        &format!("/Users/{id}?aadOptscim062020"),
        &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])),
    );
    assert_eq!(r.expect(200).json["active"], json!(false));
    let gid = id_of(&e.gw.post("/Groups?aadOptscim062020", &e.token, &create_group_body()).expect(201).json);
    let r = e.patch(
        &format!("/Groups/{gid}?aadOptscim062020"),
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
    );
    r.expect(204);
    e.get(&format!("/Groups/{gid}?aadOptscim062020&excludedAttributes=members")).expect(200);
    e.gw.delete(&format!("/Groups/{gid}?aadOptscim062020"), &e.token).expect(204);
}

/// A key pair made for the test with `openssl`, its JWKS, and tokens signed by it.
struct EntraKeys {
    pem: Vec<u8>,
    jwks: String,
}

impl EntraKeys {
    fn generate(dir: &std::path::Path, kid: &str) -> EntraKeys {
        use base64::Engine as _;
        let key = dir.join(format!("{kid}.pem"));
        let ok = std::process::Command::new("openssl").args(["genrsa", "-out"]).arg(&key).arg("2048").output().unwrap();
        assert!(ok.status.success(), "openssl genrsa: {}", String::from_utf8_lossy(&ok.stderr));
        let out = std::process::Command::new("openssl")
            .args(["rsa", "-noout", "-modulus", "-in"])
            .arg(&key)
            .output()
            .unwrap();
        let hex = String::from_utf8(out.stdout).unwrap().trim().trim_start_matches("Modulus=").to_owned();
        let modulus: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(modulus);
        let jwks = json!({"keys": [{"kty": "RSA", "use": "sig", "kid": kid, "n": n, "e": "AQAB"}]}).to_string();
        EntraKeys { pem: std::fs::read(&key).unwrap(), jwks }
    }

    fn token(&self, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(&self.pem).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

const ENTRA_ISSUER: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
const ENTRA_AUDIENCE: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";

fn entra_claims(issuer: &str, audience: &str, expires_in: i64) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    json!({"iss": issuer, "aud": audience, "exp": now + expires_in, "nbf": now - 5, "iat": now - 5,
           "appid": "00000014-0000-0000-c000-000000000000", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"})
}

/// Entra with the Secret Token left blank: its own JWT is accepted when the
/// tenant's JWKS signed it for the configured issuer and audience, and
/// refused otherwise.
#[test]
fn entra_issued_jwts_authenticate_the_tenant_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, other) = (EntraKeys::generate(dir.path(), "k1"), EntraKeys::generate(dir.path(), "k2"));
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &keys.jwks).unwrap();
    let toml = format!(
        "[tenants.acme]\nidp = \"entra\"\n[tenants.acme.entra_jwt]\nissuer = \"{ENTRA_ISSUER}\"\naudience = \"{ENTRA_AUDIENCE}\"\njwks_file = {:?}\n[tenants.other]\n",
        jwks.display()
    );
    let gw = Gateway::start_config("", &toml, &[]);
    let good = keys.token("k1", &entra_claims(ENTRA_ISSUER, ENTRA_AUDIENCE, 600));
    gw.get("/Users?filter=userName eq \"probe\"", &good).expect(200);
    gw.post("/Users", &good, &json!({"userName": "from-entra"})).expect(201);
    // It is acme's: the other tenant sees nothing of it.
    let other_token = gw.token("other");
    assert_eq!(gw.get("/Users", &other_token).expect(200).json["totalResults"], 0);
    assert_eq!(gw.get("/Users", &good).expect(200).json["totalResults"], 1);

    let refused = [
        ("another audience", keys.token("k1", &entra_claims(ENTRA_ISSUER, "api://other", 600))),
        ("expired", keys.token("k1", &entra_claims(ENTRA_ISSUER, ENTRA_AUDIENCE, -300))),
        ("another issuer", keys.token("k1", &entra_claims("https://sts.windows.net/evil/", ENTRA_AUDIENCE, 600))),
        ("a key not in the JWKS", other.token("k2", &entra_claims(ENTRA_ISSUER, ENTRA_AUDIENCE, 600))),
        ("signed by another key under k1", other.token("k1", &entra_claims(ENTRA_ISSUER, ENTRA_AUDIENCE, 600))),
        ("tampered", {
            let mut t = good.clone();
            t.insert(t.rfind('.').unwrap() + 1, 'A');
            t
        }),
    ];
    for (what, token) in refused {
        let resp = gw.get("/Users", &token);
        assert_eq!(resp.status, 401, "{what}: {}", resp.describe());
    }
}

/// Keys from the tenant's JWKS URL are fetched once and cached.
#[test]
fn entra_keys_come_from_the_jwks_url_and_are_cached() {
    use crate::fake::{Action, Fake};
    let dir = tempfile::tempdir().unwrap();
    let keys = EntraKeys::generate(dir.path(), "k1");
    let jwks = keys.jwks.clone();
    let idp = Fake::start(move |_, _| Action::Respond { status: 200, headers: vec![], body: jwks.clone() });
    let toml = format!(
        "[tenants.acme]\n[tenants.acme.entra_jwt]\nissuer = \"{ENTRA_ISSUER}\"\naudience = \"{ENTRA_AUDIENCE}\"\njwks_url = \"{}/discovery/v2.0/keys\"\n",
        idp.url()
    );
    let gw = Gateway::start_config("", &toml, &[]);
    let good = keys.token("k1", &entra_claims(ENTRA_ISSUER, ENTRA_AUDIENCE, 600));
    for _ in 0..3 {
        gw.get("/Users", &good).expect(200);
    }
    let fetches = idp.received().iter().filter(|r| r.path == "/discovery/v2.0/keys").count();
    assert_eq!(fetches, 1, "the JWKS is fetched once and cached");
}
