//! Loopback ping-pong: the round-trip time of one 64-byte message over TCP and UDP, as
//! percentiles in nanoseconds, for the sonic-io hot loop (`Io::poll_one` in a loop) and
//! blocking loop (`Io::run_one`) beside blocking `std::net`, mio (hot: a zero-timeout poll in
//! a loop; blocking: a poll whose timeout is the case's remaining time, the same
//! `epoll_wait` as `None` but bounded) and tokio's current-thread runtime, all in one run.
//! Each client talks to its own stack's echo server (a sonic-io `Io` in the same mode for the
//! sonic-io rows, a std thread for std, a mio loop in the same mode for mio, a tokio runtime
//! for tokio), the server on its own thread; with two or more cores the server is pinned to
//! CPU 0 and the client to CPU 1 (`sonic_io::pin_thread`, `sched_setaffinity`). UDP servers
//! stop at an empty datagram sent after the client ends; every server and client also has a
//! backstop (a sonic-io `Timer`, a socket timeout, a tokio timeout) past the case's cap.
//! Syscalls per round trip come from `Io::stats` for sonic-io and from the bench's own
//! counts for the mio client.
//!
//! Then a connection-count sweep: 1, 100, 1,000 and 9,000 TCP connections between a client
//! `Io` and a server `Io` on two threads, both hot; each round sends one 64-byte message on
//! every connection (all in flight at once) and waits for every echo. The figure is the cost
//! per message (elapsed / messages), which should stay flat as connections grow.
//!
//! Every loop is bounded by a count and by time (2,000 warm-up round trips, 50,000 measured,
//! at most 20 s a case). `SONIC_BENCH_QUICK=1` or `-- --quick` cuts the counts tenfold and the
//! cap to 2 s. Figures are printed and appended to `target/bench-summary/sonic-io.jsonl`
//! (the summary also holds p75, p95, p99.5, p99.95 and p99.99, for the percentile plot of
//! `cargo xtask bench`). No figure is asserted.
//!
//! `cargo bench -p sonic-io --bench pingpong [-- --quick]`

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("sonic-io pingpong: linux only (its mio and tokio peers are Linux dev-dependencies)");
}

/// The one place this benchmark needs `unsafe`: the descriptor limit.
#[cfg(target_os = "linux")]
mod sys {
    use std::io;

    /// Raises the soft `RLIMIT_NOFILE` toward `want` (never above the hard limit, never
    /// lowering it); returns the soft limit in force afterwards.
    pub(crate) fn raise_open_files(want: u64) -> io::Result<u64> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
        let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur >= want {
            return Ok(lim.rlim_cur);
        }
        let old = lim.rlim_cur;
        lim.rlim_cur = want.min(lim.rlim_max);
        if lim.rlim_cur <= old {
            return Ok(old);
        }
        // SAFETY: `lim` is a valid rlimit, only read by the kernel during the call.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(lim.rlim_cur)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::{Cell, RefCell};
    use std::io::{self, ErrorKind, Read, Write};
    use std::net::SocketAddr;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use mio::{Events, Interest, Poll, Token};
    use sonic_io::{Io, Listener, PacketConn, Stats, TcpStream, Timer};
    use testkit::bench::Figure;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MSG_LEN: usize = 64;
    static MSG: [u8; MSG_LEN] = [0x5a; MSG_LEN];
    const SERVER_CPU: usize = 0;
    const CLIENT_CPU: usize = 1;
    /// How long past the case cap a client's own backstop waits before giving up.
    const CLIENT_SLACK: Duration = Duration::from_secs(1);
    /// How long past the case cap (and setup) a server waits before giving up.
    const SERVER_SLACK: Duration = Duration::from_secs(5);
    /// The sweep's connection counts.
    const SWEEP: [usize; 4] = [1, 100, 1_000, 9_000];
    /// The percentiles of the table.
    const PCTS: [(&str, f64); 6] = [
        ("min", 0.0),
        ("p50", 0.5),
        ("p90", 0.9),
        ("p99", 0.99),
        ("p99.9", 0.999),
        ("max", 1.0),
    ];
    /// Percentiles recorded in the summary only, for the percentile plot of `cargo xtask
    /// bench` (p50 to p99.99 on a log scale).
    const CURVE: [(&str, f64); 5] = [
        ("p75", 0.75),
        ("p95", 0.95),
        ("p99.5", 0.995),
        ("p99.95", 0.9995),
        ("p99.99", 0.9999),
    ];

    static PIN_FAILED: AtomicBool = AtomicBool::new(false);

    // -------------------------------------------------------------------------------------
    // The plan, the samples, the costs

    #[derive(Clone, Copy, Debug)]
    struct Plan {
        quick: bool,
        warmup: usize,
        measure: usize,
        /// The longest one case's rounds may take.
        cap: Duration,
        /// Messages per sweep row (rounds = messages / connections, at least 3).
        sweep_msgs: usize,
        /// The longest a sweep row's connection setup may take.
        setup_cap: Duration,
    }

    impl Plan {
        fn from_env() -> Plan {
            let quick = std::env::args().skip(1).any(|a| a == "--quick")
                || std::env::var("SONIC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
            let (warmup, measure, cap, sweep_msgs) = if quick {
                (200, 5_000, Duration::from_secs(2), 20_000)
            } else {
                (2_000, 50_000, Duration::from_secs(20), 200_000)
            };
            Plan {
                quick,
                warmup,
                measure,
                cap,
                sweep_msgs,
                setup_cap: Duration::from_secs(20),
            }
        }
    }

    /// Round-trip times of one client: the warm-up is counted, not kept.
    #[derive(Debug)]
    struct Recorder {
        warmup: usize,
        total: usize,
        deadline: Instant,
        done: usize,
        rtts: Vec<u64>,
    }

    impl Recorder {
        fn new(plan: &Plan) -> Recorder {
            Recorder {
                warmup: plan.warmup,
                total: plan.warmup + plan.measure,
                deadline: Instant::now() + plan.cap,
                done: 0,
                rtts: Vec::with_capacity(plan.measure),
            }
        }

        /// Records the round trip that started at `t0`; `false` once the case is over (its
        /// count reached or its cap passed).
        #[inline]
        fn record(&mut self, t0: Instant) -> bool {
            let t1 = Instant::now();
            self.done += 1;
            if self.done > self.warmup {
                self.rtts.push(t1.duration_since(t0).as_nanos() as u64);
            }
            self.done < self.total && t1 < self.deadline
        }

        /// Whether the round just recorded was the last of the warm-up.
        #[inline]
        fn warm_ended(&self) -> bool {
            self.done == self.warmup
        }

        fn finish(self, client: Option<Cost>, error: Option<String>) -> Run {
            Run {
                cut: self.done < self.total,
                rtts: self.rtts,
                client,
                server: None,
                error,
            }
        }
    }

