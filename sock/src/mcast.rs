//! Multicast socket options, IPv4 and IPv6 alike: any-source and source-specific joins,
//! source blocking, the outgoing interface, loop, TTL/hops, `*_MULTICAST_ALL`, with getters.
//! The one multicast option layer of the workspace.
//!
//! Source-specific operations go through the protocol-independent `MCAST_*` options
//! (`struct group_source_req`), one code path for both families.
//!
//! The kernel's bare errnos come back with what they mean here: an IPv6 group on an IPv4
//! socket is `AddressFamilyNotSupported` (the kernel says `ENOPROTOOPT`); an interface index
//! or address no interface has is `AddressNotAvailable` (`ENODEV`); joining twice, leaving a
//! group never joined, blocking or unblocking a source without an any-source membership,
//! unblocking a source never blocked and leaving a source never joined keep their errno
//! and say which of these it was.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};

use sockaddr::{Sockaddr, SockaddrInet4, SockaddrInet6};

use crate::opt;

/// An interface, as a multicast option names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface<'a> {
    /// Let the kernel choose (from the routing table).
    Any,
    /// By index.
    Index(u32),
    /// By one of its IPv4 addresses (IPv4 options only).
    Addr(Ipv4Addr),
    /// By name (`"eth0"`), resolved with `if_nametoindex`.
    Name(&'a str),
}

impl Interface<'_> {
    /// The interface index (0 for `Any`); an address is `InvalidInput` here (IPv6 options
    /// take indexes only).
    pub fn index(&self) -> iox::Result<u32> {
        match *self {
            Interface::Any => Ok(0),
            Interface::Index(i) => Ok(i),
            Interface::Name(n) => sockaddr::interface_index(n),
            Interface::Addr(_) => Err(iox::Error::invalid_input(
                "IPv6 multicast options name interfaces by index",
            )),
        }
    }
}

const MCAST_JOIN_GROUP: i32 = 42;
const MCAST_BLOCK_SOURCE: i32 = 43;
const MCAST_UNBLOCK_SOURCE: i32 = 44;
const MCAST_LEAVE_GROUP: i32 = 45;
const MCAST_JOIN_SOURCE_GROUP: i32 = 46;
const MCAST_LEAVE_SOURCE_GROUP: i32 = 47;
const IP_MULTICAST_ALL: i32 = 49;
const IPV6_MULTICAST_ALL: i32 = 29;

fn check_group(group: IpAddr) -> iox::Result<()> {
    if group.is_multicast() {
        Ok(())
    } else {
        Err(iox::Error::invalid_input(
            "group is not a multicast address",
        ))
    }
}

fn setsockopt(fd: &impl AsFd, level: i32, name: i32, v: &[u8]) -> iox::Result<()> {
    Ok(zcall::setsockopt(fd.as_fd().as_raw_fd(), level, name, v)?)
}

/// What a group option does, for saying what its errno means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Join,
    Leave,
    JoinSource,
    LeaveSource,
    Block,
    Unblock,
}

/// A group option: `setsockopt`, its errno explained in the terms of `op`.
fn group_opt(
    fd: &impl AsFd,
    op: Op,
    (level, name, v): (i32, i32, &[u8]),
    group: IpAddr,
    iface: Interface<'_>,
) -> iox::Result<()> {
    setsockopt(fd, level, name, v).map_err(|e| explain(fd, e, op, group, iface))
}

/// The kernel's bare errno for a group option, with what it means here.
fn explain(
    fd: &impl AsFd,
    e: iox::Error,
    op: Op,
    group: IpAddr,
    iface: Interface<'_>,
) -> iox::Error {
    use zcall::Errno;
    let Some(errno) = e.errno() else { return e };
    match (errno, op) {
        // An IPv6 option on an IPv4 socket: the kernel says "no such option", but the
        // mismatch is of families. (qemu-user also answers ENOPROTOOPT for options it
        // cannot translate: the socket's family tells the two apart.)
        (Errno::ENOPROTOOPT, _) if group.is_ipv6() && is_ipv4_socket(fd) => {
            iox::Error::with_context(
                iox::ErrorKind::AddressFamilyNotSupported,
                "an IPv6 group on an IPv4 socket: use an IPv6 socket",
            )
        }
        (Errno::ENODEV, _) => no_interface(iface),
        (Errno::EADDRINUSE, Op::Join | Op::JoinSource) => e.context(
            "the socket has already joined that group (from that source) on that interface",
        ),
        (Errno::EADDRNOTAVAIL, Op::Leave) => {
            e.context("the socket has not joined that group on that interface")
        }
        (Errno::EINVAL, Op::Block | Op::Unblock) => e.context(
            "the socket holds no any-source membership of that group on that interface \
             (join it with join first)",
        ),
        (Errno::EINVAL, Op::LeaveSource) => {
            e.context("the socket holds no membership of that group on that interface")
        }
        (Errno::EADDRNOTAVAIL, Op::Unblock) => {
            e.context("that source is not blocked on that group and interface")
        }
        (Errno::EADDRNOTAVAIL, Op::LeaveSource) => {
            e.context("the socket has not joined that group from that source on that interface")
        }
        _ => e,
    }
}

