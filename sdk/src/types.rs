//! The contract's types as plain Rust (the WIT `types` interface).

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// What the IdP asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Replace,
    Patch,
    Delete,
    Get,
    List,
}

/// Context handed to every hook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub tenant: String,
    /// The IdP profile the tenant configured (`entra`, `okta`, `onelogin`, `generic`).
    pub idp_profile: String,
    pub operation: Operation,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The resource's id, when it has one (not on create).
    pub resource_id: Option<String>,
}

impl Context {
    /// A context for tests: tenant `test`, IdP profile `generic`, no id.
    pub fn new(operation: Operation, resource_type: &str) -> Context {
        Context {
            tenant: "test".to_owned(),
            idp_profile: "generic".to_owned(),
            operation,
            resource_type: resource_type.to_owned(),
            resource_id: None,
        }
    }

    /// Whether the resource is a User (compared case-insensitively).
    pub fn is_user(&self) -> bool {
        self.resource_type.eq_ignore_ascii_case("User")
    }

    /// Whether the resource is a Group (compared case-insensitively).
    pub fn is_group(&self) -> bool {
        self.resource_type.eq_ignore_ascii_case("Group")
    }
}

/// A scope hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeDecision {
    /// The gateway provisions this resource.
    In,
    /// The gateway ignores this resource; the reason is logged.
    Out(String),
}

/// One key to find an existing target account: the attribute path and the
/// value it must equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchKey {
    pub attribute: String,
    pub value: String,
}

impl MatchKey {
    pub fn new(attribute: impl Into<String>, value: impl Into<String>) -> MatchKey {
        MatchKey { attribute: attribute.into(), value: value.into() }
    }
}

/// Lifecycle events, raised after a write succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    Created,
    Updated,
    Deactivated,
    Reactivated,
    Deleted,
}

/// Why a hook did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    /// The plugin refused the document on purpose (e.g. a required attribute
    /// is missing): the IdP gets a 400 with this message.
    Rejected(String),
    /// The plugin could not do its work (bad configuration, a bug).
    Failed(String),
}

impl HookError {
    pub fn rejected(message: impl Into<String>) -> HookError {
        HookError::Rejected(message.into())
    }

    pub fn failed(message: impl Into<String>) -> HookError {
        HookError::Failed(message.into())
    }

    pub fn message(&self) -> &str {
        match self {
            HookError::Rejected(m) | HookError::Failed(m) => m,
        }
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookError::Rejected(m) => write!(f, "rejected: {m}"),
            HookError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for HookError {}

/// A SCIM error raised by the plugin's own code (a bad path literal, say) is a
/// bug in the plugin, not the IdP's fault.
impl From<scim::ScimError> for HookError {
    fn from(e: scim::ScimError) -> HookError {
        HookError::Failed(e.detail)
    }
}

/// Read the plugin's configuration into `T`. A tenant that configured nothing
/// sends `null`, read as `{}` so that `#[serde(default)]` fields work. A
/// configuration that does not fit is [`HookError::Failed`].
pub fn config<T: DeserializeOwned>(config: &Value) -> Result<T, HookError> {
    let result = match config {
        Value::Null => serde_json::from_value(Value::Object(Default::default())),
        other => T::deserialize(other),
    };
    result.map_err(|e| HookError::failed(format!("invalid plugin configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, Debug, PartialEq, Default)]
    #[serde(default)]
    struct Conf {
        departments: Vec<String>,
    }

    #[test]
    fn config_reads_null_as_empty_object() {
        assert_eq!(config::<Conf>(&Value::Null).unwrap(), Conf::default());
        assert_eq!(config::<Conf>(&json!({"departments": ["a"]})).unwrap().departments, ["a"]);
        let err = config::<Conf>(&json!({"departments": 3})).unwrap_err();
        assert!(matches!(err, HookError::Failed(m) if m.starts_with("invalid plugin configuration")));
    }

    #[test]
    fn context_helpers() {
        let ctx = Context::new(Operation::Create, "user");
        assert!(ctx.is_user() && !ctx.is_group());
        assert_eq!(HookError::rejected("no").to_string(), "rejected: no");
        assert_eq!(HookError::failed("bug").message(), "bug");
    }
}
