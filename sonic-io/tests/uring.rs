//! The io_uring backend's own behaviour: the fallback when io_uring is refused (a seccomp
//! filter in a subprocess), what a registration, a close and a scheduled echo cost on it
//! (`Io::stats`), a close that must let go of the descriptor at once although a poll held
//! it, close with operations in flight, a parked datagram send woken through a poll update,
//! a loop of connections closed with reads armed that leaks no descriptor, and stream
//! writes whose rest waits in the ring for room (their cost, and their count across a
//! cancel, a close, a `take`, a reset), and dials that connect in the ring. The rest of
//! the suite runs on this backend too, with `SONIC_IO_BACKEND=uring` (`cargo xtask
//! test-uring`).
//!
//! Where io_uring is not available (qemu-user, a container's seccomp profile), each test
//! prints why and returns.
#![cfg(target_os = "linux")]

mod common;
use common::{run_until, slot};

use std::io::{Read, Write};
use std::time::Duration;

use sonic_bytes::Fifo;
use sonic_io::{Backend, ErrorKind, Io, PacketConn, Stats, TcpStream};

/// An Io on io_uring, or `None` (printed) where this machine refuses it.
fn uring_io() -> Option<Io> {
    match Io::builder().backend(Backend::Uring).build() {
        Ok(io) => Some(io),
        Err(e) => {
            println!("skipped: io_uring unavailable here: {e}");
            None
        }
    }
}

fn delta(io: &mut Io, f: impl FnOnce(&mut Io)) -> Stats {
    io.reset_stats();
    f(io);
    io.stats()
}

/// A TCP stream in `io` and its std peer (blocking, with a bound on every read).
fn pair(io: &mut Io) -> (TcpStream, std::net::TcpStream) {
    let (a, b) = testkit::tcp_pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (
        TcpStream::add(io, sock::TcpConn::try_from(a).unwrap()).unwrap(),
        b,
    )
}

/// `Backend::Auto` under a seccomp filter that refuses `io_uring_setup` (as container
/// runtimes do) falls back to epoll and says why; `Backend::Uring` is an error naming the
/// cause; and the fallen-back Io works.
#[test]
fn a_refused_io_uring_setup_falls_back_to_epoll_and_says_why() {
    if cfg!(qemu) || uring_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| {
        testkit::refuse_syscalls(&[libc::SYS_io_uring_setup], libc::EPERM).unwrap();
        let mut io = Io::builder().backend(Backend::Auto).build().unwrap();
        let used = io.backend();
        assert_eq!(used.backend(), Backend::Epoll);
        let why = used.fallback().expect("a fallback has a reason");
        assert_eq!(why.kind(), ErrorKind::PermissionDenied, "{why}");
        assert_eq!(why.errno(), Some(zcall::Errno::EPERM));
        assert!(why.to_string().contains("seccomp"), "{why}");
        assert!(
            used.to_string()
                .starts_with("epoll (io_uring unavailable: "),
            "{used}"
        );
        let e = Io::builder().backend(Backend::Uring).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        // The fallback changes nothing seen through the API: an echo round trip.
        let (s, mut peer) = pair(&mut io);
        let got = slot();
        let g = got.clone();
        s.async_read(&mut io, vec![0u8; 4], move |_, r, b| {
            *g.borrow_mut() = Some((r.unwrap(), b))
        })
        .unwrap();
        peer.write_all(b"ping").unwrap();
        run_until(&mut io, || got.borrow().is_some());
        assert_eq!(got.borrow().as_ref().unwrap().1, b"ping");
    });
}

/// `SONIC_IO_BACKEND` names the default; `Backend::Auto` gets io_uring on this kernel.
#[test]
fn auto_takes_io_uring_where_the_kernel_gives_it() {
    let Some(_) = uring_io() else { return };
    let io = Io::builder().backend(Backend::Auto).build().unwrap();
    assert_eq!(io.backend().backend(), Backend::Uring);
    assert!(io.backend().fallback().is_none());
    let reads = if io.backend().reads_in_ring() {
        "stream reads in the ring"
    } else {
        "reads wait for readiness"
    };
    assert_eq!(io.backend().to_string(), format!("io_uring ({reads})"));
}

/// Registering a socket costs no syscall (its poll is queued and goes in with the next
/// wait); closing it costs one `io_uring_enter`, which cancels the poll so that the socket
/// really closes: the peer reads end of stream at once, without the Io running again.
#[test]
fn registration_queues_a_poll_and_close_cancels_it_at_once() {
    let Some(mut io) = uring_io() else { return };
    let (a, b) = testkit::tcp_pair().unwrap();
    let mut peer = b;
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let conn = sock::TcpConn::try_from(a).unwrap();
    let mut s = None;
    let st = delta(&mut io, |io| s = Some(TcpStream::add(io, conn).unwrap()));
    assert_eq!(st.syscalls(), 0, "{st:?}");
    assert_eq!(st.sqes, 1, "one multishot poll queued: {st:?}");
    // Let the poll reach the kernel, then close.
    io.poll().unwrap();
    let s = s.unwrap();
    let st = delta(&mut io, |io| s.close(io).unwrap());
    assert_eq!((st.ctl, st.sqes), (1, 1), "one cancel, submitted: {st:?}");
    let mut buf = [0u8; 1];
    assert_eq!(
        peer.read(&mut buf).unwrap(),
        0,
        "the peer sees end of stream without another turn of the Io"
    );
}

/// Closing (or taking back) a stream whose read was armed in the same turn, its receive
/// still queued on this side: the receive is withdrawn before the poll's end enters the
/// ring, so that one enter is the whole cost (no receive submitted only for a synchronous
/// cancel to take it back: two more syscalls), and the read completes `Cancelled` once.
#[test]
fn closing_a_stream_whose_receive_is_still_queued_costs_one_enter() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    for take in [false, true] {
        let (s, mut peer) = pair(&mut io);
        // The stream's poll reaches the kernel; the read's receive is queued after it.
        io.poll().unwrap();
        let got = slot();
        let g = got.clone();
        s.async_read(&mut io, vec![0u8; 64], move |_, r, _| {
            *g.borrow_mut() = Some(r.map_err(|e| e.kind()))
        })
        .unwrap();
        let st = delta(&mut io, |io| {
            if take {
                drop(s.take(io).unwrap());
            } else {
                s.close(io).unwrap();
            }
        });
        assert_eq!(got.take(), Some(Err(ErrorKind::Cancelled)), "take: {take}");
        assert_eq!(
            (st.ctl, st.reads, st.writes),
            (1, 0, 0),
            "take: {take}: the poll's end, submitted: {st:?}"
        );
        let mut buf = [0u8; 1];
        assert_eq!(peer.read(&mut buf).unwrap(), 0, "take: {take}");
    }
}

/// The same for a descriptor handed back (`take`): the poll is cancelled before it returns,
/// so the descriptor is the caller's alone, and usable blocking.
#[test]
fn a_taken_stream_is_no_longer_polled() {
    let Some(mut io) = uring_io() else { return };
    let (s, mut peer) = pair(&mut io);
    io.poll().unwrap();
    let conn = s.take(&mut io).unwrap();
    assert_eq!(io.objects(), 0);
    peer.write_all(b"x").unwrap();
    // The Io sees nothing of it any more.
    assert_eq!(io.poll().unwrap(), 0);
    let mut std_conn = std::net::TcpStream::from(std::os::fd::OwnedFd::from(conn));
    std_conn.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 1];
    std_conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"x");
}

/// The scheduled echo on io_uring. Where stream reads complete in the ring (Linux 6.0+,
/// `BackendUsed::reads_in_ring`): each read is a receive submitted with the next wait, so a
/// message costs that one `io_uring_enter` and the write, and one ring entry (the receive):
/// two syscalls per message (epoll: three). The receive's completion is the message's only
/// event: the stream's multishot poll leaves read readiness out (its `POLLIN` event, posted
/// from a task work of its own, woke the wait a second time per message in a ping-pong
/// between two Ios; it showed here as two events per message). Without it the read waits for readiness, and as
/// io_uring reports the kernel's wake-up key (`POLLIN | POLLPRI` for every arrival on a
/// socket), urgent data cannot be told apart from data: the read trusts no short read and
/// meets `WouldBlock` once per message, four syscalls per message.
#[test]
fn a_scheduled_echo_costs_two_syscalls_per_message_with_reads_in_the_ring() {
    let Some(mut io) = uring_io() else { return };
    let in_ring = io.backend().reads_in_ring();
    let (s, mut peer) = pair(&mut io);
    let served = std::rc::Rc::new(std::cell::Cell::new(0u32));
    common::serve_exact_echo(&mut io, s, served.clone());
    // The first message also submits the registration; count from the second.
    peer.write_all(&[0u8; 64]).unwrap();
    run_until(&mut io, || served.get() == 1);
    let mut back = [0u8; 64];
    peer.read_exact(&mut back).unwrap();
    let rounds = 100u32;
    let st = delta(&mut io, |io| {
        for i in 1..=rounds {
            peer.write_all(&[i as u8; 64]).unwrap();
            run_until(io, || served.get() == i + 1);
            peer.read_exact(&mut back).unwrap();
            assert_eq!(back, [i as u8; 64]);
        }
    });
    let r = u64::from(rounds);
    println!("{rounds} scheduled echoes on io_uring (reads in the ring: {in_ring}): {st:?}");
    assert_eq!(st.waits, r, "{st:?}");
    assert_eq!(st.writes, r, "{st:?}");
    assert_eq!(st.ctl, 0, "{st:?}");
    if in_ring {
        assert_eq!((st.reads, st.sqes), (0, r), "{st:?}");
        assert_eq!(st.scheduled, r, "{st:?}");
        assert_eq!(
            st.events, r,
            "one completion per message, no poll event: {st:?}"
        );
    } else {
        assert_eq!((st.reads, st.sqes), (2 * r, 0), "{st:?}");
    }
}

/// Echo rounds against a peer thread: the peer writes `msg(i)` a millisecond after each
/// echo, so that the server's read mostly waits in the kernel rather than finds its bytes
/// there; `served` counts the bytes the server echoed. Returns the server's stats over
/// `rounds` messages (waits are not compared: a bounded wait that a stalled peer outlasts
/// would add one).
fn echo_rounds(
    io: &mut Io,
    mut peer: std::net::TcpStream,
    served: &std::rc::Rc<std::cell::Cell<u32>>,
    msg: fn(u32) -> Vec<u8>,
    rounds: u32,
) -> Stats {
    let first = msg(0);
    peer.write_all(&first).unwrap();
    let len = first.len() as u32;
    run_until(io, || served.get() == len);
    let mut back = vec![0u8; first.len()];
    peer.read_exact(&mut back).unwrap();
    let client = std::thread::spawn(move || {
        for i in 1..=rounds {
            std::thread::sleep(Duration::from_millis(1));
            let m = msg(i);
            peer.write_all(&m).unwrap();
            peer.read_exact(&mut back).unwrap();
            assert_eq!(back, m);
        }
    });
    let st = delta(io, |io| {
        run_until(io, || served.get() == len * (rounds + 1));
    });
    client.join().unwrap();
    st
}

/// A FIFO read (sonic-bytes' `ByteBuffer`, whose memory stays put while it moves) on a
/// stream whose reads complete in the ring: the receive fills the FIFO's free space in place,
/// so a message costs the wait and the write, one ring entry and one event, no read
/// syscall (epoll: a wait, a read, a write).
#[test]
fn a_fifo_read_receives_in_the_ring() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let (s, peer) = pair(&mut io);
    let served = std::rc::Rc::new(std::cell::Cell::new(0u32));
    fn serve(
        io: &mut Io,
        s: TcpStream,
        fifo: sonic_bytes::ByteBuffer,
        served: std::rc::Rc<std::cell::Cell<u32>>,
    ) {
        s.async_read_into(io, fifo, 4096, move |io, r, mut fifo| {
            // The end of stream comes when the peer is done (the Io may be closing).
            let Ok(n @ 1..) = r else { return };
            let len = fifo.len();
            assert_eq!(s.write(io, fifo.data()).unwrap(), len);
            fifo.consume(len);
            served.set(served.get() + n as u32);
            serve(io, s, fifo, served);
        })
        .unwrap();
    }
    let fifo = sonic_bytes::ByteBuffer::with_capacity(4096);
    serve(&mut io, s, fifo, served.clone());
    let st = echo_rounds(&mut io, peer, &served, |i| vec![i as u8; 64], 100);
    println!("100 FIFO echoes on io_uring: {st:?}");
    assert_eq!((st.reads, st.writes, st.ctl), (0, 100, 0), "{st:?}");
    assert_eq!((st.sqes, st.events), (100, 100), "one receive each: {st:?}");
}

