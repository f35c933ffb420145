//! `CodecConn::write_gather` against a model: whatever mix of encoded items and gathered
//! parts is written, with the socket taking all, part or none of each write (a small send
//! buffer) and the peer (a kernel socket read by std) reading at its own pace, the peer
//! receives every byte in order; and a gathered write with nothing buffered is one syscall.

mod common;
use common::BOUND;

use std::io::{ErrorKind as IoKind, Read};
use std::time::Instant;

use proptest::prelude::*;
use sonic_io::codec::{CodecConn, Frame};
use sonic_io::{Io, TcpStream, UnixStream};
use std::os::unix::net::UnixStream as StdUnix;

/// A Unix stream in `io` with a small send buffer, so writes are often taken in part or
/// not at all, and its peer: a non-blocking std socket. (A Unix pair rather than TCP:
/// TCP's window updates on a small receive buffer wait for delayed ACKs, and the test
/// would mostly sleep.)
fn small_pair(io: &mut Io) -> (UnixStream, StdUnix) {
    let (a, b) = StdUnix::pair().unwrap();
    sock::opt::set_send_buffer_size(&a, 8 << 10).unwrap();
    b.set_nonblocking(true).unwrap();
    let a = sock::UnixConn::try_from(a).unwrap();
    (UnixStream::add(io, a).unwrap(), b)
}

/// Reads what the peer has, up to `max` bytes, into `got`.
fn peer_reads(peer: &mut impl Read, got: &mut Vec<u8>, max: usize) {
    let mut buf = [0u8; 16 << 10];
    let mut left = max;
    while left > 0 {
        let n = left.min(buf.len());
        match peer.read(&mut buf[..n]) {
            Ok(0) => panic!("the peer saw an end of stream"),
            Ok(k) => {
                got.extend_from_slice(&buf[..k]);
                left -= k;
            }
            Err(e) if e.kind() == IoKind::WouldBlock => return,
            Err(e) => panic!("peer read: {e}"),
        }
    }
}

/// Frame `i` of `n` payload bytes, as the `Frame` codec encodes it (4-byte length first).
fn frame(i: usize, n: usize) -> Vec<u8> {
    let mut f = (n as u32).to_be_bytes().to_vec();
    f.extend((0..n).map(|k| ((i * 31 + k) % 251) as u8));
    f
}

#[derive(Clone, Debug)]
enum Step {
    /// `write_next` of an `n`-byte payload (encoded into the buffer).
    Item(usize),
    /// `write_gather` of an `n`-byte frame, its bytes split between the two parts after
    /// `cut` quarters of the payload (0: header alone in the first part).
    Gather(usize, usize),
    /// The peer reads up to this many bytes.
    PeerReads(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..20_000).prop_map(Step::Item),
        (0usize..40_000, 0usize..=4).prop_map(|(n, c)| Step::Gather(n, c)),
        (1usize..50_000).prop_map(Step::PeerReads),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn gathered_and_encoded_writes_reach_the_peer_whole_and_in_order(
        steps in proptest::collection::vec(step(), 1..24)
    ) {
        let mut io = Io::new().unwrap();
        let (s, mut peer) = small_pair(&mut io);
        let mut cc = CodecConn::new(s, Frame::with_limit(1 << 20));
        let mut expected = Vec::new();
        let mut got = Vec::new();
        for (i, st) in steps.iter().enumerate() {
            match *st {
                Step::Item(n) => {
                    let f = frame(i, n);
                    cc.write_next(&mut io, &f[4..]).unwrap();
                    expected.extend_from_slice(&f);
                }
                Step::Gather(n, cut) => {
                    let f = frame(i, n);
                    let at = 4 + n * cut / 4;
                    let left = cc.write_gather(&mut io, [&f[..at], &f[at..]]).unwrap();
                    prop_assert_eq!(left, cc.unsent());
                    expected.extend_from_slice(&f);
                }
                Step::PeerReads(max) => peer_reads(&mut peer, &mut got, max),
            }
            // What left the buffer is exactly what the peer has or the kernel holds.
            prop_assert!(got.len() <= expected.len() - cc.unsent());
        }
        let start = Instant::now();
        while got.len() < expected.len() {
            prop_assert!(start.elapsed() < BOUND, "the bytes did not all arrive");
            cc.flush(&mut io).unwrap();
            peer_reads(&mut peer, &mut got, usize::MAX);
        }
        prop_assert_eq!(cc.unsent(), 0);
        prop_assert!(got == expected, "the peer's bytes differ from what was written");
    }
}

