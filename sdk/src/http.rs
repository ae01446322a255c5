//! Outbound HTTP from an `on-event` hook.
//!
//! The host decides where it may go: only to the origins the tenant granted
//! for events, with the tenant's credential added by the host (a plugin
//! never holds a secret). A request anywhere else stops the plugin, as does
//! exceeding the per-call budget. Other hooks have no grant at all.

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Send a request and wait for the answer. `Err` when no answer came
/// (timeout, refused connection).
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Result<Response, String> {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::glue::wit::http;
        let request = http::Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            body: body.map(str::to_owned),
        };
        match http::send(&request) {
            Ok(r) => Ok(Response { status: r.status, headers: r.headers, body: r.body }),
            Err(http::HttpError::Timeout) => Err(format!("{method} {url}: no answer in time")),
            Err(http::HttpError::Transport(m)) => Err(format!("{method} {url}: {m}")),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (headers, body);
        Err(format!("{method} {url}: no HTTP outside the gateway (native build)"))
    }
}
