//! A peer that breaks the protocol (a raw TCP peer on another thread writing hand-made
//! frames) gets a close frame with the right code, and our side's read fails with an
//! error naming what was wrong; never a panic, a hang or a buffer the size of a forged
//! header.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::Shutdown;

use sonic_io::{ErrorKind, Io};
use sonic_websocket::{ClientConfig, CloseCode, Limits, ServerConfig, WebSocket};

const REQUEST: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A frame as a client sends it (masked with a fixed key), with the first byte as given.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![first];
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n <= 0xFFFF {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

fn read_head(s: &mut std::net::TcpStream) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "connection ended inside the head"
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
}

/// Upgrades, writes `bytes` (then half-closes if `then_shut`), and returns everything the
/// server sent until it closed.
fn raw_client(addr: std::net::SocketAddr, bytes: Vec<u8>, then_shut: bool) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    s.write_all(REQUEST).unwrap();
    read_head(&mut s);
    s.write_all(&bytes).unwrap();
    if then_shut {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    rest
}

/// Runs one case: our server with `limits` reads until it fails; returns the error it got
/// and the close code the peer saw (None if no close frame came).
fn case(bytes: Vec<u8>, then_shut: bool, limits: Limits) -> (sonic_io::Error, Option<u16>) {
    let mut io = Io::new().unwrap();
    let (l, _) = listen(&mut io);
    let addr = l.get(&io).unwrap().local_addr().unwrap();
    let peer = std::thread::spawn(move || raw_client(addr.try_into().unwrap(), bytes, then_shut));
    let got = slot();
    let g = got.clone();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        WebSocket::accept(
            io,
            conn,
            &ServerConfig::default().limits(limits),
            move |io, ws| {
                read_until_error(io, ws.unwrap(), g);
            },
        )
        .unwrap();
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    let rest = peer.join().unwrap();
    let err = got.borrow_mut().take().unwrap();
    let code = match rest.as_slice() {
        [0x88, len, a, b, ..] if *len >= 2 => Some(u16::from_be_bytes([*a, *b])),
        [] => None,
        other => panic!("not a close frame: {other:x?}"),
    };
    (err, code)
}

fn read_until_error(
    io: &mut Io,
    ws: WebSocket,
    got: std::rc::Rc<std::cell::RefCell<Option<sonic_io::Error>>>,
) {
    ws.async_read(io, move |io, r, ws| match r {
        Ok(()) => read_until_error(io, ws, got),
        Err(e) => {
            *got.borrow_mut() = Some(e);
            ws.close(io).unwrap();
        }
    })
    .unwrap();
}

fn expect(bytes: Vec<u8>, code: CloseCode, kind: ErrorKind, what: &str) {
    let (e, seen) = case(bytes, false, Limits::default());
    assert_eq!(seen, Some(code.0), "{what}: {e}");
    assert_eq!(e.kind(), kind, "{what}: {e}");
    assert_eq!(e.context_str(), Some(what));
}

#[test]
fn protocol_errors_close_with_1002() {
    let p = CloseCode::PROTOCOL;
    let k = ErrorKind::InvalidInput;
    expect(masked(0x83, b"x"), p, k, "frame has a reserved opcode");
    expect(masked(0xA1, b"x"), p, k, "frame has RSV2 or RSV3 set");
    expect(
        masked(0xC1, b"x"),
        p,
        k,
        "RSV1 set without permessage-deflate",
    );
    expect(
        vec![0x81, 0x01, b'x'],
        p,
        k,
        "client sent an unmasked frame",
    );
    expect(
        masked(0x80, b"x"),
        p,
        k,
        "continuation frame without a message to continue",
    );
    let mut two_starts = masked(0x01, b"a");
    two_starts.extend(masked(0x81, b"b"));
    expect(two_starts, p, k, "new message inside a fragmented message");
    expect(
        masked(0x89, &[0; 126]),
        p,
        k,
        "control frame carries more than 125 bytes",
    );
    expect(masked(0x09, b"x"), p, k, "control frame is fragmented");
    expect(
        masked(0x88, &[0x03]),
        p,
        k,
        "close frame has an invalid code or length",
    );
    expect(
        masked(0x88, &1005u16.to_be_bytes()),
        p,
        k,
        "close frame has an invalid code or length",
    );
    expect(
        masked(0x88, &999u16.to_be_bytes()),
        p,
        k,
        "close frame has an invalid code or length",
    );
}

