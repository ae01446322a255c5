//! The web console on the admin listener (`/console`), over plain HTTP as a
//! browser would use it: the sign-in and its cookie, CSRF and origin checks,
//! a token shown once, the log explorer and a record's trace, the playground,
//! a refused reload, and HTML escaping.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Client, Gateway, Response, eventually};

/// `acme`: Entra, with the work-email Rhai step (a user without a work email
/// is rejected by it); `plain`: no steps.
fn gateway() -> Gateway {
    let work_email = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rhai/work-email.rhai");
    let toml = format!(
        "[tenants.acme]\nidp = \"entra\"\n[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\n\n[tenants.plain]\n",
        work_email.display().to_string()
    );
    Gateway::start_tenants(&toml)
}

/// Form fields or headers.
type Pairs<'a> = [(&'a str, &'a str)];

/// A signed-in browser: its session cookie and the session's CSRF token.
struct Browser {
    admin: Client,
    cookie: String,
    csrf: String,
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

fn post_form(admin: &Client, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    admin.try_raw("POST", path, None, &all, Some(form(fields))).expect("console request")
}

/// The `Set-Cookie` of a sign-in, checked for its attributes.
fn session_cookie(resp: &Response) -> String {
    let set = resp.header("set-cookie").unwrap_or_else(|| panic!("no cookie: {}", resp.describe()));
    let attributes: Vec<String> = set.split(';').map(|a| a.trim().to_ascii_lowercase()).collect();
    for want in ["httponly", "samesite=strict", "secure", "path=/console"] {
        assert!(attributes.iter().any(|a| a == want), "{want} missing from {set}");
    }
    let pair = set.split(';').next().unwrap().trim().to_owned();
    assert!(pair.starts_with("scimgate_console=") && pair.len() > "scimgate_console=".len() + 40, "{set}");
    pair
}

/// The value of the first `name="csrf"` field on a page.
fn csrf_of(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no CSRF field in {page}"));
    let rest = &page[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl Browser {
    fn sign_in(gw: &Gateway) -> Browser {
        let admin = gw.admin();
        let resp = post_form(&admin, "/console/login", &[("token", ADMIN_TOKEN)], &[]);
        assert_eq!(resp.status, 303, "{}", resp.describe());
        assert_eq!(resp.header("location"), Some("/console"));
        let cookie = session_cookie(&resp);
        let mut browser = Browser { admin, cookie, csrf: String::new() };
        let home = browser.get("/console").expect(200);
        browser.csrf = csrf_of(&home.body);
        browser
    }

    fn get(&self, path: &str) -> Response {
        self.admin.try_raw("GET", path, None, &[("Cookie", &self.cookie)], None).expect("console request")
    }

    /// A form post from the console's own pages (the CSRF token included).
    fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_with(path, &all, &[])
    }

    fn post_with(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
        let mut all = vec![("Cookie", self.cookie.as_str())];
        all.extend_from_slice(headers);
        post_form(&self.admin, path, fields, &all)
    }
}

/// A streamed response, read as it comes.
struct Stream {
    conn: std::io::BufReader<std::net::TcpStream>,
    seen: String,
}

impl Stream {
    /// What arrived until `want` did (10 s at most).
    fn read_until(&mut self, want: &str) -> String {
        use std::io::BufRead;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.seen.contains(want) {
            assert!(std::time::Instant::now() < deadline, "{want} never came: {}", self.seen);
            let mut line = String::new();
            match self.conn.read_line(&mut line) {
                Ok(0) => panic!("the stream ended before {want}: {}", self.seen),
                Ok(_) => self.seen.push_str(&line),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    self.seen.push_str(&line)
                }
                Err(e) => panic!("reading the stream: {e}"),
            }
        }
        let at = self.seen.find(want).unwrap() + want.len();
        let upto = self.seen[..at].to_owned();
        self.seen.drain(..at);
        upto
    }
}

impl Browser {
    /// `GET path` on a raw connection, for a response that does not end.
    fn open_stream(&self, path: &str) -> Stream {
        use std::io::Write;
        let host = self.admin.root.trim_start_matches("http://").to_owned();
        let mut conn = std::net::TcpStream::connect(&host).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nAccept: text/event-stream\r\n\r\n",
            self.cookie
        )
        .unwrap();
        Stream { conn: std::io::BufReader::new(conn), seen: String::new() }
    }
}

