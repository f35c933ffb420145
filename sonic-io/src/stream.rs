//! Connected byte streams: TCP and Unix stream sockets owned by an `Io`.

use std::time::Duration;

use iox::{Error, ErrorKind, Result};
use sock::{TcpConn, TcpDialer, ToSockaddr, UnixConn};
use sockaddr::{Sockaddr, SockaddrAny};

use crate::handle::byte_ops;
use crate::handle::handle;
use crate::io::Io;
use crate::object::{Register, private::Sealed};
use crate::op::{Attempt, Dir, Key, OpLogic};

/// Stream sockets (sealed): [`sock::TcpConn`], [`sock::UnixConn`].
pub trait StreamSock: Register {}
impl StreamSock for TcpConn {}
impl StreamSock for UnixConn {}

handle! {
    /// A connected stream socket owned by an [`Io`]: [`TcpStream`] or [`UnixStream`].
    ///
    /// Operations take owned buffers and hand them back to the callback. At most one read
    /// and one write are pending at a time; a second is refused with [`Rejected`](crate::Rejected).
    ///
    /// ```
    /// use sonic_io::{Io, UnixStream};
    ///
    /// let mut io = Io::new().unwrap();
    /// let [a, b] = sock::UnixConn::pair().unwrap();
    /// let a = UnixStream::add(&mut io, a).unwrap();
    /// let b = UnixStream::add(&mut io, b).unwrap();
    /// a.async_write_all(&mut io, b"ping", |_, r, _| assert_eq!(r.unwrap(), 4)).unwrap();
    /// b.async_read_exact(&mut io, vec![0u8; 4], |_, r, buf| {
    ///     assert_eq!(r.unwrap(), 4);
    ///     assert_eq!(&buf, b"ping");
    /// })
    /// .unwrap();
    /// io.run_pending().unwrap();
    /// ```
    Stream<C: StreamSock>
}

/// A TCP connection owned by an [`Io`].
pub type TcpStream = Stream<TcpConn>;

/// Names the object of an [`Io`] that carries a [`ByteStream`]'s bytes. Only this crate
/// makes one (from a live handle), so a `ByteStream` implemented elsewhere can only
/// delegate to a stream the Io really holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId(pub(crate) Key);

impl std::fmt::Debug for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamId({}#{})", self.0.idx, self.0.generation)
    }
}

/// The byte-stream seam: a stream of bytes the reactor drives, whatever carries it. A TCP
/// or Unix [`Stream`], an [`Adapter`](crate::Adapter) over a user stream, and types built on
/// an adapter in other crates (a TLS stream) implement it, and codecs
/// ([`CodecConn`](crate::codec::CodecConn)) run over any of them without knowing which. A
/// type outside this crate implements it by naming the stream it wraps.
///
/// ```
/// use sonic_io::codec::{CodecConn, Frame};
/// use sonic_io::{Adapter, ByteStream, Io, StreamId};
///
/// /// A stream of one's own, over an adapter.
/// #[derive(Clone, Copy)]
/// struct Mine(Adapter<sock::UnixConn>);
/// impl ByteStream for Mine {
///     fn stream_id(self) -> StreamId {
///         self.0.stream_id()
///     }
/// }
///
/// let mut io = Io::new().unwrap();
/// let [a, b] = sock::UnixConn::pair().unwrap();
/// let (a, b) = (Adapter::new(&mut io, a).unwrap(), Adapter::new(&mut io, b).unwrap());
/// let mut tx = CodecConn::new(Mine(a), Frame::default());
/// tx.write_next(&mut io, &b"over an adapter"[..]).unwrap();
/// let rx = CodecConn::new(b, Frame::default());
/// rx.async_read_next(&mut io, |_, r, mut rx| {
///     r.unwrap();
///     assert_eq!(rx.item().unwrap(), Some(&b"over an adapter"[..]));
/// })
/// .unwrap();
/// io.run_pending().unwrap();
/// ```
pub trait ByteStream: Copy + 'static {
    /// The Io object that carries the bytes.
    fn stream_id(self) -> StreamId;

    /// Ends the stream the way its protocol ends it, then closes it; a layer-agnostic
    /// user (a codec, a WebSocket's closing handshake) calls this to close any stream.
    /// Pending operations complete with `Cancelled`. By default the object is closed at
    /// once (a socket's close sends its FIN); a stream with an orderly ending of its own
    /// overrides it (a TLS stream sends close_notify first, waiting for room in the socket
    /// as long as needed, and closes after). The handle is stale once this returns `Ok`.
    fn close_gracefully(self, io: &mut Io) -> Result<()> {
        self.close_now(io)
    }

    /// Closes the stream at once, without its protocol's ending (no TLS close_notify: the
    /// peer sees a truncation): for errors, and for a peer that stopped reading, to which an
    /// orderly ending could wait forever. Pending operations complete with `Cancelled`.
    fn close_now(self, io: &mut Io) -> Result<()> {
        io.remove_object(self.stream_id().0, false)?.close()
    }
}