/// A codec read (length-prefixed frames through the connection's `ByteBuffer`s) on a
/// stream whose reads complete in the ring: with the last item consumed, the next read is a
/// receive into the source FIFO; the bytes it brings are decoded by an attempt, where the
/// read lies. A message costs the wait and the write, no read syscall, one ring entry.
#[test]
fn a_codec_read_receives_in_the_ring_and_decodes_in_its_attempt() {
    use sonic_io::codec::{CodecConn, Frame};
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let (s, peer) = pair(&mut io);
    let served = std::rc::Rc::new(std::cell::Cell::new(0u32));
    fn serve(io: &mut Io, cc: CodecConn<Frame>, served: std::rc::Rc<std::cell::Cell<u32>>) {
        cc.async_read_next(io, move |io, r, mut cc| {
            if r.is_err() {
                return;
            }
            let mut item = [0u8; 60];
            let n = {
                let got = cc.item().unwrap().unwrap();
                item[..got.len()].copy_from_slice(got);
                got.len()
            };
            assert_eq!(cc.write_next(io, &item[..n]).unwrap(), 0);
            served.set(served.get() + 4 + n as u32);
            serve(io, cc, served);
        })
        .unwrap();
    }
    serve(&mut io, CodecConn::new(s, Frame::default()), served.clone());
    let frame = |i: u32| {
        let mut m = 60u32.to_be_bytes().to_vec();
        m.extend_from_slice(&[i as u8; 60]);
        m
    };
    let st = echo_rounds(&mut io, peer, &served, frame, 100);
    println!("100 frame echoes on io_uring: {st:?}");
    assert_eq!((st.reads, st.writes, st.ctl), (0, 100, 0), "{st:?}");
    assert_eq!((st.sqes, st.events), (100, 100), "one receive each: {st:?}");
}

/// A read that waits for readiness on a stream whose reads complete in the ring (a read
/// into a `Region`: a stream's waits for readiness on every backend, as a receive in the
/// kernel would take bytes that a cancel could only drop where another read shares the
/// region): the stream is polled for reading on demand, one one-shot poll queued when the
/// read parks. A message costs the wait (which submits that poll and returns its
/// completion), one read and the write: three syscalls, as on epoll, and one event. The
/// peer thread writes after the poll is queued, mostly: a woken poll reports the wake-up
/// key, which holds `POLLPRI` for every arrival on a socket, and taken for urgent data it
/// made each message cost a second read that found nothing.
#[test]
fn a_read_that_waits_for_readiness_polls_on_demand_with_reads_in_the_ring() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let (s, peer) = pair(&mut io);
    let block = io.add_bytes(vec![0u8; 4096]).unwrap();
    let region = io.region(block, 0..4096).unwrap();
    let served = std::rc::Rc::new(std::cell::Cell::new(0u32));
    fn serve(
        io: &mut Io,
        s: TcpStream,
        region: sonic_io::Region,
        served: std::rc::Rc<std::cell::Cell<u32>>,
    ) {
        s.async_read(io, region, move |io, r, region| {
            let Ok(n @ 1..) = r else { return };
            let mut echo = [0u8; 64];
            echo[..n].copy_from_slice(&io.bytes(region).unwrap()[..n]);
            assert_eq!(s.write(io, &echo[..n]).unwrap(), n);
            served.set(served.get() + n as u32);
            serve(io, s, region, served);
        })
        .unwrap();
    }
    serve(&mut io, s, region, served.clone());
    let st = echo_rounds(&mut io, peer, &served, |i| vec![i as u8; 64], 100);
    println!("100 Region echoes on io_uring: {st:?}");
    assert_eq!((st.reads, st.writes, st.ctl), (100, 100, 0), "{st:?}");
    assert_eq!(st.sqes, 100, "one read poll queued per message: {st:?}");
    assert_eq!(st.events, 100, "the read poll's completion only: {st:?}");
}

/// A UDP socket, its std sender, and where to send.
fn udp_pair(io: &mut Io) -> (PacketConn<sock::UdpConn>, std::net::UdpSocket, String) {
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap().to_string();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    (PacketConn::add(io, rx).unwrap(), tx, to)
}

/// A datagram read into a `Region` on a socket whose reads complete in the ring receives
/// into a buffer of the Io's provided-buffer pool (a region is never handed to the kernel:
/// several armed reads may share one) and is copied into its region when it completes,
/// with its source: no read syscall, one ring entry per datagram (epoll: a read, and the
/// next read's that finds nothing).
#[test]
fn a_region_read_receives_in_the_ring_and_is_copied_in() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let (rx, tx, to) = udp_pair(&mut io);
    let from = tx.local_addr().unwrap();
    let block = io.add_bytes(vec![0u8; 4096]).unwrap();
    let region = io.region(block, 100..1100).unwrap();
    let st = delta(&mut io, |io| {
        for i in 0..100u8 {
            let got = slot();
            let g = got.clone();
            rx.async_read_from(io, region, move |_, r, region| {
                *g.borrow_mut() = Some((r.map(|(n, src)| (n, src.as_socket())), region))
            })
            .unwrap();
            io.poll().unwrap();
            tx.send_to(&[i; 300], &to).unwrap();
            run_until(io, || got.borrow().is_some());
            let (r, region) = got.borrow_mut().take().unwrap();
            assert_eq!(r.unwrap(), (300, Some(from)));
            assert_eq!(io.bytes(region).unwrap()[..300], [i; 300]);
        }
    });
    println!("100 datagrams read into a region on io_uring: {st:?}");
    // The first read tries its syscall (a socket is presumed readable until a read finds
    // nothing); every later one receives in the ring.
    assert_eq!(
        (st.reads, st.sqes),
        (1, 100),
        "received in the ring: {st:?}"
    );
}

/// Reads into regions in the ring keep the rules of regions: two reads armed on one region
/// (the first to complete fills it; the program moves the other on, even while its receive
/// is in the kernel, and its bytes land in the new region), a redirect past a pool buffer's
/// size refused while the receive is in the kernel, a datagram cut to its region, a read
/// taken back by a cancel with its datagram landed while another read shares its region
/// (the datagram is dropped and the read cancelled: copying it in would overwrite the other
/// read's bytes before its callback saw them; a review's test saw "BBBBAAAA" where the
/// winner expected "AAAAAAAA"), and more receives in the kernel than the pool has buffers
/// (every read gets its own bytes: a receive that finds no buffer free fails with `ENOBUFS`
/// and its read takes a syscall).
#[test]
fn reads_into_regions_in_the_ring_keep_the_region_rules() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let block = io.add_bytes(vec![0u8; 1 << 20]).unwrap();
    type Got =
        std::rc::Rc<std::cell::RefCell<Vec<(u32, sonic_io::Result<usize>, sonic_io::Region)>>>;
    let got: Got = Default::default();
    let read = |io: &mut Io, s: PacketConn<sock::UdpConn>, tag: u32, region, got: &Got| {
        let g = got.clone();
        s.async_read_from(io, region, move |_, r, region| {
            g.borrow_mut().push((tag, r.map(|(n, _)| n), region))
        })
        .unwrap();
    };

    // Two sockets armed on one region: the first completes, the program moves the other on
    // (its receive in the kernel), then reads the region.
    let (a, ta, to_a) = udp_pair(&mut io);
    let (b, tb, to_b) = udp_pair(&mut io);
    let shared = io.region(block, 0..16).unwrap();
    read(&mut io, a, 1, shared, &got);
    read(&mut io, b, 2, shared, &got);
    io.poll().unwrap();
    ta.send_to(b"from a", &to_a).unwrap();
    run_until(&mut io, || got.borrow().len() == 1);
    assert!(matches!(got.borrow()[0], (1, Ok(6), _)));
    let other = io.region(block, 32..48).unwrap();
    b.retarget_read(&mut io, other).unwrap();
    assert_eq!(&io.bytes(shared).unwrap()[..6], b"from a");
    tb.send_to(b"b!", &to_b).unwrap();
    run_until(&mut io, || got.borrow().len() == 2);
    assert_eq!(&io.bytes(other).unwrap()[..2], b"b!");
    assert_eq!(
        &io.bytes(shared).unwrap()[..6],
        b"from a",
        "not written again"
    );
    got.borrow_mut().clear();

    // Both datagrams land in one wait; the first read's callback cancels the other, whose
    // receive completed: its datagram is dropped and it reports `Cancelled`, and the
    // winner's bytes stay.
    for (s, other, tag) in [(a, b, 1), (b, a, 2)] {
        let g = got.clone();
        s.async_read_from(&mut io, shared, move |io, r, region| {
            let won = r.is_ok();
            g.borrow_mut().push((tag, r.map(|(n, _)| n), region));
            if won {
                other.cancel(io).unwrap();
            }
        })
        .unwrap();
    }
    io.poll().unwrap();
    tb.send_to(b"BBBB", &to_b).unwrap();
    ta.send_to(b"AAAAAAAA", &to_a).unwrap();
    run_until(&mut io, || got.borrow().len() == 2);
    {
        let g = got.borrow();
        println!(
            "one region, two reads, the first cancels the other: {:?}",
            *g
        );
        let won = g.iter().find(|(_, r, _)| r.is_ok()).expect("a winner");
        let lost = g.iter().find(|(_, r, _)| r.is_err()).expect("a loser");
        assert_eq!(lost.1.as_ref().unwrap_err().kind(), ErrorKind::Cancelled);
        let want: &[u8] = if won.0 == 1 { b"AAAAAAAA" } else { b"BBBB" };
        assert_eq!(
            &io.bytes(won.2).unwrap()[..want.len()],
            want,
            "the winner's bytes"
        );
    }
    got.borrow_mut().clear();

    // A cut datagram, and a redirect past a pool buffer refused while in the kernel.
    let dgram = io.region(block, 1000..1008).unwrap();
    let huge = io.region(block, 100_000..140_000).unwrap();
    read(&mut io, a, 3, dgram, &got);
    io.poll().unwrap();
    let e = a.retarget_read(&mut io, huge).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let big: Vec<u8> = (0..100u8).collect();
    ta.send_to(&big, &to_a).unwrap();
    run_until(&mut io, || got.borrow().len() == 1);
    assert_eq!(
        got.borrow()[0].1.as_ref().unwrap_err().kind(),
        ErrorKind::MessageTooLarge
    );
    assert_eq!(io.bytes(dgram).unwrap(), &big[..8], "its first bytes");
    got.borrow_mut().clear();

    // 100 sockets with region reads, their datagrams all arriving for one wait: more than
    // the pool's 64 buffers; every read gets its own bytes.
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut tos = Vec::new();
    for i in 0..100u32 {
        let (s, _, to) = udp_pair(&mut io);
        let at = 2000 + i as usize * 1000;
        let r = io.region(block, at..at + 1000).unwrap();
        read(&mut io, s, i, r, &got);
        tos.push(to);
    }
    io.poll().unwrap();
    for (i, to) in tos.iter().enumerate() {
        tx.send_to(&[i as u8; 700], to).unwrap();
    }
    let st = delta(&mut io, |io| run_until(io, || got.borrow().len() == 100));
    for (tag, r, region) in got.borrow().iter() {
        assert_eq!(*r.as_ref().unwrap(), 700, "read {tag}");
        assert!(
            io.bytes(*region).unwrap()[..700]
                .iter()
                .all(|&x| x == *tag as u8),
            "read {tag}: its own bytes"
        );
    }
    println!("100 region reads landing at once: {st:?}");
    assert_eq!(st.scheduled, 100, "{st:?}");
}

/// A read on a connected UDP socket whose reads complete in the ring: the receive goes to
/// the kernel into the read's own buffer, with `MSG_TRUNC` so that a datagram longer than
/// the buffer is reported cut (`MessageTooLarge`, the buffer holding its first bytes) as the
/// readiness path reports it; an empty datagram is a datagram, not an end; and an echo
/// costs the wait and the write, no read syscall (epoll: a wait, a read, a read that finds
/// nothing, a write).
#[test]
fn a_connected_udp_read_receives_in_the_ring() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.connect(tx.local_addr().unwrap().to_string()).unwrap();
    tx.connect(rx.local_addr().unwrap().to_string()).unwrap();
    tx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let rx = PacketConn::add(&mut io, rx).unwrap();
    // A read that waits in the kernel (the first one finds nothing and parks there), then
    // the datagram it gets.
    let ring_read = |io: &mut Io, room: usize, send: &[u8]| {
        let got = slot();
        let g = got.clone();
        rx.async_read(io, vec![0u8; room], move |_, r, buf| {
            *g.borrow_mut() = Some((r, buf))
        })
        .unwrap();
        io.poll().unwrap();
        let st = delta(io, |io| {
            tx.send(send).unwrap();
            run_until(io, || got.borrow().is_some());
        });
        assert_eq!(st.reads, 0, "received in the ring: {st:?}");
        got.borrow_mut().take().unwrap()
    };
    let big: Vec<u8> = (0..100u8).collect();
    let (r, buf) = ring_read(&mut io, 8, &big);
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge, "{e}");
    assert_eq!(buf, big[..8]);
    let (r, _) = ring_read(&mut io, 8, &[]);
    assert_eq!(r.unwrap(), 0, "an empty datagram");
    let (r, buf) = ring_read(&mut io, 8, &big[..8]);
    assert_eq!(
        (r.unwrap(), &buf[..]),
        (8, &big[..8]),
        "exactly the buffer's length"
    );

    // The echo: the peer thread sends a millisecond after each echo.
    let served = std::rc::Rc::new(std::cell::Cell::new(0u32));
    fn serve(
        io: &mut Io,
        rx: PacketConn<sock::UdpConn>,
        served: std::rc::Rc<std::cell::Cell<u32>>,
    ) {
        rx.async_read(io, vec![0u8; 64], move |io, r, buf| {
            let Ok(n) = r else { return };
            assert_eq!(rx.write(io, &buf[..n]).unwrap(), n);
            served.set(served.get() + 1);
            serve(io, rx, served);
        })
        .unwrap();
    }
    serve(&mut io, rx, served.clone());
    let rounds = 100u32;
    let client = std::thread::spawn(move || {
        let mut back = [0u8; 64];
        for i in 1..=rounds {
            std::thread::sleep(Duration::from_millis(1));
            tx.send(&[i as u8; 64]).unwrap();
            assert_eq!(tx.recv(&mut back).unwrap(), 64);
            assert_eq!(back, [i as u8; 64]);
        }
    });
    let st = delta(&mut io, |io| run_until(io, || served.get() == rounds));
    client.join().unwrap();
    let r = u64::from(rounds);
    println!("{rounds} UDP echoes on io_uring: {st:?}");
    assert_eq!((st.reads, st.writes, st.ctl), (0, r, 0), "{st:?}");
    assert_eq!((st.sqes, st.events), (r, r), "one receive each: {st:?}");
}

