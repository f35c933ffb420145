//! Scale-out across cores: one [`Io`] per core, each on its own pinned thread with its own
//! `SO_REUSEPORT` socket bound to one address, and the kernel placing connections.
//!
//! [`Shards::builder`] chooses the CPUs ([`ShardsBuilder::shards`], [`ShardsBuilder::cpus`];
//! default: every CPU the calling thread may run on) and the [`Placement`];
//! [`ShardsBuilder::serve_tcp`] (or [`serve_udp`](ShardsBuilder::serve_udp)) then
//!
//! 1. creates and binds the N sockets **in shard order on the calling thread** (a reuseport
//!    group numbers its sockets in the order they join it, and [`Placement::Bpf`]'s program
//!    returns those numbers), applies the placement, and moves socket `i` to thread `i`;
//! 2. on each thread: pins it to its CPU, builds its `Io`, registers the socket, and sends
//!    its [`Poster`] back;
//! 3. once every shard is up, hands each the list of every Poster (so a [`Shard`] can post
//!    to any other Io) and runs the setup closure, then drives the Io until it is closed.
//!
//! If any shard fails to start, the others are told to stop before their setup runs, every
//! thread is joined and the first error is returned.
//!
//! [`Shards::shutdown`] is orderly, in two phases:
//!
//! 1. **Stop accepting.** Every shard sets [`Shard::stopping`] and closes its socket (the
//!    pending accept completes with `Cancelled`); `shutdown` waits until all have. From then
//!    on no connection is accepted. A connection the kernel had already queued on a listener
//!    that no Io accepted is reset by the kernel when that listener closes: its client
//!    reads `ECONNRESET` and never got a byte from the server. That is the only way a
//!    connection is lost, and it was never accepted.
//! 2. **Close every Io.** With [`shutdown_graceful`](Shards::shutdown_graceful), each Io
//!    goes on running until it has nothing pending (the application closed its connections,
//!    for example by answering what it has read, half-closing once [`Shard::stopping`] holds
//!    and closing at the peer's end of stream) or the grace period ends; then it closes:
//!    every pending operation completes with `Cancelled` and every socket is closed. An
//!    accepted connection's peer then reads a clean end of stream, unless it had sent bytes
//!    that the server never read, in which case `close(2)` resets it. [`shutdown`](Shards::shutdown)
//!    is the same with no grace.
//!
//! Every thread is then joined, and the first failure (by shard index) is reported: an error
//! returned by a setup or a drive call, or a panic, with its message, after every other shard
//! has stopped (a panicking shard does not keep the others running). `tests/shards.rs` proves
//! each claim.
//!
//! ```
//! # fn main() -> sonic_io::Result<()> {
//! use sonic_io::shard::{Placement, Shards};
//!
//! let shards = Shards::builder()
//!     .shards(1)
//!     .placement(Placement::Hash)
//!     .serve_tcp("127.0.0.1:0", |io, shard, listener| {
//!         let _ = shard.index(); // the Io's own number; shard.post(j, f) reaches another one
//!         listener.async_accept(io, |_, r| drop(r))
//!     })?;
//! let addr = shards.local_addr();
//! # let _ = addr;
//! shards.shutdown().unwrap();
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iox::{Error, Result};
use sock::{Family, ListenOptions, NetSocket, SockaddrAny, TcpListener, ToSockaddr, UdpConn};

use crate::io::Io;
use crate::listener::Listener;
use crate::packet::UdpSocket;
use crate::poster::Poster;
use crate::timer::Timer;

/// How the kernel places new connections (datagrams, for UDP) among the shards' sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// The kernel's hash of the packet's addresses and ports (`SO_REUSEPORT` alone). Spreads
    /// evenly over many clients; says nothing about which CPU received the packets.
    #[default]
    Hash,
    /// `SO_INCOMING_CPU` set on each socket to its shard's CPU: the kernel (Linux 6.2+)
    /// prefers the socket of the CPU that received the SYN, and falls back to its hash.
    IncomingCpu,
    /// A classic BPF program attached to the group (`SO_ATTACH_REUSEPORT_CBPF`,
    /// [`sock::bpf::Program::index_by_cpu`]) returns the index of the shard on the receiving
    /// CPU; a CPU without a shard falls back to the hash (Linux).
    Bpf,
}

/// Longest wait for the shards to start, or to acknowledge a stop, before they are declared
/// hung.
const LIMIT: Duration = Duration::from_secs(30);

