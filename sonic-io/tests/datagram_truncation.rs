//! A datagram longer than the buffer it is read into is an error, never a silent cut:
//! every datagram read fails with `MessageTooLarge`, the buffer holds the datagram's first
//! bytes, and the next read gets the next datagram whole. UDP and Unix datagram sockets.
#![cfg(any(target_os = "linux", target_os = "android"))]

mod common;
use common::{run_until, slot};

use sonic_bytes::{ByteBuffer, Fifo};
use sonic_io::{ErrorKind, Io, PacketConn, PacketSock};

/// 100 bytes that differ from each other.
fn long() -> Vec<u8> {
    (0..100u8).map(|i| i.wrapping_mul(37)).collect()
}

/// Each read kind against a datagram of 100 bytes with room for 8, then a datagram of 5
/// that must arrive whole; `send` queues a datagram for `rx`.
fn every_read_reports_truncation<U: PacketSock>(
    io: &mut Io,
    rx: PacketConn<U>,
    send: &dyn Fn(&[u8]),
) {
    let big = long();

    // async_read: the error, the first 8 bytes in the buffer, then the next datagram.
    send(&big);
    let got = slot();
    let g = got.clone();
    rx.async_read(io, vec![0u8; 8], move |_, r, buf| {
        *g.borrow_mut() = Some((r, buf))
    })
    .unwrap();
    run_until(io, || got.borrow().is_some());
    let (r, buf) = got.borrow_mut().take().unwrap();
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge, "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    assert_eq!(buf, big[..8]);
    send(b"hello");
    let g = got.clone();
    rx.async_read(io, vec![0u8; 8], move |_, r, buf| {
        *g.borrow_mut() = Some((r, buf))
    })
    .unwrap();
    run_until(io, || got.borrow().is_some());
    let (r, buf) = got.borrow_mut().take().unwrap();
    assert_eq!(&buf[..r.unwrap()], b"hello");

    // A datagram exactly as long as the buffer is not truncated.
    send(&big[..8]);
    let g = got.clone();
    rx.async_read(io, vec![0u8; 8], move |_, r, buf| {
        *g.borrow_mut() = Some((r, buf))
    })
    .unwrap();
    run_until(io, || got.borrow().is_some());
    let (r, buf) = got.borrow_mut().take().unwrap();
    assert_eq!(r.unwrap(), 8);
    assert_eq!(buf, big[..8]);

    // async_read_from: the same error; the source is not reported with it.
    send(&big);
    let from = slot();
    let f = from.clone();
    rx.async_read_from(io, vec![0u8; 8], move |_, r, buf| {
        *f.borrow_mut() = Some((r.map(|(n, _)| n), buf))
    })
    .unwrap();
    run_until(io, || from.borrow().is_some());
    let (r, buf) = from.borrow_mut().take().unwrap();
    assert_eq!(r.unwrap_err().kind(), ErrorKind::MessageTooLarge);
    assert_eq!(buf, big[..8]);
    send(b"hello");
    let f = from.clone();
    rx.async_read_from(io, vec![0u8; 8], move |_, r, buf| {
        *f.borrow_mut() = Some((r.map(|(n, _)| n), buf))
    })
    .unwrap();
    run_until(io, || from.borrow().is_some());
    let (r, buf) = from.borrow_mut().take().unwrap();
    assert_eq!(&buf[..r.unwrap()], b"hello");

    // async_read_exact: the error in a Partial counting the bytes the buffer holds.
    send(&big);
    let exact = slot();
    let x = exact.clone();
    rx.async_read_exact(io, vec![0u8; 8], move |_, r, buf| {
        *x.borrow_mut() = Some((r, buf))
    })
    .unwrap();
    run_until(io, || exact.borrow().is_some());
    let (r, buf) = exact.borrow_mut().take().unwrap();
    let p = r.unwrap_err();
    assert_eq!((p.error.kind(), p.done), (ErrorKind::MessageTooLarge, 8));
    assert_eq!(buf, big[..8]);

    // async_read_into a FIFO: the error, and nothing committed.
    send(&big);
    let fifo = slot();
    let q = fifo.clone();
    rx.async_read_into(io, ByteBuffer::new(), 8, move |_, r, f| {
        *q.borrow_mut() = Some((r, f))
    })
    .unwrap();
    run_until(io, || fifo.borrow().is_some());
    let (r, f) = fifo.borrow_mut().take().unwrap();
    assert_eq!(r.unwrap_err().kind(), ErrorKind::MessageTooLarge);
    assert!(f.data().is_empty(), "a truncated datagram is not committed");
    send(b"hello");
    let q = fifo.clone();
    rx.async_read_into(io, f, 8, move |_, r, f| *q.borrow_mut() = Some((r, f)))
        .unwrap();
    run_until(io, || fifo.borrow().is_some());
    let (r, f) = fifo.borrow_mut().take().unwrap();
    assert_eq!(r.unwrap(), 5);
    assert_eq!(f.data(), b"hello");

    // The non-blocking read: the same error, then the next datagram.
    send(&big);
    let mut buf = [0u8; 8];
    let e = rx.read(io, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
    assert_eq!(buf, big[..8]);
    send(b"hello");
    let n = rx.read(io, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(io.pending(), 0);
}

#[test]
fn a_udp_datagram_larger_than_the_buffer_is_reported_truncated() {
    let mut io = Io::new().unwrap();
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    let tx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    rx.connect(tx.local_addr().unwrap()).unwrap();
    tx.connect(rx.local_addr().unwrap()).unwrap();
    let rx = PacketConn::add(&mut io, rx).unwrap();
    every_read_reports_truncation(&mut io, rx, &|d| assert_eq!(tx.send(d).unwrap(), d.len()));
}

#[test]
fn a_unix_datagram_larger_than_the_buffer_is_reported_truncated() {
    let mut io = Io::new().unwrap();
    // Named ends, so that async_read_from has a source to report (an unnamed peer's is a
    // zero-length address).
    let dir = std::env::temp_dir().join(format!("sonic-io-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (rx_path, tx_path) = (dir.join("rx"), dir.join("tx"));
    let rx = sock::UnixDatagram::bind(rx_path.to_str().unwrap()).unwrap();
    let tx = sock::UnixDatagram::bind(tx_path.to_str().unwrap()).unwrap();
    tx.connect(rx_path.to_str().unwrap()).unwrap();
    rx.connect(tx_path.to_str().unwrap()).unwrap();
    let rx = PacketConn::add(&mut io, rx).unwrap();
    every_read_reports_truncation(&mut io, rx, &|d| assert_eq!(tx.send(d).unwrap(), d.len()));
    std::fs::remove_dir_all(&dir).unwrap();
}
