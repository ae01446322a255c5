//! An upstream as a tenant's [`Target`]: which upstream call a write
//! needs, made before the store transaction that records it.
//!
//! The order is always "upstream first, then shadow and mirror in one
//! transaction": a failed upstream call leaves no shadow change and no
//! link, so the IdP's retry starts from the same state. The one window
//! where the upstream moved and the store did not (the store write failed
//! after a create) is closed by [`Target::undo_create`]; a create whose
//! answer was lost (timeout) is found again on the retry, because the
//! upstream answers `409 uniqueness` and the account is matched and linked
//! instead of created twice. The upstream itself (SCIM or a connector
//! plugin) is [`Upstream`]'s business.

use std::collections::HashMap;

use scim::{ScimError, ScimType};
use serde_json::{Map, Value};

use super::target::{Target, TargetCx, TargetFuture};
use super::{Failure, Result, check_if_match, not_found};
use crate::flow::Plan;
use crate::store::{DeletePolicy, ExitPolicy, MatchPolicy, ResourceKind, StoredResource, TargetChange};
use crate::upstream::{Upstream, UpstreamError};

impl Target for Upstream {
    /// In scope, the upstream create first; out of scope, nothing upstream.
    fn create<'a>(
        &'a self,
        cx: TargetCx<'a>,
        kind: ResourceKind,
        shadow: &'a Value,
        plan: Option<&'a Plan>,
    ) -> TargetFuture<'a, TargetChange> {
        Box::pin(async move {
            let plan = planned(plan)?;
            let Some(target) = &plan.target else {
                return Ok(TargetChange::Out { on_exit: cx.tenant.policy.on_scope_exit });
            };
            // A create the shadow would refuse must not reach the upstream.
            cx.store.check_unique(&cx.tenant.name, kind, shadow).await?;
            let target = upstream_shape(cx, kind, target.clone()).await?;
            let (remote, linked_by) = create_upstream(self, cx, kind, &target).await?;
            let target_id = remote_id(&remote)?;
            Ok(TargetChange::Mirror { target_id, doc: remote, keys: plan.keys.clone(), linked_by })
        })
    }

    /// Decided from the resource as it was read and the new plan.
    fn update<'a>(
        &'a self,
        cx: TargetCx<'a>,
        current: &'a StoredResource,
        plan: Option<&'a Plan>,
    ) -> TargetFuture<'a, TargetChange> {
        Box::pin(async move {
            let plan = planned(plan)?;
            let (kind, tenant) = (current.kind, cx.tenant);
            let keys = plan.keys.clone();
            let link = current.target.as_ref();
            match (&plan.target, link) {
                (Some(target), link) => {
                    let target = upstream_shape(cx, kind, target.clone()).await?;
                    let updated = match link {
                        Some(link) => self.replace(kind, &link.target_id, &target).await?,
                        None => None,
                    };
                    if let Some(doc) = updated {
                        let target_id = remote_id(&doc)?;
                        return Ok(TargetChange::Mirror { target_id, doc, keys, linked_by: None });
                    }
                    // Entering scope, or the upstream lost the account: create it.
                    if let Some(link) = link {
                        tracing::warn!(tenant = %tenant.name, target_id = %link.target_id,
                            "the upstream no longer has the linked account; creating it again");
                    }
                    let (doc, linked_by) = create_upstream(self, cx, kind, &target).await?;
                    let target_id = remote_id(&doc)?;
                    Ok(TargetChange::Mirror { target_id, doc, keys, linked_by })
                }
                (None, Some(link)) if link.in_scope => {
                    match tenant.policy.on_scope_exit {
                        ExitPolicy::Deactivate => {
                            self.replace(kind, &link.target_id, &deactivated(&link.doc)).await?;
                        }
                        ExitPolicy::Delete => self.delete(kind, &link.target_id).await?,
                    }
                    Ok(TargetChange::Out { on_exit: tenant.policy.on_scope_exit })
                }
                (None, _) => Ok(TargetChange::Out { on_exit: tenant.policy.on_scope_exit }),
            }
        })
    }

    /// Per the tenant's delete policy; `If-Match` is refused before the
    /// upstream is touched (the store checks again in its transaction).
    fn delete<'a>(
        &'a self,
        cx: TargetCx<'a>,
        kind: ResourceKind,
        id: &'a str,
        if_match: Option<&'a str>,
    ) -> TargetFuture<'a, ()> {
        Box::pin(async move {
            let current = cx.store.get(&cx.tenant.name, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
            check_if_match(&current, if_match)?;
            let Some(link) = &current.target else { return Ok(()) };
            match cx.tenant.policy.on_delete {
                DeletePolicy::Delete => self.delete(kind, &link.target_id).await?,
                DeletePolicy::Deactivate if link.active => {
                    self.replace(kind, &link.target_id, &deactivated(&link.doc)).await?;
                }
                DeletePolicy::Deactivate => {}
            }
            Ok(())
        })
    }

    /// The resource as the upstream holds it now, in place of the mirror. A
    /// resource the upstream lost reads from the mirror; the next write
    /// creates it again.
    fn read<'a>(&'a self, cx: TargetCx<'a>, mut stored: StoredResource) -> TargetFuture<'a, StoredResource> {
        Box::pin(async move {
            let Some(target) = stored.target.as_mut().filter(|t| t.in_scope) else { return Ok(stored) };
            match self.get(stored.kind, &target.target_id).await? {
                Some(doc) => target.doc = doc,
                None => tracing::warn!(tenant = %cx.tenant.name, target_id = %target.target_id,
                    "the upstream no longer has the linked account; answering from the mirror"),
            }
            Ok(stored)
        })
    }

    /// Nothing links to the new account: take it back.
    fn undo_create<'a>(&'a self, cx: TargetCx<'a>, kind: ResourceKind, created: &'a str) -> TargetFuture<'a, ()> {
        Box::pin(async move {
            if let Err(undo) = self.delete(kind, created).await {
                tracing::error!(tenant = %cx.tenant.name, target_id = %created, error = %undo,
                    "the store refused a create the upstream accepted, and the upstream account could not be deleted");
            }
            Ok(())
        })
    }
}

