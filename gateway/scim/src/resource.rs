//! Turning what an IdP sends into a canonical resource, and a stored resource
//! into what a client asked to see.
//!
//! [`normalize`] is the single gate every written document passes (POST, PUT
//! and the result of a PATCH): attribute names take their schema spelling,
//! IdP quirks are absorbed (`"False"` for `false`, `null` for "unassigned", a
//! lone object where an array belongs), read-only input is ignored, and
//! required and `primary` rules are enforced. [`project`] applies `returned`,
//! `attributes` and `excludedAttributes` on the way out.

use serde_json::{Map, Value};

use crate::error::{Result, ScimError};
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceSchema, Returned};

/// Case-insensitive lookup of a JSON object member: SCIM attribute names are
/// case-insensitive (RFC 7643 §2.1).
pub fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The key under which `name` is stored in `map`, compared case-insensitively.
pub fn key_ci(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Mutable case-insensitive lookup.
pub fn get_ci_mut<'a>(map: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    let key = key_ci(map, name)?;
    map.get_mut(&key)
}

/// Whether a value counts as unassigned (RFC 7643 §2.5: null, empty array).
pub fn is_unassigned(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Remove the write-only attributes (`password`) from a canonical document.
/// The gateway keeps no secret it cannot return: such a value is never
/// stored, never handed to a plugin and never logged.
pub fn drop_write_only(doc: &mut Value, schema: &ResourceSchema) {
    let Value::Object(map) = doc else { return };
    map.retain(|key, _| schema.core.attribute(key).is_none_or(|a| a.mutability != Mutability::WriteOnly));
    for ext in &schema.extensions {
        if let Some(Value::Object(inner)) = map.get_mut(&ext.id) {
            inner.retain(|key, _| ext.attribute(key).is_none_or(|a| a.mutability != Mutability::WriteOnly));
        }
    }
}

/// Produce the canonical form of a resource document for `schema`.
///
/// Unknown attributes and unknown extension objects are dropped (an IdP may
/// send vendor URNs such as Entra's ADSCIM group schema); read-only
/// attributes are ignored; values are coerced to their declared types where
/// the intent is unambiguous, and rejected with `400 invalidValue` where not.
pub fn normalize(doc: &Value, schema: &ResourceSchema) -> Result<Value> {
    let Value::Object(input) = doc else {
        return Err(ScimError::invalid_syntax("a resource must be a JSON object"));
    };
    let mut out = Map::new();
    // Extension attributes, gathered from their URN objects and from bare
    // names that only an extension defines (Entra's `manager`).
    let mut ext_inputs: Vec<Map<String, Value>> = vec![Map::new(); schema.extensions.len()];
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(i) = schema.extensions.iter().position(|e| e.id.eq_ignore_ascii_case(key)) {
            match value {
                Value::Object(members) => ext_inputs[i].extend(members.clone()),
                Value::Null => {}
                _ => return Err(ScimError::invalid_value(format!("{key} must be an object"))),
            }
            continue;
        }
        let path = AttrPath::simple(key);
        if let Some(ext) = schema.implied_extension(&path) {
            if let Some(i) = schema.extensions.iter().position(|e| e.id == ext.id) {
                ext_inputs[i].insert(key.clone(), value.clone());
            }
            continue;
        }
        let Some(def) = schema.top_attribute(&path) else {
            continue;
        };
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = normalize_attribute(def, value, key)? {
            out.insert(def.name.clone(), v);
        }
    }
    let mut schemas = vec![Value::String(schema.core.id.clone())];
    for (ext, ext_input) in schema.extensions.iter().zip(ext_inputs) {
        let mut ext_out = Map::new();
        for (name, v) in &ext_input {
            if let Some(def) = ext.attribute(name)
                && def.mutability != Mutability::ReadOnly
                && let Some(v) = normalize_attribute(def, v, name)?
            {
                ext_out.insert(def.name.clone(), v);
            }
        }
        if !ext_out.is_empty() {
            schemas.push(Value::String(ext.id.clone()));
            out.insert(ext.id.clone(), Value::Object(ext_out));
        }
    }
    for def in schema.core.attributes.iter().filter(|d| d.required) {
        let present = match out.get(&def.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(v) => !is_unassigned(v),
            None => false,
        };
        if !present {
            return Err(ScimError::invalid_value(format!("attribute '{}' is required", def.name)));
        }
    }
    let mut result = Map::new();
    result.insert("schemas".to_owned(), Value::Array(schemas));
    result.extend(out);
    Ok(Value::Object(result))
}

