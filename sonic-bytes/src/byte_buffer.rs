//! [`ByteBuffer`]: a growable FIFO with the seed's save, read and write areas.

use crate::Fifo;

/// A region of the save area (see [`ByteBuffer::save`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Offset in the save area.
    pub index: usize,
    /// Length.
    pub length: usize,
}

/// `prepare_read` found fewer bytes than asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeedMore {
    /// Bytes available (readable and pending).
    pub have: usize,
}

/// A growable byte FIFO over one vector:
///
/// ```text
/// [0, save) save area | [save, read) consumed | [read, pending) readable | [pending, write) written, not yet committed | [write, cap) free
/// ```
///
/// * Bytes written with [`Fifo::claim`] + [`Fifo::commit`] become readable at once; bytes
///   written through [`write_area`](Self::write_area) (the seed's write area) wait in the
///   pending region until [`commit_pending`](Self::commit_pending) or
///   [`prepare_read`](Self::prepare_read) (or a [`Fifo::commit`], which keeps the order by
///   making them readable too).
/// * [`Fifo::claim`]`(n)` returns `n` bytes, compacting or growing when needed, as long as
///   one growth step covers it: a claim grows the buffer by at most the larger of its
///   current size (doubling it) and [`CLAIM_GROWTH`] (16 MiB), and only when the allocator
///   agrees. A larger claim, or one the allocator refuses, gets fewer bytes (all the free
///   space there is, maybe none), as the [`Fifo`] contract says: never a panic, never an
///   abort. `claim(usize::MAX)` is safe, but pass the size you mean to read
///   (`read_from(&mut socket, 64 * 1024)`), since a claim that grows the buffer zeroes the
///   new bytes. [`reserve`](Self::reserve) grows by any amount, or returns an error.
/// * [`Fifo::consume`] only moves an index: bytes are moved down (compacted) lazily, when a
///   claim needs room at the end, never on every consume.
/// * [`save`](Self::save) moves the front of the readable bytes into the save area, where
///   they stay, addressed by a [`Slot`], until [`discard`](Self::discard).
/// * Growing never invalidates a slice handed out: every slice borrows the buffer, so the
///   borrow checker forbids growing while one is alive.
/// * An outstanding claim (claimed, not yet committed), or an open write area (handed out
///   by [`write_area`](Self::write_area), not all recorded by
///   [`advance_write`](Self::advance_write)), stays where it was written while bytes are
///   consumed, saved or discarded, and across compaction and growth: its bytes move with
///   it, and an emptying `consume` does not rewind the positions while it is open. A claim
///   and the write area use the same space at the end, so taking one ends the other;
///   [`write_pending`](Self::write_pending), [`shrink_by`](Self::shrink_by) and
///   [`shrink_to`](Self::shrink_to) end both.
///
/// ```
/// use sonic_bytes::{ByteBuffer, Fifo};
/// let mut b = ByteBuffer::with_capacity(16);
/// b.claim(5).copy_from_slice(b"hello");
/// b.commit(5);
/// let s = b.save(2);                 // keep "he" aside
/// assert_eq!(b.data(), b"llo");
/// assert_eq!(b.saved_slot(s), b"he");
/// b.discard(s);
/// assert_eq!(b.saved().len(), 0);
/// assert_eq!(b.data(), b"llo");
/// ```
///
/// Invariant: `save <= read <= pending <= write`, `write + claimed + area <= buf.len()`,
/// and at most one of `claimed` and `area` is not 0: the outstanding claim is
/// `[write, write + claimed)`, the open write area `[write, write + area)`.
#[derive(Debug, Clone, Default)]
pub struct ByteBuffer {
    buf: Vec<u8>,
    save: usize,
    read: usize,
    pending: usize,
    write: usize,
    claimed: usize,
    area: usize,
}

/// Capacity of [`ByteBuffer::new`] (the seed's default).
pub const DEFAULT_CAPACITY: usize = 512;

