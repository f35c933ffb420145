//! [`Fifo`]: the claim / commit / consume API every buffer of this crate shares.

use std::io::{self, Read, Write};

/// A first-in, first-out byte buffer written in place and read in place.
///
/// * [`claim`](Fifo::claim) lends free space to write into (contiguous; at most `n` bytes);
/// * [`commit`](Fifo::commit) publishes bytes written into the last claim;
/// * [`data`](Fifo::data) shows the committed, unconsumed bytes;
/// * [`consume`](Fifo::consume) drops bytes from the front.
///
/// Bad counts never corrupt state: `commit` beyond the claim and `consume` beyond the data
/// are **clamped**, and the count actually committed or consumed is returned.
pub trait Fifo {
    /// Up to `n` free, contiguous bytes to write into (fewer, or none, when the buffer
    /// cannot offer more). Replaces any earlier, uncommitted claim.
    fn claim(&mut self, n: usize) -> &mut [u8];
    /// Publishes the first `n` bytes of the last claim (clamped to its length); returns how
    /// many were published. The claim ends.
    fn commit(&mut self, n: usize) -> usize;
    /// The committed bytes not yet consumed (for the bip buffer: its first region).
    fn data(&self) -> &[u8];
    /// Drops `n` bytes from the front of [`data`](Fifo::data) (clamped); returns how many.
    fn consume(&mut self, n: usize) -> usize;
    /// Committed, unconsumed bytes in all.
    fn len(&self) -> usize;
    /// Bytes the buffer holds at most without growing.
    fn capacity(&self) -> usize;
    /// Bytes that can still be committed without growing.
    fn free(&self) -> usize {
        self.capacity() - self.len()
    }
    /// `true` when nothing is committed.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Empties the buffer.
    fn clear(&mut self);
    /// Whether [`data`](Fifo::data) always shows every committed byte (`data().len() ==
    /// len()`), so that a reader parsing it sees a whole stream: `true` for every buffer of
    /// this crate but [`BipBuffer`](crate::BipBuffer), whose bytes after a wrap wait in a
    /// second region until the first is consumed. A parser that needs the rest of an item
    /// before it consumes any (sonic-io's codecs) cannot read through such a buffer.
    fn contiguous(&self) -> bool {
        true
    }

    /// One `read` from `r` straight into claimed space (up to `max` bytes), committed.
    /// `Ok(0)` at end of input or when there is no room.
    fn read_from<R: Read + ?Sized>(&mut self, r: &mut R, max: usize) -> io::Result<usize> {
        let space = self.claim(max);
        if space.is_empty() {
            self.commit(0);
            return Ok(0);
        }
        match r.read(space) {
            Ok(n) => Ok(self.commit(n)),
            Err(e) => {
                self.commit(0);
                Err(e)
            }
        }
    }

    /// One `write` of [`data`](Fifo::data) to `w`, straight from the buffer; what went is
    /// consumed.
    fn write_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<usize> {
        if self.data().is_empty() {
            return Ok(0);
        }
        let n = w.write(self.data())?;
        Ok(self.consume(n))
    }
}
