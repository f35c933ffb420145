//! Round trips through the kernel: bind a real socket to each kind of address, read it back
//! with getsockname/getpeername/accept, decode, compare.
#![cfg(all(target_os = "linux", not(miri)))]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use sockaddr::{
    Sockaddr, SockaddrAny, SockaddrInet4, SockaddrInet6, SockaddrStorage, SockaddrUnix,
};

fn socket(domain: i32, ty: i32) -> OwnedFd {
    let fd = zcall::socket(domain, ty | libc::SOCK_CLOEXEC, 0).unwrap();
    // SAFETY: just created, owned here.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn local(fd: &OwnedFd) -> SockaddrAny {
    let mut s = SockaddrStorage::new();
    let n = zcall::getsockname(fd.as_raw_fd(), s.as_mut_bytes()).unwrap();
    s.set_len(n).unwrap();
    s.decode().unwrap()
}

#[test]
fn inet4_and_inet6_through_bind() {
    let s4 = socket(libc::AF_INET, libc::SOCK_DGRAM);
    zcall::bind(
        s4.as_raw_fd(),
        SockaddrInet4::new(Ipv4Addr::LOCALHOST, 0).as_bytes(),
    )
    .unwrap();
    let SockaddrAny::Inet4(got) = local(&s4) else {
        panic!("not IPv4")
    };
    assert_eq!(got.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(got.port(), 0, "an ephemeral port was assigned");
    // Bind a second socket to exactly what came back: the same address, port and all.
    let again = SockaddrInet4::new(Ipv4Addr::LOCALHOST, got.port());
    assert_eq!(again, got);

    let s6 = socket(libc::AF_INET6, libc::SOCK_DGRAM);
    zcall::bind(
        s6.as_raw_fd(),
        SockaddrInet6::new(Ipv6Addr::LOCALHOST, 0, 0, 0).as_bytes(),
    )
    .unwrap();
    let SockaddrAny::Inet6(got6) = local(&s6) else {
        panic!("not IPv6")
    };
    assert_eq!((got6.ip(), got6.scope_id()), (Ipv6Addr::LOCALHOST, 0));
    assert_ne!(got6.port(), 0);
}

#[test]
fn unix_pathname_abstract_and_unnamed_through_the_kernel() {
    let dir = std::env::temp_dir().join(format!("sockaddr-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("k.sock");
    let _ = std::fs::remove_file(&path);
    let p = SockaddrUnix::new(&path).unwrap();
    let sp = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    zcall::bind(sp.as_raw_fd(), p.as_bytes()).unwrap();
    assert_eq!(local(&sp), SockaddrAny::Unix(p));
    // A client connects to the path; the listener sees an unnamed peer.
    zcall::listen(sp.as_raw_fd(), 1).unwrap();
    let c = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    zcall::connect(c.as_raw_fd(), p.as_bytes()).unwrap();
    let mut peer = SockaddrStorage::new();
    let (afd, n) = zcall::accept4(
        sp.as_raw_fd(),
        Some(peer.as_mut_bytes()),
        libc::SOCK_CLOEXEC,
    )
    .unwrap();
    // SAFETY: just accepted, owned here.
    let _accepted = unsafe { OwnedFd::from_raw_fd(afd) };
    peer.set_len(n).unwrap();
    assert!(matches!(peer.decode().unwrap(), SockaddrAny::Unix(u) if u.is_unnamed()));
    let mut theirs = SockaddrStorage::new();
    let n = zcall::getpeername(c.as_raw_fd(), theirs.as_mut_bytes()).unwrap();
    theirs.set_len(n).unwrap();
    assert_eq!(theirs.decode().unwrap(), SockaddrAny::Unix(p));
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_dir(&dir).unwrap();

    let name = format!("sockaddr-test-{}", std::process::id());
    let a = SockaddrUnix::new_abstract(name.as_bytes()).unwrap();
    let sa = socket(libc::AF_UNIX, libc::SOCK_DGRAM);
    zcall::bind(sa.as_raw_fd(), a.as_bytes()).unwrap();
    let back = local(&sa);
    assert_eq!(back, SockaddrAny::Unix(a));
    assert_eq!(
        back.socklen(),
        a.socklen(),
        "no trailing NUL added or expected by the kernel"
    );
    // Another implementation's encoding of the same name reaches the same socket (std's).
    use std::os::linux::net::SocketAddrExt;
    let std_addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let tx = std::os::unix::net::UnixDatagram::unbound().unwrap();
    tx.send_to_addr(b"hi", &std_addr).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(zcall::recv(sa.as_raw_fd(), &mut buf, 0).unwrap(), 2);

    let [x, _y] =
        zcall::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0).unwrap();
    // SAFETY: just created, owned here.
    let x = unsafe { OwnedFd::from_raw_fd(x) };
    // SAFETY: just created, owned here.
    let _y = unsafe { OwnedFd::from_raw_fd(_y) };
    assert_eq!(local(&x), SockaddrAny::Unix(SockaddrUnix::unnamed()));
}

#[test]
fn zones_resolve_interface_names() {
    let lo: SockaddrInet6 = "[fe80::1%lo]:80".parse().unwrap();
    assert_eq!(lo.scope_id(), 1, "lo is interface 1");
    let e = "[fe80::1%nosuchif0]:80"
        .parse::<SockaddrInet6>()
        .unwrap_err();
    assert_eq!(e.kind(), iox::ErrorKind::AddressNotAvailable);
    assert!(e.to_string().contains("unknown interface"), "{e}");
    let e = "[fe80::1%abcdefghijklmnopq]:80"
        .parse::<SockaddrInet6>()
        .unwrap_err();
    assert!(e.to_string().contains("exceeds 15 bytes"));
}

/// The link-local address the kernel gave `ifname`, from /proc/net/if_inet6.
fn link_local(ifname: &str) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 6 && f[5] == ifname && f[0].starts_with("fe80")).then(|| {
            let mut o = [0u8; 16];
            for (i, b) in o.iter_mut().enumerate() {
                *b = u8::from_str_radix(&f[0][2 * i..2 * i + 2], 16).unwrap();
            }
            Ipv6Addr::from(o)
        })
    })
}

