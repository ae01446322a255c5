//! PATCH requests from arbitrary bytes: whatever JSON `PatchRequest::from_json`
//! accepts is applied to the sample User, which must never panic.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scim::{PatchRequest, ResourceSchema};
use serde_json::Value;

mod sample;

static SCHEMA: LazyLock<ResourceSchema> = LazyLock::new(ResourceSchema::user);
static USER: LazyLock<Value> = LazyLock::new(sample::user);

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let Ok(request) = PatchRequest::from_json(&body) else { return };
    if let Ok(patched) = scim::patch::apply(&USER, &request, &SCHEMA) {
        assert!(patched.is_object(), "apply returned {patched}");
    }
});
