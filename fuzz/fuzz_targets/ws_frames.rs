//! Arbitrary bytes from the peer into a sonic-websocket connection's receive path, after a
//! real opening handshake, over a Unix socket pair: the server side (masked frames
//! expected) or the client side (unmasked), with or without permessage-deflate negotiated,
//! with default or small limits. The first byte chooses:
//!
//! | bit | meaning |
//! |---|---|
//! | 0 | permessage-deflate negotiated |
//! | 1 | we are the client (the input is what a server sends) |
//! | 2 | small limits (4 KiB per frame, 8 KiB per message) |
//! | 3 | no context takeover both ways |
//! | 4 | 9-bit windows both ways |
//!
//! The rest is written after the handshake, then the peer's side shuts its write half. The
//! connection reads messages until its read fails. Nothing may panic; every read completes
//! (no hang at the end of the input); a failed read stays failed; a violation (an error other
//! than the end of the stream) has sent a close frame, and the last frame on the wire is a
//! close with 1002, 1007 or 1009.
#![no_main]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use iox::ErrorKind;
use libfuzzer_sys::fuzz_target;
use sonic_io::{Io, UnixStream};
use sonic_websocket::{
    ClientConfig, CloseCode, DeflateConfig, Frame, Limits, Message, Opcode, ServerConfig,
    WebSocket, accept_key, mask, parse_close,
};

type Ws = WebSocket<UnixStream>;
type Slot<T> = Rc<RefCell<Option<T>>>;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// How long any one step may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(5);

