//! Reading and writing values at SCIM paths in a loosely typed JSON document.
//!
//! The mapping step, the plugin SDK and PATCH all address documents that came
//! from an IdP, so the rules here are lenient about shape and strict about
//! meaning. They are the one place that decides:
//!
//! - **Names** match members case-insensitively (RFC 7643 §2.1); a write keeps
//!   an existing member's spelling and a new member takes the path's.
//! - **Schema URNs**: any `urn:ietf:params:scim:schemas:core:2.0:` prefix (any
//!   case) means the top level; any other URN is an extension object, created
//!   on write and then listed in `schemas` when the document has that array. A
//!   bare extension URN names the whole extension object (see
//!   [`whole_extension`]).
//! - **Reads** treat `null` as absent. [`all`] gives every value a path
//!   selects, in document order; [`first`] gives the one value a single-valued
//!   consumer wants: among the selected elements that have a value, the
//!   `primary` one, else the first. Without filter nor sub-attribute the whole
//!   attribute is one value.
//! - **Writes** ([`set`]) go to the element [`first`] would read: `attr.sub`
//!   and `attr[filter].sub` on a multi-valued attribute set the sub-attribute
//!   of the primary (else the first) matching element. When no element
//!   matches, one is appended built from the filter's `eq` terms
//!   ([`element_from_filter`]). A value of the wrong shape in the way is
//!   replaced (a scalar where an object belongs), except that a lone value
//!   where an array belongs becomes that array's first element.
//! - **Removal** ([`remove`]) takes every matching value, and drops a
//!   multi-valued attribute its filter left empty.
//!
//! PATCH has its own RFC 7644 semantics (every matching element, `add`
//! merging, primary demotion) on top of the primitives here.

use serde_json::{Map, Value};

use crate::filter::{CompareOp, Filter};
use crate::path::{AttrPath, ValuePath};
use crate::resource::{get_ci, get_ci_mut, key_ci};
use crate::schema::{ENTERPRISE_USER_SCHEMA, ResourceSchema};

/// Every core schema URN starts with this (RFC 7643 §8.7.1).
pub const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";

/// A write that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the document is not a JSON object")]
    NotAnObject,
    /// Nothing matches the filter and it does not describe an element.
    #[error("no element of '{attr}' matches [{filter}], and the filter is not a list of `eq` terms to build one from")]
    NoElement { attr: String, filter: String },
}

/// Whether `urn` is a core schema's, whose attributes live at the top level.
pub fn is_core_urn(urn: &str) -> bool {
    urn.get(..CORE_SCHEMA_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX))
}

/// The extension object `path` lives in; `None` for top-level attributes.
pub fn extension_urn(path: &AttrPath) -> Option<&str> {
    path.schema.as_deref().filter(|urn| !is_core_urn(urn))
}

/// The URN when `path` names a whole extension object rather than an
/// attribute: a bare URN without filter that is the Enterprise User's, a
/// member of `doc`, or listed in its `schemas`.
///
/// A bare URN parses as schema and attribute (`...:2.0` and `User`), so
/// only what the document knows tells the two readings apart.
pub fn whole_extension(doc: &Map<String, Value>, path: &ValuePath) -> Option<String> {
    if path.filter.is_some() {
        return None;
    }
    let urn = path.attr.as_urn()?;
    if is_core_urn(&urn) {
        return None;
    }
    let known = urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA)
        || key_ci(doc, &urn).is_some()
        || get_ci(doc, "schemas").and_then(Value::as_array).is_some_and(|s| lists(s, &urn));
    known.then_some(urn)
}

fn lists(schemas: &[Value], urn: &str) -> bool {
    schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
}

/// Insert or replace `name`, keeping an existing member's spelling.
pub fn insert_ci(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_ci(map, name).unwrap_or_else(|| name.to_owned());
    map.insert(key, value);
}

/// Remove `name` in any spelling, keeping the order of the other members.
pub fn remove_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = key_ci(map, name)?;
    map.shift_remove(&key)
}

/// The member `name` (any spelling), inserted as `null` when missing.
pub fn member_mut<'m>(map: &'m mut Map<String, Value>, name: &str) -> &'m mut Value {
    let key = key_ci(map, name).unwrap_or_else(|| name.to_owned());
    map.entry(key).or_insert(Value::Null)
}

/// The object member `name`, a missing or non-object value replaced by `{}`.
pub fn object_mut<'m>(map: &'m mut Map<String, Value>, name: &str) -> &'m mut Map<String, Value> {
    let slot = member_mut(map, name);
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(object) => object,
        _ => unreachable!("just made an object"),
    }
}

