//! UDP multicast on the [`sonic_io`] reactor, IPv4 and IPv6 alike.
//!
//! A [`UdpPeer`] is one UDP socket owned by an [`Io`](sonic_io::Io): it joins groups
//! (any-source or source-specific, on a chosen interface), blocks and unblocks sources at
//! run time, reads with immediate completion (one datagram, or a batch through `recvmmsg`)
//! and writes to groups. Several peers can advance through one Io-owned buffer by
//! redirecting their armed reads ([`UdpPeer::set_async_read_buffer`]), without a copy
//! between them and without `unsafe` (on sonic-io's io_uring backend the kernel's bytes land
//! in a buffer of the Io's and are copied into the region once, in place of the read
//! syscall).
//!
//! | what | how |
//! |---|---|
//! | open | [`UdpPeer::bind`]: `SO_REUSEADDR` + `SO_REUSEPORT` before the bind, `*_MULTICAST_ALL` off on Linux |
//! | memberships | [`join`](UdpPeer::join), [`join_on`](UdpPeer::join_on), [`join_source`](UdpPeer::join_source), [`join_source_on`](UdpPeer::join_source_on), [`leave`](UdpPeer::leave), [`leave_source`](UdpPeer::leave_source) (on the interface the join used), [`block_source`](UdpPeer::block_source), [`unblock_source`](UdpPeer::unblock_source) |
//! | options | [`set_outbound`](UdpPeer::set_outbound), [`set_inbound`](UdpPeer::set_inbound), [`set_loop`](UdpPeer::set_loop)/[`loop_enabled`](UdpPeer::loop_enabled), [`set_ttl`](UdpPeer::set_ttl)/[`ttl`](UdpPeer::ttl) (hops for IPv6), [`set_all`](UdpPeer::set_all)/[`all`](UdpPeer::all) |
//! | I/O | [`async_read`](UdpPeer::async_read), [`async_read_batch`](UdpPeer::async_read_batch), [`set_async_read_buffer`](UdpPeer::set_async_read_buffer), [`async_write_to`](UdpPeer::async_write_to), [`write_to`](UdpPeer::write_to), [`read_from`](UdpPeer::read_from), [`stats`](UdpPeer::stats) |
//! | timestamps | [`set_rx_timestamps`](UdpPeer::set_rx_timestamps), [`async_read_timestamped`](UdpPeer::async_read_timestamped), batch reads into `Datagrams::with_timestamps`, [`set_timestamping`](UdpPeer::set_timestamping)/[`timestamping`](UdpPeer::timestamping), [`read_tx_timestamp`](UdpPeer::read_tx_timestamp) (Linux) |
//!
//! Interfaces are named by [`Iface`]: name, index or address, resolved once per call.
//! The options themselves are `sock::mcast`'s, the one multicast option layer of the
//! workspace.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod iface;
mod peer;
mod stats;
mod sys;

pub use iface::Iface;
pub use peer::{Membership, UdpPeer};
pub use stats::Stats;

pub use iox::{Error, ErrorKind, Result};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
