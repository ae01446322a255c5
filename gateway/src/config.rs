//! The gateway's configuration file (`scimgate.toml`).
//!
//! Relative paths in the file resolve against the file's own directory, so a
//! config means the same thing whatever directory the gateway starts in.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Bodies larger than this get `413` unless the config says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// Absolute path of the SQLite database.
    pub store_path: PathBuf,
    pub tenants: BTreeMap<String, TenantConfig>,
    /// The file each tenant is defined in (the main file for inline tenants).
    pub tenant_files: BTreeMap<String, PathBuf>,
    /// Where tenant files live (`tenants_dir`), absolute.
    pub tenants_dir: Option<PathBuf>,
    /// The directory relative paths resolve against.
    pub base_dir: PathBuf,
    /// The admin listener; none unless `[admin]` is in the file.
    pub admin: Option<AdminConfig>,
}

/// `[admin]`: the admin API's listener and where its token comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
    /// The environment variable holding the admin token (never in the file).
    #[serde(default = "default_admin_token_env")]
    pub token_env: String,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}

fn default_admin_token_env() -> String {
    "SCIMGATE_ADMIN_TOKEN".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Keep Prometheus metrics (on by default; off only to measure their cost).
    #[serde(default = "default_true")]
    pub metrics: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { listen: default_listen(), max_body_bytes: default_max_body(), metrics: true }
    }
}

fn default_true() -> bool {
    true
}

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

/// A tenant's target service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum UpstreamConfig {
    /// A SCIM 2.0 service provider.
    Scim(ScimUpstreamConfig),
    /// A non-SCIM API, fronted by a connector plugin.
    Connector(ConnectorUpstreamConfig),
}

impl UpstreamConfig {
    /// The connection settings every upstream kind has.
    pub fn transport(&self) -> &ScimUpstreamConfig {
        match self {
            UpstreamConfig::Scim(c) => c,
            UpstreamConfig::Connector(c) => &c.transport,
        }
    }
}

/// A legacy API behind a connector plugin (`scimgate:plugin/connector`). The
/// plugin's `http.send` reaches `url`'s origin and nothing else; the host
/// adds `auth`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorUpstreamConfig {
    /// `url`, `auth`, timeouts, throttle and breaker, as for a SCIM upstream
    /// (`retries` does not apply: a connector call is not known to be idempotent).
    pub transport: ScimUpstreamConfig,
    /// The connector component (relative to the config file).
    pub plugin: PathBuf,
    /// The plugin's config; `base_url` is added from `url`.
    pub config: Option<toml::Value>,
    /// Budget of one connector call, the time in `http.send` included.
    pub deadline_ms: u64,
    pub memory_mib: usize,
    /// The most HTTP requests one connector call may make.
    pub max_requests: u32,
    /// `reuse` (default) keeps idle instances between calls; `fresh`
    /// instantiates per call.
    pub instances: InstanceMode,
}

/// Read as one flat table: the connector's keys beside the transport's.
impl<'de> Deserialize<'de> for ConnectorUpstreamConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let plugin: PathBuf = match table.remove("plugin") {
            Some(toml::Value::String(p)) => PathBuf::from(p),
            Some(_) => return Err(D::Error::custom("plugin must be a path")),
            None => return Err(D::Error::missing_field("plugin")),
        };
        let config = table.remove("config");
        let int = |table: &mut toml::Table, key: &str, default: i64| -> Result<i64, D::Error> {
            match table.remove(key) {
                None => Ok(default),
                Some(toml::Value::Integer(n)) if n >= 0 => Ok(n),
                Some(_) => Err(D::Error::custom(format!("{key} must be a non-negative integer"))),
            }
        };
        let deadline_ms = int(&mut table, "deadline_ms", 30_000)? as u64;
        let memory_mib = int(&mut table, "memory_mib", 32)? as usize;
        let max_requests = int(&mut table, "max_requests", 16)? as u32;
        let instances = match table.remove("instances") {
            None => InstanceMode::default(),
            Some(v) => InstanceMode::deserialize(v)
                .map_err(|_| D::Error::custom("instances must be \"reuse\" or \"fresh\""))?,
        };
        let transport = ScimUpstreamConfig::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(ConnectorUpstreamConfig { transport, plugin, config, deadline_ms, memory_mib, max_requests, instances })
    }
}