/// A running set of shards: one Io per CPU, one socket each, one address.
///
/// Dropping it shuts it down (as [`shutdown`](Shards::shutdown), the report discarded).
#[derive(Debug)]
pub struct Shards {
    local_addr: SockaddrAny,
    cpus: Vec<usize>,
    posters: Arc<[Poster]>,
    stopping: Arc<AtomicBool>,
    stoppers: Vec<Option<Stopper>>,
    threads: Vec<Option<JoinHandle<Result<()>>>>,
}

/// Closes one shard's socket on its Io.
struct Stopper(Box<dyn FnOnce(&mut Io) + Send>);

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stopper")
    }
}

/// What one shard's setup sees: its index and CPU, and a [`Poster`] to every shard's Io.
/// Callbacks that need it hold an `Rc<Shard>` (8 bytes of the operation record's
/// [`PAYLOAD_BYTES`](crate::PAYLOAD_BYTES)); the `Shard` itself is larger, since it holds the address.
#[derive(Clone, Debug)]
pub struct Shard {
    index: usize,
    cpu: usize,
    posters: Arc<[Poster]>,
    stopping: Arc<AtomicBool>,
    local_addr: SockaddrAny,
}

impl Shard {
    /// This shard's index (its socket's index in the reuseport group).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The CPU this shard's thread is pinned to.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// How many shards there are.
    pub fn count(&self) -> usize {
        self.posters.len()
    }

    /// The Poster of every shard, by index (this one's included).
    pub fn posters(&self) -> &[Poster] {
        &self.posters
    }

    /// Runs `f` on shard `to`'s Io (a cross-core message). `InvalidInput` for an index past
    /// the last shard; `Closed` once that Io has closed.
    pub fn post<F: FnOnce(&mut Io) + Send + 'static>(&self, to: usize, f: F) -> Result<()> {
        self.posters
            .get(to)
            .ok_or(Error::invalid_input("no shard with that index"))?
            .post(f)
    }

    /// `true` once [`Shards::shutdown`] began: the sockets are closing or closed. An
    /// application that wants every connection to end with a clean end of stream half-closes
    /// its connections when it sees this, and closes them at the peer's end of stream.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The address every shard's socket is bound to.
    pub fn local_addr(&self) -> SockaddrAny {
        self.local_addr
    }
}

/// A shard that did not stop cleanly.
#[derive(Debug)]
pub struct ShardError {
    /// The shard's index.
    pub index: usize,
    /// What went wrong.
    pub failure: Failure,
}

/// What went wrong on a shard.
#[derive(Debug)]
pub enum Failure {
    /// The setup closure or the drive call returned this error.
    Error(Error),
    /// The thread panicked; the panic's message.
    Panic(String),
    /// The thread did not stop within the limit (30 s past the grace period): it was left
    /// running, detached.
    Hung,
}

impl std::fmt::Display for ShardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.failure {
            Failure::Error(e) => write!(f, "shard {}: {e}", self.index),
            Failure::Panic(m) => write!(f, "shard {} panicked: {m}", self.index),
            Failure::Hung => write!(f, "shard {} did not stop within 30 s", self.index),
        }
    }
}

impl std::error::Error for ShardError {}

/// Chooses the CPUs and the placement, then starts the shards.
#[derive(Clone, Debug)]
pub struct ShardsBuilder {
    count: Option<usize>,
    cpus: Option<Vec<usize>>,
    placement: Placement,
    pin: bool,
    backlog: i32,
}

impl Shards {
    /// A builder: every allowed CPU, [`Placement::Hash`], threads pinned.
    pub fn builder() -> ShardsBuilder {
        ShardsBuilder {
            count: None,
            cpus: None,
            placement: Placement::Hash,
            pin: true,
            backlog: sock::DEFAULT_BACKLOG,
        }
    }

    /// The address every shard's socket is bound to (with port 0 asked, the port chosen).
    pub fn local_addr(&self) -> SockaddrAny {
        self.local_addr
    }

    /// The CPU of each shard, by index.
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    /// How many shards there are.
    pub fn len(&self) -> usize {
        self.cpus.len()
    }

