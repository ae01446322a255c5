//! The `scimgate` command line. Errors become `anyhow` here, at the edge.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use pipeline::Operation;
use scimgate::config::Config;
use scimgate::plugin_test::{self, HookName, PluginTest};
use scimgate::store::{LogQuery, Store};
use scimgate::tokens::TokenAuthority;

/// Counts each thread's live bytes so that a Rhai script's memory budget is
/// enforced (two thread-local additions per allocation).
#[global_allocator]
static ALLOC: pipeline::MeteredAlloc = pipeline::MeteredAlloc;

#[derive(Parser)]
#[command(name = "scimgate", version, about = "A SCIM 2.0 gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// Overrides `server.listen` (use port 0 for any free port).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Overrides `admin.listen` (the config must have an `[admin]` table).
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
    },
    /// Validate a config without serving: every tenant file parses, every
    /// mapping and filter is checked, every Rhai script compiles, every Wasm
    /// component links against the plugin contract. Exits 1 on any problem.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Issue, list and revoke bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Move the store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Work on plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Print a tenant's recent provisioning-log records, newest first.
    Log {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only records of this resource id.
        #[arg(long)]
        resource: Option<String>,
        /// Only this operation (create, get, list, search, replace, patch, delete, config).
        #[arg(long)]
        operation: Option<String>,
        /// Only this outcome (ok, error, linked, out_of_scope, left_scope).
        #[arg(long)]
        outcome: Option<String>,
        /// Only records at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only records at or before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run a plugin's hooks (a .wasm component, a .rhai script or a
    /// .toml mapping), or one connector operation, on a
    /// fixture document and print each hook's output and time.
    Test(TestArgs),
    /// Run a tenant's stored resources through its pipeline with a new
    /// version of one step, writing nothing, and report what would change:
    /// scope in or out, each target attribute before and after, match keys
    /// and links, hooks that start or stop failing.
    Preview(PreviewArgs),
    /// Write a plugin project that builds and passes its test as generated.
    New {
        /// The plugin's name: lower-case letters, digits and dashes.
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: scimgate::plugin_new::Lang,
        /// The hooks to stub, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "transform-in")]
        hooks: Vec<HookName>,
        /// Where to write it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// This repository's sdk/ directory (default: the one this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Args)]
struct TestArgs {
    /// The plugin file.
    plugin: PathBuf,
    /// A JSON file holding the SCIM document to run the hooks on.
    #[arg(long)]
    fixture: PathBuf,
    /// Run only this hook (default: every hook the plugin implements).
    #[arg(long, value_enum)]
    hook: Option<HookName>,
    /// The plugin's config values as JSON, or @FILE to read them from a file.
    #[arg(long, default_value = "{}")]
    config: String,
    /// The resource type the context names.
    #[arg(long, default_value = "User")]
    resource_type: String,
    /// The operation the context names (create, replace, patch, delete, get, list).
    #[arg(long, default_value = "create")]
    operation: String,
    /// The IdP profile the context names (entra, okta, onelogin, generic).
    #[arg(long, default_value = "generic", value_parser = ["entra", "okta", "onelogin", "generic"])]
    idp: String,
    /// The event an on-event hook hears (created, updated, deactivated, reactivated, deleted).
    #[arg(long, default_value = "created")]
    event: String,
    /// The resource id the context names (and a connector's get, update and delete take).
    #[arg(long)]
    id: Option<String>,
    /// Run this connector operation instead of hooks (the fixture is the
    /// document for create and update).
    #[arg(long, value_enum)]
    connector: Option<plugin_test::ConnectorOp>,
    /// The key a connector's find looks for, as ATTRIBUTE=VALUE.
    #[arg(long)]
    key: Option<String>,
    /// A JSON file of canned answers for `http.send`
    /// ([{"method", "url", "status", "headers", "body"}]; url may end in *).
    #[arg(long)]
    http: Option<PathBuf>,
    /// A JSON file with the expected output; exit 1 with a diff when it differs.
    #[arg(long)]
    expect: Option<PathBuf>,
}

#[derive(Args)]
struct PreviewArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long)]
    tenant: String,
    /// The step to replace, counted from 1 as `check` counts them.
    #[arg(long)]
    step: usize,
    /// The new version of the step: a .wasm component or a .rhai script.
    #[arg(long = "with")]
    with: PathBuf,
    /// The step's config values as JSON (or @FILE) instead of its current ones.
    #[arg(long)]
    step_config: Option<String>,
    /// Only this resource type (User or Group).
    #[arg(long)]
    resource_type: Option<String>,
    /// Changes printed one by one; the summary counts them all.
    #[arg(long, default_value_t = 1000)]
    max_changes: usize,
    /// Newline-delimited JSON events (progress, changes, summary), as the
    /// admin API streams them.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy an embedded (SQLite) store into an empty PostgreSQL database,
    /// then check that every table has as many rows on both sides. Stop
    /// the gateway first: writes made during the copy would be missed.
    Migrate {
        /// The SQLite file (`[store] path`).
        #[arg(long)]
        from: PathBuf,
        /// `postgres://USER:PASS@HOST:PORT/DB`; `${env:NAME}` is resolved.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new token for a tenant (shown once; only its hash is kept).
    Issue {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Print it as HTTP Basic credentials (`username:` and `password:`
        /// lines), for IdPs in Basic mode (Okta).
        #[arg(long)]
        basic: bool,
    },
    /// List live tokens (ids, never secrets).
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a token by id.
    Revoke {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        id: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => {
            let results = scimgate::reload::check(&config).with_context(|| format!("checking {}", config.display()))?;
            let mut failed = 0;
            for scimgate::reload::TenantCheck { tenant, outcome } in &results {
                match outcome {
                    Ok(steps) => println!("ok      {tenant} ({steps} steps)"),
                    Err(problem) => {
                        failed += 1;
                        println!("FAILED  {tenant}: {problem}");
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {} tenants have problems", results.len());
            }
            println!("{}: {} tenants, all valid", config.display(), results.len());
        }
        Command::Serve { config: path, listen, admin_listen } => {
            init_tracing();
            let mut config = Config::load(&path)?;
            if let Some(addr) = admin_listen {
                let Some(admin) = config.admin.as_mut() else {
                    bail!("--admin-listen needs an [admin] table in the config")
                };
                admin.listen = addr;
            }
            // Reloads build tenants on blocking-pool threads, and compiling a
            // component or a script recurses deeply: the stack a main thread
            // has, not tokio's 2 MiB default (only touched pages cost memory).
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_stack_size(8 << 20)
                .build()
                .context("starting tokio")?;
            runtime.block_on(scimgate::server::run(config, &path, listen))?;
        }
        Command::Token { command } => token(command)?,
        Command::Store { command: StoreCommand::Migrate { from, to } } => {
            let url = scimgate::config::resolve_secret(&to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
            let target = Store::connect(&url, 1)?;
            let counts = scimgate::store::copy_sqlite_to(&from, &target)?;
            for c in &counts {
                println!("{:<18} {:>10} rows copied, {:>10} in the target", c.table, c.source, c.target);
            }
            println!("{} copied into {}: every count matches", from.display(), target.describe());
        }
        Command::Plugin { command: PluginCommand::Test(args) } => plugin_test_command(args)?,
        Command::Plugin { command: PluginCommand::Preview(args) } => preview(args)?,
        Command::Plugin { command: PluginCommand::New { name, lang, mut hooks, dir, sdk } } => {
            hooks.sort_by_key(|h| *h as u8);
            hooks.dedup();
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let sdk = sdk.unwrap_or_else(scimgate::plugin_new::default_sdk);
            let new = scimgate::plugin_new::NewPlugin { name: &name, lang, hooks: &hooks, dir: &dir, sdk: &sdk };
            let files = scimgate::plugin_new::create(&new)?;
            for file in &files {
                println!("wrote {}", file.display());
            }
            eprintln!("next: read {}", dir.join("README.md").display());
        }
        Command::Log { config, tenant, limit, resource, operation, outcome, since, until, json } => {
            let config = load(&config)?;
            require_tenant(&config, &tenant)?;
            let store = Store::open_location(&config.store)?;
            let query =
                LogQuery { tenant, limit, resource_id: resource, operation, outcome, since, until, before: None };
            for r in store.recent_log_blocking(&query)? {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{}  {:<7} {:<5} {:<6} {:<36} {:>3} {:>8.2}ms {}",
                        r.time,
                        r.operation,
                        r.resource_type.as_deref().unwrap_or("-"),
                        r.outcome,
                        r.resource_id.as_deref().unwrap_or("-"),
                        r.status,
                        r.duration_ms,
                        r.error.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue { config, tenant, basic } => {
            let config = load(&config)?;
            require_tenant(&config, &tenant)?;
            let issued = TokenAuthority::new(Store::open_location(&config.store)?).issue(&tenant)?;
            eprintln!("token {} issued for tenant {tenant}; it is shown once, store it now", issued.id);
            if basic {
                println!("username: {}", issued.id);
                println!("password: {}", issued.token);
            } else {
                println!("{}", issued.token);
            }
        }
        TokenCommand::List { config, tenant } => {
            let config = load(&config)?;
            for row in Store::open_location(&config.store)?.live_tokens(tenant.as_deref())? {
                println!("{}\t{}\t{}", row.id, row.tenant, row.created);
            }
        }
        TokenCommand::Revoke { config, id } => {
            let config = load(&config)?;
            if !Store::open_location(&config.store)?.revoke_token(&id)? {
                bail!("no live token with id {id}");
            }
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}

/// `plugin test`: exits 1 when a hook fails or the output is not the expected one.
fn plugin_test_command(args: TestArgs) -> anyhow::Result<()> {
    let config = read_json_arg(&args.config).context("--config")?;
    let find_key = match args.key.as_deref() {
        None => None,
        Some(pair) => match pair.split_once('=') {
            Some((attribute, value)) => Some((attribute.to_owned(), value.to_owned())),
            None => bail!("--key takes ATTRIBUTE=VALUE, not {pair}"),
        },
    };
    let report = plugin_test::run(&PluginTest {
        plugin: &args.plugin,
        fixture: &args.fixture,
        hook: args.hook,
        config,
        resource_type: args.resource_type,
        operation: parse_operation(&args.operation)?,
        idp: args.idp,
        event: parse_event(&args.event)?,
        resource_id: args.id,
        connector: args.connector,
        find_key,
        http: args.http.as_deref(),
        expect: args.expect.as_deref(),
    })?;
    print!("{}", report.render());
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}

fn parse_event(s: &str) -> anyhow::Result<pipeline::Event> {
    use pipeline::Event;
    Ok(match s {
        "created" => Event::Created,
        "updated" => Event::Updated,
        "deactivated" => Event::Deactivated,
        "reactivated" => Event::Reactivated,
        "deleted" => Event::Deleted,
        other => bail!("unknown event '{other}' (created, updated, deactivated, reactivated, deleted)"),
    })
}

/// `plugin preview`: both pipelines built from the config file, the store
/// read where the gateway keeps it; progress on stderr.
fn preview(args: PreviewArgs) -> anyhow::Result<()> {
    use scimgate::preview::{self, Event, Preview};
    use scimgate::store::ResourceKind;
    let config = load(&args.config)?;
    require_tenant(&config, &args.tenant)?;
    let step_config = match args.step_config.as_deref() {
        None => None,
        Some(text) => Some(read_json_arg(text).context("--step-config")?),
    };
    let kinds = match args.resource_type.as_deref() {
        None => vec![ResourceKind::User, ResourceKind::Group],
        Some("User") => vec![ResourceKind::User],
        Some("Group") => vec![ResourceKind::Group],
        Some(other) => bail!("--resource-type must be User or Group, not {other}"),
    };
    let tenant_config = &config.tenants[&args.tenant];
    let plugin = std::path::absolute(&args.with).context("--with")?;
    let variant = preview::variant(tenant_config, args.step, &plugin, step_config.as_ref())?;
    let engine = wasm_host::PluginEngine::new(wasm_host::EngineConfig {
        cache_dir: Some(config.plugin_cache()),
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let metrics = std::sync::Arc::new(scimgate::metrics::Metrics::new(config.server.metrics));
    let upstreams = scimgate::upstream::UpstreamPool::new(metrics);
    let build = |c| scimgate::tenant::build(&args.tenant, c, &engine, &upstreams, 0).map(std::sync::Arc::new);
    let before = build(tenant_config)?;
    let after = build(&variant).context("the new version of the step")?;
    let store = Store::open_location(&config.store)?;
    let run = Preview { store, before, after, kinds, max_changes: args.max_changes };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
        .context("starting tokio")?;
    runtime.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let worker = tokio::spawn(preview::run(run, tx));
        let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        while let Some(event) = rx.recv().await {
            if args.json {
                println!("{}", serde_json::to_string(&event)?);
                continue;
            }
            match event {
                Event::Progress { done, total } if progress => eprint!("\rpreviewed {done} of {total}"),
                Event::Progress { .. } => {}
                Event::Change(change) => println!("{}", preview::describe(&change)),
                Event::Summary(summary) => {
                    if progress {
                        eprintln!();
                    }
                    println!("{}", preview::describe_summary(&summary));
                }
            }
        }
        worker.await.context("the preview stopped")??;
        anyhow::Ok(())
    })
}

/// A JSON argument, or `@FILE` to read it from a file.
fn read_json_arg(text: &str) -> anyhow::Result<serde_json::Value> {
    let text = match text.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
        None => text.to_owned(),
    };
    serde_json::from_str(&text).context("not JSON")
}

fn parse_operation(s: &str) -> anyhow::Result<Operation> {
    Ok(match s {
        "create" => Operation::Create,
        "replace" => Operation::Replace,
        "patch" => Operation::Patch,
        "delete" => Operation::Delete,
        "get" => Operation::Get,
        "list" => Operation::List,
        other => bail!("unknown operation '{other}' (create, replace, patch, delete, get, list)"),
    })
}

/// The config for the token and log commands: a tenant file that does not
/// parse is reported but does not stop work on the others.
fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    let (config, broken) = Config::load_lenient(path)?;
    for (tenant, problem) in broken {
        eprintln!("warning: tenant {tenant} is left out: {problem}");
    }
    Ok(config)
}

fn require_tenant(config: &Config, tenant: &str) -> anyhow::Result<()> {
    if !config.tenants.contains_key(tenant) {
        let known: Vec<&str> = config.tenants.keys().map(String::as_str).collect();
        bail!("no tenant '{tenant}' in the config (tenants: {})", known.join(", "));
    }
    Ok(())
}

/// Process logs go to stderr: human-readable, or JSON with `SCIMGATE_LOG_FORMAT=json`.
/// `RUST_LOG` sets the level (default `info`; `warn` keeps per-request lines out).
/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans (request, hooks, upstream
/// calls; the gateway's own, at debug and above) are also exported over OTLP,
/// whatever the log level, with `OTEL_EXPORTER_OTLP_HEADERS` on each export.
fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::{EnvFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let logs = if std::env::var("SCIMGATE_LOG_FORMAT").is_ok_and(|v| v == "json") {
        tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_filter(filter).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).with_filter(filter).boxed()
    };
    let otlp =
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.trim().is_empty()).and_then(|endpoint| {
            let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "scimgate".into());
            let headers =
                match scimgate::otlp::parse_headers(&std::env::var("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default()) {
                    Ok(headers) => headers,
                    Err(e) => {
                        eprintln!("scimgate: OTLP export disabled: OTEL_EXPORTER_OTLP_HEADERS: {e}");
                        return None;
                    }
                };
            match scimgate::otlp::layer(&endpoint, &service, headers) {
                Ok(layer) => Some(layer.with_filter(Targets::new().with_target("scimgate", tracing::Level::DEBUG))),
                Err(e) => {
                    eprintln!("scimgate: OTLP export disabled: {e}");
                    None
                }
            }
        });
    tracing_subscriber::registry().with(logs).with(otlp).init();
}
