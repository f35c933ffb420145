//! Timers: one 4-ary min-heap of deadlines per `Io`, no syscall to arm or cancel. The
//! public handle is [`Timer`](crate::Timer) (`timer.rs`), and the Io fires what is due; the
//! callbacks' context `C` (the Io) is not named here.

use crate::op::{Dir, IoId, Key};
use crate::raw::payload::{MutVt, OnceVt, Payload};
use crate::slab::Slab;

/// A slot on no heap position.
pub(crate) const NONE: u32 = u32::MAX;
const ARITY: usize = 4;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) deadline: u64,
    pub(crate) seq: u64,
    pub(crate) slot: u32,
}

impl Entry {
    #[inline]
    fn before(&self, o: &Entry) -> bool {
        (self.deadline, self.seq) < (o.deadline, o.seq)
    }
}

/// What a slot runs when its deadline comes. A user callback gets the context `C` (the Io)
/// and its timer's key (the API layer makes a `Timer` of it).
#[derive(Debug)]
pub(crate) enum Cb<C: 'static> {
    Empty,
    Once(Payload<OnceVt<C, Key>>),
    Repeat(Payload<MutVt<C, Key>>),
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
pub(crate) struct Slot<C: 'static> {
    pub(crate) pos: u32,
    pub(crate) period: u64,
    pub(crate) epoch: u32,
    pub(crate) cb: Cb<C>,
}

impl<C: 'static> Slot<C> {
    /// An idle slot.
    pub(crate) fn idle() -> Slot<C> {
        Slot {
            pos: NONE,
            period: 0,
            epoch: 0,
            cb: Cb::Empty,
        }
    }
}

/// The timer slots and the heap of scheduled deadlines.
#[derive(Debug)]
pub(crate) struct Timers<C: 'static> {
    pub(crate) slots: Slab<Slot<C>>,
    pub(crate) heap: Vec<Entry>,
    pub(crate) seq: u64,
    pub(crate) scheduled: usize,
}

impl<C: 'static> Timers<C> {
    pub(crate) fn with_capacity(n: usize, io: IoId) -> Timers<C> {
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

    /// Empties the heap and hands back the timers' slots (their closures), for the caller
    /// to drop.
    pub(crate) fn take_all(&mut self) -> Slab<Slot<C>> {
        self.heap.clear();
        let io = self.slots.io();
        self.scheduled = 0;
        std::mem::replace(&mut self.slots, Slab::with_capacity(0, io))
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

    pub(crate) fn push(&mut self, slot: u32, deadline: u64) {
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
    pub(crate) fn remove_at(&mut self, i: usize) -> Entry {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn timers_with(deadlines: &[u64]) -> Timers<()> {
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

    fn check(t: &mut Timers<()>) {
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
