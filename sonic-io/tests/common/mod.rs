//! Helpers shared by the sonic-io integration tests.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use sonic_io::{Io, TcpStream, UnixStream};

/// The longest any single wait in these tests may take before the test is declared hung.
pub(crate) const BOUND: Duration = Duration::from_secs(10);

/// A connected TCP pair registered in `io` (client, server), with TCP_NODELAY.
pub(crate) fn tcp_pair(io: &mut Io) -> (TcpStream, TcpStream) {
    let (a, b) = testkit::tcp_pair().unwrap();
    let a = sock::TcpConn::try_from(a).unwrap();
    let b = sock::TcpConn::try_from(b).unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (
        TcpStream::add(io, a).unwrap(),
        TcpStream::add(io, b).unwrap(),
    )
}

/// A connected Unix stream pair registered in `io`.
pub(crate) fn unix_pair(io: &mut Io) -> (UnixStream, UnixStream) {
    let [a, b] = sock::UnixConn::pair().unwrap();
    (
        UnixStream::add(io, a).unwrap(),
        UnixStream::add(io, b).unwrap(),
    )
}

/// A shared counter.
pub(crate) fn counter() -> Rc<Cell<usize>> {
    Rc::new(Cell::new(0))
}

/// A shared slot for a callback's result.
pub(crate) fn slot<T>() -> Rc<RefCell<Option<T>>> {
    Rc::new(RefCell::new(None))
}

/// Drives `io` until `done()` holds, failing after [`BOUND`].
pub(crate) fn run_until(io: &mut Io, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < BOUND,
            "the condition did not hold within {BOUND:?}"
        );
        io.run_one_for(Duration::from_millis(100)).unwrap();
    }
}

/// A clock moved by hand, for timer tests that must not depend on real time.
#[derive(Clone)]
pub(crate) struct Manual {
    base: std::time::Instant,
    offset: Rc<Cell<Duration>>,
}

impl Manual {
    /// A clock standing at its start, and the handle that moves it.
    pub(crate) fn new() -> (Manual, Rc<Cell<Duration>>) {
        let offset = Rc::new(Cell::new(Duration::ZERO));
        let clock = Manual {
            base: std::time::Instant::now(),
            offset: offset.clone(),
        };
        (clock, offset)
    }
}

impl iox::Clock for Manual {
    fn now(&self) -> std::time::Instant {
        self.base + self.offset.get()
    }
    fn sleep(&self, d: Duration) {
        self.offset.set(self.offset.get() + d);
    }
    fn yield_now(&self) {}
    fn spin(&self) {}
}

/// The scheduled echo's server side: reads 64 bytes exactly, writes them back, arms the next
/// read, and counts each message in `served`. The last read is cancelled when the Io goes.
pub(crate) fn serve_exact_echo(io: &mut Io, s: TcpStream, served: Rc<Cell<u32>>) {
    s.async_read_exact(io, vec![0u8; 64], move |io, r, buf| {
        let Ok(n) = r else { return };
        assert_eq!(n, 64);
        assert_eq!(s.write(io, &buf).unwrap(), 64);
        served.set(served.get() + 1);
        serve_exact_echo(io, s, served);
    })
    .unwrap();
}

/// Sends 512-byte datagrams on `a` until one does not complete at once (the peer's queue is
/// full, so it parks); returns the Io's stats from before that send. `sent` counts the
/// completed sends.
pub(crate) fn send_until_parked(
    io: &mut Io,
    a: &sonic_io::PacketConn<sock::UnixDatagram>,
    sent: &Rc<Cell<usize>>,
) -> sonic_io::Stats {
    loop {
        let before = io.stats();
        let n = sent.get();
        let s = sent.clone();
        a.async_write(io, vec![1u8; 512], move |_, r, _| {
            r.unwrap();
            s.set(s.get() + 1);
        })
        .unwrap();
        if sent.get() == n {
            return before;
        }
        assert!(n < 100_000, "the peer's queue never filled");
    }
}

/// Reads `queued` datagrams from the peer `b` (non-blocking), turning the Io while its queue
/// is empty, then runs until the parked send completed (`sent` reaches `queued + 1`).
pub(crate) fn drain_until_parked_send_completes(
    io: &mut Io,
    b: &std::os::unix::net::UnixDatagram,
    queued: usize,
    sent: &Rc<Cell<usize>>,
) {
    let mut buf = [0u8; 512];
    let mut read = 0;
    while read < queued {
        match b.recv(&mut buf) {
            Ok(_) => read += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                io.run_one_for(Duration::from_millis(10)).unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
    run_until(io, || sent.get() == queued + 1);
}