/// Turns the Io until `done`, draining what our side writes into `out`.
fn drive(io: &mut Io, peer: &sock::UnixConn, out: &mut Vec<u8>, done: impl Fn() -> bool) {
    let start = Instant::now();
    let mut buf = [0u8; 16 << 10];
    loop {
        loop {
            match peer.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        if done() {
            return;
        }
        assert!(start.elapsed() < HANG, "the connection hung");
        io.run_one_for(Duration::from_millis(10)).unwrap();
    }
}

fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn deflate_cfg(flags: u8) -> DeflateConfig {
    let mut d = DeflateConfig::default();
    if flags & 8 != 0 {
        d.server_no_context_takeover = true;
        d.client_no_context_takeover = true;
    }
    if flags & 16 != 0 {
        d.server_max_window_bits = 9;
        d.client_max_window_bits = 9;
    }
    d
}

fn response_extension(flags: u8) -> String {
    let mut e = String::from("permessage-deflate");
    if flags & 8 != 0 {
        e.push_str("; server_no_context_takeover; client_no_context_takeover");
    }
    if flags & 16 != 0 {
        e.push_str("; server_max_window_bits=9; client_max_window_bits=9");
    }
    e
}

/// The frames our side sent after the handshake: the last one's opcode and payload
/// (unmasked), if any whole frame is there.
fn last_frame(mut wire: &[u8]) -> Option<(Option<Opcode>, Vec<u8>)> {
    let mut last = None;
    while let Ok(f) = Frame::new_checked(wire) {
        let mut p = f.payload().to_vec();
        if let Some(k) = f.mask_key() {
            mask::apply_mask(&mut p, k, 0);
        }
        last = Some((f.opcode(), p));
        wire = &wire[f.frame_len()..];
    }
    last
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let data = &data[..data.len().min(64 << 10)];
    let deflate = flags & 1 != 0;
    let client = flags & 2 != 0;
    let limits = if flags & 4 != 0 {
        Limits {
            max_frame: 4 << 10,
            max_message: 8 << 10,
            ..Limits::default()
        }
    } else {
        Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
            ..Limits::default()
        }
    };

    let mut io = Io::new().unwrap();
    let [ours, peer] = sock::UnixConn::pair().unwrap();
    let stream = UnixStream::add(&mut io, ours).unwrap();
    let got: Slot<iox::Result<Ws>> = Rc::new(RefCell::new(None));
    let g = got.clone();
    let mut out = Vec::new();
    if client {
        let mut cfg = ClientConfig::default().limits(limits);
        if deflate {
            cfg = cfg.deflate(deflate_cfg(flags));
        }
        WebSocket::client(&mut io, stream, "fuzz", "/", &cfg, move |_, r| {
            *g.borrow_mut() = Some(r)
        })
        .unwrap();
        // The request, then the answer to it.
        let start = Instant::now();
        while head_end(&out).is_none() {
            assert!(start.elapsed() < HANG, "no upgrade request");
            drive(&mut io, &peer, &mut out, || true);
            let _ = io.run_one_for(Duration::from_millis(1));
        }
        let req = String::from_utf8_lossy(&out[..head_end(&out).unwrap()]).into_owned();
        out.clear();
        let key = req
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_owned())
            })
            .expect("the request has a key");
        let mut resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n",
            accept_key(key.as_bytes())
        );
        if deflate {
            resp.push_str(&format!(
                "Sec-WebSocket-Extensions: {}\r\n",
                response_extension(flags)
            ));
        }
        resp.push_str("\r\n");
        peer.write_all(resp.as_bytes()).unwrap();
    } else {
        let mut cfg = ServerConfig::default().limits(limits);
        if deflate {
            cfg = cfg.deflate(DeflateConfig::default());
        }
        WebSocket::accept(&mut io, stream, &cfg, move |_, r| *g.borrow_mut() = Some(r)).unwrap();
        let mut req = format!(
            "GET /feed HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if deflate {
            let mut offer = response_extension(flags);
            if flags & 16 == 0 {
                offer.push_str("; client_max_window_bits");
            }
            req.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
        }
        req.push_str("\r\n");
        peer.write_all(req.as_bytes()).unwrap();
    }
    // The input as the peer's frames, then the end of its stream.
    peer.write_all(data).unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();

    drive(&mut io, &peer, &mut out, || got.borrow().is_some());
    let ws = got
        .borrow_mut()
        .take()
        .unwrap()
        .expect("a well-formed handshake succeeds");
    assert_eq!(ws.handshake().deflate.is_some(), deflate);
    if !client {
        let end = head_end(&out).expect("the 101 response went out");
        assert!(out.starts_with(b"HTTP/1.1 101 "));
        out.drain(..end);
    }

    // Read until the read fails (every input ends, so every read completes).
    let next: Slot<(iox::Result<()>, Ws)> = Rc::new(RefCell::new(None));
    let mut ws = ws;
    let mut failure = None;
    for _ in 0..100_000 {
        let n = next.clone();
        if ws
            .async_read(&mut io, move |_, r, ws| *n.borrow_mut() = Some((r, ws)))
            .is_err()
        {
            // Refused: the peer's close came already (the connection is dropped).
            return;
        }
        drive(&mut io, &peer, &mut out, || next.borrow().is_some());
        let (r, mut w) = next.borrow_mut().take().unwrap();
        match r {
            Ok(()) => {
                let m = w.message().expect("a completed read lends a message");
                match m {
                    Message::Text(t) => assert!(t.len() <= limits.max_message),
                    Message::Binary(b) => assert!(b.len() <= limits.max_message),
                    Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
                    Message::Close(..) => {}
                }
                ws = w;
            }
            Err(e) => {
                failure = Some((e, w.sender().close_sent()));
                // Sticky: the next read is refused with an error.
                let n = next.clone();
                assert!(
                    w.async_read(&mut io, move |_, r, ws| *n.borrow_mut() = Some((r, ws)))
                        .is_err(),
                    "a failed connection reads again"
                );
                break;
            }
        }
    }
    let Some((e, close_sent)) = failure else {
        return;
    };
    // Let the close frame go out, then look at what our side sent last.
    for _ in 0..10 {
        let _ = io.run_one_for(Duration::from_millis(0));
    }
    drive(&mut io, &peer, &mut out, || true);
    match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset => {}
        _ => {
            assert!(close_sent, "a violation ({e}) sends a close frame");
            let (op, payload) = last_frame(&out).expect("a close frame on the wire");
            assert_eq!(op, Some(Opcode::Close), "{e}");
            let code = parse_close(&payload).map(|(c, _)| c);
            assert!(
                matches!(
                    code,
                    Ok(CloseCode::PROTOCOL | CloseCode::INVALID_DATA | CloseCode::TOO_BIG)
                ),
                "{e}: close code {code:?}"
            );
        }
    }
});
