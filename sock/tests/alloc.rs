//! The hot paths allocate nothing: accept of a queued connection, read, write, send_to,
//! recv_from (per-thread counting allocator).

mod common;
use common::{soon, tcp_pair};

use sock::{SockaddrStorage, TcpDialer, TcpListener, UdpConn};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

#[test]
fn accept_of_a_queued_connection() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            TcpDialer {
                timeout: Some(common::BOUND),
                ..Default::default()
            }
            .dial(addr)
            .unwrap()
        })
        .collect();
    l.set_read_deadline(soon());
    let mut peer = SockaddrStorage::new();
    let mut accepted = Vec::with_capacity(8);
    testkit::assert_no_alloc(|| {
        for _ in 0..8 {
            let c = l.accept_into(&mut peer).unwrap();
            accepted.push(c);
        }
    });
    assert_eq!(accepted.len(), clients.len());
}

#[test]
fn tcp_read_write() {
    let (c, s) = tcp_pair();
    let mut buf = [0u8; 64];
    testkit::assert_no_alloc(|| {
        for _ in 0..1000 {
            assert_eq!(c.write(&[1u8; 64]).unwrap(), 64);
            let mut got = 0;
            while got < 64 {
                got += s.read(&mut buf[got..]).unwrap();
            }
        }
    });
}

#[test]
fn udp_send_to_recv_from() {
    let a = UdpConn::bind("127.0.0.1:0").unwrap();
    let b = UdpConn::bind("127.0.0.1:0").unwrap();
    let to = b.local_addr().unwrap();
    b.set_read_deadline(soon());
    let mut buf = [0u8; 64];
    let mut from = SockaddrStorage::new();
    testkit::assert_no_alloc(|| {
        for _ in 0..1000 {
            a.send_to(&[2u8; 32], &to).unwrap();
            a.send_to(&[3u8; 16], &to).unwrap();
            assert_eq!(b.recv_from_into(&mut buf, &mut from).unwrap(), 32);
            let (n, src) = b.recv_from(&mut buf).unwrap();
            assert_eq!((n, src), (16, a.local_addr().unwrap()));
        }
    });
}
