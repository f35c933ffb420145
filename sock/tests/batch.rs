//! Batch UDP with sendmmsg/recvmmsg, GSO and GRO, the GSO fallback.
#![cfg(target_os = "linux")]

mod common;
use common::soon;

use std::io::{IoSlice, IoSliceMut};

use sock::batch::{RecvMsg, SendMsg};
use sock::{SockaddrAny, SockaddrStorage, UdpConn, opt};

fn batch_round_trip(tx: &UdpConn, rx: [&UdpConn; 2]) {
    let dst: [SockaddrAny; 2] = [rx[0].local_addr().unwrap(), rx[1].local_addr().unwrap()];
    let payloads: Vec<[u8; 8]> = (0..64u64).map(|i| i.to_be_bytes()).collect();
    let slices: Vec<[IoSlice<'_>; 1]> = payloads.iter().map(|p| [IoSlice::new(p)]).collect();
    let mut msgs: Vec<SendMsg<'_>> = slices
        .iter()
        .enumerate()
        .map(|(i, s)| SendMsg::new(s, Some(&dst[i % 2])))
        .collect();
    tx.set_write_deadline(soon());
    assert_eq!(tx.send_messages(&mut msgs).unwrap(), 64);
    assert!(msgs.iter().all(|m| m.sent == 8));
    for (k, r) in rx.iter().enumerate() {
        r.set_read_deadline(soon());
        let mut store = [[0u8; 16]; 32];
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            store.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let mut slots: Vec<RecvMsg<'_, '_>> =
            iovs.iter_mut().map(|v| RecvMsg::new(v, &mut [])).collect();
        let mut got = 0;
        while got < 32 {
            got += r.recv_messages(&mut slots[got..]).unwrap();
        }
        let metas: Vec<(usize, SockaddrAny)> = slots
            .iter()
            .map(|s| (s.meta.bytes, s.addr.decode().unwrap()))
            .collect();
        drop(slots);
        drop(iovs);
        assert!(
            metas
                .iter()
                .all(|(n, a)| *n == 8 && *a == tx.local_addr().unwrap())
        );
        let seq: Vec<u64> = store
            .iter()
            .map(|b| u64::from_be_bytes(b[..8].try_into().unwrap()))
            .collect();
        assert_eq!(
            seq,
            (0..32).map(|i| 2 * i + k as u64).collect::<Vec<_>>(),
            "in order, this receiver's half"
        );
    }
}

#[test]
fn sixty_four_datagrams_to_mixed_destinations() {
    for any in ["127.0.0.1:0", "[::1]:0"] {
        let tx = UdpConn::bind(any).unwrap();
        let (a, b) = (UdpConn::bind(any).unwrap(), UdpConn::bind(any).unwrap());
        opt::set_recv_buffer_size(&a, 1 << 20).unwrap();
        opt::set_recv_buffer_size(&b, 1 << 20).unwrap();
        batch_round_trip(&tx, [&a, &b]);
    }
}

#[test]
fn gso_sends_segments_and_gro_reports_their_size() {
    testkit::skip_unless_sockopt!(libc::IPPROTO_UDP, 103);
    let tx = UdpConn::bind("127.0.0.1:0").unwrap();
    let rx = UdpConn::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let big: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    tx.set_write_deadline(soon());
    assert_eq!(tx.send_gso(&big, 1000, &to).unwrap(), 4000);
    assert!(!tx.gso_disabled());
    rx.set_read_deadline(soon());
    let mut buf = [0u8; 2000];
    for i in 0..4 {
        let (n, _) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(n, 1000, "segment {i} arrives as its own datagram");
        assert_eq!(buf[0], (i * 1000) as u8);
    }
    // With GRO on, the receiver may get them coalesced, and told the segment size.
    let gro_rx = UdpConn::bind("127.0.0.1:0").unwrap();
    opt::set_udp_gro(&gro_rx, true).unwrap();
    tx.send_gso(&big, 1000, &gro_rx.local_addr().unwrap())
        .unwrap();
    gro_rx.set_read_deadline(soon());
    let mut all = [0u8; 8192];
    let mut from = SockaddrStorage::new();
    let (n, seg) = gro_rx.recv_gro(&mut all, &mut from).unwrap();
    if !testkit::under_qemu() {
        // Loopback keeps the GSO packet whole: the GRO socket gets all four at once.
        assert_eq!((n, seg), (4000, Some(1000)));
    }
    match seg {
        Some(s) => {
            assert_eq!(s, 1000);
            assert_eq!(n % 1000, 0);
        }
        None => assert_eq!(n, 1000, "not coalesced: one datagram, no cmsg"),
    }
}

/// One `send_gso` of more segments than the kernel takes in one syscall (`UDP_MAX_SEGMENTS`:
/// 128 here, 64 on older kernels), or of more bytes than one datagram holds, is split into
/// sends the kernel takes: all of it arrives, and GSO stays on (the kernel's EINVAL for too
/// many segments is not a refusal of GSO).
#[test]
fn gso_splits_a_send_larger_than_the_kernel_takes() {
    for any in ["127.0.0.1:0", "[::1]:0"] {
        // 300 segments: over the segment limit. 130 of 1000 bytes: within it, but 130 kB
        // is more than one datagram, so at most 65 segments go per syscall.
        for (segment, segments) in [(100, 300), (1000, 130)] {
            split_send(any, segment, segments);
        }
    }
}

fn split_send(any: &str, segment: usize, segments: usize) {
    let tx = UdpConn::bind(any).unwrap();
    let rx = UdpConn::bind(any).unwrap();
    opt::set_recv_buffer_size(&rx, 1 << 20).unwrap();
    // With GRO on, loopback hands each GSO send to the receiver whole: one datagram per
    // sendmsg, which makes the number of syscalls visible.
    opt::set_udp_gro(&rx, true).unwrap();
    let to = rx.local_addr().unwrap();
    let data: Vec<u8> = (0..segment * segments)
        .map(|i| (i / segment) as u8)
        .collect();
    tx.set_write_deadline(soon());
    for round in 0..2 {
        let what = format!("{any}, {segments} x {segment} B, round {round}");
        assert_eq!(
            tx.send_gso(&data, segment as u16, &to).unwrap(),
            data.len(),
            "{what}"
        );
        assert!(!tx.gso_disabled(), "{what}: GSO still on");
        let most = tx.gso_max_segments();
        assert!(most == 128 || most == 64, "{what}: {most}");
        rx.set_read_deadline(soon());
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut from = SockaddrStorage::new();
        while got.len() < data.len() {
            let (n, seg) = rx.recv_gro(&mut buf, &mut from).unwrap();
            if let Some(s) = seg {
                assert_eq!(usize::from(s), segment, "{what}");
            }
            got.extend_from_slice(&buf[..n]);
            sizes.push(n);
        }
        assert!(got == data, "{what}: every segment, in order");
        if !testkit::under_qemu() {
            // `per` segments a syscall: ceil(segments / per) sends, each arriving whole.
            let per = most.min(65_507 / segment);
            let mut want = vec![per * segment; segments / per];
            if !segments.is_multiple_of(per) {
                want.push(segments % per * segment);
            }
            assert_eq!(sizes, want, "{what}: one datagram per GSO send");
        }
    }
}

#[test]
fn gso_falls_back_when_refused() {
    let tx = UdpConn::bind("127.0.0.1:0").unwrap();
    let rx = UdpConn::bind("127.0.0.1:0").unwrap();
    // SO_NO_CHECK: no UDP checksum, which GSO needs: UDP_SEGMENT now fails with EINVAL.
    opt::set_int(&tx, libc::SOL_SOCKET, libc::SO_NO_CHECK, 1).unwrap();
    let data = [7u8; 300];
    tx.set_write_deadline(soon());
    assert_eq!(
        tx.send_gso(&data, 100, &rx.local_addr().unwrap()).unwrap(),
        300
    );
    assert!(tx.gso_disabled(), "the refusal was remembered");
    rx.set_read_deadline(soon());
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        assert_eq!(rx.recv(&mut buf).unwrap(), 100);
    }
    assert_eq!(
        tx.send_gso(&data, 0, &rx.local_addr().unwrap())
            .unwrap_err()
            .kind(),
        sock::ErrorKind::InvalidInput
    );
}
