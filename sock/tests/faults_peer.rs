//! Faults from the peer: a reset while a read or a write waits, and a write after the peer
//! closed (EPIPE, never SIGPIPE). Each runs in a child process and ends with as many
//! descriptors open as it began with.

mod common;
use common::tcp_pair;
use testkit::no_fd_leak;

use sock::{ErrorKind, UnixConn};
use zcall::Errno;

/// Resets: the kernel's order of errors after one is Linux's (other systems may differ).
#[cfg(target_os = "linux")]
mod reset {
    use super::*;
    use common::soon;
    use std::sync::mpsc;
    use std::time::Duration;

    use sock::Deadline;

    #[test]
    fn a_reset_during_a_read_is_connection_reset_then_end_of_stream() {
        testkit::in_subprocess(|| {
            no_fd_leak(|| {
                let (c, s) = tcp_pair();
                let (ready, go) = mpsc::channel();
                let reader = std::thread::spawn(move || {
                    let mut b = [0u8; 16];
                    ready.send(()).unwrap();
                    // Waits (read deadline set) until the reset arrives.
                    let e = s.read(&mut b).unwrap_err();
                    (e, s.read(&mut b))
                });
                go.recv().unwrap();
                sock::opt::set_linger(&c, Some(Duration::ZERO)).unwrap();
                drop(c); // linger 0: RST instead of FIN
                let (e, after) = reader.join().unwrap();
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                assert_eq!(e.errno(), Some(Errno::ECONNRESET));
                assert_eq!(
                    after.unwrap(),
                    0,
                    "the reset is reported once, then end of stream"
                );
            });
        });
    }

    #[test]
    fn a_reset_during_a_write_is_connection_reset_then_broken_pipe() {
        testkit::in_subprocess(|| {
            no_fd_leak(|| {
                let (c, s) = tcp_pair();
                sock::opt::set_send_buffer_size(&c, 4096).unwrap();
                sock::opt::set_recv_buffer_size(&s, 4096).unwrap();
                // Fill both buffers until the kernel takes no more (no deadline: WouldBlock).
                c.set_write_deadline(Deadline::NONE);
                let chunk = [7u8; 65536];
                let full = (0..10_000).any(|_| match c.write(&chunk) {
                    Ok(_) => false,
                    Err(e) if e.is_would_block() => true,
                    Err(e) => panic!("{e}"),
                });
                assert!(full, "the buffers filled");
                let (ready, go) = mpsc::channel();
                let writer = std::thread::spawn(move || {
                    c.set_write_deadline(soon());
                    ready.send(()).unwrap();
                    // Waits for room that never comes; the reset ends the wait.
                    let e = c.write(&chunk).unwrap_err();
                    (e, c.write(&chunk).unwrap_err())
                });
                go.recv().unwrap();
                sock::opt::set_linger(&s, Some(Duration::ZERO)).unwrap();
                drop(s);
                let (e, next) = writer.join().unwrap();
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                assert_eq!(e.errno(), Some(Errno::ECONNRESET));
                assert_eq!(next.kind(), ErrorKind::ConnectionReset, "{next}");
                assert_eq!(
                    next.errno(),
                    Some(Errno::EPIPE),
                    "after the reset: broken pipe"
                );
            });
        });
    }
}

/// SIGPIPE is put back to its default action (terminate) first: a send without
/// `MSG_NOSIGNAL` would kill the child and fail the test.
#[test]
fn a_write_after_the_peer_closed_is_broken_pipe_and_no_sigpipe() {
    testkit::in_subprocess(|| {
        testkit::default_sigpipe().unwrap();
        no_fd_leak(|| {
            // TCP: the peer's FIN arrives first (end of stream); the first write after it is
            // accepted and answered by a reset; from then on writes fail with EPIPE.
            let (c, s) = tcp_pair();
            drop(s);
            let mut b = [0u8; 1];
            assert_eq!(c.read(&mut b).unwrap(), 0, "the FIN: end of stream");
            let e = (0..1000)
                .find_map(|_| c.write(b"into the void").err())
                .expect("a write failed within 1000");
            assert_broken_pipe(e);
            // The gather path (sendmsg) too.
            let e = c
                .write_vectored(&[std::io::IoSlice::new(b"again")])
                .unwrap_err();
            assert_broken_pipe(e);

            // A Unix stream: EPIPE at once.
            let [a, b] = UnixConn::pair().unwrap();
            drop(b);
            assert_broken_pipe(a.write(b"x").unwrap_err());
        });
    });
}

/// `ConnectionReset` with EPIPE (on Linux; elsewhere the kernel may say ECONNRESET).
#[track_caller]
fn assert_broken_pipe(e: sock::Error) {
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    if cfg!(target_os = "linux") {
        assert_eq!(e.errno(), Some(Errno::EPIPE), "{e}");
    }
}
