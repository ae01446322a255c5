//! PATCH (RFC 7644 §3.5.2), in the dialects real IdPs speak.
//!
//! [`apply`] is a pure function from (resource, request) to a new canonical
//! resource: it works on a copy, so a request whose third operation fails
//! changes nothing. Accepted beyond the RFC's letter, because Entra ID and
//! Okta send it: capitalised op names, boolean strings, a no-path `value`
//! object with dotted or URN-qualified keys and read-only members such as
//! `id`, member removal by a value list, and `replace` on a value filter that
//! matches nothing (the element is created).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::document;
use crate::error::{Result, ScimError};
use crate::filter::Filter;
use crate::path::{AttrPath, ValuePath};
use crate::resource::{get_ci, get_ci_mut, key_ci, normalize, normalize_attribute};
use crate::schema::{AttrType, AttributeDef, Mutability, PATCH_OP_SCHEMA, ResourceSchema};

/// The three PATCH operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// One entry of `Operations`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<ValuePath>,
    pub value: Option<Value>,
}

/// A parsed `PatchOp` request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// More operations than this in one request is refused as `tooMany`.
pub const MAX_OPERATIONS: usize = 1000;

impl PatchRequest {
    /// Parse a PatchOp body. Op names are matched case-insensitively.
    pub fn from_json(body: &Value) -> Result<PatchRequest> {
        let Value::Object(map) = body else {
            return Err(ScimError::invalid_syntax("a PATCH body must be a JSON object"));
        };
        if let Some(schemas) = get_ci(map, "schemas") {
            let ok = schemas
                .as_array()
                .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA))));
            if !ok {
                return Err(ScimError::invalid_syntax(format!("schemas must contain {PATCH_OP_SCHEMA}")));
            }
        }
        let Some(Value::Array(ops)) = get_ci(map, "Operations") else {
            return Err(ScimError::invalid_syntax("a PATCH body needs an 'Operations' array"));
        };
        if ops.len() > MAX_OPERATIONS {
            return Err(ScimError::typed(
                crate::ScimType::TooMany,
                format!("at most {MAX_OPERATIONS} operations per request"),
            ));
        }
        let operations = ops.iter().enumerate().map(|(i, op)| parse_operation(i, op)).collect::<Result<_>>()?;
        Ok(PatchRequest { operations })
    }
}

fn parse_operation(index: usize, op: &Value) -> Result<PatchOperation> {
    let Value::Object(map) = op else {
        return Err(ScimError::invalid_syntax(format!("operation {index} must be an object")));
    };
    let kind = match get_ci(map, "op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
        Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(other) => return Err(ScimError::invalid_syntax(format!("operation {index}: unknown op '{other}'"))),
        None => return Err(ScimError::invalid_syntax(format!("operation {index}: 'op' is missing"))),
    };
    let path = match get_ci(map, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(ValuePath::parse(p)?),
        Some(_) => return Err(ScimError::invalid_path(format!("operation {index}: 'path' must be a string"))),
    };
    let value = get_ci(map, "value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("operation {index}: '{}' needs a value", op_name(kind))));
    }
    Ok(PatchOperation { op: kind, path, value })
}

fn op_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Add => "add",
        OpKind::Replace => "replace",
        OpKind::Remove => "remove",
    }
}

/// Apply every operation to a copy of `resource` and return the new canonical
/// document (as [`normalize`] returns it: without `id`, `meta` and other
/// read-only attributes, which the caller owns).
pub fn apply(resource: &Value, request: &PatchRequest, schema: &ResourceSchema) -> Result<Value> {
    let mut doc = match resource {
        Value::Object(map) => map.clone(),
        _ => return Err(ScimError::invalid_syntax("resource is not an object")),
    };
    for op in &request.operations {
        match &op.path {
            Some(path) => apply_path(&mut doc, op.op, path, op.value.as_ref(), schema)?,
            None => apply_without_path(&mut doc, op.op, op.value.as_ref(), schema)?,
        }
    }
    normalize(&Value::Object(doc), schema)
}

