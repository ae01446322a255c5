//! Pure SCIM 2.0 protocol logic (RFC 7643 and RFC 7644).
//!
//! This crate does no I/O, spawns nothing and knows nothing of HTTP servers or
//! storage: it turns JSON and strings into typed SCIM values and back. The
//! gateway, the plugin SDK (compiled to `wasm32-wasip2`), the fuzzers and the
//! benches all share it.

pub mod document;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::{CompareOp, Filter};
pub use list::{ListQuery, SortOrder, list_response};
pub use patch::PatchRequest;
pub use path::{AttrPath, ValuePath};
pub use resource::{Projection, drop_write_only, normalize, project};
pub use schema::{AttributeDef, ResourceSchema, Schema};
