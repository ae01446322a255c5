//! OneLogin's "SCIM Provisioner with SAML (SCIM v2 Enterprise)" connector,
//! as /work/shared/idp/README.md section 3 documents it.
//!
//! OneLogin fixes the user body with an admin-defined *SCIM JSON Template*;
//! the one here is the typical v2 template the doc quotes, filled in for one
//! user, plus the quirks the doc warns of (`"active"` as a string, `"id":
//! null`). The call sequence is the one OneLogin's sample server (OL-NODE)
//! serves: a `userName eq` lookup, POST, full PUT for updates and for
//! suspension, a real DELETE when "When users are deleted" is **Delete**,
//! `GET /Groups`, `POST /Groups` and group PATCHes.
//!
//! OL-NODE is SCIM 1.1 and PATCHes members as `{"members": [{"value",
//! "operation"}]}`; no v2 wire example from OneLogin is documented. The group
//! PATCHes here are the RFC 7644 PatchOp form a v2 connector should send:
//! an assumption, not a capture.

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

const USER_NAME: &str = "jane.doe@example.com";

/// The doc's typical v2 template, rendered for Jane Doe with the tenant's
/// `"active": "{$user.active}"` (a string) and `"id": null` quirks.
fn template_body(manager_id: &str, active: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": null,
        "userName": USER_NAME,
        "active": active,
        "name": {"familyName": "Doe", "givenName": "Jane"},
        "emails": [{"value": USER_NAME, "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Engineering",
            "manager": {"value": manager_id, "displayName": "Mark Manager"}
        }
    })
}

/// What the gateway must store for `template_body`: booleans as booleans,
/// no `id: null`, both schemas.
fn stored_user(id: &str, manager_id: &str, active: bool, family_name: &str, department: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "id": id,
        "userName": USER_NAME,
        "active": active,
        "name": {"familyName": family_name, "givenName": "Jane"},
        "emails": [{"value": USER_NAME, "type": "work", "primary": true}],
        ENTERPRISE_SCHEMA: {
            "department": department,
            "manager": {"value": manager_id, "displayName": "Mark Manager"}
        }
    })
}

struct OneLogin {
    gw: Gateway,
    token: String,
}

impl OneLogin {
    fn new() -> OneLogin {
        let gw = Gateway::start(&["onelogin"]);
        let token = gw.token("onelogin");
        OneLogin { gw, token }
    }

    fn get(&self, path: &str) -> Response {
        self.gw.get(path, &self.token)
    }

    /// The manager the template's `external_manager_id` points at; created
    /// as a plain user, it is only a fixture.
    fn manager(&self) -> String {
        id_of(&create_user(&self.gw.client(), &self.token, "mark.manager"))
    }

    /// OneLogin's lookup before a create (OL-NODE `GET /Users?filter=`).
    fn lookup(&self, user_name: &str) -> Vec<Value> {
        list_resources(&self.get(&format!("/Users?filter=userName eq \"{user_name}\"")))
    }

    /// Creates Jane from the template after a lookup that finds nothing.
    fn provision(&self, manager_id: &str) -> String {
        assert_eq!(self.lookup(USER_NAME), Vec::<Value>::new());
        let r = self.gw.post("/Users", &self.token, &template_body(manager_id, "true")).expect(201);
        id_of(&r.json)
    }

    /// GET by id, checked against the exact stored resource.
    #[track_caller]
    fn assert_stored(&self, want: &Value) {
        let id = want["id"].as_str().unwrap();
        let r = self.get(&format!("/Users/{id}")).expect(200);
        assert_eq!(without_meta(&r.json, "User", &self.gw.scim_base()), *want, "GET /Users/{id}");
    }
}

/// Checks the server-written `meta` (and that no `password` is returned),
/// then returns the resource without it, for an exact comparison.
#[track_caller]
fn without_meta(resource: &Value, resource_type: &str, base: &str) -> Value {
    assert_resource_meta(resource, resource_type, base);
    let mut r = resource.clone();
    r.as_object_mut().unwrap().remove("meta");
    r
}

