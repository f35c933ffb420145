//! Buffers an operation targets: owned buffers moved in and handed back, and regions of
//! byte blocks the `Io` owns (the `Io` methods that reach them are in `io.rs`).

use std::ops::Range;

use iox::{Error, Result};

use crate::op::Key;
use crate::slab::Slab;

const ARMED: Error = Error::invalid_input("the range is the target of an armed operation");
const OUT_OF_RANGE: Error = Error::invalid_input("the range exceeds the block");

#[derive(Debug)]
struct Block {
    data: Box<[u8]>,
    /// Ranges targeted by armed operations, and whether the operation writes into the
    /// range (a read) rather than sending from it.
    armed: Vec<Armed>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Armed {
    start: u32,
    end: u32,
    fills: bool,
}

/// The Io's byte blocks.
#[doc(hidden)]
#[derive(Debug)]
pub struct Blocks(Slab<Block>, Vec<Region>);

impl Blocks {
    pub(crate) fn with_capacity(n: usize, io: crate::op::IoId) -> Blocks {
        Blocks(Slab::with_capacity(n, io), Vec::new())
    }

    #[inline]
    fn block(&self, r: Region) -> Result<&Block> {
        self.0.lookup(r.block)
    }

    fn overlaps(b: &Block, r: Region) -> bool {
        b.armed
            .iter()
            .any(|a| r.start < a.end && a.start < r.start + r.len)
    }

    /// Whether another read than the one armed on `r` (which counts once) overlaps `r`:
    /// armed, or delivering its bytes there (its callback running: its range was released
    /// when it completed).
    pub(crate) fn shared(&self, r: Region) -> bool {
        let Ok(b) = self.block(r) else {
            return false;
        };
        let overlaps = |start: u32, end: u32| r.start < end && start < r.start + r.len;
        b.armed
            .iter()
            .filter(|a| a.fills && overlaps(a.start, a.end))
            .count()
            > 1
            || self
                .1
                .iter()
                .any(|d| d.block == r.block && overlaps(d.start, d.start + d.len))
    }

    /// A read into `r` runs its callback: its bytes are there until it returns
    /// ([`shared`](Blocks::shared)). Paired with [`delivered`](Blocks::delivered); the Io
    /// forgets them all at each turn's start (a callback that panicked leaves its mark).
    pub(crate) fn delivering(&mut self, r: Option<Region>) {
        if let Some(r) = r {
            self.1.push(r);
        }
    }

    /// The callback of [`delivering`](Blocks::delivering) returned.
    pub(crate) fn delivered(&mut self, r: Option<Region>) {
        if r.is_some() {
            self.1.pop();
        }
    }

    /// Forgets every delivering mark (a turn starts: no callback runs).
    pub(crate) fn settle_marks(&mut self) {
        self.1.clear();
    }

    /// An operation may target `r` unless an armed operation of the other kind overlaps it,
    /// or `r` is for a send and any armed operation overlaps it. Reads may share a range:
    /// they run one at a time on the Io's thread, and the first to complete fills it (the
    /// others are then redirected with `retarget_read`, the shared-buffer pattern).
    #[inline]
    fn conflicts(b: &Block, r: Region, fills: bool) -> bool {
        b.armed
            .iter()
            .any(|a| r.start < a.end && a.start < r.start + r.len && !(fills && a.fills))
    }
}

/// A block of bytes owned by an [`Io`](crate::Io) ([`Io::add_bytes`](crate::Io::add_bytes)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BytesId(Key);

/// A range of an Io-owned block: `Copy`, checked once against the block's length. Armed
/// operations may target disjoint regions of one block, and armed reads may share a region
/// (the first to complete fills it; redirect the others with `retarget_read`). A send's
/// region may overlap no armed operation's. The bytes are reached through
/// [`Io::bytes`](crate::Io::bytes) and [`Io::bytes_mut`](crate::Io::bytes_mut), which refuse a
/// range an armed operation targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    block: Key,
    start: u32,
    len: u32,
}

