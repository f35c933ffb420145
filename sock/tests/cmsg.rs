//! The control-message builder and parser, on buffers only.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;

use sock::cmsg::{self, Cmsg, CmsgBuf, CmsgIter, CmsgWriter, Ucred};

#[test]
fn every_typed_message_round_trips() {
    let mut buf = CmsgBuf::<1024>::new();
    let pipe = iofd::Fd::pipe().unwrap();
    let mut w = CmsgWriter::new(buf.as_mut());
    w.rights(&[pipe[0].as_fd(), pipe[1].as_fd()]).unwrap();
    w.credentials(Ucred {
        pid: 1,
        uid: 2,
        gid: 3,
    })
    .unwrap();
    w.udp_segment(1400).unwrap();
    w.ttl(9).unwrap();
    w.tos(0x10).unwrap();
    w.tclass(0x20).unwrap();
    w.hop_limit(5).unwrap();
    w.pktinfo4(3, Ipv4Addr::new(10, 0, 0, 1)).unwrap();
    w.pktinfo6(Ipv6Addr::LOCALHOST, 4).unwrap();
    w.push(999, 7, b"opaque").unwrap();
    let n = w.len();
    let got: Vec<Cmsg<'_>> = CmsgIter::new(&buf.as_ref()[..n])
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 10);
    match got[0] {
        Cmsg::Rights(fds) => assert_eq!(fds.collect::<Vec<_>>(), [pipe[0].raw(), pipe[1].raw()]),
        other => panic!("{other:?}"),
    }
    if cfg!(target_os = "linux") {
        assert!(matches!(
            got[1],
            Cmsg::Credentials(Ucred {
                pid: 1,
                uid: 2,
                gid: 3
            })
        ));
    }
    assert!(matches!(got[2], Cmsg::UdpSegment(1400)));
    assert!(matches!(got[3], Cmsg::Ttl(9)));
    assert!(matches!(got[5], Cmsg::TClass(0x20)));
    assert!(matches!(got[6], Cmsg::HopLimit(5)));
    assert!(
        matches!(got[7], Cmsg::PktInfo4 { ifindex: 3, local, .. } if local == Ipv4Addr::new(10, 0, 0, 1))
    );
    assert!(matches!(got[8], Cmsg::PktInfo6 { ifindex: 4, addr } if addr == Ipv6Addr::LOCALHOST));
    assert!(
        matches!(
            got[9],
            Cmsg::Other {
                level: 999,
                ty: 7,
                data: b"opaque"
            }
        ),
        "unknown kept raw"
    );
}

#[test]
fn sizes_are_known_at_compile_time() {
    const ONE: usize = sock::cmsg_space!(u16);
    assert_eq!(ONE, cmsg::space(2));
    assert!(cmsg::space(2) >= cmsg::len(2));
    assert_eq!(cmsg::space(0) % std::mem::size_of::<usize>(), 0);
    let mut exact = [0u8; sock::cmsg_space!(u16, i32)];
    let mut w = CmsgWriter::new(&mut exact);
    w.udp_segment(1).unwrap();
    w.ttl(1).unwrap();
    assert!(w.ttl(1).is_err(), "full");
    assert_eq!(w.len(), exact.len());
}

#[test]
fn malformed_lengths_are_errors_not_reads_out_of_bounds() {
    let mut buf = CmsgBuf::<64>::new();
    let mut w = CmsgWriter::new(buf.as_mut());
    w.ttl(1).unwrap();
    let n = w.len();
    let mut bytes = buf.as_ref()[..n].to_vec();
    // cmsg_len larger than the buffer.
    bytes[0] = 200;
    let mut it = CmsgIter::new(&bytes);
    assert_eq!(
        it.next().unwrap().unwrap_err().kind(),
        sock::ErrorKind::InvalidInput
    );
    assert!(
        it.next().is_none(),
        "the walk stops after a malformed message"
    );
    // cmsg_len smaller than a header.
    bytes[0] = 3;
    assert!(CmsgIter::new(&bytes).next().unwrap().is_err());
    // A short tail is no message.
    assert!(CmsgIter::new(&[0u8; 5]).next().is_none());
}

#[test]
#[cfg(target_os = "linux")]
fn pktinfo_and_ttl_arrive_from_the_kernel() {
    use std::io::IoSliceMut;
    let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    sock::opt::set_int(&rx, libc::IPPROTO_IP, libc::IP_PKTINFO, 1).unwrap();
    sock::opt::set_int(&rx, libc::IPPROTO_IP, libc::IP_RECVTTL, 1).unwrap();
    let tx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    sock::opt::set_ttl(&tx, 33).unwrap();
    tx.send_to(b"meta", &rx.local_addr().unwrap()).unwrap();
    rx.set_read_deadline(iox::Deadline::after(std::time::Duration::from_secs(10)));
    let mut data = [0u8; 8];
    let mut control = CmsgBuf::<128>::new();
    let mut from = sock::SockaddrStorage::new();
    let meta = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut data)],
            Some(&mut from),
            control.as_mut(),
        )
        .unwrap();
    assert_eq!(meta.bytes, 4);
    assert!(!meta.truncated() && !meta.control_truncated());
    assert_eq!(from.decode().unwrap(), tx.local_addr().unwrap());
    let mut seen = (false, false);
    for m in CmsgIter::new(&control.as_ref()[..meta.control_len]) {
        match m.unwrap() {
            Cmsg::PktInfo4 {
                ifindex,
                local,
                dst,
            } => {
                assert_eq!(
                    (ifindex, local, dst),
                    (1, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)
                );
                seen.0 = true;
            }
            Cmsg::Ttl(t) => {
                assert_eq!(t, 33);
                seen.1 = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, (true, true));
}

/// `Fds` is an `ExactSizeIterator`: `len()` is the count of descriptors left, and shrinks
/// as they are read.
#[test]
fn rights_know_how_many_descriptors_they_hold() {
    let mut buf = CmsgBuf::<64>::new();
    let pipe = iofd::Fd::pipe().unwrap();
    let mut w = CmsgWriter::new(buf.as_mut());
    w.rights(&[pipe[0].as_fd(), pipe[1].as_fd(), pipe[0].as_fd()])
        .unwrap();
    let n = w.len();
    let Some(Ok(Cmsg::Rights(mut fds))) = CmsgIter::new(&buf.as_ref()[..n]).next() else {
        panic!("a rights message")
    };
    assert_eq!((fds.len(), fds.count_fds()), (3, 3));
    assert_eq!(fds.size_hint(), (3, Some(3)));
    assert_eq!(fds.next(), Some(pipe[0].raw()));
    assert_eq!(fds.len(), 2);
    fds.by_ref().for_each(drop);
    assert_eq!((fds.len(), fds.next()), (0, None));
}
