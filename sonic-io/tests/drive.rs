//! Every drive call's result when idle, on timeout, after close, and from inside a callback.
//! EINTR is a fault scenario in `faults_reactor.rs`.

mod common;
use common::{BOUND, counter};

use std::time::Duration;

use sonic_io::{ErrorKind, Io, Timer};

#[test]
fn idle_drive_calls_return_zero_without_blocking_forever() {
    let mut io = Io::new().unwrap();
    assert_eq!(io.pending(), 0);
    assert_eq!(io.poll_one().unwrap(), 0);
    assert_eq!(io.poll().unwrap(), 0);
    assert_eq!(io.run_one_for(Duration::from_millis(2)).unwrap(), 0);
    io.run_pending().unwrap();
}

#[test]
fn run_one_for_returns_zero_when_its_bound_passes_before_a_timer() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    let fired = counter();
    let f = fired.clone();
    t.schedule_once(&mut io, Duration::from_secs(3600), move |_, _| f.set(1))
        .unwrap();
    assert_eq!(io.run_one_for(Duration::from_millis(1)).unwrap(), 0);
    assert_eq!(fired.get(), 0);
    assert_eq!(io.pending(), 1);
    assert!(t.cancel(&mut io));
    assert_eq!(io.pending(), 0);
}

#[test]
fn run_one_for_returns_the_timer_that_fires_within_it() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    t.schedule_once(&mut io, Duration::from_micros(300), |_, _| {})
        .unwrap();
    let mut n = 0;
    let start = std::time::Instant::now();
    while n == 0 && start.elapsed() < BOUND {
        n = io.run_one_for(BOUND).unwrap();
    }
    assert_eq!(n, 1);
    assert!(!t.scheduled(&mut io));
}

#[test]
fn drive_calls_after_close_return_closed() {
    let mut io = Io::new().unwrap();
    io.close().unwrap();
    io.close().unwrap();
    assert!(io.closed());
    for r in [
        io.run_one(),
        io.run_one_for(Duration::ZERO),
        io.poll_one(),
        io.poll(),
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Closed);
    }
    assert_eq!(io.run().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(io.run_pending().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(
        io.run_warm(10, Duration::ZERO).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(Timer::new(&mut io).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(io.post(|_| {}).unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn a_drive_call_inside_a_callback_is_refused() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    let seen = common::slot();
    let s = seen.clone();
    t.schedule_once(&mut io, Duration::ZERO, move |io, _| {
        *s.borrow_mut() = Some(io.poll_one().unwrap_err().kind());
    })
    .unwrap();
    io.run_pending().unwrap();
    assert_eq!(*seen.borrow(), Some(ErrorKind::InvalidInput));
}

#[test]
fn run_returns_when_a_callback_closes_the_io_and_run_warm_too() {
    for warm in [false, true] {
        let mut io = Io::new().unwrap();
        let t = Timer::new(&mut io).unwrap();
        t.schedule_once(&mut io, Duration::from_micros(100), |io, _| {
            io.close().unwrap()
        })
        .unwrap();
        if warm {
            io.run_warm(1000, Duration::from_millis(1)).unwrap();
        } else {
            io.run().unwrap();
        }
        assert!(io.closed());
    }
}

#[test]
fn a_panicking_callback_leaves_the_io_usable() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    t.schedule_once(&mut io, Duration::ZERO, |_, _| panic!("callback panic"))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| io.run_pending()));
    assert!(r.is_err());
    let fired = counter();
    let f = fired.clone();
    t.schedule_once(&mut io, Duration::ZERO, move |_, _| f.set(1))
        .unwrap();
    io.run_pending().unwrap();
    assert_eq!(fired.get(), 1, "drive calls work after the panic");
}

#[test]
fn poll_runs_everything_ready_and_counts_it() {
    let mut io = Io::new().unwrap();
    for _ in 0..3 {
        io.post(|_| {}).unwrap();
    }
    assert_eq!(io.posted(), 3);
    assert_eq!(io.poll().unwrap(), 3);
    assert_eq!(io.posted(), 0);
}
