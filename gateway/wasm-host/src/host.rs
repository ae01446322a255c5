//! What a plugin's store holds: the WASI context that grants nothing, the
//! memory limiter, the captured stderr, and the host `log` import.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::scimgate::plugin::host::{self, LogLevel};
use crate::bindings::scimgate::plugin::http;
use crate::bindings::scimgate::plugin::types;
use crate::connector::{HttpCallError, HttpGrant, HttpRequest};

/// The longest HTTP wait of a call granted without a deadline (none is, today).
const MAX_HTTP_WAIT: Duration = Duration::from_secs(30);

/// Log lines a plugin may write per call; more are dropped (one warning says so).
pub const MAX_LOG_LINES_PER_CALL: u32 = 32;
/// Longer log lines are cut to this many bytes.
pub const MAX_LOG_LINE_BYTES: usize = 2048;
/// How much of a plugin's stderr is kept (for the panic message of a trap).
const STDERR_CAPTURE_BYTES: usize = 4096;

/// The data of one plugin store.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    plugin: Arc<str>,
    tenant: String,
    log_lines_left: u32,
    stderr: CapturedOutput,
    /// Outbound HTTP for this call, if the host grants any.
    http: Option<Arc<dyn HttpGrant>>,
    http_calls_left: u32,
    /// When this call's deadline passes: an HTTP wait never outlasts it.
    http_deadline: Option<(Instant, Duration)>,
    /// Why the host stopped the plugin in an HTTP call (for the error).
    pub(crate) http_stopped: Option<String>,
}

impl HostState {
    pub(crate) fn new(plugin: Arc<str>, memory_bytes: usize) -> HostState {
        let stderr = CapturedOutput::new(STDERR_CAPTURE_BYTES);
        // No preopens, no env, no args, no network; stdin closed, stdout
        // discarded, stderr captured (bounded) for panic messages.
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_bytes),
            plugin,
            tenant: String::new(),
            log_lines_left: MAX_LOG_LINES_PER_CALL,
            stderr,
            http: None,
            http_calls_left: 0,
            http_deadline: None,
            http_stopped: None,
        }
    }

    /// Grant outbound HTTP to the next call: at most `budget` requests, each
    /// checked and sent by `grant`, none waiting past the call's `deadline`
    /// (from now). The epoch deadline cannot interrupt the host while it
    /// waits, so the wait itself is bounded here.
    pub(crate) fn grant_http(&mut self, grant: Arc<dyn HttpGrant>, budget: u32, deadline: Duration) {
        self.http = Some(grant);
        self.http_calls_left = budget;
        self.http_deadline = Some((Instant::now() + deadline, deadline));
        self.http_stopped = None;
    }

    /// Reset the per-call state before a call.
    pub(crate) fn begin_call(&mut self, tenant: &str) {
        tenant.clone_into(&mut self.tenant);
        self.log_lines_left = MAX_LOG_LINES_PER_CALL;
        // No call inherits another's HTTP grant (reused instances).
        self.http = None;
        self.http_calls_left = 0;
        self.http_deadline = None;
        self.http_stopped = None;
        self.limiter.denied = None;
        self.stderr.clear();
    }

    /// What the plugin wrote to stderr during this call, trimmed, if anything.
    pub(crate) fn stderr_text(&self) -> Option<String> {
        let text = self.stderr.text();
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl http::Host for HostState {
    fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let stop = |state: &mut HostState, why: String| {
            state.http_stopped = Some(why.clone());
            Err(wasmtime::Error::msg(why))
        };
        let Some(grant) = self.http.clone() else {
            return stop(self, "this plugin has no HTTP grant (only connectors and webhook hooks have one)".into());
        };
        if self.http_calls_left == 0 {
            return stop(self, format!("more than {} HTTP requests in one call (a loop?)", grant.budget()));
        }
        self.http_calls_left -= 1;
        let (deadline, limit) = self.http_deadline.unwrap_or((Instant::now() + MAX_HTTP_WAIT, MAX_HTTP_WAIT));
        let past_deadline =
            |state: &mut HostState| stop(state, format!("took longer than its deadline of {} ms", limit.as_millis()));
        let Some(wait) = deadline.checked_duration_since(Instant::now()).filter(|w| !w.is_zero()) else {
            return past_deadline(self);
        };
        let request = HttpRequest { method: req.method, url: req.url, headers: req.headers, body: req.body };
        match grant.send(request, wait) {
            Ok(r) => Ok(Ok(http::Response { status: r.status, headers: r.headers, body: r.body })),
            Err(HttpCallError::Timeout) if Instant::now() >= deadline => past_deadline(self),
            Err(HttpCallError::Timeout) => Ok(Err(http::HttpError::Timeout)),
            Err(HttpCallError::Transport(m)) => Ok(Err(http::HttpError::Transport(m))),
            Err(HttpCallError::Denied(why)) => stop(self, why),
        }
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.log_line(level, message);
        Ok(())
    }
}

