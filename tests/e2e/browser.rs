//! The web console in a real browser: headless Chromium driven over the W3C
//! WebDriver protocol (chromedriver, plain HTTP), against a real gateway.
//! `console.rs` checks the console's HTTP (cookies, CSRF, escaping); this
//! checks that its pages work as pages: forms submit, links lead where they
//! should, the script's fixture picker reloads the playground.
//!
//! Off unless `SCIMGATE_E2E_CHROMEDRIVER` names a chromedriver (with
//! Chromium at `/usr/bin/chromium`, or `SCIMGATE_E2E_CHROMIUM`). With
//! `SCIMGATE_SCREENSHOTS=1` it also saves each page to `docs/console/`
//! (the README's screenshots).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::console::entra_user;
use crate::harness::{ADMIN_TOKEN, EVENTUALLY, Gateway, eventually};

/// The key of an element reference in WebDriver's answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process we started, killed on drop.
struct Driver {
    child: Child,
    root: String,
    agent: ureq::Agent,
}

impl Driver {
    fn start(path: &str) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {path}: {e}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let driver = Driver { child, root: format!("http://127.0.0.1:{port}"), agent };
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let last = match driver.call("GET", "/status", None) {
                Ok(status) if status["ready"] == true => break,
                Ok(status) => status.to_string(),
                Err(e) => e,
            };
            assert!(Instant::now() < deadline, "chromedriver did not get ready: {last}");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// One WebDriver command: its `value`, or the error it answered.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.root);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.cloned().unwrap_or_else(|| json!({}))),
        };
        let mut resp = resp.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text}"))?;
        if status == 200 { Ok(value["value"].clone()) } else { Err(format!("{method} {path}: HTTP {status}: {text}")) }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session: one headless Chromium with a fresh profile.
struct Browser {
    driver: Driver,
    id: String,
    _profile: tempfile::TempDir,
    /// Where screenshots go, when taken.
    shots: Option<PathBuf>,
}

impl Browser {
    fn open(driver: Driver) -> Browser {
        let profile = tempfile::Builder::new().prefix("scimgate-chromium-").tempdir().unwrap();
        let binary = std::env::var("SCIMGATE_E2E_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1280,900".to_owned(),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args},
        }}});
        let session = driver.call("POST", "/session", Some(&capabilities)).unwrap_or_else(|e| panic!("{e}"));
        let id = session["sessionId"].as_str().unwrap_or_else(|| panic!("no session id: {session}")).to_owned();
        let shots = (std::env::var("SCIMGATE_SCREENSHOTS").as_deref() == Ok("1"))
            .then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console"));
        Browser { driver, id, _profile: profile, shots }
    }

    #[track_caller]
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        self.driver.call(method, &path, body.as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    fn source(&self) -> String {
        self.cmd("GET", "/source", None).as_str().unwrap_or_default().to_owned()
    }

    /// The element `css` selects, if there is one now.
    fn try_find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.id);
        let found = self.driver.call("POST", &path, Some(&json!({"using": "css selector", "value": css}))).ok()?;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    /// The element `css` selects, waited for.
    #[track_caller]
    fn find(&self, css: &str) -> String {
        self.wait(&format!("an element {css}"), || self.try_find(css))
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.cmd("POST", &format!("/element/{element}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.cmd("POST", &format!("/element/{element}/clear"), Some(json!({})));
        self.cmd("POST", &format!("/element/{element}/value"), Some(json!({"text": text})));
    }

    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.cmd("GET", &format!("/element/{element}/text"), None).as_str().unwrap_or_default().to_owned()
    }

    /// Scrolls the element `css` selects to the top of the window.
    fn scroll_to(&self, css: &str) {
        let script = "document.querySelector(arguments[0]).scrollIntoView()";
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": [css]})));
    }

    /// The visible text of the whole page.
    fn page_text(&self) -> String {
        self.text("body")
    }

    /// Polls `f` until it gives `Some` ([`EVENTUALLY`] at most); the page's
    /// text is in the panic message.
    #[track_caller]
    fn wait<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= deadline {
                let url = self.url();
                let page = self.try_find("body").map(|_| self.page_text()).unwrap_or_default();
                panic!("timed out waiting for {what}; at {url}:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the page's visible text contains `want`.
    #[track_caller]
    fn wait_text(&self, want: &str) {
        self.wait(&format!("the text {want:?}"), || {
            let found = self.try_find("body")?;
            let text = self.driver.call("GET", &format!("/session/{}/element/{found}/text", self.id), None).ok()?;
            text.as_str()?.contains(want).then_some(())
        });
    }

    /// Waits until the browser is at a URL ending in `suffix`.
    #[track_caller]
    fn wait_url(&self, suffix: &str) {
        self.wait(&format!("the URL …{suffix}"), || self.url().ends_with(suffix).then_some(()));
    }

    /// Waits until the browser is at a URL containing `part`.
    #[track_caller]
    fn wait_url_has(&self, part: &str) {
        self.wait(&format!("a URL with {part}"), || self.url().contains(part).then_some(()));
    }

    /// The page as `docs/console/{name}.png`, when screenshots are on.
    fn screenshot(&self, name: &str) {
        let Some(dir) = &self.shots else { return };
        let png = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.call("DELETE", &format!("/session/{}", self.id), None);
    }
}

/// The chromedriver to use, or `None` (the test is skipped).
fn chromedriver() -> Option<String> {
    let path = std::env::var("SCIMGATE_E2E_CHROMEDRIVER").ok().filter(|p| !p.is_empty());
    if path.is_none() {
        eprintln!("skipped: set SCIMGATE_E2E_CHROMEDRIVER=/usr/bin/chromedriver to run the browser tests");
    }
    path
}

/// `acme` (Entra, with the work-email Rhai step, which rejects a user
/// without a work email) in a tenant file, so that a reload can meet a
/// broken one; `plain`, no steps.
fn gateway() -> Gateway {
    let work_email = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rhai/work-email.rhai");
    let acme = format!("idp = \"entra\"\n[[steps]]\nkind = \"rhai\"\npath = {:?}\n", work_email.display().to_string());
    let files: [(&str, &[u8]); 2] = [("tenants/acme.toml", acme.as_bytes()), ("tenants/plain.toml", b"")];
    Gateway::start_files("tenants_dir = \"tenants\"", "", "[admin]\n", &files, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN)])
}

