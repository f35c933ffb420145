//! Streams: immediate and scheduled completion, the dispatch limit, dial failures,
//! half-close, FIFOs, regions. Close from a callback, stale handles and peer resets are
//! fault scenarios in `faults_reactor.rs`.

mod common;
use common::{counter, run_until, slot, tcp_pair, unix_pair};

use std::cell::RefCell;
use std::rc::Rc;

use sonic_bytes::{ByteBuffer, Fifo};
use sonic_io::{ErrorKind, Io, MAX_DEPTH, TcpStream, UnixStream};

#[test]
fn a_read_completes_inline_when_data_is_there_and_later_when_not() {
    let mut io = Io::new().unwrap();
    let (a, b) = tcp_pair(&mut io);
    let got = slot();
    let g = got.clone();
    b.async_read(&mut io, vec![0u8; 16], move |_, r, buf| {
        *g.borrow_mut() = Some((r.unwrap(), buf))
    })
    .unwrap();
    assert!(got.borrow().is_none(), "nothing to read yet: armed");
    assert_eq!(io.pending(), 1);
    a.async_write_all(&mut io, b"abc", |_, r, _| assert_eq!(r.unwrap(), 3))
        .unwrap();
    run_until(&mut io, || got.borrow().is_some());
    let (n, buf) = got.borrow_mut().take().unwrap();
    assert_eq!(&buf[..n], b"abc");
    // Now data is waiting: the next read completes before async_read returns.
    a.write(&mut io, b"xyz").unwrap();
    // Let the bytes arrive (loopback delivers within the send); wait on the edge.
    let done = counter();
    let d = done.clone();
    b.async_read(&mut io, vec![0u8; 16], move |_, r, buf| {
        assert_eq!(&buf[..r.unwrap()], b"xyz");
        d.set(1);
    })
    .unwrap();
    run_until(&mut io, || done.get() == 1);
}