    /// Syscalls over `rounds` measured round trips (or messages).
    #[derive(Clone, Copy, Debug, Default)]
    struct Cost {
        waits: u64,
        reads: u64,
        writes: u64,
        /// `epoll_ctl` and timer arms.
        other: u64,
        rounds: u64,
    }

    impl Cost {
        fn from_stats(s: Stats, rounds: u64) -> Cost {
            Cost {
                waits: s.waits,
                reads: s.reads,
                writes: s.writes,
                other: s.ctl + s.timer_arms,
                rounds,
            }
        }
        fn total(&self) -> u64 {
            self.waits + self.reads + self.writes + self.other
        }
        fn per(&self, x: u64) -> f64 {
            if self.rounds == 0 {
                f64::NAN
            } else {
                x as f64 / self.rounds as f64
            }
        }
    }

    /// One case's outcome.
    #[derive(Debug, Default)]
    struct Run {
        rtts: Vec<u64>,
        /// Stopped by the time cap before its count.
        cut: bool,
        client: Option<Cost>,
        server: Option<Cost>,
        error: Option<String>,
    }

    impl Run {
        fn failed(e: String) -> Run {
            Run {
                error: Some(e),
                ..Run::default()
            }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Proto {
        Tcp,
        Udp,
    }

    impl Proto {
        fn name(self) -> &'static str {
            match self {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
            }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Subject {
        SonicHot,
        SonicBlocking,
        Std,
        MioHot,
        MioBlocking,
        Tokio,
    }

    const SUBJECTS: [Subject; 6] = [
        Subject::SonicHot,
        Subject::SonicBlocking,
        Subject::Std,
        Subject::MioHot,
        Subject::MioBlocking,
        Subject::Tokio,
    ];

    impl Subject {
        fn name(self) -> &'static str {
            match self {
                Subject::SonicHot => "sonic-io hot",
                Subject::SonicBlocking => "sonic-io blocking",
                Subject::Std => "std blocking",
                Subject::MioHot => "mio hot",
                Subject::MioBlocking => "mio blocking",
                Subject::Tokio => "tokio current_thread",
            }
        }
    }

    // -------------------------------------------------------------------------------------
    // Threads

    fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn pin(cpu: usize) {
        if cores() >= 2 && sonic_io::pin_thread(cpu).is_err() {
            // Best effort: an unpinned run is still a valid run; the header says so.
            PIN_FAILED.store(true, Ordering::Relaxed);
        }
    }

    fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "panicked".into())
    }

    /// Runs `server` and `client` on their own (pinned) threads; after the client ends, sends
    /// an empty datagram to `udp_bye` (the UDP servers' signal to stop).
    fn pair<S, C>(udp_bye: Option<SocketAddr>, server: S, client: C) -> Run
    where
        S: FnOnce() -> Result<Option<Cost>, String> + Send + 'static,
        C: FnOnce() -> Run + Send + 'static,
    {
        let s = std::thread::Builder::new()
            .name("echo-server".into())
            .spawn(move || {
                pin(SERVER_CPU);
                server()
            })
            .expect("spawn the server");
        let c = std::thread::Builder::new()
            .name("client".into())
            .spawn(move || {
                pin(CLIENT_CPU);
                client()
            })
            .expect("spawn the client");
        let mut run = c
            .join()
            .unwrap_or_else(|p| Run::failed(format!("client: {}", panic_text(&*p))));
        if let Some(to) = udp_bye
            && let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0")
        {
            // Two, in case one is lost; the servers' own backstops cover the rest.
            let _ = s.send_to(&[], to);
            let _ = s.send_to(&[], to);
        }
        match s.join() {
            Ok(Ok(cost)) => run.server = cost,
            Ok(Err(e)) => {
                run.error.get_or_insert(format!("server: {e}"));
            }
            Err(p) => {
                run.error
                    .get_or_insert(format!("server: {}", panic_text(&*p)));
            }
        }
        run
    }

    fn str_err<T>(r: io::Result<T>) -> Result<T, String> {
        r.map_err(|e| e.to_string())
    }

    // -------------------------------------------------------------------------------------
    // sonic-io

    /// Drives `io` in `hot` (`poll_one` in a loop) or blocking (`run_one`) mode until it is
    /// closed: by the last round trip, by the peer's end of stream, or by its backstop timer.
    fn drive(io: &mut Io, hot: bool) -> Result<(), String> {
        while !io.closed() {
            let r = if hot { io.poll_one() } else { io.run_one() };
            if let Err(e) = r {
                if io.closed() {
                    break;
                }
                return Err(format!("drive: {e}"));
            }
        }
        Ok(())
    }

    /// Closes `io` after `after`, whatever happens: the time bound of a drive loop.
    fn backstop(io: &mut Io, after: Duration) {
        let t = Timer::new(io).expect("timer");
        t.schedule_once(io, after, |io, _| {
            let _ = io.close();
        })
        .expect("backstop timer");
    }

    /// A server's echo count; the Io's counters restart when the warm-up ends.
    #[derive(Debug)]
    struct Echoes {
        n: Cell<u64>,
        warmup: u64,
    }

    impl Echoes {
        fn new(warmup: u64) -> Rc<Echoes> {
            Rc::new(Echoes {
                n: Cell::new(0),
                warmup,
            })
        }
        #[inline]
        fn bump(&self, io: &mut Io) {
            let n = self.n.get() + 1;
            self.n.set(n);
            if n == self.warmup {
                io.reset_stats();
            }
        }
        fn cost(&self, s: Stats) -> Cost {
            Cost::from_stats(s, self.n.get().saturating_sub(self.warmup))
        }
    }

    /// Echoes 64-byte messages on `c` until it fails or ends, which closes the server.
    fn serve_tcp(io: &mut Io, c: TcpStream, buf: Vec<u8>, e: Rc<Echoes>) {
        let armed = c.async_read_exact(io, buf, move |io, r, buf| {
            if r.is_err() {
                let _ = io.close();
                return;
            }
            let armed = c.async_write_all(io, buf, move |io, r, buf| {
                if r.is_err() {
                    let _ = io.close();
                    return;
                }
                e.bump(io);
                serve_tcp(io, c, buf, e);
            });
            if armed.is_err() {
                let _ = io.close();
            }
        });
        if armed.is_err() {
            let _ = io.close();
        }
    }

    fn accept_loop(io: &mut Io, l: Listener<sock::TcpListener>, e: Rc<Echoes>) {
        let armed = l.async_accept(io, move |io, r| {
            let Ok((c, _)) = r else {
                // EMFILE, or the Io's close cancelling the last accept.
                let _ = io.close();
                return;
            };
            if let Ok(s) = c.get(io) {
                let _ = s.set_nodelay(true);
            }
            serve_tcp(io, c, vec![0u8; MSG_LEN], e.clone());
            accept_loop(io, l, e);
        });
        if armed.is_err() {
            let _ = io.close();
        }
    }

