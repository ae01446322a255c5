//! What the IdP reads: a stored resource rendered as SCIM (`id`, `meta`,
//! member references), with the target's truth laid over the shadow.

use scim::schema::{GROUP_SCHEMA, USER_SCHEMA};
use scim::{Projection, ResourceSchema, project};
use serde_json::{Map, Value, json};

use pipeline::Operation;

use super::exchange::ScimResponse;
use super::{Result, hook_context};
use crate::store::{ResourceKind, StoredResource};
use crate::tenant::Tenant;

/// A stored resource as the answer to a read or write: presented, projected, tagged.
pub(super) fn respond(
    tenant: &Tenant,
    status: u16,
    stored: &StoredResource,
    projection: &Projection,
    base: &str,
) -> Result<ScimResponse> {
    let full = present(tenant, stored, base)?;
    Ok(ScimResponse {
        status,
        body: Some(project(&full, tenant.schema(stored.kind), projection)),
        etag: Some(etag(stored)),
        resource_id: Some(stored.id.clone()),
        ..ScimResponse::empty(status)
    })
}

/// What the IdP reads: the shadow it wrote, with the attributes the
/// target account holds (through `transform-out`) laid over it. So the
/// IdP sees the target's truth where the target has one (a userName the
/// pipeline lower-cased) and its own values everywhere else; attributes
/// outside the tenant's SCIM schemas never leak out of the target shape.
/// An out-of-scope resource reads back exactly as written.
pub(super) fn present(tenant: &Tenant, stored: &StoredResource, base: &str) -> Result<Value> {
    let full = render(stored, base);
    let Some(target) = stored.target.as_ref().filter(|t| t.in_scope && tenant.has_target()) else {
        return Ok(full);
    };
    let out = if tenant.flow.has_transform_out() {
        let ctx = hook_context(tenant, Operation::Get, stored.kind, Some(&stored.id));
        crate::blocking::run(|| tenant.flow.transform_out(target.doc.clone(), &ctx))?
    } else {
        target.doc.clone()
    };
    Ok(overlay(full, out, tenant.schema(stored.kind)))
}

/// Lay the SCIM attributes of `out` over `full` (see [`present`]).
fn overlay(mut full: Value, out: Value, schema: &ResourceSchema) -> Value {
    let (Value::Object(full_map), Value::Object(out)) = (&mut full, out) else { return full };
    for (key, value) in out {
        if matches!(key.as_str(), "id" | "meta" | "schemas" | "members" | "groups") {
            continue;
        }
        let canonical = match schema.core.attribute(&key) {
            Some(def) => def.name.clone(),
            None if schema.knows_schema(&key) => key,
            None => continue,
        };
        full_map.retain(|k, _| !k.eq_ignore_ascii_case(&canonical));
        full_map.insert(canonical, value);
    }
    full
}

pub(super) fn kind_of(doc: &Value) -> ResourceKind {
    match doc.pointer("/meta/resourceType").and_then(Value::as_str) {
        Some("Group") => ResourceKind::Group,
        _ => ResourceKind::User,
    }
}

/// The weak ETag of a stored version.
pub fn etag(stored: &StoredResource) -> String {
    format!("W/\"{}\"", stored.version)
}

pub(super) fn location(base: &str, stored: &StoredResource) -> String {
    format!("{base}/{}/{}", stored.kind.endpoint(), stored.id)
}

/// The full SCIM representation of a stored resource (before projection).
pub fn render(stored: &StoredResource, base: &str) -> Value {
    let mut out = Map::new();
    let mut doc = match &stored.doc {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    out.insert("schemas".into(), doc.remove("schemas").unwrap_or_else(|| json!([default_schema(stored.kind)])));
    out.insert("id".into(), Value::String(stored.id.clone()));
    out.extend(doc);
    let refs = |list: &[crate::store::MemberRef], with_type: Option<&str>| -> Value {
        Value::Array(
            list.iter()
                .map(|m| {
                    let mut o = Map::new();
                    o.insert("value".into(), Value::String(m.id.clone()));
                    o.insert("$ref".into(), Value::String(format!("{base}/{}/{}", m.kind.endpoint(), m.id)));
                    if let Some(d) = &m.display {
                        o.insert("display".into(), Value::String(d.clone()));
                    }
                    o.insert("type".into(), Value::String(with_type.unwrap_or(m.kind.as_str()).to_owned()));
                    Value::Object(o)
                })
                .collect(),
        )
    };
    match stored.kind {
        ResourceKind::Group => {
            out.insert("members".into(), refs(&stored.members, None));
        }
        ResourceKind::User if !stored.groups.is_empty() => {
            out.insert("groups".into(), refs(&stored.groups, Some("direct")));
        }
        ResourceKind::User => {}
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": stored.kind.as_str(),
            "created": stored.created,
            "lastModified": stored.last_modified,
            "location": location(base, stored),
            "version": etag(stored),
        }),
    );
    Value::Object(out)
}

fn default_schema(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => USER_SCHEMA,
        ResourceKind::Group => GROUP_SCHEMA,
    }
}
