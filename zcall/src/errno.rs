//! [`Errno`]: the kernel's error number, decoded without allocation.

use core::fmt;

/// An error number as the kernel (or libc) reports it: always positive, never zero.
///
/// `Errno` is `Copy` and four bytes wide. Its [`name`](Errno::name) and
/// [`description`](Errno::description) come from static tables, so formatting one never
/// allocates. Values unknown to the table print as `errno N`.
///
/// ```
/// use zcall::Errno;
/// let e = Errno::EAGAIN;
/// assert!(e.is_would_block());
/// assert_eq!(e.name(), Some("EAGAIN"));
/// assert_eq!(format!("{e}"), "EAGAIN: resource temporarily unavailable");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Errno(i32);

macro_rules! errno_consts {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                pub const $name: Errno = Errno(libc::$name);
            )*
        }
    };
}

// Named on every supported platform; the value is the platform's own.
errno_consts!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    ENOTBLK,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EPIPE,
    EDOM,
    ERANGE,
    EDEADLK,
    ENAMETOOLONG,
    ENOLCK,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    EWOULDBLOCK,
    ENOMSG,
    EIDRM,
    EOVERFLOW,
    EILSEQ,
    EUSERS,
    ENOTSOCK,
    EDESTADDRREQ,
    EMSGSIZE,
    EPROTOTYPE,
    ENOPROTOOPT,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    EOPNOTSUPP,
    ENOTSUP,
    EPFNOSUPPORT,
    EAFNOSUPPORT,
    EADDRINUSE,
    EADDRNOTAVAIL,
    ENETDOWN,
    ENETUNREACH,
    ENETRESET,
    ECONNABORTED,
    ECONNRESET,
    ENOBUFS,
    EISCONN,
    ENOTCONN,
    ESHUTDOWN,
    ETOOMANYREFS,
    ETIMEDOUT,
    ECONNREFUSED,
    EHOSTDOWN,
    EHOSTUNREACH,
    EALREADY,
    EINPROGRESS,
    ESTALE,
    EDQUOT,
    ECANCELED,
    EOWNERDEAD,
    ENOTRECOVERABLE,
    EREMOTE,
    ENOLINK,
    EPROTO,
    EMULTIHOP,
    EBADMSG,
);

// Named on Linux only.
#[cfg(any(target_os = "linux", target_os = "android"))]
errno_consts!(
    ECHRNG,
    EL2NSYNC,
    EL3HLT,
    EL3RST,
    ELNRNG,
    EUNATCH,
    ENOCSI,
    EL2HLT,
    EBADE,
    EBADR,
    EXFULL,
    ENOANO,
    EBADRQC,
    EBADSLT,
    EDEADLOCK,
    EBFONT,
    ENOSTR,
    ENODATA,
    ETIME,
    ENOSR,
    ENONET,
    ENOPKG,
    EADV,
    ESRMNT,
    ECOMM,
    EDOTDOT,
    ENOTUNIQ,
    EBADFD,
    EREMCHG,
    ELIBACC,
    ELIBBAD,
    ELIBSCN,
    ELIBMAX,
    ELIBEXEC,
    ERESTART,
    ESTRPIPE,
    EUCLEAN,
    ENOTNAM,
    ENAVAIL,
    EISNAM,
    EREMOTEIO,
    ENOMEDIUM,
    EMEDIUMTYPE,
    ENOKEY,
    EKEYEXPIRED,
    EKEYREVOKED,
    EKEYREJECTED,
    ERFKILL,
    EHWPOISON,
);

struct Entry {
    value: i32,
    name: &'static str,
    description: &'static str,
}

macro_rules! table {
    ($($name:ident => $desc:literal),* $(,)?) => {
        &[$(Entry { value: libc::$name, name: stringify!($name), description: $desc }),*]
    };
}

