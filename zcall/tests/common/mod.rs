//! Helpers shared by zcall's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::os::fd::{FromRawFd, OwnedFd};

/// Takes ownership of a descriptor the test just created, so it is closed on drop.
pub fn own(fd: zcall::RawFd) -> OwnedFd {
    assert!(fd >= 0);
    // SAFETY: `fd` was just returned by a successful call and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The bytes of a plain-old-data kernel struct.
pub fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: `T` is a `Copy` kernel struct; every byte of it is readable for its size.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// `struct sockaddr_in` for 127.0.0.1:`port`.
#[cfg(target_os = "linux")]
pub fn loopback4(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// The port of a `sockaddr_in` written by the kernel.
pub fn port_of(buf: &[u8]) -> u16 {
    u16::from_be_bytes([buf[2], buf[3]])
}

pub fn int(v: i32) -> [u8; 4] {
    v.to_ne_bytes()
}
