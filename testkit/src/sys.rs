//! Process-wide changes a fault test makes in its own child process: the descriptor limit,
//! SIGPIPE's disposition, a seccomp filter that makes chosen system calls fail.
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

/// Installs a seccomp filter under which system call `nr` (`libc::SYS_memfd_create`) fails
/// with `errno` and every other call proceeds: [`refuse_syscalls`] with one number.
/// See `seccomp(2)`.
#[cfg(target_os = "linux")]
#[track_caller]
pub fn fail_syscall(nr: libc::c_long, errno: i32) -> io::Result<()> {
    assert_in_subprocess("fail_syscall");
    refuse_syscalls(&[nr], errno)
}

/// Installs a seccomp filter on every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`),
/// inherited by the threads and children started afterwards, under which each system call
/// numbered in `nrs` (`libc::SYS_io_uring_setup`) fails with `errno` and every other call
/// proceeds. A call made through another ABI than this target's (its `AUDIT_ARCH_*` differs,
/// so its numbers mean other calls) is let through. Sets `no_new_privs` first, as an
/// unprivileged filter needs. The filter cannot be removed: the child process keeps it until
/// it exits.
///
/// Fails with `Unsupported` on architectures other than x86_64, aarch64 and riscv64, with
/// `InvalidInput` for an empty list, more than 255 numbers, a negative number or an `errno`
/// outside `1..=4095`, and with the kernel's error otherwise (qemu-user refuses seccomp
/// with `EINVAL`: see [`qemu::UNSUPPORTED_BEHAVIOURS`](crate::qemu::UNSUPPORTED_BEHAVIOURS)).
/// Panics outside a child process of [`in_subprocess`](crate::in_subprocess). See
/// `seccomp(2)`, `prctl(2)` (`PR_SET_NO_NEW_PRIVS`).
///
/// ```no_run
/// testkit::in_subprocess(|| {
///     testkit::refuse_syscalls(&[libc::SYS_io_uring_setup], libc::EPERM).unwrap();
///     // io_uring_setup now fails with EPERM: the code under test falls back to epoll.
/// });
/// ```
#[cfg(target_os = "linux")]
#[track_caller]
pub fn refuse_syscalls(nrs: &[libc::c_long], errno: i32) -> io::Result<()> {
    assert_in_subprocess("refuse_syscalls");
    let arch = AUDIT_ARCH.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "testkit::refuse_syscalls: no AUDIT_ARCH for this architecture",
        )
    })?;
    install(&filter_program(arch, nrs, errno)?)
}

/// How [`refuse_syscall_when`] tests one argument of the call: its low 32 bits (the whole
/// value for the `int` and `unsigned` arguments of most calls).
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgIs {
    /// Equal to the value.
    Eq(u32),
    /// At least the value (unsigned).
    AtLeast(u32),
}

/// Installs a seccomp filter under which system call `nr` fails with `errno` when every
/// test in `args` holds (`(index, test)`, the index counting the call's arguments from 0),
/// and proceeds otherwise; every other call proceeds. For faults that depend on what a call
/// asks: `io_uring_enter` refused only when it submits a full queue, say. The filter, the
/// architectures and the errors are as in [`refuse_syscalls`] (`InvalidInput` also for an
/// argument index above 5 or more than 100 tests); the targets it runs on are
/// little-endian, where an argument's low 32 bits come first. See `seccomp(2)`.
///
/// ```no_run
/// use testkit::ArgIs;
/// testkit::in_subprocess(|| {
///     // io_uring_enter(fd, to_submit >= 256, min_complete == 0, ...) fails with EAGAIN.
///     let when = [(1, ArgIs::AtLeast(256)), (2, ArgIs::Eq(0))];
///     testkit::refuse_syscall_when(libc::SYS_io_uring_enter, &when, libc::EAGAIN).unwrap();
/// });
/// ```
#[cfg(target_os = "linux")]
#[track_caller]
pub fn refuse_syscall_when(
    nr: libc::c_long,
    args: &[(usize, ArgIs)],
    errno: i32,
) -> io::Result<()> {
    assert_in_subprocess("refuse_syscall_when");
    let arch = AUDIT_ARCH.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "testkit::refuse_syscall_when: no AUDIT_ARCH for this architecture",
        )
    })?;
    install(&conditional_program(arch, nr, args, errno)?)
}

/// `errno` as a seccomp return's data, or `InvalidInput` naming `who`: above 4095 the
/// kernel's return value no longer reads as an error.
#[cfg(target_os = "linux")]
fn filter_errno(errno: i32, who: &'static str) -> io::Result<u32> {
    u32::try_from(errno)
        .ok()
        .filter(|e| (1..=4095).contains(e))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, who))
}

