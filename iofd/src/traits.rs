//! The handle traits: what a signaler and a timer can do, whatever descriptor backs them.

use std::time::Duration;

/// Something another party can wake, and that can be waited on (an [`EventFd`](crate::EventFd)).
pub trait Signaler {
    /// Adds `value` to the count and wakes a waiter.
    fn signal(&self, value: u64) -> iox::Result<()>;
    /// Takes the count (or one unit of it, in semaphore mode); `WouldBlock` when it is zero
    /// on a non-blocking handle.
    fn wait(&self) -> iox::Result<u64>;
}

/// A timer that fires once or periodically (a [`TimerFd`](crate::TimerFd)).
pub trait Timer {
    /// Fires after `initial`, then every `interval` (zero: once).
    fn arm(&self, initial: Duration, interval: Duration) -> iox::Result<()>;
    /// Stops the timer.
    fn disarm(&self) -> iox::Result<()>;
    /// Expirations since the last read; `WouldBlock` when none on a non-blocking handle.
    fn expirations(&self) -> iox::Result<u64>;
}
