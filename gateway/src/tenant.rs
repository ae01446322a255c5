//! Tenants as the request path sees them: the name a token maps to, its IdP
//! profile, its policies and its compiled pipeline. Built once from the
//! config, off the request path (Wasm compiled, Rhai parsed, mappings
//! checked); a step that does not load stops the gateway from starting with
//! the file and the reason.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pipeline::{MappingStep, RhaiStep, Step};
use wasm_host::{InstancePolicy, Limits, PluginEngine, WasmPlugin, WasmStep};

use crate::config::{ExtensionConfig, InstanceMode, PolicyConfig, StepConfig, TenantConfig, toml_to_json};
use crate::flow::Flow;
use crate::store::ResourceKind;
use crate::upstream::{Upstream, UpstreamPool};
use scim::schema::AttrType;
use scim::{AttributeDef, ResourceSchema, Schema};

/// One tenant, ready to serve.
pub struct Tenant {
    pub name: String,
    pub idp: String,
    pub policy: PolicyConfig,
    pub flow: Flow,
    /// Where in-scope resources go; none: the embedded target.
    pub upstream: Option<Arc<Upstream>>,
    /// Verifies Entra-issued JWTs, when the tenant accepts them.
    pub entra_jwt: Option<Arc<crate::entra_jwt::EntraJwt>>,
    /// The client addresses allowed to call as this tenant (empty: any).
    pub allow_from: Vec<ipnet::IpNet>,
    /// Where quarantine and failure notifications go.
    pub webhook: Option<Arc<crate::notify::Webhook>>,
    /// The built-in schemas plus the tenant's own extensions.
    users: Arc<ResourceSchema>,
    groups: Arc<ResourceSchema>,
    /// Which snapshot this is (increasing across reloads, process-wide).
    pub version: u64,
    pub loaded_at: String,
}

impl Tenant {
    /// Whether resources have a second representation (an account in the
    /// embedded target or upstream) besides the shadow.
    pub fn has_target(&self) -> bool {
        !self.flow.is_empty() || self.upstream.is_some()
    }

    /// Whether a client at `ip` may call as this tenant.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.allow_from.is_empty() || self.allow_from.iter().any(|net| net.contains(&ip))
    }

    pub fn schema(&self, kind: ResourceKind) -> &Arc<ResourceSchema> {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {tenant}, step {index} ({what}): {message}")]
    Step { tenant: String, index: usize, what: String, message: String },
    #[error("tenant {tenant}, upstream: {message}")]
    Upstream { tenant: String, message: String },
    #[error("tenant {tenant}, extension {id}: {message}")]
    Extension { tenant: String, id: String, message: String },
}