/// A no-path `add`/`replace`: each member of the value object is an
/// attribute path (Entra sends `"name.givenName"` and URN-qualified keys).
fn apply_without_path(
    doc: &mut Map<String, Value>,
    op: OpKind,
    value: Option<&Value>,
    schema: &ResourceSchema,
) -> Result<()> {
    if op == OpKind::Remove {
        return Err(ScimError::no_target("'remove' needs a path"));
    }
    let Some(Value::Object(members)) = value else {
        return Err(ScimError::invalid_value(format!("a '{}' without path needs an object value", op_name(op))));
    };
    for (key, v) in members {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            let Value::Object(ext_members) = v else {
                return Err(ScimError::invalid_value(format!("{key} must be an object")));
            };
            // Clients echo `schemas` inside the extension object; it is no attribute.
            for (name, sub) in ext_members.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
                let path = ValuePath::parse(&format!("{}:{name}", ext.id))?;
                apply_path(doc, op, &path, Some(sub), schema)?;
            }
            continue;
        }
        let path = ValuePath::parse(key)?;
        // Okta's group rename carries `id`; read-only members of a no-path
        // value are ignored as in PUT (RFC 7644 §3.5.1), not refused.
        match schema.find_attribute(&path.attr) {
            None => continue,
            Some(def) if def.mutability == Mutability::ReadOnly => continue,
            Some(_) => apply_path(doc, op, &path, Some(v), schema)?,
        }
    }
    Ok(())
}

fn apply_path(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &ValuePath,
    value: Option<&Value>,
    schema: &ResourceSchema,
) -> Result<()> {
    // A bare extension URN addresses the whole extension object.
    if path.filter.is_none()
        && let Some(urn) = path.attr.as_urn()
        && let Some(ext) = schema.extension(&urn)
    {
        let id = ext.id.clone();
        return match op {
            OpKind::Remove => {
                document::remove_ci(doc, &id);
                Ok(())
            }
            _ => apply_without_path(
                doc,
                op,
                Some(&Value::Object(Map::from_iter([(id, value.cloned().unwrap_or(Value::Null))]))),
                schema,
            ),
        };
    }
    let qualified = ValuePath { attr: schema.qualify(&path.attr), filter: path.filter.clone() };
    let path = &qualified;
    let top_path = AttrPath { sub_attr: None, ..path.attr.clone() };
    let Some(def) = schema.top_attribute(&top_path) else {
        return Err(ScimError::invalid_path(format!("unknown attribute '{}'", path.attr)));
    };
    let sub_def = match path.attr.sub_attr.as_deref() {
        None => None,
        Some(sub) => Some(
            def.sub_attribute(sub)
                .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{}'", path.attr)))?,
        ),
    };
    if def.mutability == Mutability::ReadOnly || sub_def.is_some_and(|d| d.mutability == Mutability::ReadOnly) {
        return Err(ScimError::mutability(format!("attribute '{}' is read-only", path.attr)));
    }
    if path.filter.is_some() && !def.multi_valued {
        return Err(ScimError::invalid_path(format!("'{}' is not multi-valued; it takes no value filter", def.name)));
    }

    let container = container_for(doc, &path.attr, schema, op != OpKind::Remove)?;
    let Some(container) = container else { return Ok(()) };
    let key = key_ci(container, &def.name).unwrap_or_else(|| def.name.clone());

    match (&path.filter, sub_def) {
        (None, None) => apply_whole(container, &key, def, op, value),
        (None, Some(sub)) => apply_sub_everywhere(container, &key, def, sub, op, value),
        (Some(filter), sub) => apply_filtered(container, &key, def, filter, sub, op, value),
    }
}

/// The object that holds the attribute: the resource itself, or the
/// extension object for URN-qualified extension paths (created on demand).
fn container_for<'a>(
    doc: &'a mut Map<String, Value>,
    attr: &AttrPath,
    schema: &ResourceSchema,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>> {
    let Some(urn) = document::extension_urn(attr) else { return Ok(Some(doc)) };
    let Some(ext) = schema.extension(urn) else {
        return Err(ScimError::invalid_path(format!("unknown schema '{urn}'")));
    };
    if create {
        return Ok(Some(document::object_mut(doc, &ext.id)));
    }
    match get_ci_mut(doc, &ext.id) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ScimError::invalid_value(format!("{urn} is not an object"))),
    }
}

fn required_value(op: OpKind, value: Option<&Value>) -> Result<&Value> {
    value.ok_or_else(|| ScimError::invalid_value(format!("'{}' needs a value", op_name(op))))
}

