//! The admin API, on its own listener (loopback by default) with its own
//! token: what an integration engineer needs while building a tenant's
//! pipeline and what an operator needs while running it.
//!
//! - `GET  /admin/tenants`: the tenants, their steps, snapshots, refused
//!   changes and upstream state; `POST /admin/reload`.
//! - `POST /admin/tenants/{t}/dry-run?resourceType=User&operation=create`:
//!   the whole pipeline on a posted SCIM document, written nowhere: the scope
//!   decision, each hook's output and time, and the account the match keys
//!   would link (Entra's "provision on demand", without the provisioning).
//! - `GET  /admin/tenants/{t}/target/{Users|Groups}`: the accounts the
//!   pipeline wrote to the embedded target, with their links.
//! - tokens (issue, list, revoke) and the provisioning log, paged
//!   (`GET /admin/tenants/{t}/log`, records without their traces).
//! - `GET  /admin/tenants/{t}/log/{seq}`: one record with its trace, what
//!   each stage of the request decided ([`crate::trace`]).
//! - `GET  /admin/tenants/{t}/log/stream`: new records as Server-Sent
//!   Events, resumable with `Last-Event-ID` (`tail`).
//! - `POST /admin/tenants/{t}/preview`: a new version of one step run over
//!   the tenant's stored resources, written nowhere; what would change,
//!   streamed as newline-delimited JSON ([`crate::preview`]).
//! - `/console`: the same functions as server-rendered pages, signed in
//!   with the admin token once and then a session cookie ([`console`]).
//! - [`Probes`] (`/healthz`, `/readyz`, `/metrics`) need no token, here and
//!   on `[server] metrics_listen`.
//!
//! The admin token is read from an environment variable at start (or made
//! for the run with `generate_token`), kept only as a SHA-256 and compared
//! in constant time. Failures are answered through
//! [`crate::listener::failure_response`], as on the SCIM listener.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pipeline::{Operation, ScopeDecision};
use scim::ScimError;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::failure::Failure;
use crate::listener::{parse_json_body, read_body};
use crate::reload::Registry;
use crate::service::{Service, hook_context, link_decision};
use crate::store::{LogQuery, LogWriter, ResourceKind};
use crate::tenant::Tenant;
use crate::tokens::TokenAuthority;

pub mod console;
mod tail;

/// An admin response's body: whole (JSON, the scrape) or streamed (the
/// log's live tail).
pub type Body = BoxBody<Bytes, Infallible>;

