//! The declarative mapping step: `target_path = source_expression` rules.
//!
//! Most tenants need nothing more than renaming, lower-casing or defaulting a
//! few attributes, so this step kind needs no code. Its configuration (one
//! `[[steps]]` table of the tenant file, `kind = "mapping"`):
//!
//! ```toml
//! [[steps]]
//! kind = "mapping"
//! scope = 'userType eq "Employee" and active eq true'        # optional SCIM filter
//! match_keys = ["externalId", 'emails[type eq "work"].value', "userName"]   # optional
//! passthrough = true                                           # optional, the default
//! [steps.transform_in]
//! "userName" = 'lower(emails[type eq "work"].value)'
//! "displayName" = 'concat(name.givenName, " ", name.familyName)'
//! "title" = '$.title'
//! "active" = 'true'
//! [steps.transform_out]                                        # optional
//! "emails[type eq \"work\"].value" = "userName"
//! ```
//!
//! # Hooks
//!
//! - **scope** (when `scope` is set): in scope when the filter matches the
//!   incoming document (RFC 7644 filter semantics from the `scim` crate,
//!   evaluated against the User or Group schema by `ctx.resource_type`); out
//!   of scope otherwise, with a reason that quotes the filter.
//! - **match_keys** (when `match_keys` is set): each path is read from the
//!   incoming document like a source path (below); every non-empty string,
//!   number or boolean becomes a [`MatchKey`] whose `attribute` is the path as
//!   written, in the configured order.
//! - **transform_in** (when it has rules) and **transform_out**: `transform_out`
//!   is the explicit table when one is given (an empty table means "no
//!   transform_out"); when it is absent it is *derived* from the
//!   `transform_in` rules that are plain path-to-path copies (`"a" = "b"`
//!   becomes `"b" = "a"`; rules with functions, constants or JSONPath are not
//!   invertible and are left out, and a path whose filter cannot be written to,
//!   see below, cannot become a target). No invertible rule, no hook.
//!
//! # Transform semantics
//!
//! - With `passthrough = true` (the default) the outgoing document starts as
//!   the incoming one and each rule overwrites or adds its target. With
//!   `passthrough = false` it starts with only the incoming `schemas`.
//! - Every source is read from the **incoming** document, never from the
//!   document being built: a rule does not see what another rule wrote.
//! - A source that evaluates to nothing (absent, JSON `null`, or a function
//!   result of nothing) leaves its target **unchanged**: it is not removed
//!   when passing through, and not created otherwise. The constant `null`
//!   writes a JSON `null`, which SCIM reads as "unassigned".
//! - Rules that write a whole attribute (`emails`, `name`) are applied before
//!   rules that write inside one (`emails[type eq "work"].value`,
//!   `name.givenName`), so the finer rule wins whatever order the
//!   configuration's table arrives in (TOML tables are unordered); otherwise
//!   the configured order is kept.
//!
//! # Target paths
//!
//! Sources and targets follow [`scim::document`]'s rules, the ones plugins
//! get from the SDK's `Resource` too.
//!
//! SCIM paths: `attr`, `attr.sub`, `urn:...:attr`, `urn:...:attr.sub` and
//! value paths `attr[filter].sub`. Names match existing members
//! case-insensitively (the existing spelling is kept). A core schema URN
//! (`urn:ietf:params:scim:schemas:core:2.0:...`) means the top level; any
//! other URN is an extension object, created when missing and added to the
//! document's `schemas` array when that array exists. `attr.sub` writes into
//! the object `attr`, or for a multi-valued `attr` into its primary element (or
//! the first, or a new one). A value-path target needs a sub-attribute and a
//! filter made only of `eq` comparisons joined by `and`: the value is set on
//! the primary (else the first) matching element, and when no element
//! matches, one is appended built from the filter's comparisons, so
//! `emails[type eq "work"].value` appends `{"type": "work", "value": ...}`.
//!
//! # Source expressions
//!
//! | form | meaning |
//! | --- | --- |
//! | `name.givenName`, `urn:...:User:department`, `emails[type eq "work"].value` | a SCIM path; on a multi-valued attribute (filtered or not) it selects the `primary` element among the matching ones that have the sub-attribute, else the first; without filter nor sub-attribute the whole attribute is copied |
//! | `$.title`, `$.emails[?@.type == 'work'].value` | a JSONPath (RFC 9535, `jsonpath-rust`): the first result |
//! | `"text"` (JSON escapes), `'text'`, `42`, `-1.5`, `true`, `false`, `null` | constants |
//! | `lower(x)`, `upper(x)`, `trim(x)` | text case and surrounding white space |
//! | `concat(a, b, ...)` | text concatenation; absent arguments are skipped, and the result is nothing when no argument other than constants had a value |
//! | `split(x, sep, index)` | the `index`-th (0-based, negative counts from the end) piece of `x` split on `sep`; nothing when out of range |
//! | `default(x, fallback)` | `x`, or `fallback` when `x` is nothing or `""` |
//! | `replace(x, from, to)` | every occurrence of `from` replaced |
//! | `if_present(x, then, else)` | `then` when `x` has a value (not nothing, not `""`), else `else` |
//!
//! Functions nest. Text functions take strings, numbers and booleans (as
//! their JSON text); given an array or an object they fail the request with
//! [`StepError::Failed`] naming the rule. Everything is parsed and checked
//! when the step is built ([`MappingStep::new`]); a parse error names the rule
//! and the 0-based byte position in the expression. Parsing never panics.

