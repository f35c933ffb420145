//! Timers: one 4-ary min-heap of deadlines per `Io`, no syscall to arm or cancel.

use std::time::Duration;

use iox::{Error, Result};

use crate::io::Io;
use crate::op::{Dir, IoId, Key};
use crate::raw::payload::{MutVt, OnceVt, Payload};
use crate::slab::Slab;

const NONE: u32 = u32::MAX;
const ARITY: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Entry {
    deadline: u64,
    seq: u64,
    slot: u32,
}

impl Entry {
    #[inline]
    fn before(&self, o: &Entry) -> bool {
        (self.deadline, self.seq) < (o.deadline, o.seq)
    }
}

#[derive(Debug)]
enum Cb {
    Empty,
    Once(Payload<OnceVt<Timer>>),
    Repeat(Payload<MutVt<Timer>>),
    /// A repeating closure running right now.
    Lent,
    /// Internal: retry an object's armed operation.
    Retry {
        key: Key,
        dir: Dir,
    },
    /// Internal: fail an object's armed operation with `TimedOut` (dial timeouts).
    Expire {
        key: Key,
        dir: Dir,
    },
}

#[derive(Debug)]
struct Slot {
    pos: u32,
    period: u64,
    epoch: u32,
    cb: Cb,
}

/// The timer slots and the heap of scheduled deadlines.
#[derive(Debug)]
pub(crate) struct Timers {
    slots: Slab<Slot>,
    heap: Vec<Entry>,
    seq: u64,
    scheduled: usize,
}

impl Timers {
    pub(crate) fn with_capacity(n: usize, io: IoId) -> Timers {
        Timers {
            slots: Slab::with_capacity(n, io),
            heap: Vec::with_capacity(n),
            seq: 0,
            scheduled: 0,
        }
    }

    /// User timers scheduled now.
    pub(crate) fn scheduled_count(&self) -> usize {
        self.scheduled
    }

    /// The earliest deadline, user or internal.
    #[inline]
    pub(crate) fn earliest(&self) -> Option<u64> {
        self.heap.first().map(|e| e.deadline)
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        let io = self.slots.io();
        self.slots = Slab::with_capacity(0, io);
        self.scheduled = 0;
    }

    fn set_pos(&mut self, i: usize) {
        let e = self.heap[i];
        if let Some((_, s)) = self.slots.by_index_mut(e.slot) {
            s.pos = i as u32;
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !self.heap[i].before(&self.heap[parent]) {
                break;
            }
            self.heap.swap(i, parent);
            self.set_pos(i);
            i = parent;
        }
        self.set_pos(i);
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            let mut best = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.heap[c].before(&self.heap[best]) {
                    best = c;
                }
            }
            if !self.heap[best].before(&self.heap[i]) {
                break;
            }
            self.heap.swap(i, best);
            self.set_pos(i);
            i = best;
        }
        self.set_pos(i);
    }

    fn push(&mut self, slot: u32, deadline: u64) {
        self.seq += 1;
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            slot,
        });
        let i = self.heap.len() - 1;
        self.sift_up(i);
    }

    /// Removes the entry at heap position `i`.
    fn remove_at(&mut self, i: usize) -> Entry {
        let last = self.heap.len() - 1;
        self.heap.swap(i, last);
        let e = self.heap.pop().expect("non-empty heap");
        if let Some((_, s)) = self.slots.by_index_mut(e.slot) {
            s.pos = NONE;
        }
        if i < self.heap.len() {
            let moved = self.heap[i].slot;
            self.sift_down(i);
            let j = self.slot_pos(moved);
            self.sift_up(j);
        }
        e
    }

    fn slot_pos(&mut self, slot: u32) -> usize {
        self.slots
            .by_index_mut(slot)
            .map_or(0, |(_, s)| s.pos as usize)
    }

    /// Schedules an internal retry of `key`'s armed `dir` at `at`.
    pub(crate) fn schedule_retry(&mut self, at: u64, key: Key, dir: Dir) {
        let k = self.slots.insert(Slot {
            pos: NONE,
            period: 0,
            epoch: 0,
            cb: Cb::Retry { key, dir },
        });
        self.push(k.idx, at);
    }

    /// Schedules the expiry of `key`'s armed `dir` at `at`; the timer's key, for
    /// [`cancel_internal`](Timers::cancel_internal) once the operation completed.
    pub(crate) fn schedule_expiry(&mut self, at: u64, key: Key, dir: Dir) -> Key {
        let k = self.slots.insert(Slot {
            pos: NONE,
            period: 0,
            epoch: 0,
            cb: Cb::Expire { key, dir },
        });
        self.push(k.idx, at);
        k
    }

    /// Removes an internal timer that has not fired; nothing if it has (its slot is gone
    /// and the key stale).
    pub(crate) fn cancel_internal(&mut self, t: Key) {
        let Some(s) = self.slots.get_mut(t) else {
            return;
        };
        let pos = s.pos;
        if pos != NONE {
            self.remove_at(pos as usize);
        }
        self.slots.remove(t);
    }
}

