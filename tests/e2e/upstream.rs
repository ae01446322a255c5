//! A SCIM upstream behind the gateway: the IdP's sequences go through a
//! renaming mapping into a second gateway process (its embedded store is the
//! target), and the upstream's own API is read back after each step. Fault
//! tests put a scripted server in its place.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::{Action, Fake};
use crate::harness::{ADMIN_TOKEN, Gateway, encode_query, eventually};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The target keeps the work email as `userName`, the IdP's login in
/// `nickName` and the department as `title`; the way back restores them.
const RENAMING: &str = r#"
[[tenants.acme.steps]]
kind = "mapping"
[tenants.acme.steps.transform_in]
"userName" = 'emails[type eq "work"].value'
"nickName" = "userName"
"title" = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department'
[tenants.acme.steps.transform_out]
"userName" = "nickName"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" = "title"
"#;

/// The upstream (a plain gateway with tenant `app`) and the gateway in
/// front of it (tenant `acme`, `upstream_extra` under its upstream table,
/// `tenant_extra` after it).
struct Setup {
    upstream: Gateway,
    up_token: String,
    front: Gateway,
    token: String,
}

fn front_for(url: &str, up_token: &str, upstream_extra: &str, tenant_extra: &str) -> (Gateway, String) {
    let toml = format!(
        "[admin]\n[tenants.acme]\nidp = \"entra\"\n[tenants.acme.upstream]\nkind = \"scim\"\nurl = \"{url}\"\n\
         auth = {{ kind = \"bearer\", token = \"${{env:UPSTREAM_TOKEN}}\" }}\n{upstream_extra}\n{tenant_extra}\n"
    );
    let front =
        Gateway::start_config("", &toml, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN), ("UPSTREAM_TOKEN", up_token)]);
    let token = front.token("acme");
    (front, token)
}

fn setup(tenant_extra: &str) -> Setup {
    let upstream = Gateway::start(&["app"]);
    let up_token = upstream.token("app");
    let (front, token) = front_for(&upstream.scim_base(), &up_token, "", tenant_extra);
    Setup { upstream, up_token, front, token }
}

impl Setup {
    /// The upstream's users (or groups) matching `filter`, read from its own API.
    fn upstream_find(&self, endpoint: &str, filter: &str) -> Vec<Value> {
        let path = encode_query(&format!("/{endpoint}?filter={filter}"));
        let list = self.upstream.get(&path, &self.up_token).expect(200).json;
        list["Resources"].as_array().cloned().unwrap_or_default()
    }

    fn upstream_all(&self, endpoint: &str) -> Vec<Value> {
        let list = self.upstream.get(&format!("/{endpoint}?count=1000"), &self.up_token).expect(200).json;
        list["Resources"].as_array().cloned().unwrap_or_default()
    }

    fn upstream_user(&self, work_email: &str) -> Value {
        let found = self.upstream_find("Users", &format!("userName eq \"{work_email}\""));
        assert_eq!(found.len(), 1, "upstream users with userName {work_email}: {found:?}");
        found[0].clone()
    }
}

fn entra_user(user_name: &str, work_email: &str, department: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": format!("ext-{user_name}"),
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": work_email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ann Lee", "familyName": "Lee", "givenName": "Ann"},
        "roles": [],
        ENTERPRISE: {"department": department},
    })
}