/// How much one claim may grow a [`ByteBuffer`] by when that is more than doubling it: a
/// claim grows the buffer by at most the larger of its current size and this (16 MiB), so
/// `claim(usize::MAX)` or a length read from a peer cannot make it allocate and zero an
/// unbounded amount at once. A claim that needs more gets fewer bytes than it asked for;
/// [`ByteBuffer::reserve`] grows by any amount.
///
/// ```
/// # #[cfg(not(miri))] { // Miri would take minutes to zero the 80 MiB.
/// use sonic_bytes::{ByteBuffer, CLAIM_GROWTH, Fifo};
/// let mut b = ByteBuffer::with_capacity(512);
/// assert_eq!(b.claim(usize::MAX).len(), 512 + CLAIM_GROWTH);
/// b.commit(0);
/// b.reserve(64 << 20).unwrap();
/// assert_eq!(b.claim(64 << 20).len(), 64 << 20);
/// # }
/// ```
pub const CLAIM_GROWTH: usize = 16 << 20;

/// `reserve` of a size past the address space.
const TOO_LARGE: iox::Error =
    iox::Error::invalid_input("ByteBuffer size exceeds the address space");
/// The allocator refused to grow the buffer.
const NO_MEMORY: iox::Error = iox::Error::with_context(
    iox::ErrorKind::OutOfMemory,
    "ByteBuffer cannot grow: the allocator refused",
);

impl ByteBuffer {
    /// A buffer of [`DEFAULT_CAPACITY`] bytes.
    pub fn new() -> ByteBuffer {
        ByteBuffer::with_capacity(DEFAULT_CAPACITY)
    }

    /// A buffer of `capacity` bytes (allocated here; it grows when a claim needs more).
    pub fn with_capacity(capacity: usize) -> ByteBuffer {
        ByteBuffer {
            buf: vec![0; capacity],
            ..ByteBuffer::default()
        }
    }

    /// The end of the bytes in use: the outstanding claim or open write area included.
    fn in_use(&self) -> usize {
        self.write + self.claimed + self.area
    }

    /// Moves the live bytes (readable, pending, and an outstanding claim or open write area)
    /// down to the end of the save area.
    fn compact(&mut self) {
        if self.read > self.save {
            let end = self.in_use();
            self.buf.copy_within(self.read..end, self.save);
            let shift = self.read - self.save;
            self.read -= shift;
            self.pending -= shift;
            self.write -= shift;
        }
    }

    /// Grows the vector to `len` (more than its length) zeroed bytes; on failure leaves it
    /// as it was.
    fn grow_to(&mut self, len: usize) -> iox::Result<()> {
        if len > isize::MAX as usize {
            return Err(TOO_LARGE);
        }
        self.buf
            .try_reserve_exact(len - self.buf.len())
            .map_err(|_| NO_MEMORY)?;
        self.buf.resize(len, 0);
        Ok(())
    }

    /// Room for a claim of up to `n` bytes at `write`: compacts, then grows by at most
    /// `max(len, CLAIM_GROWTH)` (doubling when that is enough), if the allocator agrees.
    /// Returns the length the claim gets.
    fn room_for_claim(&mut self, n: usize) -> usize {
        if self.buf.len() - self.write < n {
            self.compact();
            let len = self.buf.len();
            if len - self.write < n {
                let cap = len.saturating_add(len.max(CLAIM_GROWTH));
                let need = self.write.saturating_add(n).min(cap);
                let want = len.saturating_mul(2).clamp(need, cap);
                if self.grow_to(want).is_err() && need < want {
                    // The doubling was refused: what the claim needs may still be had.
                    let _ = self.grow_to(need);
                }
            }
        }
        n.min(self.buf.len() - self.write)
    }

