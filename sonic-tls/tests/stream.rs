//! TlsStream against itself on one Io: a codec over TLS, large transfers through partial
//! writes, close from inside a callback with a read and a write pending, resumption.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::{Pki, run_until, slot};
use iox::ErrorKind;
use sonic_io::codec::{CodecConn, Frame};
use sonic_io::{Io, Timer};
use sonic_tls::{TlsStream, Versions};

/// A connected client and server TlsStream pair on `io`.
fn pair(io: &mut Io, pki: &Pki, v: Versions) -> (TlsStream, TlsStream) {
    pair_with(io, pki.client(v), pki.server(v))
}

fn pair_with(
    io: &mut Io,
    client: std::sync::Arc<rustls::ClientConfig>,
    server: std::sync::Arc<rustls::ServerConfig>,
) -> (TlsStream, TlsStream) {
    let (l, port) = common::listener();
    let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    let cs = slot();
    let ss = slot();
    let (c2, s2) = (cs.clone(), ss.clone());
    TlsStream::connect(io, c, client, "localhost", move |_, r| {
        *c2.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    TlsStream::accept(io, s, server, move |_, r| {
        *s2.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(io, |_| cs.borrow().is_some() && ss.borrow().is_some());
    let c = cs.borrow_mut().take().unwrap();
    let s = ss.borrow_mut().take().unwrap();
    (c, s)
}

#[test]
fn a_frame_codec_runs_over_tls() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (c, s) = pair(&mut io, &pki, Versions::Tls13);
    let mut tx = CodecConn::new(c, Frame::default());
    for i in 0..100u32 {
        let msg = format!("message {i}");
        tx.write_next(&mut io, msg.as_bytes()).unwrap();
    }
    let got = Rc::new(RefCell::new(Vec::<String>::new()));
    fn next(io: &mut Io, rx: CodecConn<Frame, TlsStream>, got: Rc<RefCell<Vec<String>>>) {
        rx.async_read_next(io, move |io, r, mut rx| {
            r.unwrap();
            let item = rx.item().unwrap().unwrap();
            got.borrow_mut()
                .push(String::from_utf8(item.to_vec()).unwrap());
            if got.borrow().len() < 100 {
                next(io, rx, got);
            }
        })
        .unwrap();
    }
    next(&mut io, CodecConn::new(s, Frame::default()), got.clone());
    run_until(&mut io, |_| got.borrow().len() == 100);
    let want: Vec<String> = (0..100).map(|i| format!("message {i}")).collect();
    assert_eq!(*got.borrow(), want);
}

fn big_echo(v: Versions) {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (c, s) = pair(&mut io, &pki, v);
    const N: usize = 8 << 20;
    let data: Vec<u8> = (0..N).map(|i| (i * 131 % 251) as u8).collect();
    // The server echoes what it reads, in chunks, until the client's close_notify.
    fn serve(io: &mut Io, s: TlsStream, buf: Vec<u8>) {
        s.async_read(io, buf, move |io, r, mut buf| {
            // Ok(0) at the client's close_notify; Cancelled when the test ends.
            let Ok(n @ 1..) = r else { return };
            buf.truncate(n);
            s.async_write_all(io, buf, move |io, r, mut buf| {
                if r.is_err() {
                    return;
                }
                buf.resize(64 << 10, 0);
                serve(io, s, buf);
            })
            .unwrap();
        })
        .unwrap();
    }
    serve(&mut io, s, vec![0; 64 << 10]);
    let sent = slot();
    let s2 = sent.clone();
    c.async_write_all(&mut io, data.clone(), move |_, r, _| {
        *s2.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    let back = slot::<Vec<u8>>();
    let b2 = back.clone();
    c.async_read_exact(&mut io, vec![0u8; N], move |_, r, buf| {
        r.unwrap();
        *b2.borrow_mut() = Some(buf)
    })
    .unwrap();
    run_until(&mut io, |_| back.borrow().is_some());
    assert_eq!(*sent.borrow(), Some(N));
    assert!(back.borrow().as_ref().unwrap() == &data, "the echo differs");
    let closed = Rc::new(Cell::new(false));
    let c2 = closed.clone();
    c.close(&mut io, move |_, r| {
        r.unwrap();
        c2.set(true)
    })
    .unwrap();
    run_until(&mut io, |_| closed.get());
}

#[test]
fn eight_mebibytes_echo_intact_over_tls13() {
    big_echo(Versions::Tls13);
}

#[test]
fn eight_mebibytes_echo_intact_over_tls12() {
    big_echo(Versions::Tls12);
}

#[test]
fn close_from_a_callback_with_a_read_and_a_write_pending_cancels_each_once() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (c, s) = pair(&mut io, &pki, Versions::Tls13);
    let reads = Rc::new(Cell::new(0));
    let writes = Rc::new(Cell::new(0));
    let closes = Rc::new(Cell::new(0));
    let (r2, w2) = (reads.clone(), writes.clone());
    // The server reads nothing, so 32 MiB cannot all go: the write stays pending.
    c.async_write_all(&mut io, vec![7u8; 32 << 20], move |_, r, _| {
        let p = r.unwrap_err();
        assert_eq!(p.error.kind(), ErrorKind::Cancelled);
        w2.set(w2.get() + 1);
    })
    .unwrap();
    c.async_read(&mut io, vec![0u8; 64], move |_, r, _| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        r2.set(r2.get() + 1);
    })
    .unwrap();
    io.poll().unwrap();
    assert_eq!(
        (reads.get(), writes.get()),
        (0, 0),
        "both operations are pending"
    );
    let cl = closes.clone();
    Timer::new(&mut io)
        .unwrap()
        .schedule_once(&mut io, Duration::ZERO, move |io, _| {
            c.close(io, move |_, _| cl.set(cl.get() + 1)).unwrap();
        })
        .unwrap();
    // The server must read for the close_notify behind the cancelled write's last record
    // to get through; it reads until the close_notify (a clean end) arrives.
    let end = slot::<iox::Result<()>>();
    fn drain(io: &mut Io, s: TlsStream, end: Rc<RefCell<Option<iox::Result<()>>>>) {
        s.async_read(io, vec![0u8; 1 << 20], move |io, r, _| match r {
            Ok(0) => *end.borrow_mut() = Some(Ok(())),
            Ok(_) => drain(io, s, end),
            Err(e) => *end.borrow_mut() = Some(Err(e)),
        })
        .unwrap();
    }
    drain(&mut io, s, end.clone());
    run_until(&mut io, |_| closes.get() == 1 && end.borrow().is_some());
    assert_eq!((reads.get(), writes.get(), closes.get()), (1, 1, 1));
    end.borrow_mut()
        .take()
        .unwrap()
        .expect("the server sees close_notify, not a cut record");
    assert_eq!(
        c.get(&io).unwrap_err().kind(),
        ErrorKind::Closed,
        "the handle is stale"
    );
}

#[test]
fn a_second_connection_resumes_the_session() {
    for v in [Versions::Tls12, Versions::Tls13] {
        let pki = Pki::new();
        let mut io = Io::new().unwrap();
        let client = pki.client(v);
        let server = pki.server(v);
        let (c, s) = pair_with(&mut io, client.clone(), server.clone());
        assert_eq!(c.get(&io).unwrap().is_resumed(), Some(false));
        // TLS 1.3 tickets arrive after the handshake: a round trip lets the client take them.
        common::talk::write_all(&mut io, s, b"x");
        common::talk::read_exact(&mut io, c, 1).unwrap();
        let (c, _s) = pair_with(&mut io, client, server);
        assert_eq!(c.get(&io).unwrap().is_resumed(), Some(true), "{v:?}");
    }
}

#[test]
fn a_handshake_with_a_closed_socket_completes_once_with_an_error() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = common::listener();
    let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    drop(s);
    let out = slot::<iox::Result<TlsStream>>();
    let calls = Rc::new(Cell::new(0));
    let (o, n) = (out.clone(), calls.clone());
    TlsStream::connect(
        &mut io,
        c,
        pki.client(Versions::Both),
        "localhost",
        move |_, r| {
            n.set(n.get() + 1);
            *o.borrow_mut() = Some(r)
        },
    )
    .unwrap();
    run_until(&mut io, |_| out.borrow().is_some());
    io.poll().unwrap();
    assert_eq!(calls.get(), 1);
    let e = out.borrow_mut().take().unwrap().unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        "{e}"
    );
}

#[test]
fn shutdown_half_closes_and_the_peer_can_still_answer() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (c, s) = pair(&mut io, &pki, Versions::Tls13);
    let done = slot::<iox::Result<()>>();
    let d2 = done.clone();
    c.shutdown(&mut io, move |_, r| *d2.borrow_mut() = Some(r))
        .unwrap();
    run_until(&mut io, |_| done.borrow().is_some());
    done.borrow_mut().take().unwrap().unwrap();
    // The server sees close_notify: a clean end of its reading side.
    let (got, end) = common::talk::read_to_end(&mut io, s);
    assert!(got.is_empty());
    end.unwrap();
    assert!(s.get(&io).unwrap().peer_closed());
    // It may still answer, and the client still reads.
    common::talk::write_all(&mut io, s, b"after your close_notify");
    let got = common::talk::read_exact(&mut io, c, 23).unwrap();
    assert_eq!(&got[..], b"after your close_notify");
    common::talk::close(&mut io, s).unwrap();
    let (rest, end) = common::talk::read_to_end(&mut io, c);
    assert!(rest.is_empty());
    end.expect("the server's close_notify ends the client's reading side cleanly");
}

