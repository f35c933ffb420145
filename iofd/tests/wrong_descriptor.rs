//! A handle wrapped around the wrong kind of descriptor (through `From<OwnedFd>`) fails each
//! operation with a clear error; it never misreads, panics or blocks.
#![cfg(target_os = "linux")]

use std::os::fd::OwnedFd;

use iofd::{EventFd, Fd, MemFd, Seals, TimerFd};
use iox::ErrorKind;

/// The read end of a pipe whose write end is closed: reads see end of input.
fn pipe_end() -> OwnedFd {
    let [r, _w] = Fd::pipe().unwrap();
    r.into()
}

#[test]
fn handles_over_a_pipe() {
    let t = TimerFd::from(pipe_end());
    assert_eq!(t.setting().unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(t.disarm().unwrap_err().kind(), ErrorKind::InvalidInput);
    let ev = EventFd::from(pipe_end());
    assert_eq!(
        ev.value().unwrap_err().kind(),
        ErrorKind::Unsupported,
        "no eventfd-count in fdinfo"
    );
    // End of input is not a count of zero.
    assert_eq!(ev.wait().unwrap_err().kind(), ErrorKind::UnexpectedEof);
    assert_eq!(
        t.expirations().unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
    let m = MemFd::from(pipe_end());
    // Kernels answer EINVAL or EPERM here, depending on the version; either way it is an
    // errno-carrying error, not a silent success.
    let e = m.seal(Seals::GROW).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::InvalidInput | ErrorKind::PermissionDenied
        ),
        "{e}"
    );
    assert!(e.errno().is_some());
    assert_eq!(m.truncate(1).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(
        m.read_at(&mut [0u8; 1], 0).unwrap_err().errno(),
        Some(zcall::Errno::ESPIPE)
    );
}