#[test]
fn invalid_utf8_closes_with_1007_as_soon_as_it_is_seen() {
    let d = CloseCode::INVALID_DATA;
    let k = ErrorKind::InvalidInput;
    expect(
        masked(0x81, &[b'a', 0xFF]),
        d,
        k,
        "text message is not valid UTF-8",
    );
    // The second fragment breaks it; no final fragment ever comes, so the server must
    // not wait for one.
    let mut frags = masked(0x01, "κ".as_bytes());
    frags.extend(masked(0x00, &[0xED, 0xA0, 0x80]));
    expect(frags, d, k, "text message is not valid UTF-8");
    // A message ending inside a character.
    let mut cut = masked(0x01, b"ok");
    cut.extend(masked(0x80, &[0xE2, 0x82]));
    expect(cut, d, k, "text message is not valid UTF-8");
    // Inside one frame whose end never comes: the bad byte is enough (a character
    // split across the frames before it does not fool the check).
    let mut partial = masked(0x81, &[b'a'; 100]);
    partial.truncate(2 + 4 + 10);
    let key = [0x11, 0x22, 0x33, 0x44];
    partial[6 + 9] = 0xFF ^ key[9 % 4];
    expect(partial, d, k, "text message is not valid UTF-8");
    let mut partial = masked(0x01, &"aκ".as_bytes()[..2]);
    let mut cont = masked(0x00, &[0xBA, b'b', 0xC0, 0xAF, b'c', b'd']);
    cont.truncate(6 + 4);
    partial.extend(cont);
    expect(partial, d, k, "text message is not valid UTF-8");
    let mut reason = vec![0x03, 0xE8];
    reason.push(0xC0);
    expect(
        masked(0x88, &reason),
        d,
        k,
        "close reason is not valid UTF-8",
    );
}

#[test]
fn oversized_frames_and_messages_close_with_1009_before_buffering() {
    let limits = Limits {
        max_frame: 1 << 20,
        max_message: 1000,
        ..Limits::default()
    };
    // A header announcing 1 GiB and nothing after it: refused from the header alone.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 30).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    let (e, code) = case(huge, false, limits);
    assert_eq!(code, Some(1009));
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
    assert_eq!(e.context_str(), Some("frame exceeds the frame limit"));
    // Two fragments of 600 bytes: the message passes its limit.
    let mut frags = masked(0x02, &[7; 600]);
    frags.extend(masked(0x80, &[7; 600]));
    let (e, code) = case(frags, false, limits);
    assert_eq!(code, Some(1009));
    assert_eq!(e.context_str(), Some("message exceeds the message limit"));
    // One frame over the message limit but under the frame limit.
    let (e, code) = case(masked(0x82, &[7; 1001]), false, limits);
    assert_eq!(code, Some(1009));
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
}

#[test]
fn a_peer_vanishing_mid_frame_ends_the_read_with_eof() {
    let mut half = masked(0x82, &[9; 300]);
    half.truncate(100);
    let (e, code) = case(half, true, Limits::default());
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(code, None);
}

#[test]
fn a_client_refuses_a_masked_frame_from_the_server() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(HANG)).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            sonic_websocket::accept_key(key.as_bytes())
        );
        s.write_all(resp.as_bytes()).unwrap();
        s.write_all(&masked(0x81, b"masked by a server")).unwrap();
        // The client's close frame is masked: 0x88, 0x80 | len, key, code.
        let mut close = [0u8; 8];
        s.read_exact(&mut close).unwrap();
        assert_eq!(close[0], 0x88);
        u16::from_be_bytes([close[6] ^ close[2], close[7] ^ close[3]])
    });
    let mut io = Io::new().unwrap();
    let got = slot();
    let g = got.clone();
    WebSocket::dial(&mut io, &url, &ClientConfig::default(), move |io, ws| {
        ws.unwrap()
            .async_read(io, move |io, r, ws| {
                *g.borrow_mut() = Some(r);
                ws.close(io).unwrap();
            })
            .unwrap();
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.context_str(), Some("server sent a masked frame"));
    assert_eq!(server.join().unwrap(), 1002);
}

#[test]
fn a_bad_upgrade_request_gets_400_and_the_accept_fails() {
    let mut io = Io::new().unwrap();
    let (l, _) = listen(&mut io);
    let addr = l.get(&io).unwrap().local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let addr: std::net::SocketAddr = addr.try_into().unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(HANG)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        resp
    });
    let got = slot();
    let g = got.clone();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        WebSocket::accept(io, conn, &ServerConfig::default(), move |_, ws| {
            *g.borrow_mut() = Some(ws.map(drop));
        })
        .unwrap();
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(
        e.context_str(),
        Some("handshake request lacks Upgrade: websocket")
    );
    assert!(
        peer.join()
            .unwrap()
            .starts_with(b"HTTP/1.1 400 Bad Request")
    );
}

