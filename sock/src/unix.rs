//! Unix-domain sockets: [`UnixConn`] (stream and seqpacket), [`UnixListener`],
//! [`UnixDatagram`].

use sockaddr::{Sockaddr, SockaddrAny, SockaddrStorage};

use crate::NetSocket;
use crate::addr::{Family, ToSockaddr};
use crate::tcp::DEFAULT_BACKLOG;

fn unix_addr(addr: impl ToSockaddr) -> iox::Result<SockaddrAny> {
    match addr.to_sockaddr(Family::Any)? {
        a @ SockaddrAny::Unix(_) => Ok(a),
        _ => Err(iox::Error::with_context(
            iox::ErrorKind::AddressFamilyNotSupported,
            "a unix socket needs a /path or @abstract address",
        )),
    }
}

/// A connected Unix stream (`SOCK_STREAM`) or seqpacket (`SOCK_SEQPACKET`) socket.
///
/// ```
/// let [a, b] = sock::UnixConn::pair().unwrap();
/// a.write_all(b"over the pair").unwrap();
/// let mut buf = [0u8; 32];
/// assert_eq!(b.read(&mut buf).unwrap(), 13);
/// ```
#[derive(Debug)]
pub struct UnixConn {
    sock: NetSocket,
}

crate::stream::connected_io!(UnixConn);

impl UnixConn {
    /// Connects a stream socket to `addr` (`"/path"` or `"@name"`).
    pub fn connect(addr: impl ToSockaddr) -> iox::Result<UnixConn> {
        UnixConn::connect_type(addr, libc::SOCK_STREAM)
    }

    /// Connects a seqpacket socket (message boundaries kept, connection-oriented).
    pub fn connect_seqpacket(addr: impl ToSockaddr) -> iox::Result<UnixConn> {
        UnixConn::connect_type(addr, libc::SOCK_SEQPACKET)
    }

    fn connect_type(addr: impl ToSockaddr, ty: i32) -> iox::Result<UnixConn> {
        let (conn, addr) = UnixConn::prepare_type(addr, ty)?;
        conn.sock.connect(&addr)?;
        Ok(conn)
    }

    /// The stream socket [`connect`](Self::connect) would connect, not connected, and the
    /// address it would connect to: for a reactor that makes the connect itself (sonic-io's
    /// io_uring backend hands it to the kernel as `IORING_OP_CONNECT`). Until it is
    /// connected, its reads and writes fail with `NotConnected`.
    ///
    /// ```
    /// let (conn, addr) = sock::UnixConn::prepare("@sock-prepare-doc").unwrap();
    /// assert_eq!(addr.to_string(), "@sock-prepare-doc");
    /// assert!(conn.write(b"x").is_err());
    /// ```
    pub fn prepare(addr: impl ToSockaddr) -> iox::Result<(UnixConn, SockaddrAny)> {
        UnixConn::prepare_type(addr, libc::SOCK_STREAM)
    }

    fn prepare_type(addr: impl ToSockaddr, ty: i32) -> iox::Result<(UnixConn, SockaddrAny)> {
        let addr = unix_addr(addr)?;
        let sock = NetSocket::new(libc::AF_UNIX, ty, 0)?;
        Ok((UnixConn { sock }, addr))
    }

    /// A connected stream pair.
    pub fn pair() -> iox::Result<[UnixConn; 2]> {
        let [a, b] = NetSocket::pair(libc::AF_UNIX, libc::SOCK_STREAM, 0)?;
        Ok([UnixConn { sock: a }, UnixConn { sock: b }])
    }

    /// A connected seqpacket pair.
    pub fn pair_seqpacket() -> iox::Result<[UnixConn; 2]> {
        let [a, b] = NetSocket::pair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0)?;
        Ok([UnixConn { sock: a }, UnixConn { sock: b }])
    }
}

impl TryFrom<std::os::unix::net::UnixStream> for UnixConn {
    type Error = iox::Error;
    /// Takes a std stream, making it non-blocking.
    fn try_from(s: std::os::unix::net::UnixStream) -> iox::Result<UnixConn> {
        UnixConn::try_from(std::os::fd::OwnedFd::from(s))
    }
}

impl From<UnixConn> for std::os::unix::net::UnixStream {
    /// Hands the socket to std, still non-blocking.
    fn from(c: UnixConn) -> std::os::unix::net::UnixStream {
        std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(c))
    }
}

/// A Unix stream or seqpacket listener. A pathname it created is not removed on drop
/// (the kernel does not either): remove it when done, as with std.
#[derive(Debug)]
pub struct UnixListener {
    sock: NetSocket,
}

crate::stream::fd_traits!(UnixListener);

impl UnixListener {
    /// Listens on `addr` with a stream socket.
    pub fn bind(addr: impl ToSockaddr) -> iox::Result<UnixListener> {
        UnixListener::bind_type(addr, libc::SOCK_STREAM)
    }

    /// Listens on `addr` with a seqpacket socket.
    pub fn bind_seqpacket(addr: impl ToSockaddr) -> iox::Result<UnixListener> {
        UnixListener::bind_type(addr, libc::SOCK_SEQPACKET)
    }

