//! The multicast option layer, inside a private namespace across its veth pair: getters that
//! tell the truth, source-specific joins, blocked sources, v4 and v6; and on loopback, errors
//! that say what was wrong.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use sock::mcast::{self, Interface};
use sock::{SockaddrAny, UdpConn};

fn sender(bind: IpAddr, ifindex: u32) -> UdpConn {
    let s = UdpConn::bind(SockaddrAny::from(std::net::SocketAddr::new(bind, 0))).unwrap();
    match bind {
        IpAddr::V4(_) => {
            mcast::set_interface_v4(&s, Interface::Index(ifindex)).unwrap();
            mcast::set_loop_v4(&s, false).unwrap();
        }
        IpAddr::V6(_) => {
            mcast::set_interface_v6(&s, Interface::Index(ifindex)).unwrap();
            mcast::set_loop_v6(&s, false).unwrap();
        }
    }
    s
}

fn receiver(any: &str) -> UdpConn {
    let r = UdpConn::bind(any).unwrap();
    r.set_read_deadline(iox::Deadline::after(Duration::from_millis(500)));
    r
}

/// Everything `r` receives within its deadline: the first byte of each datagram.
fn drain(r: &UdpConn) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while let Ok((n, _)) = r.recv_from(&mut buf) {
        assert!(n > 0);
        got.push(buf[0]);
    }
    got
}

#[test]
fn getters_tell_the_truth() {
    testkit::skip_unless_sockopt!(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF);
    let s = UdpConn::bind("0.0.0.0:0").unwrap();
    mcast::set_loop_v4(&s, false).unwrap();
    assert!(
        !mcast::loop_v4(&s).unwrap(),
        "the Go getter returned the inverse"
    );
    mcast::set_loop_v4(&s, true).unwrap();
    assert!(mcast::loop_v4(&s).unwrap());
    mcast::set_ttl_v4(&s, 7).unwrap();
    assert_eq!(mcast::ttl_v4(&s).unwrap(), 7);
    mcast::set_interface_v4(&s, Interface::Addr(Ipv4Addr::LOCALHOST)).unwrap();
    assert_eq!(mcast::interface_v4(&s).unwrap(), Ipv4Addr::LOCALHOST);
    if testkit::qemu::sockopt_unsupported(libc::IPPROTO_IP, libc::IP_MULTICAST_ALL).is_none() {
        assert!(mcast::all_v4(&s).unwrap(), "on by default");
        mcast::set_all_v4(&s, false).unwrap();
        assert!(!mcast::all_v4(&s).unwrap());
    }
    let s6 = UdpConn::bind("[::]:0").unwrap();
    mcast::set_loop_v6(&s6, false).unwrap();
    assert!(!mcast::loop_v6(&s6).unwrap());
    mcast::set_hops_v6(&s6, Some(3)).unwrap();
    assert_eq!(mcast::hops_v6(&s6).unwrap(), 3);
    mcast::set_interface_v6(&s6, Interface::Name("lo")).unwrap();
    assert_eq!(mcast::interface_v6(&s6).unwrap(), 1);
    mcast::set_all_v6(&s6, false).unwrap();
    assert!(!mcast::all_v6(&s6).unwrap());
    let e = mcast::join(&s, "10.1.2.3".parse().unwrap(), Interface::Any).unwrap_err();
    assert_eq!(e.kind(), sock::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("not a multicast address"));
    let e = mcast::join(
        &s6,
        "ff15::1".parse().unwrap(),
        Interface::Name("no-such-if"),
    )
    .unwrap_err();
    assert_eq!(e.kind(), sock::ErrorKind::AddressNotAvailable);
}