#[test]
fn browser_console_sign_in_tokens_log_trace_playground_and_a_refused_reload() {
    let Some(chromedriver) = chromedriver() else { return };
    let gw = gateway();
    let root = gw.admin().root;
    let browser = Browser::open(Driver::start(&chromedriver));

    // 1. Signing in: the console sends us to the sign-in page, the admin
    // token opens a session, and the tenants page follows.
    browser.go(&format!("{root}/console"));
    browser.wait_url("/console/login");
    browser.find("#token");
    browser.screenshot("login");
    browser.type_into("#token", ADMIN_TOKEN);
    browser.click("form[action='/console/login'] button[type=submit]");
    browser.wait_url("/console");
    browser.wait_text("work-email");
    let tenants = browser.page_text();
    assert!(tenants.contains("acme") && tenants.contains("plain") && tenants.contains("work-email"), "{tenants}");
    browser.screenshot("tenants");

    // 2. Tokens: issued through the page and shown once, working against
    // the SCIM API, then revoked through the page.
    browser.click("a[href='/console/tenants/acme/tokens']");
    browser.wait_url("/console/tenants/acme/tokens");
    browser.wait_text("No live tokens.");
    browser.click("form[action='/console/tenants/acme/tokens'] button[type=submit]");
    let token = browser.text("#new-token");
    assert!(token.len() > 20 && !token.contains(char::is_whitespace), "{token:?}");
    browser.screenshot("tokens");
    gw.post("/Users", &token, &entra_user("kept", Some("kept@example.com"))).expect(201);
    // Shown once: the list (what the browser sees next) never shows it.
    browser.go(&format!("{root}/console/tenants/acme/tokens"));
    let id = gw.admin_get("/admin/tenants/acme/tokens")["tokens"][0]["id"].as_str().unwrap().to_owned();
    browser.wait_text(&id);
    assert!(!browser.source().contains(&token), "the list shows the token again");
    browser.click(&format!("form[action='/console/tenants/acme/tokens/{id}/revoke'] button[type=submit]"));
    browser.wait_text("No live tokens.");
    eventually("the revoked token stops working", || (gw.get("/Users", &token).status == 401).then_some(()));

    // 3. A refused request (the step wants a work email), found in the log
    // explorer by its outcome, and its record's stage trace.
    let token = gw.token("acme");
    gw.post("/Users", &token, &entra_user("no.email", None)).expect(400);
    browser.go(&format!("{root}/console"));
    browser.click("a[href='/console/tenants/acme/log']");
    browser.wait_url("/console/tenants/acme/log");
    browser.type_into("input[name=outcome]", "error");
    browser.click("form.filters button[type=submit]");
    browser.wait_url_has("outcome=error");
    browser.wait_text("work email is required");
    browser.screenshot("log");
    let seq = gw.admin_get("/admin/tenants/acme/log?outcome=error")["records"][0]["seq"].as_i64().unwrap();
    browser.click(&format!("a[href='/console/tenants/acme/log/{seq}']"));
    browser.wait_url(&format!("/console/tenants/acme/log/{seq}"));
    browser.wait_text("Trace");
    let record = browser.page_text();
    for want in ["step-failed", "work-email.rhai", "rejected", "work email is required"] {
        assert!(record.contains(want), "{want} missing from the record page: {record}");
    }
    browser.screenshot("trace");

    // 4. The playground: pick the Entra fixture (from another one, so that
    // the picker's script reloads the page), run it, see each step's output.
    browser.go(&format!("{root}/console/tenants/acme/playground?fixture=okta"));
    browser.wait_text("Dry run");
    browser.click("select[name=fixture] option[value=entra]");
    browser.wait_url_has("fixture=entra");
    browser.wait("the Entra fixture in the document", || {
        browser.source().contains("Adele.Vance@contoso.com").then_some(())
    });
    browser.click("form[method=post][action='/console/tenants/acme/playground'] button[type=submit]");
    browser.wait_text("Result");
    let result = browser.page_text();
    for want in ["Time (ms)", "work-email", "transform-in", "adele.vance@contoso.com", "Would write"] {
        assert!(result.contains(want), "{want} missing from the dry run: {result}");
    }
    assert!(!result.contains("The pipeline refused it"), "{result}");
    browser.scroll_to("section.box");
    browser.screenshot("playground");
    assert_eq!(gw.get("/Users", &token).expect(200).json["totalResults"], 1, "the dry run wrote nothing");

    // 5. A broken tenant file: the reload page's button, and the refusal
    // with its file and line.
    std::fs::write(gw.dir.path().join("tenants/acme.toml"), "idp = \"entra\"\n[[steps]\nkind = 1\n").unwrap();
    browser.click("nav a[href='/console/reload']");
    browser.wait_url("/console/reload");
    browser.click("form[action='/console/reload'] button[type=submit]");
    browser.wait_text("Reload report");
    let report = browser.page_text();
    assert!(report.contains("Refused") && report.contains("acme.toml") && report.contains("line 2"), "{report}");
    browser.screenshot("reload");
    // The running acme kept its version: the token still works.
    gw.get("/Users", &token).expect(200);
}
