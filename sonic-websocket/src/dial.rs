//! Dialling a `ws://` or `wss://` URL: name resolution, the TCP connect, the TLS handshake
//! (`wss://`, feature `tls`) and the HTTP upgrade, under one timeout.
//!
//! A numeric host (`127.0.0.1`, `[::1]`) is parsed where the dial is called, without a
//! syscall or a thread. A host name is resolved by the system resolver (`getaddrinfo(3)`),
//! which blocks and cannot be cancelled, so it runs on a short-lived helper thread while
//! the Io goes on serving its other connections; the thread hands the address back by
//! closing its end of a socket pair whose other end the Io is reading, so the dial is an
//! armed operation of the Io like any other (`run` waits for it, the timeout and the Io's
//! close cancel it). When the timeout passes first, the dial fails at once and the
//! thread's late answer is dropped.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iox::{Error, ErrorKind, Result};
use sock::{Family, SockaddrAny, TcpDialer, ToSockaddr, UnixConn};
use sonic_io::{ByteStream, Io, StreamId, TcpStream, Timer, UnixStream};

use crate::config::ClientConfig;
use crate::conn::{WebSocket, close_stream};

/// The parts of a `ws://` or `wss://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `wss://`.
    pub secure: bool,
    /// The host, without brackets for IPv6.
    pub host: String,
    /// The port (80 or 443 when not given).
    pub port: u16,
    /// The request target, `/` at least.
    pub path: String,
    /// The `Host` header's value: the authority as written.
    pub authority: String,
}