#[test]
fn entra_cycle_through_a_renaming_mapping_into_a_scim_upstream() {
    let s = setup(RENAMING);
    let gw = &s.front;
    let t = &s.token;
    // Entra looks the user up first: answered from the shadow.
    let q = gw.get(&encode_query("/Users?filter=userName eq \"ann@contoso.onmicrosoft.com\""), t).expect(200);
    assert_eq!(q.json["totalResults"], 0);
    let created = gw
        .post("/Users", t, &entra_user("ann@contoso.onmicrosoft.com", "ann.lee@contoso.com", "Engineering"))
        .expect(201);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json["userName"], "ann@contoso.onmicrosoft.com", "{}", created.body);

    // The upstream holds the renamed account.
    let account = s.upstream_user("ann.lee@contoso.com");
    assert_eq!(account["nickName"], "ann@contoso.onmicrosoft.com");
    assert_eq!(account["title"], "Engineering");
    assert_eq!(account["name"]["givenName"], "Ann");
    assert_eq!(account["active"], true);
    let account_id = account["id"].as_str().unwrap().to_owned();
    assert_ne!(account_id, id, "the gateway keeps its own SCIM ids");

    // The IdP reads its own names back (through transform-out).
    let got = gw.get(&format!("/Users/{id}"), t).expect(200);
    assert_eq!(got.json["userName"], "ann@contoso.onmicrosoft.com");
    assert_eq!(got.json[ENTERPRISE]["department"], "Engineering");
    assert_eq!(got.json["emails"][0]["value"], "ann.lee@contoso.com");
    let q = gw.get(&encode_query("/Users?filter=userName eq \"ann@contoso.onmicrosoft.com\""), t).expect(200);
    assert_eq!(q.json["totalResults"], 1);
    assert_eq!(q.json["Resources"][0]["id"], id.as_str());

    // Entra's PATCH: a new work email and family name, then a department.
    gw.patch(
        &format!("/Users/{id}"),
        t,
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ann.smith@contoso.com"},
            {"op": "Replace", "path": "name.familyName", "value": "Smith"},
            {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Research"},
        ]}),
    )
    .expect(200);
    let account = s.upstream_user("ann.smith@contoso.com");
    assert_eq!(account["id"], account_id.as_str(), "the same upstream account, updated");
    assert_eq!(account["name"]["familyName"], "Smith");
    assert_eq!(account["title"], "Research");
    assert!(s.upstream_find("Users", "userName eq \"ann.lee@contoso.com\"").is_empty());

    // Disable (Entra sends the string "False" too).
    gw.patch(
        &format!("/Users/{id}"),
        t,
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
    )
    .expect(200);
    assert_eq!(s.upstream_user("ann.smith@contoso.com")["active"], false);

    // A group, then members added and removed in PATCHes: the upstream's
    // group names the upstream's user id.
    let bob = gw.post("/Users", t, &entra_user("bob@contoso.onmicrosoft.com", "bob@contoso.com", "Sales")).expect(201);
    let bob_id = bob.json["id"].as_str().unwrap().to_owned();
    let bob_account = s.upstream_user("bob@contoso.com")["id"].as_str().unwrap().to_owned();
    let group = gw
        .post(
            "/Groups",
            t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "g-1",
                    "displayName": "Engineering", "meta": {"resourceType": "Group"}}),
        )
        .expect(201);
    let gid = group.json["id"].as_str().unwrap().to_owned();
    gw.patch(
        &format!("/Groups/{gid}"),
        t,
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Add", "path": "members", "value": [{"value": id}, {"value": bob_id}]}]}),
    )
    .expect(204);
    let groups = s.upstream_find("Groups", "displayName eq \"Engineering\"");
    assert_eq!(groups.len(), 1);
    let mut members: Vec<&str> =
        groups[0]["members"].as_array().unwrap().iter().filter_map(|m| m["value"].as_str()).collect();
    members.sort();
    let mut want = vec![account_id.as_str(), bob_account.as_str()];
    want.sort();
    assert_eq!(members, want);
    gw.patch(
        &format!("/Groups/{gid}"),
        t,
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Remove", "path": format!("members[value eq \"{id}\"]")}]}),
    )
    .expect(204);
    let groups = s.upstream_find("Groups", "displayName eq \"Engineering\"");
    assert_eq!(groups[0]["members"].as_array().map(Vec::len).unwrap_or(0), 1, "{:?}", groups[0]);
    assert_eq!(groups[0]["members"][0]["value"], bob_account.as_str());

    // Delete: gone upstream and from the shadow.
    gw.delete(&format!("/Users/{id}"), t).expect(204);
    assert!(s.upstream_find("Users", "userName eq \"ann.smith@contoso.com\"").is_empty());
    gw.get(&format!("/Users/{id}"), t).expect(404);
    gw.delete(&format!("/Groups/{gid}"), t).expect(204);
    assert!(s.upstream_find("Groups", "displayName eq \"Engineering\"").is_empty());

    // The provisioning log has every write.
    eventually("three creates in the provisioning log", || {
        let log = gw.admin_get("/admin/tenants/acme/log?operation=create");
        (log["records"].as_array().unwrap().len() == 3).then_some(())
    });
}

