//! [`MirroredBuffer`]: a ring whose committed bytes and free space are always contiguous,
//! because the same pages are mapped twice, back to back.

use crate::Fifo;
use crate::sys::Mapping;

/// How a mirrored buffer is mapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorOptions {
    /// Touch every page at creation (`MAP_POPULATE`): no page fault on the hot path.
    pub prefault: bool,
    /// Back it with huge pages (the size is rounded up to 2 MiB).
    pub huge_pages: bool,
    /// Pin it in memory (`mlock`).
    pub lock: bool,
    /// Hide it from forked children (`MADV_DONTFORK`).
    pub dont_fork: bool,
}

/// The huge page size the mirrored buffer uses (sizes round up to it, and its reservation
/// is aligned to it).
pub(crate) const HUGE_PAGE: usize = 2 * 1024 * 1024;

/// Why a mirrored buffer could not be made: the error, and the size that was asked for.
///
/// ```
/// let e = sonic_bytes::MirroredBuffer::new(0).unwrap_err();
/// assert_eq!(e.size(), 0);
/// assert_eq!(e.kind(), iox::ErrorKind::InvalidInput);
/// assert_eq!(
///     e.to_string(),
///     "mirrored buffer of 0 bytes: invalid input: mirrored buffer size must be positive"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MirrorError {
    size: usize,
    error: iox::Error,
}

impl MirrorError {
    /// The size that was asked for (before rounding).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The underlying error (the kernel's errno, or `InvalidInput` / `Unsupported`).
    pub fn error(&self) -> iox::Error {
        self.error
    }

    /// The error's kind.
    pub fn kind(&self) -> iox::ErrorKind {
        self.error.kind()
    }
}

impl std::fmt::Display for MirrorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mirrored buffer of {} bytes: {}", self.size, self.error)
    }
}

impl std::error::Error for MirrorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<MirrorError> for iox::Error {
    /// Drops the size (an `iox::Error` carries only static text).
    fn from(e: MirrorError) -> iox::Error {
        e.error
    }
}

impl From<MirrorError> for std::io::Error {
    /// Keeps the size in the message; the kind is the underlying error's.
    fn from(e: MirrorError) -> std::io::Error {
        std::io::Error::new(e.error.io_kind(), e)
    }
}

/// The size actually used for a requested `size`: rounded up to a multiple of the page
/// size (not to a power of two), or of 2 MiB with `huge_pages`.
pub fn rounded_size(size: usize, huge_pages: bool) -> Result<usize, MirrorError> {
    let fail = |context| MirrorError {
        size,
        error: iox::Error::invalid_input(context),
    };
    if size == 0 {
        return Err(fail("mirrored buffer size must be positive"));
    }
    let unit = if huge_pages {
        HUGE_PAGE
    } else {
        crate::sys::page_size()
    };
    size.div_ceil(unit)
        .checked_mul(unit)
        .filter(|n| n.checked_mul(2).is_some_and(|t| t <= isize::MAX as usize))
        .ok_or(fail("mirrored buffer size exceeds the address space"))
}

/// A ring of `capacity` bytes (a page multiple) mapped twice: [`Fifo::data`] and
/// [`Fifo::claim`] are always one contiguous slice, even across the wrap, with no copy.
///
/// Positions wrap by comparison and subtraction, so any page multiple works (the Go version
/// masked with `size - 1` and corrupted non-power-of-two sizes).
///
/// ```
/// # #[cfg(all(target_os = "linux", not(miri)))] {
/// use sonic_bytes::{Fifo, MirroredBuffer};
/// let mut m = MirroredBuffer::new(3 * 4096).unwrap(); // not a power of two
/// let cap = m.capacity();
/// m.claim(cap - 10).fill(1);
/// m.commit(cap - 10);
/// m.consume(cap - 20);                 // 10 bytes left, near the end
/// m.claim(30).fill(2);                 // this claim wraps...
/// m.commit(30);
/// assert_eq!(m.data().len(), 40);      // ...and the data is still one slice
/// assert_eq!(&m.data()[..10], &[1; 10]);
/// assert_eq!(&m.data()[10..], &[2; 30]);
/// # }
/// ```
#[derive(Debug)]
pub struct MirroredBuffer {
    map: Mapping,
    ring: Ring,
}

/// The ring's index arithmetic, apart from the mapping (so Miri can check it).
///
/// Invariant: `head < cap` (or 0), `len <= cap`, `claimed <= cap - len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    pub(crate) cap: usize,
    pub(crate) head: usize,
    pub(crate) len: usize,
    pub(crate) claimed: usize,
}

impl Ring {
    pub(crate) fn new(cap: usize) -> Ring {
        Ring {
            cap,
            head: 0,
            len: 0,
            claimed: 0,
        }
    }

