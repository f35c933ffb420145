//! [`SockaddrStorage`]: room for any address, as accept, recvfrom and getsockname fill it,
//! with a validated length.

use core::fmt;

use crate::raw::{Sockaddr, bytes, bytes_mut, from_prefix, read_as, zeroed};
use crate::{SockaddrAny, SockaddrInet4, SockaddrInet6, SockaddrUnix};

const FAMILY_LEN: usize = core::mem::size_of::<libc::sa_family_t>();
const STORAGE_LEN: usize = core::mem::size_of::<libc::sockaddr_storage>();

/// A `sockaddr_storage` (128 bytes) and how many of its bytes are an address.
///
/// Invariant: `len` is at most 128. Decoding checks the rest: the family is known and the
/// length covers what that family needs.
///
/// ```
/// use sockaddr::{Sockaddr, SockaddrAny, SockaddrInet4, SockaddrStorage};
/// let a = SockaddrInet4::new([10, 0, 0, 1].into(), 53);
/// let s = SockaddrStorage::from_bytes(a.as_bytes()).unwrap();
/// assert_eq!(s.decode().unwrap(), SockaddrAny::Inet4(a));
/// let short = SockaddrStorage::from_bytes(&a.as_bytes()[..8]).unwrap();
/// assert!(short.decode().is_err());
/// ```
#[derive(Clone, Copy)]
pub struct SockaddrStorage {
    raw: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl Default for SockaddrStorage {
    fn default() -> Self {
        SockaddrStorage::new()
    }
}

impl SockaddrStorage {
    /// Empty (length 0), ready for the kernel to fill.
    pub const fn new() -> SockaddrStorage {
        SockaddrStorage {
            raw: zeroed(),
            len: 0,
        }
    }

    /// All 128 bytes, for the kernel to write an address into (then [`set_len`](Self::set_len)
    /// with the length it reported).
    #[inline]
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        bytes_mut(&mut self.raw)
    }

    /// Sets how many bytes are an address. More than 128 (the kernel reports the full length
    /// of an address it had to truncate) is `InvalidInput`.
    #[inline]
    pub fn set_len(&mut self, len: usize) -> iox::Result<()> {
        if len > STORAGE_LEN {
            return Err(iox::Error::invalid_input(
                "address length exceeds sockaddr_storage (128 bytes)",
            ));
        }
        self.len = len as libc::socklen_t;
        Ok(())
    }

    /// A copy of an address's bytes (at most 128).
    #[inline]
    pub fn from_bytes(b: &[u8]) -> iox::Result<SockaddrStorage> {
        if b.len() > STORAGE_LEN {
            return Err(iox::Error::invalid_input(
                "address length exceeds sockaddr_storage (128 bytes)",
            ));
        }
        Ok(SockaddrStorage {
            raw: from_prefix(b),
            len: b.len() as libc::socklen_t,
        })
    }

    /// How many bytes are an address.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// `true` when no address was written (length 0).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address bytes.
    #[inline]
    pub fn addr_bytes(&self) -> &[u8] {
        &bytes(&self.raw)[..self.len as usize]
    }

    /// The family field (`AF_UNSPEC` when the length does not cover it).
    #[inline]
    pub fn family(&self) -> libc::sa_family_t {
        if (self.len as usize) < FAMILY_LEN {
            libc::AF_UNSPEC as libc::sa_family_t
        } else {
            self.raw.ss_family
        }
    }

    /// The address, checked: a known family, and a length that covers what it needs.
    #[inline]
    pub fn decode(&self) -> iox::Result<SockaddrAny> {
        if (self.len as usize) < FAMILY_LEN {
            return Err(iox::Error::invalid_input(
                "address length is shorter than its family field",
            ));
        }
        match i32::from(self.raw.ss_family) {
            libc::AF_INET => self.inet4().map(SockaddrAny::Inet4),
            libc::AF_INET6 => self.inet6().map(SockaddrAny::Inet6),
            libc::AF_UNIX => SockaddrUnix::from_kernel(self.addr_bytes()).map(SockaddrAny::Unix),
            _ => Err(iox::Error::with_context(
                iox::ErrorKind::AddressFamilyNotSupported,
                "unknown address family",
            )),
        }
    }

