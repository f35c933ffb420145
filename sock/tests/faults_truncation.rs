//! Faults of size: a datagram larger than the receive buffer (`MSG_TRUNC`) and control data
//! larger than its buffer (`MSG_CTRUNC`), with descriptors attached. Each runs in a process
//! of its own and ends with as many descriptors open as it began with.

mod common;
use common::soon;
use testkit::no_fd_leak;

use std::io::IoSliceMut;
use std::os::fd::{AsFd, OwnedFd};

use sock::{NetSocket, UdpConn, UnixDatagram};

/// Receives one message into an 8-byte buffer, without control data.
fn recv8(s: &NetSocket) -> (sock::RecvMeta, [u8; 8]) {
    let mut data = [0u8; 8];
    let meta = s
        .recv_msg(&mut [IoSliceMut::new(&mut data)], None, &mut [])
        .unwrap();
    (meta, data)
}

/// The buffer gets the datagram's first bytes, the meta says `MSG_TRUNC`, and the rest is
/// discarded: the next receive gets the next datagram, whole.
#[test]
fn a_datagram_larger_than_the_buffer_is_reported_truncated() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let big: Vec<u8> = (0..32u8).collect();
            for any in ["127.0.0.1:0", "[::1]:0"] {
                let rx = UdpConn::bind(any).unwrap();
                let tx = UdpConn::bind(any).unwrap();
                rx.set_read_deadline(soon());
                let to = rx.local_addr().unwrap();
                tx.send_to(&big, &to).unwrap();
                tx.send_to(b"next", &to).unwrap();
                let (meta, data) = recv8(&rx);
                assert!(meta.truncated(), "MSG_TRUNC ({any})");
                assert!(!meta.control_truncated());
                assert_eq!((meta.bytes, &data[..]), (8, &big[..8]));
                let (meta, data) = recv8(&rx);
                assert!(!meta.truncated());
                assert_eq!(&data[..meta.bytes], b"next", "the rest was discarded");
            }
            let [a, b] = UnixDatagram::pair().unwrap();
            b.set_read_deadline(soon());
            a.send(&big).unwrap();
            let (meta, data) = recv8(&b);
            assert!(meta.truncated(), "MSG_TRUNC (unix)");
            assert_eq!((meta.bytes, &data[..]), (8, &big[..8]));
        });
    });
}

/// Descriptors the receiver cannot take whole: at the descriptor limit the kernel installs
/// what it can and reports `MSG_CTRUNC`, and `recv_fds` fails and closes the one that did
/// arrive (more descriptors than slots: `fds.rs`); `recv_msg` with no control buffer
/// reports `MSG_CTRUNC` with the data intact, and the kernel installs none.
#[test]
fn a_cut_control_buffer_is_reported_and_no_descriptor_leaks() {
    testkit::skip_unless_behaviour!("MSG_CTRUNC");
    testkit::in_subprocess(|| {
        let [a, b] = UnixDatagram::pair().unwrap();
        b.set_read_deadline(soon());
        let [r, w] = iofd::Fd::pipe().unwrap();
        no_fd_leak(|| {
            let fds = [r.as_fd(), w.as_fd()];
            assert_eq!(NetSocket::send_fds(&a, b"y", &fds).unwrap(), 1);
            // Room in the descriptor table for one of the two.
            let (mut held, limit) = testkit::exhaust_descriptors(0).unwrap();
            drop(held.pop());
            let mut buf = [0u8; 4];
            let mut two: [Option<OwnedFd>; 2] = Default::default();
            let e = b.recv_fds(&mut buf, &mut two).unwrap_err();
            drop(held);
            testkit::set_open_files_limit(limit).unwrap();
            assert_eq!(e.kind(), sock::ErrorKind::MessageTooLarge);
            assert!(e.to_string().contains("MSG_CTRUNC"), "{e}");
            assert!(
                two.iter().all(Option::is_none),
                "the descriptor that arrived was closed"
            );

            assert_eq!(NetSocket::send_fds(&a, b"z", &fds).unwrap(), 1);
            let (meta, data) = recv8(&b);
            assert!(meta.control_truncated(), "MSG_CTRUNC");
            assert_eq!(meta.control_len, 0);
            assert_eq!(&data[..meta.bytes], b"z", "the data arrived whole");
        });
    });
}