fn is_ipv4_socket(fd: &impl AsFd) -> bool {
    matches!(opt::domain_and_protocol(fd), Ok((d, _)) if d == libc::AF_INET)
}

/// The interface an option named does not exist (`ENODEV`, or `EADDRNOTAVAIL` from
/// `IP_MULTICAST_IF`): `AddressNotAvailable`, as for a name no interface has.
fn no_interface(iface: Interface<'_>) -> iox::Error {
    let (kind, what) = match iface {
        Interface::Index(_) => (
            iox::ErrorKind::AddressNotAvailable,
            "no interface has that index",
        ),
        Interface::Addr(_) => (
            iox::ErrorKind::AddressNotAvailable,
            "no interface holds that IPv4 address",
        ),
        Interface::Name(_) => (
            iox::ErrorKind::AddressNotAvailable,
            "the named interface is gone",
        ),
        Interface::Any => (
            iox::ErrorKind::NetworkUnreachable,
            "no route to the group to choose an interface by: name one",
        ),
    };
    iox::Error::with_context(kind, what)
}

/// `struct ip_mreqn` bytes: group, local address, interface index.
fn mreqn(group: Ipv4Addr, iface: Interface<'_>) -> iox::Result<[u8; 12]> {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&group.octets());
    match iface {
        Interface::Addr(a) => b[4..8].copy_from_slice(&a.octets()),
        other => b[8..12].copy_from_slice(&(other.index()? as i32).to_ne_bytes()),
    }
    Ok(b)
}

/// `struct ipv6_mreq` bytes.
fn mreq6(group: Ipv6Addr, ifindex: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..16].copy_from_slice(&group.octets());
    b[16..].copy_from_slice(&ifindex.to_ne_bytes());
    b
}

/// `struct group_req` / `group_source_req` bytes: interface, then one or two
/// `sockaddr_storage`s (after the alignment padding of the platform's layout).
fn group_source_req(ifindex: u32, group: IpAddr, source: Option<IpAddr>) -> ([u8; 264], usize) {
    const SS: usize = 128;
    // The interface index, then padding up to the storage's alignment.
    const OFF: usize = crate::sys::GSR_GROUP_OFFSET;
    let mut b = [0u8; OFF + 2 * SS];
    b[..4].copy_from_slice(&ifindex.to_ne_bytes());
    let put = |b: &mut [u8], a: IpAddr| match a {
        IpAddr::V4(v4) => {
            let s = SockaddrInet4::new(v4, 0);
            b[..s.as_bytes().len()].copy_from_slice(s.as_bytes());
        }
        IpAddr::V6(v6) => {
            let s = SockaddrInet6::new(v6, 0, 0, 0);
            b[..s.as_bytes().len()].copy_from_slice(s.as_bytes());
        }
    };
    put(&mut b[OFF..OFF + SS], group);
    let len = match source {
        Some(s) => {
            put(&mut b[OFF + SS..], s);
            OFF + 2 * SS
        }
        None => OFF + SS,
    };
    (b, len)
}

fn level_of(group: IpAddr) -> i32 {
    if group.is_ipv4() {
        libc::IPPROTO_IP
    } else {
        libc::IPPROTO_IPV6
    }
}

/// Joins `group` (any source) on `iface`. IPv4: `IP_ADD_MEMBERSHIP` with `ip_mreqn`;
/// IPv6: `IPV6_ADD_MEMBERSHIP` (by index). An IPv6 group on an IPv4 socket is
/// `AddressFamilyNotSupported`; an interface that does not exist `AddressNotAvailable`;
/// joining twice `AddressInUse`; each saying so.
pub fn join(fd: &impl AsFd, group: IpAddr, iface: Interface<'_>) -> iox::Result<()> {
    check_group(group)?;
    match group {
        IpAddr::V4(g) => group_opt(
            fd,
            Op::Join,
            (libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreqn(g, iface)?),
            group,
            iface,
        ),
        IpAddr::V6(g) => group_opt(
            fd,
            Op::Join,
            (
                libc::IPPROTO_IPV6,
                crate::sys::IPV6_JOIN,
                &mreq6(g, iface.index()?),
            ),
            group,
            iface,
        ),
    }
}

