//! A plugin configured for one tenant, as a pipeline step.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use pipeline::{Event, HookContext, Hooks, MatchKey, Operation, ScopeDecision, Step, StepError};
use serde_json::Value;
use wasmtime::Store;
use wasmtime::Trap;
use wasmtime::component::Instance;

use crate::WasmPlugin;
use crate::bindings::scimgate::plugin::types as wit;
use crate::host::HostState;
pub use crate::pool::InstancePolicy;
use crate::pool::{InstancePool, Slot};

/// Per-call limits of a step (per tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory of the instance, all memories together. Growth past it
    /// fails; the call fails with [`StepError::ResourceLimit`]. Clamped to
    /// [`EngineConfig::max_memory_bytes`](crate::EngineConfig::max_memory_bytes).
    pub memory_bytes: usize,
    /// Wall-clock budget of one call, instantiation included, enforced by
    /// epoch interruption: a call past it traps at its next loop back-edge or
    /// function entry and fails with [`StepError::Timeout`]. Rounded up to
    /// whole epoch ticks; may overrun by one tick. Time spent blocked in the
    /// host is not interrupted (the host grants nothing that blocks long).
    pub deadline: Duration,
    /// The largest document, list of match keys or message a hook may
    /// return, in bytes; more is [`StepError::ResourceLimit`].
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 32 << 20, deadline: Duration::from_millis(50), max_output_bytes: 1 << 20 }
    }
}

/// Most match keys a hook may return.
const MAX_MATCH_KEYS: usize = 256;
/// Messages and reasons from a plugin are cut to this many bytes.
const MAX_MESSAGE_BYTES: usize = 1024;

/// A [`WasmPlugin`] with one tenant's configuration and limits: a
/// [`pipeline::Step`]. Must not be shared between tenants (reused instances
/// keep plugin globals).
pub struct WasmStep {
    plugin: Arc<WasmPlugin>,
    config_json: String,
    limits: Limits,
    ticks: u64,
    instances: InstancePool,
    /// What `on-event` may reach over `http.send`; no other hook gets any.
    event_grant: Option<Arc<dyn crate::HttpGrant>>,
}

impl WasmStep {
    /// `config` is the tenant's configuration of this plugin (JSON, `null`
    /// for none), handed to every hook call.
    pub fn new(plugin: Arc<WasmPlugin>, config: &Value, limits: Limits) -> WasmStep {
        let max_memory = plugin.engine.config().max_memory_bytes;
        let limits = Limits { memory_bytes: limits.memory_bytes.min(max_memory), ..limits };
        WasmStep {
            ticks: plugin.engine.ticks(limits.deadline),
            config_json: config.to_string(),
            instances: InstancePool::new(plugin.engine.clone()),
            plugin,
            limits,
            event_grant: None,
        }
    }

    /// Let `on-event` calls use `http.send` under `grant` (the tenant's
    /// webhook origins).
    pub fn with_event_grant(mut self, grant: Arc<dyn crate::HttpGrant>) -> WasmStep {
        self.event_grant = Some(grant);
        self
    }

    pub fn with_policy(mut self, policy: InstancePolicy) -> WasmStep {
        self.instances.set_policy(policy);
        self
    }

