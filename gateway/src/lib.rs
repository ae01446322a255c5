//! scimgate: a SCIM 2.0 gateway.
//!
//! The flow of one request, module by module: [`listener`] (HTTP, auth,
//! body limits) ─▶ [`tokens`] (which tenant) ─▶ [`service`] (the SCIM
//! operation) ─▶ [`store`] (SQLite: resources, memberships, tokens, the
//! provisioning log). [`config`] reads `scimgate.toml`; [`server`] wires it
//! together for `scimgate serve`. Protocol logic lives in the pure `scim`
//! crate.

pub mod admin;
pub mod blocking;
pub mod config;
pub mod failure;
pub mod flow;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod otlp;
pub mod outbound;
pub mod plugin_test;
pub mod reload;
pub mod server;
pub mod service;
pub mod store;
pub mod tenant;
pub mod tokens;
pub mod upstream;
