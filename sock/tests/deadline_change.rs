//! A deadline changed while another thread waits under it reaches that waiter at its next
//! backoff step: set to the past, the wait ends with `TimedOut`; cleared, with `WouldBlock`.
//! No data ever arrives, and nothing here is timed: the test waits for the waiter's own
//! attempts (counted) before changing the deadline.

mod common;
use common::BOUND;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sock::{Deadline, ErrorKind, UdpConn};

/// A UDP socket waiting in a read under a deadline an hour away, on its own thread, and
/// the count of its read attempts. The attempts are real non-blocking reads of the same
/// socket (through a std handle on a duplicate of the descriptor).
fn waiting_reader() -> (
    Arc<UdpConn>,
    Arc<AtomicUsize>,
    mpsc::Receiver<sock::Result<usize>>,
) {
    let conn = Arc::new(UdpConn::bind("127.0.0.1:0").unwrap());
    let std_sock = std::net::UdpSocket::from(conn.with_fd(|fd| fd.try_clone_to_owned()).unwrap());
    conn.set_read_deadline(Deadline::after(Duration::from_secs(3600)));
    let attempts = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let (c, a) = (conn.clone(), attempts.clone());
    std::thread::spawn(move || {
        let r = c.read_with(|_fd| {
            a.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 64];
            std_sock.recv(&mut buf).map_err(sock::Error::from)
        });
        let _ = tx.send(r);
    });
    // Wait (on the event, not on time) until the reader has failed to read a few times:
    // it is inside the backoff ladder, under the far deadline.
    let start = Instant::now();
    while attempts.load(Ordering::SeqCst) < 3 {
        assert!(start.elapsed() < BOUND, "the reader never started");
        std::thread::yield_now();
    }
    (conn, attempts, rx)
}

#[test]
fn a_deadline_moved_to_the_past_ends_a_waiting_read() {
    let (conn, _attempts, done) = waiting_reader();
    conn.set_read_deadline(Deadline::after(Duration::ZERO));
    let r = done
        .recv_timeout(BOUND)
        .expect("the waiter did not see its deadline pass (hang guard)");
    assert_eq!(r.unwrap_err().kind(), ErrorKind::TimedOut);
}

#[test]
fn a_deadline_cleared_returns_a_waiting_read_to_non_blocking() {
    let (conn, attempts, done) = waiting_reader();
    conn.set_read_deadline(Deadline::NONE);
    let r = done
        .recv_timeout(BOUND)
        .expect("the waiter did not see its deadline cleared (hang guard)");
    assert!(r.unwrap_err().is_would_block());
    assert!(attempts.load(Ordering::SeqCst) >= 3);
}
