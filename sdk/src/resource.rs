//! Typed access to a SCIM document with SCIM paths.

use std::sync::OnceLock;

use scim::resource::{get_ci, get_ci_mut, key_ci};
use scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use scim::{AttrPath, AttributeDef, CompareOp, Filter, ResourceSchema, ValuePath};
use serde_json::{Map, Value};

use crate::HookError;

/// A SCIM resource document (a JSON object) addressed with SCIM paths.
///
/// Paths are PATCH paths (RFC 7644 §3.5.2) parsed by [`scim::ValuePath`]:
/// `userName`, `name.givenName`, `emails[type eq "work"].value`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, or
/// a bare extension URN for the whole extension object. Attribute names match
/// case-insensitively; filters are evaluated with the built-in User and Group
/// schemas' case-exactness. A core-schema URN prefix
/// (`urn:ietf:params:scim:schemas:core:2.0:User:userName`) names a top-level
/// attribute.
///
/// Reads treat `null` as absent. A path that does not parse finds nothing
/// with [`get`](Resource::get) and is an error with [`set`](Resource::set),
/// [`remove`](Resource::remove) and [`Resource::path`].
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    doc: Value,
}

impl Resource {
    /// Wrap a document. Anything but an object reads as empty and refuses
    /// writes.
    pub fn new(doc: Value) -> Resource {
        Resource { doc }
    }

