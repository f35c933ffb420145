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
