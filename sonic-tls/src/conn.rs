//! [`TlsConn`]: a non-blocking TLS connection over rustls's unbuffered API and two FIFOs.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use iox::{Error, ErrorKind, Result};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rustls::{ClientConfig, ProtocolVersion, ServerConfig};
use sonic_bytes::{ByteBuffer, Fifo};

use crate::error::{HANDSHAKE_EOF, TRUNCATED, tls_error};
use crate::records::{
    ALERT, APPLICATION_DATA, AlertAction, Fatal, HANDSHAKE, Keeper, Opened, Records,
};

/// The most plaintext one TLS record carries (2^14 bytes).
pub const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

/// The most plaintext one [`TlsConn::write`] call takes: four full records.
pub const MAX_WRITE: usize = 4 * MAX_RECORD_PLAINTEXT;

/// Room for a record's header, explicit nonce, inner content type and tag (at most 29
/// bytes in TLS 1.2 with AES-GCM; 22 in TLS 1.3), rounded up.
const RECORD_OVERHEAD: usize = 64;

/// Initial size of the receive FIFO: room for several records of ciphertext, so a read
/// from the socket never has to grow it once the handshake is over.
const RX_CAPACITY: usize = 64 * 1024;
/// Initial size of the send FIFO: one [`MAX_WRITE`] of ciphertext plus a key update and
/// an alert.
const TX_CAPACITY: usize = MAX_WRITE + 4 * RECORD_OVERHEAD + 1024;
/// Initial size of the plaintext FIFO (a decrypted record the caller's buffer could not
/// take at once).
const PLAIN_CAPACITY: usize = 2 * MAX_RECORD_PLAINTEXT;
/// The least free space a socket read offers the kernel.
const MIN_READ: usize = 4096;

const WRITE_AFTER_CLOSE: Error =
    Error::with_context(ErrorKind::Closed, "TLS: write after close_notify was sent");
const NOT_CONNECTED: Error = Error::with_context(
    ErrorKind::NotConnected,
    "TLS: the handshake is not complete",
);
const SEND_ZERO: Error =
    Error::with_context(ErrorKind::ShortWrite, "TLS: the socket took no bytes");
const NO_ROOM: Error = Error::with_context(
    ErrorKind::OutOfMemory,
    "TLS: could not size the send buffer for a record",
);
const NO_KEY_UPDATE: Error = Error::with_context(
    ErrorKind::Unsupported,
    "TLS: key updates need TLS 1.3 and a config that allows secret extraction",
);
const SHORT_RETRY: Error = Error::invalid_input(
    "TLS: write retried with fewer bytes than its queued record holds (retry the same bytes)",
);

/// How many buffers of each kind a thread keeps from dropped connections.
const SPARES_PER_KIND: usize = 8;

#[derive(Clone, Copy)]
enum Kind {
    Rx,
    Tx,
    Plain,
}

impl Kind {
    const fn capacity(self) -> usize {
        match self {
            Kind::Rx => RX_CAPACITY,
            Kind::Tx => TX_CAPACITY,
            Kind::Plain => PLAIN_CAPACITY,
        }
    }
}