/// A classic BPF statement (no jump).
#[cfg(target_os = "linux")]
fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The program of [`refuse_syscall_when`]: allow a foreign `arch` or another call; for
/// `nr`, test each argument and allow on the first test that fails; refuse when all hold.
#[cfg(target_os = "linux")]
fn conditional_program(
    arch: u32,
    nr: libc::c_long,
    args: &[(usize, ArgIs)],
    errno: i32,
) -> io::Result<Vec<libc::sock_filter>> {
    let invalid = |what: &'static str| io::Error::new(io::ErrorKind::InvalidInput, what);
    if args.len() > 100 || args.iter().any(|&(i, _)| i > 5) {
        return Err(invalid(
            "testkit::refuse_syscall_when: an argument index above 5, or more than 100 tests",
        ));
    }
    let errno = filter_errno(
        errno,
        "testkit::refuse_syscall_when: errno outside 1..=4095",
    )?;
    let nr = u32::try_from(nr)
        .map_err(|_| invalid("testkit::refuse_syscall_when: a negative system call number"))?;
    let load = |offset: usize| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset as u32);
    // Each test is a load and a jump; the jumps' false branch goes to the final allow.
    let tests = 2 + args.len();
    let mut program = Vec::with_capacity(2 * tests + 2);
    let test = |program: &mut Vec<libc::sock_filter>, offset: usize, op: u32, k: u32| {
        program.push(load(offset));
        let here = program.len();
        // The allow is the last instruction, after the refusal.
        let to_allow = 2 * tests + 1 - here - 1;
        program.push(libc::sock_filter {
            code: (libc::BPF_JMP | op | libc::BPF_K) as u16,
            jt: 0,
            jf: u8::try_from(to_allow).expect("at most 204 instructions"),
            k,
        });
    };
    test(
        &mut program,
        std::mem::offset_of!(libc::seccomp_data, arch),
        libc::BPF_JEQ,
        arch,
    );
    test(
        &mut program,
        std::mem::offset_of!(libc::seccomp_data, nr),
        libc::BPF_JEQ,
        nr,
    );
    for &(i, is) in args {
        let offset = std::mem::offset_of!(libc::seccomp_data, args) + 8 * i;
        match is {
            ArgIs::Eq(k) => test(&mut program, offset, libc::BPF_JEQ, k),
            ArgIs::AtLeast(k) => test(&mut program, offset, libc::BPF_JGE, k),
        }
    }
    program.push(stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | errno,
    ));
    program.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    Ok(program)
}

/// Installs `program` as this process's seccomp filter (all threads), `no_new_privs` first.
#[cfg(target_os = "linux")]
fn install(program: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(program.len()).expect("at most 261 instructions");
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only and affects this process.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    // SAFETY: `fprog` points at `program`, both alive for the call, `len` instructions long;
    // the kernel copies the filter before returning.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &fprog as *const libc::sock_fprog,
        )
    };
    match rc {
        0 => Ok(()),
        -1 => Err(io::Error::last_os_error()),
        // With TSYNC, a positive return names a thread that could not take the filter.
        tid => Err(io::Error::other(format!(
            "seccomp: thread {tid} cannot take the filter (it has one of its own)"
        ))),
    }
}

