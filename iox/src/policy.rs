//! What a copy or tee does when a side says `WouldBlock` or `More`: the [`SemanticPolicy`].

use core::fmt;

/// Which step of a copy or tee raised a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// The copy's read from the source.
    CopyRead,
    /// The copy's write to the destination.
    CopyWrite,
    /// A [`WriteTo`](crate::WriteTo) fast path.
    CopyWriteTo,
    /// A [`ReadFrom`](crate::ReadFrom) fast path.
    CopyReadFrom,
    /// A [`TeeReader`](crate::TeeReader)'s read.
    TeeReaderRead,
    /// A [`TeeReader`](crate::TeeReader)'s write to its side.
    TeeReaderSideWrite,
    /// A [`TeeWriter`](crate::TeeWriter)'s write to its primary.
    TeeWriterPrimaryWrite,
    /// A [`TeeWriter`](crate::TeeWriter)'s write to its tee.
    TeeWriterTeeWrite,
}

impl Op {
    /// Every op, in declaration order.
    pub const ALL: [Op; 8] = [
        Op::CopyRead,
        Op::CopyWrite,
        Op::CopyWriteTo,
        Op::CopyReadFrom,
        Op::TeeReaderRead,
        Op::TeeReaderSideWrite,
        Op::TeeWriterPrimaryWrite,
        Op::TeeWriterTeeWrite,
    ];

    /// `true` for the steps that write (where the Go library's write-only policy retries).
    pub const fn is_write(self) -> bool {
        !matches!(self, Op::CopyRead | Op::TeeReaderRead)
    }