/// A timer of one [`Io`]: a `Copy` handle. Arming and cancelling cost no system call; the
/// Io's one wait timer bounds its wait by the earliest deadline.
///
/// ```
/// use sonic_io::{Io, Timer};
/// use std::time::Duration;
///
/// let mut io = Io::new().unwrap();
/// let t = Timer::new(&mut io).unwrap();
/// let fired = std::rc::Rc::new(std::cell::Cell::new(0));
/// let f = fired.clone();
/// t.schedule_repeating(&mut io, Duration::from_micros(200), move |io, t| {
///     f.set(f.get() + 1);
///     if f.get() == 3 {
///         t.cancel(io);
///     }
/// })
/// .unwrap();
/// io.run_pending().unwrap();
/// assert_eq!(fired.get(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    key: Key,
}

const ALREADY: Error = Error::invalid_input("the timer is already scheduled; cancel it first");

impl Timer {
    /// A new, idle timer.
    pub fn new(io: &mut Io) -> Result<Timer> {
        if io.closed() {
            return Err(Error::CLOSED);
        }
        let key = io.timers.slots.insert(Slot {
            pos: NONE,
            period: 0,
            epoch: 0,
            cb: Cb::Empty,
        });
        Ok(Timer { key })
    }

    fn slot<'a>(&self, io: &'a mut Io) -> Result<&'a mut Slot> {
        if io.closed() {
            return Err(Error::CLOSED);
        }
        io.timers.slots.lookup_mut(self.key)
    }

    fn arm(self, io: &mut Io, after: Duration, period: u64, cb: Cb) -> Result<()> {
        let now = io.now_ns();
        let s = self.slot(io)?;
        if s.pos != NONE {
            return Err(ALREADY);
        }
        s.cb = cb;
        s.period = period;
        let deadline = now.saturating_add(after.as_nanos().min(u128::from(u64::MAX / 4)) as u64);
        io.timers.push(self.key.idx, deadline);
        io.timers.scheduled += 1;
        Ok(())
    }

    /// Runs `f` once, `d` from now (`d == 0`: on the next turn, never inside this call).
    pub fn schedule_once<F: FnOnce(&mut Io, Timer) + 'static>(
        self,
        io: &mut Io,
        d: Duration,
        f: F,
    ) -> Result<()> {
        self.arm(io, d, 0, Cb::Once(Payload::new(f)))
    }

    /// Runs `f` every `period`, first at now + `period`. Deadlines do not drift: the next is
    /// the previous deadline plus the period, whatever the callback's own time; periods the
    /// loop missed are skipped, keeping the phase.
    pub fn schedule_repeating<F: FnMut(&mut Io, Timer) + 'static>(
        self,
        io: &mut Io,
        period: Duration,
        f: F,
    ) -> Result<()> {
        let p = period.as_nanos().min(u128::from(u64::MAX / 4)) as u64;
        if p == 0 {
            return Err(Error::invalid_input(
                "a repeating timer needs a non-zero period",
            ));
        }
        self.arm(io, period, p, Cb::Repeat(Payload::new(f)))
    }

    /// Stops the timer; `true` if it was scheduled. Its closure is dropped (a repeating
    /// timer cancelled from its own callback stops after that callback).
    pub fn cancel(self, io: &mut Io) -> bool {
        let Ok(s) = self.slot(io) else { return false };
        let pos = s.pos;
        s.epoch = s.epoch.wrapping_add(1);
        let cb = std::mem::replace(&mut s.cb, Cb::Empty);
        if pos == NONE {
            return false;
        }
        io.timers.remove_at(pos as usize);
        io.timers.scheduled -= 1;
        drop(cb);
        true
    }

    /// `true` while a deadline is pending.
    pub fn scheduled(self, io: &mut Io) -> bool {
        self.slot(io).is_ok_and(|s| s.pos != NONE)
    }

    /// The pending deadline, as Io time ([`Io::now`]).
    pub fn deadline(self, io: &mut Io) -> Option<Duration> {
        let pos = self.slot(io).ok()?.pos;
        (pos != NONE).then(|| Duration::from_nanos(io.timers.heap[pos as usize].deadline))
    }

    /// Cancels the timer and frees its slot; the handle is stale afterwards. Idempotent.
    pub fn close(self, io: &mut Io) {
        self.cancel(io);
        io.timers.slots.remove(self.key);
    }
}