/// What the admin listener serves from.
pub struct AdminState {
    pub service: Arc<Service>,
    pub tenants: Arc<Registry>,
    /// The same authority the CLI's `token` commands use.
    pub tokens: Arc<TokenAuthority>,
    /// `/healthz`, `/readyz`, `/metrics`, answered here without the token too.
    pub probes: Arc<Probes>,
    /// SHA-256 of the admin token.
    pub token_hash: [u8; 32],
    pub max_body_bytes: usize,
    /// Where written provisioning-log records are announced (the live tail).
    pub log: LogWriter,
    /// The web console's signed-in sessions.
    pub console: console::Sessions,
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Serve until the task is dropped (the gateway's shutdown aborts it).
pub async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    accept_loop(listener, "admin", move |req| {
        let state = state.clone();
        async move { handle(&state, req).await }
    })
    .await
}

/// `[server] metrics_listen`: the probes and the scrape alone, no token, no
/// admin API (so a scraper's network never reaches tenant data).
pub async fn serve_probes(listener: TcpListener, probes: Arc<Probes>) {
    accept_loop(listener, "metrics", move |req| {
        let probes = probes.clone();
        async move {
            probes.answer(&req).await.unwrap_or_else(|| {
                json_response(StatusCode::NOT_FOUND, &json!({"detail": "only /healthz, /readyz and /metrics here"}))
            })
        }
    })
    .await
}

/// Accept connections until the task is dropped, each answered by `answer`.
async fn accept_loop<F, Fut>(listener: TcpListener, what: &'static str, answer: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, listener = what, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let answer = answer.clone();
        let service = hyper::service::service_fn(move |req| {
            let answer = answer.clone();
            async move { Ok::<_, Infallible>(answer(req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// Liveness, readiness and the Prometheus scrape. They need no token: they
/// show no tenant data beyond tenant names.
pub struct Probes {
    pub store: crate::store::Store,
    pub tenants: Arc<Registry>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Probes {
    /// The answer to `req` if it is a probe or the scrape.
    pub async fn answer<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        if req.method() != hyper::Method::GET {
            return None;
        }
        Some(match req.uri().path() {
            "/healthz" => json_response(StatusCode::OK, &json!({"status": "alive"})),
            "/readyz" => self.readiness().await,
            "/metrics" => {
                let text = self.metrics.render(&self.tenants.facts());
                let mut resp = Response::new(Full::new(Bytes::from(text)).boxed());
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                resp
            }
            _ => return None,
        })
    }

    /// Ready when the store answers a read and the tenants are loaded.
    async fn readiness(&self) -> Response<Body> {
        match self.store.ping().await {
            Ok(()) => json_response(StatusCode::OK, &json!({"status": "ready", "tenants": self.tenants.names().len()})),
            Err(e) => {
                tracing::error!(error = %e, "readiness: the store does not answer");
                json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "store unavailable"}))
            }
        }
    }
}

async fn handle(state: &AdminState, req: Request<Incoming>) -> Response<Body> {
    // Every body is read before the answer, whatever the answer: hyper
    // closes a connection whose request body was left unread, and the
    // client's next request on it (a reload's status check) would fail.
    let (parts, body) = req.into_parts();
    let declared = crate::listener::headers_content_length(&parts.headers);
    let req = match read_body(body, declared, state.max_body_bytes).await {
        Ok(bytes) => Request::from_parts(parts, bytes),
        Err(failure) => return failure_reply(&failure),
    };
    if let Some(probe) = state.probes.answer(&req).await {
        return probe;
    }
    if console::is_console(req.uri().path()) {
        // Its own authentication (a session cookie), not the bearer token.
        return console::handle(state, req).await;
    }
    let answered = if !authorized(state, &req) {
        Err(ScimError::status(401, "the admin token is missing or wrong").into())
    } else if let Some(tenant) = tenant_of(&req, hyper::Method::GET, "/log/stream") {
        log_stream(state, &req, &tenant).await
    } else if let Some(tenant) = tenant_of(&req, hyper::Method::POST, "/preview") {
        preview(state, &req, &tenant).await
    } else {
        route(state, req).await.map(|body| json_response(StatusCode::OK, &body))
    };
    answered.unwrap_or_else(|failure| failure_reply(&failure))
}

fn failure_reply(failure: &Failure) -> Response<Body> {
    let (resp, _) = crate::listener::failure_response(failure, &uuid::Uuid::new_v4().simple().to_string());
    resp.map(BodyExt::boxed)
}

/// The tenant of a `METHOD /admin/tenants/{t}SUFFIX` (the streamed
/// endpoints, answered outside `route`).
fn tenant_of<B>(req: &Request<B>, method: hyper::Method, suffix: &str) -> Option<String> {
    let path = req.uri().path().trim_end_matches('/');
    let tenant = path.strip_prefix("/admin/tenants/")?.strip_suffix(suffix)?;
    (req.method() == method && !tenant.is_empty() && !tenant.contains('/')).then(|| tenant.to_owned())
}

/// The live tail of a running tenant's log, after `Last-Event-ID` if the
/// client resumes.
async fn log_stream<B>(state: &AdminState, req: &Request<B>, tenant: &str) -> Result<Response<Body>, Failure> {
    let tenant = state.tenants.get(tenant).ok_or_else(|| ScimError::not_found(format!("no tenant {tenant}")))?;
    let resume =
        match req.headers().get("last-event-id").map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok())) {
            None => None,
            Some(Some(seq)) => Some(seq),
            Some(None) => return Err(ScimError::invalid_value("Last-Event-ID must be a record's seq").into()),
        };
    let events = tail::start(state.service.store(), &state.log, &tenant.name, resume).await?;
    let mut resp = Response::new(BodyExt::boxed(events));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    // nginx would otherwise hold events back to fill its buffer.
    headers.insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    Ok(resp)
}

/// What `POST /admin/tenants/{t}/preview` takes.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    /// The step to replace, counted from 1.
    step: usize,
    /// The new plugin file (`.wasm` or `.rhai`), relative to the config file.
    plugin: std::path::PathBuf,
    /// The step's config values instead of its current ones.
    config: Option<Value>,
    /// `User` or `Group`; both when absent.
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    /// Changes listed one by one (default 1000); the summary counts all.
    max_changes: Option<usize>,
}

/// Preview a new version of one step on the tenant's stored resources:
/// newline-delimited JSON events (progress, each change, the summary), as
/// they come ([`crate::preview`]).
async fn preview(state: &AdminState, req: &Request<Bytes>, tenant: &str) -> Result<Response<Body>, Failure> {
    let body = parse_json_body(req.body())?
        .ok_or_else(|| ScimError::invalid_syntax("post {\"step\": N, \"plugin\": \"FILE\"}"))?;
    let ask: PreviewRequest = serde_json::from_value(body).map_err(|e| ScimError::invalid_syntax(e.to_string()))?;
    let kinds = match ask.resource_type.as_deref() {
        None => vec![ResourceKind::User, ResourceKind::Group],
        some => vec![dry_run_kind(some)?],
    };
    let plugin = state.tenants.config_dir().join(&ask.plugin);
    let (registry, name) = (state.tenants.clone(), tenant.to_owned());
    let built = tokio::task::spawn_blocking(move || {
        registry.build_variant(&name, |config| crate::preview::variant(config, ask.step, &plugin, ask.config.as_ref()))
    })
    .await
    .map_err(|_| ScimError::status(500, "building the preview's pipeline failed"))?;
    let (before, after) = built.map_err(|e| {
        use crate::reload::VariantError;
        let status = match e {
            VariantError::NotRunning(_) => 404,
            VariantError::Outdated(_) => 409,
            VariantError::Config(_) => 500,
            VariantError::Edit(_) | VariantError::Build(_) => 400,
        };
        Failure::from(ScimError::status(status, e.to_string()))
    })?;
    let run = crate::preview::Preview {
        store: state.service.store().clone(),
        before,
        after,
        kinds,
        max_changes: ask.max_changes.unwrap_or(1000),
    };
    let (events, mut rx) = tokio::sync::mpsc::channel(64);
    let (tx, body) = tail::Events::channel(16);
    tokio::spawn(async move {
        let worker = tokio::spawn(crate::preview::run(run, events));
        while let Some(event) = rx.recv().await {
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return; // The client went away; dropping `rx` stops the preview.
            }
        }
        if let Ok(Err(e)) = worker.await {
            let line = format!("{}\n", json!({"error": e.to_string()}));
            let _ = tx.send(Bytes::from(line)).await;
        }
    });
    let mut resp = Response::new(BodyExt::boxed(body));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/x-ndjson"));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    Ok(resp)
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    resp
}

