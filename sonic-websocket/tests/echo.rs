//! Our client against our server on one Io: messages of every header size, fragmented
//! messages with a ping in between, permessage-deflate, subprotocols and headers, the close
//! handshake, the dial timeout.

mod common;
use common::*;

use std::rc::Rc;
use std::time::Duration;

use sonic_io::Io;
use sonic_websocket::{
    ClientConfig, CloseCode, DeflateConfig, Message, Opcode, ServerConfig, WebSocket,
};

fn round_trips(deflate: bool) {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let mut scfg = ServerConfig::default();
    let mut ccfg = ClientConfig::default();
    if deflate {
        scfg = scfg.deflate(DeflateConfig::default());
        ccfg = ccfg.deflate(DeflateConfig::default());
    }
    serve_echo(&mut io, l, Rc::new(scfg));
    let mut ws = dial(&mut io, &url, &ccfg);
    assert_eq!(ws.handshake().deflate.is_some(), deflate);
    assert_eq!(ws.sender().compressing(), deflate);
    // 2047 and 2048 straddle the size from which a server sends a payload from where it
    // lies (one gather write, `GATHER_MIN`); 1 MiB overfills the socket, so a gathered
    // frame is also taken in part and its rest buffered.
    for len in [0usize, 1, 125, 126, 127, 2047, 2048, 65535, 65536, 1 << 20] {
        let bin: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send_binary(&mut io, &bin).unwrap();
        ws = flush(&mut io, ws);
        let (w, m) = next(&mut io, ws);
        assert_eq!(m, Owned::Binary(bin), "binary of {len} bytes");
        ws = w;
        let text: String = "κόσμε-".chars().cycle().take(len / 2).collect();
        ws.send_text(&mut io, &text).unwrap();
        ws = flush(&mut io, ws);
        let (w, m) = next(&mut io, ws);
        assert_eq!(m, Owned::Text(text), "text of {len} bytes");
        ws = w;
    }
    // A message sent uncompressed on a compressed connection (the per-message switch).
    ws.sender().set_compression(false);
    ws.send_text(&mut io, "plain").unwrap();
    let (ws, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Text("plain".into()));
    let done = flag();
    let d = done.clone();
    ws.async_close(&mut io, CloseCode::NORMAL, "bye", move |_, r| {
        r.unwrap();
        d.set(true);
    })
    .unwrap();
    drive(&mut io, || done.get());
}

#[test]
fn messages_of_every_header_size_round_trip() {
    round_trips(false);
}

#[test]
fn messages_round_trip_compressed_with_permessage_deflate() {
    round_trips(true);
}

#[test]
fn compressed_with_every_window_and_no_context_takeover() {
    for bits in [9u8, 10, 12, 15] {
        for nct in [false, true] {
            let mut io = Io::new().unwrap();
            let (l, url) = listen(&mut io);
            let d = DeflateConfig {
                server_no_context_takeover: nct,
                client_no_context_takeover: nct,
                server_max_window_bits: bits,
                client_max_window_bits: bits,
                ..DeflateConfig::default()
            };
            serve_echo(
                &mut io,
                l,
                Rc::new(ServerConfig::default().deflate(DeflateConfig::default())),
            );
            let mut ws = dial(&mut io, &url, &ClientConfig::default().deflate(d));
            let p = ws.handshake().deflate.unwrap();
            assert_eq!(
                (p.server_max_window_bits, p.client_max_window_bits),
                (bits, bits)
            );
            assert_eq!(p.server_no_context_takeover, nct);
            assert_eq!(p.client_no_context_takeover, nct);
            for round in 0..5 {
                let msg = format!("{round} the same words again and again and again {bits} {nct}");
                ws.send_text(&mut io, &msg).unwrap();
                let (w, m) = next(&mut io, ws);
                assert_eq!(m, Owned::Text(msg));
                ws = w;
            }
        }
    }
}

#[test]
fn a_fragmented_message_with_a_ping_inside_is_reassembled_and_the_ping_answered_first() {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    serve_echo(&mut io, l, Rc::new(ServerConfig::default()));
    let mut ws = dial(&mut io, &url, &ClientConfig::default());
    let tx = ws.sender();
    tx.send_frame(&mut io, Opcode::Text, false, "κό".as_bytes())
        .unwrap();
    tx.ping(&mut io, b"are you there").unwrap();
    // A character split across two fragments.
    tx.send_frame(&mut io, Opcode::Continuation, false, &"σμε".as_bytes()[..3])
        .unwrap();
    tx.send_frame(&mut io, Opcode::Continuation, true, &"σμε".as_bytes()[3..])
        .unwrap();
    let (ws, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Pong(b"are you there".to_vec()));
    let (_, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Text("κόσμε".into()));
}

