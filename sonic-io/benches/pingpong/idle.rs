//! The cost of one idle turn of a hot loop: an empty `Io::poll_one` against an empty mio
//! zero-timeout poll.

use std::io;
use std::time::{Duration, Instant};

use mio::Interest;
use sonic_io::{Io, TcpStream};

use crate::harness::MSG_LEN;
use crate::mio_loop::{CONN, MioLoop};
use crate::sonic::backstop;

/// Nanoseconds per empty `Io::poll_one` and per empty mio zero-timeout poll, each with
/// one idle registered TCP connection (and, for the Io, a scheduled timer, as the clients
/// above have), over `n` turns.
pub(crate) fn idle_turns(n: usize) -> io::Result<(f64, f64)> {
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
