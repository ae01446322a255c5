//! Tenant isolation and bearer tokens.

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

struct Two {
    gw: Gateway,
    a: String,
    b: String,
}

impl Two {
    fn new() -> Two {
        let gw = Gateway::start(&["acme", "globex"]);
        let a = gw.token("acme");
        let b = gw.token("globex");
        Two { gw, a, b }
    }
}

/// The body with `id` replaced by a placeholder, so that the 404 for another
/// tenant's id can be compared with the 404 for a random id.
fn normalized(r: &Response, id: &str) -> Value {
    serde_json::from_str(&r.body.replace(id, "<ID>")).unwrap_or(Value::Null)
}

/// Asserts that `resp` (for `id`) is indistinguishable from `random` (for
/// `random_id`): same status, content type and body up to the id.
#[track_caller]
fn assert_same_404(what: &str, resp: &Response, id: &str, random: &Response, random_id: &str) {
    assert_scim_error(resp, 404, None);
    assert_scim_error(random, 404, None);
    assert_eq!(
        normalized(resp, id),
        normalized(random, random_id),
        "{what}: 404 for another tenant's id differs from 404 for a random id"
    );
    assert_eq!(resp.header("content-type"), random.header("content-type"), "{what}");
}

#[test]
fn other_tenants_user_and_group_are_404_like_a_random_id_for_every_method() {
    let t = Two::new();
    let c = t.gw.client();
    let ua = create_user(&c, &t.a, "alice@acme.test");
    let ua_id = id_of(&ua);
    let ga = create_group(&c, &t.a, "Acme Staff", &[&ua_id]);
    let ga_id = id_of(&ga);
    let ub_id = id_of(&create_user(&c, &t.b, "bob@globex.test"));
    let rnd = guid();

    let user_put = user_body("hijacked@globex.test");
    let group_put = json!({"schemas": [GROUP_SCHEMA], "displayName": "hijacked", "members": [{"value": ub_id}]});
    let user_patch = patch_ops(json!([{"op": "replace", "path": "active", "value": false}]));
    let group_patch = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": ub_id}]}]));
    let group_remove = patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{ua_id}\"]")}]));

    for (kind, id, put, patches) in [
        ("Users", &ua_id, &user_put, vec![&user_patch]),
        ("Groups", &ga_id, &group_put, vec![&group_patch, &group_remove]),
    ] {
        let mine = |rid: &str| format!("/{kind}/{rid}");
        let g = c.get(&mine(id), &t.b);
        assert_same_404(&format!("GET {kind}"), &g, id, &c.get(&mine(&rnd), &t.b), &rnd);
        let g = c.get(&format!("{}?attributes=id", mine(id)), &t.b);
        assert_same_404(
            &format!("GET {kind}?attributes"),
            &g,
            id,
            &c.get(&format!("{}?attributes=id", mine(&rnd)), &t.b),
            &rnd,
        );
        let p = c.put(&mine(id), &t.b, put);
        assert_same_404(&format!("PUT {kind}"), &p, id, &c.put(&mine(&rnd), &t.b, put), &rnd);
        for body in patches {
            let p = c.patch(&mine(id), &t.b, body);
            assert_same_404(&format!("PATCH {kind} {body}"), &p, id, &c.patch(&mine(&rnd), &t.b, body), &rnd);
        }
        let d = c.delete(&mine(id), &t.b);
        assert_same_404(&format!("DELETE {kind}"), &d, id, &c.delete(&mine(&rnd), &t.b), &rnd);
    }

    // Nothing changed for the owner.
    let ua_now = c.get(&format!("/Users/{ua_id}"), &t.a).expect(200).json;
    assert_eq!(ua_now["meta"]["version"], ua["meta"]["version"], "tenant A's user was modified by tenant B: {ua_now}");
    assert_eq!(ua_now["active"], json!(true));
    assert_eq!(ua_now["userName"], json!("alice@acme.test"));
    let ga_now = c.get(&format!("/Groups/{ga_id}"), &t.a).expect(200).json;
    assert_eq!(ga_now["displayName"], json!("Acme Staff"));
    assert_eq!(member_ids(&ga_now), vec![ua_id.clone()]);
    assert_eq!(ga_now["meta"]["version"], ga["meta"]["version"], "tenant A's group was modified by tenant B");
}

