//! [`TlsStream`]: a [`TlsConn`] owned by an [`Io`], through an [`Adapter`].

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use iox::{Error, ErrorKind, Result};
use rustls::{ClientConfig, ServerConfig};
use sock::{TcpConn, UnixConn};
use sonic_io::{Adapter, ByteStream, Io, ReadAhead, Stream, StreamId, StreamSock, Timer};

use crate::conn::TlsConn;

/// What a handshake bounded by [`TlsStream::accept_within`] (or `connect_within`,
/// `start_within`) fails with when its time passes first.
const HANDSHAKE_TIMED_OUT: Error =
    Error::with_context(ErrorKind::TimedOut, "TLS handshake timed out");

/// A TLS connection owned by an [`Io`]: a `Copy` handle over an
/// [`Adapter`]`<`[`TlsConn`]`<S>>`.
///
/// It derefs to that adapter, so it has the reactor's byte operations, with their rules:
/// [`async_read`](Adapter::async_read), [`async_read_exact`](Adapter::async_read_exact),
/// [`async_write`](Adapter::async_write), [`async_write_all`](Adapter::async_write_all),
/// [`async_read_into`](Adapter::async_read_into) and
/// [`async_write_from`](Adapter::async_write_from) a FIFO, non-blocking
/// [`read`](Adapter::read)/[`write`](Adapter::write), [`cancel`](Adapter::cancel). Each
/// tries at once and completes inline when the plaintext is already decrypted or the
/// socket takes the records (under the dispatch-depth rule); otherwise it is retried on
/// every edge of the socket, read or write, since TLS may need one to make progress on the
/// other. Closing completes each pending operation once with `Cancelled`. A write
/// completes when its records are in the socket (see [`TlsConn`]'s rules). It is a
/// [`ByteStream`], so a [`CodecConn`](sonic_io::codec::CodecConn) runs over it.
///
/// ```no_run
/// use sonic_io::Io;
/// use sonic_tls::{ClientOptions, TlsStream};
/// # fn main() -> iox::Result<()> {
/// let mut io = Io::new()?;
/// let config = ClientOptions::new().pem_roots(&std::fs::read("ca.pem").unwrap())?.build()?;
/// let tcp = sock::TcpConn::connect("127.0.0.1:8443")?;
/// TlsStream::connect(&mut io, tcp, config, "localhost", |io, r| {
///     let tls = r.unwrap();
///     tls.async_write_all(io, b"ping", |_, r, _| r.map(drop).unwrap()).unwrap();
/// })?;
/// io.run()?;
/// # Ok(()) }
/// ```
pub struct TlsStream<S = TcpConn>(Adapter<TlsConn<S>>);

impl<S> Clone for TlsStream<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for TlsStream<S> {}
impl<S> PartialEq for TlsStream<S> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl<S> Eq for TlsStream<S> {}
impl<S> std::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsStream({:?})", self.0)
    }
}

impl<S> std::ops::Deref for TlsStream<S> {
    type Target = Adapter<TlsConn<S>>;

    fn deref(&self) -> &Adapter<TlsConn<S>> {
        &self.0
    }
}

/// A connected socket a TLS stream can start from: the socket itself, or a
/// [`Stream`] of the same Io, taken back (deregistered) first.
pub trait IntoConn<S> {
    /// The socket, out of `io` if it was registered there.
    fn into_conn(self, io: &mut Io) -> Result<S>;

    /// The socket and the bytes already read from it that the TLS stream must see first
    /// (a [`Stream`]'s read-ahead: see [`Stream::take_with_read_ahead`]). None by default.
    fn into_conn_with_received(self, io: &mut Io) -> Result<(S, ReadAhead)>
    where
        Self: Sized,
    {
        Ok((self.into_conn(io)?, ReadAhead::default()))
    }
}

impl<S: Read + Write + AsFd> IntoConn<S> for S {
    fn into_conn(self, _: &mut Io) -> Result<S> {
        Ok(self)
    }
}

impl<C: StreamSock> IntoConn<C> for Stream<C> {
    fn into_conn(self, io: &mut Io) -> Result<C> {
        self.take(io)
    }

    fn into_conn_with_received(self, io: &mut Io) -> Result<(C, ReadAhead)> {
        self.take_with_read_ahead(io)
    }
}

