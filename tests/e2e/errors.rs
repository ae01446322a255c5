//! Error responses (RFC 7644 §3.12) and the HTTP edge cases of the contract.

use serde_json::json;

use crate::harness::*;
use crate::scim::*;

fn setup() -> (Gateway, String) {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    (gw, t)
}

#[track_caller]
fn assert_401(r: &Response) {
    assert_scim_error(r, 401, None);
    let h = r.header("www-authenticate").unwrap_or_else(|| panic!("401 without WWW-Authenticate: {}", r.describe()));
    assert!(h.starts_with("Bearer"), "WWW-Authenticate must name the Bearer scheme: {}", r.describe());
}

const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/Users"),
    ("GET", "/Users/2819c223-7f76-453a-919d-413861904646"),
    ("POST", "/Users"),
    ("PUT", "/Users/2819c223-7f76-453a-919d-413861904646"),
    ("PATCH", "/Users/2819c223-7f76-453a-919d-413861904646"),
    ("DELETE", "/Users/2819c223-7f76-453a-919d-413861904646"),
    ("POST", "/Users/.search"),
    ("GET", "/Groups"),
    ("GET", "/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"),
    ("POST", "/Groups"),
    ("PATCH", "/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"),
    ("DELETE", "/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"),
    ("POST", "/.search"),
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/Schemas"),
    ("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"),
    ("GET", "/ResourceTypes"),
    ("GET", "/ResourceTypes/User"),
];

fn body_for(method: &str) -> Option<Vec<u8>> {
    (method != "GET" && method != "DELETE").then(|| serde_json::to_vec(&user_body("nobody@example.com")).unwrap())
}

#[test]
fn missing_token_gets_401_with_www_authenticate_bearer_on_every_endpoint() {
    let (gw, _t) = setup();
    for (m, p) in ENDPOINTS {
        let r = gw.send(m, p, None, &[], body_for(m));
        assert_401(&r);
    }
    // Nothing was created by the unauthenticated POSTs.
    let t = gw.token("acme");
    assert!(list_resources(&gw.get("/Users", &t)).is_empty());
}

#[test]
fn unknown_or_malformed_tokens_get_401() {
    let (gw, t) = setup();
    let bad = [
        format!("Bearer {t}x"),
        format!("Bearer {}", &t[..t.len() - 1]),
        "Bearer ".to_string(),
        "Bearer".to_string(),
        "Bearer not-a-token".to_string(),
        format!("Basic {t}"),
        t.clone(),
        format!("Bearer  {t} trailing"),
    ];
    for auth in &bad {
        for (m, p) in [("GET", "/Users"), ("POST", "/Users"), ("GET", "/Schemas")] {
            let r = gw.send(m, p, None, &[("Authorization", auth)], body_for(m));
            assert_401(&r);
        }
    }
    // The scheme name is case-insensitive (RFC 7235 §2.1).
    gw.send("GET", "/Users", None, &[("Authorization", &format!("bearer {t}"))], None).expect(200);
}

#[test]
fn unknown_ids_get_404_scim_error_for_every_method() {
    let (gw, t) = setup();
    for kind in ["Users", "Groups"] {
        let p = format!("/{kind}/does-not-exist");
        assert_scim_error(&gw.get(&p, &t), 404, None);
        let body = if kind == "Users" {
            user_body("x@example.com")
        } else {
            json!({"schemas": [GROUP_SCHEMA], "displayName": "x"})
        };
        assert_scim_error(&gw.put(&p, &t, &body), 404, None);
        let patch = patch_ops(json!([{"op": "replace", "path": "displayName", "value": "y"}]));
        assert_scim_error(&gw.patch(&p, &t, &patch), 404, None);
        assert_scim_error(&gw.delete(&p, &t), 404, None);
    }
    assert_scim_error(&gw.get("/Schemas/urn:example:no-such-schema", &t), 404, None);
    assert_scim_error(&gw.get("/ResourceTypes/Widget", &t), 404, None);
}

#[test]
fn unknown_endpoint_gets_404_scim_error() {
    let (gw, t) = setup();
    for p in ["/Widgets", "/Users/a/b", "/Me/nothing", "/Bulkk"] {
        assert_scim_error(&gw.get(p, &t), 404, None);
    }
}

/// All the integers in `s` (to find a position in an error detail).
fn numbers(s: &str) -> Vec<usize> {
    s.split(|c: char| !c.is_ascii_digit()).filter(|x| !x.is_empty()).filter_map(|x| x.parse().ok()).collect()
}

