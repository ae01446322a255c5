//! The HTTP edge: accept connections (TLS when configured), authenticate
//! (bearer token, HTTP Basic, or an Entra-issued JWT), read the client's
//! view through [`crate::forwarded`], bound and parse bodies, hand the
//! request to the [`Service`], write the answer and its provisioning-log
//! record(s). [`failure_response`] is the one place a failure becomes HTTP.
//!
//! Every response below `/scim/v2` is `application/scim+json`; every failure
//! is an RFC 7644 error body. Nothing a client sends can make this module
//! panic: malformed input becomes a 4xx, internal failures a 500 with a
//! request id to find them in the process log.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use scim::ScimError;
use serde_json::Value;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::failure::Failure;
use crate::reload::Registry;
use crate::service::{Method, OperationRecord, Route, ScimRequest, ScimResponse, Service, operation_name};
use crate::store::{LogRecord, LogWriter, now_rfc3339};
use crate::tenant::Tenant;
use crate::tokens::TokenAuthority;

/// The longest a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The SCIM base path.
pub const SCIM_BASE: &str = "/scim/v2";
const SCIM_JSON: &str = "application/scim+json";

/// Everything a request needs, shared by all connections.
pub struct AppState {
    pub service: Arc<Service>,
    pub tokens: Arc<TokenAuthority>,
    pub log: LogWriter,
    /// The live tenant snapshots (swapped by reloads).
    pub tenants: Arc<Registry>,
    pub max_body_bytes: usize,
    /// The certificate when the listener speaks TLS itself.
    pub tls: Option<Arc<crate::tls::TlsCertificate>>,
    /// How the client's address and URL are read (public URL, trusted proxies).
    pub forwarded: crate::forwarded::ForwardedPolicy,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Failure notifications to tenants' webhooks.
    pub notifier: Arc<crate::notify::Notifier>,
}

/// Serve until `shutdown` resolves, then stop accepting and give in-flight
/// requests up to `grace` to finish.
pub async fn serve(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>, grace: Duration) {
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let tls = state.tls.clone();
                let state = state.clone();
                let service = hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
                let Some(tls) = tls else {
                    let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                    });
                    continue;
                };
                // The handshake runs in the connection's task, bounded, so a
                // slow or silent client never holds up the accept loop.
                let (acceptor, builder, watcher) = (tls.acceptor(), builder.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over; closing remaining connections");
    }
}

async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let request_id = request_id(&req);
    // Named and described by OpenTelemetry's HTTP server conventions once
    // the route is known; a caller's `traceparent` makes it part of its trace.
    let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let span = tracing::info_span!(
        "request",
        %request_id,
        method = %req.method(),
        path = %req.uri().path(),
        %peer,
        tenant = tracing::field::Empty,
        operation = tracing::field::Empty,
        resource_id = tracing::field::Empty,
        otel.name = %req.method(),
        http.request.method = %req.method(),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        traceparent = traceparent.as_deref(),
    );
    let mut response = async {
        let outcome = handle_scim(&state, peer, req, &request_id).await;
        let (response, record) = match outcome {
            Ok((resp, record)) => (resp, record),
            Err(early) => (early, None),
        };
        if let Some(mut record) = record {
            let elapsed = started.elapsed();
            record.duration_ms = elapsed.as_secs_f64() * 1000.0;
            state.metrics.request(&record.tenant, &record.operation, record.status, elapsed);
            if let Some(failed_by) = &record.failed_by {
                state.metrics.request_failure(&record.tenant, failed_by);
            }
            state.log.append(record);
        }
        let status = response.status().as_u16();
        let current = tracing::Span::current();
        current.record("http.response.status_code", status);
        if status >= 500 {
            current.record("otel.status_code", "ERROR");
        }
        tracing::debug!(status, elapsed_us = started.elapsed().as_micros() as u64, "served");
        response
    }
    .instrument(span)
    .await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    Ok(response)
}

/// What a request must be before its body is read: under the SCIM base,
/// with a tenant's valid credentials, from an address the tenant accepts,
/// for an endpoint and method that exist.
struct Admitted {
    tenant: Arc<Tenant>,
    route: Route,
    method: Method,
    /// The client's view of this gateway's origin (see `forwarded`).
    origin: String,
}