impl Region {
    /// The block this region belongs to.
    pub fn id(&self) -> BytesId {
        BytesId(self.block)
    }
    /// The range within the block.
    pub fn range(&self) -> Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// `true` for an empty region.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Blocks {
    /// Stores a block (at most 4 GiB).
    pub(crate) fn add(&mut self, data: Box<[u8]>) -> Result<BytesId> {
        if u32::try_from(data.len()).is_err() {
            return Err(Error::invalid_input("a block exceeds 4 GiB"));
        }
        Ok(BytesId(self.0.insert(Block {
            data,
            armed: Vec::with_capacity(4),
        })))
    }

    /// Names `range` of block `id`.
    #[inline]
    pub(crate) fn region(&self, id: BytesId, range: Range<usize>) -> Result<Region> {
        let b = self.0.lookup(id.0)?;
        if range.start > range.end || range.end > b.data.len() {
            return Err(OUT_OF_RANGE);
        }
        Ok(Region {
            block: id.0,
            start: range.start as u32,
            len: (range.end - range.start) as u32,
        })
    }

    /// The bytes of `r`, unless an armed operation targets an overlapping range.
    pub(crate) fn bytes(&self, r: Region) -> Result<&[u8]> {
        let b = self.block(r)?;
        if Blocks::overlaps(b, r) {
            return Err(ARMED);
        }
        Ok(&b.data[r.range()])
    }

    /// [`bytes`](Blocks::bytes), writable.
    pub(crate) fn bytes_mut(&mut self, r: Region) -> Result<&mut [u8]> {
        let b = self.0.lookup_mut(r.block)?;
        if Blocks::overlaps(b, r) {
            return Err(ARMED);
        }
        Ok(&mut b.data[r.range()])
    }

    /// Takes block `id` back, unless an armed operation targets it.
    pub(crate) fn remove(&mut self, id: BytesId) -> Result<Box<[u8]>> {
        let b = self.0.lookup(id.0)?;
        if !b.armed.is_empty() {
            return Err(ARMED);
        }
        self.0.remove(id.0).map(|b| b.data).ok_or(Error::CLOSED)
    }
}

pub(crate) mod private {
    use super::{Blocks, Region};
    use iox::Result;

    pub trait SealedMut {
        fn slice_mut<'a>(&'a mut self, blocks: &'a mut Blocks) -> Result<&'a mut [u8]>;
        /// The bytes, if they live in memory of their own that stays put when the buffer
        /// moves and that nothing else reaches while an operation holds it (a completion
        /// backend receives into it). A region (shared by several armed reads) has none.
        fn stable_mut(&mut self) -> Option<&mut [u8]> {
            None
        }
        /// A region's length (its bytes are reached through the blocks); `None` for an
        /// owned buffer.
        fn region_len(&self) -> Option<usize> {
            None
        }
        /// Whether another armed read targets bytes of this region too.
        fn shared_with(&self, _blocks: &Blocks) -> bool {
            false
        }
        /// The region, for a region.
        fn as_region(&self) -> Option<Region> {
            None
        }
        fn acquire(&self, _blocks: &mut Blocks) -> Result<()> {
            Ok(())
        }
        fn release(&self, _blocks: &mut Blocks) {}
        fn retarget(&mut self, _blocks: &mut Blocks, _r: Region) -> Result<()> {
            Err(iox::Error::invalid_input(
                "the armed read does not target an Io-owned region",
            ))
        }
    }

    pub trait Sealed {
        fn slice<'a>(&'a self, blocks: &'a Blocks) -> Result<&'a [u8]>;
        fn acquire(&self, _blocks: &mut Blocks) -> Result<()> {
            Ok(())
        }
        fn release(&self, _blocks: &mut Blocks) {}
    }
}

/// A buffer a read fills: `Vec<u8>` and `Box<[u8]>` (all of their length, like a Go
/// slice: `vec![0; 4096]` reads up to 4096 bytes) or a [`Region`] of an Io-owned block.
/// Owned buffers keep their heap address while moved, as a completion-based backend needs.
pub trait IoBufMut: private::SealedMut + 'static {}

