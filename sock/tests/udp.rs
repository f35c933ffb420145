//! UDP: bound and connected sockets, v4 and v6, peeking, errors.

mod common;
use common::soon;

use sock::{ErrorKind, SockaddrStorage, UdpConn};

#[test]
fn send_to_and_recv_from_v4_and_v6() {
    for (a, b) in [("127.0.0.1:0", "127.0.0.1:0"), ("[::1]:0", "[::1]:0")] {
        let x = UdpConn::bind(a).unwrap();
        let y = UdpConn::bind(b).unwrap();
        y.set_read_deadline(soon());
        assert_eq!(x.send_to(b"dgram", &y.local_addr().unwrap()).unwrap(), 5);
        let mut buf = [0u8; 16];
        let (n, from) = y.peek_from(&mut buf).unwrap();
        assert_eq!((n, from), (5, x.local_addr().unwrap()));
        let mut st = SockaddrStorage::new();
        assert_eq!(y.recv_from_into(&mut buf, &mut st).unwrap(), 5);
        assert_eq!(st.decode().unwrap(), x.local_addr().unwrap());
        y.set_read_deadline(sock::Deadline::NONE);
        assert!(y.recv_from(&mut buf).unwrap_err().is_would_block());
    }
}

#[test]
fn connected_sockets() {
    let srv = UdpConn::bind4("127.0.0.1:0").unwrap();
    let cli = UdpConn::dial(None, srv.local_addr().unwrap()).unwrap();
    assert_eq!(cli.peer_addr().unwrap(), srv.local_addr().unwrap());
    cli.send(b"hello").unwrap();
    srv.set_read_deadline(soon());
    let mut buf = [0u8; 8];
    let (n, from) = srv.recv_from(&mut buf).unwrap();
    assert_eq!((n, from), (5, cli.local_addr().unwrap()));
    srv.connect(from).unwrap();
    srv.send(b"back").unwrap();
    cli.set_read_deadline(soon());
    assert_eq!(cli.recv(&mut buf).unwrap(), 4);
}

#[test]
fn unconnected_send_and_wrong_families_are_errors() {
    let s = UdpConn::bind("127.0.0.1:0").unwrap();
    let e = s.send(b"nowhere").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected);
    assert_eq!(
        UdpConn::bind("/tmp/nope.sock").unwrap_err().kind(),
        ErrorKind::AddressFamilyNotSupported
    );
    assert_eq!(
        UdpConn::bind6("127.0.0.1:0").unwrap_err().kind(),
        ErrorKind::AddressFamilyNotSupported
    );
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    let six = UdpConn::bind("[::1]:0").unwrap();
    let e = six
        .send_to(b"x", &"127.0.0.1:9".parse::<sock::SockaddrAny>().unwrap())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressFamilyNotSupported, "{e}");
}

#[test]
fn std_interop() {
    let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = std_sock.local_addr().unwrap();
    let ours = UdpConn::try_from(std_sock).unwrap();
    assert_eq!(ours.local_addr().unwrap().as_socket(), Some(addr));
    let back = std::net::UdpSocket::from(ours);
    assert_eq!(back.local_addr().unwrap(), addr);
}
