//! Turning what a caller names (a `SocketAddr`, a kernel address, or text) into a
//! [`SockaddrAny`], with an optional family restriction (the seed's `tcp4`/`tcp6`).

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};

use sockaddr::{SockaddrAny, SockaddrInet4, SockaddrInet6, SockaddrUnix};

/// Which IP family an address must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Either.
    Any,
    /// IPv4 only (the seed's `"tcp4"`).
    V4,
    /// IPv6 only (the seed's `"tcp6"`).
    V6,
}

impl Family {
    fn admits(self, a: &SockaddrAny) -> bool {
        matches!(
            (self, a),
            (Family::Any, _)
                | (Family::V4, SockaddrAny::Inet4(_))
                | (Family::V6, SockaddrAny::Inet6(_))
        )
    }
}

/// Something that names a socket address.
///
/// Text is parsed without allocating (`"127.0.0.1:80"`, `"[::1]:80"`, `"[fe80::1%eth0]:80"`,
/// `"/path"`, `"@abstract"`); anything else is looked up as `host:port` through
/// [`ToSocketAddrs`], which blocks on the resolver and allocates (cold path only).
pub trait ToSockaddr {
    /// The first address of `family`.
    fn to_sockaddr(&self, family: Family) -> iox::Result<SockaddrAny>;
}

fn check(a: SockaddrAny, family: Family) -> iox::Result<SockaddrAny> {
    if family.admits(&a) {
        Ok(a)
    } else {
        Err(iox::Error::with_context(
            iox::ErrorKind::AddressFamilyNotSupported,
            match family {
                Family::V4 => "address is not IPv4",
                _ => "address is not IPv6",
            },
        ))
    }
}

impl ToSockaddr for SockaddrAny {
    fn to_sockaddr(&self, family: Family) -> iox::Result<SockaddrAny> {
        check(*self, family)
    }
}

macro_rules! via_any {
    ($($t:ty),*) => {$(
        impl ToSockaddr for $t {
            fn to_sockaddr(&self, family: Family) -> iox::Result<SockaddrAny> {
                check(SockaddrAny::from(*self), family)
            }
        }
    )*};
}

via_any!(
    SocketAddr,
    SocketAddrV4,
    SockaddrInet4,
    SockaddrInet6,
    SockaddrUnix
);

impl ToSockaddr for SocketAddrV6 {
    fn to_sockaddr(&self, family: Family) -> iox::Result<SockaddrAny> {
        check(SockaddrAny::Inet6((*self).into()), family)
    }
}

impl ToSockaddr for str {
    fn to_sockaddr(&self, family: Family) -> iox::Result<SockaddrAny> {
        if let Ok(a) = self.parse::<SockaddrAny>() {
            return check(a, family);
        }
        if self.starts_with('@') || self.contains('/') {
            return self.parse::<SockaddrAny>();
        }
        // host:port through the system resolver (blocking, allocating).
        let found = self.to_socket_addrs().map_err(iox::Error::from)?;
        let mut any = None;
        for a in found {
            let a = SockaddrAny::from(a);
            if family.admits(&a) {
                return Ok(a);
            }
            any.get_or_insert(a);
        }
        match any {
            Some(a) => check(a, family),
            None => Err(iox::Error::with_context(
                iox::ErrorKind::AddressNotAvailable,
                "host name resolved to nothing",
            )),
        }
    }
}

impl ToSockaddr for String {
    fn to_sockaddr(&self, family: Family) -> iox::Result<SockaddrAny> {
        self.as_str().to_sockaddr(family)
    }
}

impl<T: ToSockaddr + ?Sized> ToSockaddr for &T {
    fn to_sockaddr(&self, family: Family) -> iox::Result<SockaddrAny> {
        (**self).to_sockaddr(family)
    }
}

/// The socket domain for an address.
pub(crate) fn domain(a: &SockaddrAny) -> i32 {
    match a {
        SockaddrAny::Inet4(_) => libc::AF_INET,
        SockaddrAny::Inet6(_) => libc::AF_INET6,
        SockaddrAny::Unix(_) => libc::AF_UNIX,
    }
}