thread_local! {
    /// The FIFOs of connections dropped on this thread, for the next connections: a new
    /// connection takes them instead of allocating and zeroing ~163 KiB (and, when they were
    /// freed at the top of the heap, having the allocator return the pages to the kernel
    /// and fault them in again).
    static SPARES: RefCell<[Vec<ByteBuffer>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// One of a connection's FIFOs: taken from this thread's spares (or allocated at its
/// kind's capacity) and given back, emptied, when the connection is dropped.
struct Spared(ByteBuffer, Kind);

impl Spared {
    fn take(kind: Kind) -> Spared {
        let spare = SPARES
            .try_with(|s| s.borrow_mut()[kind as usize].pop())
            .ok()
            .flatten();
        Spared(
            spare.unwrap_or_else(|| ByteBuffer::with_capacity(kind.capacity())),
            kind,
        )
    }
}

impl std::ops::Deref for Spared {
    type Target = ByteBuffer;

    fn deref(&self) -> &ByteBuffer {
        &self.0
    }
}

impl std::ops::DerefMut for Spared {
    fn deref_mut(&mut self) -> &mut ByteBuffer {
        &mut self.0
    }
}

impl Drop for Spared {
    fn drop(&mut self) {
        let kind = self.1;
        // A buffer that grew past twice its size is let go rather than kept.
        if self.0.capacity() > 2 * kind.capacity() {
            return;
        }
        let mut b = std::mem::take(&mut self.0);
        b.clear();
        let _ = SPARES.try_with(|s| {
            let mut s = s.borrow_mut();
            let list = &mut s[kind as usize];
            if list.len() < SPARES_PER_KIND {
                list.push(b);
            }
        });
    }
}

thread_local! {
    /// The server name of the last ClientHello a [`crate::SniRecorder`] saw on this thread;
    /// a server connection takes it after each handshake step (the resolver runs inside
    /// the step, on this thread).
    pub(crate) static LAST_SNI: RefCell<Option<Box<str>>> = const { RefCell::new(None) };
}

enum Side {
    Client(Box<UnbufferedClientConnection>),
    Server(Box<UnbufferedServerConnection>),
    /// After the handshake: rustls handed the keys over; records are done here.
    Records(Box<Offloaded>),
    /// The handover failed (the error is sticky).
    Gone,
}

/// The record layer of a connection past its handshake, and what the handshake settled.
struct Offloaded {
    records: Records,
    suite: rustls::SupportedCipherSuite,
    alpn: Option<Vec<u8>>,
    peer_certificates: Option<Vec<CertificateDer<'static>>>,
    resumed: bool,
}

/// The plaintext of an opened application-data record at the front of the receive FIFO,
/// not yet read: `pos..end` of the FIFO's data; the record spans `len` bytes.
#[derive(Clone, Copy, Debug)]
struct Window {
    pos: usize,
    end: usize,
    len: usize,
}

/// What the caller of one processing step wants from the `WriteTraffic` state.
enum Want<'a> {
    /// Plaintext into `out` (the rest of a record into `plain`).
    Read(&'a mut [u8]),
    /// The handshake, or whatever the peer sent.
    Drive,
    /// These bytes encrypted into the send FIFO.
    Write(&'a [u8]),
    /// A close_notify alert into the send FIFO.
    CloseNotify,
}

/// What one processing step did.
enum Step {
    /// Handled a state; process again.
    Again,
    /// Copied this many plaintext bytes into the caller's buffer (and maybe more into
    /// `plain`).
    Plain(usize),
    /// Nothing more without new bytes from the peer (blocked handshake, or idle traffic).
    Idle,
    /// Encrypted the bytes (or close_notify) into the send FIFO.
    Queued,
    /// Both sides sent close_notify.
    Closed,
    /// The handshake is over and nothing is left in the receive FIFO: rustls may hand
    /// the record layer over.
    Ready,
}

/// A non-blocking TLS connection (client or server) over a non-blocking socket `S`.
///
/// Built on rustls's unbuffered API: ciphertext from the socket is read into the
/// connection's receive FIFO (a [`ByteBuffer`]) and decrypted where it lies there;
/// outgoing records are encrypted into the send FIFO and written to the socket from it.
/// All three buffers (receive, send, and a plaintext FIFO for the part of a record the
/// caller's buffer could not take during the handshake) are sized once, at creation, and
/// taken from the buffers that connections dropped on the same thread left (up to 8 of each
/// kind are kept per thread).
///
/// **The record layer after the handshake.** When the config allows secret extraction
/// (`enable_secret_extraction`, which [`ClientOptions`](crate::ClientOptions) and
/// [`ServerOptions`](crate::ServerOptions) set), rustls hands the traffic keys over once
/// the handshake is done, and this crate seals and opens records itself with ring's AEADs,
/// in place in the two FIFOs: **no allocation per record** (rustls's own record path
/// allocates two buffers per record) and no copy beyond the plaintext into or out of the
/// FIFOs. rustls keeps deriving keys for TLS 1.3 key updates (both ways; see
/// [`update_keys`](Self::update_keys)) and storing the session tickets a server sends.
/// With a config that does not allow it, rustls's record path is used throughout.
///
/// Rules of the non-blocking calls:
///
/// * [`read`](Self::read) returns plaintext, `WouldBlock` when none has arrived, `Ok(0)`
///   once the peer sent close_notify and everything before it was read, and
///   [`TRUNCATED`](crate::TRUNCATED) (`UnexpectedEof`) when the TCP stream ended without
///   close_notify. It drives the handshake if that is not over.
/// * [`write`](Self::write) encrypts up to [`MAX_WRITE`] bytes and writes the records to the
///   socket. **A write returns `Ok(n)` only when the records holding those `n` bytes are all
///   in the socket.** If the socket takes only part, the rest stays queued and `write`
///   returns `WouldBlock`; the next call (with the same bytes, as any std `Write` caller
///   retries, and as the reactor does) flushes the queue first and then returns `Ok(n)`,
///   without encrypting again. So a queued record is never stranded behind a completed
///   write: whoever was told `WouldBlock` comes back, and a reactor operation stays armed
///   (and retried on every edge) until the socket took the last byte.
/// * Records the connection sends on its own (handshake flights, session tickets, key
///   updates, alerts) are flushed by every call of any kind; [`flush`](Self::flush) says
///   `WouldBlock` while some remain.
/// * An error from rustls or the socket is sticky: every later call returns it.
///
/// ```no_run
/// use std::io::{Read, Write};
/// # fn main() -> iox::Result<()> {
/// let config = sonic_tls::ClientOptions::new().pem_roots(b"...")?.build()?;
/// let tcp = sock::TcpConn::connect("127.0.0.1:8443")?;
/// let mut tls = sonic_tls::TlsConn::client(tcp, config, "example.com")?;
/// while tls.is_handshaking() {
///     match tls.handshake_step() {
///         Err(e) if e.is_would_block() => { /* wait for the socket */ }
///         r => r?,
///     }
/// }
/// # Ok(()) }
/// ```
pub struct TlsConn<S> {
    side: Side,
    sock: S,
    rx: Spared,
    tx: Spared,
    plain: Spared,
    /// Plaintext bytes encrypted into `tx` whose write has not returned `Ok` yet.
    unacked: usize,
    error: Option<Error>,
    peer_closed: bool,
    sent_close_notify: bool,
    sni: Option<Box<str>>,
    /// The config allows secret extraction: the record layer moves here after the
    /// handshake.
    offload: bool,
    /// Plaintext of the record at the front of `rx`, opened but not all read.
    window: Option<Window>,
    server: bool,
}

impl<S> std::fmt::Debug for TlsConn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("server", &self.server)
            .field("owns_record_layer", &self.owns_record_layer())
            .field("handshaking", &self.is_handshaking())
            .field("version", &self.protocol_version())
            .field("rx", &self.rx.len())
            .field("tx", &self.tx.len())
            .field("plain", &self.plain.len())
            .field("error", &self.error)
            .field("peer_closed", &self.peer_closed)
            .finish()
    }
}

impl<S: Read + Write + AsFd> TlsConn<S> {
    /// A client connection to `server_name` (a DNS name, checked against the server's
    /// certificate and sent as SNI, or an IP address) over the connected socket `sock`.
    /// Nothing is sent yet: the first [`handshake_step`](Self::handshake_step), read or
    /// write sends the ClientHello.
    pub fn client(sock: S, config: Arc<ClientConfig>, server_name: &str) -> Result<TlsConn<S>> {
        let name = ServerName::try_from(server_name)
            .map_err(|_| Error::invalid_input("TLS: invalid server name"))?
            .to_owned();
        let offload = config.enable_secret_extraction;
        let conn = UnbufferedClientConnection::new(config, name).map_err(|e| tls_error(&e))?;
        Ok(TlsConn::new(Side::Client(Box::new(conn)), sock, offload))
    }

    /// A server connection over the accepted socket `sock`.
    pub fn server(sock: S, config: Arc<ServerConfig>) -> Result<TlsConn<S>> {
        let offload = config.enable_secret_extraction;
        let conn = UnbufferedServerConnection::new(config).map_err(|e| tls_error(&e))?;
        Ok(TlsConn::new(Side::Server(Box::new(conn)), sock, offload))
    }

    fn new(side: Side, sock: S, offload: bool) -> TlsConn<S> {
        TlsConn {
            sock,
            rx: Spared::take(Kind::Rx),
            tx: Spared::take(Kind::Tx),
            plain: Spared::take(Kind::Plain),
            unacked: 0,
            error: None,
            peer_closed: false,
            sent_close_notify: false,
            sni: None,
            offload,
            window: None,
            server: matches!(side, Side::Server(_)),
            side,
        }
    }

    /// Advances the handshake as far as the socket allows: `Ok(())` once it is complete
    /// and our last flight is in the socket, `WouldBlock` while it waits for the peer or
    /// for room in the socket, or the handshake's error (see [`tls_error`](crate::tls_error)).
    pub fn handshake_step(&mut self) -> Result<()> {
        self.check()?;
        loop {
            // rustls may report the handshake over while its last flight still waits to be
            // encoded (a TLS 1.2 server's Finished): only an idle state ends the step.
            match self.process(Want::Drive)? {
                Step::Idle if !self.is_handshaking() => {
                    return if self.flush_unowned()? {
                        Ok(())
                    } else {
                        Err(Error::WOULD_BLOCK)
                    };
                }
                Step::Idle => self.fill(true)?,
                Step::Closed => return Err(HANDSHAKE_EOF),
                Step::Again | Step::Plain(_) | Step::Queued | Step::Ready => {}
            }
        }
    }

    /// Reads plaintext into `buf` (see the rules on [`TlsConn`]).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.plain.is_empty() {
            let n = buf.len().min(self.plain.len());
            buf[..n].copy_from_slice(&self.plain.data()[..n]);
            self.plain.consume(n);
            return Ok(n);
        }
        self.check()?;
        self.flush_unowned()?;
        loop {
            if self.peer_closed {
                return Ok(0);
            }
            match self.process(Want::Read(buf))? {
                Step::Plain(n) if n > 0 => return Ok(n),
                Step::Idle => self.fill(self.is_handshaking())?,
                Step::Closed => self.peer_closed = true,
                Step::Again | Step::Plain(_) | Step::Queued | Step::Ready => {}
            }
        }
    }

    /// Encrypts up to [`MAX_WRITE`] bytes of `buf` and writes them (see the rules on
    /// [`TlsConn`]: `WouldBlock` keeps a partly written record queued for the next call).
    pub fn write(&mut self, buf: &[u8]) -> Result<usize> {
        self.check()?;
        if self.unacked > 0 {
            if buf.len() < self.unacked {
                return Err(SHORT_RETRY);
            }
            if !self.flush_tx()? {
                return Err(Error::WOULD_BLOCK);
            }
            return Ok(std::mem::take(&mut self.unacked));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.sent_close_notify {
            return Err(WRITE_AFTER_CLOSE);
        }
        if !self.flush_tx()? {
            return Err(Error::WOULD_BLOCK);
        }
        if self.is_handshaking() {
            self.handshake_step()?;
        }
        let n = buf.len().min(MAX_WRITE);
        loop {
            match self.process(Want::Write(&buf[..n]))? {
                Step::Queued => break,
                Step::Idle => return Err(NOT_CONNECTED),
                Step::Closed => return Err(WRITE_AFTER_CLOSE),
                Step::Again | Step::Plain(_) | Step::Ready => {}
            }
        }
        if self.flush_tx()? {
            Ok(n)
        } else {
            self.unacked = n;
            Err(Error::WOULD_BLOCK)
        }
    }

    /// Writes queued records to the socket: `Ok(())` when none remain, `WouldBlock` while
    /// the socket has no room.
    pub fn flush(&mut self) -> Result<()> {
        self.check()?;
        if self.flush_tx()? {
            Ok(())
        } else {
            Err(Error::WOULD_BLOCK)
        }
    }

    /// Queues a close_notify alert (once; later calls only flush) and flushes: `Ok(())`
    /// once it is in the socket, `WouldBlock` while it waits for room. No write may follow.
    /// The peer's own close_notify then makes [`read`](Self::read) return `Ok(0)`.
    pub fn send_close_notify(&mut self) -> Result<()> {
        self.check()?;
        if !self.sent_close_notify {
            if self.is_handshaking() {
                return Err(NOT_CONNECTED);
            }
            loop {
                match self.process(Want::CloseNotify)? {
                    Step::Queued | Step::Closed => break,
                    Step::Idle => return Err(NOT_CONNECTED),
                    Step::Again | Step::Plain(_) | Step::Ready => {}
                }
            }
            self.sent_close_notify = true;
        }
        self.flush()
    }

    /// Lends the socket.
    pub fn get_ref(&self) -> &S {
        &self.sock
    }

    /// Lends the socket mutably (writing to it directly breaks the TLS stream).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.sock
    }

    /// Bytes already read from the socket that belong to this connection's stream: read
    /// past a header the application parsed first (a PROXY protocol header, say), or the
    /// read-ahead of a sonic-io stream ([`sonic_io::Stream::take_with_read_ahead`]). They
    /// are taken before anything the socket still holds. Call it before the first
    /// handshake step; `NoBufferSpace` if the receive buffer cannot take them.
    ///
    /// ```
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let config = std::sync::Arc::new(
    /// #     rustls::ServerConfig::builder()
    /// #         .with_no_client_auth()
    /// #         .with_cert_resolver(std::sync::Arc::new(rustls::server::ResolvesServerCertUsingSni::new())),
    /// # );
    /// let mut conn = sonic_tls::TlsConn::server(a, config).unwrap();
    /// // Bytes of the ClientHello that came with the header the server read first.
    /// conn.push_received(&[0x16, 0x03, 0x01]).unwrap();
    /// ```
    pub fn push_received(&mut self, bytes: &[u8]) -> Result<()> {
        let dst = self.rx.claim(bytes.len());
        if dst.len() < bytes.len() {
            self.rx.commit(0);
            return Err(Error::with_context(
                ErrorKind::NoBufferSpace,
                "TLS: the bytes received early do not fit the receive buffer",
            ));
        }
        dst[..bytes.len()].copy_from_slice(bytes);
        self.rx.commit(bytes.len());
        Ok(())
    }

    /// Hands the socket back; queued records are dropped.
    pub fn into_inner(self) -> S {
        self.sock
    }

    /// One socket read into the receive FIFO. `Ok(())` when bytes arrived; `WouldBlock`,
    /// the socket's error, or end of stream as an error.
    fn fill(&mut self, handshaking: bool) -> Result<()> {
        self.flush_unowned()?;
        let want = self.rx.free().max(MIN_READ);
        match self.rx.read_from(&mut self.sock, want) {
            Ok(0) => {
                let e = if handshaking {
                    HANDSHAKE_EOF
                } else if self.peer_closed {
                    return Ok(());
                } else {
                    TRUNCATED
                };
                self.error = Some(e);
                Err(e)
            }
            Ok(_) => Ok(()),
            Err(e) => {
                let e = Error::from(e);
                if !e.is_would_block() && e.kind() != ErrorKind::Interrupted {
                    self.error = Some(e);
                }
                Err(e)
            }
        }
    }

    /// Flushes records no write is waiting on (handshake flights, tickets, alerts). While a
    /// write's records are queued, only writes flush: a read that emptied the queue would
    /// leave that write waiting for a writable edge that may never come.
    fn flush_unowned(&mut self) -> Result<bool> {
        if self.unacked > 0 {
            return Ok(false);
        }
        self.flush_tx()
    }

    /// Writes the send FIFO to the socket: `Ok(true)` when it is empty.
    fn flush_tx(&mut self) -> Result<bool> {
        while !self.tx.is_empty() {
            match self.tx.write_to(&mut self.sock) {
                Ok(0) => {
                    self.error = Some(SEND_ZERO);
                    return Err(SEND_ZERO);
                }
                Ok(_) => {}
                Err(e) => {
                    let e = Error::from(e);
                    if e.is_would_block() {
                        return Ok(false);
                    }
                    if e.kind() == ErrorKind::Interrupted {
                        continue;
                    }
                    self.error = Some(e);
                    return Err(e);
                }
            }
        }
        Ok(true)
    }

    fn check(&self) -> Result<()> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One processing step: during the handshake (and throughout when the config does not
    /// allow secret extraction) one call of rustls's `process_tls_records` over the receive
    /// FIFO, its state handled; after the handover, the crate's own record layer.
    fn process(&mut self, mut want: Want<'_>) -> Result<Step> {
        if !matches!(self.side, Side::Client(_) | Side::Server(_)) {
            return self.process_records(want);
        }
        let offload = self.offload;
        let TlsConn {
            side,
            rx,
            tx,
            plain,
            peer_closed,
            ..
        } = self;
        let mut parts = Parts {
            tx,
            plain,
            peer_closed,
            offload,
            rx_len: rx.len(),
        };
        let record_sni = matches!(side, Side::Server(c) if c.is_handshaking());
        if record_sni {
            LAST_SNI.with(|s| s.borrow_mut().take());
        }
        let (discard, step) = match side {
            Side::Client(c) => parts.handle(c.process_tls_records(rx.data_mut()), &mut want),
            Side::Server(c) => parts.handle(c.process_tls_records(rx.data_mut()), &mut want),
            Side::Records(_) | Side::Gone => (0, Err(rustls::Error::HandshakeNotComplete)),
        };
        rx.consume(discard);
        if record_sni && let Some(name) = LAST_SNI.with(|s| s.borrow_mut().take()) {
            self.sni = Some(name);
        }
        match step {
            Ok(Step::Ready) => {
                self.hand_over()?;
                Ok(Step::Again)
            }
            Ok(s) => Ok(s),
            Err(e) => {
                let e = tls_error(&e);
                self.error = Some(e);
                self.send_alert();
                Err(e)
            }
        }
    }

    /// Takes the traffic keys from rustls (the handshake is over and the receive FIFO
    /// empty, so no record is half processed) and moves to the crate's record layer.
    fn hand_over(&mut self) -> Result<()> {
        let side = std::mem::replace(&mut self.side, Side::Gone);
        let settled = match &side {
            Side::Client(c) => settled(c),
            Side::Server(c) => settled(c),
            Side::Records(_) | Side::Gone => None,
        };
        let handed = match side {
            Side::Client(c) => (*c)
                .dangerous_into_kernel_connection()
                .map(|(s, k)| (s, Keeper::Client(k))),
            Side::Server(c) => (*c)
                .dangerous_into_kernel_connection()
                .map(|(s, k)| (s, Keeper::Server(k))),
            other => {
                self.side = other;
                return Ok(());
            }
        };
        let Some((suite, alpn, peer_certificates, resumed)) = settled else {
            return Err(self.fail_with(tls_error(&rustls::Error::HandshakeNotComplete)));
        };
        let records = match handed {
            Ok((secrets, keeper)) => Records::new(secrets, keeper, suite),
            Err(e) => return Err(self.fail_with(tls_error(&e))),
        };
        match records {
            Ok(records) => {
                self.side = Side::Records(Box::new(Offloaded {
                    records,
                    suite,
                    alpn,
                    peer_certificates,
                    resumed,
                }));
                Ok(())
            }
            Err(f) => Err(self.fail_with(f.error)),
        }
    }

    /// One step of the crate's record layer (after the handover).
    fn process_records(&mut self, want: Want<'_>) -> Result<Step> {
        let TlsConn {
            side: Side::Records(off),
            rx,
            tx,
            window,
            peer_closed,
            ..
        } = self
        else {
            return Err(self.error.unwrap_or(NOT_CONNECTED));
        };
        let records = &mut off.records;
        let result = match want {
            Want::Drive => Ok(Step::Idle),
            Want::Write(data) => records
                .seal(tx, APPLICATION_DATA, data)
                .map(|()| Step::Queued),
            Want::CloseNotify => records.seal_close_notify(tx).map(|()| Step::Queued),
            Want::Read(out) => read_records(records, rx, tx, window, peer_closed, out),
        };
        result.map_err(|f| self.fail(f))
    }

    /// Makes a record-layer failure sticky, seals its alert and tries once to send it.
    fn fail(&mut self, f: Fatal) -> Error {
        let e = f.error;
        self.error = Some(e);
        if let (Some(alert), Side::Records(off)) = (f.alert, &mut self.side) {
            off.records.seal_fatal_alert(&mut self.tx, alert);
            self.send_queued_once();
        }
        e
    }

    fn fail_with(&mut self, e: Error) -> Error {
        self.error = Some(e);
        e
    }

    /// TLS 1.3, after the handshake: sends a KeyUpdate that asks the peer to update its
    /// keys too, and switches to the next sending keys (RFC 8446 4.6.3). Records already
    /// queued keep the old keys; the update is flushed like the handshake's records.
    /// Sending keys are also updated by themselves before AES-GCM's confidentiality limit,
    /// and a peer's request is answered; this call is for a policy of your own (e.g.
    /// hourly). `Unsupported` on TLS 1.2, or with a config that does not allow secret
    /// extraction (rustls's unbuffered API offers no key update).
    pub fn update_keys(&mut self) -> Result<()> {
        self.check()?;
        if self.sent_close_notify {
            return Err(WRITE_AFTER_CLOSE);
        }
        if self.is_handshaking() {
            return Err(NOT_CONNECTED);
        }
        let Side::Records(off) = &mut self.side else {
            return Err(NO_KEY_UPDATE);
        };
        if off.records.version() != ProtocolVersion::TLSv1_3 {
            return Err(NO_KEY_UPDATE);
        }
        if let Err(f) = off.records.send_key_update(&mut self.tx, true) {
            return Err(self.fail(f));
        }
        self.flush_unowned().map(drop)
    }

    /// TLS 1.3, after the handshake: updates the sending keys by themselves (a KeyUpdate
    /// that does not ask the peer for one) every `records` records, `records` at least 1.
    /// By default, and at most, the cipher's confidentiality limit (2^24 records for
    /// AES-128-GCM, 2^23 for AES-256-GCM; ChaCha20-Poly1305 has none). `Unsupported` as for
    /// [`update_keys`](Self::update_keys).
    pub fn set_records_per_key(&mut self, records: u64) -> Result<()> {
        self.check()?;
        if self.is_handshaking() {
            return Err(NOT_CONNECTED);
        }
        match &mut self.side {
            Side::Records(off) if off.records.version() == ProtocolVersion::TLSv1_3 => {
                let limit = Records::cipher_limit(off.suite);
                off.records.set_records_per_key(records, limit);
                Ok(())
            }
            _ => Err(NO_KEY_UPDATE),
        }
    }

    /// Fuzzing only (feature `fuzzing`): seals `payload` as records of content type `typ`
    /// with this connection's keys, after the handover, and queues them for the next call to
    /// flush. It lets a fuzz target reach the peer's record handling past authentication.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn fuzz_seal_record(&mut self, typ: u8, payload: &[u8]) -> Result<()> {
        match &mut self.side {
            Side::Records(off) => off
                .records
                .seal(&mut self.tx, typ, payload)
                .map_err(|f| f.error),
            _ => Err(NOT_CONNECTED),
        }
    }

    /// After an error: encodes the alert rustls queued, if any, and tries once to send it.
    /// rustls is asked only while it holds a record to send: it hands that out before it
    /// looks at the received bytes, so the bad bytes are not processed again (that would
    /// raise a second fatal alert, which rustls refuses with a panic; and an empty buffer
    /// instead panics when a handshake message was half-joined in the receive FIFO).
    fn send_alert(&mut self) {
        for _ in 0..4 {
            if !self.common_state().is_some_and(|c| c.wants_write()) {
                break;
            }
            let TlsConn { side, rx, tx, .. } = self;
            let more = match side {
                Side::Client(c) => encode_pending(c.process_tls_records(rx.data_mut()), tx),
                Side::Server(c) => encode_pending(c.process_tls_records(rx.data_mut()), tx),
                Side::Records(_) | Side::Gone => false,
            };
            if !more {
                break;
            }
        }
        self.send_queued_once();
    }

    /// Writes what the send FIFO holds until the socket takes no more (after an error).
    fn send_queued_once(&mut self) {
        while !self.tx.is_empty() {
            match self.tx.write_to(&mut self.sock) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }
}

impl<S> TlsConn<S> {
    /// rustls's state, until the handover.
    fn common_state(&self) -> Option<&rustls::CommonState> {
        match &self.side {
            Side::Client(c) => Some(c),
            Side::Server(c) => Some(c),
            Side::Records(_) | Side::Gone => None,
        }
    }

    fn offloaded(&self) -> Option<&Offloaded> {
        match &self.side {
            Side::Records(o) => Some(o),
            _ => None,
        }
    }

    /// `true` until the handshake is complete.
    pub fn is_handshaking(&self) -> bool {
        self.common_state().is_some_and(|c| c.is_handshaking())
    }

    /// `true` for a server connection.
    pub fn is_server(&self) -> bool {
        self.server
    }

    /// `true` once the record layer runs in this crate (see [`TlsConn`]): after the
    /// handshake, with a config that allows secret extraction.
    pub fn owns_record_layer(&self) -> bool {
        self.offloaded().is_some()
    }

    /// The negotiated application protocol (ALPN), once the handshake chose one.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match self.offloaded() {
            Some(o) => o.alpn.as_deref(),
            None => self.common_state()?.alpn_protocol(),
        }
    }

    /// The negotiated protocol version (`TLSv1_2` or `TLSv1_3`), once known.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        match self.offloaded() {
            Some(o) => Some(o.records.version()),
            None => self.common_state()?.protocol_version(),
        }
    }

    /// The negotiated cipher suite, once known.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        match self.offloaded() {
            Some(o) => Some(o.suite),
            None => self.common_state()?.negotiated_cipher_suite(),
        }
    }

    /// The peer's certificate chain, end-entity first (a server's always; a client's when
    /// the server asked for one).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        match self.offloaded() {
            Some(o) => o.peer_certificates.as_deref(),
            None => self.common_state()?.peer_certificates(),
        }
    }

    /// Server side: the server name the client sent (SNI), when it sent one and the
    /// config's certificate resolver is a [`SniRecorder`](crate::SniRecorder) (as
    /// [`ServerOptions`](crate::ServerOptions) builds). `None` on the client side.
    pub fn server_name(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    /// `true` once the peer's close_notify arrived.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Whether this connection was resumed from an earlier session (`Some(true)`), made
    /// with a full handshake (`Some(false)`), or is still handshaking (`None`).
    pub fn is_resumed(&self) -> Option<bool> {
        match self.offloaded() {
            Some(o) => Some(o.resumed),
            None => self
                .common_state()?
                .handshake_kind()
                .map(|k| k == rustls::HandshakeKind::Resumed),
        }
    }

    /// Ciphertext queued for the socket.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Decrypted bytes waiting for [`read`](Self::read) (no syscall needed to get them).
    pub fn buffered_plaintext(&self) -> usize {
        self.plain.len() + self.window.map_or(0, |w| w.end - w.pos)
    }

    /// The sticky error, if the connection failed.
    pub fn error(&self) -> Option<Error> {
        self.error
    }
}