/// A read that takes its datagram's source (`async_read_from`, with or without the
/// receive stamp: the multicast peer's reads) waits in the kernel as one `recvmsg`, its
/// header, address and control space kept by the ring per socket: no read syscall. The
/// source comes back decoded (IPv4, IPv6, a named and an unnamed Unix socket), a cut
/// datagram is `MessageTooLarge` with its first bytes, an empty one is `Ok(0)`, the stamp
/// comes from the same receive's control data; an echo against a peer thread costs one
/// entry and one event per datagram.
#[test]
fn a_read_with_a_source_receives_in_the_ring() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    type Got = (sonic_io::Result<(usize, sock::SockaddrAny)>, Vec<u8>);
    // A read armed (it finds nothing and parks in the kernel), then the datagram `send`
    // sends; what the read got, with no read syscall made.
    fn ring_read_from<U: sonic_io::PacketSock>(
        io: &mut Io,
        rx: PacketConn<U>,
        room: usize,
        send: impl FnOnce(),
    ) -> Got {
        let got = slot();
        let g = got.clone();
        rx.async_read_from(io, vec![0u8; room], move |_, r, buf| {
            *g.borrow_mut() = Some((r, buf))
        })
        .unwrap();
        io.poll().unwrap();
        let st = delta(io, |io| {
            send();
            run_until(io, || got.borrow().is_some());
        });
        assert_eq!(st.reads, 0, "received in the ring: {st:?}");
        got.borrow_mut().take().unwrap()
    }

    // IPv4: the source, a cut, an empty datagram, an exact fit.
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap().to_string();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = tx.local_addr().unwrap();
    let rx = PacketConn::add(&mut io, rx).unwrap();
    let big: Vec<u8> = (0..100u8).collect();
    let (r, buf) = ring_read_from(&mut io, rx, 8, || {
        tx.send_to(&big, &to).unwrap();
    });
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge, "{e}");
    assert_eq!(buf, big[..8], "a cut datagram's first bytes");
    let (r, _) = ring_read_from(&mut io, rx, 8, || {
        tx.send_to(&[], &to).unwrap();
    });
    let (n, src) = r.unwrap();
    assert_eq!((n, src.as_socket()), (0, Some(from)), "an empty datagram");
    let (r, buf) = ring_read_from(&mut io, rx, 8, || {
        tx.send_to(&big[..8], &to).unwrap();
    });
    let (n, src) = r.unwrap();
    assert_eq!((n, &buf[..], src.as_socket()), (8, &big[..8], Some(from)));

    // IPv6, where the host has a loopback address for it.
    if let (Ok(rx6), Ok(tx6)) = (
        sock::UdpConn::bind("[::1]:0"),
        std::net::UdpSocket::bind("[::1]:0"),
    ) {
        let to6 = rx6.local_addr().unwrap().to_string();
        let rx6 = PacketConn::add(&mut io, rx6).unwrap();
        let (r, buf) = ring_read_from(&mut io, rx6, 64, || {
            tx6.send_to(b"six", &to6).unwrap();
        });
        let (n, src) = r.unwrap();
        assert_eq!(&buf[..n], b"six");
        assert_eq!(src.as_socket(), Some(tx6.local_addr().unwrap()));
        rx6.close(&mut io).unwrap();
    } else {
        println!("no IPv6 loopback here: the IPv6 source is not checked");
    }

    // Unix: a named sender's path, and an unnamed one's empty source.
    let dir = std::env::temp_dir().join(format!("sonic-io-uring-from-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (rx_path, tx_path) = (dir.join("rx"), dir.join("tx"));
    let urx = sock::UnixDatagram::bind(rx_path.to_str().unwrap()).unwrap();
    let utx = sock::UnixDatagram::bind(tx_path.to_str().unwrap()).unwrap();
    utx.connect(rx_path.to_str().unwrap()).unwrap();
    let urx = PacketConn::add(&mut io, urx).unwrap();
    let (r, _) = ring_read_from(&mut io, urx, 64, || {
        utx.send(b"named").unwrap();
    });
    match r.unwrap() {
        (5, sock::SockaddrAny::Unix(u)) => {
            assert_eq!(u.path(), Some(tx_path.as_path()), "{u:?}")
        }
        other => panic!("{other:?}"),
    }
    urx.close(&mut io).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let [a, b] = sock::UnixDatagram::pair().unwrap();
    let b = PacketConn::add(&mut io, b).unwrap();
    let (r, _) = ring_read_from(&mut io, b, 64, || {
        a.send(b"hi").unwrap();
    });
    match r.unwrap() {
        (2, sock::SockaddrAny::Unix(u)) => assert!(u.is_unnamed(), "{u:?}"),
        other => panic!("{other:?}"),
    }
    b.close(&mut io).unwrap();

    // The stamp, from the control data of the same receive.
    let srx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    srx.set_rx_timestamps(true).unwrap();
    let sto = srx.local_addr().unwrap().to_string();
    let srx = PacketConn::add(&mut io, srx).unwrap();
    // The kernel turns receive stamps on for the host a moment after the first socket asks
    // (a deferred switch), so the first datagrams may come unstamped: read until one is
    // stamped, for at most a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let mut reads = 0;
    loop {
        let got = slot();
        let g = got.clone();
        srx.async_read_from_timestamped(&mut io, vec![0u8; 64], move |_, r, _| {
            *g.borrow_mut() = Some(r)
        })
        .unwrap();
        io.poll().unwrap();
        let before = sonic_io::Timestamp::now();
        let st = delta(&mut io, |io| {
            tx.send_to(b"tick", &sto).unwrap();
            run_until(io, || got.borrow().is_some());
        });
        assert_eq!(st.reads, 0, "received in the ring: {st:?}");
        reads += 1;
        let (n, src, stamp) = got.borrow_mut().take().unwrap().unwrap();
        assert_eq!((n, src.as_socket()), (4, Some(from)));
        if let Some(t) = stamp {
            assert!(t >= before && t <= sonic_io::Timestamp::now(), "{t:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no datagram of {reads} came with its stamp within a second"
        );
    }
    srx.close(&mut io).unwrap();

    // The echo: the peer thread sends each datagram when the last one's echo is back.
    let served = std::rc::Rc::new(std::cell::Cell::new(0u32));
    fn serve(
        io: &mut Io,
        rx: PacketConn<sock::UdpConn>,
        served: std::rc::Rc<std::cell::Cell<u32>>,
    ) {
        rx.async_read_from(io, vec![0u8; 64], move |io, r, buf| {
            let Ok((n, src)) = r else { return };
            let back = buf[..n].to_vec();
            rx.async_write_to(io, back, &src, |_, r, _| {
                r.unwrap();
            })
            .unwrap();
            served.set(served.get() + 1);
            serve(io, rx, served);
        })
        .unwrap();
    }
    serve(&mut io, rx, served.clone());
    let rounds = 100u32;
    tx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let client = std::thread::spawn(move || {
        let mut back = [0u8; 64];
        for i in 1..=rounds {
            tx.send_to(&[i as u8; 64], &to).unwrap();
            assert_eq!(tx.recv(&mut back).unwrap(), 64);
            assert_eq!(back, [i as u8; 64]);
        }
    });
    let st = delta(&mut io, |io| run_until(io, || served.get() == rounds));
    client.join().unwrap();
    let r = u64::from(rounds);
    println!("{rounds} UDP echoes with a source on io_uring: {st:?}");
    assert_eq!((st.reads, st.writes, st.ctl), (0, r, 0), "{st:?}");
    assert_eq!((st.sqes, st.events), (r, r), "one receive each: {st:?}");
}

/// A Unix datagram carrying descriptors (`SCM_RIGHTS`) into a read with a source that
/// waits in the ring: a stamped read gives the kernel control space, so the kernel installs
/// them; the ring closes them, as the readiness path's `recvmsg` does (three descriptors
/// were left open before), and a plain read gives none, so the kernel drops them.
#[test]
fn descriptors_passed_to_a_read_with_a_source_in_the_ring_are_closed() {
    if ring_reads_io().is_none() {
        return;
    }
    // Alone in a process: the other tests open and close descriptors meanwhile.
    testkit::in_subprocess(passed_descriptors_rounds);
}

fn passed_descriptors_rounds() {
    let mut io = ring_reads_io().unwrap();
    let [a, b] = sock::UnixDatagram::pair().unwrap();
    let b = PacketConn::add(&mut io, b).unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    for stamped in [true, false] {
        let open = testkit::open_fds().unwrap();
        let got = slot();
        let g = got.clone();
        if stamped {
            b.async_read_from_timestamped(&mut io, vec![0u8; 8], move |_, r, _| {
                *g.borrow_mut() = Some(r.map(|(n, _, _)| n).map_err(|e| e.kind()))
            })
            .unwrap();
        } else {
            b.async_read_from(&mut io, vec![0u8; 8], move |_, r, _| {
                *g.borrow_mut() = Some(r.map(|(n, _)| n).map_err(|e| e.kind()))
            })
            .unwrap();
        }
        io.poll().unwrap();
        use std::os::fd::AsFd;
        let fds = [null.as_fd(), null.as_fd(), null.as_fd()];
        let st = delta(&mut io, |io| {
            a.send_fds(b"x", &fds).unwrap();
            run_until(io, || got.borrow().is_some());
        });
        assert_eq!(st.reads, 0, "received in the ring: {st:?}");
        assert_eq!(got.borrow_mut().take().unwrap(), Ok(1));
        assert_eq!(
            testkit::open_fds().unwrap(),
            open,
            "stamped: {stamped}: the passed descriptors are closed"
        );
    }
    // The numbers closed are free again: files opened now get them. A stamped read that is
    // cancelled before anything arrives, then a plain read, must not read the control data
    // the first read left (it named those numbers) and close them again.
    let open = testkit::open_fds().unwrap();
    let files: Vec<std::fs::File> = (0..3)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    b.async_read_from_timestamped(&mut io, vec![0u8; 8], |_, r, _| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled)
    })
    .unwrap();
    io.poll().unwrap();
    assert_eq!(b.cancel(&mut io).unwrap(), 1);
    let got = slot();
    let g = got.clone();
    b.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
        *g.borrow_mut() = Some(r.map_err(|e| e.kind()))
    })
    .unwrap();
    io.poll().unwrap();
    a.send(b"y").unwrap();
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(got.borrow_mut().take().unwrap(), Ok(1));
    for f in &files {
        f.metadata()
            .expect("a file opened after the passed descriptors were closed");
    }
    assert_eq!(testkit::open_fds().unwrap(), open + 3);

    // A receive that fails writes no control data back. The Unix socket's slot goes to a
    // UDP socket (the slab reuses it, with the ring's storage for it), whose stamped read
    // fails with the ICMP error of a send to a closed port: nothing the Unix socket's
    // receives left there may be read as this one's.
    b.close(&mut io).unwrap();
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let u = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    u.set_rx_timestamps(true).unwrap();
    u.connect(dead.to_string()).unwrap();
    let u = PacketConn::add(&mut io, u).unwrap();
    let got = slot();
    let g = got.clone();
    u.async_read_from_timestamped(&mut io, vec![0u8; 8], move |_, r, _| {
        *g.borrow_mut() = Some(r.map(|(n, _, _)| n).map_err(|e| e.kind()))
    })
    .unwrap();
    io.poll().unwrap();
    u.write(&mut io, b"anyone?").unwrap();
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(
        got.borrow_mut().take().unwrap(),
        Err(ErrorKind::ConnectionRefused)
    );
    for f in &files {
        f.metadata().expect("a file open while a receive failed");
    }
    assert_eq!(testkit::open_fds().unwrap(), open + 3);
}

/// A receive in the ring that leaves bytes in the socket (the kernel says so with
/// `IORING_CQE_F_SOCK_NONEMPTY`) lets the next read try its syscall at once: 3,000 bytes
/// read 1,000 at a time cost one receive in the ring and two immediate `readv`s in one
/// turn, not three receives in three turns (UDP completions never carry the flag).
#[test]
fn a_receive_that_leaves_bytes_lets_the_next_read_complete_at_once() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let (s, mut peer) = pair(&mut io);
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    fn read(io: &mut Io, s: TcpStream, got: std::rc::Rc<std::cell::RefCell<Vec<u8>>>) {
        s.async_read(io, vec![0u8; 1000], move |io, r, buf| {
            let n = r.unwrap();
            got.borrow_mut().extend_from_slice(&buf[..n]);
            if got.borrow().len() < 3000 {
                read(io, s, got);
            }
        })
        .unwrap();
    }
    read(&mut io, s, got.clone());
    // The first read waits in the kernel.
    io.poll().unwrap();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let st = delta(&mut io, |io| {
        peer.write_all(&data).unwrap();
        run_until(io, || got.borrow().len() >= 3000);
    });
    assert_eq!(*got.borrow(), data);
    assert_eq!(
        (st.sqes, st.reads, st.immediate),
        (0, 2, 2),
        "one receive in the ring (queued before), then two reads at once: {st:?}"
    );
}

