//! Helpers for a plugin's native unit tests.

#[cfg(not(target_arch = "wasm32"))]
use std::cell::RefCell;

use serde_json::Value;

use crate::log::Level;
use crate::{Context, Operation, Resource};

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
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
