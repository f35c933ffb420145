//! What an `Io` did: its syscalls by kind and how its completions were delivered.

/// Counters of one [`Io`](crate::Io), read with [`Io::stats`](crate::Io::stats) and reset
/// with [`Io::reset_stats`](crate::Io::reset_stats). The syscalls of operations, waits,
/// registrations and wait-timer arming are counted here, so a test can assert a path's exact
/// cost. Not counted: reading the wait timer's and the waker's counters after they fire, and
/// `close(2)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Poller waits (`epoll_wait`/`epoll_pwait2`/`kevent` waiting; on io_uring, the
    /// `io_uring_enter` that waits, which also submits what was queued).
    pub waits: u64,
    /// Events those waits returned (readiness of objects, the wait timer, the waker). More
    /// events than completions means wakes that found nothing to do.
    pub events: u64,
    /// Interest-list changes (`epoll_ctl`, or `kevent` registering; on io_uring, the
    /// `io_uring_enter` calls that submit outside a wait: see [`sqes`](Self::sqes)).
    pub ctl: u64,
    /// Arming the wait timer (`timerfd_settime`).
    pub timer_arms: u64,
    /// Read-side syscalls made by operations (`readv`/`recvmsg` for streams, `recv`, `recvfrom`, `read`,
    /// `accept4`, `getsockopt(SO_ERROR)`); a read served from a stream's read-ahead makes none.
    pub reads: u64,
    /// Write-side syscalls of operations (`send`, `sendto`, `write`, `connect`).
    pub writes: u64,
    /// Operations that completed within their submission (no wait).
    pub immediate: u64,
    /// Operations that completed after waiting for readiness.
    pub scheduled: u64,
    /// Completions deferred to the ready queue by the dispatch-depth limit.
    pub deferred: u64,
    /// Wakes of the loop by a [`Poster`](crate::Poster).
    pub wakes: u64,
    /// Entries queued to the io_uring (the `Uring` backend: polls armed, updated and
    /// removed). Not syscalls: the next wait submits them, with [`ctl`](Self::ctl) counting
    /// only the `io_uring_enter` calls that submit outside a wait (a removal, which must
    /// reach the kernel before its descriptor is closed, or a full queue). An entry taken
    /// back before it was submitted (a read cancelled in its turn) still counts: it goes
    /// to the kernel as a no-op whose completion is ignored.
    pub sqes: u64,
}

impl Stats {
    /// Every syscall counted: waits, interest changes, timer arms, reads and writes.
    pub fn syscalls(&self) -> u64 {
        self.waits + self.ctl + self.timer_arms + self.reads + self.writes
    }
}
