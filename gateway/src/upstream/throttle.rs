//! Outbound throttling: a token bucket and a concurrency limit per upstream.
//!
//! Targets accept far less than an IdP sends (Entra pushes 16-25 requests/s
//! per job; some SaaS SCIM APIs take 3-5 creates/s). A request waits its turn
//! while the wait fits the IdP's patience (`max_wait`); past that it is
//! refused at once with `429` and a `Retry-After` equal to the backlog ahead
//! of it, so it never reaches the upstream and the IdP's retry is not a
//! duplicate. The upstream's own `429 Retry-After` pauses the bucket.
//!
//! The bucket is a GCRA (generic cell rate algorithm): one "theoretical
//! arrival time" instead of a refill timer, so a reservation is a few
//! arithmetic operations under a mutex and a sleep outside it.
//!
//! Replicas on one store share the configured rate: each takes `rate / N`
//! for the N replicas alive ([`Replicas`], kept by the server's heartbeat in
//! the store), so that together they hold the upstream's rate.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::ThrottleConfig;
use crate::outbound::UpstreamError;

/// How many gateway replicas share each upstream's rate (1 alone); cheap
/// to clone, updated by the server's heartbeat.
#[derive(Clone, Debug)]
pub struct Replicas(Arc<AtomicUsize>);

impl Default for Replicas {
    fn default() -> Self {
        Replicas(Arc::new(AtomicUsize::new(1)))
    }
}

impl Replicas {
    pub fn set(&self, alive: usize) {
        self.0.store(alive.max(1), Ordering::Relaxed);
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed).max(1)
    }
}

pub struct Throttle {
    bucket: Option<Mutex<Bucket>>,
    replicas: Replicas,
    slots: Option<(Arc<Semaphore>, usize)>,
    max_wait: Duration,
    /// Requests waiting for a slot or their reserved time.
    waiting: AtomicUsize,
    /// A moving average of how long a turn is held (µs), to tell a refused
    /// request how long the queue ahead of it takes to drain.
    held_us: Arc<AtomicU64>,
}

struct Bucket {
    /// Time between two requests at the configured rate (this replica's
    /// share is `interval * replicas`).
    interval: Duration,
    /// How far ahead of its schedule a burst may run (`(burst - 1) * interval`).
    tolerance: Duration,
    /// When the next request would be due if the bucket were never idle.
    due: Instant,
    /// The upstream said "not before" (its `429 Retry-After`).
    paused_until: Option<Instant>,
}

/// A request's right to go to the upstream; its concurrency slot is given
/// back when it is dropped.
pub struct Turn {
    _slot: Option<OwnedSemaphorePermit>,
    started: Instant,
    held_us: Arc<AtomicU64>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let held = self.started.elapsed().as_micros() as u64;
        let old = self.held_us.load(Ordering::Relaxed);
        let avg = if old == 0 { held } else { (old * 7 + held) / 8 };
        self.held_us.store(avg, Ordering::Relaxed);
    }
}