mod config;
mod expr;

use std::collections::HashSet;
use std::sync::OnceLock;

use scim::document;
use scim::filter::Filter;
use scim::path::{AttrPath, ValuePath};
use scim::resource::key_ci;
use scim::schema::ResourceSchema;
use serde_json::{Map, Value};

pub use config::{MappingConfig, MappingConfigError, Rule, RuleSource, Rules};
use expr::Expr;
pub use expr::{ExprError, MAX_NESTING, check_expression};

use crate::step::{HookContext, Hooks, MatchKey, ScopeDecision, Step, StepError};

/// A compiled mapping step.
#[derive(Debug)]
pub struct MappingStep {
    name: String,
    scope: Option<(Filter, String)>,
    match_keys: Vec<(ValuePath, String)>,
    passthrough: bool,
    transform_in: Vec<CompiledRule>,
    transform_out: Vec<CompiledRule>,
    has_match_keys: bool,
}

#[derive(Debug)]
struct CompiledRule {
    /// The target as written, for errors.
    label: String,
    target: Target,
    source: Expr,
}

impl MappingStep {
    /// Parse and check every filter, path and expression of `config`.
    pub fn new(name: impl Into<String>, config: MappingConfig) -> Result<MappingStep, MappingConfigError> {
        let name = name.into();
        let fail = |rule: String, message: String| MappingConfigError { step: name.clone(), rule, message };

        let scope = match config.scope {
            None => None,
            Some(text) => {
                let filter = Filter::parse(&text).map_err(|e| fail("scope".to_owned(), e.detail))?;
                Some((filter, text))
            }
        };
        let has_match_keys = config.match_keys.is_some();
        let mut match_keys = Vec::new();
        for (i, text) in config.match_keys.unwrap_or_default().into_iter().enumerate() {
            let path = ValuePath::parse(&text).map_err(|e| fail(format!("match_keys[{i}]"), e.detail))?;
            match_keys.push((path, text.trim().to_owned()));
        }

        let transform_in = compile_rules("transform_in", &config.transform_in).map_err(|(r, m)| fail(r, m))?;
        let transform_out = match &config.transform_out {
            Some(rules) => compile_rules("transform_out", rules).map_err(|(r, m)| fail(r, m))?,
            None => derive_inverse(&transform_in),
        };
        Ok(MappingStep {
            name,
            scope,
            match_keys,
            passthrough: config.passthrough,
            transform_in,
            transform_out,
            has_match_keys,
        })
    }

    /// The transform_out rules in application order, as `(target, source)`
    /// text: the configured ones or those derived from transform_in.
    pub fn transform_out_rules(&self) -> Vec<(String, String)> {
        self.transform_out.iter().map(|r| (r.label.clone(), r.source.to_string())).collect()
    }

    fn apply(&self, hook: &str, rules: &[CompiledRule], doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        let schema = schema_for(ctx);
        if !doc.is_object() {
            return Err(self.failed(format!("{hook} expects a JSON object"), None));
        }
        // Evaluate every source against the incoming document first, then write.
        let mut values = Vec::with_capacity(rules.len());
        for rule in rules {
            let value = rule
                .source
                .eval(&doc, schema)
                .map_err(|msg| self.failed(msg, Some(format!("{hook} rule {:?}", rule.label))))?;
            values.push(value);
        }
        let Value::Object(input) = doc else { unreachable!("checked above") };
        let out = if self.passthrough {
            input
        } else {
            let mut out = Map::new();
            if let Some(key) = key_ci(&input, "schemas")
                && let Some(schemas) = input.get(&key)
            {
                out.insert(key, schemas.clone());
            }
            out
        };
        let mut out = Value::Object(out);
        for (rule, value) in rules.iter().zip(values) {
            if let Some(value) = value {
                document::set(&mut out, &rule.target.path, value, schema)
                    .map_err(|e| self.failed(e.to_string(), Some(format!("{hook} rule {:?}", rule.label))))?;
            }
        }
        Ok(out)
    }

    fn failed(&self, message: String, location: Option<String>) -> StepError {
        StepError::Failed { step: self.name.clone(), message, location }
    }
}

impl Step for MappingStep {
    fn name(&self) -> &str {
        &self.name
    }

