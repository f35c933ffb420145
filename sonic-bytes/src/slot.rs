//! Out-of-order packets kept in a [`ByteBuffer`](crate::ByteBuffer)'s save area and
//! released in sequence: [`Slot`], [`FenwickTree`], [`SlotOffsetter`], [`SlotSequencer`].
//!
//! Discarding a slot moves every byte after it down, so the slots saved after it shift.
//! The offsetter remembers each discard in a Fenwick tree over byte positions, so a slot
//! recorded at push time can be found at pop time in O(log n), whatever was discarded in
//! between and in whatever order.

pub use crate::byte_buffer::Slot;

/// A Fenwick (binary indexed) tree of `u64` counts: point add, prefix sum, O(log n) each.
///
/// ```
/// let mut t = sonic_bytes::FenwickTree::new(8);
/// t.add(2, 5);
/// t.add(6, 1);
/// assert_eq!((t.sum_until(3), t.sum_until(6), t.sum()), (5, 5, 6));
/// assert_eq!(t.sum_range(3, 8), 1);
/// assert_eq!(t.at(2), 5);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FenwickTree {
    tree: Vec<u64>,
}

impl FenwickTree {
    /// `n` zeros.
    pub fn new(n: usize) -> FenwickTree {
        FenwickTree { tree: vec![0; n] }
    }

    /// A tree over `values`.
    pub fn from_values(values: &[u64]) -> FenwickTree {
        let mut t = FenwickTree::new(values.len());
        for (i, &v) in values.iter().enumerate() {
            t.add(i, v);
        }
        t
    }

    /// How many positions.
    pub fn size(&self) -> usize {
        self.tree.len()
    }

    /// Adds `v` at position `i` (ignored outside the tree).
    pub fn add(&mut self, i: usize, v: u64) {
        let Some(mut k) = i.checked_add(1) else {
            return;
        };
        while k <= self.tree.len() {
            self.tree[k - 1] += v;
            k += k & k.wrapping_neg();
        }
    }

    /// The sum of positions `[0, i)`.
    pub fn sum_until(&self, i: usize) -> u64 {
        let mut k = i.min(self.tree.len());
        let mut s = 0;
        while k > 0 {
            s += self.tree[k - 1];
            k -= k & k.wrapping_neg();
        }
        s
    }

    /// The sum of positions `[i, size)`.
    pub fn sum_from(&self, i: usize) -> u64 {
        self.sum() - self.sum_until(i)
    }

    /// The sum of positions `[a, b)`.
    pub fn sum_range(&self, a: usize, b: usize) -> u64 {
        self.sum_until(b).saturating_sub(self.sum_until(a))
    }

    /// The sum of every position.
    pub fn sum(&self) -> u64 {
        self.sum_until(self.tree.len())
    }

    /// The value at position `i`.
    pub fn at(&self, i: usize) -> u64 {
        self.sum_range(i, i.saturating_add(1))
    }

    /// All zeros again.
    pub fn clear(&mut self) {
        self.tree.fill(0);
    }
}

/// There is no room left for a slot (bytes or slots exhausted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoSpace;

/// Maps slots recorded at push time to where they are after the discards since.
#[derive(Clone, Debug)]
pub struct SlotOffsetter {
    discarded: FenwickTree,
}

impl SlotOffsetter {
    /// For a save area of at most `max_bytes`.
    pub fn new(max_bytes: usize) -> SlotOffsetter {
        SlotOffsetter {
            discarded: FenwickTree::new(max_bytes),
        }
    }

    /// Records a slot as the buffer has it now; returns it in absolute terms (as if nothing
    /// had been discarded).
    pub fn add(&mut self, s: Slot) -> Result<Slot, NoSpace> {
        let index = s.index + self.discarded.sum() as usize;
        if index + s.length > self.discarded.size() {
            return Err(NoSpace);
        }
        Ok(Slot {
            index,
            length: s.length,
        })
    }

    /// Where an absolute slot lies in the buffer now; records its discard (so call
    /// `ByteBuffer::discard` with the result).
    pub fn offset(&mut self, abs: Slot) -> Slot {
        let before = self.discarded.sum_until(abs.index) as usize;
        self.discarded.add(abs.index, abs.length as u64);
        Slot {
            index: abs.index - before,
            length: abs.length,
        }
    }