#[test]
fn other_tenants_resources_never_appear_in_lists_filters_or_searches() {
    let t = Two::new();
    let c = t.gw.client();
    let a1 = id_of(&create_user(&c, &t.a, "alice@acme.test"));
    let a2 = id_of(&create_user(&c, &t.a, "anna@acme.test"));
    let ga = id_of(&create_group(&c, &t.a, "Acme Staff", &[&a1, &a2]));
    let b1 = id_of(&create_user(&c, &t.b, "bob@globex.test"));

    let only_b = |what: &str, r: Response, want: &[&str]| {
        let ids: Vec<String> = list_resources(&r).iter().map(id_of).collect();
        assert_eq!(ids, want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{what}: {}", r.describe());
        assert_eq!(
            r.json["totalResults"],
            json!(want.len()),
            "{what}: totalResults counts other tenants: {}",
            r.describe()
        );
    };
    only_b("GET /Users", c.get("/Users", &t.b), &[&b1]);
    only_b("GET /Users paged", c.get("/Users?startIndex=1&count=1000", &t.b), &[&b1]);
    only_b("userName eq", c.get("/Users?filter=userName eq \"alice@acme.test\"", &t.b), &[]);
    only_b("id eq", c.get(&format!("/Users?filter=id eq \"{a1}\""), &t.b), &[]);
    only_b("userName pr", c.get("/Users?filter=userName pr", &t.b), &[&b1]);
    only_b("userName sw a", c.get("/Users?filter=userName sw \"a\"", &t.b), &[]);
    only_b("not", c.get("/Users?filter=not (userName eq \"nobody\")", &t.b), &[&b1]);
    only_b("sortBy", c.get("/Users?sortBy=userName&sortOrder=ascending", &t.b), &[&b1]);
    only_b("GET /Groups", c.get("/Groups", &t.b), &[]);
    only_b("displayName eq", c.get("/Groups?filter=displayName eq \"Acme Staff\"", &t.b), &[]);
    only_b("members.value eq", c.get(&format!("/Groups?filter=members.value eq \"{a1}\""), &t.b), &[]);
    only_b(
        "POST /Users/.search",
        c.post(
            "/Users/.search",
            &t.b,
            &json!({"schemas": [SEARCH_SCHEMA], "filter": "userName eq \"alice@acme.test\""}),
        ),
        &[],
    );
    only_b(
        "POST /Users/.search all",
        c.post("/Users/.search", &t.b, &json!({"schemas": [SEARCH_SCHEMA], "startIndex": 1, "count": 100})),
        &[&b1],
    );
    only_b("POST /.search all", c.post("/.search", &t.b, &json!({"schemas": [SEARCH_SCHEMA]})), &[&b1]);
    only_b(
        "POST /.search by name",
        c.post("/.search", &t.b, &json!({"schemas": [SEARCH_SCHEMA], "filter": "displayName eq \"Acme Staff\""})),
        &[],
    );

    // Tenant A sees its own.
    let r = c.get("/Users", &t.a);
    assert_eq!(list_resources(&r).len(), 2);
    assert_eq!(r.json["totalResults"], json!(2));
    let r = c.get("/Groups", &t.a);
    assert_eq!(list_resources(&r).iter().map(id_of).collect::<Vec<_>>(), vec![ga]);
}

#[test]
fn same_username_external_id_and_group_name_are_allowed_in_two_tenants() {
    let t = Two::new();
    let c = t.gw.client();
    let mut body = user_body("shared@example.com");
    body["externalId"] = json!("ext-1");
    let ua = c.post("/Users", &t.a, &body).expect(201).json;
    let ub = c.post("/Users", &t.b, &body).expect(201).json;
    assert_ne!(ua["id"], ub["id"]);
    let ga = create_group(&c, &t.a, "Engineering", &[]);
    let gb = create_group(&c, &t.b, "Engineering", &[]);
    assert_ne!(ga["id"], gb["id"]);
    // Each tenant's filter finds exactly its own.
    for (tok, want) in [(&t.a, &ua), (&t.b, &ub)] {
        let res = list_resources(&c.get("/Users?filter=userName eq \"SHARED@example.com\"", tok));
        assert_eq!(res.len(), 1);
        assert_eq!(res[0]["id"], want["id"]);
    }
    // Uniqueness is still enforced within a tenant.
    assert_scim_error(&c.post("/Users", &t.a, &body), 409, Some("uniqueness"));
    assert_scim_error(
        &c.post("/Groups", &t.b, &json!({"schemas": [GROUP_SCHEMA], "displayName": "engineering"})),
        409,
        Some("uniqueness"),
    );
    // A rename in one tenant does not collide with the other tenant.
    let r = c.patch(
        &format!("/Users/{}", id_of(&ua)),
        &t.a,
        &patch_ops(json!([{"op": "replace", "path": "userName", "value": "only-a@example.com"}])),
    );
    r.expect(200);
    let r = c.patch(
        &format!("/Users/{}", id_of(&ub)),
        &t.b,
        &patch_ops(json!([{"op": "replace", "path": "userName", "value": "only-a@example.com"}])),
    );
    r.expect(200);
}

#[test]
fn group_members_from_another_tenant_are_rejected_as_invalid_value() {
    let t = Two::new();
    let c = t.gw.client();
    let ua = id_of(&create_user(&c, &t.a, "alice@acme.test"));
    let ub = id_of(&create_user(&c, &t.b, "bob@globex.test"));
    let r = c.post(
        "/Groups",
        &t.b,
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "Mixed", "members": [{"value": ua}]}),
    );
    assert_scim_error(&r, 400, Some("invalidValue"));
    let gb = id_of(&create_group(&c, &t.b, "Globex", &[&ub]));
    let r = c.patch(
        &format!("/Groups/{gb}"),
        &t.b,
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": ua}]}])),
    );
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = c.put(
        &format!("/Groups/{gb}"),
        &t.b,
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "Globex", "members": [{"value": ub}, {"value": ua}]}),
    );
    assert_scim_error(&r, 400, Some("invalidValue"));
    // The failed requests changed nothing.
    assert_eq!(member_ids(&c.get(&format!("/Groups/{gb}"), &t.b).expect(200).json), vec![ub]);
    let u = c.get(&format!("/Users/{ua}"), &t.a).expect(200).json;
    assert!(u["groups"].is_null() || u["groups"] == json!([]), "user of A lists a group of B: {u}");
}

