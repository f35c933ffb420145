//! Kernel timestamps through `sock::timestamp`, with the kernel as referee: software
//! receive stamps on each datagram (one `recvmsg`, and each slot of a `recvmmsg` batch),
//! over loopback and across the veth pair of a private network namespace; transmit stamps
//! from the error queue, matched to their sends by `OPT_ID`; no stamp when stamps are off.
//! A stamp is checked to lie between a `CLOCK_REALTIME` read before the send and one after
//! the receive: ordering only, never a duration.
#![cfg(target_os = "linux")]

mod common;

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::time::Instant;

use sock::batch::RecvMsg;
use sock::cmsg::{CmsgBuf, CmsgWriter};
use sock::timestamp::{
    self, RX_CONTROL_LEN, Timestamp, TimestampFlags, TxPoint, TxTimestamp, rx_timestamp,
    tx_timestamp,
};
use sock::{SockaddrStorage, UdpConn, UnixDatagram};

/// `SO_TIMESTAMPNS` (`SO_TIMESTAMPNS_OLD`), which libc does not name on Linux.
const SO_TIMESTAMPNS: i32 = 35;

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

/// The kernel turns software stamps on for the whole system from a work queue (the first
/// socket that asks flips a static key, `net_enable_timestamp`), so the first datagrams
/// after stamps are turned on may arrive unstamped. Sends to `rx` from `tx` until one
/// arrives stamped (bounded by [`common::BOUND`]); every later datagram is stamped.
fn warm(tx: &UdpConn, rx: &UdpConn) {
    let give_up = Instant::now() + common::BOUND;
    let to = rx.local_addr().unwrap();
    rx.set_read_deadline(common::soon());
    loop {
        tx.send_to(b"warm", &to).unwrap();
        let (mut buf, mut from) = ([0u8; 8], SockaddrStorage::new());
        let (_, stamp) = rx.recv_timestamped(&mut buf, &mut from).unwrap();
        if stamp.is_some() {
            return;
        }
        assert!(Instant::now() < give_up, "no datagram was ever stamped");
    }
}

fn pair(any: &str) -> (UdpConn, UdpConn) {
    (UdpConn::bind(any).unwrap(), UdpConn::bind(any).unwrap())
}

/// Sends `n` datagrams one at a time and checks each one's stamp lies between the clock
/// before its send and after its receive, and that the stamps never go back.
fn each_datagram_stamped(tx: &UdpConn, rx: &UdpConn, n: usize) {
    let to = rx.local_addr().unwrap();
    rx.set_read_deadline(common::soon());
    let mut last = Timestamp::default();
    for i in 0..n {
        let before = Timestamp::now();
        tx.send_to(&(i as u32).to_ne_bytes(), &to).unwrap();
        let (mut buf, mut from) = ([0u8; 8], SockaddrStorage::new());
        let (meta, stamp) = rx.recv_timestamped(&mut buf, &mut from).unwrap();
        let after = Timestamp::now();
        assert_eq!(&buf[..meta.bytes], &(i as u32).to_ne_bytes());
        assert_eq!(from.decode().unwrap(), tx.local_addr().unwrap());
        let stamp = stamp.unwrap_or_else(|| panic!("datagram {i} came without a stamp"));
        assert!(
            before <= stamp && stamp <= after,
            "datagram {i}: stamp {stamp:?} not between the send ({before:?}) and the receive ({after:?})"
        );
        assert!(stamp >= last, "stamps go forward");
        last = stamp;
    }
}

#[test]
fn so_timestamping_rx_software_stamps_every_loopback_datagram_v4_and_v6() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    for any in ["127.0.0.1:0", "[::1]:0"] {
        let (tx, rx) = pair(any);
        rx.set_rx_timestamps(true).unwrap();
        assert_eq!(rx.timestamping().unwrap(), timestamp::RX_SOFTWARE);
        warm(&tx, &rx);
        each_datagram_stamped(&tx, &rx, 32);
    }
}

#[test]
fn so_timestampns_alone_is_read_as_the_stamp_too() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, SO_TIMESTAMPNS);
    let (tx, rx) = pair("127.0.0.1:0");
    rx.set_timestamp_ns(true).unwrap();
    warm(&tx, &rx);
    each_datagram_stamped(&tx, &rx, 8);
}

