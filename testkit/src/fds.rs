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