impl<C: StreamSock> ByteStream for Stream<C> {
    fn stream_id(self) -> StreamId {
        StreamId(self.key)
    }
}
/// A Unix stream connection owned by an [`Io`].
pub type UnixStream = Stream<UnixConn>;

byte_ops!(Stream<C: StreamSock>);

impl<C: StreamSock> Stream<C> {
    /// [`take`](Self::take) for a stream whose reads may have gone past their buffers: hands
    /// the socket back with the bytes read ahead (at most 16), which come before anything
    /// still in the socket. For a protocol that reads a header and then gives the socket to
    /// another layer (a PROXY header, then TLS: `sonic-tls` feeds these bytes to the
    /// handshake). A read error held for the next read is returned instead, and the stream
    /// stays in the Io.
    pub fn take_with_read_ahead(self, io: &mut Io) -> Result<(C, crate::ReadAhead)> {
        let early = io.object_mut(self.key)?.take_read_ahead()?;
        let owned = io.remove_object(self.key, true)?;
        let conn = <C as Sealed>::from_owned(owned).map_err(|_| Error::CLOSED)?;
        Ok((conn, early))
    }

    /// Shuts down one or both directions. Operations pending in a direction shut down are
    /// attempted at once (a read finds its end of stream, or first the bytes the kernel
    /// still holds; a write finds `EPIPE`) and complete under the usual depth rule, without
    /// waiting for the peer: the kernel does not always raise an edge for a shutdown of the
    /// program's own (`tests/streams.rs`,
    /// `our_own_shutdown_ends_the_operations_parked_in_its_direction`).
    pub fn shutdown(self, io: &mut Io, how: std::net::Shutdown) -> Result<()> {
        let fd = io.object(self.key)?.fd;
        let (how, read, write) = match how {
            std::net::Shutdown::Read => (libc::SHUT_RD, true, false),
            std::net::Shutdown::Write => (libc::SHUT_WR, false, true),
            std::net::Shutdown::Both => (libc::SHUT_RDWR, true, true),
        };
        zcall::shutdown(fd, how).map_err(Error::from)?;
        io.shut_down(self.key, read, write);
        Ok(())
    }
}

