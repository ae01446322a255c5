//! Per-call cost of one `transform-in` hook, the same logic (`work-email`:
//! `userName` := the lower-cased primary work email) on the same ~1 KB Entra
//! user, as native Rust, a Wasm component, a Rhai script and a declarative
//! mapping. One criterion run, so the ratios are comparable.
//!
//! `cargo bench -p scimgate-micro-benches --bench hooks -- --warm-up-time 1 --measurement-time 3`
//!
//! Every line takes an owned `serde_json::Value` (a clone of the user, made
//! outside the timing by `iter_batched`) and returns a `Value`, as
//! `pipeline::Step::transform_in` does. What each line includes:
//!
//! - `native`: `work_email::WorkEmail::transform_in` called directly: wrap the
//!   `Value` in the SDK's `Resource`, run the plugin's logic, unwrap the
//!   `Value`, drain the log line it wrote (the SDK keeps native log lines per
//!   thread).
//! - `native_json_roundtrip`: `native` plus what the Wasm boundary adds, done
//!   natively: `Value` to JSON text, text to `Resource`, the logic, back to
//!   text, text to `Value`.
//! - `native_json_roundtrip_reads`: the same round trip with what the host
//!   now sends a plugin that declares what it reads (`work-email` reads
//!   `userName` and `emails`): only those attributes (and `schemas`) to text
//!   and back, the answer laid over the whole user (`wasm_host::ReadSet`).
//! - `wasm_reuse` / `wasm_fresh`: `wasm_host::WasmStep::transform_in` through
//!   the `Step` trait, default `Limits`, with the default `InstancePolicy`
//!   (idle instances reused) or `InstancePolicy::Fresh` (a new instance per
//!   call).
//! - `wasm_js_reuse` / `wasm_python_reuse`: the JavaScript and Python ports
//!   (`plugins/js/work-email`, `plugins/python/work-email`) the same way, with
//!   their language's default limits; only when `SCIMGATE_GUEST_PLUGINS`
//!   names what `bash plugins/guests/build` made.
//! - `wasm_scope_floor`: the `spin` test plugin's `scope` hook, which answers
//!   `in` at once: the host serialises the user, the guest's SDK glue parses
//!   it. The floor of any Wasm hook on this document (one direction of JSON).
//! - `wasm_scope_floor_empty`: the same on `{}`: the call machinery alone
//!   (store, epoch deadline, context and config lowered, the answer lifted).
//! - `rhai`: `pipeline::RhaiStep::transform_in` (examples/rhai/work-email.rhai,
//!   default `RhaiLimits`) through the `Step` trait.
//! - `mapping`: `pipeline::MappingStep::transform_in` with the one rule
//!   `userName = 'lower(emails[type eq "work"].value)'` through the `Step`
//!   trait.
//! - `boundary/json_to_string_from_str`: `serde_json::to_string` of the user
//!   and `serde_json::from_str` of that text: one direction of the Wasm
//!   boundary (a call crosses it twice, and the guest side runs as Wasm).
//! - `boundary/json_display_from_str`: the same through `Value`'s `Display`
//!   (`doc.to_string()`), which the Wasm host and the SDK glue used until
//!   issue 18 (they now use `serde_json::to_string`; `native_json_roundtrip`
//!   still serialises the user with `Display`, as its earlier runs did).
//! - `boundary/json_display_from_str_owned`: the same, but on an owned clone
//!   made outside the timing and dropped after serialising, as the
//!   `transform_in` lines receive the document and as `WasmStep` treats it.
//! - `boundary/rhai_to_dynamic_from_dynamic`: `rhai::serde::to_dynamic` of the
//!   user and `from_dynamic` back to a `Value`: the conversion a Rhai call
//!   does around the script.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pipeline::{HookContext, MappingConfig, MappingStep, Operation, RhaiLimits, RhaiStep, Step};
use scimgate_sdk::{Reads, Resource, TransformIn};
use serde_json::Value;
use wasm_host::{EngineConfig, InstancePolicy, Limits, PluginEngine, ReadSet, WasmPlugin, WasmStep};

