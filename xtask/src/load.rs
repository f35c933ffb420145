//! `cargo xtask load`: sonic-io's `echo_server` example under many concurrent clients on
//! loopback for a bounded time, every echoed byte checked, the server's memory sampled.
//!
//! The server is the example itself, built in release and run as a process of its own
//! (`--port 0 --connections N`: it ends once its N clients have come and gone). The clients
//! are plain blocking `std::net` threads, independent of the code under test: each sends
//! messages of 1 to 16 KiB (the server reads 4 KiB at a time, so most come back in pieces)
//! from its own pseudo-random sequence, reads the echo back and compares every byte. One
//! client in four ends differently: it sends a last message of up to 256 KiB from a second
//! thread and shuts down its write side right behind it, so the server meets the FIN while
//! data is still unread, and must still echo every byte and then close; a read that waits
//! 20 s is a stalled connection and fails the run.
//!
//! The run passes when no client saw an error or a wrong byte, every client got a clean
//! end of stream after its last message (every half-closing one after the whole echo of
//! its last message), the server accepted every client, printed nothing
//! but its `accepted` lines on stderr and exited 0 on its own, and its memory stayed flat:
//! no sample of its resident set (`VmRSS` in `/proc/<pid>/status`, read every second of the
//! steady state, which begins after a 2-second warm-up with every client connected) is
//! more than [`RSS_GROWTH_LIMIT_KIB`] above the first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::run::{cmd, output, status};

/// What `cargo xtask load` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// Seconds of steady state, after the warm-up.
    pub(crate) seconds: u64,
    /// Concurrent client connections.
    pub(crate) clients: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seconds: 30,
            clients: 200,
        }
    }
}

/// Traffic before the memory baseline is taken: every client connected and exchanging.
const WARM_UP: Duration = Duration::from_secs(2);
/// The largest message; sizes are spread evenly over 1..=MAX_MESSAGE.
const MAX_MESSAGE: usize = 16 * 1024;
/// One client in this many ends its connection with a half-close behind a last message
/// whose echo it has not read yet.
const HALF_CLOSE_EVERY: usize = 4;
/// The largest last message of a half-closing client (sizes spread evenly over 1..=it):
/// many times the server's 4 KiB read, so the FIN arrives while data waits.
const MAX_LAST_MESSAGE: usize = 256 * 1024;
/// A client's read or write that waits longer than this fails the run (a stall, not load).
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// How far above its steady-state baseline the server's resident set may go: 64 pages.
/// The server allocates a connection's buffer when the connection arrives and nothing per
/// message, so the bound does not depend on the run's length; at the rates seen on 2 cores
/// (about 8,000 messages a second, 240,000 in 30 s) it allows about a byte per message, so
/// keeping anything per message fails the run, while a page or two of code or heap touched
/// late does not.
pub(crate) const RSS_GROWTH_LIMIT_KIB: u64 = 256;
/// How long the server may take to exit once its last client has closed.
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// `--seconds N`, `--clients N`.
pub(crate) fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or_else(|| format!("{name} needs a value"))?;
            v.parse()
                .ok()
                .filter(|&n: &u64| n > 0)
                .ok_or_else(|| format!("{name} wants a positive whole number, not {v:?}"))
        };
        match a.as_str() {
            "--seconds" => o.seconds = value("--seconds")?,
            "--clients" => o.clients = value("--clients")? as usize,
            "--install" => {}
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(o)
}

/// xorshift64*: a client's message sizes and bytes, reproducible from its number.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Totals over every client, updated as messages come back.
#[derive(Default)]
struct Totals {
    messages: AtomicU64,
    bytes: AtomicU64,
    /// Half-closing clients that got their whole last echo.
    half_closed: AtomicU64,
}

