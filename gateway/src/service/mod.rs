//! The SCIM service: one request's life, independent of HTTP.
//!
//! The listener turns a request into a [`ScimRequest`]; [`Service::handle`]
//! answers it with a [`ScimResponse`] or a [`Failure`]. Every request goes
//! through the same phases, in this order:
//!
//! 1. **route**: the endpoint and method (`route`), refused with 404/405/501.
//! 2. **authorize**: done by the listener (the token names the tenant);
//!    nothing here crosses tenants.
//! 3. **load**: the current version, for writes of an existing resource
//!    (under the resource's turn, `locks`).
//! 4. **build**: the new canonical document (normalized body, or the PATCH
//!    applied to the current version).
//! 5. **scope / transform / match**: the tenant's pipeline makes a
//!    [`Plan`](crate::flow::Plan) of it (`prepare`), when it has a target.
//! 6. **apply to target**: the tenant's target (`target::target_of`) says
//!    what the write does to the account (an upstream is called here).
//! 7. **commit**: shadow, account side, links and memberships in one store
//!    transaction.
//! 8. **present**: the shadow with the target's truth laid over it, projected.
//! 9. **after commit**: lifecycle events to on-event hooks; what the
//!    pipeline decided goes to the provisioning log.
//!
//! Phases 5 to 9 record what they decided in the request's trace
//! ([`crate::trace`]), which the listener keeps in the log record.
//!
//! Reads stop after **load** and go to **present**. Parsing, normalizing,
//! rendering and reads run on the caller's task; writes await the store's
//! writer; hooks and connector calls run in place on the worker
//! (`crate::blocking`).
//!
//! A bulk request (`bulk`) hands each of its operations to the dispatch a
//! request of its own gets, so each goes through these phases the same way.

mod bulk;
mod discovery;
mod exchange;
mod locks;
mod present;
mod read;
mod remote;
mod route;
mod target;
mod write;

use std::sync::Arc;

use pipeline::{HookContext, Operation, StepError};
use scim::{ListQuery, Projection, ScimError};
use serde_json::{Value, json};

pub use crate::failure::Failure;
pub use bulk::BulkLimits;
pub use exchange::{OperationRecord, ScimRequest, ScimResponse};
pub use present::{etag, render};
pub use route::{Method, Route, operation_name};
pub use write::{canonical, pipeline_input};

use crate::flow::Plan;
use crate::metrics::Metrics;
use crate::store::{MatchPolicy, ResourceKind, Store, StoreError, StoredResource, TargetOutcome, etag_matches};
use crate::tenant::Tenant;
use crate::trace::{self, Stage};

type Result<T, E = Failure> = std::result::Result<T, E>;

/// The SCIM service provider over the store and the tenants' targets.
pub struct Service {
    store: Store,
    metrics: Arc<Metrics>,
    /// Writes of one resource take turns (see `locks`).
    turns: locks::ResourceTurns,
    bulk: BulkLimits,
}