#[test]
fn invalid_filter_gets_400_invalid_filter_with_position_in_detail() {
    let (gw, t) = setup();
    // (filter, 0-based byte offsets a parser may reasonably blame; the detail
    // may count from 0 or from 1)
    let cases: [(&str, &[usize]); 4] = [
        ("userName qq \"x\"", &[9]),
        ("userName eq \"x\" and", &[16, 19]),
        ("userName eq \"x\" )", &[16]),
        ("(userName eq \"x\"", &[0, 16]),
    ];
    for (filter, positions) in cases {
        let r = gw.get(&format!("/Users?filter={filter}"), &t);
        assert_scim_error(&r, 400, Some("invalidFilter"));
        let detail = r.json["detail"].as_str().unwrap_or_default();
        let nums = numbers(detail);
        assert!(
            nums.iter().any(|n| positions.iter().any(|p| *n == *p || *n == p + 1)),
            "detail should name the position (one of {positions:?}, 0- or 1-based) of the error in {filter:?}: {detail:?}"
        );
    }
    for filter in [
        "userName eq",
        "userName eq \"unterminated",
        "eq \"x\"",
        "userName eq \"x\" and or userName eq \"y\"",
        "emails[type eq \"work\" ",
        "userName",
    ] {
        let r = gw.get(&format!("/Users?filter={filter}"), &t);
        assert_eq!(r.status, 400, "filter {filter:?}: {}", r.describe());
        assert_scim_error(&r, 400, Some("invalidFilter"));
    }
    let r = gw.post("/Users/.search", &t, &json!({"schemas": [SEARCH_SCHEMA], "filter": "userName xx \"x\""}));
    assert_scim_error(&r, 400, Some("invalidFilter"));
    let r = gw.get("/Groups?filter=displayName eq", &t);
    assert_scim_error(&r, 400, Some("invalidFilter"));
}

#[test]
fn malformed_json_gets_400_invalid_syntax() {
    let (gw, t) = setup();
    let uid = id_of(&create_user(&gw.client(), &t, "json@example.com"));
    let gid = id_of(&create_group(&gw.client(), &t, "Json", &[]));
    for (m, p) in [
        ("POST", "/Users".to_string()),
        ("POST", "/Groups".to_string()),
        ("PUT", format!("/Users/{uid}")),
        ("PATCH", format!("/Users/{uid}")),
        ("PATCH", format!("/Groups/{gid}")),
        ("POST", "/Users/.search".to_string()),
    ] {
        for body in ["{\"userName\": ", "{not json}", "\u{0}", "{\"schemas\": [\"a\"],}"] {
            let r = gw.send(m, &p, Some(&t), &[], Some(body.as_bytes().to_vec()));
            assert_scim_error(&r, 400, Some("invalidSyntax"));
        }
    }
    // JSON, but not an object where one is required.
    for body in ["[]", "42", "\"user\"", "null"] {
        let r = gw.send("POST", "/Users", Some(&t), &[], Some(body.as_bytes().to_vec()));
        assert_scim_error(&r, 400, None);
    }
    // A PatchOp without Operations.
    let r = gw.patch(&format!("/Users/{uid}"), &t, &json!({"schemas": [PATCH_SCHEMA]}));
    assert_scim_error(&r, 400, None);
    // Nothing was created.
    assert_eq!(list_resources(&gw.get("/Users", &t)).len(), 1);
}

#[test]
fn post_user_without_username_gets_400_invalid_value() {
    let (gw, t) = setup();
    let r = gw.post("/Users", &t, &json!({"schemas": [USER_SCHEMA], "name": {"givenName": "No"}}));
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = gw.post("/Users", &t, &json!({"schemas": [USER_SCHEMA], "userName": ""}));
    assert_scim_error(&r, 400, None);
    let r = gw.post("/Groups", &t, &json!({"schemas": [GROUP_SCHEMA]}));
    assert_scim_error(&r, 400, None);
}

