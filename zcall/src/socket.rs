//! Sockets. Addresses are passed as the kernel's bytes: a `struct sockaddr_*` viewed as
//! `&[u8]` (the `sockaddr` crate gives them out), so the kernel is told the exact length and
//! nothing is marshalled.

use core::ffi::c_int;

use crate::{Errno, IoVec, RawFd, Result, sys};

/// Creates a socket. Pass `SOCK_NONBLOCK | SOCK_CLOEXEC` in `ty` where the OS has them.
/// See `socket(2)`.
#[inline]
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> Result<RawFd> {
    sys::socket(domain, ty, protocol)
}

/// A connected pair of sockets. See `socketpair(2)`.
#[inline]
pub fn socketpair(domain: c_int, ty: c_int, protocol: c_int) -> Result<[RawFd; 2]> {
    sys::socketpair(domain, ty, protocol)
}

/// Binds to the address in `addr` (a `struct sockaddr_*` as bytes). See `bind(2)`.
#[inline]
pub fn bind(fd: RawFd, addr: &[u8]) -> Result<()> {
    sys::bind(fd, addr)
}

/// Connects to the address in `addr`. On a non-blocking socket a stream connect returns
/// `EINPROGRESS` and completes later (read `SO_ERROR`). See `connect(2)`.
#[inline]
pub fn connect(fd: RawFd, addr: &[u8]) -> Result<()> {
    sys::connect(fd, addr)
}

/// Marks the socket as listening. See `listen(2)`.
#[inline]
pub fn listen(fd: RawFd, backlog: c_int) -> Result<()> {
    sys::listen(fd, backlog)
}

/// Accepts a connection; the peer address is written into `addr` when given. Returns the
/// new descriptor and the length the kernel reported for the address (which may exceed
/// `addr.len()` when the buffer was too small: the address was then truncated).
/// See `accept(2)`.
#[inline]
pub fn accept(fd: RawFd, addr: Option<&mut [u8]>) -> Result<(RawFd, usize)> {
    sys::accept(fd, addr)
}

/// [`accept`] with `SOCK_NONBLOCK`/`SOCK_CLOEXEC` applied atomically. Linux and FreeBSD.
/// See `accept4(2)`.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
#[inline]
pub fn accept4(fd: RawFd, addr: Option<&mut [u8]>, flags: c_int) -> Result<(RawFd, usize)> {
    sys::accept4(fd, addr, flags)
}

/// Shuts down reading (`SHUT_RD`), writing (`SHUT_WR`) or both. See `shutdown(2)`.
#[inline]
pub fn shutdown(fd: RawFd, how: c_int) -> Result<()> {
    sys::shutdown(fd, how)
}

/// Writes the socket's own address into `addr`; returns the kernel's length for it.
/// See `getsockname(2)`.
#[inline]
pub fn getsockname(fd: RawFd, addr: &mut [u8]) -> Result<usize> {
    sys::getsockname(fd, addr)
}

/// Writes the peer's address into `addr`; returns the kernel's length for it.
/// See `getpeername(2)`.
#[inline]
pub fn getpeername(fd: RawFd, addr: &mut [u8]) -> Result<usize> {
    sys::getpeername(fd, addr)
}

/// `TCP_ZEROCOPY_RECEIVE`: its value carries an address the kernel maps pages at.
#[cfg(any(target_os = "linux", target_os = "android"))]
const TCP_ZEROCOPY_RECEIVE: c_int = 35;

fn sockopt_is_plain(level: c_int, name: c_int) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if level == libc::IPPROTO_TCP && name == TCP_ZEROCOPY_RECEIVE {
        return false;
    }
    let _ = (level, name);
    true
}

/// Sets an option from the bytes of its value (an `int`, a `struct linger`, ...).
///
/// Options whose value carries a pointer the kernel writes through
/// (`TCP_ZEROCOPY_RECEIVE`) return `EINVAL` here: use [`raw`](crate::raw).
/// See `setsockopt(2)`.
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// let fd = zcall::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0).unwrap();
/// zcall::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &1i32.to_ne_bytes()).unwrap();
/// let mut v = [0u8; 4];
/// assert_eq!(zcall::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &mut v).unwrap(), 4);
/// assert_eq!(i32::from_ne_bytes(v), 1);
/// # unsafe { zcall::close(fd).unwrap() };
/// # }
/// ```
#[inline]
pub fn setsockopt(fd: RawFd, level: c_int, name: c_int, value: &[u8]) -> Result<()> {
    if !sockopt_is_plain(level, name) {
        return Err(Errno::EINVAL);
    }
    sys::setsockopt(fd, level, name, value)
}