/// The array member `name`: created when missing or `null`, and a lone value
/// (an IdP sending one object for a multi-valued attribute) kept as its
/// first element.
pub fn array_mut<'m>(map: &'m mut Map<String, Value>, name: &str) -> &'m mut Vec<Value> {
    let slot = member_mut(map, name);
    match slot {
        Value::Array(_) => {}
        Value::Null => *slot = Value::Array(Vec::new()),
        _ => *slot = Value::Array(vec![slot.take()]),
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("just made an array"),
    }
}

/// List `urn` in the document's `schemas` array, when it has one.
pub fn list_schema(doc: &mut Map<String, Value>, urn: &str) {
    if let Some(Value::Array(schemas)) = get_ci_mut(doc, "schemas")
        && !lists(schemas, urn)
    {
        schemas.push(Value::String(urn.to_owned()));
    }
}

/// Take `urn` out of the document's `schemas` array.
pub fn unlist_schema(doc: &mut Map<String, Value>, urn: &str) {
    if let Some(Value::Array(schemas)) = get_ci_mut(doc, "schemas") {
        schemas.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    }
}

/// Whether an element says `"primary": true` (or Entra's `"True"`).
pub fn is_primary(element: &Value) -> bool {
    match element.as_object().and_then(|o| get_ci(o, "primary")) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The element an `eq`-only filter describes: `type eq "work" and primary eq
/// true` gives `{"type": "work", "primary": true}`. `None` for any other
/// filter, including `eq null`, which describes an absence.
pub fn element_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value }
            if path.schema.is_none() && path.sub_attr.is_none() && !value.is_null() =>
        {
            Some(Map::from_iter([(path.attr.clone(), value.clone())]))
        }
        Filter::And(a, b) => {
            let mut element = element_from_filter(a)?;
            element.extend(element_from_filter(b)?);
            Some(element)
        }
        _ => None,
    }
}

/// The object holding `path`'s attribute: the document itself, or the
/// extension object (`None` when it is absent or not an object).
fn container<'v>(doc: &'v Map<String, Value>, path: &AttrPath) -> Option<&'v Map<String, Value>> {
    match extension_urn(path) {
        None => Some(doc),
        Some(urn) => get_ci(doc, urn)?.as_object(),
    }
}

/// Every `(element, value)` pair `path` selects, lazily (mapping steps read
/// on every request): the element decides primacy, the value is what is
/// read. `null` values are left out.
fn selected<'v>(
    doc: &'v Value,
    path: &ValuePath,
    schema: &ResourceSchema,
) -> impl Iterator<Item = (&'v Value, &'v Value)> {
    let sub = path.attr.sub_attr.as_deref();
    let (items, filter): (&[Value], _) = match doc.as_object() {
        None => (&[], None),
        Some(root) => match whole_extension(root, path) {
            Some(urn) => (get_ci(root, &urn).map(std::slice::from_ref).unwrap_or_default(), None),
            None => match container(root, &path.attr).and_then(|c| get_ci(c, &path.attr.attr)) {
                None => (&[], None),
                Some(Value::Array(items)) if path.filter.is_none() && sub.is_some() => (items.as_slice(), None),
                Some(top) if path.filter.is_none() => (std::slice::from_ref(top), None),
                Some(top) => (elements(top), path.filter.as_ref()),
            },
        },
    };
    let def = filter.and_then(|_| schema.top_attribute(&path.attr));
    items
        .iter()
        .filter(move |e| filter.is_none_or(|f| f.matches_element(e, def)))
        .filter_map(move |e| match sub {
            None => Some((e, e)),
            Some(sub) => Some((e, get_ci(e.as_object()?, sub)?)),
        })
        .filter(|(_, v)| !v.is_null())
}

/// The elements of a multi-valued attribute; a lone value counts as one.
fn elements(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

/// Every value `path` selects in `doc`, in document order: one per matching
/// element of a multi-valued attribute, at most one otherwise. Filters
/// compare with `schema`'s case-exactness.
pub fn all<'v>(doc: &'v Value, path: &ValuePath, schema: &ResourceSchema) -> Vec<&'v Value> {
    selected(doc, path, schema).map(|(_, v)| v).collect()
}

/// The one value `path` selects: of the matching elements that have a
/// value, the primary one, else the first (RFC 7643 §2.4: `primary` marks
/// the preferred value).
pub fn first<'v>(doc: &'v Value, path: &ValuePath, schema: &ResourceSchema) -> Option<&'v Value> {
    let mut candidates = selected(doc, path, schema);
    let (element, value) = candidates.next()?;
    if is_primary(element) {
        return Some(value);
    }
    Some(candidates.find(|(e, _)| is_primary(e)).map_or(value, |(_, v)| v))
}

