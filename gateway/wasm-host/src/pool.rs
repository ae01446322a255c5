//! Idle plugin instances kept between calls, for steps and connectors alike.

use std::sync::Mutex;

use wasmtime::Store;
use wasmtime::component::Instance;

use crate::engine::PluginEngine;
use crate::host::HostState;

/// Whether a plugin is instantiated for every call or keeps idle instances
/// for later calls. The crate docs have the measurements: a fresh instance
/// costs 60–70 µs more per call, plus the guest's lazy start-up.
///
/// Reuse is made safe by: an instance whose call failed in any way (trap,
/// timeout, memory or output limit, malformed result, a host-stopped HTTP
/// request) is dropped, never returned; an instance is retired after
/// `max_uses` calls or once its memory passes half the cap; the idle
/// instances belong to one step or connector, so one tenant. What reuse
/// keeps is the plugin's own globals between calls of the same tenant;
/// plugins must not rely on them either way. Per-call host state (the HTTP
/// grant and budget, the log allowance, captured stderr) is reset before
/// every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstancePolicy {
    /// A new instance for every call: nothing survives a call.
    Fresh,
    /// Keep up to `max_idle` idle instances (within the engine's
    /// [`max_idle_instances`](crate::EngineConfig::max_idle_instances)), each
    /// used at most `max_uses` times.
    Reuse { max_uses: u32, max_idle: usize },
}

impl Default for InstancePolicy {
    fn default() -> Self {
        InstancePolicy::Reuse { max_uses: 1000, max_idle: 4 }
    }
}

/// An instance and its store.
pub(crate) struct Slot {
    pub store: Store<HostState>,
    pub instance: Instance,
    uses: u32,
}

impl Slot {
    pub fn new(store: Store<HostState>, instance: Instance) -> Slot {
        Slot { store, instance, uses: 0 }
    }
}

/// The idle instances of one step or connector, counted against the
/// engine's budget of idle instances.
pub(crate) struct InstancePool {
    engine: PluginEngine,
    policy: InstancePolicy,
    idle: Mutex<Vec<Slot>>,
}

impl InstancePool {
    pub fn new(engine: PluginEngine) -> InstancePool {
        InstancePool { engine, policy: InstancePolicy::default(), idle: Mutex::new(Vec::new()) }
    }

    pub fn policy(&self) -> InstancePolicy {
        self.policy
    }

    /// Change the policy; idle instances kept so far are dropped.
    pub fn set_policy(&mut self, policy: InstancePolicy) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        self.engine.unreserve_idle(idle.len());
        self.policy = policy;
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// An idle instance, if the policy keeps any and one is there.
    pub fn take(&self) -> Option<Slot> {
        let slot = match self.policy {
            InstancePolicy::Fresh => None,
            InstancePolicy::Reuse { .. } => self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop(),
        };
        if slot.is_some() {
            self.engine.unreserve_idle(1);
        }
        slot
    }

    /// Give back an instance whose call returned normally (a success or the
    /// plugin's own error); it is kept if the policy and budgets allow.
    pub fn release(&self, mut slot: Slot) {
        let InstancePolicy::Reuse { max_uses, max_idle } = self.policy else {
            return;
        };
        slot.uses += 1;
        let limiter = &slot.store.data().limiter;
        if slot.uses >= max_uses || limiter.used() > limiter.cap() / 2 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < max_idle && self.engine.reserve_idle() {
            idle.push(slot);
        }
    }
}

impl Drop for InstancePool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner()).len();
        self.engine.unreserve_idle(idle);
    }
}
