//! Connector plugins: components that export `scimgate:plugin/connector`
//! and translate SCIM operations into a legacy API's calls over the one
//! import that reaches outside, `http.send`.
//!
//! The host decides where a request may go through an [`HttpGrant`] the
//! embedder gives each call: it checks the origin, adds the credential and
//! sends. A denied request, or one past the call's budget, stops the plugin
//! (a trap), so a connector cannot ignore the refusal and go on. Each call
//! runs with a memory cap and a deadline that covers the time spent in
//! `http.send` too (the epoch keeps ticking while the host waits for the
//! network), in an idle instance of the same connector or a new one (see
//! [`InstancePolicy`]; a call that fails in any way drops its instance).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pipeline::HookContext;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap};

use crate::bindings::exports::scimgate::plugin::connector::{self as wit, GuestIndices};
use crate::bindings::scimgate::plugin::types::MatchKey;
use crate::host::HostState;
use crate::pool::{InstancePolicy, InstancePool, Slot};
use crate::step::{bounded, context, mib, millis};
use crate::{Limits, LoadError, PluginEngine};

/// An outbound request, as the plugin asked for it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// An answer, read in full.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Why a request got no answer.
#[derive(Debug, Clone)]
pub enum HttpCallError {
    /// The host refuses this request (another origin): the plugin is stopped.
    Denied(String),
    Timeout,
    Transport(String),
}

/// What one call may do over HTTP; given by the embedder, which owns the
/// network, the origins and the credentials.
pub trait HttpGrant: Send + Sync {
    /// Check the request against what is granted, add the credential, send
    /// it and wait for the answer (the plugin call is synchronous), at most
    /// `wait`: what is left of the plugin call's deadline. Past it, answer
    /// [`HttpCallError::Timeout`].
    fn send(&self, request: HttpRequest, wait: Duration) -> Result<HttpAnswer, HttpCallError>;

    /// The most requests one plugin call may make.
    fn budget(&self) -> u32;
}

/// A connector call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The target refused the document.
    #[error("{0}")]
    Rejected(String),
    /// The target already has such an account.
    #[error("{0}")]
    Conflict(String),
    /// The target asks to wait this many seconds.
    #[error("the target asks to retry after {0}s")]
    Busy(u32),
    /// The connector reports a failure of its own or the target's.
    #[error("{0}")]
    Failed(String),
    /// The host stopped the plugin: a forbidden origin, the call budget, the
    /// deadline, the memory cap, a trap or malformed output.
    #[error("connector stopped: {0}")]
    Stopped(String),
}

/// A loaded connector with one tenant's configuration and limits.
pub struct WasmConnector {
    name: Arc<str>,
    engine: PluginEngine,
    pre: InstancePre<HostState>,
    indices: GuestIndices,
    config_json: String,
    limits: Limits,
    ticks: u64,
    instances: InstancePool,
}

