//! The mirrored mapping: the crate's only `unsafe`.

// `--cfg sonic_bytes_shm` builds the shm_open path on Linux too, so `cargo xtask ci` runs
// the macOS/FreeBSD code for real.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(sonic_bytes_shm)))]
#[path = "linux.rs"]
mod imp;
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    all(target_os = "linux", sonic_bytes_shm)
))]
#[path = "shm.rs"]
mod imp;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd"
)))]
#[path = "other.rs"]
mod imp;

/// Two views of the same `len` bytes at `base` and `base + len`, made by the platform's
/// `imp::map`.
///
/// Invariant: `[base, base + 2 * len)` is mapped readable and writable, the second half
/// showing the same pages as the first, for as long as the `Mapping` lives; nothing else
/// maps or unmaps it. A `Mapping` is built right after the reservation, so a failure later
/// in `imp::map` unmaps the reservation when the guard drops.
#[derive(Debug)]
pub(crate) struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned exclusively by this value (the memory object's descriptor is
// closed, and a shm name unlinked, before `map` returns); moving it moves that ownership.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` only gives out `&[u8]` views; mutation needs `&mut Mapping`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes (a multiple of the page size, or of the huge page size) twice.
    pub(crate) fn new(len: usize, o: &crate::MirrorOptions) -> iox::Result<Mapping> {
        imp::map(len, o)
    }

    /// The `2 * len` bytes, read-only.
    pub(crate) fn bytes(&self) -> &[u8] {
        let base = opaque(self.base);
        // SAFETY: per the type's invariant `[base, base + 2 * len)` is mapped and readable
        // while `self` lives; writes need `&mut self`, so none happen meanwhile.
        unsafe { std::slice::from_raw_parts(base, 2 * self.len) }
    }

    /// The `2 * len` bytes, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let base = opaque(self.base);
        // SAFETY: mapped and writable per the invariant; the unique borrow of `self` makes
        // this the only live view.
        unsafe { std::slice::from_raw_parts_mut(base, 2 * self.len) }
    }
}

/// Two addresses, one byte: `base + i` and `base + len + i` are the same memory, which the
/// compiler cannot know. Two things keep that from being miscompiled:
///
/// * the buffer only ever hands out sub-slices of at most `len` bytes, so no slice reaches
///   the same byte through both views;
/// * every view is made from a pointer passed through this barrier: an empty `asm!` block
///   not marked `nomem`, which the compiler must assume reads and writes any memory and
///   returns an unrelated pointer. A write through one view (a claim) is therefore never
///   reordered with, or forwarded to, a read through the other (the next `data()`), even
///   after inlining with known offsets. Its cost is one register move.
#[inline(always)]
fn opaque(p: *mut u8) -> *mut u8 {
    #[cfg(miri)]
    {
        p
    }
    #[cfg(not(miri))]
    {
        let mut q = p;
        // SAFETY: the template is a comment: no instruction runs, no memory is touched, the
        // stack is not used and the register keeps its value.
        unsafe {
            core::arch::asm!("/* {0} */", inout(reg) q, options(nostack, preserves_flags));
        }
        q
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the reservation this value owns; no view of it outlives
        // `self` (views borrow it).
        unsafe { libc::munmap(self.base.cast(), 2 * self.len) };
    }
}

/// The system's page size.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}