#[test]
fn subprotocol_and_extra_headers_are_negotiated() {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let seen = slot();
    let s = seen.clone();
    let cfg = Box::new(
        ServerConfig::default()
            .protocol("v2.feed")
            .protocol("v1.feed")
            .header("X-Server", "sonic"),
    );
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        WebSocket::accept(io, conn, &cfg, move |_, ws| {
            let ws = ws.unwrap();
            *s.borrow_mut() = Some((
                ws.protocol().map(str::to_owned),
                ws.handshake().header("x-token").map(str::to_owned),
                ws.handshake().path.clone(),
            ));
        })
        .unwrap();
    })
    .unwrap();
    let ccfg = ClientConfig::default()
        .protocol("v1.feed")
        .protocol("v2.feed")
        .header("X-Token", "t0k3n");
    let ws = dial(&mut io, &format!("{url}?depth=5"), &ccfg);
    assert_eq!(ws.protocol(), Some("v2.feed"));
    assert_eq!(ws.handshake().header("X-SERVER"), Some("sonic"));
    drive(&mut io, || seen.borrow().is_some());
    assert_eq!(
        seen.borrow_mut().take().unwrap(),
        (
            Some("v2.feed".into()),
            Some("t0k3n".into()),
            "/echo?depth=5".into()
        )
    );
}

#[test]
fn the_close_handshake_carries_code_and_reason_both_ways() {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let server_saw = slot();
    let s = server_saw.clone();
    l.async_accept(&mut io, move |io, r| {
        let (conn, _) = r.unwrap();
        WebSocket::accept(io, conn, &ServerConfig::default(), move |io, ws| {
            ws.unwrap()
                .async_read(io, move |io, r, mut ws| {
                    r.unwrap();
                    if let Some(Message::Close(c, reason)) = ws.message() {
                        *s.borrow_mut() = Some((c, reason.to_owned()));
                    }
                    assert!(ws.close_received() && ws.sender().close_sent());
                    ws.async_close(io, CloseCode::NORMAL, "", |_, r| r.unwrap())
                        .unwrap();
                })
                .unwrap();
        })
        .unwrap();
    })
    .unwrap();
    let ws = dial(&mut io, &url, &ClientConfig::default());
    let done = slot();
    let d = done.clone();
    ws.async_close(&mut io, CloseCode(4000), "done for today", move |_, r| {
        *d.borrow_mut() = Some(r)
    })
    .unwrap();
    drive(&mut io, || done.borrow().is_some());
    assert_eq!(done.borrow_mut().take().unwrap(), Ok(()));
    assert_eq!(
        server_saw.borrow_mut().take().unwrap(),
        (CloseCode(4000), "done for today".into())
    );
}

#[test]
fn a_server_that_never_answers_the_upgrade_times_the_dial_out() {
    let mut io = Io::new().unwrap();
    // The kernel completes the TCP handshake from the backlog; nobody ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let got = slot();
    let g = got.clone();
    let cfg = ClientConfig::default().timeout(Duration::from_millis(200));
    WebSocket::dial(&mut io, &url, &cfg, move |_, r| {
        *g.borrow_mut() = Some(r.map(drop))
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.kind(), sonic_io::ErrorKind::TimedOut, "{e}");
}

#[test]
fn urls_other_than_ws_are_refused() {
    let mut io = Io::new().unwrap();
    for (url, kind) in [
        ("http://127.0.0.1:1/", sonic_io::ErrorKind::InvalidInput),
        ("wss://127.0.0.1:1/", sonic_io::ErrorKind::Unsupported),
        ("ws://:80/", sonic_io::ErrorKind::InvalidInput),
        ("ws://127.0.0.1:99999/", sonic_io::ErrorKind::InvalidInput),
    ] {
        let e = WebSocket::dial(&mut io, url, &ClientConfig::default(), |_, _| {}).unwrap_err();
        assert_eq!(e.kind(), kind, "{url}");
    }
}

/// Messages past one FIFO growth step (a `ByteBuffer` claim grows by 16 MiB at most) go
/// both ways, uncompressed: the client's 24 MiB message is framed into its send FIFO over
/// several steps, and the server's echo of it is gathered with its rest buffered the same
/// way (a helper's 17 MB client message failed with `NoBufferSpace`, a 24 MB echo with
/// "the destination FIFO cannot hold the parts").
#[test]
fn messages_past_the_fifo_growth_step_go_both_ways() {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    serve_echo(&mut io, l, Rc::new(ServerConfig::default()));
    let mut ws = dial(&mut io, &url, &ClientConfig::default());
    let bin: Vec<u8> = (0..24usize << 20).map(|i| (i % 251) as u8).collect();
    assert!(ws.send_binary(&mut io, &bin).unwrap() > 0);
    ws = flush(&mut io, ws);
    let (ws, m) = next(&mut io, ws);
    assert!(m == Owned::Binary(bin), "the echo differs");
    ws.close(&mut io).unwrap();
}
