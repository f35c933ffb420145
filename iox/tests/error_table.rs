//! Every row of the errno → kind table, the error's size, its text, and its conversions to
//! and from std::io::Error, kind by kind.

use std::io;

use iox::{Error, ErrorKind};
use zcall::Errno;

const TABLE: &[(Errno, ErrorKind)] = &[
    (Errno::EAGAIN, ErrorKind::WouldBlock),
    (Errno::EWOULDBLOCK, ErrorKind::WouldBlock),
    (Errno::EINPROGRESS, ErrorKind::InProgress),
    (Errno::EALREADY, ErrorKind::InProgress),
    (Errno::ETIMEDOUT, ErrorKind::TimedOut),
    (Errno::EBADF, ErrorKind::Closed),
    (Errno::EINTR, ErrorKind::Interrupted),
    (Errno::ECANCELED, ErrorKind::Cancelled),
    (Errno::EINVAL, ErrorKind::InvalidInput),
    (Errno::ECONNREFUSED, ErrorKind::ConnectionRefused),
    (Errno::ECONNRESET, ErrorKind::ConnectionReset),
    (Errno::ECONNABORTED, ErrorKind::ConnectionReset),
    (Errno::EPIPE, ErrorKind::ConnectionReset),
    (Errno::ESHUTDOWN, ErrorKind::ConnectionReset),
    (Errno::ENOTCONN, ErrorKind::NotConnected),
    (Errno::EDESTADDRREQ, ErrorKind::NotConnected),
    (Errno::EADDRINUSE, ErrorKind::AddressInUse),
    (Errno::EADDRNOTAVAIL, ErrorKind::AddressNotAvailable),
    (Errno::ENETUNREACH, ErrorKind::NetworkUnreachable),
    (Errno::ENETDOWN, ErrorKind::NetworkUnreachable),
    (Errno::EHOSTUNREACH, ErrorKind::HostUnreachable),
    (Errno::EHOSTDOWN, ErrorKind::HostUnreachable),
    (Errno::EMSGSIZE, ErrorKind::MessageTooLarge),
    (Errno::ENOBUFS, ErrorKind::NoBufferSpace),
    (Errno::ENOMEM, ErrorKind::OutOfMemory),
    (Errno::EPROTONOSUPPORT, ErrorKind::ProtocolNotSupported),
    (Errno::ESOCKTNOSUPPORT, ErrorKind::ProtocolNotSupported),
    (Errno::EAFNOSUPPORT, ErrorKind::AddressFamilyNotSupported),
    (Errno::EPFNOSUPPORT, ErrorKind::AddressFamilyNotSupported),
    (Errno::EACCES, ErrorKind::PermissionDenied),
    (Errno::EPERM, ErrorKind::PermissionDenied),
    (Errno::EOPNOTSUPP, ErrorKind::Unsupported),
    (Errno::ENOTSUP, ErrorKind::Unsupported),
    (Errno::ENOSYS, ErrorKind::Unsupported),
    (Errno::ENOPROTOOPT, ErrorKind::Unsupported),
    (Errno::ENOENT, ErrorKind::NotFound),
    (Errno::EMFILE, ErrorKind::Os),
    (Errno::ENOTSOCK, ErrorKind::Os),
    (Errno::EFAULT, ErrorKind::Os),
];

#[test]
fn every_errno_row() {
    for &(errno, kind) in TABLE {
        let e = Error::from(errno);
        assert_eq!(e.kind(), kind, "{errno:?}");
        assert_eq!(e.errno(), Some(errno), "errno() gives the raw value back");
        assert_eq!(Error::kind_of_errno(errno), kind);
    }
}

#[test]
fn size_is_at_most_24_bytes() {
    assert!(std::mem::size_of::<Error>() <= 24);
    assert_eq!(std::mem::size_of::<iox::Result<usize>>(), 24);
    assert_eq!(std::mem::size_of::<iox::Result<()>>(), 24);
}

#[test]
fn display_names_kind_context_and_errno() {
    assert_eq!(Error::WOULD_BLOCK.to_string(), "would block");
    assert_eq!(
        Error::from(Errno::EAGAIN).to_string(),
        "would block (EAGAIN)"
    );
    let e = Error::from(Errno::EINVAL).context("backlog exceeds 65535");
    assert_eq!(
        e.to_string(),
        "invalid input: backlog exceeds 65535 (EINVAL)"
    );
    assert_eq!(e.context_str(), Some("backlog exceeds 65535"));
    assert_eq!(
        Error::from(Errno::from_raw(4000)).to_string(),
        "os error (errno 4000)"
    );
    let dbg = format!("{:?}", Error::from(Errno::ECONNRESET));
    assert!(
        dbg.contains("ConnectionReset") && dbg.contains("ECONNRESET"),
        "{dbg}"
    );
}