/// Parses `token list` output, asserting the `ID<TAB>TENANT<TAB>CREATED` format.
fn token_list(gw: &Gateway, tenant: Option<&str>) -> Vec<(String, String, String)> {
    let mut args = vec!["token", "list"];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let out = gw.cli_ok(&args);
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "token list line must be ID<TAB>TENANT<TAB>CREATED: {l:?}");
            assert!(f.iter().all(|x| !x.trim().is_empty()), "empty field in {l:?}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

#[test]
fn revoked_token_gets_401_and_other_tokens_keep_working() {
    let gw = Gateway::start(&["acme"]);
    let t1 = gw.token("acme");
    let before = token_list(&gw, Some("acme"));
    let t2 = gw.token("acme");
    let after = token_list(&gw, Some("acme"));
    assert_eq!(before.len(), 1);
    assert_eq!(after.len(), 2);
    let t1_id = before[0].0.clone();

    gw.get("/Users", &t1).expect(200);
    gw.get("/Users", &t2).expect(200);
    gw.cli_ok(&["token", "revoke", "--id", &t1_id]);

    let r = eventually("revoked token is rejected", || {
        let r = gw.get("/Users", &t1);
        (r.status == 401).then_some(r)
    });
    assert_scim_error(&r, 401, None);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{}", r.describe());
    // Rejected everywhere, not just on one endpoint.
    assert_scim_error(&gw.post("/Users", &t1, &user_body("x@acme.test")), 401, None);
    assert_scim_error(&gw.get("/ServiceProviderConfig", &t1), 401, None);
    // The other token is unaffected.
    gw.get("/Users", &t2).expect(200);
    assert!(token_list(&gw, Some("acme")).iter().any(|(id, ..)| *id != t1_id), "t2 still listed");
    // A revoke survives a restart.
    let mut gw = gw;
    gw.restart();
    assert_scim_error(&gw.get("/Users", &t1), 401, None);
    gw.get("/Users", &t2).expect(200);
}

#[test]
fn token_issued_while_serving_is_accepted_on_the_first_request_and_after_restart() {
    let mut gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    gw.get("/Users", &t).expect(200);
    gw.restart();
    gw.get("/Users", &t).expect(200);
    let t2 = gw.token("acme");
    gw.get("/Users", &t2).expect(200);
}

#[test]
fn token_list_shows_id_tenant_created_and_never_the_secret() {
    let gw = Gateway::start(&["acme", "globex"]);
    let ta = gw.token("acme");
    let tb = gw.token("globex");
    let tb2 = gw.token("globex");
    let all = token_list(&gw, None);
    assert_eq!(all.len(), 3, "{all:?}");
    let tenants: Vec<&str> = all.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(tenants.iter().filter(|t| **t == "acme").count(), 1);
    assert_eq!(tenants.iter().filter(|t| **t == "globex").count(), 2);
    let globex = token_list(&gw, Some("globex"));
    assert_eq!(globex.len(), 2);
    assert!(globex.iter().all(|(_, t, _)| t == "globex"));
    let ids: std::collections::HashSet<&String> = all.iter().map(|(id, ..)| id).collect();
    assert_eq!(ids.len(), 3, "token ids must be distinct");

    let out = gw.cli(&["token", "list"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for secret in [&ta, &tb, &tb2] {
        assert!(!text.contains(secret.as_str()), "token list prints a secret");
        assert!(all.iter().all(|(id, ..)| id != secret), "token id equals the secret");
    }
}

#[test]
fn token_issue_for_unknown_tenant_fails_and_prints_no_token() {
    let gw = Gateway::start(&["acme"]);
    let out = gw.cli(&["token", "issue", "--tenant", "initech"]);
    assert!(!out.status.success(), "token issue for an unknown tenant must fail");
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty(), "no token on stdout: {out:?}");
    assert!(token_list(&gw, None).is_empty(), "no token was stored");
}

#[test]
fn tokens_never_appear_in_server_logs_or_provisioning_log_or_store() {
    let mut gw = Gateway::start_with(&["acme", "globex"], "", &[("RUST_LOG", "debug")]);
    let a = gw.token("acme");
    let b = gw.token("globex");
    let c = gw.client();
    // Successful and failing requests of every kind, including malformed
    // Authorization headers that a careless logger would print.
    let uid = id_of(&create_user(&c, &a, "alice@acme.test"));
    c.get(&format!("/Users/{uid}"), &a).expect(200);
    c.get(&format!("/Users/{uid}"), &b).expect(404);
    c.get("/Users?filter=userName eq", &a).expect(400);
    c.send("POST", "/Users", Some(&a), &[], Some(b"{not json".to_vec())).expect(400);
    c.send("GET", "/Users", None, &[("Authorization", &format!("Token {a}"))], None).expect(401);
    c.send("GET", "/Users", None, &[("Authorization", &format!("Bearer {a}x"))], None).expect(401);
    c.send("GET", "/Nope", Some(&b), &[], None).expect(404);
    c.patch(&format!("/Users/{uid}"), &a, &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])))
        .expect(200);
    c.delete(&format!("/Users/{uid}"), &a).expect(204);
    let id = token_list(&gw, Some("globex"))[0].0.clone();
    gw.cli_ok(&["token", "revoke", "--id", &id]);
    eventually("revoked", || (c.get("/Users", &b).status == 401).then_some(()));
    let log = eventually("log records", || {
        let out = gw.cli_ok(&["log", "--tenant", "acme", "--json"]);
        (out.lines().count() >= 5).then_some(out)
    });

    let stderr = gw.stderr();
    assert!(!stderr.is_empty(), "expected some server logs with RUST_LOG=debug");
    // Stop gracefully so that everything reaches the store files.
    let status = gw.sigterm();
    assert!(status.success());
    let stderr = format!("{stderr}{}", gw.stderr());
    for (name, secret) in [("acme", &a), ("globex", &b)] {
        assert!(!stderr.contains(secret.as_str()), "{name}'s token appears in the server's stderr");
        assert!(!log.contains(secret.as_str()), "{name}'s token appears in `scimgate log`");
        assert!(!gw.stdout_lines().iter().any(|l| l.contains(secret.as_str())), "{name}'s token on stdout");
        for entry in walk(gw.data_dir()) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            let hit = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!hit, "{name}'s token is stored in clear text in {}", entry.display());
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn token_of_a_tenant_removed_from_the_config_is_rejected_after_restart() {
    let mut gw = Gateway::start(&["acme", "globex"]);
    let a = gw.token("acme");
    let b = gw.token("globex");
    gw.get("/Users", &b).expect(200);
    let cfg = std::fs::read_to_string(&gw.config).unwrap();
    std::fs::write(&gw.config, cfg.replace("[tenants.globex]", "")).unwrap();
    gw.restart();
    assert_scim_error(&gw.get("/Users", &b), 401, None);
    gw.get("/Users", &a).expect(200);
}