#[test]
fn onelogin_template_create_after_lookup_then_full_put_updates() {
    let o = OneLogin::new();
    let base = o.gw.scim_base();
    let boss = o.manager();

    // Lookup by userName first: an empty ListResponse, not a 404.
    let r = o.get(&format!("/Users?filter=userName eq \"{USER_NAME}\""));
    assert_eq!(
        r.json,
        json!({"schemas": [LIST_SCHEMA], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}),
        "{}",
        r.describe()
    );

    // Create from the template: the string "true" is stored as true and the
    // null id is ignored.
    let r = o.gw.post("/Users", &o.token, &template_body(&boss, "true")).expect(201);
    assert_scim_content_type(&r);
    let id = id_of(&r.json);
    let want = stored_user(&id, &boss, true, "Doe", "Engineering");
    assert_eq!(without_meta(&r.json, "User", &base), want, "POST /Users");
    assert_eq!(r.header("location"), r.json["meta"]["location"].as_str());
    o.assert_stored(&want);

    // The same lookup now finds exactly this user.
    let found = o.lookup(USER_NAME);
    assert_eq!(found.len(), 1);
    assert_eq!(without_meta(&found[0], "User", &base), want, "lookup after create");

    // Updates are full PUTs of the rendered template, `id` now filled in.
    let mut put = template_body(&boss, "true");
    put["id"] = json!(id);
    put["name"]["familyName"] = json!("Doe-Smith");
    put[ENTERPRISE_SCHEMA]["department"] = json!("Platform");
    let r = o.gw.put(&format!("/Users/{id}"), &o.token, &put).expect(200);
    let want = stored_user(&id, &boss, true, "Doe-Smith", "Platform");
    assert_eq!(without_meta(&r.json, "User", &base), want, "PUT /Users/{id}");
    o.assert_stored(&want);

    // A PUT replaces: an attribute the template no longer renders is gone.
    put[ENTERPRISE_SCHEMA].as_object_mut().unwrap().remove("manager");
    let r = o.gw.put(&format!("/Users/{id}"), &o.token, &put).expect(200);
    let mut want = want;
    want[ENTERPRISE_SCHEMA].as_object_mut().unwrap().remove("manager");
    assert_eq!(without_meta(&r.json, "User", &base), want, "PUT without manager");
    o.assert_stored(&want);

    // A second create of the same userName (a lookup OneLogin skipped) is refused.
    assert_scim_error(&o.gw.post("/Users", &o.token, &template_body(&boss, "true")), 409, Some("uniqueness"));
}

#[test]
fn onelogin_suspend_by_put_active_false_reactivate_then_delete() {
    let o = OneLogin::new();
    let base = o.gw.scim_base();
    let boss = o.manager();
    let id = o.provision(&boss);
    let path = format!("/Users/{id}");

    // "Suspend": a full PUT with active false, as a boolean and as the
    // string a `{$user.active}` template renders; then back to "true".
    for (active, stored) in [(json!(false), false), (json!("true"), true), (json!("false"), false)] {
        let mut put = template_body(&boss, "true");
        put["id"] = json!(id);
        put["active"] = active.clone();
        let r = o.gw.put(&path, &o.token, &put).expect(200);
        let want = stored_user(&id, &boss, stored, "Doe", "Engineering");
        assert_eq!(without_meta(&r.json, "User", &base), want, "PUT active {active}");
        o.assert_stored(&want);
        // A suspended user is still there for OneLogin's lookup, as a boolean.
        let found = o.lookup(USER_NAME);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["active"], json!(stored), "lookup after PUT active {active}");
    }

    // A value that is no boolean is refused and changes nothing.
    let mut put = template_body(&boss, "suspended");
    put["id"] = json!(id);
    assert_scim_error(&o.gw.put(&path, &o.token, &put), 400, Some("invalidValue"));
    o.assert_stored(&stored_user(&id, &boss, false, "Doe", "Engineering"));

    // "When users are deleted: Delete" sends a real DELETE.
    let r = o.gw.delete(&path, &o.token).expect(204);
    assert_eq!(r.body, "");
    assert_scim_error(&o.get(&path), 404, None);
    assert_eq!(o.lookup(USER_NAME), Vec::<Value>::new());
    assert_scim_error(&o.gw.delete(&path, &o.token), 404, None);
    // The manager it pointed at is untouched, and the userName is free again.
    o.get(&format!("/Users/{boss}")).expect(200);
    o.provision(&boss);
}

