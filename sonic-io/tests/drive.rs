//! Every drive call's result when idle, on timeout, on EINTR, after close, and from inside
//! a callback.

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

#[cfg(target_os = "linux")]
/// A signal from another thread interrupts the wait: `run_one_for` returns `Ok(0)` before
/// its bound; `run_one` retries and returns only with a completion.
#[test]
fn eintr_ends_run_one_for_early_and_is_retried_by_run_one() {
    if let Some(why) = testkit::qemu::behaviour_unsupported("self-directed signals") {
        testkit::skip_message(format_args!("{why}"));
        return;
    }
    testkit::in_subprocess(|| {
        testkit::install_noop_handler(libc::SIGUSR1).unwrap();
        let mut io = Io::new().unwrap();
        let tid = zcall::gettid();
        let pid = zcall::getpid();
        let poster = io.poster();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        // The loop thread is blocked in the kernel when its state in /proc is 'S'.
        let blocked = move || {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()
                        .map(|r| r.trim_start().starts_with('S'))
                })
                .unwrap_or(false)
        };
        let killer = std::thread::spawn(move || {
            // Round 0 interrupts run_one_for; round 1 interrupts run_one three times, then
            // posts to end it. A signal that lands just before the wait only runs the
            // handler, so signals repeat while the thread is blocked until it reports back.
            for round in 0..2 {
                go_rx.recv().unwrap();
                let mut sent = 0;
                while done_rx.try_recv().is_err() {
                    if blocked() {
                        zcall::tgkill(pid, tid, libc::SIGUSR1).unwrap();
                        sent += 1;
                        if round == 1 && sent == 3 {
                            poster.post(|io| io.close().unwrap()).unwrap();
                        }
                    }
                    std::thread::yield_now();
                }
            }
        });
        go_tx.send(()).unwrap();
        let n = io.run_one_for(Duration::from_secs(3600)).unwrap();
        assert_eq!(n, 0, "EINTR returns 0 long before the one-hour bound");
        done_tx.send(()).unwrap();
        go_tx.send(()).unwrap();
        let n = io.run_one().unwrap();
        assert_eq!(
            n, 1,
            "run_one went on through the signals until the post ran"
        );
        assert!(io.closed());
        done_tx.send(()).unwrap();
        killer.join().unwrap();
    });
}