/// `path` names a whole attribute.
fn apply_whole(
    container: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    op: OpKind,
    value: Option<&Value>,
) -> Result<()> {
    if op == OpKind::Remove {
        match (value, def.multi_valued, container.get_mut(key)) {
            // Entra's member removal: `path: members` with a list of values.
            (Some(v), true, Some(Value::Array(items))) if !v.is_null() => {
                let doomed = normalize_attribute(def, v, &def.name)?.unwrap_or(Value::Array(Vec::new()));
                let doomed = doomed.as_array().cloned().unwrap_or_default();
                items.retain(|item| !doomed.iter().any(|d| same_element(def, item, d)));
                if items.is_empty() {
                    container.remove(key);
                }
            }
            _ => {
                container.remove(key);
            }
        }
        return Ok(());
    }
    let value = required_value(op, value)?;
    let Some(new) = normalize_attribute(def, value, &def.name)? else {
        if op == OpKind::Replace {
            container.remove(key);
        }
        return Ok(());
    };
    match (op, def.multi_valued, def.ty) {
        (OpKind::Add, true, _) => {
            let added = new.as_array().cloned().unwrap_or_default();
            let items = document::array_mut(container, key);
            let before = items.len();
            for item in added {
                if !items.iter().any(|existing| same_element(def, existing, &item)) {
                    items.push(item);
                }
            }
            let fresh: HashSet<usize> = (before..items.len()).collect();
            demote_other_primaries(items, &fresh);
        }
        (_, false, AttrType::Complex) => {
            // RFC 7644 §3.5.2.1/3: sub-attributes not named are left as they are.
            let entry = container.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            match (entry, new) {
                (Value::Object(existing), Value::Object(incoming)) => existing.extend(incoming),
                (slot, incoming) => *slot = incoming,
            }
        }
        _ => {
            container.insert(key.to_owned(), new);
        }
    }
    Ok(())
}

/// `path` is `attr.sub` with no filter: on a single complex attribute it
/// addresses one sub-attribute; on a multi-valued one, that sub-attribute of
/// every value.
fn apply_sub_everywhere(
    container: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    sub: &AttributeDef,
    op: OpKind,
    value: Option<&Value>,
) -> Result<()> {
    let new = match op {
        OpKind::Remove => None,
        _ => normalize_attribute(sub, required_value(op, value)?, &format!("{}.{}", def.name, sub.name))?,
    };
    if def.multi_valued {
        let Some(Value::Array(items)) = container.get_mut(key) else {
            return if op == OpKind::Remove {
                Ok(())
            } else {
                Err(ScimError::no_target(format!("'{}' has no values", def.name)))
            };
        };
        let all: Vec<usize> = (0..items.len()).collect();
        set_sub_on(items, &all, sub, new.as_ref());
        return Ok(());
    }
    let obj = document::object_mut(container, key);
    match new {
        Some(v) => document::insert_ci(obj, &sub.name, v),
        None => {
            document::remove_ci(obj, &sub.name);
        }
    }
    if obj.is_empty() {
        container.remove(key);
    }
    Ok(())
}

/// `path` has a value filter: `emails[type eq "work"].value`,
/// `members[value eq "id"]`.
fn apply_filtered(
    container: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    op: OpKind,
    value: Option<&Value>,
) -> Result<()> {
    let new = match (op, sub) {
        (OpKind::Remove, _) => None,
        (_, Some(sub)) => normalize_attribute(sub, required_value(op, value)?, &format!("{}.{}", def.name, sub.name))?,
        (_, None) => {
            let v = required_value(op, value)?;
            let single = match v {
                Value::Array(items) if items.len() == 1 => &items[0],
                other => other,
            };
            normalize_attribute(def, single, &def.name)?.and_then(|arr| arr.as_array().and_then(|a| a.first().cloned()))
        }
    };
    let items = match container.get_mut(key) {
        Some(Value::Array(items)) => items,
        _ => {
            if op == OpKind::Remove {
                return Ok(());
            }
            container.insert(key.to_owned(), Value::Array(Vec::new()));
            container.get_mut(key).and_then(Value::as_array_mut).expect("just inserted")
        }
    };
    let matched: Vec<usize> = (0..items.len()).filter(|&i| filter.matches_element(&items[i], Some(def))).collect();

    match op {
        // Removing what is already gone succeeds: IdPs retry removals.
        OpKind::Remove => {
            match sub {
                Some(sub) => set_sub_on(items, &matched, sub, None),
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&i);
                        i += 1;
                        keep
                    });
                }
            }
            if items.is_empty() {
                container.remove(key);
            }
        }
        OpKind::Add | OpKind::Replace => {
            let Some(new) = new else { return Ok(()) };
            if matched.is_empty() {
                // Entra replaces `emails[type eq "work"].value` on users who
                // have no work email yet: create the element the filter names.
                let Some(mut element) = document::element_from_filter(filter) else {
                    return Err(ScimError::no_target(format!("no value of '{}' matches {filter}", def.name)));
                };
                match sub {
                    Some(sub) => {
                        element.insert(sub.name.clone(), new);
                    }
                    None => {
                        if let Value::Object(m) = new {
                            element.extend(m);
                        }
                    }
                }
                items.push(Value::Object(element));
                let fresh = HashSet::from([items.len() - 1]);
                demote_other_primaries(items, &fresh);
                return Ok(());
            }
            match sub {
                Some(sub) => set_sub_on(items, &matched, sub, Some(&new)),
                None => {
                    for &i in &matched {
                        match (op, &mut items[i], &new) {
                            (OpKind::Add, Value::Object(existing), Value::Object(incoming)) => {
                                existing.extend(incoming.clone())
                            }
                            (_, slot, _) => *slot = new.clone(),
                        }
                    }
                    demote_other_primaries(items, &matched.iter().copied().collect());
                }
            }
        }
    }
    Ok(())
}

