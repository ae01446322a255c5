//! Hostile test plugin: `transform-in` aborts (a Wasm `unreachable` trap).
//! Never deployed.

use scimgate_sdk::{Context, HookError, Resource, TransformIn, Value};

pub struct Trap;

impl TransformIn for Trap {
    fn transform_in(_doc: Resource, _ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        std::process::abort()
    }
}

scimgate_sdk::export_plugin!(Trap: transform_in);
