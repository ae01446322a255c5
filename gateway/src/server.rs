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
}

/// Run the gateway until SIGTERM or Ctrl-C. Prints `listening on http://ADDR`
/// on stdout once it accepts connections (scripts and tests wait for it).
pub async fn run(config: Config, config_path: &std::path::Path, listen: Option<SocketAddr>) -> Result<(), ServeError> {
    let store = Store::open(&config.store_path)?;
    let (log, log_thread) = LogWriter::start(&store)?;
    // Every plugin compiles (or comes from the on-disk cache) before the
    // gateway accepts a request.
    let cache_dir = config.store_path.parent().map(|dir| dir.join("plugin-cache"));
    let engine = wasm_host::PluginEngine::new(wasm_host::EngineConfig { cache_dir, ..Default::default() })
        .map_err(|e| ServeError::Engine(e.to_string()))?;
    let metrics = Arc::new(crate::metrics::Metrics::new(config.server.metrics));
    let upstreams = crate::upstream::UpstreamPool::new(metrics.clone());
    let registry = Arc::new(Registry::start(&config, config_path, engine, upstreams)?);
    for tenant in &registry.names() {
        if store.live_tokens(Some(tenant))?.is_empty() {
            tracing::warn!(
                %tenant,
                "tenant has no token yet; issue one with: scimgate token issue --config {} --tenant {tenant}",
                config_path.display()
            );
        }
    }
    let admin_token = match &config.admin {
        Some(admin) => match std::env::var(&admin.token_env) {
            Ok(token) if token.len() >= 16 => Some(crate::admin::hash_token(&token)),
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
    let state = Arc::new(AppState {
        service: service.clone(),
        tokens: tokens.clone(),
        log,
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
        writeln!(out, "listening on http://{local}").and_then(|()| out.flush()).map_err(ServeError::Stdout)?;
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
    tracing::info!(%local, scim_base = %format!("http://{local}/scim/v2"), store = %config.store_path.display(), "serving");
    spawn_triggers(registry);
    serve(listener, state, shutdown_signal(), SHUTDOWN_GRACE).await;
    for task in [admin_task, metrics_task].into_iter().flatten() {
        task.abort();
    }
    // Flush the provisioning log of every request that was answered.
    log_thread.join();
    tracing::info!("stopped");
    Ok(())
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