#[test]
fn source_specific_join_and_block_v4() {
    testkit::skip_unless_sockopt!(libc::IPPROTO_IP, 46);
    testkit::in_netns(|ns| {
        ns.ip(&["addr", "add", "10.77.0.3/24", "dev", "veth0"])
            .unwrap();
        let group: IpAddr = Ipv4Addr::new(232, 1, 2, 3).into();
        let good = sender(ns.a.ipv4.into(), ns.a.index);
        let other = sender(Ipv4Addr::new(10, 77, 0, 3).into(), ns.a.index);

        let ssm = receiver("0.0.0.0:0");
        mcast::set_all_v4(&ssm, false).unwrap();
        mcast::join_source(&ssm, group, ns.a.ipv4.into(), Interface::Index(ns.b.index)).unwrap();
        let port = ssm.local_addr().unwrap().as_socket().unwrap().port();

        let asm = receiver(&format!("0.0.0.0:{}", port + 1));
        mcast::set_all_v4(&asm, false).unwrap();
        mcast::join(
            &asm,
            Ipv4Addr::new(239, 1, 2, 3).into(),
            Interface::Name(ns.b.name),
        )
        .unwrap();
        mcast::block_source(
            &asm,
            Ipv4Addr::new(239, 1, 2, 3).into(),
            Ipv4Addr::new(10, 77, 0, 3).into(),
            Interface::Index(ns.b.index),
        )
        .unwrap();

        let to_ssm: SockaddrAny = format!("232.1.2.3:{port}").parse().unwrap();
        let to_asm: SockaddrAny = format!("239.1.2.3:{}", port + 1).parse().unwrap();
        good.send_to(b"1", &to_ssm).unwrap();
        other.send_to(b"2", &to_ssm).unwrap();
        good.send_to(b"3", &to_asm).unwrap();
        other.send_to(b"4", &to_asm).unwrap();
        assert_eq!(drain(&ssm), b"1", "only the chosen source");
        assert_eq!(drain(&asm), b"3", "the blocked source is dropped");

        mcast::unblock_source(
            &asm,
            Ipv4Addr::new(239, 1, 2, 3).into(),
            Ipv4Addr::new(10, 77, 0, 3).into(),
            Interface::Index(ns.b.index),
        )
        .unwrap();
        other.send_to(b"5", &to_asm).unwrap();
        assert_eq!(drain(&asm), b"5");
        mcast::leave_source(&ssm, group, ns.a.ipv4.into(), Interface::Index(ns.b.index)).unwrap();
        good.send_to(b"6", &to_ssm).unwrap();
        assert!(drain(&ssm).is_empty(), "left");
    });
}

#[test]
fn source_specific_join_and_block_v6() {
    testkit::skip_unless_sockopt!(libc::IPPROTO_IP, 46);
    testkit::in_netns(|ns| {
        ns.ip(&[
            "-6",
            "addr",
            "add",
            "fd00:77::3/64",
            "dev",
            "veth0",
            "nodad",
        ])
        .unwrap();
        let src3: Ipv6Addr = "fd00:77::3".parse().unwrap();
        let group: IpAddr = "ff35::1:2:3".parse::<Ipv6Addr>().unwrap().into();
        let good = sender(ns.a.ipv6.into(), ns.a.index);
        let other = sender(src3.into(), ns.a.index);
        let ssm = receiver("[::]:0");
        mcast::join_source(&ssm, group, ns.a.ipv6.into(), Interface::Index(ns.b.index)).unwrap();
        let port = ssm.local_addr().unwrap().as_socket().unwrap().port();
        let asm_group: IpAddr = "ff15::7".parse::<Ipv6Addr>().unwrap().into();
        let asm = receiver(&format!("[::]:{}", port + 1));
        mcast::join(&asm, asm_group, Interface::Index(ns.b.index)).unwrap();
        mcast::block_source(&asm, asm_group, src3.into(), Interface::Index(ns.b.index)).unwrap();

        let to_ssm: SockaddrAny = format!("[ff35::1:2:3]:{port}").parse().unwrap();
        let to_asm: SockaddrAny = format!("[ff15::7]:{}", port + 1).parse().unwrap();
        good.send_to(b"1", &to_ssm).unwrap();
        other.send_to(b"2", &to_ssm).unwrap();
        good.send_to(b"3", &to_asm).unwrap();
        other.send_to(b"4", &to_asm).unwrap();
        assert_eq!(drain(&ssm), b"1");
        assert_eq!(drain(&asm), b"3");
        mcast::leave(&asm, asm_group, Interface::Index(ns.b.index)).unwrap();
    });
}