/// Normalize one attribute's value; `Ok(None)` means "unassigned".
pub fn normalize_attribute(def: &AttributeDef, value: &Value, name: &str) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_single(def, item, name)? {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        if def.ty == AttrType::Complex {
            let primaries = out.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
            if primaries > 1 {
                return Err(ScimError::invalid_value(format!("more than one value of '{name}' is primary")));
            }
        }
        return Ok(Some(Value::Array(out)));
    }
    if let Value::Array(items) = value {
        return match items.as_slice() {
            [] => Ok(None),
            [one] => normalize_single(def, one, name),
            _ => Err(ScimError::invalid_value(format!("'{name}' is single-valued but got an array"))),
        };
    }
    normalize_single(def, value, name)
}

fn normalize_single(def: &AttributeDef, value: &Value, name: &str) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    let bad = || ScimError::invalid_value(format!("'{name}' must be of type {}", def.ty.as_str()));
    let out = match def.ty {
        AttrType::Complex => {
            let input = match value {
                Value::Object(map) => map.clone(),
                // Entra sends `manager` as a bare id in PATCH; a lone scalar
                // for a complex attribute means its `value`.
                scalar if def.sub_attribute("value").is_some() => {
                    let mut m = Map::new();
                    m.insert("value".to_owned(), scalar.clone());
                    m
                }
                _ => return Err(bad()),
            };
            let mut out = Map::new();
            for (k, v) in &input {
                let Some(sub) = def.sub_attribute(k) else { continue };
                if let Some(v) = normalize_attribute(sub, v, &format!("{name}.{k}"))? {
                    out.insert(sub.name.clone(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        AttrType::Boolean => match value {
            Value::Bool(_) => value.clone(),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(bad()),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| bad())?,
            _ => return Err(bad()),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .ok_or_else(bad)?,
            _ => return Err(bad()),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => match value {
            Value::String(_) => value.clone(),
            // Keep what was sent, as text: an employee number sent as 1234.
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            _ => return Err(bad()),
        },
    };
    Ok(Some(out))
}

/// What a client asked to see: RFC 7644 §3.4.2.5 `attributes` and
/// `excludedAttributes`.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parse the comma-separated query parameters.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection> {
        let list = |s: Option<&str>| -> Result<Vec<AttrPath>> {
            s.map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(AttrPath::parse).collect())
                .unwrap_or_else(|| Ok(Vec::new()))
        };
        Ok(Projection { attributes: list(attributes)?, excluded: list(excluded)? })
    }

    pub fn is_default(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether the client named the top-level attribute `name` in `attributes`.
    pub fn requests(&self, name: &str) -> bool {
        self.attributes.iter().any(|p| p.attr.eq_ignore_ascii_case(name))
    }

    /// Whether the client excluded the whole top-level attribute `name`.
    pub fn excludes(&self, name: &str) -> bool {
        self.excluded.iter().any(|p| p.sub_attr.is_none() && p.attr.eq_ignore_ascii_case(name))
    }
}

/// Apply `returned` characteristics and the client's projection to a stored
/// resource.
pub fn project(doc: &Value, schema: &ResourceSchema, projection: &Projection) -> Value {
    let Value::Object(input) = doc else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (key, value) in input {
        if key == "schemas" {
            out.insert(key.clone(), value.clone());
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            let Value::Object(ext_map) = value else { continue };
            let mut ext_out = Map::new();
            for (name, v) in ext_map {
                let path = AttrPath { schema: Some(ext.id.clone()), attr: name.clone(), sub_attr: None };
                if let Some(def) = ext.attribute(name)
                    && let Some(v) = project_attribute(def, &path, v, projection)
                {
                    ext_out.insert(name.clone(), v);
                }
            }
            if !ext_out.is_empty() {
                out.insert(key.clone(), Value::Object(ext_out));
            }
            continue;
        }
        let path = AttrPath::simple(key);
        match schema.top_attribute(&path) {
            Some(def) => {
                if let Some(v) = project_attribute(def, &path, value, projection) {
                    out.insert(key.clone(), v);
                }
            }
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

fn same_attr(a: &AttrPath, b: &AttrPath) -> bool {
    a.attr.eq_ignore_ascii_case(&b.attr)
        && match (&a.schema, &b.schema) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => true,
        }
}

fn project_attribute(def: &AttributeDef, path: &AttrPath, value: &Value, projection: &Projection) -> Option<Value> {
    match def.returned {
        Returned::Never => return None,
        Returned::Always => return Some(value.clone()),
        Returned::Default | Returned::Request => {}
    }
    let named: Vec<&AttrPath> = projection.attributes.iter().filter(|p| same_attr(p, path)).collect();
    if !projection.attributes.is_empty() {
        if named.is_empty() {
            return None;
        }
        // `name.givenName` keeps only the named sub-attributes.
        if named.iter().all(|p| p.sub_attr.is_some()) {
            let subs: Vec<&str> = named.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
            return filter_subs(value, |k| subs.iter().any(|s| s.eq_ignore_ascii_case(k)));
        }
        return Some(value.clone());
    }
    if def.returned == Returned::Request {
        return None;
    }
    let excluded: Vec<&AttrPath> = projection.excluded.iter().filter(|p| same_attr(p, path)).collect();
    if excluded.iter().any(|p| p.sub_attr.is_none()) {
        return None;
    }
    if !excluded.is_empty() {
        let subs: Vec<&str> = excluded.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
        return filter_subs(value, |k| !subs.iter().any(|s| s.eq_ignore_ascii_case(k)));
    }
    Some(value.clone())
}

/// Keep only the sub-attributes `keep` accepts, in an object or in each
/// element of an array of objects.
fn filter_subs(value: &Value, keep: impl Fn(&str) -> bool + Copy) -> Option<Value> {
    let filter_obj = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    match value {
        Value::Object(m) => {
            let m = filter_obj(m);
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(items) => {
            let items: Vec<Value> = items
                .iter()
                .filter_map(|v| match v {
                    Value::Object(m) => {
                        let m = filter_obj(m);
                        (!m.is_empty()).then_some(Value::Object(m))
                    }
                    other => Some(other.clone()),
                })
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_absorbs_idp_quirks() {
        let user = ResourceSchema::user();
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "USERNAME": "a@b.c",
            "active": "False",
            "addresses": null,
            "roles": [],
            "id": "ignored",
            "meta": {"resourceType": "User"},
            "groups": [],
            "emails": {"value": "a@b.c", "type": "work", "primary": "True"},
            "password": "secret",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": 42, "manager": "m1"},
            "nonStandard": 1
        });
        let out = normalize(&doc, &user).unwrap();
        assert_eq!(out["userName"], "a@b.c");
        assert_eq!(out["active"], false);
        assert!(out.get("addresses").is_none() && out.get("roles").is_none());
        assert!(out.get("id").is_none() && out.get("meta").is_none() && out.get("groups").is_none());
        assert_eq!(out["emails"], json!([{"value": "a@b.c", "type": "work", "primary": true}]));
        let ext = &out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        assert_eq!(ext["employeeNumber"], "42");
        assert_eq!(ext["manager"], json!({"value": "m1"}));
        assert!(out.get("nonStandard").is_none());
        assert_eq!(out["schemas"].as_array().unwrap().len(), 2);
        // Projection drops the write-only password, and the gateway drops it
        // before storing.
        let shown = project(&out, &user, &Projection::default());
        assert!(shown.get("password").is_none());
        assert_eq!(out["password"], "secret");
        let mut kept = out.clone();
        drop_write_only(&mut kept, &user);
        assert!(kept.get("password").is_none());
        assert_eq!(kept["userName"], "a@b.c");
    }

    #[test]
    fn normalize_rejects_missing_required_and_two_primaries() {
        let user = ResourceSchema::user();
        let e = normalize(&json!({"displayName": "x"}), &user).unwrap_err();
        assert_eq!(e.status, 400);
        let two =
            json!({"userName": "u", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]});
        assert!(normalize(&two, &user).is_err());
        assert!(normalize(&json!({"userName": "u", "active": "maybe"}), &user).is_err());
        assert!(normalize(&json!([1]), &user).is_err());
    }

    #[test]
    fn projection_honours_attributes_and_excluded() {
        let group = ResourceSchema::group();
        let doc = json!({"schemas": ["s"], "id": "1", "displayName": "G", "members": [{"value": "u1", "display": "U"}], "meta": {"resourceType": "Group"}});
        let p = Projection::parse(None, Some("members")).unwrap();
        let out = project(&doc, &group, &p);
        assert!(out.get("members").is_none());
        assert_eq!(out["displayName"], "G");
        let p = Projection::parse(Some("members.value"), None).unwrap();
        let out = project(&doc, &group, &p);
        assert_eq!(out["members"], json!([{"value": "u1"}]));
        assert_eq!(out["id"], "1");
        assert!(out.get("displayName").is_none());
    }
}
