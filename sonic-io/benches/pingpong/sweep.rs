//! The connection sweep: 1 to 10,000 TCP connections between a client `Io` and a server
//! `Io`, pinned to their own cores, in four modes: epoll and io_uring, each with both ends
//! in a hot loop (`poll_one`) and in a blocking loop (`run_one`). Each round sends one
//! 64-byte message on every connection (all in flight at once) and waits for every echo.
//! The figure is the cost per message (elapsed / messages); its inverse is the messages/s
//! the io_uring rows are compared by against epoll's in the same mode.
//!
//! The client runs in a child process (this bench re-executed with `--sweep-client`), so
//! each process holds one end of every connection: 10,000 connections need about 10,300
//! descriptors a process, where both ends in one would need 20,300 (past a hard limit of
//! 20,000, which an unprivileged process cannot raise). The child prints its row as one
//! `sweep-result` line.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_io::TcpStream;

use crate::harness::{
    CLIENT_CPU, CLIENT_SLACK, Cost, MSG, MSG_LEN, Plan, SERVER_CPU, SERVER_SLACK, Subject,
    panic_text, pin,
};
use crate::sonic::{backstop, new_io, sonic_tcp_server};

/// How both ends of a sweep row run: the backend, and the loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mode {
    pub(crate) uring: bool,
    pub(crate) blocking: bool,
}

impl Mode {
    /// Every mode, in the order the rows are run and printed.
    pub(crate) const ALL: [Mode; 4] = [
        Mode {
            uring: false,
            blocking: false,
        },
        Mode {
            uring: false,
            blocking: true,
        },
        Mode {
            uring: true,
            blocking: false,
        },
        Mode {
            uring: true,
            blocking: true,
        },
    ];

    /// The ping-pong subject of the same backend and loop (its name labels the rows).
    pub(crate) fn subject(self) -> Subject {
        match (self.uring, self.blocking) {
            (false, false) => Subject::SonicHot,
            (false, true) => Subject::SonicBlocking,
            (true, false) => Subject::SonicUringHot,
            (true, true) => Subject::SonicUringBlocking,
        }
    }

    fn backend(self) -> sonic_io::Backend {
        self.subject().backend()
    }

    /// The same mode on the other backend.
    pub(crate) fn on_epoll(self) -> Mode {
        Mode {
            uring: false,
            ..self
        }
    }

    /// The child's argument.
    fn arg(self) -> &'static str {
        match (self.uring, self.blocking) {
            (false, false) => "epoll-hot",
            (false, true) => "epoll-blocking",
            (true, false) => "uring-hot",
            (true, true) => "uring-blocking",
        }
    }

    fn from_arg(a: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.arg() == a)
    }

    /// Drives `io` once: one zero-timeout poll (hot) or one blocking turn.
    fn turn(self, io: &mut sonic_io::Io) {
        let _ = if self.blocking {
            io.run_one()
        } else {
            io.poll_one()
        };
    }
}

/// The sweep's connection counts.
pub(crate) const SWEEP: [usize; 4] = [1, 100, 1_000, 10_000];
/// Descriptors a process needs beyond one per connection.
const FD_SLACK: u64 = 256;
/// The child's flag.
const CHILD_FLAG: &str = "--sweep-client";

#[derive(Debug, Default)]
pub(crate) struct SweepRow {
    pub(crate) mode: Mode,
    pub(crate) conns: usize,
    pub(crate) rounds: u64,
    pub(crate) messages: u64,
    pub(crate) elapsed: Duration,
    pub(crate) cut: bool,
    pub(crate) client: Option<Cost>,
    pub(crate) server: Option<Cost>,
    pub(crate) setup: Duration,
    pub(crate) error: Option<String>,
}

