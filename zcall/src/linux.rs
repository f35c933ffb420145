//! Linux-only calls: eventfd, timerfd, epoll, signalfd and the signal mask, memfd, pidfd and
//! waitid, splice/tee/vmsplice, preadv2/pwritev2, io_uring, thread ids.

use core::ffi::{CStr, c_int, c_uint, c_void};

use crate::{IoVec, IoVecMut, RawFd, Result, sys};

/// [`preadv`](crate::preadv) with `RWF_*` flags. See `preadv2(2)`.
#[inline]
pub fn preadv2(fd: RawFd, bufs: &mut [IoVecMut<'_>], offset: i64, flags: c_int) -> Result<usize> {
    sys::preadv2(fd, bufs, offset, flags)
}

/// [`pwritev`](crate::pwritev) with `RWF_*` flags. See `pwritev2(2)`.
#[inline]
pub fn pwritev2(fd: RawFd, bufs: &[IoVec<'_>], offset: i64, flags: c_int) -> Result<usize> {
    sys::pwritev2(fd, bufs, offset, flags)
}

/// Creates an eventfd with counter `initval`; flags `EFD_CLOEXEC | EFD_NONBLOCK |
/// EFD_SEMAPHORE`. See `eventfd(2)`.
///
/// ```
/// let fd = zcall::eventfd2(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK).unwrap();
/// zcall::write(fd, &5u64.to_ne_bytes()).unwrap();
/// let mut v = [0u8; 8];
/// zcall::read(fd, &mut v).unwrap();
/// assert_eq!(u64::from_ne_bytes(v), 5);
/// assert_eq!(zcall::read(fd, &mut v), Err(zcall::Errno::EAGAIN));
/// # unsafe { zcall::close(fd).unwrap() };
/// ```
#[inline]
pub fn eventfd2(initval: c_uint, flags: c_int) -> Result<RawFd> {
    sys::eventfd2(initval, flags)
}

/// Creates a timerfd on `clockid` (`CLOCK_MONOTONIC`, `CLOCK_REALTIME`, `CLOCK_BOOTTIME`,
/// ...); flags `TFD_CLOEXEC | TFD_NONBLOCK`. See `timerfd_create(2)`.
#[inline]
pub fn timerfd_create(clockid: c_int, flags: c_int) -> Result<RawFd> {
    sys::timerfd_create(clockid, flags)
}

/// Arms (or with a zero `it_value`, disarms) the timer; returns the previous setting.
/// `flags` may hold `TFD_TIMER_ABSTIME`. See `timerfd_settime(2)`.
#[inline]
pub fn timerfd_settime(
    fd: RawFd,
    flags: c_int,
    new: &libc::itimerspec,
) -> Result<libc::itimerspec> {
    sys::timerfd_settime(fd, flags, new)
}

/// The time until the next expiration and the interval. See `timerfd_gettime(2)`.
#[inline]
pub fn timerfd_gettime(fd: RawFd) -> Result<libc::itimerspec> {
    sys::timerfd_gettime(fd)
}

/// Creates an epoll instance (`EPOLL_CLOEXEC`). See `epoll_create1(2)`.
#[inline]
pub fn epoll_create1(flags: c_int) -> Result<RawFd> {
    sys::epoll_create1(flags)
}

/// Adds, modifies or deletes `fd` in the interest list (`event` may be `None` for
/// `EPOLL_CTL_DEL`). See `epoll_ctl(2)`.
#[inline]
pub fn epoll_ctl(
    epfd: RawFd,
    op: c_int,
    fd: RawFd,
    event: Option<&libc::epoll_event>,
) -> Result<()> {
    sys::epoll_ctl(epfd, op, fd, event)
}

/// Waits up to `timeout_ms` (-1: forever) for events; returns how many were written into
/// `events`. Issued as `epoll_pwait` with no signal mask, which every architecture has.
/// See `epoll_wait(2)`.
#[inline]
pub fn epoll_wait(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout_ms: c_int,
) -> Result<usize> {
    sys::epoll_wait(epfd, events, timeout_ms)
}

/// [`epoll_wait`] with a nanosecond `timeout` (`None`: forever). Linux 5.11 and later;
/// older kernels return `ENOSYS` (and a seccomp filter may kill the process instead, so
/// do not probe for it casually). See `epoll_pwait2(2)`.
#[inline]
pub fn epoll_pwait2(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout: Option<&libc::timespec>,
) -> Result<usize> {
    sys::epoll_pwait2(epfd, events, timeout)
}

/// Creates (with `fd == -1`) or updates a signalfd for the signals in `mask`, a
/// kernel-format set: bit `n - 1` stands for signal `n`. See `signalfd(2)`.
#[inline]
pub fn signalfd4(fd: RawFd, mask: u64, flags: c_int) -> Result<RawFd> {
    sys::signalfd4(fd, mask, flags)
}

/// Changes the calling thread's signal mask (`SIG_BLOCK`, `SIG_UNBLOCK`, `SIG_SETMASK`;
/// `set == None` only reads it) and returns the previous one, both kernel-format 64-bit
/// sets. See `rt_sigprocmask(2)`.
#[inline]
pub fn rt_sigprocmask(how: c_int, set: Option<u64>) -> Result<u64> {
    sys::rt_sigprocmask(how, set)
}

/// Creates an anonymous memory file; flags `MFD_CLOEXEC | MFD_ALLOW_SEALING |
/// MFD_HUGETLB | ...`. See `memfd_create(2)`.
#[inline]
pub fn memfd_create(name: &CStr, flags: c_uint) -> Result<RawFd> {
    sys::memfd_create(name, flags)
}

/// A descriptor for process `pid` (`PIDFD_NONBLOCK` in flags). See `pidfd_open(2)`.
#[inline]
pub fn pidfd_open(pid: libc::pid_t, flags: c_uint) -> Result<RawFd> {
    sys::pidfd_open(pid, flags)
}

/// Sends `sig` to the process behind `pidfd`. See `pidfd_send_signal(2)`.
#[inline]
pub fn pidfd_send_signal(pidfd: RawFd, sig: c_int, flags: c_uint) -> Result<()> {
    sys::pidfd_send_signal(pidfd, sig, flags)
}

/// Duplicates descriptor `targetfd` of the process behind `pidfd` into this one.
/// See `pidfd_getfd(2)`.
#[inline]
pub fn pidfd_getfd(pidfd: RawFd, targetfd: RawFd, flags: c_uint) -> Result<RawFd> {
    sys::pidfd_getfd(pidfd, targetfd, flags)
}

/// Waits for a child's state change (`P_PID`, `P_PIDFD`, `P_ALL`; `WEXITED | WNOHANG`,
/// ...). With `WNOHANG` and nothing to report, `si_pid` of the result is 0.
/// See `waitid(2)`.
#[inline]
pub fn waitid(idtype: libc::idtype_t, id: libc::id_t, options: c_int) -> Result<libc::siginfo_t> {
    sys::waitid(idtype, id, options)
}

/// Moves up to `len` bytes between a pipe and another descriptor without copying through
/// user space; an offset, when given, is used and advanced instead of the file offset.
/// See `splice(2)`.
#[inline]
pub fn splice(
    fd_in: RawFd,
    off_in: Option<&mut i64>,
    fd_out: RawFd,
    off_out: Option<&mut i64>,
    len: usize,
    flags: c_uint,
) -> Result<usize> {
    sys::splice(fd_in, off_in, fd_out, off_out, len, flags)
}

/// Duplicates up to `len` bytes from one pipe to another without consuming them.
/// See `tee(2)`.
#[inline]
pub fn tee(fd_in: RawFd, fd_out: RawFd, len: usize, flags: c_uint) -> Result<usize> {
    sys::tee(fd_in, fd_out, len, flags)
}

/// Splices user pages into a pipe. See `vmsplice(2)`.
///
/// # Safety
///
/// The pipe may keep referring to the pages rather than copying them: the caller must
/// leave the bytes unmodified (and, with `SPLICE_F_GIFT`, never touch them again) until the
/// reader has consumed them.
#[inline]
pub unsafe fn vmsplice(fd: RawFd, bufs: &[IoVec<'_>], flags: c_uint) -> Result<usize> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::vmsplice(fd, bufs, flags) }
}

/// Sets up an io_uring with `entries` submission entries. See `io_uring_setup(2)`.
///
/// # Safety
///
/// `params` must point to a valid, writable `struct io_uring_params`.
#[inline]
pub unsafe fn io_uring_setup(entries: u32, params: *mut c_void) -> Result<RawFd> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::io_uring_setup(entries, params) }
}

/// Submits and/or waits for completions. See `io_uring_enter(2)`.
///
/// # Safety
///
/// Every submitted entry's pointers must be valid until its completion; `arg` must be
/// null or valid for `argsz` bytes as the `flags` say.
#[inline]
pub unsafe fn io_uring_enter(
    fd: RawFd,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    arg: *const c_void,
    argsz: usize,
) -> Result<u32> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::io_uring_enter(fd, to_submit, min_complete, flags, arg, argsz) }
}

/// Registers buffers, files, eventfds, ... with a ring. See `io_uring_register(2)`.
///
/// # Safety
///
/// `arg` must be valid for `nr_args` items of the kind `opcode` names, and registered
/// buffers must stay valid until unregistered.
#[inline]
pub unsafe fn io_uring_register(
    fd: RawFd,
    opcode: u32,
    arg: *const c_void,
    nr_args: u32,
) -> Result<usize> {
    // SAFETY: forwarded to the caller.
    unsafe { sys::io_uring_register(fd, opcode, arg, nr_args) }
}

/// The calling process's id. See `getpid(2)`.
#[inline]
pub fn getpid() -> libc::pid_t {
    sys::getpid()
}

/// The calling thread's id. See `gettid(2)`.
#[inline]
pub fn gettid() -> libc::pid_t {
    sys::gettid()
}

/// Sends `sig` to thread `tid` of process `tgid`. See `tgkill(2)`.
#[inline]
pub fn tgkill(tgid: libc::pid_t, tid: libc::pid_t, sig: c_int) -> Result<()> {
    sys::tgkill(tgid, tid, sig)
}
