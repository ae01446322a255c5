//! The web console: the admin API's functions as server-rendered pages,
//! under `/console` on the admin listener.
//!
//! Why pages on the admin listener, and not a separate app: everything the
//! console shows is already computed by the admin API's functions, and it
//! calls them directly (no HTTP to itself), so a page and `GET /admin/...`
//! can never disagree. The admin listener is loopback by default, which is
//! where a console belongs.
//!
//! Security, since a browser is now a client:
//! - **Sign-in** takes the admin token once (compared as the API compares
//!   it: a SHA-256 in constant time, after a fixed delay on failure) and
//!   opens a session: a random 256-bit id in a cookie (`HttpOnly;
//!   SameSite=Strict; Secure; Path=/console`), kept here only as a SHA-256,
//!   expiring after [`IDLE`] without use. The token itself never sits in
//!   the browser.
//! - **CSRF**: every `POST` carries the session's random CSRF token (a
//!   hidden field, or `X-CSRF-Token`), and a present `Origin` or
//!   `Sec-Fetch-Site` must say same-origin; otherwise 403 and nothing
//!   changes. `SameSite=Strict` alone would leave older browsers exposed.
//! - **Output**: every interpolated value goes through
//!   [`html::html_escape`]; the live tail builds rows with `textContent`.
//!   A strict Content-Security-Policy (scripts from this origin only, none
//!   inline) backs that up, and pages are `no-store` so an issued token,
//!   shown once, stays out of caches.
//!
//! Pages: tenants (`/console`), reload, tokens, the log explorer with a
//! record's trace and a live tail, and the dry-run playground ([`pages`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode, header};
use subtle::ConstantTimeEq;

use super::{AdminState, Body, hash_token};

mod html;
mod pages;

pub use html::html_escape;

/// The session cookie's name.
const COOKIE: &str = "scimgate_console";
/// A session unused this long is gone.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most; past it the least recently used one goes.
const MAX_SESSIONS: usize = 1024;
/// How long a wrong admin token waits before its answer.
const LOGIN_DELAY: Duration = Duration::from_millis(300);

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A digest of the stylesheet and the script, in their URLs: a browser may
/// cache them for a year, and a new build's files get new URLs.
fn asset_version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let digest = hash_token(&format!("{CSS}{JS}"));
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    });
    &VERSION
}

/// Whether `path` is the console's.
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// The signed-in sessions, by SHA-256 of their cookie (so a memory dump or
/// a timing of the map's lookup gives no usable id).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

#[derive(Clone)]
struct Session {
    csrf: String,
    last_seen: Instant,
}

impl Sessions {
    /// A new session: its cookie value and its CSRF token.
    fn open(&self) -> (String, String) {
        let id = random_secret();
        let csrf = random_secret();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(hash_token(&id), Session { csrf: csrf.clone(), last_seen: now });
        (id, csrf)
    }