    pub fn plugin(&self) -> &Arc<WasmPlugin> {
        &self.plugin
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Idle instances kept for later calls.
    pub fn idle_instances(&self) -> usize {
        self.instances.idle()
    }

    fn step(&self) -> String {
        self.plugin.name.to_string()
    }

    /// Run one hook call: take or make an instance, call, classify failures.
    /// On success the slot comes back so the caller can return it once the
    /// output passed its checks.
    fn enter<R>(
        &self,
        ctx: &HookContext,
        hook: &str,
        call: impl FnOnce(&mut Store<HostState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<(R, Slot), StepError> {
        let _ticking = self.plugin.engine.ticking();
        let mut slot = match self.instances.take() {
            Some(slot) => slot,
            None => self.instantiate(ctx, hook)?,
        };
        slot.store.data_mut().begin_call(&ctx.tenant);
        slot.store.set_epoch_deadline(self.ticks);
        match call(&mut slot.store, &slot.instance) {
            Ok(out) => Ok((out, slot)),
            Err(e) => Err(self.classify(e, slot.store.data(), hook)),
        }
    }

    fn instantiate(&self, ctx: &HookContext, hook: &str) -> Result<Slot, StepError> {
        let engine = self.plugin.engine.engine();
        let mut store = Store::new(engine, HostState::new(self.plugin.name.clone(), self.limits.memory_bytes));
        store.limiter(|state| &mut state.limiter);
        store.data_mut().begin_call(&ctx.tenant);
        store.set_epoch_deadline(self.ticks);
        match self.plugin.pre.instantiate(&mut store) {
            Ok(instance) => Ok(Slot::new(store, instance)),
            Err(e) => Err(self.classify(e, store.data(), &format!("instantiation for {hook}"))),
        }
    }

    fn classify(&self, error: wasmtime::Error, state: &HostState, hook: &str) -> StepError {
        let step = self.step();
        if let Some(why) = &state.http_stopped {
            return StepError::Failed { step, message: format!("{hook} stopped by the host: {why}"), location: None };
        }
        if let Some(asked) = state.limiter.denied {
            return StepError::ResourceLimit {
                step,
                message: format!(
                    "{hook} needed {} of memory, over the cap of {}",
                    mib(asked),
                    mib(state.limiter.cap())
                ),
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => StepError::Timeout { step, limit_ms: millis(self.limits.deadline) },
            Some(Trap::StackOverflow) => {
                StepError::ResourceLimit { step, message: format!("{hook} exhausted the call stack") }
            }
            Some(trap) => {
                let stderr = state.stderr_text();
                let location = stderr.as_deref().and_then(panic_location);
                let message = match stderr {
                    Some(stderr) => format!("{hook} trapped ({trap}): {}", bounded(stderr.replace('\n', " "))),
                    None => format!("{hook} trapped: {trap}"),
                };
                StepError::Failed { step, message, location }
            }
            None => StepError::Failed { step, message: bounded(format!("{hook} failed: {error:#}")), location: None },
        }
    }

    fn hook_error(&self, error: wit::HookError) -> StepError {
        match error {
            wit::HookError::Rejected(message) => StepError::Rejected { step: self.step(), message: bounded(message) },
            wit::HookError::Failed(message) => {
                StepError::Failed { step: self.step(), message: bounded(message), location: None }
            }
        }
    }

    /// What a hook is handed of `doc`: the attributes the plugin reads.
    fn input(&self, doc: &Value) -> String {
        match &self.plugin.reads {
            Some(reads) => reads.project(doc),
            None => serde_json::to_string(doc).unwrap_or_default(),
        }
    }

    fn over_output(&self, hook: &str, bytes: usize) -> StepError {
        StepError::ResourceLimit {
            step: self.step(),
            message: format!("{hook} returned {bytes} bytes, over the cap of {}", self.limits.max_output_bytes),
        }
    }

    /// A transform's output: bounded, valid JSON, an object.
    fn document(&self, hook: &str, json: &str) -> Result<Value, StepError> {
        if json.len() > self.limits.max_output_bytes {
            return Err(self.over_output(hook, json.len()));
        }
        let failed = |message: String| StepError::Failed { step: self.step(), message, location: None };
        match serde_json::from_str::<Value>(json) {
            Ok(doc @ Value::Object(_)) => Ok(doc),
            Ok(_) => Err(failed(format!("{hook} returned JSON that is not an object"))),
            Err(e) => Err(failed(format!("{hook} returned malformed JSON: {e}"))),
        }
    }

    fn transform(&self, hook: Transform, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        let input = self.input(&doc);
        let wctx = context(ctx);
        let config = self.config_json.as_str();
        let (name, entered) = match hook {
            Transform::In => {
                let Some(indices) = &self.plugin.indices.transform_in else {
                    return Ok(doc);
                };
                let entered = self.enter(ctx, "transform-in", |store, instance| {
                    indices.load(&mut *store, instance)?.call_transform_in(store, &input, &wctx, config)
                });
                ("transform-in", entered)
            }
            Transform::Out => {
                let Some(indices) = &self.plugin.indices.transform_out else {
                    return Ok(doc);
                };
                let entered = self.enter(ctx, "transform-out", |store, instance| {
                    indices.load(&mut *store, instance)?.call_transform_out(store, &input, &wctx, config)
                });
                ("transform-out", entered)
            }
        };
        let (result, slot) = entered?;
        match result {
            Ok(json) => {
                // A malformed or oversized result drops the instance with `slot`.
                let out = self.document(name, &json)?;
                self.instances.release(slot);
                Ok(match &self.plugin.reads {
                    Some(reads) => reads.merge(doc, out),
                    None => out,
                })
            }
            Err(e) => {
                self.instances.release(slot);
                Err(self.hook_error(e))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Transform {
    In,
    Out,
}

/// Run a hook body, turning a host panic into a failure of this call.
fn guarded<R>(step: &WasmStep, hook: &str, body: impl FnOnce() -> Result<R, StepError>) -> Result<R, StepError> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(plugin = %step.plugin.name, hook, panic = %what, "host panic while calling a plugin");
        Err(StepError::Failed { step: step.step(), message: format!("internal error calling {hook}"), location: None })
    })
}

impl Step for WasmStep {
    fn name(&self) -> &str {
        &self.plugin.name
    }

    fn hooks(&self) -> Hooks {
        self.plugin.hooks()
    }

    fn scope(&self, doc: &Value, ctx: &HookContext) -> Result<ScopeDecision, StepError> {
        let Some(indices) = &self.plugin.indices.scope else {
            return Ok(ScopeDecision::In);
        };
        guarded(self, "scope", || {
            let input = self.input(doc);
            let wctx = context(ctx);
            let (result, slot) = self.enter(ctx, "scope", |store, instance| {
                indices.load(&mut *store, instance)?.call_scope(store, &input, &wctx, &self.config_json)
            })?;
            let decision = match result {
                Ok(wit::ScopeDecision::InScope) => ScopeDecision::In,
                Ok(wit::ScopeDecision::OutOfScope(reason)) => {
                    if reason.len() > self.limits.max_output_bytes {
                        return Err(self.over_output("scope", reason.len()));
                    }
                    ScopeDecision::Out { reason: bounded(reason) }
                }
                Err(e) => {
                    self.instances.release(slot);
                    return Err(self.hook_error(e));
                }
            };
            self.instances.release(slot);
            Ok(decision)
        })
    }

    fn transform_in(&self, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        guarded(self, "transform-in", || self.transform(Transform::In, doc, ctx))
    }

    fn transform_out(&self, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        guarded(self, "transform-out", || self.transform(Transform::Out, doc, ctx))
    }

    fn match_keys(&self, doc: &Value, ctx: &HookContext) -> Result<Vec<MatchKey>, StepError> {
        let Some(indices) = &self.plugin.indices.match_keys else {
            return Ok(Vec::new());
        };
        guarded(self, "match-keys", || {
            let input = self.input(doc);
            let wctx = context(ctx);
            let (result, slot) = self.enter(ctx, "match-keys", |store, instance| {
                indices.load(&mut *store, instance)?.call_match_keys(store, &input, &wctx, &self.config_json)
            })?;
            let keys = match result {
                Ok(keys) => keys,
                Err(e) => {
                    self.instances.release(slot);
                    return Err(self.hook_error(e));
                }
            };
            if keys.len() > MAX_MATCH_KEYS {
                return Err(StepError::ResourceLimit {
                    step: self.step(),
                    message: format!("match-keys returned {} keys, over the cap of {MAX_MATCH_KEYS}", keys.len()),
                });
            }
            let bytes: usize = keys.iter().map(|k| k.attribute.len() + k.value.len()).sum();
            if bytes > self.limits.max_output_bytes {
                return Err(self.over_output("match-keys", bytes));
            }
            self.instances.release(slot);
            Ok(keys.into_iter().map(|k| MatchKey { attribute: k.attribute, value: k.value }).collect())
        })
    }

    fn on_event(&self, event: Event, doc: &Value, ctx: &HookContext) -> Result<(), StepError> {
        let Some(indices) = &self.plugin.indices.on_event else {
            return Ok(());
        };
        guarded(self, "on-event", || {
            let input = self.input(doc);
            let wctx = context(ctx);
            let wevent = match event {
                Event::Created => wit::Event::Created,
                Event::Updated => wit::Event::Updated,
                Event::Deactivated => wit::Event::Deactivated,
                Event::Reactivated => wit::Event::Reactivated,
                Event::Deleted => wit::Event::Deleted,
            };
            let (result, slot) = self.enter(ctx, "on-event", |store, instance| {
                if let Some(grant) = &self.event_grant {
                    store.data_mut().grant_http(grant.clone(), grant.budget(), self.limits.deadline);
                }
                indices.load(&mut *store, instance)?.call_on_event(store, wevent, &input, &wctx, &self.config_json)
            })?;
            self.instances.release(slot);
            result.map_err(|e| self.hook_error(e))
        })
    }
}

impl std::fmt::Debug for WasmStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmStep")
            .field("plugin", &self.plugin.name)
            .field("limits", &self.limits)
            .field("policy", &self.instances.policy())
            .finish_non_exhaustive()
    }
}

pub(crate) fn context(ctx: &HookContext) -> wit::Context {
    wit::Context {
        tenant: ctx.tenant.clone(),
        idp_profile: ctx.idp_profile.clone(),
        operation: match ctx.operation {
            Operation::Create => wit::Operation::Create,
            Operation::Replace => wit::Operation::Replace,
            Operation::Patch => wit::Operation::Patch,
            Operation::Delete => wit::Operation::Delete,
            Operation::Get => wit::Operation::Get,
            Operation::List => wit::Operation::List,
        },
        resource_type: ctx.resource_type.clone(),
        resource_id: ctx.resource_id.clone(),
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 { format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20)) } else { format!("{bytes} bytes") }
}

/// Cut a plugin-supplied message to [`MAX_MESSAGE_BYTES`].
pub(crate) fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// `file:line:col` from a Rust panic message on stderr
/// (`thread '<unnamed>' panicked at src/lib.rs:12:13:`).
fn panic_location(stderr: &str) -> Option<String> {
    let rest = &stderr[stderr.find("panicked at ")? + "panicked at ".len()..];
    let location = rest.lines().next()?.trim().trim_end_matches(':');
    (!location.is_empty()).then(|| location.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_panic_location() {
        let stderr = "thread '<unnamed>' panicked at plugins/testing/panic/src/lib.rs:12:13:\nboom\nnote: ...";
        assert_eq!(panic_location(stderr).as_deref(), Some("plugins/testing/panic/src/lib.rs:12:13"));
        assert_eq!(panic_location("no panic here"), None);
    }

    #[test]
    fn bounds_messages_on_char_boundaries() {
        assert_eq!(bounded("short".into()), "short");
        let cut = bounded("é".repeat(MAX_MESSAGE_BYTES));
        assert!(cut.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(mib(32 << 20), "32.0 MiB");
    }
}
