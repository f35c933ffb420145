//! TCP: [`TcpConn`], [`TcpListener`], [`TcpDialer`].

use std::time::Duration;

use iox::{Backoff, Deadline};
use sockaddr::{SockaddrAny, SockaddrStorage};

use crate::addr::{Family, ToSockaddr, domain};
use crate::deadline::SOCKET_BACKOFF;
use crate::{NetSocket, opt};

/// The listen backlog when none is given (the kernel clamps it to `net.core.somaxconn`).
pub const DEFAULT_BACKLOG: i32 = 1024;

/// A TCP connection. Non-blocking: `read`/`write` return `WouldBlock` at once unless a
/// deadline is set ([`NetSocket::set_read_deadline`], ...).
///
/// ```
/// use sock::{TcpConn, TcpListener};
/// let l = TcpListener::bind("127.0.0.1:0").unwrap();
/// let c = sock::TcpDialer { timeout: Some(std::time::Duration::from_secs(5)), ..Default::default() }
///     .dial(l.local_addr().unwrap())
///     .unwrap();
/// l.set_read_deadline(iox::Deadline::after(std::time::Duration::from_secs(5)));
/// let (s, _peer) = l.accept().unwrap();
/// c.write_all(b"ping").unwrap();
/// s.set_read_deadline(iox::Deadline::after(std::time::Duration::from_secs(5)));
/// let mut buf = [0u8; 4];
/// assert_eq!(s.read(&mut buf).unwrap(), 4);
/// ```
#[derive(Debug)]
pub struct TcpConn {
    sock: NetSocket,
}

crate::stream::connected_io!(TcpConn);

fn tcp_socket(addr: &SockaddrAny) -> iox::Result<NetSocket> {
    if matches!(addr, SockaddrAny::Unix(_)) {
        return Err(iox::Error::with_context(
            iox::ErrorKind::AddressFamilyNotSupported,
            "a TCP socket needs an IPv4 or IPv6 address",
        ));
    }
    NetSocket::new(domain(addr), libc::SOCK_STREAM, libc::IPPROTO_TCP)
}

impl TcpConn {
    /// Starts a connection to `addr` and returns at once: the handshake may still be in
    /// progress (a first write then returns `WouldBlock` until it completes). Use a
    /// [`TcpDialer`] with a timeout to wait for the outcome.
    pub fn connect(addr: impl ToSockaddr) -> iox::Result<TcpConn> {
        TcpDialer::default().dial(addr)
    }

    /// [`connect`](Self::connect) restricted to IPv4.
    pub fn connect4(addr: impl ToSockaddr) -> iox::Result<TcpConn> {
        TcpDialer::default().dial4(addr)
    }

    /// [`connect`](Self::connect) restricted to IPv6.
    pub fn connect6(addr: impl ToSockaddr) -> iox::Result<TcpConn> {
        TcpDialer::default().dial6(addr)
    }

    /// Where a started connect stands: `Ok(true)` connected, `Ok(false)` still in progress,
    /// `Err` the connect's failure (read from `SO_ERROR`: refused, unreachable, timed out).
    pub fn poll_connected(&self) -> iox::Result<bool> {
        if let Some(e) = self.sock.take_error()? {
            return Err(e);
        }
        match self.sock.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == iox::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Disables (true) or enables Nagle's algorithm.
    pub fn set_nodelay(&self, on: bool) -> iox::Result<()> {
        opt::set_nodelay(self, on)
    }

    /// Whether Nagle's algorithm is disabled.
    pub fn nodelay(&self) -> iox::Result<bool> {
        opt::nodelay(self)
    }

    /// Keepalive with `idle` before the first probe and between probes; `None` turns it off.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> iox::Result<()> {
        opt::set_keepalive_time(self, idle)
    }
}

impl TryFrom<std::net::TcpStream> for TcpConn {
    type Error = iox::Error;
    /// Takes a std stream, making it non-blocking.
    fn try_from(s: std::net::TcpStream) -> iox::Result<TcpConn> {
        TcpConn::try_from(std::os::fd::OwnedFd::from(s))
    }
}

