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

/// Reads whatever `tls` can give now (until `WouldBlock`) into `got`, with reads of
/// `chunk` bytes.
fn read_now<S: Read + Write + AsFd>(tls: &mut TlsConn<S>, got: &mut Vec<u8>, chunk: usize) {
    let mut buf = vec![0u8; chunk];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => panic!("unexpected end of stream"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.is_would_block() => return,
            Err(e) => panic!("{e}"),
        }
    }
}

/// One write: a retry of the queued one, or new bytes (appended to `sent`).
fn write_some<S: Read + Write + AsFd>(
    tls: &mut TlsConn<S>,
    pending: &mut Option<Vec<u8>>,
    sent: &mut Vec<u8>,
    fresh: impl FnOnce() -> Vec<u8>,
) {
    let data = pending.take().unwrap_or_else(|| {
        let d = fresh();
        sent.extend_from_slice(&d);
        d
    });
    match tls.write(&data) {
        Ok(n) if n == data.len() => {}
        Ok(n) => {
            // Took a prefix (MAX_WRITE): the rest is a new write of its own.
            *pending = Some(data[n..].to_vec());
        }
        Err(e) if e.is_would_block() => *pending = Some(data),
        Err(e) => panic!("{e}"),
    }
}

struct Xorshift(u64);
impl Xorshift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A model test of the record layer: random writes (1 B to 80 KiB, the server's cut at
/// random points so records cross socket writes), reads of random sizes, and key updates
/// from either side at any moment, TLS 1.2 and 1.3; both byte streams must arrive whole
/// and in order. A key update sealed or opened with the wrong key, a record split wrongly,
/// or a stream position lost shows up as a decryption error or a mismatch.
#[test]
fn random_conversations_with_key_updates_keep_both_streams_intact() {
    for seed in 1..=8u64 {
        let v = if seed % 2 == 0 {
            Versions::Tls12
        } else {
            Versions::Tls13
        };
        let (mut c, mut s, budget) = handshaken(v);
        assert!(c.owns_record_layer() && s.owns_record_layer(), "{v:?}");
        let mut rng = Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (mut c_sent, mut s_got, mut s_sent, mut c_got) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut c_pending, mut s_pending) = (None, None);
        let mut updates = 0;
        if v == Versions::Tls13 && seed % 4 == 1 {
            // Few records per key: writes split across key updates of their own.
            c.set_records_per_key(1 + seed / 4).unwrap();
            s.set_records_per_key(2).unwrap();
        }
        for _ in 0..400 {
            let size = 1 + rng.below(80 << 10) as usize;
            let fill = rng.below(256) as u8;
            let fresh = move || (0..size).map(|i| fill.wrapping_add(i as u8)).collect();
            match rng.below(8) {
                0 => write_some(&mut c, &mut c_pending, &mut c_sent, fresh),
                1 => {
                    budget.set(if rng.below(2) == 0 {
                        1 + rng.below(3000) as usize
                    } else {
                        usize::MAX
                    });
                    write_some(&mut s, &mut s_pending, &mut s_sent, fresh);
                }
                2 | 3 => read_now(&mut s, &mut s_got, 1 + rng.below(20_000) as usize),
                4 | 5 => read_now(&mut c, &mut c_got, 1 + rng.below(20_000) as usize),
                6 | 7 => {
                    let tls = rng.below(2) == 0;
                    let r = if tls {
                        c.update_keys()
                    } else {
                        s.update_keys()
                    };
                    match (v, r) {
                        (Versions::Tls13, Ok(())) => updates += 1,
                        (Versions::Tls12, Err(e)) => {
                            assert_eq!(e.kind(), ErrorKind::Unsupported)
                        }
                        (_, r) => panic!("{v:?}: {r:?}"),
                    }
                }
                _ => unreachable!(),
            }
        }
        // Drain: every queued write completes, every byte arrives.
        budget.set(usize::MAX);
        let deadline = Instant::now() + BOUND;
        while c_pending.is_some()
            || s_pending.is_some()
            || s_got.len() < c_sent.len()
            || c_got.len() < s_sent.len()
        {
            if c_pending.is_some() {
                write_some(&mut c, &mut c_pending, &mut c_sent, Vec::new);
            }
            if s_pending.is_some() {
                write_some(&mut s, &mut s_pending, &mut s_sent, Vec::new);
            }
            let _ = c.flush();
            let _ = s.flush();
            read_now(&mut s, &mut s_got, 65536);
            read_now(&mut c, &mut c_got, 65536);
            assert!(
                Instant::now() < deadline,
                "{v:?}: the streams did not drain"
            );
        }
        assert!(
            s_got == c_sent,
            "{v:?} seed {seed}: client to server differs"
        );
        assert!(
            c_got == s_sent,
            "{v:?} seed {seed}: server to client differs"
        );
        eprintln!(
            "{v:?} seed {seed}: {} B and {} B, {updates} key updates",
            c_sent.len(),
            s_sent.len()
        );
    }
}

