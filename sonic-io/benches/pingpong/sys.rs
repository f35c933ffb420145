//! The one place this benchmark needs `unsafe`: the descriptor limit.

use std::io;

/// Raises the soft `RLIMIT_NOFILE` toward `want` (never above the hard limit, never
/// lowering it); returns the soft limit in force afterwards.
pub(crate) fn raise_open_files(want: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    let old = lim.rlim_cur;
    lim.rlim_cur = want.min(lim.rlim_max);
    if lim.rlim_cur <= old {
        return Ok(old);
    }
    // SAFETY: `lim` is a valid rlimit, only read by the kernel during the call.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}