#[test]
fn a_peer_ignoring_our_close_is_cut_off_after_the_close_timeout() {
    let mut io = Io::new().unwrap();
    let (l, _) = listen(&mut io);
    let addr = l.get(&io).unwrap().local_addr().unwrap();
    // The peer upgrades, then only reads: it never answers the close.
    let peer = std::thread::spawn(move || raw_client(addr.try_into().unwrap(), Vec::new(), false));
    let got = slot();
    let g = got.clone();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        WebSocket::accept(io, conn, &ServerConfig::default(), move |io, ws| {
            let mut ws = ws.unwrap();
            ws.set_close_timeout(std::time::Duration::from_millis(100));
            ws.async_close(io, CloseCode::GOING_AWAY, "shutting down", move |_, r| {
                *g.borrow_mut() = Some(r)
            })
            .unwrap();
        })
        .unwrap();
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    let rest = peer.join().unwrap();
    assert_eq!(&rest[..4], &[0x88, 15, 0x03, 0xE9]);
    assert_eq!(&rest[4..], b"shutting down");
}

/// A peer that floods pings and does not read the pongs: the server's send FIFO stops
/// growing at its pong backlog (64 KiB, plus a frame), where it grew by every ping before
/// (a helper's flood of 300 MB took a server to 527 MB), and the latest ping is still
/// answered once the peer reads.
#[test]
fn a_ping_flood_that_does_not_read_pongs_grows_no_buffer() {
    const PINGS: u32 = 40_000;
    let mut io = Io::new().unwrap();
    let (l, addr) = listen_at(&mut io);
    let peer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        sock::opt::set_recv_buffer_size(&s, 4096).unwrap();
        s.set_read_timeout(Some(HANG)).unwrap();
        s.write_all(REQUEST).unwrap();
        read_head(&mut s);
        let mut flood = Vec::new();
        for i in 0..PINGS {
            let mut p = [b'.'; 125];
            p[..4].copy_from_slice(&i.to_be_bytes());
            flood.extend(masked(0x89, &p));
        }
        flood.extend(masked(0x82, b"end"));
        s.write_all(&flood).unwrap();
        // Now read: pongs and the echo of "end", until the last ping's pong (held back
        // while the backlog lasted, it may come after the echo).
        let mut got = Vec::new();
        let mut b = [0u8; 65536];
        let mut last_pong = None;
        let mut pongs = 0u32;
        let mut echoed = false;
        loop {
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "the server ended before the echo");
            got.extend_from_slice(&b[..n]);
            let mut at = 0;
            while got.len() >= at + 2 {
                let len = usize::from(got[at + 1] & 0x7F);
                if got.len() < at + 2 + len {
                    break;
                }
                match got[at] {
                    0x8A => {
                        pongs += 1;
                        last_pong =
                            Some(u32::from_be_bytes(got[at + 2..at + 6].try_into().unwrap()));
                    }
                    0x82 => echoed = true,
                    other => panic!("unexpected frame {other:x}"),
                }
                at += 2 + len;
            }
            got.drain(..at);
            if echoed && last_pong == Some(PINGS - 1) {
                return (pongs, last_pong);
            }
        }
    });
    let seen = slot();
    let sn = seen.clone();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        sock::opt::set_send_buffer_size(conn.get(io).unwrap(), 4096).unwrap();
        WebSocket::accept(io, conn, &ServerConfig::default(), move |io, ws| {
            ws.unwrap()
                .async_read(io, move |io, r, mut ws| {
                    r.unwrap();
                    let unsent = ws.sender().unsent();
                    ws.send_binary(io, b"end").unwrap();
                    ws.async_flush(io, move |_, r, _| {
                        r.unwrap();
                        *sn.borrow_mut() = Some(unsent);
                    })
                    .unwrap();
                })
                .unwrap();
        })
        .unwrap();
    })
    .unwrap();
    drive(&mut io, || seen.borrow().is_some());
    let (pongs, last) = peer.join().unwrap();
    let unsent = seen.borrow_mut().take().unwrap();
    eprintln!("{pongs} pongs for {PINGS} pings; {unsent} bytes unsent when the flood ended");
    assert!(
        unsent <= (64 << 10) + 127,
        "{unsent} bytes waited in the send FIFO"
    );
    assert_eq!(last, Some(PINGS - 1));
}