#[test]
fn okta_cycle_with_put_deactivate_and_group_push_into_a_scim_upstream() {
    let s = setup(RENAMING);
    let (gw, t) = (&s.front, &s.token);
    let mut user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "carol@example.com",
        "name": {"givenName": "Carol", "familyName": "Diaz"},
        "emails": [{"primary": true, "value": "carol.diaz@example.com", "type": "work"}],
        "displayName": "Carol Diaz",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true,
    });
    let created = gw.post("/Users", t, &user).expect(201);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert!(created.json.get("password").is_none());
    let account = s.upstream_user("carol.diaz@example.com");
    assert!(account.get("password").is_none(), "the password never reaches the upstream");
    assert_eq!(account["nickName"], "carol@example.com");
    // Okta reads by id, then PUTs the whole user.
    gw.get(&format!("/Users/{id}"), t).expect(200);
    user["name"]["familyName"] = json!("Diaz-Ortiz");
    user["id"] = json!(id);
    gw.put(&format!("/Users/{id}"), t, &user).expect(200);
    assert_eq!(s.upstream_user("carol.diaz@example.com")["name"]["familyName"], "Diaz-Ortiz");
    // Deactivation is a PUT with active false.
    user["active"] = json!(false);
    let put = gw.put(&format!("/Users/{id}"), t, &user).expect(200);
    assert_eq!(put.json["active"], false);
    assert_eq!(s.upstream_user("carol.diaz@example.com")["active"], false);
    // Group push: POST with members, then PUT with a new name.
    let group = gw
        .post(
            "/Groups",
            t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2",
                    "members": [{"value": id, "display": "carol@example.com"}]}),
        )
        .expect(201);
    let gid = group.json["id"].as_str().unwrap().to_owned();
    let up_group = &s.upstream_find("Groups", "displayName eq \"Test SCIMv2\"")[0];
    assert_eq!(up_group["members"][0]["value"], account["id"]);
    gw.put(
        &format!("/Groups/{gid}"),
        t,
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": gid, "displayName": "Renamed",
                "members": []}),
    )
    .expect(200);
    let renamed = s.upstream_find("Groups", "displayName eq \"Renamed\"");
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0]["members"].as_array().map(Vec::len).unwrap_or(0), 0);
    assert_eq!(s.upstream_all("Groups").len(), 1);
    assert_eq!(s.upstream_all("Users").len(), 1);
}

/// A fake upstream and the gateway in front of it, with short timeouts and
/// no breaker (fault tests count each failure on its own).
fn faulty(script: impl Fn(&crate::fake::Received, usize) -> Action + Send + Sync + 'static) -> (Fake, Gateway, String) {
    let fake = Fake::start(script);
    let extra = "timeout_ms = 500\nretries = 1\nbreaker = { failures = 0 }\n";
    let (front, token) = front_for(&format!("{}/scim/v2", fake.url()), "up-token", extra, "");
    (fake, front, token)
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": true})
}

