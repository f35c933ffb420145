//! [`SockaddrInet4`] and [`SockaddrInet6`]: `sockaddr_in` and `sockaddr_in6` themselves.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use crate::raw::{Sockaddr, bytes};
use crate::sys;

/// An IPv4 socket address, stored as the kernel's `sockaddr_in` (port and address in
/// network byte order). `Copy`, 16 bytes; the kernel reads it in place.
///
/// ```
/// use std::net::Ipv4Addr;
/// use sockaddr::{Sockaddr, SockaddrInet4};
/// const ADDR: SockaddrInet4 = SockaddrInet4::new(Ipv4Addr::LOCALHOST, 8080);
/// assert_eq!(ADDR.port(), 8080);
/// assert_eq!(ADDR.as_bytes().len(), 16);
/// assert_eq!(ADDR.to_string(), "127.0.0.1:8080");
/// assert_eq!("127.0.0.1:8080".parse::<SockaddrInet4>().unwrap(), ADDR);
/// ```
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct SockaddrInet4(libc::sockaddr_in);

impl SockaddrInet4 {
    /// `ip:port`.
    #[inline]
    pub const fn new(ip: Ipv4Addr, port: u16) -> SockaddrInet4 {
        SockaddrInet4(sys::sockaddr_in(ip.octets(), port))
    }

    /// The address.
    #[inline]
    pub const fn ip(&self) -> Ipv4Addr {
        let b = self.0.sin_addr.s_addr.to_ne_bytes();
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The port.
    #[inline]
    pub const fn port(&self) -> u16 {
        u16::from_be(self.0.sin_port)
    }

    /// Replaces the address.
    #[inline]
    pub fn set_ip(&mut self, ip: Ipv4Addr) {
        self.0.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
    }

    /// Replaces the port.
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.0.sin_port = port.to_be();
    }

    /// The `sockaddr_in`.
    #[inline]
    pub const fn as_raw(&self) -> &libc::sockaddr_in {
        &self.0
    }

    /// Wraps a `sockaddr_in` as the kernel filled it. Its family must be `AF_INET`
    /// (`InvalidInput` otherwise).
    pub fn from_raw(raw: libc::sockaddr_in) -> iox::Result<SockaddrInet4> {
        if i32::from(raw.sin_family) != libc::AF_INET {
            return Err(iox::Error::invalid_input(
                "sockaddr_in family is not AF_INET",
            ));
        }
        Ok(SockaddrInet4(raw))
    }
}

// SAFETY: `self.0` is a whole, initialised `sockaddr_in`, valid while `&self` lives, whose
// family is AF_INET by construction.
unsafe impl Sockaddr for SockaddrInet4 {
    #[inline]
    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.0 as *const libc::sockaddr_in).cast()
    }
    #[inline]
    fn socklen(&self) -> libc::socklen_t {
        core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
    }
    #[inline]
    fn family(&self) -> libc::sa_family_t {
        libc::AF_INET as libc::sa_family_t
    }
}

impl PartialEq for SockaddrInet4 {
    fn eq(&self, o: &Self) -> bool {
        self.ip() == o.ip() && self.port() == o.port()
    }
}
impl Eq for SockaddrInet4 {}
impl Hash for SockaddrInet4 {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.ip(), self.port()).hash(h)
    }
}

impl From<SocketAddrV4> for SockaddrInet4 {
    #[inline]
    fn from(a: SocketAddrV4) -> Self {
        SockaddrInet4::new(*a.ip(), a.port())
    }
}

impl From<SockaddrInet4> for SocketAddrV4 {
    #[inline]
    fn from(a: SockaddrInet4) -> Self {
        SocketAddrV4::new(a.ip(), a.port())
    }
}

impl fmt::Display for SockaddrInet4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&SocketAddrV4::from(*self), f)
    }
}

impl fmt::Debug for SockaddrInet4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SockaddrInet4({self})")
    }
}

impl FromStr for SockaddrInet4 {
    type Err = iox::Error;
    /// `a.b.c.d:port`; the error names what was wrong (an octet over 255, a missing port,
    /// ...).
    fn from_str(s: &str) -> iox::Result<Self> {
        crate::text::inet4(s)
    }
}

/// An IPv6 socket address, stored as the kernel's `sockaddr_in6`, with flow info and scope
/// id. `Copy`, 28 bytes.
///
/// An IPv4-mapped address (`::ffff:a.b.c.d`) stays IPv6 unless
/// [`to_canonical`](crate::SockaddrAny::to_canonical) is asked for.
///
/// ```
/// use std::net::Ipv6Addr;
/// use sockaddr::SockaddrInet6;
/// let a = SockaddrInet6::new(Ipv6Addr::LOCALHOST, 443, 0, 0);
/// assert_eq!(a.to_string(), "[::1]:443");
/// let ll: SockaddrInet6 = "[fe80::1%7]:80".parse().unwrap();
/// assert_eq!((ll.scope_id(), ll.port()), (7, 80));
/// ```
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct SockaddrInet6(libc::sockaddr_in6);

