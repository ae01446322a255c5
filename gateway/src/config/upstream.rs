//! A tenant's upstream: the SCIM service or connector plugin its
//! resources go to, the gateway's credential there, and the outbound
//! limits (throttle, breaker).

use std::path::PathBuf;

use serde::Deserialize;

use super::InstanceMode;

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
    /// The memory cap; unset, the component's language's
    /// (`wasm_host::Language::default_limits`: 32 MiB compiled, 64 MiB for
    /// JavaScript and Python).
    pub memory_mib: Option<usize>,
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
        let memory_mib =
            if table.contains_key("memory_mib") { Some(int(&mut table, "memory_mib", 0)? as usize) } else { None };
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
