//! [`NetSocket`]: the base every socket type is built on.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use iofd::Fd;
use sockaddr::{Sockaddr, SockaddrAny, SockaddrStorage};

use crate::deadline::Deadlines;
use crate::sys;

/// A socket: its descriptor, domain, type and protocol, and its deadlines. Created
/// non-blocking and close-on-exec. Every typed socket of this crate derefs to one.
#[derive(Debug)]
pub struct NetSocket {
    fd: Fd,
    domain: i32,
    ty: i32,
    protocol: i32,
    pub(crate) deadlines: Deadlines,
}

impl NetSocket {
    /// `socket(domain, ty, protocol)`, non-blocking and close-on-exec.
    /// See `socket(2)`.
    pub fn new(domain: i32, ty: i32, protocol: i32) -> iox::Result<NetSocket> {
        let fd = sys::socket(domain, ty, protocol)?;
        Ok(NetSocket::from_parts(
            Fd::from(sys::owned(fd)),
            domain,
            ty,
            protocol,
        ))
    }

    /// A connected pair (`AF_UNIX`), both non-blocking and close-on-exec.
    pub fn pair(domain: i32, ty: i32, protocol: i32) -> iox::Result<[NetSocket; 2]> {
        let [a, b] = sys::socketpair(domain, ty, protocol)?;
        Ok([
            NetSocket::from_parts(Fd::from(sys::owned(a)), domain, ty, protocol),
            NetSocket::from_parts(Fd::from(sys::owned(b)), domain, ty, protocol),
        ])
    }

    pub(crate) fn from_parts(fd: Fd, domain: i32, ty: i32, protocol: i32) -> NetSocket {
        NetSocket {
            fd,
            domain,
            ty,
            protocol,
            deadlines: Deadlines::default(),
        }
    }

    /// Wraps a socket descriptor from elsewhere, reading its domain, type and protocol back
    /// (`SO_DOMAIN`, `SO_TYPE`, `SO_PROTOCOL` on Linux) and making it non-blocking.
    pub fn from_owned(fd: OwnedFd) -> iox::Result<NetSocket> {
        let fd = Fd::from(fd);
        fd.set_nonblocking(true)?;
        let ty = crate::opt::socket_type(&fd)?;
        let (domain, protocol) = crate::opt::domain_and_protocol(&fd)?;
        Ok(NetSocket::from_parts(fd, domain, ty, protocol))
    }

    /// The descriptor as an [`iofd::Fd`].
    pub fn fd(&self) -> &Fd {
        &self.fd
    }

    /// `AF_INET`, `AF_INET6`, `AF_UNIX`, ...
    pub fn domain(&self) -> i32 {
        self.domain
    }

    /// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`, `SOCK_RAW`.
    pub fn socket_type(&self) -> i32 {
        self.ty
    }

    /// The protocol it was created with (0: the family's default).
    pub fn protocol(&self) -> i32 {
        self.protocol
    }

    #[inline]
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// Binds to `addr`. See `bind(2)`.
    pub fn bind(&self, addr: &impl Sockaddr) -> iox::Result<()> {
        Ok(zcall::bind(self.raw(), addr.as_bytes())?)
    }

    /// Listens with `backlog` (clamped by the kernel to `net.core.somaxconn`).
    /// See `listen(2)`.
    pub fn listen(&self, backlog: i32) -> iox::Result<()> {
        Ok(zcall::listen(self.raw(), backlog)?)
    }

    /// Starts a connect. `Ok(true)` when it completed at once, `Ok(false)` when it is in
    /// progress (a stream socket's handshake: wait for writability, then
    /// [`take_error`](Self::take_error)). See `connect(2)`.
    pub fn connect(&self, addr: &impl Sockaddr) -> iox::Result<bool> {
        match zcall::connect(self.raw(), addr.as_bytes()) {
            Ok(()) => Ok(true),
            Err(e) if e.is_in_progress() => Ok(false),
            // A connect interrupted by a signal goes on in the background (POSIX).
            Err(e) if e.is_interrupted() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Accepts one queued connection: the new socket (non-blocking, close-on-exec) and the
    /// peer's address written into `peer`. `WouldBlock` when none is queued. Allocates
    /// nothing. See `accept4(2)`.
    #[inline]
    pub fn accept_into(&self, peer: &mut SockaddrStorage) -> iox::Result<NetSocket> {
        let (fd, len) = sys::accept(self.raw(), peer.as_mut_bytes())?;
        let s = NetSocket::from_parts(
            Fd::from(sys::owned(fd)),
            self.domain,
            self.ty,
            self.protocol,
        );
        peer.set_len(len)?;
        Ok(s)
    }

    /// Shuts down reading, writing or both. See `shutdown(2)`.
    pub fn shutdown(&self, how: std::net::Shutdown) -> iox::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        Ok(zcall::shutdown(self.raw(), how)?)
    }

    /// The socket's own address. See `getsockname(2)`.
    pub fn local_addr(&self) -> iox::Result<SockaddrAny> {
        let mut s = SockaddrStorage::new();
        let n = zcall::getsockname(self.raw(), s.as_mut_bytes())?;
        s.set_len(n)?;
        s.decode()
    }

    /// The peer's address (`NotConnected` when there is none). See `getpeername(2)`.
    pub fn peer_addr(&self) -> iox::Result<SockaddrAny> {
        let mut s = SockaddrStorage::new();
        let n = zcall::getpeername(self.raw(), s.as_mut_bytes())?;
        s.set_len(n)?;
        s.decode()
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it: `None` when there is
    /// none.
    pub fn take_error(&self) -> iox::Result<Option<iox::Error>> {
        crate::opt::take_error(self)
    }

    /// Receives into `buf` (`flags` such as `MSG_PEEK`), one attempt.
    #[inline]
    pub(crate) fn recv_once(&self, buf: &mut [u8], flags: i32) -> iox::Result<usize> {
        Ok(zcall::recv(self.raw(), buf, flags)?)
    }

    /// Sends `buf`, one attempt, never raising `SIGPIPE`.
    #[inline]
    pub(crate) fn send_once(&self, buf: &[u8], flags: i32) -> iox::Result<usize> {
        Ok(zcall::send(self.raw(), buf, flags | sys::SEND_FLAGS)?)
    }

    /// Sends `buf` to `addr`, one attempt.
    #[inline]
    pub(crate) fn send_to_once(&self, buf: &[u8], addr: &[u8], flags: i32) -> iox::Result<usize> {
        Ok(zcall::sendto(
            self.raw(),
            buf,
            flags | sys::SEND_FLAGS,
            addr,
        )?)
    }

    /// `addr`'s bytes, after checking its family is the socket's (a mismatch is refused
    /// before the kernel, which answers it with errors as odd as `ENETUNREACH`).
    #[inline]
    pub(crate) fn checked<'a>(&self, addr: &'a (impl Sockaddr + ?Sized)) -> iox::Result<&'a [u8]> {
        if i32::from(addr.family()) != self.domain {
            return Err(iox::Error::with_context(
                iox::ErrorKind::AddressFamilyNotSupported,
                "the address's family differs from the socket's",
            ));
        }
        Ok(addr.as_bytes())
    }

