//! Control messages (ancillary data): a builder, [`CmsgWriter`], and a parser, [`CmsgIter`],
//! over buffers the caller owns. Nothing allocates; sizes can be computed at compile time
//! with [`cmsg_space!`](crate::cmsg_space).
//!
//! ```
//! use sock::cmsg::{Cmsg, CmsgBuf, CmsgIter, CmsgWriter};
//! let mut buf = CmsgBuf::<{ sock::cmsg_space!(u16, i32) }>::new();
//! let mut w = CmsgWriter::new(buf.as_mut());
//! w.udp_segment(1200).unwrap();
//! w.ttl(7).unwrap();
//! let n = w.len();
//! let got: Vec<_> = CmsgIter::new(&buf.as_ref()[..n]).map(Result::unwrap).collect();
//! assert!(matches!(got[0], Cmsg::UdpSegment(1200)));
//! assert!(matches!(got[1], Cmsg::Ttl(7)));
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

pub use crate::msg::{Received, TakeRights};

const ALIGN: usize = crate::sys::CMSG_ALIGN;
pub(crate) const HDR: usize = align(core::mem::size_of::<libc::cmsghdr>());
const LEVEL_OFF: usize = core::mem::offset_of!(libc::cmsghdr, cmsg_level);
const TYPE_OFF: usize = core::mem::offset_of!(libc::cmsghdr, cmsg_type);
/// The bytes `cmsg_len` spans, padding included: 8 for `size_t` (glibc) or a `socklen_t`
/// padded to 8 (musl, little-endian), 4 on BSD and macOS.
const LEN_SIZE: usize = LEVEL_OFF;

/// `CMSG_ALIGN`.
pub const fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// `CMSG_SPACE`: the bytes one message with `data_len` bytes of data takes, padding included.
pub const fn space(data_len: usize) -> usize {
    HDR + align(data_len)
}

/// `CMSG_LEN`: the value of `cmsg_len` for `data_len` bytes of data.
pub const fn len(data_len: usize) -> usize {
    HDR + data_len
}

/// The control-buffer size for one message of each type given, at compile time:
/// `cmsg_space!(u16, [i32; 4])`.
#[macro_export]
macro_rules! cmsg_space {
    ($($t:ty),* $(,)?) => {
        0 $(+ $crate::cmsg::space(::core::mem::size_of::<$t>()))*
    };
}

/// A control buffer aligned as the kernel's headers want it.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(8))]
pub struct CmsgBuf<const N: usize>([u8; N]);

impl<const N: usize> CmsgBuf<N> {
    /// Zeroed.
    pub const fn new() -> Self {
        CmsgBuf([0; N])
    }
}

