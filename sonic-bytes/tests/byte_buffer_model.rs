//! `ByteBuffer`'s whole API driven by random operation sequences against a model: a list
//! of saved slots, a `VecDeque` of readable bytes and a `Vec` of pending bytes. Claims and
//! write areas stay open while bytes are consumed, saved, discarded, committed or reserved
//! (which compacts and grows), so bytes that move under an open claim or area, or stale
//! bytes published by a commit, show up as a difference from the model.

mod common;

use std::collections::VecDeque;

use proptest::prelude::*;
use sonic_bytes::{ByteBuffer, Fifo, NeedMore, Slot};

/// What may happen while a claim or a write area is open.
#[derive(Clone, Debug)]
enum Mid {
    Nothing,
    Consume(usize),
    Save(usize),
    Discard(usize),
    DiscardAll,
    CommitPending(usize),
    PrepareRead(usize),
    Reserve(usize),
}

#[derive(Clone, Debug)]
enum Op {
    /// `claim(n)`, write, `mid`, `commit(k)`.
    Claim(usize, Mid, usize),
    /// `claim_fixed(n)`, write, `commit(k)`.
    ClaimFixed(usize, usize),
    /// `write_area(n)`, write, `mid`, then `advance_write` of each step.
    Area(usize, Mid, Vec<usize>),
    WritePending(Vec<u8>),
    Mid(Mid),
    ShrinkBy(usize),
    ShrinkTo(usize),
    Clear,
}

fn mid() -> impl Strategy<Value = Mid> {
    prop_oneof![
        2 => Just(Mid::Nothing),
        2 => Just(Mid::Consume(usize::MAX)),
        2 => (0usize..300).prop_map(Mid::Consume),
        2 => (0usize..300).prop_map(Mid::Save),
        1 => (0usize..8).prop_map(Mid::Discard),
        1 => Just(Mid::DiscardAll),
        1 => (0usize..300).prop_map(Mid::CommitPending),
        1 => (0usize..300).prop_map(Mid::PrepareRead),
        1 => (0usize..400).prop_map(Mid::Reserve),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..300, mid(), 0usize..350).prop_map(|(n, m, k)| Op::Claim(n, m, k)),
        2 => (0usize..300, 0usize..350).prop_map(|(n, k)| Op::ClaimFixed(n, k)),
        4 => (0usize..300, mid(), proptest::collection::vec(0usize..200, 0..3))
            .prop_map(|(n, m, s)| Op::Area(n, m, s)),
        2 => proptest::collection::vec(any::<u8>(), 0..100).prop_map(Op::WritePending),
        4 => mid().prop_map(Op::Mid),
        1 => (0usize..200).prop_map(Op::ShrinkBy),
        1 => (0usize..200).prop_map(Op::ShrinkTo),
        1 => Just(Op::Clear),
    ]
}

#[derive(Default)]
struct Model {
    slots: Vec<(Slot, Vec<u8>)>,
    readable: VecDeque<u8>,
    pending: Vec<u8>,
    stamp: u8,
}

impl Model {
    fn stamp(&mut self, space: &mut [u8]) -> Vec<u8> {
        for b in space.iter_mut() {
            self.stamp = self.stamp.wrapping_add(1);
            *b = self.stamp;
        }
        space.to_vec()
    }

    /// A claim's commit of `written`: pending bytes first, then the claim's.
    fn commit(&mut self, written: &[u8]) {
        self.readable.extend(self.pending.drain(..));
        self.readable.extend(written);
    }

    fn apply(&mut self, b: &mut ByteBuffer, m: &Mid) {
        match *m {
            Mid::Nothing => {}
            Mid::Consume(n) => {
                let c = b.consume(n);
                assert_eq!(c, n.min(self.readable.len()));
                self.readable.drain(..c);
            }
            Mid::Save(n) => {
                let saved: usize = self.slots.iter().map(|(s, _)| s.length).sum();
                let s = b.save(n);
                let c = n.min(self.readable.len());
                assert_eq!(
                    s,
                    Slot {
                        index: saved,
                        length: c
                    }
                );
                let bytes = self.readable.drain(..c).collect();
                self.slots.push((s, bytes));
            }
            Mid::Discard(i) => {
                if self.slots.is_empty() {
                    return;
                }
                let (s, _) = self.slots.remove(i % self.slots.len());
                b.discard(s);
                for (later, _) in self.slots.iter_mut().filter(|(x, _)| x.index > s.index) {
                    later.index -= s.length;
                }
            }
            Mid::DiscardAll => {
                b.discard_all();
                self.slots.clear();
            }
            Mid::CommitPending(n) => {
                let c = b.commit_pending(n);
                assert_eq!(c, n.min(self.pending.len()));
                self.readable.extend(self.pending.drain(..c));
            }
            Mid::PrepareRead(n) => {
                let (r, p) = (self.readable.len(), self.pending.len());
                match b.prepare_read(n) {
                    Ok(d) => {
                        assert!(r + p >= n);
                        let take = n.saturating_sub(r);
                        self.readable.extend(self.pending.drain(..take));
                        assert!(d.iter().eq(self.readable.iter()));
                    }
                    Err(e) => {
                        assert!(r + p < n);
                        assert_eq!(e, NeedMore { have: r + p });
                    }
                }
            }
            Mid::Reserve(n) => {
                b.reserve(n).unwrap();
                assert!(b.free() >= n);
            }
        }
    }