/// The byte-stream seam closes a TLS stream the way TLS ends: `close_gracefully` (what a
/// layer-agnostic codec or WebSocket calls) sends close_notify, so the peer reads a clean
/// end of stream; `close_now` does not, and the peer never sees a clean end.
#[test]
fn the_byte_stream_seam_closes_tls_with_close_notify_or_at_once() {
    use sonic_io::ByteStream;
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    for graceful in [true, false] {
        let (c, s) = pair(&mut io, &pki, Versions::Tls13);
        let codec = CodecConn::new(c, Frame::default());
        if graceful {
            codec.close_gracefully(&mut io).unwrap();
        } else {
            codec.into_next_layer().close_now(&mut io).unwrap();
        }
        let end = slot::<iox::Result<usize>>();
        let e = end.clone();
        s.async_read(&mut io, vec![0u8; 64], move |_, r, _| {
            *e.borrow_mut() = Some(r)
        })
        .unwrap();
        run_until(&mut io, |_| end.borrow().is_some());
        let r = end.borrow_mut().take().unwrap();
        if graceful {
            assert_eq!(r.unwrap(), 0, "close_notify: a clean end of stream");
        } else {
            // A truncation; or a reset, when the closed side had unread bytes (here the
            // server's session tickets) and the kernel answered them with RST.
            let e = r.unwrap_err();
            assert!(
                e == sonic_tls::TRUNCATED || e.kind() == ErrorKind::ConnectionReset,
                "{e}"
            );
        }
        s.abort(&mut io).unwrap();
    }
}