const EXPECTED_USER_NAME: &str = "alice.smith@corp.example";

fn user() -> Value {
    serde_json::from_str(micro_benches::ENTRA_USER).expect("fixture")
}

fn hook_ctx() -> HookContext {
    HookContext {
        tenant: "acme".to_owned(),
        idp_profile: "entra".to_owned(),
        operation: Operation::Create,
        resource_type: "User".to_owned(),
        resource_id: None,
    }
}

fn native(doc: Value, ctx: &scimgate_sdk::Context) -> Value {
    let out = work_email::WorkEmail::transform_in(Resource::new(doc), ctx, &Value::Null).expect("native call");
    drop(scimgate_sdk::testing::take_logs());
    out.into_value()
}

fn native_json_roundtrip(doc: Value, ctx: &scimgate_sdk::Context) -> Value {
    let text = doc.to_string();
    let resource = Resource::from_json(&text).expect("parse");
    let out = work_email::WorkEmail::transform_in(resource, ctx, &Value::Null).expect("native call");
    drop(scimgate_sdk::testing::take_logs());
    serde_json::from_str(&out.to_json()).expect("reparse")
}

fn native_json_roundtrip_reads(doc: Value, ctx: &scimgate_sdk::Context, reads: &ReadSet) -> Value {
    let text = reads.project(&doc);
    let resource = Resource::from_json(&text).expect("parse");
    let out = work_email::WorkEmail::transform_in(resource, ctx, &Value::Null).expect("native call");
    drop(scimgate_sdk::testing::take_logs());
    reads.merge(doc, serde_json::from_str(&out.to_json()).expect("reparse"))
}

fn engine() -> PluginEngine {
    // Compiled components are cached on disk, so a rerun does not recompile.
    let cache_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    PluginEngine::new(EngineConfig { cache_dir: Some(cache_dir), ..EngineConfig::default() }).expect("engine")
}

