//! RFC 7643/7644 behaviour that every IdP relies on indirectly: discovery,
//! projection, filters, paging, sorting, searches, membership references.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

fn setup() -> (Gateway, String) {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    (gw, t)
}

fn ids(r: &Response) -> Vec<String> {
    list_resources(r).iter().map(id_of).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn discovery_service_provider_config_resource_types_and_schema_by_urn() {
    let (gw, t) = setup();
    let r = gw.get("/ServiceProviderConfig", &t).expect(200);
    assert_scim_content_type(&r);
    let spc = &r.json;
    assert!(
        spc["schemas"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"))),
        "{spc}"
    );
    for k in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert!(spc[k]["supported"].is_boolean(), "ServiceProviderConfig.{k}.supported: {spc}");
    }
    assert_eq!(spc["patch"]["supported"], json!(true));
    assert_eq!(spc["filter"]["supported"], json!(true));
    assert_eq!(spc["etag"]["supported"], json!(true), "If-Match is supported, so etag must be advertised");
    assert!(spc["filter"]["maxResults"].as_u64().is_some_and(|n| n >= 1000), "filter.maxResults: {spc}");
    let schemes = spc["authenticationSchemes"].as_array().expect("authenticationSchemes");
    assert!(schemes.iter().any(|s| s["type"] == json!("oauthbearertoken")), "bearer scheme advertised: {spc}");

    let r = gw.get("/ResourceTypes", &t);
    let rts = list_resources(&r);
    let user = rts.iter().find(|x| x["id"] == json!("User") || x["name"] == json!("User")).expect("User resource type");
    assert_eq!(user["endpoint"], json!("/Users"));
    assert_eq!(user["schema"], json!(USER_SCHEMA));
    assert!(
        user["schemaExtensions"].as_array().is_some_and(|e| e.iter().any(|x| x["schema"] == json!(ENTERPRISE_SCHEMA))),
        "{user}"
    );
    let group =
        rts.iter().find(|x| x["id"] == json!("Group") || x["name"] == json!("Group")).expect("Group resource type");
    assert_eq!(group["endpoint"], json!("/Groups"));
    assert_eq!(group["schema"], json!(GROUP_SCHEMA));
    for name in ["User", "Group"] {
        let r = gw.get(&format!("/ResourceTypes/{name}"), &t).expect(200);
        assert_eq!(r.json["name"], json!(name), "{}", r.describe());
    }
    for urn in [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA] {
        let r = gw.get(&format!("/Schemas/{urn}"), &t).expect(200);
        assert_scim_content_type(&r);
        assert_eq!(r.json["id"], json!(urn));
        assert!(r.json["attributes"].as_array().is_some_and(|a| !a.is_empty()), "{}", r.describe());
    }
    // Group.displayName per RFC 7643 §8.7.1
    let g = gw.get(&format!("/Schemas/{GROUP_SCHEMA}"), &t).expect(200).json;
    let dn = g["attributes"].as_array().unwrap().iter().find(|a| a["name"] == json!("displayName")).unwrap().clone();
    assert_eq!(dn["caseExact"], json!(false), "{dn}");
}

#[test]
fn attributes_and_excluded_attributes_project_get_and_list_responses() {
    let (gw, t) = setup();
    let u = create_user(&gw.client(), &t, "proj@example.com");
    let uid = id_of(&u);
    let gid = id_of(&create_group(&gw.client(), &t, "Proj", &[&uid]));

    let r = gw.get(&format!("/Users/{uid}?attributes=userName"), &t).expect(200).json;
    assert_eq!(r["id"], json!(uid), "id is always returned: {r}");
    assert_eq!(r["userName"], json!("proj@example.com"));
    assert!(
        r.get("name").is_none() && r.get("emails").is_none() && r.get("active").is_none(),
        "attributes=userName: {r}"
    );

    let r = gw.get(&format!("/Users/{uid}?attributes=name.givenName,emails"), &t).expect(200).json;
    assert_eq!(r["name"], json!({"givenName": "Given"}), "sub-attribute projection: {r}");
    assert!(r["emails"].is_array(), "{r}");
    assert!(r.get("active").is_none(), "{r}");

    let r = gw.get(&format!("/Users/{uid}?excludedAttributes=emails,name"), &t).expect(200).json;
    assert!(r.get("emails").is_none() && r.get("name").is_none(), "excludedAttributes: {r}");
    assert_eq!(r["userName"], json!("proj@example.com"));
    assert_eq!(r["id"], json!(uid));

    // `id` cannot be excluded (returned: always).
    let r = gw.get(&format!("/Users/{uid}?excludedAttributes=id"), &t).expect(200).json;
    assert_eq!(r["id"], json!(uid));

    let list = list_resources(&gw.get("/Users?attributes=userName", &t));
    assert_eq!(list.len(), 1);
    assert!(list[0].get("emails").is_none(), "list projection: {}", list[0]);
    assert_eq!(list[0]["userName"], json!("proj@example.com"));

    let groups = list_resources(&gw.get("/Groups?excludedAttributes=members", &t));
    assert!(groups[0].get("members").is_none(), "{}", groups[0]);
    let groups = list_resources(&gw.get("/Groups?attributes=members", &t));
    assert_eq!(member_ids(&groups[0]), vec![uid.clone()]);
    assert_eq!(groups[0]["id"], json!(gid));
}

#[test]
fn patch_group_with_projection_query_returns_200_with_projected_group() {
    let (gw, t) = setup();
    let uid = id_of(&create_user(&gw.client(), &t, "p@example.com"));
    let gid = id_of(&create_group(&gw.client(), &t, "Before", &[]));
    let add = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]));
    let r = gw.patch(&format!("/Groups/{gid}?excludedAttributes=members"), &t, &add).expect(200);
    assert!(r.json.get("members").is_none(), "{}", r.describe());
    assert_eq!(r.json["displayName"], json!("Before"));
    assert_eq!(r.json["id"], json!(gid));

    let rename = patch_ops(json!([{"op": "replace", "path": "displayName", "value": "After"}]));
    let r = gw.patch(&format!("/Groups/{gid}?attributes=displayName"), &t, &rename).expect(200);
    assert_eq!(r.json["displayName"], json!("After"));
    assert_eq!(r.json["id"], json!(gid));
    assert!(r.json.get("members").is_none(), "{}", r.describe());

    let r = gw.patch(
        &format!("/Groups/{gid}?attributes=members"),
        &t,
        &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "After2"}])),
    );
    assert_eq!(member_ids(&r.expect(200).json), vec![uid]);
}