impl Io {
    /// Fires every timer due at `now` that was scheduled before this pass began.
    pub(crate) fn fire_timers(&mut self, now: u64) -> usize {
        let pass = self.timers.seq;
        let mut n = 0;
        while let Some(top) = self.timers.heap.first().copied() {
            if top.deadline > now || top.seq > pass || self.closed() {
                break;
            }
            self.timers.remove_at(0);
            let Some((key, s)) = self.timers.slots.by_index_mut(top.slot) else {
                continue;
            };
            match std::mem::replace(&mut s.cb, Cb::Empty) {
                Cb::Once(p) => {
                    self.timers.scheduled -= 1;
                    n += 1;
                    self.run_callback(move |io| p.call(io, Timer { key }));
                }
                Cb::Repeat(mut p) => {
                    let period = s.period;
                    let epoch = s.epoch;
                    s.cb = Cb::Lent;
                    let mut next = top.deadline + period;
                    if next <= now {
                        next += (now - next) / period * period + period;
                    }
                    self.timers.push(top.slot, next);
                    n += 1;
                    let t = Timer { key };
                    let panic = self.try_callback(|io| p.call(io, t));
                    // Closed from its own callback (or the Io closed or replaced): nothing to
                    // put back, but a panic still goes on.
                    let Some(s) = self.timers.slots.get_mut(key) else {
                        if let Some(panic) = panic {
                            std::panic::resume_unwind(panic);
                        }
                        continue;
                    };
                    // Cancelled or closed from its own callback: nothing to put back.
                    if s.epoch != epoch || !matches!(s.cb, Cb::Lent) {
                        if let Some(panic) = panic {
                            std::panic::resume_unwind(panic);
                        }
                        continue;
                    }
                    match panic {
                        None => s.cb = Cb::Repeat(p),
                        // A closure that panicked half-way is not run again: the timer is
                        // cancelled (its next deadline removed, its closure dropped), so
                        // `pending()` stays exact.
                        Some(panic) => {
                            s.cb = Cb::Empty;
                            s.epoch = s.epoch.wrapping_add(1);
                            let pos = s.pos;
                            if pos != NONE {
                                self.timers.remove_at(pos as usize);
                                self.timers.scheduled -= 1;
                            }
                            drop(p);
                            std::panic::resume_unwind(panic);
                        }
                    }
                }
                Cb::Retry { key: obj, dir } => {
                    self.timers.slots.remove(key);
                    n += self.retry_dir(obj, dir);
                }
                Cb::Expire { key: obj, dir } => {
                    self.timers.slots.remove(key);
                    n += self.fail_armed(obj, dir, crate::stream::DIAL_TIMED_OUT);
                }
                Cb::Empty | Cb::Lent => {}
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timers_with(deadlines: &[u64]) -> Timers {
        let mut t = Timers::with_capacity(deadlines.len(), IoId(1));
        for &d in deadlines {
            let k = t.slots.insert(Slot {
                pos: NONE,
                period: 0,
                epoch: 0,
                cb: Cb::Empty,
            });
            t.push(k.idx, d);
        }
        t
    }

    fn check(t: &mut Timers) {
        for i in 0..t.heap.len() {
            let slot = t.heap[i].slot;
            assert_eq!(t.slot_pos(slot), i, "slot knows its position");
            if i > 0 {
                assert!(
                    !t.heap[i].before(&t.heap[(i - 1) / ARITY]),
                    "heap order at {i}"
                );
            }
        }
    }

    #[test]
    fn pops_in_deadline_then_arm_order_and_removes_anywhere() {
        // Twice as many timers as distinct deadlines, so many share one. Under Miri (the
        // heap check after every step is quadratic work it interprets slowly) 40 over 13.
        let (n, m) = if cfg!(miri) { (40u64, 13) } else { (200, 101) };
        let ds: Vec<u64> = (0..n).map(|i| (i * 7919) % m).collect();
        let mut t = timers_with(&ds);
        check(&mut t);
        for i in (0..n as u32).step_by(3) {
            let pos = t.slot_pos(i);
            t.remove_at(pos);
            check(&mut t);
        }
        let mut last = (0, 0);
        while !t.heap.is_empty() {
            let e = t.remove_at(0);
            assert!((e.deadline, e.seq) > last);
            assert_ne!(e.slot % 3, 0, "removed entries do not come back");
            last = (e.deadline, e.seq);
            check(&mut t);
        }
    }
}
