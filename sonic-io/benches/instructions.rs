//! Instructions per echoed message on the server side, counted by callgrind: exact and
//! steady under noise, where a time is neither.
//!
//! Each server runs alone in a child process under `valgrind --tool=callgrind`, blocking
//! (it sleeps in the kernel between messages, so no empty turn of a hot loop is counted),
//! and echoes one TCP connection. A client in this process (not under valgrind: blocking
//! `std::net`, `TCP_NODELAY`) makes `small` and then `large` round trips of one 64-byte
//! message against a fresh server each time; the server's user-space instruction count
//! (callgrind's `Ir`) of the two runs gives
//!
//! ```text
//! instructions per message = (Ir at `large` - Ir at `small`) / (`large` - `small`)
//! ```
//!
//! which cancels start-up, accept and shutdown exactly. The kernel's own work is not
//! counted: the syscalls bench (`benches/syscalls.rs`) counts the system calls.
//!
//! The servers, all reading into a 4 KiB buffer:
//!
//! * `sonic-io echo example`: `examples/echo_server.rs` as users copy it (built beside this
//!   bench: `cargo build --profile bench -p sonic-io --example echo_server`);
//! * `sonic-io minimal`: the reactor used as meant, one `Io` blocking in `run`, the read and
//!   the write targeting a `Region` of an Io-owned block, so no byte is copied or cleared;
//!   the gap between the two rows is the example's own per-message work;
//! * `mio`: a bare blocking mio loop (poll, one read, the write; a read shorter than the
//!   buffer means the socket is drained, so the edge-triggered loop needs no read that
//!   finds nothing);
//! * `tokio current_thread`: `read` then `write_all` in one task;
//! * `std blocking`: `read` then `write_all` on a blocking socket.
//!
//! Full: 2,000 and 12,000 messages. `--quick` (or `SONIC_BENCH_QUICK=1`): 500 and 2,500,
//! the same subtraction. The table is printed and its figures appended to
//! `target/bench-summary/sonic-io.jsonl` (`cargo xtask bench` puts them in `BENCHMARKS.md`).
//! Every child is bounded in time (killed after 120 s) and every client socket has a
//! timeout. Needs `valgrind` on the `PATH` (`cargo xtask bench` installs it); without it the
//! bench says so and fails.
//!
//! Run it alone (the example first, so that the row measures the example as it is now):
//!
//! ```text
//! cargo build --profile bench -p sonic-io --example echo_server
//! cargo bench -p sonic-io --bench instructions [-- --quick]
//! ```

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!(
        "sonic-io instructions: linux only (its mio and tokio peers are Linux dev-dependencies)"
    );
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use testkit::bench::Figure;

    const MSG_LEN: usize = 64;
    static MSG: [u8; MSG_LEN] = [0x5a; MSG_LEN];
    /// The servers' read buffer.
    const BUF_LEN: usize = 4096;
    /// How long a child may live, valgrind's start included.
    const CHILD_CAP: Duration = Duration::from_secs(120);
    /// The client's socket timeout: a server that stops answering ends the run.
    const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A server, its row label and its `--serve` name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Server {
        Example,
        Minimal,
        Mio,
        Tokio,
        Std,
    }

    const SERVERS: [Server; 5] = [
        Server::Example,
        Server::Minimal,
        Server::Mio,
        Server::Tokio,
        Server::Std,
    ];

    impl Server {
        fn label(self) -> &'static str {
            match self {
                Server::Example => "sonic-io echo example",
                Server::Minimal => "sonic-io minimal",
                Server::Mio => "mio",
                Server::Tokio => "tokio current_thread",
                Server::Std => "std blocking",
            }
        }
        fn arg(self) -> &'static str {
            match self {
                Server::Example => "example",
                Server::Minimal => "minimal",
                Server::Mio => "mio",
                Server::Tokio => "tokio",
                Server::Std => "std",
            }
        }
        fn from_arg(s: &str) -> Option<Server> {
            SERVERS.into_iter().find(|k| k.arg() == s)
        }
    }

    // -------------------------------------------------------------------------------------
    // The servers (child side). Each binds 127.0.0.1:0, prints `listening <addr>` on stdout,
    // echoes one connection until its end of stream, and returns.

    fn announce(addr: impl std::fmt::Display) {
        println!("listening {addr}");
        let _ = io::stdout().flush();
    }

    fn serve(server: Server) -> Result<(), String> {
        match server {
            Server::Example => Err("the example runs as its own binary".into()),
            Server::Minimal => serve_minimal(),
            Server::Mio => serve_mio().map_err(|e| e.to_string()),
            Server::Tokio => serve_tokio().map_err(|e| e.to_string()),
            Server::Std => serve_std().map_err(|e| e.to_string()),
        }
    }

    fn serve_minimal() -> Result<(), String> {
        use sonic_io::{Io, Listener, Region, TcpStream};

        /// Reads into the whole block, echoes what came from the same bytes, again.
        fn echo(io: &mut Io, c: TcpStream, all: Region) {
            let armed = c.async_read(io, all, move |io, r, all| match r {
                Ok(n) if n > 0 => {
                    let Ok(part) = io.region(all.id(), 0..n) else {
                        let _ = io.close();
                        return;
                    };
                    let armed = c.async_write_all(io, part, move |io, r, _| match r {
                        Ok(_) => echo(io, c, all),
                        Err(_) => {
                            let _ = io.close();
                        }
                    });
                    if armed.is_err() {
                        let _ = io.close();
                    }
                }
                _ => {
                    let _ = io.close();
                }
            });
            if armed.is_err() {
                let _ = io.close();
            }
        }

        let mut io = Io::new().map_err(|e| e.to_string())?;
        let l = sock::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        announce(l.local_addr().map_err(|e| e.to_string())?);
        let l = Listener::add(&mut io, l).map_err(|e| e.to_string())?;
        let block = io
            .add_bytes(vec![0u8; BUF_LEN])
            .map_err(|e| e.to_string())?;
        let all = io.region(block, 0..BUF_LEN).map_err(|e| e.to_string())?;
        l.async_accept(&mut io, move |io, r| match r {
            Ok((c, _)) => {
                let _ = c.get(io).map(|s| s.set_nodelay(true));
                echo(io, c, all);
            }
            Err(_) => {
                let _ = io.close();
            }
        })
        .map_err(|_| "async_accept refused".to_string())?;
        io.run().map_err(|e| e.to_string())
    }

    fn serve_mio() -> io::Result<()> {
        use mio::{Events, Interest, Poll, Token};
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        announce(l.local_addr()?);
        // One blocking accept: setup, the same in both runs.
        let (s, _) = l.accept()?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let mut s = mio::net::TcpStream::from_std(s);
        let mut poll = Poll::new()?;
        let mut events = Events::with_capacity(64);
        poll.registry()
            .register(&mut s, Token(0), Interest::READABLE)?;
        let mut buf = [0u8; BUF_LEN];
        loop {
            match poll.poll(&mut events, None) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if events.is_empty() {
                continue;
            }
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        write_all_spin(&mut s, &buf[..n])?;
                        if n < buf.len() {
                            // Drained: the next bytes raise a new edge.
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // The client's close may reset the connection: the end either way.
                    Err(_) => return Ok(()),
                }
            }
        }
    }

    /// Writes all of `buf` to a non-blocking socket (one message in flight: it never fills,
    /// but a full socket is retried rather than dropped).
    fn write_all_spin(w: &mut impl Write, mut buf: &[u8]) -> io::Result<()> {
        // Read the clock only once the socket is full, not on every message.
        let mut deadline = None;
        while !buf.is_empty() {
            match w.write(buf) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    let d = *deadline.get_or_insert_with(|| Instant::now() + CHILD_CAP);
                    if Instant::now() >= d {
                        return Err(e);
                    }
                    std::hint::spin_loop();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn serve_tokio() -> io::Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            announce(l.local_addr()?);
            let (mut s, _) = l.accept().await?;
            s.set_nodelay(true)?;
            let mut buf = vec![0u8; BUF_LEN];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(n) => s.write_all(&buf[..n]).await?,
                }
            }
        })
    }

    fn serve_std() -> io::Result<()> {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        announce(l.local_addr()?);
        let (mut s, _) = l.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; BUF_LEN];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => s.write_all(&buf[..n])?,
            }
        }
    }

    // -------------------------------------------------------------------------------------
    // The driver (parent side)

    /// Kills and reaps the child on every way out.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            if matches!(self.0.try_wait(), Ok(None)) {
                let _ = self.0.kill();
            }
            let _ = self.0.wait();
        }
    }

    /// The example's binary, built beside this bench in the same profile.
    fn example_binary() -> Result<PathBuf, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // <target>/<profile>/deps/instructions-<hash>
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("cannot place the bench binary")?;
        let p = dir.join("examples").join("echo_server");
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "{} is missing: cargo build --profile bench -p sonic-io --example echo_server",
                p.display()
            ))
        }
    }

    /// The server's command line, under callgrind writing to `out`.
    fn server_command(server: Server, out: &Path) -> Result<Command, String> {
        let mut c = Command::new("valgrind");
        c.arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            // The count is all that is read: no per-line or per-jump detail.
            .arg("--dump-instr=no")
            .arg("--compress-strings=no");
        match server {
            Server::Example => {
                c.arg(example_binary()?).args([
                    "--port",
                    "0",
                    "--connections",
                    "1",
                    "--seconds",
                    &CHILD_CAP.as_secs().to_string(),
                ]);
            }
            _ => {
                let exe = std::env::current_exe().map_err(|e| e.to_string())?;
                c.arg(exe).args(["--serve", server.arg()]);
            }
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(c)
    }

    /// The address in a server's first line of output: `listening <addr>` (ours) or `echo
    /// server on <addr> (...)` (the example).
    fn parse_addr(line: &str) -> Option<SocketAddr> {
        line.split_whitespace().find_map(|w| w.parse().ok())
    }

    /// The total `Ir` of a callgrind output file (its `summary:` or `totals:` line).
    fn parse_ir(text: &str) -> Option<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with("summary:"))
            .or_else(|| text.lines().find(|l| l.starts_with("totals:")))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// One server under callgrind, `n` round trips; its `Ir`.
    fn count(server: Server, n: usize, dir: &Path) -> Result<u64, String> {
        let out = dir.join(format!("callgrind.{}.{n}.out", server.arg()));
        let _ = std::fs::remove_file(&out);
        let mut child = Reaped(
            server_command(server, &out)?
                .spawn()
                .map_err(|e| format!("valgrind: {e}"))?,
        );
        let stdout = child.0.stdout.take().ok_or("no stdout")?;
        let stderr = child.0.stderr.take().ok_or("no stderr")?;
        // valgrind's own lines and the server's errors, kept for a failure's message.
        let err_text = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let addr = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|l| parse_addr(&l));
            let _ = tx.send(addr);
            // Drain the rest so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let addr = match rx.recv_timeout(CHILD_CAP) {
            Ok(Some(a)) => a,
            _ => {
                drop(child);
                let e = err_text.join().unwrap_or_default();
                return Err(format!("the server never listened: {}", tail(&e)));
            }
        };
        let client = (|| -> io::Result<()> {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
            s.set_write_timeout(Some(CLIENT_TIMEOUT))?;
            let mut buf = [0u8; MSG_LEN];
            for _ in 0..n {
                s.write_all(&MSG)?;
                s.read_exact(&mut buf)?;
            }
            Ok(())
        })();
        // The client's close is the server's end of stream.
        let deadline = Instant::now() + CHILD_CAP;
        let status = loop {
            match child.0.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break None,
            }
        };
        drop(child);
        let e = err_text.join().unwrap_or_default();
        client.map_err(|e2| format!("client: {e2}; server: {}", tail(&e)))?;
        match status {
            Some(st) if st.success() => {}
            Some(st) => return Err(format!("server exited with {st}: {}", tail(&e))),
            None => return Err(format!("server did not exit within {CHILD_CAP:?}")),
        }
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let _ = std::fs::remove_file(&out);
        parse_ir(&text).ok_or_else(|| format!("no Ir total in {}", out.display()))
    }

    fn tail(s: &str) -> String {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(6)..].join(" | ")
    }

    fn valgrind_version() -> Option<String> {
        let o = Command::new("valgrind").arg("--version").output().ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    /// One row: the counts of both runs and the per-message figure.
    struct Row {
        server: Server,
        result: Result<(u64, u64), String>,
    }

    pub(crate) fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(i) = args.iter().position(|a| a == "--serve") {
            let Some(server) = args.get(i + 1).and_then(|s| Server::from_arg(s)) else {
                eprintln!("--serve needs one of: minimal, mio, tokio, std");
                std::process::exit(2);
            };
            if let Err(e) = serve(server) {
                eprintln!("{}: {e}", server.label());
                std::process::exit(1);
            }
            return;
        }
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("SONIC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let (small, large) = if quick { (500, 2_500) } else { (2_000, 12_000) };
        let Some(version) = valgrind_version() else {
            eprintln!(
                "sonic-io instructions: valgrind not found (apt-get install valgrind; cargo xtask bench installs it)"
            );
            std::process::exit(1);
        };
        let dir =
            std::env::temp_dir().join(format!("sonic-io-instructions-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("{}: {e}", dir.display());
            std::process::exit(1);
        }
        eprintln!(
            "sonic-io instructions ({} mode): {small} and {large} round trips per server, {version}",
            if quick { "quick" } else { "full" }
        );
        let t_all = Instant::now();
        let mut rows = Vec::new();
        for server in SERVERS {
            let t = Instant::now();
            let result =
                count(server, small, &dir).and_then(|a| count(server, large, &dir).map(|b| (a, b)));
            eprintln!(
                "  {:<24} in {:>5.1} s{}",
                server.label(),
                t.elapsed().as_secs_f64(),
                result
                    .as_ref()
                    .err()
                    .map(|e| format!("  ERROR: {e}"))
                    .unwrap_or_default()
            );
            rows.push(Row { server, result });
        }
        let _ = std::fs::remove_dir_all(&dir);

        let per = |r: &Row| -> Option<f64> {
            let &(a, b) = r.result.as_ref().ok()?;
            Some((b as f64 - a as f64) / (large - small) as f64)
        };
        let of = |s: Server| rows.iter().find(|r| r.server == s).and_then(per);
        println!();
        println!(
            "server-side instructions per 64-byte echo (callgrind Ir, blocking servers, one TCP connection): (Ir at {large} - Ir at {small}) / {}",
            large - small
        );
        println!(
            "{:<24} {:>14} {:>14} {:>10} {:>9}",
            "server",
            format!("Ir at {small}"),
            format!("Ir at {large}"),
            "per msg",
            "vs mio"
        );
        let mio = of(Server::Mio);
        let mut names: Vec<(String, String, String, f64)> = Vec::new();
        let mut failed = false;
        for r in &rows {
            if let (Ok((a, b)), Some(p)) = (&r.result, per(r)) {
                let vs = mio.map_or(f64::NAN, |m| p / m);
                println!(
                    "{:<24} {:>14} {:>14} {:>10.0} {:>9.2}",
                    r.server.label(),
                    a,
                    b,
                    p,
                    vs
                );
                names.push((
                    "tcp echo 64B server instructions per message".into(),
                    r.server.label().into(),
                    "instructions".into(),
                    p,
                ));
            } else {
                failed = true;
                println!(
                    "{:<24} not measured: {}",
                    r.server.label(),
                    r.result.as_ref().err().map_or("no count", String::as_str)
                );
            }
        }
        if let (Some(ex), Some(min)) = (of(Server::Example), of(Server::Minimal)) {
            println!(
                "the example's own per-message work (example - minimal): {:.0} instructions",
                ex - min
            );
            names.push((
                "tcp echo 64B server instructions per message".into(),
                "sonic-io echo example - minimal".into(),
                "instructions".into(),
                ex - min,
            ));
        }
        println!();
        println!("took {:.1} s", t_all.elapsed().as_secs_f64());
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
        if failed {
            std::process::exit(1);
        }
    }
}
