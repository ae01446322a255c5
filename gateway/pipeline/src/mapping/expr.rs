//! The source expression language: SCIM paths, JSONPath, constants and a
//! few text functions (see the [module documentation](super)).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use scim::document;
use scim::path::ValuePath;
use scim::schema::ResourceSchema;
use serde_json::Value;

/// How deeply function calls may nest in one source expression.
pub const MAX_NESTING: usize = 32;

/// A parsed source expression.
#[derive(Debug, Clone)]
pub(super) enum Expr {
    Const(Value),
    Path(ValuePath),
    /// The compiled query and its text (jsonpath-rust's `Display` is lossy).
    JsonPath(Box<JpQuery>, String),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ExprError {
    pub position: usize,
    pub message: String,
}

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
    pub(super) fn parse(text: &str) -> Result<Expr, ExprError> {
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
    pub(super) fn eval(&self, doc: &Value, schema: &ResourceSchema) -> Result<Option<Value>, String> {
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
