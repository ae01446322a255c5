//! Hostile test plugin: `transform-in` returns a 10 MB document (the host's
//! output cap must refuse it). Never deployed.

use scimgate_sdk::{Context, HookError, Resource, TransformIn, Value};

pub struct Bloat;

impl TransformIn for Bloat {
    fn transform_in(mut doc: Resource, _ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        doc.set("title", "x".repeat(10_000_000))?;
        Ok(doc)
    }
}

scimgate_sdk::export_plugin!(Bloat: transform_in);
