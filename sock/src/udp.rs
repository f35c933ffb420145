//! UDP: [`UdpConn`].

use std::sync::atomic::AtomicU8;

use sockaddr::{Sockaddr, SockaddrAny, SockaddrStorage};

use crate::addr::{Family, ToSockaddr, domain};
use crate::{NetSocket, opt};

/// A UDP socket, bound and optionally connected. Non-blocking, with deadlines.
///
/// ```
/// use sock::UdpConn;
/// let a = UdpConn::bind("127.0.0.1:0").unwrap();
/// let b = UdpConn::bind("127.0.0.1:0").unwrap();
/// a.send_to(b"hello", &b.local_addr().unwrap()).unwrap();
/// b.set_read_deadline(iox::Deadline::after(std::time::Duration::from_secs(5)));
/// let mut buf = [0u8; 16];
/// let (n, from) = b.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr().unwrap()));
/// ```
#[derive(Debug)]
pub struct UdpConn {
    sock: NetSocket,
    /// The most segments one GSO send carries: [`GSO_MAX_SEGMENTS`] at first, 64 once the
    /// kernel showed it takes no more, 0 once GSO was refused (segments go one per syscall
    /// from then on).
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "android", target_os = "freebsd")),
        allow(dead_code)
    )]
    pub(crate) gso_segments: AtomicU8,
}

/// The most segments a GSO send starts with: Linux's `UDP_MAX_SEGMENTS` (128 on recent
/// kernels; older ones take 64, which a socket learns from the kernel's first `EINVAL`).
pub(crate) const GSO_MAX_SEGMENTS: u8 = 128;

crate::stream::fd_traits!(UdpConn, gso_segments: AtomicU8::new(GSO_MAX_SEGMENTS));

fn udp_socket(addr: &SockaddrAny) -> iox::Result<NetSocket> {
    if matches!(addr, SockaddrAny::Unix(_)) {
        return Err(iox::Error::with_context(
            iox::ErrorKind::AddressFamilyNotSupported,
            "a UDP socket needs an IPv4 or IPv6 address (see UnixDatagram)",
        ));
    }
    NetSocket::new(domain(addr), libc::SOCK_DGRAM, libc::IPPROTO_UDP)
}

impl UdpConn {
    /// Binds to `addr`.
    pub fn bind(addr: impl ToSockaddr) -> iox::Result<UdpConn> {
        UdpConn::bind_family(addr, Family::Any)
    }

    /// Binds to an IPv4 `addr` (`"udp4"`).
    pub fn bind4(addr: impl ToSockaddr) -> iox::Result<UdpConn> {
        UdpConn::bind_family(addr, Family::V4)
    }

    /// Binds to an IPv6 `addr` (`"udp6"`).
    pub fn bind6(addr: impl ToSockaddr) -> iox::Result<UdpConn> {
        UdpConn::bind_family(addr, Family::V6)
    }

    fn bind_family(addr: impl ToSockaddr, family: Family) -> iox::Result<UdpConn> {
        let addr = addr.to_sockaddr(family)?;
        let sock = udp_socket(&addr)?;
        sock.bind(&addr)?;
        Ok(UdpConn {
            sock,
            gso_segments: AtomicU8::new(GSO_MAX_SEGMENTS),
        })
    }

    /// A socket connected to `remote` (bound to `local` first when given, else to an
    /// ephemeral port by the kernel).
    pub fn dial(local: Option<&SockaddrAny>, remote: impl ToSockaddr) -> iox::Result<UdpConn> {
        let remote = remote.to_sockaddr(Family::Any)?;
        let sock = udp_socket(&remote)?;
        if let Some(l) = local {
            sock.bind(l)?;
        }
        sock.connect(&remote)?;
        Ok(UdpConn {
            sock,
            gso_segments: AtomicU8::new(GSO_MAX_SEGMENTS),
        })
    }

    /// Sets (or changes) the default destination; only datagrams from it are received.
    pub fn connect(&self, remote: impl ToSockaddr) -> iox::Result<()> {
        let remote = remote.to_sockaddr(Family::Any)?;
        self.sock.connect(&remote).map(drop)
    }

    /// Sends one datagram to the connected peer (`NotConnected` when there is none).
    #[inline]
    pub fn send(&self, buf: &[u8]) -> iox::Result<usize> {
        crate::deadline::run(&self.sock.deadlines.write, || self.sock.send_once(buf, 0))
    }

    /// Receives one datagram from the connected peer (the rest of a datagram larger than
    /// `buf` is discarded).
    #[inline]
    pub fn recv(&self, buf: &mut [u8]) -> iox::Result<usize> {
        crate::deadline::run(&self.sock.deadlines.read, || self.sock.recv_once(buf, 0))
    }

    /// Sends one datagram to `addr`. Allocates nothing.
    #[inline]
    pub fn send_to(&self, buf: &[u8], addr: &impl Sockaddr) -> iox::Result<usize> {
        self.sock.send_to(buf, addr)
    }

    /// Receives one datagram and its source.
    #[inline]
    pub fn recv_from(&self, buf: &mut [u8]) -> iox::Result<(usize, SockaddrAny)> {
        self.sock.recv_from(buf, 0)
    }

    /// Receives one datagram, writing its source into `from`. Allocates nothing.
    #[inline]
    pub fn recv_from_into(&self, buf: &mut [u8], from: &mut SockaddrStorage) -> iox::Result<usize> {
        crate::deadline::run(&self.sock.deadlines.read, || {
            self.sock.recv_from_once(buf, from, 0)
        })
    }

    /// The next datagram, without consuming it, and its source.
    pub fn peek_from(&self, buf: &mut [u8]) -> iox::Result<(usize, SockaddrAny)> {
        self.sock.recv_from(buf, libc::MSG_PEEK)
    }

    /// Allows sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> iox::Result<()> {
        opt::set_broadcast(self, on)
    }

    /// Whether broadcast is allowed.
    pub fn broadcast(&self) -> iox::Result<bool> {
        opt::broadcast(self)
    }

    /// The underlying socket.
    pub fn socket(&self) -> &NetSocket {
        &self.sock
    }

    /// Closes the socket and reports the kernel's answer.
    pub fn close(self) -> iox::Result<()> {
        self.sock.close()
    }
}

impl TryFrom<std::net::UdpSocket> for UdpConn {
    type Error = iox::Error;
    /// Takes a std socket, making it non-blocking.
    fn try_from(s: std::net::UdpSocket) -> iox::Result<UdpConn> {
        UdpConn::try_from(std::os::fd::OwnedFd::from(s))
    }
}

impl From<UdpConn> for std::net::UdpSocket {
    /// Hands the socket to std, still non-blocking.
    fn from(s: UdpConn) -> std::net::UdpSocket {
        std::net::UdpSocket::from(std::os::fd::OwnedFd::from(s))
    }
}
