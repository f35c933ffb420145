//! Signal handling for tests that need a blocking call interrupted (the unsafe part of
//! testkit that is not in `sys`).

use std::io;

extern "C" fn ignore(_: libc::c_int) {}

/// Installs a handler that does nothing for `sig`, without `SA_RESTART`, so a blocking call
/// in a thread that receives `sig` returns `EINTR` instead of the process dying (the default
/// action of `SIGUSR1`) or the call restarting. Process-wide: use it in a
/// [`in_subprocess`](crate::in_subprocess) child.
pub fn install_noop_handler(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags) that is then
    // filled in field by field.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: `sa` is a valid sigaction, read by the kernel during the call; the handler is
    // async-signal-safe (it does nothing).
    let r = unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
