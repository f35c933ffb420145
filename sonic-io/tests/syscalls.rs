//! What each path costs in system calls, as the Io counts them (`Io::stats`): the numbers
//! `sonic-io/README.md` quotes. These are the epoll backend's costs, so every Io here is
//! built on epoll whatever `SONIC_IO_BACKEND` says; `tests/uring.rs` counts the io_uring
//! backend's.

mod common;
use common::{run_until, slot};

use std::io::Write;
use std::time::Duration;

use sonic_io::{Backend, Io, Stats, TcpStream, Timer};

/// An Io on the backend whose costs this file counts.
fn epoll_io() -> Io {
    Io::builder().backend(Backend::Epoll).build().unwrap()
}

/// A registered stream whose peer stays outside the Io (so the peer's writes are not
/// counted).
fn pair(io: &mut Io) -> (TcpStream, std::net::TcpStream) {
    let (a, b) = testkit::tcp_pair().unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (
        TcpStream::add(io, sock::TcpConn::try_from(a).unwrap()).unwrap(),
        b,
    )
}

fn delta(io: &mut Io, f: impl FnOnce(&mut Io)) -> Stats {
    io.reset_stats();
    f(io);
    io.stats()
}

#[test]
fn registration_is_one_epoll_ctl_and_close_needs_none() {
    let mut io = epoll_io();
    let s = delta(&mut io, |io| drop(pair(io)));
    assert_eq!(s.ctl, 1);
    let (a, _peer) = pair(&mut io);
    let s = delta(&mut io, |io| a.close(io).unwrap());
    assert_eq!(
        s.syscalls(),
        0,
        "closing the descriptor removes it from epoll: {s:?}"
    );
}