/// The portable table. Where two names share a value (EAGAIN/EWOULDBLOCK on every
/// platform, EOPNOTSUPP/ENOTSUP on Linux) the first one listed is the one printed.
static COMMON: &[Entry] = table!(
    EPERM => "operation not permitted",
    ENOENT => "no such file or directory",
    ESRCH => "no such process",
    EINTR => "interrupted system call",
    EIO => "input/output error",
    ENXIO => "no such device or address",
    E2BIG => "argument list too long",
    ENOEXEC => "exec format error",
    EBADF => "bad file descriptor",
    ECHILD => "no child processes",
    EAGAIN => "resource temporarily unavailable",
    ENOMEM => "cannot allocate memory",
    EACCES => "permission denied",
    EFAULT => "bad address",
    ENOTBLK => "block device required",
    EBUSY => "device or resource busy",
    EEXIST => "file exists",
    EXDEV => "invalid cross-device link",
    ENODEV => "no such device",
    ENOTDIR => "not a directory",
    EISDIR => "is a directory",
    EINVAL => "invalid argument",
    ENFILE => "too many open files in system",
    EMFILE => "too many open files",
    ENOTTY => "inappropriate ioctl for device",
    ETXTBSY => "text file busy",
    EFBIG => "file too large",
    ENOSPC => "no space left on device",
    ESPIPE => "illegal seek",
    EROFS => "read-only file system",
    EMLINK => "too many links",
    EPIPE => "broken pipe",
    EDOM => "numerical argument out of domain",
    ERANGE => "numerical result out of range",
    EDEADLK => "resource deadlock avoided",
    ENAMETOOLONG => "file name too long",
    ENOLCK => "no locks available",
    ENOSYS => "function not implemented",
    ENOTEMPTY => "directory not empty",
    ELOOP => "too many levels of symbolic links",
    EWOULDBLOCK => "operation would block",
    ENOMSG => "no message of desired type",
    EIDRM => "identifier removed",
    EOVERFLOW => "value too large for defined data type",
    EILSEQ => "invalid or incomplete multibyte or wide character",
    EUSERS => "too many users",
    ENOTSOCK => "socket operation on non-socket",
    EDESTADDRREQ => "destination address required",
    EMSGSIZE => "message too long",
    EPROTOTYPE => "protocol wrong type for socket",
    ENOPROTOOPT => "protocol not available",
    EPROTONOSUPPORT => "protocol not supported",
    ESOCKTNOSUPPORT => "socket type not supported",
    EOPNOTSUPP => "operation not supported",
    ENOTSUP => "operation not supported",
    EPFNOSUPPORT => "protocol family not supported",
    EAFNOSUPPORT => "address family not supported by protocol",
    EADDRINUSE => "address already in use",
    EADDRNOTAVAIL => "cannot assign requested address",
    ENETDOWN => "network is down",
    ENETUNREACH => "network is unreachable",
    ENETRESET => "network dropped connection on reset",
    ECONNABORTED => "software caused connection abort",
    ECONNRESET => "connection reset by peer",
    ENOBUFS => "no buffer space available",
    EISCONN => "transport endpoint is already connected",
    ENOTCONN => "transport endpoint is not connected",
    ESHUTDOWN => "cannot send after transport endpoint shutdown",
    ETOOMANYREFS => "too many references: cannot splice",
    ETIMEDOUT => "connection timed out",
    ECONNREFUSED => "connection refused",
    EHOSTDOWN => "host is down",
    EHOSTUNREACH => "no route to host",
    EALREADY => "operation already in progress",
    EINPROGRESS => "operation now in progress",
    ESTALE => "stale file handle",
    EDQUOT => "disk quota exceeded",
    ECANCELED => "operation canceled",
    EOWNERDEAD => "owner died",
    ENOTRECOVERABLE => "state not recoverable",
    EREMOTE => "object is remote",
    ENOLINK => "link has been severed",
    EPROTO => "protocol error",
    EMULTIHOP => "multihop attempted",
    EBADMSG => "bad message",
);

