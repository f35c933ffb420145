//! The ladder's shape, cap, jitter bounds and deadline clamping, on a fake clock: no test
//! here depends on wall time.

mod common;
use common::FakeClock;
use std::time::Duration;

use iox::{
    Backoff, BackoffConfig, Deadline, Error, ErrorKind, Ladder, Step, retry_watching_with,
    retry_with,
};

const US: fn(u64) -> Duration = Duration::from_micros;
const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn iox_preset_is_block_linear_to_100ms() {
    let mut b = Backoff::new(BackoffConfig::IOX);
    let got: Vec<Step> = (0..10).map(|_| b.next_step()).collect();
    let want: Vec<Step> = [500, 1000, 1000, 1500, 1500, 1500, 2000, 2000, 2000, 2000]
        .iter()
        .map(|&u| Step::Sleep(US(u)))
        .collect();
    assert_eq!(got, want);
    // Block 200 reaches the cap; it never goes beyond.
    let ladder = BackoffConfig::IOX.ladder;
    assert_eq!(Backoff::sleep_for(ladder, 199 * 200 / 2), MS(100));
    assert_eq!(Backoff::sleep_for(ladder, 1_000_000), MS(100));
    assert!(Backoff::sleep_for(ladder, 198 * 199 / 2 - 1) < MS(100));
}

#[test]
fn network_preset_is_the_go_tier_table() {
    let mut b = Backoff::new(BackoffConfig::NETWORK);
    let got: Vec<Step> = (0..18).map(|_| b.next_step()).collect();
    let ms = [
        1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512, 576, 640, 640, 640,
    ];
    assert_eq!(
        got,
        ms.iter().map(|&m| Step::Sleep(MS(m))).collect::<Vec<_>>()
    );
}

#[test]
fn low_latency_preset_spins_then_yields_then_doubles_to_its_cap() {
    let c = BackoffConfig::LOW_LATENCY;
    assert_eq!(BackoffConfig::default(), c);
    let mut b = Backoff::new(c);
    for _ in 0..c.spins {
        assert_eq!(b.next_step(), Step::Spin);
    }
    for _ in 0..c.yields {
        assert_eq!(b.next_step(), Step::Yield);
    }
    let sleeps: Vec<Step> = (0..7).map(|_| b.next_step()).collect();
    let want = [US(50), US(100), US(200), US(400), US(800), MS(1), MS(1)];
    assert_eq!(sleeps, want.map(Step::Sleep));
    b.reset();
    assert_eq!(b.steps(), 0);
    assert_eq!(
        b.next_step(),
        if c.spins > 0 { Step::Spin } else { Step::Yield }
    );
    assert_eq!(
        Backoff::sleep_for(
            Ladder::Exponential {
                first: US(1),
                cap: MS(1)
            },
            200
        ),
        MS(1)
    );
}

#[test]
fn jitter_stays_within_an_eighth() {
    let mut b = Backoff::with_seed(BackoffConfig::IOX, 42);
    let d = MS(8);
    let mut low = d;
    let mut high = d;
    for _ in 0..10_000 {
        let j = b.jitter(d);
        assert!(j >= d - d / 8 && j <= d + d / 8, "{j:?}");
        low = low.min(j);
        high = high.max(j);
    }
    // The whole band is used, both ways.
    assert!(low < d - d / 10 && high > d + d / 10, "{low:?} {high:?}");
    let mut flat = Backoff::new(BackoffConfig {
        jitter: false,
        ..BackoffConfig::IOX
    });
    assert_eq!(flat.jitter(d), d);
}