/// Closing a stream with a read and a write armed: both complete `Cancelled`, once, and
/// the peer sees the connection end; repeated a thousand times on one Io, no descriptor
/// is left behind (the ring's polls let every socket go).
#[test]
fn close_with_operations_in_flight_completes_each_once_and_leaks_nothing() {
    if uring_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| testkit::no_fd_leak(close_in_flight_rounds));
}

fn close_in_flight_rounds() {
    {
        let mut io = uring_io().unwrap();
        for round in 0..1000 {
            let (s, mut peer) = pair(&mut io);
            let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let r1 = results.clone();
            s.async_read(&mut io, vec![0u8; 16], move |_, r, _| {
                r1.borrow_mut().push(r.map_err(|e| e.kind()))
            })
            .unwrap();
            // Every other round, let the poll reach the kernel before the close.
            if round % 2 == 0 {
                io.poll().unwrap();
            }
            s.close(&mut io).unwrap();
            assert_eq!(
                *results.borrow(),
                [Err(ErrorKind::Cancelled)],
                "round {round}"
            );
            let mut buf = [0u8; 1];
            assert_eq!(peer.read(&mut buf).unwrap(), 0, "round {round}");
        }
        io.poll().unwrap();
        assert_eq!(io.objects(), 0);
        drop(io);
    }
}

/// An Io whose stream reads complete in the ring, or `None` (printed) where they do not.
fn ring_reads_io() -> Option<Io> {
    let io = uring_io()?;
    if io.backend().reads_in_ring() {
        Some(io)
    } else {
        println!("skipped: this kernel has no synchronous io_uring cancel (Linux 6.0)");
        None
    }
}

/// An Io on io_uring and a TCP stream in it whose poll has reached the kernel, then a
/// seccomp filter under which the kernel refuses (`EAGAIN`) the `io_uring_enter` that
/// flushes a full submission queue (256 entries or more, no wait), as it does when it
/// cannot allocate requests; waiting enters go through. For a test's subprocess.
fn refusing_full_queue_io() -> (Io, TcpStream, std::net::TcpStream) {
    let mut io = Io::builder()
        .backend(Backend::Uring)
        .objects(1024)
        .build()
        .unwrap();
    let (s, peer) = pair(&mut io);
    io.poll().unwrap();
    let when = [
        (1, testkit::ArgIs::AtLeast(256)),
        (2, testkit::ArgIs::Eq(0)),
    ];
    testkit::refuse_syscall_when(libc::SYS_io_uring_enter, &when, libc::EAGAIN).unwrap();
    (io, s, peer)
}

/// 256 UDP registrations, each queuing a poll: they fill the submission queue, and the one
/// whose flush the kernel refuses fails. The ones added, and the errors.
fn fill_submission_queue(io: &mut Io) -> (Vec<PacketConn<sock::UdpConn>>, Vec<sonic_io::Error>) {
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..256 {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        match PacketConn::add(io, sock::UdpConn::try_from(u).unwrap()) {
            Ok(p) => kept.push(p),
            Err(e) => refused.push(e),
        }
    }
    (kept, refused)
}

/// A full submission queue the kernel refuses to take (`EAGAIN`, injected by a seccomp
/// filter on the `io_uring_enter` that flushes 256 entries without waiting: the kernel
/// answers so when it cannot allocate requests) loses nothing already queued: the entry that
/// found no room is refused with `NoBufferSpace`, and a stream read queued before it still
/// receives. Before, the new entry was written over the oldest queued one: the read's
/// receive was gone, the read never completed, and closing its stream aborted the process
/// after 10 s (a reviewer's finding).
#[test]
fn a_full_submission_queue_the_kernel_refuses_loses_no_queued_receive() {
    if cfg!(qemu) || ring_reads_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| {
        let (mut io, s, mut peer) = refusing_full_queue_io();
        let got = slot();
        let g = got.clone();
        s.async_read(&mut io, vec![0u8; 16], move |_, r, b| {
            *g.borrow_mut() = Some(r.map(|n| b[..n].to_vec()));
        })
        .unwrap();
        // 255 registrations fill the queue behind the read's receive; the next one's flush
        // is refused.
        let (kept, refused) = fill_submission_queue(&mut io);
        assert_eq!(kept.len(), 255);
        assert_eq!(refused.len(), 1);
        assert_eq!(
            refused[0].kind(),
            ErrorKind::NoBufferSpace,
            "{}",
            refused[0]
        );
        peer.write_all(b"hello").unwrap();
        // The wait submits the queue (the filter lets a waiting enter through).
        run_until(&mut io, || got.borrow().is_some());
        assert_eq!(got.take().unwrap().unwrap(), b"hello");
        // Closing works (no receive is lost for the close to wait on), and every datagram
        // socket that was added is polled.
        s.close(&mut io).unwrap();
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let last = *kept.last().unwrap();
        let to = last.get(&io).unwrap().local_addr().unwrap().to_string();
        probe.send_to(b"x", to.as_str()).unwrap();
        let dg = slot();
        let d = dg.clone();
        last.async_read(&mut io, vec![0u8; 4], move |_, r, _| {
            *d.borrow_mut() = Some(r)
        })
        .unwrap();
        run_until(&mut io, || dg.borrow().is_some());
        assert_eq!(dg.take().unwrap().unwrap(), 1);
    });
}

/// A stream closed while the submission queue is full and the kernel refuses it (as
/// above): its poll's cancel cannot be queued, and is made at once through the kernel's
/// synchronous cancel instead, so the socket is released (by the next wait, which runs the
/// kernel's deferred work; the refused flush runs none) and the peer reads its end of
/// stream. Before, `close` failed with the queue's error after the object was gone and
/// its descriptor dropped: the poll kept the socket open, nothing cancelled it again, and
/// the peer saw no end of stream until the Io was dropped (a review's finding).
#[test]
fn a_close_under_a_refused_full_queue_still_releases_the_socket() {
    if cfg!(qemu) || ring_reads_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| {
        let (mut io, s, mut peer) = refusing_full_queue_io();
        // The queue is full (the last registration's flush is refused).
        let (kept, _) = fill_submission_queue(&mut io);
        s.close(&mut io).unwrap();
        // The kernel lets go of the file when the cancelled poll's deferred work runs: in the
        // next enter that gets that far, here the next wait (the refused flush runs none).
        io.run_one_for(Duration::from_millis(1)).unwrap();
        let mut b = [0u8; 1];
        // `pair` bounds the peer's reads (10 s): a hang guard, not a measurement. The ring's
        // task work may interrupt this thread's blocking read (`EINTR`, as a read with a
        // timeout reports a signal): read again.
        let got = loop {
            match peer.read(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        assert_eq!(got.unwrap(), 0, "the peer's end of stream");
        drop(kept);
    });
}

/// A cancel racing a receive's completion, a thousand times: the peer's bytes are written
/// after the receive reached the kernel and before the stream is closed, or not at all,
/// and the close (or `cancel`, every third round) must wait for the kernel to let go of the
/// buffer. Each read completes exactly once, with the real result if the receive won (the
/// bytes the peer sent, intact) or `Cancelled`; no descriptor is left behind.
#[test]
fn a_cancel_racing_a_receive_delivers_its_real_result_or_cancelled_once() {
    if ring_reads_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| testkit::no_fd_leak(cancel_race_rounds));
}

fn cancel_race_rounds() {
    let mut io = ring_reads_io().unwrap();
    let (mut won, mut cancelled) = (0, 0);
    for round in 0..1000u32 {
        let (s, mut peer) = pair(&mut io);
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let r1 = results.clone();
        s.async_read(&mut io, vec![0u8; 16], move |_, r, buf| {
            r1.borrow_mut()
                .push(r.map(|n| buf[..n].to_vec()).map_err(|e| e.kind()))
        })
        .unwrap();
        // The receive goes to the kernel with this turn's submission.
        io.poll().unwrap();
        let sent = [round as u8; 5];
        if round % 2 == 0 {
            peer.write_all(&sent).unwrap();
        }
        // The cancel's count says which way the race went: 1 if the read was cancelled, 0
        // if its receive completed first and the read got its bytes.
        let mut counted = None;
        if round % 3 == 0 {
            counted = Some(s.cancel(&mut io).unwrap());
            s.close(&mut io).unwrap();
        } else {
            s.close(&mut io).unwrap();
        }
        let got = results.borrow().clone();
        let unread = match got.as_slice() {
            [Ok(bytes)] => {
                assert_eq!(bytes, &sent, "round {round}: the real result, intact");
                assert!(counted.is_none_or(|n| n == 0), "round {round}: {counted:?}");
                won += 1;
                false
            }
            [Err(ErrorKind::Cancelled)] => {
                assert!(counted.is_none_or(|n| n == 1), "round {round}: {counted:?}");
                cancelled += 1;
                round % 2 == 0
            }
            other => panic!("round {round}: {other:?}"),
        };
        // Nothing completes twice on later turns.
        io.poll().unwrap();
        assert_eq!(results.borrow().len(), 1, "round {round}");
        // The connection ended: a FIN, or a reset where the peer's bytes were left unread
        // (TCP resets a connection closed with data in its receive queue).
        let mut buf = [0u8; 1];
        match peer.read(&mut buf) {
            Ok(0) => {}
            Err(e) if unread && e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("round {round}: the peer read {other:?}"),
        }
    }
    println!("1000 closes racing a receive: {won} delivered the bytes, {cancelled} cancelled");
    assert!(
        cancelled >= 500,
        "every round without bytes is cancelled: {cancelled}"
    );
    io.poll().unwrap();
    assert_eq!(io.objects(), 0);
}

/// A cancel or a close racing a datagram receive's completion, a thousand times each: the
/// peer's datagram is sent after the receive reached the kernel, then the read is cancelled
/// (on one connected UDP socket) or its socket closed (a fresh pair each round). Each read
/// completes once, with the datagram if the receive won (intact) or `Cancelled`; after a
/// cancel no datagram is lost: a cancelled read's datagram is still queued for the next
/// read, and a delivered one is not there twice. (With `DEFER_TASKRUN` the receive's
/// completion work runs only when the Io enters the ring: on this kernel every cancel wins,
/// and every close, which enters the ring first to drop the socket's poll, lets the receive
/// complete and delivers its datagram.)
#[test]
fn a_cancel_racing_a_datagram_receive_loses_no_datagram() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    datagram_cancel_rounds(&mut io, false);
}

/// [`a_cancel_racing_a_datagram_receive_loses_no_datagram`] with reads that take the
/// source (a `recvmsg` in the ring, its header kept by the ring): the same outcomes, and a
/// delivered datagram comes with its sender's address.
#[test]
fn a_cancel_racing_a_receive_with_a_source_loses_no_datagram() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    datagram_cancel_rounds(&mut io, true);
}

fn datagram_cancel_rounds(io: &mut Io, source: bool) {
    let connected = || {
        let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.connect(tx.local_addr().unwrap().to_string()).unwrap();
        tx.connect(rx.local_addr().unwrap().to_string()).unwrap();
        (rx, tx)
    };
    let (rx, tx) = connected();
    let rx = PacketConn::add(io, rx).unwrap();
    let mut outcomes = [[0u32; 2]; 2];
    for round in 0..2000u32 {
        let close = round % 2 == 1;
        let (rx, tx) = if close {
            let (r, t) = connected();
            (PacketConn::add(io, r).unwrap(), t)
        } else {
            (rx, tx.try_clone().unwrap())
        };
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let r1 = results.clone();
        if source {
            let from = tx.local_addr().unwrap();
            rx.async_read_from(io, vec![0u8; 16], move |_, r, buf| {
                r1.borrow_mut().push(
                    r.map(|(n, src)| {
                        assert_eq!(src.as_socket(), Some(from), "the sender");
                        buf[..n].to_vec()
                    })
                    .map_err(|e| e.kind()),
                )
            })
            .unwrap();
        } else {
            rx.async_read(io, vec![0u8; 16], move |_, r, buf| {
                r1.borrow_mut()
                    .push(r.map(|n| buf[..n].to_vec()).map_err(|e| e.kind()))
            })
            .unwrap();
        }
        // The receive goes to the kernel with this turn's submission.
        io.poll().unwrap();
        let sent = [round as u8; 5];
        tx.send(&sent).unwrap();
        // A cancel counts the read only if it ended it (on Linux 6.1 the receive wins).
        let mut counted = None;
        if close {
            rx.close(io).unwrap();
        } else {
            counted = Some(rx.cancel(io).unwrap());
        }
        let got = results.borrow().clone();
        let mut buf = [0u8; 16];
        let won = match got.as_slice() {
            [Ok(bytes)] => {
                assert_eq!(bytes, &sent, "round {round}: the real result, intact");
                assert!(counted.is_none_or(|n| n == 0), "round {round}: {counted:?}");
                if !close {
                    let e = rx.read(io, &mut buf).unwrap_err();
                    assert!(e.is_would_block(), "round {round}: delivered once: {e}");
                }
                true
            }
            [Err(ErrorKind::Cancelled)] => {
                assert!(counted.is_none_or(|n| n == 1), "round {round}: {counted:?}");
                if !close {
                    let n = rx.read(io, &mut buf).unwrap();
                    assert_eq!(&buf[..n], &sent, "round {round}: still queued");
                }
                false
            }
            other => panic!("round {round}: {other:?}"),
        };
        outcomes[usize::from(close)][usize::from(won)] += 1;
        io.poll().unwrap();
        assert_eq!(results.borrow().len(), 1, "round {round}: completed once");
    }
    println!(
        "1000 cancels racing a datagram receive (source: {source}): {} delivered, {} cancelled; 1000 closes: {} delivered, {} cancelled",
        outcomes[0][1], outcomes[0][0], outcomes[1][1], outcomes[1][0]
    );
    rx.close(io).unwrap();
    io.poll().unwrap();
    assert_eq!(io.objects(), 0);
}

