//! Paths of the plugins in `plugins/`, built for `wasm32-wasip2` by this
//! crate's build script (release profile, under `<target>/plugins`).
//!
//! For tests and benches of the Wasm host; deployments build and ship
//! plugins on their own.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
