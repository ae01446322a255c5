//! One failure type for every request the gateway answers, and the one
//! place where a failure becomes an HTTP status, a SCIM error body and its
//! headers.
//!
//! A [`Failure`] records who failed ([`Party`]): the client (the IdP sent
//! something wrong or refused), a pipeline step, the upstream, the store or
//! the gateway itself. The SCIM listener, the admin API, the metrics and
//! the provisioning log all read the same [`Failure::reply`], so a step's
//! refusal is a 400 and an upstream's 429 a 429 with `Retry-After`
//! wherever it surfaces.

use pipeline::StepError;
use scim::ScimError;

use crate::outbound::{UpstreamError, retry_after_secs};
use crate::store::StoreError;

/// Who caused a failure: the label in metrics and the provisioning log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The request is wrong or refused by the data (4xx the IdP must fix or accept).
    Client,
    /// A pipeline step refused the document or broke.
    Step,
    /// The upstream (or the tenant's connector) failed, refused or asked to wait.
    Upstream,
    /// The gateway's own storage.
    Store,
    /// The gateway itself (a task that died, an invariant broken).
    Gateway,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Client => "client",
            Party::Step => "step",
            Party::Upstream => "upstream",
            Party::Store => "store",
            Party::Gateway => "gateway",
        }
    }
}

/// What a failed request tells its caller.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The client's fault or a refused request: answered as-is.
    #[error(transparent)]
    Client(ScimError),
    /// The endpoint exists but not for this method; carries the `Allow` value.
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowed(&'static str),
    /// A pipeline step refused the document (400) or broke (500); the
    /// detail names the step and the cause.
    #[error(transparent)]
    Step(#[from] StepError),
    /// The upstream failed or refused; it says what the IdP should hear.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The store failed (not a refusal: those are [`Failure::Client`]).
    #[error(transparent)]
    Store(StoreError),
    /// A failure of the gateway itself; answered as 500 without internals.
    #[error("{0}")]
    Gateway(String),
}

/// A failure as HTTP: status, SCIM error body and the headers that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub error: ScimError,
    /// Seconds for `Retry-After` (every 429 and 503 has one).
    pub retry_after: Option<u64>,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl From<ScimError> for Failure {
    fn from(e: ScimError) -> Self {
        Failure::Client(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Scim(s) => Failure::Client(s),
            other => Failure::Store(other),
        }
    }
}

impl Failure {
    pub fn party(&self) -> Party {
        match self {
            Failure::Client(_) | Failure::MethodNotAllowed(_) => Party::Client,
            Failure::Step(_) => Party::Step,
            Failure::Upstream(_) => Party::Upstream,
            Failure::Store(_) => Party::Store,
            Failure::Gateway(_) => Party::Gateway,
        }
    }

    /// A failure the IdP's retries will not fix and an admin must: a step
    /// refused the document or broke, or the upstream refused the request
    /// or the gateway's credentials.
    pub fn needs_admin(&self) -> bool {
        match self {
            Failure::Step(_) => true,
            Failure::Upstream(e) => {
                matches!(e, UpstreamError::Refused(_) | UpstreamError::Failed { status: 400..=499, .. })
            }
            _ => false,
        }
    }

    /// The answer. Internal failures are logged here with `request_id` and
    /// answered without their details; everything else says what happened.
    pub fn reply(&self, request_id: &str) -> Reply {
        let plain = |error: ScimError| Reply { retry_after: default_retry_after(error.status), error, allow: None };
        match self {
            Failure::Client(e) => plain(e.clone()),
            Failure::MethodNotAllowed(allow) => Reply {
                error: ScimError::status(405, format!("method not allowed on this endpoint; allowed: {allow}")),
                retry_after: None,
                allow: Some(allow),
            },
            Failure::Step(e) => {
                tracing::warn!(error = %e, "pipeline step failed");
                plain(match e {
                    StepError::Rejected { .. } => ScimError::invalid_value(e.to_string()),
                    StepError::Failed { .. } | StepError::Timeout { .. } | StepError::ResourceLimit { .. } => {
                        ScimError::status(500, format!("pipeline step failed: {e}"))
                    }
                })
            }
            Failure::Upstream(e) => {
                tracing::warn!(error = %e, "upstream call failed");
                let (error, retry_after) = e.to_scim();
                let retry_after = retry_after.map(retry_after_secs).or(default_retry_after(error.status));
                Reply { error, retry_after, allow: None }
            }
            Failure::Store(e) if e.is_busy() => {
                tracing::warn!(error = %e, "store busy");
                plain(ScimError::status(503, format!("the store is busy; retry (request {request_id})")))
            }
            Failure::Store(e) => {
                tracing::error!(error = %e, "store failure");
                plain(ScimError::status(500, format!("internal error (request {request_id})")))
            }
            Failure::Gateway(detail) => {
                tracing::error!(%detail, "internal failure");
                plain(ScimError::status(500, format!("internal error (request {request_id})")))
            }
        }
    }
}

/// Every "come back later" carries a `Retry-After` the IdP can obey.
fn default_retry_after(status: u16) -> Option<u64> {
    matches!(status, 429 | 503).then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_party_maps_to_its_status_in_one_place() {
        let rejected = Failure::Step(StepError::Rejected { step: "s".into(), message: "no".into() });
        assert_eq!(rejected.reply("r").error.status, 400);
        assert_eq!(rejected.party(), Party::Step);
        let busy = Failure::Upstream(UpstreamError::Busy { status: 429, retry_after: Duration::from_secs(7) });
        let reply = busy.reply("r");
        assert_eq!((reply.error.status, reply.retry_after), (429, Some(7)));
        let quarantined = Failure::Upstream(UpstreamError::Quarantined { retry_after: Duration::from_millis(1500) });
        assert_eq!(quarantined.reply("r").retry_after, Some(2));
        let gone = Failure::Gateway("task died".into()).reply("req-1");
        assert_eq!(gone.error.status, 500);
        assert!(!gone.error.detail.contains("task died") && gone.error.detail.contains("req-1"));
        let refused = Failure::from(StoreError::Scim(ScimError::uniqueness("taken")));
        assert_eq!((refused.party(), refused.reply("r").error.status), (Party::Client, 409));
        let allow = Failure::MethodNotAllowed("GET").reply("r");
        assert_eq!((allow.error.status, allow.allow), (405, Some("GET")));
        let unavailable = Failure::Client(ScimError::status(503, "later")).reply("r");
        assert_eq!(unavailable.retry_after, Some(1));
    }
}
