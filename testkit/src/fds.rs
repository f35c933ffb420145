//! Counting the process's open descriptors.

use std::io;

/// How many descriptors the process has open now (the directory handle used to count
/// them is not included).
///
/// Reads `/proc/self/fd` on Linux and `/dev/fd` elsewhere. Other threads open and close
/// descriptors too: compare counts only in a test that runs alone in its process
/// ([`in_subprocess`](crate::in_subprocess)).
pub fn open_fds() -> io::Result<usize> {
    let dir = if cfg!(target_os = "linux") {
        "/proc/self/fd"
    } else {
        "/dev/fd"
    };
    // read_dir holds one descriptor open while iterating; it is listed too.
    let n = std::fs::read_dir(dir)?.count();
    Ok(n.saturating_sub(1))
}

/// Runs `f` and asserts that as many descriptors are open after it as before
/// ([`open_fds`]). Call it in a process of its own ([`in_subprocess`](crate::in_subprocess)),
/// where no other test opens or closes descriptors meanwhile.
#[track_caller]
pub fn no_fd_leak<R>(f: impl FnOnce() -> R) -> R {
    assert!(
        crate::subprocess::is_subprocess(),
        "count descriptors in a subprocess"
    );
    let before = open_fds().unwrap();
    let r = f();
    assert_eq!(open_fds().unwrap(), before, "a descriptor leaked");
    r
}
