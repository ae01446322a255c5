//! The live set of tenant snapshots, and reloading it without a restart.
//!
//! A request takes the `Arc<Tenant>` of its token's tenant once and runs on
//! it to the end; a reload builds new snapshots completely off the request
//! path, then swaps the map in one step. Per tenant:
//!
//! - unchanged (same config, same step file contents): the running snapshot
//!   is kept, instances and all;
//! - changed and valid: replaced, with a new version;
//! - changed and invalid (its file does not parse, a script does not
//!   compile, a component does not link): the running snapshot keeps
//!   serving and the error is kept for the admin API and logged;
//! - removed: gone from the map, so its tokens stop working at once.
//!
//! Reloads come from a file watcher (mtime polling of the main config, the
//! tenants directory and every step file, debounced), `SIGHUP` and
//! `POST /admin/reload`; they are serialized. Within a reload the changed
//! tenants build side by side (a thread per core) and each goes live as
//! soon as it is built, so one slow tenant delays no other. Listener, store
//! and admin settings are read at start only.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasm_host::PluginEngine;

use crate::config::{Config, ConfigError, TenantConfig};
use crate::store::now_rfc3339;
use crate::tenant::{Tenant, TenantError, build};
use crate::upstream::UpstreamPool;

/// How often the watcher looks at file modification times.
const POLL: Duration = Duration::from_millis(100);
/// Changes must stay still this long before a reload (editors write twice).
const DEBOUNCE: Duration = Duration::from_millis(50);
/// The stack of a tenant-build helper thread (a main thread's size).
const BUILD_STACK_BYTES: usize = 8 << 20;

type TenantMap = HashMap<String, Arc<Tenant>>;

/// What the admin API shows per tenant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantStatus {
    /// The running snapshot's version; none if it never loaded.
    pub version: Option<u64>,
    pub loaded_at: Option<String>,
    pub file: Option<PathBuf>,
    /// Why the latest change was refused (file, line and reason where known).
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// Why [`Registry::build_variant`] built nothing.
#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    #[error("no running tenant {0}")]
    NotRunning(String),
    #[error("the config of tenant {0} changed on disk since it was loaded: reload it first")]
    Outdated(String),
    #[error(transparent)]
    Config(ConfigError),
    #[error("{0}")]
    Edit(String),
    #[error(transparent)]
    Build(TenantError),
}

/// What one reload did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    /// Tenants whose new version was refused: (tenant, reason).
    pub failed: Vec<(String, String)>,
    /// The main config did not load: nothing changed.
    pub error: Option<String>,
}

pub struct Registry {
    config_path: PathBuf,
    engine: PluginEngine,
    /// Upstreams outlive snapshots when their config does not change.
    upstreams: UpstreamPool,
    tenants: RwLock<Arc<TenantMap>>,
    /// Per tenant: the fingerprint of the config and files its snapshot was built from.
    fingerprints: Mutex<HashMap<String, [u8; 32]>>,
    status: Mutex<BTreeMap<String, TenantStatus>>,
    next_version: AtomicU64,
    /// One reload at a time.
    reloading: Mutex<()>,
    /// What the watcher stats (see [`Registry::set_watch_list`]).
    watch_list: Mutex<Vec<PathBuf>>,
    digests: DigestCache,
    reloads_ok: AtomicU64,
    reloads_refused: AtomicU64,
}

impl Registry {
    /// Build every tenant of `config`; any failure stops the start.
    pub fn start(
        config: &Config,
        config_path: &Path,
        engine: PluginEngine,
        upstreams: UpstreamPool,
    ) -> Result<Registry, TenantError> {
        let registry = Registry {
            config_path: config_path.to_owned(),
            engine,
            upstreams,
            tenants: RwLock::new(Arc::new(HashMap::new())),
            fingerprints: Mutex::new(HashMap::new()),
            status: Mutex::new(BTreeMap::new()),
            next_version: AtomicU64::new(1),
            reloading: Mutex::new(()),
            watch_list: Mutex::new(Vec::new()),
            digests: DigestCache::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_refused: AtomicU64::new(0),
        };
        registry.set_watch_list(config);
        let jobs: Vec<_> =
            config.tenants.iter().map(|(name, c)| (name.as_str(), c, registry.digests.fingerprint(c))).collect();
        let built = registry.build_side_by_side(&jobs, |_, _| {});
        let mut map = TenantMap::new();
        for ((name, _, print), result) in jobs.into_iter().zip(built) {
            let tenant = result?;
            registry.remember(name, print, &tenant, config.tenant_files.get(name));
            map.insert(name.to_owned(), tenant);
        }
        *registry.tenants.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        Ok(registry)
    }