/// Set (or remove, with `None`) a sub-attribute on the chosen elements. When
/// that sets `primary` to true, every other element stops being primary.
fn set_sub_on(items: &mut [Value], chosen: &[usize], sub: &AttributeDef, new: Option<&Value>) {
    for &i in chosen {
        if let Value::Object(obj) = &mut items[i] {
            match new {
                Some(v) => document::insert_ci(obj, &sub.name, v.clone()),
                None => {
                    document::remove_ci(obj, &sub.name);
                }
            }
        }
    }
    if sub.name == "primary" && new == Some(&Value::Bool(true)) {
        demote_other_primaries(items, &chosen.iter().copied().collect());
    }
}

/// RFC 7643 §2.4: at most one value is primary; the newest claim wins.
fn demote_other_primaries(items: &mut [Value], fresh: &HashSet<usize>) {
    let fresh_claims = fresh.iter().any(|&i| items.get(i).and_then(|v| v.get("primary")) == Some(&Value::Bool(true)));
    if !fresh_claims {
        return;
    }
    for (i, item) in items.iter_mut().enumerate() {
        if !fresh.contains(&i)
            && let Value::Object(obj) = item
            && obj.get("primary") == Some(&Value::Bool(true))
        {
            obj.insert("primary".to_owned(), Value::Bool(false));
        }
    }
}

