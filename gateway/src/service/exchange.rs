//! A SCIM request and its answer, stripped of HTTP.

use std::time::Duration;

use serde_json::Value;

use super::route::{Method, Route};
use crate::failure::Party;

/// A SCIM request, stripped of HTTP.
#[derive(Debug, Clone)]
pub struct ScimRequest {
    pub method: Method,
    pub route: Route,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Parsed JSON body, when there was one.
    pub body: Option<Value>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    /// `http://host/scim/v2`, for `meta.location` and `$ref`.
    pub base_url: String,
    /// Named in the answer of an internal failure; a bulk operation's
    /// failure is answered inside the service, so the service needs it.
    pub request_id: String,
}

/// What to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub etag: Option<String>,
    pub location: Option<String>,
    /// For the provisioning log.
    pub resource_id: Option<String>,
    /// The provisioning log's outcome when it says more than `ok`.
    pub outcome: Option<&'static str>,
    /// What the pipeline decided, for the provisioning log.
    pub detail: Option<String>,
    /// The operations a bulk request ran, in order: one provisioning-log
    /// record each (a bulk answers 200 whatever its operations did).
    pub operations: Vec<OperationRecord>,
}

/// How one operation of a bulk request ended, for the provisioning log,
/// the failure metrics and the admin's notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRecord {
    /// `create`, `replace`, `patch`, `delete` (`other` for an unknown method).
    pub operation: &'static str,
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
    pub status: u16,
    /// As [`ScimResponse::outcome`].
    pub outcome: Option<&'static str>,
    /// As [`ScimResponse::detail`].
    pub detail: Option<String>,
    /// The SCIM error's detail, for a failure.
    pub error: Option<String>,
    /// What the operation went through, as [`crate::trace`] collected it.
    pub trace: Option<Vec<crate::trace::Stage>>,
    pub failed_by: Option<Party>,
    /// A failure an admin must fix ([`Failure::needs_admin`](crate::failure::Failure::needs_admin)).
    pub needs_admin: bool,
    pub elapsed: Duration,
}
impl ScimResponse {
    pub(super) fn json(status: u16, body: Value) -> Self {
        ScimResponse {
            status,
            body: Some(body),
            etag: None,
            location: None,
            resource_id: None,
            outcome: None,
            detail: None,
            operations: Vec::new(),
        }
    }

    pub(super) fn empty(status: u16) -> Self {
        ScimResponse { body: None, ..ScimResponse::json(status, Value::Null) }
    }
}