impl Service {
    pub fn new(store: Store, metrics: Arc<Metrics>, bulk: BulkLimits) -> Self {
        Service { store, metrics, turns: locks::ResourceTurns::default(), bulk }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Answer one request for `tenant` (already authorized).
    pub async fn handle(&self, tenant: &Tenant, req: &ScimRequest) -> Result<ScimResponse> {
        match (&req.route, req.method) {
            (Route::Bulk, Method::Post) => self.bulk(tenant, req).await,
            _ => self.handle_one(tenant, req).await,
        }
    }

    /// Every request but a bulk one: also what each operation of a bulk
    /// runs (which keeps a bulk from nesting and its future finite).
    async fn handle_one(&self, tenant: &Tenant, req: &ScimRequest) -> Result<ScimResponse> {
        use Method::*;
        let base = req.base_url.as_str();
        match (&req.route, req.method) {
            (Route::ServiceProviderConfig, Get) => {
                Ok(ScimResponse::json(200, discovery::service_provider_config(base, self.bulk)))
            }
            (Route::Schemas(id), Get) => discovery::schemas(tenant, id.as_deref(), base),
            (Route::ResourceTypes(id), Get) => discovery::resource_types(tenant, id.as_deref(), base),
            (Route::Collection(kind), Get) => {
                let pairs = req.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let query = ListQuery::from_pairs(pairs, tenant.schema(*kind))?;
                self.list(tenant, &[*kind], &query, base).await
            }
            (Route::Search(kind), Post) => {
                let kinds: &[ResourceKind] = match kind {
                    Some(k) => std::slice::from_ref(k),
                    None => &[ResourceKind::User, ResourceKind::Group],
                };
                let query = ListQuery::from_search_request(require_body(req)?, tenant.schema(kinds[0]))?;
                self.list(tenant, kinds, &query, base).await
            }
            (Route::Resource(kind, id), Get) => self.get(tenant, *kind, id, req).await,
            (Route::Collection(kind), Post) => self.create(tenant, *kind, req).await,
            (Route::Resource(kind, id), Put) => self.replace(tenant, *kind, id, req).await,
            (Route::Resource(kind, id), Patch) => self.patch(tenant, *kind, id, req).await,
            (Route::Resource(kind, id), Delete) => self.delete(tenant, *kind, id, req).await,
            (Route::Unsupported(what), _) => {
                Err(ScimError::status(501, format!("/{what} is not supported by this service provider")).into())
            }
            (route, _) => Err(Failure::MethodNotAllowed(route.allowed_methods())),
        }
    }

    /// Scope, transform and match: the tenant's pipeline on a document on
    /// its way in, each hook's time (or the step's failure) in the metrics.
    /// `None` when the tenant has no target (the shadow is all there is).
    fn prepare(
        &self,
        tenant: &Tenant,
        operation: Operation,
        kind: ResourceKind,
        id: Option<&str>,
        doc: &Value,
    ) -> Result<Option<Plan>> {
        if !tenant.has_target() {
            return Ok(None);
        }
        let ctx = hook_context(tenant, operation, kind, id);
        // Each hook's output is kept only for a request whose trace is kept.
        let traced = trace::active();
        let mut calls = Vec::new();
        let started = std::time::Instant::now();
        // Hooks may block up to their deadline; a chain without steps (an
        // upstream alone) cannot, and must not cost a thread hand-off.
        let prepared = if tenant.flow.is_empty() {
            tenant.flow.prepare(doc, &ctx, traced.then_some(&mut calls))
        } else {
            crate::blocking::run(|| tenant.flow.prepare(doc, &ctx, traced.then_some(&mut calls)))
        };
        for call in calls {
            trace::record(Stage::from(call));
        }
        match prepared {
            Ok(plan) => {
                for (step, hook, elapsed) in &plan.timings {
                    self.metrics.step(&tenant.name, step, hook, *elapsed);
                }
                if traced {
                    trace::record(Stage::new("plan", plan.decision()).took(started.elapsed()));
                }
                Ok(Some(plan))
            }
            Err(e) => {
                let (step, reason) = match &e {
                    StepError::Rejected { step, .. } => (step, "rejected"),
                    StepError::Failed { step, .. } => (step, "failed"),
                    StepError::Timeout { step, .. } => (step, "timeout"),
                    StepError::ResourceLimit { step, .. } => (step, "resource_limit"),
                };
                self.metrics.step_failure(&tenant.name, step, reason);
                let failed = json!({"reason": reason, "error": e.to_string()});
                trace::record(Stage::new("step-failed", failed).step(step).took(started.elapsed()));
                Err(e.into())
            }
        }
    }

    /// What a target may consult for `tenant`.
    fn target_cx<'a>(&'a self, tenant: &'a Tenant) -> target::TargetCx<'a> {
        target::TargetCx { tenant, store: &self.store }
    }

    /// Await a store write: its time in the metrics, what it did to the
    /// shadow and the account in the trace (with the match a create made).
    async fn commit(
        &self,
        tenant: &Tenant,
        operation: Operation,
        write: impl std::future::Future<Output = Result<(StoredResource, TargetOutcome), StoreError>>,
    ) -> Result<(StoredResource, TargetOutcome), StoreError> {
        let started = std::time::Instant::now();
        let out = write.await;
        let elapsed = started.elapsed();
        self.metrics.store_write(&tenant.name, elapsed);
        if trace::active() {
            let decision = match &out {
                Ok((stored, outcome)) => json!({
                    "outcome": outcome.as_str(),
                    "target_id": outcome.target_id(),
                    "version": stored.version,
                }),
                Err(e) => json!({"error": e.to_string()}),
            };
            trace::record(Stage::new("store", decision).took(elapsed));
            if let (Ok((_, outcome)), Operation::Create) = (&out, operation) {
                match outcome {
                    TargetOutcome::Linked { target_id, attribute } => {
                        trace::record(Stage::new("match", link_decision(target_id, attribute, tenant.policy.on_match)));
                    }
                    TargetOutcome::Created { target_id } => {
                        trace::record(Stage::new("match", json!({"result": "create", "target_id": target_id})));
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

/// The context every hook call of this request gets.
pub fn hook_context(tenant: &Tenant, operation: Operation, kind: ResourceKind, id: Option<&str>) -> HookContext {
    HookContext {
        tenant: tenant.name.clone(),
        idp_profile: tenant.idp.clone(),
        operation,
        resource_type: kind.as_str().to_owned(),
        resource_id: id.map(str::to_owned),
    }
}

/// The account a create was linked to, as the dry run and a request's
/// trace both report it.
pub fn link_decision(target_id: &str, attribute: &str, policy: MatchPolicy) -> Value {
    json!({"result": "link", "target_id": target_id, "attribute": attribute, "policy": policy.as_str()})
}

/// Refuse early, before a target is touched, a write whose `If-Match` no
/// longer holds (the store checks again in the transaction).
fn check_if_match(current: &StoredResource, if_match: Option<&str>) -> Result<()> {
    match if_match {
        Some(tags) if !etag_matches(tags, current.version) => Err(ScimError::precondition_failed(format!(
            "{} {} has changed (now version {})",
            current.kind.as_str(),
            current.id,
            etag(current)
        ))
        .into()),
        _ => Ok(()),
    }
}

fn require_body(req: &ScimRequest) -> Result<&Value> {
    req.body.as_ref().ok_or_else(|| ScimError::invalid_syntax("the request needs a JSON body").into())
}

fn projection(req: &ScimRequest) -> Result<Projection> {
    let find = |name: &str| req.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    Ok(Projection::parse(find("attributes"), find("excludedAttributes"))?)
}

fn not_found(kind: ResourceKind, id: &str) -> Failure {
    ScimError::not_found(format!("{} {id} not found", kind.as_str())).into()
}

#[cfg(test)]
mod tests;