    /// The live session of cookie value `id`, touched.
    fn find(&self, id: &str) -> Option<Session> {
        let key = hash_token(id);
        let mut map = self.lock();
        let session = map.get_mut(&key)?;
        if session.last_seen.elapsed() >= IDLE {
            map.remove(&key);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    fn close(&self, id: &str) {
        self.lock().remove(&hash_token(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// 256 random bits, URL-safe base64.
fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Answer a console request (its body already read).
pub async fn handle(state: &AdminState, req: Request<Bytes>) -> Response<Body> {
    let mut resp = route(state, &req).await;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends
    // `Origin: null` on a form's POST, which [`same_origin`] refuses.
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    resp
}

async fn route(state: &AdminState, req: &Request<Bytes>) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').skip(1).collect();
    let method = req.method();
    match (method, segments.as_slice()) {
        (&Method::GET, ["static", "console.css"]) => return static_file(CSS, "text/css; charset=utf-8"),
        (&Method::GET, ["static", "console.js"]) => return static_file(JS, "text/javascript; charset=utf-8"),
        (&Method::GET, ["login"]) => return html(StatusCode::OK, pages::login(None)),
        (&Method::POST, ["login"]) => return login(state, req).await,
        _ => {}
    }
    let cookie = session_cookie(req);
    let Some((id, session)) = cookie.and_then(|id| state.console.find(id).map(|s| (id, s))) else {
        return redirect("/console/login");
    };
    if method == Method::POST {
        if !same_origin(req) {
            return forbidden(&session, "This request came from another site, and was refused. Nothing changed.");
        }
        if !csrf_ok(req, &session) {
            return forbidden(
                &session,
                "The form's CSRF token is missing or wrong. Nothing changed: reload the page and try again.",
            );
        }
    }
    let form = || form_of(req);
    let ctx = pages::Ctx { state, csrf: &session.csrf };
    match (method, segments.as_slice()) {
        (&Method::POST, ["logout"]) => {
            state.console.close(id);
            let mut resp = redirect("/console/login");
            resp.headers_mut().insert(
                header::SET_COOKIE,
                header::HeaderValue::from_static(
                    "scimgate_console=; Path=/console; HttpOnly; SameSite=Strict; Secure; Max-Age=0",
                ),
            );
            resp
        }
        (&Method::GET, []) => ctx.tenants().await,
        (&Method::GET, ["reload"]) => ctx.reload(None).await,
        (&Method::POST, ["reload"]) => match super::reload(state).await {
            Ok(report) => ctx.reload(Some(report)).await,
            Err(failure) => ctx.failure(&failure),
        },
        (&Method::GET, ["tenants", t, "tokens"]) => ctx.tokens(t, None).await,
        (&Method::POST, ["tenants", t, "tokens"]) => ctx.issue_token(t).await,
        (&Method::POST, ["tenants", t, "tokens", token, "revoke"]) => ctx.revoke_token(t, token).await,
        (&Method::GET, ["tenants", t, "log"]) => ctx.log(t, &query_of(req)).await,
        (&Method::GET, ["tenants", t, "log", "stream"]) => match super::log_stream(state, req, t).await {
            Ok(resp) => resp,
            Err(failure) => ctx.failure(&failure),
        },
        (&Method::GET, ["tenants", t, "log", seq]) => ctx.record(t, seq).await,
        (&Method::GET, ["tenants", t, "playground"]) => ctx.playground(t, &query_of(req), None).await,
        (&Method::POST, ["tenants", t, "playground"]) => ctx.playground(t, &HashMap::new(), Some(form())).await,
        _ => ctx.not_found(),
    }
}

/// `POST /console/login`: the admin token, in constant time.
async fn login(state: &AdminState, req: &Request<Bytes>) -> Response<Body> {
    if !same_origin(req) {
        return html(
            StatusCode::FORBIDDEN,
            pages::login(Some("This sign-in came from another site, and was refused.")),
        );
    }
    let form = form_of(req);
    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
    if !bool::from(hash_token(token).ct_eq(&state.token_hash)) {
        tokio::time::sleep(LOGIN_DELAY).await;
        tracing::warn!("console: a sign-in with a wrong admin token");
        return html(StatusCode::UNAUTHORIZED, pages::login(Some("That is not the admin token.")));
    }
    let (id, _) = state.console.open();
    let mut resp = redirect("/console");
    let cookie = format!("{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Secure");
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, value);
    }
    resp
}

/// The session cookie's value, if sent.
fn session_cookie<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// A `POST` whose `Origin` and `Sec-Fetch-Site`, when present, say it came
/// from the console's own origin.
fn same_origin<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let (Ok(origin), Some(host)) = (origin.to_str(), host) else { return false };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The session's CSRF token, in the form's `csrf` field or `X-CSRF-Token`.
fn csrf_ok(req: &Request<Bytes>, session: &Session) -> bool {
    let sent = match req.headers().get("x-csrf-token") {
        Some(v) => v.as_bytes().to_vec(),
        None => form_of(req).remove("csrf").unwrap_or_default().into_bytes(),
    };
    !sent.is_empty() && bool::from(sent.as_slice().ct_eq(session.csrf.as_bytes()))
}

fn form_of(req: &Request<Bytes>) -> HashMap<String, String> {
    form_urlencoded::parse(req.body()).into_owned().collect()
}

fn query_of<B>(req: &Request<B>) -> HashMap<String, String> {
    req.uri().query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn forbidden(session: &Session, why: &str) -> Response<Body> {
    let frame = html::Frame { csrf: Some(&session.csrf) };
    let body = format!(r#"<p class="error">{}</p>"#, html_escape(why));
    html(StatusCode::FORBIDDEN, frame.page("Refused", &body))
}

fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(page)).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    resp
}

/// 303 See Other to `location` (a console path).
fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()).boxed());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = header::HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, value);
    }
    resp
}

/// The stylesheet or the script: they change only with the binary, and
/// pages link them by [`asset_version`].
fn static_file(content: &'static str, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(content.as_bytes())).boxed());
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("public, max-age=31536000, immutable"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<Bytes> {
        let mut builder = Request::builder().method("POST").uri("/console/reload");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Bytes::new()).unwrap()
    }

    #[test]
    fn console_same_origin_checks_origin_and_fetch_site_when_present() {
        assert!(same_origin(&request(&[("host", "127.0.0.1:9000")])));
        assert!(same_origin(&request(&[("host", "127.0.0.1:9000"), ("origin", "http://127.0.0.1:9000")])));
        assert!(!same_origin(&request(&[("host", "127.0.0.1:9000"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&request(&[("host", "127.0.0.1:9000"), ("origin", "null")])));
        assert!(!same_origin(&request(&[("host", "127.0.0.1:9000"), ("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&request(&[("host", "127.0.0.1:9000"), ("sec-fetch-site", "same-origin")])));
    }

    #[test]
    fn console_sessions_are_found_by_cookie_and_closed() {
        let sessions = Sessions::default();
        let (id, csrf) = sessions.open();
        assert_eq!(id.len(), 43, "256 bits in URL-safe base64");
        assert_eq!(sessions.find(&id).map(|s| s.csrf), Some(csrf));
        assert!(sessions.find("not-a-session").is_none());
        sessions.close(&id);
        assert!(sessions.find(&id).is_none());
    }

    #[test]
    fn console_cookie_is_read_among_others() {
        let req = Request::builder().header("cookie", "a=b; scimgate_console=xyz; c=d").body(()).unwrap();
        assert_eq!(session_cookie(&req), Some("xyz"));
        let req = Request::builder().header("cookie", "scimgate_consolex=1").body(()).unwrap();
        assert_eq!(session_cookie(&req), None);
    }
}
