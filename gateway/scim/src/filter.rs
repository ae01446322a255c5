//! SCIM filters (RFC 7644 §3.4.2.2): parsing, static checks against a schema,
//! and evaluation against resource JSON.
//!
//! The parser is a hand-written recursive descent over the RFC's ABNF
//! (figure 1) with precedence `not` > `and` > `or`. It never panics: nesting
//! is capped at [`MAX_DEPTH`] and the number of comparisons at [`MAX_TERMS`],
//! which also bounds the depth of the tree every other function recurses
//! over. [`Display`](fmt::Display) prints a canonical form that parses back to
//! the same tree.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::error::ScimError;
use crate::path::{AttrPath, parse_attr_path};
use crate::resource::get_ci;
use crate::schema::{AttrType, AttributeDef, ResourceSchema};

/// The deepest nesting of `( )`, `not ( )` and `[ ]` a filter may have.
pub const MAX_DEPTH: usize = 64;

/// The most comparisons (`eq`, `pr`, ...) one filter may hold. Real IdPs send
/// one or two; the cap bounds the parse tree's depth, and so the stack used
/// by evaluation, printing and dropping.
pub const MAX_TERMS: usize = 256;

/// A comparison operator; `pr` is [`Filter::Present`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The lower-case keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator named by `keyword`, in any case.
    pub fn from_keyword(keyword: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(keyword))
    }

    /// Whether an ordering between an attribute value and the filter's value
    /// satisfies this operator (always false for `co`, `sw` and `ew`).
    fn accepts(self, ord: Ordering) -> bool {
        match self {
            CompareOp::Eq => ord.is_eq(),
            CompareOp::Ne => ord.is_ne(),
            CompareOp::Gt => ord.is_gt(),
            CompareOp::Ge => ord.is_ge(),
            CompareOp::Lt => ord.is_lt(),
            CompareOp::Le => ord.is_le(),
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`; `value` is a JSON string, number, boolean or null.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `path pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work" and primary eq true]`: `filter` is evaluated
    /// against each element of `attr`, its paths relative to the element.
    /// `attr` has no sub-attribute (a value path is not an `attrPath`; one
    /// would be ignored), and `filter` holds no `ValuePath`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Parse a filter. Keywords, operators and `true`/`false`/`null` are
    /// case-insensitive; `and` binds tighter than `or`, `not ( )` tighter
    /// than both.
    ///
    /// Every error is `400 invalidFilter`; its detail says what was expected
    /// and ends with `at position N`, N being the 0-based byte offset into
    /// `s`.
    pub fn parse(s: &str) -> Result<Filter, ScimError> {
        let mut parser = Parser::new(s, 0, false);
        parser
            .parse_or()
            .and_then(|filter| {
                parser.skip_ws();
                match parser.peek() {
                    None => Ok(filter),
                    Some(_) => Err(parser.expected("'and', 'or' or the end of the filter")),
                }
            })
            .map_err(|(pos, msg)| ScimError::invalid_filter(format!("{msg} at position {pos}")))
    }

    /// Static checks against `schema`: `gt`, `ge`, `lt` and `le` on boolean or
    /// binary attributes, `co`, `sw` and `ew` on anything but string,
    /// reference and binary attributes, and `[filter]` on a non-complex
    /// attribute are `invalidFilter`. Unknown attributes pass (they never
    /// match anything but `ne` and `eq null`).
    pub fn validate(&self, schema: &ResourceSchema) -> Result<(), ScimError> {
        self.check(Scope::Resource(schema))
    }

    /// Whether `resource` (a whole resource document) matches.
    pub fn matches(&self, resource: &Value, schema: &ResourceSchema) -> bool {
        self.eval(resource, Scope::Resource(schema))
    }

    /// Whether one element of a multi-valued complex attribute matches, the
    /// filter's paths being relative to the element (PATCH paths such as
    /// `members[value eq "x"]`). `parent` is the multi-valued attribute's
    /// definition, `None` if unknown.
    pub fn matches_element(&self, element: &Value, parent: Option<&AttributeDef>) -> bool {
        self.eval(element, Scope::Element(parent))
    }

    fn check(&self, scope: Scope<'_>) -> Result<(), ScimError> {
        match self {
            Filter::Compare { path, op, .. } => {
                let Some(def) = leaf_def(scope.top_def(path), path.sub_attr.as_deref()) else {
                    return Ok(());
                };
                let allowed = match op {
                    CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                        !matches!(def.ty, AttrType::Boolean | AttrType::Binary)
                    }
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                        matches!(def.ty, AttrType::String | AttrType::Reference | AttrType::Binary)
                    }
                    CompareOp::Eq | CompareOp::Ne => true,
                };
                if allowed {
                    Ok(())
                } else {
                    Err(ScimError::invalid_filter(format!(
                        "operator '{op}' cannot be used on '{path}', a {} attribute",
                        def.ty.as_str()
                    )))
                }
            }
            Filter::Present(_) => Ok(()),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.check(scope)?;
                b.check(scope)
            }
            Filter::Not(inner) => inner.check(scope),
            Filter::ValuePath { attr, filter } => {
                let def = scope.top_def(attr);
                if let Some(def) = def
                    && def.ty != AttrType::Complex
                {
                    return Err(ScimError::invalid_filter(format!(
                        "'{attr}' is a {} attribute, not a complex one, so it cannot take a [filter]",
                        def.ty.as_str()
                    )));
                }
                filter.check(Scope::Element(def))
            }
        }
    }

    fn eval(&self, base: &Value, scope: Scope<'_>) -> bool {
        match self {
            Filter::Compare { path, op, value } => {
                let def = leaf_def(scope.top_def(path), path.sub_attr.as_deref());
                compare(*op, value, scope.top_value(base, path), path.sub_attr.as_deref(), def)
            }
            Filter::Present(path) => match (scope.top_value(base, path), path.sub_attr.as_deref()) {
                (None, _) => false,
                (Some(top), None) => is_present(top),
                (Some(top), sub) => any_leaf(top, sub, &is_present),
            },
            Filter::And(a, b) => a.eval(base, scope) && b.eval(base, scope),
            Filter::Or(a, b) => a.eval(base, scope) || b.eval(base, scope),
            Filter::Not(inner) => !inner.eval(base, scope),
            Filter::ValuePath { attr, filter } => {
                let element_scope = Scope::Element(scope.top_def(attr));
                let target = scope.top_value(base, attr);
                target.is_some_and(|t| any_item(t, &|element| filter.eval(element, element_scope)))
            }
        }
    }
}

