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
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
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

/// A directory whose path, plus `/` and a one-byte name, is exactly 108 bytes long: a
/// socket path in it fills `sun_path` with no room for a NUL.
#[cfg(target_os = "linux")]
fn dir_for_108_byte_paths() -> std::path::PathBuf {
    let base = temp_path("full-");
    let pad = 108 - 2 - base.as_os_str().len();
    let dir = std::path::PathBuf::from(format!("{}{}", base.display(), "d".repeat(pad)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Python binds sockets to 108-byte paths (the kernel reports such an address with length
/// 111): a datagram from one, a connection from another and, passed over it, the first
/// socket itself. `recv_from`, `accept`, `peer_addr` and `local_addr` all decode them.
/// (Python's own `bind` wants room for a NUL too, so it calls libc's through ctypes, as a C
/// program would.)
#[test]
#[cfg(target_os = "linux")]
fn peers_bound_to_paths_that_fill_sun_path() {
    const PEER: &str = r#"
import ctypes, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def bind_full(sock, path):
    addr = struct.pack("=H", socket.AF_UNIX) + path.encode()
    assert len(addr) == 110, len(addr)
    if libc.bind(sock.fileno(), addr, len(addr)) != 0:
        raise OSError(ctypes.get_errno(), "bind " + path)
dgram_src, stream_src, rx, listener = sys.argv[1:5]
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
bind_full(d, dgram_src)
d.sendto(b"from a full sun_path", rx)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
bind_full(s, stream_src)
s.connect(listener)
socket.send_fds(s, [b"f"], [d.fileno()])
print("sent", flush=True)
sys.stdin.read()
"#;
    let dir = dir_for_108_byte_paths();
    let (dgram_src, stream_src) = (dir.join("d"), dir.join("s"));
    assert_eq!(dgram_src.as_os_str().len(), 108);
    for p in [&dgram_src, &stream_src] {
        let _ = std::fs::remove_file(p);
    }
    let (rx_path, l_path) = (temp_path("full-rx"), temp_path("full-l"));
    let rx = UnixDatagram::bind(rx_path.to_str().unwrap()).unwrap();
    let l = UnixListener::bind(l_path.to_str().unwrap()).unwrap();
    let args = [&dgram_src, &stream_src, &rx_path, &l_path].map(|p| p.to_str().unwrap());
    let Some(mut py) = common::python(PEER, &args) else {
        testkit::skip!("python3 is not installed: no peer to bind 108-byte paths")
    };
    assert_eq!(common::line_from(&mut py), "sent");
    let is = |a: &SockaddrAny, p: &std::path::Path| matches!(a, SockaddrAny::Unix(u) if u.path() == Some(p));

    rx.set_read_deadline(soon());
    let mut b = [0u8; 32];
    let (n, from) = rx.recv_from(&mut b).unwrap();
    assert_eq!(&b[..n], b"from a full sun_path");
    assert!(is(&from, &dgram_src), "{from}");

    l.set_read_deadline(soon());
    let (c, peer) = l.accept().unwrap();
    assert!(is(&peer, &stream_src), "{peer}");
    assert!(is(&c.peer_addr().unwrap(), &stream_src));
    c.set_read_deadline(soon());
    let mut fds: [Option<std::os::fd::OwnedFd>; 1] = Default::default();
    assert_eq!(c.recv_fds(&mut b, &mut fds).unwrap(), (1, 1));
    let theirs = sock::NetSocket::from_owned(fds[0].take().unwrap()).unwrap();
    assert!(is(&theirs.local_addr().unwrap(), &dgram_src));

    common::finish(py);
    for p in [&dgram_src, &stream_src, &rx_path, &l_path] {
        std::fs::remove_file(p).unwrap();
    }
    std::fs::remove_dir(&dir).unwrap();
}
