//! TimerFd against the real kernel. Expirations are awaited with poll(2), never with a
//! sleep; no timing is asserted beyond the kernel's own arithmetic.
#![cfg(target_os = "linux")]

use std::os::fd::AsRawFd;
use std::time::Duration;

use iofd::{ClockId, Timer, TimerFd};

/// Waits (bounded: 10 s) for the timer's descriptor to become readable.
fn wait_readable(t: &TimerFd) {
    let mut p = libc::pollfd {
        fd: t.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 10_000) };
    assert_eq!(n, 1, "the timer did not fire within the bound");
}

#[test]
fn one_shot_fires_once() {
    let t = TimerFd::new(ClockId::Monotonic).unwrap();
    assert!(t.expirations().unwrap_err().is_would_block(), "disarmed");
    t.arm(Duration::from_millis(1), Duration::ZERO).unwrap();
    wait_readable(&t);
    assert_eq!(t.expirations().unwrap(), 1);
    assert!(t.expirations().unwrap_err().is_would_block());
    assert_eq!(
        t.setting().unwrap().remaining,
        Duration::ZERO,
        "a fired one-shot is disarmed"
    );
}

#[test]
fn zero_initial_fires_at_once_instead_of_disarming() {
    let t = TimerFd::new(ClockId::Monotonic).unwrap();
    Timer::arm(&t, Duration::ZERO, Duration::ZERO).unwrap();
    wait_readable(&t);
    assert_eq!(Timer::expirations(&t).unwrap(), 1);
}

#[test]
fn periodic_and_disarm() {
    let t = TimerFd::new(ClockId::Boottime).unwrap();
    t.periodic(Duration::from_millis(1)).unwrap();
    wait_readable(&t);
    assert!(t.expirations().unwrap() >= 1);
    let s = t.setting().unwrap();
    assert_eq!(s.interval, Duration::from_millis(1));
    Timer::disarm(&t).unwrap();
    assert_eq!(
        t.setting().unwrap(),
        iofd::TimerSetting {
            remaining: Duration::ZERO,
            interval: Duration::ZERO
        }
    );
    assert!(
        t.expirations().unwrap_err().is_would_block(),
        "disarming discards pending expirations"
    );
}

#[test]
fn absolute_time_is_on_the_timers_clock() {
    for clock in [ClockId::Monotonic, ClockId::Realtime, ClockId::Boottime] {
        let t = TimerFd::new(clock).unwrap();
        let now = clock.now().unwrap();
        t.arm_at(now + Duration::from_millis(1), Duration::ZERO)
            .unwrap();
        wait_readable(&t);
        assert_eq!(t.expirations().unwrap(), 1, "{clock:?}");
        // Far in the future on this clock: armed, with about that much time left.
        t.arm_at(
            clock.now().unwrap() + Duration::from_secs(3600),
            Duration::ZERO,
        )
        .unwrap();
        let left = t.setting().unwrap().remaining;
        assert!(
            left > Duration::from_secs(3500) && left <= Duration::from_secs(3600),
            "{clock:?} {left:?}"
        );
        // In the past: fires at once.
        t.arm_at(Duration::from_nanos(1), Duration::ZERO).unwrap();
        wait_readable(&t);
    }
}
