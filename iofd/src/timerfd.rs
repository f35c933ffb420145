//! [`TimerFd`]: a kernel timer read as a descriptor. See `timerfd_create(2)`.

use std::os::fd::OwnedFd;
use std::time::Duration;

use crate::{Fd, Timer, raw};

/// The clock a [`TimerFd`] counts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockId {
    /// `CLOCK_MONOTONIC`: steady, stops while the machine sleeps (what `Instant` uses).
    Monotonic,
    /// `CLOCK_REALTIME`: wall-clock time, jumps when the time is set.
    Realtime,
    /// `CLOCK_BOOTTIME`: like `Monotonic`, but counts suspended time too.
    Boottime,
}

impl ClockId {
    /// The `clockid_t`.
    pub const fn raw(self) -> libc::clockid_t {
        match self {
            ClockId::Monotonic => libc::CLOCK_MONOTONIC,
            ClockId::Realtime => libc::CLOCK_REALTIME,
            ClockId::Boottime => libc::CLOCK_BOOTTIME,
        }
    }

    /// The clock's current time, as a duration since its epoch (what
    /// [`TimerFd::arm_at`] takes). Through the vDSO: no syscall on common kernels.
    pub fn now(self) -> iox::Result<Duration> {
        let ts = raw::clock_now(self.raw())?;
        Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
}

/// A timer's setting: the time to the next expiration (zero: disarmed) and the interval
/// (zero: one-shot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerSetting {
    /// Time left until the next expiration; zero when disarmed.
    pub remaining: Duration,
    /// The period; zero for a one-shot timer.
    pub interval: Duration,
}

fn ts(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    }
}

fn dur(t: libc::timespec) -> Duration {
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// A kernel timer: arm it, and its descriptor becomes readable at each expiration.
/// Non-blocking and close-on-exec.
///
/// ```
/// use std::time::Duration;
/// use iofd::{ClockId, TimerFd};
/// let t = TimerFd::new(ClockId::Monotonic).unwrap();
/// assert!(t.expirations().unwrap_err().is_would_block());
/// t.arm(Duration::from_secs(30), Duration::from_secs(5)).unwrap();
/// let s = t.setting().unwrap();
/// assert!(s.remaining <= Duration::from_secs(30) && s.interval == Duration::from_secs(5));
/// t.disarm().unwrap();
/// assert_eq!(t.setting().unwrap().remaining, Duration::ZERO);
/// ```
#[derive(Debug)]
pub struct TimerFd {
    fd: Fd,
}

impl TimerFd {
    /// A disarmed timer on `clock`.
    pub fn new(clock: ClockId) -> iox::Result<TimerFd> {
        let fd = zcall::timerfd_create(clock.raw(), libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)?;
        Ok(TimerFd {
            fd: Fd::from(raw::owned(fd)),
        })
    }

    fn set(&self, flags: i32, value: Duration, interval: Duration) -> iox::Result<()> {
        let spec = libc::itimerspec {
            it_value: ts(value),
            it_interval: ts(interval),
        };
        zcall::timerfd_settime(self.fd.raw(), flags, &spec)?;
        Ok(())
    }

    /// Fires `initial` from now, then every `interval` (zero: once). A zero `initial` fires
    /// at once (the kernel would read it as "disarm"; 1 ns is used instead).
    #[inline]
    pub fn arm(&self, initial: Duration, interval: Duration) -> iox::Result<()> {
        self.set(0, initial.max(Duration::from_nanos(1)), interval)
    }

    /// Fires at `at`, a time on the timer's **own clock** (see [`ClockId::now`]; not Unix
    /// time unless the clock is `Realtime`), then every `interval`. A time in the past fires
    /// at once.
    pub fn arm_at(&self, at: Duration, interval: Duration) -> iox::Result<()> {
        self.set(
            libc::TFD_TIMER_ABSTIME,
            at.max(Duration::from_nanos(1)),
            interval,
        )
    }

    /// Fires every `interval`, the first time one `interval` from now.
    pub fn periodic(&self, interval: Duration) -> iox::Result<()> {
        self.arm(interval, interval)
    }

    /// Stops the timer; pending expirations are discarded.
    pub fn disarm(&self) -> iox::Result<()> {
        self.set(0, Duration::ZERO, Duration::ZERO)
    }

    /// Expirations since the last read (more than 1 when reads fell behind a periodic
    /// timer); `WouldBlock` when none.
    #[inline]
    pub fn expirations(&self) -> iox::Result<u64> {
        let mut b = [0u8; 8];
        if self.fd.read(&mut b)? != 8 {
            return Err(iox::Error::with_context(
                iox::ErrorKind::UnexpectedEof,
                "timerfd read returned less than 8 bytes",
            ));
        }
        Ok(u64::from_ne_bytes(b))
    }

    /// The time to the next expiration and the interval.
    pub fn setting(&self) -> iox::Result<TimerSetting> {
        let cur = zcall::timerfd_gettime(self.fd.raw())?;
        Ok(TimerSetting {
            remaining: dur(cur.it_value),
            interval: dur(cur.it_interval),
        })
    }

    /// The descriptor.
    pub fn as_fd_ref(&self) -> &Fd {
        &self.fd
    }
}

impl Timer for TimerFd {
    fn arm(&self, initial: Duration, interval: Duration) -> iox::Result<()> {
        TimerFd::arm(self, initial, interval)
    }
    fn disarm(&self) -> iox::Result<()> {
        TimerFd::disarm(self)
    }
    fn expirations(&self) -> iox::Result<u64> {
        TimerFd::expirations(self)
    }
}

crate::handle_traits!(TimerFd);

impl From<OwnedFd> for TimerFd {
    /// Wraps a descriptor that must be a timerfd.
    fn from(fd: OwnedFd) -> TimerFd {
        TimerFd { fd: Fd::from(fd) }
    }
}