/// Leaves `group` on `iface`. A group the socket has not joined there is
/// `AddressNotAvailable` (`EADDRNOTAVAIL`), saying so.
pub fn leave(fd: &impl AsFd, group: IpAddr, iface: Interface<'_>) -> iox::Result<()> {
    check_group(group)?;
    match group {
        IpAddr::V4(g) => group_opt(
            fd,
            Op::Leave,
            (
                libc::IPPROTO_IP,
                libc::IP_DROP_MEMBERSHIP,
                &mreqn(g, iface)?,
            ),
            group,
            iface,
        ),
        IpAddr::V6(g) => group_opt(
            fd,
            Op::Leave,
            (
                libc::IPPROTO_IPV6,
                crate::sys::IPV6_LEAVE,
                &mreq6(g, iface.index()?),
            ),
            group,
            iface,
        ),
    }
}

fn linux_only(what: &'static str) -> iox::Result<()> {
    if crate::sys::MCAST_LINUX {
        Ok(())
    } else {
        Err(iox::Error::unsupported(what))
    }
}

fn source_op(
    fd: &impl AsFd,
    (op, name): (Op, i32),
    group: IpAddr,
    source: IpAddr,
    iface: Interface<'_>,
) -> iox::Result<()> {
    linux_only("source-specific multicast options are Linux-only here")?;
    check_group(group)?;
    if group.is_ipv4() != source.is_ipv4() {
        return Err(iox::Error::invalid_input(
            "group and source are of different families",
        ));
    }
    let (b, len) = group_source_req(iface.index()?, group, Some(source));
    group_opt(fd, op, (level_of(group), name, &b[..len]), group, iface)
}

/// Joins `group` receiving only from `source` (source-specific multicast,
/// `MCAST_JOIN_SOURCE_GROUP`); several sources can be joined one by one.
pub fn join_source(
    fd: &impl AsFd,
    group: IpAddr,
    source: IpAddr,
    iface: Interface<'_>,
) -> iox::Result<()> {
    source_op(
        fd,
        (Op::JoinSource, MCAST_JOIN_SOURCE_GROUP),
        group,
        source,
        iface,
    )
}

/// Stops receiving `group` from `source` (`MCAST_LEAVE_SOURCE_GROUP`).
pub fn leave_source(
    fd: &impl AsFd,
    group: IpAddr,
    source: IpAddr,
    iface: Interface<'_>,
) -> iox::Result<()> {
    source_op(
        fd,
        (Op::LeaveSource, MCAST_LEAVE_SOURCE_GROUP),
        group,
        source,
        iface,
    )
}

/// Blocks `source` on an any-source membership of `group` (`MCAST_BLOCK_SOURCE`). Without
/// such a membership on `iface` it is `InvalidInput` (`EINVAL`), saying so.
pub fn block_source(
    fd: &impl AsFd,
    group: IpAddr,
    source: IpAddr,
    iface: Interface<'_>,
) -> iox::Result<()> {
    source_op(fd, (Op::Block, MCAST_BLOCK_SOURCE), group, source, iface)
}

/// Lets a blocked `source` through again (`MCAST_UNBLOCK_SOURCE`).
pub fn unblock_source(
    fd: &impl AsFd,
    group: IpAddr,
    source: IpAddr,
    iface: Interface<'_>,
) -> iox::Result<()> {
    source_op(
        fd,
        (Op::Unblock, MCAST_UNBLOCK_SOURCE),
        group,
        source,
        iface,
    )
}

/// Joins `group` through the protocol-independent `MCAST_JOIN_GROUP` (any source).
pub fn join_group(fd: &impl AsFd, group: IpAddr, iface: Interface<'_>) -> iox::Result<()> {
    linux_only("MCAST_JOIN_GROUP is Linux-only here")?;
    check_group(group)?;
    let (b, len) = group_source_req(iface.index()?, group, None);
    group_opt(
        fd,
        Op::Join,
        (level_of(group), MCAST_JOIN_GROUP, &b[..len]),
        group,
        iface,
    )
}

/// Leaves a group joined with [`join_group`].
pub fn leave_group(fd: &impl AsFd, group: IpAddr, iface: Interface<'_>) -> iox::Result<()> {
    linux_only("MCAST_LEAVE_GROUP is Linux-only here")?;
    check_group(group)?;
    let (b, len) = group_source_req(iface.index()?, group, None);
    group_opt(
        fd,
        Op::Leave,
        (level_of(group), MCAST_LEAVE_GROUP, &b[..len]),
        group,
        iface,
    )
}

