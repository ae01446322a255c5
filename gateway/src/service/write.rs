//! Writes: create, replace, patch and delete, each through the same
//! phases (see the module above): load under the resource's turn, build,
//! prepare, apply to the target, commit, present, after commit.

use pipeline::{Event, Operation, ScopeDecision};
use scim::patch::PatchRequest;
use scim::{ResourceSchema, ScimError, drop_write_only, normalize};
use serde_json::{Value, json};

use super::exchange::{ScimRequest, ScimResponse};
use super::present::{etag, location, render, respond};
use super::target::target_of;
use super::{Result, Service, check_if_match, hook_context, not_found, projection, require_body};
use crate::flow::{Plan, logs_json};
use crate::store::{ResourceKind, StoreError, StoredResource, TargetChange, TargetOutcome};
use crate::tenant::Tenant;
use crate::trace::{self, Stage};

/// What a committed write hands to the after-commit phase.
struct Committed<'a> {
    operation: Operation,
    stored: &'a StoredResource,
    plan: Option<&'a Plan>,
    outcome: &'a TargetOutcome,
}

/// Builds the new document from the version it replaces.
type Build = Box<dyn FnOnce(&StoredResource) -> std::result::Result<Value, ScimError> + Send>;

impl Service {
    pub(super) async fn create(&self, tenant: &Tenant, kind: ResourceKind, req: &ScimRequest) -> Result<ScimResponse> {
        let doc = canonical(require_body(req)?, tenant.schema(kind))?;
        let projection = projection(req)?;
        let plan = self.prepare(tenant, Operation::Create, kind, None, &doc)?;
        let (target, cx) = (target_of(tenant), self.target_cx(tenant));
        let change = target.create(cx, kind, &doc, plan.as_ref()).await?;
        let created = change.created_account().map(str::to_owned);
        let commit = self.store.create_with(&tenant.name, kind, doc, change);
        let (stored, outcome) = match self.commit(tenant, Operation::Create, commit).await {
            Ok(done) => done,
            Err(e) => {
                if let Some(created) = &created {
                    target.undo_create(cx, kind, created).await?;
                }
                return Err(e.into());
            }
        };
        let mut resp = respond(tenant, 201, &stored, &projection, &req.base_url)?;
        resp.location = Some(location(&req.base_url, &stored));
        let write = Committed { operation: Operation::Create, stored: &stored, plan: plan.as_ref(), outcome: &outcome };
        self.after_commit(tenant, write, &req.base_url, &mut resp);
        Ok(resp)
    }

    pub(super) async fn replace(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        req: &ScimRequest,
    ) -> Result<ScimResponse> {
        let doc = canonical(require_body(req)?, tenant.schema(kind))?;
        let projection = projection(req)?;
        let build: Build = Box::new(move |_| Ok(doc));
        let (stored, outcome, plan) = self.update(tenant, kind, id, req, Operation::Replace, build).await?;
        let mut resp = respond(tenant, 200, &stored, &projection, &req.base_url)?;
        let write =
            Committed { operation: Operation::Replace, stored: &stored, plan: plan.as_ref(), outcome: &outcome };
        self.after_commit(tenant, write, &req.base_url, &mut resp);
        Ok(resp)
    }

    pub(super) async fn patch(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        req: &ScimRequest,
    ) -> Result<ScimResponse> {
        let patch = PatchRequest::from_json(require_body(req)?)?;
        let projection = projection(req)?;
        let schema = tenant.schema(kind).clone();
        let build: Build = Box::new(move |current| patched(current, &patch, &schema));
        let (stored, outcome, plan) = self.update(tenant, kind, id, req, Operation::Patch, build).await?;
        // Entra asks for 204 on group PATCH (member lists can be huge); a
        // client that names attributes gets them.
        let mut resp = if kind == ResourceKind::Group && projection.is_default() {
            ScimResponse { etag: Some(etag(&stored)), resource_id: Some(stored.id.clone()), ..ScimResponse::empty(204) }
        } else {
            respond(tenant, 200, &stored, &projection, &req.base_url)?
        };
        let write = Committed { operation: Operation::Patch, stored: &stored, plan: plan.as_ref(), outcome: &outcome };
        self.after_commit(tenant, write, &req.base_url, &mut resp);
        Ok(resp)
    }

    /// The target first (per the tenant's delete policy), then the shadow.
    pub(super) async fn delete(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        req: &ScimRequest,
    ) -> Result<ScimResponse> {
        let _turn = self.turns.take(&tenant.name, kind, id).await;
        let if_match = req.if_match.as_deref();
        target_of(tenant).delete(self.target_cx(tenant), kind, id, if_match).await?;
        let delete = self.store.delete(&tenant.name, kind, id, if_match, tenant.policy.on_delete);
        let (stored, outcome) = self.commit(tenant, Operation::Delete, delete).await?;
        let mut resp = ScimResponse { resource_id: Some(id.to_owned()), ..ScimResponse::empty(204) };
        let write = Committed { operation: Operation::Delete, stored: &stored, plan: None, outcome: &outcome };
        self.after_commit(tenant, write, &req.base_url, &mut resp);
        Ok(resp)
    }

