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

use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use scim::document;
use scim::filter::Filter;
use scim::path::{AttrPath, ValuePath};
use scim::resource::key_ci;
use scim::schema::ResourceSchema;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::step::{HookContext, Hooks, MatchKey, ScopeDecision, Step, StepError};

/// How deeply function calls may nest in one source expression.
pub const MAX_NESTING: usize = 32;

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

// ---------------------------------------------------------------------------
// Expressions

/// A parsed source expression.
#[derive(Debug, Clone)]
enum Expr {
    Const(Value),
    Path(ValuePath),
    /// The compiled query and its text (jsonpath-rust's `Display` is lossy).
    JsonPath(Box<JpQuery>, String),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Lower,
    Upper,
    Trim,
    Concat,
    Split,
    Default,
    Replace,
    IfPresent,
}

impl Func {
    const ALL: [Func; 8] = [
        Func::Lower,
        Func::Upper,
        Func::Trim,
        Func::Concat,
        Func::Split,
        Func::Default,
        Func::Replace,
        Func::IfPresent,
    ];

    fn name(self) -> &'static str {
        match self {
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Trim => "trim",
            Func::Concat => "concat",
            Func::Split => "split",
            Func::Default => "default",
            Func::Replace => "replace",
            Func::IfPresent => "if_present",
        }
    }

    /// Its parameters, for arity errors.
    fn signature(self) -> &'static str {
        match self {
            Func::Lower | Func::Upper | Func::Trim => "(x)",
            Func::Concat => "(a, b, ...)",
            Func::Split => "(x, separator, index)",
            Func::Default => "(x, fallback)",
            Func::Replace => "(x, from, to)",
            Func::IfPresent => "(x, then, else)",
        }
    }

    fn arity_ok(self, n: usize) -> bool {
        match self {
            Func::Lower | Func::Upper | Func::Trim => n == 1,
            Func::Concat => n >= 1,
            Func::Default => n == 2,
            Func::Split | Func::Replace | Func::IfPresent => n == 3,
        }
    }
}

/// A parse error: 0-based byte offset into the expression and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ExprError {}