/// Reads an option into `value`; returns the length the kernel wrote.
///
/// The same options as for [`setsockopt`] are refused. See `getsockopt(2)`.
#[inline]
pub fn getsockopt(fd: RawFd, level: c_int, name: c_int, value: &mut [u8]) -> Result<usize> {
    if !sockopt_is_plain(level, name) {
        return Err(Errno::EINVAL);
    }
    sys::getsockopt(fd, level, name, value)
}

/// Sends on a connected socket. Pass `MSG_NOSIGNAL` (Linux) so a closed peer gives `EPIPE`
/// rather than `SIGPIPE`. See `send(2)`.
#[inline]
pub fn send(fd: RawFd, buf: &[u8], flags: c_int) -> Result<usize> {
    sys::sendto(fd, buf, flags, &[])
}

/// Receives from a connected socket. See `recv(2)`.
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8], flags: c_int) -> Result<usize> {
    sys::recvfrom(fd, buf, flags, None).map(|(n, _)| n)
}

/// Sends to the address in `addr` (empty: the connected peer). See `sendto(2)`.
#[inline]
pub fn sendto(fd: RawFd, buf: &[u8], flags: c_int, addr: &[u8]) -> Result<usize> {
    sys::sendto(fd, buf, flags, addr)
}

/// Receives a datagram and its source address. Returns the byte count and the kernel's
/// length for the address (which may exceed `addr.len()`: the address was truncated).
/// See `recvfrom(2)`.
#[inline]
pub fn recvfrom(
    fd: RawFd,
    buf: &mut [u8],
    flags: c_int,
    addr: &mut [u8],
) -> Result<(usize, usize)> {
    sys::recvfrom(fd, buf, flags, Some(addr))
}

/// Gather send on a connected socket: `bufs` in order, as one `sendmsg(2)` with no address
/// and no control data. Unlike [`writev`](crate::writev) it takes `flags`, so
/// `MSG_NOSIGNAL` (Linux) turns a closed peer into `EPIPE` rather than `SIGPIPE`.
#[inline]
pub fn sendv(fd: RawFd, bufs: &[IoVec<'_>], flags: c_int) -> Result<usize> {
    // SAFETY: all-zero is a valid `msghdr` (no name, no iovecs, no control).
    let mut m: libc::msghdr = unsafe { core::mem::zeroed() };
    m.msg_iov = bufs.as_ptr().cast::<libc::iovec>().cast_mut();
    m.msg_iovlen = bufs.len() as _;
    // SAFETY: `IoVec` is `repr(transparent)` over `struct iovec` and borrows a live slice
    // for the call; the kernel only reads the iovecs and their buffers.
    unsafe { sys::sendmsg(fd, &m, flags) }
}

/// Sends one message. See `sendmsg(2)`.
///
/// # Safety
///
/// `msg` must point to a valid `msghdr` whose name, iovec array, iovec buffers and control
/// buffer are valid for reads of the lengths it gives, for the duration of the call.
#[inline]
pub unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::sendmsg(fd, msg, flags) }
}

/// Receives one message. See `recvmsg(2)`.
///
/// # Safety
///
/// `msg` must point to a valid `msghdr` whose name, iovec buffers and control buffer are
/// valid for writes of the lengths it gives, for the duration of the call.
#[inline]
pub unsafe fn recvmsg(fd: RawFd, msg: *mut libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::recvmsg(fd, msg, flags) }
}

/// Sends up to `vlen` messages in one call; returns how many were sent and sets each
/// `msg_len`. Linux and FreeBSD. See `sendmmsg(2)`.
///
/// # Safety
///
/// `msgs` must point to `vlen` valid `mmsghdr`s, each meeting the contract of [`sendmsg`],
/// writable for `msg_len`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[inline]
pub unsafe fn sendmmsg(
    fd: RawFd,
    msgs: *mut libc::mmsghdr,
    vlen: core::ffi::c_uint,
    flags: c_int,
) -> Result<usize> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::sendmmsg(fd, msgs, vlen, flags) }
}

/// Receives up to `vlen` messages in one call; returns how many arrived and sets each
/// `msg_len`. Linux and FreeBSD. See `recvmmsg(2)`.
///
/// # Safety
///
/// `msgs` must point to `vlen` valid `mmsghdr`s, each meeting the contract of [`recvmsg`];
/// `timeout` must be null or point to a valid `timespec`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[inline]
pub unsafe fn recvmmsg(
    fd: RawFd,
    msgs: *mut libc::mmsghdr,
    vlen: core::ffi::c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> Result<usize> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::recvmmsg(fd, msgs, vlen, flags, timeout) }
}
