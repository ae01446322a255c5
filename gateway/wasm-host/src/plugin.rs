//! A loaded plugin: compiled component, `InstancePre`, and its hooks.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pipeline::Hooks;
use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::bindings::exports::scimgate::plugin::{
    attributes, event_hook, match_keys_hook, scope_hook, transform_in_hook, transform_out_hook,
};
use crate::engine::{PluginEngine, hex};
use crate::host::HostState;
use crate::reads::ReadSet;
use crate::{Language, LoadError};

/// A compiled plugin, ready to instantiate. Shared by every tenant step
/// that uses it ([`WasmStep`](crate::WasmStep)); holds no per-tenant state.
pub struct WasmPlugin {
    pub(crate) name: Arc<str>,
    digest: [u8; 32],
    pub(crate) engine: PluginEngine,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) indices: HookIndices,
    /// What the hooks are handed of a document; `None`: all of it.
    pub(crate) reads: Option<ReadSet>,
    language: Language,
}

/// Export lookups of the hooks the component has, resolved once.
pub(crate) struct HookIndices {
    pub(crate) scope: Option<scope_hook::GuestIndices>,
    pub(crate) transform_in: Option<transform_in_hook::GuestIndices>,
    pub(crate) transform_out: Option<transform_out_hook::GuestIndices>,
    pub(crate) match_keys: Option<match_keys_hook::GuestIndices>,
    pub(crate) on_event: Option<event_hook::GuestIndices>,
}

impl WasmPlugin {
    /// Compile (or fetch from the caches) and check a plugin component.
    ///
    /// Done at configuration load, never per request: compiling takes tens
    /// to hundreds of milliseconds (none with a warm cache). The component
    /// is instantiated once to check that it starts and that its hooks have
    /// the contract's signatures.
    pub fn load(engine: &PluginEngine, name: &str, wasm: &[u8]) -> Result<Arc<WasmPlugin>, LoadError> {
        let invalid = |e: wasmtime::Error| LoadError::Invalid { name: name.to_owned(), message: format!("{e:#}") };
        let digest: [u8; 32] = Sha256::digest(wasm).into();
        let component = engine.component(&digest, wasm).map_err(invalid)?;
        let pre = engine
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link { name: name.to_owned(), message: format!("{e:#}") })?;
        let indices = HookIndices {
            scope: scope_hook::GuestIndices::new(&pre).ok(),
            transform_in: transform_in_hook::GuestIndices::new(&pre).ok(),
            transform_out: transform_out_hook::GuestIndices::new(&pre).ok(),
            match_keys: match_keys_hook::GuestIndices::new(&pre).ok(),
            on_event: event_hook::GuestIndices::new(&pre).ok(),
        };
        let language = Language::of(wasm);
        let mut plugin =
            WasmPlugin { name: name.into(), digest, engine: engine.clone(), pre, indices, reads: None, language };
        if plugin.hooks() == Hooks::default() {
            let exports: Vec<String> =
                component.component_type().exports(engine.engine()).map(|(name, _)| name.to_owned()).collect();
            return Err(LoadError::NoHooks { name: name.to_owned(), exports: format!("{exports:?}") });
        }
        plugin.reads = plugin.check().map_err(invalid)?;
        Ok(Arc::new(plugin))
    }

    /// [`load`](WasmPlugin::load) from a file.
    pub fn load_file(engine: &PluginEngine, name: &str, path: impl AsRef<Path>) -> Result<Arc<WasmPlugin>, LoadError> {
        let path = path.as_ref();
        let wasm = std::fs::read(path)
            .map_err(|e| LoadError::Read { name: name.to_owned(), message: format!("{}: {e}", path.display()) })?;
        WasmPlugin::load(engine, name, &wasm)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hex SHA-256 of the component's bytes.
    pub fn digest(&self) -> String {
        hex(&self.digest)
    }

    /// What the component says it was written in: the default limits of
    /// its steps ([`Language::default_limits`]).
    pub fn language(&self) -> Language {
        self.language
    }

    /// The hooks the component exports.
    pub fn hooks(&self) -> Hooks {
        let i = &self.indices;
        Hooks {
            scope: i.scope.is_some(),
            transform_in: i.transform_in.is_some(),
            transform_out: i.transform_out.is_some(),
            match_keys: i.match_keys.is_some(),
            on_event: i.on_event.is_some(),
        }
    }

    /// The attributes the plugin declared it reads (lower-cased), if it did.
    pub fn reads(&self) -> Option<&[String]> {
        self.reads.as_ref().map(ReadSet::names)
    }

    /// Instantiate once, type-check every exported hook, and ask which
    /// attributes the hooks read.
    fn check(&self) -> wasmtime::Result<Option<ReadSet>> {
        let config = self.engine.config();
        let mut store = Store::new(self.engine.engine(), HostState::new(self.name.clone(), config.max_memory_bytes));
        store.limiter(|state| &mut state.limiter);
        let _ticking = self.engine.ticking();
        store.set_epoch_deadline(self.engine.ticks(Duration::from_secs(1)));
        let instance = self.pre.instantiate(&mut store)?;
        let i = &self.indices;
        if let Some(x) = &i.scope {
            x.load(&mut store, &instance)?;
        }
        if let Some(x) = &i.transform_in {
            x.load(&mut store, &instance)?;
        }
        if let Some(x) = &i.transform_out {
            x.load(&mut store, &instance)?;
        }
        if let Some(x) = &i.match_keys {
            x.load(&mut store, &instance)?;
        }
        if let Some(x) = &i.on_event {
            x.load(&mut store, &instance)?;
        }
        let Ok(attributes) = attributes::GuestIndices::new(&self.pre) else { return Ok(None) };
        let names = attributes.load(&mut store, &instance)?.call_reads(&mut store)?;
        ReadSet::new(names).map(Some).map_err(wasmtime::Error::msg)
    }
}

impl std::fmt::Debug for WasmPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPlugin").field("name", &self.name).field("digest", &self.digest()).finish_non_exhaustive()
    }
}
