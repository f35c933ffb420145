//! A TCP echo server on one thread.
//!
//! `cargo run --release -p sonic-io --example echo_server -- [--hot] [--port P] [--seconds S] [--connections N]`
//!
//! `--hot` busy-polls (lowest latency, one core at 100 %); without it the loop blocks in
//! the kernel between events. It stops after `--seconds` (default 60), or as soon as
//! `--connections` connections have been accepted and have all closed (`cargo xtask load`
//! uses that to end with its clients).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sonic_bytes::ByteBuffer;
use sonic_io::{ErrorKind, Io, Listener, TcpStream, Timer};

/// Connections still to come and go before the server stops on its own (`--connections`).
#[derive(Clone, Default)]
struct Countdown(Option<Rc<Cell<u64>>>);

impl Countdown {
    /// Closes `conn`; the last connection counted down closes the Io.
    fn close(&self, io: &mut Io, conn: TcpStream) {
        if let Err(e) = conn.close(io) {
            eprintln!("close: {e}");
        }
        if let Some(left) = &self.0 {
            left.set(left.get() - 1);
            if left.get() == 0 {
                let _ = io.close();
            }
        }
    }
}

/// The most one read takes (the FIFO's free space is claimed up to this).
const READ_MAX: usize = 4096;

/// Echoes one connection: each read lands in the FIFO's free space and the write sends it
/// from there, so no byte is copied or cleared per message (a `Vec` read target would have
/// to be truncated to the count and grown back, which zeroes it: 4,000 instructions a
/// message, `benches/instructions.rs`).
fn serve(io: &mut Io, conn: TcpStream, fifo: ByteBuffer, done: Countdown) {
    let d = done.clone();
    let r = conn.async_read_into(io, fifo, READ_MAX, move |io, r, fifo| match r {
        // The Io is closing and has closed the connection already.
        Err(e) if e.kind() == ErrorKind::Cancelled => {}
        Ok(0) | Err(_) => d.close(io, conn),
        Ok(_) => {
            let d2 = d.clone();
            let w = conn.async_write_from(io, fifo, move |io, r, fifo| match r {
                Ok(_) => serve(io, conn, fifo, d2),
                Err(p) if p.error.kind() == ErrorKind::Cancelled => {}
                Err(_) => d2.close(io, conn),
            });
            if w.is_err() {
                d.close(io, conn);
            }
        }
    });
    if r.is_err() {
        done.close(io, conn);
    }
}

/// How long accepting pauses after an error such as `EMFILE`: the connection stays in the
/// listen queue, so an accept made at once would fail again at once, and re-arming from the
/// callback would spin at 100 % of a core until a descriptor frees up.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Accepts connections; `pause` is the timer that resumes accepting after an error.
fn accept(io: &mut Io, l: Listener<sock::TcpListener>, done: Countdown, pause: Timer) {
    let d = done.clone();
    let r = l.async_accept(io, move |io, r| {
        match r {
            Ok((conn, peer)) => {
                let _ = conn.get(io).map(|c| c.set_nodelay(true));
                eprintln!("accepted {peer}");
                serve(io, conn, ByteBuffer::with_capacity(READ_MAX), d.clone());
            }
            // The Io was closed (the countdown ended): nothing more to accept.
            Err(e) if e.kind() == ErrorKind::Cancelled => return,
            // EMFILE and friends: report, and try again after a pause.
            Err(e) => {
                eprintln!("accept: {e}; trying again in {ACCEPT_PAUSE:?}");
                let resumed =
                    pause.schedule_once(io, ACCEPT_PAUSE, move |io, pause| accept(io, l, d, pause));
                if let Err(e) = resumed {
                    eprintln!("accept pause: {e}");
                }
                return;
            }
        }
        accept(io, l, d, pause);
    });
    if let Err(e) = r {
        eprintln!("async_accept: {e}");
    }
}

fn main() -> sonic_io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hot = args.iter().any(|a| a == "--hot");
    let value = |flag: &str, default: u64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let port = value("--port", 8080);
    let seconds = value("--seconds", 60);
    let connections = value("--connections", 0);

    let mut io = Io::builder().objects(1024).build()?;
    let l = Listener::add(
        &mut io,
        sock::TcpListener::bind(format!("127.0.0.1:{port}").as_str())?,
    )?;
    println!(
        "echo server on {} ({} loop) for {seconds} s",
        l.get(&io)?.local_addr()?,
        if hot { "hot" } else { "blocking" }
    );
    let done = Countdown((connections > 0).then(|| Rc::new(Cell::new(connections))));
    let pause = Timer::new(&mut io)?;
    accept(&mut io, l, done, pause);
    let stop = Timer::new(&mut io)?;
    stop.schedule_once(&mut io, Duration::from_secs(seconds), |io, _| {
        io.close().unwrap()
    })?;
    if hot {
        // Spin through empty turns; block (1 ms) only after a long idle stretch.
        io.run_warm(1_000_000, Duration::from_millis(1))?;
    } else {
        io.run()?;
    }
    println!("stopped: {:?}", io.stats());
    Ok(())
}
