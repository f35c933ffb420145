//! [`Error`]: the workspace's one error type, and the only errno → meaning table.

use core::fmt;
use std::io;

use zcall::Errno;

/// What went wrong, or what the caller must do next.
///
/// The first group are the *semantic* kinds of non-blocking I/O: [`WouldBlock`] and
/// [`More`] are not failures (see [`Outcome`](crate::Outcome)).
///
/// [`WouldBlock`]: ErrorKind::WouldBlock
/// [`More`]: ErrorKind::More
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No progress now: the kernel is not ready; wait for readiness and retry (`EAGAIN`).
    WouldBlock,
    /// Progress was made and the operation is still active: more completions follow.
    More,
    /// The deadline passed, or the peer did not answer in time (`ETIMEDOUT`).
    TimedOut,
    /// A non-blocking connect was started and completes later (`EINPROGRESS`, `EALREADY`).
    InProgress,
    /// The descriptor or object is closed (`EBADF`).
    Closed,
    /// A signal interrupted the call (`EINTR`).
    Interrupted,
    /// The operation was cancelled before it completed (`ECANCELED`, or a close).
    Cancelled,
    /// An argument is invalid; the context says which and why (`EINVAL`).
    InvalidInput,
    /// Nobody listens at the address (`ECONNREFUSED`).
    ConnectionRefused,
    /// The peer is gone: `ECONNRESET`, `ECONNABORTED`, `EPIPE`, `ESHUTDOWN` (the errno tells which).
    ConnectionReset,
    /// The socket is not connected, or needs a destination (`ENOTCONN`, `EDESTADDRREQ`).
    NotConnected,
    /// The address is taken (`EADDRINUSE`).
    AddressInUse,
    /// The address is not local, or no port is left (`EADDRNOTAVAIL`).
    AddressNotAvailable,
    /// No route to the network, or it is down (`ENETUNREACH`, `ENETDOWN`).
    NetworkUnreachable,
    /// No route to the host, or it is down (`EHOSTUNREACH`, `EHOSTDOWN`).
    HostUnreachable,
    /// The message is larger than the socket can send at once (`EMSGSIZE`).
    MessageTooLarge,
    /// The kernel's queue or buffer is full; retry later (`ENOBUFS`).
    NoBufferSpace,
    /// Memory could not be allocated (`ENOMEM`).
    OutOfMemory,
    /// The protocol is not supported (`EPROTONOSUPPORT`, `ESOCKTNOSUPPORT`).
    ProtocolNotSupported,
    /// The address family is not supported (`EAFNOSUPPORT`, `EPFNOSUPPORT`).
    AddressFamilyNotSupported,
    /// Not allowed (`EACCES`, `EPERM`).
    PermissionDenied,
    /// No such file or directory: a Unix socket path, a device, a file (`ENOENT`).
    NotFound,
    /// The platform or kernel lacks the feature (`EOPNOTSUPP`, `ENOSYS`, `ENOPROTOOPT`).
    Unsupported,
    /// The input ended before the requested amount was read.
    UnexpectedEof,
    /// A write accepted no bytes of a non-empty buffer.
    ShortWrite,
    /// A copy must roll its source back after a partial write, and the source cannot seek.
    NoSeeker,
    /// Any other errno; [`Error::errno`] gives it.
    Os,
}

/// The workspace's error: a kind, the errno when the kernel gave one, and an optional static
/// context that names what was wrong and the limit.
///
/// `Copy`, 24 bytes, never allocates. `Result<usize, Error>` is 24 bytes as well (the kind
/// has room for the discriminant). Converts into [`std::io::Error`] with the matching
/// [`std::io::ErrorKind`].
///
/// ```
/// use iox::{Error, ErrorKind};
/// let e = Error::from(zcall::Errno::ECONNRESET);
/// assert_eq!(e.kind(), ErrorKind::ConnectionReset);
/// assert_eq!(e.errno(), Some(zcall::Errno::ECONNRESET));
/// assert_eq!(e.to_string(), "connection reset (ECONNRESET)");
/// // The same kind, for a write after the program's own `shutdown(Write)` or a peer gone:
/// let pipe = Error::from(zcall::Errno::EPIPE);
/// assert_eq!(pipe.kind(), ErrorKind::ConnectionReset);
/// assert_eq!(pipe.to_string(), "broken pipe: the connection is closed for writing (EPIPE)");
///
/// let bad = Error::invalid_input("unix socket path exceeds 107 bytes");
/// assert_eq!(bad.to_string(), "invalid input: unix socket path exceeds 107 bytes");
/// assert_eq!(std::io::Error::from(bad).kind(), std::io::ErrorKind::InvalidInput);
/// assert_eq!(std::mem::size_of::<iox::Result<usize>>(), 24);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    context: Option<&'static str>,
    /// The raw errno, or 0 when the error did not come from the kernel.
    errno: i32,
    kind: ErrorKind,
}

