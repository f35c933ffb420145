//! IPv6 zones: interface names and numbers to scope ids, without allocating.

/// The longest interface name, with its NUL (`IFNAMSIZ`).
const IFNAMSIZ: usize = 16;

/// The scope id for `zone`: a decimal number, or an interface name resolved with
/// `if_nametoindex(3)` (through a stack buffer).
pub(crate) fn scope_id(zone: &str) -> iox::Result<u32> {
    if zone.is_empty() {
        return Err(iox::Error::invalid_input("empty IPv6 zone"));
    }
    if zone.bytes().all(|b| b.is_ascii_digit()) {
        return zone
            .parse()
            .map_err(|_| iox::Error::invalid_input("IPv6 zone number exceeds u32"));
    }
    if zone.len() >= IFNAMSIZ {
        return Err(iox::Error::invalid_input("interface name exceeds 15 bytes"));
    }
    if zone.as_bytes().contains(&0) {
        return Err(iox::Error::invalid_input(
            "interface name contains a NUL byte",
        ));
    }
    let mut buf = [0u8; IFNAMSIZ];
    buf[..zone.len()].copy_from_slice(zone.as_bytes());
    let name = std::ffi::CStr::from_bytes_until_nul(&buf)
        .map_err(|_| iox::Error::invalid_input("interface name"))?;
    match crate::raw::if_nametoindex(name) {
        0 => Err(iox::Error::with_context(
            iox::ErrorKind::AddressNotAvailable,
            "unknown interface: no interface of that name",
        )),
        idx => Ok(idx),
    }
}
