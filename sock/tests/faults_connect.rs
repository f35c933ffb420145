//! Faults while connecting: nobody listens (refused), the SYNs vanish (a deadline expires),
//! and 10,000 connections opened and closed. Each ends with as many descriptors open as it
//! began with.

mod common;
use common::{dialer, soon};
use testkit::no_fd_leak;

use sock::{ErrorKind, TcpConn, TcpListener};

#[test]
fn a_refused_connect_is_connection_refused_both_ways() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let port = {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap()
            };
            // A dialer that waits for the handshake reports the refusal itself.
            let e = dialer().dial(port).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
            assert_eq!(e.errno(), Some(zcall::Errno::ECONNREFUSED));
            // Without a timeout the connection comes back in progress, and says so when
            // polled.
            let c = TcpConn::connect(port).unwrap();
            c.set_write_deadline(soon());
            let r = sock::NetSocket::write_with(&c, |_| match c.poll_connected() {
                Ok(true) => Ok(()),
                Ok(false) => Err(sock::Error::WOULD_BLOCK),
                Err(e) => Err(e),
            });
            assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        });
    });
}

/// Inside a private network namespace, an address on the veth's subnet whose neighbour
/// entry is permanent and leads nowhere: the SYNs leave and nothing answers.
#[test]
#[cfg(target_os = "linux")]
fn a_dial_into_a_blackhole_times_out() {
    testkit::in_netns(|ns| {
        no_fd_leak(|| {
            ns.add_permanent_neighbour(&ns.a, "10.77.0.99".parse().unwrap(), "02:00:00:00:00:99")
                .unwrap();
            let e = sock::TcpDialer {
                timeout: Some(std::time::Duration::from_millis(300)),
                ..Default::default()
            }
            .dial("10.77.0.99:9")
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        });
    });
}

/// 10,000 connections dialled, accepted, used for one byte and closed (either side first),
/// in a namespace of their own so their TIME_WAIT entries never crowd the host's ports.
#[test]
#[cfg(target_os = "linux")]
fn ten_thousand_connections_leave_no_descriptor_behind() {
    testkit::in_netns(|_| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_read_deadline(soon());
        let dialer = dialer();
        no_fd_leak(|| {
            let mut b = [0u8; 1];
            for i in 0..10_000u32 {
                let c = dialer.dial(addr).unwrap();
                let (s, _) = l.accept().unwrap();
                s.set_read_deadline(soon());
                c.write_all(&[i as u8]).unwrap();
                assert_eq!(s.read(&mut b).unwrap(), 1);
                assert_eq!(b[0], i as u8);
                if i % 2 == 0 {
                    drop(c);
                    drop(s);
                } else {
                    drop(s);
                    drop(c);
                }
            }
        });
    });
}
