//! The metered global allocator. It is the process's, not Rhai's: it counts
//! each thread's live bytes, and the Rhai step reads that count to hold a
//! script to its memory budget.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

// What actually allocates: mimalloc, whose per-thread caches gave 1.06-1.21x
// the system allocator's requests/s side by side (BENCHMARKS.md, issue 18).
use mimalloc::MiMalloc as Inner;

/// A global allocator (mimalloc underneath) that keeps, per
/// thread, the number of bytes allocated and not yet freed, so that a Rhai
/// call can be stopped once it allocated more than
/// [`RhaiLimits::max_memory`](crate::RhaiLimits::max_memory). Install it in
/// the binary:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: pipeline::MeteredAlloc = pipeline::MeteredAlloc;
/// ```
///
/// The cost is two thread-local additions per allocation. Memory freed on
/// another thread than the one that allocated it skews both threads' counts;
/// only differences over one call on one thread are used.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeteredAlloc;

static METERED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

#[inline]
fn account(delta: isize) {
    // `try_with`: never panic inside the allocator, even during thread teardown.
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
    if !METERED.load(Ordering::Relaxed) {
        METERED.store(true, Ordering::Relaxed);
    }
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `Inner` with the caller's arguments and
// only adds bookkeeping in const-initialised, destructor-free thread-locals,
// which neither allocate nor unwind.
unsafe impl GlobalAlloc for MeteredAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let ptr = unsafe { Inner.alloc(layout) };
        if !ptr.is_null() {
            account(signed(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let ptr = unsafe { Inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            account(signed(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { Inner.dealloc(ptr, layout) };
        account(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let new = unsafe { Inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            account(signed(new_size) - signed(layout.size()));
        }
        new
    }
}

impl MeteredAlloc {
    /// Whether this process allocates through [`MeteredAlloc`].
    pub fn is_installed() -> bool {
        METERED.load(Ordering::Relaxed)
    }

    /// Bytes allocated and not freed by this thread (0 when not installed).
    pub fn thread_live_bytes() -> isize {
        LIVE.try_with(Cell::get).unwrap_or(0)
    }

    /// The highest [`thread_live_bytes`](Self::thread_live_bytes) since the
    /// last [`reset_thread_peak`](Self::reset_thread_peak).
    pub fn thread_peak_bytes() -> isize {
        PEAK.try_with(Cell::get).unwrap_or(0)
    }

    /// Start a new peak measurement from the current live bytes.
    pub fn reset_thread_peak() {
        let live = Self::thread_live_bytes();
        let _ = PEAK.try_with(|peak| peak.set(live));
    }
}