/// With nothing buffered and room in the socket, a gathered write is one `sendmsg`, and
/// nothing is buffered after it (`Io::stats` counts the calls made; the kernel's view
/// of the same path is sonic-websocket's `tests/gather.rs`, under strace).
#[test]
fn a_gathered_write_into_an_empty_buffer_is_one_syscall() {
    let mut io = Io::new().unwrap();
    let (a, mut b) = testkit::tcp_pair().unwrap();
    let a = sock::TcpConn::try_from(a).unwrap();
    let mut cc = CodecConn::new(TcpStream::add(&mut io, a).unwrap(), Frame::default());
    let f = frame(7, 16 << 10);
    io.reset_stats();
    assert_eq!(cc.write_gather(&mut io, [&f[..4], &f[4..]]).unwrap(), 0);
    assert_eq!(io.stats().writes, 1);
    // Nothing buffered: a flush makes no call.
    assert_eq!(cc.flush(&mut io).unwrap(), 0);
    assert_eq!(io.stats().writes, 1);
    let mut got = vec![0u8; f.len()];
    b.read_exact(&mut got).unwrap();
    assert_eq!(got, f);
}

/// A peer that went away: the gathered write fails with the socket's error (no signal
/// kills the process: `MSG_NOSIGNAL`), and nothing is buffered for it.
#[test]
fn a_gathered_write_to_a_closed_peer_is_an_error_not_a_signal() {
    let mut io = Io::new().unwrap();
    let (a, b) = testkit::tcp_pair().unwrap();
    let a = sock::TcpConn::try_from(a).unwrap();
    let mut cc = CodecConn::new(TcpStream::add(&mut io, a).unwrap(), Frame::default());
    drop(b);
    let f = frame(1, 1024);
    let start = Instant::now();
    let e = loop {
        assert!(start.elapsed() < BOUND, "no error within {BOUND:?}");
        let r = if cc.unsent() > 0 {
            cc.flush(&mut io)
        } else {
            cc.write_gather(&mut io, [&f[..4], &f[4..]])
        };
        match r {
            Ok(_) => std::thread::yield_now(),
            Err(e) => break e,
        }
    };
    // EPIPE and ECONNRESET are both `ConnectionReset`.
    assert_eq!(e.kind(), sonic_io::ErrorKind::ConnectionReset, "{e}");
}

/// Parts the destination buffer could not hold, should the socket take none of them, are
/// refused before any byte is written, as `write_next` refuses an item it cannot buffer:
/// the peer sees nothing of them, and the next item arrives whole and first. Before, the
/// gather wrote first and found no room for the rest afterwards: the peer got a frame's
/// header and part of its payload, and every later byte read as that payload (a review
/// sent 40 MiB past a `ByteBuffer`'s 16 MiB growth step; 3.9 MB of a cut frame went out).
/// A `ByteBuffer` now grows over several steps for what a program writes, so a buffer that
/// cannot grow at all (a 1 MiB `BipBuffer`) stands in for one that runs out.
#[test]
fn parts_the_buffer_could_not_hold_are_refused_before_any_byte_is_written() {
    let mut io = Io::new().unwrap();
    let (s, mut peer) = small_pair(&mut io);
    let mut cc = CodecConn::with_buffers(
        s,
        Frame::with_limit(u32::MAX as usize),
        sonic_bytes::ByteBuffer::with_capacity(4096),
        sonic_bytes::BipBuffer::new(1 << 20),
    );
    let big = frame(1, 4 << 20);
    let e = cc
        .write_gather(&mut io, [&big[..4], &big[4..]])
        .expect_err("4 MiB cannot be buffered in 1 MiB");
    assert_eq!(e.kind(), sonic_io::ErrorKind::NoBufferSpace, "{e}");
    assert_eq!(cc.unsent(), 0);
    let next = frame(2, 3);
    assert_eq!(cc.write_next(&mut io, &next[4..]).unwrap(), 0);
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < next.len() {
        assert!(start.elapsed() < BOUND, "the next frame did not arrive");
        peer_reads(&mut peer, &mut got, usize::MAX);
    }
    assert_eq!(got, next, "the peer's first bytes are the next frame");
}

/// A `ByteBuffer` destination grows over as many steps as the parts need: 40 MiB (past one
/// claim's 16 MiB growth step) gathered into a socket that takes a little at a time arrive
/// whole (a helper's 17 MB WebSocket message failed with `NoBufferSpace` before).
#[test]
fn parts_past_one_growth_step_are_buffered_and_arrive_whole() {
    let mut io = Io::new().unwrap();
    let (s, mut peer) = small_pair(&mut io);
    let mut cc = CodecConn::new(s, Frame::with_limit(u32::MAX as usize));
    let big = frame(1, 40 << 20);
    cc.write_gather(&mut io, [&big[..4], &big[4..]]).unwrap();
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < big.len() {
        assert!(start.elapsed() < BOUND, "the frame did not arrive");
        peer_reads(&mut peer, &mut got, usize::MAX);
        let _ = cc.flush(&mut io);
    }
    assert!(got == big, "the frame arrived changed");
}