    /// Parse a JSON document, which must be an object.
    pub fn from_json(json: &str) -> Result<Resource, HookError> {
        match serde_json::from_str::<Value>(json) {
            Ok(doc @ Value::Object(_)) => Ok(Resource { doc }),
            Ok(_) => Err(HookError::failed("the document is not a JSON object")),
            Err(e) => Err(HookError::failed(format!("the document is not valid JSON: {e}"))),
        }
    }

    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        self.doc.to_string()
    }

    pub fn value(&self) -> &Value {
        &self.doc
    }

    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.doc
    }

    pub fn into_value(self) -> Value {
        self.doc
    }

    /// Parse a path, with the error a hook can return.
    pub fn path(path: &str) -> Result<ValuePath, HookError> {
        ValuePath::parse(path).map_err(|e| HookError::failed(e.detail))
    }

    /// The first value at `path`, if any.
    ///
    /// For a multi-valued attribute without a filter (`emails`) this is the
    /// whole array; with a sub-attribute (`emails.value`) or a filter
    /// (`emails[type eq "work"].value`) it is the first matching element's.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.get_all(path).into_iter().next()
    }

    /// [`get`](Resource::get) when the value is a string.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// [`get`](Resource::get) when the value is a boolean.
    pub fn get_bool(&self, path: &str) -> Option<bool> {
        self.get(path).and_then(Value::as_bool)
    }

    /// Every value at `path`, in document order: one per matching element of
    /// a multi-valued attribute, at most one otherwise.
    pub fn get_all(&self, path: &str) -> Vec<&Value> {
        match ValuePath::parse(path) {
            Ok(vp) => self.get_path(&vp),
            Err(_) => Vec::new(),
        }
    }

    /// [`get_all`](Resource::get_all) with a parsed path.
    pub fn get_path(&self, vp: &ValuePath) -> Vec<&Value> {
        let Some(root) = self.doc.as_object() else {
            return Vec::new();
        };
        if let Some(urn) = self.whole_extension(vp) {
            return get_ci(root, &urn).filter(|v| !v.is_null()).into_iter().collect();
        }
        let container = match extension_of(&vp.attr) {
            None => Some(root),
            Some(urn) => get_ci(root, urn).and_then(Value::as_object),
        };
        let Some(top) = container.and_then(|c| get_ci(c, &vp.attr.attr)) else {
            return Vec::new();
        };
        let selected: Vec<&Value> = match &vp.filter {
            None => vec![top],
            Some(filter) => {
                let def = self.definition(&vp.attr);
                match top {
                    Value::Array(items) => items.iter().filter(|e| filter.matches_element(e, def)).collect(),
                    lone @ Value::Object(_) if filter.matches_element(lone, def) => vec![lone],
                    _ => Vec::new(),
                }
            }
        };
        let mut out = Vec::new();
        match vp.attr.sub_attr.as_deref() {
            None => out.extend(selected),
            Some(sub) => {
                for value in selected {
                    match value {
                        Value::Object(map) => out.extend(get_ci(map, sub)),
                        Value::Array(items) => {
                            out.extend(items.iter().filter_map(|e| e.as_object().and_then(|m| get_ci(m, sub))))
                        }
                        _ => {}
                    }
                }
            }
        }
        out.retain(|v| !v.is_null());
        out
    }

    /// Set the value at `path`.
    ///
    /// - `userName`, `name.givenName`: the attribute is replaced (a missing
    ///   `name` is created).
    /// - `emails[type eq "work"].value`: the sub-attribute of every matching
    ///   element is replaced; when none matches, an element is added built
    ///   from the filter's `eq` terms (`{"type": "work", "value": ...}`).
    /// - `emails[type eq "work"]`: every matching element is replaced by the
    ///   value; when none matches, the value is appended.
    /// - An extension attribute creates the extension object (and lists its
    ///   URN in `schemas` if the document has that array).
    ///
    /// `emails.value` without a filter on a multi-valued attribute is
    /// ambiguous and refused.
    pub fn set(&mut self, path: &str, value: impl Into<Value>) -> Result<(), HookError> {
        let vp = Resource::path(path)?;
        self.set_path(&vp, value.into())
    }

    /// [`set`](Resource::set) with a parsed path.
    pub fn set_path(&mut self, vp: &ValuePath, value: Value) -> Result<(), HookError> {
        let whole_extension = self.whole_extension(vp);
        let def = self.definition(&vp.attr);
        let Some(root) = self.doc.as_object_mut() else {
            return Err(HookError::failed("the document is not a JSON object"));
        };
        if let Some(urn) = whole_extension {
            list_schema(root, &urn);
            insert_ci(root, &urn, value);
            return Ok(());
        }
        let container = match extension_of(&vp.attr) {
            None => root,
            Some(urn) => {
                list_schema(root, urn);
                let key = key_ci(root, urn).unwrap_or_else(|| urn.to_owned());
                let ext = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if ext.is_null() {
                    *ext = Value::Object(Map::new());
                }
                ext.as_object_mut().ok_or_else(|| HookError::failed(format!("'{urn}' is not an object")))?
            }
        };
        let attr = vp.attr.attr.as_str();
        let sub = vp.attr.sub_attr.as_deref();
        let Some(filter) = &vp.filter else {
            let Some(sub) = sub else {
                insert_ci(container, attr, value);
                return Ok(());
            };
            return match get_ci_mut(container, attr) {
                None | Some(Value::Null) => {
                    insert_ci(container, attr, Value::Object(Map::from_iter([(sub.to_owned(), value)])));
                    Ok(())
                }
                Some(Value::Object(map)) => {
                    insert_ci(map, sub, value);
                    Ok(())
                }
                Some(Value::Array(_)) => Err(HookError::failed(format!(
                    "'{attr}' is multi-valued: name the element with a filter, as in {attr}[type eq \"work\"].{sub}"
                ))),
                Some(_) => Err(HookError::failed(format!("'{attr}' is not a complex attribute"))),
            };
        };
        let items = multi_valued_mut(container, attr)?;
        let mut matched = 0;
        for element in items.iter_mut().filter(|e| filter.matches_element(e, def)) {
            matched += 1;
            match (sub, &mut *element) {
                (None, element) => *element = value.clone(),
                (Some(sub), Value::Object(map)) => insert_ci(map, sub, value.clone()),
                (Some(_), _) => return Err(HookError::failed(format!("an element of '{attr}' is not an object"))),
            }
        }
        if matched == 0 {
            let element = match sub {
                None => value,
                Some(sub) => {
                    let mut element = element_from_filter(filter).ok_or_else(|| {
                        HookError::failed(format!(
                            "no element of '{attr}' matches [{filter}], and the filter is not a list of \
                             `eq` terms to build one from"
                        ))
                    })?;
                    element.insert(sub.to_owned(), value);
                    Value::Object(element)
                }
            };
            items.push(element);
        }
        Ok(())
    }

    /// Remove the value at `path`; returns how many values went. A filtered
    /// multi-valued attribute left empty is removed.
    pub fn remove(&mut self, path: &str) -> Result<usize, HookError> {
        let vp = Resource::path(path)?;
        Ok(self.remove_path(&vp))
    }

    /// [`remove`](Resource::remove) with a parsed path.
    pub fn remove_path(&mut self, vp: &ValuePath) -> usize {
        let whole_extension = self.whole_extension(vp);
        let def = self.definition(&vp.attr);
        let Some(root) = self.doc.as_object_mut() else {
            return 0;
        };
        if let Some(urn) = whole_extension {
            if let Some(Value::Array(schemas)) = get_ci_mut(root, "schemas") {
                schemas.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&urn)));
            }
            return remove_ci(root, &urn);
        }
        let container = match extension_of(&vp.attr) {
            None => root,
            Some(urn) => match get_ci_mut(root, urn).and_then(Value::as_object_mut) {
                Some(ext) => ext,
                None => return 0,
            },
        };
        let attr = vp.attr.attr.as_str();
        let sub = vp.attr.sub_attr.as_deref();
        let Some(filter) = &vp.filter else {
            let Some(sub) = sub else {
                return remove_ci(container, attr);
            };
            return match get_ci_mut(container, attr) {
                Some(Value::Object(map)) => remove_ci(map, sub),
                Some(Value::Array(items)) => {
                    items.iter_mut().filter_map(Value::as_object_mut).map(|m| remove_ci(m, sub)).sum()
                }
                _ => 0,
            };
        };
        match (sub, get_ci_mut(container, attr)) {
            (None, Some(Value::Array(items))) => {
                let before = items.len();
                items.retain(|e| !filter.matches_element(e, def));
                let removed = before - items.len();
                if items.is_empty() {
                    remove_ci(container, attr);
                }
                removed
            }
            (None, Some(lone @ Value::Object(_))) if filter.matches_element(lone, def) => remove_ci(container, attr),
            (Some(sub), Some(Value::Array(items))) => items
                .iter_mut()
                .filter(|e| filter.matches_element(e, def))
                .filter_map(Value::as_object_mut)
                .map(|m| remove_ci(m, sub))
                .sum(),
            (Some(sub), Some(Value::Object(map))) if filter.matches_element(&Value::Object(map.clone()), def) => {
                remove_ci(map, sub)
            }
            _ => 0,
        }
    }

    /// The extension URN when `vp` names a whole extension object (a bare
    /// URN such as the Enterprise User's, or one the document uses).
    fn whole_extension(&self, vp: &ValuePath) -> Option<String> {
        if vp.filter.is_some() {
            return None;
        }
        let urn = vp.attr.as_urn()?;
        if is_core(&urn) {
            return None;
        }
        let root = self.doc.as_object();
        let known = urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA)
            || root.is_some_and(|r| key_ci(r, &urn).is_some())
            || root.and_then(|r| get_ci(r, "schemas")).and_then(Value::as_array).is_some_and(|schemas| {
                schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&urn)))
            });
        known.then_some(urn)
    }

    /// The definition of the top-level attribute of `path` in the built-in
    /// schema this document looks like (Group if `schemas` says so, else
    /// User), for the case-exactness of filter comparisons.
    fn definition(&self, path: &AttrPath) -> Option<&'static AttributeDef> {
        static USER: OnceLock<ResourceSchema> = OnceLock::new();
        static GROUP: OnceLock<ResourceSchema> = OnceLock::new();
        let is_group = self
            .doc
            .as_object()
            .and_then(|r| get_ci(r, "schemas"))
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(GROUP_SCHEMA))));
        let schema =
            if is_group { GROUP.get_or_init(ResourceSchema::group) } else { USER.get_or_init(ResourceSchema::user) };
        schema.top_attribute(&AttrPath { sub_attr: None, ..path.clone() })
    }
}

