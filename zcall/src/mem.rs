//! Memory mappings: mmap, munmap, madvise.

use core::ffi::{c_int, c_void};

use crate::{RawFd, Result, sys};

/// Maps `len` bytes; returns the address. See `mmap(2)`.
///
/// # Safety
///
/// With `MAP_FIXED` the range at `addr` is replaced: the caller must make sure nothing
/// still uses memory there. Using the returned memory is the caller's responsibility (its
/// protection, its lifetime until [`munmap`]).
#[inline]
pub unsafe fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: RawFd,
    offset: i64,
) -> Result<*mut c_void> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::mmap(addr, len, prot, flags, fd, offset) }
}

/// Unmaps `len` bytes at `addr`. See `munmap(2)`.
///
/// # Safety
///
/// Nothing may use memory in the range afterwards.
#[inline]
pub unsafe fn munmap(addr: *mut c_void, len: usize) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::munmap(addr, len) }
}

/// Advises the kernel about the range. See `madvise(2)`.
///
/// # Safety
///
/// Some advice changes contents (`MADV_DONTNEED` and `MADV_FREE` discard them,
/// `MADV_DONTFORK` hides the range from a child): the caller must make sure that is sound
/// for whatever lives in the range.
#[inline]
pub unsafe fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::madvise(addr, len, advice) }
}
