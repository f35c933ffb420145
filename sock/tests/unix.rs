//! Unix sockets: pathname and abstract listeners, seqpacket boundaries, datagrams, pairs.

mod common;
use common::soon;

use sock::{ErrorKind, SockaddrAny, UnixConn, UnixDatagram, UnixListener};

fn temp_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("sock-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn pathname_listener() {
    let path = temp_path("stream.sock");
    let l = UnixListener::bind(path.to_str().unwrap()).unwrap();
    let c = UnixConn::connect(path.to_str().unwrap()).unwrap();
    l.set_read_deadline(soon());
    let (s, peer) = l.accept().unwrap();
    assert!(matches!(peer, SockaddrAny::Unix(u) if u.is_unnamed()));
    c.write_all(b"over a path").unwrap();
    s.set_read_deadline(soon());
    let mut b = [0u8; 32];
    assert_eq!(s.read(&mut b).unwrap(), 11);
    assert_eq!(s.local_addr().unwrap().to_string(), path.to_str().unwrap());
    std::fs::remove_file(&path).unwrap();
}

#[test]
#[cfg(target_os = "linux")]
fn abstract_listener_and_seqpacket_boundaries() {
    let name = format!("@sock-test-{}", std::process::id());
    let l = UnixListener::bind_seqpacket(name.as_str()).unwrap();
    assert_eq!(l.local_addr().unwrap().to_string(), name);
    let c = UnixConn::connect_seqpacket(name.as_str()).unwrap();
    l.set_read_deadline(soon());
    let (s, _) = l.accept().unwrap();
    c.write_all(b"one").unwrap();
    c.write_all(b"two!").unwrap();
    s.set_read_deadline(soon());
    let mut b = [0u8; 32];
    assert_eq!(s.read(&mut b).unwrap(), 3, "message boundaries are kept");
    assert_eq!(s.read(&mut b).unwrap(), 4);
    let [x, y] = UnixConn::pair_seqpacket().unwrap();
    x.write_all(b"a").unwrap();
    x.write_all(b"bc").unwrap();
    assert_eq!(y.read(&mut b).unwrap(), 1);
}

#[test]
fn datagrams_and_pairs() {
    let path = temp_path("dgram.sock");
    let rx = UnixDatagram::bind(path.to_str().unwrap()).unwrap();
    let tx = UnixDatagram::unbound().unwrap();
    tx.send_to(b"to a path", &rx.local_addr().unwrap()).unwrap();
    rx.set_read_deadline(soon());
    let mut b = [0u8; 32];
    let (n, from) = rx.recv_from(&mut b).unwrap();
    assert_eq!(n, 9);
    assert!(matches!(from, SockaddrAny::Unix(u) if u.is_unnamed()));
    std::fs::remove_file(&path).unwrap();

    let [a, z] = UnixDatagram::pair().unwrap();
    a.send(b"pair").unwrap();
    assert_eq!(z.recv(&mut b).unwrap(), 4);
    let [s1, s2] = UnixConn::pair().unwrap();
    s1.write_all(b"stream").unwrap();
    assert_eq!(s2.read(&mut b).unwrap(), 6);
}

#[test]
#[cfg(target_os = "linux")]
fn an_abstract_datagram_source_round_trips() {
    let name = format!("@sock-dgram-{}", std::process::id());
    let rx = UnixDatagram::bind(format!("@sock-rx-{}", std::process::id())).unwrap();
    let tx = UnixDatagram::bind(name.as_str()).unwrap();
    tx.send_to(b"hi", &rx.local_addr().unwrap()).unwrap();
    rx.set_read_deadline(soon());
    let mut b = [0u8; 4];
    let (_, from) = rx.recv_from(&mut b).unwrap();
    assert_eq!(from.to_string(), name);
}

#[test]
fn bad_addresses() {
    let long = format!("/tmp/{}", "x".repeat(200));
    assert_eq!(
        UnixListener::bind(long.as_str()).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        UnixConn::connect("127.0.0.1:80").unwrap_err().kind(),
        ErrorKind::AddressFamilyNotSupported
    );
    let missing = temp_path("missing.sock");
    let e = UnixConn::connect(missing.to_str().unwrap()).unwrap_err();
    assert_eq!(e.errno(), Some(zcall::Errno::ENOENT));
}

#[test]
fn std_interop() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let ours = UnixConn::try_from(a).unwrap();
    assert!(ours.fd().is_nonblocking().unwrap());
    ours.write_all(b"to std").unwrap();
    let mut b = b;
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut b, &mut buf).unwrap();
    assert_eq!(&buf, b"to std");
    let back = std::os::unix::net::UnixStream::from(ours);
    drop(back);
}