/// Users for the filter tests; returns name -> id.
fn filter_fixture(c: &Client, t: &str) -> std::collections::HashMap<&'static str, String> {
    let people = [
        json!({"userName": "alice@x.test", "title": "Engineer", "userType": "Employee", "active": true,
               "name": {"givenName": "Alice", "familyName": "Smith"},
               "emails": [{"value": "alice@work.test", "type": "work"}, {"value": "alice@home.test", "type": "home"}],
               ENTERPRISE_SCHEMA: {"department": "Sales", "employeeNumber": "1001"}}),
        json!({"userName": "bob@x.test", "userType": "Contractor", "active": false,
               "name": {"givenName": "Bob", "familyName": "Jones"},
               "emails": [{"value": "bob@home.test", "type": "home"}]}),
        json!({"userName": "Carol@Y.test", "title": "Manager", "userType": "Employee", "active": true,
               "name": {"givenName": "Carol", "familyName": "Smith"},
               "emails": [{"value": "carol@work.test", "type": "work"}],
               ENTERPRISE_SCHEMA: {"department": "Engineering"}}),
    ];
    let names = ["alice", "bob", "carol"];
    let mut out = std::collections::HashMap::new();
    for (n, mut p) in names.into_iter().zip(people) {
        let mut schemas = vec![json!(USER_SCHEMA)];
        if p.get(ENTERPRISE_SCHEMA).is_some() {
            schemas.push(json!(ENTERPRISE_SCHEMA));
        }
        p["schemas"] = json!(schemas);
        out.insert(n, id_of(&c.post("/Users", t, &p).expect(201).json));
    }
    out
}

