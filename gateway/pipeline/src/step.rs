//! The hook contract every step kind implements (mirrors the WIT package in
//! `sdk/wit/`).

use serde_json::Value;

/// What the IdP asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Create,
    Replace,
    Patch,
    Delete,
    Get,
    List,
}

/// Context handed to every hook call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HookContext {
    pub tenant: String,
    /// The IdP profile the tenant configured (`entra`, `okta`, `onelogin`, `generic`).
    pub idp_profile: String,
    pub operation: Operation,
    /// `User` or `Group`.
    pub resource_type: String,
    pub resource_id: Option<String>,
}

/// A scope hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeDecision {
    In,
    Out { reason: String },
}

/// One key to find an existing target account, tried in order: the
/// attribute path and the value it must equal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchKey {
    pub attribute: String,
    pub value: String,
}

/// Lifecycle events, raised after a write succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    Created,
    Updated,
    Deactivated,
    Reactivated,
    Deleted,
}

/// Which hooks a step implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hooks {
    pub scope: bool,
    pub transform_in: bool,
    pub transform_out: bool,
    pub match_keys: bool,
    pub on_event: bool,
}

/// A step failed. The gateway turns this into a SCIM error for that one
/// request (and a provisioning-log entry); nothing else is affected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// The plugin refused the document on purpose (e.g. a required
    /// attribute is missing): the IdP gets 400 with this message.
    #[error("{step}: {message}")]
    Rejected { step: String, message: String },
    /// The plugin broke: trap, panic, script error, malformed result.
    /// `location` is file:line:column for scripts when known.
    #[error("{step}: {message}{}", location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default())]
    Failed { step: String, message: String, location: Option<String> },
    /// The plugin ran past its deadline.
    #[error("{step}: exceeded its {limit_ms} ms deadline")]
    Timeout { step: String, limit_ms: u64 },
    /// The plugin exceeded its memory or size limits.
    #[error("{step}: exceeded its resource limits: {message}")]
    ResourceLimit { step: String, message: String },
}

/// One step of a tenant's pipeline. Hooks a step does not implement keep
/// their default (identity / no opinion) and are never called, because the
/// pipeline consults [`Step::hooks`] first.
pub trait Step: Send + Sync {
    /// A name for logs and errors (the plugin or script file name).
    fn name(&self) -> &str;

    fn hooks(&self) -> Hooks;

    fn scope(&self, _doc: &Value, _ctx: &HookContext) -> Result<ScopeDecision, StepError> {
        Ok(ScopeDecision::In)
    }

    /// IdP SCIM shape -> target shape.
    fn transform_in(&self, doc: Value, _ctx: &HookContext) -> Result<Value, StepError> {
        Ok(doc)
    }

    /// Target shape -> SCIM shape for the IdP.
    fn transform_out(&self, doc: Value, _ctx: &HookContext) -> Result<Value, StepError> {
        Ok(doc)
    }

    fn match_keys(&self, _doc: &Value, _ctx: &HookContext) -> Result<Vec<MatchKey>, StepError> {
        Ok(Vec::new())
    }

    fn on_event(&self, _event: Event, _doc: &Value, _ctx: &HookContext) -> Result<(), StepError> {
        Ok(())
    }
}