#[cfg(any(target_os = "linux", target_os = "android"))]
static PLATFORM: &[Entry] = table!(
    ECHRNG => "channel number out of range",
    EL2NSYNC => "level 2 not synchronized",
    EL3HLT => "level 3 halted",
    EL3RST => "level 3 reset",
    ELNRNG => "link number out of range",
    EUNATCH => "protocol driver not attached",
    ENOCSI => "no CSI structure available",
    EL2HLT => "level 2 halted",
    EBADE => "invalid exchange",
    EBADR => "invalid request descriptor",
    EXFULL => "exchange full",
    ENOANO => "no anode",
    EBADRQC => "invalid request code",
    EBADSLT => "invalid slot",
    EBFONT => "bad font file format",
    ENOSTR => "device not a stream",
    ENODATA => "no data available",
    ETIME => "timer expired",
    ENOSR => "out of streams resources",
    ENONET => "machine is not on the network",
    ENOPKG => "package not installed",
    EADV => "advertise error",
    ESRMNT => "srmount error",
    ECOMM => "communication error on send",
    EDOTDOT => "RFS specific error",
    ENOTUNIQ => "name not unique on network",
    EBADFD => "file descriptor in bad state",
    EREMCHG => "remote address changed",
    ELIBACC => "can not access a needed shared library",
    ELIBBAD => "accessing a corrupted shared library",
    ELIBSCN => ".lib section in a.out corrupted",
    ELIBMAX => "attempting to link in too many shared libraries",
    ELIBEXEC => "cannot exec a shared library directly",
    ERESTART => "interrupted system call should be restarted",
    ESTRPIPE => "streams pipe error",
    EUCLEAN => "structure needs cleaning",
    ENOTNAM => "not a XENIX named type file",
    ENAVAIL => "no XENIX semaphores available",
    EISNAM => "is a named type file",
    EREMOTEIO => "remote I/O error",
    ENOMEDIUM => "no medium found",
    EMEDIUMTYPE => "wrong medium type",
    ENOKEY => "required key not available",
    EKEYEXPIRED => "key has expired",
    EKEYREVOKED => "key has been revoked",
    EKEYREJECTED => "key was rejected by service",
    ERFKILL => "operation not possible due to RF-kill",
    EHWPOISON => "memory page has hardware error",
);

#[cfg(not(any(target_os = "linux", target_os = "android")))]
static PLATFORM: &[Entry] = &[];

impl Errno {
    /// Wraps a raw, positive error number.
    ///
    /// ```
    /// assert_eq!(zcall::Errno::from_raw(libc::EBADF), zcall::Errno::EBADF);
    /// ```
    #[inline]
    pub const fn from_raw(raw: i32) -> Errno {
        Errno(raw)
    }

    /// The raw, positive error number.
    #[inline]
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// Decodes a raw Linux syscall return value: values in `-4095..=-1` are errors.
    ///
    /// Returns `Ok(ret)` for every other value. This is the kernel's own convention
    /// (`IS_ERR_VALUE`), the same on every Linux architecture.
    ///
    /// ```
    /// use zcall::Errno;
    /// assert_eq!(Errno::from_ret(-11isize as usize), Err(Errno::EAGAIN));
    /// assert_eq!(Errno::from_ret(7), Ok(7));
    /// assert_eq!(Errno::from_ret(-4096isize as usize), Ok(-4096isize as usize));
    /// ```
    #[inline(always)]
    pub const fn from_ret(ret: usize) -> Result<usize, Errno> {
        if ret > (-4096isize) as usize {
            Err(Errno((ret as isize).wrapping_neg() as i32))
        } else {
            Ok(ret)
        }
    }