impl From<TcpConn> for std::net::TcpStream {
    /// Hands the socket to std as it is: still non-blocking (call `set_nonblocking(false)`
    /// for std's blocking behaviour).
    fn from(c: TcpConn) -> std::net::TcpStream {
        std::net::TcpStream::from(std::os::fd::OwnedFd::from(c))
    }
}

/// How a listener is set up.
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// The backlog (default [`DEFAULT_BACKLOG`]).
    pub backlog: i32,
    /// `SO_REUSEADDR` (default on, as std does for listeners).
    pub reuse_address: bool,
    /// `SO_REUSEPORT` (default off: a second listener on a busy port must fail, not share it).
    pub reuse_port: bool,
    /// `IPV6_V6ONLY` for an IPv6 listener: `Some(false)` for a dual-stack listener,
    /// `None` for the system default.
    pub only_v6: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: DEFAULT_BACKLOG,
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
        }
    }
}

/// A TCP listener.
#[derive(Debug)]
pub struct TcpListener {
    sock: NetSocket,
}

crate::stream::fd_traits!(TcpListener);

impl TcpListener {
    /// Listens on `addr` (port 0: an ephemeral port, read it with `local_addr`).
    pub fn bind(addr: impl ToSockaddr) -> iox::Result<TcpListener> {
        TcpListener::bind_with(addr, Family::Any, ListenOptions::default())
    }

    /// [`bind`](Self::bind) restricted to IPv4 (`"tcp4"`).
    pub fn bind4(addr: impl ToSockaddr) -> iox::Result<TcpListener> {
        TcpListener::bind_with(addr, Family::V4, ListenOptions::default())
    }

    /// [`bind`](Self::bind) restricted to IPv6 (`"tcp6"`).
    pub fn bind6(addr: impl ToSockaddr) -> iox::Result<TcpListener> {
        TcpListener::bind_with(addr, Family::V6, ListenOptions::default())
    }

    /// Listens with explicit options.
    pub fn bind_with(
        addr: impl ToSockaddr,
        family: Family,
        o: ListenOptions,
    ) -> iox::Result<TcpListener> {
        let addr = addr.to_sockaddr(family)?;
        let sock = tcp_socket(&addr)?;
        if o.reuse_address {
            opt::set_reuse_address(&sock, true)?;
        }
        if o.reuse_port {
            opt::set_reuse_port(&sock, true)?;
        }
        if let (Some(v6only), SockaddrAny::Inet6(_)) = (o.only_v6, &addr) {
            opt::set_only_v6(&sock, v6only)?;
        }
        sock.bind(&addr)?;
        sock.listen(o.backlog)?;
        Ok(TcpListener { sock })
    }

    /// Accepts one connection and its peer's address: `WouldBlock` when none is queued and
    /// no read deadline is set; `EINTR` is retried.
    pub fn accept(&self) -> iox::Result<(TcpConn, SockaddrAny)> {
        let mut peer = SockaddrStorage::new();
        let c = self.accept_into(&mut peer)?;
        Ok((c, peer.decode()?))
    }

    /// Accepts one connection, writing the peer's address into `peer`, under the read
    /// deadline. Allocates nothing.
    #[inline]
    pub fn accept_into(&self, peer: &mut SockaddrStorage) -> iox::Result<TcpConn> {
        crate::deadline::run(&self.sock.deadlines.read, || self.try_accept_into(peer))
    }

    /// One attempt at [`accept_into`](Self::accept_into) that ignores the deadlines:
    /// `WouldBlock` at once when no connection is queued (`EINTR` is retried). For an
    /// event loop that does its own waiting and must never block or spin in a call.
    #[inline]
    pub fn try_accept_into(&self, peer: &mut SockaddrStorage) -> iox::Result<TcpConn> {
        loop {
            match self.sock.accept_into(peer) {
                Err(e) if e.kind() == iox::ErrorKind::Interrupted => continue,
                r => return r.map(|sock| TcpConn { sock }),
            }
        }
    }

    /// The underlying socket.
    pub fn socket(&self) -> &NetSocket {
        &self.sock
    }
}

impl TryFrom<std::net::TcpListener> for TcpListener {
    type Error = iox::Error;
    /// Takes a std listener, making it non-blocking.
    fn try_from(l: std::net::TcpListener) -> iox::Result<TcpListener> {
        TcpListener::try_from(std::os::fd::OwnedFd::from(l))
    }
}

