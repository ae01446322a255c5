//! The gateway's configuration file (`scimgate.toml`).
//!
//! Relative paths in the file resolve against the file's own directory, so a
//! config means the same thing whatever directory the gateway starts in.
//! `tenant`: one tenant's table (IdP, steps, policies, extensions);
//! `upstream`: where its resources go and how the gateway authenticates
//! there; `secrets`: `${env:}`/`${file:}` references in either.

mod secrets;
mod tenant;
mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::store::Location;

pub use secrets::{resolve_secret, toml_to_json};
pub use tenant::{
    EntraJwtConfig, EventsConfig, ExtensionAttribute, ExtensionConfig, InstanceMode, NotifyConfig, PolicyConfig,
    ScriptStep, StepConfig, TenantConfig, WasmStepConfig,
};
pub use upstream::{
    AuthConfig, BreakerConfig, ConnectorUpstreamConfig, ScimUpstreamConfig, ThrottleConfig, UpstreamConfig,
};

/// Bodies larger than this get `413` unless the config says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The limit of RFC 7643's example `ServiceProviderConfig` (§8.5).
pub const DEFAULT_BULK_MAX_OPERATIONS: usize = 1000;

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
    /// The SQLite file (absolute) or the PostgreSQL URL (secrets resolved).
    pub store: Location,
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

impl Config {
    /// Where compiled plugins are cached: `[server] plugin_cache`, else
    /// beside the SQLite file, else (PostgreSQL) beside the config.
    pub fn plugin_cache(&self) -> PathBuf {
        if let Some(dir) = &self.server.plugin_cache {
            return self.base_dir.join(dir);
        }
        let state = match &self.store {
            Location::Sqlite(path) => path.parent().map_or_else(|| self.base_dir.clone(), Path::to_owned),
            Location::Postgres { .. } => self.base_dir.clone(),
        };
        state.join("plugin-cache")
    }
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
    /// When that variable is unset, make a token for this run and print it
    /// (the quickstart); otherwise a missing token stops the start.
    #[serde(default)]
    pub generate_token: bool,
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
    /// The most operations one `POST /Bulk` may carry (more: 413). Its
    /// payload is bounded by `max_body_bytes` like any body.
    #[serde(default = "default_bulk_max_operations")]
    pub bulk_max_operations: usize,
    /// Keep Prometheus metrics (on by default; off only to measure their cost).
    #[serde(default = "default_true")]
    pub metrics: bool,
    /// The URL IdPs reach the gateway at (`https://scim.example.com`, a
    /// path prefix allowed), for `Location`, `meta.location` and `$ref`
    /// behind a proxy. Unset: from the request (and trusted proxies).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A listener of its own for `/healthz`, `/readyz` and `/metrics`, no
    /// token (for load balancers and scrapers; the admin API stays apart).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve the SCIM listener over TLS (else plain HTTP, behind a proxy).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Where compiled plugins are cached (default: `plugin-cache` beside
    /// the SQLite file, or beside this config on PostgreSQL).
    #[serde(default)]
    pub plugin_cache: Option<PathBuf>,
}

/// `[server] tls`: PEM files, read again when they change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
            bulk_max_operations: default_bulk_max_operations(),
            metrics: true,
            public_url: None,
            trusted_proxies: Vec::new(),
            metrics_listen: None,
            tls: None,
            plugin_cache: None,
        }
    }
}

fn default_true() -> bool {
    true
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
    /// SQLite: the embedded default.
    #[serde(default)]
    path: Option<PathBuf>,
    /// PostgreSQL: `postgres://USER:PASS@HOST:PORT/DB`, `${env:…}` and
    /// `${file:…}` allowed.
    #[serde(default)]
    url: Option<String>,
    /// PostgreSQL connections per process.
    #[serde(default)]
    pool: Option<usize>,
}

/// PostgreSQL connections per process, unless `[store] pool` says.
const DEFAULT_POOL: usize = 16;

impl RawStore {
    fn location(self, base: &Path) -> Result<Location, String> {
        match (self.path, self.url) {
            (Some(path), None) if self.pool.is_none() => Ok(Location::Sqlite(base.join(path))),
            (Some(_), None) => Err("store.pool applies to PostgreSQL (store.url) only".into()),
            (None, Some(url)) => {
                let url = resolve_secret(&url).map_err(|e| format!("store.url: {e}"))?;
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err("store.url must be a postgres:// URL".into());
                }
                let pool = self.pool.unwrap_or(DEFAULT_POOL);
                if pool == 0 {
                    return Err("store.pool must be > 0".into());
                }
                Ok(Location::Postgres { url, pool })
            }
            (Some(_), Some(_)) => Err("[store] takes path (SQLite) or url (PostgreSQL), not both".into()),
            (None, None) => Err("[store] needs path (SQLite) or url (PostgreSQL)".into()),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_bulk_max_operations() -> usize {
    DEFAULT_BULK_MAX_OPERATIONS
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
        let mut raw: RawConfig =
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
        if let Some(url) = &mut raw.server.public_url {
            let trimmed = url.trim_end_matches('/');
            let valid = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
                && trimmed.parse::<hyper::Uri>().is_ok_and(|u| u.query().is_none() && u.authority().is_some());
            if !valid {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    message: format!("server.public_url {url:?}: an absolute http(s) URL without query"),
                });
            }
            *url = trimmed.to_owned();
        }
        if let Some(tls) = &mut raw.server.tls {
            let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            tls.cert_file = base.join(&tls.cert_file);
            tls.key_file = base.join(&tls.key_file);
        }
        if raw.server.bulk_max_operations == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: "server.bulk_max_operations must be > 0".into(),
            });
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
        let store =
            raw.store.location(&base).map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        Ok(Config {
            server: raw.server,
            store,
            tenants,
            tenant_files,
            tenants_dir: raw.tenants_dir.map(|d| base.join(d)),
            base_dir: base,
            admin: raw.admin,
        })
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
        assert_eq!(cfg.store, Location::Sqlite("/etc/sg/data/s.db".into()));
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