#[test]
fn stamps_off_give_none_and_turning_them_off_stops_them() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let (tx, rx) = pair("127.0.0.1:0");
    let to = rx.local_addr().unwrap();
    rx.set_read_deadline(common::soon());
    let (mut buf, mut from) = ([0u8; 8], SockaddrStorage::new());
    for _ in 0..4 {
        tx.send_to(b"plain", &to).unwrap();
        let (meta, stamp) = rx.recv_timestamped(&mut buf, &mut from).unwrap();
        assert_eq!((meta.bytes, meta.control_len, stamp), (5, 0, None));
    }
    rx.set_rx_timestamps(true).unwrap();
    warm(&tx, &rx);
    rx.set_rx_timestamps(false).unwrap();
    assert_eq!(rx.timestamping().unwrap(), TimestampFlags::empty());
    tx.send_to(b"plain", &to).unwrap();
    let (_, stamp) = rx.recv_timestamped(&mut buf, &mut from).unwrap();
    assert_eq!(stamp, None);
}

#[test]
fn a_recvmmsg_batch_gives_each_slot_its_own_stamp_in_its_control_space() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    const N: usize = 16;
    let (tx, rx) = pair("127.0.0.1:0");
    rx.set_rx_timestamps(true).unwrap();
    warm(&tx, &rx);
    let to = rx.local_addr().unwrap();
    let mut sent_at = Vec::new();
    for i in 0..N {
        sent_at.push(Timestamp::now());
        tx.send_to(&[i as u8; 4], &to).unwrap();
    }
    let mut data = vec![[0u8; 16]; N];
    let mut control = vec![CmsgBuf::<RX_CONTROL_LEN>::new(); N];
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
        data.iter_mut().map(|d| [IoSliceMut::new(d)]).collect();
    let mut msgs: Vec<RecvMsg<'_, '_>> = iovs
        .iter_mut()
        .zip(control.iter_mut())
        .map(|(iov, c)| RecvMsg::new(iov, c.as_mut()))
        .collect();
    rx.set_read_deadline(common::soon());
    let mut got = 0;
    while got < N {
        got += rx.recv_messages(&mut msgs[got..]).unwrap();
    }
    let after = Timestamp::now();
    let stamps: Vec<Timestamp> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            assert_eq!(m.bufs[0][..m.meta.bytes], [i as u8; 4]);
            rx_timestamp(&m.control[..m.meta.control_len])
                .unwrap_or_else(|| panic!("slot {i} has no stamp"))
        })
        .collect();
    for (i, s) in stamps.iter().enumerate() {
        assert!(sent_at[i] <= *s && *s <= after, "slot {i}");
    }
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "stamps in arrival order"
    );
}

#[test]
fn tx_stamps_come_back_from_the_error_queue_numbered_by_opt_id() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    const N: u32 = 20;
    let (tx, rx) = pair("127.0.0.1:0");
    tx.set_tx_timestamps(true).unwrap();
    assert_eq!(tx.timestamping().unwrap(), timestamp::TX_SOFTWARE);
    assert!(
        tx.recv_tx_timestamp().unwrap_err().is_would_block(),
        "nothing queued before a send"
    );
    let to = rx.local_addr().unwrap();
    let mut sends = Vec::new();
    for _ in 0..N {
        let before = Timestamp::now();
        tx.send_to(b"stamp my send", &to).unwrap();
        sends.push((before, Timestamp::now()));
    }
    let give_up = Instant::now() + common::BOUND;
    let mut stamps: Vec<TxTimestamp> = Vec::new();
    while stamps.len() < N as usize {
        match tx.recv_tx_timestamp() {
            Ok(t) => stamps.push(t),
            Err(e) if e.is_would_block() => {
                assert!(Instant::now() < give_up, "{} stamps of {N}", stamps.len());
                std::thread::yield_now();
            }
            Err(e) => panic!("{e}"),
        }
    }
    let ids: Vec<u32> = stamps.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        (0..N).collect::<Vec<_>>(),
        "one stamp per send, in order"
    );
    for t in &stamps {
        assert_eq!(t.point, TxPoint::Sent);
        assert_eq!(t.hardware, None, "loopback has no hardware clock");
        let s = t.software.expect("a software stamp");
        let (before, _) = sends[t.id as usize];
        // The driver takes the packet during the send call or after it returned.
        assert!(before <= s && s <= Timestamp::now(), "send {}", t.id);
    }
    assert!(tx.recv_tx_timestamp().unwrap_err().is_would_block());
    // The datagrams themselves arrived, untouched.
    rx.set_read_deadline(common::soon());
    let mut buf = [0u8; 32];
    let (n, _) = rx.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"stamp my send");
}

