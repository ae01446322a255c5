//! Upstreams: the target service behind a tenant.
//!
//! [`Upstream`] speaks SCIM to a service provider, or drives the tenant's
//! connector plugin for an API that is not SCIM (`connector`): either way
//! over the pooled rustls client of `crate::outbound`, with the tenant's
//! credential, outbound limits ([`throttle`]) and quarantine ([`breaker`]),
//! one gate for both (`Upstream::guarded`). It knows nothing of shadows or
//! links; the
//! service decides what to send, and the answers come back as documents or
//! as [`UpstreamError`]s that say what the IdP should hear.
//!
//! Retries: only idempotent requests (GET, PUT, DELETE) are sent again after
//! a transport failure, a timeout or a 502/503/504, with exponential backoff
//! and full jitter; a POST is repeated only when it certainly never left
//! (the connection was refused), so a create is never sent twice.

pub mod breaker;
mod connector;
pub mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use hyper::header::{self, HeaderValue};
use scim::{ScimError, ScimType};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;

pub use crate::outbound::{UpstreamError, retry_after_secs};

use crate::config::{ScimUpstreamConfig, UpstreamConfig};
use crate::metrics::Metrics;
use crate::outbound::http::{self, HttpClient, HttpResponse, Outgoing, Sent};
use crate::outbound::{Credential, OriginGrant};
use crate::store::ResourceKind;
use breaker::{Breaker, BreakerStatus, Change};
use throttle::{Replicas, Throttle};
use wasm_host::{ConnectorError, PluginEngine, WasmConnector};

const SCIM_JSON: &str = "application/scim+json";
/// What an id must escape to be one path segment (all but RFC 3986's unreserved).
const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The first retry waits up to this long; each further one doubles it.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Connector calls in flight per core (they mostly wait on the network).
const CONNECTOR_SLOTS_PER_CORE: usize = 8;
/// A `Retry-After` the upstream did not give (or gave in a form we do not read).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// One tenant's SCIM upstream.
pub struct Upstream {
    tenant: String,
    /// The config it was built from: a reload with the same config keeps
    /// this upstream, its pool, its throttle and its breaker.
    config: UpstreamConfig,
    /// The SCIM base without a trailing slash.
    base: String,
    http: Arc<HttpClient>,
    credential: Arc<Credential>,
    protocol: Protocol,
    retries: u32,
    /// The longest a call waits for its answer (and a connector call for a slot).
    timeout: Duration,
    /// The process's connector slots (see [`UpstreamPool`]).
    connector_slots: Arc<tokio::sync::Semaphore>,
    throttle: Throttle,
    breaker: Breaker,
    metrics: Arc<Metrics>,
    /// For the probe task the breaker starts when it opens.
    this: Weak<Upstream>,
    /// Called on each breaker transition (quarantine notifications).
    on_change: Mutex<Option<ChangeHook>>,
}

/// How operations reach the upstream.
enum Protocol {
    /// SCIM over HTTP, by the gateway.
    Scim,
    /// The tenant's connector plugin, and the grant every call of it gets
    /// (`http.send` to the upstream's origin; it holds no per-call state).
    Connector { plugin: Box<WasmConnector>, grant: Arc<dyn wasm_host::HttpGrant> },
}

/// Told about quarantine: `(tenant, opened, reason)`.
pub type ChangeHook = Arc<dyn Fn(&str, bool, &str) + Send + Sync>;

/// What the admin API shows of an upstream.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamStatus {
    pub url: String,
    pub breaker: BreakerStatus,
    pub throttle_waiting: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    #[error("upstream url {0}: must start with http:// or https://")]
    Url(String),
    #[error("upstream credential: {0}")]
    Credential(String),
    #[error(transparent)]
    Client(#[from] http::ClientError),
    #[error("connector: {0}")]
    Connector(String),
}

/// The operations the gateway sends, for metrics and logs.
#[derive(Debug, Clone, Copy)]
enum Op {
    Create,
    Get,
    Replace,
    Delete,
    Find,
    Probe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::Replace => "replace",
            Op::Delete => "delete",
            Op::Find => "find",
            Op::Probe => "probe",
        }
    }

    fn method(self) -> Method {
        match self {
            Op::Create => Method::POST,
            Op::Get | Op::Find | Op::Probe => Method::GET,
            Op::Replace => Method::PUT,
            Op::Delete => Method::DELETE,
        }
    }

    fn idempotent(self) -> bool {
        !matches!(self, Op::Create)
    }
}

