//! [`Deadline`]: an optional monotonic instant, and the [`Clock`] that backoff waits on.

use std::time::{Duration, Instant};

/// When an operation must give up: a monotonic instant (`CLOCK_MONOTONIC`), or none.
///
/// With no deadline a non-blocking operation returns `WouldBlock` at once; with one it
/// retries under a [`Backoff`](crate::Backoff) until it completes or the deadline passes.
///
/// ```
/// use std::time::Duration;
/// use iox::Deadline;
/// let none = Deadline::NONE;
/// assert!(none.is_none() && !none.has_passed());
/// let soon = Deadline::after(Duration::from_secs(60));
/// assert!(soon.remaining().unwrap() <= Duration::from_secs(60));
/// assert!(Deadline::after(Duration::ZERO).has_passed());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline.
    pub const NONE: Deadline = Deadline(None);

    /// A deadline at `at`.
    #[inline]
    pub const fn at(at: Instant) -> Deadline {
        Deadline(Some(at))
    }

    /// A deadline `d` from now; a duration too large to represent means no deadline.
    #[inline]
    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(d))
    }

    /// The instant, if any.
    #[inline]
    pub const fn instant(self) -> Option<Instant> {
        self.0
    }

    /// `true` when there is no deadline.
    #[inline]
    pub const fn is_none(self) -> bool {
        self.0.is_none()
    }

    /// `true` when the deadline is at or before `now`.
    #[inline]
    pub fn has_passed_at(self, now: Instant) -> bool {
        self.0.is_some_and(|d| now >= d)
    }

    /// `true` when the deadline has passed.
    #[inline]
    pub fn has_passed(self) -> bool {
        self.0.is_some() && self.has_passed_at(Instant::now())
    }

    /// Time left at `now`: `None` without a deadline, zero once it passed.
    #[inline]
    pub fn remaining_at(self, now: Instant) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(now))
    }

    /// Time left now: `None` without a deadline, zero once it passed.
    #[inline]
    pub fn remaining(self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }
}

impl From<Instant> for Deadline {
    fn from(at: Instant) -> Deadline {
        Deadline(Some(at))
    }
}

impl From<Option<Instant>> for Deadline {
    fn from(at: Option<Instant>) -> Deadline {
        Deadline(at)
    }
}

/// What a backoff waits with: the time, a sleep, a yield, a spin. [`SystemClock`] is the
/// real one; tests substitute a fake one so that no test depends on wall time.
pub trait Clock {
    /// The current monotonic time.
    fn now(&self) -> Instant;
    /// Sleeps for `d`.
    fn sleep(&self, d: Duration);
    /// Gives the CPU to another thread.
    fn yield_now(&self);
    /// One spin-wait hint (`PAUSE`, `YIELD`, ...).
    fn spin(&self);
}

/// The real clock: `Instant::now`, `thread::sleep`, `thread::yield_now`, `hint::spin_loop`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
    #[inline]
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
    #[inline]
    fn yield_now(&self) {
        std::thread::yield_now()
    }
    #[inline]
    fn spin(&self) {
        std::hint::spin_loop()
    }
}