#[test]
fn tx_stamps_with_the_packet_looped_back_and_a_restarted_counter() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let (tx, rx) = pair("[::1]:0");
    let to = rx.local_addr().unwrap();
    // Without OPT_TSONLY the kernel hands the packet back with its stamp.
    let flags = TimestampFlags::TX_SOFTWARE | TimestampFlags::SOFTWARE | TimestampFlags::OPT_ID;
    tx.set_timestamping(flags).unwrap();
    for _ in 0..3 {
        tx.send_to(&[7u8; 200], &to).unwrap();
    }
    let ids: Vec<u32> = (0..3).map(|_| tx.recv_tx_timestamp().unwrap().id).collect();
    assert_eq!(ids, [0, 1, 2]);
    // Setting the flags again while OPT_ID is on keeps the count ...
    tx.set_timestamping(flags).unwrap();
    tx.send_to(b"again", &to).unwrap();
    assert_eq!(tx.recv_tx_timestamp().unwrap().id, 3);
    // ... turning it off and on again restarts it at 0.
    tx.set_timestamping(TimestampFlags::empty()).unwrap();
    tx.set_timestamping(flags).unwrap();
    tx.send_to(b"again", &to).unwrap();
    let t = tx.recv_tx_timestamp().unwrap();
    assert_eq!((t.id, t.point), (0, TxPoint::Sent));
    assert!(t.software.is_some());
}

#[test]
fn an_icmp_error_on_the_queue_is_returned_as_that_error_not_a_stamp() {
    let tx = UdpConn::bind("127.0.0.1:0").unwrap();
    tx.set_recv_errors(true).unwrap();
    let closed = UdpConn::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    tx.send_to(b"nobody home", &closed).unwrap();
    let give_up = Instant::now() + common::BOUND;
    let e = loop {
        match tx.recv_tx_timestamp() {
            Err(e) if e.is_would_block() && Instant::now() < give_up => std::thread::yield_now(),
            other => break other.unwrap_err(),
        }
    };
    assert_eq!(e.kind(), sock::ErrorKind::ConnectionRefused);
}

#[test]
fn unix_datagrams_carry_so_timestampns_stamps_through_the_same_read() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, SO_TIMESTAMPNS);
    let [a, b] = UnixDatagram::pair().unwrap();
    b.set_timestamp_ns(true).unwrap();
    b.set_read_deadline(common::soon());
    let give_up = Instant::now() + common::BOUND;
    loop {
        let before = Timestamp::now();
        a.send(b"u").unwrap();
        let (mut buf, mut from) = ([0u8; 4], SockaddrStorage::new());
        let (meta, stamp) = b.recv_timestamped(&mut buf, &mut from).unwrap();
        assert_eq!(&buf[..meta.bytes], b"u");
        if let Some(s) = stamp {
            assert!(before <= s && s <= Timestamp::now());
            return;
        }
        assert!(Instant::now() < give_up, "never stamped");
    }
}

/// Across the veth pair of a private namespace: the stamp is taken as `veth1`'s receive
/// path handles the packet, still between the send and the receive.
#[test]
fn stamps_across_a_veth_pair_in_a_private_namespace() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    testkit::in_netns(|ns| {
        let rx = UdpConn::bind(SocketAddr::from((ns.b.ipv4, 0))).unwrap();
        let tx = UdpConn::bind(SocketAddr::from((ns.a.ipv4, 0))).unwrap();
        rx.set_timestamping(timestamp::RX_SOFTWARE | timestamp::TX_SOFTWARE)
            .unwrap();
        tx.set_timestamping(timestamp::TX_SOFTWARE).unwrap();
        warm(&tx, &rx);
        // The warm-up sends were stamped too: skip past their stamps, and restart the
        // count (off, then on).
        tx.set_timestamping(TimestampFlags::empty()).unwrap();
        while tx.recv_tx_timestamp().is_ok() {}
        tx.set_timestamping(timestamp::TX_SOFTWARE).unwrap();
        each_datagram_stamped(&tx, &rx, 16);
        let give_up = Instant::now() + common::BOUND;
        let mut ids = Vec::new();
        while ids.len() < 16 {
            match tx.recv_tx_timestamp() {
                Ok(t) => ids.push(t.id),
                Err(e) if e.is_would_block() && Instant::now() < give_up => {
                    std::thread::yield_now()
                }
                Err(e) => panic!("{e} after {} stamps", ids.len()),
            }
        }
        assert_eq!(ids, (0..16).collect::<Vec<u32>>());
        println!("ran in a private network namespace across veth0/veth1");
    });
}

