//! PidFd against the real kernel: children reaped with their status, signals, descriptors.
#![cfg(target_os = "linux")]

use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use iofd::{Fd, PidFd};
use iox::ErrorKind;

#[test]
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped through its pidfd"
)]
fn a_child_is_reaped_with_its_exit_code() {
    let child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
    let p = PidFd::open_blocking(child.id() as i32).unwrap();
    assert_eq!(p.pid(), child.id() as i32);
    let status = p.wait().unwrap();
    assert_eq!(status.code(), Some(7));
}

#[test]
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped through its pidfd"
)]
fn a_killed_child_reports_the_signal_and_nonblocking_waits_would_block() {
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let p = PidFd::open(child.id() as i32).unwrap();
    assert!(p.wait().unwrap_err().is_would_block(), "still running");
    assert_eq!(p.try_wait().unwrap(), None);
    p.send_signal(0).unwrap();
    p.send_signal(libc::SIGKILL).unwrap();
    // Wait for the exit through the descriptor's readability (bounded).
    let mut fds = libc::pollfd {
        fd: p.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    assert_eq!(unsafe { libc::poll(&mut fds, 1, 10_000) }, 1);
    let status = p.try_wait().unwrap().expect("exited");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(
        p.send_signal(0).unwrap_err().errno(),
        Some(zcall::Errno::ESRCH)
    );
    assert_eq!(
        p.wait().unwrap_err().kind(),
        ErrorKind::Os,
        "already reaped: ECHILD"
    );
}

#[test]
fn a_descriptor_is_copied_out_of_a_process() {
    let me = PidFd::open(std::process::id() as i32).unwrap();
    let [r, w] = Fd::pipe().unwrap();
    let copy = me.get_fd(w.raw()).unwrap();
    copy.write(b"through pidfd_getfd").unwrap();
    let mut b = [0u8; 19];
    assert_eq!(r.read(&mut b).unwrap(), 19);
    assert_eq!(&b, b"through pidfd_getfd");
    assert_eq!(me.get_fd(1 << 20).unwrap_err().kind(), ErrorKind::Closed);
    let owned: std::os::fd::OwnedFd = me.into();
    assert_eq!(
        PidFd::from(owned).pid(),
        std::process::id() as i32,
        "pid read back from fdinfo"
    );
}

#[test]
fn bad_pids() {
    for pid in [0, -5] {
        assert_eq!(
            PidFd::open(pid).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
    // The largest pid Linux can hand out plus one: nobody has it.
    let e = PidFd::open(4_194_305).unwrap_err();
    assert_eq!(e.errno(), Some(zcall::Errno::ESRCH));
}
