//! The crate's `unsafe`: descriptor ownership transfers, the std I/O slice casts, and
//! reading the clocks.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use zcall::{IoVec, IoVecMut};

/// Takes ownership of a descriptor a syscall has just returned.
///
/// `fd` must be the fresh result of a successful call that creates a descriptor (so it is
/// open, not -1, and owned by nobody else).
pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    debug_assert!(fd >= 0);
    // SAFETY: per this function's contract, `fd` is open and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `std::io::IoSlice`s as zcall's iovecs, without copying.
pub(crate) fn iovecs<'a>(bufs: &'a [IoSlice<'a>]) -> &'a [IoVec<'a>] {
    // SAFETY: std guarantees `IoSlice` is ABI-compatible with `struct iovec` on Unix, and
    // `IoVec` is `#[repr(transparent)]` over `libc::iovec`; the lifetimes carry over.
    unsafe { std::slice::from_raw_parts(bufs.as_ptr().cast::<IoVec<'a>>(), bufs.len()) }
}

/// `std::io::IoSliceMut`s as zcall's mutable iovecs, without copying.
pub(crate) fn iovecs_mut<'a, 'b>(bufs: &'a mut [IoSliceMut<'b>]) -> &'a mut [IoVecMut<'b>] {
    // SAFETY: as in `iovecs`, for the mutable forms; the unique borrow of `bufs` is carried
    // over, so nobody else can reach the buffers meanwhile.
    unsafe { std::slice::from_raw_parts_mut(bufs.as_mut_ptr().cast::<IoVecMut<'b>>(), bufs.len()) }
}

static_assertions::assert_eq_size!(IoSlice<'static>, IoVec<'static>);
static_assertions::assert_eq_size!(IoSliceMut<'static>, IoVecMut<'static>);

/// `clock_gettime(clock)` through libc (the vDSO: no syscall on the common clocks).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn clock_now(clock: libc::clockid_t) -> iox::Result<libc::timespec> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc == 0 {
        Ok(ts)
    } else {
        Err(iox::Error::from(std::io::Error::last_os_error()))
    }
}

/// `(si_pid, si_status)` of a `SIGCHLD` siginfo filled by `waitid` (zeroed when nothing
/// was reported).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn child_status(info: &libc::siginfo_t) -> (libc::pid_t, i32) {
    // SAFETY: waitid fills the SIGCHLD layout of the union, and the zero-initialised value
    // it starts from reads as pid 0, status 0 when nothing was reported.
    let pid = unsafe { info.si_pid() };
    // SAFETY: as above.
    let status = unsafe { info.si_status() };
    (pid, status)
}
