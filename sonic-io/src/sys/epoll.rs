//! Linux: edge-triggered epoll, one timerfd for bounded waits (or `epoll_pwait2` with the
//! `linux_5_11` feature), and an eventfd waker owned by the posters' shared state.

use std::os::fd::RawFd;

#[cfg(not(feature = "linux_5_11"))]
use super::WAIT_TIMER;
use super::{Ready, Timeout, WAKER};
use crate::stats::Stats;

/// The readiness poller of one `Io`.
#[derive(Debug)]
pub(crate) struct Poller {
    epfd: iofd::Fd,
    #[cfg(not(feature = "linux_5_11"))]
    timer: iofd::TimerFd,
    /// The deadline the timerfd is armed for, in Io nanoseconds (`u64::MAX`: disarmed or
    /// fired).
    #[cfg(not(feature = "linux_5_11"))]
    armed: u64,
    events: Vec<libc::epoll_event>,
}

/// The waker posts use: an eventfd that lives as long as the last poster.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: iofd::EventFd,
}

impl Waker {
    pub(crate) fn new() -> iox::Result<Waker> {
        Ok(Waker {
            fd: iofd::EventFd::new(0)?,
        })
    }

    /// Makes the poller's next (or current) wait return.
    pub(crate) fn wake(&self) -> iox::Result<()> {
        match self.fd.signal(1) {
            // The counter is saturated: a wake is pending anyway.
            Err(e) if e.is_would_block() => Ok(()),
            r => r,
        }
    }

    /// Clears pending wakes.
    pub(crate) fn drain(&self) {
        // WouldBlock (nothing pending) is the only expected error; either way the counter
        // is zero afterwards or a new wake will raise a new edge.
        let _ = self.fd.wait();
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_fd_ref().raw()
    }
}

/// `struct epoll_params` (include/uapi/linux/eventpoll.h).
#[repr(C)]
#[derive(Default)]
struct EpollParams {
    busy_poll_usecs: u32,
    busy_poll_budget: u16,
    prefer_busy_poll: u8,
    pad: u8,
}

/// `_IOW(0x8A, 0x01, struct epoll_params)` and `_IOR(0x8A, 0x02, struct epoll_params)`.
const EPIOCSPARAMS: u32 = 0x4008_8a01;
const EPIOCGPARAMS: u32 = 0x8008_8a02;

const NO_BUSY_POLL: iox::Error = iox::Error::with_context(
    iox::ErrorKind::Unsupported,
    "epoll busy polling needs Linux 6.9 (EPIOCSPARAMS)",
);

