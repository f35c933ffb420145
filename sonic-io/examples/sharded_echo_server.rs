//! A TCP echo server on N cores: one Io per core, each on its pinned thread with its own
//! `SO_REUSEPORT` listener (`sonic_io::shard`).
//!
//! `cargo run --release -p sonic-io --example sharded_echo_server -- [N] [--placement hash|incoming-cpu|bpf] [--port P] [--seconds S]`
//!
//! N defaults to every CPU the process may run on. It prints its address first, then runs
//! for `--seconds` (default 60), shuts down (listeners first, then each Io once its
//! connections are gone, at most one second later) and prints how many connections each
//! shard accepted.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sonic_bytes::{ByteBuffer, Fifo};
use sonic_io::shard::{Placement, Shard, Shards};
use sonic_io::{Io, Listener, TcpStream, Timer};

/// The most one read takes.
const READ_MAX: usize = 4096;

/// How long a shard pauses accepting after an error such as `EMFILE`.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

fn accept(io: &mut Io, l: Listener<sock::TcpListener>, shard: Rc<Shard>, counts: Arc<[AtomicU64]>) {
    let r = l.async_accept(io, move |io, r| {
        match r {
            Ok((c, _)) => {
                counts[shard.index()].fetch_add(1, Ordering::Relaxed);
                // An echo's replies must not wait for the peer's delayed ACK (Nagle).
                let _ = c.get(io).map(|s| s.set_nodelay(true));
                echo(io, c, shard.clone(), ByteBuffer::with_capacity(READ_MAX));
            }
            // The listener closed: shutting down.
            Err(e) if e.kind() == sonic_io::ErrorKind::Cancelled => return,
            // EMFILE and friends: the connection stays queued, so accepting again at once
            // would fail again at once and spin; pause first.
            Err(e) => {
                eprintln!(
                    "shard {}: accept: {e}; trying again in {ACCEPT_PAUSE:?}",
                    shard.index()
                );
                let resumed = Timer::new(io).and_then(|t| {
                    t.schedule_once(io, ACCEPT_PAUSE, move |io, t| {
                        t.close(io);
                        accept(io, l, shard, counts);
                    })
                });
                if let Err(e) = resumed {
                    eprintln!("accept pause: {e}");
                }
                return;
            }
        }
        accept(io, l, shard, counts);
    });
    if let Err(e) = r {
        eprintln!("accept: {e}");
    }
}

/// Echoes one connection through a FIFO: reads land in its free space and the write sends
/// them from there (nothing copied or cleared per message).
fn echo(io: &mut Io, c: TcpStream, shard: Rc<Shard>, fifo: ByteBuffer) {
    let r = c.async_read_into(io, fifo, READ_MAX, move |io, r, fifo| match r {
        Ok(n) if n > 0 => {
            let w = c.async_write_from(io, fifo, move |io, r, fifo| {
                if r.is_err() {
                    let _ = c.close(io);
                } else if shard.stopping() {
                    // Shutting down: half-close, then close at the peer's end of stream.
                    let _ = c.shutdown(io, std::net::Shutdown::Write);
                    drain(io, c, fifo);
                } else {
                    echo(io, c, shard, fifo);
                }
            });
            if w.is_err() {
                let _ = c.close(io);
            }
        }
        _ => {
            let _ = c.close(io);
        }
    });
    if r.is_err() {
        let _ = c.close(io);
    }
}

/// Reads and drops what the peer still sends, until its end of stream.
fn drain(io: &mut Io, c: TcpStream, mut fifo: ByteBuffer) {
    fifo.clear();
    let r = c.async_read_into(io, fifo, READ_MAX, move |io, r, fifo| match r {
        Ok(n) if n > 0 => drain(io, c, fifo),
        _ => {
            let _ = c.close(io);
        }
    });
    if r.is_err() {
        let _ = c.close(io);
    }
}

fn main() {
    let mut n = None;
    let mut placement = Placement::Hash;
    let mut port = 0u16;
    let mut seconds = 60u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--placement" => {
                placement = match args.next().as_deref() {
                    Some("hash") => Placement::Hash,
                    Some("incoming-cpu") => Placement::IncomingCpu,
                    Some("bpf") => Placement::Bpf,
                    other => fail(&format!("--placement hash|incoming-cpu|bpf, not {other:?}")),
                }
            }
            "--port" => port = number(args.next(), "--port"),
            "--seconds" => seconds = number(args.next(), "--seconds"),
            s if !s.starts_with('-') => n = Some(number(Some(a.clone()), "N")),
            s => fail(&format!("unknown argument {s}")),
        }
    }
    let mut b = Shards::builder().placement(placement);
    if let Some(n) = n {
        b = b.shards(n);
    }
    // One counter per possible shard (the builder checks N against the CPUs).
    let counts: Arc<[AtomicU64]> = (0..1024).map(|_| AtomicU64::new(0)).collect();
    let c = counts.clone();
    let shards = b
        .serve_tcp(format!("127.0.0.1:{port}"), move |io, shard, l| {
            accept(io, l, Rc::new(shard.clone()), c.clone());
            Ok(())
        })
        .unwrap_or_else(|e| fail(&format!("start: {e}")));
    println!("{}", shards.local_addr());
    eprintln!(
        "{} shards on CPUs {:?}, placement {placement:?}, for {seconds} s",
        shards.len(),
        shards.cpus()
    );
    std::thread::sleep(Duration::from_secs(seconds));
    let n = shards.len();
    let r = shards.shutdown_graceful(Duration::from_secs(1));
    for (i, c) in counts.iter().take(n).enumerate() {
        println!("shard {i}: {} connections", c.load(Ordering::Relaxed));
    }
    if let Err(e) = r {
        fail(&e.to_string());
    }
}

fn number<T: std::str::FromStr>(s: Option<String>, what: &str) -> T {
    s.and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fail(&format!("{what} needs a number")))
}

fn fail(msg: &str) -> ! {
    eprintln!("sharded_echo_server: {msg}");
    std::process::exit(2)
}