/// One client: connect, a first exchange, the start barrier, then exchanges until `stop`,
/// then a clean close. Any failure is returned as a sentence naming the client.
fn client(
    id: usize,
    addr: &str,
    start: &Barrier,
    stop: &AtomicBool,
    totals: &Totals,
) -> Result<(), String> {
    let mut rng = Rng::new(id as u64 + 1);
    let mut out = vec![0u8; MAX_MESSAGE];
    let mut back = vec![0u8; MAX_MESSAGE];
    let mut sent = 0u64;
    let mut exchange = |s: &mut TcpStream| -> Result<(), String> {
        let len = 1 + (rng.next() % MAX_MESSAGE as u64) as usize;
        rng.fill(&mut out[..len]);
        s.write_all(&out[..len])
            .map_err(|e| format!("client {id}, message {sent}: write: {e}"))?;
        s.read_exact(&mut back[..len])
            .map_err(|e| format!("client {id}, message {sent}: read: {e}"))?;
        if let Some(i) = (0..len).find(|&i| back[i] != out[i]) {
            return Err(format!(
                "client {id}, message {sent} ({len} bytes): byte {i} came back {:#04x}, sent {:#04x}",
                back[i], out[i]
            ));
        }
        sent += 1;
        totals.messages.fetch_add(1, Ordering::Relaxed);
        totals.bytes.fetch_add(len as u64, Ordering::Relaxed);
        Ok(())
    };
    let connected = TcpStream::connect(addr)
        .map_err(|e| format!("client {id}: connect: {e}"))
        .and_then(|mut s| {
            let setup = s
                .set_nodelay(true)
                .and_then(|()| s.set_read_timeout(Some(IO_TIMEOUT)))
                .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)));
            setup.map_err(|e| format!("client {id}: socket options: {e}"))?;
            exchange(&mut s)?;
            Ok(s)
        });
    // Every client reaches the barrier, failed or not, so the run never waits forever.
    start.wait();
    let mut s = connected?;
    while !stop.load(Ordering::Relaxed) {
        exchange(&mut s)?;
    }
    if half_closes(id) {
        return last_message_then_half_close(id, &mut s, &mut rng, totals);
    }
    // The server answers our end of stream with its own.
    s.shutdown(Shutdown::Write)
        .map_err(|e| format!("client {id}: shutdown: {e}"))?;
    match s.read(&mut back) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!(
            "client {id}: {n} unexpected bytes after the last echo"
        )),
        Err(e) => Err(format!("client {id}: waiting for the server's close: {e}")),
    }
}

/// Whether client `id` ends its connection with a half-close while its last message is
/// still being echoed (one client in [`HALF_CLOSE_EVERY`]).
fn half_closes(id: usize) -> bool {
    id % HALF_CLOSE_EVERY == HALF_CLOSE_EVERY - 1
}

/// How many of `clients` half-close.
fn half_closing(clients: usize) -> usize {
    (0..clients).filter(|&id| half_closes(id)).count()
}

