//! Naming interfaces: by name, index or address, resolved once to an index.

use std::net::IpAddr;

use iox::{Error, ErrorKind, Result};

/// An interface, as the peer's methods take it. Resolved to an index once, when the
/// method is called; the kernel options all take the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Iface<'a> {
    /// Let the kernel choose, from the routing table.
    Any,
    /// By name (`"eth0"`).
    Name(&'a str),
    /// By index.
    Index(u32),
    /// By one of its addresses, IPv4 or IPv6.
    Addr(IpAddr),
}

impl Iface<'_> {
    /// The interface index (0 for [`Any`](Iface::Any)). An unknown name or an address no
    /// interface holds is `AddressNotAvailable`.
    pub fn resolve(&self) -> Result<u32> {
        match *self {
            Iface::Any => Ok(0),
            Iface::Index(i) => Ok(i),
            Iface::Name(n) => sockaddr::interface_index(n).map_err(|e| {
                if e.kind() == ErrorKind::AddressNotAvailable {
                    Error::with_context(ErrorKind::AddressNotAvailable, "no interface by that name")
                } else {
                    e
                }
            }),
            Iface::Addr(a) => {
                crate::sys::find(|e| (e.addr == a).then_some(e.index))?.ok_or(Error::with_context(
                    ErrorKind::AddressNotAvailable,
                    "no interface holds that address",
                ))
            }
        }
    }
}

impl From<u32> for Iface<'_> {
    fn from(i: u32) -> Self {
        Iface::Index(i)
    }
}

impl<'a> From<&'a str> for Iface<'a> {
    fn from(n: &'a str) -> Self {
        Iface::Name(n)
    }
}

impl From<IpAddr> for Iface<'_> {
    fn from(a: IpAddr) -> Self {
        Iface::Addr(a)
    }
}