impl<const N: usize> Default for CmsgBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> AsRef<[u8]> for CmsgBuf<N> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> AsMut<[u8]> for CmsgBuf<N> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Levels and types this module speaks (Linux numbers; `SOL_SOCKET`/`SCM_RIGHTS` are the
/// platform's).
#[allow(missing_docs)]
pub mod consts {
    pub const SOL_SOCKET: i32 = libc::SOL_SOCKET;
    pub const SCM_RIGHTS: i32 = libc::SCM_RIGHTS;
    pub const SCM_CREDENTIALS: i32 = 2;
    pub const SCM_PIDFD: i32 = 4;
    pub const SO_TIMESTAMPNS: i32 = 35;
    pub const SO_TIMESTAMPING: i32 = 37;
    pub const SOL_IP: i32 = 0;
    pub const SOL_IPV6: i32 = 41;
    pub const SOL_UDP: i32 = 17;
    pub const IP_TOS: i32 = 1;
    pub const IP_TTL: i32 = 2;
    pub const IP_RECVERR: i32 = 11;
    pub const IPV6_RECVERR: i32 = 25;
    pub const IPV6_PKTINFO: i32 = 50;
    pub const IPV6_HOPLIMIT: i32 = 52;
    pub const IPV6_TCLASS: i32 = 67;
    pub const UDP_SEGMENT: i32 = 103;
    pub const UDP_GRO: i32 = 104;
    /// `sock_extended_err.ee_origin`: nothing.
    pub const SO_EE_ORIGIN_NONE: u8 = 0;
    /// `ee_origin`: the local stack (`EMSGSIZE`, `ENOBUFS`).
    pub const SO_EE_ORIGIN_LOCAL: u8 = 1;
    /// `ee_origin`: an ICMP message.
    pub const SO_EE_ORIGIN_ICMP: u8 = 2;
    /// `ee_origin`: an ICMPv6 message.
    pub const SO_EE_ORIGIN_ICMP6: u8 = 3;
    /// `ee_origin`: a transmit timestamp.
    pub const SO_EE_ORIGIN_TIMESTAMPING: u8 = 4;
    /// `ee_origin`: a `MSG_ZEROCOPY` completion.
    pub const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
    /// `SO_TIMESTAMPING` flag: timestamp datagrams as the stack receives them.
    pub const SOF_TIMESTAMPING_RX_SOFTWARE: u32 = 1 << 3;
    /// `SO_TIMESTAMPING` flag: report software timestamps.
    pub const SOF_TIMESTAMPING_SOFTWARE: u32 = 1 << 4;
}
use consts::*;

/// Process credentials (`struct ucred`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ucred {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// `struct sock_extended_err` and the offender's address, as `IP_RECVERR` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedErr {
    /// The error (`ECONNREFUSED`, `EMSGSIZE`, `ENOBUFS`, ...).
    pub errno: zcall::Errno,
    /// `SO_EE_ORIGIN_*`: local, ICMP, ICMPv6, timestamping, zerocopy.
    pub origin: u8,
    /// ICMP type (or zerocopy/timestamping detail).
    pub kind: u8,
    /// ICMP code.
    pub code: u8,
    /// `ee_info` (the MTU for a fragmentation-needed error).
    pub info: u32,
    /// `ee_data`.
    pub data: u32,
    /// The address of the node that reported the error (`SO_EE_OFFENDER`: the router or
    /// host that sent the ICMP message); `None` when there is none (a local error).
    pub offender: Option<IpAddr>,
}

/// The descriptors of an `SCM_RIGHTS` message, as numbers (see
/// [`NetSocket::recv_fds`](crate::NetSocket::recv_fds) and [`Received::rights`] for owned
/// ones).
#[derive(Clone, Copy, Debug)]
pub struct Fds<'a>(&'a [u8]);

impl Iterator for Fds<'_> {
    type Item = RawFd;
    fn next(&mut self) -> Option<RawFd> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(i32::from_ne_bytes(*head))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.count_fds();
        (n, Some(n))
    }
}

/// [`len`](ExactSizeIterator::len) is the number of descriptors not yet read.
impl ExactSizeIterator for Fds<'_> {}

impl Fds<'_> {
    /// How many descriptors are left to read (the same as `len()`).
    pub fn count_fds(&self) -> usize {
        self.0.len() / 4
    }
}

/// One control message, typed when this module knows it, raw otherwise.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Cmsg<'a> {
    /// `SCM_RIGHTS`: descriptors.
    Rights(Fds<'a>),
    /// `SCM_CREDENTIALS`.
    Credentials(Ucred),
    /// `SCM_PIDFD`: a pidfd of the sender (with `SO_PASSPIDFD`; take it as an `OwnedFd`
    /// with [`Received::pidfd`]).
    PidFd(RawFd),
    /// `UDP_SEGMENT`: the GSO segment size of a send.
    UdpSegment(u16),
    /// `UDP_GRO`: the segment size of a coalesced receive.
    UdpGro(u16),
    /// `IP_PKTINFO`: the interface and addresses of an IPv4 datagram.
    PktInfo4 {
        /// Interface index.
        ifindex: u32,
        /// The local address the datagram was routed to.
        local: Ipv4Addr,
        /// The destination in its header.
        dst: Ipv4Addr,
    },
    /// `IP_RECVDSTADDR` (BSD): the destination address of an IPv4 datagram.
    RecvDstAddr(Ipv4Addr),
    /// `IPV6_PKTINFO`.
    PktInfo6 {
        /// The destination (or source, on send).
        addr: Ipv6Addr,
        /// Interface index.
        ifindex: u32,
    },
    /// `IP_TOS` (DSCP and ECN bits).
    Tos(u8),
    /// `IPV6_TCLASS`.
    TClass(i32),
    /// `IP_TTL`.
    Ttl(i32),
    /// `IPV6_HOPLIMIT`.
    HopLimit(i32),
    /// `SO_TIMESTAMPNS`: the receive time (`CLOCK_REALTIME`).
    TimestampNs(Duration),
    /// `SO_TIMESTAMPING`: software, (legacy), hardware times (`CLOCK_REALTIME` for the
    /// software one; zero where none was taken).
    Timestamping([Duration; 3]),
    /// `IP_RECVERR` / `IPV6_RECVERR`.
    RecvErr(ExtendedErr),
    /// Anything else, as it came: never dropped.
    Other {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        ty: i32,
        /// The data.
        data: &'a [u8],
    },
}

