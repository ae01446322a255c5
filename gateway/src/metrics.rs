//! Prometheus metrics, kept in process and rendered on scrape
//! (`GET /metrics` on the admin listener).
//!
//! Label values are bounded: tenant names come from the config, operations
//! and hooks from fixed lists, step names from tenant files, statuses from
//! HTTP. No resource id, user name or token ever becomes a label.
//!
//! The hot path takes a read lock and bumps atomics; a series is created
//! under the write lock the first time it is seen.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets: from a cached
/// read to past the upstream timeout (10 s by default) and a slow IdP's
/// patience (60 s), so a request that waited for a timeout is not lost in
/// `+Inf`.
const BUCKETS: [f64; 17] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&le| secs <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (le, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Label values, in the order of the family's label names.
type Labels = Vec<String>;

/// One metric family: a set of counters or histograms by label values,
/// keyed by the values joined with a separator no value holds.
struct Family<T> {
    series: RwLock<BTreeMap<String, (Labels, T)>>,
}

impl<T> Family<T> {
    fn new() -> Family<T> {
        Family { series: RwLock::new(BTreeMap::new()) }
    }

    fn with(&self, labels: &[&str], create: impl FnOnce() -> T, f: impl FnOnce(&T)) {
        let key = labels.join("\u{1f}");
        if let Some((_, t)) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            f(t);
            return;
        }
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        let values: Labels = labels.iter().map(|s| (*s).to_owned()).collect();
        f(&series.entry(key).or_insert_with(|| (values, create())).1);
    }
}

/// Every metric the gateway keeps.
pub struct Metrics {
    /// Off: every record call returns at once (to measure what metrics cost).
    enabled: bool,
    requests: Family<AtomicU64>,
    request_seconds: Family<Histogram>,
    step_seconds: Family<Histogram>,
    step_failures: Family<AtomicU64>,
    request_failures: Family<AtomicU64>,
    store_write_seconds: Family<Histogram>,
    upstream_requests: Family<AtomicU64>,
    upstream_seconds: Family<Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(true)
    }
}

impl Metrics {
    pub fn new(enabled: bool) -> Metrics {
        Metrics {
            enabled,
            requests: Family::new(),
            request_seconds: Family::new(),
            step_seconds: Family::new(),
            step_failures: Family::new(),
            request_failures: Family::new(),
            store_write_seconds: Family::new(),
            upstream_requests: Family::new(),
            upstream_seconds: Family::new(),
        }
    }
}

/// Reload and snapshot facts the registry reports at scrape time.
pub struct SnapshotFacts {
    pub versions: Vec<(String, u64)>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Per tenant with an upstream: whether its breaker is open, and how
    /// many requests wait in its throttle.
    pub upstreams: Vec<(String, bool, usize)>,
}

impl Metrics {
    /// One answered SCIM request.
    pub fn request(&self, tenant: &str, operation: &str, status: u16, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        let status = status.to_string();
        self.requests.with(
            &[tenant, operation, &status],
            || AtomicU64::new(0),
            |c| {
                c.fetch_add(1, Ordering::Relaxed);
            },
        );
        self.request_seconds.with(&[tenant, operation], Histogram::new, |h| h.observe(elapsed));
    }

    /// A request that failed, by who failed (`Party`: client, step,
    /// upstream, store, gateway).
    pub fn request_failure(&self, tenant: &str, failed_by: &str) {
        if !self.enabled {
            return;
        }
        self.request_failures.with(
            &[tenant, failed_by],
            || AtomicU64::new(0),
            |c| {
                c.fetch_add(1, Ordering::Relaxed);
            },
        );
    }

    /// One hook call of a pipeline step (`kind`: mapping, rhai, wasm).
    pub fn step(&self, tenant: &str, step: &str, hook: &str, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        self.step_seconds.with(&[tenant, step, hook], Histogram::new, |h| h.observe(elapsed));
    }

    /// A step that failed a request: `reason` is rejected, failed, timeout or resource_limit.
    pub fn step_failure(&self, tenant: &str, step: &str, reason: &str) {
        self.step_failures.with(
            &[tenant, step, reason],
            || AtomicU64::new(0),
            |c| {
                c.fetch_add(1, Ordering::Relaxed);
            },
        );
    }

