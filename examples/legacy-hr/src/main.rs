//! `legacy-hr`: a stand-in legacy HR system with its own JSON API (integer
//! ids, soft deletes, no PATCH, its own uniqueness rules, a rate limit),
//! for developing and testing scimgate connectors against. See README.md.

mod api;
mod clock;
mod error;
mod limit;
mod model;
mod query;
mod server;
mod store;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use tokio::net::TcpListener;

use crate::api::AppState;
use crate::limit::RateLimiter;
use crate::store::Store;

const API_KEY_ENV: &str = "LEGACY_HR_API_KEY";
const LOG_ENV: &str = "LEGACY_HR_LOG";

/// A stand-in legacy HR system with its own (non-SCIM) JSON API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (see the `listening on` line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8070")]
    listen: String,
    /// SQLite database file, created if missing.
    #[arg(long, value_name = "PATH", default_value = "legacy-hr.db")]
    db: PathBuf,
    /// The key clients send as `X-Api-Key` [default: $LEGACY_HR_API_KEY].
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Requests per second over all /api requests; 0 turns limiting off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    rate_limit: u32,
    /// Bucket size of the rate limiter [default: the rate].
    #[arg(long, value_name = "N")]
    burst: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = tokio::runtime::Runtime::new().context("starting the runtime").and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A one-line reason, whatever RUST_BACKTRACE says.
            eprintln!("legacy-hr: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Keys on the command line show up in `ps`; the variable is the quieter option.
    let api_key = match cli.api_key.or_else(|| std::env::var(API_KEY_ENV).ok()) {
        Some(key) if !key.is_empty() => key,
        _ => bail!("no API key: pass --api-key KEY or set {API_KEY_ENV}"),
    };
    let store = Store::open(&cli.db).with_context(|| format!("opening database {}", cli.db.display()))?;
    let state = Arc::new(AppState {
        store: Arc::new(store),
        api_key,
        limiter: RateLimiter::new(cli.rate_limit, cli.burst.unwrap_or(cli.rate_limit)),
    });

    // Install the handlers before announcing the address, so a supervisor
    // that signals right after reading the line gets a graceful stop.
    let shutdown = shutdown_signal().context("installing signal handlers")?;
    let listener = TcpListener::bind(&cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}").and_then(|()| stdout.flush()).context("writing to stdout")?;
    drop(stdout);
    tracing::info!(%addr, db = %cli.db.display(), rate_limit = cli.rate_limit, "legacy-hr started");

    server::serve(listener, state, shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// Logs go to stderr (stdout carries only the `listening on` line); the
/// level comes from `LEGACY_HR_LOG` (error, warn, info, debug, trace).
fn init_logging() {
    let level = std::env::var(LOG_ENV).ok().and_then(|l| l.parse().ok()).unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .init();
}

/// Resolves on SIGTERM or SIGINT (ctrl-c).
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Resolves on ctrl-c.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