    /// Makes room for `n` more bytes at the end: compacts first, grows only if that is not
    /// enough (doubling when that is enough, else exactly to what is needed). Unlike a
    /// claim, it grows by any amount.
    ///
    /// `InvalidInput` for a size past the address space, `OutOfMemory` when the allocator
    /// refuses; the bytes held are unchanged either way. The new bytes are zeroed, so a
    /// reservation is real memory: under memory overcommit a reservation larger than the
    /// machine can hold may be granted and then fail as it is zeroed, so reserve what you
    /// mean to use.
    ///
    /// ```
    /// use sonic_bytes::{ByteBuffer, Fifo};
    /// let mut b = ByteBuffer::with_capacity(8);
    /// b.reserve(100).unwrap();
    /// assert!(b.free() >= 100);
    /// let e = b.reserve(usize::MAX).unwrap_err();
    /// assert_eq!(e.kind(), iox::ErrorKind::InvalidInput);
    /// ```
    pub fn reserve(&mut self, n: usize) -> iox::Result<()> {
        if self.buf.len() - self.write >= n {
            return Ok(());
        }
        self.compact();
        let len = self.buf.len();
        if len - self.write >= n {
            return Ok(());
        }
        let need = self.write.checked_add(n).ok_or(TOO_LARGE)?;
        let want = len.saturating_mul(2);
        if want > need && self.grow_to(want).is_ok() {
            return Ok(());
        }
        self.grow_to(need)
    }

    /// The seed's write area: up to `n` bytes at the end to write into (fewer only when a
    /// claim of `n` would get fewer: see [`CLAIM_GROWTH`]), not readable until committed
    /// with [`commit_pending`](Self::commit_pending). Follow with
    /// [`advance_write`](Self::advance_write). It replaces an earlier write area and ends an
    /// outstanding claim.
    ///
    /// ```
    /// use sonic_bytes::{ByteBuffer, Fifo};
    /// let mut b = ByteBuffer::with_capacity(16);
    /// b.write_area(5).copy_from_slice(b"hello");
    /// assert_eq!(b.advance_write(9), 5); // clamped to the area
    /// assert_eq!(b.data(), b"");         // pending, not readable yet
    /// assert_eq!(b.commit_pending(2), 2);
    /// assert_eq!(b.data(), b"he");
    /// ```
    pub fn write_area(&mut self, n: usize) -> &mut [u8] {
        self.claimed = 0;
        self.area = 0;
        let n = self.room_for_claim(n);
        self.area = n;
        &mut self.buf[self.write..self.write + n]
    }

    /// Records `n` bytes written at the front of the open write area as pending, clamped
    /// to what is left of it (0 when none is open: a claim or the calls that end it closed
    /// it); returns how many. Several calls may record one area in steps.
    pub fn advance_write(&mut self, n: usize) -> usize {
        let n = n.min(self.area);
        self.write += n;
        self.area -= n;
        n
    }

    /// Appends all of `bytes` to the write area (pending), growing as
    /// [`reserve`](Self::reserve) does; on its error nothing is appended.
    pub fn write_pending(&mut self, bytes: &[u8]) -> iox::Result<()> {
        self.claimed = 0;
        self.area = 0;
        self.reserve(bytes.len())?;
        self.buf[self.write..self.write + bytes.len()].copy_from_slice(bytes);
        self.write += bytes.len();
        Ok(())
    }

    /// Bytes written but not committed.
    pub fn pending_len(&self) -> usize {
        self.write - self.pending
    }

    /// Makes up to `n` pending bytes readable; returns how many.
    pub fn commit_pending(&mut self, n: usize) -> usize {
        let n = n.min(self.pending_len());
        self.pending += n;
        n
    }

    /// Ensures at least `n` bytes are readable, committing pending bytes as needed; when
    /// even all pending bytes are not enough, commits nothing and says how many there are.
    pub fn prepare_read(&mut self, n: usize) -> Result<&[u8], NeedMore> {
        let readable = self.pending - self.read;
        if readable >= n {
            return Ok(&self.buf[self.read..self.pending]);
        }
        if readable + self.pending_len() < n {
            return Err(NeedMore {
                have: readable + self.pending_len(),
            });
        }
        self.pending = self.read + n;
        Ok(&self.buf[self.read..self.pending])
    }

