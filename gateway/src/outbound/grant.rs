//! The HTTP a plugin may send: a set of origins, one credential the host
//! adds, a budget of requests per call, sent on the gateway's pooled client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use wasm_host::{HttpAnswer, HttpCallError, HttpGrant, HttpRequest};

use super::credential::Credential;
use super::error::UpstreamError;
use super::http::{HttpClient, Outgoing};

/// What one plugin call may reach: a set of origins, with one credential.
pub struct OriginGrant {
    /// `(scheme, host:port)`, lower-cased.
    origins: Vec<(String, String)>,
    http: Arc<HttpClient>,
    credential: Arc<Credential>,
    budget: u32,
    /// How long the plugin waits for one answer (the client's own timeout
    /// is the same; this only guards against a runtime that cannot run it).
    wait: Duration,
}

impl OriginGrant {
    /// A grant for `urls`' origins; a URL that is not absolute grants nothing.
    pub fn new(
        urls: &[&str],
        http: Arc<HttpClient>,
        credential: Arc<Credential>,
        budget: u32,
        wait: Duration,
    ) -> OriginGrant {
        let origins = urls.iter().filter_map(|u| origin(u)).collect();
        OriginGrant { origins, http, credential, budget, wait }
    }
}

/// `(scheme, host:port)` of a URL, lower-cased.
fn origin(url: &str) -> Option<(String, String)> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?.as_str().to_ascii_lowercase();
    Some((scheme, authority))
}

/// Headers that frame or route the request: the host sets them (`Host` from
/// the granted URL, the length from the body). A plugin that sets one
/// could reach another virtual host behind the granted origin, with the
/// tenant's credential, or smuggle a second request; it is stopped.
const HOST_OWNED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-connection",
    "proxy-authorization",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

impl HttpGrant for OriginGrant {
    fn send(&self, request: HttpRequest, wait: Duration) -> Result<HttpAnswer, HttpCallError> {
        let allowed: Vec<String> = self.origins.iter().map(|(s, a)| format!("{s}://{a}")).collect();
        match origin(&request.url) {
            Some(o) if self.origins.contains(&o) => {}
            Some((scheme, authority)) => {
                return Err(HttpCallError::Denied(format!(
                    "http.send to {scheme}://{authority} denied: this plugin may only reach {}",
                    allowed.join(", ")
                )));
            }
            None => {
                return Err(HttpCallError::Denied(format!(
                    "http.send to '{}' denied: not an absolute URL",
                    request.url
                )));
            }
        }
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HttpCallError::Denied(format!("'{}' is not an HTTP method", request.method)))?;
        let mut headers = Vec::new();
        for (name, value) in &request.headers {
            if HOST_OWNED_HEADERS.iter().any(|h| name.trim().eq_ignore_ascii_case(h)) {
                return Err(HttpCallError::Denied(format!(
                    "http.send may not set the {name} header: the host sets how a request is framed and routed"
                )));
            }
            let header = HeaderName::from_bytes(name.as_bytes()).ok().zip(HeaderValue::from_str(value).ok());
            let Some(header) = header else {
                return Err(HttpCallError::Denied(format!("invalid header '{name}'")));
            };
            headers.push(header);
        }
        // Plugin calls run on a runtime worker (in `block_in_place`): send
        // on that runtime and wait here.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(HttpCallError::Transport("no runtime to send on".into()));
        };
        // The plugin's call is part of the request's trace (the span is
        // current on this thread, not on the task that sends).
        if let Some(parent) = crate::trace_context::current_traceparent().and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.retain(|(n, _)| n.as_str() != "traceparent");
            headers.push((HeaderName::from_static("traceparent"), parent));
        }
        let (http, credential, url, body) = (self.http.clone(), self.credential.clone(), request.url, request.body);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let exchange = runtime.spawn(async move {
            let answer = async {
                // The host's credential replaces anything the plugin put there.
                if let Some((name, value)) = credential.header(&http).await? {
                    headers.retain(|(n, _)| *n != name);
                    headers.push((name, value));
                }
                let out = Outgoing { method, url: &url, headers, body: body.map(Bytes::from) };
                http.send(&out).await.map_err(|(e, _)| e)
            }
            .await;
            let _ = tx.send(answer);
        });
        // The call's deadline bounds the wait; the transport's own timeout
        // (`self.wait`) bounds it when the deadline is further away. An
        // exchange nobody waits for any more is dropped (its connection
        // with it), not left to finish on its own.
        let answer = rx.recv_timeout(wait.min(self.wait));
        if answer.is_err() {
            exchange.abort();
        }
        match answer {
            Ok(Ok(r)) => Ok(HttpAnswer {
                status: r.status,
                headers: r
                    .headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect(),
                body: String::from_utf8_lossy(&r.body).into_owned(),
            }),
            Ok(Err(UpstreamError::Timeout(_))) | Err(_) => Err(HttpCallError::Timeout),
            Ok(Err(e)) => Err(HttpCallError::Transport(e.to_string())),
        }
    }

    fn budget(&self) -> u32 {
        self.budget
    }
}
