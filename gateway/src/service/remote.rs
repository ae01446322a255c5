//! The service's side of a tenant with an upstream: which upstream call a
//! write needs, made before the store transaction that records it.
//!
//! The order is always "upstream first, then shadow and mirror in one
//! transaction": a failed upstream call leaves no shadow change and no
//! link, so the IdP's retry starts from the same state. The one window
//! where the upstream moved and the store did not (the store write failed
//! after a create) is closed by deleting what was created; a create whose
//! answer was lost (timeout) is found again on the retry, because the
//! upstream answers `409 uniqueness` and the account is matched and linked
//! instead of created twice.

use std::collections::HashMap;

use scim::{ScimError, ScimType};
use serde_json::{Map, Value};

use super::{Result, Service, ServiceError};
use crate::flow::Plan;
use crate::store::{DeletePolicy, ExitPolicy, MatchPolicy, ResourceKind, StoredResource, TargetChange, TargetOutcome};
use crate::tenant::Tenant;
use crate::upstream::{Upstream, UpstreamError};

impl From<UpstreamError> for ServiceError {
    fn from(e: UpstreamError) -> Self {
        ServiceError::Upstream(e)
    }
}

impl Service {
    /// Create: in scope, the upstream create first; then the shadow and its
    /// mirror. Out of scope: the shadow only.
    pub(super) async fn create_remote(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        kind: ResourceKind,
        doc: Value,
        plan: &Plan,
    ) -> Result<(StoredResource, TargetOutcome)> {
        let Some(target) = &plan.target else {
            let change = TargetChange::Out { on_exit: tenant.policy.on_scope_exit };
            return Ok(self.timed(tenant, self.store.create_with(&tenant.name, kind, doc, change)).await?);
        };
        // A create the shadow would refuse must not reach the upstream.
        self.store.check_unique(&tenant.name, kind, &doc)?;
        let target = self.upstream_shape(tenant, kind, target.clone())?;
        let (remote, linked_by) = self.create_upstream(tenant, upstream, kind, &target).await?;
        let target_id = remote_id(&remote)?;
        let change = TargetChange::Mirror {
            target_id: target_id.clone(),
            doc: remote,
            keys: plan.keys.clone(),
            linked_by: linked_by.clone(),
        };
        match self.timed(tenant, self.store.create_with(&tenant.name, kind, doc, change)).await {
            Ok(done) => Ok(done),
            Err(e) => {
                // Nothing links to the new account: take it back.
                if linked_by.is_none()
                    && let Err(undo) = upstream.delete(kind, &target_id).await
                {
                    tracing::error!(tenant = %tenant.name, %target_id, error = %undo,
                        "the store refused a create the upstream accepted, and the upstream account could not be deleted");
                }
                Err(e.into())
            }
        }
    }

    /// The upstream side of a PUT or PATCH, decided from the resource as it
    /// was read and the new plan; returns what the store must record.
    pub(super) async fn update_remote(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        current: &StoredResource,
        plan: &Plan,
    ) -> Result<TargetChange> {
        let kind = current.kind;
        let keys = plan.keys.clone();
        let link = current.target.as_ref();
        match (&plan.target, link) {
            (Some(target), link) => {
                let target = self.upstream_shape(tenant, kind, target.clone())?;
                let updated = match link {
                    Some(link) => upstream.replace(kind, &link.target_id, &target).await?,
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
                let (doc, linked_by) = self.create_upstream(tenant, upstream, kind, &target).await?;
                let target_id = remote_id(&doc)?;
                Ok(TargetChange::Mirror { target_id, doc, keys, linked_by })
            }
            (None, Some(link)) if link.in_scope => {
                match tenant.policy.on_scope_exit {
                    ExitPolicy::Deactivate => {
                        upstream.replace(kind, &link.target_id, &deactivated(&link.doc)).await?;
                    }
                    ExitPolicy::Delete => upstream.delete(kind, &link.target_id).await?,
                }
                Ok(TargetChange::Out { on_exit: tenant.policy.on_scope_exit })
            }
            (None, _) => Ok(TargetChange::Out { on_exit: tenant.policy.on_scope_exit }),
        }
    }

    /// The upstream side of an IdP delete, per the tenant's delete policy.
    pub(super) async fn delete_remote(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        current: &StoredResource,
    ) -> Result<()> {
        let Some(link) = &current.target else { return Ok(()) };
        match tenant.policy.on_delete {
            DeletePolicy::Delete => upstream.delete(current.kind, &link.target_id).await?,
            DeletePolicy::Deactivate if link.active => {
                upstream.replace(current.kind, &link.target_id, &deactivated(&link.doc)).await?;
            }
            DeletePolicy::Deactivate => {}
        }
        Ok(())
    }

    /// The resource as the upstream holds it now (for a GET by id), in
    /// place of the mirror. A resource the upstream lost reads from the
    /// mirror; the next write creates it again.
    pub(super) async fn refresh_remote(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
        mut stored: StoredResource,
    ) -> Result<StoredResource> {
        let Some(target) = stored.target.as_mut().filter(|t| t.in_scope) else { return Ok(stored) };
        match upstream.get(stored.kind, &target.target_id).await? {
            Some(doc) => target.doc = doc,
            None => tracing::warn!(tenant = %tenant.name, target_id = %target.target_id,
                "the upstream no longer has the linked account; answering from the mirror"),
        }
        Ok(stored)
    }

    /// POST to the upstream. A `409 uniqueness` means the account may exist
    /// already (a create retried after its answer was lost, or an account
    /// made before the gateway): it is looked up by the target document's
    /// unique attributes and linked, per the tenant's match policy.
    async fn create_upstream(
        &self,
        tenant: &Tenant,
        upstream: &Upstream,
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
            if let Some(owner) = self.store.link_owner(&tenant.name, kind, &id)? {
                return Err(ScimError::uniqueness(format!(
                    "the upstream account with {attribute} '{value}' already serves {} {owner}",
                    kind.as_str()
                ))
                .into());
            }
            if tenant.policy.on_match == MatchPolicy::Conflict {
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

    /// The target document as the upstream must receive it: a group's
    /// members named by their upstream ids (members the upstream does not
    /// have, being out of scope, are left out); a user's read-only `groups`
    /// dropped.
    fn upstream_shape(&self, tenant: &Tenant, kind: ResourceKind, mut doc: Value) -> Result<Value> {
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
        let mut accounts: HashMap<String, String> =
            self.store.linked_accounts(&tenant.name, ResourceKind::User, &ids)?;
        let rest: Vec<String> = ids.iter().filter(|id| !accounts.contains_key(*id)).cloned().collect();
        if !rest.is_empty() {
            accounts.extend(self.store.linked_accounts(&tenant.name, ResourceKind::Group, &rest)?);
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