    fn hooks(&self) -> Hooks {
        Hooks {
            scope: self.scope.is_some(),
            transform_in: !self.transform_in.is_empty(),
            transform_out: !self.transform_out.is_empty(),
            match_keys: self.has_match_keys,
            on_event: false,
        }
    }

    fn scope(&self, doc: &Value, ctx: &HookContext) -> Result<ScopeDecision, StepError> {
        let Some((filter, text)) = &self.scope else {
            return Ok(ScopeDecision::In);
        };
        if filter.matches(doc, schema_for(ctx)) {
            Ok(ScopeDecision::In)
        } else {
            Ok(ScopeDecision::Out { reason: format!("{}: does not match the scope filter {text}", self.name) })
        }
    }

    fn transform_in(&self, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        if self.transform_in.is_empty() {
            return Ok(doc);
        }
        self.apply("transform_in", &self.transform_in, doc, ctx)
    }

    fn transform_out(&self, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        if self.transform_out.is_empty() {
            return Ok(doc);
        }
        self.apply("transform_out", &self.transform_out, doc, ctx)
    }

    fn match_keys(&self, doc: &Value, ctx: &HookContext) -> Result<Vec<MatchKey>, StepError> {
        let schema = schema_for(ctx);
        let mut keys = Vec::new();
        for (path, text) in &self.match_keys {
            let value = match document::first(doc, path, schema) {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => continue,
            };
            keys.push(MatchKey { attribute: text.clone(), value });
        }
        Ok(keys)
    }
}

/// The built-in schema for the context's resource type.
fn schema_for(ctx: &HookContext) -> &'static ResourceSchema {
    static USER: OnceLock<ResourceSchema> = OnceLock::new();
    static GROUP: OnceLock<ResourceSchema> = OnceLock::new();
    if ctx.resource_type.eq_ignore_ascii_case("Group") {
        GROUP.get_or_init(ResourceSchema::group)
    } else {
        USER.get_or_init(ResourceSchema::user)
    }
}

fn compile_rules(hook: &str, rules: &Rules) -> Result<Vec<CompiledRule>, (String, String)> {
    let mut seen = HashSet::new();
    let mut compiled = Vec::with_capacity(rules.0.len());
    for rule in &rules.0 {
        let label = format!("{hook}.{:?}", rule.target);
        let path = ValuePath::parse(&rule.target).map_err(|e| (label.clone(), format!("target: {}", e.detail)))?;
        let target = Target::new(path).map_err(|m| (label.clone(), format!("target: {m}")))?;
        if !seen.insert(target.path.to_string().to_ascii_lowercase()) {
            return Err((label, "this target is written by another rule too".to_owned()));
        }
        let source = match &rule.source {
            RuleSource::Literal(value) => Expr::Const(value.clone()),
            RuleSource::Expr(text) => {
                Expr::parse(text).map_err(|e| (label.clone(), format!("source {text:?}: {e}")))?
            }
        };
        compiled.push(CompiledRule { label: rule.target.trim().to_owned(), target, source });
    }
    // Whole-attribute targets first, finer ones after (stable).
    compiled.sort_by_key(|r| r.target.is_fine());
    Ok(compiled)
}

/// The inverse of the plain path-to-path copies among `rules`.
/// When two rules copy the same source, the first one's target is read back.
fn derive_inverse(rules: &[CompiledRule]) -> Vec<CompiledRule> {
    let mut seen = HashSet::new();
    let mut inverse = Vec::new();
    for rule in rules {
        let Expr::Path(source) = &rule.source else { continue };
        let Ok(target) = Target::new(source.clone()) else { continue };
        if !seen.insert(source.to_string().to_ascii_lowercase()) {
            continue;
        }
        inverse.push(CompiledRule { label: source.to_string(), target, source: Expr::Path(rule.target.path.clone()) });
    }
    inverse.reverse();
    inverse.sort_by_key(|r| r.target.is_fine());
    inverse
}

// ---------------------------------------------------------------------------
// Targets

/// Where a rule writes: a path [`document::set`] can always write to.
#[derive(Debug)]
struct Target {
    path: ValuePath,
}

impl Target {
    /// Refuse, when the step is built, a filter that could not create the
    /// element it names when none matches.
    fn new(path: ValuePath) -> Result<Target, String> {
        if let Some(filter) = &path.filter {
            if path.attr.sub_attr.is_none() {
                return Err(format!(
                    "a filtered target needs a sub-attribute, as in {}[{filter}].value",
                    AttrPath { sub_attr: None, ..path.attr.clone() }
                ));
            }
            if document::element_from_filter(filter).is_none() {
                return Err(format!(
                    "the filter of a target must be `attr eq value` comparisons joined by `and`, \
                     so that a missing element can be created; found [{filter}]"
                ));
            }
        }
        Ok(Target { path })
    }

    /// Whether the target writes inside an attribute rather than a whole one.
    fn is_fine(&self) -> bool {
        self.path.filter.is_some() || self.path.attr.sub_attr.is_some()
    }
}

#[cfg(test)]
mod tests;
