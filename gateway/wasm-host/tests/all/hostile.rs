//! Hostile plugins fail only their own call, with the right error, in time;
//! a good plugin keeps working meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pipeline::{Hooks, ScopeDecision, Step, StepError};
use serde_json::{Value, json};
use wasm_host::{EngineConfig, InstancePolicy, Limits, PluginEngine, WasmPlugin, WasmStep};

use super::{plugin, step, user_ctx};

fn alice() -> Value {
    json!({"userName": "alice", "emails": [{"value": "Alice@Corp.example", "type": "work"}]})
}

/// Run `hostile` while another thread calls a good plugin; both must finish,
/// the good calls all succeed.
fn alongside_good_calls<R>(hostile: impl FnOnce() -> R) -> (R, usize) {
    let good = step("work-email", plugin_artifacts::WORK_EMAIL, Value::Null);
    good.transform_in(alice(), &user_ctx()).unwrap();
    let done = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    let result = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            while !done.load(Ordering::Relaxed) || calls.load(Ordering::Relaxed) == 0 {
                let out = good.transform_in(alice(), &user_ctx());
                let out = out.unwrap_or_else(|e| panic!("the good plugin must work meanwhile: {e}"));
                assert_eq!(out["userName"], "alice@corp.example");
                calls.fetch_add(1, Ordering::Relaxed);
            }
        });
        let result = hostile();
        done.store(true, Ordering::Relaxed);
        worker.join().unwrap();
        result
    });
    (result, calls.load(Ordering::Relaxed))
}

#[test]
fn spin_times_out_and_others_keep_working() {
    let spin = WasmStep::new(plugin("spin", plugin_artifacts::SPIN), &Value::Null, Limits::default());
    assert_eq!(spin.hooks(), Hooks { scope: true, transform_in: true, ..Hooks::default() });
    let ((result, elapsed), good_calls) = alongside_good_calls(|| {
        let start = Instant::now();
        (spin.transform_in(alice(), &user_ctx()), start.elapsed())
    });
    assert_eq!(result, Err(StepError::Timeout { step: "spin".into(), limit_ms: 50 }));
    assert!(elapsed < Duration::from_secs(2), "spin took {elapsed:?}");
    assert!(good_calls > 0);
    // The plugin's other hook still answers (with a relaxed deadline, as
    // instantiating in a debug build on a busy machine may take a while).
    let spin = super::step("spin", plugin_artifacts::SPIN, Value::Null);
    assert_eq!(spin.scope(&alice(), &user_ctx()), Ok(ScopeDecision::In));
}

#[test]
fn the_deadline_is_per_step() {
    let limits = Limits { deadline: Duration::from_millis(200), ..Limits::default() };
    let spin = WasmStep::new(plugin("spin", plugin_artifacts::SPIN), &Value::Null, limits);
    let start = Instant::now();
    assert_eq!(spin.transform_in(alice(), &user_ctx()), Err(StepError::Timeout { step: "spin".into(), limit_ms: 200 }));
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
}

#[test]
fn a_deadline_holds_after_the_ticker_slept() {
    // An engine of its own, idle long enough for its ticker to sleep (it
    // does after 100 ticks without a call): the call must wake it.
    let cache_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    let engine = PluginEngine::new(EngineConfig { cache_dir: Some(cache_dir), ..EngineConfig::default() }).unwrap();
    let spin = WasmPlugin::load_file(&engine, "spin", plugin_artifacts::SPIN).unwrap();
    let spin = WasmStep::new(spin, &Value::Null, Limits::default());
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(400));
        let start = Instant::now();
        assert_eq!(
            spin.transform_in(alice(), &user_ctx()),
            Err(StepError::Timeout { step: "spin".into(), limit_ms: 50 })
        );
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    }
}

#[test]
fn sleep_is_refused() {
    // A sleep blocks in the host, out of the deadline's reach: the host
    // grants no timers, so the call fails at once instead of holding a thread.
    let sleep = step("sleep", plugin_artifacts::SLEEP, Value::Null);
    let start = Instant::now();
    let result = sleep.transform_in(alice(), &user_ctx());
    assert!(start.elapsed() < Duration::from_secs(2), "sleep took {:?}", start.elapsed());
    let Err(StepError::Failed { step, message, .. }) = result else {
        panic!("sleep: expected a failure, got {result:?}")
    };
    assert_eq!(step, "sleep");
    assert!(message.contains("may not sleep"), "{message}");
}

#[test]
fn hog_hits_the_memory_cap() {
    let hog = step("hog", plugin_artifacts::HOG, Value::Null);
    let (result, good_calls) = alongside_good_calls(|| hog.transform_in(alice(), &user_ctx()));
    let Err(StepError::ResourceLimit { step, message }) = result else {
        panic!("hog: expected a resource limit, got {result:?}")
    };
    assert_eq!(step, "hog");
    assert!(message.contains("memory") && message.contains("32.0 MiB"), "{message}");
    assert!(good_calls > 0);
}

#[test]
fn trap_fails_the_call() {
    let trap = step("trap", plugin_artifacts::TRAP, Value::Null);
    let (result, _) = alongside_good_calls(|| trap.transform_in(alice(), &user_ctx()));
    let Err(StepError::Failed { step, message, .. }) = result else {
        panic!("trap: expected a failure, got {result:?}")
    };
    assert_eq!(step, "trap");
    assert!(message.contains("transform-in trapped") && message.contains("unreachable"), "{message}");
}

