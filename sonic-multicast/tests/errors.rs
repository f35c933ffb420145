//! What the peer refuses, as errors and never panics: a unicast group, a group of the other
//! family, an unknown interface, leaving what was not joined. No traffic is sent.

use std::net::IpAddr;

use sonic_io::{ErrorKind, Io};
use sonic_multicast::{Iface, UdpPeer};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn bind_reports_the_address_and_turns_multicast_all_off() {
    let mut io = Io::new().unwrap();
    let v4 = UdpPeer::bind(&mut io, "0.0.0.0:0").unwrap();
    assert!(v4.is_ipv4());
    assert_ne!(v4.local_addr().port(), 0, "the kernel's port is reported");
    let v6 = UdpPeer::bind(&mut io, "[::]:0").unwrap();
    assert!(!v6.is_ipv4());
    // A second peer on the same port: SO_REUSEADDR lets it bind.
    let again = UdpPeer::bind(
        &mut io,
        format!("0.0.0.0:{}", v4.local_addr().port()).as_str(),
    );
    assert!(again.is_ok(), "{again:?}");
    #[cfg(target_os = "linux")]
    if testkit::qemu::sockopt_unsupported(libc::IPPROTO_IP, 49).is_none() {
        assert!(!v4.all(&io).unwrap());
        assert!(!v6.all(&io).unwrap());
    }
    let e = UdpPeer::bind(&mut io, "/tmp/not-ip").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressFamilyNotSupported, "{e}");
}

#[test]
fn joins_that_cannot_be_are_errors() {
    let mut io = Io::new().unwrap();
    let v4 = UdpPeer::bind(&mut io, "0.0.0.0:0").unwrap();
    let v6 = UdpPeer::bind(&mut io, "[::]:0").unwrap();
    let cases = [
        (&v4, ip("10.1.2.3"), Iface::Any, "not a multicast address"),
        (
            &v4,
            ip("ff15::1"),
            Iface::Any,
            "an IPv6 group on an IPv4 peer",
        ),
        (
            &v6,
            ip("239.1.2.3"),
            Iface::Any,
            "an IPv4 group on an IPv6 peer",
        ),
        (&v6, ip("fd00::1"), Iface::Any, "not a multicast address"),
    ];
    for (peer, group, iface, says) in cases {
        let e = peer.join_on(&mut io, group, iface).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{group}: {e}");
        assert!(e.to_string().contains(says), "{group}: {e}");
    }
    let e = v4
        .join_on(&mut io, ip("239.1.2.3"), Iface::Name("no-such-if0"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressNotAvailable, "{e}");
    assert!(e.to_string().contains("no interface by that name"), "{e}");
    let e = v4
        .join_on(&mut io, ip("239.1.2.3"), Iface::Addr(ip("192.0.2.77")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressNotAvailable, "{e}");
    let e = v4
        .join_source(&mut io, ip("232.1.2.3"), ip("239.9.9.9"))
        .unwrap_err();
    assert!(
        e.to_string().contains("a source is a unicast address"),
        "{e}"
    );
    let e = v6
        .join_source(&mut io, ip("ff35::1"), ip("10.0.0.1"))
        .unwrap_err();
    assert!(e.to_string().contains("family"), "{e}");
    // Leaving, blocking and unblocking need the membership they act on.
    let e = v4.leave(&mut io, ip("239.1.2.3")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = v4
        .block_source(&mut io, ip("239.1.2.3"), ip("10.0.0.1"))
        .unwrap_err();
    assert!(e.to_string().contains("not joined"), "{e}");
    let e = v4
        .leave_source(&mut io, ip("232.1.2.3"), ip("10.0.0.1"))
        .unwrap_err();
    assert!(e.to_string().contains("from that source"), "{e}");
    assert!(v4.memberships().is_empty());
}

#[test]
fn an_interface_by_address_resolves_to_its_index_and_a_closed_peer_is_closed() {
    let mut io = Io::new().unwrap();
    assert_eq!(Iface::Addr(ip("127.0.0.1")).resolve().unwrap(), 1, "lo");
    assert_eq!(Iface::Name("lo").resolve().unwrap(), 1);
    assert_eq!(Iface::Index(7).resolve().unwrap(), 7);
    assert_eq!(Iface::Any.resolve().unwrap(), 0);
    let p = UdpPeer::bind(&mut io, "127.0.0.1:0").unwrap();
    p.set_outbound(&mut io, Iface::Addr(ip("127.0.0.1")))
        .unwrap();
    assert_eq!(p.outbound(), 1);
    p.close(&mut io).unwrap();
    assert_eq!(
        p.join(&mut io, ip("239.1.2.3")).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(p.ttl(&io).unwrap_err().kind(), ErrorKind::Closed);
}
