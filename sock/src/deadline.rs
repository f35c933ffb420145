//! Per-socket read and write deadlines, and the Strike-Spin-Adapt loop that honours them.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iox::{Backoff, BackoffConfig, Deadline};

/// The ladder every socket climbs while a deadline is set: [`BackoffConfig::LOW_LATENCY`]
/// (200 spins, 20 yields, then sleeps from 50 µs doubling to 1 ms, each clamped to the
/// deadline). Chosen for latency: a ready socket is noticed within about a millisecond
/// plus scheduling, not the Go package's mobile-network tiers (1 ms to 640 ms).
pub const SOCKET_BACKOFF: BackoffConfig = BackoffConfig::LOW_LATENCY;

/// Instants are stored as nanoseconds after this process-wide origin; 0 means none.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// One deadline, shareable between threads (`&self` setters, like std's timeouts).
#[derive(Debug, Default)]
pub(crate) struct AtomicDeadline(AtomicU64);

impl AtomicDeadline {
    pub(crate) fn set(&self, d: Deadline) {
        let v = match d.instant() {
            None => 0,
            // An instant at or before the origin is already past: store 1 ns.
            Some(at) => at
                .saturating_duration_since(origin())
                .as_nanos()
                .clamp(1, u64::MAX as u128) as u64,
        };
        self.0.store(v, Ordering::Release);
    }

    pub(crate) fn get(&self) -> Deadline {
        match self.0.load(Ordering::Acquire) {
            0 => Deadline::NONE,
            n => Deadline::at(origin() + Duration::from_nanos(n)),
        }
    }
}

/// A socket's two deadlines.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    pub(crate) read: AtomicDeadline,
    pub(crate) write: AtomicDeadline,
}

/// Strike, then (only with a deadline) spin and adapt until `op` completes or the deadline
/// passes. Without a deadline `WouldBlock` is returned at once; a deadline already passed
/// gives `TimedOut` after the one attempt.
///
/// The deadline is read again (one atomic load) before every rung of the ladder, so a
/// deadline another thread changes during the wait reaches it at its next step: moved into
/// the past, the wait ends with `TimedOut`; cleared, with `WouldBlock`; moved later, the wait
/// goes on. The backoff is made only when the first attempt would block.
#[inline]
pub(crate) fn run<T>(
    deadline: &AtomicDeadline,
    mut op: impl FnMut() -> iox::Result<T>,
) -> iox::Result<T> {
    match op() {
        Err(e) if e.is_would_block() => {}
        other => return other,
    }
    let d = deadline.get();
    if d.is_none() {
        return Err(iox::Error::WOULD_BLOCK);
    }
    let mut backoff = Backoff::new(SOCKET_BACKOFF);
    backoff.wait(d)?;
    iox::retry_watching(|| deadline.get(), &mut backoff, op)
}