    /// Receives one datagram and its source address into `from`, one attempt.
    #[inline]
    pub(crate) fn recv_from_once(
        &self,
        buf: &mut [u8],
        from: &mut SockaddrStorage,
        flags: i32,
    ) -> iox::Result<usize> {
        let (n, len) = zcall::recvfrom(self.raw(), buf, flags, from.as_mut_bytes())?;
        from.set_len(len)?;
        Ok(n)
    }

    /// Gather send of `bufs`, one attempt, through `sendmsg` (so it carries
    /// `MSG_NOSIGNAL`, which `writev` cannot).
    pub(crate) fn send_vectored_once(&self, bufs: &[IoSlice<'_>]) -> iox::Result<usize> {
        sys::send_vectored(self.raw(), bufs, sys::SEND_FLAGS)
    }

    /// Scatter receive into `bufs`, one attempt.
    pub(crate) fn recv_vectored_once(&self, bufs: &mut [IoSliceMut<'_>]) -> iox::Result<usize> {
        self.fd.readv(bufs)
    }

    /// Sends one datagram to `addr` under the write deadline (family checked first).
    #[inline]
    pub(crate) fn send_to(&self, buf: &[u8], addr: &impl Sockaddr) -> iox::Result<usize> {
        let a = self.checked(addr)?;
        crate::deadline::run(&self.deadlines.write, || self.send_to_once(buf, a, 0))
    }

    /// Receives one datagram under the read deadline, and decodes its source.
    #[inline]
    pub(crate) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: i32,
    ) -> iox::Result<(usize, SockaddrAny)> {
        let mut from = SockaddrStorage::new();
        let n = crate::deadline::run(&self.deadlines.read, || {
            self.recv_from_once(buf, &mut from, flags)
        })?;
        Ok((n, from.decode()?))
    }

    /// Sets the read deadline: reads (and accepts) retry under the ladder until it passes;
    /// `Deadline::NONE` returns to non-blocking. A read already waiting on another thread
    /// sees the new deadline at its next backoff step (a past one ends it with `TimedOut`,
    /// `NONE` with `WouldBlock`).
    pub fn set_read_deadline(&self, d: impl Into<iox::Deadline>) {
        self.deadlines.read.set(d.into());
    }

    /// Sets the write deadline (writes, and a [`TcpDialer`](crate::TcpDialer)'s wait).
    pub fn set_write_deadline(&self, d: impl Into<iox::Deadline>) {
        self.deadlines.write.set(d.into());
    }

    /// Sets both deadlines.
    pub fn set_deadline(&self, d: impl Into<iox::Deadline>) {
        let d = d.into();
        self.deadlines.read.set(d);
        self.deadlines.write.set(d);
    }

    /// The read deadline.
    pub fn read_deadline(&self) -> iox::Deadline {
        self.deadlines.read.get()
    }

    /// The write deadline.
    pub fn write_deadline(&self) -> iox::Deadline {
        self.deadlines.write.get()
    }

    /// Runs `f` on the descriptor once (Go's `SyscallConn().Control`).
    pub fn with_fd<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> T {
        f(self.fd.as_fd())
    }

    /// Runs `f` on the descriptor, retrying it on `WouldBlock` under the read deadline
    /// (Go's `SyscallConn().Read`, with the deadline the Go version ignored).
    pub fn read_with<T>(
        &self,
        mut f: impl FnMut(BorrowedFd<'_>) -> iox::Result<T>,
    ) -> iox::Result<T> {
        crate::deadline::run(&self.deadlines.read, || f(self.fd.as_fd()))
    }

    /// Runs `f` on the descriptor, retrying it on `WouldBlock` under the write deadline.
    pub fn write_with<T>(
        &self,
        mut f: impl FnMut(BorrowedFd<'_>) -> iox::Result<T>,
    ) -> iox::Result<T> {
        crate::deadline::run(&self.deadlines.write, || f(self.fd.as_fd()))
    }

    /// Closes the socket and reports the kernel's answer.
    pub fn close(self) -> iox::Result<()> {
        self.fd.close()
    }
}

impl AsFd for NetSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NetSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl IntoRawFd for NetSocket {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<NetSocket> for OwnedFd {
    fn from(s: NetSocket) -> OwnedFd {
        s.fd.into()
    }
}