impl FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    /// Canonical text: single spaces, lower-case keywords, JSON values, and
    /// parentheses exactly where the tree differs from left-associative
    /// parsing with `and` above `or`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(f: &mut fmt::Formatter<'_>, filter: &Filter, parenthesise: bool) -> fmt::Result {
            if parenthesise { write!(f, "({filter})") } else { write!(f, "{filter}") }
        }
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(a, b) => {
                operand(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(a, b) => {
                write!(f, "{a} or ")?;
                operand(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

/// Parse the filter of a PATCH value path: `src[open]` is `[`. Returns the
/// filter and the byte offset of the closing `]`.
pub(crate) fn parse_bracketed(src: &str, open: usize) -> Result<(Filter, usize), (usize, String)> {
    let mut parser = Parser::new(src, open + 1, true);
    let filter = parser.parse_group(open, ']')?;
    Ok((filter, parser.pos - 1))
}

// ---------------------------------------------------------------------------
// Parsing

/// An error position (byte offset) and a message without position.
type ParseResult<T> = Result<T, (usize, String)>;

#[cold]
fn too_deep(open: usize) -> (usize, String) {
    (open, format!("filter nested deeper than {MAX_DEPTH} levels"))
}

/// A JSON number. serde_json checks the grammar and the range and keeps
/// integers exact; floats are parsed again by the standard library, which
/// rounds correctly (serde_json without `float_roundtrip` can be one ulp
/// off), so that a printed float parses back to the same value.
fn parse_number(word: &str) -> Option<serde_json::Number> {
    let number = serde_json::from_str::<serde_json::Number>(word).ok()?;
    if number.is_f64() { word.parse::<f64>().ok().and_then(serde_json::Number::from_f64) } else { Some(number) }
}

/// What ends a word: whitespace and the filter's punctuation.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

struct Parser<'a> {
    src: &'a str,
    /// Always on a char boundary: the parser advances by whole chars or
    /// ASCII punctuation.
    pos: usize,
    depth: usize,
    terms: usize,
    in_brackets: bool,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, pos: usize, in_brackets: bool) -> Self {
        Parser { src, pos, depth: 0, terms: 0, in_brackets }
    }

    fn error(&self, msg: String) -> (usize, String) {
        (self.pos, msg)
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The run of non-delimiter characters at `pos` (possibly empty).
    fn word_at(&self, pos: usize) -> &'a str {
        let rest = &self.src[pos..];
        &rest[..rest.find(is_delimiter).unwrap_or(rest.len())]
    }

    fn read_word(&mut self) -> &'a str {
        let word = self.word_at(self.pos);
        self.pos += word.len();
        word
    }

    /// What is at the current position, for error messages.
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the input".to_owned(),
            Some(c) if is_delimiter(c) => format!("{c:?}"),
            Some(_) => {
                let word = self.word_at(self.pos);
                let mut shown: String = word.chars().take(40).collect();
                if shown.len() < word.len() {
                    shown.push('…');
                }
                format!("'{shown}'")
            }
        }
    }

    /// "expected `what`, found ..." at the current position.
    #[cold]
    fn expected(&self, what: &str) -> (usize, String) {
        (self.pos, format!("expected {what}, found {}", self.found()))
    }

    #[cold]
    fn unclosed(&self, open: usize, close: char) -> (usize, String) {
        self.expected(&format!("'{close}' (to close the one opened at position {open}), 'and' or 'or'"))
    }

    /// Consume the keyword `kw` (any case) after optional whitespace.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        let word = self.word_at(self.pos);
        if word.eq_ignore_ascii_case(kw) {
            self.pos += word.len();
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn parse_or(&mut self) -> ParseResult<Filter> {
        let mut left = self.parse_and()?;
        while self.eat_keyword("or") {
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> ParseResult<Filter> {
        let mut left = self.parse_unary()?;
        while self.eat_keyword("and") {
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// The inside of `( )` or `[ ]`: `self.pos` is just past the opening
    /// character at `open`.
    fn parse_group(&mut self, open: usize, close: char) -> ParseResult<Filter> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_deep(open));
        }
        let inner = self.parse_or()?;
        self.skip_ws();
        if self.peek() != Some(close) {
            return Err(self.unclosed(open, close));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    /// `( filter )`, `not ( filter )` or a term. The frames of this
    /// recursion (`parse_or`, `parse_and`, `parse_unary`, `parse_group`)
    /// are kept small: error messages are built in cold helpers.
    fn parse_unary(&mut self) -> ParseResult<Filter> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                self.parse_group(start, ')')
            }
            Some(c) if !is_delimiter(c) => match self.not_paren() {
                Some(open) => {
                    self.pos = open + 1;
                    Ok(Filter::Not(Box::new(self.parse_group(open, ')')?)))
                }
                None => self.parse_term(),
            },
            _ => Err(self.expected("an attribute path, '(' or 'not'")),
        }
    }

    /// The position of the `(` when a `not (` starts at `self.pos`.
    fn not_paren(&self) -> Option<usize> {
        let word = self.word_at(self.pos);
        if !word.eq_ignore_ascii_case("not") {
            return None;
        }
        let rest = &self.src[self.pos + word.len()..];
        let open = self.src.len() - rest.trim_start().len();
        (self.src[open..].starts_with('(')).then_some(open)
    }

    /// `attrPath [ valFilter ]`, `attrPath pr` or `attrPath op value`.
    fn parse_term(&mut self) -> ParseResult<Filter> {
        let start = self.pos;
        let word = self.read_word();
        if word.eq_ignore_ascii_case("not") {
            // Not `not (`, so `not` can only be an attribute of that name.
            let after = self.pos;
            self.skip_ws();
            let next = self.word_at(self.pos);
            let operator_follows = next.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(next).is_some();
            if !operator_follows && !self.src[after..].starts_with('[') {
                return Err(self.expected("'(' after 'not'"));
            }
            self.pos = after;
        }
        let path = parse_attr_path(word).map_err(|(i, msg)| (start + i, msg))?;
        if self.peek() == Some('[') {
            return self.parse_value_path(start, path);
        }
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err((start, format!("a filter may hold at most {MAX_TERMS} comparisons")));
        }
        self.skip_ws();
        let op_at = self.pos;
        let op_word = self.read_word();
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(op_word) else {
            self.pos = op_at;
            let what = if op_word.is_empty() { "an operator" } else { "a known operator" };
            return Err(
                self.expected(&format!("{what} after '{word}' (one of eq, ne, co, sw, ew, gt, ge, lt, le, pr)"))
            );
        };
        self.skip_ws();
        let value = self.parse_value(op)?;
        Ok(Filter::Compare { path, op, value })
    }

    /// `self.pos` is on the `[` after `attr`, which starts at `start`.
    fn parse_value_path(&mut self, start: usize, attr: AttrPath) -> ParseResult<Filter> {
        if self.in_brackets {
            return Err(self.error("value paths cannot be nested inside a value path".to_owned()));
        }
        if attr.sub_attr.is_some() {
            return Err((start, "a filtered attribute cannot have a sub-attribute before '['".to_owned()));
        }
        let open = self.pos;
        self.pos += 1;
        self.in_brackets = true;
        let filter = self.parse_group(open, ']')?;
        self.in_brackets = false;
        if self.peek() != Some('.') {
            return Ok(Filter::ValuePath { attr, filter: Box::new(filter) });
        }
        // Entra ID filters on `emails[type eq "work"].value eq "x"`, which the
        // RFC grammar lacks. It means `emails[type eq "work" and value eq "x"]`,
        // and is parsed into exactly that.
        self.pos += 1;
        let sub_at = self.pos;
        let sub = self.read_word();
        let sub_path = parse_attr_path(sub).map_err(|(i, msg)| (sub_at + i, msg))?;
        if sub_path.schema.is_some() || sub_path.sub_attr.is_some() {
            return Err((sub_at, format!("expected a sub-attribute name after ']', found '{sub}'")));
        }
        self.skip_ws();
        let op_at = self.pos;
        let op_word = self.read_word();
        let condition = if op_word.eq_ignore_ascii_case("pr") {
            Filter::Present(sub_path)
        } else if let Some(op) = CompareOp::from_keyword(op_word) {
            self.skip_ws();
            let value = self.parse_value(op)?;
            Filter::Compare { path: sub_path, op, value }
        } else {
            self.pos = op_at;
            return Err(self.expected(&format!("an operator after '{}[...].{sub}'", attr.attr)));
        };
        Ok(Filter::ValuePath { attr, filter: Box::new(Filter::And(Box::new(filter), Box::new(condition))) })
    }

    /// compValue: a JSON string or number, `true`, `false` or `null`.
    fn parse_value(&mut self, op: CompareOp) -> ParseResult<Value> {
        if self.peek() == Some('"') {
            return self.parse_string().map(Value::String);
        }
        let start = self.pos;
        let word = self.read_word();
        for (keyword, value) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)] {
            if word.eq_ignore_ascii_case(keyword) {
                return Ok(value);
            }
        }
        if word.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return parse_number(word).map(Value::Number).ok_or_else(|| (start, format!("invalid number '{word}'")));
        }
        self.pos = start;
        Err(self.expected(&format!("a value (a quoted string, number, true, false or null) after '{op}'")))
    }

    /// A JSON string; `self.pos` is on the opening quote.
    fn parse_string(&mut self) -> ParseResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err((open, "unterminated string starting".to_owned()));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => out.push(self.parse_escape()?),
                c if c < ' ' => {
                    return Err(self.error(format!("control character {c:?} in a string must be escaped")));
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// One escape sequence; `self.pos` is on the backslash.
    fn parse_escape(&mut self) -> ParseResult<char> {
        let at = self.pos;
        self.pos += 1;
        let simple = match self.peek() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                self.pos += 1;
                let high = self.hex4(at)?;
                return match high {
                    0xD800..=0xDBFF => {
                        let low_at = self.pos;
                        if !self.src[self.pos..].starts_with("\\u") {
                            return Err((at, "a high surrogate must be followed by a \\u low surrogate".to_owned()));
                        }
                        self.pos += 2;
                        let low = self.hex4(low_at)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err((low_at, "expected a low surrogate (\\uDC00-\\uDFFF)".to_owned()));
                        }
                        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                        char::from_u32(code).ok_or((at, "invalid surrogate pair".to_owned()))
                    }
                    0xDC00..=0xDFFF => Err((at, "unpaired low surrogate".to_owned())),
                    _ => char::from_u32(high).ok_or((at, "invalid \\u escape".to_owned())),
                };
            }
            None => return Err((at, "unterminated escape sequence".to_owned())),
            Some(c) => return Err((at, format!("invalid escape sequence \\{c}"))),
        };
        self.pos += 1;
        Ok(simple)
    }

    /// Four hex digits for the `\u` escape at `at`.
    fn hex4(&mut self, at: usize) -> ParseResult<u32> {
        let digits = self.src.as_bytes().get(self.pos..self.pos + 4).unwrap_or_default();
        let value = (digits.len() == 4)
            .then(|| digits.iter().try_fold(0u32, |acc, &b| char::from(b).to_digit(16).map(|d| acc * 16 + d)))
            .flatten()
            .ok_or((at, "\\u must be followed by four hex digits".to_owned()))?;
        self.pos += 4;
        Ok(value)
    }
}