/// Check that a source expression parses; the error says where it does not.
pub fn check_expression(text: &str) -> Result<(), ExprError> {
    Expr::parse(text).map(|_| ())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Const(value) => write!(f, "{value}"),
            Expr::Path(path) => write!(f, "{path}"),
            Expr::JsonPath(_, text) => f.write_str(text),
            Expr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Expr {
    fn parse(text: &str) -> Result<Expr, ExprError> {
        let mut parser = ExprParser { src: text, pos: 0 };
        let expr = parser.expr(0)?;
        parser.skip_ws();
        match parser.peek() {
            None => Ok(expr),
            Some(c) => Err(parser.error(format!("expected the end of the expression, found {c:?}"))),
        }
    }

    /// The value this expression gives on `doc`; `None` is "nothing".
    /// Errors are data-dependent failures (a text function given an array).
    fn eval(&self, doc: &Value, schema: &ResourceSchema) -> Result<Option<Value>, String> {
        match self {
            Expr::Const(value) => Ok(Some(value.clone())),
            Expr::Path(path) => Ok(document::first(doc, path, schema).cloned()),
            Expr::JsonPath(query, text) => {
                let first = catch_unwind(AssertUnwindSafe(|| {
                    js_path_process(query, doc).map(|found| found.into_iter().next().map(|r| r.val.clone()))
                }));
                match first {
                    Ok(Ok(value)) => Ok(value.filter(|v| !v.is_null())),
                    Ok(Err(e)) => Err(format!("JSONPath {text}: {e}")),
                    Err(_) => Err(format!("JSONPath {text} failed")),
                }
            }
            Expr::Call(func, args) => self.call(*func, args, doc, schema),
        }
    }

    fn call(&self, func: Func, args: &[Expr], doc: &Value, schema: &ResourceSchema) -> Result<Option<Value>, String> {
        let name = func.name();
        let text_arg = |i: usize| -> Result<Option<String>, String> { as_text(name, args[i].eval(doc, schema)?) };
        let result = match func {
            Func::Lower => text_arg(0)?.map(|s| s.to_lowercase()),
            Func::Upper => text_arg(0)?.map(|s| s.to_uppercase()),
            Func::Trim => text_arg(0)?.map(|s| s.trim().to_owned()),
            Func::Concat => {
                let mut out = String::new();
                let mut dynamic_args = false;
                let mut dynamic_values = false;
                for (i, arg) in args.iter().enumerate() {
                    let is_dynamic = !matches!(arg, Expr::Const(_));
                    dynamic_args |= is_dynamic;
                    if let Some(s) = text_arg(i)? {
                        dynamic_values |= is_dynamic;
                        out.push_str(&s);
                    }
                }
                (dynamic_values || !dynamic_args).then_some(out)
            }
            Func::Split => {
                let Some(s) = text_arg(0)? else { return Ok(None) };
                let separator = text_arg(1)?.unwrap_or_default();
                if separator.is_empty() {
                    return Err("split() needs a non-empty separator".to_owned());
                }
                let index = match args[2].eval(doc, schema)? {
                    Some(Value::Number(n)) => n.as_i64(),
                    Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| "split() needs an integer index".to_owned())?;
                let pieces: Vec<&str> = s.split(separator.as_str()).collect();
                let at = if index < 0 { i64::try_from(pieces.len()).ok().map(|n| n + index) } else { Some(index) };
                at.and_then(|i| usize::try_from(i).ok()).and_then(|i| pieces.get(i)).map(|p| (*p).to_owned())
            }
            Func::Replace => {
                let Some(s) = text_arg(0)? else { return Ok(None) };
                let from = text_arg(1)?.unwrap_or_default();
                if from.is_empty() {
                    return Err("replace() needs a non-empty text to replace".to_owned());
                }
                let to = text_arg(2)?.unwrap_or_default();
                Some(s.replace(&from, &to))
            }
            Func::Default => {
                return match args[0].eval(doc, schema)? {
                    Some(value) if has_value(&value) => Ok(Some(value)),
                    _ => args[1].eval(doc, schema),
                };
            }
            Func::IfPresent => {
                let present = args[0].eval(doc, schema)?.is_some_and(|v| has_value(&v));
                return args[if present { 1 } else { 2 }].eval(doc, schema);
            }
        };
        Ok(result.map(Value::String))
    }
}

/// Not `null` and not the empty string.
fn has_value(value: &Value) -> bool {
    !(value.is_null() || value.as_str().is_some_and(str::is_empty))
}

/// A value as text for the text functions.
fn as_text(func: &str, value: Option<Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Array(_)) => Err(format!("{func}() expects text, got an array")),
        Some(Value::Object(_)) => Err(format!("{func}() expects text, got an object")),
    }
}

struct ExprParser<'a> {
    src: &'a str,
    /// Always on a char boundary.
    pos: usize,
}

