//! SCIM operations on the embedded store, independent of HTTP.
//!
//! The listener turns a request into a [`ScimRequest`]; [`Service::handle`]
//! answers it with a [`ScimResponse`]. Parsing, normalizing, rendering and
//! reads run on the caller's task (they take microseconds); writes await the
//! store's writer thread.

use pipeline::{Event, HookContext, Operation, ScopeDecision, StepError};
use scim::filter::{CompareOp, Filter};
use scim::patch::PatchRequest;
use scim::schema::{GROUP_SCHEMA, USER_SCHEMA};
use scim::{ListQuery, Projection, ResourceSchema, ScimError, drop_write_only, list_response, normalize, project};

use serde_json::{Map, Value, json};

use crate::flow::Plan;
use crate::metrics::Metrics;
use crate::store::{
    IndexedLookup, ResourceKind, Store, StoreError, StoredResource, TargetChange, TargetOutcome, etag_matches,
};
use crate::tenant::Tenant;
use crate::upstream::UpstreamError;
use std::sync::Arc;

mod remote;

/// Where a request goes, once the path is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ServiceProviderConfig,
    Schemas(Option<String>),
    ResourceTypes(Option<String>),
    Collection(ResourceKind),
    Resource(ResourceKind, String),
    /// `POST /.search` (None) or `POST /Users/.search`.
    Search(Option<ResourceKind>),
    /// An endpoint RFC 7644 defines that this gateway does not offer.
    Unsupported(&'static str),
}

impl Route {
    /// Parse the path below the SCIM base (`/Users/abc`). `None`: no such endpoint.
    pub fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let kind = |s: &str| match s {
            "Users" => Some(ResourceKind::User),
            "Groups" => Some(ResourceKind::Group),
            _ => None,
        };
        Some(match segments.as_slice() {
            ["ServiceProviderConfig"] => Route::ServiceProviderConfig,
            ["Schemas"] => Route::Schemas(None),
            ["Schemas", id] => Route::Schemas(Some(percent_decode(id))),
            ["ResourceTypes"] => Route::ResourceTypes(None),
            ["ResourceTypes", id] => Route::ResourceTypes(Some(percent_decode(id))),
            [".search"] => Route::Search(None),
            ["Bulk"] => Route::Unsupported("Bulk"),
            ["Me"] => Route::Unsupported("Me"),
            [k] => Route::Collection(kind(k)?),
            [k, ".search"] => Route::Search(Some(kind(k)?)),
            [k, id] if !id.is_empty() => Route::Resource(kind(k)?, percent_decode(id)),
            _ => return None,
        })
    }
}

impl Route {
    /// The methods this endpoint answers, for a 405's `Allow` header.
    pub fn allowed_methods(&self) -> &'static str {
        match self {
            Route::ServiceProviderConfig | Route::Schemas(_) | Route::ResourceTypes(_) => "GET",
            Route::Collection(_) => "GET, POST",
            Route::Resource(..) => "GET, PUT, PATCH, DELETE",
            Route::Search(_) | Route::Unsupported(_) => "POST",
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The HTTP methods the SCIM API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// A SCIM request, stripped of HTTP.
#[derive(Debug, Clone)]
pub struct ScimRequest {
    pub method: Method,
    pub route: Route,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Parsed JSON body, when there was one.
    pub body: Option<Value>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    /// `http://host/scim/v2`, for `meta.location` and `$ref`.
    pub base_url: String,
}

/// What to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub etag: Option<String>,
    pub location: Option<String>,
    /// For the provisioning log.
    pub resource_id: Option<String>,
    /// The provisioning log's outcome when it says more than `ok`.
    pub outcome: Option<&'static str>,
    /// What the pipeline decided, for the provisioning log.
    pub detail: Option<String>,
}

impl ScimResponse {
    fn json(status: u16, body: Value) -> Self {
        ScimResponse {
            status,
            body: Some(body),
            etag: None,
            location: None,
            resource_id: None,
            outcome: None,
            detail: None,
        }
    }

