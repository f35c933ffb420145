//! [`IoVec`] and [`IoVecMut`]: `struct iovec` with the lifetime of the slice it describes.

use core::marker::PhantomData;

/// One read-only buffer of a vectored write: `struct iovec` borrowing a `&'a [u8]`.
///
/// Layout-compatible with `libc::iovec` (and with `std::io::IoSlice` on Unix), so a slice
/// of them is what `writev(2)`/`sendmsg(2)` read directly.
///
/// ```
/// let bufs = [zcall::IoVec::new(b"head"), zcall::IoVec::new(b"body")];
/// assert_eq!(bufs[1].len(), 4);
/// ```
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct IoVec<'a> {
    raw: libc::iovec,
    _borrow: PhantomData<&'a [u8]>,
}

/// One writable buffer of a vectored read: `struct iovec` borrowing a `&'a mut [u8]`.
///
/// Layout-compatible with `libc::iovec` (and with `std::io::IoSliceMut` on Unix).
#[repr(transparent)]
pub struct IoVecMut<'a> {
    raw: libc::iovec,
    _borrow: PhantomData<&'a mut [u8]>,
}

static_assertions::assert_eq_size!(IoVec<'static>, libc::iovec);
static_assertions::assert_eq_size!(IoVecMut<'static>, libc::iovec);
static_assertions::assert_eq_align!(IoVec<'static>, libc::iovec);

// SAFETY: an `IoVec` is a shared borrow of bytes, which may be sent and shared across threads.
unsafe impl Send for IoVec<'_> {}
// SAFETY: as above.
unsafe impl Sync for IoVec<'_> {}
// SAFETY: an `IoVecMut` is a unique borrow of bytes, which may be sent across threads.
unsafe impl Send for IoVecMut<'_> {}
// SAFETY: a shared `&IoVecMut` gives no access to the bytes.
unsafe impl Sync for IoVecMut<'_> {}

impl<'a> IoVec<'a> {
    /// Describes `buf`.
    #[inline]
    pub const fn new(buf: &'a [u8]) -> Self {
        IoVec {
            raw: libc::iovec {
                iov_base: buf.as_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            },
            _borrow: PhantomData,
        }
    }

    /// The length in bytes.
    #[inline]
    pub const fn len(&self) -> usize {
        self.raw.iov_len
    }

    /// `true` when the buffer is empty.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.raw.iov_len == 0
    }

    /// The `struct iovec` itself, for building a `msghdr`.
    #[inline]
    pub const fn as_raw(&self) -> &libc::iovec {
        &self.raw
    }
}

impl<'a> IoVecMut<'a> {
    /// Describes `buf`.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Self {
        IoVecMut {
            raw: libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
            _borrow: PhantomData,
        }
    }

    /// The length in bytes.
    #[inline]
    pub const fn len(&self) -> usize {
        self.raw.iov_len
    }

    /// `true` when the buffer is empty.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.raw.iov_len == 0
    }

    /// The `struct iovec` itself, for building a `msghdr`.
    #[inline]
    pub const fn as_raw(&self) -> &libc::iovec {
        &self.raw
    }
}

impl core::fmt::Debug for IoVec<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoVec")
            .field("len", &self.raw.iov_len)
            .finish()
    }
}

impl core::fmt::Debug for IoVecMut<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoVecMut")
            .field("len", &self.raw.iov_len)
            .finish()
    }
}
