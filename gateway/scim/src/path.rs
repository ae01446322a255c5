//! Attribute paths (RFC 7644 §3.10) and PATCH paths (RFC 7644 §3.5.2).
//!
//! An [`AttrPath`] is `[schemaURN ":"] attr ["." subAttr]`; a [`ValuePath`]
//! adds an optional element filter, as in `emails[type eq "work"].value`.
//! Parsing never panics; every error is `400 invalidPath` and names the
//! 0-based byte offset where the input went wrong.

use std::fmt;
use std::str::FromStr;

use crate::error::ScimError;
use crate::filter::{self, Filter};

/// `[urn:...:]attr[.subAttr]`
///
/// Names keep the spelling they were written with; the schema resolves them
/// case-insensitively. A core-schema URN prefix is kept in `schema`
/// ([`ResourceSchema`](crate::schema::ResourceSchema) treats it as no prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub schema: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// Parse an attribute path; surrounding whitespace is ignored.
    ///
    /// A path starting with `urn:` (any case) carries a schema URN up to its
    /// last `:`, so `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`
    /// is the enterprise `manager.value`, and a bare schema URN parses as
    /// schema `...:2.0` with attribute `User` (see [`AttrPath::as_urn`]).
    pub fn parse(s: &str) -> Result<AttrPath, ScimError> {
        let trimmed = s.trim_start();
        let lead = s.len() - trimmed.len();
        parse_attr_path(trimmed.trim_end()).map_err(|(pos, msg)| {
            ScimError::invalid_path(format!("invalid attribute path {s:?}: {msg} at position {}", lead + pos))
        })
    }

    /// A plain attribute name: no schema URN, no sub-attribute.
    pub fn simple(attr: &str) -> AttrPath {
        AttrPath { schema: None, attr: attr.to_owned(), sub_attr: None }
    }

    /// The path read back as one schema URN (`schema:attr`), for paths that
    /// name a whole extension such as
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`. `None`
    /// when there is no schema or there is a sub-attribute.
    pub fn as_urn(&self) -> Option<String> {
        match (&self.schema, &self.sub_attr) {
            (Some(schema), None) => Some(format!("{schema}:{}", self.attr)),
            _ => None,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl FromStr for AttrPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttrPath::parse(s)
    }
}

/// A PATCH path (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`):
///
/// - `name.givenName`: `attr` is `name` with sub-attribute `givenName`, no filter;
/// - `emails[type eq "work"].value`: `attr` is `emails` with sub-attribute
///   `value`, filter `type eq "work"`;
/// - `members[value eq "x"]`: `attr` is `members`, filter `value eq "x"`.
///
/// The filter's paths are relative to one element of `attr`; evaluate it with
/// [`Filter::matches_element`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValuePath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
}

impl ValuePath {
    /// Parse a PATCH path; surrounding whitespace is ignored. Every error,
    /// including a bad filter inside the brackets, is `invalidPath`, and its
    /// detail names the 0-based byte offset into `s`.
    pub fn parse(s: &str) -> Result<ValuePath, ScimError> {
        let trimmed = s.trim_start();
        let lead = s.len() - trimmed.len();
        let trimmed = trimmed.trim_end();
        let fail =
            |pos: usize, msg: &str| ScimError::invalid_path(format!("invalid path {s:?}: {msg} at position {pos}"));
        let Some(open) = trimmed.find('[') else {
            let attr = parse_attr_path(trimmed).map_err(|(pos, msg)| fail(lead + pos, &msg))?;
            return Ok(ValuePath { attr, filter: None });
        };
        let mut attr = parse_attr_path(&trimmed[..open]).map_err(|(pos, msg)| fail(lead + pos, &msg))?;
        if attr.sub_attr.is_some() {
            return Err(fail(lead, "a filtered attribute cannot have a sub-attribute before '['"));
        }
        let end = lead + trimmed.len();
        let (filter, close) = filter::parse_bracketed(&s[..end], lead + open).map_err(|(pos, msg)| fail(pos, &msg))?;
        let rest = &s[close + 1..end];
        if !rest.is_empty() {
            let Some(sub) = rest.strip_prefix('.') else {
                return Err(fail(close + 1, "expected '.' and a sub-attribute or the end of the path after ']'"));
            };
            check_name(sub, close + 2).map_err(|(pos, msg)| fail(pos, &msg))?;
            attr.sub_attr = Some(sub.to_owned());
        }
        Ok(ValuePath { attr, filter: Some(filter) })
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(filter) = &self.filter else {
            return self.attr.fmt(f);
        };
        let top = AttrPath { sub_attr: None, ..self.attr.clone() };
        write!(f, "{top}[{filter}]")?;
        if let Some(sub) = &self.attr.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl FromStr for ValuePath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ValuePath::parse(s)
    }
}

