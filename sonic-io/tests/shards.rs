//! Scale-out (`sonic_io::shard`): placement by CPU, no migration, orderly shutdown under
//! load, a panicking shard reported, bad input refused. Traffic on loopback only; every wait
//! is bounded; nothing asserts a timing.
#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp, UdpSocket as StdUdp};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sonic_io::shard::{Failure, Placement, Shard, Shards};
use sonic_io::{Io, Listener, TcpStream};

/// The longest any client waits for one reply.
const BOUND: Duration = Duration::from_secs(10);

/// The echo application every test serves: each message comes back with its first byte
/// replaced by the index of the shard that answered. Once the shard is stopping it answers
/// what it read, half-closes, reads (and drops) until the peer's end of stream, then closes:
/// so every accepted connection ends with a clean end of stream.
fn echo(
    io: &mut Io,
    shard: &Shard,
    l: Listener<sock::TcpListener>,
    accepted: Arc<AtomicUsize>,
) -> sonic_io::Result<()> {
    accept(io, l, Rc::new(shard.clone()), accepted)
}

fn accept(
    io: &mut Io,
    l: Listener<sock::TcpListener>,
    shard: Rc<Shard>,
    accepted: Arc<AtomicUsize>,
) -> sonic_io::Result<()> {
    l.async_accept(io, move |io, r| {
        // Cancelled at shutdown: stop accepting.
        let Ok((c, _)) = r else { return };
        accepted.fetch_add(1, Ordering::AcqRel);
        read(io, c, shard.clone(), vec![0u8; 64]);
        let _ = accept(io, l, shard, accepted);
    })
}

