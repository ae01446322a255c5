//! One tenant's table: which IdP it serves, its pipeline steps, its
//! policies, extension schemas, event grants and notifications.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{AuthConfig, UpstreamConfig};

/// Per-tenant settings: which IdP it serves, what its pipeline does, and the
/// policies for scope exits, deletes and matches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The IdP profile handed to plugins (`entra`, `okta`, `onelogin`, `generic`).
    #[serde(default = "default_idp")]
    pub idp: String,
    #[serde(default)]
    pub policy: PolicyConfig,
    /// The pipeline, in order. Empty: the embedded store is the target.
    #[serde(default)]
    pub steps: Vec<StepConfig>,
    /// Extension schemas of this tenant's own (custom attributes its
    /// mappings use), served in its `/Schemas` and `/ResourceTypes` so that
    /// the IdP's attribute-mapping UI can offer them.
    #[serde(default)]
    pub extensions: Vec<ExtensionConfig>,
    /// Where in-scope resources go. Absent: the embedded store.
    #[serde(default)]
    pub upstream: Option<UpstreamConfig>,
    /// Who hears about quarantine and failures an admin must fix.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// What `on-event` hooks may reach over HTTP.
    #[serde(default)]
    pub events: Option<EventsConfig>,
    /// The client addresses this tenant's IdP calls from (CIDRs); empty:
    /// any. Behind trusted proxies, the address they forward.
    #[serde(default)]
    pub allow_from: Vec<ipnet::IpNet>,
    /// Accept the JWTs Microsoft Entra ID issues (the Secret Token left blank).
    #[serde(default)]
    pub entra_jwt: Option<EntraJwtConfig>,
    /// At start, if the tenant has no live token, issue one and print it
    /// with the SCIM URL (shown once, stored hashed): the quickstart.
    #[serde(default)]
    pub print_first_token: bool,
}

/// `[tenants.T.entra_jwt]`: which Entra-issued tokens this tenant accepts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraJwtConfig {
    /// The Entra tenant's issuer, `https://sts.windows.net/{tenant-id}/`.
    pub issuer: String,
    /// The `aud` the tokens carry (the provisioning app's id).
    pub audience: String,
    /// The tenant's JWKS as a file (offline)...
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// ...or its URL (`https://login.microsoftonline.com/{tenant-id}/discovery/v2.0/keys`).
    #[serde(default)]
    pub jwks_url: Option<String>,
}

/// The origins `on-event` hooks may call (`https://hooks.example.com`), and
/// the credential the host adds to those calls.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub origins: Vec<String>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default = "default_event_timeout_ms")]
    pub timeout_ms: u64,
    /// HTTP requests one hook call may make.
    #[serde(default = "default_event_max_requests")]
    pub max_requests: u32,
}

fn default_event_timeout_ms() -> u64 {
    5_000
}

fn default_event_max_requests() -> u32 {
    8
}

/// A tenant's failure-notification webhook.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub webhook: String,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Failures gather this long before one call reports them.
    #[serde(default = "default_batch_secs")]
    pub batch_secs: u64,
}

fn default_batch_secs() -> u64 {
    60
}

/// `[[tenants.T.extensions]]`: one extension schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionConfig {
    /// The schema URN, e.g. `urn:ietf:params:scim:schemas:extension:acme:2.0:User`.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    /// `User` (default) or `Group`.
    #[serde(default = "default_resource_type")]
    pub resource_type: String,
    pub attributes: Vec<ExtensionAttribute>,
}

/// One attribute of a tenant's extension schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionAttribute {
    pub name: String,
    /// `string` (default), `boolean`, `integer`, `decimal`, `dateTime` or `reference`.
    #[serde(rename = "type", default = "default_attribute_type")]
    pub ty: String,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub canonical_values: Vec<String>,
}

fn default_resource_type() -> String {
    "User".into()
}

fn default_attribute_type() -> String {
    "string".into()
}

fn default_idp() -> String {
    "generic".into()
}

/// What the pipeline does at the edges of a resource's life.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// A resource that leaves scope: `deactivate` (default) or `delete` its account.
    #[serde(default)]
    pub on_scope_exit: crate::store::ExitPolicy,
    /// An IdP delete: `delete` (default) the account, or `deactivate` and keep it.
    #[serde(default)]
    pub on_delete: crate::store::DeletePolicy,
    /// A create whose match keys find an existing account: `link` (default) or `conflict` (409).
    #[serde(default)]
    pub on_match: crate::store::MatchPolicy,
}

/// One pipeline step as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepConfig {
    /// Declarative rules, inline.
    Mapping(pipeline::MappingConfig),
    /// A Rhai script file.
    Rhai(ScriptStep),
    /// A WebAssembly component file.
    Wasm(WasmStepConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    /// Relative to the config file.
    pub path: PathBuf,
    /// The script's `ctx.config`.
    #[serde(default)]
    pub config: Option<toml::Value>,
    #[serde(default)]
    pub limits: pipeline::RhaiLimits,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmStepConfig {
    /// Relative to the config file.
    pub path: PathBuf,
    /// The plugin's config values, handed to every hook.
    #[serde(default)]
    pub config: Option<toml::Value>,
    /// Per-call deadline (epoch interruption). Default: the plugin's
    /// language's (50 ms; 250 ms for JavaScript and Python).
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// Linear-memory cap of one instance. Default: the plugin's language's
    /// (32 MiB; 64 MiB for JavaScript and Python).
    #[serde(default)]
    pub memory_mib: Option<usize>,
    /// `reuse` (default) keeps idle instances; `fresh` instantiates per call.
    #[serde(default)]
    pub instances: InstanceMode,
}

impl WasmStepConfig {
    /// A step running `path` with its language's default limits.
    pub fn new(path: PathBuf, config: Option<toml::Value>) -> WasmStepConfig {
        WasmStepConfig { path, config, deadline_ms: None, memory_mib: None, instances: InstanceMode::default() }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    #[default]
    Reuse,
    Fresh,
}

impl TenantConfig {
    /// Make step file paths absolute against `base`.
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for step in &mut self.steps {
            match step {
                StepConfig::Rhai(s) => s.path = base.join(&s.path),
                StepConfig::Wasm(s) => s.path = base.join(&s.path),
                StepConfig::Mapping(_) => {}
            }
        }
        let transport = match &mut self.upstream {
            Some(UpstreamConfig::Scim(up)) => Some(up),
            Some(UpstreamConfig::Connector(up)) => {
                up.plugin = base.join(&up.plugin);
                Some(&mut up.transport)
            }
            None => None,
        };
        if let Some(ca) = transport.and_then(|t| t.ca_file.as_mut()) {
            *ca = base.join(&*ca);
        }
        if let Some(file) = self.entra_jwt.as_mut().and_then(|j| j.jwks_file.as_mut()) {
            *file = base.join(&*file);
        }
    }

    /// The files this tenant's snapshot is built from, besides its own file.
    pub fn step_files(&self) -> Vec<&Path> {
        let connector = match &self.upstream {
            Some(UpstreamConfig::Connector(c)) => Some(c.plugin.as_path()),
            _ => None,
        };
        self.steps
            .iter()
            .filter_map(|s| match s {
                StepConfig::Rhai(s) => Some(s.path.as_path()),
                StepConfig::Wasm(s) => Some(s.path.as_path()),
                StepConfig::Mapping(_) => None,
            })
            .chain(connector)
            .collect()
    }
}
