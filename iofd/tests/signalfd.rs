//! SignalFd and SigSet: a real signal, blocked on the thread and sent with tgkill, read back
//! as data (in a subprocess: the signal mask is per thread, dispositions per process).
#![cfg(target_os = "linux")]

use iofd::{SigSet, SignalFd};
use iox::ErrorKind;

#[test]
fn sigset_bounds() {
    let mut s = SigSet::EMPTY;
    assert!(s.is_empty());
    s.add(1).unwrap();
    s.add(64).unwrap();
    assert_eq!(s.bits(), 1 | (1 << 63));
    assert_eq!(s.iter().collect::<Vec<_>>(), [1, 64]);
    for bad in [0, 65, -1] {
        assert_eq!(s.add(bad).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(!s.contains(bad));
    }
    s.remove(1).unwrap();
    assert_eq!(s.iter().collect::<Vec<_>>(), [64]);
    assert_eq!(
        SigSet::of(&[libc::SIGINT, libc::SIGTERM]).unwrap().bits(),
        (1 << 1) | (1 << 14)
    );
}

#[test]
fn a_blocked_signal_is_read_as_data() {
    testkit::skip_unless_behaviour!("self-directed signals");
    testkit::in_subprocess(|| {
        let set = SigSet::of(&[libc::SIGUSR1]).unwrap();
        let old = set.block_thread().unwrap();
        assert!(!old.contains(libc::SIGUSR1));
        assert!(SigSet::thread_mask().unwrap().contains(libc::SIGUSR1));
        let sfd = SignalFd::new(set).unwrap();
        assert!(sfd.read().unwrap_err().is_would_block());
        zcall::tgkill(zcall::getpid(), zcall::gettid(), libc::SIGUSR1).unwrap();
        let info = sfd.read().unwrap();
        assert_eq!(info.signo(), libc::SIGUSR1 as u32);
        assert_eq!(info.pid(), std::process::id());
        assert_eq!(info.code(), libc::SI_TKILL);
        // SAFETY: getuid cannot fail.
        assert_eq!(info.uid(), unsafe { libc::getuid() });
        assert!(sfd.read().unwrap_err().is_would_block(), "consumed");
        assert!(format!("{info:?}").contains("signo"));
        set.unblock_thread().unwrap();
        assert!(!SigSet::thread_mask().unwrap().contains(libc::SIGUSR1));
    });
}

#[test]
fn mask_can_be_replaced_and_is_read_back() {
    let mut sfd = SignalFd::new(SigSet::of(&[libc::SIGUSR2]).unwrap()).unwrap();
    let both = SigSet::of(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
    sfd.set_mask(both).unwrap();
    assert_eq!(sfd.mask(), both);
    let owned: std::os::fd::OwnedFd = sfd.into();
    let again = SignalFd::from(owned);
    assert_eq!(again.mask(), both, "read back from fdinfo");
}
