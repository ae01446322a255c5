//! Collecting the log lines steps write during a request, for the
//! provisioning log: any step kind emits, whoever runs the hooks captures.

use std::cell::RefCell;
use std::fmt;

/// A log line written by a step (a script, or a Wasm plugin through
/// [`emit_log`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The step's name.
    pub step: String,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// A level by name, any case (`warning` is `warn`).
    pub(crate) fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Run `f` and return what it returned together with the log lines that
/// steps wrote on this thread meanwhile (hook calls must run inside
/// `f`, on the calling thread: in async code, inside the same
/// `spawn_blocking` closure). Without a capture, log lines are dropped.
/// Captures nest; the innermost one gets the lines.
pub fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, Vec<LogLine>) {
    struct Restore(Option<Vec<LogLine>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SINK.with(|sink| *sink.borrow_mut() = self.0.take());
        }
    }
    let outer = SINK.with(|sink| sink.borrow_mut().replace(Vec::new()));
    let restore = Restore(outer);
    let value = f();
    let lines = SINK.with(|sink| sink.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (value, lines)
}

/// Hand a log line of any step kind (a Wasm plugin's `log` import) to the
/// [`capture_logs`] active on this thread; without one it is dropped here
/// (the caller also traces it).
pub fn emit_log(line: LogLine) {
    with_capture(|sink| sink.push(line));
}

/// Run `f` on the active capture's buffer, if there is one on this thread
/// (so that callers build lines only when someone will read them).
pub(crate) fn with_capture(f: impl FnOnce(&mut Vec<LogLine>)) {
    SINK.with(|sink| {
        if let Some(sink) = sink.borrow_mut().as_mut() {
            f(sink);
        }
    });
}

thread_local! {
    /// The active [`capture_logs`] buffer.
    static SINK: RefCell<Option<Vec<LogLine>>> = const { RefCell::new(None) };
}
