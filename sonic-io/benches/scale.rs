//! Where the cost per message goes as connections grow: the server's CPU time per echoed
//! message, split into user and kernel (system) time, at 100 and at 10,000 TCP connections.
//!
//! The server is one sonic-io `Io` on a thread of this process, **blocking** (`run`), so its
//! CPU time is the work of the messages and nothing else (a hot loop's empty polls would
//! blur the split); each connection echoes 64 bytes with `async_read_exact` +
//! `async_write_all`. The client is this bench re-executed as a child process (one end of
//! every connection per process keeps 10,000 connections within the descriptor limit),
//! blocking `std::net` sockets: each round writes one message on every connection, then
//! reads every echo. The server thread's user and system times come from
//! `/proc/thread-self/stat` before and after the measured rounds (clock ticks, so each row
//! runs long enough for 10 ms ticks not to matter).
//!
//! It answers the question the connection sweep of `benches/pingpong` raises (per-message
//! cost at 10,000 connections about 2× the cost at 100): the reactor's own instructions per
//! message do not grow (callgrind counts them flat), so the growth is the kernel's per-socket
//! state and the caches, and this bench shows which side of the syscall boundary it is on.
//!
//! `cargo bench -p sonic-io --bench scale [-- --quick]`; figures appended to
//! `target/bench-summary/sonic-io.jsonl`.

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("sonic-io scale: linux only (/proc/thread-self/stat)");
}