impl From<Value> for Resource {
    fn from(doc: Value) -> Resource {
        Resource::new(doc)
    }
}

impl From<Resource> for Value {
    fn from(resource: Resource) -> Value {
        resource.doc
    }
}

fn is_core(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(USER_SCHEMA) || urn.eq_ignore_ascii_case(GROUP_SCHEMA)
}

/// The extension object a path lives in, `None` for top-level attributes.
fn extension_of(path: &AttrPath) -> Option<&str> {
    path.schema.as_deref().filter(|urn| !is_core(urn))
}

fn insert_ci(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_ci(map, name).unwrap_or_else(|| name.to_owned());
    map.insert(key, value);
}

fn remove_ci(map: &mut Map<String, Value>, name: &str) -> usize {
    match key_ci(map, name) {
        Some(key) => map.shift_remove(&key).map_or(0, |v| usize::from(!v.is_null())),
        None => 0,
    }
}

/// Add `urn` to the document's `schemas` array, if it has one.
fn list_schema(root: &mut Map<String, Value>, urn: &str) {
    if let Some(Value::Array(schemas)) = get_ci_mut(root, "schemas")
        && !schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    {
        schemas.push(Value::String(urn.to_owned()));
    }
}

/// The array of a multi-valued attribute, created if missing; a lone object
/// becomes a one-element array.
fn multi_valued_mut<'a>(container: &'a mut Map<String, Value>, attr: &str) -> Result<&'a mut Vec<Value>, HookError> {
    let key = key_ci(container, attr).unwrap_or_else(|| attr.to_owned());
    let slot = container.entry(key).or_insert(Value::Null);
    match slot {
        Value::Null => *slot = Value::Array(Vec::new()),
        Value::Object(_) => *slot = Value::Array(vec![slot.take()]),
        Value::Array(_) => {}
        _ => return Err(HookError::failed(format!("'{attr}' is not a multi-valued complex attribute"))),
    }
    match slot {
        Value::Array(items) => Ok(items),
        _ => unreachable!("made an array above"),
    }
}