    /// Where a claim of up to `n` bytes starts, and its length (in the doubled view, so
    /// `start + len <= 2 * cap`).
    pub(crate) fn claim(&mut self, n: usize) -> (usize, usize) {
        let n = n.min(self.cap - self.len);
        self.claimed = n;
        // head < cap and len <= cap: one subtraction wraps it (no division on the hot path).
        let t = self.head + self.len;
        (if t >= self.cap { t - self.cap } else { t }, n)
    }

    pub(crate) fn commit(&mut self, n: usize) -> usize {
        let n = n.min(self.claimed);
        self.claimed = 0;
        self.len += n;
        n
    }

    /// The committed bytes, in the doubled view.
    pub(crate) fn data(&self) -> (usize, usize) {
        (self.head, self.len)
    }

    pub(crate) fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        let h = self.head + n;
        self.head = if h >= self.cap { h - self.cap } else { h };
        self.len -= n;
        if self.len == 0 && self.claimed == 0 {
            // Empty with no claim outstanding: back to the start. (An outstanding claim
            // starts at the new head, where its commit will publish it.)
            self.head = 0;
        }
        n
    }
}

impl MirroredBuffer {
    /// A buffer of at least `size` bytes, default options.
    pub fn new(size: usize) -> Result<MirroredBuffer, MirrorError> {
        MirroredBuffer::with_options(size, MirrorOptions::default())
    }

    /// A buffer of at least `size` bytes. `InvalidInput` for 0 or a size past the address
    /// space; the kernel's error otherwise (with what was being done), after unmapping
    /// whatever had been mapped. The error says the size asked for.
    pub fn with_options(size: usize, o: MirrorOptions) -> Result<MirroredBuffer, MirrorError> {
        let cap = rounded_size(size, o.huge_pages)?;
        let map = Mapping::new(cap, &o).map_err(|error| MirrorError { size, error })?;
        Ok(MirroredBuffer {
            map,
            ring: Ring::new(cap),
        })
    }
}

impl Fifo for MirroredBuffer {
    fn claim(&mut self, n: usize) -> &mut [u8] {
        let (start, len) = self.ring.claim(n);
        &mut self.map.bytes_mut()[start..start + len]
    }

    fn commit(&mut self, n: usize) -> usize {
        self.ring.commit(n)
    }

    fn data(&self) -> &[u8] {
        let (start, len) = self.ring.data();
        &self.map.bytes()[start..start + len]
    }

    fn consume(&mut self, n: usize) -> usize {
        self.ring.consume(n)
    }

    fn len(&self) -> usize {
        self.ring.len
    }

    fn capacity(&self) -> usize {
        self.ring.cap
    }

    fn clear(&mut self) {
        self.ring = Ring::new(self.ring.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    /// An outstanding claim keeps its place when a consume empties the ring: its commit
    /// publishes the claimed span (defect 7 of issue 16: the head rewound to 0 and the
    /// commit published the consumed bytes again).
    #[test]
    fn ring_claim_survives_an_emptying_consume() {
        let mut r = Ring::new(8);
        let (s, l) = r.claim(3);
        assert_eq!((s, l), (0, 3));
        assert_eq!(r.commit(3), 3);
        let (claim_start, l) = r.claim(3);
        assert_eq!((claim_start, l), (3, 3));
        assert_eq!(r.consume(3), 3);
        assert_eq!(r.commit(3), 3);
        assert_eq!(r.data(), (claim_start, 3), "the data is the claimed span");
        // Committed and consumed, with no claim outstanding: the ring rewinds.
        assert_eq!(r.consume(3), 3);
        assert_eq!(r.data(), (0, 0));
    }

    /// Claims and data never leave the doubled view, whatever the (non power of two)
    /// capacity and the sequence of operations.
    #[test]
    fn ring_arithmetic_stays_in_the_doubled_view() {
        for cap in [1usize, 3, 4096, 12288, 4096 * 5] {
            let mut r = Ring::new(cap);
            let mut model_len = 0usize;
            let mut x = 12345u64;
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = (x % (cap as u64 + 3)) as usize;
                match x % 3 {
                    0 => {
                        let (s, l) = r.claim(n);
                        assert!(s < cap && s + l <= 2 * cap && l <= cap - model_len);
                        let c = r.commit(n / 2 + 1);
                        assert!(c <= l);
                        model_len += c;
                    }
                    1 => model_len -= r.consume(n),
                    _ => {
                        let (s, l) = r.data();
                        assert!(s < cap.max(1) && s + l <= 2 * cap);
                    }
                }
                assert_eq!(r.len, model_len);
                assert!(r.head < cap);
            }
        }
    }
}
