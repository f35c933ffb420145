//! Socket deadlines never reach the reactor: the Io waits for readiness itself and never
//! blocks, spins or sleeps inside an operation. Before, `async_accept` and
//! `async_read_batch` went through sock's deadline loop: a read deadline set on the socket
//! (before or after it was added) made the Io block until it, or complete at once with
//! `TimedOut` instead of parking. Each test runs in a process of its own with a time
//! limit: the bug blocked for the hour the deadline allowed.

mod common;
use common::{run_until, slot};

use std::time::{Duration, Instant};

use sonic_io::{Io, Listener, TcpStream};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_listeners_read_deadline_neither_blocks_nor_fails_an_async_accept() {
    testkit::in_subprocess_named_within(
        "a_listeners_read_deadline_neither_blocks_nor_fails_an_async_accept",
        LIMIT,
        || {
            for deadline in [Instant::now() + Duration::from_secs(3600), Instant::now()] {
                let mut io = Io::new().unwrap();
                let l = sock::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                l.set_read_deadline(deadline);
                let l = Listener::add(&mut io, l).unwrap();
                let got = slot();
                let g = got.clone();
                l.async_accept(&mut io, move |_, r| *g.borrow_mut() = Some(r.map(|_| ())))
                    .unwrap();
                assert!(
                    got.borrow().is_none(),
                    "parked, not failed: {:?}",
                    got.borrow()
                );
                assert_eq!(io.pending(), 1);
                // Set after it was added, too.
                l.get(&io).unwrap().set_read_deadline(Instant::now());
                io.poll().unwrap();
                assert!(got.borrow().is_none(), "still parked: {:?}", got.borrow());
                TcpStream::dial(&mut io, addr, |_, r| {
                    r.unwrap();
                })
                .unwrap();
                run_until(&mut io, || got.borrow().is_some());
                got.take().unwrap().unwrap();
            }
        },
    );
}

/// Batch reads exist where sock's `recvmmsg` does (not macOS).
#[test]
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn a_udp_sockets_read_deadline_neither_blocks_nor_fails_a_batch_read() {
    use sonic_io::{Datagrams, PacketConn};
    testkit::in_subprocess_named_within(
        "a_udp_sockets_read_deadline_neither_blocks_nor_fails_a_batch_read",
        LIMIT,
        || {
            for deadline in [Instant::now() + Duration::from_secs(3600), Instant::now()] {
                let mut io = Io::new().unwrap();
                let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
                let addr = rx.local_addr().unwrap();
                rx.set_read_deadline(deadline);
                let rx = PacketConn::add(&mut io, rx).unwrap();
                let got = slot();
                let g = got.clone();
                rx.async_read_batch(&mut io, Datagrams::new(4, 64), move |_, r, _| {
                    *g.borrow_mut() = Some(r)
                })
                .unwrap();
                assert!(
                    got.borrow().is_none(),
                    "parked, not failed: {:?}",
                    got.borrow()
                );
                io.poll().unwrap();
                assert!(got.borrow().is_none(), "still parked: {:?}", got.borrow());
                let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                tx.send_to(b"hello", addr.to_string()).unwrap();
                run_until(&mut io, || got.borrow().is_some());
                assert_eq!(got.take().unwrap().unwrap(), 1);
            }
        },
    );
}