fn plugin(engine: &PluginEngine, name: &str, path: &str) -> Arc<WasmPlugin> {
    WasmPlugin::load_file(engine, name, path).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn bench_hooks(c: &mut Criterion) {
    let user = user();
    eprintln!("user document: {} bytes of compact JSON", user.to_string().len());
    let ctx = hook_ctx();
    let native_ctx = scimgate_sdk::Context::new(scimgate_sdk::Operation::Create, "User");

    let engine = engine();
    let work_email = plugin(&engine, "work-email", plugin_artifacts::WORK_EMAIL);
    assert!(work_email.reads().is_some(), "work-email declares what it reads");
    let spin = plugin(&engine, "spin", plugin_artifacts::SPIN);
    let wasm_reuse = WasmStep::new(work_email.clone(), &Value::Null, Limits::default());
    let wasm_fresh = WasmStep::new(work_email, &Value::Null, Limits::default()).with_policy(InstancePolicy::Fresh);
    let wasm_floor = WasmStep::new(spin, &Value::Null, Limits::default());
    let empty = Value::Object(Default::default());
    let reads = ReadSet::new(work_email::WorkEmail::ATTRIBUTES.iter().map(|s| s.to_string()).collect()).expect("reads");

    let script_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rhai/work-email.rhai");
    let script = std::fs::read_to_string(script_path).expect("examples/rhai/work-email.rhai");
    let rhai = RhaiStep::compile("work-email.rhai", &script, RhaiLimits::default(), Value::Null).expect("compile");

    let mapping = MappingStep::new(
        "work-email-mapping",
        MappingConfig {
            transform_in: [("userName", r#"lower(emails[type eq "work"].value)"#)].into_iter().collect(),
            ..MappingConfig::default()
        },
    )
    .expect("mapping");

    // The JavaScript and Python ports of the plugin, when plugins/guests/build
    // made them (`SCIMGATE_GUEST_PLUGINS`), with their language's limits.
    let guests: Vec<(&str, WasmStep)> = match std::env::var_os("SCIMGATE_GUEST_PLUGINS") {
        None => Vec::new(),
        Some(dir) => [("wasm_js_reuse", "js"), ("wasm_python_reuse", "python")]
            .into_iter()
            .map(|(label, lang)| {
                let path = std::path::Path::new(&dir).join(lang).join("work-email.wasm");
                let port = plugin(&engine, label, path.to_str().expect("a UTF-8 path"));
                let limits = port.language().default_limits();
                (label, WasmStep::new(port, &Value::Null, limits))
            })
            .collect(),
    };

    // Every variant gives the same answer before any is timed.
    let mut steps: Vec<(&str, &dyn Step)> =
        vec![("wasm_reuse", &wasm_reuse), ("wasm_fresh", &wasm_fresh), ("rhai", &rhai), ("mapping", &mapping)];
    steps.extend(guests.iter().map(|(label, step)| (*label, step as &dyn Step)));
    let reference = native(user.clone(), &native_ctx);
    assert_eq!(reference["userName"], EXPECTED_USER_NAME);
    assert_eq!(native_json_roundtrip(user.clone(), &native_ctx), reference);
    assert_eq!(native_json_roundtrip_reads(user.clone(), &native_ctx, &reads), reference);
    for &(label, step) in &steps {
        let out = step.transform_in(user.clone(), &ctx).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(out, reference, "{label}");
    }
    assert_eq!(wasm_floor.scope(&user, &ctx), Ok(pipeline::ScopeDecision::In));

    let mut group = c.benchmark_group("transform_in");
    group.bench_function("native", |b| {
        b.iter_batched(|| user.clone(), |doc| native(doc, &native_ctx), BatchSize::SmallInput)
    });
    group.bench_function("native_json_roundtrip", |b| {
        b.iter_batched(|| user.clone(), |doc| native_json_roundtrip(doc, &native_ctx), BatchSize::SmallInput)
    });
    group.bench_function("native_json_roundtrip_reads", |b| {
        b.iter_batched(
            || user.clone(),
            |doc| native_json_roundtrip_reads(doc, &native_ctx, &reads),
            BatchSize::SmallInput,
        )
    });
    for &(label, step) in &steps {
        group.bench_function(label, |b| {
            b.iter_batched(|| user.clone(), |doc| step.transform_in(doc, &ctx).expect("call"), BatchSize::SmallInput)
        });
    }
    group.bench_function("wasm_scope_floor", |b| b.iter(|| wasm_floor.scope(black_box(&user), &ctx).expect("call")));
    group.bench_function("wasm_scope_floor_empty", |b| {
        b.iter(|| wasm_floor.scope(black_box(&empty), &ctx).expect("call"))
    });
    group.finish();

    let mut group = c.benchmark_group("boundary");
    group.bench_function("json_to_string_from_str", |b| {
        b.iter(|| {
            let text = serde_json::to_string(black_box(&user)).expect("serialise");
            serde_json::from_str::<Value>(&text).expect("parse")
        })
    });
    group.bench_function("json_display_from_str", |b| {
        b.iter(|| {
            let text = black_box(&user).to_string();
            serde_json::from_str::<Value>(&text).expect("parse")
        })
    });
    group.bench_function("json_display_from_str_owned", |b| {
        b.iter_batched(
            || user.clone(),
            |doc| {
                let text = doc.to_string();
                drop(doc);
                serde_json::from_str::<Value>(&text).expect("parse")
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("rhai_to_dynamic_from_dynamic", |b| {
        b.iter(|| {
            let dynamic = rhai::serde::to_dynamic(black_box(&user)).expect("to_dynamic");
            rhai::serde::from_dynamic::<Value>(&dynamic).expect("from_dynamic")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_hooks
}
criterion_main!(benches);
