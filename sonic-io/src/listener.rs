//! Listening sockets: accepting connections into the `Io`.

use iox::{Error, Result};
use sock::{SockaddrAny, SockaddrStorage, TcpConn, TcpListener, UnixConn, UnixListener};

use crate::handle::handle;
use crate::io::Io;
use crate::object::{Register, private::Sealed};
use crate::op::{Dir, Key, OpLogic};
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
    /// listener usable: the next `async_accept` tries again at once.
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
    res: Option<Result<(Stream<L::Conn>, SockaddrAny)>>,
    _l: std::marker::PhantomData<fn() -> L>,
}

impl<L: ListenerSock, F> OpLogic for AcceptOp<L, F>
where
    F: FnOnce(&mut Io, Result<(Stream<L::Conn>, SockaddrAny)>) + 'static,
{
    type Buf = ();

    fn attempt(&mut self, io: &mut Io, key: Key) -> bool {
        let mut peer = SockaddrStorage::default();
        let conn = loop {
            let Io { objects, stats, .. } = &mut *io;
            let Some(obj) = objects.get_mut(key) else {
                self.fail(Error::CLOSED);
                return true;
            };
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
        let addr = peer.decode();
        let key = io.insert(conn.into_owned(), <L::Conn as Sealed>::CLASS);
        self.res = Some(match (key, addr) {
            (Ok(k), Ok(a)) => Ok((Stream::from_key(k), a)),
            (Ok(k), Err(e)) => {
                let _ = io.remove_object(k, false).map(|o| o.close());
                Err(e)
            }
            (Err(e), _) => Err(e),
        });
        true
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    fn complete(self, io: &mut Io) {
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)));
    }

    fn into_buf(self) {}
}