#[test]
fn a_read_that_can_complete_at_once_costs_one_syscall() {
    let mut io = epoll_io();
    let (a, mut peer) = pair(&mut io);
    // 27 bytes: the first read takes 1 and reads 16 ahead (all it asks for, so the socket
    // may hold more); the second takes those 16 and makes one syscall for the 10 left.
    peer.write_all(&[b'r'; 27]).unwrap();
    // Wait for the bytes with the Io's own wait (an edge), outside the measurement.
    let first = slot();
    let f = first.clone();
    a.async_read(&mut io, vec![0u8; 1], move |_, r, _| {
        *f.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || first.borrow().is_some());
    let got = slot();
    let g = got.clone();
    let s = delta(&mut io, |io| {
        a.async_read(io, vec![0u8; 26], move |_, r, _| {
            *g.borrow_mut() = Some(r.unwrap())
        })
        .unwrap();
    });
    assert_eq!(*got.borrow(), Some(26), "completed inline");
    assert_eq!((s.reads, s.syscalls(), s.immediate), (1, 1, 1), "{s:?}");
}

#[test]
fn a_scheduled_read_costs_the_wait_plus_the_read_and_no_epoll_ctl() {
    let mut io = epoll_io();
    let (a, mut peer) = pair(&mut io);
    // A short read (3 of 16 bytes) tells the Io the socket is drained.
    peer.write_all(b"abc").unwrap();
    let first = slot();
    let f = first.clone();
    a.async_read(&mut io, vec![0u8; 16], move |_, r, _| {
        *f.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || first.borrow().is_some());
    assert_eq!(*first.borrow(), Some(3));
    let got = slot();
    let g = got.clone();
    let arm = delta(&mut io, |io| {
        a.async_read(io, vec![0u8; 16], move |_, r, _| {
            *g.borrow_mut() = Some(r.unwrap())
        })
        .unwrap();
    });
    assert_eq!(
        arm.syscalls(),
        0,
        "arming a read on a drained socket makes no syscall: {arm:?}"
    );
    peer.write_all(b"later").unwrap();
    let run = delta(&mut io, |io| {
        io.run_one().unwrap();
    });
    assert_eq!(*got.borrow(), Some(5));
    assert_eq!(
        (run.waits, run.reads, run.ctl, run.timer_arms, run.scheduled),
        (1, 1, 0, 0, 1),
        "{run:?}"
    );
}

#[test]
fn timers_arm_and_cancel_without_syscalls_and_a_wait_arms_the_timerfd_once() {
    let mut io = epoll_io();
    let t = Timer::new(&mut io).unwrap();
    let s = delta(&mut io, |io| {
        for _ in 0..1000 {
            t.schedule_once(io, Duration::from_secs(60), |_, _| {})
                .unwrap();
            assert!(t.cancel(io));
        }
    });
    assert_eq!(s.syscalls(), 0, "{s:?}");
    t.schedule_once(&mut io, Duration::from_secs(60), |_, _| {})
        .unwrap();
    // Waits bounded by the same earliest deadline arm the timer once.
    let s = delta(&mut io, |io| {
        let p = io.poster();
        for _ in 0..3 {
            p.post(|_| {}).unwrap();
            io.run_one().unwrap();
        }
    });
    assert!(s.timer_arms <= 1, "{s:?}");
}

/// The steady-state echo loop: a client and a server on one Io, 64 bytes each way.
#[test]
fn an_echo_round_trip_on_one_io_costs_a_fixed_number_of_syscalls() {
    let mut io = epoll_io();
    let (c, s) = common::tcp_pair(&mut io);
    let rounds = 1000;
    let left = std::rc::Rc::new(std::cell::Cell::new(rounds + 100));
    fn serve(io: &mut Io, s: TcpStream, buf: Vec<u8>) {
        s.async_read_exact(io, buf, move |io, r, buf| {
            if r.is_ok() {
                s.async_write_all(io, buf, move |io, r, buf| {
                    if r.is_ok() {
                        serve(io, s, buf);
                    }
                })
                .unwrap();
            }
        })
        .unwrap();
    }
    fn ping(io: &mut Io, c: TcpStream, buf: Vec<u8>, left: std::rc::Rc<std::cell::Cell<usize>>) {
        c.async_write_all(io, buf, move |io, _, buf| {
            c.async_read_exact(io, buf, move |io, _, buf| {
                left.set(left.get() - 1);
                if left.get() > 0 {
                    ping(io, c, buf, left);
                }
            })
            .unwrap();
        })
        .unwrap();
    }
    serve(&mut io, s, vec![0; 64]);
    ping(&mut io, c, vec![1; 64], left.clone());
    while left.get() > rounds {
        io.run_one().unwrap();
    }
    let st = delta(&mut io, |io| {
        while left.get() > 0 {
            io.run_one().unwrap();
        }
    });
    let per = st.syscalls() as f64 / rounds as f64;
    println!("echo round trip on one Io: {per:.2} syscalls ({st:?})");
    // Per round trip: two sends and two receives move the data, two waits. Each side's next
    // read, submitted right after a read that filled its 64-byte buffer exactly, makes no
    // syscall: the read-ahead past the buffer came back empty, so the socket was drained
    // (before the read-ahead, each tried once and found nothing: 8). No epoll_ctl, no timer.
    assert_eq!((st.ctl, st.timer_arms), (0, 0));
    // (The measured window starts and ends mid-round, so counts are within one of 2/round.)
    assert!(st.writes.abs_diff(2 * rounds as u64) <= 2, "{st:?}");
    assert!(st.waits.abs_diff(2 * rounds as u64) <= 2, "{st:?}");
    assert!(st.reads.abs_diff(2 * rounds as u64) <= 2, "{st:?}");
    assert!(per <= 6.01, "{per} syscalls per round trip: {st:?}");
}

/// The Io registers datagram sockets without `EPOLLOUT`: the write-space edge every
/// `sendto` raises when its buffer is freed does not reach it. A thousand sends that complete
/// at once, each followed by a non-blocking turn, leave the poller with nothing to report
/// (with `EPOLLOUT` registered, each turn would return one event for the socket).
#[test]
fn datagram_sends_raise_no_write_events() {
    use sonic_io::UdpSocket;
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let std::net::SocketAddr::V4(to) = peer.local_addr().unwrap() else {
        unreachable!()
    };
    let to = sockaddr::SockaddrInet4::from(to);
    let mut io = epoll_io();
    let c = UdpSocket::add(&mut io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap();
    let sends = 1000;
    let done = common::counter();
    let st = delta(&mut io, |io| {
        let mut buf = [0u8; 64];
        for _ in 0..sends {
            let d = done.clone();
            c.async_write_to(io, vec![7u8; 64], &to, move |_, r, _| {
                assert_eq!(r.unwrap(), 64);
                d.set(d.get() + 1);
            })
            .unwrap();
            io.poll().unwrap();
            // Drain the peer so its queue never fills (it is not in the Io).
            assert_eq!(peer.recv(&mut buf).unwrap(), 64);
        }
    });
    assert_eq!(done.get(), sends);
    println!("{sends} UDP sends with a turn after each: {st:?}");
    assert_eq!(
        (st.immediate, st.writes),
        (sends as u64, sends as u64),
        "{st:?}"
    );
    assert_eq!(st.ctl, 0, "{st:?}");
    assert_eq!(st.events, 0, "a send woke the poller: {st:?}");
}

/// A datagram send that finds the peer's queue full parks, and only then does the Io ask
/// epoll for writability (one `epoll_ctl`); when the send completes it stops asking (one
/// more). Sends that complete at once cost no `epoll_ctl`.
#[test]
fn a_parked_datagram_send_watches_writability_only_while_parked() {
    use sonic_io::PacketConn;
    let [a, b] = sock::UnixDatagram::pair().unwrap();
    let b = std::os::unix::net::UnixDatagram::from(std::os::fd::OwnedFd::from(b));
    b.set_nonblocking(true).unwrap();
    let mut io = epoll_io();
    let a = PacketConn::add(&mut io, a).unwrap();
    // Send until one send does not complete at once: the peer's queue is full.
    let sent = common::counter();
    let before = common::send_until_parked(&mut io, &a, &sent);
    let parked = io.stats().ctl - before.ctl;
    assert_eq!(parked, 1, "parking asks for writability once");
    let queued = sent.get();
    // The peer drains its queue; the parked send completes on the write-space edge.
    let st = delta(&mut io, |io| {
        common::drain_until_parked_send_completes(io, &b, queued, &sent);
    });
    assert_eq!(st.ctl, 1, "completion stops watching writability: {st:?}");
    let st = delta(&mut io, |io| {
        let s = sent.clone();
        a.async_write(io, vec![2u8; 512], move |_, r, _| {
            r.unwrap();
            s.set(s.get() + 1);
        })
        .unwrap();
    });
    assert_eq!(sent.get(), queued + 2, "room again: completes at once");
    assert_eq!((st.ctl, st.writes), (0, 1), "{st:?}");
}
