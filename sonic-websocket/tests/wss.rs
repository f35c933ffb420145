//! wss://: our client (`WebSocket::dial_tls`) against our server (`WebSocket::accept` over
//! a sonic-tls `TlsStream`), certificates made by rcgen at test time; the dial's one
//! timeout over resolution, connect, TLS handshake and upgrade, and errors naming the
//! stage that failed.
#![cfg(all(feature = "tls", target_os = "linux"))]

mod common;
use common::tls::{Pki, serve_echo_tls};
use common::*;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use sonic_io::{ErrorKind, Io, Listener};
use sonic_websocket::sonic_tls::{TlsStream, rustls};
use sonic_websocket::{ClientConfig, CloseCode, DeflateConfig, Message, ServerConfig, WebSocket};

type Wss = WebSocket<TlsStream>;

fn dial_tls(
    io: &mut Io,
    url: &str,
    cfg: &ClientConfig,
    tls: Arc<rustls::ClientConfig>,
) -> sonic_io::Result<Wss> {
    let got = slot();
    let g = got.clone();
    WebSocket::dial_tls(io, url, cfg, tls, move |_, r| *g.borrow_mut() = Some(r))?;
    drive(io, || got.borrow().is_some());
    got.borrow_mut().take().unwrap()
}

fn close(io: &mut Io, ws: Wss) -> sonic_io::Result<()> {
    let done = slot();
    let d = done.clone();
    ws.async_close(io, CloseCode::NORMAL, "bye", move |_, r| {
        *d.borrow_mut() = Some(r)
    })
    .unwrap();
    drive(io, || done.borrow().is_some());
    done.borrow_mut().take().unwrap()
}

fn echo_over_tls(deflate: bool, host: &str) {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let port = url.rsplit(':').next().unwrap();
    let url = format!("wss://{host}:{port}");
    let scfg = ServerConfig::default().deflate(DeflateConfig::default());
    serve_echo_tls(&mut io, l, Rc::new(scfg), pki.server());
    let mut cfg = ClientConfig::default().timeout(HANG);
    if deflate {
        cfg = cfg.deflate(DeflateConfig::default());
    }
    let mut ws = dial_tls(&mut io, &url, &cfg, pki.client()).unwrap();
    assert_eq!(ws.handshake().deflate.is_some(), deflate);
    let tls = ws.next_layer().get(&io).unwrap();
    assert!(tls.protocol_version().is_some());
    let big: String = "κόσμε ".repeat(40_000);
    let bin: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    for text in ["hello", "", big.as_str()] {
        ws.send_text(&mut io, text).unwrap();
        ws = flush(&mut io, ws);
        let (w, m) = next(&mut io, ws);
        assert_eq!(m, Owned::Text(text.into()));
        ws = w;
    }
    for data in [&b"\x00\x01\x02"[..], &bin] {
        ws.send_binary(&mut io, data).unwrap();
        ws = flush(&mut io, ws);
        let (w, m) = next(&mut io, ws);
        assert_eq!(m, Owned::Binary(data.to_vec()));
        ws = w;
    }
    ws.sender().ping(&mut io, b"over tls").unwrap();
    let (ws, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Pong(b"over tls".to_vec()));
    assert_eq!(close(&mut io, ws), Ok(()));
}

#[test]
fn our_wss_client_and_server_echo_text_and_binary() {
    echo_over_tls(false, "127.0.0.1");
}

#[test]
fn our_wss_client_and_server_echo_compressed() {
    echo_over_tls(true, "127.0.0.1");
}

/// `localhost` goes through the resolver thread, and is the name (SNI) the certificate
/// is checked against.
#[test]
fn a_host_name_is_resolved_off_the_io_and_used_as_the_server_name() {
    echo_over_tls(true, "localhost");
}

/// The server closes first: the client gets the close, answers, and both ends finish.
#[test]
fn the_server_closes_first_over_tls() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let l = Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = l.get(&io).unwrap().local_addr().unwrap();
    let server_done = slot();
    let sd = server_done.clone();
    let tls = pki.server();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        TlsStream::accept(io, conn, tls, move |io, r| {
            WebSocket::accept(io, r.unwrap(), &ServerConfig::default(), move |io, ws| {
                let ws = ws.unwrap();
                ws.async_close(io, CloseCode(4001), "server done", move |_, r| {
                    *sd.borrow_mut() = Some(r)
                })
                .unwrap();
            })
            .unwrap();
        })
        .unwrap();
    })
    .unwrap();
    let cfg = ClientConfig::default().timeout(HANG);
    let ws = dial_tls(&mut io, &format!("wss://{addr}/"), &cfg, pki.client()).unwrap();
    let (ws, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Close(CloseCode(4001), "server done".into()));
    assert_eq!(close(&mut io, ws), Ok(()));
    drive(&mut io, || server_done.borrow().is_some());
    assert_eq!(server_done.borrow_mut().take().unwrap(), Ok(()));
}

