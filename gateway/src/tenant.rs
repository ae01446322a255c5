//! Tenants as the request path sees them: the name a token maps to, its IdP
//! profile, its policies and its compiled pipeline. Built once from the
//! config, off the request path (Wasm compiled, Rhai parsed, mappings
//! checked); a step that does not load stops the gateway from starting with
//! the file and the reason.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pipeline::{MappingStep, RhaiStep, Step};
use serde_json::Value;
use wasm_host::{InstancePolicy, Limits, PluginEngine, WasmPlugin, WasmStep};

use crate::config::{InstanceMode, PolicyConfig, StepConfig, TenantConfig};
use crate::flow::Flow;

/// One tenant, ready to serve.
pub struct Tenant {
    pub name: String,
    pub idp: String,
    pub policy: PolicyConfig,
    pub flow: Flow,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {tenant}, step {index} ({what}): {message}")]
    Step { tenant: String, index: usize, what: String, message: String },
    #[error("cannot start the plugin engine: {0}")]
    Engine(String),
}

/// Build every configured tenant. Wasm plugins are compiled once per file
/// (cached on disk under `cache_dir`) and shared; each tenant gets its own
/// instances and config.
pub fn build_all(
    tenants: &BTreeMap<String, TenantConfig>,
    cache_dir: Option<PathBuf>,
) -> Result<HashMap<String, Arc<Tenant>>, TenantError> {
    let mut engine: Option<PluginEngine> = None;
    let mut plugins: HashMap<PathBuf, Arc<WasmPlugin>> = HashMap::new();
    let mut out = HashMap::new();
    for (name, config) in tenants {
        let mut steps: Vec<Box<dyn Step>> = Vec::new();
        for (i, step) in config.steps.iter().enumerate() {
            let index = i + 1;
            let fail = |what: &Path, message: String| TenantError::Step {
                tenant: name.clone(),
                index,
                what: what.display().to_string(),
                message,
            };
            let built: Box<dyn Step> = match step {
                StepConfig::Mapping(mapping) => {
                    let step_name = format!("mapping#{index}");
                    Box::new(
                        MappingStep::new(step_name.clone(), mapping.clone())
                            .map_err(|e| fail(Path::new(&step_name), e.to_string()))?,
                    )
                }
                StepConfig::Rhai(script) => {
                    let source =
                        std::fs::read_to_string(&script.path).map_err(|e| fail(&script.path, e.to_string()))?;
                    let config = toml_to_json(script.config.as_ref()).map_err(|e| fail(&script.path, e))?;
                    Box::new(
                        RhaiStep::compile(file_name(&script.path), &source, script.limits.clone(), config)
                            .map_err(|e| fail(&script.path, e.to_string()))?,
                    )
                }
                StepConfig::Wasm(wasm) => {
                    if engine.is_none() {
                        let config = wasm_host::EngineConfig { cache_dir: cache_dir.clone(), ..Default::default() };
                        engine = Some(PluginEngine::new(config).map_err(|e| TenantError::Engine(e.to_string()))?);
                    }
                    let Some(engine) = engine.as_ref() else { unreachable!("set above") };
                    let plugin = match plugins.get(&wasm.path) {
                        Some(p) => p.clone(),
                        None => {
                            let p = WasmPlugin::load_file(engine, &file_name(&wasm.path), &wasm.path)
                                .map_err(|e| fail(&wasm.path, e.to_string()))?;
                            plugins.insert(wasm.path.clone(), p.clone());
                            p
                        }
                    };
                    let config = toml_to_json(wasm.config.as_ref()).map_err(|e| fail(&wasm.path, e))?;
                    let limits = Limits {
                        memory_bytes: wasm.memory_mib << 20,
                        deadline: Duration::from_millis(wasm.deadline_ms),
                        ..Limits::default()
                    };
                    let step = WasmStep::new(plugin, &config, limits);
                    Box::new(match wasm.instances {
                        InstanceMode::Reuse => step,
                        InstanceMode::Fresh => step.with_policy(InstancePolicy::Fresh),
                    })
                }
            };
            steps.push(built);
        }
        let tenant =
            Tenant { name: name.clone(), idp: config.idp.clone(), policy: config.policy, flow: Flow::new(steps) };
        out.insert(name.clone(), Arc::new(tenant));
    }
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

fn toml_to_json(value: Option<&toml::Value>) -> Result<Value, String> {
    match value {
        None => Ok(Value::Null),
        Some(v) => serde_json::to_value(v).map_err(|e| format!("config: {e}")),
    }
}
