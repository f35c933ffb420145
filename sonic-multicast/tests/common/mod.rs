//! Shared by the netns tests: addresses as the kernel's `/proc/net` multicast tables print
//! them.
#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;

/// An address as these files print it: IPv4 groups in `igmp` as the host-order value of
/// the big-endian word (`%08X`), IPv4 in `mcfilter` in network order (`0x%08x`), IPv6 as 32
/// hex digits.
pub fn igmp_hex(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => format!("{:08X}", u32::from_ne_bytes(v4.octets())),
        IpAddr::V6(v6) => v6.octets().iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// An address as `mcfilter` (`mcfilter6`) prints it.
pub fn filter_hex(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => format!("0x{:08x}", u32::from(v4)),
        IpAddr::V6(_) => igmp_hex(a),
    }
}
