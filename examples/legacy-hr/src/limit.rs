//! A process-wide token bucket over all `/api` requests, imitating the kind
//! of crude quota legacy systems put in front of their API. Connectors must
//! honour the `Retry-After` it produces.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `rate` tokens per second refill a bucket of `burst` tokens; each request
/// takes one.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// A full bucket. `None` when `rate` is 0 (limiting off); a `burst` of 0
    /// is raised to 1 so that the limiter can ever admit a request.
    pub fn new(rate: u32, burst: u32) -> Option<Self> {
        if rate == 0 {
            return None;
        }
        let burst = f64::from(burst.max(1));
        Some(RateLimiter {
            rate: f64::from(rate),
            burst,
            state: Mutex::new(Bucket { tokens: burst, refilled_at: Instant::now() }),
        })
    }

    /// Take a token, or say how long until one is available.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.try_acquire_at(Instant::now())
    }

    fn try_acquire_at(&self, now: Instant) -> Result<(), Duration> {
        // The bucket is two numbers that are always consistent, so a panic
        // elsewhere while holding the lock cannot leave it broken.
        let mut bucket = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// `Retry-After` is whole seconds; round up so a client that obeys it
/// finds a token, and never say 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_is_off() {
        assert!(RateLimiter::new(0, 5).is_none());
    }

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(2, 3).expect("limiter");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_acquire_at(t0).is_ok());
        }
        let wait = limiter.try_acquire_at(t0).expect_err("bucket empty");
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
        // Half a second at 2/s refills exactly one token.
        assert!(limiter.try_acquire_at(t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.try_acquire_at(t0 + Duration::from_millis(500)).is_err());
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.try_acquire_at(later).is_ok());
        }
        assert!(limiter.try_acquire_at(later).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }
}
