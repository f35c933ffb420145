//! Dialing with a timeout: the timeout ends a connect that does not finish, and nothing
//! else. Time is a manual clock, so no test here waits for real time to pass.

mod common;
use common::{Manual, run_until, slot};

use std::io::Read;
use std::time::Duration;

use sonic_io::{Io, TcpStream};

/// The reproduction: the dialer's timeout timer was never cancelled when the
/// connect succeeded, and when it fired it failed whatever write was pending then with
/// `TimedOut "dial timed out"` (seen after 3.9 MB of a 64 MiB `async_write_all`).
#[test]
fn a_dial_timeout_never_fires_on_a_later_write() {
    let (clock, offset) = Manual::new();
    let mut io = Io::builder().clock(Box::new(clock)).build().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dialer = sock::TcpDialer {
        timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let conn = slot();
    let c = conn.clone();
    TcpStream::dial_with(&mut io, &dialer, l.local_addr().unwrap(), move |_, r| {
        *c.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || conn.borrow().is_some());
    let s = conn.take().unwrap();
    let (mut peer, _) = l.accept().unwrap();
    // `pending()` does not count the dial's internal timer: what follows shows it is gone.
    assert_eq!(io.pending(), 0);

    // A write larger than both socket buffers parks, the peer reading nothing yet.
    const LEN: usize = 64 << 20;
    let wrote = slot();
    let w = wrote.clone();
    s.async_write_all(&mut io, vec![5u8; LEN], move |_, r, _| {
        *w.borrow_mut() = Some(r.map_err(|p| p.error))
    })
    .unwrap();
    assert!(wrote.borrow().is_none(), "the write waits for room");
    // Past the dial's deadline: the write must not notice.
    offset.set(Duration::from_secs(5));
    io.poll().unwrap();
    assert!(
        wrote.borrow().is_none(),
        "the write completed early: {:?}",
        wrote.borrow()
    );
    let reader = std::thread::spawn(move || {
        let mut total = 0;
        let mut b = vec![0u8; 1 << 16];
        while total < LEN {
            let n = peer.read(&mut b).unwrap();
            assert!(n > 0, "end of stream after {total} bytes");
            total += n;
        }
        total
    });
    run_until(&mut io, || wrote.borrow().is_some());
    assert_eq!(wrote.take().unwrap().unwrap(), LEN);
    assert_eq!(reader.join().unwrap(), LEN);
}

/// `dial_with`'s timeout ends a connect whose SYNs vanish (a neighbour entry to a MAC
/// nobody has, in a namespace of the test's own) with `TimedOut`, and frees its socket.
#[test]
#[cfg(target_os = "linux")]
fn dial_with_a_timeout_into_a_blackhole_times_out() {
    testkit::in_netns(|ns| {
        testkit::no_fd_leak(|| {
            ns.add_permanent_neighbour(&ns.a, "10.77.0.99".parse().unwrap(), "02:00:00:00:00:99")
                .unwrap();
            let (clock, offset) = Manual::new();
            let mut io = Io::builder().clock(Box::new(clock)).build().unwrap();
            let dialer = sock::TcpDialer {
                timeout: Some(Duration::from_secs(3)),
                ..Default::default()
            };
            let res = slot();
            let r2 = res.clone();
            TcpStream::dial_with(&mut io, &dialer, "10.77.0.99:9", move |_, r| {
                *r2.borrow_mut() = Some(r.map(|_| ()))
            })
            .unwrap();
            assert_eq!(io.objects(), 1);
            io.poll().unwrap();
            assert!(
                res.borrow().is_none(),
                "the SYN is unanswered: still connecting"
            );
            offset.set(Duration::from_secs(2));
            io.poll().unwrap();
            assert!(res.borrow().is_none(), "before its deadline");
            offset.set(Duration::from_secs(3));
            io.poll().unwrap();
            let e = res
                .take()
                .expect("the timeout completed the dial")
                .unwrap_err();
            assert_eq!(e.kind(), sonic_io::ErrorKind::TimedOut, "{e}");
            assert_eq!(io.objects(), 0, "the socket is closed");
            assert_eq!(io.pending(), 0);
        });
    });
}

/// Closing the Io with dials whose SYNs vanish (a neighbour entry to a MAC nobody has, in
/// a namespace of the test's own) ends each dial once with `Cancelled`, after their
/// connects reached the kernel (on io_uring: 20 connects in the ring, taken back by the
/// close), and leaves no descriptor behind.
#[test]
#[cfg(target_os = "linux")]
fn closing_the_io_ends_the_dials_in_flight_once() {
    testkit::in_netns(|ns| {
        testkit::no_fd_leak(|| {
            ns.add_permanent_neighbour(&ns.a, "10.77.0.98".parse().unwrap(), "02:00:00:00:00:98")
                .unwrap();
            let mut io = Io::new().unwrap();
            let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            for port in 1..=20u16 {
                let r = results.clone();
                TcpStream::dial(&mut io, format!("10.77.0.98:{port}"), move |_, x| {
                    r.borrow_mut().push(x.map(|_| ()).map_err(|e| e.kind()))
                })
                .unwrap();
            }
            io.poll().unwrap();
            assert!(results.borrow().is_empty(), "the SYNs are unanswered");
            assert_eq!(io.objects(), 20);
            if io.backend().reads_in_ring() {
                let st = io.stats();
                assert_eq!(st.reads, 0, "the connects are in the ring: {st:?}");
            }
            io.close().unwrap();
            assert_eq!(
                *results.borrow(),
                vec![Err(sonic_io::ErrorKind::Cancelled); 20],
                "each dial ends once, cancelled"
            );
        });
    });
}

/// A Unix dial to a path nobody made fails with `NotFound` on every backend (epoll's
/// connect answers at once; io_uring's completes in the ring), a path that exists but is no
/// socket listened on with `ConnectionRefused`, and neither leaves a socket in the Io.
#[test]
fn a_unix_dial_to_a_missing_path_fails_with_not_found() {
    let mut io = Io::new().unwrap();
    let dir = std::env::temp_dir().join(format!("sonic-io-notfound-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let dial = |io: &mut Io, path: &str| {
        let res = slot();
        let r = res.clone();
        let armed =
            sonic_io::UnixStream::dial(io, path, move |_, x| *r.borrow_mut() = Some(x.map(|_| ())));
        // A refusal at submission is as good an answer as the callback's.
        if let Err(e) = armed {
            return e;
        }
        run_until(io, || res.borrow().is_some());
        res.take().unwrap().unwrap_err()
    };
    let missing = dial(&mut io, dir.to_str().unwrap());
    assert_eq!(missing.kind(), sonic_io::ErrorKind::NotFound, "{missing}");
    // Bound, then its listener dropped: the file stays, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&dir).unwrap());
    let refused = dial(&mut io, dir.to_str().unwrap());
    assert_eq!(
        refused.kind(),
        sonic_io::ErrorKind::ConnectionRefused,
        "{refused}"
    );
    std::fs::remove_file(&dir).unwrap();
    io.poll().unwrap();
    assert_eq!(io.objects(), 0, "the failed dials' sockets are closed");
}
