//! System calls the core and the API layer make outside the pollers: the clock, a Unix
//! stream read that tells message boundaries, `lseek`, CPU affinity.

use std::os::fd::RawFd;

/// `CLOCK_MONOTONIC` in nanoseconds (the clock `Instant` reads on Linux), through libc's
/// vDSO path, as one integer: the reactor reads it once per turn when a timer is armed,
/// and `Instant::elapsed`'s checked timespec arithmetic cost about 40 instructions more
/// per read (`benches/instructions.rs`).
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on every target
    // this crate builds for, so the call cannot fail (a failure would leave `ts` zero,
    // which only makes timers fire late, never early).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// One read of a Unix stream into `a` then `b` (`recvmsg`); returns the count and whether
/// the kernel ended it at a message boundary it will not read across: descriptors attached
/// by the peer (SCM_RIGHTS) or, with SO_PASSCRED, a change of writer. The control buffer has
/// room for a header and nothing more, so the kernel installs no descriptor (it discards
/// them, as a plain `read` does) and says so with `MSG_CTRUNC`; a read that stopped there
/// proves nothing about what is still queued.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn recv_unix_stream(
    fd: RawFd,
    a: &mut [u8],
    b: &mut [u8],
) -> zcall::Result<(usize, bool)> {
    let mut iov = [
        libc::iovec {
            iov_base: a.as_mut_ptr().cast(),
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        },
    ];
    // A `cmsghdr`'s worth, aligned as one: room for no payload.
    let mut control = [0u64; 2];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header, filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (two live, writable slices of the lengths given) and at
    // `control` (16 writable bytes), all alive for the call; no name buffer.
    let n = unsafe { zcall::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC)? };
    let boundary = msg.msg_flags & libc::MSG_CTRUNC != 0 || msg.msg_controllen > 0;
    Ok((n, boundary))
}

/// Moves a file's offset. See `lseek(2)`.
pub(crate) fn lseek(fd: RawFd, offset: i64, whence: libc::c_int) -> iox::Result<u64> {
    // SAFETY: lseek takes no pointers; a bad descriptor is reported as EBADF.
    let r = unsafe { libc::lseek(fd, offset as libc::off_t, whence) };
    if r < 0 {
        Err(iox::Error::from(std::io::Error::last_os_error()))
    } else {
        Ok(r as u64)
    }
}

/// Pins the calling thread to `cpu` (Linux: `sched_setaffinity`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pin_thread(cpu: usize) -> iox::Result<()> {
    if cpu >= rustix::thread::CpuSet::MAX_CPU {
        return Err(iox::Error::invalid_input("cpu index exceeds CPU_SETSIZE"));
    }
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    // None: the calling thread.
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|e| iox::Error::from(std::io::Error::from(e)))
}

/// Pinning is not offered on this platform.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pin_thread(_cpu: usize) -> iox::Result<()> {
    Err(iox::Error::unsupported(
        "thread pinning is implemented for Linux only",
    ))
}

/// The CPUs the calling thread may run on, in ascending order (Linux: `sched_getaffinity`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn allowed_cpus() -> iox::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed; pid 0 is the
    // calling thread.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(iox::Error::from(std::io::Error::last_os_error()));
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, so the bit is inside `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Elsewhere: CPUs `0..available_parallelism`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn allowed_cpus() -> iox::Result<Vec<usize>> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok((0..n).collect())
}