/// The FIFOs a state handler writes to, borrowed apart from the receive FIFO that rustls
/// holds for the status.
struct Parts<'a> {
    tx: &'a mut ByteBuffer,
    plain: &'a mut ByteBuffer,
    peer_closed: &'a mut bool,
    /// The config allows secret extraction.
    offload: bool,
    /// Bytes in the receive FIFO handed to rustls.
    rx_len: usize,
}

impl Parts<'_> {
    fn handle<Data>(
        &mut self,
        status: UnbufferedStatus<'_, '_, Data>,
        want: &mut Want<'_>,
    ) -> (usize, std::result::Result<Step, rustls::Error>) {
        let UnbufferedStatus { mut discard, state } = status;
        let state = match state {
            Ok(s) => s,
            Err(e) => return (discard, Err(e)),
        };
        let step = match state {
            ConnectionState::ReadTraffic(mut r) => {
                let mut copied = 0;
                while let Some(rec) = r.next_record() {
                    let rec = match rec {
                        Ok(rec) => rec,
                        Err(e) => return (discard, Err(e)),
                    };
                    discard += rec.discard;
                    let mut payload = rec.payload;
                    if let Want::Read(out) = want {
                        let n = payload.len().min(out.len() - copied);
                        out[copied..copied + n].copy_from_slice(&payload[..n]);
                        copied += n;
                        payload = &payload[n..];
                    }
                    if !payload.is_empty() {
                        let space = self.plain.claim(payload.len());
                        let n = space.len().min(payload.len());
                        space[..n].copy_from_slice(&payload[..n]);
                        self.plain.commit(n);
                    }
                }
                Step::Plain(copied)
            }
            ConnectionState::EncodeTlsData(mut e) => {
                let mut need = 4096;
                loop {
                    let space = self.tx.claim(need);
                    let have = space.len();
                    match e.encode(space) {
                        Ok(n) => {
                            self.tx.commit(n);
                            break;
                        }
                        Err(EncodeError::InsufficientSize(InsufficientSizeError {
                            required_size,
                        })) if have < required_size && need < required_size => {
                            self.tx.commit(0);
                            need = required_size;
                        }
                        Err(_) => {
                            self.tx.commit(0);
                            return (discard, Err(rustls::Error::EncryptError));
                        }
                    }
                }
                Step::Again
            }
            ConnectionState::TransmitTlsData(t) => {
                // The records are in `tx`, whose every flush sends them once; rustls need
                // not hold them.
                t.done();
                Step::Again
            }
            ConnectionState::PeerClosed => {
                *self.peer_closed = true;
                Step::Again
            }
            ConnectionState::Closed => Step::Closed,
            ConnectionState::BlockedHandshake => Step::Idle,
            // rustls returns WriteTraffic only once it processed every complete record;
            // with nothing left at all, no record or handshake message is half done.
            ConnectionState::WriteTraffic(_) if self.offload && discard == self.rx_len => {
                Step::Ready
            }
            ConnectionState::WriteTraffic(mut w) => match want {
                Want::Write(data) => {
                    match encrypt(self.tx, data.len(), |out| w.encrypt(data, out)) {
                        Ok(()) => Step::Queued,
                        Err(e) => return (discard, Err(e)),
                    }
                }
                Want::CloseNotify => match encrypt(self.tx, 0, |out| w.queue_close_notify(out)) {
                    Ok(()) => Step::Queued,
                    Err(e) => return (discard, Err(e)),
                },
                Want::Read(_) | Want::Drive => Step::Idle,
            },
            // Early data is never enabled by this crate's configs; a server config that
            // enables it gets its early data as ordinary plaintext after the handshake.
            ConnectionState::ReadEarlyData(_) => Step::Idle,
            _ => Step::Idle,
        };
        (discard, Ok(step))
    }
}

