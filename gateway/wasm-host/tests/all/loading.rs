//! Loading: the compiled-component cache, hook detection, bad components,
//! and the host `log` import.

use std::sync::{Arc, Mutex};

use pipeline::{Hooks, Step};
use serde_json::{Value, json};
use wasm_host::{EngineConfig, LoadError, PluginEngine, WasmPlugin};

use super::{step, user_ctx};

#[test]
fn compiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let config = EngineConfig { cache_dir: Some(cache.clone()), ..EngineConfig::default() };
    let wasm = std::fs::read(plugin_artifacts::MATCH_BY_EMAIL).unwrap();

    let engine = PluginEngine::new(config.clone()).unwrap();
    let first = WasmPlugin::load(&engine, "match", &wasm).unwrap();
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "cwasm"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    }

    // A second process (engine) reads the file instead of compiling.
    let engine = PluginEngine::new(config.clone()).unwrap();
    let second = WasmPlugin::load(&engine, "match", &wasm).unwrap();
    assert_eq!(first.digest(), second.digest());
    let keys = wasm_host::WasmStep::new(second, &Value::Null, Default::default())
        .match_keys(&json!({"userName": "u"}), &user_ctx())
        .unwrap();
    assert_eq!(keys.len(), 1);

    // A damaged file is replaced. (Damaged by a rename, as the cache itself
    // writes: the file is mapped into the engines above, and truncating a
    // mapped file in place would fault them.)
    let damaged = cache.join("damaged");
    std::fs::write(&damaged, b"garbage").unwrap();
    std::fs::rename(&damaged, &files[0]).unwrap();
    let engine = PluginEngine::new(config).unwrap();
    WasmPlugin::load(&engine, "match", &wasm).unwrap();
    assert!(std::fs::read(&files[0]).unwrap().len() > 1000);
}

#[test]
fn hooks_come_from_the_exports() {
    let spin = step("spin", plugin_artifacts::SPIN, Value::Null);
    assert_eq!(spin.hooks(), Hooks { scope: true, transform_in: true, ..Hooks::default() });
    let scope = step("department-scope", plugin_artifacts::DEPARTMENT_SCOPE, Value::Null);
    assert_eq!(scope.hooks(), Hooks { scope: true, ..Hooks::default() });
}

#[test]
fn what_a_plugin_reads_comes_from_its_export() {
    let engine = super::engine();
    let work_email = WasmPlugin::load_file(engine, "work-email", plugin_artifacts::WORK_EMAIL).unwrap();
    let names: &[&str] = &["emails", "schemas", "username"];
    assert_eq!(work_email.reads().map(|r| r.iter().map(String::as_str).collect::<Vec<_>>()), Some(names.to_vec()));
    let scope = WasmPlugin::load_file(engine, "department-scope", plugin_artifacts::DEPARTMENT_SCOPE).unwrap();
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user".to_owned();
    assert!(scope.reads().unwrap().contains(&enterprise));
    // No declaration: every hook gets the whole document.
    let spin = WasmPlugin::load_file(engine, "spin", plugin_artifacts::SPIN).unwrap();
    assert_eq!(spin.reads(), None);
}

#[test]
fn bad_components_are_refused_at_load() {
    let engine = super::engine();
    let err = WasmPlugin::load(engine, "junk", b"not wasm").unwrap_err();
    assert!(matches!(&err, LoadError::Invalid { name, .. } if name == "junk"), "{err}");

    // An empty component is valid but has no hooks.
    let empty = b"\0asm\x0d\x00\x01\x00";
    let err = WasmPlugin::load(engine, "empty", empty).unwrap_err();
    assert!(matches!(&err, LoadError::NoHooks { name, .. } if name == "empty"), "{err}");

    let err = WasmPlugin::load_file(engine, "missing", "/nonexistent/plugin.wasm").unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }));
}

/// Collects `scimgate::plugin` log events on this thread.
#[derive(Default, Clone)]
struct Logs(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Logs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.push_str(&format!("{}={value} ", field.name()));
            }
        }
        if event.metadata().target() == "scimgate::plugin" {
            let mut fields = Fields(format!("{} ", event.metadata().level()));
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn plugin_log_lines_reach_the_gateway_log() {
    let work_email = step("work-email", plugin_artifacts::WORK_EMAIL, Value::Null);
    let logs = Logs::default();
    tracing::subscriber::with_default(logs.clone(), || {
        let doc = json!({"userName": "x", "emails": [{"value": "X@Corp.example", "type": "work"}]});
        work_email.transform_in(doc, &user_ctx()).unwrap();
    });
    let lines = logs.0.lock().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("DEBUG"), "{line}");
    assert!(line.contains("plugin=work-email") && line.contains("tenant=acme"), "{line}");
    assert!(line.contains("userName set from the work email: x@corp.example"), "{line}");
}
