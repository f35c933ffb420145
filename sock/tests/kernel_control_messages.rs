//! Control messages the kernel fills in itself, received and decoded through `sock::cmsg`:
//! receive timestamps (`SO_TIMESTAMPNS`, software `SO_TIMESTAMPING`), extended errors from the
//! error queue (`IP_RECVERR`, `IPV6_RECVERR`) and the sender's pidfd (`SCM_PIDFD`). The
//! builder and parser on buffers alone are `cmsg.rs`; arbitrary bytes, the `cmsg_parse` fuzz
//! target.
#![cfg(target_os = "linux")]

mod common;
use common::soon;

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

use sock::cmsg::consts::{
    SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6, SOF_TIMESTAMPING_RX_SOFTWARE, SOF_TIMESTAMPING_SOFTWARE,
};
use sock::cmsg::{Cmsg, CmsgBuf, CmsgIter, ExtendedErr};
use sock::{SockaddrAny, SockaddrStorage, UdpConn, UnixDatagram};

/// `CLOCK_REALTIME` now, as the kernel's timestamps count it.
fn now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
}

/// Sends one datagram over loopback to `rx` and receives it with its control data; returns
/// the messages, and the clock read just before the send and just after the receive.
fn loopback_datagram(rx: &UdpConn, control: &mut [u8]) -> (usize, Duration, Duration) {
    let tx = UdpConn::bind("127.0.0.1:0").unwrap();
    rx.set_read_deadline(soon());
    let before = now();
    tx.send_to(b"stamp me", &rx.local_addr().unwrap()).unwrap();
    let mut data = [0u8; 16];
    let meta = rx
        .recv_msg(&mut [IoSliceMut::new(&mut data)], None, control)
        .unwrap();
    let after = now();
    assert_eq!(&data[..meta.bytes], b"stamp me");
    assert!(!meta.control_truncated());
    (meta.control_len, before, after)
}