/// What the handshake settled, kept for the accessors after rustls hands over: the
/// suite, ALPN, the peer's certificates, and whether the session was resumed.
type Settled = (
    rustls::SupportedCipherSuite,
    Option<Vec<u8>>,
    Option<Vec<CertificateDer<'static>>>,
    bool,
);

fn settled(c: &rustls::CommonState) -> Option<Settled> {
    Some((
        c.negotiated_cipher_suite()?,
        c.alpn_protocol().map(<[u8]>::to_vec),
        c.peer_certificates()
            .map(<[CertificateDer<'static>]>::to_vec),
        c.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
    ))
}

/// Reads plaintext from the records in the receive FIFO into `out`, opening each in
/// place: application data is copied out (what `out` cannot take stays in the window, in
/// the FIFO), alerts and post-handshake messages are handled. `Idle` when no complete
/// record is left and nothing was copied.
fn read_records(
    records: &mut Records,
    rx: &mut ByteBuffer,
    tx: &mut ByteBuffer,
    window: &mut Option<Window>,
    peer_closed: &mut bool,
    out: &mut [u8],
) -> std::result::Result<Step, Fatal> {
    let mut copied = 0;
    loop {
        if let Some(w) = window {
            let n = (w.end - w.pos).min(out.len() - copied);
            out[copied..copied + n].copy_from_slice(&rx.data()[w.pos..w.pos + n]);
            copied += n;
            w.pos += n;
            if w.pos < w.end {
                return Ok(Step::Plain(copied));
            }
            rx.consume(w.len);
            *window = None;
            if copied == out.len() {
                return Ok(Step::Plain(copied));
            }
        }
        if *peer_closed {
            return Ok(Step::Plain(copied));
        }
        let Some(Opened {
            typ,
            start,
            end,
            len,
        }) = records.open(rx.data_mut())?
        else {
            return Ok(if copied > 0 {
                Step::Plain(copied)
            } else {
                Step::Idle
            });
        };
        match typ {
            APPLICATION_DATA => {
                records.received_data();
                *window = Some(Window {
                    pos: start,
                    end,
                    len,
                })
            }
            ALERT => {
                let action = records.alert(&rx.data()[start..end])?;
                rx.consume(len);
                if action == AlertAction::CloseNotify {
                    *peer_closed = true;
                }
            }
            HANDSHAKE => {
                records.handshake(tx, &rx.data()[start..end])?;
                rx.consume(len);
            }
            _ => return Err(Fatal::unexpected()),
        }
    }
}

/// Encrypts into the send FIFO's free space, sized for `len` bytes of plaintext first and
/// to rustls's stated need if that was short.
fn encrypt(
    tx: &mut ByteBuffer,
    len: usize,
    mut f: impl FnMut(&mut [u8]) -> std::result::Result<usize, EncryptError>,
) -> std::result::Result<(), rustls::Error> {
    let records = len.div_ceil(MAX_RECORD_PLAINTEXT).max(1);
    let mut need = len + (records + 1) * RECORD_OVERHEAD;
    loop {
        let space = tx.claim(need);
        let have = space.len();
        match f(space) {
            Ok(n) => {
                tx.commit(n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size }))
                if have < required_size && need < required_size =>
            {
                tx.commit(0);
                need = required_size;
            }
            Err(EncryptError::InsufficientSize(_)) => {
                tx.commit(0);
                return Err(rustls::Error::General(NO_ROOM.to_string()));
            }
            Err(_) => {
                tx.commit(0);
                return Err(rustls::Error::EncryptError);
            }
        }
    }
}

/// Encodes a record rustls queued (an alert after an error); `true` if it did.
fn encode_pending<Data>(status: UnbufferedStatus<'_, '_, Data>, tx: &mut ByteBuffer) -> bool {
    match status.state {
        Ok(ConnectionState::EncodeTlsData(mut e)) => {
            let space = tx.claim(4096);
            match e.encode(space) {
                Ok(n) => {
                    tx.commit(n);
                    true
                }
                Err(_) => {
                    tx.commit(0);
                    false
                }
            }
        }
        Ok(ConnectionState::TransmitTlsData(t)) => {
            t.done();
            true
        }
        _ => false,
    }
}

impl<S: Read + Write + AsFd> Read for TlsConn<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TlsConn::read(self, buf).map_err(io::Error::from)
    }
}

impl<S: Read + Write + AsFd> Write for TlsConn<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TlsConn::write(self, buf).map_err(io::Error::from)
    }

    fn flush(&mut self) -> io::Result<()> {
        TlsConn::flush(self).map_err(io::Error::from)
    }
}

impl<S: AsFd> AsFd for TlsConn<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
