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

/// `CMSG_ALIGN`'s unit: `sizeof(size_t)`.
pub(crate) const CMSG_ALIGN: usize = core::mem::size_of::<usize>();

/// `MSG_CMSG_CLOEXEC`: received descriptors are close-on-exec atomically.
pub(crate) const RECV_CMSG_CLOEXEC: i32 = libc::MSG_CMSG_CLOEXEC;
/// `SO_PASSCRED`.
pub(crate) const SO_PASSCRED: Option<i32> = Some(libc::SO_PASSCRED);
/// `SO_PEERCRED`.
pub(crate) const SO_PEERCRED: Option<i32> = Some(libc::SO_PEERCRED);
/// `SO_PEERPIDFD`.
pub(crate) const SO_PEERPIDFD: Option<i32> = Some(77);
/// `SO_PASSPIDFD` (Linux 6.5+).
pub(crate) const SO_PASSPIDFD: Option<i32> = Some(76);
/// `SO_TIMESTAMPNS` (`SO_TIMESTAMPNS_OLD`: a `struct timespec` of the native width; the
/// number on every architecture built here, which libc does not name).
pub(crate) const SO_TIMESTAMPNS: Option<i32> = Some(35);
/// `MSG_ERRQUEUE`.
pub(crate) const MSG_ERRQUEUE: Option<i32> = Some(libc::MSG_ERRQUEUE);

/// The protocol-independent multicast options (`MCAST_*`, `*_MULTICAST_ALL`) as Linux
/// numbers them.
pub(crate) const MCAST_LINUX: bool = true;
/// Offset of `gsr_group` in `struct group_source_req`.
pub(crate) const GSR_GROUP_OFFSET: usize = core::mem::offset_of!(libc::group_source_req, gsr_group);
/// `IPV6_ADD_MEMBERSHIP`.
pub(crate) const IPV6_JOIN: i32 = libc::IPV6_ADD_MEMBERSHIP;
/// `IPV6_DROP_MEMBERSHIP`.
pub(crate) const IPV6_LEAVE: i32 = libc::IPV6_DROP_MEMBERSHIP;
/// `IP_PKTINFO` (a `struct in_pktinfo` control message).
pub(crate) const IP_PKTINFO: Option<i32> = Some(libc::IP_PKTINFO);
/// `IP_RECVDSTADDR` (BSD only).
pub(crate) const IP_RECVDSTADDR: Option<i32> = None;

/// `SO_ATTACH_REUSEPORT_CBPF` (51 in `asm-generic/socket.h`, which every architecture built
/// here uses; libc names it for Android only).
const SO_ATTACH_REUSEPORT_CBPF: i32 = 51;
/// `SO_DETACH_REUSEPORT_BPF` (Linux 5.8).
pub(crate) const SO_DETACH_REUSEPORT_BPF: i32 = 68;

/// Attaches a classic BPF program to the socket's `SO_REUSEPORT` group. The option's value
/// is a `struct sock_fprog`, which carries a pointer to the instructions: zcall's byte-slice
/// `setsockopt` cannot express it, so it is built and passed here.
pub(crate) fn attach_reuseport_cbpf(fd: RawFd, filters: &[libc::sock_filter]) -> iox::Result<()> {
    let len = u16::try_from(filters.len())
        .map_err(|_| iox::Error::invalid_input("a BPF program exceeds 65535 instructions"))?;
    let prog = libc::sock_fprog {
        len,
        filter: filters.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` is a valid `sock_fprog` of the size passed, live for the call; its
    // `filter` points at `len` initialised instructions borrowed for the call. The kernel
    // only reads through the pointer (it copies the program) and never writes through it,
    // so the `cast_mut` is never used to write.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&raw const prog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(iox::Error::from(std::io::Error::last_os_error()))
    }
}