/// The classic BPF program of [`refuse_syscalls`]: allow a foreign `arch`, answer each of
/// `nrs` with `SECCOMP_RET_ERRNO | errno`, allow the rest.
#[cfg(target_os = "linux")]
fn filter_program(
    arch: u32,
    nrs: &[libc::c_long],
    errno: i32,
) -> io::Result<Vec<libc::sock_filter>> {
    let invalid = |what: &'static str| io::Error::new(io::ErrorKind::InvalidInput, what);
    if nrs.is_empty() {
        return Err(invalid(
            "testkit::refuse_syscalls: no system call to refuse",
        ));
    }
    // Each comparison jumps over the ones after it and the final allow: a jump offset is u8.
    if nrs.len() > 255 {
        return Err(invalid(
            "testkit::refuse_syscalls: more than 255 system calls",
        ));
    }
    let errno = filter_errno(errno, "testkit::refuse_syscalls: errno outside 1..=4095")?;
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: usize| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset as u32);
    let ret = |k: u32| stmt(libc::BPF_RET | libc::BPF_K, k);
    let mut program = vec![
        load(std::mem::offset_of!(libc::seccomp_data, arch)),
        // Another ABI's numbers mean other calls: let them through.
        jeq(arch, 1, 0),
        ret(libc::SECCOMP_RET_ALLOW),
        load(std::mem::offset_of!(libc::seccomp_data, nr)),
    ];
    for (i, &nr) in nrs.iter().enumerate() {
        let nr = u32::try_from(nr)
            .map_err(|_| invalid("testkit::refuse_syscalls: a negative system call number"))?;
        // To the errno return, past the comparisons left and the allow.
        let to_errno = u8::try_from(nrs.len() - i).expect("at most 255");
        program.push(jeq(nr, to_errno, 0));
    }
    program.push(ret(libc::SECCOMP_RET_ALLOW));
    program.push(ret(libc::SECCOMP_RET_ERRNO | errno));
    Ok(program)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Runs the program on one `seccomp_data` the way the kernel does (loads of the arch,
    /// the number or an argument's low word, equality and at-least jumps, returns: the only
    /// instructions these programs hold).
    fn run_with(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let base = std::mem::offset_of!(libc::seccomp_data, args);
        let mut acc = 0;
        let mut pc = 0;
        loop {
            let i = program[pc];
            match u32::from(i.code) {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let k = i.k as usize;
                    acc = if k == std::mem::offset_of!(libc::seccomp_data, arch) {
                        arch
                    } else if k == std::mem::offset_of!(libc::seccomp_data, nr) {
                        nr
                    } else {
                        assert!(k >= base && (k - base).is_multiple_of(8), "load at {k}");
                        args[(k - base) / 8] as u32
                    };
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    pc += usize::from(if acc == i.k { i.jt } else { i.jf });
                }
                c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => {
                    pc += usize::from(if acc >= i.k { i.jt } else { i.jf });
                }
                c if c == libc::BPF_RET | libc::BPF_K => return i.k,
                c => panic!("unexpected instruction {c:#x}"),
            }
            pc += 1;
        }
    }

    fn run(program: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        run_with(program, arch, nr, [0; 6])
    }

    #[test]
    fn the_conditional_program_refuses_only_when_every_test_holds() {
        let arch = 0xc000_003e;
        let when = [(1, ArgIs::AtLeast(256)), (2, ArgIs::Eq(0))];
        let p = conditional_program(arch, 426, &when, libc::EAGAIN).unwrap();
        let refused = libc::SECCOMP_RET_ERRNO | libc::EAGAIN as u32;
        let allow = libc::SECCOMP_RET_ALLOW;
        let call = |nr, a1: u64, a2: u64| run_with(&p, arch, nr, [9, a1, a2, 0, 0, 0]);
        assert_eq!(call(426, 256, 0), refused);
        assert_eq!(call(426, 1000, 0), refused);
        // The high word is not compared.
        assert_eq!(call(426, (1 << 32) | 300, 0), refused);
        assert_eq!(call(426, 255, 0), allow);
        assert_eq!(call(426, 256, 1), allow);
        assert_eq!(call(425, 256, 0), allow);
        assert_eq!(run_with(&p, 0x4000_0028, 426, [0, 256, 0, 0, 0, 0]), allow);
        // No argument test: the call is refused whatever it asks.
        let any = conditional_program(arch, 7, &[], libc::ENOSYS).unwrap();
        assert_eq!(
            run(&any, arch, 7),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        assert_eq!(run(&any, arch, 8), allow);
        let bad = |args: &[(usize, ArgIs)], errno| {
            conditional_program(arch, 1, args, errno)
                .unwrap_err()
                .kind()
        };
        assert_eq!(
            bad(&[(6, ArgIs::Eq(0))], libc::EPERM),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(bad(&[], 0), io::ErrorKind::InvalidInput);
        assert_eq!(
            conditional_program(arch, -1, &[], libc::EPERM)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn the_program_refuses_the_listed_calls_only() {
        let arch = 0xc000_003e;
        let nrs: Vec<libc::c_long> = (100..355).collect();
        let p = filter_program(arch, &nrs, libc::EPERM).unwrap();
        let refused = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        for nr in 0..400 {
            let want = if (100..355).contains(&nr) {
                refused
            } else {
                libc::SECCOMP_RET_ALLOW
            };
            assert_eq!(run(&p, arch, nr), want, "nr {nr}");
            assert_eq!(
                run(&p, 0x4000_0028, nr),
                libc::SECCOMP_RET_ALLOW,
                "foreign arch"
            );
        }
        let one = filter_program(arch, &[7], libc::ENOSYS).unwrap();
        assert_eq!(
            run(&one, arch, 7),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        assert_eq!(run(&one, arch, 8), libc::SECCOMP_RET_ALLOW);
    }

    #[test]
    fn bad_input_is_refused() {
        let bad = |nrs: &[libc::c_long], errno| {
            filter_program(0xc000_003e, nrs, errno).unwrap_err().kind()
        };
        assert_eq!(bad(&[], libc::EPERM), io::ErrorKind::InvalidInput);
        assert_eq!(bad(&[-1], libc::EPERM), io::ErrorKind::InvalidInput);
        assert_eq!(bad(&[1], 0), io::ErrorKind::InvalidInput);
        assert_eq!(bad(&[1], 4096), io::ErrorKind::InvalidInput);
        let many: Vec<libc::c_long> = (0..256).collect();
        assert_eq!(bad(&many, libc::EPERM), io::ErrorKind::InvalidInput);
    }
}
