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
/// `"/path"`, `"@abstract"`). Only text that can be `host:port` with a host name
/// (`"localhost:80"`) is looked up, through [`ToSocketAddrs`], which blocks on the resolver
/// and allocates (cold path only). A malformed literal is never looked up: its error names
/// what was wrong (`999.1.1.1:80`: `IPv4 octet exceeds 255`; `[::1`: `missing ']'`;
/// `[fe80::1%nosuchif0]:80`: `unknown interface`), as does a host name that breaks the
/// rules (an empty or over-long label, a character other than letters, digits, `-`, `_`).
///
/// ```
/// use sock::{ErrorKind, Family, ToSockaddr};
/// let e = "999.1.1.1:80".to_sockaddr(Family::Any).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::InvalidInput);
/// assert_eq!(e.to_string(), "invalid input: IPv4 octet exceeds 255");
/// ```
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
        let literal = match self.parse::<SockaddrAny>() {
            Ok(a) => return check(a, family),
            Err(e) => e,
        };
        // Only text that can be `host:port` reaches the resolver; a malformed literal
        // (`999.1.1.1:80`, `[::1`, an unknown zone) keeps its own error.
        match host_port(self)? {
            Some((host, port)) => resolve(host, port, family),
            None => Err(literal),
        }
    }
}

/// The longest host name (RFC 1035, without the trailing dot).
const HOST_NAME_MAX: usize = 253;
/// The longest label of a host name.
const LABEL_MAX: usize = 63;

/// `Some((host, port))` when `s` can only be meant as `host:port` with a host name;
/// `None` when it was meant as a literal address (digits and dots, brackets, colons in the
/// host), whose parse error is then the answer. A host name that breaks the rules of
/// RFC 1123 (letters, digits, `-`, and `_` as found in service records; labels of 1 to 63
/// bytes not starting or ending with `-`; 253 bytes in all) is an error here, before any
/// lookup.
fn host_port(s: &str) -> iox::Result<Option<(&str, u16)>> {
    if s.starts_with('@') || s.contains('/') || s.starts_with('[') {
        return Ok(None);
    }
    let (host, port) = match s.rsplit_once(':') {
        Some(hp) => hp,
        None => (s, ""),
    };
    if host.is_empty()
        || host.contains([':', '[', ']'])
        || host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return Ok(None);
    }
    check_host_name(host)?;
    if !s.contains(':') {
        return Err(iox::Error::invalid_input(
            "missing :port after the host name (host:port)",
        ));
    }
    Ok(Some((host, sockaddr::parse_port(port)?)))
}

fn check_host_name(host: &str) -> iox::Result<()> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > HOST_NAME_MAX {
        return Err(iox::Error::invalid_input("host name exceeds 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(iox::Error::invalid_input("host name has an empty label"));
        }
        if label.len() > LABEL_MAX {
            return Err(iox::Error::invalid_input(
                "host name label exceeds 63 bytes",
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(iox::Error::invalid_input(
                "host name holds a character other than letters, digits, '-', '_' and '.'",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(iox::Error::invalid_input(
                "host name label starts or ends with '-'",
            ));
        }
    }
    Ok(())
}

/// `host:port` through the system resolver (`getaddrinfo(3)`: blocking, allocating).
fn resolve(host: &str, port: u16, family: Family) -> iox::Result<SockaddrAny> {
    let found = (host, port).to_socket_addrs().map_err(|e| {
        let err = iox::Error::from(e);
        if err.errno().is_none() && err.context_str().is_none() {
            // getaddrinfo's own failures carry no errno: say what failed.
            iox::Error::with_context(
                iox::ErrorKind::AddressNotAvailable,
                "host name lookup failed (getaddrinfo)",
            )
        } else {
            err
        }
    })?;
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

#[cfg(test)]
mod tests {
    use super::host_port;

    /// Text meant as a literal address never reaches the resolver: `host_port` gives `None`
    /// (the literal's parse error is returned) or an error, never a name to look up.
    #[test]
    fn literals_are_never_looked_up() {
        for literal in [
            "999.1.1.1:80",
            "1.2.3:80",
            "1.2.3.4.5:80",
            "127.0.0.1",
            "127.0.0.1:x",
            "10.0.0.1:70000",
            ":80",
            "[::1",
            "[fe80::1%nosuchif0]:80",
            "::1]:80",
            "::1:80",
            "fe80::1",
            "/tmp/x.sock",
            "@abstract",
        ] {
            assert_eq!(host_port(literal).unwrap(), None, "{literal}");
        }
        for (name, want) in [
            ("localhost:80", ("localhost", 80)),
            ("a-1.example.com.:443", ("a-1.example.com.", 443)),
            ("_srv.example:0", ("_srv.example", 0)),
            ("1a.example:9", ("1a.example", 9)),
        ] {
            assert_eq!(host_port(name).unwrap(), Some(want), "{name}");
        }
        for bad in [
            "local host:80",
            "a..b:80",
            "-a:80",
            "a-:80",
            "localhost",
            "h:",
        ] {
            assert!(host_port(bad).is_err(), "{bad}");
        }
    }
}
