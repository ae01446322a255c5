//! Integration tests of the Wasm host: the plugins in `plugins/`, built for
//! `wasm32-wasip2` by `scimgate-plugin-artifacts`, called through `WasmStep`.
//! One binary, a module per concern.

mod connector;
mod fixtures;
mod hostile;
mod loading;
mod real_plugins;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pipeline::{HookContext, Operation};
use serde_json::Value;
use wasm_host::{EngineConfig, Limits, PluginEngine, WasmPlugin, WasmStep};

/// One engine per test process. Compiled plugins are cached on disk in the
/// target directory, so each plugin is compiled once across test processes.
fn engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
        PluginEngine::new(EngineConfig { cache_dir: Some(cache_dir), ..EngineConfig::default() }).unwrap()
    })
}

fn plugin(name: &str, path: &str) -> Arc<WasmPlugin> {
    WasmPlugin::load_file(engine(), name, path).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// A step with the default limits but a generous deadline: tests other than
/// the deadline's own must not fail because a busy machine (CI, parallel
/// tests, a debug build of wasmtime) made a call slow.
fn step(name: &str, path: &str, config: Value) -> WasmStep {
    WasmStep::new(plugin(name, path), &config, relaxed())
}

fn relaxed() -> Limits {
    Limits { deadline: Duration::from_secs(10), ..Limits::default() }
}

fn ctx(operation: Operation, resource_type: &str) -> HookContext {
    HookContext {
        tenant: "acme".to_owned(),
        idp_profile: "entra".to_owned(),
        operation,
        resource_type: resource_type.to_owned(),
        resource_id: None,
    }
}

fn user_ctx() -> HookContext {
    ctx(Operation::Create, "User")
}