/// `accept_within` bounds a server's handshake: a client that connects and sends nothing,
/// or the start of a ClientHello and no more, has its socket closed (it reads the end) and
/// the callback gets `TimedOut`, once; a client that completes the handshake in time gets
/// a stream, and the timer is gone.
#[test]
fn a_handshake_that_does_not_finish_in_time_is_timed_out() {
    let pki = Pki::new();
    for sent in [&[][..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        let mut io = Io::new().unwrap();
        let (l, port) = common::listener();
        // A blocking connect on loopback is done when it returns: the accept finds it.
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (s, _) = l.accept().unwrap();
        let peer = std::thread::spawn(move || {
            use std::io::{Read, Write};
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c.write_all(sent).unwrap();
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
            rest
        });
        let out = slot::<iox::Result<TlsStream>>();
        let calls = Rc::new(Cell::new(0));
        let (o, n) = (out.clone(), calls.clone());
        TlsStream::accept_within(
            &mut io,
            s,
            pki.server(Versions::Both),
            Duration::from_millis(200),
            move |_, r| {
                n.set(n.get() + 1);
                *o.borrow_mut() = Some(r)
            },
        )
        .unwrap();
        run_until(&mut io, |_| out.borrow().is_some());
        io.poll().unwrap();
        assert_eq!(calls.get(), 1);
        let e = out.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert_eq!(e.context_str(), Some("TLS handshake timed out"));
        assert!(peer.join().unwrap().is_empty());
    }
    // In time: the stream, and no timer left to fire on it.
    let mut io = Io::new().unwrap();
    let (l, port) = common::listener();
    let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    let (cs, ss) = (slot(), slot());
    let (c2, s2) = (cs.clone(), ss.clone());
    TlsStream::connect_within(
        &mut io,
        c,
        pki.client(Versions::Both),
        "localhost",
        Duration::from_millis(100),
        move |_, r| *c2.borrow_mut() = Some(r.unwrap()),
    )
    .unwrap();
    TlsStream::accept_within(
        &mut io,
        s,
        pki.server(Versions::Both),
        Duration::from_millis(100),
        move |_, r| *s2.borrow_mut() = Some(r.unwrap()),
    )
    .unwrap();
    run_until(&mut io, |_| cs.borrow().is_some() && ss.borrow().is_some());
    let (c, s): (TlsStream, TlsStream) = (
        cs.borrow_mut().take().unwrap(),
        ss.borrow_mut().take().unwrap(),
    );
    // Past both bounds, the streams still work.
    let t = Timer::new(&mut io).unwrap();
    let waited = Rc::new(Cell::new(false));
    let w = waited.clone();
    t.schedule_once(&mut io, Duration::from_millis(300), move |_, _| w.set(true))
        .unwrap();
    run_until(&mut io, |_| waited.get());
    assert!(!c.get(&io).unwrap().is_handshaking());
    assert!(!s.get(&io).unwrap().is_handshaking());
}

/// An Io closed during a bounded handshake completes it with `Cancelled`, as an unbounded
/// one does, not `TimedOut` (a review: a closed Io cancels no timer, which read as "it
/// fired").
#[test]
fn an_io_closed_during_a_bounded_handshake_cancels_it() {
    let pki = Pki::new();
    for bound in [None, Some(Duration::from_secs(30))] {
        let mut io = Io::new().unwrap();
        let (l, port) = common::listener();
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (s, _) = l.accept().unwrap();
        let out = slot::<iox::Error>();
        let o = out.clone();
        let cb = move |_: &mut Io, r: iox::Result<TlsStream>| {
            *o.borrow_mut() = Some(r.map(|_| ()).expect_err("an error"))
        };
        match bound {
            None => TlsStream::accept(&mut io, s, pki.server(Versions::Both), cb).unwrap(),
            Some(d) => {
                TlsStream::accept_within(&mut io, s, pki.server(Versions::Both), d, cb).unwrap()
            }
        }
        io.poll().unwrap();
        assert!(out.borrow().is_none());
        io.close().unwrap();
        let e = out.borrow_mut().take().expect("the callback ran");
        assert_eq!(e.kind(), ErrorKind::Cancelled, "bound {bound:?}: {e}");
    }
}
