//! Listening sockets: accepting connections into the `Io`.

use iox::{Error, Result};
use sock::{SockaddrAny, SockaddrStorage, TcpConn, TcpListener, UnixConn, UnixListener};

use crate::handle::handle;
use crate::io::Io;
use crate::object::{Register, private::Sealed};
use crate::op::{Attempt, Dir, OpLogic};
use crate::stream::{Stream, StreamSock};

/// Listening sockets (sealed): [`sock::TcpListener`], [`sock::UnixListener`].
pub trait ListenerSock: Register {
    /// The connections it accepts.
    type Conn: StreamSock;
    #[doc(hidden)]
    fn accept_conn(&self, peer: &mut SockaddrStorage) -> Result<Self::Conn>;
}

impl ListenerSock for TcpListener {
    type Conn = TcpConn;
    fn accept_conn(&self, peer: &mut SockaddrStorage) -> Result<TcpConn> {
        self.try_accept_into(peer)
    }
}

impl ListenerSock for UnixListener {
    type Conn = UnixConn;
    fn accept_conn(&self, peer: &mut SockaddrStorage) -> Result<UnixConn> {
        self.try_accept_into(peer)
    }
}

handle! {
    /// A listening socket owned by an [`Io`].
    ///
    /// ```
    /// use sonic_io::{Io, Listener, TcpStream};
    ///
    /// let mut io = Io::new().unwrap();
    /// let l = Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    /// let addr = l.get(&io).unwrap().local_addr().unwrap();
    /// l.async_accept(&mut io, |_, r| {
    ///     let (_conn, peer) = r.unwrap();
    ///     assert!(matches!(peer, sock::SockaddrAny::Inet4(_)));
    /// })
    /// .unwrap();
    /// TcpStream::dial(&mut io, addr, |_, r| drop(r.unwrap())).unwrap();
    /// io.run_pending().unwrap();
    /// ```
    Listener<L: ListenerSock>
}

/// A TCP listener owned by an [`Io`].
pub type TcpAcceptor = Listener<TcpListener>;

impl<L: ListenerSock> Listener<L> {
    /// Accepts one connection: the callback gets it already registered in the Io, and the
    /// peer's address. `accept4` with `NONBLOCK | CLOEXEC`, the address on the stack, no
    /// allocation. `EMFILE`/`ENFILE` complete the operation with that error and keep the
    /// listener usable: the next `async_accept` tries again at once. The connection stays
    /// queued, so an accept re-armed from the callback at once fails again at once and
    /// spins through the Io's turns until a descriptor frees up: pause first (a
    /// [`Timer`](crate::Timer), as `examples/echo_server.rs` does).
    pub fn async_accept<F>(self, io: &mut Io, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<(Stream<L::Conn>, SockaddrAny)>) + 'static,
    {
        let op = AcceptOp::<L, F> {
            f,
            res: None,
            _l: std::marker::PhantomData,
        };
        io.submit(self.key, Dir::Read, op).map_err(|r| r.error)
    }
}

struct AcceptOp<L: ListenerSock, F> {
    f: F,
    /// The accepted connection, not yet in the Io: the attempt only accepts (it reaches the
    /// listener's state, not the Io); `complete` registers it. Dropped unregistered (the
    /// operation failed or was dropped before its callback), it closes.
    res: Option<Result<(L::Conn, SockaddrAny)>>,
    _l: std::marker::PhantomData<fn() -> L>,
}

impl<L: ListenerSock, F> OpLogic<Io> for AcceptOp<L, F>
where
    F: FnOnce(&mut Io, Result<(Stream<L::Conn>, SockaddrAny)>) + 'static,
{
    type Buf = ();

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        let mut peer = SockaddrStorage::default();
        let conn = loop {
            if !obj.may_try(Dir::Read) {
                return false;
            }
            let Some(l) = L::borrow(obj.owned()) else {
                self.fail(Error::CLOSED);
                return true;
            };
            stats.reads += 1;
            match l.accept_conn(&mut peer) {
                Ok(c) => break c,
                Err(e) if e.is_would_block() => {
                    obj.not_ready(Dir::Read);
                    return false;
                }
                // The connection died in the queue, or a signal: try the next one.
                Err(e) if e.errno() == Some(zcall::Errno::ECONNABORTED) => {}
                Err(e) if e.kind() == iox::ErrorKind::Interrupted => {}
                // EMFILE, ENFILE and the rest: report it. Readiness stays set, so the next
                // accept tries at once (the connection is still queued; no edge will come).
                Err(e) => {
                    self.fail(e);
                    return true;
                }
            }
        };
        // An address that does not decode closes the connection (dropped here).
        self.res = Some(peer.decode().map(|a| (conn, a)));
        true
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    fn complete(self, io: &mut Io) {
        let r = match self.res {
            Some(Ok((conn, addr))) => io
                .insert(conn.into_owned(), <L::Conn as Sealed>::CLASS)
                .map(|k| (Stream::from_key(k), addr)),
            Some(Err(e)) => Err(e),
            None => Err(Error::CANCELLED),
        };
        (self.f)(io, r);
    }

    fn into_buf(self) {}
}
