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
    testkit::assert_no_alloc_reported("TcpListener::accept_into of a queued connection", 8, || {
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
    testkit::assert_no_alloc_reported("TcpConn::write + TcpConn::read, 64 bytes", 1000, || {
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
    testkit::assert_no_alloc_reported(
        "UdpConn::send_to + recv_from_into / recv_from, one datagram",
        2000,
        || {
            for _ in 0..1000 {
                a.send_to(&[2u8; 32], &to).unwrap();
                a.send_to(&[3u8; 16], &to).unwrap();
                assert_eq!(b.recv_from_into(&mut buf, &mut from).unwrap(), 32);
                let (n, src) = b.recv_from(&mut buf).unwrap();
                assert_eq!((n, src), (16, a.local_addr().unwrap()));
            }
        },
    );
}

#[test]
#[cfg(target_os = "linux")]
fn batch_send_and_receive_of_64() {
    use sock::batch::{RecvMsg, SendMsg};
    use std::io::{IoSlice, IoSliceMut};
    let tx = UdpConn::bind("127.0.0.1:0").unwrap();
    let rx = UdpConn::bind("127.0.0.1:0").unwrap();
    sock::opt::set_recv_buffer_size(&rx, 1 << 20).unwrap();
    let to = rx.local_addr().unwrap();
    rx.set_read_deadline(soon());
    let payload = [9u8; 64];
    let iov = [IoSlice::new(&payload)];
    let mut store = [[0u8; 64]; 64];
    let mut riov: Vec<[IoSliceMut<'_>; 1]> =
        store.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let mut slots: Vec<RecvMsg<'_, '_>> =
        riov.iter_mut().map(|v| RecvMsg::new(v, &mut [])).collect();
    let mut msgs: Vec<SendMsg<'_>> = (0..64).map(|_| SendMsg::new(&iov, Some(&to))).collect();
    testkit::assert_no_alloc_reported(
        "send_messages + recv_messages, a batch of 64 datagrams",
        10,
        || {
            for _ in 0..10 {
                assert_eq!(tx.send_messages(&mut msgs).unwrap(), 64);
                let mut got = 0;
                while got < 64 {
                    got += rx.recv_messages(&mut slots[got..]).unwrap();
                }
            }
        },
    );
}

#[test]
fn cmsg_build_parse_and_fd_passing() {
    use std::os::fd::{AsFd, OwnedFd};
    let [a, b] = sock::UnixConn::pair().unwrap();
    let [r, _w] = iofd::Fd::pipe().unwrap();
    let mut buf = [0u8; 8];
    let mut fds: [Option<OwnedFd>; 2] = Default::default();
    let mut control = sock::cmsg::CmsgBuf::<128>::new();
    testkit::assert_no_alloc_reported(
        "send_fds + recv_fds of one descriptor (after a cmsg build and parse)",
        100,
        || {
            let mut w = sock::cmsg::CmsgWriter::new(control.as_mut());
            w.udp_segment(1200).unwrap();
            w.ttl(3).unwrap();
            let n = w.len();
            assert_eq!(
                sock::cmsg::CmsgIter::new(&control.as_ref()[..n])
                    .filter(|m| m.is_ok())
                    .count(),
                2
            );
            for _ in 0..100 {
                a.send_fds(b"f", &[r.as_fd()]).unwrap();
                assert_eq!(b.recv_fds(&mut buf, &mut fds).unwrap(), (1, 1));
                fds[0] = None; // closing a received descriptor allocates nothing either
            }
        },
    );
}

#[test]
#[cfg(target_os = "linux")]
fn tcp_info_into() {
    let (c, _s) = tcp_pair();
    let mut info = sock::tcpinfo::TcpInfo::default();
    testkit::assert_no_alloc_reported("tcpinfo::tcp_info_into", 100, || {
        for _ in 0..100 {
            sock::tcpinfo::tcp_info_into(&c, &mut info).unwrap();
        }
    });
    assert!(info.state().is_some());
}
