//! Readiness: what the poller reported for an object, cached in the object (backends map
//! their masks to it; the core's operations read it).

/// Readiness as a small bit set, the same on every platform.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ready(u8);

impl Ready {
    pub(crate) const EMPTY: Ready = Ready(0);
    pub(crate) const READABLE: Ready = Ready(1);
    pub(crate) const WRITABLE: Ready = Ready(2);
    pub(crate) const READ_CLOSED: Ready = Ready(4);
    pub(crate) const HUP: Ready = Ready(8);
    pub(crate) const ERROR: Ready = Ready(16);
    /// Urgent (out-of-band) data was signalled (`EPOLLPRI`: TCP urgent data, a Unix stream's
    /// `MSG_OOB`). The kernel ends a read at the urgent mark with bytes queued behind it, so
    /// from then on a short stream read no longer proves the socket drained: only
    /// `WouldBlock` clears the readable mark. Set by events, never cleared.
    pub(crate) const URGENT: Ready = Ready(32);
    /// A stream may have bytes queued that no edge will announce: a receive the ring made
    /// (completion mode) took what an edge reported, and may have left more. A read waiting
    /// for readiness tries its syscall (as for `READABLE`); a read the ring completes goes
    /// to the kernel without one. Cleared with `READABLE`.
    pub(crate) const UNSURE: Ready = Ready(64);
    /// What lets a stream read try its syscall, and what a read that finds the socket
    /// drained clears.
    pub(crate) const READ_HINTS: Ready = Ready(1 | 64);
    /// A stream whose read side saw any of these will not see another edge for it: every
    /// read tries its syscall, which returns the rest of the data, the error, or end of
    /// stream. Set by events, never cleared.
    pub(crate) const READ_ENDED: Ready = Ready(4 | 8 | 16);
    /// The same for the write side: the next send fails at once (`EPIPE`, the error).
    pub(crate) const WRITE_ENDED: Ready = Ready(8 | 16);

    /// Both sets (`|`, usable in a `const`).
    #[inline]
    pub(crate) const fn union(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }

    #[inline]
    pub(crate) fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    /// `true` if any flag of `other` is set.
    #[inline]
    pub(crate) fn intersects(self, other: Ready) -> bool {
        self.0 & other.0 != 0
    }

    #[inline]
    pub(crate) fn remove(&mut self, other: Ready) {
        self.0 &= !other.0;
    }
}

impl core::ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, o: Ready) -> Ready {
        self.union(o)
    }
}

impl core::ops::BitOrAssign for Ready {
    fn bitor_assign(&mut self, o: Ready) {
        self.0 |= o.0;
    }
}