    /// A short name.
    pub const fn name(self) -> &'static str {
        match self {
            Op::CopyRead => "copy read",
            Op::CopyWrite => "copy write",
            Op::CopyWriteTo => "copy write_to",
            Op::CopyReadFrom => "copy read_from",
            Op::TeeReaderRead => "tee reader read",
            Op::TeeReaderSideWrite => "tee reader side write",
            Op::TeeWriterPrimaryWrite => "tee writer primary write",
            Op::TeeWriterTeeWrite => "tee writer tee write",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Return the signal to the caller, or wait and retry the step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PolicyAction {
    /// Stop and return the signal with the progress so far.
    #[default]
    Return,
    /// Call [`SemanticPolicy::yield_now`], then run the same step again.
    Retry,
}

/// Decides, step by step, whether a semantic signal ends the operation or is waited out.
///
/// A policy that retries must make [`yield_now`](Self::yield_now) actually wait (for
/// readiness, or with a [`Backoff`](crate::Backoff)); the engine does not add a wait of its
/// own, so a yield that returns at once makes the retry a busy loop.
pub trait SemanticPolicy {
    /// Waits before a retry of `op`.
    fn yield_now(&mut self, op: Op);
    /// What to do when `op` returned `WouldBlock`.
    fn on_would_block(&mut self, op: Op) -> PolicyAction;
    /// What to do when `op` returned `More`.
    fn on_more(&mut self, op: Op) -> PolicyAction;
}

impl<P: SemanticPolicy + ?Sized> SemanticPolicy for &mut P {
    fn yield_now(&mut self, op: Op) {
        (**self).yield_now(op)
    }
    fn on_would_block(&mut self, op: Op) -> PolicyAction {
        (**self).on_would_block(op)
    }
    fn on_more(&mut self, op: Op) -> PolicyAction {
        (**self).on_more(op)
    }
}

/// Never retries: every signal is returned (what the plain functions do).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReturnPolicy;

impl SemanticPolicy for ReturnPolicy {
    fn yield_now(&mut self, _: Op) {}
    fn on_would_block(&mut self, _: Op) -> PolicyAction {
        PolicyAction::Return
    }
    fn on_more(&mut self, _: Op) -> PolicyAction {
        PolicyAction::Return
    }
}

/// Waits out `WouldBlock` everywhere with its yield function; returns `More` (on the write
/// side `More` marks a frame boundary the caller wants to see).
#[derive(Clone, Copy, Debug)]
pub struct YieldPolicy<Y = fn(Op)> {
    yield_fn: Y,
}

fn thread_yield(_: Op) {
    std::thread::yield_now()
}

impl YieldPolicy {
    /// Yields with `std::thread::yield_now`.
    pub fn new() -> YieldPolicy {
        YieldPolicy {
            yield_fn: thread_yield,
        }
    }
}

impl Default for YieldPolicy {
    fn default() -> YieldPolicy {
        YieldPolicy::new()
    }
}

impl<Y: FnMut(Op)> YieldPolicy<Y> {
    /// Yields with `f` (wait for readiness there).
    pub fn with(f: Y) -> YieldPolicy<Y> {
        YieldPolicy { yield_fn: f }
    }
}

impl<Y: FnMut(Op)> SemanticPolicy for YieldPolicy<Y> {
    fn yield_now(&mut self, op: Op) {
        (self.yield_fn)(op)
    }
    fn on_would_block(&mut self, _: Op) -> PolicyAction {
        PolicyAction::Retry
    }
    fn on_more(&mut self, _: Op) -> PolicyAction {
        PolicyAction::Return
    }
}

/// Waits out `WouldBlock` on the write steps only ([`Op::is_write`]); returns every signal
/// of a read step, and every `More`.
#[derive(Clone, Copy, Debug)]
pub struct YieldOnWriteWouldBlockPolicy<Y = fn(Op)> {
    yield_fn: Y,
}

impl YieldOnWriteWouldBlockPolicy {
    /// Yields with `std::thread::yield_now`.
    pub fn new() -> YieldOnWriteWouldBlockPolicy {
        YieldOnWriteWouldBlockPolicy {
            yield_fn: thread_yield,
        }
    }
}

impl Default for YieldOnWriteWouldBlockPolicy {
    fn default() -> YieldOnWriteWouldBlockPolicy {
        YieldOnWriteWouldBlockPolicy::new()
    }
}

impl<Y: FnMut(Op)> YieldOnWriteWouldBlockPolicy<Y> {
    /// Yields with `f`.
    pub fn with(f: Y) -> YieldOnWriteWouldBlockPolicy<Y> {
        YieldOnWriteWouldBlockPolicy { yield_fn: f }
    }
}

impl<Y: FnMut(Op)> SemanticPolicy for YieldOnWriteWouldBlockPolicy<Y> {
    fn yield_now(&mut self, op: Op) {
        (self.yield_fn)(op)
    }
    fn on_would_block(&mut self, op: Op) -> PolicyAction {
        if op.is_write() {
            PolicyAction::Retry
        } else {
            PolicyAction::Return
        }
    }
    fn on_more(&mut self, _: Op) -> PolicyAction {
        PolicyAction::Return
    }
}

/// A policy made of three closures.
///
/// ```
/// use iox::{Op, PolicyAction, PolicyFn, SemanticPolicy};
/// let mut p = PolicyFn::new(
///     |_op| std::thread::yield_now(),
///     |op: Op| if op.is_write() { PolicyAction::Retry } else { PolicyAction::Return },
///     |_op| PolicyAction::Return,
/// );
/// assert_eq!(p.on_would_block(Op::CopyWrite), PolicyAction::Retry);
/// assert_eq!(p.on_more(Op::CopyRead), PolicyAction::Return);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PolicyFn<Y, W, M> {
    yield_fn: Y,
    would_block: W,
    more: M,
}

impl<Y, W, M> PolicyFn<Y, W, M>
where
    Y: FnMut(Op),
    W: FnMut(Op) -> PolicyAction,
    M: FnMut(Op) -> PolicyAction,
{
    /// The policy of `yield_fn`, `would_block` and `more`.
    pub fn new(yield_fn: Y, would_block: W, more: M) -> Self {
        PolicyFn {
            yield_fn,
            would_block,
            more,
        }
    }
}

impl<Y, W, M> SemanticPolicy for PolicyFn<Y, W, M>
where
    Y: FnMut(Op),
    W: FnMut(Op) -> PolicyAction,
    M: FnMut(Op) -> PolicyAction,
{
    fn yield_now(&mut self, op: Op) {
        (self.yield_fn)(op)
    }
    fn on_would_block(&mut self, op: Op) -> PolicyAction {
        (self.would_block)(op)
    }
    fn on_more(&mut self, op: Op) -> PolicyAction {
        (self.more)(op)
    }
}
