//! The stream read-ahead: each stream read asks the kernel for 16 bytes past the caller's
//! buffer, so a read that fills its buffer exactly still knows whether the socket was
//! drained. Syscall counts are the Io's own (`Io::stats`), which count a read only when it
//! makes its syscall.

mod common;
use common::{run_until, slot};

use std::io::{Read, Write};
use std::rc::Rc;

use iox::ErrorKind;
use sonic_io::{Io, Stats, TcpStream};

/// A registered stream whose peer stays outside the Io.
fn pair(io: &mut Io) -> (TcpStream, std::net::TcpStream) {
    let (a, b) = testkit::tcp_pair().unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (
        TcpStream::add(io, sock::TcpConn::try_from(a).unwrap()).unwrap(),
        b,
    )
}

fn counting(io: &mut Io, f: impl FnOnce(&mut Io)) -> Stats {
    io.reset_stats();
    f(io);
    io.stats()
}

/// The scheduled echo, server side: wait, read the 64-byte message (an exact fill), write it
/// back, arm the next read. Three syscalls per message: the read armed after an exact fill
/// does not make a syscall that would find nothing (before the read-ahead it did: 4).
#[test]
fn a_scheduled_exact_read_echo_costs_three_syscalls_per_message() {
    // epoll's cost; `tests/uring.rs` counts the io_uring backend's.
    let mut io = Io::builder()
        .backend(sonic_io::Backend::Epoll)
        .build()
        .unwrap();
    let (s, mut peer) = pair(&mut io);
    let served = Rc::new(std::cell::Cell::new(0u32));
    common::serve_exact_echo(&mut io, s, served.clone());
    let rounds = 200u32;
    let stats = counting(&mut io, |io| {
        let mut back = [0u8; 64];
        for i in 0..rounds {
            peer.write_all(&[i as u8; 64]).unwrap();
            run_until(io, || served.get() == i + 1);
            peer.read_exact(&mut back).unwrap();
            assert_eq!(back, [i as u8; 64]);
        }
    });
    let per = |n: u64| n as f64 / f64::from(rounds);
    println!(
        "per message: waits {:.2}, reads {:.2}, writes {:.2}",
        per(stats.waits),
        per(stats.reads),
        per(stats.writes)
    );
    assert_eq!(
        stats.reads,
        u64::from(rounds),
        "one read per message: {stats:?}"
    );
    assert_eq!(stats.writes, u64::from(rounds), "{stats:?}");
    assert_eq!(stats.waits, u64::from(rounds), "{stats:?}");
}

/// Bytes that landed in the read-ahead go to the next reads first, in order, without a
/// syscall; a later end of stream still arrives after them.
#[test]
fn read_ahead_bytes_come_first_in_order_and_end_of_stream_after_them() {
    let mut io = Io::new().unwrap();
    let (s, mut peer) = pair(&mut io);
    let sent: Vec<u8> = (0..43u8).collect();
    peer.write_all(&sent[..40]).unwrap();
    let got = Rc::new(std::cell::RefCell::new(Vec::new()));
    let stats = counting(&mut io, |io| {
        for _ in 0..5 {
            let done = slot();
            let (d, g) = (done.clone(), got.clone());
            s.async_read_exact(io, vec![0u8; 8], move |_, r, buf| {
                assert_eq!(r.unwrap(), 8);
                g.borrow_mut().extend_from_slice(&buf);
                *d.borrow_mut() = Some(());
            })
            .unwrap();
            run_until(io, || done.borrow().is_some());
        }
    });
    assert_eq!(got.borrow().as_slice(), &sent[..40]);
    // 8 + 16 read ahead, two reads from it, 8 + 8 (the socket drained), one from it.
    assert_eq!(stats.reads, 2, "{stats:?}");
    peer.write_all(&sent[40..]).unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut counts = Vec::new();
    loop {
        let done = slot();
        let (d, g) = (done.clone(), got.clone());
        s.async_read(&mut io, vec![0u8; 2], move |_, r, buf| {
            let n = r.unwrap();
            g.borrow_mut().extend_from_slice(&buf[..n]);
            *d.borrow_mut() = Some(n);
        })
        .unwrap();
        run_until(&mut io, || done.borrow().is_some());
        let n = done.borrow().unwrap();
        counts.push(n);
        if n == 0 {
            break;
        }
    }
    assert_eq!(got.borrow().as_slice(), sent.as_slice());
    assert_eq!(counts, [2, 1, 0], "the rest, then end of stream");
}

