//! Faults at the kernel's limits: no descriptor left for an accepted connection (EMFILE),
//! no room in a qdisc for a datagram (ENOBUFS). Each runs in a process of its own and ends
//! with as many descriptors open as it began with.
#![cfg(target_os = "linux")]

mod common;
use common::{dialer, soon};
use testkit::no_fd_leak;

use sock::{ErrorKind, SockaddrAny, TcpListener, UdpConn, opt};
use zcall::Errno;

/// With the descriptor limit reached, `accept` fails with EMFILE (under a deadline too: it is
/// an error, not a wait) and the connection stays queued; once a descriptor is free the
/// same connection is accepted and works.
#[test]
fn accept_at_the_descriptor_limit_is_emfile_then_recovers() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let c = dialer().dial(l.local_addr().unwrap()).unwrap();
            // Take every descriptor left under the limit.
            let (mut fillers, old) = testkit::exhaust_descriptors(8).unwrap();
            l.set_read_deadline(soon());
            let e = l.accept().unwrap_err();
            assert_eq!(e.errno(), Some(Errno::EMFILE), "{e}");
            assert_eq!(e.kind(), ErrorKind::Os);
            assert!(e.to_string().contains("EMFILE"), "{e}");
            fillers.pop();
            let (s, peer) = l.accept().unwrap();
            assert_eq!(peer, c.local_addr().unwrap(), "the queued connection");
            c.set_deadline(soon());
            s.set_deadline(soon());
            c.write_all(b"ok").unwrap();
            let mut b = [0u8; 2];
            assert_eq!(s.read(&mut b).unwrap(), 2);
            drop(fillers);
            drop(s);
            testkit::set_open_files_limit(old).unwrap();
        });
    });
}

/// A token bucket that holds one byte on the veth: a datagram that cannot leave at once is
/// dropped by the qdisc. With `IP_RECVERR` the send says so (ENOBUFS); without it the drop
/// is silent (the kernel only counts it); once the qdisc is gone sends succeed again.
#[test]
fn enobufs_from_a_tiny_qdisc_with_ip_recverr() {
    testkit::in_netns(|ns| {
        no_fd_leak(|| {
            ns.tc(&[
                "qdisc", "add", "dev", "veth0", "root", "tbf", "rate", "8kbit", "burst", "1540",
                "limit", "1",
            ])
            .unwrap();
            // An address on veth0's subnet that nobody holds, with a neighbour entry, so
            // every datagram really leaves through veth0 and its qdisc (a local address
            // would not).
            ns.add_permanent_neighbour(&ns.a, "10.77.0.99".parse().unwrap(), "02:00:00:00:00:99")
                .unwrap();
            let tx = UdpConn::bind(format!("{}:0", ns.a.ipv4)).unwrap();
            let to: SockaddrAny = "10.77.0.99:9".parse().unwrap();
            let datagram = [0u8; 1000];
            let all_sent = |why: &str| {
                for _ in 0..100 {
                    assert_eq!(tx.send_to(&datagram, &to).unwrap(), 1000, "{why}");
                }
            };

            opt::set_int(&tx, libc::IPPROTO_IP, libc::IP_RECVERR, 1).unwrap();
            let e = (0..100_000)
                .find_map(|_| tx.send_to(&datagram, &to).err())
                .expect("the qdisc refused a datagram within 100000 sends");
            assert_eq!(e.kind(), ErrorKind::NoBufferSpace, "{e}");
            assert_eq!(e.errno(), Some(Errno::ENOBUFS));

            opt::set_int(&tx, libc::IPPROTO_IP, libc::IP_RECVERR, 0).unwrap();
            all_sent("without IP_RECVERR a drop is silent");

            ns.tc(&["qdisc", "del", "dev", "veth0", "root"]).unwrap();
            opt::set_int(&tx, libc::IPPROTO_IP, libc::IP_RECVERR, 1).unwrap();
            all_sent("with the qdisc gone");
        });
    });
}