/// Errors of the option layer say what was wrong, on loopback sockets (no traffic).
#[test]
fn errors_say_what_was_wrong() {
    use sock::ErrorKind;
    let s4 = UdpConn::bind("127.0.0.1:0").unwrap();
    let s6 = UdpConn::bind("[::1]:0").unwrap();
    let g4: IpAddr = Ipv4Addr::new(239, 1, 2, 9).into();
    let g6: IpAddr = "ff15::9".parse::<Ipv6Addr>().unwrap().into();
    let lo = Interface::Index(1);
    let ctx = |e: sock::Error| e.context_str().unwrap_or_else(|| panic!("no context: {e}"));

    // An IPv6 group on an IPv4 socket is a family mismatch, not a missing feature.
    let e = mcast::join(&s4, g6, lo).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressFamilyNotSupported, "{e}");
    assert!(ctx(e).contains("IPv6 group on an IPv4 socket"), "{e}");
    let e = mcast::join_group(&s4, g6, lo).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressFamilyNotSupported, "{e}");

    // A missing interface index, or an address no interface holds.
    if let Some(what) = testkit::qemu::behaviour_unsupported("multicast interface index") {
        eprintln!(
            "testkit: SKIPPED the missing-interface checks: qemu-user does not emulate {what} faithfully"
        );
    } else {
        for s in [&s4, &s6] {
            let g = if std::ptr::eq(s, &s4) { g4 } else { g6 };
            let e = mcast::join(s, g, Interface::Index(999_999)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddressNotAvailable, "{e}");
            assert!(ctx(e).contains("no interface has that index"), "{e}");
        }
        let e = mcast::join(&s4, g4, Interface::Addr(Ipv4Addr::new(192, 0, 2, 254))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddressNotAvailable, "{e}");
        assert!(ctx(e).contains("no interface holds"), "{e}");
    }
    if testkit::qemu::sockopt_unsupported(libc::IPPROTO_IP, libc::IP_MULTICAST_IF).is_none() {
        let e = mcast::set_interface_v4(&s4, Interface::Index(999_999)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddressNotAvailable, "{e}");
        assert!(ctx(e).contains("no interface has that index"), "{e}");
    }

    // Leaving, blocking or unblocking in a group never joined.
    for (s, g) in [(&s4, g4), (&s6, g6)] {
        let e = mcast::leave(s, g, lo).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddressNotAvailable, "{e}");
        assert!(ctx(e).contains("has not joined that group"), "{e}");
        if testkit::qemu::sockopt_unsupported(libc::IPPROTO_IP, 46).is_none() {
            let src = if g.is_ipv4() {
                IpAddr::from(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::from(Ipv6Addr::LOCALHOST)
            };
            let e = mcast::leave_group(s, g, lo).unwrap_err();
            assert!(ctx(e).contains("has not joined that group"), "{e}");
            for e in [
                mcast::block_source(s, g, src, lo).unwrap_err(),
                mcast::unblock_source(s, g, src, lo).unwrap_err(),
            ] {
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                assert!(ctx(e).contains("no any-source membership"), "{e}");
            }
            let e = mcast::leave_source(s, g, src, lo).unwrap_err();
            assert!(ctx(e).contains("no membership of that group"), "{e}");
            // Joined now: unblocking a source never blocked, leaving a source never joined.
            mcast::join(s, g, lo).unwrap();
            let e = mcast::join(s, g, lo).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddressInUse, "{e}");
            assert!(ctx(e).contains("already joined"), "{e}");
            let e = mcast::unblock_source(s, g, src, lo).unwrap_err();
            assert!(ctx(e).contains("not blocked"), "{e}");
            let e = mcast::leave_source(s, g, src, lo).unwrap_err();
            assert!(
                ctx(e).contains("not joined that group from that source"),
                "{e}"
            );
            mcast::leave(s, g, lo).unwrap();
        }
    }
}
