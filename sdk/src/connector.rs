//! Connectors: the SCIM operations of one resource type in a legacy API's
//! terms (the WIT `connector` interface).
//!
//! The gateway supplies what such an API lacks: PATCH is applied to its
//! shadow copy and sent as [`Connector::update`], filters and paging are
//! answered from the shadow, and matching goes through [`Connector::find`].
//! A connector talks to its API with [`crate::http::send`]; the host limits it
//! to the tenant's upstream origin and adds the credential.

use std::fmt;

use serde_json::Value;

use crate::{Context, HookError, MatchKey, Resource};

/// One resource type's operations against the target API. Documents are
/// SCIM JSON (what the pipeline produced, with group members named by the
/// target's ids); ids are the target's.
pub trait Connector {
    /// Create; the answer is the new resource with the target's `id`.
    fn create(doc: Resource, ctx: &Context, config: &Value) -> Result<Resource, ConnectorError>;
    /// The resource, or `None` when the target no longer has it.
    fn get(id: &str, ctx: &Context, config: &Value) -> Result<Option<Resource>, ConnectorError>;
    /// Replace with the full document; `None` when the target no longer has it.
    fn update(id: &str, doc: Resource, ctx: &Context, config: &Value) -> Result<Option<Resource>, ConnectorError>;
    /// Delete; an id the target no longer has is not an error.
    fn delete(id: &str, ctx: &Context, config: &Value) -> Result<(), ConnectorError>;
    /// The resource whose `key.attribute` (`userName`, `externalId`, ...)
    /// equals `key.value`, if the target has one. `Ok(None)` also when the
    /// API cannot search by that attribute.
    fn find(key: &MatchKey, ctx: &Context, config: &Value) -> Result<Option<Resource>, ConnectorError>;
}

/// Why a connector operation did not succeed; each becomes a different
/// answer to the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// The target refused the document: the IdP gets 400 with this message.
    Rejected(String),
    /// The target already has such an account: the gateway may find and
    /// link it, else the IdP gets 409.
    Conflict(String),
    /// The target asks to slow down: seconds to wait (the IdP gets 429 or
    /// 503 with `Retry-After`).
    Busy(u32),
    /// Anything else: the IdP gets 502 with this message.
    Failed(String),
}

impl ConnectorError {
    pub fn rejected(message: impl Into<String>) -> ConnectorError {
        ConnectorError::Rejected(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> ConnectorError {
        ConnectorError::Conflict(message.into())
    }

    pub fn failed(message: impl Into<String>) -> ConnectorError {
        ConnectorError::Failed(message.into())
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectorError::Rejected(m) => write!(f, "rejected: {m}"),
            ConnectorError::Conflict(m) => write!(f, "conflict: {m}"),
            ConnectorError::Busy(seconds) => write!(f, "busy: retry after {seconds} s"),
            ConnectorError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for ConnectorError {}

/// So that `?` works on the SDK's helpers ([`Resource::set`],
/// [`crate::config`]) inside a connector: a refusal stays a refusal.
impl From<HookError> for ConnectorError {
    fn from(e: HookError) -> ConnectorError {
        match e {
            HookError::Rejected(m) => ConnectorError::Rejected(m),
            HookError::Failed(m) => ConnectorError::Failed(m),
        }
    }
}

/// A SCIM error raised by the connector's own code is a bug in it.
impl From<scim::ScimError> for ConnectorError {
    fn from(e: scim::ScimError) -> ConnectorError {
        ConnectorError::Failed(e.detail)
    }
}