/// `type eq "work" and primary eq true` -> `{"type": "work", "primary": true}`;
/// `None` for any other shape of filter.
fn element_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Resource {
        Resource::new(json!({
            "schemas": [USER_SCHEMA],
            "userName": "Alice",
            "name": {"givenName": "Alice", "familyName": null},
            "emails": [
                {"value": "alice@home.example", "type": "home"},
                {"value": "Alice@Work.example", "type": "work", "primary": true},
                {"value": "alice2@work.example", "type": "Work"}
            ],
            ENTERPRISE_USER_SCHEMA: {"department": "Engineering"}
        }))
    }

    #[test]
    fn gets_simple_sub_and_filtered_paths() {
        let doc = user();
        assert_eq!(doc.get_str("userName"), Some("Alice"));
        assert_eq!(doc.get_str("USERNAME"), Some("Alice"));
        assert_eq!(doc.get_str("urn:ietf:params:scim:schemas:core:2.0:User:userName"), Some("Alice"));
        assert_eq!(doc.get_str("name.givenName"), Some("Alice"));
        assert_eq!(doc.get("name.familyName"), None, "null reads as absent");
        assert_eq!(doc.get("nickName"), None);
        // `type` is not case-exact: both work emails match.
        assert_eq!(
            doc.get_all(r#"emails[type eq "work"].value"#),
            [&json!("Alice@Work.example"), &json!("alice2@work.example")]
        );
        assert_eq!(doc.get_str(r#"emails[type eq "work" and primary eq true].value"#), Some("Alice@Work.example"));
        assert_eq!(doc.get_all("emails.value").len(), 3);
        assert_eq!(doc.get("emails").and_then(Value::as_array).map(Vec::len), Some(3));
        assert_eq!(doc.get(r#"emails[type eq "other"]"#), None);
        assert_eq!(doc.get_str(&format!("{ENTERPRISE_USER_SCHEMA}:department")), Some("Engineering"));
        assert_eq!(doc.get(ENTERPRISE_USER_SCHEMA), Some(&json!({"department": "Engineering"})));
        assert_eq!(doc.get("emails[type eq"), None, "a bad path finds nothing");
        assert!(Resource::path("emails[type eq").is_err());
    }

    #[test]
    fn sets_attributes_creating_what_is_missing() {
        let mut doc = user();
        doc.set("username", "alice").unwrap();
        assert_eq!(doc.value()["userName"], "alice", "the existing spelling is kept");
        doc.set("name.familyName", "Smith").unwrap();
        assert_eq!(doc.value()["name"], json!({"givenName": "Alice", "familyName": "Smith"}));
        doc.set("title", "Engineer").unwrap();
        assert_eq!(doc.get_str("title"), Some("Engineer"));

        let mut empty = Resource::new(json!({}));
        empty.set("name.formatted", "A B").unwrap();
        assert_eq!(empty.value(), &json!({"name": {"formatted": "A B"}}));
    }

    #[test]
    fn sets_filtered_elements_or_builds_one() {
        let mut doc = user();
        doc.set(r#"emails[type eq "home"].value"#, "new@home.example").unwrap();
        assert_eq!(doc.get_str(r#"emails[type eq "home"].value"#), Some("new@home.example"));
        assert_eq!(doc.get_all("emails").len(), 1);
        assert_eq!(doc.get_all("emails.value").len(), 3);

        doc.set(r#"phoneNumbers[type eq "mobile" and primary eq true].value"#, "+1 555").unwrap();
        assert_eq!(doc.value()["phoneNumbers"], json!([{"type": "mobile", "primary": true, "value": "+1 555"}]));

        doc.set(r#"emails[type eq "home"]"#, json!({"type": "other", "value": "x@y"})).unwrap();
        assert_eq!(doc.get_str(r#"emails[type eq "other"].value"#), Some("x@y"));

        let err = doc.set(r#"emails[value co "z"].display"#, "z").unwrap_err();
        assert!(err.message().contains("not a list of `eq` terms"), "{err}");
        let err = doc.set("emails.value", "z").unwrap_err();
        assert!(err.message().contains("multi-valued"), "{err}");
        assert!(doc.set("emails[", "z").is_err());
    }

    #[test]
    fn sets_extension_attributes_and_lists_the_schema() {
        let mut doc = Resource::new(json!({"schemas": [USER_SCHEMA], "userName": "bob"}));
        doc.set(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value"), "m-1").unwrap();
        assert_eq!(doc.value()[ENTERPRISE_USER_SCHEMA], json!({"manager": {"value": "m-1"}}));
        assert_eq!(doc.value()["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
        doc.set(ENTERPRISE_USER_SCHEMA, json!({"department": "Sales"})).unwrap();
        assert_eq!(doc.get_str(&format!("{ENTERPRISE_USER_SCHEMA}:department")), Some("Sales"));
    }

    #[test]
    fn removes_values() {
        let mut doc = user();
        assert_eq!(doc.remove(r#"emails[type eq "work"]"#).unwrap(), 2);
        assert_eq!(doc.get_all("emails").len(), 1);
        assert_eq!(doc.remove(r#"emails[type eq "home"].type"#).unwrap(), 1);
        assert_eq!(doc.remove(r#"emails[value pr]"#).unwrap(), 1);
        assert_eq!(doc.get("emails"), None, "an emptied multi-valued attribute is removed");
        assert_eq!(doc.remove("name.givenName").unwrap(), 1);
        assert_eq!(doc.remove("name.familyName").unwrap(), 0, "null counts as absent");
        assert_eq!(doc.remove("nickName").unwrap(), 0);
        assert_eq!(doc.remove(&format!("{ENTERPRISE_USER_SCHEMA}:department")).unwrap(), 1);
        assert_eq!(doc.remove(ENTERPRISE_USER_SCHEMA).unwrap(), 1);
        assert_eq!(doc.value()["schemas"], json!([USER_SCHEMA]));
        assert!(doc.remove("a.b.c").is_err());
    }

    #[test]
    fn non_objects_read_empty_and_refuse_writes() {
        let mut doc = Resource::new(json!([1, 2]));
        assert_eq!(doc.get("userName"), None);
        assert!(doc.set("userName", "x").is_err());
        assert_eq!(doc.remove("userName").unwrap(), 0);
        assert!(Resource::from_json("[]").is_err());
        assert!(Resource::from_json("{").is_err());
        assert_eq!(Resource::from_json(r#"{"a":1}"#).unwrap().to_json(), r#"{"a":1}"#);
    }
}