async fn admit(
    state: &AppState,
    peer: SocketAddr,
    head: &Request<()>,
    request_id: &str,
) -> Result<Admitted, Response<Full<Bytes>>> {
    let path = head.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(SCIM_BASE).filter(|r| r.is_empty() || r.starts_with('/')) else {
        return Err(refuse(ScimError::not_found(format!("no endpoint at {path}")), request_id));
    };
    // Authenticate before routing: without a token, nothing below the base
    // (not even which endpoints exist) is revealed.
    let tenant = match authenticate(state, head).await {
        Ok(t) => t,
        Err(AuthFailure::Missing) => {
            return Err(unauthorized("a bearer token (or Basic credentials) is required", request_id));
        }
        Err(AuthFailure::Invalid) => return Err(unauthorized("the credentials are not valid", request_id)),
        Err(AuthFailure::StoreUnavailable) => {
            let unavailable = ScimError::status(503, "the token store is unavailable; retry shortly");
            return Err(refuse(unavailable, request_id));
        }
    };
    tracing::Span::current().record("tenant", tenant.name.as_str());
    let header = |name: header::HeaderName| head.headers().get(name).and_then(|v| v.to_str().ok());
    let view = state.forwarded.resolve(
        peer.ip(),
        crate::forwarded::ForwardingHeaders {
            host: header(header::HOST),
            forwarded: header(header::FORWARDED),
            x_forwarded_proto: header(header::HeaderName::from_static("x-forwarded-proto")),
            x_forwarded_host: header(header::HeaderName::from_static("x-forwarded-host")),
            x_forwarded_for: header(header::HeaderName::from_static("x-forwarded-for")),
        },
    );
    if !tenant.allows(view.ip) {
        tracing::warn!(client = %view.ip, "a tenant's token from an address it does not allow");
        let refused = ScimError::status(403, format!("this tenant does not accept requests from {}", view.ip));
        return Err(refuse(refused, request_id));
    }
    let Some(route) = Route::parse(rest) else {
        return Err(refuse(ScimError::not_found(format!("no endpoint at {path}")), request_id));
    };
    let http_route = format!("{SCIM_BASE}{}", route.template());
    let span = tracing::Span::current();
    span.record("otel.name", format!("{} {http_route}", head.method()).as_str());
    span.record("http.route", http_route.as_str());
    let method = match *head.method() {
        hyper::Method::GET => Method::Get,
        hyper::Method::POST => Method::Post,
        hyper::Method::PUT => Method::Put,
        hyper::Method::PATCH => Method::Patch,
        hyper::Method::DELETE => Method::Delete,
        _ => return Err(failure_response(&Failure::MethodNotAllowed(route.allowed_methods()), request_id).0),
    };
    Ok(Admitted { tenant, route, method, origin: view.origin })
}