#[test]
fn onelogin_groups_list_create_and_patchop_membership() {
    let o = OneLogin::new();
    let base = o.gw.scim_base();
    let boss = o.manager();
    let jane = o.provision(&boss);
    let member = |id: &str| json!({"value": id});

    // OneLogin lists the groups it can push to: none yet.
    let r = o.get("/Groups");
    assert_eq!(
        r.json,
        json!({"schemas": [LIST_SCHEMA], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}),
        "{}",
        r.describe()
    );

    let r =
        o.gw.post("/Groups", &o.token, &json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering"})).expect(201);
    let gid = id_of(&r.json);
    let gpath = format!("/Groups/{gid}");
    // The gateway always renders `members`, empty or not.
    let empty = json!({"schemas": [GROUP_SCHEMA], "id": gid, "displayName": "Engineering", "members": []});
    assert_eq!(without_meta(&r.json, "Group", &base), empty, "POST /Groups");

    let r = o.get("/Groups");
    let listed = list_resources(&r);
    assert_eq!(r.json["totalResults"], json!(1));
    assert_eq!(without_meta(&listed[0], "Group", &base), empty, "GET /Groups");

    // Add both users in one PatchOp, then read the group back: members in
    // the order added, each rendered with its `$ref`, `display` and `type`.
    let add = patch_ops(json!([{"op": "add", "path": "members", "value": [member(&jane), member(&boss)]}]));
    let r = o.gw.patch(&gpath, &o.token, &add).expect(204);
    assert_eq!(r.body, "");
    let rendered = |id: &str, display: &str| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "display": display, "type": "User"});
    let mut with_both = empty.clone();
    with_both["members"] = json!([rendered(&jane, USER_NAME), rendered(&boss, "mark.manager")]);
    let r = o.get(&gpath).expect(200);
    assert_eq!(without_meta(&r.json, "Group", &base), with_both, "group after add");
    // The user shows the membership too, as a direct group.
    let u = o.get(&format!("/Users/{jane}")).expect(200).json;
    let group_ref =
        json!({"value": gid, "$ref": format!("{base}/Groups/{gid}"), "display": "Engineering", "type": "direct"});
    assert_eq!(u["groups"], json!([group_ref]), "{u}");
    // Adding a member again changes nothing.
    o.gw.patch(&gpath, &o.token, &patch_ops(json!([{"op": "add", "path": "members", "value": [member(&jane)]}])))
        .expect(204);
    assert_eq!(without_meta(&o.get(&gpath).expect(200).json, "Group", &base), with_both, "group after re-add");

    // Remove one by a value filter: the other stays, and the user itself stays.
    let remove = patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{boss}\"]")}]));
    o.gw.patch(&gpath, &o.token, &remove).expect(204);
    let mut with_jane = empty.clone();
    with_jane["members"] = json!([rendered(&jane, USER_NAME)]);
    assert_eq!(without_meta(&o.get(&gpath).expect(200).json, "Group", &base), with_jane, "group after remove");
    let u = o.get(&format!("/Users/{boss}")).expect(200).json;
    assert!(u.get("groups").is_none(), "a user in no group has no `groups`: {u}");

    // Deleting a member user ("Delete" option) takes it out of the group.
    o.gw.delete(&format!("/Users/{jane}"), &o.token).expect(204);
    let r = o.get(&gpath).expect(200);
    assert_eq!(without_meta(&r.json, "Group", &base), empty, "group after its member was deleted");
}
