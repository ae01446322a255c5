//! Hostile test plugin: `transform-in` panics (in Wasm a panic aborts, which
//! traps; the message goes to the guest's stderr). Never deployed.

use scimgate_sdk::{Context, HookError, Resource, TransformIn, Value};

pub struct Panic;

impl TransformIn for Panic {
    fn transform_in(doc: Resource, _ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        if doc.get("userName").is_some() {
            panic!("the panic plugin always panics");
        }
        Ok(doc)
    }
}

scimgate_sdk::export_plugin!(Panic: transform_in);