impl SockaddrInet6 {
    /// `[ip%scope_id]:port` with `flowinfo`.
    #[inline]
    pub const fn new(ip: Ipv6Addr, port: u16, flowinfo: u32, scope_id: u32) -> SockaddrInet6 {
        SockaddrInet6(sys::sockaddr_in6(ip.octets(), port, flowinfo, scope_id))
    }

    /// The address.
    #[inline]
    pub const fn ip(&self) -> Ipv6Addr {
        let b = self.0.sin6_addr.s6_addr;
        Ipv6Addr::new(
            u16::from_be_bytes([b[0], b[1]]),
            u16::from_be_bytes([b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]),
            u16::from_be_bytes([b[8], b[9]]),
            u16::from_be_bytes([b[10], b[11]]),
            u16::from_be_bytes([b[12], b[13]]),
            u16::from_be_bytes([b[14], b[15]]),
        )
    }

    /// The port.
    #[inline]
    pub const fn port(&self) -> u16 {
        u16::from_be(self.0.sin6_port)
    }

    /// The flow information (host byte order).
    #[inline]
    pub const fn flowinfo(&self) -> u32 {
        u32::from_be(self.0.sin6_flowinfo)
    }

    /// The scope id: the interface index of a link-local address, or 0.
    #[inline]
    pub const fn scope_id(&self) -> u32 {
        self.0.sin6_scope_id
    }

    /// Replaces the address.
    #[inline]
    pub fn set_ip(&mut self, ip: Ipv6Addr) {
        self.0.sin6_addr.s6_addr = ip.octets();
    }

    /// Replaces the port.
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.0.sin6_port = port.to_be();
    }

    /// Replaces the flow information.
    #[inline]
    pub fn set_flowinfo(&mut self, flowinfo: u32) {
        self.0.sin6_flowinfo = flowinfo.to_be();
    }

    /// Replaces the scope id.
    #[inline]
    pub fn set_scope_id(&mut self, scope_id: u32) {
        self.0.sin6_scope_id = scope_id;
    }

    /// The `sockaddr_in6`.
    #[inline]
    pub const fn as_raw(&self) -> &libc::sockaddr_in6 {
        &self.0
    }

    /// Wraps a `sockaddr_in6` as the kernel filled it; its family must be `AF_INET6`.
    pub fn from_raw(raw: libc::sockaddr_in6) -> iox::Result<SockaddrInet6> {
        if i32::from(raw.sin6_family) != libc::AF_INET6 {
            return Err(iox::Error::invalid_input(
                "sockaddr_in6 family is not AF_INET6",
            ));
        }
        Ok(SockaddrInet6(raw))
    }
}

// SAFETY: `self.0` is a whole, initialised `sockaddr_in6` whose family is AF_INET6 by
// construction, valid while `&self` lives.
unsafe impl Sockaddr for SockaddrInet6 {
    #[inline]
    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.0 as *const libc::sockaddr_in6).cast()
    }
    #[inline]
    fn socklen(&self) -> libc::socklen_t {
        core::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
    }
    #[inline]
    fn family(&self) -> libc::sa_family_t {
        libc::AF_INET6 as libc::sa_family_t
    }
}

impl PartialEq for SockaddrInet6 {
    fn eq(&self, o: &Self) -> bool {
        bytes(&self.0) == bytes(&o.0)
    }
}
impl Eq for SockaddrInet6 {}
impl Hash for SockaddrInet6 {
    fn hash<H: Hasher>(&self, h: &mut H) {
        bytes(&self.0).hash(h)
    }
}

impl From<SocketAddrV6> for SockaddrInet6 {
    #[inline]
    fn from(a: SocketAddrV6) -> Self {
        SockaddrInet6::new(*a.ip(), a.port(), a.flowinfo(), a.scope_id())
    }
}

impl From<SockaddrInet6> for SocketAddrV6 {
    #[inline]
    fn from(a: SockaddrInet6) -> Self {
        SocketAddrV6::new(a.ip(), a.port(), a.flowinfo(), a.scope_id())
    }
}

impl fmt::Display for SockaddrInet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&SocketAddrV6::from(*self), f)
    }
}

impl fmt::Debug for SockaddrInet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SockaddrInet6({self}")?;
        if self.flowinfo() != 0 {
            write!(f, ", flowinfo {}", self.flowinfo())?;
        }
        f.write_str(")")
    }
}

impl FromStr for SockaddrInet6 {
    type Err = iox::Error;
    /// `[addr]:port` or `[addr%zone]:port`, the zone an interface name (resolved with
    /// `if_nametoindex`) or a number; the error names what was wrong (a missing bracket, an
    /// unknown interface, ...).
    fn from_str(s: &str) -> iox::Result<Self> {
        crate::text::inet6(s)
    }
}
