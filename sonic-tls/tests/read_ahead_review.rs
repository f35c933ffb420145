//! Review of sonic-io's stream read-ahead (0de5fd6) from TLS's side. TLS reads through an
//! adapter over the socket, so the read-ahead never sees its records; it meets TLS where a
//! plain `Stream` is read first and then handed to TLS (`IntoConn for Stream` takes it):
//! a server behind a load balancer reads the PROXY protocol header, then accepts TLS.

mod common;

use common::{Pki, run_until, slot};
use sonic_io::{Io, TcpStream};
use sonic_tls::{TlsStream, Versions};

/// A PROXY protocol v2 header for TCP over IPv4: 16 fixed bytes (the last two give the
/// length of the rest), then 12 bytes of addresses and ports.
fn proxy_v2() -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2, 0x1f, 0x90, 0x01, 0xbb]);
    h
}

/// The proxy sends its header and, without waiting, the client's ClientHello (it never
/// waits: the header is not answered). The server reads the header with exact reads (16,
/// then the 12 it announces) and starts TLS on the stream. With the read-ahead, the first
/// exact read also took 16 bytes past the header (the 12 address bytes and 4 of the
/// ClientHello); the second is served from them, and 4 bytes of the ClientHello stay in the
/// read-ahead. Found by this review: `TlsStream::accept` (which takes the stream) was
/// refused, where the same server worked before the read-ahead; since df15519 the bytes go
/// to the handshake with the socket (`take_with_read_ahead`, `TlsConn::push_received`).
#[test]
fn tls_accept_after_a_proxy_header_read_on_the_stream() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = common::listener();
    let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    let server = TcpStream::add(&mut io, s).unwrap();
    // The proxy's side: the header, then at once the TLS client's first flight.
    c.write_all(&proxy_v2()).unwrap();
    let client = slot();
    let c2 = client.clone();
    TlsStream::connect(
        &mut io,
        c,
        pki.client(Versions::Tls13),
        "localhost",
        move |_, r| *c2.borrow_mut() = Some(r),
    )
    .unwrap();
    // The server: the fixed part, then the announced rest.
    let head = slot();
    let h = head.clone();
    server
        .async_read_exact(&mut io, vec![0u8; 16], move |_, r, b| {
            r.unwrap();
            *h.borrow_mut() = Some(b)
        })
        .unwrap();
    run_until(&mut io, |_| head.borrow().is_some());
    let fixed = head.borrow_mut().take().unwrap();
    assert_eq!(fixed[..12], proxy_v2()[..12]);
    let rest = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let addrs = slot();
    let a = addrs.clone();
    server
        .async_read_exact(&mut io, vec![0u8; rest], move |_, r, b| {
            r.unwrap();
            *a.borrow_mut() = Some(b)
        })
        .unwrap();
    run_until(&mut io, |_| addrs.borrow().is_some());
    assert_eq!(addrs.borrow().as_deref(), Some(&proxy_v2()[16..]));
    // TLS on the stream.
    let accepted = slot();
    let a2 = accepted.clone();
    TlsStream::accept(&mut io, server, pki.server(Versions::Tls13), move |_, r| {
        *a2.borrow_mut() = Some(r)
    })
    .expect("TLS starts on the stream after its PROXY header");
    run_until(&mut io, |_| {
        accepted.borrow().is_some() && client.borrow().is_some()
    });
    accepted.borrow_mut().take().unwrap().unwrap();
    client.borrow_mut().take().unwrap().unwrap();
}

/// The bytes held in the read-ahead are a whole TLS record (a fatal alert) and the socket
/// holds nothing more (the peer keeps it open): the handshake must act on the bytes it was
/// given rather than wait for the socket, which stays silent.
#[test]
fn tls_accept_acts_on_a_whole_record_held_in_the_read_ahead() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = common::listener();
    let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (s, _) = l.accept().unwrap();
    let server = TcpStream::add(&mut io, s).unwrap();
    // A PROXY v2 LOCAL header with no addresses (16 bytes), then a fatal alert record
    // (handshake_failure): 23 bytes, less than 16 + 16, so all of the alert is read ahead.
    let mut wire = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    wire.extend_from_slice(&[0x20, 0x00, 0, 0]);
    wire.extend_from_slice(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
    c.write_all(&wire).unwrap();
    let head = slot();
    let h = head.clone();
    server
        .async_read_exact(&mut io, vec![0u8; 16], move |_, r, b| {
            r.unwrap();
            *h.borrow_mut() = Some(b)
        })
        .unwrap();
    run_until(&mut io, |_| head.borrow().is_some());
    assert_eq!(head.borrow().as_deref(), Some(&wire[..16]));
    let accepted = slot();
    let a2 = accepted.clone();
    TlsStream::accept(&mut io, server, pki.server(Versions::Tls13), move |_, r| {
        *a2.borrow_mut() = Some(r.map(|_| ()))
    })
    .unwrap();
    run_until(&mut io, |_| accepted.borrow().is_some());
    let r = accepted.borrow_mut().take().unwrap();
    assert!(r.is_err(), "a handshake over a fatal alert: {r:?}");
    drop(c);
}