#[test]
fn a_server_certificate_from_an_unknown_issuer_fails_the_tls_stage() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    serve_echo_tls(&mut io, l, Rc::new(ServerConfig::default()), pki.server());
    let url = url.replacen("ws://", "wss://", 1);
    let cfg = ClientConfig::default().timeout(HANG);
    let e = dial_tls(&mut io, &url, &cfg, pki.distrusting_client()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(
        e.context_str(),
        Some("TLS: certificate signed by an unknown issuer"),
        "{e}"
    );
}

/// A server that accepts the TCP connection (from the kernel's backlog) and never speaks.
#[test]
fn a_silent_server_times_the_dial_out_in_the_tls_handshake() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("wss://{}/", silent.local_addr().unwrap());
    let cfg = ClientConfig::default().timeout(Duration::from_millis(200));
    let e = dial_tls(&mut io, &url, &cfg, pki.client()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert_eq!(
        e.context_str(),
        Some("websocket dial timed out in the TLS handshake")
    );
    assert_eq!(io.objects(), 0, "the dial left an object behind");
}

/// A server that completes the TLS handshake and never answers the upgrade.
#[test]
fn a_server_that_never_upgrades_times_the_dial_out_in_the_upgrade() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let l = Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = l.get(&io).unwrap().local_addr().unwrap();
    let tls = pki.server();
    let held = slot();
    let h = held.clone();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        TlsStream::accept(io, conn, tls, move |_, r| {
            *h.borrow_mut() = Some(r.unwrap())
        })
        .unwrap();
    })
    .unwrap();
    let cfg = ClientConfig::default().timeout(Duration::from_millis(300));
    let e = dial_tls(&mut io, &format!("wss://{addr}/"), &cfg, pki.client()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert_eq!(
        e.context_str(),
        Some("websocket dial timed out in the HTTP upgrade")
    );
    assert!(
        held.borrow().is_some(),
        "the server finished its TLS handshake"
    );
}

#[test]
fn dial_tls_takes_only_wss_urls_and_dial_only_ws() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let e = WebSocket::dial_tls(
        &mut io,
        "ws://127.0.0.1:1/",
        &ClientConfig::default(),
        pki.client(),
        |_, _| {},
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = WebSocket::dial(
        &mut io,
        "wss://127.0.0.1:1/",
        &ClientConfig::default(),
        |_, _| {},
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(
        e.context_str(),
        Some("wss:// is dialled with WebSocket::dial_tls")
    );
    assert_eq!(
        sonic_websocket::Url::parse("wss://example.com/x")
            .unwrap()
            .port,
        443
    );
}

#[test]
fn messages_arrive_whole_through_tls_records() {
    // A message of many TLS records, and many messages in one record: the reads see
    // whole messages either way.
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    serve_echo_tls(&mut io, l, Rc::new(ServerConfig::default()), pki.server());
    let url = url.replacen("ws://", "wss://", 1);
    let mut ws = dial_tls(&mut io, &url, &ClientConfig::default(), pki.client()).unwrap();
    for i in 0..100u32 {
        ws.send_binary(&mut io, &i.to_be_bytes()).unwrap();
    }
    let mut ws = flush(&mut io, ws);
    for i in 0..100u32 {
        let (w, m) = next(&mut io, ws);
        assert_eq!(m, Owned::Binary(i.to_be_bytes().to_vec()));
        ws = w;
    }
    let got = slot();
    let g = got.clone();
    ws.send_text(&mut io, &"x".repeat(100_000)).unwrap();
    ws.async_read(&mut io, move |_, r, mut ws| {
        r.unwrap();
        let n = match ws.message() {
            Some(Message::Text(t)) => t.len(),
            _ => 0,
        };
        *g.borrow_mut() = Some(n);
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    assert_eq!(got.borrow_mut().take(), Some(100_000));
}
