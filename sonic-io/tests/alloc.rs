//! After warm-up, the hot paths allocate nothing: an echo loop, timers re-armed and
//! repeating, accepting queued connections, local posts, batch datagram reads (per-thread
//! counting allocator).

mod common;
use common::tcp_pair;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sonic_io::{Io, Listener, TcpStream, Timer};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

/// Client and server on one Io: the client sends 64 bytes, the server echoes them, the
/// client reads them back; `rounds` times. Buffers are `Vec`s handed back by each callback.
fn echo_rounds(io: &mut Io, client: TcpStream, server: TcpStream, rounds: usize) {
    let left = Rc::new(Cell::new(rounds));
    fn serve(io: &mut Io, s: TcpStream, buf: Vec<u8>) {
        s.async_read_exact(io, buf, move |io, r, buf| {
            if r.is_err() {
                return;
            }
            s.async_write_all(io, buf, move |io, r, buf| {
                if r.is_ok() {
                    serve(io, s, buf);
                }
            })
            .unwrap();
        })
        .unwrap();
    }
    fn ping(io: &mut Io, c: TcpStream, buf: Vec<u8>, left: Rc<Cell<usize>>) {
        c.async_write_all(io, buf, move |io, r, buf| {
            r.unwrap();
            c.async_read_exact(io, buf, move |io, r, buf| {
                r.unwrap();
                left.set(left.get() - 1);
                if left.get() > 0 {
                    ping(io, c, buf, left);
                }
            })
            .unwrap();
        })
        .unwrap();
    }
    serve(io, server, vec![0u8; 64]);
    ping(io, client, vec![7u8; 64], left.clone());
    while left.get() > 0 {
        io.run_one_for(common::BOUND).unwrap();
    }
    server.cancel(io).unwrap();
}

#[test]
fn an_echo_loop_of_ten_thousand_round_trips_allocates_nothing() {
    let mut io = Io::new().unwrap();
    let (c, s) = tcp_pair(&mut io);
    echo_rounds(&mut io, c, s, 200);
    // `echo_rounds` itself allocates 3 blocks per call (two 64-byte buffers and the round
    // counter); the Io adds nothing, however many round trips run.
    let ((), long) = testkit::count_allocs(|| echo_rounds(&mut io, c, s, 10_000));
    assert_eq!((long.allocs, long.bytes), (3, 64 + 64 + 24), "{long:?}");
    let ((), short) = testkit::count_allocs(|| echo_rounds(&mut io, c, s, 10));
    assert_eq!(short.allocs, 3, "{short:?}");
    // What the 9,990 extra round trips cost: nothing.
    testkit::bench::report_allocs(
        "echo round trip, client and server on one Io (beyond the test's 3 setup blocks)",
        10_000 - 10,
        long.beyond(short),
    );
    assert!(io.stats().deferred > 0 || io.stats().immediate > 0);
}

#[test]
fn timers_rearmed_ten_thousand_times_and_a_repeating_timer_allocate_nothing() {
    let mut io = Io::new().unwrap();
    let once = Timer::new(&mut io).unwrap();
    let rep = Timer::new(&mut io).unwrap();
    fn rearm(io: &mut Io, t: Timer, left: Rc<Cell<u32>>) {
        t.schedule_once(io, Duration::ZERO, move |io, t| {
            left.set(left.get() - 1);
            if left.get() > 0 {
                rearm(io, t, left);
            }
        })
        .unwrap();
    }
    let warm = Rc::new(Cell::new(100));
    rearm(&mut io, once, warm);
    io.run_pending().unwrap();
    let left = Rc::new(Cell::new(10_000));
    let fired = Rc::new(Cell::new(0u32));
    let ((), stats) = testkit::count_allocs(|| {
        rearm(&mut io, once, left.clone());
        let f = fired.clone();
        rep.schedule_repeating(&mut io, Duration::from_micros(20), move |io, t| {
            f.set(f.get() + 1);
            if f.get() == 200 {
                t.cancel(io);
            }
        })
        .unwrap();
        io.run_pending().unwrap();
    });
    testkit::bench::report_allocs(
        "timer re-armed from its callback (10,000) and repeating timer firings (200)",
        10_200,
        stats,
    );
    assert_eq!((left.get(), fired.get()), (0, 200));
    assert_eq!(stats.allocs, 0, "{stats:?}");
}

#[test]
fn accepting_queued_connections_allocates_nothing() {
    let mut io = Io::builder().objects(64).build().unwrap();
    let l = Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = l.get(&io).unwrap().local_addr().unwrap().to_string();
    let clients: Vec<_> = (0..16)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let accepted = Rc::new(Cell::new(0));
    fn accept(io: &mut Io, l: Listener<sock::TcpListener>, n: Rc<Cell<usize>>) {
        l.async_accept(io, move |io, r| {
            if r.is_ok() {
                n.set(n.get() + 1);
                if n.get() < 16 {
                    accept(io, l, n);
                }
            }
        })
        .unwrap();
    }
    let a = accepted.clone();
    let ((), stats) = testkit::count_allocs(|| {
        accept(&mut io, l, a);
        while accepted.get() < 16 {
            io.run_one_for(common::BOUND).unwrap();
        }
    });
    testkit::bench::report_allocs("async_accept of a queued connection", 16, stats);
    assert_eq!(accepted.get(), clients.len());
    assert_eq!(stats.allocs, 0, "{stats:?}");
}

#[test]
fn local_posts_after_warm_up_allocate_nothing() {
    let mut io = Io::builder().posts(8).build().unwrap();
    let n = Rc::new(Cell::new(0));
    let ((), stats) = testkit::count_allocs(|| {
        for _ in 0..10_000 {
            let n = n.clone();
            io.post(move |_| n.set(n.get() + 1)).unwrap();
            io.poll_one().unwrap();
        }
    });
    testkit::bench::report_allocs("Io::post + poll_one of a local post", 10_000, stats);
    assert_eq!(n.get(), 10_000);
    assert_eq!(stats.allocs, 0, "{stats:?}");
}

/// A batch of 32 slots handed back by each callback and resubmitted: 1,000 batch reads of
/// 32 queued datagrams each (one `recvmmsg` apiece) allocate nothing.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[test]
fn batch_datagram_reads_allocate_nothing() {
    use sonic_io::{Datagrams, UdpSocket};
    let mut io = Io::new().unwrap();
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    sock::opt::set_recv_buffer_size(&rx, 1 << 20).unwrap();
    let to = rx.local_addr().unwrap();
    let tx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    let rx = UdpSocket::add(&mut io, rx).unwrap();
    let spare: Rc<Cell<Option<Datagrams>>> = Rc::new(Cell::new(Some(Datagrams::new(32, 64))));
    let round = |io: &mut Io| {
        for _ in 0..32 {
            tx.send_to(&[1u8; 64], &to).unwrap();
        }
        let batch = spare.take().unwrap();
        let back = spare.clone();
        rx.async_read_batch(io, batch, move |_, r, b| {
            assert_eq!(r.unwrap(), 32);
            back.set(Some(b));
        })
        .unwrap();
        let b = spare.take().expect("completed at once");
        spare.set(Some(b));
    };
    for _ in 0..10 {
        round(&mut io);
    }
    let ((), stats) = testkit::count_allocs(|| {
        for _ in 0..1000 {
            round(&mut io);
        }
    });
    testkit::bench::report_allocs(
        "async_read_batch of 32 queued datagrams (Datagrams handed back)",
        1000,
        stats,
    );
    assert_eq!(stats.allocs, 0, "{stats:?}");
}