    /// One store write (shadow and target in one transaction), commit included.
    pub fn store_write(&self, tenant: &str, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        self.store_write_seconds.with(&[tenant], Histogram::new, |h| h.observe(elapsed));
    }

    /// One call to a tenant's upstream (`outcome`: the HTTP status, or the
    /// error kind when there was none: timeout, transport, throttled...).
    pub fn upstream(&self, tenant: &str, operation: &str, outcome: &str, elapsed: Option<Duration>) {
        if !self.enabled {
            return;
        }
        self.upstream_requests.with(
            &[tenant, operation, outcome],
            || AtomicU64::new(0),
            |c| {
                c.fetch_add(1, Ordering::Relaxed);
            },
        );
        if let Some(elapsed) = elapsed {
            self.upstream_seconds.with(&[tenant, operation], Histogram::new, |h| h.observe(elapsed));
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, facts: &SnapshotFacts) -> String {
        let mut out = String::new();
        counters(
            &mut out,
            "scimgate_requests_total",
            "SCIM requests answered.",
            &["tenant", "operation", "status"],
            &self.requests,
        );
        counters(
            &mut out,
            "scimgate_request_failures_total",
            "SCIM requests that failed, by who failed.",
            &["tenant", "failed_by"],
            &self.request_failures,
        );
        histograms(
            &mut out,
            "scimgate_request_duration_seconds",
            "Time to answer a SCIM request.",
            &["tenant", "operation"],
            &self.request_seconds,
        );
        histograms(
            &mut out,
            "scimgate_step_duration_seconds",
            "Time of one pipeline hook call.",
            &["tenant", "step", "hook"],
            &self.step_seconds,
        );
        counters(
            &mut out,
            "scimgate_step_failures_total",
            "Requests a pipeline step failed, by reason.",
            &["tenant", "step", "reason"],
            &self.step_failures,
        );
        histograms(
            &mut out,
            "scimgate_store_write_duration_seconds",
            "Time of one store write, commit included.",
            &["tenant"],
            &self.store_write_seconds,
        );
        counters(
            &mut out,
            "scimgate_upstream_requests_total",
            "Calls to upstreams, by HTTP status or error kind.",
            &["tenant", "operation", "outcome"],
            &self.upstream_requests,
        );
        histograms(
            &mut out,
            "scimgate_upstream_request_duration_seconds",
            "Time of one upstream call, retries included, throttle wait excluded.",
            &["tenant", "operation"],
            &self.upstream_seconds,
        );
        let _ = writeln!(out, "# HELP scimgate_upstream_quarantined 1 while a tenant's upstream breaker is open.");
        let _ = writeln!(out, "# TYPE scimgate_upstream_quarantined gauge");
        for (tenant, open, _) in &facts.upstreams {
            let _ = writeln!(out, "scimgate_upstream_quarantined{{tenant=\"{}\"}} {}", escape(tenant), u8::from(*open));
        }
        let _ =
            writeln!(out, "# HELP scimgate_upstream_throttle_waiting Requests waiting for their turn to an upstream.");
        let _ = writeln!(out, "# TYPE scimgate_upstream_throttle_waiting gauge");
        for (tenant, _, waiting) in &facts.upstreams {
            let _ = writeln!(out, "scimgate_upstream_throttle_waiting{{tenant=\"{}\"}} {waiting}", escape(tenant));
        }
        let _ = writeln!(out, "# HELP scimgate_tenant_snapshot_version The running snapshot of each tenant.");
        let _ = writeln!(out, "# TYPE scimgate_tenant_snapshot_version gauge");
        for (tenant, version) in &facts.versions {
            let _ = writeln!(out, "scimgate_tenant_snapshot_version{{tenant=\"{}\"}} {version}", escape(tenant));
        }
        let _ = writeln!(out, "# HELP scimgate_build_info The running build (always 1).");
        let _ = writeln!(out, "# TYPE scimgate_build_info gauge");
        let _ = writeln!(out, "scimgate_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        process_metrics(&mut out);
        let _ = writeln!(out, "# HELP scimgate_reloads_total Configuration reloads, by result.");
        let _ = writeln!(out, "# TYPE scimgate_reloads_total counter");
        let _ = writeln!(out, "scimgate_reloads_total{{result=\"ok\"}} {}", facts.reloads_ok);
        let _ = writeln!(out, "scimgate_reloads_total{{result=\"refused\"}} {}", facts.reloads_failed);
        out
    }
}

fn label_text(names: &[&str], values: &[String]) -> String {
    names.iter().zip(values).map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect::<Vec<_>>().join(",")
}

/// The standard `process_*` metrics, read from `/proc/self` (Linux; absent
/// elsewhere): memory, CPU time, threads, open file descriptors, start time.
fn process_metrics(out: &mut String) {
    let Some(process) = ProcessFacts::read() else { return };
    let mut gauge = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    gauge("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", process.rss_bytes);
    gauge("process_cpu_seconds_total", "counter", "User and system CPU time in seconds.", process.cpu_seconds);
    gauge("process_threads", "gauge", "OS threads of the process.", process.threads);
    gauge("process_open_fds", "gauge", "Open file descriptors.", process.open_fds);
    gauge("process_start_time_seconds", "gauge", "Start time since the Unix epoch in seconds.", process.start_time);
}

struct ProcessFacts {
    rss_bytes: f64,
    cpu_seconds: f64,
    threads: f64,
    open_fds: f64,
    start_time: f64,
}

impl ProcessFacts {
    fn read() -> Option<ProcessFacts> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces), 1-based
        // from field 3 (`state`): utime 14, stime 15, threads 20, start 22, rss 24.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let ticks = 100.0; // USER_HZ, 100 on every Linux the gateway targets.
        let page = 4096.0;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64();
        let boot = now - uptime;
        Some(ProcessFacts {
            rss_bytes: field(24)? * page,
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            threads: field(20)?,
            open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as f64,
            start_time: boot + field(22)? / ticks,
        })
    }
}

