//! System calls per message, counted by the kernel's side of the fence: every case runs in
//! a child process of this binary under `strace -f -c`, once with `n` messages and once
//! with `2n`; the difference divided by `n` is the cost of one message, with the process's
//! start, the sockets' setup and the warm-up taken out. The same work is done by sonic-io,
//! mio and tokio (and std where a mode has a std form):
//!
//! * `tcp echo, immediate`: one thread holds both ends of a loopback TCP connection; each
//!   read is submitted after the peer's write, so its data is already there (sonic-io's
//!   immediate completion). Per 64-byte round trip.
//! * `tcp echo, scheduled`: client and server on two threads, each blocked in its wait
//!   until the other's message arrives (sonic-io `run_one`, mio `poll(None)`, tokio
//!   current_thread, std blocking reads). Per round trip, both threads.
//! * `tcp echo, hot loop`: the same, each thread spinning on a zero-timeout wait (sonic-io
//!   `poll_one`, mio `poll(Some(0))`); tokio has no such mode. The empty polls are part of
//!   the figure, and under strace each costs a trap to the tracer, so they stand for the
//!   tracer's pace more than the loop's: read the non-wait columns.
//! * `udp echo, scheduled`: a client thread (std, blocking) sends a 64-byte datagram and
//!   waits for its echo; the server thread blocks in its wait, receives the datagram with
//!   its source (sonic-io `async_read_from`, the multicast peer's read) and sends it back
//!   there. The client pauses 300 µs (spinning: no syscall) before each next datagram, so
//!   the server always waits for it, as for a feed's spaced datagrams. Per round trip, both
//!   threads.
//! * `udp echo, batch read`: the same client; sonic-io's server reads with
//!   `async_read_batch` (64 slots, as a feed's reader does) and sends each datagram back
//!   with `sendto`. On epoll a batch costs the wait, the `recvmmsg` and the `recvmmsg` of
//!   the next read that finds nothing; on io_uring it is a multishot `recvmsg` in the ring,
//!   ended at its first datagram: two enters.
//! * `udp receive, single` / `batch`: one thread sends bursts of 64 datagrams of 64 bytes
//!   with std's `send_to`, then takes them with the subject's receive (one `recvfrom` per
//!   datagram; sonic-io's batch: `recvmmsg` into 64 slots). Per datagram, the send
//!   included.
//! * `timer arm + fire`: a 100 µs one-shot timer armed and waited for (sonic-io `Timer`,
//!   mio's `poll` timeout, which is its only timer, tokio `sleep`). Per firing.
//!
//! The table is printed and appended to `target/bench-summary/syscalls.jsonl` (one figure
//! per syscall per case, unit `calls/msg`). Needs `strace` (`cargo xtask bench` installs it).
//!
//! `cargo bench -p sonic-io --bench syscalls [-- --quick]`

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("sonic-io syscalls: linux only (strace, and the mio and tokio peers)");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::Cell;
    use std::collections::BTreeMap;
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, UdpSocket as StdUdp};
    use std::process::{Command, Stdio};
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use mio::{Events, Interest, Poll, Token};
    use sonic_io::{Datagrams, Io, TcpStream, Timer, UdpSocket};
    use testkit::bench::Figure;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MSG: usize = 64;
    const BURST: usize = 64;
    const TIMER: Duration = Duration::from_micros(100);
    /// Units run before the counted ones in every child (the same in both runs, so they
    /// cancel out).
    const WARMUP: usize = 20;
    /// A child that runs longer than this has hung: it fails the case.
    const CHILD_LIMIT: Duration = Duration::from_secs(120);

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Work {
        EchoImmediate,
        EchoScheduled,
        EchoHot,
        UdpEcho,
        UdpEchoBatch,
        UdpSingle,
        UdpBatch,
        Timer,
    }

    impl Work {
        fn label(self) -> &'static str {
            match self {
                Work::EchoImmediate => "tcp echo, immediate",
                Work::EchoScheduled => "tcp echo, scheduled",
                Work::EchoHot => "tcp echo, hot loop",
                Work::UdpEcho => "udp echo, scheduled",
                Work::UdpEchoBatch => "udp echo, batch read",
                Work::UdpSingle => "udp receive, single",
                Work::UdpBatch => "udp receive, batch",
                Work::Timer => "timer arm + fire",
            }
        }
        fn per(self) -> &'static str {
            match self {
                Work::EchoImmediate
                | Work::EchoScheduled
                | Work::EchoHot
                | Work::UdpEcho
                | Work::UdpEchoBatch => "round trip",
                Work::UdpSingle | Work::UdpBatch => "datagram",
                Work::Timer => "firing",
            }
        }
        /// Units per counted run (`n`; the second run does `2n`), full and quick.
        fn units(self, quick: bool) -> usize {
            let (full, q) = match self {
                Work::EchoImmediate
                | Work::EchoScheduled
                | Work::EchoHot
                | Work::UdpEcho
                | Work::UdpEchoBatch => (2000, 300),
                // Bursts of BURST datagrams.
                Work::UdpSingle | Work::UdpBatch => (40, 8),
                Work::Timer => (400, 60),
            };
            if quick { q } else { full }
        }
        /// Messages in `units` units.
        fn messages(self, units: usize) -> usize {
            match self {
                Work::UdpSingle | Work::UdpBatch => units * BURST,
                _ => units,
            }
        }
    }

    /// The cases, in the table's order. `sonic-io` runs on epoll and `sonic-io uring` on
    /// io_uring (`SONIC_IO_BACKEND` set for the child); the uring rows are left out where
    /// the kernel refuses io_uring.
    const CASES: [(Work, &str); 28] = [
        (Work::EchoImmediate, "sonic-io"),
        (Work::EchoImmediate, URING),
        (Work::EchoImmediate, "mio"),
        (Work::EchoImmediate, "tokio"),
        (Work::EchoScheduled, "sonic-io"),
        (Work::EchoScheduled, URING),
        (Work::EchoScheduled, "mio"),
        (Work::EchoScheduled, "tokio"),
        (Work::EchoScheduled, "std"),
        (Work::EchoHot, "sonic-io"),
        (Work::EchoHot, URING),
        (Work::EchoHot, "mio"),
        (Work::UdpEcho, "sonic-io"),
        (Work::UdpEcho, URING),
        (Work::UdpEcho, "mio"),
        (Work::UdpEcho, "tokio"),
        (Work::UdpEchoBatch, "sonic-io"),
        (Work::UdpEchoBatch, URING),
        (Work::UdpSingle, "sonic-io"),
        (Work::UdpSingle, URING),
        (Work::UdpSingle, "mio"),
        (Work::UdpSingle, "tokio"),
        (Work::UdpBatch, "sonic-io"),
        (Work::UdpBatch, URING),
        (Work::Timer, "sonic-io"),
        (Work::Timer, URING),
        (Work::Timer, "mio"),
        (Work::Timer, "tokio"),
    ];

    /// sonic-io on its io_uring backend.
    const URING: &str = "sonic-io uring";

    /// The backend a case's child runs sonic-io on (`SONIC_IO_BACKEND`): every sonic-io
    /// row names its backend, whatever the parent's environment holds.
    fn backend_of(subject: &str) -> Option<&'static str> {
        match subject {
            "sonic-io" => Some("epoll"),
            URING => Some("uring"),
            _ => None,
        }
    }

    /// Whether io_uring can be set up here (qemu-user and seccomp'd containers refuse it).
    fn uring_available() -> bool {
        sonic_io::Io::builder()
            .backend(sonic_io::Backend::Uring)
            .build()
            .is_ok()
    }

    // -------------------------------------------------------------------------------------
    // The parent: strace each case twice, take the difference

    /// `strace -c` output: calls per syscall name.
    fn parse_strace(text: &str) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 || f[0].starts_with('%') || f[0].starts_with('-') {
                continue;
            }
            let name = f[f.len() - 1];
            if name == "total" {
                continue;
            }
            if let Ok(calls) = f[3].parse::<u64>() {
                *out.entry(name.to_string()).or_insert(0) += calls;
            }
        }
        out
    }

    fn traced(case: usize, units: usize) -> Result<BTreeMap<String, u64>, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = std::env::temp_dir().join(format!(
            "sonic-io-syscalls-{}-{case}-{units}.txt",
            std::process::id()
        ));
        let mut cmd = Command::new("strace");
        if let Some(b) = backend_of(CASES[case].1) {
            cmd.env(sonic_io::BACKEND_ENV, b);
        }
        let mut child = cmd
            .arg("-f")
            .arg("-c")
            .arg("-o")
            .arg(&out)
            .arg("--")
            .arg(&exe)
            .args(["--case", &case.to_string(), &units.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run strace: {e}"))?;
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                break st;
            }
            if start.elapsed() > CHILD_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("case {case} ran past {CHILD_LIMIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = std::fs::read_to_string(&out).map_err(|e| format!("strace output: {e}"));
        let _ = std::fs::remove_file(&out);
        if !status.success() {
            return Err(format!("case {case} with {units} units failed ({status})"));
        }
        let counts = parse_strace(&text?);
        if counts.is_empty() {
            return Err(format!("strace counted nothing for case {case}"));
        }
        Ok(counts)
    }

    /// Calls per message of each syscall: (2n run - n run) / messages in n units.
    fn per_message(work: Work, case: usize, units: usize) -> Result<Vec<(String, f64)>, String> {
        let a = traced(case, units)?;
        let b = traced(case, 2 * units)?;
        let msgs = work.messages(units) as f64;
        let mut v = Vec::new();
        for (name, nb) in &b {
            let na = a.get(name).copied().unwrap_or(0);
            let d = (*nb as f64 - na as f64) / msgs;
            // Below 0.01 a message is noise of the process's life (a page fault's mmap).
            if d >= 0.01 {
                v.push((name.clone(), d));
            }
        }
        Ok(v)
    }

    pub(crate) fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(i) = args.iter().position(|a| a == "--case") {
            let case: usize = args.get(i + 1).and_then(|v| v.parse().ok()).expect("case");
            let units: usize = args.get(i + 2).and_then(|v| v.parse().ok()).expect("units");
            std::process::exit(match child(case, units) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("case {case}: {e}");
                    1
                }
            });
        }
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("SONIC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if Command::new("strace")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!(
                "sonic-io syscalls: strace is missing (apt-get install strace, or cargo xtask bench)"
            );
            std::process::exit(1);
        }
        if !report(quick) {
            std::process::exit(1);
        }
    }

    /// Runs every case and prints and records the table; `false` when a case failed.
    fn report(quick: bool) -> bool {
        let t = Instant::now();
        println!(
            "syscalls per message under strace -f -c, (2n - n) / n, whole process ({} mode)",
            if quick { "quick" } else { "full" }
        );
        let mut failed = false;
        let mut names: Vec<(String, String, String, f64)> = Vec::new();
        let uring = uring_available();
        if !uring {
            println!("io_uring is refused here: the {URING} rows are left out");
        }
        for (i, &(work, subject)) in CASES.iter().enumerate() {
            if subject == URING && !uring {
                continue;
            }
            let units = work.units(quick);
            match per_message(work, i, units) {
                Ok(v) => {
                    let total: f64 = v.iter().map(|(_, c)| c).sum();
                    let detail: Vec<String> =
                        v.iter().map(|(n, c)| format!("{n} {c:.2}")).collect();
                    println!(
                        "{:<22} {:<14} {:>7.2} per {:<10}  {}",
                        work.label(),
                        subject,
                        total,
                        work.per(),
                        detail.join(", ")
                    );
                    for (n, c) in &v {
                        names.push((
                            work.label().to_string(),
                            subject.to_string(),
                            format!("calls/{} {n}", work.per()),
                            *c,
                        ));
                    }
                    names.push((
                        work.label().to_string(),
                        subject.to_string(),
                        format!("calls/{} total", work.per()),
                        total,
                    ));
                }
                Err(e) => {
                    failed = true;
                    println!("{:<22} {:<14} ERROR: {e}", work.label(), subject);
                }
            }
        }
        println!("took {:.1} s", t.elapsed().as_secs_f64());
        let figures: Vec<Figure<'_>> = names
            .iter()
            .map(|(name, subject, unit, value)| Figure {
                name,
                subject,
                unit,
                value: *value,
            })
            .collect();
        if let Err(e) = testkit::bench::record("syscalls", &figures) {
            eprintln!("cannot record the summary: {e}");
            failed = true;
        }
        !failed
    }

    // -------------------------------------------------------------------------------------
    // The child: one case, `WARMUP + units` units

    fn child(case: usize, units: usize) -> io::Result<()> {
        let (work, subject) = *CASES
            .get(case)
            .ok_or_else(|| io::Error::other("no such case"))?;
        let n = WARMUP + units;
        // Both sonic-io rows run the same code; the child's environment picks the backend.
        let subject = if subject == URING {
            "sonic-io"
        } else {
            subject
        };
        match (work, subject) {
            (Work::EchoImmediate, "sonic-io") => sonic_echo_immediate(n),
            (Work::EchoImmediate, "mio") => mio_echo_immediate(n),
            (Work::EchoImmediate, "tokio") => tokio_echo_immediate(n),
            (Work::EchoScheduled, "sonic-io") => sonic_echo_threads(n, false),
            (Work::EchoHot, "sonic-io") => sonic_echo_threads(n, true),
            (Work::EchoScheduled, "mio") => mio_echo_threads(n, false),
            (Work::EchoHot, "mio") => mio_echo_threads(n, true),
            (Work::EchoScheduled, "tokio") => tokio_echo_threads(n),
            (Work::EchoScheduled, "std") => std_echo_threads(n),
            (Work::UdpEcho, "sonic-io") => sonic_udp_echo(n),
            (Work::UdpEchoBatch, "sonic-io") => sonic_udp_echo_batch(n),
            (Work::UdpEcho, "mio") => mio_udp_echo(n),
            (Work::UdpEcho, "tokio") => tokio_udp_echo(n),
            (Work::UdpSingle, "sonic-io") => sonic_udp(n, false),
            (Work::UdpBatch, "sonic-io") => sonic_udp(n, true),
            (Work::UdpSingle, "mio") => mio_udp(n),
            (Work::UdpSingle, "tokio") => tokio_udp(n),
            (Work::Timer, "sonic-io") => sonic_timer(n),
            (Work::Timer, "mio") => mio_timer(n),
            (Work::Timer, "tokio") => tokio_timer(n),
            _ => Err(io::Error::other("no such case")),
        }
    }

    fn err(e: impl std::fmt::Display) -> io::Error {
        io::Error::other(e.to_string())
    }

    fn std_pair() -> io::Result<(std::net::TcpStream, std::net::TcpStream)> {
        let (c, s) = testkit::tcp_pair()?;
        c.set_nodelay(true)?;
        s.set_nodelay(true)?;
        Ok((c, s))
    }

    fn sonic_pair(io: &mut Io) -> io::Result<(TcpStream, TcpStream)> {
        let (c, s) = std_pair()?;
        let c = TcpStream::add(io, sock::TcpConn::try_from(c).map_err(err)?).map_err(err)?;
        let s = TcpStream::add(io, sock::TcpConn::try_from(s).map_err(err)?).map_err(err)?;
        Ok((c, s))
    }

    fn drive_until(io: &mut Io, done: impl Fn() -> bool, hot: bool) -> io::Result<()> {
        let limit = Instant::now() + CHILD_LIMIT;
        while !done() {
            if hot {
                io.poll_one().map_err(err)?;
            } else {
                io.run_one_for(Duration::from_secs(5)).map_err(err)?;
            }
            if Instant::now() > limit {
                return Err(io::Error::other("timed out"));
            }
        }
        Ok(())
    }

    // ---- echo, immediate: one thread, each read after the peer's write

    fn sonic_echo_immediate(n: usize) -> io::Result<()> {
        let mut io = Io::new().map_err(err)?;
        let (c, s) = sonic_pair(&mut io)?;
        let left = Rc::new(Cell::new(n));
        fn round(io: &mut Io, c: TcpStream, s: TcpStream, buf: Vec<u8>, left: Rc<Cell<usize>>) {
            let armed = c.async_write_all(io, buf, move |io, r, buf| {
                r.expect("client write");
                let armed = s.async_read_exact(io, buf, move |io, r, buf| {
                    r.expect("server read");
                    let armed = s.async_write_all(io, buf, move |io, r, buf| {
                        r.expect("server write");
                        let armed = c.async_read_exact(io, buf, move |io, r, buf| {
                            r.expect("client read");
                            left.set(left.get() - 1);
                            if left.get() > 0 {
                                round(io, c, s, buf, left);
                            }
                        });
                        assert!(armed.is_ok(), "client read refused");
                    });
                    assert!(armed.is_ok(), "server write refused");
                });
                assert!(armed.is_ok(), "server read refused");
            });
            assert!(armed.is_ok(), "client write refused");
        }
        round(&mut io, c, s, vec![0x5a; MSG], left.clone());
        drive_until(&mut io, || left.get() == 0, false)
    }

    fn mio_echo_immediate(n: usize) -> io::Result<()> {
        let (c, s) = std_pair()?;
        c.set_nonblocking(true)?;
        s.set_nonblocking(true)?;
        let mut c = mio::net::TcpStream::from_std(c);
        let mut s = mio::net::TcpStream::from_std(s);
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut c, Token(0), Interest::READABLE | Interest::WRITABLE)?;
        poll.registry()
            .register(&mut s, Token(1), Interest::READABLE | Interest::WRITABLE)?;
        let mut events = Events::with_capacity(8);
        let mut buf = [0u8; MSG];
        let msg = [0x5au8; MSG];
        for _ in 0..n {
            mio_write_all(&mut poll, &mut events, &mut c, &msg)?;
            mio_read_exact(&mut poll, &mut events, &mut s, &mut buf)?;
            mio_write_all(&mut poll, &mut events, &mut s, &buf)?;
            mio_read_exact(&mut poll, &mut events, &mut c, &mut buf)?;
        }
        Ok(())
    }

    /// Non-blocking `read_exact` on a mio stream: a `WouldBlock` waits in `poll`.
    fn mio_read_exact(
        poll: &mut Poll,
        events: &mut Events,
        s: &mut mio::net::TcpStream,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match s.read(&mut buf[got..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    poll.poll(events, Some(Duration::from_secs(5)))?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn mio_write_all(
        poll: &mut Poll,
        events: &mut Events,
        s: &mut mio::net::TcpStream,
        buf: &[u8],
    ) -> io::Result<()> {
        let mut put = 0;
        while put < buf.len() {
            match s.write(&buf[put..]) {
                Ok(k) => put += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    poll.poll(events, Some(Duration::from_secs(5)))?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn tokio_rt() -> io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
    }

    fn tokio_echo_immediate(n: usize) -> io::Result<()> {
        let (c, s) = std_pair()?;
        c.set_nonblocking(true)?;
        s.set_nonblocking(true)?;
        tokio_rt()?.block_on(async move {
            let mut c = tokio::net::TcpStream::from_std(c)?;
            let mut s = tokio::net::TcpStream::from_std(s)?;
            let mut buf = [0u8; MSG];
            let msg = [0x5au8; MSG];
            for _ in 0..n {
                c.write_all(&msg).await?;
                s.read_exact(&mut buf).await?;
                s.write_all(&buf).await?;
                c.read_exact(&mut buf).await?;
            }
            Ok(())
        })
    }

    // ---- echo on two threads: scheduled (blocking waits) or hot (spinning)

    fn two_threads(
        server: impl FnOnce() -> io::Result<()> + Send + 'static,
        client: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let s = std::thread::spawn(server);
        let c = client();
        let s = s.join().map_err(|_| io::Error::other("server panicked"))?;
        c.and(s)
    }

    fn sonic_echo_threads(n: usize, hot: bool) -> io::Result<()> {
        let (c, s) = std_pair()?;
        two_threads(
            move || {
                let mut io = Io::new().map_err(err)?;
                let s = TcpStream::add(&mut io, sock::TcpConn::try_from(s).map_err(err)?)
                    .map_err(err)?;
                let done = Rc::new(Cell::new(false));
                fn serve(io: &mut Io, s: TcpStream, buf: Vec<u8>, done: Rc<Cell<bool>>) {
                    let armed = s.async_read_exact(io, buf, move |io, r, buf| {
                        if r.is_err() {
                            // The client's close: the end of the case.
                            done.set(true);
                            return;
                        }
                        let armed = s.async_write_all(io, buf, move |io, r, buf| {
                            r.expect("server write");
                            serve(io, s, buf, done);
                        });
                        assert!(armed.is_ok(), "server write refused");
                    });
                    assert!(armed.is_ok(), "server read refused");
                }
                serve(&mut io, s, vec![0u8; MSG], done.clone());
                drive_until(&mut io, || done.get(), hot)
            },
            move || {
                let mut io = Io::new().map_err(err)?;
                let c = TcpStream::add(&mut io, sock::TcpConn::try_from(c).map_err(err)?)
                    .map_err(err)?;
                let left = Rc::new(Cell::new(n));
                fn ping(io: &mut Io, c: TcpStream, buf: Vec<u8>, left: Rc<Cell<usize>>) {
                    let armed = c.async_write_all(io, buf, move |io, r, buf| {
                        r.expect("client write");
                        let armed = c.async_read_exact(io, buf, move |io, r, buf| {
                            r.expect("client read");
                            left.set(left.get() - 1);
                            if left.get() > 0 {
                                ping(io, c, buf, left);
                            }
                        });
                        assert!(armed.is_ok(), "client read refused");
                    });
                    assert!(armed.is_ok(), "client write refused");
                }
                ping(&mut io, c, vec![0x5a; MSG], left.clone());
                drive_until(&mut io, || left.get() == 0, hot)?;
                // Closing the connection ends the server.
                io.close().map_err(err)
            },
        )
    }

    fn mio_echo_threads(n: usize, hot: bool) -> io::Result<()> {
        let (c, s) = std_pair()?;
        c.set_nonblocking(true)?;
        s.set_nonblocking(true)?;
        let timeout = if hot {
            Some(Duration::ZERO)
        } else {
            Some(Duration::from_secs(5))
        };
        two_threads(
            move || {
                let mut s = mio::net::TcpStream::from_std(s);
                let mut poll = Poll::new()?;
                poll.registry()
                    .register(&mut s, Token(1), Interest::READABLE)?;
                let mut events = Events::with_capacity(8);
                let mut buf = [0u8; MSG];
                loop {
                    let mut got = 0;
                    while got < MSG {
                        match s.read(&mut buf[got..]) {
                            Ok(0) => return Ok(()),
                            Ok(k) => got += k,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                wait_event(&mut poll, &mut events, timeout)?
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    s.write_all(&buf)?;
                }
            },
            move || {
                let mut c = mio::net::TcpStream::from_std(c);
                let mut poll = Poll::new()?;
                poll.registry()
                    .register(&mut c, Token(0), Interest::READABLE)?;
                let mut events = Events::with_capacity(8);
                let mut buf = [0u8; MSG];
                let msg = [0x5au8; MSG];
                for _ in 0..n {
                    c.write_all(&msg)?;
                    let mut got = 0;
                    while got < MSG {
                        match c.read(&mut buf[got..]) {
                            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                            Ok(k) => got += k,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                wait_event(&mut poll, &mut events, timeout)?
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(())
            },
        )
    }

    /// Polls until an event arrives (a hot loop's zero-timeout polls come back empty until
    /// then); the stream is read again only after one, as edge-triggered readiness requires.
    fn wait_event(
        poll: &mut Poll,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let limit = Instant::now() + CHILD_LIMIT;
        loop {
            poll.poll(events, timeout)?;
            if !events.is_empty() {
                return Ok(());
            }
            if Instant::now() > limit {
                return Err(io::Error::other("timed out"));
            }
        }
    }

    fn tokio_echo_threads(n: usize) -> io::Result<()> {
        let (c, s) = std_pair()?;
        c.set_nonblocking(true)?;
        s.set_nonblocking(true)?;
        two_threads(
            move || {
                tokio_rt()?.block_on(async move {
                    let mut s = tokio::net::TcpStream::from_std(s)?;
                    let mut buf = [0u8; MSG];
                    loop {
                        match s.read_exact(&mut buf).await {
                            Ok(_) => s.write_all(&buf).await?,
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                            Err(e) => return Err(e),
                        }
                    }
                })
            },
            move || {
                tokio_rt()?.block_on(async move {
                    let mut c = tokio::net::TcpStream::from_std(c)?;
                    let mut buf = [0u8; MSG];
                    let msg = [0x5au8; MSG];
                    for _ in 0..n {
                        c.write_all(&msg).await?;
                        c.read_exact(&mut buf).await?;
                    }
                    Ok(())
                })
            },
        )
    }

    fn std_echo_threads(n: usize) -> io::Result<()> {
        let (mut c, mut s) = std_pair()?;
        two_threads(
            move || {
                let mut buf = [0u8; MSG];
                loop {
                    match s.read_exact(&mut buf) {
                        Ok(()) => s.write_all(&buf)?,
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            },
            move || {
                let mut buf = [0u8; MSG];
                let msg = [0x5au8; MSG];
                for _ in 0..n {
                    c.write_all(&msg)?;
                    c.read_exact(&mut buf)?;
                }
                Ok(())
            },
        )
    }

    // ---- UDP echo: one datagram at a time, received with its source and sent back there

    /// The client's pause between an echo and its next datagram.
    const UDP_ECHO_PAUSE: Duration = Duration::from_micros(300);

    /// The server's socket and the client's run: `n` datagrams sent, each echo awaited.
    fn udp_echo(
        n: usize,
        server: impl FnOnce(StdUdp) -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        let (c, s, to) = udp_pair()?;
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        c.connect(to)?;
        two_threads(
            move || server(s),
            move || {
                let msg = [0x5au8; MSG];
                let mut buf = [0u8; MSG];
                for _ in 0..n {
                    c.send(&msg)?;
                    c.recv(&mut buf)?;
                    // A pause (a spin on the vDSO clock: no syscall) before the next
                    // datagram, so that the server has re-armed its read and waits, as for
                    // a feed's spaced datagrams; back to back, whether the next one is
                    // already there is a race, and the counts follow it.
                    let at = Instant::now();
                    while at.elapsed() < UDP_ECHO_PAUSE {
                        std::hint::spin_loop();
                    }
                }
                Ok(())
            },
        )
    }

    fn sonic_udp_echo(n: usize) -> io::Result<()> {
        udp_echo(n, move |s| {
            let mut io = Io::new().map_err(err)?;
            let s =
                UdpSocket::add(&mut io, sock::UdpConn::try_from(s).map_err(err)?).map_err(err)?;
            let served = Rc::new(Cell::new(0usize));
            fn serve(io: &mut Io, s: UdpSocket, buf: Vec<u8>, served: Rc<Cell<usize>>) {
                let armed = s.async_read_from(io, buf, move |io, r, buf| {
                    // The last read is cancelled when the Io drops.
                    let Ok((_, from)) = r else { return };
                    let armed = s.async_write_to(io, buf, &from, move |io, r, buf| {
                        r.expect("server write");
                        served.set(served.get() + 1);
                        serve(io, s, buf, served);
                    });
                    assert!(armed.is_ok(), "server write refused");
                });
                assert!(armed.is_ok(), "server read refused");
            }
            serve(&mut io, s, vec![0u8; MSG], served.clone());
            drive_until(&mut io, move || served.get() >= n, false)
        })
    }

    /// The echo server reading with batch reads (a feed's reader): each batch's datagrams
    /// are sent back to their sources at once.
    fn sonic_udp_echo_batch(n: usize) -> io::Result<()> {
        udp_echo(n, move |s| {
            let mut io = Io::new().map_err(err)?;
            let s =
                UdpSocket::add(&mut io, sock::UdpConn::try_from(s).map_err(err)?).map_err(err)?;
            let served = Rc::new(Cell::new(0usize));
            fn serve(io: &mut Io, s: UdpSocket, batch: Datagrams, served: Rc<Cell<usize>>) {
                let armed = s.async_read_batch(io, batch, move |io, r, batch| {
                    // The last read is cancelled when the Io drops.
                    if r.is_err() {
                        return;
                    }
                    let u = s.get(io).expect("the server's socket");
                    for d in batch.iter() {
                        let from = d.from().expect("a source");
                        u.send_to(d.bytes(), &from).expect("server send");
                    }
                    served.set(served.get() + batch.len());
                    serve(io, s, batch, served);
                });
                assert!(armed.is_ok(), "server batch read refused");
            }
            serve(&mut io, s, Datagrams::new(BURST, MSG), served.clone());
            drive_until(&mut io, move || served.get() >= n, false)
        })
    }

    fn mio_udp_echo(n: usize) -> io::Result<()> {
        udp_echo(n, move |s| {
            s.set_nonblocking(true)?;
            let mut s = mio::net::UdpSocket::from_std(s);
            let mut poll = Poll::new()?;
            poll.registry()
                .register(&mut s, Token(0), Interest::READABLE)?;
            let mut events = Events::with_capacity(8);
            let mut buf = [0u8; MSG];
            let mut served = 0;
            while served < n {
                match s.recv_from(&mut buf) {
                    Ok((len, from)) => {
                        s.send_to(&buf[..len], from)?;
                        served += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        poll.poll(&mut events, Some(Duration::from_secs(5)))?
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    fn tokio_udp_echo(n: usize) -> io::Result<()> {
        udp_echo(n, move |s| {
            s.set_nonblocking(true)?;
            tokio_rt()?.block_on(async move {
                let s = tokio::net::UdpSocket::from_std(s)?;
                let mut buf = [0u8; MSG];
                for _ in 0..n {
                    let (len, from) = s.recv_from(&mut buf).await?;
                    s.send_to(&buf[..len], from).await?;
                }
                Ok(())
            })
        })
    }

    // ---- UDP: bursts of BURST datagrams sent with std, received by the subject

    fn udp_pair() -> io::Result<(StdUdp, StdUdp, SocketAddr)> {
        let tx = StdUdp::bind("127.0.0.1:0")?;
        let rx = StdUdp::bind("127.0.0.1:0")?;
        let to = rx.local_addr()?;
        Ok((tx, rx, to))
    }

    fn send_burst(tx: &StdUdp, to: SocketAddr) -> io::Result<()> {
        for _ in 0..BURST {
            tx.send_to(&[0x42; MSG], to)?;
        }
        Ok(())
    }

    fn sonic_udp(bursts: usize, batch: bool) -> io::Result<()> {
        let (tx, rx, to) = udp_pair()?;
        let mut io = Io::new().map_err(err)?;
        let rx = UdpSocket::add(&mut io, sock::UdpConn::try_from(rx).map_err(err)?).map_err(err)?;
        let got = Rc::new(Cell::new(0usize));
        let spare: Rc<Cell<Option<Datagrams>>> =
            Rc::new(Cell::new(Some(Datagrams::new(BURST, MSG))));
        let single: Rc<Cell<Option<Vec<u8>>>> = Rc::new(Cell::new(Some(vec![0u8; MSG])));
        for _ in 0..bursts {
            send_burst(&tx, to)?;
            got.set(0);
            while got.get() < BURST {
                let before = got.get();
                if batch {
                    let b = spare.take().expect("batch back");
                    let (g, back) = (got.clone(), spare.clone());
                    let armed = rx.async_read_batch(&mut io, b, move |_, r, b| {
                        g.set(g.get() + r.expect("batch read"));
                        back.set(Some(b));
                    });
                    assert!(armed.is_ok(), "batch read refused");
                } else {
                    let b = single.take().expect("buffer back");
                    let (g, back) = (got.clone(), single.clone());
                    let armed = rx.async_read_from(&mut io, b, move |_, r, b| {
                        r.expect("read");
                        g.set(g.get() + 1);
                        back.set(Some(b));
                    });
                    assert!(armed.is_ok(), "read refused");
                }
                let g = got.clone();
                drive_until(&mut io, move || g.get() > before, false)?;
            }
        }
        Ok(())
    }

    fn mio_udp(bursts: usize) -> io::Result<()> {
        let (tx, rx, to) = udp_pair()?;
        rx.set_nonblocking(true)?;
        let mut rx = mio::net::UdpSocket::from_std(rx);
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut rx, Token(0), Interest::READABLE)?;
        let mut events = Events::with_capacity(8);
        let mut buf = [0u8; MSG];
        for _ in 0..bursts {
            send_burst(&tx, to)?;
            let mut got = 0;
            while got < BURST {
                match rx.recv_from(&mut buf) {
                    Ok(_) => got += 1,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        poll.poll(&mut events, Some(Duration::from_secs(5)))?
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    fn tokio_udp(bursts: usize) -> io::Result<()> {
        let (tx, rx, to) = udp_pair()?;
        rx.set_nonblocking(true)?;
        tokio_rt()?.block_on(async move {
            let rx = tokio::net::UdpSocket::from_std(rx)?;
            let mut buf = [0u8; MSG];
            for _ in 0..bursts {
                send_burst(&tx, to)?;
                for _ in 0..BURST {
                    rx.recv_from(&mut buf).await?;
                }
            }
            Ok(())
        })
    }

    // ---- timers: a 100 µs one-shot, armed and waited for

    fn sonic_timer(n: usize) -> io::Result<()> {
        let mut io = Io::new().map_err(err)?;
        let t = Timer::new(&mut io).map_err(err)?;
        let fired = Rc::new(Cell::new(0usize));
        for i in 0..n {
            let f = fired.clone();
            t.schedule_once(&mut io, TIMER, move |_, _| f.set(f.get() + 1))
                .map_err(err)?;
            let f = fired.clone();
            drive_until(&mut io, move || f.get() > i, false)?;
        }
        Ok(())
    }

    fn mio_timer(n: usize) -> io::Result<()> {
        let mut poll = Poll::new()?;
        let mut events = Events::with_capacity(8);
        for _ in 0..n {
            let due = Instant::now() + TIMER;
            while Instant::now() < due {
                poll.poll(&mut events, Some(due - Instant::now()))?;
            }
        }
        Ok(())
    }

    fn tokio_timer(n: usize) -> io::Result<()> {
        tokio_rt()?.block_on(async move {
            for _ in 0..n {
                tokio::time::sleep(TIMER).await;
            }
            Ok(())
        })
    }
}
