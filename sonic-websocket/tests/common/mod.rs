//! Shared by the integration tests: a listener on 127.0.0.1, an echo server, a bounded
//! drive loop.
#![allow(dead_code, unreachable_pub)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_io::{ByteStream, Io, Listener, TcpAcceptor, TcpStream};
use sonic_websocket::{ClientConfig, CloseCode, Message, ServerConfig, WebSocket};

#[cfg(all(feature = "tls", target_os = "linux"))]
pub mod tls;

/// How long a test waits for anything before calling it a hang.
pub const HANG: Duration = Duration::from_secs(20);

/// Runs the Io until `done` says so; panics after [`HANG`] (a hang guard, not a timing
/// assertion).
pub fn drive(io: &mut Io, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < HANG, "the test hung");
        io.run_one_for(Duration::from_millis(100)).unwrap();
    }
}

/// A listener on an ephemeral port of 127.0.0.1 and its `ws://` URL.
pub fn listen(io: &mut Io) -> (TcpAcceptor, String) {
    let l = Listener::add(io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = l.get(io).unwrap().local_addr().unwrap();
    (l, format!("ws://{addr}/echo"))
}

/// A listener on an ephemeral port of 127.0.0.1 and its address, for a raw peer to dial.
pub fn listen_at(io: &mut Io) -> (TcpAcceptor, std::net::SocketAddr) {
    let l = Listener::add(io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = l.get(io).unwrap().local_addr().unwrap().try_into().unwrap();
    (l, addr)
}

/// Accepts connections forever and echoes every text and binary message.
pub fn serve_echo(io: &mut Io, l: TcpAcceptor, cfg: Rc<ServerConfig>) {
    let again = cfg.clone();
    l.async_accept(io, move |io, r| {
        if let Ok((conn, _)) = r {
            // A pong and an echo go out as two sends: without TCP_NODELAY the second
            // would wait for the client's delayed ACK.
            conn.get(io).unwrap().set_nodelay(true).unwrap();
            WebSocket::accept(io, conn, &again, |io, ws| {
                if let Ok(ws) = ws {
                    echo(io, ws);
                }
            })
            .unwrap();
            serve_echo(io, l, again);
        }
    })
    .unwrap();
    drop(cfg);
}

/// Echoes messages until the peer closes.
pub fn echo<S: ByteStream>(io: &mut Io, ws: WebSocket<S>) {
    let _ = ws.async_read(io, |io, r, mut ws| {
        if r.is_err() {
            let _ = ws.close(io);
            return;
        }
        let (m, tx) = ws.split();
        match m {
            Some(Message::Text(t)) => drop(tx.send_text(io, t)),
            Some(Message::Binary(b)) => drop(tx.send_binary(io, b)),
            Some(Message::Close(..)) => {
                let _ = ws.async_close(io, CloseCode::NORMAL, "", |_, _| {});
                return;
            }
            _ => {}
        }
        if ws.sender().unsent() > 0 {
            let _ = ws.async_flush(io, |io, r, ws| {
                if r.is_ok() {
                    echo(io, ws)
                }
            });
        } else {
            echo(io, ws);
        }
    });
}

/// A slot a callback leaves a value in for the test to pick up.
pub fn slot<T>() -> Rc<RefCell<Option<T>>> {
    Rc::new(RefCell::new(None))
}

/// A flag.
pub fn flag() -> Rc<Cell<bool>> {
    Rc::new(Cell::new(false))
}

/// Dials `url` and waits for the connection.
pub fn dial(io: &mut Io, url: &str, cfg: &ClientConfig) -> WebSocket<TcpStream> {
    let got = slot();
    let g = got.clone();
    WebSocket::dial(io, url, cfg, move |_, r| *g.borrow_mut() = Some(r)).unwrap();
    drive(io, || got.borrow().is_some());
    got.borrow_mut().take().unwrap().unwrap()
}

/// Reads the next message and hands back an owned copy of it with the connection.
pub fn next<S: ByteStream>(io: &mut Io, ws: WebSocket<S>) -> (WebSocket<S>, Owned) {
    let got = slot();
    let g = got.clone();
    ws.async_read(io, move |_, r, mut ws| {
        r.unwrap();
        let m = match ws.message().unwrap() {
            Message::Text(t) => Owned::Text(t.to_owned()),
            Message::Binary(b) => Owned::Binary(b.to_vec()),
            Message::Ping(b) => Owned::Ping(b.to_vec()),
            Message::Pong(b) => Owned::Pong(b.to_vec()),
            Message::Close(c, r) => Owned::Close(c, r.to_owned()),
        };
        *g.borrow_mut() = Some((ws, m));
    })
    .unwrap();
    drive(io, || got.borrow().is_some());
    got.borrow_mut().take().unwrap()
}

#[derive(Debug, PartialEq, Eq)]
pub enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseCode, String),
}

pub fn flush<S: ByteStream>(io: &mut Io, ws: WebSocket<S>) -> WebSocket<S> {
    let got = slot();
    let g = got.clone();
    ws.async_flush(io, move |_, r, ws| {
        r.unwrap();
        *g.borrow_mut() = Some(ws);
    })
    .unwrap();
    drive(io, || got.borrow().is_some());
    got.borrow_mut().take().unwrap()
}