/// A violation answered while the peer does not read: the close frame cannot be flushed,
/// and the read's error comes after the close timeout (the stream then closed) instead of
/// whenever the peer reads again (a helper's peer held it 17 s).
#[test]
fn a_violation_from_a_peer_that_does_not_read_fails_the_read_after_the_close_timeout() {
    let mut io = Io::new().unwrap();
    let (l, addr) = listen_at(&mut io);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        sock::opt::set_recv_buffer_size(&s, 4096).unwrap();
        s.write_all(REQUEST).unwrap();
        read_head(&mut s);
        let mut flood = Vec::new();
        for _ in 0..20_000 {
            flood.extend(masked(0x89, &[b'.'; 125]));
        }
        flood.extend_from_slice(&[0x82, 0x01, b'x']);
        s.write_all(&flood).unwrap();
        // Not a byte read until the server has given up.
        done_rx.recv_timeout(HANG).unwrap();
    });
    let got = slot();
    let g = got.clone();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        sock::opt::set_send_buffer_size(conn.get(io).unwrap(), 4096).unwrap();
        WebSocket::accept(io, conn, &ServerConfig::default(), move |io, ws| {
            let mut ws = ws.unwrap();
            ws.set_close_timeout(std::time::Duration::from_millis(200));
            ws.async_read(io, move |_, r, _| *g.borrow_mut() = Some(r))
                .unwrap();
        })
        .unwrap();
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    done_tx.send(()).unwrap();
    peer.join().unwrap();
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.context_str(), Some("client sent an unmasked frame"));
}

/// `ServerConfig::timeout` bounds the upgrade: a client that connects and sends nothing,
/// or half a request, has its stream closed (it reads the end) and `accept` fails with
/// `TimedOut`; a client that completes the upgrade in time is served as before.
#[test]
fn the_server_timeout_closes_an_upgrade_that_does_not_come() {
    for sent in [&b""[..], &REQUEST[..40], REQUEST] {
        let mut io = Io::new().unwrap();
        let (l, addr) = listen_at(&mut io);
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(HANG)).unwrap();
            s.write_all(sent).unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            rest
        });
        let got = slot();
        let g = got.clone();
        let cfg = Box::new(ServerConfig::default().timeout(std::time::Duration::from_millis(200)));
        l.async_accept(&mut io, move |io, r| {
            let (conn, _) = r.unwrap();
            WebSocket::accept(io, conn, &cfg, move |io, ws| {
                *g.borrow_mut() = Some(ws.as_ref().map(|_| ()).map_err(|e| *e));
                if let Ok(ws) = ws {
                    ws.close(io).unwrap();
                }
            })
            .unwrap();
        })
        .unwrap();
        drive(&mut io, || got.borrow().is_some());
        let rest = peer.join().unwrap();
        let r = got.borrow_mut().take().unwrap();
        if sent.len() == REQUEST.len() {
            r.unwrap();
            assert!(rest.starts_with(b"HTTP/1.1 101"));
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
            assert_eq!(
                e.context_str(),
                Some("websocket accept timed out before the upgrade completed")
            );
            assert!(rest.is_empty(), "{rest:?}");
        }
    }
}

/// The upgrade's timer ends with the accept on every path (a review found two that left
/// it): an accept whose read is refused (the stream already closed) leaves no timer behind,
/// and an Io closed during a bounded accept completes it with `Cancelled`, as without a
/// bound, not `TimedOut` (a closed Io cancels no timer, which read as "it fired").
#[test]
fn the_upgrade_timer_ends_with_the_accept_on_every_path() {
    let mut io = Io::new().unwrap();
    let [a, _b] = sock::UnixConn::pair().unwrap();
    let a = sonic_io::Adapter::new(&mut io, a).unwrap();
    a.close(&mut io).unwrap();
    let cfg = ServerConfig::default().timeout(std::time::Duration::from_secs(30));
    assert!(WebSocket::accept(&mut io, a, &cfg, |_, _| panic!("not called")).is_err());
    assert_eq!(io.pending(), 0, "a timer outlived the refused accept");
    for timeout in [None, Some(std::time::Duration::from_secs(30))] {
        let mut io = Io::new().unwrap();
        let [a, _b] = sock::UnixConn::pair().unwrap();
        let a = sonic_io::Adapter::new(&mut io, a).unwrap();
        let cfg = ServerConfig {
            timeout,
            ..ServerConfig::default()
        };
        let got = slot();
        let g = got.clone();
        WebSocket::accept(&mut io, a, &cfg, move |_, r| {
            *g.borrow_mut() = Some(r.map(|_| ()).expect_err("an error"));
        })
        .unwrap();
        io.poll().unwrap();
        assert!(got.borrow().is_none());
        io.close().unwrap();
        let e = got.borrow_mut().take().expect("the callback ran");
        assert_eq!(e.kind(), ErrorKind::Cancelled, "timeout {timeout:?}: {e}");
    }
}