#[test]
fn body_over_the_default_limit_gets_413_with_scim_error() {
    let (gw, t) = setup();
    let mut body = user_body("big@example.com");
    body["nickName"] = json!("x".repeat(2 << 20));
    let bytes = serde_json::to_vec(&body).unwrap();
    assert!(bytes.len() > 2 << 20);
    let c = gw.client();
    let r = c
        .try_raw("POST", "/scim/v2/Users", Some(&t), &[], Some(bytes))
        .unwrap_or_else(|e| panic!("2 MiB body: the gateway must answer 413, not drop the connection: {e}"));
    assert_scim_error(&r, 413, None);
    // The connection the 413 came on is either still usable or was announced
    // as closing (`Connection: close`); a client's next request on it works.
    let next = c.try_raw("GET", "/scim/v2/Users?filter=userName eq \"big@example.com\"", Some(&t), &[], None);
    let next = next.unwrap_or_else(|e| {
        panic!("request after the 413 failed ({e}): the 413 response kept the connection open ({:?}) but the server dropped it", r.headers)
    });
    // Nothing was created and the gateway is fine.
    assert!(list_resources(&next).is_empty());
    create_user(&gw.client(), &t, "small@example.com");
}

#[test]
fn max_body_bytes_from_config_is_enforced() {
    let gw = Gateway::start_with(&["acme"], "max_body_bytes = 2048", &[]);
    let t = gw.token("acme");
    let mut body = user_body("medium@example.com");
    body["nickName"] = json!("x".repeat(4096));
    let r = gw.post("/Users", &t, &body);
    assert_scim_error(&r, 413, None);
    // A body under the limit is fine.
    body["nickName"] = json!("x".repeat(100));
    gw.post("/Users", &t, &body).expect(201);
    // Chunked bodies (no Content-Length) are limited too.
    let big = serde_json::to_vec(
        &json!({"schemas": [USER_SCHEMA], "userName": "chunky@example.com", "nickName": "y".repeat(8192)}),
    )
    .unwrap();
    let url = format!("{}/Users", gw.scim_base());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent
        .post(&url)
        .header("Authorization", format!("Bearer {t}"))
        .header("Content-Type", "application/scim+json")
        .send(ureq::SendBody::from_owned_reader(std::io::Cursor::new(big)))
        .expect("chunked POST is answered");
    assert_eq!(resp.status().as_u16(), 413, "chunked body over the limit: {:?}", resp.body_mut().read_to_string());
}

#[test]
fn uniqueness_conflicts_get_409_for_post_put_and_patch() {
    let (gw, t) = setup();
    let c = gw.client();
    let mut first = user_body("Taken@Example.com");
    first["externalId"] = json!("ext-taken");
    c.post("/Users", &t, &first).expect(201);
    let other = id_of(&create_user(&c, &t, "other@example.com"));
    for name in ["Taken@Example.com", "taken@example.com", "TAKEN@EXAMPLE.COM"] {
        assert_scim_error(&c.post("/Users", &t, &user_body(name)), 409, Some("uniqueness"));
    }
    let mut dup_ext = user_body("fresh@example.com");
    dup_ext["externalId"] = json!("ext-taken");
    assert_scim_error(&c.post("/Users", &t, &dup_ext), 409, Some("uniqueness"));
    assert_scim_error(&c.put(&format!("/Users/{other}"), &t, &user_body("taken@example.com")), 409, Some("uniqueness"));
    let r = c.patch(
        &format!("/Users/{other}"),
        &t,
        &patch_ops(json!([{"op": "replace", "path": "userName", "value": "TAKEN@example.com"}])),
    );
    assert_scim_error(&r, 409, Some("uniqueness"));
    let r = c.patch(
        &format!("/Users/{other}"),
        &t,
        &patch_ops(json!([{"op": "replace", "path": "externalId", "value": "ext-taken"}])),
    );
    assert_scim_error(&r, 409, Some("uniqueness"));
    // The loser is unchanged; renaming a user to its own name in another case is fine.
    assert_eq!(c.get(&format!("/Users/{other}"), &t).expect(200).json["userName"], json!("other@example.com"));
    let r = c.patch(
        &format!("/Users/{other}"),
        &t,
        &patch_ops(json!([{"op": "replace", "path": "userName", "value": "OTHER@example.com"}])),
    );
    assert_eq!(r.expect(200).json["userName"], json!("OTHER@example.com"));

    create_group(&c, &t, "Admins", &[]);
    let g2 = id_of(&create_group(&c, &t, "Users", &[]));
    assert_scim_error(
        &c.post("/Groups", &t, &json!({"schemas": [GROUP_SCHEMA], "displayName": "ADMINS"})),
        409,
        Some("uniqueness"),
    );
    let r = c.patch(
        &format!("/Groups/{g2}"),
        &t,
        &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "admins"}])),
    );
    assert_scim_error(&r, 409, Some("uniqueness"));
    let r = c.put(&format!("/Groups/{g2}"), &t, &json!({"schemas": [GROUP_SCHEMA], "displayName": "Admins"}));
    assert_scim_error(&r, 409, Some("uniqueness"));
}

