//! Cost of a plugin call with a fresh instance per call vs a reused one.
//!
//! `cargo run --release -p scimgate-wasm-host --example instance_reuse [calls]`
//!
//! Calls `work-email`'s transform-in on a ~1 KB user, single-threaded, and
//! prints the mean and median time per call for each [`InstancePolicy`].

use std::time::{Duration, Instant};

use pipeline::{HookContext, Operation, Step};
use serde_json::json;
use wasm_host::{EngineConfig, InstancePolicy, Limits, PluginEngine, WasmPlugin, WasmStep};

fn main() {
    let calls: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let engine = PluginEngine::new(EngineConfig::default()).expect("engine");
    let start = Instant::now();
    let plugin = WasmPlugin::load_file(&engine, "work-email", plugin_artifacts::WORK_EMAIL).expect("load");
    println!("compile + check of work-email: {:?}", start.elapsed());

    let doc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "00u1a2b3c4d5e6f7g8h9",
        "userName": "alice.smith",
        "name": {"givenName": "Alice", "familyName": "Smith", "formatted": "Alice Smith"},
        "displayName": "Alice Smith",
        "title": "Staff Engineer",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "alice@home.example", "type": "home"},
            {"value": "Alice.Smith@Corp.example", "type": "work", "primary": true}
        ],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}, {"value": "+1 555 0199", "type": "mobile"}],
        "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield", "postalCode": "12345", "country": "US"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "12345", "costCenter": "R&D", "organization": "Corp", "division": "Platform",
            "department": "Engineering", "manager": {"value": "2819c223-7f76-453a-919d-413861904646", "displayName": "Bob"}
        }
    });
    println!("document: {} bytes of JSON", doc.to_string().len());
    let ctx = HookContext {
        tenant: "acme".into(),
        idp_profile: "entra".into(),
        operation: Operation::Create,
        resource_type: "User".into(),
        resource_id: None,
    };

    // The same work natively: serialize, parse, transform, serialize, parse.
    {
        let ctx = scimgate_sdk::Context::new(scimgate_sdk::Operation::Create, "User");
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let input = doc.clone();
            let t = Instant::now();
            let json = input.to_string();
            let resource = scimgate_sdk::Resource::from_json(&json).expect("parse");
            let out = <work_email::WorkEmail as scimgate_sdk::TransformIn>::transform_in(
                resource,
                &ctx,
                &serde_json::Value::Null,
            )
            .expect("native call");
            let out: serde_json::Value = serde_json::from_str(&out.to_json()).expect("reparse");
            times.push(t.elapsed());
            std::hint::black_box(out);
        }
        report("native (no Wasm)", &mut times, calls);
    }

    for (label, policy) in
        [("fresh instance per call", InstancePolicy::Fresh), ("reused instances", InstancePolicy::default())]
    {
        let step = WasmStep::new(plugin.clone(), &serde_json::Value::Null, Limits::default()).with_policy(policy);
        for _ in 0..500 {
            step.transform_in(doc.clone(), &ctx).expect("warm-up call");
        }
        let mut times = Vec::with_capacity(calls);
        let total = Instant::now();
        for _ in 0..calls {
            let input = doc.clone();
            let t = Instant::now();
            let out = step.transform_in(input, &ctx).expect("call");
            times.push(t.elapsed());
            std::hint::black_box(out);
        }
        println!("{label:>24}: {:?} wall for {calls} calls", total.elapsed());
        report(label, &mut times, calls);
    }

    // A hook that does next to nothing (the `spin` test plugin's scope: the
    // SDK glue parses the document and answers in scope): what is left is
    // the cost of the call machinery and, when fresh, of instantiation.
    let spin = WasmPlugin::load_file(&engine, "spin", plugin_artifacts::SPIN).expect("load spin");
    for (label, policy) in
        [("trivial hook, fresh", InstancePolicy::Fresh), ("trivial hook, reused", InstancePolicy::default())]
    {
        let step = WasmStep::new(spin.clone(), &serde_json::Value::Null, Limits::default()).with_policy(policy);
        for _ in 0..500 {
            step.scope(&doc, &ctx).expect("warm-up call");
        }
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            std::hint::black_box(step.scope(&doc, &ctx).expect("call"));
            times.push(t.elapsed());
        }
        report(label, &mut times, calls);
    }
}

fn report(label: &str, times: &mut [Duration], calls: usize) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(calls).unwrap_or(u32::MAX);
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "{label:>24}: mean {:>6.1} µs, p50 {:>6.1} µs, p99 {:>6.1} µs ({calls} calls)",
        micros(mean),
        micros(pct(50)),
        micros(pct(99))
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
