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