/// Reads on the side that sent a bad record until the alert sent back arrives.
fn alert_received(s: &mut TlsConn<Cut>) -> iox::Error {
    let deadline = Instant::now() + BOUND;
    loop {
        match s.read(&mut [0u8; 64]) {
            Err(e) if e.is_would_block() => assert!(Instant::now() < deadline),
            r => return r.unwrap_err(),
        }
    }
}

/// A record that fails authentication gets a bad_record_mac alert back; the peer reports
/// it by name.
#[test]
fn a_forged_record_is_answered_with_bad_record_mac() {
    for v in [Versions::Tls12, Versions::Tls13] {
        let (mut c, mut s, _) = handshaken(v);
        let mut junk = vec![0x17, 0x03, 0x03, 0x00, 40];
        junk.extend((0..40).map(|i| i as u8));
        Write::write_all(&mut s.get_mut().inner, &junk).unwrap();
        let (_, end) = read_until_end(&mut c);
        assert_eq!(
            end.unwrap_err().context_str(),
            Some("TLS: bad record from the peer (decryption failed)")
        );
        let e = alert_received(&mut s);
        assert_eq!(
            (e.kind(), e.context_str()),
            (
                ErrorKind::ConnectionReset,
                Some("TLS: peer sent alert bad_record_mac")
            ),
            "{v:?}"
        );
    }
}

/// A record header announcing more than a record may hold fails at once (no waiting for,
/// or buffering of, the announced bytes) with record_overflow.
#[test]
fn an_oversized_record_is_refused_from_its_header() {
    for v in [Versions::Tls12, Versions::Tls13] {
        let (mut c, mut s, _) = handshaken(v);
        Write::write_all(&mut s.get_mut().inner, &[0x17, 0x03, 0x03, 0xff, 0xff]).unwrap();
        let (_, end) = read_until_end(&mut c);
        assert_eq!(
            end.unwrap_err().context_str(),
            Some("TLS: bad record from the peer (oversized record)"),
            "{v:?}"
        );
        let e = alert_received(&mut s);
        assert_eq!(
            e.context_str(),
            Some("TLS: peer sent alert record_overflow"),
            "{v:?}"
        );
    }
}

/// Key updates are answered with records of ours, so a peer may send only 32 in a row
/// without application data between them (rustls's and BoringSSL's limit): the 33rd is a
/// protocol violation, and the reader says so instead of answering without end.
#[test]
fn a_peer_sending_key_updates_without_end_is_cut_off() {
    let (mut c, mut s, _) = handshaken(Versions::Tls13);
    let read_some = |s: &mut TlsConn<Cut>| {
        let deadline = Instant::now() + BOUND;
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf) {
                Err(e) if e.is_would_block() => assert!(Instant::now() < deadline),
                r => return r.map(|n| buf[..n].to_vec()),
            }
        }
    };
    for _ in 0..32 {
        c.update_keys().unwrap();
    }
    assert_eq!(c.write(b"data").unwrap(), 4);
    assert_eq!(read_some(&mut s).unwrap(), b"data", "32 in a row are fine");
    for _ in 0..33 {
        c.update_keys().unwrap();
    }
    let e = read_some(&mut s).unwrap_err();
    assert_eq!(
        (e.kind(), e.context_str()),
        (
            ErrorKind::InvalidInput,
            Some("TLS: the peer broke the protocol")
        )
    );
}