/// Every write through an upstream has a plan (the tenant has a target).
fn planned(plan: Option<&Plan>) -> Result<&Plan> {
    plan.ok_or_else(|| Failure::Gateway("an upstream write without a pipeline plan".into()))
}

/// POST to the upstream. A `409 uniqueness` means the account may exist
/// already (a create retried after its answer was lost, or an account made
/// before the gateway): it is looked up by the target document's unique
/// attributes and linked, per the tenant's match policy.
async fn create_upstream(
    upstream: &Upstream,
    cx: TargetCx<'_>,
    kind: ResourceKind,
    target: &Value,
) -> Result<(Value, Option<String>)> {
    let conflict = match upstream.create(kind, target).await {
        Ok(doc) => return Ok((doc, None)),
        Err(UpstreamError::Refused(e)) if e.status == 409 => e,
        Err(e) => return Err(e.into()),
    };
    for (attribute, value) in lookup_keys(kind, target) {
        let found = upstream.find(kind, attribute, &value).await?;
        let [existing] = found.as_slice() else { continue };
        let id = remote_id(existing)?;
        if let Some(owner) = cx.store.link_owner(&cx.tenant.name, kind, &id).await? {
            return Err(ScimError::uniqueness(format!(
                "the upstream account with {attribute} '{value}' already serves {} {owner}",
                kind.as_str()
            ))
            .into());
        }
        if cx.tenant.policy.on_match == MatchPolicy::Conflict {
            return Err(ScimError::uniqueness(format!(
                "an upstream account with {attribute} '{value}' exists; this tenant does not link accounts"
            ))
            .into());
        }
        let doc = upstream.replace(kind, &id, target).await?.unwrap_or_else(|| existing.clone());
        return Ok((doc, Some(attribute.to_owned())));
    }
    Err(UpstreamError::Refused(ScimError { scim_type: Some(ScimType::Uniqueness), ..conflict }).into())
}

/// The target document as the upstream must receive it: a group's members
/// named by their upstream ids (members the upstream does not have, being
/// out of scope, are left out); a user's read-only `groups` dropped.
async fn upstream_shape(cx: TargetCx<'_>, kind: ResourceKind, mut doc: Value) -> Result<Value> {
    let Value::Object(map) = &mut doc else { return Ok(doc) };
    map.remove("groups");
    map.remove("meta");
    map.remove("id");
    if kind != ResourceKind::Group {
        return Ok(doc);
    }
    let Some(Value::Array(members)) = map.remove("members") else { return Ok(doc) };
    let ids: Vec<String> =
        members.iter().filter_map(|m| m.get("value").and_then(Value::as_str)).map(str::to_owned).collect();
    let tenant = &cx.tenant.name;
    let mut accounts: HashMap<String, String> = cx.store.linked_accounts(tenant, ResourceKind::User, &ids).await?;
    let rest: Vec<String> = ids.iter().filter(|id| !accounts.contains_key(*id)).cloned().collect();
    if !rest.is_empty() {
        accounts.extend(cx.store.linked_accounts(tenant, ResourceKind::Group, &rest).await?);
    }
    let translated: Vec<Value> = members
        .iter()
        .filter_map(|m| {
            let account = accounts.get(m.get("value")?.as_str()?)?;
            let mut out = Map::new();
            out.insert("value".into(), Value::String(account.clone()));
            if let Some(display) = m.get("display") {
                out.insert("display".into(), display.clone());
            }
            Some(Value::Object(out))
        })
        .collect();
    map.insert("members".into(), Value::Array(translated));
    Ok(doc)
}

/// The attributes a target keeps unique, read from the target document (so
/// a renaming mapping is respected): the name first, then `externalId`, then
/// a user's work (else primary) email, which legacy APIs key on.
fn lookup_keys(kind: ResourceKind, target: &Value) -> Vec<(&'static str, String)> {
    let name = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    let mut keys: Vec<(&'static str, String)> = [name, "externalId"]
        .into_iter()
        .filter_map(|attr| Some((attr, target.get(attr)?.as_str()?.to_owned())))
        .collect();
    if kind == ResourceKind::User {
        let emails = target.get("emails").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let with = |key: &str, want: Value| emails.iter().find(|e| e.get(key) == Some(&want));
        let email = with("type", Value::from("work")).or_else(|| with("primary", Value::Bool(true)));
        if let Some(value) = email.and_then(|e| e.get("value")).and_then(Value::as_str) {
            keys.push(("emails.value", value.to_owned()));
        }
    }
    keys.retain(|(_, v)| !v.is_empty());
    keys
}

/// The upstream's id of a resource document.
fn remote_id(doc: &Value) -> Result<String> {
    doc.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| UpstreamError::Malformed("the resource has no id".into()).into())
}

/// The mirror document with `active` false, to deactivate an account with a
/// full replace (without its server-assigned `meta`).
fn deactivated(mirror: &Value) -> Value {
    let mut doc = mirror.clone();
    if let Value::Object(map) = &mut doc {
        map.remove("meta");
        map.insert("active".into(), Value::Bool(false));
    }
    doc
}