#[test]
fn so_timestampns_stamps_each_loopback_datagram_with_its_arrival() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, 35);
    let rx = UdpConn::bind("127.0.0.1:0").unwrap();
    rx.set_timestamp_ns(true).unwrap();
    let mut control = CmsgBuf::<64>::new();
    let (len, before, after) = loopback_datagram(&rx, control.as_mut());
    let stamps: Vec<Duration> = CmsgIter::new(&control.as_ref()[..len])
        .map(|m| match m.unwrap() {
            Cmsg::TimestampNs(t) => t,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(stamps.len(), 1, "one SO_TIMESTAMPNS message");
    assert!(
        before <= stamps[0] && stamps[0] <= after,
        "arrival {:?} between the send ({before:?}) and the receive ({after:?})",
        stamps[0]
    );
}

/// The kernel turns software receive stamps on for the whole system asynchronously (the
/// first socket that asks flips a static key from a work queue, `net_enable_timestamp`), so
/// the first datagrams after `SO_TIMESTAMPING` is set may arrive unstamped, without any
/// control message: datagrams go until one is stamped (bounded by [`common::BOUND`]).
#[test]
fn software_so_timestamping_reports_the_receive_time_and_no_hardware_time() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let rx = UdpConn::bind("127.0.0.1:0").unwrap();
    sock::opt::set_timestamping(
        &rx,
        SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE,
    )
    .unwrap();
    let give_up = std::time::Instant::now() + common::BOUND;
    let mut unstamped = 0;
    let (stamps, before, after) = loop {
        let mut control = CmsgBuf::<128>::new();
        let (len, before, after) = loopback_datagram(&rx, control.as_mut());
        let stamps: Vec<[Duration; 3]> = CmsgIter::new(&control.as_ref()[..len])
            .map(|m| match m.unwrap() {
                Cmsg::Timestamping(t) => t,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        if !stamps.is_empty() {
            break (stamps, before, after);
        }
        unstamped += 1;
        assert!(
            std::time::Instant::now() < give_up,
            "{unstamped} datagrams and none stamped"
        );
    };
    eprintln!("kernel_control_messages: {unstamped} datagrams before the first stamped one");
    assert_eq!(stamps.len(), 1, "one SO_TIMESTAMPING message");
    let [software, _legacy, hardware] = stamps[0];
    assert!(
        before <= software && software <= after,
        "software time {software:?} between the send ({before:?}) and the receive ({after:?})"
    );
    assert_eq!(hardware, Duration::ZERO, "loopback has no hardware clock");
}

/// An address on `any`'s loopback where no socket listens (bound once, then closed).
fn port_nobody_listens_on(any: &str) -> SockaddrAny {
    UdpConn::bind(any).unwrap().local_addr().unwrap()
}

/// A datagram to a closed loopback port draws an ICMP port unreachable; with
/// `IP_RECVERR`/`IPV6_RECVERR` it waits on the error queue with the datagram, its
/// destination and a `sock_extended_err`.
fn port_unreachable_is_queued(any: &str, origin: u8, icmp: (u8, u8)) {
    let tx = UdpConn::bind(any).unwrap();
    tx.set_recv_errors(true).unwrap();
    let dst = port_nobody_listens_on(any);
    tx.send_to(b"nobody home", &dst).unwrap();
    tx.set_read_deadline(soon());
    let mut data = [0u8; 32];
    let mut control = CmsgBuf::<128>::new();
    let mut to = SockaddrStorage::new();
    let meta = tx
        .recv_error(
            &mut [IoSliceMut::new(&mut data)],
            Some(&mut to),
            control.as_mut(),
        )
        .unwrap();
    assert_ne!(meta.flags & libc::MSG_ERRQUEUE, 0, "MSG_ERRQUEUE");
    assert_eq!(
        &data[..meta.bytes],
        b"nobody home",
        "the datagram comes back"
    );
    assert_eq!(to.decode().unwrap(), dst, "with where it was going");
    let errs: Vec<ExtendedErr> = CmsgIter::new(&control.as_ref()[..meta.control_len])
        .map(|m| match m.unwrap() {
            Cmsg::RecvErr(e) => e,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(errs.len(), 1, "one extended error");
    let e = errs[0];
    assert_eq!(e.errno, zcall::Errno::ECONNREFUSED);
    assert_eq!(e.origin, origin);
    assert_eq!((e.kind, e.code), icmp, "ICMP type and code");
    let loopback = std::net::SocketAddr::try_from(dst).unwrap().ip();
    assert_eq!(e.offender, Some(loopback), "loopback reported it");
    // The queue held one error: now it is empty.
    tx.set_read_deadline(sock::Deadline::NONE);
    let again = tx.recv_error(&mut [IoSliceMut::new(&mut data)], None, control.as_mut());
    assert!(again.unwrap_err().is_would_block());
}

#[test]
fn ip_recverr_queues_an_icmp_port_unreachable() {
    // Destination unreachable (3), port unreachable (3).
    port_unreachable_is_queued("127.0.0.1:0", SO_EE_ORIGIN_ICMP, (3, 3));
}

#[test]
fn ipv6_recverr_queues_an_icmpv6_port_unreachable() {
    // Destination unreachable (1), port unreachable (4).
    port_unreachable_is_queued("[::1]:0", SO_EE_ORIGIN_ICMP6, (1, 4));
}

/// The `Pid:` line of `/proc/self/fdinfo/<fd>` (a pidfd's process, in our namespace).
fn fdinfo_pid(fd: &impl AsRawFd) -> i32 {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .unwrap_or_else(|| panic!("no Pid: line in {text}"));
    line.trim().parse().unwrap()
}

/// A Python process that set nothing special sends a datagram; with `SO_PASSPIDFD` on the
/// receiver the kernel attaches a pidfd of that process, and it names the sender.
#[test]
fn scm_pidfd_names_the_process_that_sent() {
    const PEER: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"who", sys.argv[1])
print(os.getpid(), flush=True)
sys.stdin.read()
"#;
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, 76);
    let path = std::env::temp_dir().join(format!("sock-{}-pidfd", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let rx = UnixDatagram::bind(path.to_str().unwrap()).unwrap();
    if let Err(e) = rx.set_passpidfd(true) {
        assert_eq!(e.errno(), Some(zcall::Errno::ENOPROTOOPT), "{e}");
        std::fs::remove_file(&path).unwrap();
        testkit::skip!("SO_PASSPIDFD needs Linux 6.5: {e}");
    }
    let Some(mut py) = common::python(PEER, &[path.to_str().unwrap()]) else {
        testkit::skip!("python3 is not installed: no peer process")
    };
    let pid: i32 = common::line_from(&mut py).parse().unwrap();
    assert_eq!(pid as u32, py.id());
    rx.set_read_deadline(soon());
    let mut data = [0u8; 8];
    let mut control = CmsgBuf::<64>::new();
    let (meta, mut got) = rx
        .recv_msg_control(&mut [IoSliceMut::new(&mut data)], None, control.as_mut())
        .unwrap();
    assert_eq!(&data[..meta.bytes], b"who");
    assert!(
        got.iter()
            .any(|m| matches!(m, Ok(Cmsg::PidFd(fd)) if fd >= 0)),
        "an SCM_PIDFD message"
    );
    let pidfd = got.pidfd().expect("the pidfd");
    assert_eq!(fdinfo_pid(&pidfd), pid, "the pidfd refers to the sender");
    assert_eq!(iofd::PidFd::from(pidfd).pid(), pid);
    drop(got);
    common::finish(py);
    std::fs::remove_file(&path).unwrap();
}
