//! [`Fd`]: one owned descriptor with iox errors.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use crate::raw;

/// An owned descriptor: closed on drop, or by [`close`](Fd::close), which reports the error.
/// A second close cannot be written: `close` consumes the `Fd`.
///
/// Reads and writes return [`iox::Result`]: `WouldBlock` at once on a non-blocking
/// descriptor with nothing to do, `Ok(0)` at end of input, never a count of -1. An empty
/// buffer returns `Ok(0)` without a syscall.
///
/// ```
/// use iofd::Fd;
/// let [r, w] = Fd::pipe().unwrap();
/// w.write(b"ping").unwrap();
/// let mut buf = [0u8; 8];
/// assert_eq!(r.read(&mut buf).unwrap(), 4);
/// assert!(r.read(&mut buf).unwrap_err().is_would_block());
/// w.close().unwrap();
/// assert_eq!(r.read(&mut buf).unwrap(), 0);
/// ```
#[derive(Debug)]
pub struct Fd {
    fd: OwnedFd,
}

impl Fd {
    /// A non-blocking, close-on-exec pipe: `[read end, write end]`.
    pub fn pipe() -> iox::Result<[Fd; 2]> {
        let [r, w] = zcall::pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
        Ok([Fd::from(raw::owned(r)), Fd::from(raw::owned(w))])
    }

    /// The descriptor number.
    #[inline]
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads into `buf`. See `read(2)`.
    #[inline]
    pub fn read(&self, buf: &mut [u8]) -> iox::Result<usize> {
        zcall::read(self.raw(), buf).map_err(iox::Error::from)
    }

    /// Writes from `buf`. On a socket prefer the socket's `send` (no `SIGPIPE`).
    /// See `write(2)`.
    #[inline]
    pub fn write(&self, buf: &[u8]) -> iox::Result<usize> {
        zcall::write(self.raw(), buf).map_err(iox::Error::from)
    }

    /// Scatter read. See `readv(2)`.
    #[inline]
    pub fn readv(&self, bufs: &mut [IoSliceMut<'_>]) -> iox::Result<usize> {
        zcall::readv(self.raw(), raw::iovecs_mut(bufs)).map_err(iox::Error::from)
    }

    /// Gather write. See `writev(2)`.
    #[inline]
    pub fn writev(&self, bufs: &[IoSlice<'_>]) -> iox::Result<usize> {
        zcall::writev(self.raw(), raw::iovecs(bufs)).map_err(iox::Error::from)
    }

    /// Sets or clears `bit` in the flags read by `get` and written by `set` (no write when
    /// nothing changes).
    fn update_flag(&self, get: i32, set: i32, bit: i32, on: bool) -> iox::Result<()> {
        let fl = zcall::fcntl(self.raw(), get, 0)?;
        let new = if on { fl | bit } else { fl & !bit };
        if new != fl {
            zcall::fcntl(self.raw(), set, new)?;
        }
        Ok(())
    }

    /// Turns `O_NONBLOCK` on or off. See `fcntl(2)`.
    pub fn set_nonblocking(&self, on: bool) -> iox::Result<()> {
        self.update_flag(libc::F_GETFL, libc::F_SETFL, libc::O_NONBLOCK, on)
    }

    /// Whether `O_NONBLOCK` is set.
    pub fn is_nonblocking(&self) -> iox::Result<bool> {
        Ok(zcall::fcntl(self.raw(), libc::F_GETFL, 0)? & libc::O_NONBLOCK != 0)
    }

    /// Turns `FD_CLOEXEC` on or off.
    pub fn set_cloexec(&self, on: bool) -> iox::Result<()> {
        self.update_flag(libc::F_GETFD, libc::F_SETFD, libc::FD_CLOEXEC, on)
    }

    /// Whether `FD_CLOEXEC` is set.
    pub fn is_cloexec(&self) -> iox::Result<bool> {
        Ok(zcall::fcntl(self.raw(), libc::F_GETFD, 0)? & libc::FD_CLOEXEC != 0)
    }

    /// A second descriptor for the same open file, close-on-exec (`F_DUPFD_CLOEXEC`).
    pub fn try_clone(&self) -> iox::Result<Fd> {
        let fd = zcall::fcntl(self.raw(), libc::F_DUPFD_CLOEXEC, 0)?;
        Ok(Fd::from(raw::owned(fd)))
    }

    /// Closes the descriptor and reports the kernel's answer. The descriptor is gone either
    /// way (never retry a close). Dropping an `Fd` closes it too, ignoring the error.
    pub fn close(self) -> iox::Result<()> {
        let fd = self.fd.into_raw_fd();
        // SAFETY: `fd` came out of the `OwnedFd` this `Fd` owned; nothing else closes it.
        unsafe { zcall::close(fd) }.map_err(iox::Error::from)
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for Fd {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl FromRawFd for Fd {
    /// # Safety
    ///
    /// `fd` must be open and owned by nobody else; the `Fd` will close it.
    unsafe fn from_raw_fd(fd: RawFd) -> Fd {
        // SAFETY: forwarded to the caller.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Fd { fd }
    }
}

impl From<OwnedFd> for Fd {
    fn from(fd: OwnedFd) -> Fd {
        Fd { fd }
    }
}

impl From<Fd> for OwnedFd {
    fn from(fd: Fd) -> OwnedFd {
        fd.fd
    }
}

impl io::Read for &Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Fd::read(self, buf).map_err(io::Error::from)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        Fd::readv(self, bufs).map_err(io::Error::from)
    }
}

impl io::Write for &Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Fd::write(self, buf).map_err(io::Error::from)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Fd::writev(self, bufs).map_err(io::Error::from)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Fd::read(self, buf).map_err(io::Error::from)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        Fd::readv(self, bufs).map_err(io::Error::from)
    }
}

impl io::Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Fd::write(self, buf).map_err(io::Error::from)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Fd::writev(self, bufs).map_err(io::Error::from)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