fn i32_at(d: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(d.get(off..off + 4)?.try_into().ok()?))
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(d.get(off..off + 4)?.try_into().ok()?))
}

fn ts_at(d: &[u8], off: usize) -> Option<Duration> {
    let w = core::mem::size_of::<libc::time_t>();
    let sec = i64::from_ne_bytes(pad8(d.get(off..off + w)?));
    let nsec = i64::from_ne_bytes(pad8(d.get(off + w..off + 2 * w)?));
    Some(Duration::new(
        sec.max(0) as u64,
        nsec.clamp(0, 999_999_999) as u32,
    ))
}

fn pad8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    if cfg!(target_endian = "little") {
        a[..n].copy_from_slice(&b[..n]);
    } else {
        a[8 - n..].copy_from_slice(&b[..n]);
    }
    a
}

/// The `sockaddr_in`/`sockaddr_in6` the kernel puts after a `sock_extended_err`.
fn offender(sa: &[u8]) -> Option<IpAddr> {
    let family = i32::from(u16::from_ne_bytes(sa.get(..2)?.try_into().ok()?));
    if family == libc::AF_INET {
        let a: [u8; 4] = sa.get(4..8)?.try_into().ok()?;
        Some(IpAddr::from(a))
    } else if family == libc::AF_INET6 {
        let a: [u8; 16] = sa.get(8..24)?.try_into().ok()?;
        Some(IpAddr::from(a))
    } else {
        None
    }
}

fn typed(level: i32, ty: i32, d: &[u8]) -> Option<Cmsg<'_>> {
    if level == SOL_IP && Some(ty) == crate::sys::IP_RECVDSTADDR && d.len() >= 4 {
        return Some(Cmsg::RecvDstAddr(Ipv4Addr::new(d[0], d[1], d[2], d[3])));
    }
    if level == SOL_IP && Some(ty) == crate::sys::IP_PKTINFO && d.len() >= 12 {
        return Some(Cmsg::PktInfo4 {
            ifindex: u32_at(d, 0)?,
            local: Ipv4Addr::new(d[4], d[5], d[6], d[7]),
            dst: Ipv4Addr::new(d[8], d[9], d[10], d[11]),
        });
    }
    Some(match (level, ty) {
        (SOL_SOCKET, SCM_RIGHTS) => Cmsg::Rights(Fds(&d[..d.len() / 4 * 4])),
        (SOL_SOCKET, SCM_CREDENTIALS) if cfg!(target_os = "linux") && d.len() >= 12 => {
            Cmsg::Credentials(Ucred {
                pid: i32_at(d, 0)?,
                uid: u32_at(d, 4)?,
                gid: u32_at(d, 8)?,
            })
        }
        (SOL_SOCKET, SCM_PIDFD) if cfg!(target_os = "linux") => Cmsg::PidFd(i32_at(d, 0)?),
        (SOL_SOCKET, SO_TIMESTAMPNS) if cfg!(target_os = "linux") => {
            Cmsg::TimestampNs(ts_at(d, 0)?)
        }
        (SOL_SOCKET, SO_TIMESTAMPING) if cfg!(target_os = "linux") => {
            let w = 2 * core::mem::size_of::<libc::time_t>();
            Cmsg::Timestamping([ts_at(d, 0)?, ts_at(d, w)?, ts_at(d, 2 * w)?])
        }
        (SOL_UDP, UDP_SEGMENT) if d.len() >= 2 => {
            Cmsg::UdpSegment(u16::from_ne_bytes([d[0], d[1]]))
        }
        (SOL_UDP, UDP_GRO) => Cmsg::UdpGro(u16::try_from(i32_at(d, 0)?).ok()?),
        (SOL_IPV6, IPV6_PKTINFO) if d.len() >= 20 => Cmsg::PktInfo6 {
            addr: Ipv6Addr::from(<[u8; 16]>::try_from(&d[..16]).ok()?),
            ifindex: u32_at(d, 16)?,
        },
        (SOL_IP, IP_TOS) if !d.is_empty() => Cmsg::Tos(d[0]),
        (SOL_IP, IP_TTL) => Cmsg::Ttl(i32_at(d, 0)?),
        (SOL_IPV6, IPV6_TCLASS) => Cmsg::TClass(i32_at(d, 0)?),
        (SOL_IPV6, IPV6_HOPLIMIT) => Cmsg::HopLimit(i32_at(d, 0)?),
        (SOL_IP, IP_RECVERR) | (SOL_IPV6, IPV6_RECVERR) if d.len() >= 16 => {
            Cmsg::RecvErr(ExtendedErr {
                errno: zcall::Errno::from_raw(i32_at(d, 0)?),
                origin: d[4],
                kind: d[5],
                code: d[6],
                info: u32_at(d, 8)?,
                data: u32_at(d, 12)?,
                offender: offender(d.get(16..).unwrap_or_default()),
            })
        }
        _ => return None,
    })
}