/// A SCIM upstream: its base URL, credential, timeouts and limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimUpstreamConfig {
    /// The SCIM base, e.g. `https://app.example.com/scim/v2`.
    pub url: String,
    #[serde(default)]
    pub auth: AuthConfig,
    /// The whole exchange, connect to last body byte.
    #[serde(default = "default_upstream_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Extra attempts for idempotent operations (GET, PUT, DELETE) after a
    /// transport failure, timeout, 502, 503 or 504.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// A PEM file of extra trusted roots (a private CA), besides the web PKI.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub throttle: ThrottleConfig,
    #[serde(default)]
    pub breaker: BreakerConfig,
}

/// Never prints a credential, even one written inline.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthConfig::None => f.write_str("None"),
            AuthConfig::Bearer { .. } => f.write_str("Bearer { token: *** }"),
            AuthConfig::Header { name, .. } => write!(f, "Header {{ name: {name:?}, value: *** }}"),
            AuthConfig::Basic { username, .. } => write!(f, "Basic {{ username: {username:?}, password: *** }}"),
            AuthConfig::OAuth2 { token_url, client_id, scope, .. } => write!(
                f,
                "OAuth2 {{ token_url: {token_url:?}, client_id: {client_id:?}, client_secret: ***, scope: {scope:?} }}"
            ),
        }
    }
}

fn default_upstream_timeout_ms() -> u64 {
    10_000
}

fn default_connect_timeout_ms() -> u64 {
    2_000
}

fn default_retries() -> u32 {
    2
}

/// How the gateway authenticates to an upstream. Secret values may be
/// `${env:NAME}` or `${file:PATH}`.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthConfig {
    #[default]
    None,
    Bearer {
        token: String,
    },
    /// An API key in a header of the API's choosing (`X-Api-Key`).
    Header {
        name: String,
        value: String,
    },
    Basic {
        username: String,
        password: String,
    },
    /// OAuth 2.0 client credentials (RFC 6749 §4.4); the access token is
    /// cached until shortly before it expires.
    #[serde(rename = "oauth2")]
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scope: Option<String>,
    },
}

/// Outbound limits per upstream: targets accept far less than an IdP sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Requests per second (token bucket). Absent: unlimited.
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    /// Bucket size: how many requests may go at once after a quiet spell.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Requests in flight at once. Absent: unlimited.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// The longest a request waits for its turn before the IdP gets `429`
    /// (the IdPs give up on a request after 60 s).
    #[serde(default = "default_max_wait_secs")]
    pub max_wait_secs: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig { rate_per_sec: None, burst: None, concurrency: None, max_wait_secs: default_max_wait_secs() }
    }
}

fn default_max_wait_secs() -> f64 {
    50.0
}

/// The circuit breaker on an upstream (quarantine).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures (transport, timeout, 5xx) that open it; 0 never opens.
    #[serde(default = "default_breaker_failures")]
    pub failures: u32,
    /// How long it stays open before a probe, and between probes.
    #[serde(default = "default_breaker_open_secs")]
    pub open_secs: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failures: default_breaker_failures(), open_secs: default_breaker_open_secs() }
    }
}

fn default_breaker_failures() -> u32 {
    5
}

fn default_breaker_open_secs() -> u64 {
    10
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
    /// Per-call deadline (epoch interruption).
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Linear-memory cap of one instance.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: usize,
    /// `reuse` (default) keeps idle instances; `fresh` instantiates per call.
    #[serde(default)]
    pub instances: InstanceMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    #[default]
    Reuse,
    Fresh,
}

fn default_deadline_ms() -> u64 {
    50
}

