//! Helpers for sock's tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use sock::{Deadline, TcpConn, TcpDialer, TcpListener};

/// A bound for every wait in these tests: long enough never to be reached when things
/// work, short enough that a broken test ends.
pub const BOUND: Duration = Duration::from_secs(10);

pub fn soon() -> Deadline {
    Deadline::after(BOUND)
}

/// A dialer that waits up to [`BOUND`] for the handshake.
pub fn dialer() -> TcpDialer {
    TcpDialer {
        timeout: Some(BOUND),
        ..Default::default()
    }
}

/// A connected TCP pair on 127.0.0.1 with deadlines set so reads and writes wait.
pub fn tcp_pair() -> (TcpConn, TcpConn) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = dialer().dial(l.local_addr().unwrap()).unwrap();
    l.set_read_deadline(soon());
    let (s, _) = l.accept().unwrap();
    c.set_deadline(soon());
    s.set_deadline(soon());
    (c, s)
}