impl Url {
    /// Parses `ws://host[:port][/path][?query]` or `wss://...`.
    ///
    /// ```
    /// let u = sonic_websocket::Url::parse("ws://[::1]:9001/feed?x=1").unwrap();
    /// assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("::1", 9001, "/feed?x=1"));
    /// ```
    pub fn parse(url: &str) -> Result<Url> {
        let invalid = Error::invalid_input;
        let lower = url.get(..6).unwrap_or("").to_ascii_lowercase();
        let (secure, rest) = if lower.starts_with("ws://") {
            (false, &url[5..])
        } else if lower.starts_with("wss://") {
            (true, &url[6..])
        } else {
            return Err(invalid("websocket URL does not start with ws:// or wss://"));
        };
        let (auth, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let path = path.split('#').next().unwrap_or("");
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let hostport = auth.rsplit('@').next().unwrap_or(auth);
        let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
            let (h, after) = r
                .split_once(']')
                .ok_or(invalid("websocket URL has an unclosed IPv6 bracket"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("websocket URL has no host"));
        }
        let port = match port {
            None => {
                if secure {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse()
                .map_err(|_| invalid("websocket URL has an invalid port"))?,
        };
        Ok(Url {
            secure,
            host: host.to_owned(),
            port,
            path,
            authority: hostport.to_owned(),
        })
    }

    /// `host:port` for the resolver (`[v6]:port` for IPv6).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Where a dial is: its errors name the stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Resolve,
    Connect,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Tls,
    Upgrade,
}

impl Stage {
    fn timed_out(self) -> Error {
        Error::with_context(
            ErrorKind::TimedOut,
            match self {
                Stage::Resolve => "websocket dial timed out resolving the host name",
                Stage::Connect => "websocket dial timed out in the TCP connect",
                Stage::Tls => "websocket dial timed out in the TLS handshake",
                Stage::Upgrade => "websocket dial timed out in the HTTP upgrade",
            },
        )
    }

    fn failed(self) -> &'static str {
        match self {
            Stage::Resolve => "websocket dial: the host name did not resolve",
            Stage::Connect => "websocket dial: the TCP connect failed",
            Stage::Tls => "websocket dial: the TLS handshake failed",
            Stage::Upgrade => "websocket dial: the HTTP upgrade failed",
        }
    }
}

/// Any stream of the Io, by its id: what the timeout closes.
#[derive(Clone, Copy)]
struct Pending(StreamId);

impl ByteStream for Pending {
    fn stream_id(self) -> StreamId {
        self.0
    }
}

/// A dial under way, shared by its stages and its timer.
struct Dial {
    url: Url,
    cfg: ClientConfig,
    #[cfg(feature = "tls")]
    tls: Option<Arc<sonic_tls::rustls::ClientConfig>>,
    deadline: Option<Instant>,
    timer: Cell<Option<Timer>>,
    stage: Cell<Stage>,
    timed_out: Cell<bool>,
    /// The stream the timeout closes (the resolver's wake-up, the TLS handshake's adapter,
    /// the stream being upgraded); none while the TCP connect keeps its own deadline.
    pending: Cell<Option<StreamId>>,
}

impl Dial {
    fn error(&self, e: Error) -> Error {
        let stage = self.stage.get();
        if self.timed_out.get() || (stage == Stage::Connect && e.kind() == ErrorKind::TimedOut) {
            stage.timed_out()
        } else if e.context_str().is_none() {
            e.context(stage.failed())
        } else {
            e
        }
    }

    /// What is left of the timeout (`None`: no timeout).
    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// The dial's end: calls the user's callback once, with the error named by stage.
struct Finish<S: ByteStream, F> {
    d: Rc<Dial>,
    f: Rc<Cell<Option<F>>>,
    _s: std::marker::PhantomData<fn() -> S>,
}

impl<S: ByteStream, F> Clone for Finish<S, F> {
    fn clone(&self) -> Self {
        Finish {
            d: self.d.clone(),
            f: self.f.clone(),
            _s: std::marker::PhantomData,
        }
    }
}

impl<S, F> Finish<S, F>
where
    S: ByteStream,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    fn call(&self, io: &mut Io, r: Result<WebSocket<S>>) {
        self.d.pending.set(None);
        if let Some(t) = self.d.timer.take() {
            t.close(io);
        }
        let Some(f) = self.f.take() else {
            if let Ok(ws) = r {
                let _ = ws.close(io);
            }
            return;
        };
        f(io, r.map_err(|e| self.d.error(e)))
    }
}

/// How the dial gets from a connected TCP stream to the stream the upgrade runs over.
trait Layer: ByteStream {
    fn wrap<K>(io: &mut Io, tcp: TcpStream, d: &Rc<Dial>, k: K)
    where
        K: FnOnce(&mut Io, Result<Self>) + 'static;
}

impl Layer for TcpStream {
    fn wrap<K>(io: &mut Io, tcp: TcpStream, _: &Rc<Dial>, k: K)
    where
        K: FnOnce(&mut Io, Result<Self>) + 'static,
    {
        k(io, Ok(tcp))
    }
}

#[cfg(feature = "tls")]
impl Layer for sonic_tls::TlsStream<sock::TcpConn> {
    /// The handshake runs on an adapter of our own, so the timeout can close it while it
    /// is under way; once done, the connection moves into a `TlsStream` (which completes at
    /// once for a connection past its handshake).
    fn wrap<K>(io: &mut Io, tcp: TcpStream, d: &Rc<Dial>, k: K)
    where
        K: FnOnce(&mut Io, Result<Self>) + 'static,
    {
        use sonic_tls::{TlsConn, TlsStream};
        d.stage.set(Stage::Tls);
        let Some(config) = d.tls.clone() else {
            let _ = tcp.close(io);
            return k(
                io,
                Err(Error::invalid_input("wss:// needs a TLS client config")),
            );
        };
        let conn = tcp
            .take(io)
            .and_then(|c| TlsConn::client(c, config, &d.url.host));
        let a = match conn.and_then(|c| sonic_io::Adapter::new(io, c)) {
            Ok(a) => a,
            Err(e) => return k(io, Err(e)),
        };
        d.pending.set(Some(a.stream_id()));
        let k = Rc::new(Cell::new(Some(k)));
        let k2 = k.clone();
        let r = a.async_drive(
            io,
            |c: &mut TlsConn<sock::TcpConn>| c.handshake_step(),
            move |io, r| {
                let Some(k) = k2.take() else { return };
                let conn = r.and_then(|()| a.take(io));
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = a.close(io);
                        return k(io, Err(e));
                    }
                };
                let k = Rc::new(Cell::new(Some(k)));
                let k3 = k.clone();
                let r = TlsStream::start(io, conn, move |io, r| {
                    if let Some(k) = k3.take() {
                        k(io, r)
                    }
                });
                if let Err(e) = r
                    && let Some(k) = k.take()
                {
                    k(io, Err(e))
                }
            },
        );
        if let Err(e) = r
            && let Some(k) = k.take()
        {
            let _ = a.close(io);
            k(io, Err(e))
        }
    }
}

/// Where the address comes from.
enum Addr {
    /// Parsed from the URL.
    Numeric(SockaddrAny),
    /// From the resolver thread: in the slot once the stream reaches its end.
    Name(UnixStream, Resolved),
}

