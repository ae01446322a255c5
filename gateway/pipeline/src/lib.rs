//! The per-tenant plugin pipeline.
//!
//! A tenant's pipeline is an ordered chain of [`Step`]s of any kind: a
//! declarative mapping, a Rhai script or a Wasm component. Each step
//! implements any subset of the hooks; [`Hooks`] says which, so an absent
//! hook costs nothing. Documents are SCIM JSON (`serde_json::Value`).

pub mod alloc;
pub mod log_capture;
pub mod mapping;
pub mod rhai_step;
pub mod step;

pub use alloc::MeteredAlloc;
pub use log_capture::{LogLevel, LogLine, capture_logs, emit_log};
pub use mapping::{MappingConfig, MappingConfigError, MappingStep};
pub use rhai_step::{RhaiCompileError, RhaiLimits, RhaiStep};
pub use step::{Event, HookContext, Hooks, MatchKey, Operation, ScopeDecision, Step, StepError};