/// An exact read fed a byte at a time: each receive's partial result is kept and the rest
/// received again, until the buffer is full; then end of stream on the next read.
#[test]
fn an_exact_read_gathers_its_bytes_over_several_receives() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let (s, mut peer) = pair(&mut io);
    let got = slot();
    let g = got.clone();
    s.async_read_exact(&mut io, vec![0u8; 5], move |_, r, buf| {
        *g.borrow_mut() = Some(r.map(|n| buf[..n].to_vec()).map_err(|p| p.error.kind()))
    })
    .unwrap();
    let start = std::time::Instant::now();
    for (i, b) in b"hello".iter().enumerate() {
        let before = io.stats().sqes;
        peer.write_all(&[*b]).unwrap();
        // Until this byte's receive completed: the read received again (a new entry) or,
        // with the last byte, completed.
        while got.borrow().is_none() && io.stats().sqes == before {
            assert!(start.elapsed() < Duration::from_secs(10), "byte {i}");
            io.run_one_for(Duration::from_millis(100)).unwrap();
        }
        if i < 4 {
            assert!(
                got.borrow().is_none(),
                "byte {i}: the read waits for the rest"
            );
        }
    }
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(got.take(), Some(Ok(b"hello".to_vec())));
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let end = slot();
    let e = end.clone();
    s.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
        *e.borrow_mut() = Some(r.map_err(|e| e.kind()))
    })
    .unwrap();
    run_until(&mut io, || end.borrow().is_some());
    assert_eq!(end.take(), Some(Ok(0)));
    // Five receives for the five bytes, one for the end.
    assert!(io.stats().sqes >= 6, "{:?}", io.stats());
}

/// A datagram send that finds the peer's queue full parks; its poll is updated in place to
/// watch writability (a queued update, no syscall of its own), and when the peer drains,
/// the send completes.
#[test]
fn a_parked_datagram_send_completes_through_a_poll_update() {
    let Some(mut io) = uring_io() else { return };
    let [a, b] = sock::UnixDatagram::pair().unwrap();
    let b = std::os::unix::net::UnixDatagram::from(std::os::fd::OwnedFd::from(b));
    b.set_nonblocking(true).unwrap();
    let a = PacketConn::add(&mut io, a).unwrap();
    let sent = common::counter();
    let before = common::send_until_parked(&mut io, &a, &sent);
    let parked = io.stats();
    assert_eq!(parked.sqes - before.sqes, 1, "one poll update: {parked:?}");
    let queued = sent.get();
    common::drain_until_parked_send_completes(&mut io, &b, queued, &sent);
    // Completed: the watch is dropped again (a second update).
    assert_eq!(io.stats().sqes - before.sqes, 2, "{:?}", io.stats());
}

/// Each ring is entered through a slot of its thread's registered rings (Linux 5.18+), of
/// which a thread has 16: forty Ios alive at once on one thread all work (the rest enter by
/// descriptor), and a thread that builds and drops a hundred, one after another, keeps
/// getting working Ios (each gives its slot back when dropped).
#[test]
fn more_ios_than_registered_ring_slots_all_work() {
    if uring_io().is_none() {
        return;
    }
    let echo_once = |io: &mut Io| {
        let (s, mut peer) = pair(io);
        let got = slot();
        let g = got.clone();
        s.async_read(io, vec![0u8; 2], move |_, r, _| {
            *g.borrow_mut() = Some(r.unwrap())
        })
        .unwrap();
        peer.write_all(b"hi").unwrap();
        run_until(io, || got.borrow().is_some());
        assert_eq!(*got.borrow(), Some(2));
    };
    let mut ios: Vec<Io> = (0..40).map(|_| uring_io().unwrap()).collect();
    for io in &mut ios {
        assert_eq!(io.backend().backend(), Backend::Uring);
        echo_once(io);
    }
    drop(ios);
    for _ in 0..100 {
        let mut io = uring_io().unwrap();
        echo_once(&mut io);
    }
}

/// A batch read armed on `rx` (it parks in the kernel), then `send`; the datagrams it got
/// (bytes, cut, source) and the stats of the run, which must show no read syscall.
fn ring_batch(
    io: &mut Io,
    rx: PacketConn<sock::UdpConn>,
    batch: sonic_io::Datagrams,
    send: impl FnOnce(),
) -> (sonic_io::Result<usize>, sonic_io::Datagrams, Stats) {
    let got = slot();
    let g = got.clone();
    rx.async_read_batch(io, batch, move |_, r, b| *g.borrow_mut() = Some((r, b)))
        .unwrap();
    // The receive goes to the kernel with this turn's submission (unless the read
    // completed at once).
    io.poll().unwrap();
    let st = delta(io, |io| {
        send();
        run_until(io, || got.borrow().is_some());
    });
    let (r, b) = got.borrow_mut().take().unwrap();
    (r, b, st)
}

/// A batch read on io_uring is one multishot `recvmsg` into buffers the ring provides (as
/// many as the batch has slots), cancelled at its first datagram; every datagram that
/// lands before the cancel joins the batch, and the datagrams are copied into the batch's
/// slots: bytes, cut, source, stamp. No read syscall; two enters per batch (the wait that
/// brings the first datagram, the one that submits the cancel and brings its end), and the
/// callback runs in the turn that brought it. A burst the receive did not take whole is
/// topped up with one `recvmmsg`: queued datagrams are taken as a batch read on readiness
/// takes them, up to the slots.
#[test]
fn a_batch_read_receives_in_the_ring() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    rx.set_rx_timestamps(true).unwrap();
    let to = rx.local_addr().unwrap().to_string();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = tx.local_addr().unwrap();
    let rx = PacketConn::add(&mut io, rx).unwrap();
    let big: Vec<u8> = (0..100u8).collect();

    // One datagram, one cut datagram, stamped: the batch takes what lands.
    let (r, b, st) = ring_batch(
        &mut io,
        rx,
        sonic_io::Datagrams::with_timestamps(8, 16),
        || {
            tx.send_to(b"one", &to).unwrap();
        },
    );
    assert_eq!(r.unwrap(), 1);
    let d = b.get(0).unwrap();
    assert_eq!((d.bytes(), d.truncated()), (&b"one"[..], false));
    assert_eq!(d.from().unwrap().as_socket(), Some(from));
    // The wait that brings it and the enter that submits the receive's cancel (and brings
    // its end), in the same turn.
    assert_eq!(
        (st.reads, st.waits, st.ctl),
        (0, 1, 1),
        "received in the ring: {st:?}"
    );
    let (r, b, _) = ring_batch(&mut io, rx, b, || {
        tx.send_to(&big, &to).unwrap();
    });
    assert_eq!(r.unwrap(), 1);
    let d = b.get(0).unwrap();
    assert_eq!(
        (d.bytes(), d.truncated()),
        (&big[..16], true),
        "cut to the slot"
    );
    // The receive stamp comes in the control space. Stamps come once the kernel has turned
    // them on (from a work queue, after the first socket asks): datagrams until one is
    // stamped, for 10 s at most.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut b = b;
    loop {
        if let Some(t) = b.get(0).and_then(|d| d.timestamp()) {
            assert!(t <= sock::timestamp::Timestamp::now());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no datagram came stamped"
        );
        let (r, next, _) = ring_batch(&mut io, rx, b, || {
            tx.send_to(b"stamp", &to).unwrap();
        });
        assert_eq!(r.unwrap(), 1);
        b = next;
    }

    // Datagrams queued before the read: the ring takes as many as the batch has slots and
    // leaves the rest queued, in order, for the next reads.
    for i in 0..20u8 {
        tx.send_to(&[i; 3], &to).unwrap();
    }
    let mut seen = Vec::new();
    let mut batch = sonic_io::Datagrams::new(8, 16);
    let mut reads = 0;
    while seen.len() < 20 {
        reads += 1;
        let (r, b, st) = ring_batch(&mut io, rx, batch, || {});
        let n = r.unwrap();
        assert!(n <= 8, "{n} datagrams, {st:?}");
        seen.extend(b.iter().map(|d| d.bytes()[0]));
        batch = b;
    }
    assert_eq!(
        seen,
        (0..20u8).collect::<Vec<_>>(),
        "every datagram, in order"
    );
    assert_eq!(reads, 3, "8 slots at a time: 8, 8, 4");
    // A queued backlog larger than a multishot receive's rounds: one read takes it all, as
    // on readiness (what the receive left, topped up with a `recvmmsg`).
    for i in 0..200u32 {
        tx.send_to(&i.to_ne_bytes(), &to).unwrap();
    }
    let (r, b, st) = ring_batch(&mut io, rx, sonic_io::Datagrams::new(1024, 16), || {});
    assert_eq!(r.unwrap(), 200, "{st:?}");
    let got: Vec<u32> = b
        .iter()
        .map(|d| u32::from_ne_bytes(d.bytes().try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..200).collect::<Vec<_>>());

    // A smaller batch after a larger one that took fewer than its slots: the ring's
    // buffers are brought down to the new batch's slots (no datagram beyond them is taken).
    let (r, _, _) = ring_batch(&mut io, rx, sonic_io::Datagrams::new(8, 16), || {
        tx.send_to(b"a", &to).unwrap();
    });
    assert_eq!(r.unwrap(), 1);
    for i in 0..5u8 {
        tx.send_to(&[i], &to).unwrap();
    }
    let mut seen = Vec::new();
    let mut batch = sonic_io::Datagrams::new(2, 16);
    while seen.len() < 5 {
        let (r, b, _) = ring_batch(&mut io, rx, batch, || {});
        assert!(r.unwrap() <= 2);
        seen.extend(b.iter().map(|d| d.bytes()[0]));
        batch = b;
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    // Larger slots then, and a plain read after a batch takes the next datagram.
    tx.send_to(&[7u8; 1500], &to).unwrap();
    tx.send_to(b"next", &to).unwrap();
    let (r, b, _) = ring_batch(&mut io, rx, sonic_io::Datagrams::new(1, 2000), || {});
    assert_eq!(r.unwrap(), 1);
    assert_eq!(b.get(0).unwrap().bytes(), &[7u8; 1500][..]);
    let mut buf = [0u8; 16];
    let n = rx.read(&mut io, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"next");

    // IPv6, where the host has a loopback address for it.
    if let (Ok(rx6), Ok(tx6)) = (
        sock::UdpConn::bind("[::1]:0"),
        std::net::UdpSocket::bind("[::1]:0"),
    ) {
        let to6 = rx6.local_addr().unwrap().to_string();
        let rx6 = PacketConn::add(&mut io, rx6).unwrap();
        let (r, b, _) = ring_batch(&mut io, rx6, sonic_io::Datagrams::new(4, 64), || {
            tx6.send_to(b"six", &to6).unwrap();
        });
        assert_eq!(r.unwrap(), 1);
        let d = b.get(0).unwrap();
        assert_eq!(d.bytes(), b"six");
        assert_eq!(
            d.from().unwrap().as_socket(),
            Some(tx6.local_addr().unwrap())
        );
        rx6.close(&mut io).unwrap();
    } else {
        println!("no IPv6 loopback here: the IPv6 source is not checked");
    }

    // A connected socket's ICMP error ends the receive: the batch read fails with it, as
    // `recvmmsg` reports it.
    let lone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gone = lone.local_addr().unwrap().to_string();
    drop(lone);
    let c = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    c.connect(&gone).unwrap();
    let c = PacketConn::add(&mut io, c).unwrap();
    let got = slot();
    let g = got.clone();
    c.async_read_batch(&mut io, sonic_io::Datagrams::new(4, 64), move |_, r, _| {
        *g.borrow_mut() = Some(r)
    })
    .unwrap();
    io.poll().unwrap();
    c.write(&mut io, b"anyone?").unwrap();
    run_until(&mut io, || got.borrow().is_some());
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    c.close(&mut io).unwrap();
    rx.close(&mut io).unwrap();
}