/// After a failed create: the IdP got `status`, the log says why, and
/// neither a shadow resource nor a link was left.
#[track_caller]
fn assert_failed_create(
    front: &Gateway,
    token: &str,
    name: &str,
    status: u16,
    detail: &str,
) -> crate::harness::Response {
    let started = Instant::now();
    let resp = front.post("/Users", token, &user(name));
    assert_eq!(resp.status, status, "{}", resp.describe());
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    assert_eq!(resp.json["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{}", resp.body);
    assert!(resp.json["detail"].as_str().unwrap_or_default().contains(detail), "{}", resp.body);
    let q = front.get(&encode_query(&format!("/Users?filter=userName eq \"{name}\"")), token).expect(200);
    assert_eq!(q.json["totalResults"], 0, "no shadow left: {}", q.body);
    assert!(front.target_accounts("acme", "Users").is_empty(), "no link or mirror left");
    let log = eventually("the failure in the provisioning log", || {
        let log = front.admin_get("/admin/tenants/acme/log?operation=create");
        let records = log["records"].as_array().cloned().unwrap_or_default();
        records.into_iter().find(|r| r["status"] == status)
    });
    assert!(log["error"].as_str().unwrap_or_default().contains(detail), "{log}");
    resp
}

#[test]
fn upstream_faults_give_the_idp_the_right_status_and_leave_nothing_behind() {
    // Down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/scim/v2", closed.local_addr().unwrap().port());
    drop(closed);
    let (front, token) = front_for(&url, "up-token", "timeout_ms = 500\nbreaker = { failures = 0 }\n", "");
    assert_failed_create(&front, &token, "down@x.com", 502, "could not be reached");
    drop(front);

    // Slow past the timeout: 504, and a create is not sent twice.
    let (fake, front, token) =
        faulty(|_, _| Action::Stall(Duration::from_secs(2), Box::new(Action::json(201, json!({"id": "late"})))));
    assert_failed_create(&front, &token, "slow@x.com", 504, "did not answer within 500 ms");
    assert_eq!(
        fake.received().iter().filter(|r| r.method == "POST").count(),
        1,
        "POST is never retried after it was sent"
    );
    drop(front);

    // 500 with a SCIM error body.
    let (_fake, front, token) = faulty(|_, _| {
        Action::json(
            500,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "500", "detail": "db down"}),
        )
    });
    assert_failed_create(&front, &token, "err@x.com", 502, "db down");
    drop(front);

    // 429 with Retry-After: passed on.
    let (_fake, front, token) = faulty(|_, _| Action::Respond {
        status: 429,
        headers: vec![("retry-after", "7".into())],
        body:
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "429", "detail": "slow down"})
                .to_string(),
    });
    let resp = assert_failed_create(&front, &token, "busy@x.com", 429, "retry after 7s");
    assert_eq!(resp.header("retry-after"), Some("7"));
    drop(front);

    // Malformed JSON in a 201.
    let (_fake, front, token) =
        faulty(|_, _| Action::Respond { status: 201, headers: vec![], body: "{\"id\": \"x\", oops".into() });
    assert_failed_create(&front, &token, "garbled@x.com", 502, "malformed");
    drop(front);

    // Connection reset in the middle of the body.
    let (_fake, front, token) = faulty(|_, _| Action::ResetMidBody);
    assert_failed_create(&front, &token, "reset@x.com", 502, "could not be reached");
    drop(front);

    // The upstream's own SCIM refusal passes through with its scimType.
    let (_fake, front, token) = faulty(|_, _| {
        Action::json(
            400,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400",
                                 "scimType": "invalidValue", "detail": "title is too long"}),
        )
    });
    let resp = assert_failed_create(&front, &token, "refused@x.com", 400, "title is too long");
    assert_eq!(resp.json["scimType"], "invalidValue");
    drop(front);

    // Credentials refused upstream: the IdP's token is fine, so not a 401.
    let (_fake, front, token) = faulty(|_, _| Action::json(401, json!({"detail": "bad token"})));
    assert_failed_create(&front, &token, "creds@x.com", 502, "credentials");
}