impl Upstream {
    pub fn new(
        tenant: &str,
        config: &UpstreamConfig,
        metrics: Arc<Metrics>,
        engine: &PluginEngine,
        connector_slots: Arc<tokio::sync::Semaphore>,
        replicas: Replicas,
    ) -> Result<Arc<Upstream>, UpstreamSetupError> {
        let scim: &ScimUpstreamConfig = config.transport();
        let base = scim.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.parse::<hyper::Uri>().is_err() {
            return Err(UpstreamSetupError::Url(scim.url.clone()));
        }
        let http = HttpClient::new(
            Duration::from_millis(scim.timeout_ms),
            Duration::from_millis(scim.connect_timeout_ms),
            scim.ca_file.as_deref(),
        )?;
        let http = Arc::new(http);
        let credential = Arc::new(Credential::from_config(&scim.auth).map_err(UpstreamSetupError::Credential)?);
        let protocol = match config {
            UpstreamConfig::Scim(_) => Protocol::Scim,
            UpstreamConfig::Connector(c) => Protocol::Connector {
                plugin: Box::new(connector::load(engine, c, &base).map_err(UpstreamSetupError::Connector)?),
                grant: Arc::new(OriginGrant::new(
                    &[&base],
                    http.clone(),
                    credential.clone(),
                    c.max_requests,
                    Duration::from_millis(scim.timeout_ms),
                )),
            },
        };
        Ok(Arc::new_cyclic(|this| Upstream {
            tenant: tenant.to_owned(),
            config: config.clone(),
            base,
            http,
            credential,
            protocol,
            retries: scim.retries,
            timeout: Duration::from_millis(scim.timeout_ms),
            connector_slots,
            throttle: Throttle::new(&scim.throttle, replicas),
            breaker: Breaker::new(&scim.breaker),
            metrics,
            this: this.clone(),
            on_change: Mutex::new(None),
        }))
    }

