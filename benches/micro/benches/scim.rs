//! SCIM protocol hot paths on the ~1 KB Entra user: filter parse and
//! evaluation, PATCH parse and apply, schema validation (`normalize`).
//!
//! `cargo bench -p scimgate-micro-benches --bench scim -- --warm-up-time 1 --measurement-time 3`
//!
//! - `filter/parse_typical`, `filter/parse_complex`: `scim::Filter::parse` of
//!   [`micro_benches::TYPICAL_FILTER`] and [`micro_benches::COMPLEX_FILTER`].
//! - `filter/eval_typical`, `filter/eval_complex`: `Filter::matches` of the
//!   parsed filter against the user (both match), with the User schema.
//! - `patch/parse`: `PatchRequest::from_json` of Entra's 3-operation body
//!   (already a `Value`).
//! - `patch/apply`: `scim::patch::apply` of the parsed request to the
//!   normalized user: a copy of the user, the three operations, and the
//!   `normalize` of the result that `apply` ends with.
//! - `normalize/user`: `scim::normalize` of the user as it arrives (a new
//!   canonical `Value`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use scim::patch::{PatchRequest, apply};
use scim::{Filter, ResourceSchema, normalize};
use serde_json::Value;

fn bench_scim(c: &mut Criterion) {
    let schema = ResourceSchema::user();
    let user: Value = serde_json::from_str(micro_benches::ENTRA_USER).expect("fixture");
    let canonical = normalize(&user, &schema).expect("the fixture is a valid user");
    let patch_body: Value = serde_json::from_str(micro_benches::ENTRA_PATCH).expect("fixture");

    let typical = Filter::parse(micro_benches::TYPICAL_FILTER).expect("typical filter");
    let complex = Filter::parse(micro_benches::COMPLEX_FILTER).expect("complex filter");
    assert!(typical.matches(&canonical, &schema), "the typical filter matches the user");
    assert!(complex.matches(&canonical, &schema), "the complex filter matches the user");
    let request = PatchRequest::from_json(&patch_body).expect("patch body");
    let patched = apply(&canonical, &request, &schema).expect("patch applies");
    assert_eq!(patched["name"]["familyName"], "Jones");
    assert_eq!(patched["active"], false);

    let mut group = c.benchmark_group("filter");
    group.bench_function("parse_typical", |b| b.iter(|| Filter::parse(black_box(micro_benches::TYPICAL_FILTER))));
    group.bench_function("parse_complex", |b| b.iter(|| Filter::parse(black_box(micro_benches::COMPLEX_FILTER))));
    group.bench_function("eval_typical", |b| b.iter(|| typical.matches(black_box(&canonical), &schema)));
    group.bench_function("eval_complex", |b| b.iter(|| complex.matches(black_box(&canonical), &schema)));
    group.finish();

    let mut group = c.benchmark_group("patch");
    group.bench_function("parse", |b| b.iter(|| PatchRequest::from_json(black_box(&patch_body))));
    group.bench_function("apply", |b| b.iter(|| apply(black_box(&canonical), &request, &schema)));
    group.finish();

    let mut group = c.benchmark_group("normalize");
    group.bench_function("user", |b| b.iter(|| normalize(black_box(&user), &schema)));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_scim
}
criterion_main!(benches);
