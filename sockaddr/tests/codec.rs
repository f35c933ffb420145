//! Encoding, decoding, text forms and conversions: no system call, so the whole file also
//! runs under Miri (`cargo xtask miri`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use iox::ErrorKind;
use sockaddr::{
    MAX_PATH_LEN, Sockaddr, SockaddrAny, SockaddrInet4, SockaddrInet6, SockaddrStorage,
    SockaddrUnix,
};

fn storage_of(a: &impl Sockaddr) -> SockaddrStorage {
    SockaddrStorage::from_bytes(a.as_bytes()).unwrap()
}

#[test]
fn inet4_fields_bytes_and_text() {
    let mut a = SockaddrInet4::new(Ipv4Addr::new(192, 168, 1, 2), 0x1234);
    let b = a.as_bytes();
    assert_eq!(b.len(), 16);
    assert_eq!(&b[2..4], &[0x12, 0x34], "port in network order");
    assert_eq!(&b[4..8], &[192, 168, 1, 2]);
    assert_eq!(i32::from(a.family()), libc::AF_INET);
    a.set_port(80);
    a.set_ip(Ipv4Addr::LOCALHOST);
    assert_eq!((a.ip(), a.port()), (Ipv4Addr::LOCALHOST, 80));
    assert_eq!(a.to_string(), "127.0.0.1:80");
    assert_eq!(format!("{a:?}"), "SockaddrInet4(127.0.0.1:80)");
    assert_eq!("127.0.0.1:80".parse::<SockaddrInet4>().unwrap(), a);
    for bad in [
        "127.0.0.1",
        "127.0.0.1:70000",
        "[::1]:80",
        "localhost:80",
        "",
    ] {
        assert_eq!(
            bad.parse::<SockaddrInet4>().unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
    }
}

#[test]
fn inet6_fields_flowinfo_scope_and_text() {
    let ip: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let mut a = SockaddrInet6::new(ip, 443, 0xabcde, 9);
    assert_eq!(
        (a.ip(), a.port(), a.flowinfo(), a.scope_id()),
        (ip, 443, 0xabcde, 9)
    );
    let b = a.as_bytes();
    assert_eq!(b.len(), 28);
    assert_eq!(
        &b[4..8],
        &0xabcde_u32.to_be_bytes(),
        "flow info in network order"
    );
    assert_eq!(&b[8..24], &ip.octets());
    assert_eq!(&b[24..28], &9u32.to_ne_bytes(), "scope id in host order");
    a.set_flowinfo(1);
    a.set_scope_id(0);
    a.set_port(1);
    a.set_ip(Ipv6Addr::LOCALHOST);
    assert_eq!(a.to_string(), "[::1]:1");
    assert_eq!(format!("{a:?}"), "SockaddrInet6([::1]:1, flowinfo 1)");
    let p: SockaddrInet6 = "[fe80::1%42]:8080".parse().unwrap();
    assert_eq!((p.scope_id(), p.port()), (42, 8080));
    assert_eq!(p.to_string(), "[fe80::1%42]:8080");
    for bad in [
        "::1:80",
        "[::1]",
        "[::1]:x",
        "[::1%]:80",
        "[zz::1]:80",
        "[fe80::1%99999999999]:80",
    ] {
        assert_eq!(
            bad.parse::<SockaddrInet6>().unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
    }
}

#[test]
fn std_conversions_both_ways() {
    let v4: SocketAddrV4 = "10.0.0.1:53".parse().unwrap();
    assert_eq!(SocketAddrV4::from(SockaddrInet4::from(v4)), v4);
    let v6 = SocketAddrV6::new("fe80::2".parse().unwrap(), 5353, 77, 3);
    let ours = SockaddrInet6::from(v6);
    assert_eq!((ours.flowinfo(), ours.scope_id()), (77, 3));
    assert_eq!(SocketAddrV6::from(ours), v6);
    for s in ["1.2.3.4:5", "[::1]:6"] {
        let std_addr: SocketAddr = s.parse().unwrap();
        let any = SockaddrAny::from(std_addr);
        assert_eq!(SocketAddr::try_from(any).unwrap(), std_addr);
        assert_eq!(any.to_string(), s);
    }
    let unix = SockaddrAny::Unix(SockaddrUnix::new("/x").unwrap());
    assert_eq!(
        SocketAddr::try_from(unix).unwrap_err().kind(),
        ErrorKind::AddressFamilyNotSupported
    );
}

#[test]
fn mapped_addresses_stay_ipv6_until_asked() {
    let m = SockaddrAny::from("[::ffff:1.2.3.4]:9".parse::<SocketAddr>().unwrap());
    assert!(matches!(m, SockaddrAny::Inet6(_)));
    assert_eq!(i32::from(m.family()), libc::AF_INET6);
    assert_eq!(
        m.to_canonical(),
        SockaddrAny::Inet4(SockaddrInet4::new(Ipv4Addr::new(1, 2, 3, 4), 9))
    );
    let plain = SockaddrAny::from("[2001:db8::1]:9".parse::<SocketAddr>().unwrap());
    assert_eq!(plain.to_canonical(), plain);
}

#[test]
fn unix_pathname_encoding_and_limits() {
    let a = SockaddrUnix::new("/tmp/s").unwrap();
    assert_eq!(a.socklen() as usize, 2 + 6 + 1, "family, path, NUL");
    assert_eq!(a.as_bytes()[2..], *b"/tmp/s\0");
    assert_eq!(a.path().unwrap().to_str(), Some("/tmp/s"));
    assert!(a.abstract_name().is_none() && !a.is_unnamed());
    let max = "p".repeat(MAX_PATH_LEN);
    assert_eq!(
        SockaddrUnix::new(&max).unwrap().socklen() as usize,
        2 + MAX_PATH_LEN + 1
    );
    let e = SockaddrUnix::new("p".repeat(MAX_PATH_LEN + 1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains(&format!("exceeds {MAX_PATH_LEN} bytes")),
        "{e}"
    );
    assert!(
        SockaddrUnix::new("a\0b")
            .unwrap_err()
            .to_string()
            .contains("NUL")
    );
    assert_eq!(
        SockaddrUnix::new("").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        "/run/x.sock".parse::<SockaddrUnix>().unwrap().to_string(),
        "/run/x.sock"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn unix_abstract_encoding_has_no_trailing_nul() {
    let a = SockaddrUnix::new_abstract(b"svc").unwrap();
    assert_eq!(
        a.socklen() as usize,
        2 + 1 + 3,
        "family, leading NUL, name: no trailing NUL"
    );
    assert_eq!(a.as_bytes()[2..], *b"\0svc");
    assert_eq!(a.abstract_name(), Some(&b"svc"[..]));
    assert!(a.path().is_none());
    assert_eq!(a.to_string(), "@svc");
    assert_eq!("@svc".parse::<SockaddrUnix>().unwrap(), a);
    let odd = SockaddrUnix::new_abstract(b"a\0b\xff").unwrap();
    assert_eq!(odd.to_string(), "@a\\x00b\\xff");
    assert!(SockaddrUnix::new_abstract(&[b'n'; sockaddr::MAX_ABSTRACT_LEN]).is_ok());
    assert!(SockaddrUnix::new_abstract(&[b'n'; sockaddr::MAX_ABSTRACT_LEN + 1]).is_err());
}

#[test]
fn unix_unnamed() {
    let u = SockaddrUnix::unnamed();
    assert_eq!(u.socklen(), 2);
    assert!(u.is_unnamed());
    assert_eq!(u.to_string(), "(unnamed)");
    assert_eq!("".parse::<SockaddrUnix>().unwrap(), u);
}

#[test]
fn storage_round_trips_every_family() {
    let mut list = vec![
        SockaddrAny::from(SockaddrInet4::new(Ipv4Addr::BROADCAST, 1)),
        SockaddrAny::from(SockaddrInet6::new(Ipv6Addr::LOCALHOST, 2, 3, 4)),
        SockaddrAny::from(SockaddrUnix::new("/a/b").unwrap()),
        SockaddrAny::from(SockaddrUnix::unnamed()),
    ];
    if cfg!(target_os = "linux") {
        list.push(SockaddrAny::from(
            SockaddrUnix::new_abstract(b"abs").unwrap(),
        ));
    }
    for a in list {
        let s = storage_of(&a);
        assert_eq!(s.len(), a.socklen() as usize);
        assert_eq!(s.family(), a.family());
        assert_eq!(s.decode().unwrap(), a, "{a}");
        assert_eq!(SockaddrAny::try_from(s).unwrap(), a);
        assert_eq!(s.as_bytes(), a.as_bytes());
    }
    let v4 = SockaddrInet4::new(Ipv4Addr::LOCALHOST, 7);
    assert_eq!(SockaddrInet4::try_from(storage_of(&v4)).unwrap(), v4);
    let e = SockaddrInet6::try_from(storage_of(&v4)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressFamilyNotSupported);
    assert_eq!(SockaddrStorage::from(&v4), storage_of(&v4));
}

#[test]
fn storage_refuses_bad_lengths_and_families() {
    let v4 = SockaddrInet4::new(Ipv4Addr::LOCALHOST, 7);
    let short = SockaddrStorage::from_bytes(&v4.as_bytes()[..15]).unwrap();
    assert!(
        short
            .decode()
            .unwrap_err()
            .to_string()
            .contains("shorter than sockaddr_in")
    );
    let v6 = SockaddrInet6::new(Ipv6Addr::LOCALHOST, 7, 0, 0);
    let short6 = SockaddrStorage::from_bytes(&v6.as_bytes()[..24]).unwrap();
    assert!(
        short6
            .decode()
            .unwrap_err()
            .to_string()
            .contains("shorter than sockaddr_in6")
    );
    let empty = SockaddrStorage::new();
    assert!(empty.is_empty());
    assert_eq!(i32::from(empty.family()), libc::AF_UNSPEC);
    assert_eq!(empty.decode().unwrap_err().kind(), ErrorKind::InvalidInput);
    let mut odd = [0u8; 16];
    odd[..2].copy_from_slice(&(250u16).to_ne_bytes());
    if !cfg!(target_os = "linux") {
        odd[0] = 16;
        odd[1] = 250;
    }
    let unknown = SockaddrStorage::from_bytes(&odd).unwrap();
    assert_eq!(
        unknown.decode().unwrap_err().kind(),
        ErrorKind::AddressFamilyNotSupported
    );
    assert!(SockaddrStorage::from_bytes(&[0u8; 129]).is_err());
    let mut s = SockaddrStorage::new();
    assert!(s.set_len(129).is_err());
    assert_eq!(s.as_mut_bytes().len(), 128);
    let long_unix = {
        let mut b = [0u8; 120];
        b[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        SockaddrStorage::from_bytes(&b).unwrap()
    };
    if cfg!(target_os = "linux") {
        assert!(
            long_unix
                .decode()
                .unwrap_err()
                .to_string()
                .contains("longer than sockaddr_un")
        );
    }
}

#[test]
fn any_parses_every_text_form() {
    let cases = [
        ("10.1.1.1:1", libc::AF_INET),
        ("[::]:2", libc::AF_INET6),
        ("/var/run/a.sock", libc::AF_UNIX),
        ("./rel/a.sock", libc::AF_UNIX),
    ];
    for (s, fam) in cases {
        let a: SockaddrAny = s.parse().unwrap();
        assert_eq!(i32::from(a.family()), fam, "{s}");
        assert_eq!(
            a.to_string().trim_start_matches("./"),
            s.trim_start_matches("./")
        );
    }
    let e = "localhost:80".parse::<SockaddrAny>().unwrap_err();
    assert!(e.to_string().contains("not an address"), "{e}");
    // A malformed literal says what is wrong with it, not just "not an address".
    for (bad, words) in [
        ("999.1.1.1:80", "octet exceeds 255"),
        ("1.2.3:80", "fewer than four octets"),
        ("[::1", "missing ']'"),
        ("[::1]", "missing :port"),
        ("::1]:80", "missing '['"),
        ("::1:80", "needs brackets"),
        ("10.0.0.1:65536", "port exceeds 65535"),
    ] {
        let e = bad.parse::<SockaddrAny>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        assert!(e.to_string().contains(words), "{bad}: {e}");
    }
}

#[test]
fn std_unix_socket_addresses() {
    use std::os::unix::net::SocketAddr as UnixAddr;
    let p = SockaddrUnix::new("/tmp/std.sock").unwrap();
    let std_p = UnixAddr::try_from(p).unwrap();
    assert_eq!(std_p.as_pathname().unwrap().to_str(), Some("/tmp/std.sock"));
    assert_eq!(SockaddrUnix::try_from(&std_p).unwrap(), p);
    assert_eq!(
        UnixAddr::try_from(SockaddrUnix::unnamed())
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        let a = SockaddrUnix::new_abstract(b"std").unwrap();
        let std_a = UnixAddr::try_from(a).unwrap();
        assert_eq!(std_a.as_abstract_name(), Some(&b"std"[..]));
        assert_eq!(SockaddrUnix::try_from(&std_a).unwrap(), a);
    }
}

#[test]
fn equality_and_hash_ignore_nothing_that_matters() {
    use std::collections::HashSet;
    let set: HashSet<SockaddrAny> = ["1.1.1.1:1", "1.1.1.1:1", "[::1]:1", "/p"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(set.len(), 3);
}

/// A pathname of 108 bytes fills `sun_path` with no room for a NUL; Linux reports such an
/// address with length 111 (family, path, and the NUL it keeps past the struct). It decodes
/// to the whole path, with the length it is bound with (110), and round-trips.
#[test]
#[cfg(target_os = "linux")]
fn a_unix_path_that_fills_sun_path_decodes() {
    let path = [b'q'; 108];
    let mut b = [0u8; 111];
    b[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
    b[2..110].copy_from_slice(&path);
    let s = SockaddrStorage::from_bytes(&b).unwrap();
    let SockaddrAny::Unix(u) = s.decode().unwrap() else {
        panic!("a unix address")
    };
    assert_eq!(u.path().unwrap().as_os_str().len(), 108);
    assert_eq!(u.to_string(), "q".repeat(108));
    assert_eq!(u.socklen(), 110, "family and path: no NUL fits");
    assert_eq!(storage_of(&u).decode().unwrap(), SockaddrAny::Unix(u));
    // Without the kernel's NUL after it, or as an abstract name, 111 is too long.
    b[110] = b'x';
    let e = SockaddrStorage::from_bytes(&b)
        .unwrap()
        .decode()
        .unwrap_err();
    assert!(e.to_string().contains("longer than sockaddr_un"), "{e}");
    b[110] = 0;
    b[2] = 0;
    assert!(SockaddrStorage::from_bytes(&b).unwrap().decode().is_err());
    // 110 bytes, a full path without any NUL (what a peer binds with), decode alike.
    b[2] = b'q';
    let full = SockaddrStorage::from_bytes(&b[..110])
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(full, SockaddrAny::Unix(u));
}