    /// Never: a `Shards` has at least one shard.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_empty()
    }

    /// The Poster of every shard's Io, by index.
    pub fn posters(&self) -> &[Poster] {
        &self.posters
    }

    /// Stops accepting, closes every Io at once, joins every thread; the first failure by
    /// shard index (see the [module docs](self) for what is guaranteed).
    pub fn shutdown(mut self) -> std::result::Result<(), ShardError> {
        self.stop(Duration::ZERO)
    }

    /// Stops accepting, lets each Io run until it has nothing pending or `grace` has passed,
    /// then closes it; joins every thread; the first failure by shard index.
    pub fn shutdown_graceful(mut self, grace: Duration) -> std::result::Result<(), ShardError> {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> std::result::Result<(), ShardError> {
        if self.threads.iter().all(Option::is_none) {
            return Ok(());
        }
        // Phase 1: every shard stops accepting; wait until all have (or have died).
        self.stopping.store(true, Ordering::Release);
        let (ack, acks) = mpsc::channel();
        let mut expected = 0usize;
        for (i, p) in self.posters.iter().enumerate() {
            if let Some(Stopper(close)) = self.stoppers[i].take() {
                let ack = ack.clone();
                if p.post(move |io| {
                    close(io);
                    let _ = ack.send(i);
                })
                .is_ok()
                {
                    expected += 1;
                }
            }
        }
        drop(ack);
        let end = Instant::now() + LIMIT;
        for _ in 0..expected {
            let left = end.saturating_duration_since(Instant::now());
            if acks.recv_timeout(left).is_err() {
                break; // a shard died (its ack sender dropped) or hangs: phase 2 and the join tell
            }
        }
        // Phase 2: every Io closes, at once or when idle within the grace period.
        for p in self.posters.iter() {
            let _ = p.post(move |io| close_when_idle(io, grace));
        }
        // Join, bounded.
        let end = Instant::now() + grace + LIMIT;
        let mut first = None;
        for (index, slot) in self.threads.iter_mut().enumerate() {
            let Some(t) = slot.take() else { continue };
            while !t.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
            }
            let failure = if !t.is_finished() {
                Some(Failure::Hung)
            } else {
                match t.join() {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(Failure::Error(e)),
                    Err(p) => Some(Failure::Panic(panic_message(&*p))),
                }
            };
            if let (None, Some(failure)) = (&first, failure) {
                first = Some(ShardError { index, failure });
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        let _ = self.stop(Duration::ZERO);
    }
}

/// Closes `io` now (no grace), or once it has nothing pending but the check's own timer, or
/// when `grace` has passed.
fn close_when_idle(io: &mut Io, grace: Duration) {
    if grace.is_zero() {
        let _ = io.close();
        return;
    }
    let end = Instant::now() + grace;
    let scheduled = Timer::new(io).and_then(|t| {
        t.schedule_repeating(io, Duration::from_millis(1), move |io, _| {
            if io.pending() <= 1 || Instant::now() >= end {
                let _ = io.close();
            }
        })
    });
    if scheduled.is_err() {
        let _ = io.close();
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// A socket kind the shards serve: how it is registered and closed.
trait Served: Copy + Send + 'static {
    type Sock: std::os::fd::AsFd + Send + 'static;
    fn add(io: &mut Io, s: Self::Sock) -> Result<Self>;
    fn close(self, io: &mut Io);
}

impl Served for Listener<TcpListener> {
    type Sock = TcpListener;
    fn add(io: &mut Io, s: TcpListener) -> Result<Self> {
        Listener::add(io, s)
    }
    fn close(self, io: &mut Io) {
        let _ = Listener::close(self, io);
    }
}

impl Served for UdpSocket {
    type Sock = UdpConn;
    fn add(io: &mut Io, s: UdpConn) -> Result<Self> {
        UdpSocket::add(io, s)
    }
    fn close(self, io: &mut Io) {
        let _ = UdpSocket::close(self, io);
    }
}

type Setup<H> = dyn Fn(&mut Io, &Shard, H) -> Result<()> + Send + Sync;

impl ShardsBuilder {
    /// Run `n` shards, on the first `n` CPUs the calling thread may run on.
    /// `InvalidInput` at start for 0 or for more shards than allowed CPUs.
    pub fn shards(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }

    /// Run one shard per listed CPU, shard `i` on `cpus[i]`. `InvalidInput` at start for an
    /// empty list, a CPU listed twice, or (pinned) a CPU the calling thread may not run on.
    pub fn cpus(mut self, cpus: impl Into<Vec<usize>>) -> Self {
        self.cpus = Some(cpus.into());
        self
    }

    /// How connections are placed (default [`Placement::Hash`]).
    pub fn placement(mut self, p: Placement) -> Self {
        self.placement = p;
        self
    }

    /// Pin each shard's thread to its CPU (default on; pinning is Linux-only, so turn it
    /// off elsewhere). The CPU placements need it.
    pub fn pin(mut self, on: bool) -> Self {
        self.pin = on;
        self
    }

    /// Each listener's backlog (default [`sock::DEFAULT_BACKLOG`]).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The CPUs, checked.
    fn resolve(&self) -> Result<Vec<usize>> {
        let allowed = crate::raw::calls::allowed_cpus()?;
        let cpus = match &self.cpus {
            Some(c) => {
                if c.is_empty() {
                    return Err(Error::invalid_input("shards: an empty CPU list"));
                }
                if c.iter().enumerate().any(|(i, x)| c[..i].contains(x)) {
                    return Err(Error::invalid_input("shards: a CPU is listed twice"));
                }
                if self.count.is_some_and(|n| n != c.len()) {
                    return Err(Error::invalid_input(
                        "shards: the shard count differs from the CPU list's length",
                    ));
                }
                if self.pin && c.iter().any(|x| !allowed.contains(x)) {
                    return Err(Error::invalid_input(
                        "shards: a CPU outside the calling thread's affinity mask",
                    ));
                }
                c.clone()
            }
            None => {
                let n = self.count.unwrap_or(allowed.len());
                if n == 0 {
                    return Err(Error::invalid_input("shards: zero shards"));
                }
                if n > allowed.len() {
                    return Err(Error::invalid_input(
                        "shards: more shards than CPUs the calling thread may run on",
                    ));
                }
                allowed[..n].to_vec()
            }
        };
        if !self.pin && self.placement != Placement::Hash {
            return Err(Error::invalid_input(
                "shards: placement by CPU needs pinned shards",
            ));
        }
        Ok(cpus)
    }

    /// Serves TCP on `addr` (port 0: one ephemeral port for all): N listeners with
    /// `SO_REUSEPORT`, then on each shard `setup(io, shard, listener)` with its listener
    /// registered; arm its accepts there. The accept pending at shutdown completes with
    /// `Cancelled`.
    pub fn serve_tcp<F>(self, addr: impl ToSockaddr, setup: F) -> Result<Shards>
    where
        F: Fn(&mut Io, &Shard, Listener<TcpListener>) -> Result<()> + Send + Sync + 'static,
    {
        let cpus = self.resolve()?;
        let addr = addr.to_sockaddr(Family::Any)?;
        let o = ListenOptions {
            backlog: self.backlog,
            reuse_port: true,
            ..ListenOptions::default()
        };
        let first = TcpListener::bind_with(addr, Family::Any, o)?;
        let bound = first.local_addr()?;
        let mut socks = vec![first];
        for _ in 1..cpus.len() {
            socks.push(TcpListener::bind_with(bound, Family::Any, o)?);
        }
        self.start(cpus, socks, bound, Arc::new(setup))
    }

    /// Serves UDP on `addr`: N sockets with `SO_REUSEPORT`, then on each shard
    /// `setup(io, shard, socket)` with its socket registered.
    pub fn serve_udp<F>(self, addr: impl ToSockaddr, setup: F) -> Result<Shards>
    where
        F: Fn(&mut Io, &Shard, UdpSocket) -> Result<()> + Send + Sync + 'static,
    {
        let cpus = self.resolve()?;
        let addr = addr.to_sockaddr(Family::Any)?;
        let first = udp_reuse_port(&addr)?;
        let bound = first.local_addr()?;
        let mut socks = vec![first];
        for _ in 1..cpus.len() {
            socks.push(udp_reuse_port(&bound)?);
        }
        self.start(cpus, socks, bound, Arc::new(setup))
    }

    fn start<H: Served>(
        self,
        cpus: Vec<usize>,
        socks: Vec<H::Sock>,
        local_addr: SockaddrAny,
        setup: Arc<Setup<H>>,
    ) -> Result<Shards> {
        place(self.placement, &cpus, &socks)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (up_tx, up_rx) = mpsc::channel::<(usize, Result<(Poster, H)>)>();
        let mut starts = Vec::with_capacity(cpus.len());
        let mut threads = Vec::with_capacity(cpus.len());
        for (index, (sock, &cpu)) in socks.into_iter().zip(&cpus).enumerate() {
            let (start_tx, start_rx) = mpsc::channel::<Option<Arc<[Poster]>>>();
            starts.push(start_tx);
            let up = up_tx.clone();
            let setup = setup.clone();
            let stopping = stopping.clone();
            let pin = self.pin;
            let t = std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || {
                    let ready = (|| {
                        if pin {
                            crate::pin_thread(cpu)?;
                        }
                        let mut io = Io::new()?;
                        let h = H::add(&mut io, sock)?;
                        Ok((io, h))
                    })();
                    let (mut io, h) = match ready {
                        Ok(v) => v,
                        Err(e) => {
                            let _ = up.send((index, Err(e)));
                            return Err(e);
                        }
                    };
                    if up.send((index, Ok((io.poster(), h)))).is_err() {
                        return Ok(());
                    }
                    drop(up);
                    let Ok(Some(posters)) = start_rx.recv() else {
                        return Ok(()); // another shard failed to start
                    };
                    let shard = Shard {
                        index,
                        cpu,
                        posters,
                        stopping,
                        local_addr,
                    };
                    setup(&mut io, &shard, h)?;
                    io.run()
                })
                .map_err(Error::from);
            match t {
                Ok(t) => threads.push(Some(t)),
                Err(e) => {
                    starts.iter().for_each(|s| drop(s.send(None)));
                    threads.into_iter().flatten().for_each(|t| drop(t.join()));
                    return Err(e);
                }
            }
        }
        drop(up_tx);
        let n = cpus.len();
        let mut ups: Vec<Option<(Poster, H)>> = (0..n).map(|_| None).collect();
        let mut failed = None;
        let end = Instant::now() + LIMIT;
        for _ in 0..n {
            match up_rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
                Ok((i, Ok(v))) => ups[i] = Some(v),
                Ok((_, Err(e))) => {
                    failed = Some(e);
                    break;
                }
                Err(_) => {
                    failed = Some(Error::with_context(
                        iox::ErrorKind::TimedOut,
                        "shards: a shard did not start within 30 s",
                    ));
                    break;
                }
            }
        }
        if let Some(e) = failed {
            starts.iter().for_each(|s| drop(s.send(None)));
            for t in threads.into_iter().flatten() {
                let _ = t.join();
            }
            return Err(e);
        }
        let (posters, handles): (Vec<Poster>, Vec<H>) = ups.into_iter().flatten().unzip();
        let posters: Arc<[Poster]> = posters.into();
        for s in &starts {
            let _ = s.send(Some(posters.clone()));
        }
        let stoppers = handles
            .into_iter()
            .map(|h| Some(Stopper(Box::new(move |io: &mut Io| h.close(io)))))
            .collect();
        Ok(Shards {
            local_addr,
            cpus,
            posters,
            stopping,
            stoppers,
            threads,
        })
    }
}

