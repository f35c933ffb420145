//! How a peer's operations completed.

/// Counters of one [`UdpPeer`](crate::UdpPeer), read with
/// [`stats`](crate::UdpPeer::stats). "Immediate" means the callback ran within the call that
/// submitted the operation (the syscall succeeded at once); "scheduled" means after the Io
/// waited for readiness, or deferred to a later turn by the dispatch-depth limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reads (single or batch) that completed within their submission.
    pub reads_immediate: u64,
    /// Reads that completed later.
    pub reads_scheduled: u64,
    /// Writes that completed within their submission.
    pub writes_immediate: u64,
    /// Writes that completed later (the socket had no room, or `ENOBUFS`).
    pub writes_scheduled: u64,
}

impl Stats {
    /// The share of reads that completed at once, between 0 and 1 (1 with no reads).
    pub fn immediate_read_ratio(&self) -> f64 {
        let total = self.reads_immediate + self.reads_scheduled;
        if total == 0 {
            1.0
        } else {
            self.reads_immediate as f64 / total as f64
        }
    }
}
