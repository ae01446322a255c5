//! Quarantine: a circuit breaker per upstream.
//!
//! After `failures` consecutive failures (no answer, or a broken one) the
//! breaker opens: requests are answered `503` with `Retry-After` at once
//! instead of piling up behind a dead target. While open, the owner probes
//! the upstream every `open_secs`; the first probe that succeeds closes it.
//! Transitions are kept (the last [`HISTORY`]) for the admin API.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::config::BreakerConfig;
use crate::outbound::UpstreamError;

/// Transitions kept per upstream.
const HISTORY: usize = 32;

pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

struct State {
    consecutive_failures: u32,
    /// Set while open: when the next probe is due.
    open_until: Option<Instant>,
    last_error: Option<String>,
    history: VecDeque<Transition>,
}

/// One change of state, as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub at: String,
    /// `open` or `closed`.
    pub state: &'static str,
    pub reason: String,
}

/// The breaker as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerStatus {
    /// `closed` or `open` (quarantined).
    pub state: &'static str,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub history: Vec<Transition>,
}

/// What recording an outcome did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    Opened,
    Closed,
}

impl Breaker {
    pub fn new(config: &BreakerConfig) -> Breaker {
        Breaker {
            threshold: config.failures,
            open_for: Duration::from_secs(config.open_secs.max(1)),
            state: Mutex::new(State {
                consecutive_failures: 0,
                open_until: None,
                last_error: None,
                history: VecDeque::new(),
            }),
        }
    }

    /// Refuse at once while quarantined.
    pub fn check(&self) -> Result<(), UpstreamError> {
        let state = self.lock();
        match state.open_until {
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                Err(UpstreamError::Quarantined { retry_after: left.max(Duration::from_secs(1)) })
            }
            None => Ok(()),
        }
    }

    /// Count one request's outcome: a success resets the count, a failure
    /// may open the breaker.
    pub fn record(&self, outcome: Result<(), &UpstreamError>) -> Change {
        let mut state = self.lock();
        match outcome {
            Ok(()) => {
                state.consecutive_failures = 0;
                Change::None
            }
            Err(e) if e.is_failure() => {
                state.consecutive_failures += 1;
                state.last_error = Some(e.to_string());
                if self.threshold > 0 && state.consecutive_failures >= self.threshold && state.open_until.is_none() {
                    state.open_until = Some(Instant::now() + self.open_for);
                    let reason = format!("{} consecutive failures; last: {e}", state.consecutive_failures);
                    push(&mut state.history, "open", reason);
                    Change::Opened
                } else {
                    Change::None
                }
            }
            Err(_) => Change::None,
        }
    }

    /// The result of a probe while open: success closes; failure keeps it
    /// open for another period.
    pub fn probed(&self, outcome: Result<(), &UpstreamError>) -> Change {
        let mut state = self.lock();
        if state.open_until.is_none() {
            return Change::None;
        }
        match outcome {
            Ok(()) => {
                state.open_until = None;
                state.consecutive_failures = 0;
                push(&mut state.history, "closed", "a probe succeeded".into());
                Change::Closed
            }
            Err(e) => {
                state.last_error = Some(e.to_string());
                state.open_until = Some(Instant::now() + self.open_for);
                Change::None
            }
        }
    }

    pub fn is_open(&self) -> bool {
        self.lock().open_until.is_some()
    }

    /// How long to wait between probes.
    pub fn open_for(&self) -> Duration {
        self.open_for
    }

    pub fn status(&self) -> BreakerStatus {
        let state = self.lock();
        BreakerStatus {
            state: if state.open_until.is_some() { "open" } else { "closed" },
            consecutive_failures: state.consecutive_failures,
            last_error: state.last_error.clone(),
            history: state.history.iter().cloned().collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn push(history: &mut VecDeque<Transition>, state: &'static str, reason: String) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(Transition { at: crate::store::now_rfc3339(), state, reason });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_a_probe_closes_it() {
        let b = Breaker::new(&BreakerConfig { failures: 3, open_secs: 5 });
        let down = UpstreamError::Transport("connection refused".into());
        assert_eq!(b.record(Err(&down)), Change::None);
        assert_eq!(b.record(Ok(())), Change::None, "a success resets the count");
        assert_eq!(b.record(Err(&down)), Change::None);
        assert_eq!(b.record(Err(&down)), Change::None);
        assert_eq!(b.record(Err(&down)), Change::Opened);
        assert!(
            matches!(b.check(), Err(UpstreamError::Quarantined { retry_after }) if retry_after <= Duration::from_secs(5))
        );
        assert_eq!(b.record(Err(&down)), Change::None, "opens once");
        assert_eq!(b.probed(Err(&down)), Change::None);
        assert_eq!(b.probed(Ok(())), Change::Closed);
        assert!(b.check().is_ok());
        let states: Vec<_> = b.status().history.iter().map(|t| t.state).collect();
        assert_eq!(states, ["open", "closed"]);
    }

    #[test]
    fn the_idps_own_errors_do_not_count() {
        let b = Breaker::new(&BreakerConfig { failures: 1, open_secs: 5 });
        let refused = UpstreamError::Refused(scim::ScimError::uniqueness("taken"));
        assert_eq!(b.record(Err(&refused)), Change::None);
        assert!(b.check().is_ok());
    }
}
