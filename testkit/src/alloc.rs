//! A counting global allocator whose counts are per thread, so tests running in parallel
//! do not disturb each other's figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Allocation figures of one thread over a measured region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocs: u64,
    /// Calls to `dealloc`.
    pub deallocs: u64,
    /// Bytes requested by those allocations (a realloc counts its new size).
    pub bytes: u64,
}

impl AllocStats {
    /// What a longer run did beyond a shorter one of the same code: the figures per extra
    /// operation, with a fixed cost per call (the test's own setup) taken out.
    ///
    /// ```
    /// let long = testkit::AllocStats { allocs: 3, deallocs: 3, bytes: 152 };
    /// let short = testkit::AllocStats { allocs: 3, deallocs: 3, bytes: 152 };
    /// assert_eq!(long.beyond(short), testkit::AllocStats::default());
    /// ```
    pub fn beyond(self, shorter: AllocStats) -> AllocStats {
        AllocStats {
            allocs: self.allocs.saturating_sub(shorter.allocs),
            deallocs: self.deallocs.saturating_sub(shorter.deallocs),
            bytes: self.bytes.saturating_sub(shorter.bytes),
        }
    }
}

thread_local! {
    // `const` initialisation and no destructor: reading these never allocates and works
    // at every point of a thread's life.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static DEALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each thread's calls in that thread.
///
/// Install it in a test binary (an integration test file, or a crate's unit tests):
///
/// ```
/// #[global_allocator]
/// static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;
///
/// # fn main() {
/// testkit::assert_no_alloc(|| {
///     let x = [0u8; 16];
///     std::hint::black_box(x);
/// });
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn note_alloc(size: usize) {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|c| c.set(c.get() + size as u64));
}

// SAFETY: every call is forwarded unchanged to `System`; the counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = DEALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn snapshot() -> AllocStats {
    AllocStats {
        allocs: ALLOCS.get(),
        deallocs: DEALLOCS.get(),
        bytes: BYTES.get(),
    }
}

/// Panics unless [`CountingAlloc`] is the global allocator: a count of zero from an
/// allocator that counts nothing would prove nothing.
fn ensure_installed() {
    let before = ALLOCS.get();
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    assert!(
        ALLOCS.get() > before,
        "testkit::CountingAlloc is not this binary's #[global_allocator]; install it with \
         `#[global_allocator] static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;`"
    );
}

/// Runs `f` and returns its result with the calling thread's allocation figures during it.
///
/// Allocations made by other threads (other tests, helper threads spawned by `f`) are not
/// counted. Panics if [`CountingAlloc`] is not installed.
pub fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    ensure_installed();
    let start = snapshot();
    let r = f();
    let end = snapshot();
    let stats = AllocStats {
        allocs: end.allocs - start.allocs,
        deallocs: end.deallocs - start.deallocs,
        bytes: end.bytes - start.bytes,
    };
    (r, stats)
}

/// Runs `f`, which performs `ops` operations of the hot path `path`, records its figures
/// for the allocation report ([`report_allocs`](crate::bench::report_allocs)) and panics if
/// the calling thread allocated during it (reallocations count).
///
/// Returns `f`'s result. Panics if [`CountingAlloc`] is not installed.
#[track_caller]
pub fn assert_no_alloc_reported<R>(path: &str, ops: u64, f: impl FnOnce() -> R) -> R {
    let (r, stats) = count_allocs(f);
    crate::bench::report_allocs(path, ops, stats);
    assert_eq!(
        stats.allocs, 0,
        "{path}: expected no allocation, saw {stats:?}"
    );
    r
}

/// Runs `f` and panics if the calling thread allocated during it (reallocations count).
///
/// Returns `f`'s result. Panics if [`CountingAlloc`] is not installed.
#[track_caller]
pub fn assert_no_alloc<R>(f: impl FnOnce() -> R) -> R {
    let (r, stats) = count_allocs(f);
    assert_eq!(stats.allocs, 0, "expected no allocation, saw {stats:?}");
    r
}