    pub fn status(&self) -> UpstreamStatus {
        UpstreamStatus {
            url: self.base.clone(),
            breaker: self.breaker.status(),
            throttle_waiting: self.throttle.waiting(),
        }
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    pub fn is_quarantined(&self) -> bool {
        self.breaker.is_open()
    }

    pub fn throttle_waiting(&self) -> usize {
        self.throttle.waiting()
    }

    /// Who hears about quarantine transitions.
    pub fn set_change_hook(&self, hook: Option<ChangeHook>) {
        *self.on_change.lock().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    /// `POST /Users`: the upstream's document of the new resource (with its id).
    pub async fn create(&self, kind: ResourceKind, doc: &Value) -> Result<Value, UpstreamError> {
        if let Protocol::Connector { .. } = &self.protocol {
            return self.via_connector(Op::Create, kind, None, |c, grant, ctx| c.create(grant, ctx, doc)).await;
        }
        let url = format!("{}/{}", self.base, kind.endpoint());
        let response = self.call(Op::Create, &url, Some(doc)).await?;
        match response.status {
            200 | 201 => resource_document(&response),
            404 => Err(UpstreamError::Failed { status: 404, detail: format!("no {} endpoint", kind.endpoint()) }),
            other => Err(unexpected(other)),
        }
    }

    /// `GET /Users/{id}`; `None` when the upstream no longer has it.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, UpstreamError> {
        if let Protocol::Connector { .. } = &self.protocol {
            return self.via_connector(Op::Get, kind, Some(id), |c, grant, ctx| c.get(grant, ctx, id)).await;
        }
        let response = self.call(Op::Get, &self.resource_url(kind, id), None).await?;
        match response.status {
            200 => resource_document(&response).map(Some),
            404 => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// `PUT /Users/{id}` with the full document; `None` when the upstream
    /// no longer has it. A `204` is answered with the document sent.
    pub async fn replace(&self, kind: ResourceKind, id: &str, doc: &Value) -> Result<Option<Value>, UpstreamError> {
        if let Protocol::Connector { .. } = &self.protocol {
            return self
                .via_connector(Op::Replace, kind, Some(id), |c, grant, ctx| c.update(grant, ctx, id, doc))
                .await;
        }
        let response = self.call(Op::Replace, &self.resource_url(kind, id), Some(doc)).await?;
        match response.status {
            200 => resource_document(&response).map(Some),
            204 => Ok(Some(with_id(doc.clone(), id))),
            404 => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// `DELETE /Users/{id}`; already gone counts as done.
    pub async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), UpstreamError> {
        if let Protocol::Connector { .. } = &self.protocol {
            return self.via_connector(Op::Delete, kind, Some(id), |c, grant, ctx| c.delete(grant, ctx, id)).await;
        }
        let response = self.call(Op::Delete, &self.resource_url(kind, id), None).await?;
        match response.status {
            200 | 202 | 204 | 404 => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The upstream's resources whose `attribute` equals `value` (a SCIM
    /// `eq` filter), for matching a create to an existing account.
    pub async fn find(&self, kind: ResourceKind, attribute: &str, value: &str) -> Result<Vec<Value>, UpstreamError> {
        if let Protocol::Connector { .. } = &self.protocol {
            let found =
                self.via_connector(Op::Find, kind, None, |c, grant, ctx| c.find(grant, ctx, attribute, value)).await?;
            return Ok(found.into_iter().collect());
        }
        let filter = format!("{attribute} eq \"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
        let query: String = form_urlencoded::Serializer::new(String::new()).append_pair("filter", &filter).finish();
        let url = format!("{}/{}?{query}", self.base, kind.endpoint());
        let response = self.call(Op::Find, &url, None).await?;
        if response.status != 200 {
            return Err(unexpected(response.status));
        }
        let list: Value = parse_json(&response)?;
        match list.get("Resources") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(UpstreamError::Malformed("Resources is not an array".into())),
        }
    }

    fn resource_url(&self, kind: ResourceKind, id: &str) -> String {
        let id = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT);
        format!("{}/{}/{id}", self.base, kind.endpoint())
    }

    /// Send one operation: breaker, throttle, credential, retries, then the
    /// answer classified. 2xx and 404 come back as responses; everything
    /// else as the error the IdP should hear.
    async fn call(&self, op: Op, url: &str, body: Option<&Value>) -> Result<HttpResponse, UpstreamError> {
        let span = tracing::debug_span!("upstream", op = op.as_str(), status = tracing::field::Empty);
        async {
            let started = Instant::now();
            let result = self.call_inner(op, url, body).await;
            let status = match &result {
                Ok(r) => r.status.to_string(),
                Err(e) => e.kind().to_owned(),
            };
            tracing::Span::current().record("status", status.as_str());
            if crate::trace::active() {
                // Below the upstream's base, and never a header (its credential).
                let path = url.strip_prefix(self.base.as_str()).unwrap_or(url);
                let decision = json!({
                    "op": op.as_str(),
                    "method": op.method().as_str(),
                    "path": path,
                    "status": result.as_ref().map(|r| Some(r.status)).unwrap_or_else(answered_status),
                    "error": result.as_ref().err().map(ToString::to_string),
                });
                crate::trace::record(crate::trace::Stage::new("upstream", decision).took(started.elapsed()));
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn call_inner(&self, op: Op, url: &str, body: Option<&Value>) -> Result<HttpResponse, UpstreamError> {
        let body = body.map(|doc| Bytes::from(doc.to_string()));
        self.guarded(op, self.send_with_retries(op, url, body), |r| Some(r.status)).await
    }

    /// Every operation, SCIM or connector, passes the same gate: the
    /// breaker (a probe goes through: it is what closes it), then the
    /// throttle; what comes out is counted in the metrics and the breaker.
    async fn guarded<R>(
        &self,
        op: Op,
        call: impl std::future::Future<Output = Result<R, UpstreamError>>,
        status_of: impl Fn(&R) -> Option<u16>,
    ) -> Result<R, UpstreamError> {
        let refused = |e: UpstreamError| {
            self.metrics.upstream(&self.tenant, op.as_str(), e.kind(), None);
            e
        };
        if !matches!(op, Op::Probe) {
            self.breaker.check().map_err(refused)?;
        }
        let _turn = self.throttle.turn().await.map_err(refused)?;
        let started = Instant::now();
        let result = call.await;
        let status = result.as_ref().ok().and_then(&status_of);
        self.settle(op, started, status, result.as_ref().map(|_| ()));
        result
    }

    /// One SCIM operation over HTTP: the credential, then retries of what
    /// may be repeated (idempotent, or certainly never sent).
    async fn send_with_retries(&self, op: Op, url: &str, body: Option<Bytes>) -> Result<HttpResponse, UpstreamError> {
        let mut attempt = 0;
        let mut renewed_credential = false;
        loop {
            let outcome = self.attempt(op, url, body.clone()).await;
            let (error, sent) = match outcome {
                Ok(response) => match classify(&response) {
                    Ok(()) => return Ok(response),
                    Err(UpstreamError::Failed { status: 401, .. })
                        if !renewed_credential && self.credential.invalidate() =>
                    {
                        // An expired or revoked OAuth2 token: fetch a new one, once.
                        renewed_credential = true;
                        continue;
                    }
                    Err(e) => {
                        if let UpstreamError::Busy { status: 429, retry_after } = &e {
                            self.throttle.pause(*retry_after);
                        }
                        (e, Sent::Maybe)
                    }
                },
                Err((e, sent)) => (e, sent),
            };
            let may_repeat = op.idempotent() || sent == Sent::No;
            if attempt >= self.retries || !may_repeat || !error.is_retryable() {
                return Err(error);
            }
            attempt += 1;
            let ceiling = BACKOFF_BASE * 2u32.saturating_pow(attempt - 1);
            let wait = match &error {
                UpstreamError::Busy { retry_after, .. } => *retry_after,
                _ => ceiling.mul_f64(rand::random::<f64>()),
            };
            tracing::debug!(op = op.as_str(), attempt, error = %error, wait_ms = wait.as_millis() as u64, "retrying upstream call");
            tokio::time::sleep(wait).await;
        }
    }

    /// Count a finished call in the metrics and the breaker.
    fn settle(&self, op: Op, started: Instant, status: Option<u16>, result: Result<(), &UpstreamError>) {
        let outcome = match (status, result) {
            (Some(status), Ok(())) => status.to_string(),
            (_, Ok(())) => "ok".to_owned(),
            (_, Err(e)) => match e {
                UpstreamError::Refused(s) => s.status.to_string(),
                UpstreamError::Busy { status, .. } | UpstreamError::Failed { status, .. } => status.to_string(),
                other => other.kind().to_owned(),
            },
        };
        self.metrics.upstream(&self.tenant, op.as_str(), &outcome, Some(started.elapsed()));
        if !matches!(op, Op::Probe) && self.breaker.record(result) == Change::Opened {
            self.quarantined();
        }
    }

    /// One operation through the tenant's connector plugin, through the
    /// same gate as SCIM ([`Upstream::guarded`]): the plugin (synchronous,
    /// in place on the worker) with an HTTP grant for the upstream's origin
    /// only.
    async fn via_connector<R>(
        &self,
        op: Op,
        kind: ResourceKind,
        id: Option<&str>,
        call: impl FnOnce(
            &WasmConnector,
            Arc<dyn wasm_host::HttpGrant>,
            &pipeline::HookContext,
        ) -> Result<R, ConnectorError>,
    ) -> Result<R, UpstreamError> {
        let Protocol::Connector { plugin, grant } = &self.protocol else {
            return Err(UpstreamError::Connector("this upstream has no connector".into()));
        };
        let grant = grant.clone();
        let ctx = pipeline::HookContext {
            tenant: self.tenant.clone(),
            idp_profile: String::new(),
            operation: match op {
                Op::Create => pipeline::Operation::Create,
                Op::Replace => pipeline::Operation::Replace,
                Op::Delete => pipeline::Operation::Delete,
                Op::Get | Op::Find | Op::Probe => pipeline::Operation::Get,
            },
            resource_type: kind.as_str().to_owned(),
            resource_id: id.map(str::to_owned),
        };
        let span = tracing::debug_span!("connector", op = op.as_str(), plugin = plugin.name());
        let call = async {
            // A plugin call holds its thread until it returns: waiting for
            // a slot holds none, and past the timeout the IdP hears 429.
            let Ok(Ok(_slot)) = tokio::time::timeout(self.timeout, self.connector_slots.acquire()).await else {
                return Err(UpstreamError::Throttled { retry_after: DEFAULT_RETRY_AFTER });
            };
            span.in_scope(|| crate::blocking::run(|| call(plugin, grant, &ctx))).map_err(|e| match e {
                ConnectorError::Rejected(m) => UpstreamError::Refused(ScimError::invalid_value(m)),
                ConnectorError::Conflict(m) => UpstreamError::Refused(ScimError::uniqueness(m)),
                ConnectorError::Busy(secs) => {
                    let retry_after = Duration::from_secs(u64::from(secs.max(1)));
                    self.throttle.pause(retry_after);
                    UpstreamError::Busy { status: 429, retry_after }
                }
                ConnectorError::Failed(m) => UpstreamError::Failed { status: 502, detail: m },
                ConnectorError::Stopped(m) => UpstreamError::Connector(m),
            })
        };
        let started = Instant::now();
        let result = self.guarded(op, call, |_| None).await;
        if crate::trace::active() {
            let decision = json!({
                "op": op.as_str(),
                "connector": plugin.name(),
                "status": result.as_ref().map_or_else(answered_status, |_| None),
                "error": result.as_ref().err().map(ToString::to_string),
            });
            crate::trace::record(crate::trace::Stage::new("upstream", decision).took(started.elapsed()));
        }
        result
    }

    async fn attempt(&self, op: Op, url: &str, body: Option<Bytes>) -> Result<HttpResponse, (UpstreamError, Sent)> {
        let mut headers = vec![(header::ACCEPT, HeaderValue::from_static(SCIM_JSON))];
        if body.is_some() {
            headers.push((header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON)));
        }
        if let Some(auth) = self.credential.header(&self.http).await.map_err(|e| (e, Sent::No))? {
            headers.push(auth);
        }
        if let Some(parent) = crate::trace_context::current_traceparent().and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.push((header::HeaderName::from_static("traceparent"), parent));
        }
        self.http.send(&Outgoing { method: op.method(), url, headers, body }).await
    }

    /// The breaker opened: tell the hook, and probe until the upstream answers.
    fn quarantined(&self) {
        let status = self.breaker.status();
        let reason = status.history.last().map(|t| t.reason.clone()).unwrap_or_default();
        tracing::warn!(tenant = %self.tenant, %reason, "upstream quarantined");
        self.notify(true, &reason);
        let Some(this) = self.this.upgrade() else { return };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(this.breaker.open_for()).await;
                if !this.breaker.is_open() {
                    return;
                }
                // A SCIM service must answer its configuration; a legacy API
                // is alive when its base answers anything but a 5xx.
                let (url, alive): (String, fn(u16) -> bool) = match this.protocol {
                    Protocol::Scim => (format!("{}/ServiceProviderConfig", this.base), |s| s == 200),
                    Protocol::Connector { .. } => (this.base.clone(), |s| s < 500),
                };
                let connector = matches!(this.protocol, Protocol::Connector { .. });
                let probe = match this.call_inner(Op::Probe, &url, None).await {
                    Ok(r) if alive(r.status) => Ok(()),
                    Ok(r) => Err(unexpected(r.status)),
                    Err(UpstreamError::Refused(_) | UpstreamError::Failed { status: 400..=499, .. }) if connector => {
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                if this.breaker.probed(probe.as_ref().map(|_| ())) == Change::Closed {
                    tracing::info!(tenant = %this.tenant, "upstream recovered; quarantine lifted");
                    this.notify(false, "a probe succeeded");
                    return;
                }
                // Another tenant snapshot took over with a new upstream.
                if Arc::strong_count(&this) == 1 {
                    return;
                }
            }
        });
    }

    fn notify(&self, opened: bool, reason: &str) {
        let hook = self.on_change.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook(&self.tenant, opened, reason);
        }
    }
}

/// Sort an answer into "for the caller" (2xx, 404) and errors.
fn classify(response: &HttpResponse) -> Result<(), UpstreamError> {
    let status = response.status;
    match status {
        200..=299 | 404 => Ok(()),
        401 | 403 => Err(UpstreamError::Failed {
            status,
            detail: "the upstream refused the gateway's credentials (check the tenant's upstream auth)".into(),
        }),
        429 | 503 => Err(UpstreamError::Busy { status, retry_after: retry_after(response) }),
        400..=499 => Err(UpstreamError::Refused(scim_error(response))),
        _ => Err(UpstreamError::Failed { status, detail: scim_error(response).detail }),
    }
}

/// The upstream's error as a SCIM error: its status, `scimType` and detail
/// when the body is an RFC 7644 error, a plain description otherwise.
fn scim_error(response: &HttpResponse) -> ScimError {
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let detail =
        body.as_ref().and_then(|b| b.get("detail")).and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&response.body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() { format!("HTTP {}", response.status) } else { text }
        });
    let scim_type = body.as_ref().and_then(|b| b.get("scimType")).and_then(Value::as_str).and_then(scim_type);
    ScimError { status: response.status, scim_type, detail }
}

fn scim_type(s: &str) -> Option<ScimType> {
    Some(match s {
        "invalidFilter" => ScimType::InvalidFilter,
        "tooMany" => ScimType::TooMany,
        "uniqueness" => ScimType::Uniqueness,
        "mutability" => ScimType::Mutability,
        "invalidSyntax" => ScimType::InvalidSyntax,
        "invalidPath" => ScimType::InvalidPath,
        "noTarget" => ScimType::NoTarget,
        "invalidValue" => ScimType::InvalidValue,
        "invalidVers" => ScimType::InvalidVers,
        "sensitive" => ScimType::Sensitive,
        _ => return None,
    })
}

/// `Retry-After` as seconds (the HTTP-date form is rare from APIs and read
/// as the default).
fn retry_after(response: &HttpResponse) -> Duration {
    response
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RETRY_AFTER)
}

fn parse_json(response: &HttpResponse) -> Result<Value, UpstreamError> {
    serde_json::from_slice(&response.body).map_err(|e| UpstreamError::Malformed(format!("not JSON: {e}")))
}

/// A resource document: a JSON object with a string `id`.
fn resource_document(response: &HttpResponse) -> Result<Value, UpstreamError> {
    let doc = parse_json(response)?;
    match doc.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(doc),
        _ => Err(UpstreamError::Malformed("the resource has no id".into())),
    }
}

