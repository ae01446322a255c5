//! Host bindings of `sdk/wit/plugin.wit` (`scimgate:plugin@0.1.0`).
//!
//! The `full` world lists every hook; a plugin exports any subset, and each
//! hook's `GuestIndices::new` succeeds only when the component exports that
//! interface, which is how [`WasmPlugin`](crate::WasmPlugin) finds its hooks.
//! A later `@0.2.0` would get a second `bindgen!` in its own module, linked
//! beside this one (the interface names carry the version).

wasmtime::component::bindgen!({
    path: "../../sdk/wit",
    world: "full",
    // A host function may stop the plugin (an HTTP call to a forbidden
    // origin, or past the call budget): it returns `wasmtime::Result`.
    imports: { default: trappable },
});