fn read(io: &mut Io, c: TcpStream, shard: Rc<Shard>, buf: Vec<u8>) {
    let r = c.async_read(io, buf, move |io, r, mut buf| match r {
        Ok(n) if n > 0 => {
            buf.truncate(n);
            buf[0] = shard.index() as u8;
            let w = c.async_write_all(io, buf, move |io, r, mut buf| {
                if r.is_err() {
                    let _ = c.close(io);
                } else if shard.stopping() {
                    let _ = c.shutdown(io, std::net::Shutdown::Write);
                    buf.resize(64, 0);
                    drain(io, c, buf);
                } else {
                    buf.resize(64, 0);
                    read(io, c, shard, buf);
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

fn drain(io: &mut Io, c: TcpStream, buf: Vec<u8>) {
    let r = c.async_read(io, buf, move |io, r, buf| match r {
        Ok(n) if n > 0 => drain(io, c, buf),
        _ => {
            let _ = c.close(io);
        }
    });
    if r.is_err() {
        let _ = c.close(io);
    }
}

fn serve(placement: Placement, cpus: Option<Vec<usize>>) -> (Shards, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    let mut b = Shards::builder().placement(placement);
    if let Some(c) = cpus {
        b = b.cpus(c);
    }
    let shards = b
        .serve_tcp("127.0.0.1:0", move |io, shard, l| {
            echo(io, shard, l, a.clone())
        })
        .unwrap();
    (shards, accepted)
}

fn addr(s: &Shards) -> SocketAddr {
    s.local_addr().to_string().parse().unwrap()
}

fn connect(addr: SocketAddr) -> StdTcp {
    let c = StdTcp::connect_timeout(&addr, BOUND).unwrap();
    c.set_read_timeout(Some(BOUND)).unwrap();
    c.set_write_timeout(Some(BOUND)).unwrap();
    c.set_nodelay(true).unwrap();
    c
}

/// One request, one reply: the index of the shard that answered.
fn ask(c: &mut StdTcp) -> std::io::Result<u8> {
    c.write_all(&[0xff; 8])?;
    let mut r = [0u8; 8];
    c.read_exact(&mut r)?;
    Ok(r[0])
}

/// Why placement across CPUs cannot be shown here, if it cannot.
fn placement_skip() -> Option<&'static str> {
    if testkit::under_qemu() {
        return Some("qemu-user translates neither SO_INCOMING_CPU nor SO_ATTACH_REUSEPORT_CBPF");
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return Some("one CPU: placement across CPUs cannot be shown");
    }
    None
}

/// `SO_INCOMING_CPU` places reuseport connections only since Linux 6.2.
fn kernel_before_6_2() -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = r
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    (major, minor) < (6, 2)
}

/// Clients pinned to each shard's CPU in turn: every connection must be answered by the
/// shard on the client's CPU (on loopback the CPU that sends a SYN is the one that
/// receives it).
fn clients_on_cpu_k_land_on_shard_k(placement: Placement) {
    if let Some(why) = placement_skip() {
        testkit::skip!("{why}");
    }
    let (shards, accepted) = serve(placement, None);
    let cpus = shards.cpus().to_vec();
    let addr = addr(&shards);
    const PER_CPU: usize = 8;
    for (k, &cpu) in cpus.iter().enumerate() {
        let got = std::thread::spawn(move || {
            sonic_io::pin_thread(cpu).unwrap();
            (0..PER_CPU)
                .map(|_| ask(&mut connect(addr)).unwrap())
                .collect::<Vec<u8>>()
        })
        .join()
        .unwrap();
        assert_eq!(
            got,
            vec![k as u8; PER_CPU],
            "clients on CPU {cpu} (shard {k}) were answered by these shards: {placement:?}"
        );
    }
    assert_eq!(accepted.load(Ordering::Acquire), PER_CPU * cpus.len());
    shards.shutdown().unwrap();
}

#[test]
fn with_incoming_cpu_clients_on_cpu_k_are_accepted_by_the_shard_on_cpu_k() {
    if kernel_before_6_2() {
        testkit::skip!("SO_INCOMING_CPU places reuseport connections only since Linux 6.2");
    }
    clients_on_cpu_k_land_on_shard_k(Placement::IncomingCpu);
}

#[test]
fn with_the_bpf_program_clients_on_cpu_k_are_accepted_by_the_shard_on_cpu_k() {
    clients_on_cpu_k_land_on_shard_k(Placement::Bpf);
}

#[test]
fn with_the_kernel_hash_every_connection_is_served() {
    let (shards, accepted) = serve(Placement::Hash, None);
    let addr = addr(&shards);
    let n = shards.len();
    for _ in 0..32 {
        let i = ask(&mut connect(addr)).unwrap();
        assert!((i as usize) < n);
    }
    // Nothing is asserted about the spread: the hash owes no balance to 32 connections.
    assert_eq!(accepted.load(Ordering::Acquire), 32);
    shards.shutdown().unwrap();
}

#[test]
fn udp_shards_answer_and_the_bpf_program_places_datagrams_by_cpu() {
    if let Some(why) = placement_skip() {
        testkit::skip!("{why}");
    }
    let shards = Shards::builder()
        .placement(Placement::Bpf)
        .serve_udp("127.0.0.1:0", |io, shard, s| {
            fn answer(io: &mut Io, s: sonic_io::UdpSocket, me: u8) {
                let _ = s.async_read_from(io, vec![0u8; 64], move |io, r, mut buf| {
                    let Ok((n, from)) = r else { return };
                    buf.truncate(n.max(1));
                    buf[0] = me;
                    let _ = s.async_write_to(io, buf, &from, move |io, _, _| answer(io, s, me));
                });
            }
            answer(io, s, shard.index() as u8);
            Ok(())
        })
        .unwrap();
    let addr = addr(&shards);
    for (k, &cpu) in shards.cpus().to_vec().iter().enumerate() {
        let got = std::thread::spawn(move || {
            sonic_io::pin_thread(cpu).unwrap();
            let c = StdUdp::bind("127.0.0.1:0").unwrap();
            c.set_read_timeout(Some(BOUND)).unwrap();
            (0..8)
                .map(|_| {
                    c.send_to(&[0xff; 8], addr).unwrap();
                    let mut b = [0u8; 64];
                    let (n, _) = c.recv_from(&mut b).unwrap();
                    assert_eq!(n, 8);
                    b[0]
                })
                .collect::<Vec<u8>>()
        })
        .join()
        .unwrap();
        assert_eq!(
            got,
            vec![k as u8; 8],
            "datagrams from CPU {cpu} were answered by these shards"
        );
    }
    shards.shutdown().unwrap();
}

#[test]
fn a_connection_never_migrates_between_shards() {
    let (shards, _) = serve(Placement::Hash, None);
    let addr = addr(&shards);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut conns: Vec<StdTcp> = (0..4).map(|_| connect(addr)).collect();
                let first: Vec<u8> = conns.iter_mut().map(|c| ask(c).unwrap()).collect();
                for _ in 0..50 {
                    for (c, &i) in conns.iter_mut().zip(&first) {
                        assert_eq!(
                            ask(c).unwrap(),
                            i,
                            "a connection's requests were answered by two shards"
                        );
                    }
                }
                first
            })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        seen.extend(c.join().unwrap());
    }
    eprintln!("shards that answered: {seen:?} of {}", shards.len());
    shards.shutdown().unwrap();
}

/// How a client connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// A clean end of stream after this many replies.
    Clean(usize),
    /// Reset (the server never accepted it) after this many replies.
    Reset(usize),
}

#[test]
fn shutdown_under_load_loses_no_accepted_connection() {
    let (shards, accepted) = serve(Placement::Hash, None);
    let addr = addr(&shards);
    let replies = Arc::new(AtomicUsize::new(0));
    const CONNS: usize = 32;
    let clients: Vec<_> = (0..CONNS)
        .map(|_| {
            let replies = replies.clone();
            std::thread::spawn(move || {
                let mut c = connect(addr);
                let end = Instant::now() + 3 * BOUND;
                let mut n = 0;
                let mut r = [0u8; 8];
                // Request, reply, until the server ends the connection (bounded in time).
                while Instant::now() < end {
                    if let Err(e) = c.write_all(&[0xff; 8]) {
                        return match e.kind() {
                            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => End::Reset(n),
                            _ => panic!("write: {e}"),
                        };
                    }
                    match c.read(&mut r[..1]) {
                        Ok(0) => return End::Clean(n),
                        Ok(_) => {
                            c.read_exact(&mut r[1..]).unwrap();
                            n += 1;
                            replies.fetch_add(1, Ordering::AcqRel);
                        }
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => return End::Reset(n),
                        Err(e) => panic!("read: {e}"),
                    }
                }
                panic!("the connection outlived the shutdown");
            })
        })
        .collect();
    // Under load: every connection made, and traffic flowing.
    let start = Instant::now();
    while (accepted.load(Ordering::Acquire) < CONNS || replies.load(Ordering::Acquire) < 10 * CONNS)
        && start.elapsed() < BOUND
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    shards.shutdown_graceful(BOUND).unwrap();
    let ends: Vec<End> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let clean = ends.iter().filter(|e| matches!(e, End::Clean(_))).count();
    // Every connection the server accepted ended cleanly; any other was reset by the
    // kernel before any reply, that is, never accepted.
    assert_eq!(clean, accepted.load(Ordering::Acquire), "{ends:?}");
    for e in &ends {
        if let End::Reset(n) = e {
            assert_eq!(*n, 0, "a connection that got replies was reset: {ends:?}");
        }
    }
    eprintln!(
        "{} connections, {clean} accepted and ended cleanly, {} replies",
        ends.len(),
        replies.load(Ordering::Acquire)
    );
}

#[test]
fn a_connection_no_shard_accepted_is_reset_at_shutdown_and_never_answered() {
    // One shard that never accepts: its connections complete their handshake in the
    // kernel and wait in the accept queue until the listener closes.
    let shards = Shards::builder()
        .shards(1)
        .serve_tcp("127.0.0.1:0", |_, _, _| Ok(()))
        .unwrap();
    let addr = addr(&shards);
    let mut clients: Vec<StdTcp> = (0..4).map(|_| connect(addr)).collect();
    for c in &mut clients {
        c.write_all(&[0xff; 8]).unwrap();
    }
    shards.shutdown().unwrap();
    for mut c in clients {
        let mut r = [0u8; 8];
        let e = c.read(&mut r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    }
}

#[test]
fn a_panicking_setup_is_reported_with_its_index_and_the_others_stop() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        testkit::skip!("one CPU: two shards need two");
    }
    let shards = Shards::builder()
        .shards(2)
        .serve_tcp("127.0.0.1:0", |io, shard, l| {
            if shard.index() == 1 {
                panic!("setup of shard one fails");
            }
            l.async_accept(io, |_, _| {})
        })
        .unwrap();
    let posters = shards.posters().to_vec();
    let e = shards.shutdown().unwrap_err();
    assert_eq!(e.index, 1, "{e}");
    match &e.failure {
        Failure::Panic(m) => assert!(m.contains("setup of shard one fails"), "{e}"),
        f => panic!("expected the panic, got {f:?}"),
    }
    assert!(e.to_string().starts_with("shard 1 panicked"), "{e}");
    // The healthy shard stopped too: its Io is closed.
    for p in &posters {
        assert_eq!(p.post(|_| {}).unwrap_err().kind(), iox::ErrorKind::Closed);
    }
}

