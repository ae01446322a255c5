//! Hostile test plugin: `transform-in` never returns (the host's deadline must
//! stop it). `scope` answers at once, so the plugin also shows that a
//! component exports several hooks and that one hook's timeout leaves the
//! next call unharmed. Never deployed.

use scimgate_sdk::{Context, HookError, Resource, Scope, ScopeDecision, TransformIn, Value};

pub struct Spin;

impl TransformIn for Spin {
    fn transform_in(_doc: Resource, _ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

impl Scope for Spin {
    fn scope(_doc: &Resource, _ctx: &Context, _config: &Value) -> Result<ScopeDecision, HookError> {
        Ok(ScopeDecision::In)
    }
}

scimgate_sdk::export_plugin!(Spin: transform_in, scope);