/// `Result<T, iox::Error>`.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// `WouldBlock` without an errno.
    pub const WOULD_BLOCK: Error = Error::new(ErrorKind::WouldBlock);
    /// `More` (progress made, more completions follow).
    pub const MORE: Error = Error::new(ErrorKind::More);
    /// `TimedOut` without an errno: a deadline passed.
    pub const TIMED_OUT: Error = Error::new(ErrorKind::TimedOut);
    /// `Closed` without an errno.
    pub const CLOSED: Error = Error::new(ErrorKind::Closed);
    /// `Cancelled` without an errno.
    pub const CANCELLED: Error = Error::new(ErrorKind::Cancelled);

    /// An error of `kind` with no errno and no context.
    #[inline]
    pub const fn new(kind: ErrorKind) -> Error {
        Error {
            context: None,
            errno: 0,
            kind,
        }
    }

    /// An error of `kind` that says what was wrong.
    #[inline]
    pub const fn with_context(kind: ErrorKind, context: &'static str) -> Error {
        Error {
            context: Some(context),
            errno: 0,
            kind,
        }
    }

    /// `InvalidInput` saying what was wrong and the limit.
    #[inline]
    pub const fn invalid_input(context: &'static str) -> Error {
        Error::with_context(ErrorKind::InvalidInput, context)
    }

    /// `Unsupported` saying what is missing.
    #[inline]
    pub const fn unsupported(context: &'static str) -> Error {
        Error::with_context(ErrorKind::Unsupported, context)
    }

    /// This error with `context` attached (or replaced).
    #[inline]
    pub const fn context(self, context: &'static str) -> Error {
        Error {
            context: Some(context),
            ..self
        }
    }

    /// The kind.
    #[inline]
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno the kernel returned, when the error came from the kernel.
    #[inline]
    pub const fn errno(&self) -> Option<Errno> {
        if self.errno == 0 {
            None
        } else {
            Some(Errno::from_raw(self.errno))
        }
    }

    /// The static context, when there is one.
    #[inline]
    pub const fn context_str(&self) -> Option<&'static str> {
        self.context
    }

    /// `WouldBlock`: no progress now.
    #[inline]
    pub const fn is_would_block(&self) -> bool {
        matches!(self.kind, ErrorKind::WouldBlock)
    }

    /// `More`: progress made, more completions follow.
    #[inline]
    pub const fn is_more(&self) -> bool {
        matches!(self.kind, ErrorKind::More)
    }

    /// `WouldBlock` or `More`: a control-flow signal, not a failure.
    #[inline]
    pub const fn is_semantic(&self) -> bool {
        self.is_would_block() || self.is_more()
    }

    /// The kind that stands for `errno`: the workspace's one errno → meaning table.
    pub const fn kind_of_errno(errno: Errno) -> ErrorKind {
        let e = errno.raw();
        // `match` cannot take libc's constants as patterns across platforms (EAGAIN and
        // EWOULDBLOCK share a value on some), so the table is a chain.
        if e == Errno::EAGAIN.raw() || e == Errno::EWOULDBLOCK.raw() {
            ErrorKind::WouldBlock
        } else if e == Errno::EINPROGRESS.raw() || e == Errno::EALREADY.raw() {
            ErrorKind::InProgress
        } else if e == Errno::ETIMEDOUT.raw() {
            ErrorKind::TimedOut
        } else if e == Errno::EBADF.raw() {
            ErrorKind::Closed
        } else if e == Errno::EINTR.raw() {
            ErrorKind::Interrupted
        } else if e == Errno::ECANCELED.raw() {
            ErrorKind::Cancelled
        } else if e == Errno::EINVAL.raw() {
            ErrorKind::InvalidInput
        } else if e == Errno::ECONNREFUSED.raw() {
            ErrorKind::ConnectionRefused
        } else if e == Errno::ECONNRESET.raw()
            || e == Errno::ECONNABORTED.raw()
            || e == Errno::EPIPE.raw()
            || e == Errno::ESHUTDOWN.raw()
        {
            ErrorKind::ConnectionReset
        } else if e == Errno::ENOTCONN.raw() || e == Errno::EDESTADDRREQ.raw() {
            ErrorKind::NotConnected
        } else if e == Errno::EADDRINUSE.raw() {
            ErrorKind::AddressInUse
        } else if e == Errno::EADDRNOTAVAIL.raw() {
            ErrorKind::AddressNotAvailable
        } else if e == Errno::ENETUNREACH.raw() || e == Errno::ENETDOWN.raw() {
            ErrorKind::NetworkUnreachable
        } else if e == Errno::EHOSTUNREACH.raw() || e == Errno::EHOSTDOWN.raw() {
            ErrorKind::HostUnreachable
        } else if e == Errno::EMSGSIZE.raw() {
            ErrorKind::MessageTooLarge
        } else if e == Errno::ENOBUFS.raw() {
            ErrorKind::NoBufferSpace
        } else if e == Errno::ENOMEM.raw() {
            ErrorKind::OutOfMemory
        } else if e == Errno::EPROTONOSUPPORT.raw() || e == Errno::ESOCKTNOSUPPORT.raw() {
            ErrorKind::ProtocolNotSupported
        } else if e == Errno::EAFNOSUPPORT.raw() || e == Errno::EPFNOSUPPORT.raw() {
            ErrorKind::AddressFamilyNotSupported
        } else if e == Errno::EACCES.raw() || e == Errno::EPERM.raw() {
            ErrorKind::PermissionDenied
        } else if e == Errno::ENOENT.raw() {
            ErrorKind::NotFound
        } else if e == Errno::EOPNOTSUPP.raw()
            || e == Errno::ENOTSUP.raw()
            || e == Errno::ENOSYS.raw()
            || e == Errno::ENOPROTOOPT.raw()
        {
            ErrorKind::Unsupported
        } else {
            ErrorKind::Os
        }
    }

    /// The [`std::io::ErrorKind`] that matches this error's kind.
    pub const fn io_kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self.kind {
            ErrorKind::WouldBlock => K::WouldBlock,
            ErrorKind::More => K::Other,
            ErrorKind::TimedOut => K::TimedOut,
            // std's own `InProgress` kind is unstable; a connect in progress is a wait.
            ErrorKind::InProgress => K::WouldBlock,
            ErrorKind::Closed => K::NotConnected,
            ErrorKind::Interrupted => K::Interrupted,
            ErrorKind::Cancelled => K::Other,
            ErrorKind::InvalidInput => K::InvalidInput,
            ErrorKind::ConnectionRefused => K::ConnectionRefused,
            ErrorKind::ConnectionReset => K::ConnectionReset,
            ErrorKind::NotConnected => K::NotConnected,
            ErrorKind::AddressInUse => K::AddrInUse,
            ErrorKind::AddressNotAvailable => K::AddrNotAvailable,
            ErrorKind::NetworkUnreachable => K::NetworkUnreachable,
            ErrorKind::HostUnreachable => K::HostUnreachable,
            ErrorKind::MessageTooLarge => K::InvalidInput,
            ErrorKind::NoBufferSpace => K::OutOfMemory,
            ErrorKind::OutOfMemory => K::OutOfMemory,
            ErrorKind::ProtocolNotSupported => K::Unsupported,
            ErrorKind::AddressFamilyNotSupported => K::Unsupported,
            ErrorKind::PermissionDenied => K::PermissionDenied,
            ErrorKind::NotFound => K::NotFound,
            ErrorKind::Unsupported => K::Unsupported,
            ErrorKind::UnexpectedEof => K::UnexpectedEof,
            ErrorKind::ShortWrite => K::WriteZero,
            ErrorKind::NoSeeker => K::Unsupported,
            ErrorKind::Os => K::Other,
        }
    }

    /// The iox error carried by a [`std::io::Error`], wherever it sits: the payload itself, or
    /// any error in the payload's `source()` chain. `None` for plain std errors.
    pub fn find_in(e: &io::Error) -> Option<Error> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|p| p as _);
        while let Some(err) = cur {
            if let Some(x) = err.downcast_ref::<Error>() {
                return Some(*x);
            }
            if let Some(inner) = err.downcast_ref::<io::Error>()
                && let Some(x) = Error::find_in(inner)
            {
                return Some(x);
            }
            cur = err.source();
        }
        None
    }

    fn kind_name(&self) -> &'static str {
        // The peer-gone kind covers four errnos; the two that are not a reset say what
        // they are (an `EPIPE` is as often the program's own `shutdown(Write)` as a peer
        // that left).
        if self.kind == ErrorKind::ConnectionReset {
            if self.errno == Errno::EPIPE.raw() {
                return "broken pipe: the connection is closed for writing";
            }
            if self.errno == Errno::ECONNABORTED.raw() {
                return "connection aborted";
            }
        }
        match self.kind {
            ErrorKind::WouldBlock => "would block",
            ErrorKind::More => "more completions follow",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::InProgress => "in progress",
            ErrorKind::Closed => "closed",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::ConnectionRefused => "connection refused",
            ErrorKind::ConnectionReset => "connection reset",
            ErrorKind::NotConnected => "not connected",
            ErrorKind::AddressInUse => "address in use",
            ErrorKind::AddressNotAvailable => "address not available",
            ErrorKind::NetworkUnreachable => "network unreachable",
            ErrorKind::HostUnreachable => "host unreachable",
            ErrorKind::MessageTooLarge => "message too large",
            ErrorKind::NoBufferSpace => "no buffer space",
            ErrorKind::OutOfMemory => "out of memory",
            ErrorKind::ProtocolNotSupported => "protocol not supported",
            ErrorKind::AddressFamilyNotSupported => "address family not supported",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::UnexpectedEof => "unexpected end of input",
            ErrorKind::ShortWrite => "short write",
            ErrorKind::NoSeeker => "cannot roll back: the source cannot seek",
            ErrorKind::Os => "os error",
        }
    }
}