#[test]
fn stale_if_match_on_put_gets_412_and_current_etag_succeeds() {
    let (gw, t) = setup();
    let created = create_user(&gw.client(), &t, "etag@example.com");
    let id = id_of(&created);
    let v1 = created["meta"]["version"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    let mut body = user_body("etag@example.com");
    body["displayName"] = json!("v2");
    let body_bytes = serde_json::to_vec(&body).unwrap();
    let r = gw.send("PUT", &path, Some(&t), &[("If-Match", &v1)], Some(body_bytes.clone())).expect(200);
    let v2 = r.json["meta"]["version"].as_str().unwrap().to_string();
    assert_ne!(v1, v2, "version must change");
    if let Some(etag) = r.header("etag") {
        assert_eq!(etag, v2, "ETag header = meta.version");
    }
    // v1 is stale now.
    body["displayName"] = json!("v3");
    let r = gw.send("PUT", &path, Some(&t), &[("If-Match", &v1)], Some(serde_json::to_vec(&body).unwrap()));
    assert_scim_error(&r, 412, None);
    assert_eq!(gw.get(&path, &t).expect(200).json["displayName"], json!("v2"), "412 must not apply the change");
    // GET returns the current ETag.
    let g = gw.get(&path, &t).expect(200);
    assert_eq!(g.header("etag"), Some(v2.as_str()), "GET ETag header: {}", g.describe());
    // `*` matches any version.
    gw.send("PUT", &path, Some(&t), &[("If-Match", "*")], Some(body_bytes)).expect(200);
}

#[test]
fn stale_if_match_on_patch_and_delete_gets_412() {
    let (gw, t) = setup();
    let created = create_user(&gw.client(), &t, "etag@example.com");
    let id = id_of(&created);
    let v1 = created["meta"]["version"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    let patch =
        serde_json::to_vec(&patch_ops(json!([{"op": "replace", "path": "displayName", "value": "p"}]))).unwrap();
    gw.send("PATCH", &path, Some(&t), &[("If-Match", &v1)], Some(patch.clone())).expect(200);
    let r = gw.send("PATCH", &path, Some(&t), &[("If-Match", &v1)], Some(patch));
    assert_scim_error(&r, 412, None);
    let r = gw.send("DELETE", &path, Some(&t), &[("If-Match", &v1)], None);
    assert_scim_error(&r, 412, None);
    gw.get(&path, &t).expect(200);
    let v = gw.get(&path, &t).json["meta"]["version"].as_str().unwrap().to_string();
    gw.send("DELETE", &path, Some(&t), &[("If-Match", &v)], None).expect(204);
}

#[test]
fn wrong_method_gets_405_with_scim_error() {
    let (gw, t) = setup();
    let uid = id_of(&create_user(&gw.client(), &t, "method@example.com"));
    for (m, p) in [
        ("DELETE", "/Users".to_string()),
        ("PUT", "/Users".to_string()),
        ("PATCH", "/Groups".to_string()),
        ("POST", format!("/Users/{uid}")),
        ("GET", "/Users/.search".to_string()),
        ("DELETE", "/ServiceProviderConfig".to_string()),
        ("POST", "/Schemas".to_string()),
        ("PUT", "/ResourceTypes/User".to_string()),
    ] {
        let r = gw.send(m, &p, Some(&t), &[], body_for(m));
        assert_scim_error(&r, 405, None);
        let allow =
            r.header("allow").unwrap_or_else(|| panic!("405 must carry an Allow header (RFC 9110 §15.5.6): {m} {p}"));
        let allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
        assert!(
            !allowed.contains(&m),
            "Allow must list the methods the target supports, not the refused one: {m} {p} -> Allow: {allow}"
        );
    }
    gw.get(&format!("/Users/{uid}"), &t).expect(200);
}

#[test]
fn patch_with_bad_path_gets_400_invalid_path() {
    let (gw, t) = setup();
    let uid = id_of(&create_user(&gw.client(), &t, "patch@example.com"));
    let p = format!("/Users/{uid}");
    for path in
        ["emails[type eq \"work\"", "name..givenName", "emails[type eq]", "]", "emails[type eq \"work\"].", "urn:"]
    {
        let r = gw.patch(&p, &t, &patch_ops(json!([{"op": "replace", "path": path, "value": "x"}])));
        assert_scim_error(&r, 400, Some("invalidPath"));
    }
}

#[test]
fn patch_remove_without_path_gets_400_no_target() {
    let (gw, t) = setup();
    let uid = id_of(&create_user(&gw.client(), &t, "patch@example.com"));
    let r = gw.patch(&format!("/Users/{uid}"), &t, &patch_ops(json!([{"op": "remove"}])));
    assert_scim_error(&r, 400, Some("noTarget"));
    let gid = id_of(&create_group(&gw.client(), &t, "G", &[&uid]));
    let r = gw.patch(&format!("/Groups/{gid}"), &t, &patch_ops(json!([{"op": "Remove"}])));
    assert_scim_error(&r, 400, Some("noTarget"));
    assert_eq!(member_ids(&gw.get(&format!("/Groups/{gid}"), &t).expect(200).json), vec![uid]);
}

#[test]
fn patch_replace_readonly_id_gets_400_mutability() {
    let (gw, t) = setup();
    let uid = id_of(&create_user(&gw.client(), &t, "patch@example.com"));
    let r =
        gw.patch(&format!("/Users/{uid}"), &t, &patch_ops(json!([{"op": "replace", "path": "id", "value": "new-id"}])));
    assert_scim_error(&r, 400, Some("mutability"));
    let r = gw.patch(
        &format!("/Users/{uid}"),
        &t,
        &patch_ops(json!([{"op": "replace", "path": "meta.created", "value": "2000-01-01T00:00:00Z"}])),
    );
    assert_scim_error(&r, 400, Some("mutability"));
    gw.get(&format!("/Users/{uid}"), &t).expect(200);
    assert_scim_error(&gw.get("/Users/new-id", &t), 404, None);
}

#[test]
fn patch_atomic_when_a_later_operation_fails() {
    let (gw, t) = setup();
    let created = create_user(&gw.client(), &t, "atomic@example.com");
    let uid = id_of(&created);
    let r = gw.patch(
        &format!("/Users/{uid}"),
        &t,
        &patch_ops(json!([
            {"op": "replace", "path": "displayName", "value": "changed"},
            {"op": "replace", "path": "id", "value": "nope"}
        ])),
    );
    assert_scim_error(&r, 400, Some("mutability"));
    let now = gw.get(&format!("/Users/{uid}"), &t).expect(200).json;
    assert!(now.get("displayName").is_none(), "RFC 7644 §3.5.2: a failed PATCH must not be partly applied: {now}");
    assert_eq!(now["meta"]["version"], created["meta"]["version"]);
}

#[test]
fn patch_unknown_op_and_invalid_members_get_400() {
    let (gw, t) = setup();
    let uid = id_of(&create_user(&gw.client(), &t, "patch@example.com"));
    let r = gw.patch(
        &format!("/Users/{uid}"),
        &t,
        &patch_ops(json!([{"op": "frobnicate", "path": "displayName", "value": "x"}])),
    );
    assert_scim_error(&r, 400, None);
    let gid = id_of(&create_group(&gw.client(), &t, "G", &[]));
    let r = gw.patch(
        &format!("/Groups/{gid}"),
        &t,
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}])),
    );
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = gw.post(
        "/Groups",
        &t,
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "H", "members": [{"value": "no-such-user"}]}),
    );
    assert_scim_error(&r, 400, Some("invalidValue"));
    // A string where a boolean is required (not one of the accepted "True"/"False").
    let r = gw.patch(
        &format!("/Users/{uid}"),
        &t,
        &patch_ops(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
    );
    assert_scim_error(&r, 400, Some("invalidValue"));
}