impl WasmConnector {
    /// Compile (or fetch from the caches) a connector component.
    pub fn load_file(
        engine: &PluginEngine,
        name: &str,
        path: &Path,
        config: &Value,
        limits: Limits,
    ) -> Result<WasmConnector, LoadError> {
        let wasm = std::fs::read(path)
            .map_err(|e| LoadError::Read { name: name.to_owned(), message: format!("{}: {e}", path.display()) })?;
        let invalid = |e: wasmtime::Error| LoadError::Invalid { name: name.to_owned(), message: format!("{e:#}") };
        let digest: [u8; 32] = Sha256::digest(&wasm).into();
        let component = engine.component(&digest, &wasm).map_err(invalid)?;
        let pre = engine
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link { name: name.to_owned(), message: format!("{e:#}") })?;
        let indices = GuestIndices::new(&pre).map_err(|_| LoadError::NotConnector { name: name.to_owned() })?;
        let max_memory = engine.config().max_memory_bytes;
        let limits = Limits { memory_bytes: limits.memory_bytes.min(max_memory), ..limits };
        Ok(WasmConnector {
            name: name.into(),
            ticks: engine.ticks(limits.deadline),
            engine: engine.clone(),
            pre,
            indices,
            config_json: config.to_string(),
            limits,
            instances: InstancePool::new(engine.clone()),
        })
    }

    /// Fresh or reused instances; see [`InstancePolicy`]. Reuse is the
    /// default: a call that fails in any way, or whose HTTP request the host
    /// stopped, drops its instance.
    pub fn with_policy(mut self, policy: InstancePolicy) -> WasmConnector {
        self.instances.set_policy(policy);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Idle instances kept for later calls.
    pub fn idle_instances(&self) -> usize {
        self.instances.idle()
    }

    pub fn create(&self, grant: Arc<dyn HttpGrant>, ctx: &HookContext, doc: &Value) -> Result<Value, ConnectorError> {
        let doc = doc.to_string();
        let (answer, slot) = self.call(grant, ctx, "create", |store, instance, wctx, config| {
            self.indices.load(&mut *store, instance)?.call_create(store, &doc, wctx, config)
        })?;
        self.settle(slot, answer.map_err(error).and_then(|doc| self.document("create", &doc)))
    }

    pub fn get(&self, grant: Arc<dyn HttpGrant>, ctx: &HookContext, id: &str) -> Result<Option<Value>, ConnectorError> {
        let (answer, slot) = self.call(grant, ctx, "get", |store, instance, wctx, config| {
            self.indices.load(&mut *store, instance)?.call_get(store, id, wctx, config)
        })?;
        self.settle(slot, answer.map_err(error).and_then(|doc| doc.map(|doc| self.document("get", &doc)).transpose()))
    }

    pub fn update(
        &self,
        grant: Arc<dyn HttpGrant>,
        ctx: &HookContext,
        id: &str,
        doc: &Value,
    ) -> Result<Option<Value>, ConnectorError> {
        let doc = doc.to_string();
        let (answer, slot) = self.call(grant, ctx, "update", |store, instance, wctx, config| {
            self.indices.load(&mut *store, instance)?.call_update(store, id, &doc, wctx, config)
        })?;
        let checked = answer.map_err(error).and_then(|doc| doc.map(|doc| self.document("update", &doc)).transpose());
        self.settle(slot, checked)
    }

    pub fn delete(&self, grant: Arc<dyn HttpGrant>, ctx: &HookContext, id: &str) -> Result<(), ConnectorError> {
        let (answer, slot) = self.call(grant, ctx, "delete", |store, instance, wctx, config| {
            self.indices.load(&mut *store, instance)?.call_delete(store, id, wctx, config)
        })?;
        self.settle(slot, answer.map_err(error))
    }

    pub fn find(
        &self,
        grant: Arc<dyn HttpGrant>,
        ctx: &HookContext,
        attribute: &str,
        value: &str,
    ) -> Result<Option<Value>, ConnectorError> {
        let key = MatchKey { attribute: attribute.to_owned(), value: value.to_owned() };
        let (answer, slot) = self.call(grant, ctx, "find", |store, instance, wctx, config| {
            self.indices.load(&mut *store, instance)?.call_find(store, &key, wctx, config)
        })?;
        self.settle(slot, answer.map_err(error).and_then(|doc| doc.map(|doc| self.document("find", &doc)).transpose()))
    }

    /// One call, in an idle instance or a new one, with the grant, the
    /// memory cap and the deadline; every way it can break becomes
    /// [`ConnectorError::Stopped`] and drops the instance. On a normal
    /// return the instance comes back with the answer, for [`Self::settle`]
    /// once the answer passed its checks.
    fn call<R>(
        &self,
        grant: Arc<dyn HttpGrant>,
        ctx: &HookContext,
        op: &str,
        f: impl FnOnce(
            &mut Store<HostState>,
            &Instance,
            &crate::bindings::scimgate::plugin::types::Context,
            &str,
        ) -> wasmtime::Result<R>,
    ) -> Result<(R, Slot), ConnectorError> {
        let _ticking = self.engine.ticking();
        let run = || {
            let budget = grant.budget();
            let mut slot = match self.instances.take() {
                Some(slot) => slot,
                None => {
                    let state = HostState::new(self.name.clone(), self.limits.memory_bytes);
                    let mut store = Store::new(self.engine.engine(), state);
                    store.limiter(|state| &mut state.limiter);
                    store.data_mut().begin_call(&ctx.tenant);
                    store.set_epoch_deadline(self.ticks);
                    let instance = self.pre.instantiate(&mut store).map_err(|e| self.stopped(e, store.data(), op))?;
                    Slot::new(store, instance)
                }
            };
            slot.store.data_mut().begin_call(&ctx.tenant);
            slot.store.data_mut().grant_http(grant, budget, self.limits.deadline);
            slot.store.set_epoch_deadline(self.ticks);
            let wctx = context(ctx);
            let out = f(&mut slot.store, &slot.instance, &wctx, &self.config_json)
                .map_err(|e| self.stopped(e, slot.store.data(), op))?;
            Ok((out, slot))
        };
        catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
            tracing::error!(connector = %self.name, op, "host panic while calling a connector");
            Err(ConnectorError::Stopped(format!("internal error calling {op}")))
        })
    }

    /// Keep the instance for later calls unless the host stopped this one
    /// (a malformed or oversized answer included); the connector's own
    /// errors are normal returns.
    fn settle<T>(&self, slot: Slot, checked: Result<T, ConnectorError>) -> Result<T, ConnectorError> {
        if !matches!(checked, Err(ConnectorError::Stopped(_))) {
            self.instances.release(slot);
        }
        checked
    }

    fn stopped(&self, error: wasmtime::Error, state: &HostState, op: &str) -> ConnectorError {
        let name = &self.name;
        if let Some(why) = &state.http_stopped {
            return ConnectorError::Stopped(format!("{name} {op}: {why}"));
        }
        if let Some(asked) = state.limiter.denied {
            return ConnectorError::Stopped(format!(
                "{name} {op} needed {} of memory, over the cap of {}",
                mib(asked),
                mib(state.limiter.cap())
            ));
        }
        ConnectorError::Stopped(match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                format!("{name} {op} took longer than its deadline of {} ms", millis(self.limits.deadline))
            }
            Some(trap) => match state.stderr_text() {
                Some(stderr) => bounded(format!("{name} {op} trapped ({trap}): {}", stderr.replace('\n', " "))),
                None => format!("{name} {op} trapped: {trap}"),
            },
            None => bounded(format!("{name} {op} failed: {error:#}")),
        })
    }

    /// A document the connector returned: bounded, JSON, an object.
    fn document(&self, op: &str, json: &str) -> Result<Value, ConnectorError> {
        if json.len() > self.limits.max_output_bytes {
            return Err(ConnectorError::Stopped(format!(
                "{} {op} returned {} bytes, over the cap of {}",
                self.name,
                json.len(),
                self.limits.max_output_bytes
            )));
        }
        match serde_json::from_str::<Value>(json) {
            Ok(doc @ Value::Object(_)) => Ok(doc),
            _ => Err(ConnectorError::Stopped(format!(
                "{} {op} returned a document that is not a JSON object",
                self.name
            ))),
        }
    }
}

fn error(e: wit::ConnectorError) -> ConnectorError {
    match e {
        wit::ConnectorError::Rejected(m) => ConnectorError::Rejected(bounded(m)),
        wit::ConnectorError::Conflict(m) => ConnectorError::Conflict(bounded(m)),
        wit::ConnectorError::Busy(secs) => ConnectorError::Busy(secs),
        wit::ConnectorError::Failed(m) => ConnectorError::Failed(bounded(m)),
    }
}