impl From<TcpListener> for std::net::TcpListener {
    /// Hands the listener to std, still non-blocking.
    fn from(l: TcpListener) -> std::net::TcpListener {
        std::net::TcpListener::from(std::os::fd::OwnedFd::from(l))
    }
}

/// Dials with options, and optionally waits for the handshake.
///
/// Without a `timeout`, `dial` returns as soon as the connect is started (the connection
/// may still be in progress; the Go dialer closed the socket and returned an error here).
/// With one, it climbs the socket backoff ladder until the handshake completes, fails
/// (the real reason, from `SO_ERROR`: `ConnectionRefused`, `HostUnreachable`, ...) or the
/// timeout passes (`TimedOut`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpDialer {
    /// How long to wait for the handshake; `None`: do not wait.
    pub timeout: Option<Duration>,
    /// Bind to this address before connecting.
    pub local: Option<SockaddrAny>,
    /// `TCP_NODELAY` on the new connection.
    pub nodelay: bool,
    /// `SO_REUSEADDR` before binding.
    pub reuse_address: bool,
    /// `SO_REUSEPORT` before binding.
    pub reuse_port: bool,
}

impl TcpDialer {
    /// Connects to `addr`.
    pub fn dial(&self, addr: impl ToSockaddr) -> iox::Result<TcpConn> {
        self.dial_family(addr, Family::Any)
    }

    /// Connects to an IPv4 `addr` (`"tcp4"`).
    pub fn dial4(&self, addr: impl ToSockaddr) -> iox::Result<TcpConn> {
        self.dial_family(addr, Family::V4)
    }

    /// Connects to an IPv6 `addr` (`"tcp6"`).
    pub fn dial6(&self, addr: impl ToSockaddr) -> iox::Result<TcpConn> {
        self.dial_family(addr, Family::V6)
    }

    /// The socket [`dial`](Self::dial) would connect, with the dialer's options set (the
    /// reuse options, the local address, `TCP_NODELAY`), not connected, and the address
    /// it would connect to: for a reactor that makes the connect itself (sonic-io's
    /// io_uring backend hands it to the kernel as `IORING_OP_CONNECT`). The timeout is the
    /// caller's to keep. Until it is connected, the socket's reads and writes fail with
    /// `NotConnected`.
    ///
    /// ```
    /// let l = sock::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let (conn, addr) = sock::TcpDialer::default().prepare(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(addr, l.local_addr().unwrap());
    /// assert!(conn.peer_addr().is_err());
    /// ```
    pub fn prepare(&self, addr: impl ToSockaddr) -> iox::Result<(TcpConn, SockaddrAny)> {
        self.prepare_family(addr, Family::Any)
    }

    fn prepare_family(
        &self,
        addr: impl ToSockaddr,
        family: Family,
    ) -> iox::Result<(TcpConn, SockaddrAny)> {
        let addr = addr.to_sockaddr(family)?;
        let sock = tcp_socket(&addr)?;
        if self.reuse_address {
            opt::set_reuse_address(&sock, true)?;
        }
        if self.reuse_port {
            opt::set_reuse_port(&sock, true)?;
        }
        if let Some(local) = &self.local {
            if domain(local) != domain(&addr) {
                return Err(iox::Error::invalid_input(
                    "the local and remote addresses are of different families",
                ));
            }
            sock.bind(local)?;
        }
        if self.nodelay {
            opt::set_nodelay(&sock, true)?;
        }
        Ok((TcpConn { sock }, addr))
    }

    fn dial_family(&self, addr: impl ToSockaddr, family: Family) -> iox::Result<TcpConn> {
        let (conn, addr) = self.prepare_family(addr, family)?;
        let done = conn.sock.connect(&addr)?;
        if done {
            return Ok(conn);
        }
        let Some(timeout) = self.timeout else {
            return Ok(conn);
        };
        let deadline = Deadline::after(timeout);
        let mut backoff = Backoff::new(SOCKET_BACKOFF);
        iox::retry(deadline, &mut backoff, || match conn.poll_connected() {
            Ok(true) => Ok(()),
            Ok(false) => Err(iox::Error::WOULD_BLOCK),
            Err(e) => Err(e),
        })?;
        Ok(conn)
    }
}