/// Starts a dial over the stream type `S`.
fn start<S, F>(io: &mut Io, d: Dial, f: F) -> Result<()>
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    let d = Rc::new(d);
    // A numeric address needs no resolver; a name goes to the helper thread.
    let addr = match d.url.addr().parse::<SockaddrAny>() {
        Ok(a) => Addr::Numeric(a),
        Err(_) => {
            let (wake, slot) = resolve(io, d.url.addr())?;
            Addr::Name(wake, slot)
        }
    };
    let fin = Finish::<S, F> {
        d: d.clone(),
        f: Rc::new(Cell::new(Some(f))),
        _s: std::marker::PhantomData,
    };
    let refuse = |io: &mut Io, addr: &Addr, e: Error| {
        if let Addr::Name(w, _) = addr {
            let _ = w.close(io);
        }
        if let Some(t) = d.timer.take() {
            t.close(io);
        }
        Err(e)
    };
    if let Some(t) = d.cfg.timeout {
        let timer = Timer::new(io).and_then(|timer| {
            let d = d.clone();
            timer
                .schedule_once(io, t, move |io, _| {
                    d.timed_out.set(true);
                    if let Some(id) = d.pending.take() {
                        let _ = close_stream(io, Pending(id));
                    }
                })
                .map(|()| timer)
        });
        match timer {
            Ok(t) => d.timer.set(Some(t)),
            Err(e) => return refuse(io, &addr, e),
        }
    }
    let (wake, slot) = match addr {
        Addr::Numeric(a) => {
            connect(io, fin, a);
            return Ok(());
        }
        Addr::Name(wake, slot) => (wake, slot),
    };
    d.pending.set(Some(wake.stream_id()));
    let r = wake.async_read(io, vec![0u8; 1], move |io, _, _| {
        let _ = wake.close(io);
        let d = fin.d.clone();
        d.pending.set(None);
        let got = slot.lock().ok().and_then(|mut s| s.take());
        match got {
            _ if d.timed_out.get() => fin.call(io, Err(Stage::Resolve.timed_out())),
            Some(Ok(addr)) => connect(io, fin, addr),
            Some(Err(e)) => fin.call(io, Err(e)),
            // The thread ended without an answer (it panicked).
            None => fin.call(io, Err(Error::new(ErrorKind::Os))),
        }
    });
    match r {
        Ok(()) => Ok(()),
        Err(rej) => refuse(io, &Addr::Name(wake, Arc::new(Mutex::new(None))), rej.error),
    }
}

type Resolved = Arc<Mutex<Option<Result<SockaddrAny>>>>;

/// Resolves `addr` (`host:port`) on a helper thread: the returned stream reaches its end
/// of file when the answer is in the slot.
fn resolve(io: &mut Io, addr: String) -> Result<(UnixStream, Resolved)> {
    let [ours, theirs] = UnixConn::pair()?;
    let slot: Resolved = Arc::new(Mutex::new(None));
    let s = slot.clone();
    std::thread::Builder::new()
        .name("sonic-ws-resolve".into())
        .spawn(move || {
            let r = addr.as_str().to_sockaddr(Family::Any);
            if let Ok(mut s) = s.lock() {
                *s = Some(r);
            }
            // The end of file wakes the Io.
            drop(theirs);
        })
        .map_err(|e| {
            Error::from_io(&e).context("websocket dial: cannot start the resolver thread")
        })?;
    Ok((UnixStream::add(io, ours)?, slot))
}

/// The TCP connect, then the layer (TLS or none), then the upgrade.
fn connect<S, F>(io: &mut Io, fin: Finish<S, F>, addr: SockaddrAny)
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    let d = fin.d.clone();
    d.stage.set(Stage::Connect);
    let timeout = d.remaining();
    if d.timed_out.get() || timeout == Some(Duration::ZERO) {
        return fin.call(io, Err(Stage::Connect.timed_out()));
    }
    let dialer = TcpDialer {
        timeout,
        nodelay: !d.cfg.nagle,
        ..TcpDialer::default()
    };
    let fin2 = fin.clone();
    let r = TcpStream::dial_with(io, &dialer, addr, move |io, r| {
        let s = match r {
            Ok(s) if fin2.d.timed_out.get() => {
                let _ = s.close(io);
                return fin2.call(io, Err(Stage::Connect.timed_out()));
            }
            Ok(s) => s,
            Err(e) => return fin2.call(io, Err(e)),
        };
        let d = fin2.d.clone();
        S::wrap(io, s, &d, move |io, r| match r {
            Ok(s) if fin2.d.timed_out.get() => {
                // The timer fired as the handshake completed: it closed nothing.
                let _ = close_stream(io, s);
                fin2.call(io, Err(fin2.d.stage.get().timed_out()))
            }
            Ok(s) => upgrade(io, fin2, s),
            Err(e) => fin2.call(io, Err(e)),
        });
    });
    if let Err(e) = r {
        fin.call(io, Err(e));
    }
}

