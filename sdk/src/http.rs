//! Outbound HTTP, from connectors and `on-event` hooks.
//!
//! The host decides where it may go: a connector to its tenant's upstream,
//! an on-event hook to the origins the tenant granted for events, each with
//! the tenant's credential added by the host (a plugin never holds a
//! secret). A request anywhere else stops the plugin, as does exceeding the
//! per-call budget. Other hooks have no grant at all.
//!
//! Natively (in a plugin's unit tests) requests go to the handler set with
//! [`crate::testing::mock_http`], and [`crate::testing::take_requests`] lists
//! them.

/// A request, as the plugin asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// An absolute URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first header of that name (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Send a request and wait for the answer. `Err` when no answer came
/// (timeout, refused connection), with a message naming the request.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Result<Response, String> {
    let request = Request {
        method: method.to_owned(),
        url: url.to_owned(),
        headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        body: body.map(str::to_owned),
    };
    #[cfg(target_arch = "wasm32")]
    return crate::glue::send(request);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::send_mocked(request);
}
