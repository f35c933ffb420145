//! [`SockaddrUnix`]: `sockaddr_un` with the length the kernel uses, so pathname, abstract and
//! unnamed addresses all round-trip.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::raw::{Sockaddr, bytes, bytes_mut, from_prefix};
use crate::sys;

const PATH_OFFSET: usize = core::mem::offset_of!(libc::sockaddr_un, sun_path);
const SUN_PATH_LEN: usize = core::mem::size_of::<libc::sockaddr_un>() - PATH_OFFSET;

/// The longest pathname, in bytes, without its NUL: 107 on Linux, 103 on BSD and macOS.
pub const MAX_PATH_LEN: usize = SUN_PATH_LEN - 1;
/// The longest abstract name, in bytes, without its leading NUL (Linux): 107.
pub const MAX_ABSTRACT_LEN: usize = SUN_PATH_LEN - 1;

#[cfg(any(target_os = "linux", target_os = "android"))]
const PATH_TOO_LONG: &str = "unix socket path exceeds 107 bytes";
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const PATH_TOO_LONG: &str = "unix socket path exceeds 103 bytes";

/// A Unix-domain socket address: a pathname, an abstract name (Linux), or unnamed.
///
/// Invariant: `len` lies between the offset of `sun_path` and the size of `sockaddr_un`,
/// and is the exact length the kernel is told (or told us). Pathnames carry their NUL in
/// `len`, except one that fills `sun_path` (which only the kernel hands us: see
/// `from_kernel`); abstract names are a leading NUL and the name, with **no** trailing NUL (as other
/// implementations encode them, so that peers agree on the name).
///
/// ```
/// use sockaddr::SockaddrUnix;
/// let p = SockaddrUnix::new("/tmp/app.sock").unwrap();
/// assert_eq!(p.path().unwrap().to_str(), Some("/tmp/app.sock"));
/// # #[cfg(target_os = "linux")] {
/// let a: SockaddrUnix = "@gateway".parse().unwrap();
/// assert_eq!(a.abstract_name(), Some(&b"gateway"[..]));
/// assert_eq!(a.to_string(), "@gateway");
/// # }
/// let long = "x".repeat(200);
/// assert!(SockaddrUnix::new(&long).unwrap_err().to_string().contains("exceeds"));
/// ```
#[derive(Clone, Copy)]
pub struct SockaddrUnix {
    raw: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl SockaddrUnix {
    fn with_len(mut raw: libc::sockaddr_un, len: usize) -> SockaddrUnix {
        sys::set_un_len(&mut raw, len as libc::socklen_t);
        SockaddrUnix {
            raw,
            len: len as libc::socklen_t,
        }
    }

    /// A pathname address. Empty (use [`unnamed`](Self::unnamed)), longer than
    /// [`MAX_PATH_LEN`], or holding a NUL byte: `InvalidInput`.
    pub fn new(path: impl AsRef<Path>) -> iox::Result<SockaddrUnix> {
        let p = path.as_ref().as_os_str().as_bytes();
        if p.is_empty() {
            return Err(iox::Error::invalid_input("unix socket path is empty"));
        }
        if p.len() > MAX_PATH_LEN {
            return Err(iox::Error::invalid_input(PATH_TOO_LONG));
        }
        if p.contains(&0) {
            return Err(iox::Error::invalid_input(
                "unix socket path contains a NUL byte",
            ));
        }
        let mut raw = sys::sockaddr_un();
        bytes_mut(&mut raw)[PATH_OFFSET..PATH_OFFSET + p.len()].copy_from_slice(p);
        Ok(SockaddrUnix::with_len(raw, PATH_OFFSET + p.len() + 1))
    }

    /// An abstract address (Linux): `name` may hold any bytes, NULs included. Longer than
    /// [`MAX_ABSTRACT_LEN`]: `InvalidInput`; elsewhere than Linux: `Unsupported`.
    pub fn new_abstract(name: &[u8]) -> iox::Result<SockaddrUnix> {
        if !sys::HAS_ABSTRACT {
            return Err(iox::Error::unsupported(
                "abstract unix socket names exist on Linux only",
            ));
        }
        if name.len() > MAX_ABSTRACT_LEN {
            return Err(iox::Error::invalid_input(
                "abstract unix socket name exceeds 107 bytes",
            ));
        }
        let mut raw = sys::sockaddr_un();
        bytes_mut(&mut raw)[PATH_OFFSET + 1..PATH_OFFSET + 1 + name.len()].copy_from_slice(name);
        Ok(SockaddrUnix::with_len(raw, PATH_OFFSET + 1 + name.len()))
    }

    /// The unnamed address (what an unbound socket, or one end of a socketpair, has).
    pub fn unnamed() -> SockaddrUnix {
        SockaddrUnix::with_len(sys::sockaddr_un(), PATH_OFFSET)
    }

    /// Decodes the first `len` bytes the kernel wrote (`len` as it reported it).
    ///
    /// A pathname that fills `sun_path` (108 bytes on Linux, which another program may bind
    /// although [`new`](Self::new) keeps room for a NUL) has no NUL inside the struct, and
    /// Linux reports it with the NUL it keeps after it: one byte longer than `sockaddr_un`.
    /// That NUL is dropped here, so the address is the whole `sockaddr_un` (the length such
    /// a socket is bound and connected with).
    pub(crate) fn from_kernel(mut b: &[u8]) -> iox::Result<SockaddrUnix> {
        if b.len() < PATH_OFFSET {
            return Err(iox::Error::invalid_input(
                "unix address is shorter than its family field",
            ));
        }
        let full = core::mem::size_of::<libc::sockaddr_un>();
        if b.len() == full + 1 && b[full] == 0 && b[PATH_OFFSET] != 0 {
            b = &b[..full];
        }
        if b.len() > full {
            return Err(iox::Error::invalid_input(
                "unix address is longer than sockaddr_un",
            ));
        }
        let raw: libc::sockaddr_un = from_prefix(b);
        if i32::from(raw.sun_family) != libc::AF_UNIX {
            return Err(iox::Error::invalid_input(
                "sockaddr_un family is not AF_UNIX",
            ));
        }
        Ok(SockaddrUnix::with_len(raw, b.len()))
    }

    /// The bytes of `sun_path` the length covers.
    fn path_bytes(&self) -> &[u8] {
        &bytes(&self.raw)[PATH_OFFSET..self.len as usize]
    }

    /// The pathname, if this is a pathname address.
    pub fn path(&self) -> Option<&Path> {
        let b = self.path_bytes();
        match b.first() {
            Some(&c) if c != 0 => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(Path::new(std::ffi::OsStr::from_bytes(&b[..end])))
            }
            _ => None,
        }
    }

