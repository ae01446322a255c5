//! Helpers for a plugin's native unit tests.

#[cfg(not(target_arch = "wasm32"))]
use std::cell::RefCell;

use serde_json::Value;

use crate::http::{Request, Response};
use crate::log::Level;
use crate::{Context, Operation, Resource};

/// What answers a native test's requests.
#[cfg(not(target_arch = "wasm32"))]
type HttpHandler = Box<dyn FnMut(&Request) -> Result<Response, String>>;

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    static HTTP: RefCell<Option<HttpHandler>> = const { RefCell::new(None) };
    static REQUESTS: RefCell<Vec<Request>> = const { RefCell::new(Vec::new()) };
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn record_log(level: Level, message: &str) {
    LOGS.with(|logs| logs.borrow_mut().push((level, message.to_owned())));
}

/// The lines this thread logged since the last call (natively; always empty
/// in the component, where lines go to the host).
pub fn take_logs() -> Vec<(Level, String)> {
    #[cfg(not(target_arch = "wasm32"))]
    return LOGS.with(|logs| std::mem::take(&mut *logs.borrow_mut()));
    #[cfg(target_arch = "wasm32")]
    return Vec::new();
}

/// Answer this thread's [`crate::http::send`] calls with `handler` (natively;
/// in the component the host sends them). `Err(reason)` plays a request that
/// got no answer: `send` fails with `METHOD URL: reason`, as in the
/// component. Without a handler every request fails that way.
pub fn mock_http(handler: impl FnMut(&Request) -> Result<Response, String> + 'static) {
    #[cfg(not(target_arch = "wasm32"))]
    HTTP.with(|http| *http.borrow_mut() = Some(Box::new(handler)));
    #[cfg(target_arch = "wasm32")]
    drop(handler);
}

/// The requests this thread sent since the last call, in order (natively;
/// always empty in the component).
pub fn take_requests() -> Vec<Request> {
    #[cfg(not(target_arch = "wasm32"))]
    return REQUESTS.with(|requests| std::mem::take(&mut *requests.borrow_mut()));
    #[cfg(target_arch = "wasm32")]
    return Vec::new();
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn send_mocked(request: Request) -> Result<Response, String> {
    REQUESTS.with(|requests| requests.borrow_mut().push(request.clone()));
    let answer = HTTP.with(|http| http.borrow_mut().as_mut().map(|handler| handler(&request)));
    let no_answer = |reason: String| format!("{} {}: {reason}", request.method, request.url);
    match answer {
        Some(answer) => answer.map_err(no_answer),
        None => Err(no_answer("no HTTP outside the gateway (set one with testing::mock_http)".to_owned())),
    }
}

/// A `create` context for a User.
pub fn user_create() -> Context {
    Context::new(Operation::Create, "User")
}

/// A `create` context for a Group.
pub fn group_create() -> Context {
    Context::new(Operation::Create, "Group")
}

/// A resource from a JSON value; panics if it is not an object (tests only).
pub fn resource(doc: Value) -> Resource {
    assert!(doc.is_object(), "a test resource must be a JSON object");
    Resource::new(doc)
}
