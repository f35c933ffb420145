//! [`MemFd`]: an anonymous file in memory, sealable, optionally on huge pages.
//! See `memfd_create(2)`.

use std::os::fd::OwnedFd;

use crate::{Fd, raw};

bitflags::bitflags! {
    /// `MFD_*` flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MemFdFlags: u32 {
        /// Close on exec.
        const CLOEXEC = libc::MFD_CLOEXEC;
        /// Seals may be added ([`MemFd::seal`]).
        const ALLOW_SEALING = libc::MFD_ALLOW_SEALING;
        /// Back the file with huge pages (the default huge page size).
        const HUGETLB = libc::MFD_HUGETLB;
    }
}

bitflags::bitflags! {
    /// `F_SEAL_*`: what may no longer happen to the file.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Seals: i32 {
        /// No more seals may be added.
        const SEAL = libc::F_SEAL_SEAL;
        /// The file may not shrink.
        const SHRINK = libc::F_SEAL_SHRINK;
        /// The file may not grow.
        const GROW = libc::F_SEAL_GROW;
        /// The contents may not change (no writable mapping may exist when sealing).
        const WRITE = libc::F_SEAL_WRITE;
        /// No new writable mapping or write; existing mappings keep working.
        const FUTURE_WRITE = libc::F_SEAL_FUTURE_WRITE;
    }
}

/// The kernel's limit on a memfd name, without the NUL (`249` = `NAME_MAX - strlen("memfd:")`).
pub const MEMFD_NAME_MAX: usize = 249;

/// An anonymous in-memory file. Close-on-exec (unless [`with_flags`](MemFd::with_flags) is
/// told otherwise) and non-blocking, as every handle of this crate: `memfd_create(2)` takes
/// no `O_NONBLOCK`, so it is set with `fcntl` right after. For a file in memory it changes
/// nothing (reads and writes never wait), but code that checks or relies on the flag finds
/// it, as on every other handle.
///
/// ```
/// use iofd::{MemFd, Seals};
/// let m = MemFd::sealable("ring").unwrap();
/// m.truncate(4096).unwrap();
/// assert_eq!(m.size().unwrap(), 4096);
/// m.seal(Seals::SHRINK | Seals::GROW).unwrap();
/// assert!(m.seals().unwrap().contains(Seals::GROW));
/// assert_eq!(m.truncate(8192).unwrap_err().kind(), iox::ErrorKind::PermissionDenied);
/// ```
#[derive(Debug)]
pub struct MemFd {
    fd: Fd,
}

impl MemFd {
    /// A plain memfd named `name` (the name shows in `/proc/self/fd`; it need not be
    /// unique).
    pub fn new(name: &str) -> iox::Result<MemFd> {
        MemFd::with_flags(name, MemFdFlags::CLOEXEC)
    }

    /// A memfd that accepts seals.
    pub fn sealable(name: &str) -> iox::Result<MemFd> {
        MemFd::with_flags(name, MemFdFlags::CLOEXEC | MemFdFlags::ALLOW_SEALING)
    }

    /// A memfd on huge pages; its size must be a multiple of the huge page size. Fails
    /// (`OutOfMemory`, `PermissionDenied` or `InvalidInput`) where the system has none.
    pub fn huge_pages(name: &str) -> iox::Result<MemFd> {
        MemFd::with_flags(name, MemFdFlags::CLOEXEC | MemFdFlags::HUGETLB)
    }

    /// A memfd with `flags`, made non-blocking. The name is copied into a stack buffer with
    /// its NUL: longer than [`MEMFD_NAME_MAX`] bytes, or holding a NUL, it is `InvalidInput`.
    pub fn with_flags(name: &str, flags: MemFdFlags) -> iox::Result<MemFd> {
        if name.len() > MEMFD_NAME_MAX {
            return Err(iox::Error::invalid_input("memfd name exceeds 249 bytes"));
        }
        if name.as_bytes().contains(&0) {
            return Err(iox::Error::invalid_input("memfd name contains a NUL byte"));
        }
        let mut buf = [0u8; MEMFD_NAME_MAX + 1];
        buf[..name.len()].copy_from_slice(name.as_bytes());
        let cname = std::ffi::CStr::from_bytes_until_nul(&buf)
            .map_err(|_| iox::Error::invalid_input("memfd name"))?;
        let fd = Fd::from(raw::owned(zcall::memfd_create(cname, flags.bits())?));
        // memfd_create(2) has no MFD_NONBLOCK: set O_NONBLOCK as the other handles have it.
        fd.set_nonblocking(true)?;
        Ok(MemFd { fd })
    }

    /// Sets the size (grows with zeros, or shrinks). See `ftruncate(2)`.
    pub fn truncate(&self, len: u64) -> iox::Result<()> {
        let len = i64::try_from(len)
            .map_err(|_| iox::Error::invalid_input("memfd size exceeds i64::MAX"))?;
        zcall::ftruncate(self.fd.raw(), len).map_err(iox::Error::from)
    }

    /// The size in bytes (`fstat`'s `st_size`).
    pub fn size(&self) -> iox::Result<u64> {
        Ok(zcall::fstat(self.fd.raw())?.st_size as u64)
    }

    /// Adds seals (needs [`MemFdFlags::ALLOW_SEALING`]). See `F_ADD_SEALS` in `fcntl(2)`.
    pub fn seal(&self, seals: Seals) -> iox::Result<()> {
        zcall::fcntl(self.fd.raw(), libc::F_ADD_SEALS, seals.bits())?;
        Ok(())
    }

    /// The seals in force.
    pub fn seals(&self) -> iox::Result<Seals> {
        Ok(Seals::from_bits_retain(zcall::fcntl(
            self.fd.raw(),
            libc::F_GET_SEALS,
            0,
        )?))
    }

    /// Reads at `offset` without moving the file offset.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> iox::Result<usize> {
        zcall::pread(self.fd.raw(), buf, offset as i64).map_err(iox::Error::from)
    }

    /// Writes at `offset` without moving the file offset.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> iox::Result<usize> {
        zcall::pwrite(self.fd.raw(), buf, offset as i64).map_err(iox::Error::from)
    }

    /// The descriptor (reads and writes at the file offset).
    pub fn as_fd_ref(&self) -> &Fd {
        &self.fd
    }
}

crate::handle_traits!(MemFd);

impl From<OwnedFd> for MemFd {
    /// Wraps a descriptor that must be a memfd (or any regular file).
    fn from(fd: OwnedFd) -> MemFd {
        MemFd { fd: Fd::from(fd) }
    }
}