/// A UDP socket with `SO_REUSEPORT`, bound to `addr`.
fn udp_reuse_port(addr: &SockaddrAny) -> Result<UdpConn> {
    let domain = match addr {
        SockaddrAny::Inet4(_) => libc::AF_INET,
        SockaddrAny::Inet6(_) => libc::AF_INET6,
        SockaddrAny::Unix(_) => {
            return Err(Error::invalid_input(
                "shards: UDP needs an IPv4 or IPv6 address",
            ));
        }
    };
    let s = NetSocket::new(domain, libc::SOCK_DGRAM, libc::IPPROTO_UDP)?;
    sock::opt::set_reuse_port(&s, true)?;
    s.bind(addr)?;
    UdpConn::try_from(std::os::fd::OwnedFd::from(s))
}

/// Applies the placement to the group (every socket has joined it).
fn place<S: std::os::fd::AsFd>(p: Placement, cpus: &[usize], socks: &[S]) -> Result<()> {
    match p {
        Placement::Hash => Ok(()),
        Placement::IncomingCpu => {
            for (s, &cpu) in socks.iter().zip(cpus) {
                let cpu = i32::try_from(cpu)
                    .map_err(|_| Error::invalid_input("shards: a CPU number exceeds i32"))?;
                sock::opt::set_incoming_cpu(s, cpu)?;
            }
            Ok(())
        }
        Placement::Bpf => attach_bpf(cpus, &socks[0]),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn attach_bpf<S: std::os::fd::AsFd>(cpus: &[usize], first: &S) -> Result<()> {
    sock::bpf::attach_reuseport_cbpf(first, &sock::bpf::Program::index_by_cpu(cpus)?)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn attach_bpf<S: std::os::fd::AsFd>(_cpus: &[usize], _first: &S) -> Result<()> {
    Err(Error::unsupported(
        "shards: BPF placement (SO_ATTACH_REUSEPORT_CBPF) is Linux-only",
    ))
}
