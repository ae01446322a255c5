//! End-to-end tests: start the real `scimgate` binary and talk HTTP to it the
//! way Microsoft Entra ID, Okta and OneLogin do. Each test starts its own
//! gateway (own temp dir, own port), so tests run in parallel.

mod browser;
mod bulk;
mod concurrency;
mod console;
mod crash;
mod deploy;
mod edge;
mod entra;
mod errors;
mod fake;
mod harness;
mod legacy;
mod okta;
mod onelogin;
mod ops;
mod pipeline;
mod plugin_cli;
mod plugin_new;
mod preview;
mod protocol;
mod provlog;
mod provlog_trace;
mod quickstart;
mod reload;
mod replicas;
mod sandbox;
mod scim;
mod tenants;
mod upstream;
