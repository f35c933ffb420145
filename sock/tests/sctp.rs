//! SCTP: the structs' layouts and encodings everywhere; real sockets where the kernel has
//! SCTP, and the clear ProtocolNotSupported where it does not (the output says which ran).

use std::io::Write;

use sock::sctp::{AssocValue, InitMsg, RcvInfo, SctpDialer, SctpListener, SndInfo};

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

#[test]
fn real_sockets_or_protocol_not_supported() {
    let l = match SctpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    sock::ErrorKind::ProtocolNotSupported
                        | sock::ErrorKind::AddressFamilyNotSupported
                ),
                "{e}"
            );
            say(&format!(
                "the kernel has no SCTP here: asserted the clear error ({e})"
            ));
            return;
        }
    };
    say("the kernel has SCTP: running the real-socket test");
    let init = InitMsg {
        num_ostreams: 4,
        max_instreams: 4,
        max_attempts: 2,
        max_init_timeo: 500,
    };
    let c = SctpDialer {
        timeout: Some(std::time::Duration::from_secs(10)),
        init: Some(init),
    }
    .dial(l.local_addr().unwrap())
    .unwrap();
    assert_eq!(sock::sctp::initmsg(&c).unwrap().num_ostreams, 4);
    sock::sctp::set_nodelay(&c, true).unwrap();
    assert!(sock::sctp::nodelay(&c).unwrap());
    sock::sctp::set_context(
        &c,
        AssocValue {
            assoc_id: 0,
            value: 99,
        },
    )
    .unwrap();
    l.set_read_deadline(iox::Deadline::after(std::time::Duration::from_secs(10)));
    let (s, _) = l.accept().unwrap();
    c.set_write_deadline(iox::Deadline::after(std::time::Duration::from_secs(10)));
    c.write_all(b"sctp").unwrap();
    s.set_read_deadline(iox::Deadline::after(std::time::Duration::from_secs(10)));
    let mut b = [0u8; 8];
    assert_eq!(s.read(&mut b).unwrap(), 4);
}
