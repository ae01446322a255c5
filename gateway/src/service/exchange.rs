//! A SCIM request and its answer, stripped of HTTP.

use serde_json::Value;

use super::route::{Method, Route};

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
        }
    }

    pub(super) fn empty(status: u16) -> Self {
        ScimResponse { status, body: None, etag: None, location: None, resource_id: None, outcome: None, detail: None }
    }
}