    /// The abstract name (without its leading NUL), if this is an abstract address.
    pub fn abstract_name(&self) -> Option<&[u8]> {
        let b = self.path_bytes();
        (sys::HAS_ABSTRACT && b.first() == Some(&0)).then(|| &b[1..])
    }

    /// `true` for the unnamed address.
    pub fn is_unnamed(&self) -> bool {
        self.path().is_none() && self.abstract_name().is_none()
    }

    /// The `sockaddr_un`.
    pub fn as_raw(&self) -> &libc::sockaddr_un {
        &self.raw
    }
}

// SAFETY: `raw` is a whole, initialised `sockaddr_un` and `len` never exceeds its size (the
// type's invariant, kept by every constructor); the family is AF_UNIX.
unsafe impl Sockaddr for SockaddrUnix {
    #[inline]
    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.raw as *const libc::sockaddr_un).cast()
    }
    #[inline]
    fn socklen(&self) -> libc::socklen_t {
        self.len
    }
    #[inline]
    fn family(&self) -> libc::sa_family_t {
        libc::AF_UNIX as libc::sa_family_t
    }
}

impl PartialEq for SockaddrUnix {
    fn eq(&self, o: &Self) -> bool {
        self.path_bytes() == o.path_bytes()
    }
}
impl Eq for SockaddrUnix {}
impl Hash for SockaddrUnix {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.path_bytes().hash(h)
    }
}

impl fmt::Display for SockaddrUnix {
    /// The path; `@name` for an abstract name (bytes outside printable ASCII as `\xNN`);
    /// `(unnamed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.path() {
            return fmt::Display::fmt(&p.display(), f);
        }
        if let Some(name) = self.abstract_name() {
            f.write_str("@")?;
            for &c in name {
                if c.is_ascii_graphic() || c == b' ' {
                    fmt::Write::write_char(f, c as char)?;
                } else {
                    write!(f, "\\x{c:02x}")?;
                }
            }
            return Ok(());
        }
        f.write_str("(unnamed)")
    }
}

impl fmt::Debug for SockaddrUnix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SockaddrUnix({self})")
    }
}

impl FromStr for SockaddrUnix {
    type Err = iox::Error;
    /// `@name` is an abstract name, the empty string the unnamed address, anything else a
    /// pathname.
    fn from_str(s: &str) -> iox::Result<Self> {
        if s.is_empty() {
            return Ok(SockaddrUnix::unnamed());
        }
        match s.strip_prefix('@') {
            Some(name) => SockaddrUnix::new_abstract(name.as_bytes()),
            None => SockaddrUnix::new(s),
        }
    }
}

impl TryFrom<&std::os::unix::net::SocketAddr> for SockaddrUnix {
    type Error = iox::Error;
    fn try_from(a: &std::os::unix::net::SocketAddr) -> iox::Result<Self> {
        if let Some(p) = a.as_pathname() {
            return SockaddrUnix::new(p);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            if let Some(n) = a.as_abstract_name() {
                return SockaddrUnix::new_abstract(n);
            }
        }
        Ok(SockaddrUnix::unnamed())
    }
}

impl TryFrom<SockaddrUnix> for std::os::unix::net::SocketAddr {
    type Error = iox::Error;
    /// Pathname and abstract addresses; std has no way to make an unnamed one
    /// (`Unsupported`).
    fn try_from(a: SockaddrUnix) -> iox::Result<Self> {
        if let Some(p) = a.path() {
            return std::os::unix::net::SocketAddr::from_pathname(p).map_err(iox::Error::from);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(n) = a.abstract_name() {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            return std::os::unix::net::SocketAddr::from_abstract_name(n).map_err(iox::Error::from);
        }
        Err(iox::Error::unsupported(
            "std cannot represent an unnamed unix socket address",
        ))
    }
}