impl SweepRow {
    pub(crate) fn ns_per_msg(&self) -> f64 {
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

fn sweep_client(addr: sock::SockaddrAny, n: usize, plan: Plan, mode: Mode) -> SweepRow {
    let mut row = SweepRow {
        mode,
        conns: n,
        ..SweepRow::default()
    };
    let (warm, measured) = sweep_rounds(&plan, n);
    let mut io = match new_io(mode.backend(), n + 16) {
        Ok(io) => io,
        Err(e) => {
            row.error = Some(e);
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
        while i + 1 - conns.borrow().len() > 512 && Instant::now() < setup_deadline && !io.closed()
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
            mode.turn(&mut io);
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

pub(crate) fn sweep_row(plan: Plan, n: usize, mode: Mode) -> SweepRow {
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
                mode,
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
            let hot = !mode.blocking;
            sonic_tcp_server(l, mode.backend(), hot, warm_msgs, n + 16, backstop_after)
        })
        .expect("spawn the server");
    let mut row = client_process(addr, n, plan, mode);
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

/// Runs the client in a child process and reads its row back.
fn client_process(addr: sock::SockaddrAny, n: usize, plan: Plan, mode: Mode) -> SweepRow {
    let failed = |e: String| SweepRow {
        mode,
        conns: n,
        error: Some(e),
        ..SweepRow::default()
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return failed(format!("current_exe: {e}")),
    };
    let mut c = Command::new(exe);
    c.args([CHILD_FLAG, &n.to_string(), &addr.to_string(), mode.arg()]);
    if plan.quick {
        c.arg("--quick");
    }
    let mut child = match c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return failed(format!("spawn the client: {e}")),
    };
    // The child's own backstop closes its Io by then; this is the bound past it.
    let deadline = Instant::now() + plan.setup_cap + plan.cap + SERVER_SLACK;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return failed("the client process did not end in time".into());
            }
        }
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return failed(format!("client output: {e}")),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find_map(|l| parse_row(l, n, mode)) {
        Some(row) => row,
        None => failed(format!(
            "the client process printed no row ({})",
            out.status
        )),
    }
}

/// One `sweep-result` line: rounds, messages, elapsed ns, cut, setup ns, whether the client
/// cost follows, its five counts, then the error (or `-`).
fn format_row(row: &SweepRow) -> String {
    let c = row.client.unwrap_or_default();
    format!(
        "sweep-result {} {} {} {} {} {} {} {} {} {} {} {}",
        row.rounds,
        row.messages,
        row.elapsed.as_nanos(),
        u8::from(row.cut),
        row.setup.as_nanos(),
        u8::from(row.client.is_some()),
        c.waits,
        c.reads,
        c.writes,
        c.other,
        c.rounds,
        row.error.as_deref().unwrap_or("-")
    )
}

fn parse_row(line: &str, conns: usize, mode: Mode) -> Option<SweepRow> {
    let rest = line.strip_prefix("sweep-result ")?;
    let mut w = rest.splitn(12, ' ');
    let mut num = || -> Option<u64> { w.next()?.parse().ok() };
    let (rounds, messages, elapsed, cut, setup, has_client) =
        (num()?, num()?, num()?, num()?, num()?, num()?);
    let cost = Cost {
        waits: num()?,
        reads: num()?,
        writes: num()?,
        other: num()?,
        rounds: num()?,
    };
    let error = w.next()?;
    Some(SweepRow {
        mode,
        conns,
        rounds,
        messages,
        elapsed: Duration::from_nanos(elapsed),
        cut: cut != 0,
        client: (has_client != 0).then_some(cost),
        server: None,
        setup: Duration::from_nanos(setup),
        error: (error != "-").then(|| error.to_string()),
    })
}

/// The child's side: when this process was started as a sweep client, runs it, prints its
/// row and returns `true`.
pub(crate) fn child(plan: Plan) -> bool {
    let args: Vec<String> = std::env::args().collect();
    let Some(i) = args.iter().position(|a| a == CHILD_FLAG) else {
        return false;
    };
    let parsed = (|| -> Option<(usize, SocketAddr, Mode)> {
        Some((
            args.get(i + 1)?.parse().ok()?,
            args.get(i + 2)?.parse().ok()?,
            Mode::from_arg(args.get(i + 3)?)?,
        ))
    })();
    let row = match parsed {
        None => SweepRow {
            error: Some(format!(
                "{CHILD_FLAG} needs a connection count, an address and a mode"
            )),
            ..SweepRow::default()
        },
        Some((n, addr, mode)) => match crate::sys::raise_open_files(n as u64 + FD_SLACK) {
            Ok(have) if have >= n as u64 + FD_SLACK => {
                pin(CLIENT_CPU);
                sweep_client(sock::SockaddrAny::from(addr), n, plan, mode)
            }
            Ok(have) => SweepRow {
                conns: n,
                error: Some(format!("the client process's descriptor limit is {have}")),
                ..SweepRow::default()
            },
            Err(e) => SweepRow {
                conns: n,
                error: Some(format!("RLIMIT_NOFILE: {e}")),
                ..SweepRow::default()
            },
        },
    };
    // One line; an error's own newlines would cut it.
    let mut line = format_row(&row);
    line.retain(|c| c != '\n');
    println!("{line}");
    true
}

/// A sweep row's name for `SONIC_BENCH_ONLY`: `sweep sonic-io uring blocking at 1000
/// connections` (so that `at 1000 connections` never names the 10,000 row).
fn row_name(mode: Mode, n: usize) -> String {
    format!("sweep {} at {n} connections", mode.subject().name())
}

/// Whether `SONIC_BENCH_ONLY` (if set) names at least one row of the sweep.
pub(crate) fn wanted(plan: Plan) -> bool {
    Mode::ALL
        .iter()
        .any(|&m| SWEEP.iter().any(|&n| plan.wants(&row_name(m, n))))
}

/// Every row of the sweep, in every mode, that the descriptor limit and the kernel allow
/// (and `SONIC_BENCH_ONLY` names, if set), and why the others were skipped.
pub(crate) fn sweep(plan: Plan) -> (Vec<SweepRow>, Vec<String>) {
    let want_fds = SWEEP.iter().max().copied().unwrap_or(0) as u64 + FD_SLACK;
    let limit = crate::sys::raise_open_files(want_fds);
    let mut sweep: Vec<SweepRow> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let uring = new_io(sonic_io::Backend::Uring, 1).map(drop);
    for mode in Mode::ALL {
        if !SWEEP.iter().any(|&n| plan.wants(&row_name(mode, n))) {
            continue;
        }
        if mode.uring
            && let Err(e) = &uring
        {
            skipped.push(format!("{} rows skipped: {e}", mode.subject().name()));
            continue;
        }
        sweep_mode(plan, mode, &limit, &mut sweep, &mut skipped);
    }
    (sweep, skipped)
}

/// The rows of one mode.
fn sweep_mode(
    plan: Plan,
    mode: Mode,
    limit: &std::io::Result<u64>,
    sweep: &mut Vec<SweepRow>,
    skipped: &mut Vec<String>,
) {
    for n in SWEEP {
        if !plan.wants(&row_name(mode, n)) {
            continue;
        }
        // This process holds the server's end of every connection, plus slack; the client
        // process the other ends.
        let need = n as u64 + FD_SLACK;
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
        let row = sweep_row(plan, n, mode);
        eprintln!(
            "  sweep {:<24} {:>5} connections: {} messages in {:.2} s (setup {:.2} s){}",
            mode.subject().name(),
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
}