#[test]
fn idempotent_calls_are_retried_and_a_create_whose_answer_was_lost_is_linked_not_duplicated() {
    let upstream = Gateway::start(&["app"]);
    let up_token = upstream.token("app");
    let real = upstream.client().root.clone();
    // The first POST reaches the real upstream but its answer comes too late;
    // the first GET fails with 503 once.
    let failed_a_get = std::sync::atomic::AtomicBool::new(false);
    let fake = Fake::start(move |req, n| {
        let by_id = req.method == "GET" && req.path.contains("/Users/") && !req.path.contains('?');
        if n == 0 {
            Action::Forward { to: real.clone(), delay: Duration::from_secs(2) }
        } else if by_id && !failed_a_get.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Action::Respond { status: 503, headers: vec![("retry-after", "0".into())], body: String::new() }
        } else {
            Action::Forward { to: real.clone(), delay: Duration::ZERO }
        }
    });
    let (front, token) =
        front_for(&format!("{}/scim/v2", fake.url()), &up_token, "timeout_ms = 1000\nbreaker = { failures = 0 }\n", "");
    front.post("/Users", &token, &user("dave@x.com")).expect(504);
    // Entra retries the create: the upstream says 409, the gateway finds the
    // account it made and links it.
    let created = front.post("/Users", &token, &user("dave@x.com")).expect(201);
    let id = created.json["id"].as_str().unwrap();
    let list = upstream.get("/Users", &up_token).expect(200).json;
    assert_eq!(list["totalResults"], 1, "one upstream account: {list}");
    let accounts = front.target_accounts("acme", "Users");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["target_id"], list["Resources"][0]["id"]);
    eventually("the linked create in the provisioning log", || {
        let log = front.admin_get("/admin/tenants/acme/log?operation=create");
        log["records"].as_array().unwrap().iter().any(|r| r["outcome"] == "linked").then_some(())
    });
    // A GET by id that meets a 503 is retried and succeeds.
    front.get(&format!("/Users/{id}"), &token).expect(200);
    let gets = fake
        .received()
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.contains(&format!("/Users/{}", list["Resources"][0]["id"].as_str().unwrap()))
        })
        .count();
    assert!(gets >= 2, "the GET was retried ({gets} sent)");
}

#[test]
fn throttled_upstream_takes_five_writes_a_second_from_an_idp_sending_twenty_five() {
    let upstream = Gateway::start(&["app"]);
    let up_token = upstream.token("app");
    let extra = "throttle = { rate_per_sec = 5, burst = 1, max_wait_secs = 2 }\n";
    let (front, token) = front_for(&upstream.scim_base(), &up_token, extra, "");
    let names: Vec<String> = (0..50).map(|i| format!("user{i:02}@x.com")).collect();
    // 25 creates a second for 2 s, each on its own thread as an IdP's
    // workers would send them.
    let mut pending: Vec<String> = names.clone();
    let mut refused_total = 0;
    let started = Instant::now();
    while !pending.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "still {} pending", pending.len());
        let handles: Vec<_> = pending
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (front, token, name) = (front.client(), token.clone(), name.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(40) * i as u32);
                    let sent = Instant::now();
                    let resp = front.post("/Users", &token, &user(&name));
                    (name, resp, sent.elapsed())
                })
            })
            .collect();
        let mut retry_after = 0u64;
        let mut next = Vec::new();
        for h in handles {
            let (name, resp, took) = h.join().unwrap();
            assert!(took < Duration::from_secs(60), "{name} waited {took:?}");
            match resp.status {
                201 => {}
                429 => {
                    let after: u64 = resp.header("retry-after").expect("Retry-After on 429").parse().unwrap();
                    assert!(after >= 1);
                    retry_after = retry_after.max(after);
                    refused_total += 1;
                    next.push(name);
                }
                other => panic!("{name}: unexpected {other}: {}", resp.describe()),
            }
        }
        pending = next;
        std::thread::sleep(Duration::from_secs(retry_after.min(3)));
    }
    assert!(refused_total > 0, "an IdP at 5x the rate must be told to back off");
    // Every user exactly once upstream.
    let list = upstream.get("/Users?count=200", &up_token).expect(200).json;
    let mut got: Vec<&str> =
        list["Resources"].as_array().unwrap().iter().filter_map(|u| u["userName"].as_str()).collect();
    got.sort();
    assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
    // And never faster than the rate allows (with slack for clock reads).
    let mut created: Vec<String> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["meta"]["created"].as_str().map(str::to_owned))
        .collect();
    created.sort();
    let ms = |s: &str| -> i64 {
        let t = &s[11..23]; // HH:MM:SS.mmm
        let h: i64 = t[0..2].parse().unwrap();
        let m: i64 = t[3..5].parse().unwrap();
        let sec: i64 = t[6..8].parse().unwrap();
        let milli: i64 = t[9..12].parse().unwrap();
        ((h * 60 + m) * 60 + sec) * 1000 + milli
    };
    for w in created.windows(11) {
        let span = ms(&w[10]) - ms(&w[0]);
        assert!(span >= 1_700, "11 creates within {span} ms: faster than 5/s");
    }
}