/// A batch receive taken back (cancel, `take`, close) right after datagrams were sent,
/// with the receive in the kernel: its read completes once, with the datagrams the ring
/// received before the cancel landed (at most its slots), or `Cancelled` if none; and every datagram it did
/// not deliver is still queued on the socket, in order (after `cancel` and `take`). No
/// datagram is lost to the ring's buffers.
#[test]
fn a_cancel_racing_a_batch_receive_loses_no_datagram() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let io = &mut io;
    type Got = Vec<Result<Vec<Vec<u8>>, ErrorKind>>;
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut kept: Option<PacketConn<sock::UdpConn>> = None;
    // By how it ended (cancel, take, close): delivered, cancelled.
    let mut outcomes = [[0u32; 2]; 3];
    for round in 0..1500u32 {
        let how = (round % 3) as usize;
        let rx = match kept.take() {
            Some(rx) => rx,
            None => PacketConn::add(io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap(),
        };
        let to = rx.get(io).unwrap().local_addr().unwrap().to_string();
        let results: std::rc::Rc<std::cell::RefCell<Got>> = Default::default();
        let r1 = results.clone();
        // Two slots for up to three datagrams: a batch never takes more than its slots.
        rx.async_read_batch(io, sonic_io::Datagrams::new(2, 16), move |_, r, b| {
            r1.borrow_mut().push(
                r.map(|_| b.iter().map(|d| d.bytes().to_vec()).collect())
                    .map_err(|e| e.kind()),
            )
        })
        .unwrap();
        // The receive goes to the kernel with this turn's submission.
        io.poll().unwrap();
        let sent: Vec<Vec<u8>> = (0..1 + round % 3)
            .map(|i| vec![round as u8, i as u8])
            .collect();
        for d in &sent {
            tx.send_to(d, &to).unwrap();
        }
        let mut rest = Vec::new();
        let mut buf = [0u8; 16];
        let mut counted = None;
        match how {
            0 => {
                counted = Some(rx.cancel(io).unwrap());
                loop {
                    match rx.read(io, &mut buf) {
                        Ok(n) => rest.push(buf[..n].to_vec()),
                        Err(e) if e.is_would_block() => break,
                        Err(e) => panic!("round {round}: {e}"),
                    }
                }
                kept = Some(rx);
            }
            1 => {
                let u = rx.take(io).unwrap();
                loop {
                    match u.recv(&mut buf) {
                        Ok(n) => rest.push(buf[..n].to_vec()),
                        Err(e) if e.is_would_block() => break,
                        Err(e) => panic!("round {round}: {e}"),
                    }
                }
            }
            _ => rx.close(io).unwrap(),
        }
        let got = results.borrow().clone();
        // A cancel counts the batch only if it ended it with none taken.
        let delivered = match got.as_slice() {
            [Ok(d)] => {
                assert!(!d.is_empty(), "round {round}: a batch of none");
                assert!(counted.is_none_or(|n| n == 0), "round {round}: {counted:?}");
                d.clone()
            }
            [Err(ErrorKind::Cancelled)] => {
                assert!(counted.is_none_or(|n| n == 1), "round {round}: {counted:?}");
                Vec::new()
            }
            other => panic!("round {round}: {other:?}"),
        };
        outcomes[how][usize::from(delivered.is_empty())] += 1;
        let mut all = delivered.clone();
        all.extend(rest);
        if how < 2 {
            assert_eq!(all, sent, "round {round}: delivered, then still queued");
        } else {
            assert_eq!(all, sent[..all.len()], "round {round}: a prefix, in order");
        }
        io.poll().unwrap();
        assert_eq!(results.borrow().len(), 1, "round {round}: completed once");
    }
    println!(
        "1500 batch receives taken back (delivered, cancelled): cancel {:?}, take {:?}, close {:?}",
        outcomes[0], outcomes[1], outcomes[2]
    );
    if let Some(rx) = kept {
        rx.close(io).unwrap();
    }
    io.poll().unwrap();
    assert_eq!(io.objects(), 0);
}

/// A batch read whose first datagram arrives while the submission queue is full and the
/// kernel refuses to flush it (a seccomp filter answers `EAGAIN` to exactly that flush):
/// ending the receive must not depend on that submission (enters that submit nothing run
/// the kernel's deferred work), and the read completes with its datagram. Before, the end
/// waited 10 s for a completion the refused enter never posted, then aborted the process.
#[test]
fn a_batch_receive_ends_under_a_refused_full_queue() {
    if ring_reads_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| {
        let mut io = Io::builder()
            .backend(Backend::Uring)
            .objects(1024)
            .build()
            .unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = PacketConn::add(&mut io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap();
        let to = rx.get(&io).unwrap().local_addr().unwrap().to_string();
        let other = PacketConn::add(&mut io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap();
        let to_other = other.get(&io).unwrap().local_addr().unwrap().to_string();
        io.poll().unwrap();
        let got = slot();
        let g = got.clone();
        rx.async_read_batch(&mut io, sonic_io::Datagrams::new(4, 16), move |_, r, d| {
            *g.borrow_mut() = Some((r.map_err(|e| e.kind()), d.len()))
        })
        .unwrap();
        let filled = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let f = filled.clone();
        other
            .async_read(&mut io, vec![0u8; 16], move |io, r, _| {
                r.unwrap();
                // 256 registrations: the queue fills, and its flush is refused.
                for _ in 0..256 {
                    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                    if PacketConn::add(io, sock::UdpConn::try_from(u).unwrap()).is_ok() {
                        f.set(f.get() + 1);
                    }
                }
            })
            .unwrap();
        io.poll().unwrap();
        let when = [
            (1, testkit::ArgIs::AtLeast(256)),
            (2, testkit::ArgIs::Eq(0)),
        ];
        testkit::refuse_syscall_when(libc::SYS_io_uring_enter, &when, libc::EAGAIN).unwrap();
        // The other socket's datagram first: its callback fills the queue before the batch's
        // first completion is dispatched.
        tx.send_to(b"o", &to_other).unwrap();
        tx.send_to(b"1", &to).unwrap();
        run_until(&mut io, || got.borrow().is_some());
        assert!(filled.get() > 0, "the queue was filled");
        assert_eq!(*got.borrow(), Some((Ok(1), 1)));
    });
}

/// A socket that read a large batch in the ring gives its buffers back when it closes
/// (the Io's copy of the slots, and its provided-buffer ring), as on epoll, where the batch
/// is the program's alone: glibc's count of the bytes it holds in mappings of their own
/// (`mallinfo2().hblkhd`, where blocks this large go) drops back. Before, they stayed until
/// the Io dropped (256 MiB after a 4096 × 64 KiB batch).
#[cfg(target_env = "gnu")]
#[test]
fn a_closed_sockets_batch_buffers_are_given_back() {
    fn mapped_mib() -> i64 {
        // SAFETY: `mallinfo2` reads glibc's counters; it takes nothing and keeps nothing.
        let m = unsafe { libc::mallinfo2() };
        (m.hblkhd >> 20) as i64
    }
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap().to_string();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rx = PacketConn::add(&mut io, rx).unwrap();
    let before = mapped_mib();
    // 1024 slots of 64 KiB: 64 MiB in the batch, as much again in the ring's buffers.
    let (r, batch, _) = ring_batch(&mut io, rx, sonic_io::Datagrams::new(1024, 65536), || {
        tx.send_to(b"x", &to).unwrap();
    });
    assert_eq!(r.unwrap(), 1);
    let during = mapped_mib();
    drop(batch);
    rx.close(&mut io).unwrap();
    io.poll().unwrap();
    let after = mapped_mib();
    println!(
        "MiB in malloc's own mappings: {before} before, {during} with the batch read, {after} after the close"
    );
    assert!(during - before >= 120, "the batch and the ring's buffers");
    assert!(after - before <= 8, "both given back");
}

/// [`pair`] with a small fixed send buffer on the Io's side (64 KiB asked, which Linux
/// doubles: autotuning off), so that a write of megabytes meets a full buffer. The peer's
/// receive buffer is left to autotuning: a receive window below loopback's 64 KiB segment
/// size reopens on the 200 ms persist timer on Linux 6.1.
fn small_pair(io: &mut Io) -> (TcpStream, std::net::TcpStream) {
    let (a, b) = testkit::tcp_pair().unwrap();
    sock::opt::set_int(&a, libc::SOL_SOCKET, libc::SO_SNDBUF, 64 << 10).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (
        TcpStream::add(io, sock::TcpConn::try_from(a).unwrap()).unwrap(),
        b,
    )
}

/// The byte at offset `i` of round `round`'s write: a pattern a shifted or repeated byte
/// would break.
fn pattern(round: usize, i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 9) ^ round) as u8
}

/// A write of all its bytes that meets a full socket buffer sends the rest in the ring: one
/// `send` syscall (the try that found the buffer full), then sends in the kernel, each made
/// when room comes; the peer gets every byte, in order, and the callback its count, once.
/// The same write on epoll, for the printed comparison, makes a `send` per wake-up.
#[test]
fn a_write_that_meets_a_full_buffer_sends_in_the_ring() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let st = write_through_a_full_buffer(&mut io);
    let mut epoll = Io::builder().backend(Backend::Epoll).build().unwrap();
    let ep = write_through_a_full_buffer(&mut epoll);
    println!(
        "8 MiB through 128 KiB of send buffer: io_uring {} syscalls ({st:?}), epoll {} ({ep:?})",
        st.syscalls(),
        ep.syscalls()
    );
    assert_eq!(
        st.writes, 1,
        "one send syscall, the rest in the ring: {st:?}"
    );
    assert!(st.sqes >= 2, "sends in the ring: {st:?}");
    // Each wake-up is a send's completion: no write-space edge beside it.
    assert!(st.events <= st.sqes, "{st:?}");
    // The next write tries its syscall at once: the last send found room.
    let (s, _peer) = small_pair(&mut io);
    let st = delta(&mut io, |io| {
        s.async_write(io, b"tail", move |_, r, _| assert_eq!(r.unwrap(), 4))
            .unwrap();
    });
    assert_eq!((st.writes, st.immediate), (1, 1), "{st:?}");
    s.close(&mut io).unwrap();
}

/// Writes 8 MiB to a peer thread through a [`small_pair`], checks what the peer got and
/// the callback's count; the Io's counters over the write.
fn write_through_a_full_buffer(io: &mut Io) -> Stats {
    let (s, mut peer) = small_pair(io);
    let len = 8 << 20;
    let data: Vec<u8> = (0..len).map(|i| pattern(0, i)).collect();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; len];
        peer.read_exact(&mut got).unwrap();
        got
    });
    let done = slot();
    let d = done.clone();
    let st = delta(io, |io| {
        s.async_write_all(io, data.clone(), move |_, r, _| {
            assert!(d.borrow_mut().replace(r).is_none(), "completed twice");
        })
        .unwrap();
        run_until(io, || done.borrow().is_some());
    });
    assert_eq!(done.borrow_mut().take().unwrap().unwrap(), len);
    assert!(
        reader.join().unwrap() == data,
        "the peer got the bytes in order"
    );
    s.close(io).unwrap();
    st
}

/// A cancel, a close or a `take` racing a send in the kernel, 300 rounds of a 256 KiB (or
/// 40 KiB) write on a Unix stream with 32 KiB of send buffer: the peer reads a varying amount (so that room comes, or
/// not, and the kernel's send completes or not, before the cancel), then the write is taken
/// back. Each write completes once, and the count it reports (its result, or `done` in its
/// `Cancelled` error) is exactly what the peer receives before the end of stream, every
/// byte in order.
#[test]
fn a_cancel_racing_a_send_reports_exactly_what_was_sent() {
    if ring_reads_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| testkit::no_fd_leak(send_cancel_rounds));
}

