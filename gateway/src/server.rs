//! `scimgate serve`: open the store, bind, serve, shut down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::listener::{AppState, serve};
use crate::reload::{Registry, spawn_triggers};
use crate::service::{BulkLimits, Service};
use crate::store::{LogWriter, Store};
use crate::tokens::TokenAuthority;

/// How long in-flight requests may take to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tenant(#[from] crate::tenant::TenantError),
    #[error("the admin API needs a token of at least 16 characters in the environment variable {0}")]
    AdminToken(String),
    #[error("cannot start the plugin engine: {0}")]
    Engine(String),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("cannot start notifications: {0}")]
    Notify(#[from] crate::outbound::ClientError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Run the gateway until SIGTERM or Ctrl-C. Prints `listening on http://ADDR`
/// on stdout once it accepts connections (scripts and tests wait for it).
pub async fn run(config: Config, config_path: &std::path::Path, listen: Option<SocketAddr>) -> Result<(), ServeError> {
    let store = Store::open_location(&config.store)?;
    let (log, log_thread) = LogWriter::start(&store)?;
    // Every plugin compiles (or comes from the on-disk cache) before the
    // gateway accepts a request.
    let cache_dir = Some(config.plugin_cache());
    let engine = wasm_host::PluginEngine::new(wasm_host::EngineConfig { cache_dir, ..Default::default() })
        .map_err(|e| ServeError::Engine(e.to_string()))?;
    let metrics = Arc::new(crate::metrics::Metrics::new(config.server.metrics));
    let upstreams = crate::upstream::UpstreamPool::new(metrics.clone());
    let replicas = upstreams.replicas();
    let registry = Arc::new(Registry::start(&config, config_path, engine, upstreams)?);
    // Tenants without a token: told how to issue one, or given one once the
    // listeners are up (`print_first_token`).
    let mut first_tokens = Vec::new();
    for tenant in registry.names() {
        if !store.live_tokens(Some(&tenant))?.is_empty() {
            continue;
        }
        if config.tenants.get(&tenant).is_some_and(|t| t.print_first_token) {
            first_tokens.push(tenant);
        } else {
            tracing::warn!(
                %tenant,
                "tenant has no token yet; issue one with: scimgate token issue --config {} --tenant {tenant}",
                config_path.display()
            );
        }
    }
    // An admin token made for this run is printed once the listeners are up.
    let mut generated_admin_token = None;
    let admin_token = match &config.admin {
        Some(admin) => match std::env::var(&admin.token_env) {
            Ok(token) if token.len() >= 16 => Some(crate::admin::hash_token(&token)),
            Err(std::env::VarError::NotPresent) if admin.generate_token => {
                let token = crate::tokens::random_secret();
                let hash = crate::admin::hash_token(&token);
                generated_admin_token = Some(token);
                Some(hash)
            }
            _ => return Err(ServeError::AdminToken(admin.token_env.clone())),
        },
        None => None,
    };
    let bulk = BulkLimits {
        max_operations: config.server.bulk_max_operations,
        max_payload_bytes: config.server.max_body_bytes,
    };
    let service = Arc::new(Service::new(store.clone(), metrics.clone(), bulk));
    let webhooks = {
        let registry = registry.clone();
        Arc::new(move |tenant: &str| registry.get(tenant).and_then(|t| t.webhook.clone()))
    };
    let notifier = Arc::new(crate::notify::Notifier::start(webhooks)?);
    {
        let notifier = notifier.clone();
        registry.upstreams().set_change_hook(Arc::new(move |tenant: &str, entered: bool, reason: &str| {
            notifier.quarantine(tenant, entered, reason)
        }));
    }
    let tokens = Arc::new(TokenAuthority::new(store.clone()));
    let tokens_for_print = tokens.clone();
    let tls = match &config.server.tls {
        Some(tls) => Some(crate::tls::TlsCertificate::load(tls)?),
        None => None,
    };
    let state = Arc::new(AppState {
        tls: tls.clone(),
        service: service.clone(),
        tokens: tokens.clone(),
        log: log.clone(),
        tenants: registry.clone(),
        max_body_bytes: config.server.max_body_bytes,
        forwarded: crate::forwarded::ForwardedPolicy {
            public_url: config.server.public_url.clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
        },
        metrics: metrics.clone(),
        notifier,
    });
    let addr = listen.unwrap_or(config.server.listen);
    let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let scheme = if tls.is_some() { "https" } else { "http" };
        writeln!(out, "listening on {scheme}://{local}").and_then(|()| out.flush()).map_err(ServeError::Stdout)?;
    }
    let probes = Arc::new(crate::admin::Probes {
        store: service.store().clone(),
        tenants: registry.clone(),
        metrics: metrics.clone(),
    });
    let admin_task = match (&config.admin, admin_token) {
        (Some(admin), Some(token_hash)) => {
            let addr = admin.listen;
            let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
            let admin_state = Arc::new(crate::admin::AdminState {
                service,
                tenants: registry.clone(),
                tokens,
                probes: probes.clone(),
                token_hash,
                max_body_bytes: config.server.max_body_bytes,
                log: log.clone(),
                console: crate::admin::console::Sessions::default(),
            });
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "admin listening on http://{local}")
                .and_then(|()| out.flush())
                .map_err(ServeError::Stdout)?;
            Some(tokio::spawn(crate::admin::serve(listener, admin_state)))
        }
        _ => None,
    };
    let metrics_task = match config.server.metrics_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "metrics listening on http://{local}")
                .and_then(|()| out.flush())
                .map_err(ServeError::Stdout)?;
            Some(tokio::spawn(crate::admin::serve_probes(listener, probes.clone())))
        }
        None => None,
    };
    let scheme = if state.tls.is_some() { "https" } else { "http" };
    let scim_base = format!("{scheme}://{local}/scim/v2");
    // Token writes wait for the store's writer: not on an async worker.
    crate::blocking::run(|| print_first_tokens(&first_tokens, &tokens_for_print, &scim_base, generated_admin_token))?;
    tracing::info!(%local, scim_base = %format!("http://{local}/scim/v2"), store = %store.describe(), "serving");
    spawn_triggers(registry);
    let tls_watch = tls.map(|tls| tokio::spawn(tls.watch()));
    let replica_id = uuid::Uuid::new_v4().to_string();
    let heartbeat = store.is_shared().then(|| tokio::spawn(heartbeat(store.clone(), replica_id.clone(), replicas)));
    serve(listener, state, shutdown_signal(), SHUTDOWN_GRACE).await;
    for task in [admin_task, metrics_task, tls_watch, heartbeat].into_iter().flatten() {
        task.abort();
    }
    if store.is_shared()
        && let Err(e) = store.leave(&replica_id).await
    {
        tracing::warn!(error = %e, "cannot sign off as a replica; the others notice in seconds");
    }
    // Flush the provisioning log of every request that was answered.
    log_thread.join();
    tracing::info!("stopped");
    Ok(())
}

