//! The process-wide part: one wasmtime `Engine` (pooling allocator, epoch
//! interruption with a ticker thread), one `Linker` (WASI granting nothing,
//! the host `log` import), and the compiled-component caches.

use std::collections::HashMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, Resource};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};
use wasmtime_wasi::p2::DynPollable;

use crate::LoadError;
use crate::bindings::Full;
use crate::host::HostState;

/// Process-wide settings of the plugin engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where compiled components are kept across restarts, keyed by the
    /// SHA-256 of the plugin and the engine's compatibility hash (wasmtime
    /// version, target, settings). `None` compiles every plugin at each load.
    ///
    /// Loading a cached file maps native code into the process: the directory
    /// must be writable only by the gateway. The engine creates it with mode
    /// 0700 and refuses files that are group- or world-writable.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch ticks: the granularity of deadlines. Every
    /// deadline is rounded up to whole ticks, and a call may overrun its
    /// deadline by up to one tick. The ticker thread wakes this often while
    /// plugin calls run (and for 100 ticks after the last), and
    /// sleeps while there are none.
    pub epoch_tick: Duration,
    /// Instances that may exist at once, across all plugins and tenants
    /// (pooling allocator slots). A call that finds none free fails. Each
    /// slot reserves address space (not memory) for `max_memory_bytes` plus
    /// guard pages.
    pub max_instances: u32,
    /// Idle instances kept for reuse across all steps together (each holds a
    /// pooling slot). Keeps slots free for calls: without it, many tenants'
    /// idle instances could take every slot. Keep it well below
    /// `max_instances` (the default is half of the default).
    pub max_idle_instances: u32,
    /// The largest memory cap any step may ask for
    /// ([`Limits::memory_bytes`](crate::Limits::memory_bytes) is clamped to
    /// it).
    pub max_memory_bytes: usize,
    /// Wasm stack per call. Deep recursion past it traps (reported as a
    /// resource limit).
    pub max_wasm_stack: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cache_dir: None,
            epoch_tick: Duration::from_millis(1),
            max_instances: 1000,
            max_idle_instances: 500,
            max_memory_bytes: 256 << 20,
            max_wasm_stack: 512 << 10,
        }
    }
}

/// The engine, linker and caches every plugin shares. Cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: EngineConfig,
    /// Compiled components by content hash: a plugin used by many tenants is
    /// compiled (or read from disk) once.
    components: Mutex<HashMap<[u8; 32], Component>>,
    /// Idle instances parked in steps, against `config.max_idle_instances`.
    idle: AtomicUsize,
    ticker: Option<std::thread::JoinHandle<()>>,
    clock: Arc<Clock>,
}

/// Ticks the ticker goes on for after the last call ends, so that a steady
/// stream of calls never waits for it to wake.
const IDLE_TICKS: u32 = 100;

/// What the ticker thread and the calls share. The ticker runs while calls
/// are in flight and sleeps once none has run for [`IDLE_TICKS`]: a gateway
/// with no plugin work does not wake a thousand times a second (that was 4%
/// of the CPU of a gateway proxying GETs at one connection, with no plugin).
#[derive(Default)]
struct Clock {
    stop: AtomicBool,
    calls: AtomicUsize,
    asleep: AtomicBool,
}

impl Clock {
    fn run(&self, engine: &wasmtime::EngineWeak, tick: Duration) {
        let mut idle = 0;
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::park_timeout(tick);
            match engine.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
            if self.calls.load(Ordering::SeqCst) > 0 {
                idle = 0;
                continue;
            }
            idle += 1;
            if idle < IDLE_TICKS {
                continue;
            }
            // A call that starts after this store sees `asleep` and wakes
            // the thread; one that started before is seen in `calls`.
            self.asleep.store(true, Ordering::SeqCst);
            while self.calls.load(Ordering::SeqCst) == 0 && !self.stop.load(Ordering::SeqCst) {
                std::thread::park();
            }
            self.asleep.store(false, Ordering::SeqCst);
            idle = 0;
        }
    }
}

/// Held through every call into a component (instantiation included): the
/// epoch ticks while one exists, so its deadline holds.
pub(crate) struct Ticking<'a> {
    clock: &'a Clock,
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.clock.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.clock.stop.store(true, Ordering::SeqCst);
        if let Some(ticker) = self.ticker.take() {
            ticker.thread().unpark();
            let _ = ticker.join();
        }
    }
}