#[test]
fn the_breaker_opens_on_a_dead_upstream_answers_503_at_once_and_closes_when_it_is_back() {
    let upstream = Gateway::start(&["app"]);
    let up_token = upstream.token("app");
    let real = upstream.client().root.clone();
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = down.clone();
    let fake = Fake::start(move |_, _| {
        if switch.load(std::sync::atomic::Ordering::SeqCst) {
            Action::Close
        } else {
            Action::Forward { to: real.clone(), delay: Duration::ZERO }
        }
    });
    let hook = Fake::start(|_, _| Action::Respond { status: 204, headers: vec![], body: String::new() });
    let extra = "retries = 0\nbreaker = { failures = 3, open_secs = 1 }\n";
    let notify = format!("[tenants.acme.notify]\nwebhook = \"{}/hooks/scim\"\nbatch_secs = 1\n", hook.url());
    let (front, token) = front_for(&format!("{}/scim/v2", fake.url()), &up_token, extra, &notify);
    front.post("/Users", &token, &user("before@x.com")).expect(201);
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    for i in 0..3 {
        front.post("/Users", &token, &user(&format!("fail{i}@x.com"))).expect(502);
    }
    let sent_before = fake.received().len();
    let started = Instant::now();
    let resp = front.post("/Users", &token, &user("quarantined@x.com")).expect(503);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(resp.header("retry-after").is_some(), "{}", resp.describe());
    assert!(resp.json["detail"].as_str().unwrap().contains("quarantined"));
    assert_eq!(fake.received().len(), sent_before, "a quarantined request never reaches the upstream");
    let status = front.admin_get("/admin/tenants");
    assert_eq!(status["tenants"][0]["upstream"]["breaker"]["state"], "open", "{status}");
    let metrics = front.admin().try_raw("GET", "/metrics", None, &[], None).unwrap().body;
    assert!(metrics.contains("scimgate_upstream_quarantined{tenant=\"acme\"} 1"), "{metrics}");
    // Back up: a probe closes the breaker and traffic flows by itself.
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    eventually("the breaker closes", || {
        let status = front.admin_get("/admin/tenants");
        (status["tenants"][0]["upstream"]["breaker"]["state"] == "closed").then_some(())
    });
    front.post("/Users", &token, &user("after@x.com")).expect(201);
    let status = front.admin_get("/admin/tenants");
    let history: Vec<&str> = status["tenants"][0]["upstream"]["breaker"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["state"].as_str())
        .collect();
    assert_eq!(history, ["open", "closed"]);
    // The webhook heard once on entry and once on exit.
    let events = eventually("both quarantine notifications", || {
        let events: Vec<Value> = hook
            .received()
            .iter()
            .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
            .filter(|e| e["event"].as_str().is_some_and(|e| e.starts_with("quarantine")))
            .collect();
        (events.len() >= 2).then_some(events)
    });
    std::thread::sleep(Duration::from_millis(300));
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names, ["quarantine_entered", "quarantine_left"]);
    assert_eq!(events[0]["tenant"], "acme");
    assert!(events[0]["reason"].as_str().unwrap().contains("3 consecutive failures"), "{}", events[0]);
}