    fn empty(status: u16) -> Self {
        ScimResponse { status, body: None, etag: None, location: None, resource_id: None, outcome: None, detail: None }
    }
}

/// What a failed operation tells the listener.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The client's fault or a refused request: answered as-is.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// Ours: answered as a 500 without internals.
    #[error(transparent)]
    Store(StoreError),
    /// The endpoint exists but not for this method; carries the `Allow` value.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// A failure of the gateway itself (a task that died); answered as 500.
    #[error("{0}")]
    Internal(String),
    /// A pipeline step refused the document (400) or broke (500); the
    /// detail names the step and the cause.
    #[error(transparent)]
    Step(#[from] StepError),
    /// The upstream failed or refused; it says what the IdP should hear.
    #[error(transparent)]
    Upstream(UpstreamError),
}

impl ServiceError {
    /// A failure the IdP's retries will not fix and an admin must: a step
    /// refused the document or broke, or the upstream refused the request
    /// or the gateway's credentials.
    pub fn needs_admin(&self) -> bool {
        match self {
            ServiceError::Step(_) => true,
            ServiceError::Upstream(e) => {
                matches!(e, UpstreamError::Refused(_) | UpstreamError::Failed { status: 400..=499, .. })
            }
            _ => false,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Scim(s) => ServiceError::Scim(s),
            other => ServiceError::Store(other),
        }
    }
}

type Result<T> = std::result::Result<T, ServiceError>;

/// The operation name recorded in the provisioning log.
pub fn operation_name(method: Method, route: &Route) -> &'static str {
    match (method, route) {
        (_, Route::ServiceProviderConfig | Route::Schemas(_) | Route::ResourceTypes(_) | Route::Unsupported(_)) => {
            "config"
        }
        (_, Route::Search(_)) => "search",
        (Method::Get, Route::Collection(_)) => "list",
        (Method::Post, Route::Collection(_)) => "create",
        (Method::Get, Route::Resource(..)) => "get",
        (Method::Put, _) => "replace",
        (Method::Patch, _) => "patch",
        (Method::Delete, _) => "delete",
        _ => "other",
    }
}

/// How often a pipelined update is prepared again when the resource changed
/// under it (concurrent PATCHes of one resource) before giving up with 409.
const MAX_PREPARE_ATTEMPTS: usize = 8;

/// The SCIM service provider over the embedded store.
pub struct Service {
    store: Store,
    metrics: Arc<Metrics>,
}

impl Service {
    pub fn new(store: Store, metrics: Arc<Metrics>) -> Self {
        Service { store, metrics }
    }

    /// Await a store write and record how long it took.
    async fn timed<T>(&self, tenant: &Tenant, write: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = write.await;
        self.metrics.store_write(&tenant.name, started.elapsed());
        out
    }

