//! Posts from other threads and timers: order, cancellation, drift-free repeats.

mod common;
use common::{BOUND, Manual, counter, run_until};

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sonic_io::{ErrorKind, Io, Timer};

#[test]
fn posts_from_four_threads_all_run_on_the_io_thread() {
    let mut io = Io::new().unwrap();
    let ran = Rc::new(Cell::new(0u64));
    let sum = Arc::new(AtomicU64::new(0));
    let me = std::thread::current().id();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let p = io.poster();
            let sum = sum.clone();
            std::thread::spawn(move || {
                for i in 0..1000u64 {
                    let sum = sum.clone();
                    p.post(move |_| {
                        assert_eq!(std::thread::current().id(), me);
                        sum.fetch_add(t * 1000 + i, Ordering::Relaxed);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    let r = ran.clone();
    let start = Instant::now();
    while sum.load(Ordering::Relaxed) != (0..4000u64).sum::<u64>() {
        assert!(start.elapsed() < BOUND);
        r.set(r.get() + io.run_one_for(Duration::from_millis(50)).unwrap() as u64);
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ran.get(), 4000);
    assert_eq!(io.posted(), 0);
}

#[test]
fn a_posted_closure_may_post_again_and_it_runs_on_a_later_turn() {
    let mut io = Io::new().unwrap();
    let p = io.poster();
    let p2 = p.clone();
    std::thread::spawn(move || {
        p.post(move |_| p2.post(|io| io.close().unwrap()).unwrap())
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(io.run_one().unwrap(), 1, "the first post ran alone");
    assert!(!io.closed());
    assert_eq!(io.posted(), 1, "its own post waits for the next turn");
    io.run().unwrap();
    assert!(io.closed());
}

#[test]
fn a_hundred_thousand_timers_half_cancelled_fire_in_deadline_order() {
    let mut io = Io::builder().timers(100_000).build().unwrap();
    let fired = Rc::new(RefCell::new(Vec::with_capacity(50_000)));
    let mut timers = Vec::with_capacity(100_000);
    let mut deadlines = Vec::with_capacity(100_000);
    for i in 0..100_000usize {
        let t = Timer::new(&mut io).unwrap();
        // Deadlines scattered over 0..50 ms, not in arm order.
        let d = Duration::from_nanos((i as u64 * 7_919_993) % 50_000_000);
        let f = fired.clone();
        t.schedule_once(&mut io, d, move |io, t| {
            assert!(t.deadline(io).is_none(), "a fired once-timer is idle");
            f.borrow_mut().push(i);
        })
        .unwrap();
        deadlines.push(t.deadline(&mut io).unwrap());
        timers.push(t);
    }
    for t in timers.iter().skip(1).step_by(2) {
        assert!(t.cancel(&mut io));
    }
    assert_eq!(io.pending(), 50_000);
    let f = fired.clone();
    run_until(&mut io, || f.borrow().len() == 50_000);
    let fired = fired.borrow();
    assert!(fired.iter().all(|i| i % 2 == 0), "no cancelled timer fired");
    assert!(
        fired.windows(2).all(|w| deadlines[w[0]] <= deadlines[w[1]]),
        "deadline order"
    );
    assert_eq!(io.pending(), 0);
}

#[test]
fn a_repeating_timer_keeps_its_phase_under_an_injected_clock() {
    let (clock, offset) = Manual::new();
    let mut io = Io::builder().clock(Box::new(clock)).build().unwrap();
    let period = Duration::from_millis(10);
    let t = Timer::new(&mut io).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let off = offset.clone();
    t.schedule_repeating(&mut io, period, move |io, t| {
        // The callback itself takes 3 ms of clock time: the schedule must not drift.
        off.set(off.get() + Duration::from_millis(3));
        s.borrow_mut().push(t.deadline(io).unwrap());
    })
    .unwrap();
    for k in 1..=5u32 {
        offset.set(period * k + Duration::from_micros(1) * k);
        io.poll().unwrap();
    }
    // Deadlines computed at each firing: start + (k+1)·period, exactly.
    let expect: Vec<Duration> = (2..=6u32).map(|k| period * k).collect();
    assert_eq!(*seen.borrow(), expect);
    // The loop falls 3.5 periods behind: missed periods are skipped, the phase is kept.
    offset.set(period * 9 + Duration::from_millis(5));
    io.poll().unwrap();
    assert_eq!(seen.borrow().last().copied(), Some(period * 10));
    assert_eq!(
        seen.borrow().len(),
        6,
        "one firing for the missed stretch, not four"
    );
    assert!(t.cancel(&mut io));
}

#[test]
fn zero_delay_fires_on_the_next_turn_and_rescheduling_needs_a_cancel() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    let n = counter();
    let c = n.clone();
    t.schedule_once(&mut io, Duration::ZERO, move |io, t| {
        c.set(c.get() + 1);
        if c.get() < 3 {
            // Re-arming with 0 from the callback fires on the following turn, not this one.
            t.schedule_once(io, Duration::ZERO, |_, _| {}).unwrap();
        }
    })
    .unwrap();
    assert_eq!(n.get(), 0, "never inside schedule_once");
    let e = t
        .schedule_once(&mut io, Duration::ZERO, |_, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(io.poll_one().unwrap(), 1);
    assert_eq!(n.get(), 1);
    assert!(t.scheduled(&mut io));
    assert_eq!(
        t.schedule_repeating(&mut io, Duration::ZERO, |_, _| {})
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    t.close(&mut io);
    assert!(!t.scheduled(&mut io));
    assert_eq!(io.pending(), 0);
}