#[test]
fn failures_an_admin_must_fix_reach_the_webhook_in_one_batch() {
    let hook = Fake::start(|_, _| Action::Respond { status: 204, headers: vec![], body: String::new() });
    let fake = Fake::start(|_, _| {
        Action::json(
            400,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400",
                                 "scimType": "invalidValue", "detail": "department is required"}),
        )
    });
    let notify = format!("[tenants.acme.notify]\nwebhook = \"{}/hooks/scim\"\nbatch_secs = 1\n", hook.url());
    let (front, token) = front_for(&format!("{}/scim/v2", fake.url()), "up-token", "", &notify);
    for i in 0..25 {
        front.post("/Users", &token, &user(&format!("bad{i}@x.com"))).expect(400);
    }
    // A failure the IdP's retry fixes (a 404) is not an admin's business.
    front.get("/Users/nope", &token).expect(404);
    eventually("a failure batch", || (!hook.received().is_empty()).then_some(()));
    std::thread::sleep(Duration::from_millis(1500));
    let batches: Vec<Value> = hook.received().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let total: u64 = batches.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 25, "{batches:?}");
    assert!(batches.len() <= 2, "batched, not one call per failure: {}", batches.len());
    let first = &batches[0];
    assert_eq!(first["event"], "failures");
    assert_eq!(first["tenant"], "acme");
    assert!(first["samples"].as_array().unwrap().len() <= 10);
    assert!(first["samples"][0]["error"].as_str().unwrap().contains("department is required"));
    assert_eq!(first["see"], "GET /admin/tenants/acme/log?outcome=error");
}

#[test]
fn an_event_hook_reaches_its_granted_webhook_with_the_host_credential_and_nothing_else() {
    let grants = Fake::start(|_, _| Action::Respond { status: 204, headers: vec![], body: String::new() });
    let plugin = plugin_artifacts::REVOKE_ON_DEACTIVATE;
    let tenant = |name: &str, url: &str| {
        format!(
            "[tenants.{name}]\n[tenants.{name}.events]\norigins = [\"{origin}\"]\n\
             auth = {{ kind = \"bearer\", token = \"${{env:GRANTS_TOKEN}}\" }}\n\
             [[tenants.{name}.steps]]\nkind = \"wasm\"\npath = {plugin:?}\nconfig = {{ url = \"{url}\" }}\n",
            origin = grants.url()
        )
    };
    let toml = format!(
        "[admin]\n{}{}",
        tenant("acme", &format!("{}/revoke", grants.url())),
        tenant("evil", "http://example.com/revoke")
    );
    let gw = Gateway::start_config(
        "",
        &toml,
        &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN), ("GRANTS_TOKEN", "grants-secret-0123456789")],
    );
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "path": "active", "value": false}]});
    for name in ["acme", "evil"] {
        let token = gw.token(name);
        let id = gw.post("/Users", &token, &user(&format!("dana@{name}.com"))).expect(201).json["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The write stands whatever the hook does.
        gw.patch(&format!("/Users/{id}"), &token, &deactivate).expect(200);
    }
    eventually("the revoke call", || (!grants.received().is_empty()).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    let calls = grants.received();
    assert_eq!(calls.len(), 1, "only acme's hook reached the grants service: {calls:?}");
    assert_eq!((calls[0].method.as_str(), calls[0].path.as_str()), ("POST", "/revoke"));
    assert_eq!(
        calls[0].header("authorization"),
        Some("Bearer grants-secret-0123456789"),
        "the host adds the credential"
    );
    let body: Value = serde_json::from_str(&calls[0].body).unwrap();
    assert_eq!((body["user"].as_str(), body["event"].as_str()), (Some("dana@acme.com"), Some("deactivated")));
    // evil's hook, aimed elsewhere, was stopped by the host; the log says why.
    let record = eventually("evil's failed event in the log", || {
        let log = gw.admin_get("/admin/tenants/evil/log?operation=patch");
        log["records"].as_array().and_then(|r| r.first().cloned())
    });
    let detail = record["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("denied") && detail.contains("example.com"), "{record}");
}

#[test]
fn oauth2_client_credentials_fetch_one_token_and_renew_it_when_refused() {
    let upstream = Gateway::start(&["app"]);
    let up_token = upstream.token("app");
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = issued.clone();
    let token_for_fake = up_token.clone();
    let token_server = Fake::start(move |req, _| {
        let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // The first token handed out is already revoked upstream: the gateway
        // must fetch another when the upstream answers 401.
        let token = if n == 0 { "sgt_0000000000000000_revoked".to_owned() } else { token_for_fake.clone() };
        let expected = format!("Basic {}", "c2NpbWdhdGU6czNjcjN0"); // scimgate:s3cr3t
        if req.header("authorization") != Some(expected.as_str()) || !req.body.contains("grant_type=client_credentials")
        {
            return Action::json(401, json!({"error": "invalid_client"}));
        }
        Action::json(200, json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
    });
    let toml = format!(
        "[admin]\n[tenants.acme]\n[tenants.acme.upstream]\nkind = \"scim\"\nurl = \"{}\"\n\
         auth = {{ kind = \"oauth2\", token_url = \"{}/oauth/token\", client_id = \"scimgate\", \
         client_secret = \"${{env:CLIENT_SECRET}}\", scope = \"scim\" }}\n",
        upstream.scim_base(),
        token_server.url()
    );
    let front = Gateway::start_config("", &toml, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN), ("CLIENT_SECRET", "s3cr3t")]);
    let token = front.token("acme");
    for i in 0..5 {
        front.post("/Users", &token, &user(&format!("oauth{i}@x.com"))).expect(201);
    }
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 2, "one refused token, one renewal, then cached");
    let form = &token_server.received()[0].body;
    assert!(form.contains("scope=scim"), "{form}");
    assert_eq!(upstream.get("/Users", &up_token).expect(200).json["totalResults"], 5);
    assert!(!front.stderr().contains("s3cr3t") && !front.stderr().contains(&up_token), "no secret in the log");
}