impl<'a> ExprParser<'a> {
    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError { position: self.pos, message: message.into() }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, ExprError> {
        self.skip_ws();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.error("expected an expression"));
        };
        match c {
            '"' | '\'' => self.string().map(|s| Expr::Const(Value::String(s))),
            '$' => {
                let text = self.operand();
                parse_json_path(text)
                    .map(|q| Expr::JsonPath(Box::new(q), text.to_owned()))
                    .map_err(|e| ExprError { position: start, message: format!("invalid JSONPath {text:?}: {e}") })
            }
            '-' | '0'..='9' => {
                let text = self.operand();
                serde_json::from_str::<serde_json::Number>(text)
                    .map(|n| Expr::Const(Value::Number(n)))
                    .map_err(|_| ExprError { position: start, message: format!("invalid number {text:?}") })
            }
            c if c.is_ascii_alphabetic() => {
                let rest = &self.src[start..];
                let ident_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                let after = &rest[ident_len..];
                if after.trim_start().starts_with('(') {
                    let name = &rest[..ident_len];
                    let Some(func) = Func::ALL.into_iter().find(|f| f.name() == name) else {
                        let known: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
                        return Err(self.error(format!("unknown function {name:?} (known: {})", known.join(", "))));
                    };
                    if depth >= MAX_NESTING {
                        return Err(self.error(format!("functions nested deeper than {MAX_NESTING} levels")));
                    }
                    self.pos = start + ident_len + (after.len() - after.trim_start().len()) + 1;
                    let args = self.args(depth + 1)?;
                    if !func.arity_ok(args.len()) {
                        let expected = match func {
                            Func::Concat => "at least 1".to_owned(),
                            _ => func.signature().split(',').count().to_string(),
                        };
                        let message =
                            format!("{name}{} takes {expected} argument(s), got {}", func.signature(), args.len());
                        return Err(ExprError { position: start, message });
                    }
                    check_constant_args(func, &args).map_err(|m| ExprError { position: start, message: m })?;
                    return Ok(Expr::Call(func, args));
                }
                let text = self.operand();
                match text {
                    "true" => Ok(Expr::Const(Value::Bool(true))),
                    "false" => Ok(Expr::Const(Value::Bool(false))),
                    "null" => Ok(Expr::Const(Value::Null)),
                    _ => ValuePath::parse(text).map(Expr::Path).map_err(|e| path_error(start, &e.detail)),
                }
            }
            c => Err(self.error(format!(
                "unexpected {c:?}: expected a SCIM path, a JSONPath ($...), a constant or a function call"
            ))),
        }
    }

    /// `(` already consumed: arguments up to the matching `)`.
    fn args(&mut self, depth: usize) -> Result<Vec<Expr>, ExprError> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                Some(c) => return Err(self.error(format!("expected ',' or ')', found {c:?}"))),
                None => return Err(self.error("expected ',' or ')' before the end of the expression")),
            }
        }
    }

    /// A path, JSONPath or number: up to white space, `,` or `)` outside
    /// brackets, parentheses and quotes.
    fn operand(&mut self) -> &'a str {
        let start = self.pos;
        let rest = &self.src[start..];
        let mut depth = 0usize;
        let mut quote = None;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '"' | '\'' => quote = Some(c),
                '[' | '(' => depth += 1,
                ']' | ')' if depth > 0 => depth -= 1,
                ',' | ')' if depth == 0 => {
                    end = i;
                    break;
                }
                c if c.is_whitespace() && depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        self.pos = start + end;
        &rest[..end]
    }

    /// A quoted string: `"..."` with JSON escapes, or `'...'` where only
    /// `\'` and `\\` are escapes.
    fn string(&mut self) -> Result<String, ExprError> {
        let start = self.pos;
        let rest = &self.src[start..];
        let quote = rest.chars().next().unwrap_or('"');
        let mut escaped = false;
        let mut close = None;
        for (i, c) in rest.char_indices().skip(1) {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == quote {
                close = Some(i);
                break;
            }
        }
        let Some(close) = close else {
            return Err(self.error("unterminated string"));
        };
        let value = if quote == '"' {
            serde_json::from_str::<String>(&rest[..=close])
                .map_err(|e| self.error(format!("invalid string: {}", strip_serde_position(&e.to_string()))))?
        } else {
            let mut out = String::with_capacity(close);
            let mut chars = rest[1..close].chars();
            while let Some(c) = chars.next() {
                match (c, chars.clone().next()) {
                    ('\\', Some(next @ ('\'' | '\\'))) => {
                        out.push(next);
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            out
        };
        self.pos = start + close + 1;
        Ok(value)
    }
}

/// Reject constant arguments that can never work.
fn check_constant_args(func: Func, args: &[Expr]) -> Result<(), String> {
    let empty = |i: usize| matches!(args.get(i), Some(Expr::Const(Value::String(s))) if s.is_empty());
    match func {
        Func::Split if empty(1) => Err("split() needs a non-empty separator".to_owned()),
        Func::Replace if empty(1) => Err("replace() needs a non-empty text to replace".to_owned()),
        Func::Split => match args.get(2) {
            Some(Expr::Const(Value::Number(n))) if n.as_i64().is_none() => {
                Err("split() needs an integer index".to_owned())
            }
            Some(Expr::Const(v)) if !v.is_number() => Err("split() needs an integer index".to_owned()),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// A SCIM path error inside an expression: the path's own "at position N"
/// becomes an offset into the expression.
fn path_error(start: usize, detail: &str) -> ExprError {
    if let Some((message, pos)) = detail.rsplit_once(" at position ")
        && let Ok(pos) = pos.trim().parse::<usize>()
    {
        return ExprError { position: start + pos, message: message.to_owned() };
    }
    ExprError { position: start, message: detail.to_owned() }
}

/// serde_json appends "at line 1 column N"; our positions are our own.
fn strip_serde_position(message: &str) -> &str {
    message.rsplit_once(" at line ").map_or(message, |(m, _)| m)
}

#[cfg(test)]
mod tests;