    /// The committed, unconsumed bytes ([`Fifo::data`]), writable where they lie: for a
    /// layer that transforms received bytes in place (a TLS record layer decrypts records
    /// in the receive FIFO). Positions and lengths do not change.
    ///
    /// ```
    /// use sonic_bytes::{ByteBuffer, Fifo};
    /// let mut b = ByteBuffer::with_capacity(8);
    /// b.claim(3).copy_from_slice(b"abc");
    /// b.commit(3);
    /// b.data_mut().make_ascii_uppercase();
    /// assert_eq!(b.data(), b"ABC");
    /// ```
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.read..self.pending]
    }

    /// `n` bytes at the end to write into, or `None` when that would need growing (the
    /// seed's `ClaimFixed`: never allocates).
    pub fn claim_fixed(&mut self, n: usize) -> Option<&mut [u8]> {
        self.claimed = 0;
        self.area = 0;
        if self.buf.len() - self.write < n {
            if self.read > self.save && self.buf.len() - self.write + (self.read - self.save) >= n {
                self.compact();
            } else {
                return None;
            }
        }
        self.claimed = n;
        Some(&mut self.buf[self.write..self.write + n])
    }

    /// Drops the last `n` pending bytes; returns how many.
    pub fn shrink_by(&mut self, n: usize) -> usize {
        self.claimed = 0;
        self.area = 0;
        let n = n.min(self.pending_len());
        self.write -= n;
        n
    }

    /// Keeps only the first `n` pending bytes.
    pub fn shrink_to(&mut self, n: usize) {
        self.claimed = 0;
        self.area = 0;
        let keep = n.min(self.pending_len());
        self.write = self.pending + keep;
    }

    /// Moves the first `n` readable bytes (clamped) into the save area; returns their slot.
    pub fn save(&mut self, n: usize) -> Slot {
        self.compact();
        let n = n.min(self.pending - self.read);
        let slot = Slot {
            index: self.save,
            length: n,
        };
        self.save += n;
        self.read += n;
        slot
    }

    /// The save area.
    pub fn saved(&self) -> &[u8] {
        &self.buf[..self.save]
    }

    /// The bytes of a saved slot (empty if it lies outside the save area).
    pub fn saved_slot(&self, s: Slot) -> &[u8] {
        match s.index.checked_add(s.length) {
            Some(end) if end <= self.save => &self.buf[s.index..end],
            _ => &[],
        }
    }

    /// Removes a saved slot, moving the bytes after it down (other slots after it shift by
    /// its length: see [`SlotSequencer`](crate::SlotSequencer), which keeps track).
    pub fn discard(&mut self, s: Slot) {
        if s.length == 0
            || s.index
                .checked_add(s.length)
                .is_none_or(|end| end > self.save)
        {
            return;
        }
        let end = self.in_use();
        self.buf.copy_within(s.index + s.length..end, s.index);
        self.save -= s.length;
        self.read -= s.length;
        self.pending -= s.length;
        self.write -= s.length;
    }

    /// Empties the save area.
    pub fn discard_all(&mut self) {
        self.discard(Slot {
            index: 0,
            length: self.save,
        });
    }
}

impl Fifo for ByteBuffer {
    /// `n` bytes, compacting or growing when needed (the only allocation), unless that
    /// would grow the buffer by more than the larger of its size and [`CLAIM_GROWTH`], or
    /// the allocator refuses: then fewer (all the free space there is, maybe none).
    fn claim(&mut self, n: usize) -> &mut [u8] {
        // The earlier claim (or write area) is replaced: compaction need not carry its
        // bytes.
        self.claimed = 0;
        self.area = 0;
        let n = self.room_for_claim(n);
        self.claimed = n;
        &mut self.buf[self.write..self.write + n]
    }

    fn commit(&mut self, n: usize) -> usize {
        let n = n.min(self.claimed);
        self.claimed = 0;
        self.write += n;
        self.pending = self.write;
        n
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.read..self.pending]
    }

    fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.pending - self.read);
        self.read += n;
        if self.read == self.write && self.claimed == 0 && self.area == 0 {
            // Nothing live, no claim outstanding and no write area open: rewind for free.
            // (An outstanding claim or open area must stay where it was written, or its
            // commit would publish stale bytes.)
            self.read = self.save;
            self.pending = self.save;
            self.write = self.save;
        }
        n
    }

    fn len(&self) -> usize {
        self.pending - self.read
    }

    fn capacity(&self) -> usize {
        self.buf.len() - self.save
    }

    fn free(&self) -> usize {
        self.buf.len() - self.write + (self.read - self.save)
    }

    fn clear(&mut self) {
        self.save = 0;
        self.read = 0;
        self.pending = 0;
        self.write = 0;
        self.claimed = 0;
        self.area = 0;
    }
}
