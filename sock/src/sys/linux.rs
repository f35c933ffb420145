//! Linux: socket flags at creation, `accept4`, `MSG_NOSIGNAL` on every send.

use zcall::RawFd;

/// Flags every send carries: no `SIGPIPE`, ever.
pub(crate) const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;

/// Creates a non-blocking, close-on-exec socket in one call.
pub(crate) fn socket(domain: i32, ty: i32, protocol: i32) -> iox::Result<RawFd> {
    Ok(zcall::socket(
        domain,
        ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        protocol,
    )?)
}

/// Creates a non-blocking, close-on-exec socket pair in one call.
pub(crate) fn socketpair(domain: i32, ty: i32, protocol: i32) -> iox::Result<[RawFd; 2]> {
    Ok(zcall::socketpair(
        domain,
        ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        protocol,
    )?)
}

/// Accepts a connection, non-blocking and close-on-exec in one call.
#[inline]
pub(crate) fn accept(fd: RawFd, addr: &mut [u8]) -> iox::Result<(RawFd, usize)> {
    Ok(zcall::accept4(
        fd,
        Some(addr),
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
    )?)
}

/// The option that sets the keepalive idle time.
pub(crate) const TCP_KEEPIDLE: i32 = libc::TCP_KEEPIDLE;