/// Walks a control buffer (`msg_control` up to `msg_controllen`): each item is a message,
/// or an error for a malformed length, after which the walk stops.
#[derive(Clone, Debug)]
pub struct CmsgIter<'a> {
    rest: &'a [u8],
}

impl<'a> CmsgIter<'a> {
    /// A walk over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        CmsgIter { rest: buf }
    }
}

/// The header at the start of `b`: `(level, type, cmsg_len)`, `cmsg_len` checked to lie
/// within `b` and to cover a header. `None` when fewer bytes than a header are left.
pub(crate) fn header(b: &[u8]) -> Option<iox::Result<(i32, i32, usize)>> {
    if b.len() < HDR {
        return None;
    }
    let mut lenb = [0u8; 8];
    lenb[..LEN_SIZE].copy_from_slice(&b[..LEN_SIZE]);
    let clen = if LEN_SIZE == 8 {
        u64::from_ne_bytes(lenb) as usize
    } else {
        u32::from_ne_bytes([lenb[0], lenb[1], lenb[2], lenb[3]]) as usize
    };
    if clen < HDR || clen > b.len() {
        return Some(Err(iox::Error::invalid_input(
            "control message length is out of bounds",
        )));
    }
    let level = i32::from_ne_bytes(b[LEVEL_OFF..LEVEL_OFF + 4].try_into().expect("4 bytes"));
    let ty = i32::from_ne_bytes(b[TYPE_OFF..TYPE_OFF + 4].try_into().expect("4 bytes"));
    Some(Ok((level, ty, clen)))
}

/// The kinds of control message that install descriptors in the receiving process: passed
/// descriptors (`SCM_RIGHTS`) and, on Linux, a pidfd of the sender (`SCM_PIDFD`). No other
/// message does, on any platform built here.
pub(crate) fn installs_descriptors(level: i32, ty: i32) -> Option<FdCarrier> {
    match (level, ty) {
        (SOL_SOCKET, SCM_RIGHTS) => Some(FdCarrier::Rights),
        (SOL_SOCKET, SCM_PIDFD) if cfg!(any(target_os = "linux", target_os = "android")) => {
            Some(FdCarrier::PidFd)
        }
        _ => None,
    }
}

/// A control message that carries descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdCarrier {
    Rights,
    PidFd,
}

impl<'a> Iterator for CmsgIter<'a> {
    type Item = iox::Result<Cmsg<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.rest;
        let (level, ty, clen) = match header(b)? {
            Ok(h) => h,
            Err(e) => {
                self.rest = &[];
                return Some(Err(e));
            }
        };
        let data = &b[HDR..clen];
        self.rest = b.get(align(clen)..).unwrap_or(&[]);
        Some(Ok(typed(level, ty, data).unwrap_or(Cmsg::Other {
            level,
            ty,
            data,
        })))
    }
}

