//! Reads: a resource by id (through its target) and lists and searches,
//! answered from the shadow with the target's truth laid over it.

use scim::filter::{CompareOp, Filter};
use scim::schema::{GROUP_SCHEMA, USER_SCHEMA};
use scim::{ListQuery, list_response, project};
use serde_json::Value;

use super::exchange::ScimResponse;
use super::present::{etag, kind_of, present, render, respond};
use super::target::target_of;
use super::{Result, Service, not_found, projection};
use crate::store::{IndexedLookup, ResourceKind, etag_matches};
use crate::tenant::Tenant;

impl Service {
    /// Load, then the target's current view (an upstream is asked), then present.
    pub(super) async fn get(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        req: &super::ScimRequest,
    ) -> Result<ScimResponse> {
        let stored = self.store.get(&tenant.name, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
        if req.if_none_match.as_deref().is_some_and(|tags| etag_matches(tags, stored.version)) {
            return Ok(ScimResponse { etag: Some(etag(&stored)), ..ScimResponse::empty(304) });
        }
        let stored = target_of(tenant).read(self.target_cx(tenant), stored).await?;
        respond(tenant, 200, &stored, &projection(req)?, &req.base_url)
    }

    /// List or search one or more resource types.
    pub(super) async fn list(
        &self,
        tenant: &Tenant,
        kinds: &[ResourceKind],
        query: &ListQuery,
        base: &str,
    ) -> Result<ScimResponse> {
        let offset = query.start_index - 1;
        // The common case, a plain page in storage order, never loads more
        // than the page.
        if let ([kind], None, None) = (kinds, &query.filter, &query.sort_by) {
            let (total, page) = self.store.list_page(&tenant.name, *kind, offset, query.count).await?;
            let schema = tenant.schema(*kind);
            let resources = page
                .iter()
                .map(|r| Ok(project(&present(tenant, r, base)?, schema, &query.projection)))
                .collect::<Result<_>>()?;
            return Ok(ScimResponse::json(200, list_response(total, query.start_index, resources)));
        }
        // Each rendered document names its own type in `meta.resourceType`.
        // Filters are answered from the shadow (what the IdP wrote).
        let mut matched: Vec<Value> = Vec::new();
        for &kind in kinds {
            let schema = tenant.schema(kind);
            let lookup = query.filter.as_ref().and_then(|f| indexed_lookup(f, kind));
            for stored in self.store.candidates(&tenant.name, kind, lookup.as_ref()).await? {
                let doc = render(&stored, base);
                if query.filter.as_ref().is_none_or(|f| f.matches(&doc, schema)) {
                    matched.push(if stored.target.is_some() { present(tenant, &stored, base)? } else { doc });
                }
            }
        }
        query.sort(&mut matched, tenant.schema(kinds[0]));
        let total = matched.len();
        let resources = matched
            .into_iter()
            .skip(offset)
            .take(query.count)
            .map(|doc| project(&doc, tenant.schema(kind_of(&doc)), &query.projection))
            .collect();
        Ok(ScimResponse::json(200, list_response(total, query.start_index, resources)))
    }
}

/// An index that narrows `filter` for `kind`: an `eq` on an indexed
/// attribute anywhere in a top-level `and` chain.
fn indexed_lookup(filter: &Filter, kind: ResourceKind) -> Option<IndexedLookup> {
    match filter {
        Filter::And(a, b) => indexed_lookup(a, kind).or_else(|| indexed_lookup(b, kind)),
        Filter::Compare { path, op: CompareOp::Eq, value: Value::String(v) } => {
            let core = match kind {
                ResourceKind::User => USER_SCHEMA,
                ResourceKind::Group => GROUP_SCHEMA,
            };
            if path.schema.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case(core)) {
                return None;
            }
            let attr = path.attr.to_ascii_lowercase();
            let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
            let v = v.clone();
            match (kind, attr.as_str(), sub.as_deref()) {
                (_, "id", None) => Some(IndexedLookup::Id(v)),
                (_, "externalid", None) => Some(IndexedLookup::ExternalId(v)),
                (ResourceKind::User, "username", None) | (ResourceKind::Group, "displayname", None) => {
                    Some(IndexedLookup::Name(v))
                }
                (ResourceKind::User, "emails", None | Some("value")) => Some(IndexedLookup::Email(v)),
                (ResourceKind::Group, "members", None | Some("value")) => Some(IndexedLookup::Member(v)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_planning_finds_eq_in_and_chains() {
        let f = Filter::parse("active eq true and userName eq \"Bob\"").unwrap();
        assert_eq!(indexed_lookup(&f, ResourceKind::User), Some(IndexedLookup::Name("Bob".into())));
        let f = Filter::parse("userName eq \"a\" or userName eq \"b\"").unwrap();
        assert_eq!(indexed_lookup(&f, ResourceKind::User), None);
        let f = Filter::parse("members.value eq \"u1\"").unwrap();
        assert_eq!(indexed_lookup(&f, ResourceKind::Group), Some(IndexedLookup::Member("u1".into())));
    }
}