#[test]
fn deeply_nested_filter_is_rejected_without_crashing_the_gateway() {
    let (mut gw, t) = setup();
    create_user(&gw.client(), &t, "deep@example.com");
    // In the query string (well under hyper's header limits) ...
    let depth = 5_000;
    let filter = format!("{}userName eq \"x\"{}", "(".repeat(depth), ")".repeat(depth));
    let r = gw.client().try_raw("GET", &format!("/scim/v2/Users?filter={filter}"), Some(&t), &[], None);
    match r {
        Ok(r) => assert!(r.status == 200 || r.status == 400, "nested filter: {}", r.describe()),
        Err(e) => panic!("the gateway dropped the connection on a nested filter: {e}\n{}", gw.stderr()),
    }
    // ... and in a .search body (1 MiB allows far deeper nesting).
    let depth = 150_000;
    let filter = format!("{}userName eq \"x\"", "not (".repeat(depth)) + ")".repeat(depth).as_str();
    let body = serde_json::to_vec(&json!({"schemas": [SEARCH_SCHEMA], "filter": filter})).unwrap();
    let r = gw.client().try_raw("POST", "/scim/v2/Users/.search", Some(&t), &[], Some(body));
    match r {
        Ok(r) => assert!(r.status == 200 || r.status == 400, "nested .search filter: {}", r.describe()),
        Err(e) => panic!("the gateway dropped the connection on a nested .search filter: {e}\n{}", gw.stderr()),
    }
    // Deep PATCH path filters too.
    let uid = id_of(&create_user(&gw.client(), &t, "deep2@example.com"));
    let path = format!("emails[{}type eq \"work\"{}].value", "(".repeat(100_000), ")".repeat(100_000));
    let body =
        serde_json::to_vec(&patch_ops(json!([{"op": "replace", "path": path, "value": "x@example.com"}]))).unwrap();
    let r = gw.client().try_raw("PATCH", &format!("/scim/v2/Users/{uid}"), Some(&t), &[], Some(body));
    match r {
        Ok(r) => assert!(r.status == 200 || r.status == 400, "nested PATCH path: {}", r.describe()),
        Err(e) => panic!("the gateway dropped the connection on a nested PATCH path: {e}\n{}", gw.stderr()),
    }
    assert!(gw.is_running(), "the gateway died:\n{}", gw.stderr());
    gw.get("/Users", &t).expect(200);
}