/// The interface IPv4 multicast leaves through (`IP_MULTICAST_IF` with `ip_mreqn`).
/// An interface the kernel does not know is `AddressNotAvailable`, saying so.
pub fn set_interface_v4(fd: &impl AsFd, iface: Interface<'_>) -> iox::Result<()> {
    setsockopt(
        fd,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        &mreqn(Ipv4Addr::UNSPECIFIED, iface)?,
    )
    .map_err(|e| match e.errno() {
        Some(zcall::Errno::EADDRNOTAVAIL | zcall::Errno::ENODEV) => no_interface(iface),
        _ => e,
    })
}

/// The address `IP_MULTICAST_IF` names (unspecified when chosen by index or not set).
pub fn interface_v4(fd: &impl AsFd) -> iox::Result<Ipv4Addr> {
    let mut b = [0u8; 4];
    zcall::getsockopt(
        fd.as_fd().as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        &mut b,
    )?;
    Ok(Ipv4Addr::from(b))
}

/// The interface IPv6 multicast leaves through (`IPV6_MULTICAST_IF`, by index).
/// An interface the kernel does not know is `AddressNotAvailable`, saying so.
pub fn set_interface_v6(fd: &impl AsFd, iface: Interface<'_>) -> iox::Result<()> {
    opt::set_int(
        fd,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
        iface.index()? as i32,
    )
    .map_err(|e| match e.errno() {
        Some(zcall::Errno::ENODEV) => no_interface(iface),
        _ => e,
    })
}

/// `IPV6_MULTICAST_IF`.
pub fn interface_v6(fd: &impl AsFd) -> iox::Result<u32> {
    Ok(opt::get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF)? as u32)
}

/// Whether this host's own sockets receive what it sends to a group (`IP_MULTICAST_LOOP`).
pub fn set_loop_v4(fd: &impl AsFd, on: bool) -> iox::Result<()> {
    opt::set_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, i32::from(on))
}

/// `IP_MULTICAST_LOOP` as the kernel has it (the Go getter returned the inverse).
pub fn loop_v4(fd: &impl AsFd) -> iox::Result<bool> {
    Ok(opt::get_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP)? != 0)
}

/// `IPV6_MULTICAST_LOOP`.
pub fn set_loop_v6(fd: &impl AsFd, on: bool) -> iox::Result<()> {
    opt::set_int(
        fd,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_LOOP,
        i32::from(on),
    )
}

/// `IPV6_MULTICAST_LOOP`.
pub fn loop_v6(fd: &impl AsFd) -> iox::Result<bool> {
    Ok(opt::get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP)? != 0)
}

/// `IP_MULTICAST_TTL` (0..=255).
pub fn set_ttl_v4(fd: &impl AsFd, ttl: u8) -> iox::Result<()> {
    opt::set_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, i32::from(ttl))
}

/// `IP_MULTICAST_TTL`.
pub fn ttl_v4(fd: &impl AsFd) -> iox::Result<u8> {
    Ok(opt::get_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL)? as u8)
}

/// `IPV6_MULTICAST_HOPS` (0..=255; `None` restores the route's default).
pub fn set_hops_v6(fd: &impl AsFd, hops: Option<u8>) -> iox::Result<()> {
    opt::set_int(
        fd,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_HOPS,
        hops.map_or(-1, i32::from),
    )
}

/// `IPV6_MULTICAST_HOPS`.
pub fn hops_v6(fd: &impl AsFd) -> iox::Result<u8> {
    Ok(opt::get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS)? as u8)
}

/// `IP_MULTICAST_ALL` (Linux): when off, a socket bound to the wildcard receives only the
/// groups *it* joined, not every group any socket of the host joined.
pub fn set_all_v4(fd: &impl AsFd, on: bool) -> iox::Result<()> {
    linux_only("IP_MULTICAST_ALL")?;
    opt::set_int(fd, libc::IPPROTO_IP, IP_MULTICAST_ALL, i32::from(on))
}

/// `IP_MULTICAST_ALL`.
pub fn all_v4(fd: &impl AsFd) -> iox::Result<bool> {
    linux_only("IP_MULTICAST_ALL")?;
    Ok(opt::get_int(fd, libc::IPPROTO_IP, IP_MULTICAST_ALL)? != 0)
}

/// `IPV6_MULTICAST_ALL` (Linux).
pub fn set_all_v6(fd: &impl AsFd, on: bool) -> iox::Result<()> {
    linux_only("IPV6_MULTICAST_ALL")?;
    opt::set_int(fd, libc::IPPROTO_IPV6, IPV6_MULTICAST_ALL, i32::from(on))
}

/// `IPV6_MULTICAST_ALL`.
pub fn all_v6(fd: &impl AsFd) -> iox::Result<bool> {
    linux_only("IPV6_MULTICAST_ALL")?;
    Ok(opt::get_int(fd, libc::IPPROTO_IPV6, IPV6_MULTICAST_ALL)? != 0)
}