/// Parse an attribute path with no surrounding whitespace. Errors carry the
/// byte offset into `s` and a message without position.
pub(crate) fn parse_attr_path(s: &str) -> Result<AttrPath, (usize, String)> {
    let (schema, rest, rest_at) = if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        // URNs contain dots (`...:2.0:User`), so the schema ends at the last ':'.
        let colon = s.rfind(':').unwrap_or(3);
        check_urn(&s[..colon])?;
        (Some(s[..colon].to_owned()), &s[colon + 1..], colon + 1)
    } else {
        (None, s, 0)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (rest, None),
    };
    check_name(attr, rest_at)?;
    if let Some(sub) = sub {
        check_name(sub, rest_at + attr.len() + 1)?;
    }
    Ok(AttrPath { schema, attr: attr.to_owned(), sub_attr: sub.map(str::to_owned) })
}

/// `ALPHA *( "-" / "_" / "$" / DIGIT / ALPHA )`, or the literal `$ref`.
/// `at` is the name's offset, for error positions.
pub(crate) fn check_name(name: &str, at: usize) -> Result<(), (usize, String)> {
    let mut chars = name.char_indices();
    match chars.next() {
        None => return Err((at, "expected an attribute name".to_owned())),
        Some(_) if name.eq_ignore_ascii_case("$ref") => return Ok(()),
        Some((_, c)) if !c.is_ascii_alphabetic() => {
            return Err((at, format!("an attribute name must start with a letter, found {c:?}")));
        }
        Some(_) => {}
    }
    match chars.find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'))) {
        Some((i, '.')) => Err((at + i, "only one level of sub-attribute is allowed".to_owned())),
        Some((i, c)) => Err((at + i, format!("invalid character {c:?} in attribute name"))),
        None => Ok(()),
    }
}