/// Build one tenant's snapshot from its config: Wasm components compiled
/// (the engine keeps them by content hash, in memory and on disk), Rhai
/// parsed, mappings checked, extension schemas added.
pub fn build(
    name: &str,
    config: &TenantConfig,
    engine: &PluginEngine,
    upstreams: &UpstreamPool,
    version: u64,
) -> Result<Tenant, TenantError> {
    let event_grant = match &config.events {
        Some(events) => Some(event_grant(events).map_err(|message| TenantError::Upstream {
            tenant: name.to_owned(),
            message: format!("events: {message}"),
        })?),
        None => None,
    };
    let mut steps: Vec<Box<dyn Step>> = Vec::new();
    for (i, step) in config.steps.iter().enumerate() {
        let index = i + 1;
        let fail = |what: &Path, message: String| TenantError::Step {
            tenant: name.to_owned(),
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
                let source = std::fs::read_to_string(&script.path).map_err(|e| fail(&script.path, e.to_string()))?;
                let config = toml_to_json(script.config.as_ref()).map_err(|e| fail(&script.path, e))?;
                Box::new(
                    RhaiStep::compile(file_name(&script.path), &source, script.limits.clone(), config)
                        .map_err(|e| fail(&script.path, e.to_string()))?,
                )
            }
            StepConfig::Wasm(wasm) => {
                let plugin = WasmPlugin::load_file(engine, &file_name(&wasm.path), &wasm.path)
                    .map_err(|e| fail(&wasm.path, e.to_string()))?;
                let config = toml_to_json(wasm.config.as_ref()).map_err(|e| fail(&wasm.path, e))?;
                let defaults = plugin.language().default_limits();
                let limits = Limits {
                    memory_bytes: wasm.memory_mib.map_or(defaults.memory_bytes, |mib| mib << 20),
                    deadline: wasm.deadline_ms.map_or(defaults.deadline, Duration::from_millis),
                    ..defaults
                };
                let mut step = WasmStep::new(plugin, &config, limits);
                if let Some(grant) = &event_grant {
                    step = step.with_event_grant(grant.clone());
                }
                Box::new(match wasm.instances {
                    InstanceMode::Reuse => step,
                    InstanceMode::Fresh => step.with_policy(InstancePolicy::Fresh),
                })
            }
        };
        steps.push(built);
    }
    let mut users = ResourceSchema::user();
    let mut groups = ResourceSchema::group();
    for ext in &config.extensions {
        let fail = |message: String| TenantError::Extension { tenant: name.to_owned(), id: ext.id.clone(), message };
        let schema = extension_schema(ext).map_err(fail)?;
        let target = match ext.resource_type.as_str() {
            "User" => &mut users,
            "Group" => &mut groups,
            other => return Err(fail(format!("resource_type must be User or Group, not {other}"))),
        };
        if target.knows_schema(&schema.id) {
            return Err(fail("this schema is already defined".into()));
        }
        target.extensions.push(schema);
    }
    let upstream = match &config.upstream {
        Some(up) => Some(
            upstreams
                .get(name, up, engine)
                .map_err(|e| TenantError::Upstream { tenant: name.to_owned(), message: e.to_string() })?,
        ),
        None => None,
    };
    let webhook = match &config.notify {
        Some(n) => Some(Arc::new(crate::notify::Webhook {
            url: n.webhook.clone(),
            credential: crate::outbound::Credential::from_config(&n.auth)
                .map_err(|message| TenantError::Upstream { tenant: name.to_owned(), message })?,
            batch: Duration::from_secs(n.batch_secs),
        })),
        None => None,
    };
    let entra_jwt = match &config.entra_jwt {
        Some(jwt) => Some(Arc::new(crate::entra_jwt::EntraJwt::new(jwt).map_err(|message| TenantError::Upstream {
            tenant: name.to_owned(),
            message: format!("entra_jwt: {message}"),
        })?)),
        None => None,
    };
    Ok(Tenant {
        upstream,
        webhook,
        entra_jwt,
        allow_from: config.allow_from.clone(),
        name: name.to_owned(),
        idp: config.idp.clone(),
        policy: config.policy,
        flow: Flow::new(steps),
        users: Arc::new(users),
        groups: Arc::new(groups),
        version,
        loaded_at: crate::store::now_rfc3339(),
    })
}

/// The HTTP grant of a tenant's `on-event` hooks: its event origins, its
/// credential added by the host.
fn event_grant(events: &crate::config::EventsConfig) -> Result<Arc<dyn wasm_host::HttpGrant>, String> {
    if let Some(bad) = events.origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://"))) {
        return Err(format!("origin '{bad}' must start with http:// or https://"));
    }
    let timeout = Duration::from_millis(events.timeout_ms);
    let http = crate::outbound::HttpClient::new(timeout, timeout, None).map_err(|e| e.to_string())?;
    let credential = crate::outbound::Credential::from_config(&events.auth)?;
    let origins: Vec<&str> = events.origins.iter().map(String::as_str).collect();
    Ok(Arc::new(crate::outbound::OriginGrant::new(
        &origins,
        Arc::new(http),
        Arc::new(credential),
        events.max_requests,
        timeout,
    )))
}

/// A tenant's extension schema from its config, checked.
fn extension_schema(ext: &ExtensionConfig) -> Result<Schema, String> {
    if !ext.id.starts_with("urn:") || ext.id.chars().any(char::is_whitespace) {
        return Err("the id must be a URN (urn:...) without spaces".into());
    }
    let mut attributes: Vec<AttributeDef> = Vec::new();
    for attr in &ext.attributes {
        let valid_name = attr.name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && attr.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(format!(
                "attribute name '{}' must start with a letter and hold only letters, digits, _ and -",
                attr.name
            ));
        }
        if attributes.iter().any(|a| a.name.eq_ignore_ascii_case(&attr.name)) {
            return Err(format!("attribute '{}' is defined twice", attr.name));
        }
        let ty = match attr.ty.as_str() {
            "string" => AttrType::String,
            "boolean" => AttrType::Boolean,
            "integer" => AttrType::Integer,
            "decimal" => AttrType::Decimal,
            "dateTime" => AttrType::DateTime,
            "reference" => AttrType::Reference,
            other => return Err(format!("attribute '{}': unknown type '{other}'", attr.name)),
        };
        let mut def = AttributeDef::new(&attr.name, ty).describe(&attr.description);
        def.multi_valued = attr.multi_valued;
        def.required = attr.required;
        def.case_exact = attr.case_exact;
        def.canonical_values = attr.canonical_values.clone();
        attributes.push(def);
    }
    let name = ext.name.clone().unwrap_or_else(|| ext.id.rsplit(':').next().unwrap_or_default().to_owned());
    Ok(Schema { id: ext.id.clone(), name, description: ext.description.clone(), attributes })
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}
