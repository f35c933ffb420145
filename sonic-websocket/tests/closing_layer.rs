//! How a WebSocket ends the byte stream under it: after a completed closing handshake it
//! closes the stream the way the stream's layer ends (`ByteStream::close_gracefully`: a TLS
//! stream sends close_notify, `sonic-tls/tests/stream.rs` checks that part); when the peer
//! did not answer the close in time, at once (`close_now`: an orderly TLS ending could wait
//! for a peer that stopped reading forever). A spy stream records which one was called.
//! A read after the connection is over (the peer's close came, or a read failed) is
//! refused and ends the stream too, so a loop that reads until an error leaks nothing.

mod common;

use std::cell::Cell;
use std::time::Duration;

use common::{drive, flag, listen, serve_echo, slot};
use sonic_io::{ByteStream, Io, StreamId, TcpStream};
use sonic_websocket::{ClientConfig, CloseCode, ServerConfig, WebSocket};

thread_local! {
    static GRACEFUL: Cell<u32> = const { Cell::new(0) };
    static NOW: Cell<u32> = const { Cell::new(0) };
}

/// A TCP stream that counts how it is closed.
#[derive(Clone, Copy)]
struct Spy(TcpStream);

impl ByteStream for Spy {
    fn stream_id(self) -> StreamId {
        self.0.stream_id()
    }
    fn close_gracefully(self, io: &mut Io) -> iox::Result<()> {
        GRACEFUL.with(|c| c.set(c.get() + 1));
        self.0.close_gracefully(io)
    }
    fn close_now(self, io: &mut Io) -> iox::Result<()> {
        NOW.with(|c| c.set(c.get() + 1));
        self.0.close_now(io)
    }
}

fn counts() -> (u32, u32) {
    (GRACEFUL.with(Cell::get), NOW.with(Cell::get))
}

fn client(io: &mut Io, addr: std::net::SocketAddr) -> WebSocket<Spy> {
    let tcp = slot();
    let t = tcp.clone();
    TcpStream::dial(io, addr, move |_, r| *t.borrow_mut() = Some(r.unwrap())).unwrap();
    drive(io, || tcp.borrow().is_some());
    let tcp = tcp.borrow_mut().take().unwrap();
    let ws = slot();
    let w = ws.clone();
    WebSocket::client(
        io,
        Spy(tcp),
        "localhost",
        "/",
        &ClientConfig::default(),
        move |_, r| *w.borrow_mut() = Some(r.unwrap()),
    )
    .unwrap();
    drive(io, || ws.borrow().is_some());
    ws.borrow_mut().take().unwrap()
}

#[test]
fn a_completed_closing_handshake_ends_the_stream_gracefully() {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/echo")
        .parse()
        .unwrap();
    serve_echo(&mut io, l, std::rc::Rc::new(ServerConfig::default()));
    let ws = client(&mut io, addr);
    let done = flag();
    let d = done.clone();
    ws.async_close(&mut io, CloseCode::NORMAL, "bye", move |_, r| {
        r.unwrap();
        d.set(true)
    })
    .unwrap();
    drive(&mut io, || done.get());
    assert_eq!(counts(), (1, 0), "the client's stream ended gracefully");
}

