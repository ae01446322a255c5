//! Synchronous work on the request path: hook chains and connector calls
//! may take up to their deadline, so they must not hold an async worker
//! hostage.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Run `f`, which may block. On the multi-threaded runtime the worker
/// hands its other tasks to the rest of the pool for the duration
/// (`block_in_place`); elsewhere (tests, the CLI) it just runs.
pub fn run<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