// ---------------------------------------------------------------------------
// Evaluation

/// Where a filter's paths are resolved: from a whole resource (schema URNs
/// select extension objects) or from one element of a complex attribute.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource(&'s ResourceSchema),
    Element(Option<&'s AttributeDef>),
}

impl<'s> Scope<'s> {
    /// The definition of `path`'s top-level attribute.
    fn top_def(self, path: &AttrPath) -> Option<&'s AttributeDef> {
        match self {
            Scope::Resource(schema) => schema.top_attribute(path),
            Scope::Element(parent) => parent?.sub_attribute(&path.attr),
        }
    }

    /// The JSON value of `path`'s top-level attribute in `base`.
    fn top_value<'v>(self, base: &'v Value, path: &AttrPath) -> Option<&'v Value> {
        let container = match (self, path.schema.as_deref()) {
            (Scope::Resource(schema), Some(urn)) if !schema.core.id.eq_ignore_ascii_case(urn) => member(base, urn)?,
            (Scope::Resource(schema), None) => match schema.implied_extension(path) {
                Some(ext) => member(base, &ext.id)?,
                None => base,
            },
            _ => base,
        };
        member(container, &path.attr)
    }
}

/// Case-insensitive member lookup; `None` for non-objects.
fn member<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    get_ci(value.as_object()?, name)
}