/// Two values of a multi-valued attribute are the same value: by `value`
/// when it identifies the element (an immutable `value`, as in `members`),
/// else by equality.
fn same_element(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    let identifies = def.sub_attribute("value").is_some_and(|v| v.mutability == Mutability::Immutable);
    if identifies && let (Some(x), Some(y)) = (a.get("value"), b.get("value")) {
        return x == y;
    }
    if let (Some(Value::Object(_)), Some(Value::Object(_))) = (Some(a), Some(b)) {
        return a == b;
    }
    match (a.get("value"), b) {
        (Some(x), y) if !y.is_object() => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(doc: Value, ops: Value, schema: &ResourceSchema) -> Result<Value> {
        let req = PatchRequest::from_json(&json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))?;
        apply(&doc, &req, schema)
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "u1",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "active": true,
            "emails": [
                {"value": "b@work.example", "type": "work", "primary": true},
                {"value": "b@home.example", "type": "home"}
            ]
        })
    }

    #[test]
    fn entra_multi_and_single_valued_updates() {
        let s = ResourceSchema::user();
        let out = patch(
            user(),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Replace", "path": "active", "value": "False"}
            ]),
            &s,
        )
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "new@work.example");
        assert_eq!(out["emails"][1]["value"], "b@home.example");
        assert_eq!(out["name"], json!({"givenName": "Barbara", "familyName": "updatedFamilyName"}));
        assert_eq!(out["active"], false);
        assert!(out.get("id").is_none(), "read-only attributes belong to the caller");
    }

    #[test]
    fn replace_on_unmatched_value_filter_creates_the_element() {
        let s = ResourceSchema::user();
        let out = patch(
            json!({"userName": "x"}),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x"}]),
            &s,
        )
        .unwrap();
        assert_eq!(out["emails"], json!([{"type": "work", "value": "w@x"}]));
        let err = patch(
            json!({"userName": "x"}),
            json!([{"op": "replace", "path": "emails[value co \"z\"].type", "value": "home"}]),
            &s,
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::NoTarget));
    }

    #[test]
    fn okta_no_path_replace_and_entra_dotted_keys() {
        let s = ResourceSchema::user();
        let out = patch(user(), json!([{"op": "replace", "value": {"active": false}}]), &s).unwrap();
        assert_eq!(out["active"], false);
        let out = patch(
            user(),
            json!([{"op": "replace", "value": {
                "name.givenName": "Babs",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
                "id": "ignored"
            }}]),
            &s,
        )
        .unwrap();
        assert_eq!(out["name"]["givenName"], "Babs");
        assert_eq!(out["name"]["familyName"], "Jensen");
        assert_eq!(out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"], "701984");
    }

    #[test]
    fn group_members_in_both_entra_dialects_and_okta_rename() {
        let s = ResourceSchema::group();
        let g = json!({"displayName": "G", "members": [{"value": "a"}, {"value": "b"}]});
        let out = patch(
            g.clone(),
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "c"}, {"value": "a"}]}]),
            &s,
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "a"}, {"value": "b"}, {"value": "c"}]));
        let out =
            patch(g.clone(), json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}]}]), &s).unwrap();
        assert_eq!(out["members"], json!([{"value": "b"}]));
        let out = patch(g.clone(), json!([{"op": "remove", "path": "members[value eq \"b\"]"}, {"op": "remove", "path": "members[value eq \"zz\"]"}]), &s).unwrap();
        assert_eq!(out["members"], json!([{"value": "a"}]));
        let out =
            patch(g.clone(), json!([{"op": "replace", "value": {"id": "g1", "displayName": "Renamed"}}]), &s).unwrap();
        assert_eq!(out["displayName"], "Renamed");
        let out = patch(g, json!([{"op": "replace", "path": "members", "value": []}]), &s).unwrap();
        assert!(out.get("members").is_none());
    }

    #[test]
    fn primary_stays_unique() {
        let s = ResourceSchema::user();
        let out = patch(
            user(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "n@x", "type": "other", "primary": true}]}]),
            &s,
        )
        .unwrap();
        let primaries: Vec<_> = out["emails"].as_array().unwrap().iter().filter(|e| e["primary"] == true).collect();
        assert_eq!(primaries.len(), 1);
        assert_eq!(primaries[0]["value"], "n@x");
        let out =
            patch(user(), json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]), &s)
                .unwrap();
        assert_eq!(out["emails"][0]["primary"], false);
        assert_eq!(out["emails"][1]["primary"], true);
    }

    #[test]
    fn errors_name_the_problem() {
        let s = ResourceSchema::user();
        let kind = |ops: Value| patch(user(), ops, &s).unwrap_err().scim_type;
        use crate::ScimType::*;
        assert_eq!(kind(json!([{"op": "remove"}])), Some(NoTarget));
        assert_eq!(kind(json!([{"op": "replace", "path": "id", "value": "x"}])), Some(Mutability));
        assert_eq!(kind(json!([{"op": "replace", "path": "nosuch", "value": "x"}])), Some(InvalidPath));
        assert_eq!(kind(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])), Some(InvalidPath));
        assert_eq!(kind(json!([{"op": "frobnicate", "path": "userName", "value": "x"}])), Some(InvalidSyntax));
        assert_eq!(kind(json!([{"op": "remove", "path": "userName"}])), Some(InvalidValue));
        assert_eq!(kind(json!([{"op": "replace", "path": "active", "value": "perhaps"}])), Some(InvalidValue));
    }

    #[test]
    fn a_failing_operation_changes_nothing() {
        let s = ResourceSchema::user();
        let before = user();
        let r =
            patch(before.clone(), json!([{"op": "replace", "path": "userName", "value": "new"}, {"op": "remove"}]), &s);
        assert!(r.is_err());
        assert_eq!(before["userName"], "bjensen");
    }

    #[test]
    fn extension_paths() {
        let s = ResourceSchema::user();
        let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let out = patch(user(), json!([{"op": "add", "path": format!("{urn}:manager"), "value": "m-1"}]), &s).unwrap();
        assert_eq!(out[urn]["manager"]["value"], "m-1");
        let out =
            patch(out, json!([{"op": "replace", "path": urn, "value": {"schemas": [urn], "department": "Sales"}}]), &s)
                .unwrap();
        assert_eq!(out[urn]["department"], "Sales");
        let out = patch(out, json!([{"op": "remove", "path": urn}]), &s).unwrap();
        assert!(out.get(urn).is_none());
    }
}