/// Builds control messages into a caller's buffer.
#[derive(Debug)]
pub struct CmsgWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> CmsgWriter<'a> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        CmsgWriter { buf, len: 0 }
    }

    /// Bytes written so far (what goes in `msg_controllen`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The messages written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends a message of `level`/`ty` with `data`. `InvalidInput` when the buffer is
    /// too small (nothing is written then).
    pub fn push(&mut self, level: i32, ty: i32, data: &[u8]) -> iox::Result<()> {
        let need = space(data.len());
        let at = self.len;
        let Some(dst) = self.buf.get_mut(at..at + need) else {
            return Err(iox::Error::invalid_input(
                "control buffer too small for the message",
            ));
        };
        dst.fill(0);
        if LEN_SIZE == 8 {
            dst[..8].copy_from_slice(&(len(data.len()) as u64).to_ne_bytes());
        } else {
            dst[..4].copy_from_slice(&(len(data.len()) as u32).to_ne_bytes());
        }
        dst[LEVEL_OFF..LEVEL_OFF + 4].copy_from_slice(&level.to_ne_bytes());
        dst[TYPE_OFF..TYPE_OFF + 4].copy_from_slice(&ty.to_ne_bytes());
        dst[HDR..HDR + data.len()].copy_from_slice(data);
        self.len += need;
        Ok(())
    }

    /// `SCM_RIGHTS`: descriptors to pass (at most 253 per message, the kernel's limit).
    pub fn rights(&mut self, fds: &[BorrowedFd<'_>]) -> iox::Result<()> {
        const MAX: usize = 253;
        if fds.len() > MAX {
            return Err(iox::Error::invalid_input(
                "more than 253 descriptors in one message",
            ));
        }
        let mut data = [0u8; MAX * 4];
        for (i, fd) in fds.iter().enumerate() {
            data[4 * i..4 * i + 4].copy_from_slice(&fd.as_raw_fd().to_ne_bytes());
        }
        self.push(SOL_SOCKET, SCM_RIGHTS, &data[..4 * fds.len()])
    }

    /// `SCM_CREDENTIALS` (Linux): the sender's credentials (the kernel checks them).
    pub fn credentials(&mut self, c: Ucred) -> iox::Result<()> {
        let mut d = [0u8; 12];
        d[..4].copy_from_slice(&c.pid.to_ne_bytes());
        d[4..8].copy_from_slice(&c.uid.to_ne_bytes());
        d[8..].copy_from_slice(&c.gid.to_ne_bytes());
        self.push(SOL_SOCKET, SCM_CREDENTIALS, &d)
    }

    /// `UDP_SEGMENT`: send this datagram as segments of `size` bytes (GSO).
    pub fn udp_segment(&mut self, size: u16) -> iox::Result<()> {
        self.push(SOL_UDP, UDP_SEGMENT, &size.to_ne_bytes())
    }

    /// `IP_TTL` for this datagram.
    pub fn ttl(&mut self, ttl: i32) -> iox::Result<()> {
        self.push(SOL_IP, IP_TTL, &ttl.to_ne_bytes())
    }

    /// `IP_TOS` for this datagram.
    pub fn tos(&mut self, tos: u8) -> iox::Result<()> {
        self.push(SOL_IP, IP_TOS, &i32::from(tos).to_ne_bytes())
    }

    /// `IPV6_TCLASS` for this datagram.
    pub fn tclass(&mut self, tclass: i32) -> iox::Result<()> {
        self.push(SOL_IPV6, IPV6_TCLASS, &tclass.to_ne_bytes())
    }

    /// `IPV6_HOPLIMIT` for this datagram.
    pub fn hop_limit(&mut self, hops: i32) -> iox::Result<()> {
        self.push(SOL_IPV6, IPV6_HOPLIMIT, &hops.to_ne_bytes())
    }

    /// `IP_PKTINFO`: send from `local` (and/or out of `ifindex`). Linux and macOS
    /// (`Unsupported` on FreeBSD, which has `IP_SENDSRCADDR` instead).
    pub fn pktinfo4(&mut self, ifindex: u32, local: Ipv4Addr) -> iox::Result<()> {
        let ty = crate::sys::IP_PKTINFO.ok_or(iox::Error::unsupported("IP_PKTINFO"))?;
        let mut d = [0u8; 12];
        d[..4].copy_from_slice(&ifindex.to_ne_bytes());
        d[4..8].copy_from_slice(&local.octets());
        self.push(SOL_IP, ty, &d)
    }

    /// `IPV6_PKTINFO`: send from `addr` (and/or out of `ifindex`).
    pub fn pktinfo6(&mut self, addr: Ipv6Addr, ifindex: u32) -> iox::Result<()> {
        let mut d = [0u8; 20];
        d[..16].copy_from_slice(&addr.octets());
        d[16..].copy_from_slice(&ifindex.to_ne_bytes());
        self.push(SOL_IPV6, IPV6_PKTINFO, &d)
    }
}