/// The definition governing the values a comparison reaches: the
/// sub-attribute's, or for a complex attribute without one, its `value`'s.
fn leaf_def<'s>(top: Option<&'s AttributeDef>, sub: Option<&str>) -> Option<&'s AttributeDef> {
    let top = top?;
    match sub {
        Some(sub) => top.sub_attribute(sub),
        None if top.ty == AttrType::Complex => top.sub_attribute("value"),
        None => Some(top),
    }
}

/// `f` on each element of an array, or on a lone value.
fn any_item(value: &Value, f: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(f),
        other => f(other),
    }
}

/// `f` on each value a path reaches below its top-level attribute `top`:
/// with a sub-attribute, that member of each element; without one, each
/// element, objects being read through their `value` member.
fn any_leaf(top: &Value, sub: Option<&str>, f: &dyn Fn(&Value) -> bool) -> bool {
    any_item(top, &|element| match sub {
        Some(sub) => member(element, sub).is_some_and(|leaf| any_item(leaf, f)),
        None if element.is_object() => member(element, "value").is_some_and(f),
        None => f(element),
    })
}

/// `pr`: not null, not an empty string, array or object; a complex value is
/// present when one of its members is (RFC 7644 §3.4.2.2).
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(members) => members.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// A comparison over every value the path reaches: true if any matches,
/// `ne` being `not eq` and `eq null` meaning "no value".
fn compare(op: CompareOp, literal: &Value, top: Option<&Value>, sub: Option<&str>, def: Option<&AttributeDef>) -> bool {
    let any = |f: &dyn Fn(&Value) -> bool| top.is_some_and(|top| any_leaf(top, sub, f));
    match op {
        CompareOp::Ne => !compare(CompareOp::Eq, literal, top, sub, def),
        CompareOp::Eq if literal.is_null() => !any(&|v| !v.is_null()),
        _ if literal.is_null() => false,
        _ => any(&|v| !v.is_null() && compare_one(op, v, literal, def)),
    }
}