    /// Run the tenant's pipeline on a document on its way in, and record
    /// each hook's time (or the step's failure) in the metrics.
    fn prepare(&self, tenant: &Tenant, doc: &Value, ctx: &HookContext) -> Result<Plan> {
        match blocking(|| tenant.flow.prepare(doc, ctx, false)) {
            Ok(plan) => {
                for (step, hook, elapsed) in &plan.timings {
                    self.metrics.step(&tenant.name, step, hook, *elapsed);
                }
                Ok(plan)
            }
            Err(e) => {
                let (step, reason) = match &e {
                    StepError::Rejected { step, .. } => (step, "rejected"),
                    StepError::Failed { step, .. } => (step, "failed"),
                    StepError::Timeout { step, .. } => (step, "timeout"),
                    StepError::ResourceLimit { step, .. } => (step, "resource_limit"),
                };
                self.metrics.step_failure(&tenant.name, step, reason);
                Err(e.into())
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Answer one request for `tenant`.
    pub async fn handle(&self, tenant: &Tenant, req: &ScimRequest) -> Result<ScimResponse> {
        use Method::*;
        match (&req.route, req.method) {
            (Route::ServiceProviderConfig, Get) => Ok(ScimResponse::json(200, service_provider_config(&req.base_url))),
            (Route::Schemas(id), Get) => schemas(tenant, id.as_deref(), &req.base_url),
            (Route::ResourceTypes(id), Get) => resource_types(tenant, id.as_deref(), &req.base_url),
            (Route::Collection(kind), Get) => {
                let pairs = req.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let query = ListQuery::from_pairs(pairs, tenant.schema(*kind))?;
                self.list(tenant, &[*kind], &query, &req.base_url)
            }
            (Route::Collection(kind), Post) => self.create(tenant, *kind, req).await,
            (Route::Search(kind), Post) => {
                let kinds: &[ResourceKind] = match kind {
                    Some(k) => std::slice::from_ref(k),
                    None => &[ResourceKind::User, ResourceKind::Group],
                };
                let body = require_body(req)?;
                let query = ListQuery::from_search_request(body, tenant.schema(kinds[0]))?;
                self.list(tenant, kinds, &query, &req.base_url)
            }
            (Route::Resource(kind, id), Get) => self.get(tenant, *kind, id, req).await,
            (Route::Resource(kind, id), Put) => self.replace(tenant, *kind, id, req).await,
            (Route::Resource(kind, id), Patch) => self.patch(tenant, *kind, id, req).await,
            (Route::Resource(kind, id), Delete) => self.delete(tenant, *kind, id, req).await,
            (Route::Unsupported(what), _) => {
                Err(ScimError::status(501, format!("/{what} is not supported by this service provider")).into())
            }
            (route, _) => Err(ServiceError::MethodNotAllowed(route.allowed_methods())),
        }
    }

    async fn create(&self, tenant: &Tenant, kind: ResourceKind, req: &ScimRequest) -> Result<ScimResponse> {
        let doc = canonical(require_body(req)?, tenant.schema(kind))?;
        let projection = projection(req)?;
        let (stored, outcome, plan) = if !tenant.has_target() {
            (self.timed(tenant, self.store.create(&tenant.name, kind, doc)).await?, TargetOutcome::Unchanged, None)
        } else {
            let ctx = hook_context(tenant, Operation::Create, kind, None);
            let plan = self.prepare(tenant, &doc, &ctx)?;
            let (stored, outcome) = match &tenant.upstream {
                Some(upstream) => self.create_remote(tenant, upstream, kind, doc, &plan).await?,
                None => {
                    let change = target_change(tenant, &plan);
                    self.timed(tenant, self.store.create_with(&tenant.name, kind, doc, change)).await?
                }
            };
            (stored, outcome, Some(plan))
        };
        let mut resp = self.respond(tenant, 201, &stored, &projection, &req.base_url)?;
        resp.location = Some(location(&req.base_url, &stored));
        self.after_write(tenant, Operation::Create, &stored, plan.as_ref(), &outcome, &req.base_url, &mut resp);
        Ok(resp)
    }

    async fn get(&self, tenant: &Tenant, kind: ResourceKind, id: &str, req: &ScimRequest) -> Result<ScimResponse> {
        let mut stored = self.store.get(&tenant.name, kind, id)?.ok_or_else(|| not_found(kind, id))?;
        if req.if_none_match.as_deref().is_some_and(|tags| etag_matches(tags, stored.version)) {
            return Ok(ScimResponse { etag: Some(etag(&stored)), ..ScimResponse::empty(304) });
        }
        if let Some(upstream) = &tenant.upstream {
            stored = self.refresh_remote(tenant, upstream, stored).await?;
        }
        self.respond(tenant, 200, &stored, &projection(req)?, &req.base_url)
    }

    async fn replace(&self, tenant: &Tenant, kind: ResourceKind, id: &str, req: &ScimRequest) -> Result<ScimResponse> {
        let doc = canonical(require_body(req)?, tenant.schema(kind))?;
        let projection = projection(req)?;
        if tenant.has_target() {
            let (stored, outcome, plan) = self
                .update_through_pipeline(tenant, kind, id, req, Operation::Replace, move |_| Ok(doc.clone()))
                .await?;
            let mut resp = self.respond(tenant, 200, &stored, &projection, &req.base_url)?;
            self.after_write(tenant, Operation::Replace, &stored, Some(&plan), &outcome, &req.base_url, &mut resp);
            return Ok(resp);
        }
        let stored =
            self.timed(tenant, self.store.replace(&tenant.name, kind, id, doc, req.if_match.as_deref())).await?;
        self.respond(tenant, 200, &stored, &projection, &req.base_url)
    }

    /// Delete the shadow resource; its target account goes or stays per the
    /// tenant's policy.
    async fn delete(&self, tenant: &Tenant, kind: ResourceKind, id: &str, req: &ScimRequest) -> Result<ScimResponse> {
        if let Some(upstream) = &tenant.upstream {
            let current = self.store.get(&tenant.name, kind, id)?.ok_or_else(|| not_found(kind, id))?;
            check_if_match(&current, req)?;
            self.delete_remote(tenant, upstream, &current).await?;
        }
        let (stored, outcome) = self
            .timed(tenant, self.store.delete(&tenant.name, kind, id, req.if_match.as_deref(), tenant.policy.on_delete))
            .await?;
        let mut resp = ScimResponse { resource_id: Some(id.to_owned()), ..ScimResponse::empty(204) };
        self.after_write(tenant, Operation::Delete, &stored, None, &outcome, &req.base_url, &mut resp);
        Ok(resp)
    }

    /// PUT or PATCH for a tenant with a pipeline: read the current version,
    /// build the new document, run the pipeline on it (off the writer), then
    /// write if the version is still the one read; otherwise start over, so
    /// that concurrent PATCHes of one resource all take effect.
    async fn update_through_pipeline(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        req: &ScimRequest,
        operation: Operation,
        build: impl Fn(&StoredResource) -> Result<Value>,
    ) -> Result<(StoredResource, TargetOutcome, Plan)> {
        let ctx = hook_context(tenant, operation, kind, Some(id));
        for _ in 0..MAX_PREPARE_ATTEMPTS {
            let current = self.store.get(&tenant.name, kind, id)?.ok_or_else(|| not_found(kind, id))?;
            let doc = build(&current)?;
            let plan = self.prepare(tenant, &doc, &ctx)?;
            let change = match &tenant.upstream {
                Some(upstream) => {
                    check_if_match(&current, req)?;
                    self.update_remote(tenant, upstream, &current, &plan).await?
                }
                None => target_change(tenant, &plan),
            };
            let expected = current.version;
            let write = self
                .timed(
                    tenant,
                    self.store.modify_with(&tenant.name, kind, id, req.if_match.as_deref(), move |now| {
                        if now.version != expected {
                            return Err(StoreError::Stale);
                        }
                        Ok((doc, change))
                    }),
                )
                .await;
            match write {
                Ok((stored, outcome)) => return Ok((stored, outcome, plan)),
                Err(StoreError::Stale) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ScimError::status(409, format!("{} {id} is changing too often to update; retry", kind.as_str())).into())
    }

    /// Log what the pipeline decided and raise the lifecycle event a write
    /// caused. Event hooks run after the commit: their failures are logged,
    /// never undo the write.
    #[allow(clippy::too_many_arguments)]
    fn after_write(
        &self,
        tenant: &Tenant,
        operation: Operation,
        stored: &StoredResource,
        plan: Option<&Plan>,
        outcome: &TargetOutcome,
        base: &str,
        resp: &mut ScimResponse,
    ) {
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
            let (failures, logs) = blocking(|| tenant.flow.notify(event, &doc, &ctx));
            notes.extend(logs.iter().map(|l| format!("{} {}: {}", l.step, l.level, l.message)));
            for failure in failures {
                tracing::warn!(tenant = %tenant.name, error = %failure, ?event, "on-event hook failed");
                notes.push(format!("on-event {event:?} failed: {failure}"));
            }
        }
        if !notes.is_empty() {
            resp.detail = Some(notes.join("; "));
        }
    }

    async fn patch(&self, tenant: &Tenant, kind: ResourceKind, id: &str, req: &ScimRequest) -> Result<ScimResponse> {
        let patch = PatchRequest::from_json(require_body(req)?)?;
        let projection = projection(req)?;
        let schema = tenant.schema(kind).clone();
        if tenant.has_target() {
            let build = |current: &StoredResource| -> Result<Value> { Ok(patched(current, &patch, &schema)?) };
            let (stored, outcome, plan) =
                self.update_through_pipeline(tenant, kind, id, req, Operation::Patch, build).await?;
            let mut resp = if kind == ResourceKind::Group && projection.is_default() {
                ScimResponse {
                    etag: Some(etag(&stored)),
                    resource_id: Some(stored.id.clone()),
                    ..ScimResponse::empty(204)
                }
            } else {
                self.respond(tenant, 200, &stored, &projection, &req.base_url)?
            };
            self.after_write(tenant, Operation::Patch, &stored, Some(&plan), &outcome, &req.base_url, &mut resp);
            return Ok(resp);
        }
        // Applied on the writer, to the version it is about to replace: two
        // concurrent PATCHes of one resource both take effect.
        let change = move |current: &StoredResource| patched(current, &patch, &schema);
        let stored =
            self.timed(tenant, self.store.modify(&tenant.name, kind, id, req.if_match.as_deref(), change)).await?;
        // Entra asks for 204 on group PATCH (member lists can be huge); a
        // client that names attributes gets them.
        if kind == ResourceKind::Group && projection.is_default() {
            return Ok(ScimResponse {
                etag: Some(etag(&stored)),
                resource_id: Some(stored.id),
                ..ScimResponse::empty(204)
            });
        }
        self.respond(tenant, 200, &stored, &projection, &req.base_url)
    }

    fn respond(
        &self,
        tenant: &Tenant,
        status: u16,
        stored: &StoredResource,
        projection: &Projection,
        base: &str,
    ) -> Result<ScimResponse> {
        let full = self.present(tenant, stored, base)?;
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
    fn present(&self, tenant: &Tenant, stored: &StoredResource, base: &str) -> Result<Value> {
        let full = render(stored, base);
        let Some(target) = stored.target.as_ref().filter(|t| t.in_scope && tenant.has_target()) else {
            return Ok(full);
        };
        let out = if tenant.flow.has_transform_out() {
            let ctx = hook_context(tenant, Operation::Get, stored.kind, Some(&stored.id));
            blocking(|| tenant.flow.transform_out(target.doc.clone(), &ctx))?
        } else {
            target.doc.clone()
        };
        Ok(overlay(full, out, tenant.schema(stored.kind)))
    }

    /// List or search one or more resource types.
    fn list(&self, tenant: &Tenant, kinds: &[ResourceKind], query: &ListQuery, base: &str) -> Result<ScimResponse> {
        let offset = query.start_index - 1;
        // The common case, a plain page in storage order, never loads more
        // than the page.
        if let ([kind], None, None) = (kinds, &query.filter, &query.sort_by) {
            let total = self.store.count(&tenant.name, *kind)?;
            let page = if query.count == 0 {
                Vec::new()
            } else {
                self.store.page(&tenant.name, *kind, offset, query.count)?
            };
            let schema = tenant.schema(*kind);
            let resources = page
                .iter()
                .map(|r| Ok(project(&self.present(tenant, r, base)?, schema, &query.projection)))
                .collect::<Result<_>>()?;
            return Ok(ScimResponse::json(200, list_response(total, query.start_index, resources)));
        }
        // Each rendered document names its own type in `meta.resourceType`.
        // Filters are answered from the shadow (what the IdP wrote).
        let mut matched: Vec<Value> = Vec::new();
        for &kind in kinds {
            let schema = tenant.schema(kind);
            let lookup = query.filter.as_ref().and_then(|f| indexed_lookup(f, kind));
            for stored in self.store.candidates(&tenant.name, kind, lookup.as_ref())? {
                let doc = render(&stored, base);
                if query.filter.as_ref().is_none_or(|f| f.matches(&doc, schema)) {
                    matched.push(if stored.target.is_some() { self.present(tenant, &stored, base)? } else { doc });
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

/// The document a PATCH makes of the current version (a group's members included).
fn patched(
    current: &StoredResource,
    patch: &PatchRequest,
    schema: &ResourceSchema,
) -> std::result::Result<Value, ScimError> {
    let mut doc = current.doc.clone();
    if current.kind == ResourceKind::Group
        && let Value::Object(map) = &mut doc
    {
        map.insert("members".into(), current.members_json());
    }
    let mut doc = scim::patch::apply(&doc, patch, schema)?;
    drop_write_only(&mut doc, schema);
    Ok(doc)
}

/// The canonical document the gateway keeps and hands to plugins: normalized,
/// write-only attributes (`password`) dropped.
pub(crate) fn canonical(body: &Value, schema: &ResourceSchema) -> std::result::Result<Value, ScimError> {
    let mut doc = normalize(body, schema)?;
    drop_write_only(&mut doc, schema);
    Ok(doc)
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

/// The store's side of a plan under the tenant's policies.
fn target_change(tenant: &Tenant, plan: &Plan) -> TargetChange {
    match &plan.target {
        Some(doc) => {
            TargetChange::Upsert { doc: doc.clone(), keys: plan.keys.clone(), on_match: tenant.policy.on_match }
        }
        None => TargetChange::Out { on_exit: tenant.policy.on_scope_exit },
    }
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

/// Run a hook chain. Hooks are synchronous and may take up to their
/// deadline: on the multi-threaded runtime the worker hands its other tasks
/// away for the duration.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Lay the SCIM attributes of `out` over `full` (see [`Service::present`]).
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

/// The tenant's schemas: the built-in ones and the extensions it defines.
fn schemas(tenant: &Tenant, id: Option<&str>, base: &str) -> Result<ScimResponse> {
    let (users, groups) = (tenant.schema(ResourceKind::User), tenant.schema(ResourceKind::Group));
    let all: Vec<&scim::Schema> =
        [&users.core].into_iter().chain(&users.extensions).chain([&groups.core]).chain(&groups.extensions).collect();
    match id {
        None => {
            let list: Vec<Value> = all.iter().map(|s| s.to_json(base)).collect();
            Ok(ScimResponse::json(200, list_response(list.len(), 1, list)))
        }
        Some(id) => all
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .map(|s| ScimResponse::json(200, s.to_json(base)))
            .ok_or_else(|| ScimError::not_found(format!("schema {id} not found")).into()),
    }
}

fn resource_types(tenant: &Tenant, id: Option<&str>, base: &str) -> Result<ScimResponse> {
    let all = [tenant.schema(ResourceKind::User), tenant.schema(ResourceKind::Group)];
    match id {
        None => {
            let list: Vec<Value> = all.iter().map(|r| r.resource_type_json(base)).collect();
            Ok(ScimResponse::json(200, list_response(list.len(), 1, list)))
        }
        Some(id) => all
            .iter()
            .find(|r| r.resource_type.eq_ignore_ascii_case(id))
            .map(|r| ScimResponse::json(200, r.resource_type_json(base)))
            .ok_or_else(|| ScimError::not_found(format!("resource type {id} not found")).into()),
    }
}

/// Refuse early, before the upstream is touched, a write whose `If-Match`
/// no longer holds (the store checks again in the transaction).
fn check_if_match(current: &StoredResource, req: &ScimRequest) -> Result<()> {
    match req.if_match.as_deref() {
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

fn not_found(kind: ResourceKind, id: &str) -> ServiceError {
    ScimError::not_found(format!("{} {id} not found", kind.as_str())).into()
}

fn kind_of(doc: &Value) -> ResourceKind {
    match doc.pointer("/meta/resourceType").and_then(Value::as_str) {
        Some("Group") => ResourceKind::Group,
        _ => ResourceKind::User,
    }
}

/// The weak ETag of a stored version.
pub fn etag(stored: &StoredResource) -> String {
    format!("W/\"{}\"", stored.version)
}

fn location(base: &str, stored: &StoredResource) -> String {
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

/// RFC 7643 §5: what this service provider supports.
fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": scim::list::MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued by `scimgate token issue`.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(Route::parse("/Users"), Some(Route::Collection(ResourceKind::User)));
        assert_eq!(Route::parse("/Groups/abc/"), Some(Route::Resource(ResourceKind::Group, "abc".into())));
        assert_eq!(Route::parse("/Users/.search"), Some(Route::Search(Some(ResourceKind::User))));
        assert_eq!(
            Route::parse("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"),
            Some(Route::Schemas(Some(USER_SCHEMA.into())))
        );
        assert_eq!(Route::parse("/Nope"), None);
        assert_eq!(Route::parse("/Users/a/b"), None);
    }

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
