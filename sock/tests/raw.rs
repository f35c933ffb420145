//! Raw ICMP echo to 127.0.0.1, when the process holds CAP_NET_RAW.
#![cfg(all(feature = "raw", target_os = "linux"))]

use std::time::Duration;

use sock::rawsock::{RawConn, icmp};

#[test]
fn icmp_echo_to_loopback() {
    let s = match RawConn::icmp4() {
        Ok(s) => s,
        Err(e) if e.kind() == sock::ErrorKind::PermissionDenied => {
            testkit::skip!("no CAP_NET_RAW: raw sockets are refused ({e})")
        }
        Err(e) => panic!("{e}"),
    };
    eprintln!("raw: CAP_NET_RAW held, sending a real echo request");
    let id = (std::process::id() & 0xffff) as u16;
    let mut req = [0u8; 64];
    let n = icmp::echo_request(icmp::ECHO_REQUEST_V4, id, 7, b"sock raw test", &mut req).unwrap();
    assert_eq!(
        icmp::checksum(&req[..n]),
        0,
        "a filled-in checksum sums to zero"
    );
    let dst: sock::SockaddrAny = "127.0.0.1:0".parse().unwrap();
    s.send_to(&req[..n], &dst).unwrap();
    s.set_read_deadline(iox::Deadline::after(Duration::from_secs(10)));
    let mut buf = [0u8; 256];
    // Our own request comes back too (raw sockets see every ICMP packet): find the reply.
    loop {
        let (len, from) = s.recv_from(&mut buf).unwrap();
        assert_eq!(from.to_string(), "127.0.0.1:0");
        let msg = icmp::strip_ipv4_header(&buf[..len]).unwrap();
        if let Some(r) = icmp::parse_echo_reply(msg, icmp::ECHO_REPLY_V4)
            && r.id == id
        {
            assert_eq!((r.seq, r.payload), (7, &b"sock raw test"[..]));
            break;
        }
    }
    assert!(icmp::echo_request(icmp::ECHO_REQUEST_V4, 1, 1, &[0; 100], &mut [0u8; 16]).is_err());
}

/// A raw socket, or the skip when the process lacks CAP_NET_RAW.
macro_rules! raw_or_skip {
    ($make:expr) => {
        match $make {
            Ok(s) => s,
            Err(e) if e.kind() == sock::ErrorKind::PermissionDenied => {
                testkit::skip!("no CAP_NET_RAW: raw sockets are refused ({e})")
            }
            Err(e) => panic!("{e}"),
        }
    };
}

/// An ICMPv6 echo request to ::1 through a raw ICMPv6 socket (the kernel computes the
/// checksum) draws a reply; what a raw IPv6 socket receives starts at the ICMPv6 header.
#[test]
fn icmpv6_echo_to_loopback() {
    let s = raw_or_skip!(RawConn::icmp6());
    eprintln!("raw: CAP_NET_RAW held, sending a real ICMPv6 echo request");
    let id = (std::process::id() & 0xffff) as u16 ^ 0x6666;
    let mut req = [0u8; 64];
    let n = icmp::echo_request(icmp::ECHO_REQUEST_V6, id, 9, b"sock raw v6", &mut req).unwrap();
    let dst: sock::SockaddrAny = "[::1]:0".parse().unwrap();
    s.send_to(&req[..n], &dst).unwrap();
    s.set_read_deadline(iox::Deadline::after(Duration::from_secs(10)));
    let mut buf = [0u8; 256];
    // Our own request comes back too (it arrives on lo like any packet): find the reply.
    loop {
        let (len, from) = s.recv_from(&mut buf).unwrap();
        assert_eq!(from.to_string(), "[::1]:0");
        if let Some(r) = icmp::parse_echo_reply(&buf[..len], icmp::ECHO_REPLY_V6)
            && r.id == id
        {
            assert_eq!((r.seq, r.payload), (9, &b"sock raw v6"[..]));
            break;
        }
    }
}

/// With `IP_HDRINCL` the caller writes the IPv4 header: a hand-built IPv4/UDP datagram sent
/// through a raw socket to 127.0.0.1 reaches a UDP socket, from the source port it names.
#[test]
fn ip_hdrincl_sends_a_hand_built_udp_datagram() {
    let raw = raw_or_skip!(RawConn::new4(libc::IPPROTO_UDP));
    raw.set_header_included(true).unwrap();
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    let port = match rx.local_addr().unwrap() {
        sock::SockaddrAny::Inet4(a) => a.port(),
        other => panic!("{other}"),
    };
    let payload = b"built by hand";
    let src_port: u16 = 40_404;
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45; // version 4, 5 words of header
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x5a5au16.to_be_bytes()); // identification
    p[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
    p[8] = 64; // TTL
    p[9] = libc::IPPROTO_UDP as u8;
    p[12..16].copy_from_slice(&[127, 0, 0, 1]);
    p[16..20].copy_from_slice(&[127, 0, 0, 1]);
    let sum = icmp::checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p[20..22].copy_from_slice(&src_port.to_be_bytes());
    p[22..24].copy_from_slice(&port.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    // UDP checksum 0: none (allowed over IPv4).
    p[28..].copy_from_slice(payload);
    let dst: sock::SockaddrAny = "127.0.0.1:0".parse().unwrap();
    assert_eq!(raw.send_to(&p, &dst).unwrap(), total);
    rx.set_read_deadline(iox::Deadline::after(Duration::from_secs(10)));
    let mut buf = [0u8; 64];
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], payload);
    assert_eq!(from.to_string(), format!("127.0.0.1:{src_port}"));
}
