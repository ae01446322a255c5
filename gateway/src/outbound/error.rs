//! What can go wrong between the gateway and an upstream, and how the IdP
//! hears about it: the upstream's own SCIM errors pass through with their
//! status and `scimType`; our transport failures become `502`/`504`; and
//! every "come back later" (`429`, `503`, our throttle, an open breaker)
//! carries a `Retry-After` the IdP can obey.

use std::time::Duration;

use scim::ScimError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream answered with a SCIM error the IdP should see as-is
    /// (a 4xx other than 401/403/429).
    #[error("upstream refused: {0}")]
    Refused(ScimError),
    /// The upstream asked us to slow down or is unavailable (`429`, `503`).
    #[error("upstream answered {status}; retry after {}s", retry_after.as_secs())]
    Busy { status: u16, retry_after: Duration },
    /// Our own outbound throttle: the backlog is longer than the IdP would wait.
    #[error("the upstream's queue is full; retry after {}s", retry_after.as_secs())]
    Throttled { retry_after: Duration },
    /// The breaker is open: the upstream failed repeatedly and is being probed.
    #[error("the upstream is quarantined after repeated failures; retry after {}s", retry_after.as_secs())]
    Quarantined { retry_after: Duration },
    /// No answer within the timeout.
    #[error("the upstream did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Connection refused or reset, TLS failure, a body cut short.
    #[error("the upstream could not be reached: {0}")]
    Transport(String),
    /// The upstream broke (5xx) or rejected our credentials (401/403): not
    /// the IdP's problem to fix, so never passed through as such.
    #[error("the upstream answered {status}: {detail}")]
    Failed { status: u16, detail: String },
    /// The upstream answered something that is not the SCIM it promised.
    #[error("the upstream answered malformed SCIM: {0}")]
    Malformed(String),
    /// The host stopped the tenant's connector plugin (a forbidden origin,
    /// too many requests, its deadline or memory cap, a trap): ours to fix.
    #[error("{0}")]
    Connector(String),
}

impl UpstreamError {
    /// The error the IdP gets, and the `Retry-After` to send with it.
    pub fn to_scim(&self) -> (ScimError, Option<Duration>) {
        match self {
            UpstreamError::Refused(e) => (ScimError { detail: format!("upstream: {}", e.detail), ..e.clone() }, None),
            UpstreamError::Busy { status, retry_after } => {
                (ScimError::status(*status, self.to_string()), Some(*retry_after))
            }
            UpstreamError::Throttled { retry_after } => (ScimError::status(429, self.to_string()), Some(*retry_after)),
            UpstreamError::Quarantined { retry_after } => {
                (ScimError::status(503, self.to_string()), Some(*retry_after))
            }
            UpstreamError::Timeout(_) => (ScimError::status(504, self.to_string()), None),
            UpstreamError::Connector(_) => (ScimError::status(500, self.to_string()), None),
            UpstreamError::Transport(_) | UpstreamError::Failed { .. } | UpstreamError::Malformed(_) => {
                (ScimError::status(502, self.to_string()), None)
            }
        }
    }

    /// Whether this counts against the upstream's health (the breaker):
    /// it did not answer, or answered like a broken service.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            UpstreamError::Timeout(_)
                | UpstreamError::Transport(_)
                | UpstreamError::Malformed(_)
                | UpstreamError::Busy { status: 503, .. }
        ) || matches!(self, UpstreamError::Failed { status, .. } if *status >= 500)
    }

    /// Worth another attempt for an idempotent request.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Timeout(_) | UpstreamError::Transport(_) => true,
            UpstreamError::Busy { status: 503, retry_after } => *retry_after <= Duration::from_secs(2),
            UpstreamError::Failed { status, .. } => matches!(status, 502 | 504),
            _ => false,
        }
    }

    /// The label of this error kind in metrics and the provisioning log.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Refused(_) => "refused",
            UpstreamError::Busy { .. } => "busy",
            UpstreamError::Throttled { .. } => "throttled",
            UpstreamError::Quarantined { .. } => "quarantined",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Transport(_) => "transport",
            UpstreamError::Failed { .. } => "failed",
            UpstreamError::Malformed(_) => "malformed",
            UpstreamError::Connector(_) => "connector",
        }
    }
}

/// A `Retry-After` value in seconds, rounded up and at least one.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}