    /// The IPv4 address, without going through [`SockaddrAny`].
    #[inline]
    pub fn inet4(&self) -> iox::Result<SockaddrInet4> {
        if i32::from(self.family()) != libc::AF_INET {
            return Err(iox::Error::with_context(
                iox::ErrorKind::AddressFamilyNotSupported,
                "address is not IPv4",
            ));
        }
        if (self.len as usize) < core::mem::size_of::<libc::sockaddr_in>() {
            return Err(iox::Error::invalid_input(
                "IPv4 address is shorter than sockaddr_in (16 bytes)",
            ));
        }
        SockaddrInet4::from_raw(read_as(&self.raw))
    }

    /// The IPv6 address, without going through [`SockaddrAny`].
    #[inline]
    pub fn inet6(&self) -> iox::Result<SockaddrInet6> {
        if i32::from(self.family()) != libc::AF_INET6 {
            return Err(iox::Error::with_context(
                iox::ErrorKind::AddressFamilyNotSupported,
                "address is not IPv6",
            ));
        }
        if (self.len as usize) < core::mem::size_of::<libc::sockaddr_in6>() {
            return Err(iox::Error::invalid_input(
                "IPv6 address is shorter than sockaddr_in6 (28 bytes)",
            ));
        }
        SockaddrInet6::from_raw(read_as(&self.raw))
    }
}

// SAFETY: `raw` is a whole, initialised `sockaddr_storage` and `len` is at most its size
// (the type's invariant); `family()` reads its family field.
unsafe impl Sockaddr for SockaddrStorage {
    #[inline]
    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.raw as *const libc::sockaddr_storage).cast()
    }
    #[inline]
    fn socklen(&self) -> libc::socklen_t {
        self.len
    }
    #[inline]
    fn family(&self) -> libc::sa_family_t {
        SockaddrStorage::family(self)
    }
}

impl PartialEq for SockaddrStorage {
    fn eq(&self, o: &Self) -> bool {
        self.addr_bytes() == o.addr_bytes()
    }
}
impl Eq for SockaddrStorage {}

impl fmt::Debug for SockaddrStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok(a) => write!(f, "SockaddrStorage({a})"),
            Err(_) => write!(
                f,
                "SockaddrStorage(family {}, {} bytes)",
                self.family(),
                self.len
            ),
        }
    }
}

impl<A: Sockaddr> From<&A> for SockaddrStorage {
    fn from(a: &A) -> Self {
        SockaddrStorage {
            raw: from_prefix(a.as_bytes()),
            len: a.socklen(),
        }
    }
}

macro_rules! try_from_storage {
    ($t:ident, $variant:ident, $msg:literal) => {
        impl TryFrom<SockaddrStorage> for $t {
            type Error = iox::Error;
            fn try_from(s: SockaddrStorage) -> iox::Result<$t> {
                match s.decode()? {
                    SockaddrAny::$variant(a) => Ok(a),
                    _ => Err(iox::Error::with_context(
                        iox::ErrorKind::AddressFamilyNotSupported,
                        $msg,
                    )),
                }
            }
        }
    };
}

impl TryFrom<SockaddrStorage> for SockaddrInet4 {
    type Error = iox::Error;
    #[inline]
    fn try_from(s: SockaddrStorage) -> iox::Result<SockaddrInet4> {
        s.inet4()
    }
}

impl TryFrom<SockaddrStorage> for SockaddrInet6 {
    type Error = iox::Error;
    #[inline]
    fn try_from(s: SockaddrStorage) -> iox::Result<SockaddrInet6> {
        s.inet6()
    }
}

try_from_storage!(SockaddrUnix, Unix, "address is not a unix address");

impl TryFrom<SockaddrStorage> for SockaddrAny {
    type Error = iox::Error;
    fn try_from(s: SockaddrStorage) -> iox::Result<SockaddrAny> {
        s.decode()
    }
}