/// A connect in progress: completes from `SO_ERROR` once the socket turns writable (or
/// errs), or, where the backend connects in the kernel, from the connect's own completion;
/// a dialer timeout completes it with `TimedOut` through an internal timer.
pub(crate) struct ConnectOp<C, F> {
    key: Key,
    /// The dialer timeout's internal timer: cancelled when the connect completes, so it
    /// can never fire on whatever write is pending later.
    expiry: Option<Key>,
    f: F,
    res: Option<Result<()>>,
    /// The address of a connect not yet made, handed to the kernel with the socket
    /// (io_uring's `CONNECT`, [`OpLogic::connect_target`]; `None` where the socket was
    /// connected by sock, and once the connect completed). Boxed: the kernel reads it when
    /// the entry is submitted, with the next wait, and the operation may move before that.
    target: Option<Box<SockaddrAny>>,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<C: StreamSock, F: FnOnce(&mut Io, Result<Stream<C>>) + 'static> OpLogic<Io>
    for ConnectOp<C, F>
{
    type Buf = ();

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        // A connect to make goes to the kernel at submission (`Io::submit`), never here.
        debug_assert!(self.target.is_none(), "a dial's connect reached an attempt");
        if !obj.may_try(Dir::Write) {
            return false;
        }
        stats.reads += 1;
        let mut err = [0u8; 4];
        match zcall::getsockopt(obj.fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut err) {
            Ok(_) => {
                let e = i32::from_ne_bytes(err);
                if e != 0 {
                    self.fail(Error::from(zcall::Errno::from_raw(e)));
                    return true;
                }
            }
            Err(e) => {
                self.fail(e.into());
                return true;
            }
        }
        // No pending error: connected if the peer has a name, still in progress if not.
        let mut name = sockaddr::SockaddrStorage::default();
        stats.reads += 1;
        match zcall::getpeername(obj.fd, name.as_mut_bytes()) {
            Ok(_) => {
                self.res = Some(Ok(()));
                true
            }
            Err(e) if e == zcall::Errno::ENOTCONN => {
                obj.not_ready(Dir::Write);
                false
            }
            Err(e) => {
                self.fail(e.into());
                true
            }
        }
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    fn connect_target(&self) -> Option<(*const u8, u32)> {
        let addr = self.target.as_deref()?.as_bytes();
        Some((addr.as_ptr(), addr.len() as u32))
    }

    fn sent(&mut self, res: i32) -> bool {
        // The kernel's connect completed: the address is no longer read.
        self.target = None;
        match -res {
            // `EISCONN`: a retried connect that found the first one done (the kernel
            // reads `SO_ERROR` then; taken as connected, as it is).
            0 | libc::EISCONN => self.res = Some(Ok(())),
            // Still in progress (a connect the kernel's worker retried on a non-blocking
            // socket): wait for writability and read `SO_ERROR`, as elsewhere. Not
            // `EAGAIN`: a Unix listener's full backlog, or no port left, leaves no connect
            // going, and the dial fails with it as on epoll.
            libc::EALREADY | libc::EINPROGRESS | libc::EINTR => return false,
            e => self.fail(Error::from(zcall::Errno::from_raw(e))),
        }
        true
    }

    fn complete(self, io: &mut Io) {
        if let Some(t) = self.expiry {
            io.timers.cancel_internal(t);
        }
        let res = self.res.unwrap_or(Err(Error::CANCELLED));
        let res = match res {
            // A connect that completed as the Io's close took it back: the close ended the
            // socket with every other object, so the dial reports that, not a dead stream.
            Ok(()) if io.object(self.key).is_err() => Err(Error::CANCELLED),
            Ok(()) => Ok(Stream::from_key(self.key)),
            Err(e) => {
                // The failed socket is of no use to anybody: free its slot first.
                if io.object(self.key).is_ok() {
                    let _ = io.remove_object(self.key, false).map(|o| o.close());
                }
                Err(e)
            }
        };
        (self.f)(io, res);
    }

    fn into_buf(self) {}
}

/// A dial refused before any socket existed: completes with its error.
struct FailedDial<C, F> {
    error: Error,
    f: F,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<C: StreamSock, F: FnOnce(&mut Io, Result<Stream<C>>) + 'static> OpLogic<Io>
    for FailedDial<C, F>
{
    type Buf = ();
    fn attempt(&mut self, _: &mut Attempt<'_>) -> bool {
        true
    }
    fn fail(&mut self, e: Error) {
        self.error = e;
    }
    fn complete(self, io: &mut Io) {
        (self.f)(io, Err(self.error));
    }
    fn into_buf(self) {}
}

/// Starts a dial of a socket made by `conn`: connected already (`None`: the connect is
/// started, perhaps done), or to connect to the address beside it (`Some`), in the kernel
/// where the backend connects there ([`connects_in_ring`]).
fn start_connect<C: StreamSock, F>(
    io: &mut Io,
    conn: Result<(C, Option<SockaddrAny>)>,
    timeout: Option<Duration>,
    f: F,
) -> Result<()>
where
    F: FnOnce(&mut Io, Result<Stream<C>>) + 'static,
{
    if io.closed() {
        return Err(Error::CLOSED);
    }
    let (conn, target) = match conn {
        Ok(c) => c,
        Err(e) => {
            io.deliver_detached(FailedDial {
                error: e,
                f,
                _c: std::marker::PhantomData::<fn() -> C>,
            });
            return Ok(());
        }
    };
    let key = io.insert(conn.into_owned(), <C as Sealed>::CLASS)?;
    let expiry = timeout.map(|t| {
        let at = io
            .now_ns()
            .saturating_add(t.as_nanos().min(u128::from(u64::MAX / 4)) as u64);
        io.timers.schedule_expiry(at, key, Dir::Write)
    });
    let op = ConnectOp::<C, F> {
        key,
        expiry,
        f,
        res: None,
        target: target.map(Box::new),
        _c: std::marker::PhantomData,
    };
    io.submit(key, Dir::Write, op).map_err(|r| r.error)
}

/// Whether `io`'s backend connects in the kernel: io_uring where reads complete in the
/// ring (its synchronous cancel takes a connect back when a dial times out or the Io
/// closes). A dial then hands the kernel an unconnected socket and its address
/// (`IORING_OP_CONNECT`, submitted with the next wait): no `connect`, `getsockopt` or
/// `getpeername` syscall.
fn connects_in_ring(io: &Io) -> bool {
    io.backend().reads_in_ring()
}

impl Stream<TcpConn> {
    /// Connects to `addr` without blocking: the callback gets the registered stream, or
    /// the connect's error from `SO_ERROR` (`ConnectionRefused`, ...). Host names are
    /// resolved here, blocking on the resolver (cold path); numeric addresses are parsed
    /// without allocating. An error before any socket exists also reaches the callback.
    pub fn dial<F>(io: &mut Io, addr: impl ToSockaddr, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TcpStream>) + 'static,
    {
        Self::dial_with(io, &TcpDialer::default(), addr, f)
    }