/// A reset that the kernel reports on the read which also hands out read-ahead bytes is
/// kept for the next read: the bytes first, then `ConnectionReset`, never a silent end of
/// stream (the kernel reports a reset once).
#[cfg(target_os = "linux")]
#[test]
fn a_reset_met_after_read_ahead_bytes_is_reported_by_the_next_read() {
    let mut io = Io::new().unwrap();
    let (s, peer) = pair(&mut io);
    let peer = sock::TcpConn::try_from(peer).unwrap();
    let sent: Vec<u8> = (0..24u8).collect();
    peer.write_all(&sent).unwrap();
    sock::opt::set_linger(&peer, Some(std::time::Duration::ZERO)).unwrap();
    drop(peer);
    // 8 bytes to the reader, 16 read ahead: the read-ahead is full, so the socket may hold
    // more and the next read makes its syscall, which meets the reset.
    let first = slot();
    let f = first.clone();
    s.async_read_exact(&mut io, vec![0u8; 8], move |_, r, buf| {
        assert_eq!(r.unwrap(), 8);
        *f.borrow_mut() = Some(buf);
    })
    .unwrap();
    run_until(&mut io, || first.borrow().is_some());
    assert_eq!(first.borrow().as_deref(), Some(&sent[..8]));
    let second = slot();
    let g = second.clone();
    s.async_read(&mut io, vec![0u8; 32], move |_, r, buf| {
        let n = r.unwrap();
        *g.borrow_mut() = Some(buf[..n].to_vec());
    })
    .unwrap();
    run_until(&mut io, || second.borrow().is_some());
    assert_eq!(second.borrow().as_deref(), Some(&sent[8..]));
    let third = slot();
    let t = third.clone();
    s.async_read(&mut io, vec![0u8; 32], move |_, r, _| {
        *t.borrow_mut() = Some(r);
    })
    .unwrap();
    run_until(&mut io, || third.borrow().is_some());
    let e = third.borrow().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
}

/// `take` refuses while read-ahead bytes are held (they would be lost with the object),
/// leaves the stream in place, and works once a read has taken them.
#[test]
fn take_refuses_while_read_ahead_bytes_are_held() {
    let mut io = Io::new().unwrap();
    let (s, mut peer) = pair(&mut io);
    peer.write_all(&[7u8; 24]).unwrap();
    let done = slot();
    let d = done.clone();
    s.async_read_exact(&mut io, vec![0u8; 8], move |_, r, _| {
        *d.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || done.borrow().is_some());
    let e = s.take(&mut io).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(io.objects(), 1, "the stream stays in the Io");
    // Exactly what is held: served without a syscall (a larger buffer would also try the
    // socket, which may hold more: the read-ahead was full).
    let mut rest = [0u8; 16];
    let stats = counting(&mut io, |io| {
        assert_eq!(s.read(io, &mut rest).unwrap(), 16);
    });
    assert_eq!(
        stats.reads, 0,
        "read-ahead bytes need no syscall: {stats:?}"
    );
    assert_eq!(rest, [7u8; 16]);
    let conn = s.take(&mut io).unwrap();
    peer.write_all(b"after").unwrap();
    let mut buf = [0u8; 5];
    let mut conn = std::net::TcpStream::from(std::os::fd::OwnedFd::from(conn));
    conn.set_nonblocking(false).unwrap();
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after");
}

/// `take_with_read_ahead` hands the socket back with the bytes read past the last reader's
/// buffer, in order, and what the socket still holds follows them: nothing is lost between
/// a header read on the Io and the layer that takes the socket next.
#[test]
fn take_with_read_ahead_hands_back_the_bytes_in_stream_order() {
    let mut io = Io::new().unwrap();
    let (s, mut peer) = pair(&mut io);
    let sent: Vec<u8> = (0..40u8).collect();
    peer.write_all(&sent).unwrap();
    let done = slot();
    let d = done.clone();
    s.async_read_exact(&mut io, vec![0u8; 4], move |_, r, buf| {
        r.unwrap();
        *d.borrow_mut() = Some(buf)
    })
    .unwrap();
    run_until(&mut io, || done.borrow().is_some());
    assert_eq!(done.borrow().as_deref(), Some(&sent[..4]));
    let (conn, early) = s.take_with_read_ahead(&mut io).unwrap();
    assert_eq!(early.as_slice(), &sent[4..20], "16 bytes read ahead");
    assert_eq!(io.objects(), 0);
    let mut conn = std::net::TcpStream::from(std::os::fd::OwnedFd::from(conn));
    conn.set_nonblocking(false).unwrap();
    let mut rest = [0u8; 20];
    conn.read_exact(&mut rest).unwrap();
    assert_eq!(rest, sent[20..]);
}

/// A reset held for the next read is not lost by taking the stream: both `take` and
/// `take_with_read_ahead` return it, and the stream stays in the Io.
#[cfg(target_os = "linux")]
#[test]
fn taking_a_stream_returns_the_read_error_it_holds() {
    let mut io = Io::new().unwrap();
    let (s, peer) = pair(&mut io);
    let peer = sock::TcpConn::try_from(peer).unwrap();
    peer.write_all(&[1u8; 24]).unwrap();
    sock::opt::set_linger(&peer, Some(std::time::Duration::ZERO)).unwrap();
    drop(peer);
    // 8 + 16 read ahead (full), then a read of 32 takes the 16 and meets the reset: held.
    for len in [8usize, 32] {
        let done = slot();
        let d = done.clone();
        s.async_read(&mut io, vec![0u8; len], move |_, r, _| {
            *d.borrow_mut() = Some(r.unwrap())
        })
        .unwrap();
        run_until(&mut io, || done.borrow().is_some());
    }
    let e = s.take_with_read_ahead(&mut io).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    let e = s.take(&mut io).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    assert_eq!(io.objects(), 1, "the stream stays in the Io");
}
