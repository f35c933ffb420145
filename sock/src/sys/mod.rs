//! Platform code, chosen here once, and the crate's only `unsafe`: taking ownership of a
//! descriptor a syscall just returned.

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "linux.rs"]
mod imp;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[path = "bsd.rs"]
mod imp;

pub(crate) use imp::*;

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of a descriptor a successful syscall has just returned (open, not -1,
/// owned by nobody else).
pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    debug_assert!(fd >= 0);
    // SAFETY: per this function's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Gather send of `bufs` through `sendmsg` with `flags` (so it can carry `MSG_NOSIGNAL`,
/// which `writev` cannot). No allocation: the header lives on the stack.
pub(crate) fn send_vectored(
    fd: RawFd,
    bufs: &[std::io::IoSlice<'_>],
    flags: i32,
) -> iox::Result<usize> {
    // SAFETY: msghdr is integers and pointers; all-zero is an empty, valid header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` on Unix; the header names
    // `bufs.len()` live, readable buffers and no address or control data; the kernel only
    // reads through it for the duration of the call.
    Ok(unsafe { zcall::sendmsg(fd, &msg, flags) }?)
}