#[test]
fn panic_fails_the_call_with_its_message_and_location() {
    let panic = step("panic", plugin_artifacts::PANIC, Value::Null);
    let (result, _) = alongside_good_calls(|| panic.transform_in(alice(), &user_ctx()));
    let Err(StepError::Failed { step, message, location }) = result else {
        panic!("panic: expected a failure, got {result:?}")
    };
    assert_eq!(step, "panic");
    assert!(message.contains("the panic plugin always panics"), "{message}");
    let location = location.expect("the panic's location");
    assert!(location.contains("lib.rs:"), "{location}");
    // Without a userName it does not panic: the next call gets a new instance.
    assert_eq!(panic.transform_in(json!({"displayName": "x"}), &user_ctx()), Ok(json!({"displayName": "x"})));
}

#[test]
fn bloat_hits_the_output_cap() {
    // Memory and time enough to build the 10 MB document (escaping 10 MB of
    // JSON can take longer than 50 ms on a busy machine); the output cap
    // (1 MiB) refuses it.
    let limits = Limits { memory_bytes: 96 << 20, deadline: Duration::from_secs(10), ..Limits::default() };
    let bloat = WasmStep::new(plugin("bloat", plugin_artifacts::BLOAT), &Value::Null, limits);
    let (result, _) = alongside_good_calls(|| bloat.transform_in(alice(), &user_ctx()));
    let Err(StepError::ResourceLimit { step, message }) = result else {
        panic!("bloat: expected a resource limit, got {result:?}")
    };
    assert_eq!(step, "bloat");
    assert!(message.contains("returned") && message.contains("over the cap of 1048576"), "{message}");
    // With the default 32 MiB the memory cap stops it first: still a resource limit.
    let bloat = super::step("bloat", plugin_artifacts::BLOAT, Value::Null);
    let result = bloat.transform_in(alice(), &user_ctx());
    assert!(
        matches!(&result, Err(StepError::ResourceLimit { message, .. }) if message.contains("memory")),
        "{result:?}"
    );
}

#[test]
fn a_failed_instance_is_never_reused() {
    let policy = InstancePolicy::Reuse { max_uses: 100, max_idle: 2 };
    let panic = step("panic", plugin_artifacts::PANIC, Value::Null).with_policy(policy);
    let harmless = json!({"displayName": "x"});
    panic.transform_in(harmless.clone(), &user_ctx()).unwrap();
    assert_eq!(panic.idle_instances(), 1, "a good call returns its instance");
    assert!(panic.transform_in(alice(), &user_ctx()).is_err());
    assert_eq!(panic.idle_instances(), 0, "the trapped instance is dropped");
    panic.transform_in(harmless.clone(), &user_ctx()).unwrap();
    assert_eq!(panic.idle_instances(), 1);

    let limits = Limits { deadline: Duration::from_millis(500), ..Limits::default() };
    let spin = WasmStep::new(plugin("spin", plugin_artifacts::SPIN), &Value::Null, limits).with_policy(policy);
    assert_eq!(spin.scope(&alice(), &user_ctx()), Ok(ScopeDecision::In));
    assert_eq!(spin.idle_instances(), 1);
    assert!(matches!(spin.transform_in(alice(), &user_ctx()), Err(StepError::Timeout { .. })));
    assert_eq!(spin.idle_instances(), 0, "the interrupted instance is dropped");

    let fresh = step("panic", plugin_artifacts::PANIC, Value::Null).with_policy(InstancePolicy::Fresh);
    fresh.transform_in(harmless, &user_ctx()).unwrap();
    assert_eq!(fresh.idle_instances(), 0);
}

#[test]
fn reused_instances_serve_concurrent_calls() {
    let good = step("work-email", plugin_artifacts::WORK_EMAIL, Value::Null);
    std::thread::scope(|s| {
        for t in 0..4 {
            let good = &good;
            s.spawn(move || {
                for i in 0..50 {
                    let doc = json!({"userName": "x", "emails": [{"value": format!("U{t}-{i}@Corp.example"), "type": "work"}]});
                    let out = good.transform_in(doc, &user_ctx()).unwrap();
                    assert_eq!(out["userName"], format!("u{t}-{i}@corp.example"));
                }
            });
        }
    });
    assert!((1..=4).contains(&good.idle_instances()));
}

#[test]
fn idle_instances_stay_within_the_engine_budget() {
    let cache_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    let config = wasm_host::EngineConfig { cache_dir: Some(cache_dir), max_idle_instances: 1, ..Default::default() };
    let engine = wasm_host::PluginEngine::new(config).unwrap();
    let plugin = wasm_host::WasmPlugin::load_file(&engine, "work-email", plugin_artifacts::WORK_EMAIL).unwrap();
    let first = WasmStep::new(plugin.clone(), &Value::Null, super::relaxed());
    let second = WasmStep::new(plugin, &Value::Null, super::relaxed());
    first.transform_in(alice(), &user_ctx()).unwrap();
    second.transform_in(alice(), &user_ctx()).unwrap();
    assert_eq!(first.idle_instances() + second.idle_instances(), 1);
    drop(first);
    second.transform_in(alice(), &user_ctx()).unwrap();
    second.transform_in(alice(), &user_ctx()).unwrap();
    assert_eq!(second.idle_instances(), 1, "a dropped step gives its places back");
}
