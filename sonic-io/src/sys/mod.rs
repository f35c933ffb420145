//! The platform seam: one poller per `Io`, chosen here once.
//!
//! Linux uses edge-triggered epoll ([`epoll`]) or io_uring's multishot polls ([`uring`]),
//! chosen per Io ([`Poller`]); macOS and FreeBSD use kqueue with `EV_CLEAR` ([`kqueue`]).
//! Everything above this module is the same on every platform and backend.

use std::os::fd::RawFd;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use epoll::Waker;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod uring;

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
mod kqueue;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
pub(crate) use kqueue::{Poller, Waker};

/// The poller of one `Io` on Linux: epoll or io_uring, chosen when the Io is built. Each
/// call is one predictable branch on the variant.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug)]
pub(crate) enum Poller {
    Epoll(epoll::Poller),
    Uring(uring::Poller),
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Poller {
    /// The poller `want` asks for, and what was used (with the reason of a fallback).
    pub(crate) fn new(
        want: crate::Backend,
        events: usize,
        objects: usize,
        waker: &Waker,
    ) -> iox::Result<(Poller, crate::BackendUsed)> {
        use crate::{Backend, BackendUsed};
        let used = |backend, fallback| BackendUsed { backend, fallback };
        match want {
            Backend::Epoll => Ok((
                Poller::Epoll(epoll::Poller::new(events, waker)?),
                used(Backend::Epoll, None),
            )),
            Backend::Uring => Ok((
                Poller::Uring(uring::Poller::new(events, objects, waker)?),
                used(Backend::Uring, None),
            )),
            Backend::Auto => match uring::Poller::new(events, objects, waker) {
                Ok(p) => Ok((Poller::Uring(p), used(Backend::Uring, None))),
                Err(e) => Ok((
                    Poller::Epoll(epoll::Poller::new(events, waker)?),
                    used(Backend::Epoll, Some(e)),
                )),
            },
            _ => Err(iox::Error::unsupported(
                "kqueue is the macOS and FreeBSD backend",
            )),
        }
    }

    pub(crate) fn set_busy_poll(&self, bp: crate::BusyPoll) -> iox::Result<()> {
        match self {
            Poller::Epoll(p) => p.set_busy_poll(bp),
            Poller::Uring(_) => Err(URING_BUSY_POLL),
        }
    }

    pub(crate) fn busy_poll(&self) -> iox::Result<crate::BusyPoll> {
        match self {
            Poller::Epoll(p) => p.busy_poll(),
            Poller::Uring(_) => Err(URING_BUSY_POLL),
        }
    }

    #[inline]
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: u64,
        writes: bool,
        stats: &mut crate::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(p) => p.register(fd, token, writes, stats),
            Poller::Uring(p) => p.register(fd, token, writes, stats),
        }
    }

    #[inline]
    pub(crate) fn watch_writes(
        &mut self,
        fd: RawFd,
        token: u64,
        on: bool,
        stats: &mut crate::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(p) => p.watch_writes(fd, token, on, stats),
            Poller::Uring(p) => p.watch_writes(fd, token, on, stats),
        }
    }

    /// Stops watching `fd`, which the caller takes back.
    pub(crate) fn deregister(
        &mut self,
        fd: RawFd,
        token: u64,
        stats: &mut crate::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(p) => p.deregister(fd, stats),
            Poller::Uring(p) => p.deregister(fd, token, stats),
        }
    }

    /// `fd` is about to be closed. epoll forgets a closed descriptor by itself; an io_uring
    /// poll holds the file open, so it is cancelled first.
    #[inline]
    pub(crate) fn forget(
        &mut self,
        fd: RawFd,
        token: u64,
        stats: &mut crate::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(_) => Ok(()),
            Poller::Uring(p) => p.deregister(fd, token, stats),
        }
    }

    /// Every registered descriptor is about to be closed (the Io closes).
    pub(crate) fn forget_all(&mut self, stats: &mut crate::Stats) -> iox::Result<()> {
        match self {
            Poller::Epoll(_) => Ok(()),
            Poller::Uring(p) => p.deregister_all(stats),
        }
    }

    #[inline]
    pub(crate) fn wait(
        &mut self,
        timeout: Timeout,
        now: u64,
        stats: &mut crate::Stats,
    ) -> iox::Result<usize> {
        match self {
            Poller::Epoll(p) => p.wait(timeout, now, stats),
            Poller::Uring(p) => p.wait(timeout, now, stats),
        }
    }

    pub(crate) fn wait_timer_fired(&mut self) {
        match self {
            Poller::Epoll(p) => p.wait_timer_fired(),
            Poller::Uring(p) => p.wait_timer_fired(),
        }
    }

    #[inline]
    pub(crate) fn event(&self, i: usize) -> (u64, Ready) {
        match self {
            Poller::Epoll(p) => p.event(i),
            Poller::Uring(p) => p.event(i),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const URING_BUSY_POLL: iox::Error = iox::Error::unsupported(
    "busy polling is set through epoll (EPIOCSPARAMS): build the Io with Backend::Epoll",
);

/// The readiness in a `POLL*`/`EPOLL*` mask (one set of values on Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
pub(crate) fn ready_from_poll(bits: u32) -> Ready {
    let mut r = Ready::EMPTY;
    if bits & libc::EPOLLIN as u32 != 0 {
        r |= Ready::READABLE;
    }
    if bits & libc::EPOLLOUT as u32 != 0 {
        r |= Ready::WRITABLE;
    }
    if bits & libc::EPOLLPRI as u32 != 0 {
        r |= Ready::URGENT | Ready::READABLE;
    }
    if bits & libc::EPOLLRDHUP as u32 != 0 {
        r |= Ready::READ_CLOSED | Ready::READABLE;
    }
    if bits & libc::EPOLLHUP as u32 != 0 {
        r |= Ready::HUP | Ready::READABLE | Ready::WRITABLE;
    }
    if bits & libc::EPOLLERR as u32 != 0 {
        r |= Ready::ERROR | Ready::READABLE | Ready::WRITABLE;
    }
    r
}

/// The token of the posters' waker.
pub(crate) const WAKER: u64 = u64::MAX;
/// The token of the timer that bounds a wait (Linux without `linux_5_11`).
#[cfg_attr(
    any(feature = "linux_5_11", not(target_os = "linux")),
    allow(dead_code)
)]
pub(crate) const WAIT_TIMER: u64 = u64::MAX - 1;