    fn check(&self, b: &ByteBuffer) {
        assert!(b.data().iter().eq(self.readable.iter()), "readable bytes");
        assert_eq!(b.len(), self.readable.len());
        assert_eq!(b.pending_len(), self.pending.len());
        let saved: Vec<u8> = self.slots.iter().flat_map(|(_, x)| x.clone()).collect();
        assert_eq!(b.saved(), &saved[..], "the save area");
        for (s, bytes) in &self.slots {
            assert_eq!(b.saved_slot(*s), &bytes[..], "slot {s:?}");
        }
        assert_eq!(
            b.free(),
            b.capacity() - self.readable.len() - self.pending.len()
        );
    }
}

fn run(cap: usize, ops: &[Op]) {
    let mut b = ByteBuffer::with_capacity(cap);
    let mut m = Model::default();
    for o in ops {
        match o {
            Op::Claim(n, mid, k) => {
                let space = b.claim(*n);
                assert_eq!(space.len(), *n, "small claims are always met");
                let written = m.stamp(space);
                m.apply(&mut b, mid);
                let c = b.commit(*k);
                assert_eq!(c, (*k).min(*n), "the claim survived {mid:?}");
                m.commit(&written[..c]);
            }
            Op::ClaimFixed(n, k) => {
                let free = b.free();
                let capacity = b.capacity();
                match b.claim_fixed(*n) {
                    Some(space) => {
                        assert!(free >= *n);
                        assert_eq!(space.len(), *n);
                        let written = m.stamp(space);
                        let c = b.commit(*k);
                        assert_eq!(c, (*k).min(*n));
                        m.commit(&written[..c]);
                    }
                    None => assert!(free < *n, "{free} free, {n} asked"),
                }
                assert_eq!(b.capacity(), capacity, "claim_fixed never grows");
            }
            Op::Area(n, mid, steps) => {
                let space = b.write_area(*n);
                assert_eq!(space.len(), *n);
                let written = m.stamp(space);
                m.apply(&mut b, mid);
                let mut done = 0;
                for &s in steps {
                    let c = b.advance_write(s);
                    assert_eq!(c, s.min(n - done), "clamped to the area (after {mid:?})");
                    m.pending.extend(&written[done..done + c]);
                    done += c;
                }
            }
            Op::WritePending(bytes) => {
                b.write_pending(bytes).unwrap();
                m.pending.extend(bytes);
            }
            Op::Mid(mid) => m.apply(&mut b, mid),
            Op::ShrinkBy(n) => {
                let c = b.shrink_by(*n);
                assert_eq!(c, (*n).min(m.pending.len()));
                m.pending.truncate(m.pending.len() - c);
            }
            Op::ShrinkTo(n) => {
                b.shrink_to(*n);
                m.pending.truncate(*n);
            }
            Op::Clear => {
                b.clear();
                m.slots.clear();
                m.readable.clear();
                m.pending.clear();
            }
        }
        m.check(&b);
    }
    // What is pending comes out whole and last.
    b.commit_pending(usize::MAX);
    m.readable.extend(m.pending.drain(..));
    m.check(&b);
}

/// Operations per case (fewer under Miri, which runs each about a thousand times slower).
const OPS: usize = if cfg!(miri) { 20 } else { 60 };

proptest! {
    #![proptest_config(common::config())]

    #[test]
    #[cfg_attr(miri, ignore = "safe code only (sonic-bytes' one unsafe, the mirrored mapping, cannot run under Miri); natively 256 cases")]
    fn byte_buffer_areas_match_the_model(cap in 0usize..600, ops in proptest::collection::vec(op(), 1..OPS)) {
        run(cap, &ops);
    }
}