/// The index of the element a write goes to: the primary object element
/// `accept`ed, else the first.
fn target_index(items: &[Value], accept: impl Fn(&Value) -> bool) -> Option<usize> {
    let mut candidates = items.iter().enumerate().filter(|(_, e)| e.is_object() && accept(e));
    let first = candidates.next()?;
    if is_primary(first.1) {
        return Some(first.0);
    }
    Some(candidates.find(|(_, e)| is_primary(e)).unwrap_or(first).0)
}

/// Set `sub` on a complex value, replacing anything that is not an object.
fn set_sub(slot: &mut Value, sub: &str, value: Value) {
    match slot {
        Value::Object(object) => insert_ci(object, sub, value),
        other => *other = Value::Object(Map::from_iter([(sub.to_owned(), value)])),
    }
}

/// Set the value at `path` (see the module documentation for the rules).
pub fn set(doc: &mut Value, path: &ValuePath, value: Value, schema: &ResourceSchema) -> Result<(), WriteError> {
    let Value::Object(root) = doc else { return Err(WriteError::NotAnObject) };
    if let Some(urn) = whole_extension(root, path) {
        list_schema(root, &urn);
        insert_ci(root, &urn, value);
        return Ok(());
    }
    let container = match extension_urn(&path.attr) {
        None => root,
        Some(urn) => {
            list_schema(root, urn);
            object_mut(root, urn)
        }
    };
    let attr = path.attr.attr.as_str();
    let sub = path.attr.sub_attr.as_deref();
    let Some(filter) = &path.filter else {
        let Some(sub) = sub else {
            insert_ci(container, attr, value);
            return Ok(());
        };
        match member_mut(container, attr) {
            Value::Array(items) => {
                let index = target_index(items, |_| true).unwrap_or_else(|| {
                    items.push(Value::Object(Map::new()));
                    items.len() - 1
                });
                set_sub(&mut items[index], sub, value);
            }
            slot => set_sub(slot, sub, value),
        }
        return Ok(());
    };
    let def = schema.top_attribute(&path.attr);
    let items = array_mut(container, attr);
    match target_index(items, |e| filter.matches_element(e, def)) {
        Some(index) => match sub {
            Some(sub) => set_sub(&mut items[index], sub, value),
            None => items[index] = value,
        },
        None => {
            let mut element = element_from_filter(filter)
                .ok_or_else(|| WriteError::NoElement { attr: attr.to_owned(), filter: filter.to_string() })?;
            let element = match (sub, value) {
                (Some(sub), value) => {
                    element.insert(sub.to_owned(), value);
                    Value::Object(element)
                }
                (None, Value::Object(members)) => {
                    element.extend(members);
                    Value::Object(element)
                }
                (None, other) => other,
            };
            items.push(element);
        }
    }
    Ok(())
}

/// Remove the values at `path`; returns how many non-null values went. A
/// whole extension is also taken out of `schemas`, and a multi-valued
/// attribute whose filter removed its last element goes too.
pub fn remove(doc: &mut Value, path: &ValuePath, schema: &ResourceSchema) -> usize {
    let Value::Object(root) = doc else { return 0 };
    let counted = |v: Option<Value>| v.map_or(0, |v| usize::from(!v.is_null()));
    if let Some(urn) = whole_extension(root, path) {
        unlist_schema(root, &urn);
        return counted(remove_ci(root, &urn));
    }
    let container = match extension_urn(&path.attr) {
        None => root,
        Some(urn) => match get_ci_mut(root, urn).and_then(Value::as_object_mut) {
            Some(extension) => extension,
            None => return 0,
        },
    };
    let attr = path.attr.attr.as_str();
    let sub = path.attr.sub_attr.as_deref();
    let def = schema.top_attribute(&path.attr);
    let matches = |e: &Value| path.filter.as_ref().is_none_or(|f| f.matches_element(e, def));
    match (sub, &path.filter, get_ci_mut(container, attr)) {
        (None, None, _) => counted(remove_ci(container, attr)),
        (None, Some(_), Some(Value::Array(items))) => {
            let before = items.len();
            items.retain(|e| !matches(e));
            let removed = before - items.len();
            if items.is_empty() {
                remove_ci(container, attr);
            }
            removed
        }
        (None, Some(_), Some(lone @ Value::Object(_))) if matches(lone) => counted(remove_ci(container, attr)),
        (Some(sub), _, Some(Value::Array(items))) => items
            .iter_mut()
            .filter(|e| matches(e))
            .filter_map(Value::as_object_mut)
            .map(|m| counted(remove_ci(m, sub)))
            .sum(),
        (Some(sub), _, Some(lone @ Value::Object(_))) if matches(lone) => {
            lone.as_object_mut().map_or(0, |m| counted(remove_ci(m, sub)))
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