/// `refused` for a request whose body was never read. The body is read and
/// discarded first (up to `limit` bytes, for a few seconds): hyper would
/// otherwise close a connection with an unread body after answering, and a
/// client that reuses it (an IdP's pool, any keep-alive client) loses its
/// next request. A body past the bound closes the connection, and says so.
async fn refuse_unread(body: Incoming, mut refused: Response<Full<Bytes>>, limit: usize) -> Response<Full<Bytes>> {
    if !drain(body, limit, REFUSED_DRAIN_TIME).await {
        refused.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    refused
}

/// Answer a request. `Err` carries a response for requests that never
/// reached a tenant (no provisioning-log record then).
async fn handle_scim(
    state: &Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
    request_id: &str,
) -> Result<(Response<Full<Bytes>>, Option<LogRecord>), Response<Full<Bytes>>> {
    // The body stays unread until the request is admitted; a refused
    // request's body is drained first (see `refuse_unread`).
    let (parts, body) = req.into_parts();
    let head = Request::from_parts(parts, ());
    let Admitted { tenant, route, method, origin } = match admit(state, peer, &head, request_id).await {
        Ok(admitted) => admitted,
        Err(refused) => return Err(refuse_unread(body, refused, state.max_body_bytes).await),
    };

    let mut record = LogRecord {
        seq: 0,
        time: now_rfc3339(),
        tenant: tenant.name.clone(),
        operation: operation_name(method, &route).to_owned(),
        resource_type: route_resource_type(&route),
        resource_id: match &route {
            Route::Resource(_, id) => Some(id.clone()),
            _ => None,
        },
        outcome: String::new(),
        status: 0,
        duration_ms: 0.0,
        error: None,
        failed_by: None,
        request_id: Some(request_id.to_owned()),
        detail: None,
        trace: None,
    };
    let span = tracing::Span::current();
    span.record("operation", record.operation.as_str());
    if let Some(id) = &record.resource_id {
        span.record("resource_id", id.as_str());
    }

    let (parts, ()) = head.into_parts();
    let query = parts.uri.query().map(parse_query).unwrap_or_default();
    let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let outcome = match read_json_body(body, headers_content_length(&parts.headers), state.max_body_bytes).await {
        Ok(body) => {
            let scim_request = ScimRequest {
                method,
                route,
                query,
                body,
                if_match: header(header::IF_MATCH),
                if_none_match: header(header::IF_NONE_MATCH),
                base_url: format!("{origin}{SCIM_BASE}"),
                request_id: request_id.to_owned(),
            };
            let (outcome, stages) = crate::trace::collect(state.service.handle(&tenant, &scim_request)).await;
            record.trace = (!stages.is_empty()).then_some(stages);
            outcome
        }
        Err(e) => Err(e),
    };
    let mut outcome_name = None;
    let mut notify = false;
    let mut operations = Vec::new();
    let response = match outcome {
        Ok(mut resp) => {
            record.resource_id = resp.resource_id.clone().or(record.resource_id);
            record.status = resp.status;
            record.detail = resp.detail.take();
            outcome_name = resp.outcome;
            operations = std::mem::take(&mut resp.operations);
            success_response(resp)
        }
        Err(failure) => {
            notify = failure.needs_admin();
            let (resp, scim) = failure_response(&failure, request_id);
            record.status = resp.status().as_u16();
            record.error = Some(scim.detail);
            record.failed_by = Some(failure.party().as_str().to_owned());
            resp
        }
    };
    record.outcome = log_outcome(outcome_name, record.status).to_owned();
    if notify {
        state.notifier.failure(&record);
    }
    log_operations(state, &record, operations);
    Ok((response, Some(record)))
}

/// The provisioning log's outcome: what the service named, else by status.
fn log_outcome(named: Option<&'static str>, status: u16) -> &'static str {
    match named {
        Some(name) => name,
        None if status < 400 => "ok",
        None => "error",
    }
}

/// One provisioning-log record per operation a bulk request ran, under the
/// bulk's request id and ahead of its own record. A bulk answers 200 whatever
/// its operations did, so a failed operation is counted (by who failed) and
/// notified as a failed request of its own would be.
fn log_operations(state: &AppState, bulk: &LogRecord, operations: Vec<OperationRecord>) {
    for op in operations {
        let record = LogRecord {
            seq: 0,
            time: bulk.time.clone(),
            tenant: bulk.tenant.clone(),
            operation: op.operation.to_owned(),
            resource_type: op.resource_type.map(str::to_owned),
            resource_id: op.resource_id,
            outcome: log_outcome(op.outcome, op.status).to_owned(),
            status: op.status,
            duration_ms: op.elapsed.as_secs_f64() * 1000.0,
            error: op.error,
            failed_by: op.failed_by.map(|party| party.as_str().to_owned()),
            request_id: bulk.request_id.clone(),
            detail: op.detail,
            trace: op.trace,
        };
        if let Some(failed_by) = &record.failed_by {
            state.metrics.request_failure(&record.tenant, failed_by);
        }
        if op.needs_admin {
            state.notifier.failure(&record);
        }
        state.log.append(record);
    }
}

pub(crate) fn headers_content_length(headers: &hyper::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// Why a request has no tenant.
enum AuthFailure {
    Missing,
    Invalid,
    StoreUnavailable,
}

/// The token of an `Authorization: Bearer ...` header (the scheme in any case).
pub(crate) fn bearer_token<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// The tenant of the request's credentials: a bearer token, HTTP Basic
/// with the token's id and the token, or a JWT Entra ID issued for a
/// tenant that accepts them.
async fn authenticate<B>(state: &AppState, req: &Request<B>) -> Result<Arc<Tenant>, AuthFailure> {
    // A cached token costs a hash; a miss is one indexed read.
    let found = match credentials(req).ok_or(AuthFailure::Missing)? {
        Credentials::Bearer(jwt) if !jwt.starts_with("sgt_") && jwt.matches('.').count() == 2 => {
            return entra_tenant(state, jwt).await;
        }
        Credentials::Bearer(token) => state.tokens.authenticate(token).await,
        Credentials::Basic { username, password } => state.tokens.authenticate_basic(&username, &password).await,
    };
    match found {
        Ok(Some(name)) => state.tenants.get(&name).ok_or(AuthFailure::Invalid),
        Ok(None) => Err(AuthFailure::Invalid),
        Err(e) => {
            tracing::error!(error = %e, "token lookup failed");
            Err(AuthFailure::StoreUnavailable)
        }
    }
}

/// The tenant whose Entra issuer signed `jwt`, if it verifies.
async fn entra_tenant(state: &AppState, jwt: &str) -> Result<Arc<Tenant>, AuthFailure> {
    let issuer = crate::entra_jwt::unverified_issuer(jwt).ok_or(AuthFailure::Invalid)?;
    let tenant = state.tenants.by_jwt_issuer(&issuer).ok_or(AuthFailure::Invalid)?;
    let verifier = tenant.entra_jwt.as_ref().ok_or(AuthFailure::Invalid)?;
    match verifier.verify(jwt).await {
        Ok(()) => Ok(tenant),
        Err(e) => {
            tracing::info!(tenant = %tenant.name, error = %e, "an Entra token was refused");
            Err(AuthFailure::Invalid)
        }
    }
}

/// What an `Authorization` header presents.
enum Credentials<'a> {
    Bearer(&'a str),
    Basic { username: String, password: String },
}

fn credentials<B>(req: &Request<B>) -> Option<Credentials<'_>> {
    if let Some(token) = bearer_token(req) {
        return Some(Credentials::Bearer(token));
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (username, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(Credentials::Basic { username: username.to_owned(), password: password.to_owned() })
}

/// Read and parse a JSON body of at most `limit` bytes. Empty means `None`.
pub(crate) async fn read_json_body(
    body: Incoming,
    declared: Option<u64>,
    limit: usize,
) -> Result<Option<Value>, Failure> {
    parse_json_body(&read_body(body, declared, limit).await?)
}

/// A body already read, as JSON. Empty (or blank) means `None`.
pub(crate) fn parse_json_body(bytes: &[u8]) -> Result<Option<Value>, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")).into())
}

/// Read a whole body of at most `limit` bytes (`declared` is its
/// `Content-Length`, if sent); past it, 413.
pub(crate) async fn read_body(body: Incoming, declared: Option<u64>, limit: usize) -> Result<Bytes, Failure> {
    let too_large = || ScimError::status(413, format!("the request body exceeds {limit} bytes"));
    if declared.is_some_and(|n| n > limit as u64) {
        drain(body, TOO_LARGE_DRAIN_BYTES, TOO_LARGE_DRAIN_TIME).await;
        return Err(too_large().into());
    }
    let mut body = body;
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ScimError::invalid_syntax(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                drain(body, TOO_LARGE_DRAIN_BYTES, TOO_LARGE_DRAIN_TIME).await;
                return Err(too_large().into());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

/// How much of a body refused as too large is read and discarded, so the
/// client (which usually sends its whole body before it reads) sees the 413
/// rather than a reset connection.
const TOO_LARGE_DRAIN_BYTES: usize = 64 * 1024 * 1024;
const TOO_LARGE_DRAIN_TIME: Duration = Duration::from_secs(10);
/// How long a refused request's body may take to arrive (see `refuse_unread`).
const REFUSED_DRAIN_TIME: Duration = Duration::from_secs(5);

/// Read and discard what is left of a body, up to `limit` bytes and `time`.
/// True when the body ended within both bounds, so the connection can serve
/// the client's next request; otherwise hyper closes it after the answer.
async fn drain(mut body: Incoming, limit: usize, time: Duration) -> bool {
    let mut seen = 0usize;
    tokio::time::timeout(time, async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > limit {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false)
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// The client's `X-Request-Id` when it is sane, else a fresh one.
fn request_id(req: &Request<Incoming>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

fn route_resource_type(route: &Route) -> Option<String> {
    match route {
        Route::Collection(k) | Route::Resource(k, _) | Route::Search(Some(k)) => Some(k.as_str().to_owned()),
        _ => None,
    }
}

fn success_response(resp: ScimResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(resp.status);
    if let Some(etag) = resp.etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
        builder = builder.header(header::ETAG, etag);
    }
    if let Some(loc) = resp.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
        builder = builder.header(header::LOCATION, loc);
    }
    let body = match resp.body {
        Some(v) => {
            builder = builder.header(header::CONTENT_TYPE, SCIM_JSON);
            Full::new(Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
        }
        None => Full::new(Bytes::new()),
    };
    builder.body(body).unwrap_or_else(|_| internal_error_response())
}

/// The one place a [`Failure`] becomes HTTP: its status, the SCIM error
/// body and the headers that go with it (`Retry-After`, `Allow`,
/// `WWW-Authenticate`). Returns the SCIM error too, for the log.
pub fn failure_response(failure: &Failure, request_id: &str) -> (Response<Full<Bytes>>, ScimError) {
    let reply = failure.reply(request_id);
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, SCIM_JSON);
    if let Some(secs) = reply.retry_after {
        builder = builder.header(header::RETRY_AFTER, secs);
    }
    if let Some(allow) = reply.allow {
        builder = builder.header(header::ALLOW, allow);
    }
    if reply.error.status == 401 {
        builder = builder.header(header::WWW_AUTHENTICATE, "Bearer realm=\"scimgate\"");
    }
    let response = builder
        .body(Full::new(Bytes::from(reply.error.to_json().to_string())))
        .unwrap_or_else(|_| internal_error_response());
    (response, reply.error)
}

/// A 401 that names both schemes the SCIM listener takes.
fn unauthorized(detail: &str, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = refuse(ScimError::status(401, detail), request_id);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"scimgate\", Basic realm=\"scimgate\""),
    );
    response
}

/// A refusal before the request reached a tenant (no log record then).
fn refuse(error: ScimError, request_id: &str) -> Response<Full<Bytes>> {
    failure_response(&Failure::Client(error), request_id).0
}

fn internal_error_response() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(
        br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500","detail":"internal error"}"#,
    )));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}
