//! Process-wide changes a fault test makes in its own child process: the descriptor limit,
//! SIGPIPE's disposition, a seccomp filter that makes one system call fail.
//!
//! Each changes the whole process, so each refuses (panics) outside a child started by
//! [`in_subprocess`](crate::in_subprocess) or [`in_netns`](crate::in_netns): in the shared
//! test process it would disturb every other test.

use std::io;

#[track_caller]
fn assert_in_subprocess(what: &str) {
    assert!(
        crate::is_subprocess(),
        "testkit::{what} changes the whole process: call it inside testkit::in_subprocess"
    );
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the soft limit on open descriptors (`RLIMIT_NOFILE`) and returns the previous soft
/// limit. Descriptors already open above the limit stay open; new ones fail with `EMFILE`.
/// See `setrlimit(2)`.
#[track_caller]
#[allow(
    clippy::unnecessary_cast,
    reason = "rlim_t is u64 on Linux and macOS, i64 on FreeBSD"
)]
pub fn set_open_files_limit(soft: u64) -> io::Result<u64> {
    assert_in_subprocess("set_open_files_limit");
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    let old = lim.rlim_cur as u64;
    lim.rlim_cur = (soft as libc::rlim_t).min(lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit, read by the kernel during the call.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    Ok(old)
}

/// Lowers the descriptor limit to the open count plus `headroom` and opens `/dev/null`
/// until the next open fails with `EMFILE`. Returns the descriptors taken (drop one to make
/// room) and the previous soft limit, for [`set_open_files_limit`] to restore. Fails if the
/// limit is not reached within 64 descriptors.
#[track_caller]
pub fn exhaust_descriptors(headroom: u64) -> io::Result<(Vec<std::fs::File>, u64)> {
    let open = crate::open_fds()? as u64;
    let old = set_open_files_limit(open + headroom)?;
    let mut fillers = Vec::new();
    for _ in 0..64 {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return Ok((fillers, old)),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "the descriptor limit was not reached within 64 descriptors",
    ))
}

/// Restores SIGPIPE's default action (terminate the process). Test binaries start with it
/// ignored; a test that proves a write never raises SIGPIPE restores it first, so a SIGPIPE
/// would kill its child and fail the test.
#[track_caller]
pub fn default_sigpipe() -> io::Result<()> {
    assert_in_subprocess("default_sigpipe");
    // SAFETY: installs the default disposition, no handler code; nothing else in this
    // child process depends on SIGPIPE being ignored.
    let prev = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if prev == libc::SIG_ERR {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `AUDIT_ARCH_*` of this target, as seccomp reports it (linux/audit.h).
#[cfg(target_os = "linux")]
const AUDIT_ARCH: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(0xc000_003e)
} else if cfg!(target_arch = "aarch64") {
    Some(0xc000_00b7)
} else if cfg!(target_arch = "riscv64") {
    Some(0xc000_00f3)
} else {
    None
};

/// Installs a seccomp filter on the calling thread (and the threads it starts afterwards)
/// under which system call `nr` (`libc::SYS_memfd_create`) fails with `errno` and every
/// other call proceeds; sets `no_new_privs` first, as an unprivileged filter needs. The
/// filter cannot be removed: the child process keeps it until it exits. Fails with
/// `Unsupported` on architectures not listed here. See `seccomp(2)`.
#[cfg(target_os = "linux")]
#[track_caller]
pub fn fail_syscall(nr: libc::c_long, errno: i32) -> io::Result<()> {
    assert_in_subprocess("fail_syscall");
    let arch = AUDIT_ARCH.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "testkit::fail_syscall: no AUDIT_ARCH for this architecture",
        )
    })?;
    let nr = u32::try_from(nr).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: usize| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset as u32);
    let ret = |k: u32| stmt(libc::BPF_RET | libc::BPF_K, k);
    let errno_ret = libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA);
    let program = [
        load(std::mem::offset_of!(libc::seccomp_data, arch)),
        // Another ABI's numbers mean other calls: let them through.
        jeq(arch, 1, 0),
        ret(libc::SECCOMP_RET_ALLOW),
        load(std::mem::offset_of!(libc::seccomp_data, nr)),
        jeq(nr, 0, 1),
        ret(errno_ret),
        ret(libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only and affects this process.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    // SAFETY: `fprog` points at `program`, both alive for the call; the kernel copies the
    // filter before returning.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    })
}