/// Accepts one connection on `l` and answers its upgrade request by hand.
fn upgrade_by_hand(l: &std::net::TcpListener) -> std::net::TcpStream {
    use std::io::{BufRead, BufReader, Write};
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(common::HANG)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut key = String::new();
    let mut line = String::new();
    while r.read_line(&mut line).unwrap() > 2 {
        if let Some(v) = line.strip_prefix("Sec-WebSocket-Key:") {
            key = v.trim().to_owned();
        }
        line.clear();
    }
    let accept = sonic_websocket::accept_key(key.as_bytes());
    write!(
        &s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .unwrap();
    s
}

/// A hand-made server sends `frame` after the upgrade and then reads until the client
/// ends the stream; our client reads until an error, as a naive loop does, including one
/// more read after the read that ended the connection. Returns the error of the first
/// failed read, the error of the read after it (refused at submission), and the bytes
/// the server got after the upgrade.
fn read_past_the_end(frame: &'static [u8]) -> (Option<iox::Error>, iox::Error, Vec<u8>) {
    let mut io = Io::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = upgrade_by_hand(&l);
        s.write_all(frame).unwrap();
        let mut got = Vec::new();
        // Ends when the client closes the stream; a leaked stream makes this time out.
        s.read_to_end(&mut got).unwrap();
        got
    });
    let ws = client(&mut io, addr);
    assert_eq!(io.objects(), 1);
    let first = slot();
    let f = first.clone();
    ws.async_read(&mut io, move |io, r, ws| {
        let failed = r.err();
        let refused = ws.async_read(io, |_, _, _| panic!("a read after the end completed"));
        *f.borrow_mut() = Some((failed, refused.unwrap_err()));
    })
    .unwrap();
    drive(&mut io, || first.borrow().is_some());
    let (failed, refused) = first.borrow_mut().take().unwrap();
    assert_eq!(io.objects(), 0, "the refused read closed the stream");
    (failed, refused, peer.join().unwrap())
}

#[test]
fn a_read_after_the_peers_close_is_refused_and_ends_the_stream() {
    // The peer's close (1000, "bye"), unmasked as a server sends it.
    let (failed, refused, got) = read_past_the_end(&[0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
    assert!(failed.is_none(), "the close is a message: {failed:?}");
    assert_eq!(refused.kind(), iox::ErrorKind::Closed, "{refused}");
    // Our answer (masked: 2 + 4 + the echoed code) went out before the stream ended.
    assert_eq!(got.len(), 8, "{got:x?}");
    assert_eq!(got[0], 0x88);
    assert_eq!(
        counts(),
        (1, 0),
        "all was sent: the stream ended gracefully"
    );
}

#[test]
fn a_read_after_a_failed_read_is_refused_and_ends_the_stream() {
    // A masked frame from the server breaks the protocol.
    let (failed, refused, got) = read_past_the_end(&[0x82, 0x81, 1, 2, 3, 4, 0x55]);
    let failed = failed.expect("a masked frame from a server fails the read");
    assert_eq!(failed.kind(), iox::ErrorKind::InvalidInput);
    assert_eq!(refused, failed, "the refusal names the failure");
    // Our close frame, masked, carrying 1002 and the reason, then the end of the stream.
    assert_eq!(got[0], 0x88, "{got:x?}");
    assert_eq!(got.len(), 6 + usize::from(got[1] & 0x7F), "{got:x?}");
    let code = u16::from_be_bytes([got[6] ^ got[2], got[7] ^ got[3]]);
    assert_eq!(code, CloseCode::PROTOCOL.0);
    assert_eq!(counts(), (1, 0));
}

#[test]
fn a_peer_that_ignores_our_close_has_its_stream_closed_at_once() {
    let mut io = Io::new().unwrap();
    // A server that completes the opening handshake by hand, then never reads again.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let s = upgrade_by_hand(&l);
        // Silent from here on: its read ends when the client is gone.
        let mut buf = [0u8; 64];
        while matches!(std::io::Read::read(&mut &s, &mut buf), Ok(n) if n > 0) {}
    });
    let mut ws = client(&mut io, addr);
    ws.set_close_timeout(Duration::from_millis(50));
    let end = slot();
    let e = end.clone();
    ws.async_close(&mut io, CloseCode::NORMAL, "", move |_, r| {
        *e.borrow_mut() = Some(r)
    })
    .unwrap();
    drive(&mut io, || end.borrow().is_some());
    let r = end.borrow_mut().take().unwrap();
    assert_eq!(r.unwrap_err().kind(), iox::ErrorKind::TimedOut);
    let (graceful, now) = counts();
    assert_eq!(graceful, 0, "no orderly ending towards a peer that stopped");
    assert!(now >= 1);
    peer.join().unwrap();
}