impl Throttle {
    pub fn new(config: &ThrottleConfig, replicas: Replicas) -> Throttle {
        let bucket = config.rate_per_sec.filter(|r| *r > 0.0).map(|rate| {
            let interval = Duration::from_secs_f64(1.0 / rate);
            let burst = config.burst.unwrap_or(1).max(1);
            Mutex::new(Bucket { interval, tolerance: interval * (burst - 1), due: Instant::now(), paused_until: None })
        });
        let slots = config.concurrency.filter(|c| *c > 0).map(|c| (Arc::new(Semaphore::new(c)), c));
        Throttle {
            bucket,
            replicas,
            slots,
            max_wait: Duration::from_secs_f64(config.max_wait_secs.max(0.0)),
            waiting: AtomicUsize::new(0),
            held_us: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Wait for this request's turn, or refuse it when the wait would be
    /// longer than the IdP waits.
    pub async fn turn(&self) -> Result<Turn, UpstreamError> {
        let deadline = Instant::now() + self.max_wait;
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let turn = self.wait_for_turn(deadline).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        turn
    }

    async fn wait_for_turn(&self, deadline: Instant) -> Result<Turn, UpstreamError> {
        if let Some(bucket) = &self.bucket {
            let at = self.reserve(bucket, deadline)?;
            tokio::time::sleep_until(at).await;
            // A pause that came after the reservation still holds.
            let paused = lock(bucket).paused_until.filter(|p| *p > Instant::now());
            if let Some(until) = paused {
                if until > deadline {
                    return Err(UpstreamError::Throttled { retry_after: until - Instant::now() });
                }
                tokio::time::sleep_until(until).await;
            }
        }
        let turn = |slot| Turn { _slot: slot, started: Instant::now(), held_us: self.held_us.clone() };
        let Some((slots, size)) = &self.slots else { return Ok(turn(None)) };
        match tokio::time::timeout_at(deadline, slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(turn(Some(slot))),
            // Timed out (or closed, which never happens): the queue ahead
            // drains `size` turns at a time.
            _ => {
                let ahead = self.waiting.load(Ordering::Relaxed) as u64;
                let held = self.held_us.load(Ordering::Relaxed);
                let drain = Duration::from_micros(held.saturating_mul(ahead) / (*size as u64).max(1));
                Err(UpstreamError::Throttled { retry_after: drain.max(Duration::from_secs(1)) })
            }
        }
    }

    /// Book the next slot of the bucket; refuse without booking when it is
    /// past `deadline`.
    fn reserve(&self, bucket: &Mutex<Bucket>, deadline: Instant) -> Result<Instant, UpstreamError> {
        let mut b = lock(bucket);
        let now = Instant::now();
        let earliest = b.due.checked_sub(b.tolerance).unwrap_or(now);
        let at = [now, earliest, b.paused_until.unwrap_or(now)].into_iter().max().unwrap_or(now);
        if at > deadline {
            return Err(UpstreamError::Throttled { retry_after: at - now });
        }
        let share = u32::try_from(self.replicas.get()).unwrap_or(u32::MAX);
        b.due = b.due.max(at) + b.interval.saturating_mul(share);
        Ok(at)
    }

    /// The upstream answered `429 Retry-After`: nothing goes before then.
    pub fn pause(&self, retry_after: Duration) {
        if let Some(bucket) = &self.bucket {
            let mut b = lock(bucket);
            let until = Instant::now() + retry_after;
            b.paused_until = Some(b.paused_until.map_or(until, |p| p.max(until)));
        }
    }

    /// Requests waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

fn lock(bucket: &Mutex<Bucket>) -> std::sync::MutexGuard<'_, Bucket> {
    // The critical sections cannot panic; a poisoned lock still holds valid state.
    bucket.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(rate: f64, burst: u32, max_wait: f64) -> Throttle {
        Throttle::new(
            &ThrottleConfig {
                rate_per_sec: Some(rate),
                burst: Some(burst),
                concurrency: None,
                max_wait_secs: max_wait,
            },
            Replicas::default(),
        )
    }

    /// Three replicas each take a third of the rate: ten turns here at
    /// 30/s take as long as ten at 10/s alone.
    #[tokio::test(start_paused = true)]
    async fn replicas_share_the_rate() {
        let replicas = Replicas::default();
        let t = Throttle::new(
            &ThrottleConfig { rate_per_sec: Some(30.0), burst: Some(1), concurrency: None, max_wait_secs: 60.0 },
            replicas.clone(),
        );
        replicas.set(3);
        let start = Instant::now();
        for _ in 0..10 {
            drop(t.turn().await.unwrap());
        }
        // The first turn is due at once, the other nine 100 ms apart.
        assert_eq!(start.elapsed(), Duration::from_millis(900));
    }

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_at_the_rate_after_the_burst() {
        let t = throttle(5.0, 2, 60.0);
        let start = Instant::now();
        for _ in 0..2 {
            t.turn().await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        t.turn().await.unwrap();
        t.turn().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_with_the_backlog_when_the_wait_is_too_long() {
        let t = throttle(1.0, 1, 2.0);
        let now = Instant::now();
        let b = t.bucket.as_ref().unwrap();
        // Three reservations fit (now, +1 s, +2 s); the fourth would wait 3 s.
        for _ in 0..3 {
            t.reserve(b, now + Duration::from_secs(2)).unwrap();
        }
        match t.reserve(b, now + Duration::from_secs(2)) {
            Err(UpstreamError::Throttled { retry_after }) => assert_eq!(retry_after, Duration::from_secs(3)),
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_429_pauses_the_bucket() {
        let t = throttle(100.0, 10, 60.0);
        t.pause(Duration::from_secs(3));
        let start = Instant::now();
        t.turn().await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn the_concurrency_limit_queues_then_refuses() {
        let t = Throttle::new(
            &ThrottleConfig { rate_per_sec: None, burst: None, concurrency: Some(1), max_wait_secs: 1.0 },
            Replicas::default(),
        );
        let held = t.turn().await.unwrap();
        assert!(matches!(t.turn().await, Err(UpstreamError::Throttled { .. })));
        drop(held);
        t.turn().await.unwrap();
    }
}
