//! [`SockaddrAny`]: a decoded address of any supported family.

use core::fmt;
use core::str::FromStr;
use std::net::{SocketAddr, SocketAddrV4};

use crate::raw::Sockaddr;
use crate::{SockaddrInet4, SockaddrInet6, SockaddrUnix};

/// An IPv4, IPv6 or Unix address.
///
/// ```
/// use sockaddr::SockaddrAny;
/// let a: SockaddrAny = "[::ffff:10.1.2.3]:80".parse().unwrap();
/// assert!(matches!(a, SockaddrAny::Inet6(_)), "a mapped address stays IPv6");
/// assert_eq!(a.to_canonical().to_string(), "10.1.2.3:80");
/// assert!(matches!("/run/app.sock".parse::<SockaddrAny>().unwrap(), SockaddrAny::Unix(_)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockaddrAny {
    /// `AF_INET`.
    Inet4(SockaddrInet4),
    /// `AF_INET6`.
    Inet6(SockaddrInet6),
    /// `AF_UNIX`.
    Unix(SockaddrUnix),
}

impl SockaddrAny {
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it carries;
    /// anything else unchanged.
    pub fn to_canonical(self) -> SockaddrAny {
        match self {
            SockaddrAny::Inet6(a) => match a.ip().to_ipv4_mapped() {
                Some(v4) => SockaddrAny::Inet4(SockaddrInet4::new(v4, a.port())),
                None => self,
            },
            other => other,
        }
    }

    /// The IP socket address, if this is one.
    pub fn as_socket(&self) -> Option<SocketAddr> {
        match *self {
            SockaddrAny::Inet4(a) => Some(SocketAddr::V4(a.into())),
            SockaddrAny::Inet6(a) => Some(SocketAddr::V6(a.into())),
            SockaddrAny::Unix(_) => None,
        }
    }

    fn inner(&self) -> &dyn Sockaddr {
        match self {
            SockaddrAny::Inet4(a) => a,
            SockaddrAny::Inet6(a) => a,
            SockaddrAny::Unix(a) => a,
        }
    }
}

// SAFETY: forwards to the contained address, which upholds the contract itself.
unsafe impl Sockaddr for SockaddrAny {
    #[inline]
    fn as_ptr(&self) -> *const libc::sockaddr {
        self.inner().as_ptr()
    }
    #[inline]
    fn socklen(&self) -> libc::socklen_t {
        self.inner().socklen()
    }
    #[inline]
    fn family(&self) -> libc::sa_family_t {
        self.inner().family()
    }
}

impl From<SockaddrInet4> for SockaddrAny {
    fn from(a: SockaddrInet4) -> Self {
        SockaddrAny::Inet4(a)
    }
}
impl From<SockaddrInet6> for SockaddrAny {
    fn from(a: SockaddrInet6) -> Self {
        SockaddrAny::Inet6(a)
    }
}
impl From<SockaddrUnix> for SockaddrAny {
    fn from(a: SockaddrUnix) -> Self {
        SockaddrAny::Unix(a)
    }
}

impl From<SocketAddr> for SockaddrAny {
    #[inline]
    fn from(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(a) => SockaddrAny::Inet4(a.into()),
            SocketAddr::V6(a) => SockaddrAny::Inet6(a.into()),
        }
    }
}

impl From<SocketAddrV4> for SockaddrAny {
    fn from(a: SocketAddrV4) -> Self {
        SockaddrAny::Inet4(a.into())
    }
}

impl TryFrom<SockaddrAny> for SocketAddr {
    type Error = iox::Error;
    /// IPv4 and IPv6 addresses; a Unix address is `AddressFamilyNotSupported`.
    fn try_from(a: SockaddrAny) -> iox::Result<SocketAddr> {
        a.as_socket().ok_or(iox::Error::with_context(
            iox::ErrorKind::AddressFamilyNotSupported,
            "a unix address is not an IP socket address",
        ))
    }
}

impl fmt::Display for SockaddrAny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockaddrAny::Inet4(a) => fmt::Display::fmt(a, f),
            SockaddrAny::Inet6(a) => fmt::Display::fmt(a, f),
            SockaddrAny::Unix(a) => fmt::Display::fmt(a, f),
        }
    }
}

impl fmt::Debug for SockaddrAny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockaddrAny::Inet4(a) => fmt::Debug::fmt(a, f),
            SockaddrAny::Inet6(a) => fmt::Debug::fmt(a, f),
            SockaddrAny::Unix(a) => fmt::Debug::fmt(a, f),
        }
    }
}

impl FromStr for SockaddrAny {
    type Err = iox::Error;
    /// `@name` (abstract), anything with a `/` (pathname), `[v6]:port`, else `a.b.c.d:port`.
    /// Text whose host is digits and dots is an IPv4 address and its error says what is
    /// wrong with it (`999.1.1.1:80`: an octet over 255); so does a bracket missing on
    /// either side of an IPv6 address.
    fn from_str(s: &str) -> iox::Result<Self> {
        if s.starts_with('@') || s.contains('/') {
            s.parse().map(SockaddrAny::Unix)
        } else if s.starts_with('[') {
            crate::text::inet6(s).map(SockaddrAny::Inet6)
        } else if crate::text::is_numeric_host(s.rsplit_once(':').map_or(s, |(h, _)| h)) {
            crate::text::inet4(s).map(SockaddrAny::Inet4)
        } else {
            Err(crate::text::inet_error(s))
        }
    }
}
