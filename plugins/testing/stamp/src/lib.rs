//! Test plugin: `transform-in` writes `config.marker` into the enterprise
//! extension's `costCenter`, so a test can tell which snapshot of a tenant
//! produced a response. Never deployed.

use scimgate_sdk::{Context, HookError, Resource, TransformIn, Value};

pub struct Stamp;

const COST_CENTER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter";

impl TransformIn for Stamp {
    fn transform_in(mut doc: Resource, _ctx: &Context, config: &Value) -> Result<Resource, HookError> {
        let marker = config.get("marker").and_then(Value::as_str).unwrap_or("none").to_owned();
        doc.set(COST_CENTER, marker)?;
        Ok(doc)
    }
}

scimgate_sdk::export_plugin!(Stamp: transform_in);
