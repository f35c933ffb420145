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
//!
//! The connect races the addresses a name resolves to (RFC 8305, Happy Eyeballs): IPv6 and
//! IPv4 interleaved, starting with the resolver's first, a new attempt every 250 ms while
//! earlier ones are pending and at once when one fails; the first connection wins, and an
//! attempt that connects after it is closed. Every attempt keeps what is left of the one
//! dial timeout.

use std::cell::Cell;
use std::net::{SocketAddr, ToSocketAddrs};
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

/// Where the addresses come from.
enum Addr {
    /// Parsed from the URL, or given (tests).
    Numeric(Vec<SockaddrAny>),
    /// From the resolver thread: in the slot once the stream reaches its end.
    Name(UnixStream, Resolved),
}

/// Starts a dial over the stream type `S`.
fn start<S, F>(io: &mut Io, d: Dial, f: F) -> Result<()>
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    start_at(io, d, None, f)
}

/// [`start`], or with the addresses given instead of the URL's host (`Some`).
fn start_at<S, F>(io: &mut Io, d: Dial, given: Option<Vec<SockaddrAny>>, f: F) -> Result<()>
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    let d = Rc::new(d);
    // A numeric address needs no resolver; a name goes to the helper thread.
    let addr = match given.map_or_else(|| d.url.addr().parse::<SockaddrAny>().map(|a| vec![a]), Ok)
    {
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

type Resolved = Arc<Mutex<Option<Result<Vec<SockaddrAny>>>>>;

/// The resolved addresses in the order they are tried (RFC 8305 section 4): the two
/// families interleaved, starting with the family of the resolver's first choice (it
/// sorts by RFC 6724), each family in the resolver's order.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SockaddrAny> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (a, b): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y).map(SockaddrAny::from)),
        }
    }
}

