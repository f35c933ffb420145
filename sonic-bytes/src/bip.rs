//! [`BipBuffer`]: Simon Cooke's bip buffer, a circular buffer whose claims and reads are
//! always contiguous, for packet protocols.

use crate::Fifo;

/// Two regions in one fixed block: A `[a_start, a_end)` is read first; B `[0, b_end)` grows
/// in the space before A once A reaches the end. A claim is always one contiguous span.
///
/// Invariants: `b_end <= a_start <= a_end <= capacity`; B is non-empty only when A ends
/// where writing wrapped; the claim `[c_start, c_start + c_len)` lies in free space.
///
/// ```
/// use sonic_bytes::{BipBuffer, Fifo};
/// let mut b = BipBuffer::new(8);
/// b.claim(6).copy_from_slice(b"abcdef");
/// b.commit(6);
/// assert_eq!(b.consume(4), 4);
/// let room = b.claim(4);            // 2 free at the end, 4 at the front: the larger
/// assert_eq!(room.len(), 4);
/// room.copy_from_slice(b"wxyz");
/// assert_eq!(b.commit_chunk(4), b"wxyz");
/// assert!(b.wrapped());
/// assert_eq!(b.data(), b"ef");      // region A first
/// b.consume(2);
/// assert_eq!(b.data(), b"wxyz");    // then B, promoted
/// ```
#[derive(Debug, Clone)]
pub struct BipBuffer {
    buf: Box<[u8]>,
    a_start: usize,
    a_end: usize,
    b_end: usize,
    c_start: usize,
    c_len: usize,
}

impl BipBuffer {
    /// A buffer of `capacity` bytes (allocated once, here).
    pub fn new(capacity: usize) -> BipBuffer {
        BipBuffer {
            buf: vec![0; capacity].into_boxed_slice(),
            a_start: 0,
            a_end: 0,
            b_end: 0,
            c_start: 0,
            c_len: 0,
        }
    }

    /// `true` when region B exists (writing has wrapped to the front).
    pub fn wrapped(&self) -> bool {
        self.b_end > 0
    }

    /// Region A: the oldest committed bytes, contiguous.
    pub fn head(&self) -> &[u8] {
        &self.buf[self.a_start..self.a_end]
    }

    /// Region B (empty unless wrapped).
    pub fn tail(&self) -> &[u8] {
        &self.buf[..self.b_end]
    }

    /// Bytes claimed and not yet committed.
    pub fn claimed(&self) -> usize {
        self.c_len
    }

    /// Commits like [`Fifo::commit`] and returns the committed chunk.
    pub fn commit_chunk(&mut self, n: usize) -> &[u8] {
        let start = self.c_start;
        let n = Fifo::commit(self, n);
        &self.buf[start..start + n]
    }

    /// Empties the buffer (same as [`Fifo::clear`]).
    pub fn reset(&mut self) {
        self.clear();
    }
}

impl Fifo for BipBuffer {
    fn claim(&mut self, n: usize) -> &mut [u8] {
        let cap = self.buf.len();
        let (start, room) = if self.b_end > 0 {
            (self.b_end, self.a_start - self.b_end)
        } else {
            let after = cap - self.a_end;
            let before = self.a_start;
            if after >= before || after >= n {
                (self.a_end, after)
            } else {
                (0, before)
            }
        };
        let len = room.min(n);
        self.c_start = start;
        self.c_len = len;
        &mut self.buf[start..start + len]
    }

    fn commit(&mut self, n: usize) -> usize {
        let n = n.min(self.c_len);
        if n > 0 {
            if self.a_end == self.a_start {
                // A is empty: the chunk becomes A wherever it lies.
                self.a_start = self.c_start;
                self.a_end = self.c_start + n;
            } else if self.c_start == self.a_end && self.b_end == 0 {
                self.a_end += n;
            } else {
                // The chunk lies at the front: it is (or extends) B.
                debug_assert_eq!(self.c_start, self.b_end);
                self.b_end += n;
            }
        }
        self.c_start = 0;
        self.c_len = 0;
        n
    }

    fn data(&self) -> &[u8] {
        self.head()
    }

    fn consume(&mut self, n: usize) -> usize {
        let a_len = self.a_end - self.a_start;
        let n = n.min(a_len);
        self.a_start += n;
        if self.a_start == self.a_end {
            // A is used up: B (if any) becomes A.
            self.a_start = 0;
            self.a_end = self.b_end;
            self.b_end = 0;
        }
        n
    }

    fn len(&self) -> usize {
        (self.a_end - self.a_start) + self.b_end
    }

    fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn clear(&mut self) {
        self.a_start = 0;
        self.a_end = 0;
        self.b_end = 0;
        self.c_start = 0;
        self.c_len = 0;
    }

    /// `false`: after a wrap, [`data`](Fifo::data) shows only the first region.
    fn contiguous(&self) -> bool {
        false
    }
}