impl HostState {
    fn log_line(&mut self, level: LogLevel, mut message: String) {
        if self.log_lines_left == 0 {
            return;
        }
        self.log_lines_left -= 1;
        if self.log_lines_left == 0 {
            message = format!("(further log lines of this call dropped) {message}");
        }
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let (plugin, tenant) = (&*self.plugin, self.tenant.as_str());
        let captured = match level {
            LogLevel::Trace => pipeline::LogLevel::Trace,
            LogLevel::Debug => pipeline::LogLevel::Debug,
            LogLevel::Info => pipeline::LogLevel::Info,
            LogLevel::Warn => pipeline::LogLevel::Warn,
            LogLevel::Error => pipeline::LogLevel::Error,
        };
        pipeline::emit_log(pipeline::LogLine { step: plugin.to_owned(), level: captured, message: message.clone() });
        match level {
            LogLevel::Trace => tracing::trace!(target: "scimgate::plugin", plugin, tenant, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "scimgate::plugin", plugin, tenant, "{message}"),
            LogLevel::Info => tracing::info!(target: "scimgate::plugin", plugin, tenant, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "scimgate::plugin", plugin, tenant, "{message}"),
            LogLevel::Error => tracing::error!(target: "scimgate::plugin", plugin, tenant, "{message}"),
        }
    }
}

/// Caps the linear memory of all of a store's memories together; records a
/// refused growth so that the trap that usually follows (the guest's
/// allocator aborts) is reported as a resource limit.
pub(crate) struct Limiter {
    cap: usize,
    total: usize,
    /// The total the refused growth asked for.
    pub(crate) denied: Option<usize>,
}

impl Limiter {
    fn new(cap: usize) -> Limiter {
        Limiter { cap, total: 0, denied: None }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Memory granted so far.
    pub(crate) fn used(&self) -> usize {
        self.total
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let wanted = self.total.saturating_add(desired.saturating_sub(current));
        if wanted > self.cap {
            self.denied = Some(wanted);
            return Ok(false);
        }
        self.total = wanted;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

/// A bounded in-memory output stream that never fails: bytes past the
/// capacity are dropped (a guest's `eprintln!` must not panic because the
/// buffer is full).
#[derive(Clone)]
struct CapturedOutput {
    buffer: Arc<Mutex<Vec<u8>>>,
    capacity: usize,
}

impl CapturedOutput {
    fn new(capacity: usize) -> CapturedOutput {
        CapturedOutput { buffer: Arc::default(), capacity }
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.capacity.saturating_sub(buffer.len());
        buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn clear(&self) {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_caps_the_total_and_records_the_refusal() {
        let mut limiter = Limiter::new(10 << 20);
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap(), "a second memory counts too");
        assert!(!limiter.memory_growing(4 << 20, 8 << 20, None).unwrap());
        assert_eq!(limiter.denied, Some(12 << 20));
        assert!(limiter.memory_growing(4 << 20, 6 << 20, None).unwrap());
    }

    #[test]
    fn captured_output_drops_what_does_not_fit() {
        let mut out = CapturedOutput::new(8);
        out.write(Bytes::from_static(b"hello ")).unwrap();
        out.write(Bytes::from_static(b"world")).unwrap();
        assert_eq!(out.text(), "hello wo");
        out.clear();
        assert_eq!(out.text(), "");
    }
}
