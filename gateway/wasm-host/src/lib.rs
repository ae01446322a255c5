//! Runs plugin components as pipeline steps.
//!
//! Work is staged as in Spin:
//!
//! - **process**: one [`PluginEngine`]: a wasmtime `Engine` with the pooling
//!   allocator and epoch interruption (a ticker thread increments the epoch
//!   every [`EngineConfig::epoch_tick`] while calls run, and sleeps while
//!   none does), and one `Linker` with WASI preview 2
//!   granting nothing (no files, env, args or sockets; stdout discarded,
//!   stderr captured for panic messages) plus the host `log` import;
//! - **plugin** (at configuration load, off the request path):
//!   [`WasmPlugin::load`] compiles once per content hash (kept in memory and
//!   in an on-disk cache), prepares an `InstancePre`, learns which hooks the
//!   component exports and instantiates it once to check them and to ask
//!   which attributes they read ([`ReadSet`]);
//! - **call**: [`WasmStep`] implements [`pipeline::Step`]. Each call runs in
//!   its own `Store` with a memory cap and an epoch deadline
//!   ([`Limits`]); see [`InstancePolicy`] for fresh vs reused instances.
//!
//! # Fresh or reused instances
//!
//! `cargo run --release -p scimgate-wasm-host --example instance_reuse`, on
//! the 2-core development machine while other builds ran (load average 2.3 to
//! 3.3, so absolute numbers are inflated and noisy; 10,000 calls each, p50):
//!
//! | call                                         | fresh instance | reused instance |
//! |----------------------------------------------|---------------:|----------------:|
//! | `work-email` transform-in, 938-byte user     |   174–180 µs   |     38–64 µs    |
//! | a hook that does nothing (parse, answer)     |    83–85 µs    |     15–27 µs    |
//! | the same `work-email` work natively, no Wasm |        —       |     23–38 µs    |
//!
//! A fresh instance costs about 60–70 µs of store, WASI context,
//! instantiation and memory-slot reset, plus whatever the guest initialises
//! lazily on its first call (for `work-email`, the SDK's schema tables: about
//! 90 µs more). A reused instance costs little over native code. So steps
//! reuse instances by default ([`InstancePolicy::Reuse`]), made safe as its
//! docs say: an instance whose call failed in any way is dropped, never
//! reused; instances retire after a number of calls or once they hold half
//! their memory cap; idle instances belong to one step, so one tenant.
//! [`InstancePolicy::Fresh`] remains for plugins that must not keep state
//! between calls.
//!
//! Invariants: a plugin that traps, loops, bloats or panics fails only that
//! call, with a [`pipeline::StepError`] naming the plugin and the cause; no
//! panic escapes a call; an instance whose call failed is never reused.

mod bindings;
mod canned;
mod connector;
mod engine;
mod host;
mod language;
mod plugin;
mod pool;
mod reads;
mod step;

pub use canned::CannedHttp;
pub use connector::{ConnectorError, HttpAnswer, HttpCallError, HttpGrant, HttpRequest, WasmConnector};
pub use engine::{EngineConfig, PluginEngine};
pub use host::{MAX_LOG_LINE_BYTES, MAX_LOG_LINES_PER_CALL};
pub use language::Language;
pub use plugin::WasmPlugin;
pub use reads::ReadSet;
pub use step::{InstancePolicy, Limits, WasmStep};

/// A plugin could not be loaded (configuration time, never per request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot set up the Wasm engine: {0}")]
    Engine(String),
    #[error("cannot use the compiled-plugin cache: {0}")]
    Cache(String),
    #[error("cannot read plugin {name}: {message}")]
    Read { name: String, message: String },
    #[error("plugin {name} is not a valid component: {message}")]
    Invalid { name: String, message: String },
    #[error("plugin {name} needs imports the gateway does not provide: {message}")]
    Link { name: String, message: String },
    #[error("plugin {name} exports no hook of scimgate:plugin@0.1.0 (its exports: {exports})")]
    NoHooks { name: String, exports: String },
    #[error("plugin {name} does not export scimgate:plugin/connector@0.1.0, so it cannot be a connector")]
    NotConnector { name: String },
}