#[test]
fn a_second_read_in_the_same_direction_is_rejected_with_its_buffer() {
    let mut io = Io::new().unwrap();
    let (_a, b) = unix_pair(&mut io);
    b.async_read(&mut io, vec![0u8; 4], |_, _, _| {}).unwrap();
    let err = b
        .async_read(&mut io, vec![7u8; 3], |_, _, _| panic!("never runs"))
        .unwrap_err();
    assert_eq!(err.error.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.buf, vec![7u8; 3]);
    assert_eq!(
        b.read(&mut io, &mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

/// Two connections answer each other's immediate completions forever: without a depth
/// limit this recursion overflows the stack. It runs on a thread with a 512 KiB stack and
/// records the deepest nesting of callbacks. In an unoptimised build one nesting level
/// costs about 7.5 KiB (`Io::submit`'s frame holds every branch's temporaries), so the 32
/// levels the limit allows need about 240 KiB; the 20,000 rounds without it would need
/// some 150 MiB.
#[test]
fn ping_pong_of_immediate_completions_hits_the_depth_limit_without_stack_growth() {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let mut io = Io::new().unwrap();
            let (a, b) = unix_pair(&mut io);
            let depth = Rc::new(RefCell::new((0usize, 0usize, 0usize))); // now, max, rounds
            fn echo(
                io: &mut Io,
                from: UnixStream,
                to: UnixStream,
                depth: Rc<RefCell<(usize, usize, usize)>>,
            ) {
                let d = depth.clone();
                // Data is always waiting (the peer wrote it first), so each read completes inline.
                from.async_read(io, vec![0u8; 1], move |io, r, buf| {
                    assert_eq!(r.unwrap(), 1);
                    {
                        let mut s = d.borrow_mut();
                        s.0 += 1;
                        s.1 = s.1.max(s.0);
                        s.2 += 1;
                    }
                    if d.borrow().2 < 20_000 {
                        // Writing on `from` delivers to its peer `to`, which reads next.
                        from.write(io, &buf).unwrap();
                        echo(io, to, from, d.clone());
                    } else {
                        io.close().unwrap();
                    }
                    d.borrow_mut().0 -= 1;
                })
                .unwrap();
            }
            // A backlog both ways: each 1-byte read leaves bytes in the socket (a read
            // that drains it would clear the readiness mark, and the next read would wait
            // for its edge instead of completing inline).
            a.write(&mut io, &[b'x'; 64]).unwrap();
            b.write(&mut io, &[b'x'; 64]).unwrap();
            echo(&mut io, b, a, depth.clone());
            // Each stream's reads alternate with its own writes, so data is always waiting.
            io.run().unwrap();
            let (now, max, rounds) = *depth.borrow();
            assert_eq!(now, 0);
            assert_eq!(rounds, 20_000);
            assert!(max <= MAX_DEPTH as usize, "nesting {max} exceeds the limit");
            assert!(
                max >= MAX_DEPTH as usize - 1,
                "the inline path was used: nesting {max}"
            );
            assert!(io.stats().deferred > 0);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_refused_dial_completes_with_connection_refused() {
    let mut io = Io::new().unwrap();
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let got = slot();
    let g = got.clone();
    TcpStream::dial(
        &mut io,
        format!("127.0.0.1:{port}").as_str(),
        move |_, r| {
            *g.borrow_mut() = Some(r.map(drop).unwrap_err().kind());
        },
    )
    .unwrap();
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(*got.borrow(), Some(ErrorKind::ConnectionRefused));
    assert_eq!(io.objects(), 0, "the failed socket is closed");
}

#[test]
fn a_dial_by_host_name_connects() {
    let mut io = Io::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = slot();
    let g = got.clone();
    TcpStream::dial(
        &mut io,
        format!("localhost:{port}").as_str(),
        move |io, r| {
            let s = r.unwrap();
            *g.borrow_mut() = Some(s.get(io).unwrap().peer_addr().unwrap());
        },
    )
    .unwrap();
    run_until(&mut io, || got.borrow().is_some());
}

#[test]
fn a_peer_half_close_reads_as_end_of_stream_and_writes_still_go() {
    let mut io = Io::new().unwrap();
    let (a, b) = tcp_pair(&mut io);
    a.shutdown(&mut io, std::net::Shutdown::Write).unwrap();
    let got = slot();
    let g = got.clone();
    b.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
        *g.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(*got.borrow(), Some(0), "Ok(0) is end of stream");
    let exact = slot();
    let e = exact.clone();
    b.async_read_exact(&mut io, vec![0u8; 8], move |_, r, _| {
        *e.borrow_mut() = Some(r)
    })
    .unwrap();
    run_until(&mut io, || exact.borrow().is_some());
    let p = exact.borrow().unwrap().unwrap_err();
    assert_eq!((p.error.kind(), p.done), (ErrorKind::UnexpectedEof, 0));
    let back = slot();
    let bk = back.clone();
    b.async_write_all(&mut io, b"still", |_, r, _| assert_eq!(r.unwrap(), 5))
        .unwrap();
    a.async_read_exact(&mut io, vec![0u8; 5], move |_, r, buf| {
        *bk.borrow_mut() = Some((r.unwrap(), buf))
    })
    .unwrap();
    run_until(&mut io, || back.borrow().is_some());
    assert_eq!(&back.borrow().as_ref().unwrap().1, b"still");
}

#[test]
fn write_all_continues_after_partial_progress_and_read_exact_gathers() {
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    let big: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    let expect = big.clone();
    let wrote = slot();
    let w = wrote.clone();
    a.async_write_all(&mut io, big, move |_, r, _| {
        *w.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    assert!(
        wrote.borrow().is_none(),
        "4 MiB does not fit a socket buffer: partial, then armed"
    );
    let read = slot();
    let rd = read.clone();
    b.async_read_exact(&mut io, vec![0u8; 4 << 20], move |_, r, buf| {
        *rd.borrow_mut() = Some((r.unwrap(), buf))
    })
    .unwrap();
    run_until(&mut io, || {
        wrote.borrow().is_some() && read.borrow().is_some()
    });
    assert_eq!(*wrote.borrow(), Some(4 << 20));
    let (n, buf) = read.borrow_mut().take().unwrap();
    assert_eq!(n, 4 << 20);
    assert!(buf == expect);
}

#[test]
fn fifo_reads_and_writes_claim_and_commit_without_copying() {
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    let mut out = ByteBuffer::new();
    out.claim(5).copy_from_slice(b"fifo!");
    out.commit(5);
    let sent = slot();
    let s = sent.clone();
    a.async_write_from(&mut io, out, move |_, r, f| {
        *s.borrow_mut() = Some((r.unwrap(), f.len()))
    })
    .unwrap();
    run_until(&mut io, || sent.borrow().is_some());
    assert_eq!(*sent.borrow(), Some((5, 0)), "what went was consumed");
    let got = slot();
    let g = got.clone();
    b.async_read_into(&mut io, ByteBuffer::new(), 64, move |_, r, f| {
        *g.borrow_mut() = Some((r.unwrap(), f))
    })
    .unwrap();
    run_until(&mut io, || got.borrow().is_some());
    let (n, f) = got.borrow_mut().take().unwrap();
    assert_eq!((n, f.data()), (5, &b"fifo!"[..]));
    // A fixed FIFO with no room is an error, not Ok(0) (which would read as end of stream).
    let mut full = sonic_bytes::BipBuffer::new(4096);
    let cap = full.claim(1 << 20).len();
    full.commit(cap);
    let err = slot();
    let e = err.clone();
    b.async_read_into(&mut io, full, 64, move |_, r, _| {
        *e.borrow_mut() = Some(r.unwrap_err().kind())
    })
    .unwrap();
    assert_eq!(*err.borrow(), Some(ErrorKind::NoBufferSpace));
}

#[test]
fn reads_into_regions_of_one_io_owned_block_and_retarget() {
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    let (c, d) = unix_pair(&mut io);
    let block = io.add_bytes(vec![0u8; 64]).unwrap();
    let r1 = io.region(block, 0..8).unwrap();
    let r2 = io.region(block, 8..16).unwrap();
    let r3 = io.region(block, 16..24).unwrap();
    assert_eq!(
        io.region(block, 60..65).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let got = Rc::new(RefCell::new(Vec::new()));
    let (g1, g2) = (got.clone(), got.clone());
    b.async_read(&mut io, r1, move |_, r, reg| {
        g1.borrow_mut().push((r.unwrap(), reg))
    })
    .unwrap();
    d.async_read(&mut io, r2, move |_, r, reg| {
        g2.borrow_mut().push((r.unwrap(), reg))
    })
    .unwrap();
    // A send cannot take its bytes from a range an armed read fills.
    let inside = io.region(block, 4..12).unwrap();
    let refused = a
        .async_write(&mut io, inside, |_, _, _| unreachable!("refused"))
        .unwrap_err();
    assert_eq!(refused.error.kind(), ErrorKind::InvalidInput);
    // Armed targets cannot be touched or taken.
    assert_eq!(io.bytes(r1).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(
        io.bytes_mut(io.region(block, 4..12).unwrap())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        io.remove_bytes(block).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    io.bytes_mut(r3).unwrap().fill(9);
    // Redirect d's armed read to r3's neighbour: the seed's SetAsyncReadBuffer.
    let r4 = io.region(block, 24..32).unwrap();
    d.retarget_read(&mut io, r4).unwrap();
    assert_eq!(io.bytes(r2).unwrap(), &[0u8; 8], "r2 is free again");
    a.write(&mut io, b"AAAA").unwrap();
    c.write(&mut io, b"CCCCCC").unwrap();
    run_until(&mut io, || got.borrow().len() == 2);
    assert_eq!(io.bytes(io.region(block, 0..4).unwrap()).unwrap(), b"AAAA");
    assert_eq!(
        io.bytes(io.region(block, 24..30).unwrap()).unwrap(),
        b"CCCCCC"
    );
    assert_eq!(io.bytes(r3).unwrap(), &[9u8; 8]);
    assert_eq!(io.remove_bytes(block).unwrap().len(), 64);
}

#[test]
fn take_hands_the_socket_back_and_cancel_counts() {
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    b.async_read(&mut io, vec![0u8; 1], |_, r, _| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled)
    })
    .unwrap();
    assert_eq!(b.cancel(&mut io).unwrap(), 1);
    assert_eq!(b.cancel(&mut io).unwrap(), 0);
    let raw: sock::UnixConn = b.take(&mut io).unwrap();
    a.write(&mut io, b"k").unwrap();
    raw.set_read_deadline(sock::Deadline::after(common::BOUND));
    let mut one = [0u8; 1];
    assert_eq!(raw.read(&mut one).unwrap(), 1);
}

/// A stream the program shuts down itself, with an operation parked in that direction: a
/// write waiting for room (the peer reads nothing) or a read waiting for bytes (the peer
/// sends nothing). The kernel raises no usable edge for some of these (a Unix stream's
/// `SHUT_WR` with a full send buffer: the socket is woken but reported neither writable
/// nor hung up; TCP's `SHUT_RD`: no wake-up at all), and the operation waited for the peer,
/// forever if the peer never moved (found by a new user's trial). Now `shutdown` makes the
/// attempt itself: the operation has its result when `shutdown` returns, with no turn of
/// the Io (a write's `EPIPE`, its progress kept; a read's end of stream). On io_uring the
/// read's receive is taken back from the kernel first.
#[test]
fn our_own_shutdown_ends_the_operations_parked_in_its_direction() {
    use std::net::Shutdown;
    use std::os::unix::net::UnixStream as StdUnix;

    for how in [Shutdown::Write, Shutdown::Read, Shutdown::Both] {
        let mut io = Io::new().unwrap();
        let (a, tcp_peer) = testkit::tcp_pair().unwrap();
        let s = TcpStream::add(&mut io, sock::TcpConn::try_from(a).unwrap()).unwrap();
        shut_with_parked_ops(&mut io, s, how, "TCP");
        drop(tcp_peer);
        let (a, unix_peer) = StdUnix::pair().unwrap();
        let s = UnixStream::add(&mut io, sock::UnixConn::try_from(a).unwrap()).unwrap();
        shut_with_parked_ops(&mut io, s, how, "Unix");
        drop(unix_peer);
    }
}

/// Parks a write (64 MiB to a peer that reads nothing) and a read (from a peer that sends
/// nothing) on `s`, shuts `how` down, and checks that the operations of the directions
/// shut down have their results at once and the other one is still pending.
fn shut_with_parked_ops<C: sonic_io::StreamSock>(
    io: &mut Io,
    s: sonic_io::Stream<C>,
    how: std::net::Shutdown,
    kind: &str,
) {
    use std::net::Shutdown;
    let wrote = slot();
    let w = wrote.clone();
    s.async_write_all(io, vec![7u8; 64 << 20], move |_, r, _| {
        *w.borrow_mut() = Some(r);
    })
    .unwrap();
    let read = slot();
    let r2 = read.clone();
    s.async_read(io, vec![0u8; 64], move |_, r, _| *r2.borrow_mut() = Some(r))
        .unwrap();
    // The write fills the buffers and parks; the read parks (or waits in the ring).
    for _ in 0..10 {
        io.poll().unwrap();
    }
    assert!(wrote.borrow().is_none(), "{kind}: the write did not park");
    assert!(read.borrow().is_none(), "{kind}: the read did not park");
    s.shutdown(io, how).unwrap();
    let (read_shut, write_shut) = match how {
        Shutdown::Read => (true, false),
        Shutdown::Write => (false, true),
        Shutdown::Both => (true, true),
    };
    match wrote.borrow_mut().take() {
        Some(r) => {
            assert!(write_shut, "{kind} {how:?}: the write ended: {r:?}");
            let p = r.expect_err("a write after our SHUT_WR");
            assert_eq!(p.error.kind(), ErrorKind::ConnectionReset, "{kind}: {p:?}");
            assert!(p.done > 0 && p.done < 64 << 20, "{kind}: {} bytes", p.done);
        }
        None => assert!(
            !write_shut,
            "{kind} {how:?}: the parked write is still pending"
        ),
    }
    match read.borrow_mut().take() {
        Some(r) => {
            assert!(read_shut, "{kind} {how:?}: the read ended: {r:?}");
            assert_eq!(r.unwrap(), 0, "{kind}: end of stream");
        }
        None => assert!(
            !read_shut,
            "{kind} {how:?}: the parked read is still pending"
        ),
    }
    s.close(io).unwrap();
}
