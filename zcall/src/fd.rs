//! Descriptor I/O and control: read, write, vectored and positioned variants, fcntl, fstat,
//! ftruncate, pipe2, close.

use core::ffi::c_int;

use crate::{Errno, IoVec, IoVecMut, RawFd, Result, sys};

/// Reads into `buf`; returns the count, `0` at end of file.
///
/// An empty `buf` returns `Ok(0)` without entering the kernel. See `read(2)`.
#[inline]
pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    sys::read(fd, buf)
}

/// Writes from `buf`; returns the count written.
///
/// An empty `buf` returns `Ok(0)` without entering the kernel. For sockets prefer
/// [`send`](crate::send) with `MSG_NOSIGNAL`: a write to a closed stream raises `SIGPIPE`.
/// See `write(2)`.
#[inline]
pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    sys::write(fd, buf)
}

/// Scatter read into `bufs`, in order. See `readv(2)`.
#[inline]
pub fn readv(fd: RawFd, bufs: &mut [IoVecMut<'_>]) -> Result<usize> {
    sys::readv(fd, bufs)
}

/// Gather write from `bufs`, in order. See `writev(2)`.
#[inline]
pub fn writev(fd: RawFd, bufs: &[IoVec<'_>]) -> Result<usize> {
    sys::writev(fd, bufs)
}

/// Reads at `offset` without moving the file offset. See `pread(2)`.
#[inline]
pub fn pread(fd: RawFd, buf: &mut [u8], offset: i64) -> Result<usize> {
    sys::pread(fd, buf, offset)
}

/// Writes at `offset` without moving the file offset. See `pwrite(2)`.
#[inline]
pub fn pwrite(fd: RawFd, buf: &[u8], offset: i64) -> Result<usize> {
    sys::pwrite(fd, buf, offset)
}

/// Scatter read at `offset`. See `preadv(2)`.
#[inline]
pub fn preadv(fd: RawFd, bufs: &mut [IoVecMut<'_>], offset: i64) -> Result<usize> {
    sys::preadv(fd, bufs, offset)
}

/// Gather write at `offset`. See `pwritev(2)`.
#[inline]
pub fn pwritev(fd: RawFd, bufs: &[IoVec<'_>], offset: i64) -> Result<usize> {
    sys::pwritev(fd, bufs, offset)
}

/// Closes `fd`. The descriptor is gone even when an error is returned (Linux semantics:
/// never retry a close). See `close(2)`.
///
/// # Safety
///
/// The caller must own `fd`: no other owner may use or close it afterwards, or it may
/// operate on an unrelated descriptor that reuses the number.
#[inline]
pub unsafe fn close(fd: RawFd) -> Result<()> {
    // SAFETY: the caller owns `fd`.
    unsafe { sys::close(fd) }
}

/// `fcntl(fd, cmd, arg)` for the commands whose argument is an integer (or unused):
/// `F_GETFD`, `F_SETFD`, `F_GETFL`, `F_SETFL`, `F_DUPFD`, `F_DUPFD_CLOEXEC`, and on Linux
/// `F_ADD_SEALS`, `F_GET_SEALS`, `F_GETPIPE_SZ`, `F_SETPIPE_SZ`. Any other command (those
/// taking a pointer, such as `F_GETLK`) returns `EINVAL` without entering the kernel.
/// See `fcntl(2)`.
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
/// let fl = zcall::fcntl(r, libc::F_GETFL, 0).unwrap();
/// zcall::fcntl(r, libc::F_SETFL, fl | libc::O_NONBLOCK).unwrap();
/// assert_eq!(zcall::read(r, &mut [0; 1]), Err(zcall::Errno::EAGAIN));
/// assert_eq!(zcall::fcntl(r, libc::F_GETLK, 0), Err(zcall::Errno::EINVAL));
/// # unsafe { zcall::close(r).unwrap(); zcall::close(w).unwrap(); }
/// # }
/// ```
#[inline]
pub fn fcntl(fd: RawFd, cmd: c_int, arg: c_int) -> Result<c_int> {
    if !fcntl_takes_int(cmd) {
        return Err(Errno::EINVAL);
    }
    sys::fcntl(fd, cmd, arg)
}

fn fcntl_takes_int(cmd: c_int) -> bool {
    let portable = [
        libc::F_GETFD,
        libc::F_SETFD,
        libc::F_GETFL,
        libc::F_SETFL,
        libc::F_DUPFD,
        libc::F_DUPFD_CLOEXEC,
    ];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let linux = [
        libc::F_ADD_SEALS,
        libc::F_GET_SEALS,
        libc::F_GETPIPE_SZ,
        libc::F_SETPIPE_SZ,
    ];
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let linux: [c_int; 0] = [];
    portable.contains(&cmd) || linux.contains(&cmd)
}

/// Sets the file size to `len`. See `ftruncate(2)`.
#[inline]
pub fn ftruncate(fd: RawFd, len: i64) -> Result<()> {
    sys::ftruncate(fd, len)
}

/// The file status of `fd`. See `fstat(2)` (on loongarch64, `statx(2)` translated).
#[inline]
pub fn fstat(fd: RawFd) -> Result<libc::stat> {
    sys::fstat(fd)
}

/// A pipe, `[read end, write end]`, with `O_CLOEXEC`/`O_NONBLOCK`/`O_DIRECT` from `flags`.
///
/// On macOS, which has no pipe2, the flags are applied with fcntl after pipe (not atomic
/// with respect to a concurrent fork). See `pipe2(2)`.
#[inline]
pub fn pipe2(flags: c_int) -> Result<[RawFd; 2]> {
    sys::pipe2(flags)
}