/// Send `head` (request line and headers, ending in a blank line), then,
/// after the server has had time to answer without it, `body`; then read one
/// response. The connection stays open for the next request.
fn send_with_late_body(stream: &mut std::net::TcpStream, head: &str, body: &[u8]) -> String {
    use std::io::Write;
    stream.write_all(head.as_bytes()).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    stream.write_all(body).unwrap();
    read_one_response(stream)
}

/// One HTTP/1.1 response with a `Content-Length` body, as text.
fn read_one_response(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            other => panic!("the connection ended in a response's head ({other:?}): {}", String::from_utf8_lossy(&got)),
        }
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head + String::from_utf8_lossy(&body).as_ref()
}

#[test]
fn a_refused_request_whose_body_came_late_leaves_its_connection_usable() {
    // An IdP's client keeps connections alive and sends a body after its
    // headers. A request refused before its body was read (401, 404, 405)
    // must not cost the next request on the same connection.
    let gw = Gateway::start_tenants("[tenants.acme]\n");
    let token = gw.token("acme");
    let port = gw.client().root.rsplit(':').next().unwrap().to_owned();
    let body = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"late@example.com"}"#;
    let mut scim = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    for (method, path, auth) in [
        ("POST", "/scim/v2/Users", "Bearer wrong".to_owned()),
        ("POST", "/scim/v2/Nowhere", format!("Bearer {token}")),
        ("TRACE", "/scim/v2/Users", format!("Bearer {token}")),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let refused = send_with_late_body(&mut scim, &head, body);
        assert!(!refused.starts_with("HTTP/1.1 2"), "{method} {path} was refused: {refused}");
        assert!(!refused.to_ascii_lowercase().contains("connection: close"), "{refused}");
        let next = format!("GET /scim/v2/Users?count=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
        std::io::Write::write_all(&mut scim, next.as_bytes()).unwrap();
        let answer = read_one_response(&mut scim);
        assert!(answer.starts_with("HTTP/1.1 200"), "after {method} {path}: {answer}");
    }

    // The admin API reads every body too: a reload (whose `{}` it ignores)
    // then a status check on the same connection.
    let admin_port = gw.admin().root.rsplit(':').next().unwrap().to_owned();
    let mut admin = std::net::TcpStream::connect(format!("127.0.0.1:{admin_port}")).unwrap();
    let head = format!(
        "POST /admin/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    );
    let reloaded = send_with_late_body(&mut admin, &head, b"{}");
    assert!(reloaded.starts_with("HTTP/1.1 200"), "{reloaded}");
    let next = format!("GET /admin/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n");
    std::io::Write::write_all(&mut admin, next.as_bytes()).unwrap();
    let answer = read_one_response(&mut admin);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("acme"), "{answer}");
}