/// The end of a half-closing client's connection: a last message of up to
/// [`MAX_LAST_MESSAGE`] bytes sent by a second thread, which then shuts down writing
/// (so the server finds the FIN behind data it has not read yet), while this thread reads
/// every byte of its echo and then the server's end of stream. A read that waits longer
/// than [`IO_TIMEOUT`] is a stalled connection and fails the run.
fn last_message_then_half_close(
    id: usize,
    s: &mut TcpStream,
    rng: &mut Rng,
    totals: &Totals,
) -> Result<(), String> {
    let len = 1 + (rng.next() % MAX_LAST_MESSAGE as u64) as usize;
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    let mut w = s
        .try_clone()
        .map_err(|e| format!("client {id}: try_clone: {e}"))?;
    std::thread::scope(|scope| {
        let out = &out;
        let writer = scope.spawn(move || {
            w.write_all(out)
                .and_then(|()| w.shutdown(Shutdown::Write))
                .map_err(|e| format!("client {id}, last message ({len} bytes): write: {e}"))
        });
        let mut back = vec![0u8; len];
        let mut got = 0;
        let read = loop {
            if got == len {
                break Ok(());
            }
            match s.read(&mut back[got..]) {
                Ok(0) => {
                    break Err(format!(
                        "client {id}: end of stream after {got} of the last message's \
                         {len} bytes"
                    ));
                }
                Ok(n) => got += n,
                Err(e) => {
                    break Err(format!(
                        "client {id}: half-closed, {got} of the last message's {len} bytes \
                         back, then stalled: {e}"
                    ));
                }
            }
        };
        let written = writer
            .join()
            .map_err(|_| format!("client {id}: the writer thread panicked"))?;
        read?;
        written?;
        if let Some(i) = (0..len).find(|&i| back[i] != out[i]) {
            return Err(format!(
                "client {id}, last message ({len} bytes): byte {i} came back {:#04x}, sent {:#04x}",
                back[i], out[i]
            ));
        }
        totals.messages.fetch_add(1, Ordering::Relaxed);
        totals.bytes.fetch_add(len as u64, Ordering::Relaxed);
        match s.read(&mut back[..1]) {
            Ok(0) => {
                totals.half_closed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(_) => Err(format!(
                "client {id}: unexpected bytes after the last message's echo"
            )),
            Err(e) => Err(format!(
                "client {id}: half-closed, every byte back, then no end of stream: {e}"
            )),
        }
    })
}

/// The server's resident set in KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("{path} has no VmRSS line"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `echo server on 127.0.0.1:41234 (blocking loop) for 92 s` → `127.0.0.1:41234`.
fn parse_listening(line: &str) -> Option<String> {
    let rest = line.strip_prefix("echo server on ")?;
    rest.split_whitespace().next().map(String::from)
}

/// Cargo's target directory for this workspace (honours `CARGO_TARGET_DIR`).
fn target_dir() -> Result<PathBuf, String> {
    output(cmd(
        "cargo",
        &["metadata", "--format-version", "1", "--no-deps"],
    ))
    .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
    .and_then(|m| m["target_directory"].as_str().map(PathBuf::from))
    .ok_or_else(|| "cargo metadata did not name the target directory".into())
}

/// The server process; killed if the run ends before it exited on its own.
struct Server {
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The run's figures.
#[derive(Debug)]
struct Figures {
    messages: u64,
    bytes: u64,
    steady_messages: u64,
    steady_secs: f64,
    rss_start: u64,
    rss_end: u64,
    rss_max: u64,
    /// Half-closing clients that got their last echo and end of stream.
    half_closed: u64,
}

/// Builds the example, runs the load and checks it; the note for the summary.
pub(crate) fn load(o: &Options) -> Result<String, String> {
    status(cmd(
        "cargo",
        &[
            "build",
            // Release with line tables: the build `cargo xtask bench` makes too.
            "--profile",
            "bench",
            "--workspace",
            "--example",
            "echo_server",
        ],
    ))?;
    let exe = target_dir()?.join("release/examples/echo_server");
    // --seconds is only a backstop: the server ends when its last client has closed.
    let backstop = o.seconds + WARM_UP.as_secs() + 120;
    let clients = o.clients.to_string();
    let backstop_arg = backstop.to_string();
    let args = [
        "--port",
        "0",
        "--connections",
        clients.as_str(),
        "--seconds",
        backstop_arg.as_str(),
    ];
    println!("$ {} {}", exe.display(), args.join(" "));
    let mut child = Command::new(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut server = Server { child: Some(child) };

    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .map_err(|e| format!("reading the server's first line: {e}"))?;
    print!("{first}");
    let addr = parse_listening(&first)
        .ok_or_else(|| format!("the server did not say where it listens: {first:?}"))?;
    // Its stderr: one `accepted` line per connection; anything else is an error report.
    let stderr_reader = std::thread::spawn(move || {
        let (mut accepted, mut other) = (0usize, Vec::new());
        for line in stderr.lines().map_while(Result::ok) {
            if line.starts_with("accepted ") {
                accepted += 1;
            } else {
                eprintln!("server: {line}");
                other.push(line);
            }
        }
        (accepted, other)
    });
    let stdout_reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        rest
    });

    let start = Arc::new(Barrier::new(o.clients + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals::default());
    let errors = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<JoinHandle<()>> = (0..o.clients)
        .map(|id| {
            let (addr, start, stop) = (addr.clone(), start.clone(), stop.clone());
            let (totals, errors) = (totals.clone(), errors.clone());
            std::thread::Builder::new()
                .name(format!("client {id}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    if let Err(e) = client(id, &addr, &start, &stop, &totals) {
                        errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                    }
                })
                .expect("spawning a client thread")
        })
        .collect();
    start.wait();
    println!(
        "{} clients connected to {addr}; {} s warm-up, then {} s measured",
        o.clients,
        WARM_UP.as_secs(),
        o.seconds
    );
    std::thread::sleep(WARM_UP);
    let rss_start = rss_kib(pid)?;
    let steady_from = totals.messages.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let mut rss_max = rss_start;
    for s in 1..=o.seconds {
        // Sampling once a second until the run's length has passed.
        let next = Duration::from_secs(s);
        std::thread::sleep(next.saturating_sub(t0.elapsed()));
        let rss = rss_kib(pid)?;
        rss_max = rss_max.max(rss);
        if s % 5 == 0 || s == o.seconds {
            println!(
                "{s:>4} s: {} messages, server RSS {rss} KiB",
                totals.messages.load(Ordering::Relaxed)
            );
        }
    }
    let rss_end = rss_kib(pid)?;
    rss_max = rss_max.max(rss_end);
    let steady_messages = totals.messages.load(Ordering::Relaxed) - steady_from;
    let steady_secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| "a client thread panicked".to_string())?;
    }
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner()));

    // The server ends by itself once every client has closed; wait for that, bounded.
    let exit = {
        let mut c = server.child.take().expect("the server is still held");
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let r = c.wait();
            let _ = tx.send(r);
            c
        });
        match rx.recv_timeout(if errors.is_empty() {
            EXIT_WAIT
        } else {
            Duration::ZERO
        }) {
            Ok(r) => {
                let _ = waiter.join();
                r.map_err(|e| e.to_string())
            }
            Err(_) => {
                // Still running: kill it (the waiter reaps it).
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                let _ = waiter.join();
                Err(format!(
                    "the server was still running {} s after its last client closed",
                    EXIT_WAIT.as_secs()
                ))
            }
        }
    };
    let (accepted, server_errors) = stderr_reader.join().unwrap_or_default();
    let rest = stdout_reader.join().unwrap_or_default();
    print!("{rest}");

    let f = Figures {
        messages: totals.messages.load(Ordering::Relaxed),
        bytes: totals.bytes.load(Ordering::Relaxed),
        steady_messages,
        steady_secs,
        rss_start,
        rss_end,
        rss_max,
        half_closed: totals.half_closed.load(Ordering::Relaxed),
    };
    println!(
        "load: {} clients, {:.1} s measured: {} messages ({:.0}/s), {:.1} MiB each way, \
         every byte checked; {} of {} half-closing clients got their last echo and \
         end of stream; client errors {}, server error lines {}; \
         server RSS {} KiB at the start of the steady state, {} KiB at its end, {} KiB at most",
        o.clients,
        f.steady_secs,
        f.messages,
        f.steady_messages as f64 / f.steady_secs,
        f.bytes as f64 / (1 << 20) as f64,
        f.half_closed,
        half_closing(o.clients),
        errors.len(),
        server_errors.len(),
        f.rss_start,
        f.rss_end,
        f.rss_max
    );
    verdict(o, &f, &errors, accepted, &server_errors, exit)
}