fn send_cancel_rounds() {
    let mut io = ring_reads_io().unwrap();
    let (mut whole, mut cut) = (0, 0);
    for round in 0..300usize {
        // Every fifth write short enough that the peer's reads let it finish.
        let len = if round % 5 == 4 { 40 << 10 } else { 256 << 10 };
        // A Unix stream: TCP on loopback (a 64 KiB segment size) lets a small receive
        // window reopen only on its 200 ms persist timer, where a Unix stream's writer is
        // woken by each read.
        let (a, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        sock::opt::set_int(&a, libc::SOL_SOCKET, libc::SO_SNDBUF, 16 << 10).unwrap();
        let s = sonic_io::UnixStream::add(&mut io, sock::UnixConn::try_from(a).unwrap()).unwrap();
        let data: Vec<u8> = (0..len).map(|i| pattern(round, i)).collect();
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let r1 = results.clone();
        s.async_write_all(&mut io, data, move |_, r, _| {
            r1.borrow_mut()
                .push(r.map_err(|p| (p.error.kind(), p.done)))
        })
        .unwrap();
        // The send goes to the kernel with this turn's submission.
        io.poll().unwrap();
        // Room for the kernel's send, or none: 0 to 96 KiB read, the Io driven whenever the
        // peer finds nothing (the kernel's send runs when the Io enters the ring).
        let room = ((round * 7919) % (96 << 10)).min(len);
        let mut got = Vec::with_capacity(len);
        let mut buf = vec![0u8; 64 << 10];
        peer.set_nonblocking(true).unwrap();
        let start = std::time::Instant::now();
        while got.len() < room {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "round {round}: stuck"
            );
            let want = (room - got.len()).min(buf.len());
            match peer.read(&mut buf[..want]) {
                Ok(n) => {
                    assert!(n > 0, "round {round}: an early end");
                    got.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    io.run_one_for(Duration::from_millis(5)).unwrap();
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        peer.set_nonblocking(false).unwrap();
        if round % 2 == 1 {
            io.poll().unwrap();
        }
        let mut counted = None;
        let reported = match round % 3 {
            0 => {
                counted = Some(s.cancel(&mut io).unwrap());
                s.close(&mut io).unwrap();
                results.borrow().clone()
            }
            1 => {
                s.close(&mut io).unwrap();
                results.borrow().clone()
            }
            _ => {
                let conn = s.take(&mut io).unwrap();
                let r = results.borrow().clone();
                drop(conn);
                r
            }
        };
        // The cancel counts the write only if it ended it.
        let sent = match reported.as_slice() {
            [Ok(n)] => {
                assert!(counted.is_none_or(|c| c == 0), "round {round}: {counted:?}");
                whole += 1;
                *n
            }
            [Err((sonic_io::ErrorKind::Cancelled, done))] => {
                assert!(counted.is_none_or(|c| c == 1), "round {round}: {counted:?}");
                cut += 1;
                *done
            }
            other => panic!("round {round}: {other:?}"),
        };
        // Nothing completes twice on later turns.
        io.poll().unwrap();
        assert_eq!(results.borrow().len(), 1, "round {round}");
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(
            got.len(),
            sent,
            "round {round}: the count is what the peer got"
        );
        assert!(
            got.iter().enumerate().all(|(i, &b)| b == pattern(round, i)),
            "round {round}: the bytes in order"
        );
    }
    println!("300 cancels racing a send: {whole} sent everything, {cut} cancelled after part");
    io.poll().unwrap();
    assert_eq!(io.objects(), 0);
}

/// A peer that resets the connection while a send waits in the kernel for room: the write
/// completes once, with the reset and the count of what went before.
#[test]
fn a_reset_with_a_send_in_the_ring_completes_the_write_with_the_error() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    for round in 0..20 {
        let (s, peer) = small_pair(&mut io);
        let done = slot();
        let d = done.clone();
        s.async_write_all(&mut io, vec![round as u8; 8 << 20], move |_, r, _| {
            assert!(d.borrow_mut().replace(r).is_none(), "completed twice");
        })
        .unwrap();
        io.poll().unwrap();
        // SO_LINGER 0: the close sends a reset.
        sock::opt::set_linger(&peer, Some(Duration::ZERO)).unwrap();
        drop(peer);
        run_until(&mut io, || done.borrow().is_some());
        let p = done.borrow_mut().take().unwrap().unwrap_err();
        // ECONNRESET, or the EPIPE of a send after the reset.
        assert_eq!(
            p.error.kind(),
            ErrorKind::ConnectionReset,
            "round {round}: {p}"
        );
        assert!(p.done > 0 && p.done < 8 << 20, "round {round}: {p}");
        s.close(&mut io).unwrap();
    }
}

/// A send's completion reaped by the wait and not yet dispatched when a callback of the same
/// turn cancels its write: the cancel takes the completion's count, so the write reports
/// every byte that went. Each round a read on another stream completes in the same wait,
/// ahead of the send (its peer wrote first), and its callback closes the writing stream.
#[test]
fn a_cancel_meets_a_send_completion_the_turn_has_not_dispatched() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let mut counted = 0;
    for round in 0..100usize {
        let (a, mut peer_a) = std::os::unix::net::UnixStream::pair().unwrap();
        let (b, mut peer_b) = std::os::unix::net::UnixStream::pair().unwrap();
        sock::opt::set_int(&b, libc::SOL_SOCKET, libc::SO_SNDBUF, 16 << 10).unwrap();
        let a = sonic_io::UnixStream::add(&mut io, sock::UnixConn::try_from(a).unwrap()).unwrap();
        let b = sonic_io::UnixStream::add(&mut io, sock::UnixConn::try_from(b).unwrap()).unwrap();
        let len = 256 << 10;
        let wrote = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let w = wrote.clone();
        b.async_write_all(
            &mut io,
            (0..len).map(|i| pattern(round, i)).collect::<Vec<u8>>(),
            move |_, r, _| w.borrow_mut().push(r.map_err(|p| (p.error.kind(), p.done))),
        )
        .unwrap();
        let read = slot();
        let rd = read.clone();
        a.async_read(&mut io, vec![0u8; 8], move |io, r, _| {
            *rd.borrow_mut() = Some(r.unwrap());
            b.close(io).unwrap();
        })
        .unwrap();
        // Both go to the kernel.
        io.poll().unwrap();
        // The read's peer writes first, then the writer's peer drains what arrived: both
        // wake in the kernel, the read first, and one wait completes both.
        peer_a.write_all(b"x").unwrap();
        peer_b.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = peer_b.read(&mut buf) {
            assert!(n > 0, "round {round}");
            got.extend_from_slice(&buf[..n]);
        }
        let before = got.len();
        peer_b.set_nonblocking(false).unwrap();
        peer_b
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        run_until(&mut io, || read.borrow().is_some());
        let sent = match wrote.borrow().as_slice() {
            [Err((ErrorKind::Cancelled, done))] => *done,
            other => panic!("round {round}: {other:?}"),
        };
        peer_b.read_to_end(&mut got).unwrap();
        assert_eq!(
            got.len(),
            sent,
            "round {round}: the count is what the peer got"
        );
        assert!(
            got.iter().enumerate().all(|(i, &x)| x == pattern(round, i)),
            "round {round}: the bytes in order"
        );
        if sent > before + (16 << 10) {
            counted += 1;
        }
        a.close(&mut io).unwrap();
    }
    println!("100 rounds: {counted} counted a send that completed in the turn of the cancel");
}

/// A read whose receive's completion the wait reaped and the turn has not dispatched, when a
/// callback of the same turn cancels it: the read gets its bytes, once, and the cancel
/// counts nothing (a new user's deadline code read `cancel_read() == 1` as "timed out, the
/// bytes still queued" while the callback had them). Each round one wait completes two
/// reads, the other stream's first (its peer wrote first), and that read's callback
/// cancels this one.
#[test]
fn a_cancel_that_meets_its_reads_completion_counts_nothing() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let mut met = 0;
    for round in 0..100u8 {
        let (a, mut peer_a) = pair(&mut io);
        let (b, mut peer_b) = pair(&mut io);
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let g = got.clone();
        b.async_read(&mut io, vec![0u8; 8], move |_, r, buf| {
            g.borrow_mut()
                .push(r.map(|n| buf[..n].to_vec()).map_err(|e| e.kind()))
        })
        .unwrap();
        let counted = slot();
        let c = counted.clone();
        a.async_read(&mut io, vec![0u8; 8], move |io, r, _| {
            assert_eq!(r.unwrap(), 1);
            *c.borrow_mut() = Some(b.cancel_read(io).unwrap());
        })
        .unwrap();
        // Both receives go to the kernel; a's peer writes first, then b's.
        io.poll().unwrap();
        peer_a.write_all(b"a").unwrap();
        peer_b.write_all(&[round; 3]).unwrap();
        run_until(&mut io, || counted.borrow().is_some());
        let n = counted.borrow_mut().take().unwrap();
        match got.borrow().as_slice() {
            [Ok(bytes)] => {
                assert_eq!(bytes, &[round; 3], "round {round}");
                assert_eq!(n, 0, "round {round}: the read was not cancelled");
                met += 1;
            }
            [Err(ErrorKind::Cancelled)] => assert_eq!(n, 1, "round {round}"),
            other => panic!("round {round}: {other:?}"),
        }
        io.poll().unwrap();
        assert_eq!(got.borrow().len(), 1, "round {round}: once");
        a.close(&mut io).unwrap();
        b.close(&mut io).unwrap();
    }
    println!("100 rounds: {met} cancels met the read's completion in the turn");
    assert!(met > 0, "the race this test is for never happened");
}

/// A stream write that meets a full buffer while the kernel refuses the full submission
/// queue (the seccomp harness above): its send cannot be queued and neither can the poll
/// update that would watch the stream for room, yet the write waits for room, as it did
/// when every stream's poll watched for room, and sends all 8 MiB. (A reviewer's finding:
/// the write failed at once with `NoBufferSpace` after 32 KiB.)
#[test]
fn a_write_that_meets_a_full_buffer_under_a_refused_full_queue_waits_for_room() {
    if cfg!(qemu) || ring_reads_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| {
        let (mut io, s, mut peer) = refusing_full_queue_io();
        let (kept, _refused) = fill_submission_queue(&mut io);
        let len = 8 << 20;
        let done = slot();
        let d = done.clone();
        s.async_write_all(&mut io, vec![7u8; len], move |_, r, _| {
            *d.borrow_mut() = Some(r.map_err(|p| (p.error.kind(), p.done)))
        })
        .unwrap();
        assert!(done.borrow().is_none(), "{:?}", done.borrow());
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; len];
            peer.read_exact(&mut got).unwrap();
            got.iter().all(|&b| b == 7)
        });
        run_until(&mut io, || done.borrow().is_some());
        assert_eq!(done.borrow_mut().take().unwrap(), Ok(len));
        assert!(reader.join().unwrap());
        s.close(&mut io).unwrap();
        drop(kept);
    });
}

/// A FIFO write parked on readiness (it asked for write-space edges) and then cancelled:
/// the edges stop with it, so a later write through a full buffer wakes the wait once per
/// send, as on a fresh stream. (A reviewer's finding: 126 events for 64 sends after the
/// cancel, against 64.)
#[test]
fn a_cancelled_write_that_waited_for_room_leaves_no_write_watch() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let (s, mut peer) = small_pair(&mut io);
    let mut fifo = sonic_bytes::ByteBuffer::new();
    let big = vec![1u8; 16 << 20];
    fifo.claim(big.len()).copy_from_slice(&big);
    fifo.commit(big.len());
    let done = slot();
    let d = done.clone();
    s.async_write_from(&mut io, fifo, move |_, r, _| {
        *d.borrow_mut() = Some(r.map_err(|p| (p.error.kind(), p.done)))
    })
    .unwrap();
    io.poll().unwrap();
    assert_eq!(s.cancel_write(&mut io).unwrap(), 1);
    let Some(Err((ErrorKind::Cancelled, sent))) = done.borrow_mut().take() else {
        panic!("the FIFO write was not cancelled")
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    while got < sent {
        got += peer.read(&mut buf).unwrap();
    }
    let len = 8 << 20;
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; len];
        peer.read_exact(&mut got).unwrap();
    });
    let wrote = slot();
    let w = wrote.clone();
    let st = delta(&mut io, |io| {
        s.async_write_all(io, vec![2u8; len], move |_, r, _| {
            *w.borrow_mut() = Some(r.unwrap())
        })
        .unwrap();
        run_until(io, || wrote.borrow().is_some());
    });
    reader.join().unwrap();
    assert_eq!(wrote.borrow_mut().take(), Some(len));
    // One wake-up per send, and a few edges the poll posted before the cancel's update
    // reached the kernel (with the watch left on: one more per send).
    assert!(st.events < st.sqes + 8, "one wake-up per send: {st:?}");
    s.close(&mut io).unwrap();
}

/// A dial connects in the ring where reads complete there: the unconnected socket and its
/// address go to the kernel with the next wait (`IORING_OP_CONNECT`), and the connect's
/// completion is the dial's result, with no `connect`, `getsockopt(SO_ERROR)` or
/// `getpeername` syscall of the Io's (epoll reads `SO_ERROR` and the peer's name after the
/// `connect`). TCP and Unix; the streams carry bytes both ways; a TCP dial to a port nobody
/// listens on and a Unix dial to a path nobody binds get their errors.
#[test]
fn a_dial_connects_in_the_ring() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let mut epoll = Io::builder().backend(Backend::Epoll).build().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (st, s) = dial_tcp(&mut io, addr);
    let (ep, e) = dial_tcp(&mut epoll, addr);
    println!("a TCP dial: io_uring {st:?}, epoll {ep:?}");
    assert_eq!(
        (st.reads, st.writes),
        (0, 0),
        "no syscall of its own: {st:?}"
    );
    assert!(st.sqes >= 1, "the connect went to the ring: {st:?}");
    assert!(ep.reads >= 1, "epoll reads SO_ERROR: {ep:?}");
    for (io, s) in [(&mut io, s), (&mut epoll, e)] {
        let (mut peer, _) = listener.accept().unwrap();
        echo_once(io, s, &mut peer);
    }

    // Refused: nobody listens on a port just freed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let res = slot();
    let r = res.clone();
    TcpStream::dial(&mut io, closed, move |_, x| {
        *r.borrow_mut() = Some(x.map(|_| ()))
    })
    .unwrap();
    run_until(&mut io, || res.borrow().is_some());
    let err = res.take().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

    // Unix: a path that is bound and listened on, then one that is not.
    let dir = std::env::temp_dir().join(format!("sonic-io-dial-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let ul = std::os::unix::net::UnixListener::bind(&dir).unwrap();
    let path = dir.to_str().unwrap().to_string();
    let res = slot();
    let r = res.clone();
    let st = delta(&mut io, |io| {
        sonic_io::UnixStream::dial(io, path.as_str(), move |_, x| *r.borrow_mut() = Some(x))
            .unwrap();
        run_until(io, || res.borrow().is_some());
    });
    assert_eq!(
        (st.reads, st.writes),
        (0, 0),
        "no syscall of its own: {st:?}"
    );
    let s = res.take().unwrap().unwrap();
    let (mut peer, _) = ul.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let wrote = slot();
    let w = wrote.clone();
    s.async_write_all(&mut io, b"unix".to_vec(), move |_, r, _| {
        *w.borrow_mut() = Some(r.map_err(|e| e.error.kind()))
    })
    .unwrap();
    run_until(&mut io, || wrote.borrow().is_some());
    assert_eq!(wrote.take().unwrap(), Ok(4));
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"unix");
    s.close(&mut io).unwrap();
    drop(ul);
    std::fs::remove_file(&dir).unwrap();
    let res = slot();
    let r = res.clone();
    sonic_io::UnixStream::dial(&mut io, path.as_str(), move |_, x| {
        *r.borrow_mut() = Some(x.map(|_| ()))
    })
    .unwrap();
    run_until(&mut io, || res.borrow().is_some());
    let err = res.take().unwrap().unwrap_err();
    assert_eq!(err.errno(), Some(zcall::Errno::ENOENT), "{err}");
    assert_eq!(err.kind(), sonic_io::ErrorKind::NotFound, "{err}");
    io.poll().unwrap();
    assert_eq!(io.objects(), 0, "the failed dials' sockets are closed");
}

/// Dials `addr` in `io`; the Io's counters over the dial, and the stream.
fn dial_tcp(io: &mut Io, addr: std::net::SocketAddr) -> (Stats, TcpStream) {
    let res = slot();
    let r = res.clone();
    let st = delta(io, |io| {
        TcpStream::dial(io, addr, move |_, x| *r.borrow_mut() = Some(x)).unwrap();
        run_until(io, || res.borrow().is_some());
    });
    (st, res.take().unwrap().unwrap())
}