fn authorized<B>(state: &AdminState, req: &Request<B>) -> bool {
    crate::listener::bearer_token(req).is_some_and(|t| bool::from(hash_token(t).ct_eq(&state.token_hash)))
}

/// Every endpoint but the probes and the live tail, for an authorized caller.
async fn route(state: &AdminState, req: Request<Bytes>) -> Result<Value, Failure> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query: HashMap<String, String> =
        req.uri().query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let tenant = |name: &str| -> Result<Arc<Tenant>, Failure> {
        state.tenants.get(name).ok_or_else(|| ScimError::not_found(format!("no tenant {name}")).into())
    };
    match (req.method().clone(), segments.as_slice()) {
        (hyper::Method::GET, ["admin", "tenants"]) => Ok(json!({"tenants": tenants_overview(state)})),
        (hyper::Method::POST, ["admin", "reload"]) => {
            let report = reload(state).await?;
            Ok(serde_json::to_value(report).unwrap_or(Value::Null))
        }
        (hyper::Method::POST, ["admin", "tenants", name, "dry-run"]) => {
            let tenant = tenant(name)?;
            let kind = dry_run_kind(query.get("resourceType").map(String::as_str))?;
            let operation = dry_run_operation(query.get("operation").map(String::as_str))?;
            let body = parse_json_body(req.body())?
                .ok_or_else(|| ScimError::invalid_syntax("post the SCIM document to try"))?;
            dry_run(&state.service, &tenant, kind, operation, &body).await
        }
        (hyper::Method::GET, ["admin", "tenants", name, "target", endpoint]) => {
            let tenant = tenant(name)?;
            let kind = match *endpoint {
                "Users" => ResourceKind::User,
                "Groups" => ResourceKind::Group,
                _ => return Err(ScimError::not_found(format!("no target endpoint {endpoint}")).into()),
            };
            let accounts = state.service.store().target_accounts(&tenant.name, kind).await?;
            Ok(json!({"accounts": accounts}))
        }
        (hyper::Method::POST, ["admin", "tenants", name, "tokens"]) => {
            let tenant = tenant(name)?;
            let issued = issue_token(state, &tenant).await?;
            Ok(json!({
                "id": issued.id,
                "token": issued.token,
                "tenant": tenant.name,
                "basic": {"username": issued.id, "password": issued.token},
            }))
        }
        (hyper::Method::GET, ["admin", "tenants", name, "tokens"]) => {
            let tenant = tenant(name)?;
            Ok(json!({"tokens": tokens_of(state, &tenant)?}))
        }
        (hyper::Method::DELETE, ["admin", "tokens", id]) => {
            let revoked = revoke_token(state, id).await?;
            if !revoked {
                return Err(ScimError::not_found(format!("no live token {id}")).into());
            }
            Ok(json!({"revoked": id}))
        }
        (hyper::Method::GET, ["admin", "tenants", name, "log"]) => {
            // Removed tenants' records stay readable.
            log_page(state, name, &query).await
        }
        (hyper::Method::GET, ["admin", "tenants", name, "log", seq]) => {
            // Another tenant's record is as absent as a missing one.
            let absent = || ScimError::not_found(format!("no provisioning-log record {seq} for tenant {name}"));
            let seq: i64 = seq.parse().map_err(|_| absent())?;
            log_record(state, name, seq).await?.ok_or_else(|| absent().into())
        }
        _ => Err(ScimError::not_found(format!("no admin endpoint {} {path}", req.method())).into()),
    }
}

