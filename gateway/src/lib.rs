//! scimgate: a SCIM 2.0 gateway.
//!
//! One request, module by module: [`listener`] (HTTP, bearer auth through
//! [`tokens`], body limits) ─▶ [`service`] (route, load, build, the tenant's
//! [`flow`] of pipeline steps, its target: the embedded [`store`] or an
//! [`upstream`], commit, present) ─▶ [`listener`] again (the answer, or a
//! [`failure`] mapped to HTTP in one place; the provisioning-log record).
//! [`config`] reads `scimgate.toml`, [`tenant`] builds a tenant's snapshot,
//! [`reload`] swaps them; [`server`] wires it together for `scimgate serve`.
//! Protocol logic lives in the pure `scim` crate. See ARCHITECTURE.md.

pub mod admin;
pub mod blocking;
pub mod config;
pub mod entra_jwt;
pub mod failure;
pub mod flow;
pub mod forwarded;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod otlp;
pub mod outbound;
pub mod plugin_new;
pub mod plugin_test;
pub mod preview;
pub mod reload;
pub mod server;
pub mod service;
pub mod store;
pub mod tenant;
pub mod tls;
pub mod tokens;
pub mod trace;
pub mod trace_context;
pub mod upstream;