    fn bind_type(addr: impl ToSockaddr, ty: i32) -> iox::Result<UnixListener> {
        let addr = unix_addr(addr)?;
        let sock = NetSocket::new(libc::AF_UNIX, ty, 0)?;
        sock.bind(&addr)?;
        sock.listen(DEFAULT_BACKLOG)?;
        Ok(UnixListener { sock })
    }

    /// Accepts one connection and its peer's address (usually unnamed).
    pub fn accept(&self) -> iox::Result<(UnixConn, SockaddrAny)> {
        let mut peer = SockaddrStorage::new();
        let c = self.accept_into(&mut peer)?;
        Ok((c, peer.decode()?))
    }

    /// Accepts one connection, writing the peer's address into `peer`, under the read
    /// deadline. Allocates nothing.
    #[inline]
    pub fn accept_into(&self, peer: &mut SockaddrStorage) -> iox::Result<UnixConn> {
        crate::deadline::run(&self.sock.deadlines.read, || self.try_accept_into(peer))
    }

    /// One attempt at [`accept_into`](Self::accept_into) that ignores the deadlines:
    /// `WouldBlock` at once when no connection is queued (`EINTR` is retried). For an
    /// event loop that does its own waiting and must never block or spin in a call.
    #[inline]
    pub fn try_accept_into(&self, peer: &mut SockaddrStorage) -> iox::Result<UnixConn> {
        loop {
            match self.sock.accept_into(peer) {
                Err(e) if e.kind() == iox::ErrorKind::Interrupted => continue,
                r => return r.map(|sock| UnixConn { sock }),
            }
        }
    }
}

/// A Unix datagram socket.
#[derive(Debug)]
pub struct UnixDatagram {
    sock: NetSocket,
}

crate::stream::fd_traits!(UnixDatagram);

impl UnixDatagram {
    /// Binds to `addr`.
    pub fn bind(addr: impl ToSockaddr) -> iox::Result<UnixDatagram> {
        let addr = unix_addr(addr)?;
        let sock = NetSocket::new(libc::AF_UNIX, libc::SOCK_DGRAM, 0)?;
        sock.bind(&addr)?;
        Ok(UnixDatagram { sock })
    }

    /// An unbound socket (it can send; replies need a bound address).
    pub fn unbound() -> iox::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: NetSocket::new(libc::AF_UNIX, libc::SOCK_DGRAM, 0)?,
        })
    }

    /// A connected pair.
    pub fn pair() -> iox::Result<[UnixDatagram; 2]> {
        let [a, b] = NetSocket::pair(libc::AF_UNIX, libc::SOCK_DGRAM, 0)?;
        Ok([UnixDatagram { sock: a }, UnixDatagram { sock: b }])
    }

    /// Sets the default destination.
    pub fn connect(&self, addr: impl ToSockaddr) -> iox::Result<()> {
        self.sock.connect(&unix_addr(addr)?).map(drop)
    }

    /// Sends to the connected peer.
    pub fn send(&self, buf: &[u8]) -> iox::Result<usize> {
        crate::deadline::run(&self.sock.deadlines.write, || self.sock.send_once(buf, 0))
    }

    /// Receives one datagram.
    pub fn recv(&self, buf: &mut [u8]) -> iox::Result<usize> {
        crate::deadline::run(&self.sock.deadlines.read, || self.sock.recv_once(buf, 0))
    }

    /// Sends to `addr`.
    pub fn send_to(&self, buf: &[u8], addr: &impl Sockaddr) -> iox::Result<usize> {
        self.sock.send_to(buf, addr)
    }

    /// Receives one datagram and its source (the kernel's length is kept, so an abstract
    /// source round-trips; an unbound sender, for which the kernel reports no address at
    /// all, is the unnamed address).
    pub fn recv_from(&self, buf: &mut [u8]) -> iox::Result<(usize, SockaddrAny)> {
        let mut from = SockaddrStorage::new();
        let n = crate::deadline::run(&self.sock.deadlines.read, || {
            self.sock.recv_from_once(buf, &mut from, 0)
        })?;
        if from.is_empty() {
            return Ok((n, SockaddrAny::Unix(sockaddr::SockaddrUnix::unnamed())));
        }
        Ok((n, from.decode()?))
    }
}

impl TryFrom<std::os::unix::net::UnixDatagram> for UnixDatagram {
    type Error = iox::Error;
    /// Takes a std socket, making it non-blocking.
    fn try_from(s: std::os::unix::net::UnixDatagram) -> iox::Result<UnixDatagram> {
        UnixDatagram::try_from(std::os::fd::OwnedFd::from(s))
    }
}

impl From<UnixDatagram> for std::os::unix::net::UnixDatagram {
    /// Hands the socket to std, still non-blocking.
    fn from(s: UnixDatagram) -> std::os::unix::net::UnixDatagram {
        std::os::unix::net::UnixDatagram::from(std::os::fd::OwnedFd::from(s))
    }
}

impl TryFrom<std::os::unix::net::UnixListener> for UnixListener {
    type Error = iox::Error;
    /// Takes a std listener, making it non-blocking.
    fn try_from(l: std::os::unix::net::UnixListener) -> iox::Result<UnixListener> {
        UnixListener::try_from(std::os::fd::OwnedFd::from(l))
    }
}