impl From<Errno> for Error {
    #[inline]
    fn from(errno: Errno) -> Error {
        Error {
            context: None,
            errno: errno.raw(),
            kind: Error::kind_of_errno(errno),
        }
    }
}

impl From<ErrorKind> for Error {
    #[inline]
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind_name())?;
        if let Some(c) = self.context {
            write!(f, ": {c}")?;
        }
        match self.errno() {
            Some(e) => match e.name() {
                Some(name) => write!(f, " ({name})"),
                None => write!(f, " (errno {})", e.raw()),
            },
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(e) = self.errno() {
            d.field("errno", &e);
        }
        if let Some(c) = self.context {
            d.field("context", &c);
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// The matching [`io::ErrorKind`] always. An error with an errno whose std kind already
    /// matches and no context becomes `io::Error::from_raw_os_error` (no allocation);
    /// a bare kind that std can express becomes a simple `io::Error` (no allocation); the
    /// rest carry the iox error as their payload (one allocation, as std requires), so
    /// [`Error::find_in`] recovers it intact.
    fn from(e: Error) -> io::Error {
        let want = e.io_kind();
        if e.context.is_none() {
            if let Some(errno) = e.errno() {
                let os = io::Error::from_raw_os_error(errno.raw());
                if os.kind() == want {
                    return os;
                }
            } else if Error::kind_of_io(want) == e.kind {
                // std's bare kind says it all and maps back to the same iox kind.
                return io::Error::from(want);
            }
        }
        io::Error::new(want, e)
    }
}

impl From<io::Error> for Error {
    /// See [`Error::from_io`].
    fn from(e: io::Error) -> Error {
        Error::from_io(&e)
    }
}

impl Error {
    /// The iox error inside `e` (see [`Error::find_in`]), else the meaning of its errno, else
    /// the nearest kind for std's kind.
    pub fn from_io(e: &io::Error) -> Error {
        if let Some(x) = Error::find_in(e) {
            return x;
        }
        if let Some(raw) = e.raw_os_error() {
            return Error::from(Errno::from_raw(raw));
        }
        Error::new(Error::kind_of_io(e.kind()))
    }

    /// The nearest kind for a std kind (the inverse of [`io_kind`](Self::io_kind) where that
    /// is one-to-one).
    pub fn kind_of_io(kind: io::ErrorKind) -> ErrorKind {
        use io::ErrorKind as K;
        match kind {
            K::WouldBlock => ErrorKind::WouldBlock,
            K::TimedOut => ErrorKind::TimedOut,
            K::Interrupted => ErrorKind::Interrupted,
            K::InvalidInput | K::InvalidData => ErrorKind::InvalidInput,
            K::ConnectionRefused => ErrorKind::ConnectionRefused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::ConnectionReset,
            K::NotConnected => ErrorKind::NotConnected,
            K::AddrInUse => ErrorKind::AddressInUse,
            K::AddrNotAvailable => ErrorKind::AddressNotAvailable,
            K::NetworkUnreachable | K::NetworkDown => ErrorKind::NetworkUnreachable,
            K::HostUnreachable => ErrorKind::HostUnreachable,
            K::OutOfMemory => ErrorKind::OutOfMemory,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::NotFound => ErrorKind::NotFound,
            K::Unsupported => ErrorKind::Unsupported,
            K::UnexpectedEof => ErrorKind::UnexpectedEof,
            K::WriteZero => ErrorKind::ShortWrite,
            _ => ErrorKind::Os,
        }
    }
}