    /// The directory step files are named relative to.
    pub fn config_dir(&self) -> &Path {
        self.config_path.parent().unwrap_or(Path::new("."))
    }

    /// The upstreams of every tenant (to hear about their quarantine).
    pub fn upstreams(&self) -> &UpstreamPool {
        &self.upstreams
    }

    /// The running snapshot of one tenant.
    pub fn get(&self, name: &str) -> Option<Arc<Tenant>> {
        self.tenants.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// The tenant that accepts Entra-issued tokens from `issuer`.
    pub fn by_jwt_issuer(&self, issuer: &str) -> Option<Arc<Tenant>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner()).clone();
        tenants.values().find(|t| t.entra_jwt.as_ref().is_some_and(|j| j.issuer() == issuer)).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tenants.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        names.sort();
        names
    }

    /// What the metrics endpoint reports about snapshots and reloads.
    pub fn facts(&self) -> crate::metrics::SnapshotFacts {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut versions: Vec<(String, u64)> = tenants.iter().map(|(n, t)| (n.clone(), t.version)).collect();
        versions.sort();
        let mut upstreams: Vec<(String, bool, usize)> = tenants
            .iter()
            .filter_map(|(n, t)| t.upstream.as_ref().map(|u| (n.clone(), u.is_quarantined(), u.throttle_waiting())))
            .collect();
        upstreams.sort();
        crate::metrics::SnapshotFacts {
            versions,
            upstreams,
            reloads_ok: self.reloads_ok.load(Ordering::Relaxed),
            reloads_failed: self.reloads_refused.load(Ordering::Relaxed),
        }
    }

    pub fn status(&self) -> BTreeMap<String, TenantStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn remember(&self, name: &str, print: [u8; 32], tenant: &Tenant, file: Option<&PathBuf>) {
        self.fingerprints.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned(), print);
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let entry = status.entry(name.to_owned()).or_default();
        entry.version = Some(tenant.version);
        entry.loaded_at = Some(tenant.loaded_at.clone());
        entry.file = file.cloned();
        entry.last_error = None;
        entry.last_error_at = None;
    }

    fn refuse(&self, name: &str, reason: String, file: Option<&PathBuf>) {
        tracing::error!(tenant = %name, %reason, "new tenant configuration refused; the running one stays");
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let entry = status.entry(name.to_owned()).or_default();
        if file.is_some() {
            entry.file = file.cloned();
        }
        entry.last_error = Some(reason);
        entry.last_error_at = Some(now_rfc3339());
    }

    /// Read the config again and swap in every tenant that changed and
    /// builds. Blocking (it compiles): call it off the async workers.
    pub fn reload(&self) -> ReloadReport {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = ReloadReport::default();
        let (config, broken) = match Config::load_lenient(&self.config_path) {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; everything keeps running as it was");
                report.error = Some(e.to_string());
                self.reloads_refused.fetch_add(1, Ordering::Relaxed);
                return report;
            }
        };
        let current = self.tenants.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut next: TenantMap = TenantMap::new();
        let broken: HashMap<String, ConfigError> = broken.into_iter().collect();
        for (name, error) in &broken {
            // A tenant whose file does not parse keeps its running snapshot.
            if let Some(tenant) = current.get(name) {
                next.insert(name.clone(), tenant.clone());
            }
            self.refuse(name, error.to_string(), None);
            report.failed.push((name.clone(), error.to_string()));
        }
        let mut changed = Vec::new();
        for (name, tenant_config) in &config.tenants {
            let print = self.digests.fingerprint(tenant_config);
            let known = self.fingerprints.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied();
            match current.get(name) {
                Some(tenant) if known == Some(print) => {
                    next.insert(name.clone(), tenant.clone());
                    report.unchanged += 1;
                }
                _ => changed.push((name.as_str(), tenant_config, print)),
            }
        }
        // Each changed tenant goes live as soon as it is built.
        let built = self.build_side_by_side(&changed, |name, tenant| self.publish(name, tenant));
        for ((name, _, print), result) in changed.into_iter().zip(built) {
            let name = name.to_owned();
            match result {
                Ok(tenant) => {
                    self.remember(&name, print, &tenant, config.tenant_files.get(&name));
                    if current.contains_key(&name) {
                        report.changed.push(name.clone());
                    } else {
                        report.added.push(name.clone());
                    }
                    next.insert(name, tenant);
                }
                Err(e) => {
                    if let Some(tenant) = current.get(&name) {
                        next.insert(name.clone(), tenant.clone());
                    }
                    self.refuse(&name, e.to_string(), config.tenant_files.get(&name));
                    report.failed.push((name, e.to_string()));
                }
            }
        }
        for name in current.keys() {
            if !next.contains_key(name) {
                report.removed.push(name.clone());
                self.fingerprints.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
                self.status.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
            }
        }
        *self.tenants.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        self.set_watch_list(&config);
        let counter = if report.failed.is_empty() { &self.reloads_ok } else { &self.reloads_refused };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            added = ?report.added, changed = ?report.changed, removed = ?report.removed,
            failed = report.failed.len(), unchanged = report.unchanged, "reloaded"
        );
        report
    }

    /// The running snapshot of `name`, and a snapshot built from its config
    /// as `edit` changes it, never published: what a preview compares.
    /// Blocking (it may compile). Refused when the config on disk is no
    /// longer what the running snapshot was built from: the preview would
    /// mix in changes the operator has not loaded yet.
    pub fn build_variant<E: std::fmt::Display>(
        &self,
        name: &str,
        edit: impl FnOnce(&TenantConfig) -> Result<TenantConfig, E>,
    ) -> Result<(Arc<Tenant>, Arc<Tenant>), VariantError> {
        let running = self.get(name).ok_or_else(|| VariantError::NotRunning(name.to_owned()))?;
        let (config, _) = Config::load_lenient(&self.config_path).map_err(VariantError::Config)?;
        let current = config.tenants.get(name).ok_or_else(|| VariantError::Outdated(name.to_owned()))?;
        let known = self.fingerprints.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied();
        if known != Some(self.digests.fingerprint(current)) {
            return Err(VariantError::Outdated(name.to_owned()));
        }
        let edited = edit(current).map_err(|e| VariantError::Edit(e.to_string()))?;
        let variant = build(name, &edited, &self.engine, &self.upstreams, 0).map_err(VariantError::Build)?;
        Ok((running, Arc::new(variant)))
    }

    /// Build `jobs` (name, config, fingerprint) on up to one thread per
    /// core, results in the order of `jobs`; `built` hears of each success
    /// as it happens. A tenant that takes long to build (a large script, a
    /// component not yet compiled) holds up only its own thread.
    fn build_side_by_side(
        &self,
        jobs: &[(&str, &TenantConfig, [u8; 32])],
        built: impl Fn(&str, &Arc<Tenant>) + Sync,
    ) -> Vec<Result<Arc<Tenant>, TenantError>> {
        let next_job = AtomicUsize::new(0);
        let work = || {
            let mut mine = Vec::new();
            loop {
                let index = next_job.fetch_add(1, Ordering::Relaxed);
                let Some((name, config, _)) = jobs.get(index) else { return mine };
                let version = self.next_version.fetch_add(1, Ordering::Relaxed);
                let result = build(name, config, &self.engine, &self.upstreams, version).map(Arc::new);
                if let Ok(tenant) = &result {
                    built(name, tenant);
                }
                mine.push((index, result));
            }
        };
        // This thread builds too; the helpers take the jobs it has not
        // reached. A helper that cannot be spawned leaves its share here.
        let helpers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(jobs.len()).saturating_sub(1);
        let mut done: Vec<(usize, Result<Arc<Tenant>, TenantError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..helpers)
                .filter_map(|_| {
                    // Compiling a component or a script recurses deeply: give
                    // a helper the stack a main thread has, not a spawned
                    // thread's 2 MiB.
                    let helper = std::thread::Builder::new().name("tenant-build".into()).stack_size(BUILD_STACK_BYTES);
                    helper
                        .spawn_scoped(scope, work)
                        .inspect_err(|e| tracing::warn!(error = %e, "cannot start a tenant-build thread"))
                        .ok()
                })
                .collect();
            let mut all = work();
            // A builder that panicked takes the reload down with it, as one
            // build on this thread would have.
            for handle in handles {
                all.extend(handle.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            all
        });
        done.sort_by_key(|(index, _)| *index);
        done.into_iter().map(|(_, result)| result).collect()
    }

    /// Put one tenant's new snapshot live, leaving the others as they are.
    fn publish(&self, name: &str, tenant: &Arc<Tenant>) {
        let mut live = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        let mut map = TenantMap::clone(&live);
        map.insert(name.to_owned(), tenant.clone());
        *live = Arc::new(map);
    }

    /// Record what the watcher must look at after a (re)load: the main
    /// config, the tenants directory (for added files), every tenant file
    /// and every step file. Polling then only stats files; it never parses.
    fn set_watch_list(&self, config: &Config) {
        let mut files = vec![self.config_path.clone()];
        files.extend(config.tenants_dir.iter().cloned());
        files.extend(config.tenant_files.values().cloned());
        for tenant in config.tenants.values() {
            files.extend(tenant.step_files().into_iter().map(Path::to_owned));
        }
        files.sort();
        files.dedup();
        *self.watch_list.lock().unwrap_or_else(|e| e.into_inner()) = files;
    }

    /// The modification stamps of the watched files, and the entries of the
    /// tenants directory (a directory's mtime changes when a file is added,
    /// removed or renamed into it).
    fn stamps(&self) -> Vec<Option<FileStamp>> {
        let files = self.watch_list.lock().unwrap_or_else(|e| e.into_inner()).clone();
        files.iter().map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
    }
}

