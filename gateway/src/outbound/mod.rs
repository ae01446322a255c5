//! Outbound HTTP, a capability of its own: a pooled rustls client
//! ([`http`]), the gateway's credential for a far end ([`credential`]),
//! the origins a plugin may reach ([`grant`]) and what a call can fail with
//! ([`UpstreamError`]). Upstreams, connectors, event hooks, notifications
//! and the OTLP exporter all send through it; it knows no tenant, no store
//! and no SCIM resource.

pub mod credential;
mod error;
pub mod grant;
pub mod http;

pub use credential::Credential;
pub use error::{UpstreamError, retry_after_secs};
pub use grant::OriginGrant;
pub use http::{ClientError, HttpClient, HttpResponse, Outgoing, Sent};