/// The descriptor limit (shared with the pingpong bench, which holds the `unsafe`).
#[cfg(target_os = "linux")]
#[path = "pingpong/sys.rs"]
mod sys;

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::Cell;
    use std::io::{BufReader, Read, Write};
    use std::process::{Command, Stdio};
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use sonic_io::{Io, Listener, TcpStream};

    const MSG_LEN: usize = 64;
    const CHILD_FLAG: &str = "--scale-client";
    /// The longest a row may take before the child is killed and the row fails.
    const CAP: Duration = Duration::from_secs(120);

    /// The server thread's (user, system) CPU time so far, from `/proc/thread-self/stat`.
    fn thread_cpu() -> (Duration, Duration) {
        let text = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        // The kernel reports them in USER_HZ, 100 on every Linux this runs on.
        let ms = |t: u64| Duration::from_millis(t * 10);
        (ms(tick(11)), ms(tick(12)))
    }

    fn serve(io: &mut Io, c: TcpStream, buf: Vec<u8>, echoed: Rc<Cell<u64>>) {
        let r = c.async_read_exact(io, buf, move |io, r, buf| {
            if r.is_err() {
                let _ = c.close(io);
                return;
            }
            let _ = c.async_write_all(io, buf, move |io, r, buf| {
                if r.is_ok() {
                    echoed.set(echoed.get() + 1);
                    serve(io, c, buf, echoed);
                } else {
                    let _ = c.close(io);
                }
            });
        });
        if r.is_err() {
            let _ = c.close(io);
        }
    }

    /// The server: accepts `n` connections, echoes until `warm + measured` messages went,
    /// returns the CPU time of the measured ones.
    fn server(
        l: sock::TcpListener,
        n: usize,
        warm: u64,
        measured: u64,
    ) -> Result<(Duration, Duration), String> {
        let mut io = Io::builder()
            .objects(n + 16)
            .build()
            .map_err(|e| e.to_string())?;
        let l = Listener::add(&mut io, l).map_err(|e| e.to_string())?;
        let echoed = Rc::new(Cell::new(0u64));
        fn accept(io: &mut Io, l: Listener<sock::TcpListener>, left: usize, e: Rc<Cell<u64>>) {
            if left == 0 {
                let _ = l.close(io);
                return;
            }
            let _ = l.async_accept(io, move |io, r| match r {
                Ok((c, _)) => {
                    let _ = c.get(io).map(|s| s.set_nodelay(true));
                    serve(io, c, vec![0u8; MSG_LEN], e.clone());
                    accept(io, l, left - 1, e);
                }
                Err(_) => {
                    let _ = io.close();
                }
            });
        }
        accept(&mut io, l, n, echoed.clone());
        let deadline = Instant::now() + CAP;
        while echoed.get() < warm {
            io.run_one_for(Duration::from_millis(100))
                .map_err(|e| e.to_string())?;
            if Instant::now() > deadline || io.closed() {
                return Err("the warm-up did not finish".into());
            }
        }
        let before = thread_cpu();
        while echoed.get() < warm + measured {
            io.run_one_for(Duration::from_millis(100))
                .map_err(|e| e.to_string())?;
            if Instant::now() > deadline || io.closed() {
                return Err("the measured rounds did not finish".into());
            }
        }
        let after = thread_cpu();
        Ok((after.0 - before.0, after.1 - before.1))
    }

    /// The child: `n` connections, `rounds` rounds of one message on each, then every echo.
    fn client(addr: &str, n: usize, rounds: u64) -> std::io::Result<()> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let s = std::net::TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(CAP))?;
            conns.push(s);
        }
        let msg = [7u8; MSG_LEN];
        let mut back = [0u8; MSG_LEN];
        for _ in 0..rounds {
            for c in &mut conns {
                c.write_all(&msg)?;
            }
            for c in &mut conns {
                c.read_exact(&mut back)?;
            }
        }
        Ok(())
    }

    struct Row {
        conns: usize,
        messages: u64,
        user: Duration,
        sys: Duration,
    }

    fn row(n: usize, total_msgs: u64) -> Result<Row, String> {
        // One end of every connection per process, and some slack.
        let need = n as u64 + 64;
        let have = crate::sys::raise_open_files(need).map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
        if have < need {
            return Err(format!(
                "skipped: needs RLIMIT_NOFILE >= {need}, the limit is {have} (raise the hard limit)"
            ));
        }
        let rounds = (total_msgs / n as u64).max(4);
        let warm_rounds = (rounds / 10).max(1);
        let l = sock::TcpListener::bind_with(
            "127.0.0.1:0",
            sock::Family::Any,
            sock::ListenOptions {
                backlog: 4096,
                ..Default::default()
            },
        )
        .map_err(|e| format!("bind: {e}"))?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        let warm = warm_rounds * n as u64;
        let measured = (rounds - warm_rounds) * n as u64;
        let server = std::thread::spawn(move || server(l, n, warm, measured));
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args([
                CHILD_FLAG,
                &addr.to_string(),
                &n.to_string(),
                &rounds.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn the client: {e}"))?;
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() < CAP => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("the client did not end in time".into());
                }
            }
        };
        let mut said = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_to_string(&mut said);
        }
        if !status.success() {
            return Err(format!("the client failed: {status} {}", said.trim()));
        }
        let (user, sys) = server
            .join()
            .map_err(|_| "the server panicked".to_string())??;
        Ok(Row {
            conns: n,
            messages: measured,
            user,
            sys,
        })
    }

    pub(crate) fn main() {
        let args: Vec<String> = std::env::args().collect();
        if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
            let _ = crate::sys::raise_open_files(20_000);
            let get = |k: usize| args.get(i + k).cloned().unwrap_or_default();
            let (n, rounds) = (get(2).parse().unwrap_or(0), get(3).parse().unwrap_or(0));
            if let Err(e) = client(&get(1), n, rounds) {
                println!("error: {e}");
                std::process::exit(1);
            }
            return;
        }
        let quick =
            args.iter().any(|a| a == "--quick") || std::env::var_os("SONIC_BENCH_QUICK").is_some();
        let total: u64 = if quick { 100_000 } else { 400_000 };
        println!(
            "server CPU per echoed 64-byte message, blocking sonic-io server thread, client in a child process ({total} messages a row{})",
            if quick { ", quick" } else { "" }
        );
        println!(
            "{:>11} {:>10} {:>12} {:>12} {:>12} {:>10}",
            "connections", "messages", "user ns/msg", "sys ns/msg", "total", "sys share"
        );
        let mut rows = Vec::new();
        for n in [100usize, 10_000] {
            match row(n, total) {
                Ok(r) => {
                    let per = |d: Duration| d.as_nanos() as f64 / r.messages as f64;
                    let (u, s) = (per(r.user), per(r.sys));
                    println!(
                        "{:>11} {:>10} {:>12.0} {:>12.0} {:>12.0} {:>9.0}%",
                        r.conns,
                        r.messages,
                        u,
                        s,
                        u + s,
                        100.0 * s / (u + s)
                    );
                    rows.push((r.conns, u, s));
                }
                Err(e) => println!("{n:>11} failed: {e}"),
            }
        }
        if let [(_, u0, s0), (_, u1, s1)] = rows[..] {
            println!(
                "10,000 over 100 connections: user {:.2}x, sys {:.2}x, total {:.2}x",
                u1 / u0,
                s1 / s0,
                (u1 + s1) / (u0 + s0)
            );
        }
        let names: Vec<(String, &str, f64)> = rows
            .iter()
            .flat_map(|&(n, u, s)| {
                let name = format!("server CPU per message, {n} connections");
                [(name.clone(), "user", u), (name, "sys", s)]
            })
            .collect();
        let figures: Vec<testkit::bench::Figure<'_>> = names
            .iter()
            .map(|(name, subject, v)| testkit::bench::Figure {
                name,
                subject,
                unit: "ns/msg",
                value: *v,
            })
            .collect();
        if let Err(e) = testkit::bench::record("sonic-io", &figures) {
            eprintln!("recording the figures: {e}");
        }
        let _ = std::io::stdout().flush();
    }
}