#[test]
fn a_setup_error_is_reported_with_its_index() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        testkit::skip!("one CPU: two shards need two");
    }
    let shards = Shards::builder()
        .shards(2)
        .serve_tcp("127.0.0.1:0", |io, shard, l| {
            if shard.index() == 0 {
                return Err(iox::Error::invalid_input("shard zero refuses"));
            }
            l.async_accept(io, |_, _| {})
        })
        .unwrap();
    let e = shards.shutdown().unwrap_err();
    assert_eq!(e.index, 0, "{e}");
    assert!(
        matches!(e.failure, Failure::Error(x) if x.kind() == iox::ErrorKind::InvalidInput),
        "{e}"
    );
}

#[test]
fn shards_post_to_each_other() {
    let (tx, rx) = std::sync::mpsc::channel::<(usize, usize)>();
    let tx = std::sync::Mutex::new(tx);
    let shards = Shards::builder()
        .serve_tcp("127.0.0.1:0", move |io, shard, l| {
            // Each shard tells the next one (round robin) who it is.
            let to = (shard.index() + 1) % shard.count();
            let from = shard.index();
            let tx = tx.lock().unwrap().clone();
            shard
                .post(to, move |_| {
                    let _ = tx.send((from, to));
                })
                .unwrap();
            assert_eq!(
                shard.post(shard.count(), |_| {}).unwrap_err().kind(),
                iox::ErrorKind::InvalidInput
            );
            l.async_accept(io, |_, _| {})
        })
        .unwrap();
    let n = shards.len();
    let mut got: Vec<(usize, usize)> = (0..n).map(|_| rx.recv_timeout(BOUND).unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..n).map(|i| (i, (i + 1) % n)).collect::<Vec<_>>());
    shards.shutdown().unwrap();
}

#[test]
fn bad_shard_lists_are_refused_by_name() {
    let setup = |_: &mut Io, _: &Shard, _: Listener<sock::TcpListener>| Ok(());
    let err = |b: sonic_io::shard::ShardsBuilder| {
        let e = b.serve_tcp("127.0.0.1:0", setup).unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::InvalidInput, "{e}");
        e.to_string()
    };
    assert!(err(Shards::builder().shards(0)).contains("zero shards"));
    assert!(err(Shards::builder().shards(4096)).contains("more shards than CPUs"));
    assert!(err(Shards::builder().cpus(vec![])).contains("empty CPU list"));
    assert!(err(Shards::builder().cpus(vec![0, 0])).contains("listed twice"));
    assert!(err(Shards::builder().cpus(vec![100_000])).contains("affinity"));
    assert!(
        err(Shards::builder()
            .shards(1)
            .pin(false)
            .placement(Placement::Bpf))
        .contains("pinned")
    );
}
