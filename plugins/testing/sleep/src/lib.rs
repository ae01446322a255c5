//! Hostile test plugin: `transform-in` sleeps for a minute. A sleep blocks in
//! the host, where the epoch deadline cannot interrupt it, so the host refuses
//! timers instead. Never deployed.

use scimgate_sdk::{Context, HookError, Resource, TransformIn, Value};

pub struct Sleep;

impl TransformIn for Sleep {
    fn transform_in(doc: Resource, _ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        std::thread::sleep(std::time::Duration::from_secs(60));
        Ok(doc)
    }
}

scimgate_sdk::export_plugin!(Sleep: transform_in);