impl PluginEngine {
    /// Build the engine and its linker, and start the epoch ticker thread.
    pub fn new(config: EngineConfig) -> Result<PluginEngine, LoadError> {
        let setup = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
        let mut pooling = PoolingAllocationConfig::new();
        pooling
            .total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(4))
            .total_memories(config.max_instances)
            .total_tables(config.max_instances.saturating_mul(2))
            .max_memory_size(config.max_memory_bytes)
            // Rust components hold a main module and a few small shims.
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(8);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&wasm).map_err(setup)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(setup)?;
        forbid_timers(&mut linker).map_err(setup)?;
        Full::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state).map_err(setup)?;

        if let Some(dir) = &config.cache_dir {
            create_private_dir(dir).map_err(|e| LoadError::Cache(format!("{}: {e}", dir.display())))?;
        }

        let clock = Arc::new(Clock::default());
        let ticker = {
            let weak = engine.weak();
            let clock = Arc::clone(&clock);
            let tick = config.epoch_tick;
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || clock.run(&weak, tick))
                .map_err(|e| LoadError::Engine(format!("cannot start the epoch ticker: {e}")))?
        };

        Ok(PluginEngine {
            inner: Arc::new(EngineInner {
                engine,
                linker,
                config,
                components: Mutex::new(HashMap::new()),
                idle: AtomicUsize::new(0),
                ticker: Some(ticker),
                clock,
            }),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The wasmtime engine (for embedders that precompile or inspect).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Take a place for one more idle instance, if the budget allows.
    pub(crate) fn reserve_idle(&self) -> bool {
        let max = usize::try_from(self.inner.config.max_idle_instances).unwrap_or(usize::MAX);
        self.inner.idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok()
    }

    /// Give back places of idle instances that were taken or dropped.
    pub(crate) fn unreserve_idle(&self, count: usize) {
        if count > 0 {
            self.inner.idle.fetch_sub(count, Ordering::AcqRel);
        }
    }

    /// Keep the epoch ticking for a call into a component: take it before
    /// the store's deadline is set, hold it until the call returns.
    pub(crate) fn ticking(&self) -> Ticking<'_> {
        let clock = &*self.inner.clock;
        clock.calls.fetch_add(1, Ordering::SeqCst);
        if clock.asleep.load(Ordering::SeqCst)
            && let Some(ticker) = &self.inner.ticker
        {
            ticker.thread().unpark();
        }
        Ticking { clock }
    }

    /// Deadline in epoch ticks, rounded up, at least one.
    pub(crate) fn ticks(&self, deadline: Duration) -> u64 {
        let tick = self.inner.config.epoch_tick.as_nanos().max(1);
        u64::try_from(deadline.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).max(1)
    }

    /// The compiled component for `wasm` whose SHA-256 is `digest`: from
    /// memory, else from the disk cache, else compiled (and cached).
    pub(crate) fn component(&self, digest: &[u8; 32], wasm: &[u8]) -> wasmtime::Result<Component> {
        if let Some(component) = self.inner.components.lock().unwrap_or_else(|e| e.into_inner()).get(digest) {
            return Ok(component.clone());
        }
        let component = match &self.inner.config.cache_dir {
            Some(dir) => self.cached_component(dir, digest, wasm)?,
            None => self.compile(wasm)?,
        };
        self.inner.components.lock().unwrap_or_else(|e| e.into_inner()).insert(*digest, component.clone());
        Ok(component)
    }

    fn compile(&self, wasm: &[u8]) -> wasmtime::Result<Component> {
        Component::new(&self.inner.engine, wasm)
    }

    fn cached_component(&self, dir: &Path, digest: &[u8; 32], wasm: &[u8]) -> wasmtime::Result<Component> {
        let path = dir.join(format!("{}.cwasm", self.cache_key(digest)));
        if is_private_file(&path) {
            // SAFETY: the file is one this engine wrote under a key naming
            // both the plugin's hash and this engine's compatibility hash, in
            // a directory only the gateway may write to (checked above:
            // neither is group- or world-writable). wasmtime also checks the
            // artifact's header against the engine before using it.
            match unsafe { Component::deserialize_file(&self.inner.engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unusable cached component; recompiling");
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let component = self.compile(wasm)?;
        let write = || -> std::io::Result<()> {
            let bytes = component.serialize().map_err(|e| std::io::Error::other(format!("{e:#}")))?;
            let tmp = path.with_extension(format!("tmp.{}.{:x}", std::process::id(), unique()));
            let mut file = private_file(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })
        };
        if let Err(e) = write() {
            // The component is compiled; only the next start pays for this.
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled-component cache");
        }
        Ok(component)
    }

    /// Hex SHA-256 of the plugin's hash and the engine's compatibility hash
    /// (wasmtime version, target, compiler settings, features).
    fn cache_key(&self, digest: &[u8; 32]) -> String {
        struct ShaHasher(Sha256);
        impl Hasher for ShaHasher {
            fn finish(&self) -> u64 {
                0
            }
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
        }
        let mut hasher = ShaHasher(Sha256::new());
        hasher.write(digest);
        self.inner.engine.precompile_compatibility_hash().hash(&mut hasher);
        hex(&hasher.0.finalize())
    }
}

/// The WASI clocks the linker provides (wasmtime-wasi 48). A test
/// (`hostile::sleep_is_refused`) fails if an upgrade moves it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replace the monotonic clock's timers with functions that fail the call.
///
/// A guest that sleeps (`std::thread::sleep`) or polls a timer blocks inside
/// the host, where the epoch deadline cannot interrupt it: one plugin could
/// hold a gateway thread for as long as it liked. Plugins have no business
/// waiting, so the host grants no timers; reading the clocks still works.
fn forbid_timers(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    fn refuse() -> wasmtime::Result<(Resource<DynPollable>,)> {
        Err(wasmtime::format_err!("plugins may not sleep or wait on timers (wasi:clocks/monotonic-clock subscribe)"))
    }
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |_, (_,): (u64,)| refuse())?;
    clock.func_wrap("subscribe-instant", |_, (_,): (u64,)| refuse())?;
    linker.allow_shadowing(false);
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(std::io::Error::other(format!("the cache directory is group- or world-writable (mode {mode:o})")));
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn is_private_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o022 == 0)
}

#[cfg(not(unix))]
fn is_private_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}
