//! Socket addresses in the kernel's own format, with zero allocation.
//!
//! | item | what |
//! |---|---|
//! | [`Sockaddr`] | the contract: a pointer to a kernel address and its length (`unsafe trait`); [`Sockaddr::as_bytes`] for `zcall` |
//! | [`SockaddrInet4`], [`SockaddrInet6`] | `sockaddr_in` / `sockaddr_in6` themselves (`repr(transparent)`), `const fn` constructors, getters and setters, std conversions |
//! | [`SockaddrUnix`] | pathname, abstract (`@name`, Linux) and unnamed addresses, with the kernel's length |
//! | [`SockaddrStorage`] | room for any address as the kernel fills it, with a validated length; [`SockaddrStorage::decode`] |
//! | [`SockaddrAny`] | the decoded enum; [`SockaddrAny::to_canonical`] for IPv4-mapped IPv6 |
//!
//! Text forms (`Display` and `FromStr`): `127.0.0.1:80`, `[::1]:80`, `[fe80::1%eth0]:80`
//! (interface names resolved with `if_nametoindex`, numbers as they are), `/tmp/x.sock`,
//! `@abstract`. A parse error names what was wrong (`IPv4 octet exceeds 255`, `missing ']'
//! after the IPv6 address`, `unknown interface`, `port exceeds 65535`); host names are not
//! resolved here (`sock` does that, and only for text that can be a host name).
//!
//! Bad input is an [`iox::Error`], never a truncation or a panic: a Unix path longer than
//! the kernel's limit, a NUL inside a path, a storage length shorter than its family needs,
//! an unknown family.
//!
//! On Linux the structs start with a 16-bit family; on BSD and macOS with a length byte
//! and an 8-bit family, which the `sys` module fills in.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//! use sockaddr::{Sockaddr, SockaddrAny, SockaddrInet4, SockaddrStorage};
//!
//! let a = SockaddrInet4::new(Ipv4Addr::LOCALHOST, 9000);
//! let bytes: &[u8] = a.as_bytes(); // what bind/connect/sendto read
//! assert_eq!(bytes.len(), 16);
//!
//! // As accept/recvfrom/getsockname would fill it:
//! let mut s = SockaddrStorage::new();
//! s.as_mut_bytes()[..16].copy_from_slice(bytes);
//! s.set_len(16).unwrap();
//! let back = SocketAddr::try_from(s.decode().unwrap()).unwrap();
//! assert_eq!(back, "127.0.0.1:9000".parse::<SocketAddr>().unwrap());
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod any;
mod inet;
mod raw;
mod storage;
mod text;
mod unix;
mod zone;

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "sys/linux.rs"]
mod sys;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[path = "sys/bsd.rs"]
mod sys;

pub use any::SockaddrAny;
pub use inet::{SockaddrInet4, SockaddrInet6};
pub use raw::Sockaddr;
pub use storage::SockaddrStorage;
pub use unix::{MAX_ABSTRACT_LEN, MAX_PATH_LEN, SockaddrUnix};

/// The index of the network interface `name` (`if_nametoindex(3)`, through a stack buffer),
/// or of a decimal index given as text. `AddressNotAvailable` when there is no such
/// interface; `InvalidInput` for a name over 15 bytes.
///
/// ```
/// # #[cfg(all(target_os = "linux", not(miri)))]
/// assert_eq!(sockaddr::interface_index("lo").unwrap(), 1);
/// assert_eq!(sockaddr::interface_index("7").unwrap(), 7);
/// ```
pub fn interface_index(name: &str) -> iox::Result<u32> {
    zone::scope_id(name)
}

/// The port of a text address: decimal, `0..=65535`. The error says which rule the text
/// broke (`empty port`, `port is not a decimal number`, `port exceeds 65535`).
///
/// ```
/// assert_eq!(sockaddr::parse_port("8080").unwrap(), 8080);
/// assert!(sockaddr::parse_port("70000").unwrap_err().to_string().contains("exceeds 65535"));
/// ```
pub fn parse_port(text: &str) -> iox::Result<u16> {
    text::port(text)
}

static_assertions::assert_eq_size!(SockaddrInet4, libc::sockaddr_in);
static_assertions::assert_eq_size!(SockaddrInet6, libc::sockaddr_in6);
static_assertions::assert_eq_size!(libc::sockaddr_storage, [u8; 128]);

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
