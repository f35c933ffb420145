//! The crate's `unsafe`: the [`Sockaddr`] contract, byte views of the kernel structs, and
//! copying kernel bytes into them.

/// An address the kernel can read: a pointer to a `struct sockaddr_*` and its length.
///
/// # Safety
///
/// Implementors promise that `as_ptr()` points to `socklen()` initialised, readable bytes
/// that stay valid and unchanged for as long as `&self` is borrowed, that those bytes are a
/// kernel socket address whose family field equals `family()`, and that `socklen()` is at
/// most the size of `sockaddr_storage`. Callers may hand the pointer and length to any
/// socket call that reads an address.
pub unsafe trait Sockaddr {
    /// The address, as the kernel reads it.
    fn as_ptr(&self) -> *const libc::sockaddr;
    /// How many bytes of it the kernel should read.
    fn socklen(&self) -> libc::socklen_t;
    /// `AF_INET`, `AF_INET6`, `AF_UNIX`, ...
    fn family(&self) -> libc::sa_family_t;

    /// The same bytes as a slice: what `zcall::bind`, `connect` and `sendto` take.
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: the trait's contract: `socklen()` readable bytes at `as_ptr()`, valid while
        // `&self` is borrowed, which the returned slice's lifetime is tied to.
        unsafe { core::slice::from_raw_parts(self.as_ptr().cast::<u8>(), self.socklen() as usize) }
    }
}

/// Kernel address structs: plain integers and byte arrays, for which every bit pattern is
/// a valid value.
///
/// # Safety
///
/// Only for `#[repr(C)]` structs made of integers and arrays of integers.
pub(crate) unsafe trait Pod: Copy {}

// SAFETY: integers and integer arrays only.
unsafe impl Pod for libc::sockaddr_in {}
// SAFETY: integers and integer arrays only.
unsafe impl Pod for libc::sockaddr_in6 {}
// SAFETY: integers and integer arrays only.
unsafe impl Pod for libc::sockaddr_un {}
// SAFETY: integers and integer arrays only (padding fields are integers too).
unsafe impl Pod for libc::sockaddr_storage {}

/// All-zero `T`.
#[inline]
pub(crate) const fn zeroed<T: Pod>() -> T {
    // SAFETY: `T: Pod`, so the all-zero pattern is a valid value.
    unsafe { core::mem::zeroed() }
}

/// The bytes of `v`.
#[inline]
pub(crate) fn bytes<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: `T: Pod` has no padding-dependent invariants; its `size_of` bytes are
    // readable for the borrow's lifetime.
    unsafe { core::slice::from_raw_parts((v as *const T).cast::<u8>(), core::mem::size_of::<T>()) }
}

/// The bytes of `v`, writable (any bytes written leave a valid `T`).
#[inline]
pub(crate) fn bytes_mut<T: Pod>(v: &mut T) -> &mut [u8] {
    // SAFETY: `T: Pod`: every bit pattern is valid, so arbitrary writes keep `*v` valid; the
    // unique borrow is carried over to the slice.
    unsafe {
        core::slice::from_raw_parts_mut((v as *mut T).cast::<u8>(), core::mem::size_of::<T>())
    }
}

/// A `T` whose first bytes are `prefix` (at most `size_of::<T>()` of them) and the rest zero.
#[inline]
pub(crate) fn from_prefix<T: Pod>(prefix: &[u8]) -> T {
    let mut v: T = zeroed();
    let dst = bytes_mut(&mut v);
    let n = prefix.len().min(dst.len());
    dst[..n].copy_from_slice(&prefix[..n]);
    v
}

/// `if_nametoindex(3)`: 0 when there is no such interface.
pub(crate) fn if_nametoindex(name: &core::ffi::CStr) -> u32 {
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// The first `size_of::<T>()` bytes of a storage, as a `T` (a fixed-size copy).
#[inline]
pub(crate) fn read_as<T: Pod>(storage: &libc::sockaddr_storage) -> T {
    const { assert!(core::mem::size_of::<T>() <= core::mem::size_of::<libc::sockaddr_storage>()) };
    const { assert!(core::mem::align_of::<T>() <= core::mem::align_of::<libc::sockaddr_storage>()) };
    // SAFETY: `T` fits in the storage and needs no more alignment than it has (checked at
    // compile time above); every byte of the storage is initialised and `T: Pod` accepts
    // any bytes.
    unsafe { core::ptr::read((storage as *const libc::sockaddr_storage).cast::<T>()) }
}