/// Receiving a stamped datagram and reading a transmit stamp allocate nothing: the control
/// space is on the stack.
#[test]
fn stamped_receives_and_tx_stamps_allocate_nothing() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let (tx, rx) = pair("127.0.0.1:0");
    rx.set_rx_timestamps(true).unwrap();
    warm(&tx, &rx);
    tx.set_tx_timestamps(true).unwrap();
    let to = rx.local_addr().unwrap();
    let (mut buf, mut from) = ([0u8; 8], SockaddrStorage::new());
    testkit::assert_no_alloc(|| {
        for _ in 0..64 {
            tx.send_to(b"0123", &to).unwrap();
            let (meta, stamp) = rx.try_recv_timestamped(&mut buf, &mut from).unwrap();
            assert!(meta.bytes == 4 && stamp.is_some());
            assert!(tx.recv_tx_timestamp().unwrap().software.is_some());
        }
    });
}

/// The parsers on buffers alone: a zero stamp is no stamp, `ts[0]` is the software one,
/// a malformed length ends the walk without a panic, and an extended error of another
/// origin is that error.
#[test]
fn parsers_on_built_buffers() {
    let w = core::mem::size_of::<libc::time_t>();
    let ts = |sec: i64, nsec: i64| -> Vec<u8> {
        let mut v = Vec::new();
        if w == 8 {
            v.extend(sec.to_ne_bytes());
            v.extend(nsec.to_ne_bytes());
        } else {
            v.extend((sec as i32).to_ne_bytes());
            v.extend((nsec as i32).to_ne_bytes());
        }
        v
    };
    let mut buf = CmsgBuf::<256>::new();
    let mut cw = CmsgWriter::new(buf.as_mut());
    let three: Vec<u8> = [ts(0, 0), ts(0, 0), ts(5, 6)].concat();
    cw.push(libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &three)
        .unwrap();
    let n = cw.len();
    assert_eq!(rx_timestamp(&buf.as_ref()[..n]), None, "hardware only");
    let mut cw = CmsgWriter::new(buf.as_mut());
    cw.push(libc::SOL_IP, libc::IP_TTL, &64i32.to_ne_bytes())
        .unwrap();
    let three: Vec<u8> = [ts(7, 8), ts(0, 0), ts(0, 0)].concat();
    cw.push(libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &three)
        .unwrap();
    let n = cw.len();
    assert_eq!(
        rx_timestamp(&buf.as_ref()[..n]).map(Timestamp::as_nanos),
        Some(7_000_000_008)
    );
    // Cut inside the second message: its length runs past the end, the walk stops there.
    assert_eq!(rx_timestamp(&buf.as_ref()[..n - 4]), None);
    // An ICMP error (origin 2) is that error.
    let mut err = [0u8; 16];
    err[..4].copy_from_slice(&(libc::EHOSTUNREACH as u32).to_ne_bytes());
    err[4] = 2;
    let mut cw = CmsgWriter::new(buf.as_mut());
    cw.push(libc::SOL_IP, libc::IP_RECVERR, &err).unwrap();
    let n = cw.len();
    let e = tx_timestamp(&buf.as_ref()[..n]).unwrap().unwrap_err();
    assert_eq!(e.errno(), Some(zcall::Errno::EHOSTUNREACH));
    // A timestamping origin (4) with ENOMSG, id 9, SCM_TSTAMP_SCHED (1).
    err[..4].copy_from_slice(&(libc::ENOMSG as u32).to_ne_bytes());
    err[4] = 4;
    err[8..12].copy_from_slice(&1u32.to_ne_bytes());
    err[12..16].copy_from_slice(&9u32.to_ne_bytes());
    let mut cw = CmsgWriter::new(buf.as_mut());
    cw.push(libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &three)
        .unwrap();
    cw.push(libc::SOL_IPV6, libc::IPV6_RECVERR, &err).unwrap();
    let n = cw.len();
    let t = tx_timestamp(&buf.as_ref()[..n]).unwrap().unwrap();
    assert_eq!(t.id, 9);
    assert_eq!(t.point, TxPoint::Scheduled);
    assert_eq!(t.software.map(Timestamp::as_nanos), Some(7_000_000_008));
    assert_eq!(tx_timestamp(&buf.as_ref()[..0]), None);
}