// The functions behind the endpoints, shared with the console
// ([`console`]), which renders the same answers as pages.

/// Each tenant that runs or whose first version was refused: its steps,
/// snapshot, last refused change and upstream state (`GET /admin/tenants`).
fn tenants_overview(state: &AdminState) -> Vec<Value> {
    state
        .tenants
        .status()
        .into_iter()
        .map(|(name, status)| {
            let running = state.tenants.get(&name);
            json!({
                "name": name,
                "idp": running.as_ref().map(|t| t.idp.clone()),
                "steps": running.as_ref().map(|t| t.flow.step_names()),
                "upstream": running.as_ref().and_then(|t| t.upstream.as_ref()).map(|u| u.status()),
                "version": status.version,
                "loaded_at": status.loaded_at,
                "file": status.file,
                "last_error": status.last_error,
                "last_error_at": status.last_error_at,
            })
        })
        .collect()
}

/// Reload the config and the tenant files (`POST /admin/reload`).
async fn reload(state: &AdminState) -> Result<crate::reload::ReloadReport, Failure> {
    let registry = state.tenants.clone();
    tokio::task::spawn_blocking(move || registry.reload())
        .await
        .map_err(|e| Failure::Gateway(format!("reload task failed: {e}")))
}

/// A new SCIM token for `tenant`; its secret is in the answer only.
async fn issue_token(state: &AdminState, tenant: &Tenant) -> Result<crate::tokens::IssuedToken, Failure> {
    // Token writes block on the store's writer: off the async workers.
    let (tokens, owner) = (state.tokens.clone(), tenant.name.clone());
    Ok(tokio::task::spawn_blocking(move || tokens.issue(&owner))
        .await
        .map_err(|e| Failure::Gateway(format!("token task failed: {e}")))??)
}

/// `tenant`'s live tokens, id and creation time (never a secret: none is stored).
fn tokens_of(state: &AdminState, tenant: &Tenant) -> Result<Vec<Value>, Failure> {
    let rows = state.service.store().live_tokens(Some(&tenant.name))?;
    Ok(rows.iter().map(|r| json!({"id": r.id, "created": r.created})).collect())
}

/// Revoke a token by id; whether a live one was revoked.
async fn revoke_token(state: &AdminState, id: &str) -> Result<bool, Failure> {
    let (store, token_id) = (state.service.store().clone(), id.to_owned());
    Ok(tokio::task::spawn_blocking(move || store.revoke_token(&token_id))
        .await
        .map_err(|e| Failure::Gateway(format!("token task failed: {e}")))??)
}

