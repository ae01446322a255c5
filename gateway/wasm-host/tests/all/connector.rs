//! Connector instances: reused after a normal return, dropped after any
//! failure, and no call inherits another's HTTP budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pipeline::Operation;
use serde_json::json;
use wasm_host::{
    ConnectorError, HttpAnswer, HttpCallError, HttpGrant, HttpRequest, InstancePolicy, Limits, WasmConnector,
};

use super::{ctx, engine};

/// legacy-hr's origin, answered in memory: employee 7 exists, others are 404.
struct FakeHr {
    requests: AtomicUsize,
}

impl HttpGrant for FakeHr {
    fn send(&self, request: HttpRequest, _wait: Duration) -> Result<HttpAnswer, HttpCallError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !request.url.starts_with("http://hr.test/") {
            return Err(HttpCallError::Denied(format!("http.send to {} denied", request.url)));
        }
        let (status, body) = if request.url.ends_with("/employees/7") {
            (200, json!({"employee": {"id": 7, "mail": "ada@corp.example", "first": "Ada", "last": "L"}}).to_string())
        } else {
            (404, json!({"error": {"code": "not_found", "message": "no such employee"}}).to_string())
        };
        Ok(HttpAnswer { status, headers: Vec::new(), body })
    }

    fn budget(&self) -> u32 {
        2
    }
}

fn connector(path: &str, config: serde_json::Value) -> WasmConnector {
    let limits = Limits { deadline: Duration::from_secs(10), ..Limits::default() };
    WasmConnector::load_file(engine(), "connector", path.as_ref(), &config, limits).unwrap()
}

#[test]
fn an_instance_is_reused_after_normal_returns_and_dropped_after_a_stop() {
    let hr = connector(plugin_artifacts::LEGACY_HR_CONNECTOR, json!({"base_url": "http://hr.test"}));
    let grant = Arc::new(FakeHr { requests: AtomicUsize::new(0) });
    let get = ctx(Operation::Get, "User");
    assert_eq!(hr.idle_instances(), 0);
    let found = hr.get(grant.clone(), &get, "7").unwrap().expect("employee 7");
    assert_eq!(found["userName"], "ada@corp.example");
    assert_eq!(hr.idle_instances(), 1, "a successful call keeps its instance");
    // Many calls on the one instance: each gets the whole budget again.
    for _ in 0..5 {
        assert!(hr.get(grant.clone(), &get, "7").unwrap().is_some());
        assert!(hr.get(grant.clone(), &get, "8").unwrap().is_none(), "a 404 is the connector's normal answer");
    }
    assert_eq!(hr.idle_instances(), 1);
    assert_eq!(grant.requests.load(Ordering::Relaxed), 11);

    let hostile = connector(plugin_artifacts::HOSTILE_CONNECTOR, json!({"mode": "elsewhere"}));
    let err = hostile.get(grant.clone(), &get, "7").unwrap_err();
    assert!(matches!(err, ConnectorError::Stopped(ref m) if m.contains("denied")), "{err}");
    assert_eq!(hostile.idle_instances(), 0, "a stopped call's instance is never reused");
}

#[test]
fn the_fresh_policy_keeps_nothing() {
    let hr = connector(plugin_artifacts::LEGACY_HR_CONNECTOR, json!({"base_url": "http://hr.test"}))
        .with_policy(InstancePolicy::Fresh);
    let grant = Arc::new(FakeHr { requests: AtomicUsize::new(0) });
    assert!(hr.get(grant, &ctx(Operation::Get, "User"), "7").unwrap().is_some());
    assert_eq!(hr.idle_instances(), 0);
}

/// An upstream that answers after `delay`, or not before the wait it is given.
struct Slow {
    delay: Duration,
    waits: std::sync::Mutex<Vec<Duration>>,
}

impl HttpGrant for Slow {
    fn send(&self, _request: HttpRequest, wait: Duration) -> Result<HttpAnswer, HttpCallError> {
        self.waits.lock().unwrap().push(wait);
        if wait < self.delay {
            std::thread::sleep(wait);
            return Err(HttpCallError::Timeout);
        }
        std::thread::sleep(self.delay);
        Ok(HttpAnswer { status: 404, headers: Vec::new(), body: "{}".into() })
    }

    fn budget(&self) -> u32 {
        2
    }
}

#[test]
fn an_http_wait_never_outlasts_the_calls_deadline() {
    let limits = Limits { deadline: Duration::from_millis(300), ..Limits::default() };
    let config = json!({"base_url": "http://hr.test"});
    let hr = WasmConnector::load_file(
        engine(),
        "connector",
        plugin_artifacts::LEGACY_HR_CONNECTOR.as_ref(),
        &config,
        limits,
    )
    .unwrap();
    let slow = Arc::new(Slow { delay: Duration::from_millis(2500), waits: Default::default() });
    let started = std::time::Instant::now();
    let err = hr.get(slow.clone(), &ctx(Operation::Get, "User"), "7").unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ConnectorError::Stopped(ref m) if m.contains("deadline of 300 ms")), "{err}");
    assert!(took < Duration::from_millis(800), "stopped at its deadline, not the upstream's pace: {took:?}");
    let waits = slow.waits.lock().unwrap().clone();
    assert!(waits.iter().all(|w| *w <= Duration::from_millis(300)), "{waits:?}");
    // An upstream inside the deadline answers normally.
    let quick = Arc::new(Slow { delay: Duration::from_millis(10), waits: Default::default() });
    assert!(hr.get(quick, &ctx(Operation::Get, "User"), "7").unwrap().is_none());
}