fn upgrade<S, F>(io: &mut Io, fin: Finish<S, F>, s: S)
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    let d = fin.d.clone();
    d.stage.set(Stage::Upgrade);
    d.pending.set(Some(s.stream_id()));
    let fin2 = fin.clone();
    let r = WebSocket::client(
        io,
        s,
        &d.url.authority,
        &d.url.path,
        &d.cfg,
        move |io, r| fin2.call(io, r),
    );
    if let Err(e) = r {
        let _ = close_stream(io, s);
        fin.call(io, Err(e));
    }
}

impl WebSocket<TcpStream> {
    /// Dials a `ws://host[:port]/path` URL (port 80 by default): resolves the host,
    /// connects, and runs the client handshake, then hands the connection to `f`.
    /// `cfg.timeout` bounds all of it together: `f` gets `TimedOut` naming the stage
    /// ("websocket dial timed out in the TCP connect", ...), and other failures name
    /// theirs too ("websocket dial: the TCP connect failed", with the errno).
    ///
    /// A numeric host is used as it is; a host name is resolved on a helper thread (the
    /// system resolver blocks), so the Io never waits for it; the first address it gives
    /// is dialled. A latency-sensitive caller dials numeric addresses, or resolves once
    /// ahead of time.
    ///
    /// A URL that does not parse, and `wss://` (see `dial_tls`, feature `tls`), are
    /// refused here, `f` dropped unrun.
    pub fn dial<F>(io: &mut Io, url: &str, cfg: &ClientConfig, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<WebSocket<TcpStream>>) + 'static,
    {
        let u = Url::parse(url)?;
        if u.secure {
            return Err(Error::unsupported(if cfg!(feature = "tls") {
                "wss:// is dialled with WebSocket::dial_tls"
            } else {
                "wss:// needs sonic-websocket's tls feature (WebSocket::dial_tls)"
            }));
        }
        start::<TcpStream, F>(io, Dial::new(u, cfg), f)
    }
}

#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl WebSocket<sonic_tls::TlsStream> {
    /// Dials a `wss://host[:port]/path` URL (port 443 by default) as
    /// [`dial`](WebSocket::dial) does a `ws://` one, with a TLS handshake between the
    /// connect and the upgrade: `tls` is a client config from
    /// [`sonic_tls::ClientOptions`] (its roots decide whom to trust), the server name
    /// (SNI, and the name the certificate must carry) is the URL's host. `cfg.timeout`
    /// bounds resolution, connect, TLS handshake and upgrade together; a TLS failure keeps
    /// sonic-tls's error ("TLS: certificate signed by an unknown issuer", ...).
    ///
    /// ```no_run
    /// use sonic_io::Io;
    /// use sonic_websocket::{ClientConfig, WebSocket};
    /// use sonic_websocket::sonic_tls::ClientOptions;
    ///
    /// let mut io = Io::new().unwrap();
    /// let tls = ClientOptions::new().pem_roots(&std::fs::read("ca.pem").unwrap()).unwrap().build().unwrap();
    /// let cfg = ClientConfig::default().timeout(std::time::Duration::from_secs(5));
    /// WebSocket::dial_tls(&mut io, "wss://localhost:9443/feed", &cfg, tls, |io, ws| {
    ///     ws.unwrap().send_text(io, "hello").unwrap();
    /// }).unwrap();
    /// io.run().unwrap();
    /// ```
    pub fn dial_tls<F>(
        io: &mut Io,
        url: &str,
        cfg: &ClientConfig,
        tls: Arc<sonic_tls::rustls::ClientConfig>,
        f: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<WebSocket<sonic_tls::TlsStream>>) + 'static,
    {
        let u = Url::parse(url)?;
        if !u.secure {
            return Err(Error::invalid_input(
                "dial_tls takes a wss:// URL (ws:// is dialled with WebSocket::dial)",
            ));
        }
        let mut d = Dial::new(u, cfg);
        d.tls = Some(tls);
        start::<sonic_tls::TlsStream, F>(io, d, f)
    }
}

impl Dial {
    fn new(url: Url, cfg: &ClientConfig) -> Dial {
        Dial {
            url,
            cfg: cfg.clone(),
            #[cfg(feature = "tls")]
            tls: None,
            deadline: cfg.timeout.and_then(|t| Instant::now().checked_add(t)),
            timer: Cell::new(None),
            stage: Cell::new(Stage::Resolve),
            timed_out: Cell::new(false),
            pending: Cell::new(None),
        }
    }
}
