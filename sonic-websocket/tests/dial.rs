//! The URL dial: a host name resolved off the Io (on a helper thread), numeric hosts
//! without one, and failures that name their stage (resolve, connect, upgrade) with the
//! kind of what went wrong.

mod common;
use common::*;

use std::rc::Rc;
use std::time::Duration;

use sonic_io::{ErrorKind, Io, TcpStream};
use sonic_websocket::{ClientConfig, ServerConfig, WebSocket};

fn dial_result(
    io: &mut Io,
    url: &str,
    cfg: &ClientConfig,
) -> sonic_io::Result<WebSocket<TcpStream>> {
    let got = slot();
    let g = got.clone();
    WebSocket::dial(io, url, cfg, move |_, r| *g.borrow_mut() = Some(r)).unwrap();
    drive(io, || got.borrow().is_some());
    got.borrow_mut().take().unwrap()
}

/// `localhost` is resolved on the helper thread; the dial is pending on the Io all the
/// while (`run_pending` waits for it like for any armed operation).
#[test]
fn a_host_name_dial_is_an_operation_the_io_waits_for() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let st = stop.clone();
    let server = std::thread::spawn(move || {
        let mut io = Io::new().unwrap();
        let (l, url) = listen(&mut io);
        serve_echo(&mut io, l, Rc::new(ServerConfig::default()));
        tx.send(url).unwrap();
        while !st.load(std::sync::atomic::Ordering::Relaxed) {
            io.run_one_for(Duration::from_millis(20)).unwrap();
        }
    });
    let url: String = rx.recv().unwrap();
    let port = url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/echo")
        .to_owned();
    let mut client = Io::new().unwrap();
    let done = flag();
    let d = done.clone();
    WebSocket::dial(
        &mut client,
        &format!("ws://localhost:{port}/"),
        &ClientConfig::default(),
        move |io, r| {
            r.unwrap().close(io).unwrap();
            d.set(true);
        },
    )
    .unwrap();
    // run_pending() returns when nothing is pending: only after the dial completed.
    client.run_pending().unwrap();
    assert!(done.get());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
}

#[test]
fn a_refused_connect_names_the_connect_stage() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut io = Io::new().unwrap();
    let cfg = ClientConfig::default().timeout(HANG);
    let e = dial_result(&mut io, &format!("ws://127.0.0.1:{port}/"), &cfg).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    assert_eq!(
        e.context_str(),
        Some("websocket dial: the TCP connect failed")
    );
    assert!(e.errno().is_some(), "{e:?}");
    assert_eq!(io.objects(), 0);
}

/// A name the resolver must refuse without asking anyone (an empty label): the error
/// comes back through the callback, from the resolver thread.
#[test]
fn a_bad_host_name_fails_in_the_resolve_stage() {
    let mut io = Io::new().unwrap();
    let e = dial_result(&mut io, "ws://a..b:80/", &ClientConfig::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(e.context_str(), Some("host name has an empty label"));
    assert_eq!(io.objects(), 0);
}

#[test]
fn a_peer_that_is_not_a_websocket_server_fails_the_upgrade() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b);
        s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let mut io = Io::new().unwrap();
    let e = dial_result(&mut io, &url, &ClientConfig::default().timeout(HANG)).unwrap_err();
    assert_eq!(
        e.context_str(),
        Some("server refused the upgrade (status not 101)"),
        "{e}"
    );
    peer.join().unwrap();
}

#[test]
fn a_silent_server_times_the_dial_out_in_the_upgrade() {
    let mut io = Io::new().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let cfg = ClientConfig::default().timeout(Duration::from_millis(200));
    let e = dial_result(&mut io, &url, &cfg).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert_eq!(
        e.context_str(),
        Some("websocket dial timed out in the HTTP upgrade")
    );
    assert_eq!(io.objects(), 0);
}

#[test]
fn a_huge_timeout_is_no_timeout_and_no_panic() {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    serve_echo(&mut io, l, Rc::new(ServerConfig::default()));
    let cfg = ClientConfig::default().timeout(Duration::MAX);
    let ws = dial_result(&mut io, &url, &cfg).unwrap();
    ws.close(&mut io).unwrap();
}

/// A zero timeout over a host name: the dial fails with `TimedOut` in whichever stage the
/// deadline found it (resolving, as a rule: the resolver thread has barely started), at
/// once, and leaves nothing on the Io; the thread's late answer is dropped.
#[test]
fn a_zero_timeout_fails_the_dial_in_its_stage_and_leaves_nothing() {
    let mut io = Io::new().unwrap();
    let (_l, url) = listen(&mut io);
    let port = url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/echo")
        .to_owned();
    let cfg = ClientConfig::default().timeout(Duration::ZERO);
    let e = dial_result(&mut io, &format!("ws://localhost:{port}/"), &cfg).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    let stages = [
        "websocket dial timed out resolving the host name",
        "websocket dial timed out in the TCP connect",
    ];
    assert!(stages.contains(&e.context_str().unwrap()), "{e}");
    assert_eq!(io.objects(), 1, "only the listener is left");
}
