//! The mapping step's configuration as written in the tenant file.

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;

/// The configuration of a mapping step, as written in the tenant file (the
/// gateway's step enum consumes `kind`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// A SCIM filter; documents it does not match are out of scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// Paths whose values identify an existing target account, in order.
    #[serde(default)]
    pub match_keys: Option<Vec<String>>,
    /// Start from the incoming document (`true`, the default) or from an
    /// empty one carrying only `schemas`.
    #[serde(default = "default_passthrough")]
    pub passthrough: bool,
    #[serde(default)]
    pub transform_in: Rules,
    /// `None`: derived from `transform_in`; `Some(empty)`: no transform_out.
    #[serde(default)]
    pub transform_out: Option<Rules>,
}

fn default_passthrough() -> bool {
    true
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            scope: None,
            match_keys: None,
            passthrough: true,
            transform_in: Rules::default(),
            transform_out: None,
        }
    }
}

/// An ordered list of `target = source` rules (a TOML table).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules(pub Vec<Rule>);

/// One rule as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub target: String,
    pub source: RuleSource,
}

/// A rule's right-hand side: an expression string, or a non-string TOML
/// value (`"active" = true`) taken as a constant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RuleSource {
    Expr(String),
    Literal(Value),
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Rules {
    /// Rules from `(target, expression)` pairs.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Rules(iter.into_iter().map(|(k, v)| Rule { target: k.into(), source: RuleSource::Expr(v.into()) }).collect())
    }
}

impl<'de> Deserialize<'de> for Rules {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RulesVisitor;
        impl<'de> Visitor<'de> for RulesVisitor {
            type Value = Rules;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of `target_path = source_expression` rules")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rules, A::Error> {
                let mut rules = Vec::new();
                while let Some((target, source)) = map.next_entry::<String, RuleSource>()? {
                    rules.push(Rule { target, source });
                }
                Ok(Rules(rules))
            }
        }
        deserializer.deserialize_map(RulesVisitor)
    }
}

/// A configuration the step cannot be built from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping step {step:?}, {rule}: {message}")]
pub struct MappingConfigError {
    pub step: String,
    /// Which part of the configuration: `scope`, `match_keys[1]`,
    /// `transform_in."userName"`, ...
    pub rule: String,
    pub message: String,
}
