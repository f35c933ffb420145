//! The connection sweep: 1 to 9,000 TCP connections between a client `Io` and a server `Io`
//! on two pinned threads, both hot; each round sends one 64-byte message on every
//! connection (all in flight at once) and waits for every echo. The figure is the cost per
//! message (elapsed / messages).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_io::{Io, TcpStream};

use crate::harness::{
    CLIENT_CPU, CLIENT_SLACK, Cost, MSG, MSG_LEN, Plan, SERVER_CPU, SERVER_SLACK, panic_text, pin,
};
use crate::sonic::{backstop, sonic_tcp_server};

/// The sweep's connection counts.
pub(crate) const SWEEP: [usize; 4] = [1, 100, 1_000, 9_000];

#[derive(Debug, Default)]
pub(crate) struct SweepRow {
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

pub(crate) fn sweep_row(plan: Plan, n: usize) -> SweepRow {
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

/// Every row of the sweep that the descriptor limit allows, and why the others were skipped.
pub(crate) fn sweep(plan: Plan) -> (Vec<SweepRow>, Vec<String>) {
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
    (sweep, skipped)
}