/// One page of a tenant's provisioning log, newest first, filtered by
/// `query` (`limit`, `before`, `resource_id`, `operation`, `outcome`,
/// `since`, `until`); `next_before` pages on.
async fn log_page(state: &AdminState, tenant: &str, query: &HashMap<String, String>) -> Result<Value, Failure> {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return Err(ScimError::invalid_value("limit must be 1 to 1000").into()),
    };
    let before = match query.get("before").map(|b| b.parse::<i64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return Err(ScimError::invalid_value("before must be a record's seq").into()),
    };
    let log_query = LogQuery {
        tenant: tenant.to_owned(),
        limit,
        resource_id: query.get("resource_id").cloned(),
        operation: query.get("operation").cloned(),
        outcome: query.get("outcome").cloned(),
        since: query.get("since").cloned(),
        until: query.get("until").cloned(),
        before,
    };
    let records = state.service.store().recent_log(&log_query).await?;
    let next = (records.len() == limit).then(|| records.last().map(|r| r.seq)).flatten();
    Ok(json!({"records": records, "next_before": next}))
}

/// One record with its trace (`null` when it went through no stage).
async fn log_record(state: &AdminState, tenant: &str, seq: i64) -> Result<Option<Value>, Failure> {
    let Some(record) = state.service.store().log_record(tenant, seq).await? else { return Ok(None) };
    let mut body = serde_json::to_value(&record)
        .map_err(|e| Failure::Gateway(format!("a provisioning-log record does not serialize: {e}")))?;
    if let Value::Object(map) = &mut body {
        map.entry("trace").or_insert(Value::Null);
    }
    Ok(Some(body))
}

/// A dry run's `resourceType` (User when absent).
fn dry_run_kind(value: Option<&str>) -> Result<ResourceKind, Failure> {
    match value {
        None | Some("User") => Ok(ResourceKind::User),
        Some("Group") => Ok(ResourceKind::Group),
        Some(other) => Err(ScimError::invalid_value(format!("unknown resourceType {other}")).into()),
    }
}

/// A dry run's `operation` (create when absent).
fn dry_run_operation(value: Option<&str>) -> Result<Operation, Failure> {
    match value {
        None | Some("create") => Ok(Operation::Create),
        Some("replace") => Ok(Operation::Replace),
        Some(other) => {
            Err(ScimError::invalid_value(format!("operation must be create or replace, not {other}")).into())
        }
    }
}

/// The pipeline on `doc` as a write would run it, without writing.
async fn dry_run(
    service: &Service,
    tenant: &Tenant,
    kind: ResourceKind,
    operation: Operation,
    doc: &Value,
) -> Result<Value, Failure> {
    let doc = crate::service::canonical(doc, tenant.schema(kind))?;
    let ctx = hook_context(tenant, operation, kind, None);
    let started = Instant::now();
    let mut calls = Vec::new();
    let plan = match crate::blocking::run(|| tenant.flow.prepare(&doc, &ctx, Some(&mut calls))) {
        Ok(plan) => plan,
        Err(e) => {
            return Ok(json!({
                "tenant": tenant.name,
                "steps": tenant.flow.step_names(),
                "stages": calls,
                "error": e.to_string(),
                "status": if matches!(e, pipeline::StepError::Rejected { .. }) { 400 } else { 500 },
            }));
        }
    };
    let elapsed_us = started.elapsed().as_micros() as u64;
    let matched = match (&plan.scope, operation) {
        (ScopeDecision::In, Operation::Create) => {
            match service.store().find_match(&tenant.name, kind, &plan.keys).await? {
                Ok(Some((target_id, attribute))) => link_decision(&target_id, &attribute, tenant.policy.on_match),
                Ok(None) => json!({"result": "create"}),
                Err(e) => json!({"result": "conflict", "detail": e.detail}),
            }
        }
        _ => Value::Null,
    };
    let mut report = serde_json::Map::new();
    report.insert("tenant".into(), json!(tenant.name));
    report.insert("steps".into(), json!(tenant.flow.step_names()));
    report.insert("input".into(), doc);
    if let Value::Object(decided) = plan.decision() {
        report.extend(decided);
    }
    report.insert("stages".into(), json!(calls));
    report.insert("target".into(), json!(plan.target));
    report.insert("match".into(), matched);
    report.insert("elapsed_us".into(), json!(elapsed_us));
    Ok(Value::Object(report))
}
