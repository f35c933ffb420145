//! Linux layouts: a 16-bit family first, no length byte; 108-byte `sun_path`; abstract names.

/// Abstract Unix socket names exist here.
pub(crate) const HAS_ABSTRACT: bool = true;

pub(crate) const fn sockaddr_in(octets: [u8; 4], port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(octets),
        },
        sin_zero: [0; 8],
    }
}

pub(crate) const fn sockaddr_in6(
    octets: [u8; 16],
    port: u16,
    flowinfo: u32,
    scope_id: u32,
) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: flowinfo.to_be(),
        sin6_addr: libc::in6_addr { s6_addr: octets },
        sin6_scope_id: scope_id,
    }
}

pub(crate) const fn sockaddr_un() -> libc::sockaddr_un {
    libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    }
}

/// Records the length in the struct where the platform has a length byte (not here).
pub(crate) fn set_un_len(_raw: &mut libc::sockaddr_un, _len: libc::socklen_t) {}

static_assertions::assert_eq_size!(libc::sockaddr_in, [u8; 16]);
static_assertions::assert_eq_size!(libc::sockaddr_in6, [u8; 28]);
static_assertions::assert_eq_size!(libc::sockaddr_un, [u8; 110]);
static_assertions::const_assert_eq!(core::mem::offset_of!(libc::sockaddr_in, sin_port), 2);
static_assertions::const_assert_eq!(core::mem::offset_of!(libc::sockaddr_in, sin_addr), 4);
static_assertions::const_assert_eq!(core::mem::offset_of!(libc::sockaddr_in6, sin6_flowinfo), 4);
static_assertions::const_assert_eq!(core::mem::offset_of!(libc::sockaddr_in6, sin6_addr), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(libc::sockaddr_in6, sin6_scope_id), 24);
static_assertions::const_assert_eq!(core::mem::offset_of!(libc::sockaddr_un, sun_path), 2);