#[test]
fn filters_support_the_rfc_grammar() {
    let (gw, t) = setup();
    let c = gw.client();
    let ids_by = filter_fixture(&c, &t);
    let id = |n: &str| ids_by[n].clone();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("userName eq \"alice@x.test\"", vec!["alice"]),
        ("userName eq \"carol@y.test\"", vec!["carol"]),
        ("USERNAME eq \"ALICE@X.TEST\"", vec!["alice"]),
        ("userName EQ \"alice@x.test\"", vec!["alice"]),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"bob@x.test\"", vec!["bob"]),
        ("userName ne \"alice@x.test\"", vec!["bob", "carol"]),
        ("userName co \"x.te\"", vec!["alice", "bob"]),
        ("userName sw \"CA\"", vec!["carol"]),
        ("userName ew \"@y.test\"", vec!["carol"]),
        ("userName gt \"b\"", vec!["bob", "carol"]),
        ("userName le \"bob@x.test\"", vec!["alice", "bob"]),
        ("title pr", vec!["alice", "carol"]),
        ("not (title pr)", vec!["bob"]),
        ("active eq false", vec!["bob"]),
        ("active eq true and title eq \"Manager\"", vec!["carol"]),
        ("userType eq \"Contractor\" or title eq \"Manager\"", vec!["bob", "carol"]),
        // `and` binds tighter than `or`
        ("userName eq \"bob@x.test\" or title pr and name.givenName eq \"Carol\"", vec!["bob", "carol"]),
        ("(userName eq \"bob@x.test\" or title pr) and name.givenName eq \"Carol\"", vec!["carol"]),
        ("name.familyName eq \"Smith\"", vec!["alice", "carol"]),
        ("emails[type eq \"work\" and value co \"alice\"]", vec!["alice"]),
        ("emails[type eq \"work\"]", vec!["alice", "carol"]),
        ("emails.value co \"home.test\"", vec!["alice", "bob"]),
        ("emails.type eq \"home\" and not (emails.type eq \"work\")", vec!["bob"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Sales\"", vec!["alice"]),
        ("meta.created gt \"2000-01-01T00:00:00Z\"", vec!["alice", "bob", "carol"]),
        ("meta.lastModified lt \"2000-01-01T00:00:00Z\"", vec![]),
        ("meta.resourceType eq \"User\"", vec!["alice", "bob", "carol"]),
    ];
    let mut failures = Vec::new();
    for (filter, want) in &cases {
        let r = c.get(&format!("/Users?filter={filter}"), &t);
        if r.status != 200 {
            failures.push(format!("{filter}: {}", r.describe()));
            continue;
        }
        let got = sorted(ids(&r));
        let want = sorted(want.iter().map(|n| id(n)).collect());
        if got != want {
            let names: Vec<&&str> = ids_by.iter().filter(|(_, v)| got.contains(v)).map(|(k, _)| k).collect();
            failures.push(format!("{filter}: got {names:?}"));
        }
    }
    // The id filter and group member filters.
    let alice = id("alice");
    let got = ids(&c.get(&format!("/Users?filter=id eq \"{alice}\""), &t));
    if got != vec![alice.clone()] {
        failures.push(format!("id eq: {got:?}"));
    }
    let gid = id_of(&create_group(&c, &t, "Filterers", &[&alice]));
    create_group(&c, &t, "Empty", &[]);
    for (filter, want) in [
        (format!("members[value eq \"{alice}\"]"), vec![gid.clone()]),
        (format!("members.value eq \"{alice}\""), vec![gid.clone()]),
        ("displayName sw \"filt\"".to_string(), vec![gid.clone()]),
        ("members pr".to_string(), vec![gid.clone()]),
    ] {
        let r = c.get(&format!("/Groups?filter={filter}"), &t);
        if r.status != 200 || ids(&r) != want {
            failures.push(format!("Groups {filter}: {}", r.describe()));
        }
    }
    assert!(failures.is_empty(), "filter mismatches:\n  {}", failures.join("\n  "));
}