/// The new token on an issue's answer page.
fn issued_token(page: &str) -> String {
    let at = page.find(r#"id="new-token">"#).unwrap_or_else(|| panic!("no new token in {page}"));
    let rest = &page[at + r#"id="new-token">"#.len()..];
    rest[..rest.find('<').unwrap()].to_owned()
}

/// An Entra user document, with a work email when `email` is given.
pub(crate) fn entra_user(name: &str, email: Option<&str>) -> Value {
    let mut doc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "active": true,
    });
    if let Some(email) = email {
        doc["emails"] = json!([{"type": "work", "value": email, "primary": true}]);
    }
    doc
}

/// `scimgate_reloads_total{result="ok"}`.
fn reloads(gw: &Gateway) -> u64 {
    let metrics = gw.admin().try_raw("GET", "/metrics", None, &[], None).unwrap().expect(200).body;
    let line = metrics.lines().find(|l| l.starts_with("scimgate_reloads_total{result=\"ok\"}")).unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn assert_security_headers(resp: &Response) {
    let csp = resp.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{}", resp.describe());
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(resp.header("x-frame-options"), Some("DENY"));
    assert_eq!(resp.header("referrer-policy"), Some("same-origin"));
}

#[test]
fn console_pages_need_a_session_and_only_the_right_token_opens_one() {
    let gw = gateway();
    let admin = gw.admin();
    for path in [
        "/console",
        "/console/",
        "/console/reload",
        "/console/tenants/acme/tokens",
        "/console/tenants/acme/log",
        "/console/tenants/acme/log/1",
        "/console/tenants/acme/log/stream",
        "/console/tenants/acme/playground",
    ] {
        let resp = admin.try_raw("GET", path, None, &[], None).unwrap();
        assert_eq!(resp.status, 303, "{path}: {}", resp.describe());
        assert_eq!(resp.header("location"), Some("/console/login"), "{path}");
        assert_security_headers(&resp);
        // A made-up session is no session; neither is the admin token as a bearer.
        let forged = admin.try_raw("GET", path, None, &[("Cookie", "scimgate_console=forged")], None).unwrap();
        assert_eq!(forged.status, 303, "{path}");
        let bearer = admin.try_raw("GET", path, Some(ADMIN_TOKEN), &[], None).unwrap();
        assert_eq!(bearer.status, 303, "{path}");
    }
    // State-changing posts without a session change nothing either.
    let resp = post_form(&admin, "/console/tenants/acme/tokens", &[], &[]);
    assert_eq!(resp.status, 303);
    assert!(gw.admin_get("/admin/tenants/acme/tokens")["tokens"].as_array().unwrap().is_empty());

    let login = admin.try_raw("GET", "/console/login", None, &[], None).unwrap().expect(200);
    assert!(login.body.contains(r#"name="token""#), "{}", login.body);
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_security_headers(&login);

    let started = std::time::Instant::now();
    let wrong = post_form(&admin, "/console/login", &[("token", "not-the-admin-token")], &[]);
    assert_eq!(wrong.status, 401, "{}", wrong.describe());
    assert!(wrong.header("set-cookie").is_none(), "{}", wrong.describe());
    assert!(wrong.body.contains("not the admin token") && wrong.body.contains(r#"name="token""#));
    assert!(started.elapsed() >= std::time::Duration::from_millis(250), "a wrong token waits");
    let empty = post_form(&admin, "/console/login", &[], &[]);
    assert_eq!(empty.status, 401);

    let browser = Browser::sign_in(&gw);
    let home = browser.get("/console").expect(200);
    assert!(home.body.contains("acme") && home.body.contains("plain"), "{}", home.body);
    assert!(home.body.contains("work-email"), "acme's step is listed: {}", home.body);
    assert_eq!(home.header("cache-control"), Some("no-store"));
    assert_security_headers(&home);

    // The static files are served with a long cache.
    let css = admin.try_raw("GET", "/console/static/console.css", None, &[], None).unwrap().expect(200);
    assert!(css.header("cache-control").unwrap().contains("max-age=31536000"));
    let js = admin.try_raw("GET", "/console/static/console.js", None, &[], None).unwrap().expect(200);
    assert!(js.body.contains("EventSource"));

    // Signing out ends the session.
    browser.post("/console/logout", &[]).expect(303);
    assert_eq!(browser.get("/console").status, 303);
}

#[test]
fn console_tokens_are_shown_once_and_revoked() {
    let gw = gateway();
    let browser = Browser::sign_in(&gw);
    let list = browser.get("/console/tenants/acme/tokens").expect(200);
    let resp = browser.post("/console/tenants/acme/tokens", &[]).expect(200);
    let token = issued_token(&resp.body);
    assert!(token.starts_with("scimgate_") || token.len() > 20, "{token}");
    assert!(!list.body.contains(&token));

    // It works against the SCIM API.
    gw.post("/Users", &token, &entra_user("once", Some("once@example.com"))).expect(201);
    let home = browser.get("/console").expect(200);
    assert!(home.body.contains("<th>Users / groups</th><td>1 / 0</td>"), "acme's counts: {}", home.body);

    // It never shows again: not on the list, nor on any later page.
    let id = gw.admin_get("/admin/tenants/acme/tokens")["tokens"][0]["id"].as_str().unwrap().to_owned();
    for path in ["/console/tenants/acme/tokens", "/console", "/console/tenants/acme/log", "/console/reload"] {
        let page = browser.get(path).expect(200);
        assert!(!page.body.contains(&token), "{path} shows the token");
        if path.ends_with("tokens") {
            assert!(page.body.contains(&id), "the list shows its id");
        }
    }

    // Revoked through the console: the SCIM API refuses it.
    let revoke = format!("/console/tenants/acme/tokens/{id}/revoke");
    let resp = browser.post(&revoke, &[]);
    assert_eq!(resp.status, 303, "{}", resp.describe());
    assert!(gw.admin_get("/admin/tenants/acme/tokens")["tokens"].as_array().unwrap().is_empty());
    eventually("the revoked token stops working", || (gw.get("/Users", &token).status == 401).then_some(()));
    assert!(!browser.get("/console/tenants/acme/tokens").body.contains(&id));

    // Another tenant's token cannot be revoked under this one.
    let other = gw.admin_post("/admin/tenants/plain/tokens", &json!({})).expect(200).json;
    let other_id = other["id"].as_str().unwrap();
    browser.post(&format!("/console/tenants/acme/tokens/{other_id}/revoke"), &[]).expect(404);
    gw.get("/Users", other["token"].as_str().unwrap()).expect(200);
}

#[test]
fn console_posts_without_the_csrf_token_or_from_another_origin_change_nothing() {
    let gw = gateway();
    let browser = Browser::sign_in(&gw);
    let token = gw.token("acme");
    let id = gw.admin_get("/admin/tenants/acme/tokens")["tokens"][0]["id"].as_str().unwrap().to_owned();
    let revoke = format!("/console/tenants/acme/tokens/{id}/revoke");
    let before = reloads(&gw);

    let foreign = [("Origin", "http://evil.example")];
    let cross_site = [("Sec-Fetch-Site", "cross-site")];
    let right = browser.csrf.clone();
    let attempts: [(&Pairs, &Pairs); 5] = [
        (&[], &[]),
        (&[("csrf", "wrong")], &[]),
        (&[("csrf", &right[..right.len() - 1])], &[]),
        (&[("csrf", &right)], &foreign),
        (&[("csrf", &right)], &cross_site),
    ];
    for (fields, headers) in attempts {
        for path in [revoke.as_str(), "/console/reload", "/console/tenants/acme/tokens"] {
            let resp = browser.post_with(path, fields, headers);
            assert_eq!(resp.status, 403, "{path} {fields:?} {headers:?}: {}", resp.describe());
            assert_security_headers(&resp);
        }
    }
    // A sign-in from another origin is refused too.
    let login = post_form(&gw.admin(), "/console/login", &[("token", ADMIN_TOKEN)], &foreign);
    assert_eq!(login.status, 403);
    assert!(login.header("set-cookie").is_none());

    // Nothing changed: the token works, no token was issued, no reload ran.
    std::thread::sleep(std::time::Duration::from_millis(300));
    gw.get("/Users", &token).expect(200);
    assert_eq!(gw.admin_get("/admin/tenants/acme/tokens")["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(reloads(&gw), before, "no reload ran");

    // The same posts with the token and from the same origin go through.
    let same = [("Origin", gw.admin().root.clone())];
    let same: Vec<(&str, &str)> = same.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = browser.post_with("/console/reload", &[("csrf", &right)], &same).expect(200);
    assert!(resp.body.contains("Reload report"), "{}", resp.body);
    assert_eq!(reloads(&gw), before + 1);
    browser.post(&revoke, &[]).expect(303);
    eventually("the revoked token stops working", || (gw.get("/Users", &token).status == 401).then_some(()));
}

#[test]
fn console_log_explorer_lists_a_rejected_request_and_its_trace() {
    let gw = gateway();
    let browser = Browser::sign_in(&gw);
    let token = gw.token("acme");
    gw.post("/Users", &token, &entra_user("kept", Some("kept@example.com"))).expect(201);
    // The work-email step rejects a user without a work email.
    gw.post("/Users", &token, &entra_user("no.email", None)).expect(400);

    let page = eventually("the refused request is in the log", || {
        let page = browser.get("/console/tenants/acme/log?outcome=error").expect(200);
        page.body.contains("work email is required").then_some(page)
    });
    assert!(!page.body.contains("kept@example.com"), "the filter keeps the created user out");
    assert!(page.body.contains(r#"data-stream="/console/tenants/acme/log/stream""#), "live on the first page");
    let records = gw.admin_get("/admin/tenants/acme/log?outcome=error")["records"].clone();
    let seq = records[0]["seq"].as_i64().unwrap();
    let link = format!(r#"href="/console/tenants/acme/log/{seq}""#);
    assert!(page.body.contains(&link), "{}", page.body);

    let record = browser.get(&format!("/console/tenants/acme/log/{seq}")).expect(200);
    for want in [
        "<th>Stage</th>",
        "<td>step-failed</td>",
        "<td>work-email.rhai</td>",
        "&quot;reason&quot;: &quot;rejected&quot;",
    ] {
        assert!(record.body.contains(want), "{want} missing: {}", record.body);
    }
    // A write that went through: every stage, in order, each in its row.
    let created =
        gw.admin_get("/admin/tenants/acme/log?operation=create&outcome=ok")["records"][0]["seq"].as_i64().unwrap();
    let record = browser.get(&format!("/console/tenants/acme/log/{created}")).expect(200);
    let rows: Vec<usize> = ["<td>transform-in</td>", "<td>plan</td>", "<td>store</td>"]
        .iter()
        .map(|stage| record.body.find(stage).unwrap_or_else(|| panic!("{stage} missing: {}", record.body)))
        .collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "stages out of order: {}", record.body);
    assert!(record.body.contains("kept@example.com"), "the transform's output is shown");
    browser.get("/console/tenants/acme/log/999999").expect(404);

    // All records, then paged: the "older" link goes on from the last seq shown.
    for i in 0..60 {
        gw.get(&format!("/Users?startIndex={}", i + 1), &token).expect(200);
    }
    eventually("every record is written", || {
        let all = gw.admin_get("/admin/tenants/acme/log?limit=1000")["records"].as_array().unwrap().len();
        (all >= 62).then_some(())
    });
    let first = browser.get("/console/tenants/acme/log").expect(200);
    assert!(!first.body.contains(&link), "the refused request is past the first page");
    let at = first.body.find("/console/tenants/acme/log?before=").expect("an older link");
    let href = &first.body[at..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let older = browser.get(&href).expect(200);
    assert!(older.body.contains(&link), "the refused request is on the older page");
    assert!(!older.body.contains("data-stream"), "older pages are not live");

    // The console's tail (what the page's script opens), with the session cookie.
    let mut tail = browser.open_stream("/console/tenants/acme/log/stream");
    tail.read_until("text/event-stream");
    tail.read_until(": tailing");
    gw.post("/Users", &token, &entra_user("live", Some("live.one@example.com"))).expect(201);
    let event = tail.read_until(r#""operation":"create""#);
    assert!(event.contains("data: {"), "{event}");
}

#[test]
fn console_playground_runs_the_dry_run_on_the_entra_fixture() {
    let gw = gateway();
    let browser = Browser::sign_in(&gw);
    let form = browser.get("/console/tenants/acme/playground").expect(200);
    assert!(form.body.contains("Adele.Vance@contoso.com"), "the Entra fixture is loaded: {}", form.body);
    let okta = browser.get("/console/tenants/acme/playground?fixture=okta").expect(200);
    assert!(okta.body.contains("isaac.brock@example.com"));

    let document = include_str!("../../gateway/src/admin/console/fixtures/entra-user.json");
    let resp = browser
        .post(
            "/console/tenants/acme/playground",
            &[("fixture", "entra"), ("resourceType", "User"), ("operation", "create"), ("document", document)],
        )
        .expect(200);
    for want in ["<th>Time (ms)</th>", "work-email", "transform-in", "adele.vance@contoso.com", "in_scope"] {
        assert!(resp.body.contains(want), "{want} missing: {}", resp.body);
    }
    // Nothing was written.
    let token = gw.token("acme");
    assert_eq!(gw.get("/Users", &token).expect(200).json["totalResults"], 0);

    // A step's refusal and a broken document are shown, not thrown.
    let refused = browser
        .post(
            "/console/tenants/acme/playground",
            &[("document", r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}"#)],
        )
        .expect(200);
    assert!(refused.body.contains("work email is required"), "{}", refused.body);
    let broken = browser.post("/console/tenants/acme/playground", &[("document", "{not json")]);
    assert_eq!(broken.status, 400);
    assert!(broken.body.contains("not valid JSON"));
}

#[test]
fn console_reload_shows_a_refused_tenant_file_with_file_and_line() {
    let files: [(&str, &[u8]); 1] = [("tenants/acme.toml", b"idp = \"entra\"\n")];
    let gw = Gateway::start_files(
        "tenants_dir = \"tenants\"",
        "",
        "[admin]\n",
        &files,
        &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let browser = Browser::sign_in(&gw);
    let page = browser.get("/console/reload").expect(200);
    assert!(page.body.contains("Reload now"));
    std::fs::write(gw.dir.path().join("tenants/acme.toml"), "idp = \"entra\"\n[[steps]\nkind = 1\n").unwrap();
    let resp = browser.post("/console/reload", &[]).expect(200);
    assert!(resp.body.contains("acme.toml") && resp.body.contains("line 2"), "{}", resp.body);
    assert!(resp.body.contains("Reload report"));
    // The tenants page shows it too, as the last refused change.
    let home = browser.get("/console").expect(200);
    assert!(home.body.contains("Last refused change") && home.body.contains("line 2"), "{}", home.body);
}

#[test]
fn console_escapes_a_script_in_a_user_name() {
    let gw = gateway();
    let browser = Browser::sign_in(&gw);
    let token = gw.token("plain");
    let evil = "<script>alert(1)</script>";
    let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": evil});
    gw.post("/Users", &token, &doc).expect(201);
    gw.post("/Users", &token, &doc).expect(409);
    let page = eventually("the conflict is in the log", || {
        let page = browser.get("/console/tenants/plain/log?outcome=error").expect(200);
        page.body.contains("already taken").then_some(page)
    });
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", page.body);
    assert!(!page.body.contains(evil), "{}", page.body);

    // A filter value is echoed escaped too.
    let page = browser.get("/console/tenants/plain/log?resource_id=%22%3E%3Cscript%3Ex%3C/script%3E").expect(200);
    assert!(page.body.contains("&quot;&gt;&lt;script&gt;x"), "{}", page.body);
    assert!(!page.body.contains("<script>x"));

    // And so is the record page.
    let seq = gw.admin_get("/admin/tenants/plain/log?outcome=error")["records"][0]["seq"].as_i64().unwrap();
    let record = browser.get(&format!("/console/tenants/plain/log/{seq}")).expect(200);
    assert!(!record.body.contains(evil) && record.body.contains("&lt;script&gt;"), "{}", record.body);
}