/// One attribute value against the filter's (non-null) value.
fn compare_one(op: CompareOp, actual: &Value, literal: &Value, def: Option<&AttributeDef>) -> bool {
    let ty = def.map(|d| d.ty);
    if ty == Some(AttrType::Boolean) || actual.is_boolean() || literal.is_boolean() {
        return op == CompareOp::Eq && matches!((as_bool(actual), as_bool(literal)), (Some(a), Some(b)) if a == b);
    }
    let numeric = matches!(ty, Some(AttrType::Integer | AttrType::Decimal));
    if numeric || actual.is_number() || literal.is_number() {
        return match (as_f64(actual, numeric), as_f64(literal, numeric)) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|ord| op.accepts(ord)),
            _ => false,
        };
    }
    let (Some(a), Some(b)) = (actual.as_str(), literal.as_str()) else {
        return false;
    };
    if ty == Some(AttrType::DateTime)
        && let (Some(x), Some(y)) = (parse_date_time(a), parse_date_time(b))
        && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    {
        return op.accepts(x.cmp(&y));
    }
    let (a, b): (Cow<'_, str>, Cow<'_, str>) = if def.is_some_and(|d| d.case_exact) {
        (a.into(), b.into())
    } else {
        (a.to_lowercase().into(), b.to_lowercase().into())
    };
    match op {
        CompareOp::Co => a.contains(&*b),
        CompareOp::Sw => a.starts_with(&*b),
        CompareOp::Ew => a.ends_with(&*b),
        _ => op.accepts(a.cmp(&b)),
    }
}