#[test]
fn paging_defaults_to_100_and_caps_count_at_1000() {
    let (gw, t) = setup();
    let c = gw.client();
    // 1001 users, created from 4 threads.
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let (c, t) = (c.clone(), t.clone());
            std::thread::spawn(move || {
                for i in (k..1001).step_by(4) {
                    create_user(&c, &t, &format!("page{i:04}@example.com"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let r = c.get("/Users", &t);
    assert_eq!(list_resources(&r).len(), 100, "default count is 100");
    assert_eq!(r.json["totalResults"], json!(1001));
    assert_eq!(r.json["startIndex"], json!(1));

    let r = c.get("/Users?count=5000", &t);
    assert_eq!(list_resources(&r).len(), 1000, "count is capped at 1000");
    assert_eq!(r.json["totalResults"], json!(1001));

    let r = c.get("/Users?startIndex=1000&count=1000", &t);
    assert_eq!(list_resources(&r).len(), 2);
    assert_eq!(r.json["startIndex"], json!(1000));

    // count=0: only the total (RFC 7644 §3.4.2.4).
    let r = c.get("/Users?count=0", &t);
    assert!(list_resources(&r).is_empty());
    assert_eq!(r.json["totalResults"], json!(1001));

    // startIndex < 1 is interpreted as 1; negative count as 0.
    let r = c.get("/Users?startIndex=0&count=3", &t);
    assert_eq!(list_resources(&r).len(), 3);
    assert_eq!(r.json["startIndex"], json!(1));
    let r = c.get("/Users?count=-1", &t);
    assert!(list_resources(&r).is_empty());

    // Pages of a filtered list are consistent with each other.
    let mut seen = HashSet::new();
    for start in [1, 101, 201] {
        let r = c.get(&format!("/Users?filter=userName sw \"page02\"&startIndex={start}&count=100"), &t);
        assert_eq!(r.json["totalResults"], json!(100));
        for id in ids(&r) {
            assert!(seen.insert(id), "duplicate across pages");
        }
    }
    assert_eq!(seen.len(), 100);
}

#[test]
fn sort_by_orders_case_insensitively_and_pages_stably() {
    let (gw, t) = setup();
    let c = gw.client();
    let carol = id_of(&create_user(&c, &t, "carol@example.com"));
    let alice = id_of(&create_user(&c, &t, "Alice@example.com"));
    let bob = id_of(&create_user(&c, &t, "bob@example.com"));
    let asc = vec![alice.clone(), bob.clone(), carol.clone()];
    assert_eq!(ids(&c.get("/Users?sortBy=userName", &t)), asc, "sortBy=userName (ascending default)");
    assert_eq!(ids(&c.get("/Users?sortBy=userName&sortOrder=ascending", &t)), asc);
    let desc: Vec<String> = asc.iter().rev().cloned().collect();
    assert_eq!(ids(&c.get("/Users?sortBy=userName&sortOrder=descending", &t)), desc);
    assert_eq!(ids(&c.get("/Users?sortBy=userName&startIndex=2&count=1", &t)), vec![bob.clone()]);
    // Without sortBy: creation order.
    assert_eq!(ids(&c.get("/Users", &t)), vec![carol, alice, bob]);
    let r = c.post(
        "/Users/.search",
        &t,
        &json!({"schemas": [SEARCH_SCHEMA], "sortBy": "userName", "sortOrder": "descending"}),
    );
    assert_eq!(ids(&r), desc);
}

#[test]
fn post_search_on_users_and_root() {
    let (gw, t) = setup();
    let c = gw.client();
    let mut u = user_body("shared@example.com");
    u["displayName"] = json!("Shared Name");
    let uid = id_of(&c.post("/Users", &t, &u).expect(201).json);
    let other = id_of(&create_user(&c, &t, "other@example.com"));
    let gid = id_of(&create_group(&c, &t, "Shared Name", &[&uid]));

    let r = c.post(
        "/Users/.search",
        &t,
        &json!({"schemas": [SEARCH_SCHEMA], "filter": "userName eq \"SHARED@example.com\"", "attributes": ["userName"], "startIndex": 1, "count": 10}),
    );
    let res = list_resources(&r);
    assert_eq!(ids(&r), vec![uid.clone()]);
    assert!(res[0].get("emails").is_none(), "attributes honoured in .search: {}", res[0]);

    let r = c.post(
        "/Users/.search",
        &t,
        &json!({"schemas": [SEARCH_SCHEMA], "excludedAttributes": ["emails"], "count": 1}),
    );
    assert_eq!(list_resources(&r).len(), 1);
    assert_eq!(r.json["totalResults"], json!(2));
    assert!(r.json["Resources"][0].get("emails").is_none());

    let r = c.post("/.search", &t, &json!({"schemas": [SEARCH_SCHEMA], "filter": "displayName eq \"shared name\""}));
    assert_eq!(
        sorted(ids(&r)),
        sorted(vec![uid.clone(), gid.clone()]),
        "root search spans Users and Groups: {}",
        r.describe()
    );
    let r = c.post("/.search", &t, &json!({"schemas": [SEARCH_SCHEMA]}));
    assert_eq!(sorted(ids(&r)), sorted(vec![uid, other, gid]));
}

#[test]
fn group_members_reference_users_and_groups_and_user_groups_is_read_only() {
    let (gw, t) = setup();
    let c = gw.client();
    let base = gw.scim_base();
    let uid = id_of(&create_user(&c, &t, "m@example.com"));
    let inner = id_of(&create_group(&c, &t, "Inner", &[&uid]));
    let outer = id_of(&create_group(&c, &t, "Outer", &[&inner]));
    let g = c.get(&format!("/Groups/{outer}"), &t).expect(200).json;
    let m = &g["members"][0];
    assert_eq!(m["value"], json!(inner));
    assert_eq!(m["type"], json!("Group"), "{g}");
    assert_eq!(m["$ref"], json!(format!("{base}/Groups/{inner}")), "{g}");
    assert_eq!(m["display"], json!("Inner"), "group member display is its displayName: {g}");

    // `groups` on a user is readOnly: writes are ignored, memberships are listed.
    let mut body = user_body("ro@example.com");
    body["groups"] = json!([{"value": outer}]);
    let ro = c.post("/Users", &t, &body).expect(201).json;
    assert!(ro["groups"].is_null() || ro["groups"] == json!([]), "readOnly groups written on POST: {ro}");
    assert!(member_ids(&c.get(&format!("/Groups/{outer}"), &t).expect(200).json) == vec![inner.clone()]);
    let u = c.get(&format!("/Users/{uid}"), &t).expect(200).json;
    let gs = u["groups"].as_array().expect("user.groups");
    assert!(gs.iter().any(|x| x["value"] == json!(inner) && x["display"] == json!("Inner")), "{u}");
    // The user is in Inner directly; Outer may be listed as indirect.
    for x in gs {
        if x["value"] == json!(outer) {
            assert_eq!(x["type"], json!("indirect"), "{u}");
        }
    }

    // Deleting the inner group removes it from the outer group.
    c.delete(&format!("/Groups/{inner}"), &t).expect(204);
    assert!(member_ids(&c.get(&format!("/Groups/{outer}"), &t).expect(200).json).is_empty());
}

#[test]
fn request_content_types_okta_and_plain_json_are_accepted() {
    let (gw, t) = setup();
    for (i, ct) in ["application/scim+json; charset=utf-8", "application/json", "application/json; charset=utf-8"]
        .iter()
        .enumerate()
    {
        let body = serde_json::to_vec(&user_body(&format!("ct{i}@example.com"))).unwrap();
        let r = gw.send(
            "POST",
            "/Users",
            Some(&t),
            &[("Content-Type", ct), ("User-Agent", "Okta SCIM Client 1.0.0")],
            Some(body),
        );
        assert_eq!(r.status, 201, "Content-Type {ct}: {}", r.describe());
        assert_scim_content_type(&r);
    }
    // Some HTTP stacks ask for `100 Continue` before sending a body.
    let body = serde_json::to_vec(&user_body("continue@example.com")).unwrap();
    let r = gw.send("POST", "/Users", Some(&t), &[("Expect", "100-continue")], Some(body));
    assert_eq!(r.status, 201, "Expect: 100-continue: {}", r.describe());
}

#[test]
fn put_replaces_group_and_user_and_clears_omitted_members() {
    let (gw, t) = setup();
    let c = gw.client();
    let u1 = id_of(&create_user(&c, &t, "a@example.com"));
    let gid = id_of(&create_group(&c, &t, "Team", &[&u1]));
    let r =
        c.put(&format!("/Groups/{gid}"), &t, &json!({"schemas": [GROUP_SCHEMA], "displayName": "Team 2"})).expect(200);
    assert_eq!(r.json["displayName"], json!("Team 2"));
    assert!(member_ids(&r.json).is_empty(), "PUT without members clears them: {}", r.describe());
    assert!(member_ids(&c.get(&format!("/Groups/{gid}"), &t).expect(200).json).is_empty());

    let mut body = user_body("a@example.com");
    body["nickName"] = json!("Ace");
    let r = c.put(&format!("/Users/{u1}"), &t, &body).expect(200).json;
    assert_echoes(
        &body
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "schemas")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        &r,
        "PUT user",
    );
    let r = c.put(&format!("/Users/{u1}"), &t, &user_body("a@example.com")).expect(200).json;
    assert!(r.get("nickName").is_none(), "PUT replaces: omitted nickName must be gone: {r}");
}

#[test]
fn location_header_points_at_the_resource_and_get_has_etag() {
    let (gw, t) = setup();
    let c = gw.client();
    let r = c.post("/Users", &t, &user_body("loc@example.com")).expect(201);
    let loc = r.header("location").expect("Location header").to_string();
    assert!(loc.starts_with(&gw.scim_base()), "absolute Location under the SCIM base: {loc}");
    let path = loc.trim_start_matches(&gw.scim_base()).to_string();
    let g = c.get(&path, &t).expect(200);
    assert_eq!(g.json["id"], r.json["id"]);
    assert_eq!(g.header("etag"), r.json["meta"]["version"].as_str());
}

#[test]
fn filter_values_with_escaped_quotes_and_backslashes_match() {
    let (gw, t) = setup();
    let c = gw.client();
    let odd = r#"o"brien\x@example.com"#;
    let id = id_of(&create_user(&c, &t, odd));
    create_user(&c, &t, "obrien@example.com");
    // compValue is a JSON string: `"` and `\` are escaped.
    let r = c.get(r#"/Users?filter=userName eq "o\"brien\\x@example.com""#, &t);
    assert_eq!(ids(&r), vec![id.clone()], "{}", r.describe());
    let r = c.post("/Users/.search", &t, &json!({"schemas": [SEARCH_SCHEMA], "filter": r#"userName co "\"""#}));
    assert_eq!(ids(&r), vec![id], "{}", r.describe());
}

#[test]
fn non_ascii_usernames_are_unique_and_matched_case_insensitively() {
    let (gw, t) = setup();
    let c = gw.client();
    let id = id_of(&create_user(&c, &t, "jürgen.ärger@example.com"));
    // Round trip exactly as sent.
    assert_eq!(c.get(&format!("/Users/{id}"), &t).expect(200).json["userName"], json!("jürgen.ärger@example.com"));
    let r = c.get("/Users?filter=userName eq \"JÜRGEN.ÄRGER@EXAMPLE.COM\"", &t);
    assert_eq!(ids(&r), vec![id.clone()], "caseExact=false must fold non-ASCII letters too: {}", r.describe());
    assert_scim_error(&c.post("/Users", &t, &user_body("JÜRGEN.ÄRGER@example.com")), 409, Some("uniqueness"));
    create_group(&c, &t, "Élan", &[]);
    let r = c.post("/Groups", &t, &json!({"schemas": [GROUP_SCHEMA], "displayName": "éLAN"}));
    assert_scim_error(&r, 409, Some("uniqueness"));
}

#[test]
fn patch_multi_valued_add_replace_and_remove_all() {
    let (gw, t) = setup();
    let c = gw.client();
    let uid = id_of(&create_user(&c, &t, "mv@example.com"));
    let p = format!("/Users/{uid}");
    // add appends to a multi-valued attribute
    let r = c.patch(
        &p,
        &t,
        &patch_ops(json!([{"op": "add", "path": "emails", "value": [{"value": "home@example.com", "type": "home"}]}])),
    );
    let emails = r.expect(200).json["emails"].clone();
    assert_eq!(emails.as_array().map(Vec::len), Some(2), "{emails}");
    // replace with a path filter on a sub-attribute
    let r = c.patch(
        &p,
        &t,
        &patch_ops(json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "home2@example.com"}])),
    );
    let emails = r.expect(200).json["emails"].clone();
    assert!(emails.as_array().unwrap().iter().any(|e| e["value"] == json!("home2@example.com")), "{emails}");
    // remove with a filter removes just the matching value
    let r = c.patch(&p, &t, &patch_ops(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])));
    let emails = r.expect(200).json["emails"].clone();
    assert_eq!(emails, json!([{"value": "mv@example.com@example.com", "type": "work", "primary": true}]));
    // replace without filter replaces all values
    let r = c.patch(
        &p,
        &t,
        &patch_ops(
            json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com", "type": "other"}]}]),
        ),
    );
    assert_eq!(r.expect(200).json["emails"], json!([{"value": "only@example.com", "type": "other"}]));
    // remove of a single-valued attribute
    let r = c.patch(&p, &t, &patch_ops(json!([{"op": "remove", "path": "name.familyName"}])));
    assert_eq!(r.expect(200).json["name"], json!({"givenName": "Given"}));

    // remove `members` without value or filter removes every member (RFC 7644 §3.5.2.2)
    let u2 = id_of(&create_user(&c, &t, "mv2@example.com"));
    let gid = id_of(&create_group(&c, &t, "All Out", &[&uid, &u2]));
    c.patch(&format!("/Groups/{gid}"), &t, &patch_ops(json!([{"op": "remove", "path": "members"}]))).expect(204);
    assert!(member_ids(&c.get(&format!("/Groups/{gid}"), &t).expect(200).json).is_empty());
    // replace members with [] empties too
    c.patch(
        &format!("/Groups/{gid}"),
        &t,
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": u2}]}])),
    )
    .expect(204);
    c.patch(&format!("/Groups/{gid}"), &t, &patch_ops(json!([{"op": "replace", "path": "members", "value": []}])))
        .expect(204);
    assert!(member_ids(&c.get(&format!("/Groups/{gid}"), &t).expect(200).json).is_empty());
}

/// `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)` (xsd:dateTime as RFC 7643 §2.3.5 wants).
fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if b[10] != b'T' || !digits(11..13) || b[13] != b':' || !digits(14..16) || b[16] != b':' || !digits(17..19) {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z" || (rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && rest.as_bytes()[3] == b':')
}

#[test]
fn server_assigns_id_and_timestamps_ignoring_client_values() {
    let (gw, t) = setup();
    let c = gw.client();
    let mut body = user_body("ids@example.com");
    body["id"] = json!("client-chosen-id");
    body["meta"] = json!({"resourceType": "User", "created": "1999-01-01T00:00:00Z", "version": "W/\"1\""});
    let u = c.post("/Users", &t, &body).expect(201).json;
    assert_ne!(u["id"], json!("client-chosen-id"), "id is assigned by the server: {u}");
    assert_scim_error(&c.get("/Users/client-chosen-id", &t), 404, None);
    for k in ["created", "lastModified"] {
        let v = u["meta"][k].as_str().unwrap_or_default();
        assert!(is_datetime(v), "meta.{k} must be an xsd:dateTime: {v:?}");
        assert!(!v.starts_with("1999"), "meta.{k} taken from the client: {u}");
    }
    // OneLogin templates may carry `"id": null`.
    let mut body = user_body("nullid@example.com");
    body["id"] = Value::Null;
    let u2 = c.post("/Users", &t, &body).expect(201).json;
    assert!(u2["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_ne!(u["id"], u2["id"]);

    // lastModified moves forward, created stays.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let id = id_of(&u);
    let p = c.patch(&format!("/Users/{id}"), &t, &patch_ops(json!([{"op": "replace", "path": "title", "value": "t"}])));
    let p = p.expect(200).json;
    assert_eq!(p["meta"]["created"], u["meta"]["created"]);
    assert!(p["meta"]["lastModified"].as_str() >= u["meta"]["lastModified"].as_str(), "{p}");
    assert!(is_datetime(p["meta"]["lastModified"].as_str().unwrap_or_default()));
}

#[test]
fn group_version_changes_when_members_change() {
    let (gw, t) = setup();
    let c = gw.client();
    let uid = id_of(&create_user(&c, &t, "v@example.com"));
    let g = create_group(&c, &t, "Versioned", &[]);
    let gid = id_of(&g);
    c.patch(
        &format!("/Groups/{gid}"),
        &t,
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])),
    )
    .expect(204);
    let g2 = c.get(&format!("/Groups/{gid}"), &t).expect(200);
    assert_ne!(g2.json["meta"]["version"], g["meta"]["version"], "adding a member is a modification");
    // The old ETag is stale now.
    let stale = g["meta"]["version"].as_str().unwrap();
    let body = serde_json::to_vec(&json!({"schemas": [GROUP_SCHEMA], "displayName": "Versioned"})).unwrap();
    assert_scim_error(
        &gw.send("PUT", &format!("/Groups/{gid}"), Some(&t), &[("If-Match", stale)], Some(body)),
        412,
        None,
    );
}

#[test]
fn case_exact_attributes_external_id_and_id_compare_exactly() {
    let (gw, t) = setup();
    let c = gw.client();
    let mut a = user_body("a@example.com");
    a["externalId"] = json!("Ext-1");
    let a = id_of(&c.post("/Users", &t, &a).expect(201).json);
    // externalId is caseExact (RFC 7643 §3.1): another case is another value.
    let mut b = user_body("b@example.com");
    b["externalId"] = json!("ext-1");
    let b = id_of(&c.post("/Users", &t, &b).expect(201).json);
    assert_eq!(ids(&c.get("/Users?filter=externalId eq \"Ext-1\"", &t)), vec![a.clone()]);
    assert_eq!(ids(&c.get("/Users?filter=externalId eq \"ext-1\"", &t)), vec![b]);
    assert!(ids(&c.get("/Users?filter=externalId eq \"EXT-1\"", &t)).is_empty());
    // ids are caseExact too.
    let upper = a.to_uppercase();
    if upper != a {
        assert_scim_error(&c.get(&format!("/Users/{upper}"), &t), 404, None);
        assert!(ids(&c.get(&format!("/Users?filter=id eq \"{upper}\""), &t)).is_empty());
    }
}

#[test]
fn filters_more_grammar_value_paths_nesting_and_readonly_attributes() {
    let (gw, t) = setup();
    let c = gw.client();
    let n = filter_fixture(&c, &t);
    let gid = id_of(&create_group(&c, &t, "Sales Team", &[&n["alice"], &n["bob"]]));
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("emails[not (type eq \"work\")]", vec!["alice", "bob"]),
        ("emails[type eq \"home\" or value ew \"carol@work.test\"]", vec!["alice", "bob", "carol"]),
        ("EMAILS[TYPE eq \"work\"]", vec!["alice", "carol"]),
        ("userName sw \"a\" and (title pr or nickName pr)", vec!["alice"]),
        ("not (userName sw \"a\") and not (userName sw \"b\")", vec!["carol"]),
        ("active ne true", vec!["bob"]),
        ("name.givenName pr and name.familyName co \"MIT\"", vec!["alice", "carol"]),
        ("emails.value co \"WORK.TEST\"", vec!["alice", "carol"]),
        ("groups.value eq \"GID\"", vec!["alice", "bob"]),
        ("groups pr", vec!["alice", "bob"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr", vec!["alice"]),
    ];
    let mut failures = Vec::new();
    for (filter, want) in &cases {
        let filter = filter.replace("GID", &gid);
        let r = c.get(&format!("/Users?filter={filter}"), &t);
        if r.status != 200 {
            failures.push(format!("{filter}: {}", r.describe()));
            continue;
        }
        let got = sorted(ids(&r));
        if got != sorted(want.iter().map(|w| n[w].clone()).collect()) {
            let names: Vec<&&str> = n.iter().filter(|(_, v)| got.contains(v)).map(|(k, _)| k).collect();
            failures.push(format!("{filter}: got {names:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "filter mismatches:\n  {}", failures.join("\n  "));
}

#[test]
fn removing_a_member_that_is_not_in_the_group_is_not_an_error() {
    // IdPs retry and re-send membership removals (Okta's remove+add, Entra's
    // value-list removal); a member that is already gone must not fail the PATCH.
    let (gw, t) = setup();
    let c = gw.client();
    let u1 = id_of(&create_user(&c, &t, "in@example.com"));
    let u2 = id_of(&create_user(&c, &t, "out@example.com"));
    let gid = id_of(&create_group(&c, &t, "G", &[&u1]));
    let p = format!("/Groups/{gid}");
    c.patch(&p, &t, &patch_ops(json!([{"op": "Remove", "path": "members", "value": [{"value": u2}]}]))).expect(204);
    c.patch(&p, &t, &patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]))).expect(204);
    assert_eq!(member_ids(&c.get(&p, &t).expect(200).json), vec![u1]);
}

#[test]
fn projection_accepts_urn_qualified_attribute_names() {
    let (gw, t) = setup();
    let c = gw.client();
    let n = filter_fixture(&c, &t);
    let alice = &n["alice"];
    let r = c
        .get(&format!("/Users/{alice}?attributes=urn:ietf:params:scim:schemas:core:2.0:User:userName"), &t)
        .expect(200);
    assert_eq!(r.json["userName"], json!("alice@x.test"));
    assert!(r.json.get("emails").is_none(), "{}", r.describe());
    let r = c
        .get(
            &format!("/Users/{alice}?attributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            &t,
        )
        .expect(200);
    assert_eq!(r.json[ENTERPRISE_SCHEMA], json!({"department": "Sales"}), "{}", r.describe());
    assert!(r.json.get("userName").is_none(), "{}", r.describe());
}