/// How long a wait may block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// Do not block.
    Now,
    /// Until this Io time (nanoseconds since the Io's epoch).
    At(u64),
    /// Until an event.
    Forever,
}

/// Readiness as a small bit set, the same on every platform.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ready(u8);

impl Ready {
    pub(crate) const EMPTY: Ready = Ready(0);
    pub(crate) const READABLE: Ready = Ready(1);
    pub(crate) const WRITABLE: Ready = Ready(2);
    pub(crate) const READ_CLOSED: Ready = Ready(4);
    pub(crate) const HUP: Ready = Ready(8);
    pub(crate) const ERROR: Ready = Ready(16);
    /// Urgent (out-of-band) data was signalled (`EPOLLPRI`: TCP urgent data, a Unix stream's
    /// `MSG_OOB`). The kernel ends a read at the urgent mark with bytes queued behind it, so
    /// from then on a short stream read no longer proves the socket drained: only
    /// `WouldBlock` clears the readable mark. Set by events, never cleared.
    pub(crate) const URGENT: Ready = Ready(32);
    /// A stream whose read side saw any of these will not see another edge for it: every
    /// read tries its syscall, which returns the rest of the data, the error, or end of
    /// stream. Set by events, never cleared.
    pub(crate) const READ_ENDED: Ready = Ready(4 | 8 | 16);
    /// The same for the write side: the next send fails at once (`EPIPE`, the error).
    pub(crate) const WRITE_ENDED: Ready = Ready(8 | 16);

    #[inline]
    pub(crate) fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    /// `true` if any flag of `other` is set.
    #[inline]
    pub(crate) fn intersects(self, other: Ready) -> bool {
        self.0 & other.0 != 0
    }

    #[inline]
    pub(crate) fn remove(&mut self, other: Ready) {
        self.0 &= !other.0;
    }
}

impl core::ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, o: Ready) -> Ready {
        Ready(self.0 | o.0)
    }
}

impl core::ops::BitOrAssign for Ready {
    fn bitor_assign(&mut self, o: Ready) {
        self.0 |= o.0;
    }
}

/// Takes ownership of a descriptor the kernel just returned (epoll's; kqueue's comes from
/// rustix already owned).
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

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn owned(fd: RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` was just returned by a successful syscall that created it, and nothing
    // else owns it.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
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