    /// [`dial`](Self::dial) with a [`TcpDialer`]'s options; its timeout is kept by an
    /// internal timer (the dial completes with `TimedOut`), never by blocking.
    pub fn dial_with<F>(io: &mut Io, dialer: &TcpDialer, addr: impl ToSockaddr, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TcpStream>) + 'static,
    {
        let d = TcpDialer {
            timeout: None,
            ..*dialer
        };
        let conn = if connects_in_ring(io) {
            d.prepare(addr).map(|(c, a)| (c, Some(a)))
        } else {
            d.dial(addr).map(|c| (c, None))
        };
        start_connect(io, conn, dialer.timeout, f)
    }
}

impl Stream<UnixConn> {
    /// Connects to a Unix stream socket without blocking (a pathname or `@abstract`).
    pub fn dial<F>(io: &mut Io, addr: impl ToSockaddr, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<UnixStream>) + 'static,
    {
        let conn = if connects_in_ring(io) {
            UnixConn::prepare(addr).map(|(c, a)| (c, Some(a)))
        } else {
            UnixConn::connect(addr).map(|c| (c, None))
        };
        start_connect(io, conn, None, f)
    }
}

/// The error a dial timeout completes with.
pub(crate) const DIAL_TIMED_OUT: Error = Error::with_context(ErrorKind::TimedOut, "dial timed out");