fn counters(out: &mut String, name: &str, help: &str, names: &[&str], family: &Family<AtomicU64>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, counter) in family.series.read().unwrap_or_else(|e| e.into_inner()).values() {
        let _ = writeln!(out, "{name}{{{}}} {}", label_text(names, labels), counter.load(Ordering::Relaxed));
    }
}

fn histograms(out: &mut String, name: &str, help: &str, names: &[&str], family: &Family<Histogram>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (labels, histogram) in family.series.read().unwrap_or_else(|e| e.into_inner()).values() {
        histogram.render(out, name, &label_text(names, labels));
    }
}

/// Escape a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.request("acme", "create", 201, Duration::from_micros(300));
        m.request("acme", "create", 201, Duration::from_millis(30));
        m.request("acme", "create", 409, Duration::from_micros(80));
        m.step_failure("acme", "spin.wasm", "timeout");
        let text = m.render(&SnapshotFacts {
            versions: vec![("acme".into(), 3)],
            reloads_ok: 2,
            reloads_failed: 1,
            upstreams: vec![("acme".into(), true, 4)],
        });
        assert!(
            text.contains("scimgate_requests_total{tenant=\"acme\",operation=\"create\",status=\"201\"} 2"),
            "{text}"
        );
        assert!(text.contains("scimgate_requests_total{tenant=\"acme\",operation=\"create\",status=\"409\"} 1"));
        assert!(text.contains(
            "scimgate_request_duration_seconds_bucket{tenant=\"acme\",operation=\"create\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains(
            "scimgate_request_duration_seconds_bucket{tenant=\"acme\",operation=\"create\",le=\"0.0005\"} 2"
        ));
        assert!(text.contains("scimgate_request_duration_seconds_count{tenant=\"acme\",operation=\"create\"} 3"));
        assert!(text.contains("scimgate_step_failures_total{tenant=\"acme\",step=\"spin.wasm\",reason=\"timeout\"} 1"));
        assert!(text.contains("scimgate_tenant_snapshot_version{tenant=\"acme\"} 3"));
        assert!(text.contains("scimgate_reloads_total{result=\"refused\"} 1"));
        assert!(text.contains(&format!("scimgate_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
        let process = ProcessFacts::read().expect("/proc/self on Linux");
        assert!(process.rss_bytes > 1e6 && process.threads >= 1.0 && process.open_fds >= 3.0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((now - 3600.0..=now + 5.0).contains(&process.start_time), "{} vs {now}", process.start_time);
        assert!(text.contains("process_resident_memory_bytes ") && text.contains("process_cpu_seconds_total "));
        assert!(text.contains("scimgate_upstream_quarantined{tenant=\"acme\"} 1"));
        assert!(text.contains("scimgate_upstream_throttle_waiting{tenant=\"acme\"} 4"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