/// A buffer a write sends: `Vec<u8>`, `Box<[u8]>`, `&'static [u8]`, `&'static [u8; N]`, `&'static str`, or a
/// [`Region`].
pub trait IoBuf: private::Sealed + 'static {}

impl private::SealedMut for Vec<u8> {
    fn slice_mut<'a>(&'a mut self, _: &'a mut Blocks) -> Result<&'a mut [u8]> {
        Ok(&mut self[..])
    }
    fn stable_mut(&mut self) -> Option<&mut [u8]> {
        Some(&mut self[..])
    }
}
impl IoBufMut for Vec<u8> {}

impl private::SealedMut for Box<[u8]> {
    fn slice_mut<'a>(&'a mut self, _: &'a mut Blocks) -> Result<&'a mut [u8]> {
        Ok(&mut self[..])
    }
    fn stable_mut(&mut self) -> Option<&mut [u8]> {
        Some(&mut self[..])
    }
}
impl IoBufMut for Box<[u8]> {}

impl private::SealedMut for Region {
    fn slice_mut<'a>(&'a mut self, blocks: &'a mut Blocks) -> Result<&'a mut [u8]> {
        let b = blocks.0.lookup_mut(self.block)?;
        Ok(&mut b.data[self.range()])
    }
    fn region_len(&self) -> Option<usize> {
        Some(self.len as usize)
    }
    fn shared_with(&self, blocks: &Blocks) -> bool {
        blocks.shared(*self)
    }
    fn as_region(&self) -> Option<Region> {
        Some(*self)
    }
    #[inline]
    fn acquire(&self, blocks: &mut Blocks) -> Result<()> {
        acquire(blocks, *self, true)
    }
    #[inline]
    fn release(&self, blocks: &mut Blocks) {
        release(blocks, *self, true);
    }
    fn retarget(&mut self, blocks: &mut Blocks, r: Region) -> Result<()> {
        release(blocks, *self, true);
        if let Err(e) = acquire(blocks, r, true) {
            // Put the old target back: it was armed a moment ago, so this cannot fail.
            let _ = acquire(blocks, *self, true);
            return Err(e);
        }
        *self = r;
        Ok(())
    }
}
impl IoBufMut for Region {}

#[inline]
fn acquire(blocks: &mut Blocks, r: Region, fills: bool) -> Result<()> {
    let b = blocks.0.lookup_mut(r.block)?;
    if Blocks::conflicts(b, r, fills) {
        return Err(ARMED);
    }
    b.armed.push(Armed {
        start: r.start,
        end: r.start + r.len,
        fills,
    });
    Ok(())
}

#[inline]
fn release(blocks: &mut Blocks, r: Region, fills: bool) {
    let a = Armed {
        start: r.start,
        end: r.start + r.len,
        fills,
    };
    if let Some(b) = blocks.0.get_mut(r.block)
        && let Some(i) = b.armed.iter().position(|&x| x == a)
    {
        b.armed.swap_remove(i);
    }
}

impl private::Sealed for Region {
    fn slice<'a>(&'a self, blocks: &'a Blocks) -> Result<&'a [u8]> {
        Ok(&blocks.block(*self)?.data[self.range()])
    }
    #[inline]
    fn acquire(&self, blocks: &mut Blocks) -> Result<()> {
        acquire(blocks, *self, false)
    }
    #[inline]
    fn release(&self, blocks: &mut Blocks) {
        release(blocks, *self, false);
    }
}
impl IoBuf for Region {}

macro_rules! io_buf {
    ($($t:ty),*) => {$(
        impl private::Sealed for $t {
            fn slice<'a>(&'a self, _: &'a Blocks) -> Result<&'a [u8]> {
                Ok(<$t as AsRef<[u8]>>::as_ref(self))
            }
        }
        impl IoBuf for $t {}
    )*};
}
io_buf!(Vec<u8>, Box<[u8]>, &'static [u8], &'static str);

impl<const N: usize> private::Sealed for &'static [u8; N] {
    fn slice<'a>(&'a self, _: &'a Blocks) -> Result<&'a [u8]> {
        Ok(&self[..])
    }
}
impl<const N: usize> IoBuf for &'static [u8; N] {}