impl<S: Read + Write + AsFd + 'static> TlsStream<S> {
    /// Starts a client handshake with `server_name` over `sock` (a connected socket, or a
    /// [`Stream`] of this Io, which is taken back first) and completes `cb` once: with the
    /// stream when the handshake is over, or with its error (see
    /// [`tls_error`](crate::tls_error)), the socket then closed. A refusal to start (a bad
    /// name, a stale handle) is returned and `cb` dropped unrun.
    pub fn connect<F>(
        io: &mut Io,
        sock: impl IntoConn<S>,
        config: Arc<ClientConfig>,
        server_name: &str,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        TlsStream::connect_bounded(io, sock, config, server_name, None, cb)
    }

    /// Starts a server handshake over the accepted `sock` (or a [`Stream`] of this Io) and
    /// completes `cb` once, as [`connect`](Self::connect) does.
    pub fn accept<F>(
        io: &mut Io,
        sock: impl IntoConn<S>,
        config: Arc<ServerConfig>,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        TlsStream::accept_bounded(io, sock, config, None, cb)
    }

    /// [`accept`](Self::accept) with a bound on the handshake: if it is not over within
    /// `timeout`, the socket is closed and `cb` gets `TimedOut`. For a server open to
    /// untrusted clients: a client that connects and sends nothing, or half a ClientHello,
    /// holds its descriptor only that long (`tests/stream.rs`,
    /// `a_handshake_that_does_not_finish_in_time_is_timed_out`).
    pub fn accept_within<F>(
        io: &mut Io,
        sock: impl IntoConn<S>,
        config: Arc<ServerConfig>,
        timeout: Duration,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        TlsStream::accept_bounded(io, sock, config, Some(timeout), cb)
    }

    /// [`connect`](Self::connect) with a bound on the handshake, as
    /// [`accept_within`](Self::accept_within).
    pub fn connect_within<F>(
        io: &mut Io,
        sock: impl IntoConn<S>,
        config: Arc<ClientConfig>,
        server_name: &str,
        timeout: Duration,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        TlsStream::connect_bounded(io, sock, config, server_name, Some(timeout), cb)
    }

    fn accept_bounded<F>(
        io: &mut Io,
        sock: impl IntoConn<S>,
        config: Arc<ServerConfig>,
        timeout: Option<Duration>,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        TlsStream::start_on(io, sock, |s| TlsConn::server(s, config), timeout, cb)
    }

    fn connect_bounded<F>(
        io: &mut Io,
        sock: impl IntoConn<S>,
        config: Arc<ClientConfig>,
        server_name: &str,
        timeout: Option<Duration>,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        TlsStream::start_on(
            io,
            sock,
            |s| TlsConn::client(s, config, server_name),
            timeout,
            cb,
        )
    }

    /// Takes `sock` out of the Io with what it read ahead, makes its `TlsConn` (`make`),
    /// hands the early bytes to it and starts the handshake.
    fn start_on<F>(
        io: &mut Io,
        sock: impl IntoConn<S>,
        make: impl FnOnce(S) -> Result<TlsConn<S>>,
        timeout: Option<Duration>,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        let (sock, early) = sock.into_conn_with_received(io)?;
        let mut conn = make(sock)?;
        conn.push_received(&early)?;
        TlsStream::start_within(io, conn, timeout, cb)
    }

    /// Registers `conn` and drives its handshake (`conn` may already be past it: then `cb`
    /// completes at once).
    pub fn start<F>(io: &mut Io, conn: TlsConn<S>, cb: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        TlsStream::start_within(io, conn, None, cb)
    }

    /// [`start`](Self::start), the handshake bounded by `timeout` if there is one: when it
    /// passes first, the connection is closed (the handshake's operation completes with
    /// `Cancelled`) and `cb` gets `TimedOut`.
    pub fn start_within<F>(
        io: &mut Io,
        conn: TlsConn<S>,
        timeout: Option<Duration>,
        cb: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<TlsStream<S>>) + 'static,
    {
        let a = Adapter::new(io, conn)?;
        let timer = match timeout {
            Some(d) => {
                let t = match Timer::new(io) {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = a.close(io);
                        return Err(e);
                    }
                };
                if let Err(e) = t.schedule_once(io, d, move |io, _| {
                    let _ = a.close(io);
                }) {
                    t.close(io);
                    let _ = a.close(io);
                    return Err(e);
                }
                Some(t)
            }
            None => None,
        };
        // Ends the timer; whether it fired (and so closed the connection).
        let fired = move |io: &mut Io| {
            timer.is_some_and(|t| {
                // A closed Io cancels nothing (it completes the handshake with
                // `Cancelled`): the timer did not fire then.
                let fired = !t.cancel(io) && !io.closed();
                t.close(io);
                fired
            })
        };
        let r = a.async_drive(
            io,
            |c: &mut TlsConn<S>| c.handshake_step(),
            move |io, r| match r {
                Ok(()) => {
                    fired(io);
                    cb(io, Ok(TlsStream(a)))
                }
                Err(e) => {
                    let e = if fired(io) { HANDSHAKE_TIMED_OUT } else { e };
                    let _ = a.close(io);
                    cb(io, Err(e))
                }
            },
        );
        if let Err(e) = r {
            fired(io);
            let _ = a.close(io);
            return Err(e);
        }
        Ok(())
    }

    /// The adapter underneath.
    pub fn adapter(self) -> Adapter<TlsConn<S>> {
        self.0
    }

    /// TLS 1.3: sends a KeyUpdate asking the peer to update too and switches to the next
    /// sending keys (see [`TlsConn::update_keys`]). The update is written at once when the
    /// socket has room, else with the stream's next operation.
    pub fn update_keys(self, io: &mut Io) -> Result<()> {
        match self.0.get_mut(io)?.update_keys() {
            Err(e) if e.is_would_block() => Ok(()),
            r => r,
        }
    }

    /// Lends the connection: ALPN, version, SNI, peer certificates.
    pub fn get(self, io: &Io) -> Result<&TlsConn<S>> {
        self.0.get(io)
    }

    /// Closes with close_notify: first each pending operation completes once with
    /// `Cancelled` (a write cancelled half-way still sends the rest of its last record, so
    /// the stream stays well-formed), then close_notify is sent (waiting for room in the
    /// socket as long as needed), then the connection is closed; `cb` completes once with
    /// the first error. The handle is stale afterwards.
    pub fn close<F>(self, io: &mut Io, cb: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<()>) + 'static,
    {
        let a = self.0;
        a.cancel(io)?;
        a.async_drive(
            io,
            |c: &mut TlsConn<S>| c.send_close_notify(),
            move |io, r| {
                let closed = a.close(io);
                cb(io, r.and(closed))
            },
        )
    }

    /// Sends close_notify and completes `cb` once it is in the socket, keeping the stream
    /// open to read the rest of what the peer sends (until its own close_notify, `Ok(0)`).
    /// No write may follow.
    pub fn async_close_notify<F>(self, io: &mut Io, cb: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<()>) + 'static,
    {
        self.0
            .async_drive(io, |c: &mut TlsConn<S>| c.send_close_notify(), cb)
    }

    /// Closes at once, without close_notify (the peer sees a truncation): pending
    /// operations complete with `Cancelled`.
    pub fn abort(self, io: &mut Io) -> Result<()> {
        self.0.close(io)
    }

    /// Removes the connection from `io` (pending operations complete with `Cancelled`) and
    /// hands it back.
    pub fn take(self, io: &mut Io) -> Result<TlsConn<S>> {
        self.0.take(io)
    }
}

macro_rules! shutdown {
    ($t:ty) => {
        impl TlsStream<$t> {
            /// Sends close_notify, then shuts the socket's writing side down (the TLS and
            /// TCP half-close), and completes `cb` once; reads go on until the peer's
            /// close_notify. See `shutdown(2)`.
            pub fn shutdown<F>(self, io: &mut Io, cb: F) -> Result<()>
            where
                F: FnOnce(&mut Io, Result<()>) + 'static,
            {
                self.0.async_drive(
                    io,
                    |c: &mut TlsConn<$t>| {
                        c.send_close_notify()?;
                        c.get_ref().shutdown(std::net::Shutdown::Write)
                    },
                    cb,
                )
            }
        }
    };
}
shutdown!(TcpConn);
shutdown!(UnixConn);

impl<S: Read + Write + AsFd + 'static> ByteStream for TlsStream<S> {
    fn stream_id(self) -> StreamId {
        self.0.stream_id()
    }

    /// [`close`](TlsStream::close) with nothing to call back: pending operations complete
    /// with `Cancelled`, close_notify is sent (waiting for room as long as needed), then the
    /// socket is closed.
    fn close_gracefully(self, io: &mut Io) -> Result<()> {
        self.close(io, |_, _| {})
    }
}
