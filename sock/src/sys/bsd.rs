//! BSD and macOS: no `MSG_NOSIGNAL` on macOS (so `SO_NOSIGPIPE` on every socket), no
//! `SOCK_NONBLOCK`/`accept4` on macOS (so fcntl after creation).

use zcall::RawFd;

/// Flags every send carries.
#[cfg(target_os = "freebsd")]
pub(crate) const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;
/// Flags every send carries (macOS has none; `SO_NOSIGPIPE` is set at creation instead).
#[cfg(not(target_os = "freebsd"))]
pub(crate) const SEND_FLAGS: i32 = 0;

fn set_flags(fd: RawFd) -> iox::Result<()> {
    zcall::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC)?;
    let fl = zcall::fcntl(fd, libc::F_GETFL, 0)?;
    zcall::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK)?;
    Ok(())
}

fn close_on_error(fd: RawFd, r: iox::Result<()>) -> iox::Result<RawFd> {
    match r {
        Ok(()) => Ok(fd),
        Err(e) => {
            // SAFETY: `fd` was just created here and is owned by nobody else.
            let _ = unsafe { zcall::close(fd) };
            Err(e)
        }
    }
}

/// Creates a socket, then makes it non-blocking and close-on-exec (not atomic with
/// respect to a concurrent fork on macOS).
pub(crate) fn socket(domain: i32, ty: i32, protocol: i32) -> iox::Result<RawFd> {
    let fd = zcall::socket(domain, ty, protocol)?;
    close_on_error(fd, set_flags(fd).and_then(|()| after_create(fd)))
}

/// A socket pair, both ends non-blocking and close-on-exec.
pub(crate) fn socketpair(domain: i32, ty: i32, protocol: i32) -> iox::Result<[RawFd; 2]> {
    let [a, b] = zcall::socketpair(domain, ty, protocol)?;
    let a = match close_on_error(a, set_flags(a).and_then(|()| after_create(a))) {
        Ok(a) => a,
        Err(e) => {
            // SAFETY: `b` was just created here and is owned by nobody else.
            let _ = unsafe { zcall::close(b) };
            return Err(e);
        }
    };
    let b = match close_on_error(b, set_flags(b).and_then(|()| after_create(b))) {
        Ok(b) => b,
        Err(e) => {
            // SAFETY: `a` was just created here and is owned by nobody else.
            let _ = unsafe { zcall::close(a) };
            return Err(e);
        }
    };
    Ok([a, b])
}

/// Accepts, then makes the new socket non-blocking and close-on-exec.
pub(crate) fn accept(fd: RawFd, addr: &mut [u8]) -> iox::Result<(RawFd, usize)> {
    let (nfd, len) = zcall::accept(fd, Some(addr))?;
    Ok((
        close_on_error(nfd, set_flags(nfd).and_then(|()| after_create(nfd)))?,
        len,
    ))
}

/// macOS: `SO_NOSIGPIPE`, since sends cannot carry `MSG_NOSIGNAL`.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) fn after_create(fd: RawFd) -> iox::Result<()> {
    Ok(zcall::setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_NOSIGPIPE,
        &1i32.to_ne_bytes(),
    )?)
}

/// FreeBSD: `MSG_NOSIGNAL` covers `SIGPIPE`.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) fn after_create(_fd: RawFd) -> iox::Result<()> {
    Ok(())
}

/// The option that sets the keepalive idle time.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) const TCP_KEEPIDLE: i32 = libc::TCP_KEEPALIVE;
/// The option that sets the keepalive idle time.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) const TCP_KEEPIDLE: i32 = libc::TCP_KEEPIDLE;

/// `CMSG_ALIGN`'s unit: 4 bytes on macOS, `sizeof(long)` on FreeBSD.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) const CMSG_ALIGN: usize = 4;
/// `CMSG_ALIGN`'s unit: 4 bytes on macOS, `sizeof(long)` on FreeBSD.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) const CMSG_ALIGN: usize = core::mem::size_of::<core::ffi::c_long>();

/// `MSG_CMSG_CLOEXEC` (FreeBSD; macOS has none: received descriptors are not close-on-exec).
#[cfg(target_os = "freebsd")]
pub(crate) const RECV_CMSG_CLOEXEC: i32 = libc::MSG_CMSG_CLOEXEC;
/// `MSG_CMSG_CLOEXEC` (macOS has none).
#[cfg(not(target_os = "freebsd"))]
pub(crate) const RECV_CMSG_CLOEXEC: i32 = 0;
/// Linux-only options.
pub(crate) const SO_PASSCRED: Option<i32> = None;
/// Linux-only options.
pub(crate) const SO_PEERCRED: Option<i32> = None;
/// Linux-only options.
pub(crate) const SO_PEERPIDFD: Option<i32> = None;
/// Linux-only options.
pub(crate) const SO_PASSPIDFD: Option<i32> = None;
/// Linux-only options.
pub(crate) const SO_TIMESTAMPNS: Option<i32> = None;
/// Linux-only: the error queue.
pub(crate) const MSG_ERRQUEUE: Option<i32> = None;

/// The `MCAST_*` numbers used here are Linux's: source-specific options are Linux-only.
pub(crate) const MCAST_LINUX: bool = false;
/// Unused where `MCAST_LINUX` is false.
pub(crate) const GSR_GROUP_OFFSET: usize = 8;
/// `IPV6_JOIN_GROUP`.
pub(crate) const IPV6_JOIN: i32 = libc::IPV6_JOIN_GROUP;
/// `IPV6_LEAVE_GROUP`.
pub(crate) const IPV6_LEAVE: i32 = libc::IPV6_LEAVE_GROUP;
/// `IP_PKTINFO` (macOS has it; FreeBSD uses `IP_RECVDSTADDR` instead).
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) const IP_PKTINFO: Option<i32> = Some(libc::IP_PKTINFO);
/// `IP_PKTINFO` (macOS has it; FreeBSD uses `IP_RECVDSTADDR` instead).
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) const IP_PKTINFO: Option<i32> = None;
/// `IP_RECVDSTADDR`: the destination address of a received IPv4 datagram.
pub(crate) const IP_RECVDSTADDR: Option<i32> = Some(libc::IP_RECVDSTADDR);