/// Every condition of a passing run, the first failure named.
fn verdict(
    o: &Options,
    f: &Figures,
    errors: &[String],
    accepted: usize,
    server_errors: &[String],
    exit: Result<std::process::ExitStatus, String>,
) -> Result<String, String> {
    if let Some(e) = errors.first() {
        return Err(format!(
            "{} of {} clients failed; the first: {e}",
            errors.len(),
            o.clients
        ));
    }
    let exit = exit?;
    if !exit.success() {
        return Err(format!("the server exited {exit}"));
    }
    if accepted != o.clients {
        return Err(format!(
            "the server accepted {accepted} connections, not {}",
            o.clients
        ));
    }
    if let Some(e) = server_errors.first() {
        return Err(format!("the server reported an error: {e}"));
    }
    if f.half_closed != half_closing(o.clients) as u64 {
        return Err(format!(
            "{} of {} half-closing clients got their last echo and end of stream",
            f.half_closed,
            half_closing(o.clients)
        ));
    }
    if f.steady_messages == 0 {
        return Err("no message went through during the steady state".into());
    }
    let growth = f.rss_max.saturating_sub(f.rss_start);
    if growth > RSS_GROWTH_LIMIT_KIB {
        return Err(format!(
            "the server's memory grew {growth} KiB during the steady state ({} → {} KiB, \
             at most {}), more than the {RSS_GROWTH_LIMIT_KIB} KiB allowed",
            f.rss_start, f.rss_end, f.rss_max
        ));
    }
    Ok(format!(
        "{} clients ({} half-closing) × {:.0} s: {} messages, {:.0} MiB echoed, 0 errors; \
         server RSS {} → {} KiB",
        o.clients,
        f.half_closed,
        f.steady_secs,
        f.messages,
        f.bytes as f64 / (1 << 20) as f64,
        f.rss_start,
        f.rss_end
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arguments() {
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
        let o = parse_args(&[
            "--seconds".into(),
            "5".into(),
            "--clients".into(),
            "7".into(),
        ])
        .unwrap();
        assert_eq!(
            o,
            Options {
                seconds: 5,
                clients: 7
            }
        );
        assert!(parse_args(&["--seconds".into()]).is_err());
        assert!(parse_args(&["--seconds".into(), "0".into()]).is_err());
        assert!(parse_args(&["--clients".into(), "many".into()]).is_err());
        assert!(parse_args(&["--minutes".into(), "1".into()]).is_err());
    }

    #[test]
    fn reads_the_servers_lines_and_proc_status() {
        assert_eq!(
            parse_listening("echo server on 127.0.0.1:41234 (blocking loop) for 92 s\n"),
            Some("127.0.0.1:41234".into())
        );
        assert_eq!(parse_listening("something else"), None);
        let status = "Name:\techo_server\nVmHWM:\t    3000 kB\nVmRSS:\t    2816 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(2816));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn a_clients_sequence_is_reproducible_and_not_constant() {
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        assert!(x.iter().any(|&v| v != x[0]));
        assert_ne!(Rng::new(4).next(), Rng::new(3).next());
    }

    fn figures(rss_max: u64) -> Figures {
        Figures {
            messages: 10,
            bytes: 100,
            steady_messages: 5,
            steady_secs: 1.0,
            rss_start: 1000,
            rss_end: 1000,
            rss_max,
            half_closed: 0,
        }
    }

    #[test]
    fn the_verdict_names_each_failure() {
        let o = Options {
            seconds: 1,
            clients: 2,
        };
        let ok = || Ok(exit_status(0));
        assert!(verdict(&o, &figures(1000), &[], 2, &[], ok()).is_ok());
        let e = verdict(
            &o,
            &figures(1000),
            &["client 1: read: reset".into()],
            2,
            &[],
            ok(),
        );
        assert!(e.unwrap_err().contains("client 1: read: reset"));
        assert!(
            verdict(&o, &figures(1000), &[], 1, &[], ok())
                .unwrap_err()
                .contains("accepted 1")
        );
        assert!(
            verdict(&o, &figures(1000), &[], 2, &["accept: EMFILE".into()], ok())
                .unwrap_err()
                .contains("EMFILE")
        );
        assert!(
            verdict(&o, &figures(1000), &[], 2, &[], Ok(exit_status(1)))
                .unwrap_err()
                .contains("exited")
        );
        let grown = 1000 + RSS_GROWTH_LIMIT_KIB + 1;
        assert!(
            verdict(&o, &figures(grown), &[], 2, &[], ok())
                .unwrap_err()
                .contains("grew")
        );
        assert!(verdict(&o, &figures(1000 + RSS_GROWTH_LIMIT_KIB), &[], 2, &[], ok()).is_ok());
        let four = Options {
            seconds: 1,
            clients: 4,
        };
        let mut one_short = figures(1000);
        assert!(
            verdict(&four, &one_short, &[], 4, &[], ok())
                .unwrap_err()
                .contains("0 of 1 half-closing")
        );
        one_short.half_closed = 1;
        assert!(verdict(&four, &one_short, &[], 4, &[], ok()).is_ok());
    }

    /// A real exit status with code `code`, from `sh -c 'exit code'`.
    fn exit_status(code: i32) -> std::process::ExitStatus {
        Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .status()
            .unwrap()
    }
}