/// A schema URN: `urn:` and non-empty `:`-separated segments of printable,
/// non-delimiter characters.
fn check_urn(urn: &str) -> Result<(), (usize, String)> {
    let mut at = 0;
    for (i, segment) in urn.split(':').enumerate() {
        if segment.is_empty() {
            let msg = if i == 1 { "expected a schema URN after 'urn:'" } else { "empty segment in schema URN" };
            return Err((at, msg.to_owned()));
        }
        if let Some((j, c)) =
            segment.char_indices().find(|&(_, c)| c.is_whitespace() || c.is_control() || "()[]\"'".contains(c))
        {
            return Err((at + j, format!("invalid character {c:?} in schema URN")));
        }
        at += segment.len() + 1;
    }
    if !urn.contains(':') {
        return Err((0, "a URN-qualified path needs 'urn:<schema>:<attribute>'".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScimType;
    use crate::filter::CompareOp;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn path(schema: Option<&str>, attr: &str, sub: Option<&str>) -> AttrPath {
        AttrPath { schema: schema.map(str::to_owned), attr: attr.to_owned(), sub_attr: sub.map(str::to_owned) }
    }

    fn err_detail(s: &str) -> String {
        let e = AttrPath::parse(s).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{s}");
        e.detail
    }

    #[test]
    fn parses_simple_and_sub_attribute_paths() {
        assert_eq!(AttrPath::parse("userName").unwrap(), AttrPath::simple("userName"));
        assert_eq!(AttrPath::parse("  name.givenName \t").unwrap(), path(None, "name", Some("givenName")));
        assert_eq!(AttrPath::parse("groups.$ref").unwrap(), path(None, "groups", Some("$ref")));
        assert_eq!(AttrPath::parse("$ref").unwrap(), AttrPath::simple("$ref"));
        assert_eq!(AttrPath::parse("x-Y_z$9").unwrap(), AttrPath::simple("x-Y_z$9"));
    }

    #[test]
    fn parses_urn_qualified_paths() {
        let p = AttrPath::parse(&format!("{ENTERPRISE}:manager.value")).unwrap();
        assert_eq!(p, path(Some(ENTERPRISE), "manager", Some("value")));
        let p = AttrPath::parse(&format!("{CORE}:userName")).unwrap();
        assert_eq!(p, path(Some(CORE), "userName", None));
        let p = AttrPath::parse("URN:ietf:params:scim:schemas:core:2.0:User:name.familyName").unwrap();
        assert_eq!(p.schema.as_deref(), Some("URN:ietf:params:scim:schemas:core:2.0:User"));
        assert_eq!(p.sub_attr.as_deref(), Some("familyName"));
    }

    #[test]
    fn bare_schema_urn_rejoins_with_as_urn() {
        let p = AttrPath::parse(ENTERPRISE).unwrap();
        assert_eq!(p, path(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0"), "User", None));
        assert_eq!(p.as_urn().as_deref(), Some(ENTERPRISE));
        assert_eq!(AttrPath::parse("userName").unwrap().as_urn(), None);
        assert_eq!(AttrPath::parse(&format!("{ENTERPRISE}:manager.value")).unwrap().as_urn(), None);
    }

    #[test]
    fn rejects_bad_paths_with_positions() {
        assert!(err_detail("").contains("expected an attribute name at position 0"));
        assert!(err_detail("   ").contains("at position 3"));
        assert!(err_detail("1abc").contains("must start with a letter"));
        assert!(err_detail("a.b.c").contains("only one level of sub-attribute is allowed at position 3"));
        assert!(err_detail("name.").contains("expected an attribute name at position 5"));
        assert!(err_detail(" user name").contains("invalid character ' ' in attribute name at position 5"));
        assert!(err_detail("emails[type eq \"work\"]").contains("invalid character '['"));
        assert!(err_detail("urn:foo").contains("urn:<schema>:<attribute>"));
        assert!(err_detail("urn:").contains("urn:<schema>:<attribute>"));
        assert!(err_detail("urn::x").contains("after 'urn:' at position 4"));
        assert!(err_detail("urn:a::b").contains("empty segment in schema URN at position 6"));
        assert!(err_detail("urn:a:b:").contains("expected an attribute name at position 8"));
        assert!(err_detail("foo:bar").contains("invalid character ':'"));
        assert!(err_detail("é").contains("must start with a letter"));
        assert!(err_detail("aé").contains("invalid character 'é' in attribute name at position 1"));
    }

    #[test]
    fn attr_path_display_round_trips() {
        for s in ["userName", "name.givenName", "groups.$ref", ENTERPRISE, &format!("{ENTERPRISE}:manager.value")] {
            let p = AttrPath::parse(s).unwrap();
            assert_eq!(p.to_string(), s);
            assert_eq!(AttrPath::parse(&p.to_string()).unwrap(), p);
            assert_eq!(s.parse::<AttrPath>().unwrap(), p);
        }
    }

    #[test]
    fn parses_patch_paths() {
        let vp = ValuePath::parse("name.givenName").unwrap();
        assert_eq!(vp, ValuePath { attr: path(None, "name", Some("givenName")), filter: None });

        let vp = ValuePath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(vp.attr, path(None, "emails", Some("value")));
        let expected = Filter::Compare { path: AttrPath::simple("type"), op: CompareOp::Eq, value: json!("work") };
        assert_eq!(vp.filter, Some(expected));

        let vp = ValuePath::parse(r#" members[value eq "2819c223-7f76-453a-919d-413861904646"] "#).unwrap();
        assert_eq!(vp.attr, AttrPath::simple("members"));
        assert!(matches!(vp.filter, Some(Filter::Compare { ref path, .. }) if path.attr == "value"));

        let vp = ValuePath::parse(r#"addresses[type eq "work" and primary eq true].streetAddress"#).unwrap();
        assert_eq!(vp.attr.sub_attr.as_deref(), Some("streetAddress"));
        assert!(matches!(vp.filter, Some(Filter::And(..))));

        // A ']' inside a quoted value does not close the filter.
        let vp = ValuePath::parse(r#"emails[value eq "a]b"]"#).unwrap();
        assert_eq!(vp.to_string(), r#"emails[value eq "a]b"]"#);

        let vp = ValuePath::parse(&format!("{ENTERPRISE}:manager.value")).unwrap();
        assert_eq!(vp.attr, path(Some(ENTERPRISE), "manager", Some("value")));
        let vp = ValuePath::parse(&format!("{CORE}:emails[type eq \"work\"].value")).unwrap();
        assert_eq!(vp.attr, path(Some(CORE), "emails", Some("value")));
        let vp = ValuePath::parse(ENTERPRISE).unwrap();
        assert_eq!(vp.attr.as_urn().as_deref(), Some(ENTERPRISE));
    }

    #[test]
    fn rejects_bad_patch_paths() {
        let detail = |s: &str| {
            let e = ValuePath::parse(s).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{s}");
            e.detail
        };
        assert!(detail(r#"emails[type eq "work""#).contains("expected ']'"));
        assert!(detail(r#"emails[type eq "work"]value"#).contains("after ']' at position 22"));
        assert!(detail(r#"emails[type eq "work"].value.x"#).contains("only one level"));
        assert!(detail(r#"emails[type eq "work"]."#).contains("expected an attribute name at position 23"));
        assert!(
            detail(r#"emails[type zz "work"]"#).contains("expected a known operator after 'type'")
                && detail(r#"emails[type zz "work"]"#).contains("found 'zz' at position 12")
        );
        assert!(detail(r#"emails[type eq "work"#).contains("unterminated string"));
        assert!(detail(r#"emails[]"#).contains("at position 7"));
        assert!(detail(r#"emails.value[type eq "work"]"#).contains("sub-attribute before '['"));
        assert!(detail(r#"emails[addresses[type eq "work"]]"#).contains("nested"));
        assert!(detail(r#"emails[type eq "work"] and x"#).contains("after ']'"));
        assert!(detail("").contains("expected an attribute name"));
    }

    #[test]
    fn value_path_display_round_trips() {
        for s in [
            "name.givenName",
            r#"emails[type eq "work"].value"#,
            r#"members[value eq "x"]"#,
            r#"addresses[type eq "work" and (primary eq true or region pr)].locality"#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[not (type eq "home")]"#,
        ] {
            let vp = ValuePath::parse(s).unwrap();
            assert_eq!(vp.to_string(), s);
            assert_eq!(ValuePath::parse(&vp.to_string()).unwrap(), vp);
        }
        // Non-canonical spellings print canonically.
        let vp = ValuePath::parse(r#"emails[TYPE EQ "work" AND primary eq TRUE]"#).unwrap();
        assert_eq!(vp.to_string(), r#"emails[TYPE eq "work" and primary eq true]"#);
    }
}