    /// Forgets every discard (when the save area is empty).
    pub fn reset(&mut self) {
        self.discarded.clear();
    }
}

/// Packets saved out of order, released in sequence: push by sequence number, pop the one
/// wanted, bounded by bytes and by slots. Allocation happens at construction only.
///
/// Positions are tracked in absolute terms (a [`SlotOffsetter`] over a Fenwick tree of
/// `max_bytes` entries) that advance with every byte popped and restart when the sequencer
/// empties. A sequencer that never empties therefore answers [`NoSpace`] once `max_bytes`
/// bytes have passed through it since it was last empty: size `max_bytes` for the longest
/// burst of out-of-order traffic, or [`reset`](Self::reset) after a gap is given up on.
///
/// ```
/// use sonic_bytes::{ByteBuffer, Fifo, SlotSequencer};
/// let mut buf = ByteBuffer::with_capacity(64);
/// let mut seq = SlotSequencer::new(8, 64);
/// for (n, payload) in [(3u64, &b"ccc"[..]), (2, b"bb")] {   // arrive out of order
///     buf.claim(payload.len()).copy_from_slice(payload);
///     buf.commit(payload.len());
///     let slot = buf.save(payload.len());
///     assert!(seq.push(n, slot).unwrap());
/// }
/// let two = seq.pop(2).unwrap();
/// assert_eq!(buf.saved_slot(two), b"bb");
/// buf.discard(two);
/// let three = seq.pop(3).unwrap();
/// assert_eq!(buf.saved_slot(three), b"ccc");
/// ```
#[derive(Clone, Debug)]
pub struct SlotSequencer {
    slots: Vec<(u64, Slot)>,
    max_slots: usize,
    bytes: usize,
    max_bytes: usize,
    offsetter: SlotOffsetter,
}

impl SlotSequencer {
    /// At most `max_slots` slots and `max_bytes` bytes.
    pub fn new(max_slots: usize, max_bytes: usize) -> SlotSequencer {
        SlotSequencer {
            slots: Vec::with_capacity(max_slots),
            max_slots,
            bytes: 0,
            max_bytes,
            offsetter: SlotOffsetter::new(max_bytes),
        }
    }

    /// Records packet `seq` saved at `slot`: `Ok(false)` for a duplicate sequence number
    /// (ignored), `Err(NoSpace)` when the slots or bytes are exhausted. In both cases the
    /// caller discards the slot from its buffer at once (the sequencer does not track it).
    pub fn push(&mut self, seq: u64, slot: Slot) -> Result<bool, NoSpace> {
        let at = match self.slots.binary_search_by_key(&seq, |(s, _)| *s) {
            Ok(_) => return Ok(false),
            Err(at) => at,
        };
        if self.slots.len() >= self.max_slots || self.bytes + slot.length > self.max_bytes {
            return Err(NoSpace);
        }
        let abs = self.offsetter.add(slot)?;
        self.slots.insert(at, (seq, abs));
        self.bytes += slot.length;
        Ok(true)
    }

    /// Takes packet `seq`: where it lies in the buffer now (discard it there before the
    /// next pop), or `None`.
    pub fn pop(&mut self, seq: u64) -> Option<Slot> {
        let at = self.slots.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
        let (_, abs) = self.slots.remove(at);
        self.bytes -= abs.length;
        let rel = self.offsetter.offset(abs);
        if self.slots.is_empty() {
            self.offsetter.reset();
        }
        Some(rel)
    }

    /// The lowest sequence number held.
    pub fn first(&self) -> Option<u64> {
        self.slots.first().map(|(s, _)| *s)
    }

    /// Slots held.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Bytes held, as a percentage of the bound.
    pub fn fill_pct(&self) -> f64 {
        if self.max_bytes == 0 {
            0.0
        } else {
            100.0 * self.bytes as f64 / self.max_bytes as f64
        }
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.slots.clear();
        self.bytes = 0;
        self.offsetter.reset();
    }
}