/// File contents' SHA-256, remembered by path, modification time and size,
/// so that a reload of many tenants sharing a plugin hashes it once.
#[derive(Default)]
struct DigestCache(Mutex<HashMap<PathBuf, (FileStamp, [u8; 32])>>);

/// A file's modification time and size.
type FileStamp = (SystemTime, u64);

impl DigestCache {
    fn digest(&self, path: &Path) -> [u8; 32] {
        let stamp = std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stamp) = stamp
            && let Some((seen, digest)) = cache.get(path)
            && *seen == stamp
        {
            return *digest;
        }
        let digest: [u8; 32] = match std::fs::read(path) {
            Ok(bytes) => Sha256::digest(&bytes).into(),
            Err(e) => Sha256::digest(e.to_string().as_bytes()).into(),
        };
        if let Some(stamp) = stamp {
            cache.insert(path.to_owned(), (stamp, digest));
        }
        digest
    }

    /// A hash of a tenant's config and the contents of its step files:
    /// equal fingerprints mean an equal snapshot.
    fn fingerprint(&self, config: &TenantConfig) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(format!("{config:?}").as_bytes());
        for file in config.step_files() {
            hasher.update(self.digest(file));
        }
        hasher.finalize().into()
    }
}

/// Reload on `SIGHUP` and when a watched file changes, until the process ends.
pub fn spawn_triggers(registry: Arc<Registry>) {
    let on_signal = registry.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP; reload through the admin API or by editing files");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            let registry = on_signal.clone();
            let _ = tokio::task::spawn_blocking(move || registry.reload()).await;
        }
    });
    tokio::spawn(async move {
        let watched = |r: &Arc<Registry>| {
            let r = r.clone();
            async move { tokio::task::spawn_blocking(move || r.stamps()).await.unwrap_or_default() }
        };
        let mut seen = watched(&registry).await;
        loop {
            tokio::time::sleep(POLL).await;
            let now = watched(&registry).await;
            if now == seen {
                continue;
            }
            // Wait until the files stop changing, then reload once.
            let mut settled = now;
            loop {
                tokio::time::sleep(DEBOUNCE).await;
                let again = watched(&registry).await;
                if again == settled {
                    break;
                }
                settled = again;
            }
            tracing::info!("configuration files changed: reloading");
            let r = registry.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
            seen = watched(&registry).await;
        }
    });
}