#[test]
fn a_sleep_never_ends_after_the_deadline() {
    for preset in [
        BackoffConfig::IOX,
        BackoffConfig::NETWORK,
        BackoffConfig::LOW_LATENCY,
    ] {
        let clock = FakeClock::new();
        let limit = MS(37);
        let deadline = Deadline::at(clock.start + limit);
        let mut b = Backoff::with_seed(preset, 7);
        let mut waits = 0;
        while b.wait_with(deadline, &clock).is_ok() {
            waits += 1;
            assert!(
                clock.elapsed() <= limit,
                "{preset:?} slept past the deadline: {:?}",
                clock.elapsed()
            );
            assert!(waits < 1_000_000);
        }
        // It stopped exactly at the deadline, having slept right up to it.
        assert_eq!(clock.elapsed(), limit, "{preset:?}");
        assert_eq!(
            b.wait_with(deadline, &clock).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
    }
}

#[test]
fn no_deadline_means_the_ladder_runs_uncapped_by_time() {
    let clock = FakeClock::new();
    let mut b = Backoff::with_seed(BackoffConfig::LOW_LATENCY, 1);
    for _ in 0..300 {
        b.wait_with(Deadline::NONE, &clock).unwrap();
    }
    assert_eq!(clock.spins.get(), 200);
    assert_eq!(clock.yields.get(), 20);
    assert_eq!(clock.sleeps.borrow().len(), 80);
}

#[test]
fn retry_without_a_deadline_returns_would_block_at_once() {
    let clock = FakeClock::new();
    let mut calls = 0;
    let r: iox::Result<()> = retry_with(Deadline::NONE, &mut Backoff::default(), &clock, || {
        calls += 1;
        Err(Error::WOULD_BLOCK)
    });
    assert_eq!(r, Err(Error::WOULD_BLOCK));
    assert_eq!(calls, 1);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

#[test]
fn retry_with_a_past_deadline_tries_once_then_times_out() {
    let clock = FakeClock::new();
    let mut calls = 0;
    let past = Deadline::at(clock.start);
    let r: iox::Result<()> = retry_with(past, &mut Backoff::default(), &clock, || {
        calls += 1;
        Err(Error::WOULD_BLOCK)
    });
    assert_eq!(r.unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(calls, 1);
}

#[test]
fn retry_climbs_until_success_or_a_real_error() {
    let clock = FakeClock::new();
    let deadline = Deadline::at(clock.start + MS(100));
    let mut calls = 0;
    let r = retry_with(
        deadline,
        &mut Backoff::with_seed(BackoffConfig::IOX, 3),
        &clock,
        || {
            calls += 1;
            if calls < 5 {
                Err(Error::WOULD_BLOCK)
            } else {
                Ok(calls)
            }
        },
    );
    assert_eq!(r, Ok(5));
    assert_eq!(clock.sleeps.borrow().len(), 4);
    let r: iox::Result<()> = retry_with(deadline, &mut Backoff::default(), &clock, || {
        Err(Error::CLOSED)
    });
    assert_eq!(r, Err(Error::CLOSED), "a failure is returned at once");
    let mut n = 0;
    let timed: iox::Result<()> = retry_with(
        deadline,
        &mut Backoff::with_seed(BackoffConfig::IOX, 3),
        &clock,
        || {
            n += 1;
            Err(Error::WOULD_BLOCK)
        },
    );
    assert_eq!(timed.unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(
        clock.elapsed(),
        MS(100),
        "the last sleep ended exactly at the deadline"
    );
    assert!(n > 1);
}

/// A deadline another thread changes while the wait is on reaches the wait at its next
/// step: the deadline is read again before every rung.
#[test]
fn retry_watching_sees_a_deadline_moved_into_the_past() {
    let clock = FakeClock::new();
    let far = Deadline::at(clock.start + Duration::from_secs(3600));
    let deadline = std::cell::Cell::new(far);
    let mut calls = 0;
    let r: iox::Result<()> = retry_watching_with(
        || deadline.get(),
        &mut Backoff::with_seed(BackoffConfig::IOX, 5),
        &clock,
        || {
            calls += 1;
            if calls == 4 {
                deadline.set(Deadline::at(clock.start));
            }
            Err(Error::WOULD_BLOCK)
        },
    );
    assert_eq!(r.unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(calls, 4, "no attempt after the change");
    assert_eq!(clock.sleeps.borrow().len(), 3, "no sleep after the change");
}

#[test]
fn retry_watching_sees_a_deadline_cleared() {
    let clock = FakeClock::new();
    let deadline = std::cell::Cell::new(Deadline::at(clock.start + MS(500)));
    let mut calls = 0;
    let r: iox::Result<()> = retry_watching_with(
        || deadline.get(),
        &mut Backoff::with_seed(BackoffConfig::IOX, 5),
        &clock,
        || {
            calls += 1;
            if calls == 2 {
                deadline.set(Deadline::NONE);
            }
            Err(Error::WOULD_BLOCK)
        },
    );
    assert_eq!(r, Err(Error::WOULD_BLOCK), "back to non-blocking");
    assert_eq!(calls, 2);
}

#[test]
fn retry_watching_sees_a_deadline_extended() {
    let clock = FakeClock::new();
    let deadline = std::cell::Cell::new(Deadline::at(clock.start + MS(2)));
    let mut calls = 0;
    let r = retry_watching_with(
        || deadline.get(),
        &mut Backoff::with_seed(BackoffConfig::IOX, 5),
        &clock,
        || {
            calls += 1;
            if calls == 2 {
                deadline.set(Deadline::at(clock.start + MS(100)));
            }
            if calls < 8 {
                Err(Error::WOULD_BLOCK)
            } else {
                Ok(calls)
            }
        },
    );
    assert_eq!(r, Ok(8), "the later deadline let the wait go on");
    assert!(clock.elapsed() > MS(2));
}