/// Every kind, the std kind it must convert to.
const IO_KINDS: &[(ErrorKind, io::ErrorKind)] = &[
    (ErrorKind::WouldBlock, io::ErrorKind::WouldBlock),
    (ErrorKind::More, io::ErrorKind::Other),
    (ErrorKind::TimedOut, io::ErrorKind::TimedOut),
    (ErrorKind::InProgress, io::ErrorKind::WouldBlock),
    (ErrorKind::Closed, io::ErrorKind::NotConnected),
    (ErrorKind::Interrupted, io::ErrorKind::Interrupted),
    (ErrorKind::Cancelled, io::ErrorKind::Other),
    (ErrorKind::InvalidInput, io::ErrorKind::InvalidInput),
    (
        ErrorKind::ConnectionRefused,
        io::ErrorKind::ConnectionRefused,
    ),
    (ErrorKind::ConnectionReset, io::ErrorKind::ConnectionReset),
    (ErrorKind::NotConnected, io::ErrorKind::NotConnected),
    (ErrorKind::AddressInUse, io::ErrorKind::AddrInUse),
    (
        ErrorKind::AddressNotAvailable,
        io::ErrorKind::AddrNotAvailable,
    ),
    (
        ErrorKind::NetworkUnreachable,
        io::ErrorKind::NetworkUnreachable,
    ),
    (ErrorKind::HostUnreachable, io::ErrorKind::HostUnreachable),
    (ErrorKind::MessageTooLarge, io::ErrorKind::InvalidInput),
    (ErrorKind::NoBufferSpace, io::ErrorKind::OutOfMemory),
    (ErrorKind::OutOfMemory, io::ErrorKind::OutOfMemory),
    (ErrorKind::ProtocolNotSupported, io::ErrorKind::Unsupported),
    (
        ErrorKind::AddressFamilyNotSupported,
        io::ErrorKind::Unsupported,
    ),
    (ErrorKind::PermissionDenied, io::ErrorKind::PermissionDenied),
    (ErrorKind::NotFound, io::ErrorKind::NotFound),
    (ErrorKind::Unsupported, io::ErrorKind::Unsupported),
    (ErrorKind::UnexpectedEof, io::ErrorKind::UnexpectedEof),
    (ErrorKind::ShortWrite, io::ErrorKind::WriteZero),
    (ErrorKind::NoSeeker, io::ErrorKind::Unsupported),
    (ErrorKind::Os, io::ErrorKind::Other),
];

#[test]
fn io_conversion_kind_by_kind_and_back() {
    for &(kind, io_kind) in IO_KINDS {
        let e = Error::new(kind);
        let io_err = io::Error::from(e);
        assert_eq!(io_err.kind(), io_kind, "{kind:?}");
        assert_eq!(Error::from(io_err).kind(), kind, "round trip of {kind:?}");
        // With context the payload carries the whole error.
        let c = Error::with_context(kind, "because");
        let io_c = io::Error::from(c);
        assert_eq!(io_c.kind(), io_kind);
        assert_eq!(Error::from(io_c), c);
    }
}

#[test]
fn errno_errors_convert_to_the_matching_kind_keeping_the_errno() {
    for &(errno, kind) in TABLE {
        let e = Error::from(errno);
        let io_err = io::Error::from(e);
        assert_eq!(io_err.kind(), e.io_kind(), "{errno:?}");
        let back = Error::from(io_err);
        assert_eq!(back.kind(), kind, "{errno:?}");
        assert_eq!(back.errno(), Some(errno), "{errno:?}");
    }
    // The common ones need no payload: std's own errno error already has the right kind.
    for errno in [
        Errno::EAGAIN,
        Errno::ECONNRESET,
        Errno::ECONNREFUSED,
        Errno::ETIMEDOUT,
    ] {
        assert_eq!(
            io::Error::from(Error::from(errno)).raw_os_error(),
            Some(errno.raw())
        );
    }
}

#[test]
fn plain_std_errors_map_to_the_nearest_kind() {
    let cases = [
        (io::ErrorKind::WouldBlock, ErrorKind::WouldBlock),
        (io::ErrorKind::BrokenPipe, ErrorKind::ConnectionReset),
        (io::ErrorKind::UnexpectedEof, ErrorKind::UnexpectedEof),
        (io::ErrorKind::WriteZero, ErrorKind::ShortWrite),
        (io::ErrorKind::NotFound, ErrorKind::NotFound),
        (io::ErrorKind::AlreadyExists, ErrorKind::Os),
    ];
    for (io_kind, kind) in cases {
        assert_eq!(
            Error::from(io::Error::from(io_kind)).kind(),
            kind,
            "{io_kind:?}"
        );
    }
    assert_eq!(
        Error::from(io::Error::from_raw_os_error(libc_eagain())).kind(),
        ErrorKind::WouldBlock
    );
}

fn libc_eagain() -> i32 {
    Errno::EAGAIN.raw()
}

#[test]
fn an_iox_error_is_found_through_wrapping() {
    let inner = io::Error::from(Error::MORE);
    let wrapped = io::Error::other(inner);
    assert_eq!(Error::find_in(&wrapped), Some(Error::MORE));
    #[derive(Debug)]
    struct Outer(Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "outer")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let deep = io::Error::other(Outer(Error::WOULD_BLOCK));
    assert_eq!(Error::find_in(&deep), Some(Error::WOULD_BLOCK));
    assert_eq!(Error::find_in(&io::Error::other("plain")), None);
}
