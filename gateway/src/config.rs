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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { listen: default_listen(), max_body_bytes: default_max_body() }
    }
}

/// Per-tenant settings. Empty for now: a tenant is a name its tokens map to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    store: RawStore,
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
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
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
        Ok(Config { server: raw.server, store_path: base.join(raw.store.path), tenants: raw.tenants })
    }
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