    /// PUT and PATCH: the one update path. The resource's turn is held
    /// from the read to the commit, so the target is called once per write
    /// and every concurrent write builds on the one before it.
    ///
    /// A tenant without a target has nothing to prepare: its document is
    /// built on the store's writer from the version it replaces, in the
    /// commit's transaction.
    async fn update(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        req: &ScimRequest,
        operation: Operation,
        build: Build,
    ) -> Result<(StoredResource, TargetOutcome, Option<Plan>)> {
        let _turn = self.turns.take(&tenant.name, kind, id).await;
        let if_match = req.if_match.as_deref();
        if !tenant.has_target() {
            let commit = self
                .store
                .modify_with(&tenant.name, kind, id, if_match, move |now| Ok((build(now)?, TargetChange::None)));
            let (stored, outcome) = self.commit(tenant, operation, commit).await?;
            return Ok((stored, outcome, None));
        }
        let current = self.store.get(&tenant.name, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
        check_if_match(&current, if_match)?;
        let doc = build(&current)?;
        let plan = self.prepare(tenant, operation, kind, Some(id), &doc)?;
        let change = target_of(tenant).update(self.target_cx(tenant), &current, plan.as_ref()).await?;
        let expected = current.version;
        // Under the turn nothing in this process wrote since the read; a
        // newer version comes from another process sharing the store, and
        // the IdP's retry (503) prepares against it.
        let commit = self.store.modify_with(&tenant.name, kind, id, if_match, move |now| {
            if now.version != expected {
                return Err(StoreError::Stale);
            }
            Ok((doc, change))
        });
        let (stored, outcome) = self.commit(tenant, operation, commit).await?;
        Ok((stored, outcome, plan))
    }

    /// Log what the pipeline decided and raise the lifecycle event a write
    /// caused. Event hooks run after the commit: their failures are logged,
    /// never undo the write.
    fn after_commit(&self, tenant: &Tenant, write: Committed<'_>, base: &str, resp: &mut ScimResponse) {
        let Committed { operation, stored, plan, outcome } = write;
        if !tenant.has_target() {
            return;
        }
        let mut notes: Vec<String> = Vec::new();
        if let Some(plan) = plan {
            if let (ScopeDecision::Out { reason }, Some(by)) = (&plan.scope, &plan.scoped_out_by) {
                notes.push(format!("out of scope ({by}): {reason}"));
            }
            notes.extend(plan.logs.iter().map(|l| format!("{} {}: {}", l.step, l.level, l.message)));
        }
        match outcome {
            TargetOutcome::Linked { target_id, attribute } => {
                notes.push(format!("linked to existing target account {target_id} by {attribute}"))
            }
            TargetOutcome::Deactivated { target_id, left_scope: true } => {
                notes.push(format!("left scope: target account {target_id} deactivated"))
            }
            TargetOutcome::Deleted { target_id } if operation != Operation::Delete => {
                notes.push(format!("left scope: target account {target_id} deleted"))
            }
            _ => {}
        }
        resp.outcome = outcome.log_outcome();
        if let Some(event) = lifecycle_event(operation, outcome)
            && tenant.flow.has_on_event()
        {
            let ctx = hook_context(tenant, operation, stored.kind, Some(&stored.id));
            let doc = render(stored, base);
            let started = std::time::Instant::now();
            let (failures, logs) = crate::blocking::run(|| tenant.flow.notify(event, &doc, &ctx));
            let elapsed = started.elapsed();
            notes.extend(logs.iter().map(|l| format!("{} {}: {}", l.step, l.level, l.message)));
            for failure in &failures {
                tracing::warn!(tenant = %tenant.name, error = %failure, ?event, "on-event hook failed");
                notes.push(format!("on-event {event:?} failed: {failure}"));
            }
            if trace::active() {
                let failed: Vec<String> = failures.iter().map(ToString::to_string).collect();
                let event = format!("{event:?}").to_lowercase();
                let ok = failed.is_empty();
                let decision = json!({"event": event, "ok": ok, "failures": failed, "logs": logs_json(&logs)});
                trace::record(Stage::new("on-event", decision).took(elapsed));
            }
        }
        if !notes.is_empty() {
            resp.detail = Some(notes.join("; "));
        }
    }
}

/// The document a PATCH makes of the current version (a group's members included).
fn patched(
    current: &StoredResource,
    patch: &PatchRequest,
    schema: &ResourceSchema,
) -> std::result::Result<Value, ScimError> {
    let mut doc = scim::patch::apply(&pipeline_input(current), patch, schema)?;
    drop_write_only(&mut doc, schema);
    Ok(doc)
}

/// A stored resource as a write hands it on: its document, with a group's
/// members (which the store keeps apart).
pub fn pipeline_input(current: &StoredResource) -> Value {
    let mut doc = current.doc.clone();
    if current.kind == ResourceKind::Group
        && let Value::Object(map) = &mut doc
    {
        map.insert("members".into(), current.members_json());
    }
    doc
}

/// The canonical document the gateway keeps and hands to plugins: normalized,
/// write-only attributes (`password`) dropped.
pub fn canonical(body: &Value, schema: &ResourceSchema) -> std::result::Result<Value, ScimError> {
    let mut doc = normalize(body, schema)?;
    drop_write_only(&mut doc, schema);
    Ok(doc)
}

/// The lifecycle event a write raised, judged by what happened in the target.
fn lifecycle_event(operation: Operation, outcome: &TargetOutcome) -> Option<Event> {
    match outcome {
        TargetOutcome::Unchanged | TargetOutcome::OutOfScope => None,
        TargetOutcome::Created { .. } | TargetOutcome::Linked { .. } => Some(Event::Created),
        TargetOutcome::Updated { .. } => Some(Event::Updated),
        TargetOutcome::Reactivated { .. } => Some(Event::Reactivated),
        TargetOutcome::Deactivated { .. } => Some(Event::Deactivated),
        TargetOutcome::Deleted { .. } => Some(Event::Deleted),
    }
    .filter(|_| operation != Operation::Get)
}