/// The quickstart's first-start lines: for each of `tenants` (those with
/// `print_first_token` and no live token at start), a new token with the SCIM URL
/// (shown once: only its hash is stored); and an admin token made for this
/// run. After the `listening on` lines, so tools that read those first
/// still find them.
fn print_first_tokens(
    tenants: &[String],
    tokens: &TokenAuthority,
    scim_base: &str,
    admin_token: Option<String>,
) -> Result<(), ServeError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for name in tenants {
        let issued = tokens.issue(name)?;
        writeln!(out, "tenant {name}: SCIM base URL {scim_base}, bearer token (shown once) {}", issued.token)
            .map_err(ServeError::Stdout)?;
    }
    if let Some(token) = admin_token {
        writeln!(out, "admin token for this run (SCIMGATE_ADMIN_TOKEN unset): {token}").map_err(ServeError::Stdout)?;
    }
    out.flush().map_err(ServeError::Stdout)
}

/// How often a replica on a shared store says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A replica silent this long no longer takes a share of upstream rates.
const ALIVE_WITHIN_MS: i64 = 3_000;
/// How many beats apart the store's new tables are checked for statistics.
const ANALYZE_EVERY_BEATS: u64 = 5;
/// A replica silent this long is forgotten (its row deleted).
const FORGET_AFTER_MS: i64 = 60_000;

/// Keep this replica's row fresh and every upstream throttle's share of
/// its rate equal to 1 / (replicas alive); see that fast-grown tables have
/// statistics.
async fn heartbeat(store: Store, id: String, replicas: crate::upstream::throttle::Replicas) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    for n in 0u64.. {
        beat.tick().await;
        if n % ANALYZE_EVERY_BEATS == 0 {
            match store.analyze_new_tables().await {
                Ok(tables) if !tables.is_empty() => {
                    tracing::info!(?tables, "analyzed tables that grew without statistics")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot analyze the store's tables"),
            }
        }
        match store.heartbeat(&id, ALIVE_WITHIN_MS, FORGET_AFTER_MS).await {
            Ok(alive) => {
                if alive != replicas.get() {
                    tracing::info!(replicas = alive, "replicas sharing upstream rates");
                }
                replicas.set(alive);
            }
            // Keep the last count: a store that does not answer fails the
            // requests themselves, not the throttle.
            Err(e) => tracing::warn!(error = %e, "replica heartbeat failed"),
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the gateway");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