fn default_memory_mib() -> usize {
    32
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    store: RawStore,
    #[serde(default)]
    admin: Option<AdminConfig>,
    /// A directory of `NAME.toml` files, one tenant each.
    #[serde(default)]
    tenants_dir: Option<PathBuf>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: PathBuf,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Config {
    /// Load the main file and every tenant file; any error fails the load.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (config, mut broken) = Self::load_lenient(path)?;
        match broken.pop() {
            Some((_, e)) => Err(e),
            None => Ok(config),
        }
    }

    /// Load the main file (its errors fail the load) and every tenant file; a
    /// tenant file that does not parse is left out and reported with its
    /// tenant name, so that a reload keeps that tenant's running snapshot.
    pub fn load_lenient(path: &Path) -> Result<(Config, Vec<(String, ConfigError)>), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config = Self::parse(&text, path)?;
        let mut broken = Vec::new();
        if let Some(dir) = config.tenants_dir.clone() {
            let entries = std::fs::read_dir(&dir).map_err(|source| ConfigError::Read { path: dir.clone(), source })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for file in files {
                let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                match load_tenant_file(&name, &file, &config) {
                    Ok(tenant) => {
                        config.tenants.insert(name.clone(), tenant);
                        config.tenant_files.insert(name, file);
                    }
                    Err(e) => broken.push((name, e)),
                }
            }
        }
        Ok((config, broken))
    }

    /// Parse config text; `path` locates relative paths and names errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
        for name in raw.tenants.keys() {
            if !valid_tenant_name(name) {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    message: format!("tenant name '{name}' must be 1-64 characters of a-z, 0-9, '-' or '_'"),
                });
            }
        }
        if raw.server.max_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: "server.max_body_bytes must be > 0".into(),
            });
        }
        let mut tenants = raw.tenants;
        for tenant in tenants.values_mut() {
            tenant.resolve_paths(&base);
        }
        let tenant_files = tenants.keys().map(|name| (name.clone(), path.to_owned())).collect();
        Ok(Config {
            server: raw.server,
            store_path: base.join(raw.store.path),
            tenants,
            tenant_files,
            tenants_dir: raw.tenants_dir.map(|d| base.join(d)),
            base_dir: base,
            admin: raw.admin,
        })
    }
}

impl TenantConfig {
    /// Make step file paths absolute against `base`.
    fn resolve_paths(&mut self, base: &Path) {
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

/// One `tenants_dir/NAME.toml`: the tenant's table at the top level; paths
/// relative to the directory.
fn load_tenant_file(name: &str, file: &Path, config: &Config) -> Result<TenantConfig, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { path: file.to_owned(), message };
    if !valid_tenant_name(name) {
        return Err(invalid(format!(
            "tenant name '{name}' (the file name) must be 1-64 characters of a-z, 0-9, '-' or '_'"
        )));
    }
    if config.tenants.contains_key(name) {
        return Err(invalid(format!("tenant {name} is also defined in {}", config.tenant_files[name].display())));
    }
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read { path: file.to_owned(), source })?;
    let mut tenant: TenantConfig =
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: file.to_owned(), message: e.to_string() })?;
    tenant.resolve_paths(file.parent().unwrap_or(Path::new(".")));
    Ok(tenant)
}

fn valid_tenant_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_store_path_resolves_against_the_config_file() {
        let cfg = Config::parse("[store]\npath = \"data/s.db\"\n[tenants.acme]\n", Path::new("/etc/sg/scimgate.toml"))
            .unwrap();
        assert_eq!(cfg.store_path, Path::new("/etc/sg/data/s.db"));
        assert_eq!(cfg.server.listen.port(), 8080);
        assert!(cfg.tenants.contains_key("acme"));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_tenant_names() {
        assert!(Config::parse("[store]\npath='x'\nbogus=1\n", Path::new("c.toml")).is_err());
        assert!(Config::parse("[store]\npath='x'\n[tenants.\"Bad Name\"]\n", Path::new("c.toml")).is_err());
        assert!(Config::parse("[server]\nlisten='nonsense'\n[store]\npath='x'\n", Path::new("c.toml")).is_err());
    }
}