/// One message each way between `s` in `io` and its accepted `peer`; closes `s`.
fn echo_once(io: &mut Io, s: TcpStream, peer: &mut std::net::TcpStream) {
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    s.async_write_all(io, b"ping".to_vec(), |_, r, _| assert_eq!(r.unwrap(), 4))
        .unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    peer.write_all(b"pong").unwrap();
    let read = slot();
    let r = read.clone();
    s.async_read_exact(io, vec![0u8; 4], move |_, x, buf| {
        *r.borrow_mut() = Some(x.map(|_| buf))
    })
    .unwrap();
    run_until(io, || read.borrow().is_some());
    assert_eq!(read.take().unwrap().unwrap(), b"pong");
    s.close(io).unwrap();
}

/// A dial's timeout, or the Io's close, racing its connect in the ring, 300 rounds each:
/// the timeout (0 to 49 µs) fires before the connect is submitted, or in the turn it
/// completes in, or after; the close comes before the connect reached the kernel, or after
/// one turn. Each dial completes exactly once, connected or with the timeout's `TimedOut`
/// (the close's `Cancelled`), a connected stream works, and no descriptor is left behind.
/// On loopback the kernel completes a connect as it is submitted, and taking back a
/// connect not yet submitted submits it first (as a send's), so these mostly connect, as
/// epoll's dials do (there the `connect` is made before the timer exists); a connect that
/// waits in the kernel is taken back in `tests/dial.rs`
/// (`closing_the_io_ends_the_dials_in_flight_once`, and the blackhole timeout).
#[test]
fn a_dial_racing_its_timeout_or_a_close_completes_once() {
    if ring_reads_io().is_none() {
        return;
    }
    testkit::in_subprocess(|| testkit::no_fd_leak(dial_race_rounds));
}

fn dial_race_rounds() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let drain = || while listener.accept().is_ok() {};
    let mut io = ring_reads_io().unwrap();
    let (mut connected, mut timed_out) = (0, 0);
    for round in 0..300u64 {
        let dialer = sock::TcpDialer {
            timeout: Some(Duration::from_micros(round % 50)),
            ..Default::default()
        };
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let r = results.clone();
        TcpStream::dial_with(&mut io, &dialer, addr, move |_, x| r.borrow_mut().push(x)).unwrap();
        run_until(&mut io, || !results.borrow().is_empty());
        io.poll().unwrap();
        let got = std::mem::take(&mut *results.borrow_mut());
        match <[_; 1]>::try_from(got) {
            Ok([Ok(s)]) => {
                connected += 1;
                let done = slot();
                let d = done.clone();
                s.async_write_all(&mut io, vec![1u8; 3], move |_, r, _| {
                    *d.borrow_mut() = Some(r.map_err(|e| e.error.kind()))
                })
                .unwrap();
                run_until(&mut io, || done.borrow().is_some());
                assert_eq!(done.take().unwrap(), Ok(3), "round {round}");
                s.close(&mut io).unwrap();
            }
            Ok([Err(e)]) => {
                assert_eq!(e.kind(), ErrorKind::TimedOut, "round {round}: {e}");
                timed_out += 1;
            }
            Err(got) => panic!("round {round}: {} completions", got.len()),
        }
        assert_eq!(io.objects(), 0, "round {round}");
        drain();
    }
    println!("300 dials racing their timeout: {connected} connected, {timed_out} timed out");
    let (mut connected, mut cancelled) = (0, 0);
    for round in 0..300u32 {
        let mut io = ring_reads_io().unwrap();
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let r = results.clone();
        TcpStream::dial(&mut io, addr, move |io, x| {
            // A stream handed over is alive: one whose connect completed as the Io's close
            // took it back reports `Cancelled` (the close ends every object).
            if let Ok(s) = &x {
                assert!(
                    !io.closed(),
                    "round {round}: a connected stream as the Io closes"
                );
                s.close(io).unwrap();
            }
            r.borrow_mut().push(x.map(|_| ()).map_err(|e| e.kind()))
        })
        .unwrap();
        if round % 2 == 1 {
            io.poll().unwrap();
        }
        io.close().unwrap();
        let got = results.borrow().clone();
        match got.as_slice() {
            [Ok(())] => connected += 1,
            [Err(ErrorKind::Cancelled)] => cancelled += 1,
            other => panic!("round {round}: {other:?}"),
        }
        drain();
    }
    println!("300 dials racing the Io's close: {connected} connected, {cancelled} cancelled");
}

/// A dialer whose timeout is due at the next turn's start, before that turn's wait.
fn zero_timeout() -> sock::TcpDialer {
    sock::TcpDialer {
        timeout: Some(Duration::ZERO),
        ..Default::default()
    }
}

/// Dials `addr`, closes the Io in the same turn, and returns what the dial's callback got.
fn dial_then_close(io: &mut Io, addr: std::net::SocketAddr) -> Result<(), ErrorKind> {
    let res = slot();
    let r = res.clone();
    TcpStream::dial(io, addr, move |_, x| {
        *r.borrow_mut() = Some(x.map(|_| ()).map_err(|e| e.kind()))
    })
    .unwrap();
    io.close().unwrap();
    res.take().expect("the close completes the dial")
}

/// The SYNs this private namespace has sent so far (the kernel's `ActiveOpens`): the referee
/// of the given-up dial tests, which run alone in a namespace of their own.
fn syns() -> u64 {
    testkit::tcp_active_opens().unwrap()
}

/// A dial given up before its connect reached the kernel sends nothing: its timeout due at
/// the next turn's start (a zero timeout), or the Io closed with the dial just made. The
/// connect waits on the poller's side for the wait, and is dropped there: the kernel counts
/// no SYN. Before, taking the connect back submitted it first and then cancelled it: on
/// loopback the handshake completed at once (the zero-timeout dial connected), and the
/// dial's close reset it (a review's finding: a SYN then a reset, for a dial given up).
#[test]
fn a_dial_given_up_before_its_connect_is_submitted_sends_nothing() {
    if ring_reads_io().is_none() {
        return;
    }
    testkit::in_netns(|_| {
        let mut io = ring_reads_io().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let before = syns();
        let res = slot();
        let r = res.clone();
        TcpStream::dial_with(&mut io, &zero_timeout(), addr, move |_, x| {
            *r.borrow_mut() = Some(x.map(|_| ()).map_err(|e| e.kind()))
        })
        .unwrap();
        run_until(&mut io, || res.borrow().is_some());
        assert_eq!(res.take().unwrap(), Err(ErrorKind::TimedOut));
        assert_eq!(io.objects(), 0);

        assert_eq!(dial_then_close(&mut io, addr), Err(ErrorKind::Cancelled));
        assert_eq!(syns(), before, "a dial given up sent a SYN");
    });
}

/// A dial given up before its turn's wait sends nothing even when something else enters the
/// ring first in that turn (both from a review of the first fix, which withdrew the connect
/// from the submission queue: any other enter submitted it). The Io's close with a receive
/// in the kernel, whose take-back comes first; three zero-timeout dials, the first of which
/// is removed (its deregistration enters the ring) before the others' timeouts. Connects
/// now wait on the poller's side until the wait queues them. The pair's own connect shows
/// that the count counts.
#[test]
fn a_dial_given_up_sends_nothing_when_the_turn_enters_the_ring_for_another() {
    if ring_reads_io().is_none() {
        return;
    }
    testkit::in_netns(|_| {
        let mut io = ring_reads_io().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let before = syns();
        let (s, _peer) = pair(&mut io);
        assert_eq!(syns(), before + 1, "the pair's connect is one SYN");
        s.async_read(&mut io, vec![0u8; 8], |_, _, _| {}).unwrap();
        // The receive reaches the kernel.
        io.poll().unwrap();
        assert_eq!(dial_then_close(&mut io, addr), Err(ErrorKind::Cancelled));
        assert_eq!(syns(), before + 1, "the close sent the dial's SYN");

        let mut io = ring_reads_io().unwrap();
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for _ in 0..3 {
            let r = results.clone();
            TcpStream::dial_with(&mut io, &zero_timeout(), addr, move |_, x| {
                r.borrow_mut().push(x.map(|_| ()).map_err(|e| e.kind()))
            })
            .unwrap();
        }
        run_until(&mut io, || results.borrow().len() == 3);
        assert_eq!(
            *results.borrow(),
            vec![Err(ErrorKind::TimedOut); 3],
            "a zero-timeout dial connected"
        );
        assert_eq!(io.objects(), 0);
        assert_eq!(syns(), before + 1, "a dial given up sent its SYN");
    });
}

/// Dials whose connects completed in the turn in which a callback closes the Io, before
/// their own completions are dispatched: the close takes each connect back, finds it done,
/// and the dial reports `Cancelled` (the close ends its socket with every other object),
/// never a stream that is already closed. Four dials go to the kernel with one wait; the
/// first to complete closes the Io from its callback, so the other three end in that close
/// whatever order the kernel completes them in.
#[test]
fn a_dial_connected_as_the_io_closes_reports_cancelled() {
    if ring_reads_io().is_none() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    for round in 0..50 {
        let mut io = ring_reads_io().unwrap();
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for _ in 0..4 {
            let r = results.clone();
            TcpStream::dial(&mut io, addr, move |io, x| {
                r.borrow_mut()
                    .push(x.as_ref().map(|_| ()).map_err(|e| e.kind()));
                if let Ok(s) = x {
                    assert!(
                        !io.closed(),
                        "round {round}: a stream handed over as the Io closes"
                    );
                    s.close(io).unwrap();
                    io.close().unwrap();
                }
            })
            .unwrap();
        }
        run_until(&mut io, || results.borrow().len() == 4);
        assert_eq!(
            *results.borrow(),
            [
                Ok(()),
                Err(ErrorKind::Cancelled),
                Err(ErrorKind::Cancelled),
                Err(ErrorKind::Cancelled)
            ],
            "round {round}"
        );
        while listener.accept().is_ok() {}
    }
}

/// A Unix dial to a listener whose backlog is full fails at once with `WouldBlock`, on
/// io_uring as on epoll: the kernel's connect completes with `EAGAIN`, which leaves no
/// connect going (a review found the ring's dial taking it for "in progress" and waiting
/// for ever).
#[test]
fn a_unix_dial_to_a_full_backlog_fails_as_on_epoll() {
    if ring_reads_io().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sonic-io-backlog-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let ul = std::os::unix::net::UnixListener::bind(&dir).unwrap();
    // Backlog 0: one queued connection fills it.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&ul);
    // SAFETY: listen(2) on a listening socket the test owns.
    let r = unsafe { libc::listen(fd, 0) };
    assert_eq!(r, 0);
    let path = dir.to_str().unwrap().to_string();
    let _queued = sock::UnixConn::connect(path.as_str()).unwrap();
    for backend in [Backend::Epoll, Backend::Uring] {
        let mut io = Io::builder().backend(backend).build().unwrap();
        let res = slot();
        let r = res.clone();
        sonic_io::UnixStream::dial(&mut io, path.as_str(), move |_, x| {
            *r.borrow_mut() = Some(x.map(|_| ()).map_err(|e| e.kind()))
        })
        .unwrap();
        run_until(&mut io, || res.borrow().is_some());
        assert_eq!(
            res.take().unwrap(),
            Err(ErrorKind::WouldBlock),
            "{backend:?}"
        );
        io.poll().unwrap();
        assert_eq!(io.objects(), 0, "{backend:?}: the socket is closed");
    }
    std::fs::remove_file(&dir).unwrap();
}

/// A stream dialed in the ring reads as one added connected: its poll, armed before its
/// connect, saw the unconnected socket's `POLLHUP`, and the stream stayed marked hung up,
/// so each read made a syscall before it parked in the ring (10 for 10 reads, where a
/// stream added connected makes 1; a review's test). The connect's completion voids it.
#[test]
fn a_stream_dialed_in_the_ring_reads_as_one_added() {
    let Some(mut io) = ring_reads_io() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("sonic-io-dialed-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let ul = std::os::unix::net::UnixListener::bind(&dir).unwrap();
    let res = slot();
    let r = res.clone();
    sonic_io::UnixStream::dial(&mut io, dir.to_str().unwrap(), move |_, x| {
        *r.borrow_mut() = Some(x)
    })
    .unwrap();
    run_until(&mut io, || res.borrow().is_some());
    let dialed = res.take().unwrap().unwrap();
    let (dialed_peer, _) = ul.accept().unwrap();
    let [a, added_peer] = sock::UnixConn::pair().unwrap();
    let added = sonic_io::UnixStream::add(&mut io, a).unwrap();
    io.poll().unwrap();
    let mut peers: [Box<dyn FnMut()>; 2] = [
        Box::new(move || (&dialed_peer).write_all(b"x").unwrap()),
        Box::new(move || {
            added_peer.write_all(b"x").unwrap();
        }),
    ];
    let mut reads = Vec::new();
    for (s, peer) in [dialed, added].into_iter().zip(peers.iter_mut()) {
        let st = delta(&mut io, |io| {
            for _ in 0..10 {
                let got = slot();
                let g = got.clone();
                s.async_read(io, vec![0u8; 16], move |_, x, _| {
                    *g.borrow_mut() = Some(x.map_err(|e| e.kind()))
                })
                .unwrap();
                io.poll().unwrap();
                peer();
                run_until(io, || got.borrow().is_some());
                assert_eq!(got.take().unwrap(), Ok(1));
            }
        });
        reads.push(st.reads);
        s.close(&mut io).unwrap();
    }
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(
        reads[0], reads[1],
        "read syscalls for 10 reads: dialed {}, added {}",
        reads[0], reads[1]
    );
}