/// `EPOLLPRI` too: urgent data ends a read early with bytes behind it ([`Ready::URGENT`]).
const READ_INTEREST: u32 =
    (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
const INTEREST: u32 = READ_INTEREST | libc::EPOLLOUT as u32;

impl Poller {
    pub(crate) fn new(events: usize, waker: &Waker) -> iox::Result<Poller> {
        let epfd = zcall::epoll_create1(libc::EPOLL_CLOEXEC)?;
        let epfd = iofd::Fd::from(super::owned(epfd));
        let p = Poller {
            epfd,
            #[cfg(not(feature = "linux_5_11"))]
            timer: iofd::TimerFd::new(iofd::ClockId::Monotonic)?,
            #[cfg(not(feature = "linux_5_11"))]
            armed: u64::MAX,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; events.max(1)],
        };
        p.add(waker.raw(), WAKER, (libc::EPOLLIN | libc::EPOLLET) as u32)?;
        #[cfg(not(feature = "linux_5_11"))]
        p.add(
            p.timer.as_fd_ref().raw(),
            WAIT_TIMER,
            (libc::EPOLLIN | libc::EPOLLET) as u32,
        )?;
        Ok(p)
    }

    /// Sets busy polling on the epoll instance (`EPIOCSPARAMS`, Linux 6.9+).
    pub(crate) fn set_busy_poll(&self, bp: crate::backend::BusyPoll) -> iox::Result<()> {
        let params = EpollParams {
            busy_poll_usecs: bp.usecs,
            busy_poll_budget: bp.budget,
            prefer_busy_poll: u8::from(bp.prefer),
            pad: 0,
        };
        // SAFETY: EPIOCSPARAMS reads one `struct epoll_params` (8 bytes, the layout of
        // EpollParams) from the pointer, which is valid for the call; a bad descriptor or an
        // unknown request is reported as an errno.
        let r = unsafe { libc::ioctl(self.epfd.raw(), EPIOCSPARAMS as _, &params) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        Err(match e.raw_os_error() {
            Some(libc::ENOTTY) => NO_BUSY_POLL,
            Some(libc::EINVAL) if bp.usecs > i32::MAX as u32 => {
                iox::Error::invalid_input("busy-poll usecs exceeds i32::MAX")
            }
            Some(libc::EPERM) => iox::Error::with_context(
                iox::ErrorKind::PermissionDenied,
                "a busy-poll budget above 64 needs CAP_NET_ADMIN",
            ),
            _ => iox::Error::from(e),
        })
    }

    /// The epoll instance's busy-poll parameters (`EPIOCGPARAMS`, Linux 6.9+).
    pub(crate) fn busy_poll(&self) -> iox::Result<crate::backend::BusyPoll> {
        let mut params = EpollParams::default();
        // SAFETY: EPIOCGPARAMS writes one `struct epoll_params` (8 bytes, the layout of
        // EpollParams) through the pointer, which is valid and exclusive for the call.
        let r = unsafe { libc::ioctl(self.epfd.raw(), EPIOCGPARAMS as _, &mut params) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::ENOTTY) {
                NO_BUSY_POLL
            } else {
                iox::Error::from(e)
            });
        }
        Ok(crate::backend::BusyPoll {
            usecs: params.busy_poll_usecs,
            budget: params.busy_poll_budget,
            prefer: params.prefer_busy_poll != 0,
        })
    }

    fn add(&self, fd: RawFd, token: u64, events: u32) -> iox::Result<()> {
        let ev = libc::epoll_event { events, u64: token };
        zcall::epoll_ctl(self.epfd.raw(), libc::EPOLL_CTL_ADD, fd, Some(&ev)).map_err(Into::into)
    }

    /// Registers `fd` once, edge-triggered, for reading and, if `writes`, for writing.
    ///
    /// Datagram sockets are registered without `EPOLLOUT`: every datagram sent raises a
    /// write-space edge when its buffer is freed, which would cost an empty wait per send.
    /// [`watch_writes`](Poller::watch_writes) adds it while a send waits for room.
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: u64,
        writes: bool,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        stats.ctl += 1;
        self.add(fd, token, if writes { INTEREST } else { READ_INTEREST })
    }

    /// Adds or removes `EPOLLOUT` on a registered `fd`. Adding it reports writability at
    /// once if the socket already has room, so no edge is lost between the failed send and
    /// this call.
    pub(crate) fn watch_writes(
        &mut self,
        fd: RawFd,
        token: u64,
        on: bool,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        stats.ctl += 1;
        let ev = libc::epoll_event {
            events: if on { INTEREST } else { READ_INTEREST },
            u64: token,
        };
        zcall::epoll_ctl(self.epfd.raw(), libc::EPOLL_CTL_MOD, fd, Some(&ev)).map_err(Into::into)
    }

    /// Removes `fd` from the interest list.
    pub(crate) fn deregister(&mut self, fd: RawFd, stats: &mut Stats) -> iox::Result<()> {
        stats.ctl += 1;
        zcall::epoll_ctl(self.epfd.raw(), libc::EPOLL_CTL_DEL, fd, None).map_err(Into::into)
    }

    /// Waits for events; `now` is the Io time the timeout is measured from. Returns how many
    /// events [`event`](Poller::event) can read. EINTR comes back as `Interrupted`.
    pub(crate) fn wait(
        &mut self,
        timeout: Timeout,
        now: u64,
        stats: &mut Stats,
    ) -> iox::Result<usize> {
        stats.waits += 1;
        #[cfg(not(feature = "linux_5_11"))]
        {
            let ms = match timeout {
                Timeout::Now => 0,
                Timeout::Forever => -1,
                Timeout::At(deadline) => {
                    if deadline <= now {
                        0
                    } else {
                        // An armed deadline at or before this one is kept: waking early
                        // costs one spurious turn, re-arming costs a syscall every time.
                        if deadline < self.armed {
                            let left = deadline - now;
                            let spec = libc::itimerspec {
                                it_interval: libc::timespec {
                                    tv_sec: 0,
                                    tv_nsec: 0,
                                },
                                it_value: libc::timespec {
                                    tv_sec: (left / 1_000_000_000) as libc::time_t,
                                    tv_nsec: (left % 1_000_000_000) as _,
                                },
                            };
                            stats.timer_arms += 1;
                            zcall::timerfd_settime(self.timer.as_fd_ref().raw(), 0, &spec)?;
                            self.armed = deadline;
                        }
                        -1
                    }
                }
            };
            Ok(zcall::epoll_wait(self.epfd.raw(), &mut self.events, ms)?)
        }
        #[cfg(feature = "linux_5_11")]
        {
            let spec;
            let ts = match timeout {
                Timeout::Now => {
                    spec = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    Some(&spec)
                }
                Timeout::Forever => None,
                Timeout::At(deadline) => {
                    let left = deadline.saturating_sub(now);
                    spec = libc::timespec {
                        tv_sec: (left / 1_000_000_000) as libc::time_t,
                        tv_nsec: (left % 1_000_000_000) as _,
                    };
                    Some(&spec)
                }
            };
            Ok(zcall::epoll_pwait2(self.epfd.raw(), &mut self.events, ts)?)
        }
    }

    /// The wait timer's event came: reads its counter (or the next expiry raises no edge;
    /// `WouldBlock` means it was already read) and forgets the armed deadline.
    pub(crate) fn wait_timer_fired(&mut self) {
        #[cfg(not(feature = "linux_5_11"))]
        {
            let _ = self.timer.expirations();
            self.armed = u64::MAX;
        }
    }

    /// The `i`th event of the last wait: its token and readiness (none for the wait timer,
    /// whose expiry [`wait_timer_fired`](Poller::wait_timer_fired) consumes). No syscall:
    /// an event may be read again.
    #[inline]
    pub(crate) fn event(&self, i: usize) -> (u64, Ready) {
        let ev = self.events[i];
        let (token, bits) = (ev.u64, ev.events);
        #[cfg(not(feature = "linux_5_11"))]
        if token == WAIT_TIMER {
            return (token, Ready::EMPTY);
        }
        (token, super::ready_from_poll(bits))
    }
}
