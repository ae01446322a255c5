//! Hostile test plugin: `transform-in` allocates 1 GiB (the host's memory cap
//! must stop it). Never deployed.

use scimgate_sdk::{Context, HookError, Resource, TransformIn, Value};

pub struct Hog;

impl TransformIn for Hog {
    fn transform_in(doc: Resource, _ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        let hog = vec![1u8; 1 << 30];
        std::hint::black_box(&hog);
        Ok(doc)
    }
}

scimgate_sdk::export_plugin!(Hog: transform_in);
