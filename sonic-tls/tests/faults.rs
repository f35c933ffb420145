//! Faults on the record path, TlsConn against TlsConn over loopback TCP: a record cut
//! short and then the end of the stream, a reset in the middle of a record, garbage after
//! the handshake. Each is an error naming what happened, never a clean end and never a
//! panic.

mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{BOUND, Pki};
use iox::ErrorKind;
use sock::TcpConn;
use sonic_tls::{TlsConn, Versions};

/// A socket whose writes pass at most `budget` more bytes (then `WouldBlock`), to stop a
/// record half-way through.
struct Cut {
    inner: TcpConn,
    budget: Rc<Cell<usize>>,
}

impl Read for Cut {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        Read::read(&mut self.inner, b)
    }
}
impl Write for Cut {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = b.len().min(self.budget.get());
        if n == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = Write::write(&mut self.inner, &b[..n])?;
        self.budget.set(self.budget.get() - n);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl AsFd for Cut {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

fn handshaken(v: Versions) -> (TlsConn<TcpConn>, TlsConn<Cut>, Rc<Cell<usize>>) {
    let pki = Pki::new();
    let (l, port) = common::listener();
    let c = TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    let budget = Rc::new(Cell::new(usize::MAX));
    let s = Cut {
        inner: s,
        budget: budget.clone(),
    };
    let mut c = TlsConn::client(c, pki.client(v), "localhost").unwrap();
    let mut s = TlsConn::server(s, pki.server(v)).unwrap();
    let deadline = Instant::now() + BOUND;
    loop {
        let (a, b) = (c.handshake_step(), s.handshake_step());
        if a.is_ok() && b.is_ok() {
            break;
        }
        for r in [a, b] {
            if let Err(e) = r {
                assert!(e.is_would_block(), "{e}");
            }
        }
        assert!(Instant::now() < deadline, "handshake did not finish");
    }
    (c, s, budget)
}

/// Reads until something other than data or `WouldBlock`; returns the data and that.
fn read_until_end(c: &mut TlsConn<TcpConn>) -> (Vec<u8>, iox::Result<()>) {
    let deadline = Instant::now() + BOUND;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.is_would_block() => {}
            Err(e) => return (got, Err(e)),
        }
        assert!(Instant::now() < deadline, "no end of stream");
    }
}

#[test]
fn a_record_cut_short_then_the_end_of_the_stream_is_a_truncation() {
    for v in [Versions::Tls12, Versions::Tls13] {
        let (mut c, mut s, budget) = handshaken(v);
        assert_eq!(s.write(b"whole record").unwrap(), 12);
        budget.set(10);
        assert!(s.write(&[1u8; 100]).unwrap_err().is_would_block());
        assert!(s.queued() > 0, "the rest of the record is queued");
        drop(s);
        let (got, end) = read_until_end(&mut c);
        assert_eq!(got, b"whole record", "{v:?}");
        let e = end.unwrap_err();
        assert_eq!(
            (e.kind(), e.context_str()),
            (
                ErrorKind::UnexpectedEof,
                Some("TLS: peer closed the connection without close_notify (truncation)")
            ),
            "{v:?}"
        );
        // Sticky: the next read says the same.
        assert_eq!(c.read(&mut [0u8; 8]).unwrap_err(), e);
    }
}

#[test]
fn a_reset_in_the_middle_of_a_record_is_a_reset() {
    let (mut c, mut s, budget) = handshaken(Versions::Tls13);
    budget.set(10);
    assert!(s.write(&[1u8; 100]).unwrap_err().is_would_block());
    sock::opt::set_linger(s.get_ref(), Some(Duration::ZERO)).unwrap();
    drop(s);
    let (got, end) = read_until_end(&mut c);
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
}

#[test]
fn garbage_after_the_handshake_is_a_bad_record() {
    let (mut c, mut s, _) = handshaken(Versions::Tls13);
    assert_eq!(s.write(b"good").unwrap(), 4);
    let mut buf = [0u8; 4];
    let deadline = Instant::now() + BOUND;
    loop {
        match c.read(&mut buf) {
            Ok(4) => break,
            Err(e) if e.is_would_block() => assert!(Instant::now() < deadline),
            r => panic!("{r:?}"),
        }
    }
    // An application-data header announcing 40 bytes, then 40 bytes no key made.
    let mut junk = vec![0x17, 0x03, 0x03, 0x00, 40];
    junk.extend((0..40).map(|i| i as u8));
    Write::write_all(&mut s.get_mut().inner, &junk).unwrap();
    let (got, end) = read_until_end(&mut c);
    assert!(got.is_empty());
    let e = end.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(
        e.context_str(),
        Some("TLS: bad record from the peer (decryption failed)")
    );
}
