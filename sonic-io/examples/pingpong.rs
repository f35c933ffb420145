//! The workspace's demo: an echo server and a client on loopback, each on its own thread
//! (pinned to its own core when there are two), 64-byte messages; prints the round-trip
//! time distribution of the sonic-io hot loop beside blocking `std::net`.
//!
//! `cargo run --release -p sonic-io --example pingpong -- [--rounds N]`

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_io::{Io, Listener, TcpStream};

const MSG: usize = 64;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn pin(cpu: usize) {
    if cores() >= 2 {
        // Best effort: an unpinned run is still a valid run.
        let _ = sonic_io::pin_thread(cpu);
    }
}

/// sonic-io echo server, hot loop: serves one connection until it closes.
fn sonic_server(l: sock::TcpListener) {
    pin(0);
    let mut io = Io::new().expect("io");
    let l = Listener::add(&mut io, l).expect("listener");
    fn serve(io: &mut Io, c: TcpStream, buf: Vec<u8>) {
        let _ = c.async_read_exact(io, buf, move |io, r, buf| {
            if r.is_err() {
                io.close().expect("close");
                return;
            }
            let _ = c.async_write_all(io, buf, move |io, r, buf| {
                if r.is_ok() {
                    serve(io, c, buf);
                }
            });
        });
    }
    l.async_accept(&mut io, |io, r| {
        let (c, _) = r.expect("accept");
        c.get(io).expect("conn").set_nodelay(true).expect("nodelay");
        serve(io, c, vec![0u8; MSG]);
    })
    .expect("accept");
    io.run_warm(u64::MAX, Duration::from_millis(1))
        .expect("run");
}

/// sonic-io client, hot loop: `rounds` round trips, each timed.
fn sonic_client(addr: sock::SockaddrAny, rounds: usize) -> Vec<u64> {
    pin(1);
    let mut io = Io::new().expect("io");
    let rtts = Rc::new(RefCell::new(Vec::with_capacity(rounds)));
    fn round(io: &mut Io, c: TcpStream, buf: Vec<u8>, rtts: Rc<RefCell<Vec<u64>>>, left: usize) {
        let t0 = Instant::now();
        c.async_write_all(io, buf, move |io, r, buf| {
            r.expect("write");
            c.async_read_exact(io, buf, move |io, r, buf| {
                r.expect("read");
                rtts.borrow_mut().push(t0.elapsed().as_nanos() as u64);
                if left > 1 {
                    round(io, c, buf, rtts, left - 1);
                } else {
                    io.close().expect("close");
                }
            })
            .expect("arm read");
        })
        .expect("arm write");
    }
    let r = rtts.clone();
    TcpStream::dial(&mut io, addr, move |io, res| {
        let c = res.expect("dial");
        c.get(io).expect("conn").set_nodelay(true).expect("nodelay");
        round(io, c, vec![1u8; MSG], r, rounds);
    })
    .expect("dial");
    io.run_warm(u64::MAX, Duration::from_millis(1))
        .expect("run");
    rtts.take()
}

fn std_pair(rounds: usize) -> Vec<u64> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        pin(0);
        let (mut s, _) = l.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut buf = [0u8; MSG];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let client = std::thread::spawn(move || {
        pin(1);
        let mut c = std::net::TcpStream::connect(addr).expect("connect");
        c.set_nodelay(true).expect("nodelay");
        let mut buf = [1u8; MSG];
        let mut rtts = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t0 = Instant::now();
            c.write_all(&buf).expect("write");
            c.read_exact(&mut buf).expect("read");
            rtts.push(t0.elapsed().as_nanos() as u64);
        }
        rtts
    });
    let rtts = client.join().expect("client");
    server.join().expect("server");
    rtts
}

fn sonic_pair(rounds: usize) -> Vec<u64> {
    let l = sock::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let server = std::thread::spawn(move || sonic_server(l));
    let rtts = std::thread::spawn(move || sonic_client(addr, rounds))
        .join()
        .expect("client");
    server.join().expect("server");
    rtts
}

fn row(name: &str, mut v: Vec<u64>, warmup: usize) {
    let mut v = v.split_off(warmup.min(v.len()));
    v.sort_unstable();
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    println!(
        "{name:<22} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2}",
        q(0.0),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        q(1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let warmup = (rounds / 10).min(10_000);
    println!(
        "64-byte TCP ping-pong on loopback, {rounds} round trips ({warmup} warm-up dropped), {} cores",
        cores()
    );
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "RTT (µs)", "min", "p50", "p90", "p99", "p99.9", "max"
    );
    row("sonic-io hot loop", sonic_pair(rounds + warmup), warmup);
    row("std::net blocking", std_pair(rounds + warmup), warmup);
}