/// Resolves `addr` (`host:port`) on a helper thread: the returned stream reaches its end
/// of file when the answer is in the slot.
fn resolve(io: &mut Io, addr: String) -> Result<(UnixStream, Resolved)> {
    let [ours, theirs] = UnixConn::pair()?;
    let slot: Resolved = Arc::new(Mutex::new(None));
    let s = slot.clone();
    std::thread::Builder::new()
        .name("sonic-ws-resolve".into())
        .spawn(move || {
            // The sock crate's resolver checks the name and gives its errors; it returns one
            // address, so a second lookup asks for all of them to race (`interleave`).
            let r = addr.as_str().to_sockaddr(Family::Any).map(|first| {
                match addr.as_str().to_socket_addrs() {
                    Ok(it) => match interleave(it.collect()) {
                        v if v.is_empty() => vec![first],
                        v => v,
                    },
                    Err(_) => vec![first],
                }
            });
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

/// The race of one dial's connects (RFC 8305).
struct Race {
    addrs: Vec<SockaddrAny>,
    /// Attempts started, and ended (connected or failed).
    started: Cell<usize>,
    ended: Cell<usize>,
    /// An attempt connected: the later ones are closed as they connect.
    won: Cell<bool>,
    /// The 250 ms timer that starts the next attempt.
    stagger: Cell<Option<Timer>>,
}

/// How long an attempt has before the next one starts beside it (RFC 8305's recommended
/// Connection Attempt Delay).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

impl Race {
    fn stop_stagger(&self, io: &mut Io) {
        if let Some(t) = self.stagger.take() {
            t.close(io);
        }
    }
}

/// The TCP connects (raced over `addrs`), then the layer (TLS or none), then the upgrade.
fn connect<S, F>(io: &mut Io, fin: Finish<S, F>, addrs: Vec<SockaddrAny>)
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    fin.d.stage.set(Stage::Connect);
    let race = Rc::new(Race {
        addrs,
        started: Cell::new(0),
        ended: Cell::new(0),
        won: Cell::new(false),
        stagger: Cell::new(None),
    });
    attempt(io, fin, race);
}

/// Starts the next address's connect, and arms the timer that starts the one after.
fn attempt<S, F>(io: &mut Io, fin: Finish<S, F>, race: Rc<Race>)
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    race.stop_stagger(io);
    let i = race.started.get();
    let Some(addr) = race.addrs.get(i).cloned() else {
        return;
    };
    let d = fin.d.clone();
    let timeout = d.remaining();
    if d.timed_out.get() || timeout == Some(Duration::ZERO) {
        race.won.set(true);
        return fin.call(io, Err(Stage::Connect.timed_out()));
    }
    race.started.set(i + 1);
    let dialer = TcpDialer {
        timeout,
        nodelay: !d.cfg.nagle,
        ..TcpDialer::default()
    };
    let (fin2, race2) = (fin.clone(), race.clone());
    let r = TcpStream::dial_with(io, &dialer, addr, move |io, r| {
        attempted(io, fin2, race2, r)
    });
    if let Err(e) = r {
        return attempted(io, fin, race, Err(e));
    }
    if i + 1 < race.addrs.len() {
        let (fin2, race2) = (fin.clone(), race.clone());
        let armed = Timer::new(io).and_then(|t| {
            t.schedule_once(io, ATTEMPT_DELAY, move |io, _| {
                if !race2.won.get() {
                    attempt(io, fin2, race2);
                }
            })
            .map(|()| t)
        });
        // Without the timer the next attempt starts when this one fails.
        if let Ok(t) = armed {
            race.stagger.set(Some(t));
        }
    }
}

/// One attempt's end: the first connection goes on to the layer and the upgrade; a failure
/// starts the next address at once; the last failure ends the dial.
fn attempted<S, F>(io: &mut Io, fin: Finish<S, F>, race: Rc<Race>, r: Result<TcpStream>)
where
    S: Layer,
    F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
{
    race.ended.set(race.ended.get() + 1);
    let s = match r {
        Ok(s) if race.won.get() => {
            let _ = s.close(io);
            return;
        }
        Ok(s) => s,
        Err(_) if race.won.get() => return,
        Err(e) => {
            if race.started.get() < race.addrs.len() {
                return attempt(io, fin, race);
            }
            if race.ended.get() == race.started.get() {
                race.won.set(true);
                race.stop_stagger(io);
                fin.call(io, Err(e));
            }
            return;
        }
    };
    race.won.set(true);
    race.stop_stagger(io);
    if fin.d.timed_out.get() {
        let _ = s.close(io);
        return fin.call(io, Err(Stage::Connect.timed_out()));
    }
    let d = fin.d.clone();
    S::wrap(io, s, &d, move |io, r| match r {
        Ok(s) if fin.d.timed_out.get() => {
            // The timer fired as the handshake completed: it closed nothing.
            let _ = close_stream(io, s);
            fin.call(io, Err(fin.d.stage.get().timed_out()))
        }
        Ok(s) => upgrade(io, fin, s),
        Err(e) => fin.call(io, Err(e)),
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_io::Listener;
    use std::cell::RefCell;

    #[test]
    fn the_families_are_interleaved_from_the_resolvers_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let got = interleave(vec![
            a("[::1]:1"),
            a("[::1]:2"),
            a("127.0.0.1:3"),
            a("127.0.0.1:4"),
            a("127.0.0.1:5"),
        ]);
        let want: Vec<SockaddrAny> = [
            "[::1]:1",
            "127.0.0.1:3",
            "[::1]:2",
            "127.0.0.1:4",
            "127.0.0.1:5",
        ]
        .map(|s| SockaddrAny::from(a(s)))
        .to_vec();
        assert_eq!(got, want);
        let got = interleave(vec![a("127.0.0.1:3"), a("[::1]:1"), a("[::1]:2")]);
        let want: Vec<SockaddrAny> = ["127.0.0.1:3", "[::1]:1", "[::1]:2"]
            .map(|s| SockaddrAny::from(a(s)))
            .to_vec();
        assert_eq!(got, want);
        assert!(interleave(Vec::new()).is_empty());
    }

    /// A port nobody listens on (bound, then closed).
    fn refused() -> SockaddrAny {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        SockaddrAny::from(l.local_addr().unwrap())
    }

    /// Dials `addrs` through the race, with a WebSocket server on `serve` if given.
    fn race(addrs: Vec<SockaddrAny>, serve: bool) -> (Io, Result<WebSocket<TcpStream>>) {
        let mut io = Io::new().unwrap();
        let mut addrs = addrs;
        if serve {
            let l =
                Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
            addrs.push(l.get(&io).unwrap().local_addr().unwrap());
            l.async_accept(&mut io, |io, r| {
                let Ok((conn, _)) = r else { return };
                let _ = WebSocket::accept(io, conn, &crate::ServerConfig::default(), |io, ws| {
                    // Held open until the client closes; the test only needs the upgrade.
                    if let Ok(ws) = ws {
                        let _ = ws.async_read(io, |io, _, ws| {
                            let _ = ws.close(io);
                        });
                    }
                });
            })
            .unwrap();
        }
        let got = Rc::new(RefCell::new(None));
        let g = got.clone();
        let cfg = ClientConfig::default().timeout(Duration::from_secs(20));
        let d = Dial::new(Url::parse("ws://example.invalid/x").unwrap(), &cfg);
        start_at::<TcpStream, _>(&mut io, d, Some(addrs), move |_, r| {
            *g.borrow_mut() = Some(r)
        })
        .unwrap();
        let end = Instant::now() + Duration::from_secs(30);
        while got.borrow().is_none() && Instant::now() < end {
            io.run_one_for(Duration::from_millis(50)).unwrap();
        }
        let r = got.borrow_mut().take().expect("the dial completed");
        (io, r)
    }

    #[test]
    fn an_address_nobody_listens_on_is_passed_over_for_one_that_works() {
        let (mut io, r) = race(vec![refused(), refused()], true);
        let ws = r.unwrap();
        assert!(ws.is_client());
        ws.close(&mut io).unwrap();
    }

    /// The first address neither connects nor fails (a listener whose accept queue is full
    /// drops the SYN, and the kernel retries it for minutes): the next attempt starts
    /// beside it after the attempt delay and wins; the pending one is left to its own
    /// timeout (what is left of the dial's), its late connection closed.
    #[test]
    fn a_pending_attempt_does_not_hold_up_the_next_address() {
        let opts = sock::ListenOptions {
            backlog: 0,
            ..sock::ListenOptions::default()
        };
        let full = sock::TcpListener::bind_with("127.0.0.1:0", Family::Any, opts).unwrap();
        let at = full.local_addr().unwrap();
        // Fill the accept queue (backlog 0 holds one) without accepting.
        let mut held = Vec::new();
        for _ in 0..4 {
            let c = std::net::TcpStream::connect_timeout(
                &at.to_string().parse().unwrap(),
                Duration::from_millis(200),
            );
            match c {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
        let (mut io, r) = race(vec![at], true);
        let ws = r.unwrap();
        assert!(ws.is_client());
        ws.close(&mut io).unwrap();
        drop(held);
    }

    #[test]
    fn when_every_address_refuses_the_dial_fails_in_the_connect_stage() {
        let (io, r) = race(vec![refused(), refused(), refused()], false);
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        assert_eq!(e.context_str(), Some(Stage::Connect.failed()));
        // Nothing left on the Io: no attempt, no timer.
        assert_eq!(io.objects(), 0);
    }
}