fn with_id(mut doc: Value, id: &str) -> Value {
    if let Value::Object(map) = &mut doc {
        map.insert("id".into(), Value::String(id.to_owned()));
    }
    doc
}

/// The status the upstream answered a failed call with, if it answered.
fn answered_status(e: &UpstreamError) -> Option<u16> {
    match e {
        UpstreamError::Refused(s) => Some(s.status),
        UpstreamError::Busy { status, .. } | UpstreamError::Failed { status, .. } => Some(*status),
        _ => None,
    }
}

fn unexpected(status: u16) -> UpstreamError {
    UpstreamError::Failed { status, detail: format!("unexpected status {status}") }
}

/// The live upstreams by tenant, so that a reload that does not change a
/// tenant's upstream config keeps its connection pool, throttle and breaker.
pub struct UpstreamPool {
    metrics: Arc<Metrics>,
    /// Connector calls that may run at once in this process, over every
    /// tenant. A connector plugin is synchronous: while it waits for its
    /// upstream it holds an OS thread. Bounding the calls bounds the
    /// threads (and the allocator arenas they leave behind); a call beyond
    /// waits for a slot without a thread.
    connector_slots: Arc<tokio::sync::Semaphore>,
    /// The replicas sharing each upstream's rate.
    replicas: Replicas,
    live: Mutex<HashMap<String, Arc<Upstream>>>,
    on_change: Mutex<Option<ChangeHook>>,
}

