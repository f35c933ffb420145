//! Allocation counts of the hot path after the handshake: echo round trips of 64 B and of
//! 16 KiB between a TlsStream client and server on one Io (per-thread counting allocator).

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use common::{Pki, run_until};
use sonic_io::Io;
use sonic_tls::{TlsStream, Versions};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

fn pair(io: &mut Io, configs: &Configs) -> (TlsStream, TlsStream) {
    let (l, port) = common::listener();
    let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    let cs = common::slot();
    let ss = common::slot();
    let (c2, s2) = (cs.clone(), ss.clone());
    TlsStream::connect(io, c, configs.0.clone(), "localhost", move |_, r| {
        *c2.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    TlsStream::accept(io, s, configs.1.clone(), move |_, r| {
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

/// A client and a server config.
type Configs = (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>);

/// Configs like the crate's (secret extraction allowed) for version `v`, keeping only
/// the cipher suites whose name contains `suite` (e.g. "CHACHA20").
fn configs(pki: &Pki, v: Versions, suite: &str) -> Configs {
    let mut p = (*sonic_tls::provider()).clone();
    p.cipher_suites
        .retain(|c| format!("{:?}", c.suite()).contains(suite));
    assert!(!p.cipher_suites.is_empty());
    let p = Arc::new(p);
    let version: &[&rustls::SupportedProtocolVersion] = if v == Versions::Tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in sonic_tls::certs_from_pem(pki.ca_pem.as_bytes()).unwrap() {
        roots.add(c).unwrap();
    }
    let mut client = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_protocol_versions(version)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.enable_secret_extraction = true;
    let mut server = rustls::ServerConfig::builder_with_provider(p)
        .with_protocol_versions(version)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(pki.server(v).cert_resolver.clone());
    server.enable_secret_extraction = true;
    (Arc::new(client), Arc::new(server))
}

/// Allocations of 9,990 round trips of `size` bytes beyond those of 10, after warm-up.
fn measure(configs: &Configs, size: usize) -> testkit::AllocStats {
    let mut io = Io::new().unwrap();
    let (c, s) = pair(&mut io, configs);
    // Warm-up: TLS 1.3 session tickets arrive and are stored after the handshake.
    echo_rounds(&mut io, c, s, size, 200);
    let ((), long) = testkit::count_allocs(|| echo_rounds(&mut io, c, s, size, 10_000));
    let ((), short) = testkit::count_allocs(|| echo_rounds(&mut io, c, s, size, 10));
    let extra = long.beyond(short);
    eprintln!("{size} B: long {long:?} short {short:?} per 9,990 extra round trips {extra:?}");
    extra
}

const ROUNDS: u64 = 10_000 - 10;

/// With the crate's configs (secret extraction allowed) the record layer runs in this
/// crate after the handshake: a round trip allocates nothing, whatever the AEAD.
fn assert_no_allocation(v: Versions, suite: &str, size: usize) {
    let pki = Pki::new();
    let configs = configs(&pki, v, suite);
    let extra = measure(&configs, size);
    testkit::bench::report_allocs(
        &format!("TLS echo round trip, {size} B, {v:?} {suite}"),
        ROUNDS,
        extra,
    );
    assert_eq!(extra.allocs, 0, "{extra:?}");
    assert_eq!(extra.deallocs, 0, "{extra:?}");
}

#[test]
fn echo_64_bytes_over_tls13_allocates_nothing() {
    assert_no_allocation(Versions::Tls13, "AES_128_GCM", 64);
}

#[test]
fn echo_16_kib_over_tls13_allocates_nothing() {
    assert_no_allocation(Versions::Tls13, "AES_256_GCM", 16 << 10);
}

#[test]
fn echo_over_tls13_chacha20_allocates_nothing() {
    assert_no_allocation(Versions::Tls13, "CHACHA20", 64);
    assert_no_allocation(Versions::Tls13, "CHACHA20", 16 << 10);
}

#[test]
fn echo_64_bytes_over_tls12_allocates_nothing() {
    assert_no_allocation(Versions::Tls12, "AES_128_GCM", 64);
}

#[test]
fn echo_16_kib_over_tls12_allocates_nothing() {
    assert_no_allocation(Versions::Tls12, "AES_256_GCM", 16 << 10);
}

#[test]
fn echo_over_tls12_chacha20_allocates_nothing() {
    assert_no_allocation(Versions::Tls12, "CHACHA20", 64);
    assert_no_allocation(Versions::Tls12, "CHACHA20", 16 << 10);
}

/// With a config that does not allow secret extraction, rustls 0.23's unbuffered record
/// path runs throughout: per record, one `Vec` for the ciphertext its encrypter builds
/// before copying it into our send FIFO (`overhead` bytes of header, nonce and tag beyond
/// the plaintext) and one `Vec` for the plaintext it copies out of our receive FIFO after
/// decrypting there. So 4 blocks per round trip, of exactly those sizes, and nothing of
/// this crate's or the reactor's.
fn assert_only_rustls_record_buffers(v: Versions, size: usize, overhead: usize) {
    let pki = Pki::new();
    let (mut client, mut server) = ((*pki.client(v)).clone(), (*pki.server(v)).clone());
    client.enable_secret_extraction = false;
    server.enable_secret_extraction = false;
    let extra = measure(&(Arc::new(client), Arc::new(server)), size);
    testkit::bench::report_allocs(
        &format!("TLS echo round trip, {size} B, {v:?}, rustls's record path"),
        ROUNDS,
        extra,
    );
    assert_eq!(extra.allocs, 4 * ROUNDS, "{extra:?}");
    assert_eq!(extra.deallocs, 4 * ROUNDS, "{extra:?}");
    let per_record = size + (size + overhead);
    assert_eq!(extra.bytes, ROUNDS * 2 * per_record as u64, "{extra:?}");
}

#[test]
fn without_secret_extraction_tls13_allocates_only_rustls_record_buffers() {
    assert_only_rustls_record_buffers(Versions::Tls13, 64, 5 + 1 + 16);
}

#[test]
fn without_secret_extraction_tls12_allocates_only_rustls_record_buffers() {
    assert_only_rustls_record_buffers(Versions::Tls12, 16 << 10, 5 + 8 + 16);
}

/// A connection takes the three FIFOs a dropped one left on its thread instead of
/// allocating (and zeroing, and faulting in) them again: a second pair of connections on
/// the same thread allocates at least the six buffers' worth (2 × 163 KiB) less than the
/// first. Without the spares, allocator trimming made each handshake pay for them twice
/// (the echo bench's in-process handshake rate was 0.82–0.93× tokio-rustls's).
#[test]
fn a_connection_takes_the_buffers_a_dropped_one_left() {
    let pki = Pki::new();
    let configs = configs(&pki, Versions::Tls13, "AES_128_GCM");
    let mut io = Io::new().unwrap();
    let ((c, s), first) = testkit::count_allocs(|| pair(&mut io, &configs));
    c.abort(&mut io).unwrap();
    s.abort(&mut io).unwrap();
    let ((c, s), second) = testkit::count_allocs(|| pair(&mut io, &configs));
    eprintln!("first pair {first:?}, second pair {second:?}");
    // Receive 64 KiB, send 64 KiB and a record's overhead, plaintext 32 KiB, per side.
    assert!(
        first.bytes >= second.bytes + 2 * (64 + 64 + 32) * 1024,
        "first {first:?}, second {second:?}"
    );
    c.abort(&mut io).unwrap();
    s.abort(&mut io).unwrap();
}