/// Sixteen PATCHes of one user race; each brings it into scope and adds a
/// phone number of its own. The upstream records every request: the user
/// is created there once, every PATCH's number is in the final document,
/// and no IdP request hears a 409 caused by the gateway's own create.
#[test]
fn concurrent_patches_of_a_user_entering_scope_create_it_upstream_once_and_keep_every_change() {
    const PATCHES: usize = 16;
    let upstream = Gateway::start(&["app"]);
    let up_token = upstream.token("app");
    let to = upstream.client().root.clone();
    let recorder = Fake::start(move |_, _| Action::Forward { to: to.clone(), delay: Duration::from_millis(5) });
    let scoped = "[[tenants.acme.steps]]\nkind = \"mapping\"\nscope = 'userType eq \"Employee\"'\n\
                  [tenants.acme.policy]\non_match = \"conflict\"\n";
    let (front, token) = front_for(&format!("{}/scim/v2", recorder.url()), &up_token, "", scoped);

    let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "racer",
                     "externalId": "ext-racer", "userType": "Contractor"});
    let id = front.post("/Users", &token, &doc).expect(201).json["id"].as_str().unwrap().to_owned();
    assert!(recorder.received().is_empty(), "out of scope: nothing goes upstream");

    let barrier = std::sync::Arc::new(std::sync::Barrier::new(PATCHES));
    let racers: Vec<_> = (0..PATCHES)
        .map(|i| {
            let (client, token, id, barrier) = (front.client(), token.clone(), id.clone(), barrier.clone());
            std::thread::spawn(move || {
                let body = crate::scim::patch_ops(json!([
                    {"op": "replace", "path": "userType", "value": "Employee"},
                    {"op": "add", "path": "phoneNumbers", "value": [{"value": format!("+1-555-01{i:02}"), "type": "work"}]},
                ]));
                barrier.wait();
                client.patch(&format!("/Users/{id}"), &token, &body)
            })
        })
        .collect();
    for racer in racers {
        let resp = racer.join().expect("racing thread");
        assert_eq!(resp.status, 200, "every PATCH succeeds: {}", resp.describe());
    }

    let received = recorder.received();
    let creates = received.iter().filter(|r| r.method == "POST").count();
    assert_eq!(creates, 1, "one create upstream: {:?}", received.iter().map(|r| &r.method).collect::<Vec<_>>());
    let users = upstream.get("/Users?filter=userName eq \"racer\"", &up_token).expect(200).json;
    let users = users["Resources"].as_array().cloned().unwrap_or_default();
    assert_eq!(users.len(), 1, "{users:?}");
    let phones: Vec<&str> = users[0]["phoneNumbers"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["value"].as_str()).collect())
        .unwrap_or_default();
    for i in 0..PATCHES {
        let want = format!("+1-555-01{i:02}");
        assert!(phones.contains(&want.as_str()), "{want} missing upstream: {phones:?}");
    }
}
