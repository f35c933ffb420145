//! [`EventFd`]: a kernel counter to signal and wait on. See `eventfd(2)`.

use std::os::fd::OwnedFd;

use crate::{Fd, Signaler, raw};

bitflags::bitflags! {
    /// `EFD_*` flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EventFdFlags: i32 {
        /// Close on exec.
        const CLOEXEC = libc::EFD_CLOEXEC;
        /// Reads and overflowing writes return `WouldBlock` instead of blocking.
        const NONBLOCK = libc::EFD_NONBLOCK;
        /// Each read takes 1 from the counter instead of all of it.
        const SEMAPHORE = libc::EFD_SEMAPHORE;
    }
}

/// A 64-bit kernel counter: [`signal`](EventFd::signal) adds, [`wait`](EventFd::wait)
/// takes. Non-blocking and close-on-exec unless made with other flags.
///
/// ```
/// use iofd::EventFd;
/// let ev = EventFd::new(0).unwrap();
/// ev.signal(2).unwrap();
/// ev.signal(3).unwrap();
/// assert_eq!(ev.value().unwrap(), 5); // peeks, takes nothing
/// assert_eq!(ev.wait().unwrap(), 5);
/// assert!(ev.wait().unwrap_err().is_would_block());
/// ```
#[derive(Debug)]
pub struct EventFd {
    fd: Fd,
}

impl EventFd {
    /// Counter mode, starting at `initial`.
    pub fn new(initial: u32) -> iox::Result<EventFd> {
        EventFd::with_flags(initial, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK)
    }

    /// Semaphore mode (each wait takes 1), starting at `initial`.
    pub fn semaphore(initial: u32) -> iox::Result<EventFd> {
        EventFd::with_flags(
            initial,
            EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK | EventFdFlags::SEMAPHORE,
        )
    }

    /// Any flags (without `NONBLOCK`, waits block).
    pub fn with_flags(initial: u32, flags: EventFdFlags) -> iox::Result<EventFd> {
        let fd = zcall::eventfd2(initial, flags.bits())?;
        Ok(EventFd {
            fd: Fd::from(raw::owned(fd)),
        })
    }

    /// Adds `value`. Zero does nothing (no syscall). `u64::MAX` is refused (`InvalidInput`:
    /// the kernel reserves it); a sum that would pass `u64::MAX - 1` is `WouldBlock`.
    #[inline]
    pub fn signal(&self, value: u64) -> iox::Result<()> {
        if value == 0 {
            return Ok(());
        }
        if value == u64::MAX {
            return Err(iox::Error::invalid_input(
                "eventfd value u64::MAX is reserved by the kernel",
            ));
        }
        self.fd.write(&value.to_ne_bytes()).map(drop)
    }

    /// Takes the whole count (1 in semaphore mode); `WouldBlock` when it is zero.
    #[inline]
    pub fn wait(&self) -> iox::Result<u64> {
        let mut b = [0u8; 8];
        if self.fd.read(&mut b)? != 8 {
            return Err(iox::Error::with_context(
                iox::ErrorKind::UnexpectedEof,
                "eventfd read returned less than 8 bytes",
            ));
        }
        Ok(u64::from_ne_bytes(b))
    }

    /// The current count, without taking it: read from `/proc/self/fdinfo` (the Go
    /// package's `Value()` was a stub). Cold path: an open, a read and a close, through
    /// stack buffers (no allocation).
    pub fn value(&self) -> iox::Result<u64> {
        let mut text = [0u8; 512];
        let n = crate::fdinfo::read(self.fd.raw(), &mut text)?;
        crate::fdinfo::field(&text[..n], b"eventfd-count:", 16)
            .ok_or(iox::Error::unsupported("fdinfo has no eventfd-count line"))
    }

    /// The descriptor.
    pub fn as_fd_ref(&self) -> &Fd {
        &self.fd
    }
}

impl Signaler for EventFd {
    fn signal(&self, value: u64) -> iox::Result<()> {
        EventFd::signal(self, value)
    }
    fn wait(&self) -> iox::Result<u64> {
        EventFd::wait(self)
    }
}

crate::handle_traits!(EventFd);

impl From<OwnedFd> for EventFd {
    /// Wraps a descriptor that must be an eventfd (others fail their reads and writes).
    fn from(fd: OwnedFd) -> EventFd {
        EventFd { fd: Fd::from(fd) }
    }
}