/// One tenant's result in `scimgate check`: its step count, or the problem.
pub struct TenantCheck {
    pub tenant: String,
    pub outcome: Result<usize, String>,
}

/// `scimgate check`: everything a start or a reload would load, loaded and
/// reported without serving. Each problem names its file and, where the
/// parser knows it, the line.
pub fn check(config_path: &Path) -> Result<Vec<TenantCheck>, ConfigError> {
    let (config, broken) = Config::load_lenient(config_path)?;
    let engine = PluginEngine::new(wasm_host::EngineConfig::default())
        .map_err(|e| ConfigError::Invalid { path: config_path.to_owned(), message: e.to_string() })?;
    let upstreams = UpstreamPool::new(Arc::new(crate::metrics::Metrics::new(false)));
    let mut results: Vec<TenantCheck> =
        broken.into_iter().map(|(tenant, e)| TenantCheck { tenant, outcome: Err(e.to_string()) }).collect();
    for (name, tenant) in &config.tenants {
        let file = config.tenant_files.get(name).map(|f| f.display().to_string()).unwrap_or_default();
        let outcome = build(name, tenant, &engine, &upstreams, 0)
            .map(|t| t.flow.step_names().len())
            .map_err(|e| format!("{file}: {e}"));
        results.push(TenantCheck { tenant: name.clone(), outcome });
    }
    results.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(results)
}
