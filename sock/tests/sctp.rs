//! SCTP: the structs' layouts and encodings everywhere; real sockets where the kernel has
//! SCTP (one-to-one and one-to-many, every option of the module read back, SndInfo and
//! RcvInfo as control messages, notifications, peeloff, a refused dial, an abort), and the
//! clear ProtocolNotSupported where it does not (the output says which ran). This machine's
//! kernel has no SCTP: `cargo xtask vm --suite sctp` runs this file in Debian 12's 6.1 kernel.

use std::io::Write;
use std::time::Duration;

use sock::sctp::consts::{
    MSG_NOTIFICATION, SCTP_ABORT, SCTP_ASSOC_CHANGE, SCTP_COMM_LOST, SCTP_COMM_UP,
    SCTP_SHUTDOWN_EVENT,
};
use sock::sctp::{
    AssocValue, InitMsg, Notification, RcvInfo, SctpDialer, SctpListener, SctpRecv, SctpSocket,
    SndInfo,
};
use sock::{Deadline, ErrorKind};

const BOUND: Duration = Duration::from_secs(10);

fn soon() -> Deadline {
    Deadline::after(BOUND)
}

#[test]
fn struct_layouts_and_encodings() {
    assert_eq!(std::mem::size_of::<InitMsg>(), 8);
    assert_eq!(std::mem::size_of::<AssocValue>(), 8);
    assert_eq!(std::mem::size_of::<SndInfo>(), 16);
    assert_eq!(std::mem::size_of::<RcvInfo>(), 28);
    let m = InitMsg {
        num_ostreams: 10,
        max_instreams: 20,
        max_attempts: 3,
        max_init_timeo: 1000,
    };
    let b = m.to_bytes();
    assert_eq!(&b[..2], &10u16.to_ne_bytes());
    assert_eq!(&b[6..8], &1000u16.to_ne_bytes());
    assert_eq!(InitMsg::from_bytes(&b).unwrap(), m);
    let v = AssocValue {
        assoc_id: -1,
        value: 7,
    };
    assert_eq!(AssocValue::from_bytes(&v.to_bytes()).unwrap(), v);
    let s = SndInfo {
        sid: 1,
        flags: 2,
        ppid: 3,
        context: 4,
        assoc_id: 5,
    };
    assert_eq!(&s.to_bytes()[4..8], &3u32.to_ne_bytes());
    assert_eq!(SndInfo::from_bytes(&s.to_bytes()).unwrap(), s);
    let r = RcvInfo {
        sid: 1,
        ssn: 2,
        flags: 3,
        ppid: 4,
        tsn: 5,
        cumtsn: 6,
        context: 7,
        assoc_id: 8,
    };
    let rb = r.to_bytes();
    assert_eq!(
        &rb[8..12],
        &4u32.to_ne_bytes(),
        "two bytes of padding after flags"
    );
    assert_eq!(RcvInfo::from_bytes(&rb).unwrap(), r);
    assert_eq!(
        RcvInfo::from_bytes(&rb[..20]).unwrap_err().kind(),
        sock::ErrorKind::InvalidInput
    );
}

fn say(what: &str) {
    let _ = writeln!(std::io::stderr(), "sctp: {what}");
}

/// `true` when the kernel has SCTP; otherwise asserts the clear error, says that the
/// real-stack part of `test` was skipped, and returns `false`.
fn kernel_has_sctp(test: &str) -> bool {
    match SctpSocket::bind("127.0.0.1:0") {
        Ok(_) => true,
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ProtocolNotSupported | ErrorKind::AddressFamilyNotSupported
                ),
                "{e}"
            );
            assert!(
                SctpListener::bind("127.0.0.1:0").is_err(),
                "one-to-one and one-to-many agree"
            );
            say(&format!(
                "{test}: skipped the real-stack part, the kernel has no SCTP here (asserted the clear error: {e})"
            ));
            false
        }
    }
}

