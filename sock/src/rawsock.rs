//! Raw IP sockets (`SOCK_RAW`, needs `CAP_NET_RAW`) and ICMP echo helpers. Behind the `raw`
//! Cargo feature, as the Go package kept them behind a build tag.

use sockaddr::{Sockaddr, SockaddrAny};

use crate::NetSocket;
use crate::addr::{Family, ToSockaddr};

/// `IPPROTO_ICMPV6`.
pub const IPPROTO_ICMPV6: i32 = 58;

/// A raw IP socket for one protocol.
#[derive(Debug)]
pub struct RawConn {
    sock: NetSocket,
}

crate::stream::fd_traits!(RawConn);

impl RawConn {
    /// A raw IPv4 socket for `protocol`; received datagrams start with the IPv4 header.
    pub fn new4(protocol: i32) -> iox::Result<RawConn> {
        Ok(RawConn {
            sock: NetSocket::new(libc::AF_INET, libc::SOCK_RAW, protocol)?,
        })
    }

    /// A raw IPv6 socket for `protocol`; received datagrams start after the IPv6 header.
    pub fn new6(protocol: i32) -> iox::Result<RawConn> {
        Ok(RawConn {
            sock: NetSocket::new(libc::AF_INET6, libc::SOCK_RAW, protocol)?,
        })
    }

    /// ICMP over IPv4.
    pub fn icmp4() -> iox::Result<RawConn> {
        RawConn::new4(libc::IPPROTO_ICMP)
    }

    /// ICMPv6.
    pub fn icmp6() -> iox::Result<RawConn> {
        RawConn::new6(IPPROTO_ICMPV6)
    }

    /// `IP_HDRINCL`: the caller writes the IPv4 header of what it sends.
    pub fn set_header_included(&self, on: bool) -> iox::Result<()> {
        crate::opt::set_int(self, libc::IPPROTO_IP, libc::IP_HDRINCL, i32::from(on))
    }

    /// Sets the default destination.
    pub fn connect(&self, addr: impl ToSockaddr) -> iox::Result<()> {
        self.sock.connect(&addr.to_sockaddr(Family::Any)?).map(drop)
    }

    /// Sends one datagram to `addr` (its port is ignored).
    pub fn send_to(&self, buf: &[u8], addr: &impl Sockaddr) -> iox::Result<usize> {
        self.sock.send_to(buf, addr)
    }

    /// Receives one datagram and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> iox::Result<(usize, SockaddrAny)> {
        self.sock.recv_from(buf, 0)
    }
}

/// ICMP echo messages: build a request, recognise a reply.
pub mod icmp {
    /// ICMPv4 echo request type.
    pub const ECHO_REQUEST_V4: u8 = 8;
    /// ICMPv4 echo reply type.
    pub const ECHO_REPLY_V4: u8 = 0;
    /// ICMPv6 echo request type.
    pub const ECHO_REQUEST_V6: u8 = 128;
    /// ICMPv6 echo reply type.
    pub const ECHO_REPLY_V6: u8 = 129;

    /// The Internet checksum (RFC 1071) of `data`.
    pub fn checksum(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// Writes an echo request (`kind`: [`ECHO_REQUEST_V4`] or [`ECHO_REQUEST_V6`]) with `id`,
    /// `seq` and `payload` into `out`; returns its length. The ICMPv4 checksum is filled in;
    /// for ICMPv6 the kernel computes it. `InvalidInput` when `out` is too small.
    pub fn echo_request(
        kind: u8,
        id: u16,
        seq: u16,
        payload: &[u8],
        out: &mut [u8],
    ) -> iox::Result<usize> {
        let len = 8 + payload.len();
        if out.len() < len {
            return Err(iox::Error::invalid_input(
                "buffer too small for the echo request",
            ));
        }
        out[0] = kind;
        out[1] = 0;
        out[2..4].copy_from_slice(&[0, 0]);
        out[4..6].copy_from_slice(&id.to_be_bytes());
        out[6..8].copy_from_slice(&seq.to_be_bytes());
        out[8..len].copy_from_slice(payload);
        if kind == ECHO_REQUEST_V4 {
            let c = checksum(&out[..len]);
            out[2..4].copy_from_slice(&c.to_be_bytes());
        }
        Ok(len)
    }

    /// An echo reply: its id, sequence number and payload.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct EchoReply<'a> {
        /// Identifier.
        pub id: u16,
        /// Sequence number.
        pub seq: u16,
        /// Payload.
        pub payload: &'a [u8],
    }

    /// The echo reply in an ICMP message (`msg` starts at the ICMP header), if it is one.
    pub fn parse_echo_reply(msg: &[u8], reply_type: u8) -> Option<EchoReply<'_>> {
        if msg.len() < 8 || msg[0] != reply_type || msg[1] != 0 {
            return None;
        }
        Some(EchoReply {
            id: u16::from_be_bytes([msg[4], msg[5]]),
            seq: u16::from_be_bytes([msg[6], msg[7]]),
            payload: &msg[8..],
        })
    }

    /// The ICMP message inside an IPv4 datagram as a raw IPv4 socket receives it (the IPv4
    /// header, of `IHL * 4` bytes, first).
    pub fn strip_ipv4_header(datagram: &[u8]) -> Option<&[u8]> {
        let ihl = usize::from(*datagram.first()? & 0x0f) * 4;
        (ihl >= 20 && datagram.len() >= ihl).then(|| &datagram[ihl..])
    }
}