    fn sonic_tcp_server(
        l: sock::TcpListener,
        hot: bool,
        warmup: u64,
        objects: usize,
        backstop_after: Duration,
    ) -> Result<Option<Cost>, String> {
        let mut io = Io::builder()
            .objects(objects)
            .build()
            .map_err(|e| e.to_string())?;
        backstop(&mut io, backstop_after);
        let e = Echoes::new(warmup);
        let l = Listener::add(&mut io, l).map_err(|e| e.to_string())?;
        accept_loop(&mut io, l, e.clone());
        drive(&mut io, hot)?;
        Ok(Some(e.cost(io.stats())))
    }

    type Rec = Rc<RefCell<Recorder>>;

    /// Records a round trip from inside a callback; `true` to go on.
    #[inline]
    fn record(io: &mut Io, rec: &Rec, t0: Instant) -> bool {
        let (go, warm_ended) = {
            let mut r = rec.borrow_mut();
            (r.record(t0), r.warm_ended())
        };
        if warm_ended {
            io.reset_stats();
        }
        go
    }

    /// One TCP round trip; the next starts from the read's callback.
    fn tcp_round(io: &mut Io, c: TcpStream, buf: Vec<u8>, rec: Rec) {
        let t0 = Instant::now();
        let armed = c.async_write_all(io, &MSG, move |io, r, _| {
            if r.is_err() {
                let _ = io.close();
                return;
            }
            let armed = c.async_read_exact(io, buf, move |io, r, buf| {
                if r.is_err() {
                    let _ = io.close();
                    return;
                }
                if record(io, &rec, t0) {
                    tcp_round(io, c, buf, rec);
                } else {
                    let _ = io.close();
                }
            });
            if armed.is_err() {
                let _ = io.close();
            }
        });
        if armed.is_err() {
            let _ = io.close();
        }
    }

    fn sonic_client_end(io: Io, rec: Rec, failed: Option<String>) -> Run {
        let stats = io.stats();
        drop(io);
        let rec = Rc::try_unwrap(rec)
            .expect("the closed Io dropped every callback")
            .into_inner();
        let rounds = rec.rtts.len() as u64;
        rec.finish(Some(Cost::from_stats(stats, rounds)), failed)
    }

    fn sonic_tcp_client(addr: SocketAddr, hot: bool, plan: Plan) -> Run {
        let mut io = match Io::new() {
            Ok(io) => io,
            Err(e) => return Run::failed(e.to_string()),
        };
        backstop(&mut io, plan.cap + CLIENT_SLACK);
        let rec = Rc::new(RefCell::new(Recorder::new(&plan)));
        let failed: Rc<RefCell<Option<String>>> = Rc::default();
        let (r, f) = (rec.clone(), failed.clone());
        let dialer = sock::TcpDialer {
            nodelay: true,
            ..Default::default()
        };
        let dialed = TcpStream::dial_with(&mut io, &dialer, addr, move |io, res| match res {
            Ok(c) => tcp_round(io, c, vec![0u8; MSG_LEN], r),
            Err(e) => {
                *f.borrow_mut() = Some(format!("dial: {e}"));
                let _ = io.close();
            }
        });
        let mut err = dialed.err().map(|e| format!("dial: {e}"));
        if err.is_none() {
            err = drive(&mut io, hot).err();
        }
        let err = err.or_else(|| failed.take());
        sonic_client_end(io, rec, err)
    }

    type SonicUdp = PacketConn<sock::UdpConn>;

    /// Echoes datagrams to their senders until an empty one (the bye) or an error.
    fn serve_udp(io: &mut Io, s: SonicUdp, buf: Vec<u8>, e: Rc<Echoes>) {
        let armed = s.async_read_from(io, buf, move |io, r, mut buf| {
            let (n, from) = match r {
                Ok((n, from)) if n > 0 => (n, from),
                _ => {
                    let _ = io.close();
                    return;
                }
            };
            buf.truncate(n);
            let armed = s.async_write_to(io, buf, &from, move |io, r, mut buf| {
                if r.is_err() {
                    let _ = io.close();
                    return;
                }
                buf.resize(MSG_LEN, 0);
                e.bump(io);
                serve_udp(io, s, buf, e);
            });
            if armed.is_err() {
                let _ = io.close();
            }
        });
        if armed.is_err() {
            let _ = io.close();
        }
    }

    fn sonic_udp_server(
        s: std::net::UdpSocket,
        hot: bool,
        warmup: u64,
        backstop_after: Duration,
    ) -> Result<Option<Cost>, String> {
        let mut io = Io::new().map_err(|e| e.to_string())?;
        backstop(&mut io, backstop_after);
        let s = sock::UdpConn::try_from(s).map_err(|e| e.to_string())?;
        let s = PacketConn::add(&mut io, s).map_err(|e| e.to_string())?;
        let e = Echoes::new(warmup);
        serve_udp(&mut io, s, vec![0u8; MSG_LEN], e.clone());
        drive(&mut io, hot)?;
        Ok(Some(e.cost(io.stats())))
    }

    /// One UDP round trip on a connected socket; the next starts from the read's callback.
    fn udp_round(io: &mut Io, c: SonicUdp, buf: Vec<u8>, rec: Rec) {
        let t0 = Instant::now();
        let armed = c.async_write(io, &MSG, move |io, r, _| {
            if r.is_err() {
                let _ = io.close();
                return;
            }
            let armed = c.async_read(io, buf, move |io, r, buf| {
                if r.is_err() {
                    let _ = io.close();
                    return;
                }
                if record(io, &rec, t0) {
                    udp_round(io, c, buf, rec);
                } else {
                    let _ = io.close();
                }
            });
            if armed.is_err() {
                let _ = io.close();
            }
        });
        if armed.is_err() {
            let _ = io.close();
        }
    }

    fn sonic_udp_client(addr: SocketAddr, hot: bool, plan: Plan) -> Run {
        let mut io = match Io::new() {
            Ok(io) => io,
            Err(e) => return Run::failed(e.to_string()),
        };
        backstop(&mut io, plan.cap + CLIENT_SLACK);
        let c = match sock::UdpConn::dial(None, addr).and_then(|s| PacketConn::add(&mut io, s)) {
            Ok(c) => c,
            Err(e) => return Run::failed(format!("udp dial: {e}")),
        };
        let rec = Rc::new(RefCell::new(Recorder::new(&plan)));
        udp_round(&mut io, c, vec![0u8; MSG_LEN], rec.clone());
        let err = drive(&mut io, hot).err();
        sonic_client_end(io, rec, err)
    }

    // -------------------------------------------------------------------------------------
    // std::net, blocking

