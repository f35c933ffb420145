//! Non-blocking sockets with deadlines, typed options and zero-allocation hot paths.
//!
//! | item | what |
//! |---|---|
//! | [`NetSocket`] | the base: descriptor, domain, type, protocol; bind/listen/connect/accept; deadlines; the raw-descriptor escape hatches [`NetSocket::with_fd`], [`NetSocket::read_with`], [`NetSocket::write_with`] |
//! | [`TcpConn`], [`TcpListener`], [`TcpDialer`] | TCP, IPv4 and IPv6, v4-only/v6-only variants, dual stack |
//! | [`UdpConn`] | UDP, connected or not |
//! | [`UnixConn`], [`UnixListener`], [`UnixDatagram`] | Unix stream, seqpacket, datagram; pathname and abstract addresses; pairs |
//! | [`sctp`] | SCTP one-to-one and one-to-many (SndInfo/RcvInfo control messages, notifications, peeloff), the option structs (Linux) |
//! | `rawsock` (feature `raw`) | raw IP sockets and ICMP echo helpers |
//! | [`opt`] | every socket option, typed, with its table |
//! | [`timestamp`] | kernel receive and transmit timestamps of datagrams: typed flags, the stamp read from the same receive, transmit stamps from the error queue matched by `OPT_ID` (Linux) |
//! | `bpf` (Linux) | classic BPF programs for an `SO_REUSEPORT` group: `Program::index_by_cpu`, `attach_reuseport_cbpf` |
//! | [`ToSockaddr`], [`Family`] | addresses from `std::net`, kernel types or text |
//!
//! # Semantics
//!
//! Every socket is created `SOCK_NONBLOCK | SOCK_CLOEXEC` (macOS: fcntl right after). An
//! operation returns [`iox::Error`]: `WouldBlock` **at once** when the kernel is not ready
//! and no deadline is set. With a deadline ([`NetSocket::set_read_deadline`],
//! [`NetSocket::set_write_deadline`], [`NetSocket::set_deadline`]) it runs
//! Strike-Spin-Adapt — the syscall, then [`SOCKET_BACKOFF`] (spins, yields, then sleeps from
//! 50 µs doubling to 1 ms, never past the deadline) — until it completes or `TimedOut`. A
//! deadline in the past fails after one attempt; `Deadline::NONE` returns to non-blocking.
//! The deadline is read again at every step of the ladder, so a deadline set from another
//! thread while an operation waits reaches it at its next step (within about 1 ms): moved
//! into the past, the wait ends with `TimedOut`; cleared, with `WouldBlock`.
//!
//! Connects return as soon as they are started (`EINPROGRESS` is not an error);
//! [`TcpDialer`] with a timeout waits and reports the real outcome from `SO_ERROR`. Sends
//! never raise `SIGPIPE`: they go through `send`/`sendmsg` with `MSG_NOSIGNAL` (Linux,
//! FreeBSD) or on sockets with `SO_NOSIGPIPE` (macOS). End of stream is `Ok(0)`.
//!
//! ```
//! use std::time::Duration;
//! use sock::{TcpDialer, TcpListener};
//!
//! let l = TcpListener::bind("127.0.0.1:0").unwrap();
//! let c = TcpDialer { timeout: Some(Duration::from_secs(5)), nodelay: true, ..Default::default() }
//!     .dial(l.local_addr().unwrap())
//!     .unwrap();
//! l.set_read_deadline(iox::Deadline::after(Duration::from_secs(5)));
//! let (s, peer) = l.accept().unwrap();
//! assert_eq!(peer, c.local_addr().unwrap());
//! c.write_all(b"hi").unwrap();
//! s.set_read_deadline(iox::Deadline::after(Duration::from_secs(5)));
//! let mut buf = [0u8; 2];
//! assert_eq!(s.read(&mut buf).unwrap(), 2);
//! let mut empty = [0u8; 8];
//! s.set_read_deadline(iox::Deadline::NONE);
//! assert!(s.read(&mut empty).unwrap_err().is_would_block());
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod addr;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub mod batch;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod bpf;
pub mod cmsg;
mod deadline;
pub mod mcast;
mod msg;
pub mod opt;
mod raw;
#[cfg(feature = "raw")]
pub mod rawsock;
pub mod sctp;
mod socket;
mod stream;
mod sys;
mod tcp;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod tcpinfo;
pub mod timestamp;
mod udp;
mod unix;

pub use addr::{Family, ToSockaddr};
pub use deadline::SOCKET_BACKOFF;
pub use msg::MAX_FDS;
pub use raw::RecvMeta;
pub use socket::NetSocket;
pub use tcp::{DEFAULT_BACKLOG, ListenOptions, TcpConn, TcpDialer, TcpListener};
pub use udp::UdpConn;
pub use unix::{UnixConn, UnixDatagram, UnixListener};

pub use iox::{Deadline, Error, ErrorKind, Result};
pub use sockaddr::{SockaddrAny, SockaddrInet4, SockaddrInet6, SockaddrStorage, SockaddrUnix};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
