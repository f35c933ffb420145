//! Garbage from the peer, in bulk: a genuine ClientHello (and a genuine server flight)
//! with random bytes flipped, cut or appended, fed into our server (and client) through a
//! real socket pair. Every call ends in data, `WouldBlock` or an error, never a panic, and
//! the error is sticky. (The fuzz target `fuzz/fuzz_targets/tls_server_records.rs` does the
//! same with coverage guidance; this runs in every `cargo test`.)

mod common;

use common::Pki;
use sock::UnixConn;
use sonic_tls::{TlsConn, Versions};

/// xorshift64*: a fixed sequence, so a failure replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        1 => v.truncate(rng.below(v.len())),
        2 => {
            let i = rng.below(v.len());
            v[i] = rng.next() as u8;
            v.extend((0..rng.below(300)).map(|_| rng.next() as u8));
        }
        _ => {
            // A length field made large.
            let i = rng.below(v.len().saturating_sub(1));
            v[i] = 0xff;
            v[i + 1] = 0xff;
        }
    }
    v
}

/// Reads from `tls` until it has nothing more to say; asserts the error, if any, is sticky.
fn drain<S: std::io::Read + std::io::Write + std::os::fd::AsFd>(tls: &mut TlsConn<S>) {
    let mut buf = [0u8; 4096];
    for _ in 0..32 {
        match tls.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.is_would_block() => {}
            Err(e) => {
                assert!(e.context_str().is_some() || e.errno().is_some(), "{e:?}");
                assert_eq!(tls.read(&mut buf).unwrap_err(), e, "the error is sticky");
                return;
            }
        }
    }
}

/// What our client sends first, and what our server answers it with.
fn genuine_flights(pki: &Pki, v: Versions) -> (Vec<u8>, Vec<u8>) {
    let [a, b] = UnixConn::pair().unwrap();
    let mut c = TlsConn::client(a, pki.client(v), "localhost").unwrap();
    assert!(c.handshake_step().unwrap_err().is_would_block());
    let mut hello = vec![0u8; 64 << 10];
    let n = b.read(&mut hello).unwrap();
    hello.truncate(n);
    let [x, y] = UnixConn::pair().unwrap();
    let mut s = TlsConn::server(x, pki.server(v)).unwrap();
    y.write_all(&hello).unwrap();
    assert!(s.handshake_step().unwrap_err().is_would_block());
    let mut flight = vec![0u8; 64 << 10];
    let n = y.read(&mut flight).unwrap();
    flight.truncate(n);
    (hello, flight)
}

#[test]
fn mutated_client_hellos_never_panic_our_server() {
    let pki = Pki::new();
    let mut rng = Rng(0x005e_ed0f_7150);
    for v in [Versions::Tls12, Versions::Tls13] {
        let (hello, _) = genuine_flights(&pki, v);
        let config = pki.server(Versions::Both);
        for _ in 0..1000 {
            let input = mutate(&mut rng, &hello);
            let [ours, peer] = UnixConn::pair().unwrap();
            let mut tls = TlsConn::server(ours, config.clone()).unwrap();
            peer.write_all(&input).unwrap();
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            drain(&mut tls);
        }
    }
}

#[test]
fn mutated_server_flights_never_panic_our_client() {
    let pki = Pki::new();
    let mut rng = Rng(0x0dd_ba11);
    for v in [Versions::Tls12, Versions::Tls13] {
        let (_, flight) = genuine_flights(&pki, v);
        let config = pki.client(v);
        for _ in 0..1000 {
            let input = mutate(&mut rng, &flight);
            let [ours, peer] = UnixConn::pair().unwrap();
            let mut tls = TlsConn::client(ours, config.clone(), "localhost").unwrap();
            assert!(tls.handshake_step().unwrap_err().is_would_block());
            peer.write_all(&input).unwrap();
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            drain(&mut tls);
        }
    }
}
