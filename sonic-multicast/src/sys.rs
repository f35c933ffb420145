//! The interface table, read with `getifaddrs(3)`: which interface holds an address, and an
//! interface's name from its index. Called when an interface is resolved, never per
//! datagram (`getifaddrs` allocates inside libc).

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use iox::{Error, ErrorKind, Result};

/// One entry of the interface table that has an IP address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) index: u32,
    pub(crate) addr: IpAddr,
    name: [u8; libc::IF_NAMESIZE],
    name_len: usize,
}

impl Entry {
    pub(crate) fn name(&self) -> &str {
        // Interface names are ASCII; a name that is not UTF-8 is given as empty.
        std::str::from_utf8(&self.name[..self.name_len]).unwrap_or("")
    }
}

/// Calls `f` with every addressed entry until it returns `Some`.
pub(crate) fn find<T>(mut f: impl FnMut(&Entry) -> Option<T>) -> Result<Option<T>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success the list is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(Error::from_io(&std::io::Error::last_os_error()));
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let node = unsafe { &*cur };
        cur = node.ifa_next;
        let Some(addr) = ip_of(node.ifa_addr) else {
            continue;
        };
        // SAFETY: `ifa_name` is a NUL-terminated string owned by the list.
        let cname = unsafe { CStr::from_ptr(node.ifa_name) };
        let bytes = cname.to_bytes();
        let mut name = [0u8; libc::IF_NAMESIZE];
        let name_len = bytes.len().min(libc::IF_NAMESIZE);
        name[..name_len].copy_from_slice(&bytes[..name_len]);
        // SAFETY: `ifa_name` is a valid NUL-terminated interface name.
        let index = unsafe { libc::if_nametoindex(node.ifa_name) };
        let e = Entry {
            index,
            addr,
            name,
            name_len,
        };
        if let Some(t) = f(&e) {
            found = Some(t);
            break;
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

/// The IP address a `sockaddr` pointer of the interface table holds, if any.
fn ip_of(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: a non-null `ifa_addr` points to a sockaddr at least as long as its family
    // field says.
    let family = i32::from(unsafe { (*sa).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: the family says this is a `sockaddr_in`; read unaligned to be safe.
            let sin = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a `sockaddr_in6`; read unaligned to be safe.
            let sin6 = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// The name of the interface with index `index`, from the interface table.
pub(crate) fn name_of(index: u32) -> Result<Entry> {
    find(|e| (e.index == index).then_some(*e))?.ok_or_else(|| {
        Error::with_context(
            ErrorKind::AddressNotAvailable,
            "no interface with that index has an IP address",
        )
    })
}
