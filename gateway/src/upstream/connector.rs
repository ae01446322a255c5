//! Loading a tenant's connector plugin with its config. Each call gets an
//! [`OriginGrant`](crate::outbound::OriginGrant) for the upstream's origin.

use std::time::Duration;

use serde_json::Value;
use wasm_host::{InstancePolicy, Language, Limits, PluginEngine, WasmConnector};

use crate::config::{ConnectorUpstreamConfig, InstanceMode, toml_to_json};

/// Load the connector component with its config (`base_url` added).
pub(super) fn load(
    engine: &PluginEngine,
    config: &ConnectorUpstreamConfig,
    base: &str,
) -> Result<WasmConnector, String> {
    let mut plugin_config = toml_to_json(config.config.as_ref())?;
    if plugin_config.is_null() {
        plugin_config = Value::Object(Default::default());
    }
    if let Value::Object(map) = &mut plugin_config {
        map.entry("base_url").or_insert_with(|| Value::String(base.to_owned()));
    }
    let name = config.plugin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let language_limits = Language::of_file(&config.plugin).default_limits();
    let limits = Limits {
        memory_bytes: config.memory_mib.map_or(language_limits.memory_bytes, |mib| mib << 20),
        deadline: Duration::from_millis(config.deadline_ms),
        ..language_limits
    };
    let connector =
        WasmConnector::load_file(engine, &name, &config.plugin, &plugin_config, limits).map_err(|e| e.to_string())?;
    Ok(match config.instances {
        InstanceMode::Reuse => connector,
        InstanceMode::Fresh => connector.with_policy(InstancePolicy::Fresh),
    })
}
