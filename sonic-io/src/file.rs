//! Regular files: always ready, so their async operations complete at once.

use std::io::SeekFrom;
use std::path::Path;

use iox::{Error, Result};

use crate::handle::byte_ops;
use crate::handle::handle;
use crate::io::Io;
use crate::object::{Class, Owned, Register, private::Sealed};

impl Sealed for iofd::Fd {
    const CLASS: Class = Class::File;
    fn into_owned(self) -> Owned {
        Owned::File(self)
    }
    fn from_owned(o: Owned) -> std::result::Result<Self, Owned> {
        match o {
            Owned::File(f) => Ok(f),
            other => Err(other),
        }
    }
    fn borrow(o: &Owned) -> Option<&Self> {
        match o {
            Owned::File(f) => Some(f),
            _ => None,
        }
    }
}
impl Register for iofd::Fd {}

/// Descriptors a [`FileOf`] can own (sealed): [`iofd::Fd`] of a regular file.
pub trait FileSock: Register {}
impl FileSock for iofd::Fd {}

handle! {
    /// A regular file owned by an [`Io`] ([`File`]). Regular files are never registered
    /// with the poller (epoll refuses them) and are always ready: every async operation
    /// makes its syscall at once and completes inline (or, past the dispatch depth, on the
    /// next turn). Reads and writes move the file offset, as `read(2)`/`write(2)` do.
    /// `add` and `open` take a regular file or a block device and refuse anything else
    /// (a socket, pipe or terminal) with `InvalidInput`: nothing would ever wake its
    /// parked operations. Drive those with their socket handles or an
    /// [`Adapter`](crate::Adapter).
    ///
    /// ```
    /// use sonic_io::{File, Io};
    ///
    /// let mut io = Io::new().unwrap();
    /// let path = std::env::temp_dir().join(format!("sonic-io-doc-{}", std::process::id()));
    /// let mut opts = std::fs::OpenOptions::new();
    /// opts.read(true).write(true).create(true).truncate(true);
    /// let f = File::open(&mut io, &path, &opts).unwrap();
    /// f.async_write_all(&mut io, b"hello", |_, r, _| assert_eq!(r.unwrap(), 5)).unwrap();
    /// f.seek(&mut io, std::io::SeekFrom::Start(0)).unwrap();
    /// f.async_read(&mut io, vec![0u8; 16], |_, r, buf| assert_eq!(&buf[..r.unwrap()], b"hello")).unwrap();
    /// std::fs::remove_file(path).unwrap();
    /// ```
    FileOf<D: FileSock>
}

/// A regular file owned by an [`Io`].
pub type File = FileOf<iofd::Fd>;

byte_ops!(FileOf<D: FileSock>);

impl FileOf<iofd::Fd> {
    /// Opens `path` with `opts` (close-on-exec, as std does) and gives it to `io`. Fails
    /// with `InvalidInput` if it is not a regular file or a block device (use an
    /// [`Adapter`](crate::Adapter) for pipes and terminals).
    pub fn open(io: &mut Io, path: impl AsRef<Path>, opts: &std::fs::OpenOptions) -> Result<File> {
        let f = opts.open(path).map_err(|e| Error::from_io(&e))?;
        let fd = iofd::Fd::from(std::os::fd::OwnedFd::from(f));
        crate::object::check_always_ready(fd.raw())?;
        File::add(io, fd)
    }

    /// Moves the file offset; returns the new one.
    pub fn seek(self, io: &mut Io, pos: SeekFrom) -> Result<u64> {
        let fd = io.object(self.key)?.fd;
        let (off, whence) = match pos {
            SeekFrom::Start(o) => (
                i64::try_from(o).map_err(|_| Error::invalid_input("offset exceeds i64"))?,
                libc::SEEK_SET,
            ),
            SeekFrom::Current(o) => (o, libc::SEEK_CUR),
            SeekFrom::End(o) => (o, libc::SEEK_END),
        };
        crate::raw::calls::lseek(fd, off, whence)
    }
}