#[test]
fn notifications_decode_and_short_ones_are_errors() {
    let mut b = [0u8; 20];
    b[..2].copy_from_slice(&SCTP_ASSOC_CHANGE.to_ne_bytes());
    b[4..8].copy_from_slice(&20u32.to_ne_bytes());
    b[8..10].copy_from_slice(&SCTP_COMM_UP.to_ne_bytes());
    b[12..14].copy_from_slice(&5u16.to_ne_bytes());
    b[14..16].copy_from_slice(&6u16.to_ne_bytes());
    b[16..20].copy_from_slice(&9i32.to_ne_bytes());
    assert_eq!(
        Notification::parse(&b).unwrap(),
        Notification::AssocChange {
            state: SCTP_COMM_UP,
            error: 0,
            outbound_streams: 5,
            inbound_streams: 6,
            assoc_id: 9
        }
    );
    assert_eq!(
        Notification::parse(&b[..16]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let mut s = [0u8; 12];
    s[..2].copy_from_slice(&SCTP_SHUTDOWN_EVENT.to_ne_bytes());
    s[8..].copy_from_slice(&3i32.to_ne_bytes());
    assert_eq!(
        Notification::parse(&s).unwrap(),
        Notification::Shutdown { assoc_id: 3 }
    );
    let mut o = [0u8; 8];
    o[..2].copy_from_slice(&0x8009u16.to_ne_bytes());
    o[2..4].copy_from_slice(&1u16.to_ne_bytes());
    assert_eq!(
        Notification::parse(&o).unwrap(),
        Notification::Other {
            ty: 0x8009,
            flags: 1
        }
    );
    assert!(Notification::parse(&[0u8; 3]).is_err());
}

#[test]
fn one_to_one_every_option_and_per_message_info() {
    if !kernel_has_sctp("one_to_one_every_option_and_per_message_info") {
        return;
    }
    let l = SctpListener::bind("127.0.0.1:0").unwrap();
    let init = InitMsg {
        num_ostreams: 4,
        max_instreams: 4,
        max_attempts: 2,
        max_init_timeo: 500,
    };
    let c = SctpDialer {
        timeout: Some(BOUND),
        init: Some(init),
    }
    .dial(l.local_addr().unwrap())
    .unwrap();
    assert_eq!(sock::sctp::initmsg(&c).unwrap(), init);
    l.set_read_deadline(soon());
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());

    // Every option of the module, set and read back.
    use sock::sctp as o;
    o::set_nodelay(&c, true).unwrap();
    assert!(o::nodelay(&c).unwrap());
    o::set_nodelay(&c, false).unwrap();
    assert!(!o::nodelay(&c).unwrap());
    o::set_disable_fragments(&c, true).unwrap();
    assert!(o::disable_fragments(&c).unwrap());
    o::set_disable_fragments(&c, false).unwrap();
    o::set_mapped_v4(&c, true).unwrap();
    assert!(o::mapped_v4(&c).unwrap());
    o::set_mapped_v4(&c, false).unwrap();
    assert!(!o::mapped_v4(&c).unwrap());
    o::set_fragment_interleave(&c, 1).unwrap();
    assert_eq!(o::fragment_interleave(&c).unwrap(), 1);
    o::set_partial_delivery_point(&c, 4096).unwrap();
    assert_eq!(o::partial_delivery_point(&c).unwrap(), 4096);
    o::set_context(
        &c,
        AssocValue {
            assoc_id: 0,
            value: 99,
        },
    )
    .unwrap();
    assert_eq!(o::context(&c, 0).unwrap().value, 99);
    o::set_max_burst(
        &c,
        AssocValue {
            assoc_id: 0,
            value: 7,
        },
    )
    .unwrap();
    assert_eq!(o::max_burst(&c, 0).unwrap().value, 7);
    // The kernel keeps the smaller of this and the path MTU's limit: read back what it kept,
    // and it is at most what was asked.
    o::set_maxseg(
        &c,
        AssocValue {
            assoc_id: 0,
            value: 1000,
        },
    )
    .unwrap();
    let seg = o::maxseg(&c, 0).unwrap().value;
    assert!(seg > 0 && seg <= 1000, "maxseg {seg}");
    o::set_initmsg(
        &c,
        &InitMsg {
            num_ostreams: 8,
            ..init
        },
    )
    .unwrap();
    assert_eq!(o::initmsg(&c).unwrap().num_ostreams, 8);
    // SCTP_AUTOCLOSE belongs to one-to-many sockets: a one-to-one socket refuses it.
    let one_to_many = SctpSocket::bind("127.0.0.1:0").unwrap();
    o::set_autoclose_secs(&one_to_many, 30).unwrap();
    assert_eq!(o::autoclose_secs(&one_to_many).unwrap(), 30);
    assert!(o::set_autoclose_secs(&c, 30).is_err());
    o::set_recv_rcvinfo(&s, true).unwrap();
    assert!(o::recv_rcvinfo(&s).unwrap());

    // A message with an SndInfo arrives with the matching RcvInfo.
    c.set_deadline(soon());
    s.set_deadline(soon());
    let sent = SndInfo {
        sid: 2,
        ppid: 0x0102_0304,
        ..Default::default()
    };
    assert_eq!(c.sctp_send(b"typed", &sent).unwrap(), 5);
    let mut buf = [0u8; 64];
    let got = s.sctp_recv(&mut buf).unwrap();
    assert_eq!(&buf[..got.bytes], b"typed");
    assert!(got.complete && !got.notification);
    let info = got.info.expect("SCTP_RCVINFO with SCTP_RECVRCVINFO on");
    assert_eq!((info.sid, info.ppid), (2, 0x0102_0304));
    // And plain stream writes still work both ways.
    s.write_all(b"back").unwrap();
    let mut b4 = [0u8; 4];
    assert_eq!(c.read(&mut b4).unwrap(), 4);
    assert_eq!(&b4, b"back");
    say("one-to-one: every option read back, SndInfo -> RcvInfo, stream reads and writes");
}

#[test]
fn a_dial_without_timeout_returns_at_once_and_the_association_still_forms() {
    if !kernel_has_sctp("a_dial_without_timeout_returns_at_once_and_the_association_still_forms") {
        return;
    }
    let l = SctpListener::bind("[::1]:0")
        .or_else(|_| SctpListener::bind("127.0.0.1:0"))
        .unwrap();
    let c = SctpDialer::default().dial(l.local_addr().unwrap()).unwrap();
    // The association forms in the background: the listener accepts it, and the dialing
    // socket has its peer once the handshake's last chunk arrives. (A one-to-one socket
    // written before that fails with EPIPE: the kernel takes data only once it is up.)
    l.set_read_deadline(soon());
    let (s, _) = l.accept().unwrap();
    let until = std::time::Instant::now() + BOUND;
    while c.peer_addr().is_err() {
        assert!(
            std::time::Instant::now() < until,
            "the association never came up on the dialing side"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    c.set_write_deadline(soon());
    c.write_all(b"later").unwrap();
    s.set_read_deadline(soon());
    let mut b = [0u8; 8];
    assert_eq!(s.read(&mut b).unwrap(), 5);
    assert_eq!(&b[..5], b"later");
}

/// Reads notifications until one of `ty` arrives (others, such as `SCTP_COMM_UP` before a
/// message, are skipped); fails at the bound.
fn next_of(sock: &SctpSocket, ty: u16) -> (Notification, SctpRecv) {
    let mut buf = [0u8; 256];
    loop {
        let got = sock.sctp_recv(&mut buf).unwrap();
        assert!(
            got.notification,
            "a message where a notification was expected"
        );
        let n = Notification::parse(&buf[..got.bytes]).unwrap();
        let this = match n {
            Notification::AssocChange { .. } => SCTP_ASSOC_CHANGE,
            Notification::Shutdown { .. } => SCTP_SHUTDOWN_EVENT,
            Notification::Other { ty, .. } => ty,
            _ => 0,
        };
        if this == ty {
            return (n, got);
        }
    }
}

#[test]
fn one_to_many_send_receive_reply_and_peeloff() {
    if !kernel_has_sctp("one_to_many_send_receive_reply_and_peeloff") {
        return;
    }
    let server = SctpSocket::bind("127.0.0.1:0").unwrap();
    sock::sctp::set_recv_rcvinfo(&server, true).unwrap();
    sock::sctp::subscribe(&server, SCTP_ASSOC_CHANGE, 0, true).unwrap();
    assert!(sock::sctp::subscribed(&server, SCTP_ASSOC_CHANGE, 0).unwrap());
    assert!(!sock::sctp::subscribed(&server, SCTP_SHUTDOWN_EVENT, 0).unwrap());
    let client = SctpSocket::bind("127.0.0.1:0").unwrap();
    sock::sctp::set_recv_rcvinfo(&client, true).unwrap();
    server.set_deadline(soon());
    client.set_deadline(soon());
    let to = server.local_addr().unwrap();
    let info = SndInfo {
        sid: 1,
        ppid: 42,
        ..Default::default()
    };
    assert_eq!(client.sctp_send(b"hello", Some(&to), &info).unwrap(), 5);

    // The association comes up, then the message arrives with its RcvInfo and source.
    let (up, _) = next_of(&server, SCTP_ASSOC_CHANGE);
    let Notification::AssocChange {
        state, assoc_id, ..
    } = up
    else {
        unreachable!()
    };
    assert_eq!(state, SCTP_COMM_UP);
    let mut buf = [0u8; 64];
    let got = server.sctp_recv(&mut buf).unwrap();
    assert!(!got.notification && got.complete);
    assert_eq!(&buf[..got.bytes], b"hello");
    assert_eq!(got.from, Some(client.local_addr().unwrap()));
    let rcv: RcvInfo = got.info.expect("RcvInfo");
    assert_eq!((rcv.sid, rcv.ppid, rcv.assoc_id), (1, 42, assoc_id));

    // A reply on the association by id, no address.
    let reply = SndInfo {
        sid: 1,
        ppid: 43,
        assoc_id,
        ..Default::default()
    };
    server.sctp_send(b"world", None, &reply).unwrap();
    let got = client.sctp_recv(&mut buf).unwrap();
    assert_eq!(&buf[..got.bytes], b"world");
    assert_eq!(got.info.map(|i| i.ppid), Some(43));
    assert_eq!(got.from, Some(to));

    // Peeled off, the association is a one-to-one socket of its own.
    let peeled = server.peeloff(assoc_id).unwrap();
    // It keeps the one-to-many type, with the association's peer as its own.
    assert_eq!(peeled.socket_type(), libc::SOCK_SEQPACKET);
    assert_eq!(peeled.peer_addr().unwrap(), client.local_addr().unwrap());
    peeled.set_deadline(soon());
    peeled.write_all(b"peeled").unwrap();
    let got = client.sctp_recv(&mut buf).unwrap();
    assert_eq!(&buf[..got.bytes], b"peeled");
    client
        .sctp_send(b"to the peel", Some(&to), &SndInfo::default())
        .unwrap();
    let mut b = [0u8; 32];
    let n = peeled.read(&mut b).unwrap();
    assert_eq!(&b[..n], b"to the peel");
    // The one-to-many socket no longer has it.
    assert!(server.peeloff(assoc_id).is_err());
    say("one-to-many: COMM_UP, SndInfo -> RcvInfo with the source, reply by id, peeloff");
}

#[test]
fn a_dial_nobody_listens_for_is_refused() {
    if !kernel_has_sctp("a_dial_nobody_listens_for_is_refused") {
        return;
    }
    let port = {
        let l = SctpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = SctpDialer {
        timeout: Some(BOUND),
        init: None,
    }
    .dial(port)
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
}

#[test]
fn an_abort_ends_the_association_for_both_ends() {
    if !kernel_has_sctp("an_abort_ends_the_association_for_both_ends") {
        return;
    }
    let server = SctpSocket::bind("127.0.0.1:0").unwrap();
    sock::sctp::subscribe(&server, SCTP_ASSOC_CHANGE, 0, true).unwrap();
    server.set_deadline(soon());
    let c = SctpDialer {
        timeout: Some(BOUND),
        init: None,
    }
    .dial(server.local_addr().unwrap())
    .unwrap();
    let (up, _) = next_of(&server, SCTP_ASSOC_CHANGE);
    let Notification::AssocChange { assoc_id, .. } = up else {
        unreachable!()
    };
    let abort = SndInfo {
        flags: SCTP_ABORT,
        assoc_id,
        ..Default::default()
    };
    server.sctp_send(b"", None, &abort).unwrap();
    c.set_read_deadline(soon());
    let mut b = [0u8; 8];
    let e = c.read(&mut b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    // The aborting side is told too, with COMM_LOST.
    let (lost, got) = next_of(&server, SCTP_ASSOC_CHANGE);
    assert!(got.notification);
    assert!(
        matches!(lost, Notification::AssocChange { state, assoc_id: id, .. } if state == SCTP_COMM_LOST && id == assoc_id),
        "{lost:?}"
    );
    let _ = MSG_NOTIFICATION;
}