    fn accept_bounded(
        l: &std::net::TcpListener,
        deadline: Instant,
    ) -> io::Result<std::net::TcpStream> {
        l.set_nonblocking(true)?;
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)?;
                    return Ok(s);
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(ErrorKind::TimedOut, "no client connected"));
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn std_tcp_server(l: std::net::TcpListener, backstop_after: Duration) -> io::Result<()> {
        let deadline = Instant::now() + backstop_after;
        let mut s = accept_bounded(&l, deadline)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(backstop_after))?;
        let mut buf = [0u8; MSG_LEN];
        while Instant::now() < deadline {
            if s.read_exact(&mut buf).is_err() || s.write_all(&buf).is_err() {
                break;
            }
        }
        Ok(())
    }

    fn std_tcp_client(addr: SocketAddr, plan: Plan) -> Run {
        let mut rec = Recorder::new(&plan);
        let r = (|| -> io::Result<()> {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(plan.cap + CLIENT_SLACK))?;
            let mut buf = [0u8; MSG_LEN];
            loop {
                let t0 = Instant::now();
                s.write_all(&MSG)?;
                s.read_exact(&mut buf)?;
                if !rec.record(t0) {
                    return Ok(());
                }
            }
        })();
        rec.finish(None, r.err().map(|e| e.to_string()))
    }

    fn std_udp_server(s: std::net::UdpSocket, backstop_after: Duration) -> io::Result<()> {
        let deadline = Instant::now() + backstop_after;
        s.set_read_timeout(Some(backstop_after))?;
        let mut buf = [0u8; MSG_LEN];
        while Instant::now() < deadline {
            match s.recv_from(&mut buf) {
                Ok((0, _)) | Err(_) => break,
                Ok((n, from)) => {
                    s.send_to(&buf[..n], from)?;
                }
            }
        }
        Ok(())
    }

    fn std_udp_client(addr: SocketAddr, plan: Plan) -> Run {
        let mut rec = Recorder::new(&plan);
        let r = (|| -> io::Result<()> {
            let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
            s.connect(addr)?;
            s.set_read_timeout(Some(plan.cap + CLIENT_SLACK))?;
            let mut buf = [0u8; MSG_LEN];
            loop {
                let t0 = Instant::now();
                s.send(&MSG)?;
                s.recv(&mut buf)?;
                if !rec.record(t0) {
                    return Ok(());
                }
            }
        })();
        rec.finish(None, r.err().map(|e| e.to_string()))
    }

    // -------------------------------------------------------------------------------------
    // mio: edge-triggered, each side reads until WouldBlock as mio requires

    const LISTENER: Token = Token(0);
    const CONN: Token = Token(1);

    /// A mio poll in hot (zero timeout) or blocking mode, bounded by a deadline, counting
    /// the syscalls its owner makes.
    struct MioLoop {
        poll: Poll,
        events: Events,
        hot: bool,
        deadline: Instant,
        counts: Cost,
    }

    impl MioLoop {
        fn new(hot: bool, deadline: Instant) -> io::Result<MioLoop> {
            Ok(MioLoop {
                poll: Poll::new()?,
                events: Events::with_capacity(64),
                hot,
                deadline,
                counts: Cost::default(),
            })
        }

        /// One wait (zero timeout when hot, else until the deadline); `false` once the
        /// deadline has passed.
        #[inline]
        fn wait(&mut self) -> io::Result<bool> {
            let now = Instant::now();
            if now >= self.deadline {
                return Ok(false);
            }
            let t = if self.hot {
                Duration::ZERO
            } else {
                self.deadline - now
            };
            self.counts.waits += 1;
            match self.poll.poll(&mut self.events, Some(t)) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
                Err(e) => Err(e),
            }
        }

        #[inline]
        fn has(&self, t: Token) -> bool {
            self.events.iter().any(|e| e.token() == t)
        }
    }

    /// Retries a non-blocking call that met `WouldBlock` (a full socket buffer: not expected
    /// with one message in flight) until `deadline`.
    #[inline]
    fn retry(
        deadline: Instant,
        count: &mut u64,
        mut f: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        loop {
            *count += 1;
            match f() {
                Ok(n) => return Ok(n),
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(ErrorKind::TimedOut, "socket stayed full"));
                    }
                    std::hint::spin_loop();
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn write_spin(
        w: &mut impl Write,
        mut buf: &[u8],
        deadline: Instant,
        count: &mut u64,
    ) -> io::Result<()> {
        while !buf.is_empty() {
            let n = retry(deadline, count, || w.write(buf))?;
            if n == 0 {
                return Err(ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    fn mio_tcp_server(
        l: std::net::TcpListener,
        hot: bool,
        backstop_after: Duration,
    ) -> io::Result<()> {
        let deadline = Instant::now() + backstop_after;
        l.set_nonblocking(true)?;
        let mut l = mio::net::TcpListener::from_std(l);
        let mut ml = MioLoop::new(hot, deadline)?;
        ml.poll
            .registry()
            .register(&mut l, LISTENER, Interest::READABLE)?;
        let mut s = loop {
            if !ml.wait()? {
                return Ok(());
            }
            if ml.has(LISTENER) {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        };
        s.set_nodelay(true)?;
        ml.poll
            .registry()
            .register(&mut s, CONN, Interest::READABLE)?;
        let mut buf = [0u8; 256];
        let mut spare = 0u64;
        loop {
            if !ml.wait()? {
                return Ok(());
            }
            if !ml.has(CONN) {
                continue;
            }
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => write_spin(&mut s, &buf[..n], deadline, &mut spare)?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // The client's close may reset the connection: the end either way.
                    Err(_) => return Ok(()),
                }
            }
        }
    }

    fn mio_tcp_client(addr: SocketAddr, hot: bool, plan: Plan) -> Run {
        let mut rec = Recorder::new(&plan);
        let r = (|| -> io::Result<Cost> {
            let s = std::net::TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            let mut s = mio::net::TcpStream::from_std(s);
            let mut ml = MioLoop::new(hot, rec.deadline + CLIENT_SLACK)?;
            ml.poll
                .registry()
                .register(&mut s, CONN, Interest::READABLE)?;
            let mut buf = [0u8; 256];
            loop {
                let t0 = Instant::now();
                write_spin(&mut s, &MSG, ml.deadline, &mut ml.counts.writes)?;
                let mut have = 0;
                while have < MSG_LEN {
                    if !ml.wait()? {
                        return Err(io::Error::new(ErrorKind::TimedOut, "no echo"));
                    }
                    if !ml.has(CONN) {
                        continue;
                    }
                    loop {
                        ml.counts.reads += 1;
                        match s.read(&mut buf) {
                            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                            Ok(n) => have += n,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                if !rec.record(t0) {
                    break;
                }
                if rec.warm_ended() {
                    ml.counts = Cost::default();
                }
            }
            Ok(Cost {
                rounds: rec.rtts.len() as u64,
                ..ml.counts
            })
        })();
        match r {
            Ok(c) => rec.finish(Some(c), None),
            Err(e) => rec.finish(None, Some(e.to_string())),
        }
    }

    fn mio_udp_server(
        s: std::net::UdpSocket,
        hot: bool,
        backstop_after: Duration,
    ) -> io::Result<()> {
        let deadline = Instant::now() + backstop_after;
        s.set_nonblocking(true)?;
        let mut s = mio::net::UdpSocket::from_std(s);
        let mut ml = MioLoop::new(hot, deadline)?;
        ml.poll
            .registry()
            .register(&mut s, CONN, Interest::READABLE)?;
        let mut buf = [0u8; MSG_LEN];
        let mut spare = 0u64;
        loop {
            if !ml.wait()? {
                return Ok(());
            }
            if !ml.has(CONN) {
                continue;
            }
            loop {
                match s.recv_from(&mut buf) {
                    Ok((0, _)) => return Ok(()),
                    Ok((n, from)) => {
                        retry(deadline, &mut spare, || s.send_to(&buf[..n], from))?;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    fn mio_udp_client(addr: SocketAddr, hot: bool, plan: Plan) -> Run {
        let mut rec = Recorder::new(&plan);
        let r = (|| -> io::Result<Cost> {
            let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
            s.connect(addr)?;
            s.set_nonblocking(true)?;
            let mut s = mio::net::UdpSocket::from_std(s);
            let mut ml = MioLoop::new(hot, rec.deadline + CLIENT_SLACK)?;
            ml.poll
                .registry()
                .register(&mut s, CONN, Interest::READABLE)?;
            let mut buf = [0u8; MSG_LEN];
            loop {
                let t0 = Instant::now();
                let deadline = ml.deadline;
                retry(deadline, &mut ml.counts.writes, || s.send(&MSG))?;
                let mut got = false;
                while !got {
                    if !ml.wait()? {
                        return Err(io::Error::new(ErrorKind::TimedOut, "no echo"));
                    }
                    if !ml.has(CONN) {
                        continue;
                    }
                    loop {
                        ml.counts.reads += 1;
                        match s.recv(&mut buf) {
                            Ok(_) => got = true,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                if !rec.record(t0) {
                    break;
                }
                if rec.warm_ended() {
                    ml.counts = Cost::default();
                }
            }
            Ok(Cost {
                rounds: rec.rtts.len() as u64,
                ..ml.counts
            })
        })();
        match r {
            Ok(c) => rec.finish(Some(c), None),
            Err(e) => rec.finish(None, Some(e.to_string())),
        }
    }

    // -------------------------------------------------------------------------------------
    // tokio, current_thread runtimes

    fn tokio_rt() -> io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }

    async fn tokio_tcp_serve(l: std::net::TcpListener) -> io::Result<()> {
        let l = tokio::net::TcpListener::from_std(l)?;
        let (mut s, _) = l.accept().await?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; MSG_LEN];
        loop {
            if s.read_exact(&mut buf).await.is_err() {
                return Ok(());
            }
            s.write_all(&buf).await?;
        }
    }

    fn tokio_tcp_server(l: std::net::TcpListener, backstop_after: Duration) -> io::Result<()> {
        l.set_nonblocking(true)?;
        tokio_rt()?.block_on(async move {
            tokio::time::timeout(backstop_after, tokio_tcp_serve(l))
                .await
                .unwrap_or(Ok(()))
        })
    }

    async fn tokio_tcp_rounds(addr: SocketAddr, rec: &mut Recorder) -> io::Result<()> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; MSG_LEN];
        loop {
            let t0 = Instant::now();
            s.write_all(&MSG).await?;
            s.read_exact(&mut buf).await?;
            if !rec.record(t0) {
                return Ok(());
            }
        }
    }

    async fn tokio_udp_serve(s: std::net::UdpSocket) -> io::Result<()> {
        let s = tokio::net::UdpSocket::from_std(s)?;
        let mut buf = [0u8; MSG_LEN];
        loop {
            let (n, from) = s.recv_from(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            s.send_to(&buf[..n], from).await?;
        }
    }

    fn tokio_udp_server(s: std::net::UdpSocket, backstop_after: Duration) -> io::Result<()> {
        s.set_nonblocking(true)?;
        tokio_rt()?.block_on(async move {
            tokio::time::timeout(backstop_after, tokio_udp_serve(s))
                .await
                .unwrap_or(Ok(()))
        })
    }

    async fn tokio_udp_rounds(addr: SocketAddr, rec: &mut Recorder) -> io::Result<()> {
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        s.connect(addr).await?;
        let mut buf = [0u8; MSG_LEN];
        loop {
            let t0 = Instant::now();
            s.send(&MSG).await?;
            s.recv(&mut buf).await?;
            if !rec.record(t0) {
                return Ok(());
            }
        }
    }

    fn tokio_client(addr: SocketAddr, proto: Proto, plan: Plan) -> Run {
        let mut rec = Recorder::new(&plan);
        let rt = match tokio_rt() {
            Ok(rt) => rt,
            Err(e) => return rec.finish(None, Some(e.to_string())),
        };
        let bound = plan.cap + CLIENT_SLACK;
        let r = rt.block_on(async {
            // One timer for the whole case, not one per operation.
            match proto {
                Proto::Tcp => tokio::time::timeout(bound, tokio_tcp_rounds(addr, &mut rec)).await,
                Proto::Udp => tokio::time::timeout(bound, tokio_udp_rounds(addr, &mut rec)).await,
            }
        });
        let err = match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("timed out".into()),
        };
        rec.finish(None, err)
    }

    // -------------------------------------------------------------------------------------
    // One case

    fn run_case(plan: Plan, proto: Proto, subject: Subject) -> Run {
        let backstop_after = plan.cap + SERVER_SLACK;
        let warm = plan.warmup as u64;
        let hot = matches!(subject, Subject::SonicHot | Subject::MioHot);
        let none = |r: io::Result<()>| str_err(r).map(|()| None);
        match proto {
            Proto::Tcp => {
                let l = match std::net::TcpListener::bind("127.0.0.1:0") {
                    Ok(l) => l,
                    Err(e) => return Run::failed(format!("bind: {e}")),
                };
                let addr = l.local_addr().expect("local_addr");
                match subject {
                    Subject::SonicHot | Subject::SonicBlocking => {
                        let l = match sock::TcpListener::try_from(l) {
                            Ok(l) => l,
                            Err(e) => return Run::failed(e.to_string()),
                        };
                        pair(
                            None,
                            move || sonic_tcp_server(l, hot, warm, 64, backstop_after),
                            move || sonic_tcp_client(addr, hot, plan),
                        )
                    }
                    Subject::Std => pair(
                        None,
                        move || none(std_tcp_server(l, backstop_after)),
                        move || std_tcp_client(addr, plan),
                    ),
                    Subject::MioHot | Subject::MioBlocking => pair(
                        None,
                        move || none(mio_tcp_server(l, hot, backstop_after)),
                        move || mio_tcp_client(addr, hot, plan),
                    ),
                    Subject::Tokio => pair(
                        None,
                        move || none(tokio_tcp_server(l, backstop_after)),
                        move || tokio_client(addr, Proto::Tcp, plan),
                    ),
                }
            }
            Proto::Udp => {
                let s = match std::net::UdpSocket::bind("127.0.0.1:0") {
                    Ok(s) => s,
                    Err(e) => return Run::failed(format!("bind: {e}")),
                };
                let addr = s.local_addr().expect("local_addr");
                let bye = Some(addr);
                match subject {
                    Subject::SonicHot | Subject::SonicBlocking => pair(
                        bye,
                        move || sonic_udp_server(s, hot, warm, backstop_after),
                        move || sonic_udp_client(addr, hot, plan),
                    ),
                    Subject::Std => pair(
                        bye,
                        move || none(std_udp_server(s, backstop_after)),
                        move || std_udp_client(addr, plan),
                    ),
                    Subject::MioHot | Subject::MioBlocking => pair(
                        bye,
                        move || none(mio_udp_server(s, hot, backstop_after)),
                        move || mio_udp_client(addr, hot, plan),
                    ),
                    Subject::Tokio => pair(
                        bye,
                        move || none(tokio_udp_server(s, backstop_after)),
                        move || tokio_client(addr, Proto::Udp, plan),
                    ),
                }
            }
        }
    }

    // -------------------------------------------------------------------------------------
    // The connection sweep

    #[derive(Debug, Default)]
    struct SweepRow {
        conns: usize,
        rounds: u64,
        messages: u64,
        elapsed: Duration,
        cut: bool,
        client: Option<Cost>,
        server: Option<Cost>,
        setup: Duration,
        error: Option<String>,
    }

    impl SweepRow {
        fn ns_per_msg(&self) -> f64 {
            if self.messages == 0 {
                f64::NAN
            } else {
                self.elapsed.as_nanos() as f64 / self.messages as f64
            }
        }
    }

    /// Rounds (warm-up, measured) for `n` connections.
    fn sweep_rounds(plan: &Plan, n: usize) -> (u64, u64) {
        let measured = (plan.sweep_msgs / n).max(3) as u64;
        ((measured / 10).max(1), measured)
    }

    fn sweep_client(addr: sock::SockaddrAny, n: usize, plan: Plan) -> SweepRow {
        let mut row = SweepRow {
            conns: n,
            ..SweepRow::default()
        };
        let (warm, measured) = sweep_rounds(&plan, n);
        let mut io = match Io::builder().objects(n + 16).build() {
            Ok(io) => io,
            Err(e) => {
                row.error = Some(e.to_string());
                return row;
            }
        };
        backstop(&mut io, plan.setup_cap + plan.cap + CLIENT_SLACK);
        // Connect all, letting the loop complete connects as it goes.
        let t_setup = Instant::now();
        let setup_deadline = t_setup + plan.setup_cap;
        let conns: Rc<RefCell<Vec<TcpStream>>> = Rc::new(RefCell::new(Vec::with_capacity(n)));
        let failed: Rc<RefCell<Option<String>>> = Rc::default();
        let dialer = sock::TcpDialer {
            nodelay: true,
            ..Default::default()
        };
        for i in 0..n {
            let (c, f) = (conns.clone(), failed.clone());
            let r = TcpStream::dial_with(&mut io, &dialer, addr, move |_, r| match r {
                Ok(s) => c.borrow_mut().push(s),
                Err(e) => {
                    f.borrow_mut().get_or_insert(format!("dial: {e}"));
                }
            });
            if let Err(e) = r {
                row.error = Some(format!("dial: {e}"));
                return row;
            }
            // Keep the server's backlog from overflowing (a dropped SYN costs a second).
            while i + 1 - conns.borrow().len() > 512
                && Instant::now() < setup_deadline
                && !io.closed()
            {
                let _ = io.poll_one();
            }
        }
        while conns.borrow().len() < n
            && failed.borrow().is_none()
            && Instant::now() < setup_deadline
            && !io.closed()
        {
            let _ = io.poll_one();
        }
        row.setup = t_setup.elapsed();
        if let Some(e) = failed.take() {
            row.error = Some(e);
            return row;
        }
        let conns = conns.take();
        if conns.len() < n {
            row.error = Some(format!(
                "{} of {n} connected within {:?}",
                conns.len(),
                plan.setup_cap
            ));
            return row;
        }
        // Rounds: one message on every connection, then every echo.
        let pool: Rc<RefCell<Vec<Vec<u8>>>> =
            Rc::new(RefCell::new((0..n).map(|_| vec![0u8; MSG_LEN]).collect()));
        let outstanding = Rc::new(Cell::new(0usize));
        let deadline = Instant::now() + plan.cap;
        let mut t_start = Instant::now();
        'rounds: for round in 0..warm + measured {
            if round == warm {
                io.reset_stats();
                t_start = Instant::now();
            }
            outstanding.set(n);
            for &c in &conns {
                let w = c.async_write_all(&mut io, &MSG, |io, r, _| {
                    if r.is_err() {
                        let _ = io.close();
                    }
                });
                let buf = pool.borrow_mut().pop().expect("one buffer per connection");
                let (p, o) = (pool.clone(), outstanding.clone());
                let rd = c.async_read_exact(&mut io, buf, move |io, r, buf| {
                    if r.is_err() {
                        let _ = io.close();
                        return;
                    }
                    p.borrow_mut().push(buf);
                    o.set(o.get() - 1);
                });
                if w.is_err() || rd.is_err() {
                    row.error = Some("a submission was refused".into());
                    break 'rounds;
                }
            }
            while outstanding.get() > 0 && !io.closed() {
                let _ = io.poll_one();
            }
            if io.closed() {
                row.error = Some(format!(
                    "closed with {} echoes outstanding",
                    outstanding.get()
                ));
                break;
            }
            if round >= warm {
                row.rounds += 1;
            }
            if Instant::now() >= deadline {
                row.cut = row.rounds < measured;
                break;
            }
        }
        row.elapsed = t_start.elapsed();
        row.messages = row.rounds * n as u64;
        row.client = Some(Cost::from_stats(io.stats(), row.messages));
        row
    }

    fn sweep_row(plan: Plan, n: usize) -> SweepRow {
        let l = match sock::TcpListener::bind_with(
            "127.0.0.1:0",
            sock::Family::Any,
            sock::ListenOptions {
                backlog: 4096,
                ..Default::default()
            },
        ) {
            Ok(l) => l,
            Err(e) => {
                return SweepRow {
                    conns: n,
                    error: Some(format!("bind: {e}")),
                    ..SweepRow::default()
                };
            }
        };
        let addr = l.local_addr().expect("local_addr");
        let (warm, _) = sweep_rounds(&plan, n);
        let warm_msgs = warm * n as u64;
        let backstop_after = plan.setup_cap + plan.cap + SERVER_SLACK;
        let server = std::thread::Builder::new()
            .name("sweep-server".into())
            .spawn(move || {
                pin(SERVER_CPU);
                sonic_tcp_server(l, true, warm_msgs, n + 16, backstop_after)
            })
            .expect("spawn the server");
        let client = std::thread::Builder::new()
            .name("sweep-client".into())
            .spawn(move || {
                pin(CLIENT_CPU);
                sweep_client(addr, n, plan)
            })
            .expect("spawn the client");
        let mut row = client.join().unwrap_or_else(|p| SweepRow {
            conns: n,
            error: Some(format!("client: {}", panic_text(&*p))),
            ..SweepRow::default()
        });
        match server.join() {
            Ok(Ok(c)) => row.server = c,
            Ok(Err(e)) => {
                row.error.get_or_insert(format!("server: {e}"));
            }
            Err(p) => {
                row.error
                    .get_or_insert(format!("server: {}", panic_text(&*p)));
            }
        }
        row
    }

    // -------------------------------------------------------------------------------------
    // The cost of one idle turn of a hot loop

    /// Nanoseconds per empty `Io::poll_one` and per empty mio zero-timeout poll, each with
    /// one idle registered TCP connection (and, for the Io, a scheduled timer, as the clients
    /// above have), over `n` turns.
    fn idle_turns(n: usize) -> io::Result<(f64, f64)> {
        let (a, _peer) = testkit::tcp_pair()?;
        let (b, _peer2) = testkit::tcp_pair()?;
        let mut io = Io::new().map_err(io::Error::other)?;
        backstop(&mut io, Duration::from_secs(3600));
        let a = TcpStream::add(
            &mut io,
            sock::TcpConn::try_from(a).map_err(io::Error::other)?,
        )
        .map_err(io::Error::other)?;
        // Arm a read, as a hot client waiting for its echo has.
        let _ = a.async_read_exact(&mut io, vec![0u8; MSG_LEN], |_, _, _| {});
        for _ in 0..1_000 {
            let _ = io.poll_one();
        }
        let t = Instant::now();
        for _ in 0..n {
            let _ = std::hint::black_box(io.poll_one());
        }
        let sonic = t.elapsed().as_nanos() as f64 / n as f64;
        b.set_nonblocking(true)?;
        let mut b = mio::net::TcpStream::from_std(b);
        let mut ml = MioLoop::new(true, Instant::now() + Duration::from_secs(3600))?;
        ml.poll
            .registry()
            .register(&mut b, CONN, Interest::READABLE)?;
        for _ in 0..1_000 {
            ml.wait()?;
        }
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(ml.wait()?);
        }
        let mio = t.elapsed().as_nanos() as f64 / n as f64;
        Ok((sonic, mio))
    }

    // -------------------------------------------------------------------------------------
    // Output

    fn pct(sorted: &[u64], p: f64) -> u64 {
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }

    fn cost_cells(c: Option<Cost>) -> String {
        match c {
            Some(c) if c.rounds > 0 => format!(
                "{:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2}",
                c.per(c.waits),
                c.per(c.reads),
                c.per(c.writes),
                c.per(c.other),
                c.per(c.total())
            ),
            _ => format!("{:>6} {:>6} {:>6} {:>6} {:>6}", "-", "-", "-", "-", "-"),
        }
    }

    pub(crate) fn main() {
        let plan = Plan::from_env();
        let t_all = Instant::now();
        eprintln!(
            "sonic-io pingpong ({} mode): {} warm-up + {} measured round trips per case, {:?} cap",
            if plan.quick { "quick" } else { "full" },
            plan.warmup,
            plan.measure,
            plan.cap
        );

        // ---- ping-pong cases
        let mut results: Vec<(Proto, Subject, Run)> = Vec::new();
        for proto in [Proto::Tcp, Proto::Udp] {
            for subject in SUBJECTS {
                let t = Instant::now();
                let run = run_case(plan, proto, subject);
                let mean = run.rtts.iter().sum::<u64>() as f64 / run.rtts.len().max(1) as f64;
                eprintln!(
                    "  {} {:<22} {:>6} samples, mean {:>8.0} ns, in {:>6.2} s{}",
                    proto.name(),
                    subject.name(),
                    run.rtts.len(),
                    mean,
                    t.elapsed().as_secs_f64(),
                    run.error
                        .as_deref()
                        .map(|e| format!("  ERROR: {e}"))
                        .unwrap_or_default()
                );
                results.push((proto, subject, run));
            }
        }
        let t_cases = t_all.elapsed();

        // ---- the sweep
        let t_sweep = Instant::now();
        let want_fds = 20_000u64;
        let limit = crate::sys::raise_open_files(want_fds);
        let mut sweep: Vec<SweepRow> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        for n in SWEEP {
            // Both ends of every connection live in this process, plus slack.
            let need = 2 * n as u64 + 256;
            let need = if n >= 9_000 { need.max(want_fds) } else { need };
            match &limit {
                Ok(have) if *have >= need => {}
                Ok(have) => {
                    skipped.push(format!(
                        "{n} connections skipped: they need RLIMIT_NOFILE >= {need}, the limit is {have} (raise the hard limit)"
                    ));
                    continue;
                }
                Err(e) => {
                    skipped.push(format!(
                        "{n} connections skipped: cannot read or raise RLIMIT_NOFILE: {e}"
                    ));
                    continue;
                }
            }
            let t = Instant::now();
            let row = sweep_row(plan, n);
            eprintln!(
                "  sweep {:>5} connections: {} messages in {:.2} s (setup {:.2} s){}",
                n,
                row.messages,
                t.elapsed().as_secs_f64(),
                row.setup.as_secs_f64(),
                row.error
                    .as_deref()
                    .map(|e| format!("  ERROR: {e}"))
                    .unwrap_or_default()
            );
            sweep.push(row);
        }
        let t_sweep = t_sweep.elapsed();
        let idle = idle_turns(if plan.quick { 20_000 } else { 200_000 });

        // ---- the table
        let pinned = if cores() < 2 {
            "not pinned (1 core)".to_string()
        } else if PIN_FAILED.load(Ordering::Relaxed) {
            "pinning failed, threads unpinned".to_string()
        } else {
            format!("server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}")
        };
        println!();
        println!(
            "64-byte ping-pong RTT on loopback, ns: {} warm-up + {} measured round trips per case (cap {:?}); {} cores, {pinned}",
            plan.warmup,
            plan.measure,
            plan.cap,
            cores()
        );
        println!(
            "servers: each subject's own echo server on its own thread (sonic-io Io in the same mode, std thread, mio loop in the same mode, tokio current_thread)"
        );
        println!(
            "{:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7}",
            "subject", "min", "p50", "p90", "p99", "p99.9", "max", "p50/hot", "p99/hot", "n"
        );
        let mut names: Vec<(String, String, String, f64)> = Vec::new();
        let mut hot_ref: Option<(f64, f64)> = None;
        for (proto, subject, run) in &results {
            let label = format!("{} {}", proto.name(), subject.name());
            if run.rtts.is_empty() {
                println!(
                    "{label:<26} no samples: {}",
                    run.error.as_deref().unwrap_or("none recorded")
                );
                if *subject == Subject::SonicHot {
                    hot_ref = None;
                }
                continue;
            }
            let mut v = run.rtts.clone();
            v.sort_unstable();
            let q: Vec<u64> = PCTS.iter().map(|&(_, p)| pct(&v, p)).collect();
            let (p50, p99) = (q[1] as f64, q[3] as f64);
            if *subject == Subject::SonicHot {
                hot_ref = Some((p50, p99));
            }
            let (r50, r99) = match hot_ref {
                Some((h50, h99)) => (p50 / h50, p99 / h99),
                None => (f64::NAN, f64::NAN),
            };
            let mut note = String::new();
            if run.cut {
                note.push_str("  (cut by the time cap)");
            }
            if let Some(e) = &run.error {
                note.push_str(&format!("  ({e})"));
            }
            println!(
                "{label:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8.2} {:>8.2} {:>7}{note}",
                q[0],
                q[1],
                q[2],
                q[3],
                q[4],
                q[5],
                r50,
                r99,
                v.len()
            );
            for (i, (pname, _)) in PCTS.iter().enumerate() {
                names.push((
                    format!("{} pingpong 64B {pname}", proto.name()),
                    subject.name().to_string(),
                    "ns".into(),
                    q[i] as f64,
                ));
            }
            for (pname, p) in CURVE {
                names.push((
                    format!("{} pingpong 64B {pname}", proto.name()),
                    subject.name().to_string(),
                    "ns".into(),
                    pct(&v, p) as f64,
                ));
            }
            if *subject != Subject::SonicHot && hot_ref.is_some() {
                for (pname, r) in [("p50", r50), ("p99", r99)] {
                    names.push((
                        format!("{} pingpong 64B {pname}", proto.name()),
                        format!("{}/sonic-io hot", subject.name()),
                        "ratio".into(),
                        r,
                    ));
                }
            }
        }

        // ---- syscalls per round trip
        println!();
        println!(
            "syscalls per measured round trip (sonic-io: Io::stats; mio: counted by this bench, client only)"
        );
        println!(
            "{:<26} {:>6} {:>6} {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6} {:>6} {:>6}",
            "",
            "waits",
            "reads",
            "writes",
            "other",
            "total",
            "waits",
            "reads",
            "writes",
            "other",
            "total"
        );
        println!("{:<26} {:<34}   {:<34}", "", "client", "server");
        for (proto, subject, run) in &results {
            if run.client.is_none() && run.server.is_none() {
                continue;
            }
            println!(
                "{:<26} {}   {}",
                format!("{} {}", proto.name(), subject.name()),
                cost_cells(run.client),
                cost_cells(run.server)
            );
            for (side, c) in [("client", run.client), ("server", run.server)] {
                if let Some(c) = c.filter(|c| c.rounds > 0) {
                    names.push((
                        format!(
                            "{} pingpong 64B {side} syscalls per round trip",
                            proto.name()
                        ),
                        subject.name().to_string(),
                        "syscalls".into(),
                        c.per(c.total()),
                    ));
                }
            }
        }

        // ---- the sweep table
        println!();
        println!(
            "connection sweep, TCP, 64-byte messages, sonic-io hot loop on both ends (client and server Io on two threads); each round one message per connection, all in flight"
        );
        println!(
            "{:>11} {:>8} {:>10} {:>10} {:>9} {:>10}   {:>13} {:>13} {:>13} {:>13} {:>8}",
            "connections",
            "rounds",
            "messages",
            "ns/msg",
            "vs 100",
            "elapsed ms",
            "client waits",
            "client rd+wr",
            "server waits",
            "server rd+wr",
            "setup ms"
        );
        println!(
            "{:>75}(syscalls per message; waits of a hot loop include its empty polls; 1 connection is one round trip in flight, so \"vs 100\" compares pipelines)",
            ""
        );
        // One connection has one message in flight: a round trip, not a pipeline. The
        // comparison is against 100 connections.
        let base = sweep
            .iter()
            .find(|r| r.conns == 100 && r.messages > 0)
            .map(SweepRow::ns_per_msg);
        for row in &sweep {
            let per = row.ns_per_msg();
            let waits = |c: Option<Cost>| {
                c.filter(|c| c.rounds > 0)
                    .map_or(f64::NAN, |c| c.per(c.waits))
            };
            let rw = |c: Option<Cost>| {
                c.filter(|c| c.rounds > 0)
                    .map_or(f64::NAN, |c| c.per(c.total() - c.waits))
            };
            let mut note = String::new();
            if row.cut {
                note.push_str("  (cut by the time cap)");
            }
            if let Some(e) = &row.error {
                note.push_str(&format!("  ({e})"));
            }
            println!(
                "{:>11} {:>8} {:>10} {:>10.0} {:>9.2} {:>10.1}   {:>13.2} {:>13.2} {:>13.2} {:>13.2} {:>8.0}{note}",
                row.conns,
                row.rounds,
                row.messages,
                per,
                base.map_or(f64::NAN, |b| per / b),
                row.elapsed.as_secs_f64() * 1e3,
                waits(row.client),
                rw(row.client),
                waits(row.server),
                rw(row.server),
                row.setup.as_secs_f64() * 1e3
            );
            if row.messages > 0 {
                names.push((
                    format!(
                        "tcp sweep 64B per message, {} connection{}",
                        row.conns,
                        if row.conns == 1 { "" } else { "s" }
                    ),
                    "sonic-io hot".into(),
                    "ns/msg".into(),
                    per,
                ));
            }
        }
        for s in &skipped {
            println!("{s}");
        }
        println!();
        match idle {
            Ok((sonic, mio)) => {
                println!(
                    "one idle hot-loop turn (nothing ready; includes the epoll_wait): sonic-io poll_one {sonic:.0} ns, mio poll(0) {mio:.0} ns"
                );
                names.push((
                    "idle hot-loop turn".into(),
                    "sonic-io hot".into(),
                    "ns".into(),
                    sonic,
                ));
                names.push((
                    "idle hot-loop turn".into(),
                    "mio hot".into(),
                    "ns".into(),
                    mio,
                ));
            }
            Err(e) => println!("idle hot-loop turn: not measured ({e})"),
        }
        println!();
        println!(
            "took {:.1} s: ping-pong cases {:.1} s, sweep {:.1} s",
            t_all.elapsed().as_secs_f64(),
            t_cases.as_secs_f64(),
            t_sweep.as_secs_f64()
        );

        let figures: Vec<Figure<'_>> = names
            .iter()
            .filter(|f| f.3.is_finite())
            .map(|(name, subject, unit, value)| Figure {
                name,
                subject,
                unit,
                value: *value,
            })
            .collect();
        if let Err(e) = testkit::bench::record("sonic-io", &figures) {
            eprintln!("cannot record the summary: {e}");
        }
    }
}