/// A JSON boolean, or the strings "true"/"false" in any case (Entra sends
/// `"False"`).
fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A JSON number, or with `numeric_strings` a string holding one.
fn as_f64(value: &Value, numeric_strings: bool) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if numeric_strings => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// Parse an RFC 3339 date-time (`2011-05-13T04:42:34Z`,
/// `2011-05-13T04:42:34.5+02:00`) into an instant: seconds since the Unix
/// epoch and nanoseconds, ordered as time is. `None` if it is not one.
pub(crate) fn parse_date_time(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let number = |from: usize, to: usize| -> Option<i64> {
        b.get(from..to)?.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let is = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(is(4, b"-") && is(7, b"-") && is(10, b"Tt ") && is(13, b":") && is(16, b":")) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if is(i, b".") {
        i += 1;
        let start = i;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(c - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        nanos *= 10u32.pow(9 - digits.min(9) as u32);
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) if is(i + 3, b":") => {
            let (h, m) = (number(i + 1, i + 3)?, number(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            i += 6;
            if sign == b'-' { -(h * 3600 + m * 60) } else { h * 3600 + m * 60 }
        }
        _ => return None,
    };
    let valid = i == b.len()
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    valid.then(|| (days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset, nanos))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (`year` 0..=9999),
/// counting years from March so that the leap day ends the year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests;