    fn entry(self) -> Option<&'static Entry> {
        COMMON
            .iter()
            .chain(PLATFORM.iter())
            .find(|e| e.value == self.0)
    }

    /// The symbolic name (`"EAGAIN"`), or `None` for a value the table does not know.
    pub fn name(self) -> Option<&'static str> {
        self.entry().map(|e| e.name)
    }

    /// A short description (`"resource temporarily unavailable"`), or `None` for a value
    /// the table does not know.
    pub fn description(self) -> Option<&'static str> {
        self.entry().map(|e| e.description)
    }

    /// `EAGAIN` or `EWOULDBLOCK`: the call would have blocked; nothing happened.
    #[inline]
    pub const fn is_would_block(self) -> bool {
        self.0 == libc::EAGAIN || self.0 == libc::EWOULDBLOCK
    }

    /// `EINTR`: a signal interrupted the call before it completed.
    #[inline]
    pub const fn is_interrupted(self) -> bool {
        self.0 == libc::EINTR
    }

    /// `EINPROGRESS` or `EALREADY`: a non-blocking connect was started (or is still
    /// running) and completes later.
    #[inline]
    pub const fn is_in_progress(self) -> bool {
        self.0 == libc::EINPROGRESS || self.0 == libc::EALREADY
    }

    /// The call may succeed if repeated later: `EAGAIN`, `EINTR` or `EINPROGRESS`
    /// (the Go `zcall` set).
    #[inline]
    pub const fn is_temporary(self) -> bool {
        self.is_would_block() || self.is_interrupted() || self.0 == libc::EINPROGRESS
    }

    /// The call ran out of time: `ETIMEDOUT`, or `EAGAIN` (what a socket with
    /// `SO_RCVTIMEO`/`SO_SNDTIMEO` returns when its timeout passes).
    #[inline]
    pub const fn is_timeout(self) -> bool {
        self.is_would_block() || self.0 == libc::ETIMEDOUT
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({})", self.0),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry() {
            Some(e) => write!(f, "{}: {}", e.name, e.description),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl core::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_kernel_error_range() {
        assert_eq!(Errno::from_ret(0), Ok(0));
        assert_eq!(Errno::from_ret(usize::MAX), Err(Errno(1)));
        assert_eq!(Errno::from_ret(-4095isize as usize), Err(Errno(4095)));
        assert_eq!(
            Errno::from_ret(-4096isize as usize),
            Ok(-4096isize as usize)
        );
        // A large but valid return (an mmap address in the upper half) is not an error.
        assert_eq!(
            Errno::from_ret(0xffff_8000_0000_0000),
            Ok(0xffff_8000_0000_0000)
        );
    }

    #[test]
    fn every_table_entry_names_its_own_value() {
        for e in COMMON.iter().chain(PLATFORM.iter()) {
            let errno = Errno(e.value);
            let first = errno.entry().expect("entry present");
            // Aliases resolve to the first entry with the same value.
            assert_eq!(first.value, e.value);
            assert!(!e.description.is_empty());
            assert!(e.name.starts_with('E'));
        }
    }

    #[test]
    fn predicates() {
        assert!(Errno::EAGAIN.is_would_block() && Errno::EWOULDBLOCK.is_would_block());
        assert!(!Errno::EINTR.is_would_block());
        assert!(Errno::EINTR.is_interrupted());
        assert!(Errno::EINPROGRESS.is_in_progress() && Errno::EALREADY.is_in_progress());
        assert!(Errno::EINPROGRESS.is_temporary() && Errno::EINTR.is_temporary());
        assert!(!Errno::EALREADY.is_temporary() && !Errno::ECONNRESET.is_temporary());
        assert!(Errno::ETIMEDOUT.is_timeout() && Errno::EAGAIN.is_timeout());
        assert!(!Errno::EINTR.is_timeout());
    }

    #[test]
    fn unknown_values_have_no_name() {
        let e = Errno(9999);
        assert_eq!(e.name(), None);
        assert_eq!(e.description(), None);
    }
}
