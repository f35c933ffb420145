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

/// Starts `python3 -c script args...` with its stdin and stdout piped (a peer nobody here
/// wrote); `None` when there is no python3 to run (the caller skips, saying so). The
/// script waits on its stdin where it must stay alive: drop the child's stdin to end it.
pub fn python(script: &str, args: &[&str]) -> Option<std::process::Child> {
    use std::process::{Command, Stdio};
    match Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => Some(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot start python3: {e}"),
    }
}

/// Reads one line the child printed (it says what it did, or why it failed).
pub fn line_from(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut line)
        .unwrap();
    line.trim_end().to_owned()
}

/// Closes the child's stdin (the scripts end when it does) and checks that it succeeded.
pub fn finish(mut child: std::process::Child) {
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "the python peer failed: {status}");
}