#[test]
fn link_local_with_scope_on_a_veth() {
    testkit::in_netns(|ns| {
        let ll = link_local(ns.a.name).expect("veth0 has a link-local address");
        let text = format!("[{ll}%{}]:0", ns.a.name);
        let want: SockaddrInet6 = text.parse().unwrap();
        assert_eq!(
            want.scope_id(),
            ns.a.index,
            "the interface name resolved inside the namespace"
        );
        let s = socket(libc::AF_INET6, libc::SOCK_DGRAM);
        zcall::bind(s.as_raw_fd(), want.as_bytes()).unwrap();
        let SockaddrAny::Inet6(got) = local(&s) else {
            panic!("not IPv6")
        };
        assert_eq!((got.ip(), got.scope_id()), (ll, ns.a.index));
        // Without its scope the kernel refuses a link-local bind.
        let bare = SockaddrInet6::new(ll, 0, 0, 0);
        let s2 = socket(libc::AF_INET6, libc::SOCK_DGRAM);
        assert_eq!(
            zcall::bind(s2.as_raw_fd(), bare.as_bytes()),
            Err(zcall::Errno::EINVAL)
        );
    });
}

/// A directory whose path, plus `/` and `leaf`, is exactly `total` bytes long.
fn dir_for_path_of(total: usize, leaf: &str) -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!("sockaddr-long-{}-", std::process::id()));
    let used = base.as_os_str().len() + 1 + leaf.len();
    assert!(used <= total, "the temporary directory's path is too long");
    let dir = std::path::PathBuf::from(format!("{}{}", base.display(), "d".repeat(total - used)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A socket bound to a 108-byte path (no NUL fits in `sun_path`; the kernel then reports
/// length 111) reads back through getsockname and getpeername, and its address connects.
#[test]
fn a_unix_path_that_fills_sun_path_through_the_kernel() {
    let dir = dir_for_path_of(108, "s");
    let path = dir.join("s");
    let _ = std::fs::remove_file(&path);
    let raw = path.as_os_str().as_encoded_bytes();
    assert_eq!(raw.len(), 108);
    let mut b = [0u8; 110];
    b[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
    b[2..].copy_from_slice(raw);
    let l = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    zcall::bind(l.as_raw_fd(), &b).unwrap();
    zcall::listen(l.as_raw_fd(), 1).unwrap();
    let mut s = SockaddrStorage::new();
    let n = zcall::getsockname(l.as_raw_fd(), s.as_mut_bytes()).unwrap();
    assert_eq!(n, 111, "this kernel reports the NUL past sun_path");
    s.set_len(n).unwrap();
    let SockaddrAny::Unix(got) = s.decode().unwrap() else {
        panic!("a unix address")
    };
    assert_eq!(got.path(), Some(path.as_path()));
    // The decoded address is usable: connect to it, and read it back as the peer's.
    let c = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    zcall::connect(c.as_raw_fd(), got.as_bytes()).unwrap();
    let mut peer = SockaddrStorage::new();
    let n = zcall::getpeername(c.as_raw_fd(), peer.as_mut_bytes()).unwrap();
    peer.set_len(n).unwrap();
    assert_eq!(peer.decode().unwrap(), SockaddrAny::Unix(got));
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_dir(&dir).unwrap();
}
