//! Arbitrary bytes as the opening handshake of a sonic-websocket connection, over a Unix
//! socket pair: as the upgrade request into `WebSocket::accept` (the server's parser), or as
//! the response into `WebSocket::client` (the client's). The first byte chooses:
//!
//! | bit | meaning |
//! |---|---|
//! | 0 | we are the client (the input is the server's response) |
//! | 1 | permessage-deflate configured (the server accepts it, the client offers it) |
//! | 2 | subprotocols configured (`chat`, `superchat`) |
//! | 3 | small head limit (512 bytes) |
//!
//! As the client, every `{ACCEPT}` in the input is replaced with the right
//! `Sec-WebSocket-Accept` for the request's key, so the fuzzer can get past that check to
//! the subprotocol and extension checks. The peer's side shuts its write half after the
//! input. Nothing may panic; the handshake completes (no hang at the end of the input); a
//! server answers 101 when it accepts and 400 or 426 (or nothing, for a stream that ended
//! before a whole head) when it refuses; what was agreed is what was offered.
#![no_main]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sonic_io::{Io, UnixStream};
use sonic_websocket::{ClientConfig, DeflateConfig, Limits, ServerConfig, WebSocket, accept_key};

type Ws = WebSocket<UnixStream>;

const HANG: Duration = Duration::from_secs(5);

fn drive(io: &mut Io, peer: &sock::UnixConn, out: &mut Vec<u8>, done: impl Fn() -> bool) {
    let start = Instant::now();
    let mut buf = [0u8; 16 << 10];
    loop {
        while let Ok(n @ 1..) = peer.try_read(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        if done() {
            return;
        }
        assert!(start.elapsed() < HANG, "the handshake hung");
        io.run_one_for(Duration::from_millis(10)).unwrap();
    }
}

fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            v.extend_from_slice(to);
            i += from.len();
        } else {
            v.push(data[i]);
            i += 1;
        }
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let data = &data[..data.len().min(64 << 10)];
    let client = flags & 1 != 0;
    let deflate = flags & 2 != 0;
    let protocols = flags & 4 != 0;
    let limits = Limits {
        max_head: if flags & 8 != 0 { 512 } else { 16 << 10 },
        ..Limits::default()
    };

    let mut io = Io::new().unwrap();
    let [ours, peer] = sock::UnixConn::pair().unwrap();
    let stream = UnixStream::add(&mut io, ours).unwrap();
    let got: Rc<RefCell<Option<iox::Result<Ws>>>> = Rc::new(RefCell::new(None));
    let g = got.clone();
    let mut out = Vec::new();
    if client {
        let mut cfg = ClientConfig::default().limits(limits);
        if deflate {
            cfg = cfg.deflate(DeflateConfig::default());
        }
        if protocols {
            cfg = cfg.protocol("chat").protocol("superchat");
        }
        WebSocket::client(&mut io, stream, "fuzz", "/", &cfg, move |_, r| {
            *g.borrow_mut() = Some(r)
        })
        .unwrap();
        let start = Instant::now();
        while head_end(&out).is_none() {
            assert!(start.elapsed() < HANG, "no upgrade request");
            drive(&mut io, &peer, &mut out, || true);
            let _ = io.run_one_for(Duration::from_millis(1));
        }
        let req = String::from_utf8_lossy(&out).into_owned();
        let key = req
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_owned())
            })
            .expect("the request has a key");
        let resp = replace_all(data, b"{ACCEPT}", accept_key(key.as_bytes()).as_bytes());
        peer.write_all(&resp).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        drive(&mut io, &peer, &mut out, || got.borrow().is_some());
        let r = got.borrow_mut().take().unwrap();
        if let Ok(ws) = r {
            let hs = ws.handshake();
            assert!(
                deflate || hs.deflate.is_none(),
                "deflate agreed without an offer"
            );
            assert!(
                hs.protocol.is_none() || protocols,
                "a subprotocol agreed without an offer"
            );
            let _ = ws.close(&mut io);
        }
    } else {
        let mut cfg = ServerConfig::default().limits(limits);
        if deflate {
            cfg = cfg.deflate(DeflateConfig::default());
        }
        if protocols {
            cfg = cfg.protocol("chat").protocol("superchat");
        }
        WebSocket::accept(&mut io, stream, &cfg, move |_, r| *g.borrow_mut() = Some(r)).unwrap();
        peer.write_all(data).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        drive(&mut io, &peer, &mut out, || got.borrow().is_some());
        let r = got.borrow_mut().take().unwrap();
        // What the server wrote, all of it.
        for _ in 0..10 {
            let _ = io.run_one_for(Duration::from_millis(0));
        }
        drive(&mut io, &peer, &mut out, || true);
        match r {
            Ok(ws) => {
                assert!(
                    out.starts_with(b"HTTP/1.1 101 "),
                    "{:?}",
                    String::from_utf8_lossy(&out)
                );
                let hs = ws.handshake();
                assert!(deflate || hs.deflate.is_none());
                assert!(protocols || hs.protocol.is_none());
                let _ = ws.close(&mut io);
            }
            Err(_) => assert!(
                out.is_empty()
                    || out.starts_with(b"HTTP/1.1 400 ")
                    || out.starts_with(b"HTTP/1.1 426 "),
                "{:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
});
