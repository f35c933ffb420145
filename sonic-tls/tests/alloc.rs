//! Allocation counts of the hot path after the handshake: echo round trips of 64 B and of
//! 16 KiB between a TlsStream client and server on one Io (per-thread counting allocator).

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{Pki, run_until};
use sonic_io::Io;
use sonic_tls::{TlsStream, Versions};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

fn pair(io: &mut Io, pki: &Pki, v: Versions) -> (TlsStream, TlsStream) {
    let (l, port) = common::listener();
    let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    let cs = common::slot();
    let ss = common::slot();
    let (c2, s2) = (cs.clone(), ss.clone());
    TlsStream::connect(io, c, pki.client(v), "localhost", move |_, r| {
        *c2.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    TlsStream::accept(io, s, pki.server(v), move |_, r| {
        *s2.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(io, |_| cs.borrow().is_some() && ss.borrow().is_some());
    let c = cs.borrow_mut().take().unwrap();
    let s = ss.borrow_mut().take().unwrap();
    (c, s)
}

/// `rounds` echo round trips of `size` bytes; buffers are handed back by each callback.
fn echo_rounds(io: &mut Io, c: TlsStream, s: TlsStream, size: usize, rounds: usize) {
    let left = Rc::new(Cell::new(rounds));
    fn serve(io: &mut Io, s: TlsStream, buf: Vec<u8>) {
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
    fn ping(io: &mut Io, c: TlsStream, buf: Vec<u8>, left: Rc<Cell<usize>>) {
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
    serve(io, s, vec![0u8; size]);
    ping(io, c, vec![7u8; size], left.clone());
    while left.get() > 0 {
        io.run_one_for(common::BOUND).unwrap();
    }
    s.cancel(io).unwrap();
}

fn measure(v: Versions, size: usize) -> testkit::AllocStats {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (c, s) = pair(&mut io, &pki, v);
    // Warm-up: TLS 1.3 session tickets arrive and are stored after the handshake.
    echo_rounds(&mut io, c, s, size, 200);
    let ((), long) = testkit::count_allocs(|| echo_rounds(&mut io, c, s, size, 10_000));
    let ((), short) = testkit::count_allocs(|| echo_rounds(&mut io, c, s, size, 10));
    let extra = long.beyond(short);
    eprintln!(
        "{v:?} {size} B: long {long:?} short {short:?} per 9,990 extra round trips {extra:?}"
    );
    extra
}

/// After warm-up, a round trip allocates exactly what rustls 0.23's unbuffered API
/// allocates inside itself for the two records (one each way), and nothing of this crate's
/// or the reactor's: per record, one `Vec` for the ciphertext its encrypter builds before
/// copying it into our send FIFO (`overhead` bytes of header, nonce and tag beyond the
/// plaintext) and one `Vec` for the plaintext it copies out of our receive FIFO after
/// decrypting there. So 4 blocks per round trip, of exactly those sizes.
fn assert_only_rustls_record_buffers(v: Versions, size: usize, overhead: usize) {
    let extra = measure(v, size);
    let rounds = 10_000 - 10;
    testkit::bench::report_allocs(
        &format!("TLS echo round trip, {size} B, {v:?} (rustls 0.23's two blocks per record)"),
        rounds,
        extra,
    );
    assert_eq!(extra.allocs, 4 * rounds, "{extra:?}");
    assert_eq!(extra.deallocs, 4 * rounds, "{extra:?}");
    let per_record = size + (size + overhead);
    assert_eq!(extra.bytes, rounds * 2 * per_record as u64, "{extra:?}");
}

#[test]
fn echo_64_bytes_over_tls13_allocates_only_rustls_record_buffers() {
    assert_only_rustls_record_buffers(Versions::Tls13, 64, 5 + 1 + 16);
}

#[test]
fn echo_16_kib_over_tls13_allocates_only_rustls_record_buffers() {
    assert_only_rustls_record_buffers(Versions::Tls13, 16 << 10, 5 + 1 + 16);
}

#[test]
fn echo_64_bytes_over_tls12_allocates_only_rustls_record_buffers() {
    assert_only_rustls_record_buffers(Versions::Tls12, 64, 5 + 8 + 16);
}

#[test]
fn echo_16_kib_over_tls12_allocates_only_rustls_record_buffers() {
    assert_only_rustls_record_buffers(Versions::Tls12, 16 << 10, 5 + 8 + 16);
}
