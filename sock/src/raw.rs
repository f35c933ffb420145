//! The crate's `unsafe` for messages: building `msghdr`/`mmsghdr` over the caller's
//! buffers, and taking ownership of descriptors that arrived in a control message.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use sockaddr::SockaddrStorage;

/// What a received message came with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes of data received (with `MSG_TRUNC` in the flags: the datagram's real length).
    pub bytes: usize,
    /// Bytes of control data written.
    pub control_len: usize,
    /// `msg_flags`: `MSG_TRUNC`, `MSG_CTRUNC`, `MSG_EOR`, ...
    pub flags: i32,
}

impl RecvMeta {
    /// The datagram was larger than the buffers (`MSG_TRUNC`): the rest was discarded.
    pub fn truncated(&self) -> bool {
        self.flags & libc::MSG_TRUNC != 0
    }

    /// The control data did not fit (`MSG_CTRUNC`): some messages were lost.
    pub fn control_truncated(&self) -> bool {
        self.flags & libc::MSG_CTRUNC != 0
    }
}

fn zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is integers and pointers; all-zero is an empty, valid header.
    unsafe { std::mem::zeroed() }
}

/// A `msghdr` reading `bufs`, `addr` and `control` (all borrowed for the call only).
pub(crate) fn send_header(bufs: &[IoSlice<'_>], addr: &[u8], control: &[u8]) -> libc::msghdr {
    let mut m = zeroed_msghdr();
    if !addr.is_empty() {
        m.msg_name = addr.as_ptr() as *mut libc::c_void;
        m.msg_namelen = addr.len() as libc::socklen_t;
    }
    m.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    m.msg_iovlen = bufs.len() as _;
    if !control.is_empty() {
        m.msg_control = control.as_ptr() as *mut libc::c_void;
        m.msg_controllen = control.len() as _;
    }
    m
}

/// A `msghdr` writing into `bufs`, `addr` and `control`.
pub(crate) fn recv_header(
    bufs: &mut [IoSliceMut<'_>],
    addr: Option<&mut SockaddrStorage>,
    control: &mut [u8],
) -> libc::msghdr {
    let mut m = zeroed_msghdr();
    if let Some(a) = addr {
        let b = a.as_mut_bytes();
        m.msg_name = b.as_mut_ptr().cast();
        m.msg_namelen = b.len() as libc::socklen_t;
    }
    m.msg_iov = bufs.as_mut_ptr().cast();
    m.msg_iovlen = bufs.len() as _;
    if !control.is_empty() {
        m.msg_control = control.as_mut_ptr().cast();
        m.msg_controllen = control.len() as _;
    }
    m
}

/// `sendmsg(2)` with a header from [`send_header`].
pub(crate) fn sendmsg(fd: RawFd, m: &libc::msghdr, flags: i32) -> iox::Result<usize> {
    // SAFETY: `m` was built by `send_header` from slices borrowed for this call: every pointer
    // is valid for reads of the length beside it, and `IoSlice` is ABI-compatible with iovec.
    Ok(unsafe { zcall::sendmsg(fd, m, flags) }?)
}

/// `recvmsg(2)` with a header from [`recv_header`].
pub(crate) fn recvmsg(fd: RawFd, m: &mut libc::msghdr, flags: i32) -> iox::Result<usize> {
    // SAFETY: `m` was built by `recv_header` from slices borrowed mutably for this call: every
    // pointer is valid for writes of the length beside it.
    Ok(unsafe { zcall::recvmsg(fd, m, flags) }?)
}

/// `sendmmsg(2)` over headers from [`send_header`]; returns how many went.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn sendmmsg(fd: RawFd, hdrs: &mut [libc::mmsghdr], flags: i32) -> iox::Result<usize> {
    // SAFETY: each header was built by `send_header` from slices the caller keeps borrowed
    // across this call; `msg_len` is writable.
    Ok(unsafe { zcall::sendmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as u32, flags) }?)
}

/// `recvmmsg(2)` over headers from [`recv_header`]; returns how many arrived.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn recvmmsg(fd: RawFd, hdrs: &mut [libc::mmsghdr], flags: i32) -> iox::Result<usize> {
    // SAFETY: each header was built by `recv_header` from slices borrowed mutably across this
    // call; no timeout pointer.
    Ok(unsafe {
        zcall::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            hdrs.len() as u32,
            flags,
            std::ptr::null_mut(),
        )
    }?)
}

impl<'a> crate::msg::Received<'a> {
    /// Wraps control data that a receive made outside this crate wrote (an io_uring
    /// `RECVMSG`, say), so that the descriptors in it are owned: taken, or closed when the
    /// `Received` drops. A descriptor taken or closed is marked -1 in `buf`, so wrapping the
    /// same bytes again closes nothing twice.
    ///
    /// # Safety
    ///
    /// `buf` is exactly the `msg_controllen` bytes the kernel wrote in one receive by this
    /// process (or those bytes as an earlier `Received` left them), and nothing else owns a
    /// non-negative descriptor number in them.
    pub unsafe fn from_raw_control(buf: &'a mut [u8]) -> crate::msg::Received<'a> {
        crate::msg::Received::from_kernel(buf)
    }
}

/// Takes ownership of a descriptor that arrived in an `SCM_RIGHTS` message this process
/// just received (the kernel installed it in our table; nobody else owns it).
pub(crate) fn take_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per this function's contract, `fd` is a fresh descriptor from the kernel.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A zeroed `mmsghdr` (an empty header).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is integers and pointers; all-zero is an empty, valid header.
    unsafe { std::mem::zeroed() }
}
