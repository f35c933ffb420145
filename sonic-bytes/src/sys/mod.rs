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
        // SAFETY: per the type's invariant `[base, base + 2 * len)` is mapped and readable
        // while `self` lives; writes need `&mut self`, so none happen meanwhile.
        unsafe { std::slice::from_raw_parts(self.base, 2 * self.len) }
    }

    /// The `2 * len` bytes, writable. The two halves alias the same pages, which is fine
    /// for bytes: byte writes through one half show in the other, which is the point.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: mapped and writable per the invariant; the unique borrow of `self` makes
        // this the only live view.
        unsafe { std::slice::from_raw_parts_mut(self.base, 2 * self.len) }
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
    // SAFETY: sysconf only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}
