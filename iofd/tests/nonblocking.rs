//! The README's claim, checked against what the kernel reports: every handle this crate
//! creates is non-blocking and close-on-exec, as the `flags:` line of
//! `/proc/self/fdinfo/<fd>` shows (`O_NONBLOCK`, `O_CLOEXEC`).
#![cfg(target_os = "linux")]

use std::os::fd::{AsRawFd, RawFd};

use iofd::{ClockId, EventFd, Fd, MemFd, MemFdFlags, PidFd, SigSet, SignalFd, TimerFd};

/// The file status and descriptor flags the kernel reports for `fd` (octal in fdinfo).
fn fdinfo_flags(fd: RawFd) -> i32 {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap_or_else(|| panic!("no flags line in {text:?}"));
    i32::from_str_radix(line.trim(), 8).unwrap()
}

fn assert_nonblocking_cloexec(what: &str, fd: RawFd) {
    let flags = fdinfo_flags(fd);
    assert_ne!(
        flags & libc::O_NONBLOCK,
        0,
        "{what}: O_NONBLOCK missing from fdinfo flags {flags:o}"
    );
    assert_ne!(
        flags & libc::O_CLOEXEC,
        0,
        "{what}: O_CLOEXEC missing from fdinfo flags {flags:o}"
    );
}

#[test]
fn memfds_are_non_blocking_and_close_on_exec() {
    let plain = MemFd::new("nb").unwrap();
    assert_nonblocking_cloexec("MemFd::new", plain.as_raw_fd());
    assert!(plain.as_fd_ref().is_nonblocking().unwrap());
    let sealable = MemFd::sealable("nb").unwrap();
    assert_nonblocking_cloexec("MemFd::sealable", sealable.as_raw_fd());
    let flags = MemFd::with_flags("nb", MemFdFlags::CLOEXEC | MemFdFlags::ALLOW_SEALING).unwrap();
    assert_nonblocking_cloexec("MemFd::with_flags", flags.as_raw_fd());
    // Non-blocking changes nothing for a file in memory: reads and writes never wait.
    assert_eq!(plain.write_at(b"abc", 0).unwrap(), 3);
    let mut b = [0u8; 3];
    assert_eq!(plain.read_at(&mut b, 0).unwrap(), 3);
    assert_eq!(&b, b"abc");
}

#[test]
fn every_other_handle_is_non_blocking_and_close_on_exec() {
    let ev = EventFd::new(0).unwrap();
    assert_nonblocking_cloexec("EventFd::new", ev.as_raw_fd());
    let t = TimerFd::new(ClockId::Monotonic).unwrap();
    assert_nonblocking_cloexec("TimerFd::new", t.as_raw_fd());
    let s = SignalFd::new(SigSet::from_bits(0)).unwrap();
    assert_nonblocking_cloexec("SignalFd::new", s.as_raw_fd());
    let [r, w] = Fd::pipe().unwrap();
    assert_nonblocking_cloexec("Fd::pipe (read end)", r.as_raw_fd());
    assert_nonblocking_cloexec("Fd::pipe (write end)", w.as_raw_fd());
    let p = PidFd::open(std::process::id() as libc::pid_t).unwrap();
    assert_nonblocking_cloexec("PidFd::open", p.as_raw_fd());
}
