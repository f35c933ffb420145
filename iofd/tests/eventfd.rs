//! EventFd against the real kernel.
#![cfg(target_os = "linux")]

use iofd::{EventFd, EventFdFlags, Signaler};
use iox::ErrorKind;

#[test]
fn counter_mode() {
    let ev = EventFd::new(3).unwrap();
    assert_eq!(ev.value().unwrap(), 3);
    ev.signal(4).unwrap();
    ev.signal(0).unwrap();
    assert_eq!(ev.value().unwrap(), 7);
    assert_eq!(ev.wait().unwrap(), 7);
    assert_eq!(ev.value().unwrap(), 0);
    assert!(ev.wait().unwrap_err().is_would_block());
}

#[test]
fn semaphore_mode() {
    let ev = EventFd::semaphore(2).unwrap();
    assert_eq!(Signaler::wait(&ev).unwrap(), 1);
    assert_eq!(Signaler::wait(&ev).unwrap(), 1);
    assert!(ev.wait().unwrap_err().is_would_block());
    Signaler::signal(&ev, 1).unwrap();
    assert_eq!(ev.value().unwrap(), 1);
}

#[test]
fn overflow_would_block_and_max_is_refused() {
    let ev = EventFd::new(0).unwrap();
    ev.signal(u64::MAX - 1).unwrap();
    let e = ev.signal(1).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::WouldBlock, Some(zcall::Errno::EAGAIN))
    );
    let e = ev.signal(u64::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("u64::MAX is reserved"), "{e}");
    assert_eq!(ev.value().unwrap(), u64::MAX - 1);
}

#[test]
fn flags_are_applied() {
    let blocking = EventFd::with_flags(1, EventFdFlags::CLOEXEC).unwrap();
    assert!(!blocking.as_fd_ref().is_nonblocking().unwrap());
    assert_eq!(blocking.wait().unwrap(), 1);
    let nb = EventFd::new(0).unwrap();
    assert!(nb.as_fd_ref().is_nonblocking().unwrap() && nb.as_fd_ref().is_cloexec().unwrap());
    let owned: std::os::fd::OwnedFd = nb.into();
    let back = EventFd::from(owned);
    back.signal(9).unwrap();
    assert_eq!(back.wait().unwrap(), 9);
    back.close().unwrap();
}