impl UpstreamPool {
    pub fn new(metrics: Arc<Metrics>) -> UpstreamPool {
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get()) * CONNECTOR_SLOTS_PER_CORE;
        UpstreamPool {
            metrics,
            connector_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            replicas: Replicas::default(),
            live: Mutex::new(HashMap::new()),
            on_change: Mutex::new(None),
        }
    }

    /// The count of replicas sharing every upstream's rate, for the
    /// server's heartbeat to keep current.
    pub fn replicas(&self) -> Replicas {
        self.replicas.clone()
    }

    /// The tenant's upstream for `config`: the live one when its config is
    /// the same, a new one otherwise.
    pub fn get(
        &self,
        tenant: &str,
        config: &UpstreamConfig,
        engine: &PluginEngine,
    ) -> Result<Arc<Upstream>, UpstreamSetupError> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        // A connector is rebuilt whenever its tenant is (its plugin file may
        // have changed); a SCIM upstream only when its config did.
        let reusable = matches!(config, UpstreamConfig::Scim(_));
        if let Some(up) = live.get(tenant).filter(|u| reusable && u.config() == config) {
            return Ok(up.clone());
        }
        let up = Upstream::new(
            tenant,
            config,
            self.metrics.clone(),
            engine,
            self.connector_slots.clone(),
            self.replicas.clone(),
        )?;
        up.set_change_hook(self.on_change.lock().unwrap_or_else(|p| p.into_inner()).clone());
        live.insert(tenant.to_owned(), up.clone());
        Ok(up)
    }

    /// Who hears about quarantine transitions of every upstream.
    pub fn set_change_hook(&self, hook: ChangeHook) {
        *self.on_change.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook.clone());
        for up in self.live.lock().unwrap_or_else(|p| p.into_inner()).values() {
            up.set_change_hook(Some(hook.clone()));
        }
    }
}
