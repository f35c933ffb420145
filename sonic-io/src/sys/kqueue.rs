//! macOS and FreeBSD: kqueue with `EV_CLEAR` (edge semantics), and a pipe as the posters'
//! waker (it lives as long as the last poster; the kqueue lives with the Io).

use std::os::fd::RawFd;

use iox::Error;

use super::{Ready, RecvKind, Timeout, WAKER};
use crate::stats::Stats;

/// The readiness poller of one `Io`.
#[derive(Debug)]
pub(crate) struct Poller {
    kq: iofd::Fd,
    events: Vec<libc::kevent>,
}

/// The waker posts use: a non-blocking pipe whose read end the poller watches.
#[derive(Debug)]
pub(crate) struct Waker {
    rx: iofd::Fd,
    tx: iofd::Fd,
}

impl Waker {
    pub(crate) fn new() -> iox::Result<Waker> {
        let [rx, tx] = iofd::Fd::pipe()?;
        Ok(Waker { rx, tx })
    }

    /// Makes the poller's next (or current) wait return.
    pub(crate) fn wake(&self) -> iox::Result<()> {
        match self.tx.write(&[1]) {
            // The pipe is full: a wake is pending anyway.
            Err(e) if e.is_would_block() => Ok(()),
            r => r.map(drop),
        }
    }

    /// Clears pending wakes.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(self.rx.read(&mut buf), Ok(n) if n > 0) {}
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.rx.raw()
    }
}

fn change(fd: RawFd, filter: i16, flags: u16, token: u64) -> libc::kevent {
    // SAFETY: kevent is plain data; all-zero is a valid value (a null udata pointer).
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = fd as libc::uintptr_t;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.udata = token as usize as *mut libc::c_void;
    ev
}

fn last_error() -> Error {
    Error::from(std::io::Error::last_os_error())
}

const NO_BUSY_POLL: iox::Error = iox::Error::with_context(
    iox::ErrorKind::Unsupported,
    "busy polling is a Linux epoll feature (EPIOCSPARAMS)",
);

impl Poller {
    /// Busy polling is Linux's.
    pub(crate) fn set_busy_poll(&self, _: crate::backend::BusyPoll) -> iox::Result<()> {
        Err(NO_BUSY_POLL)
    }

    /// Busy polling is Linux's.
    pub(crate) fn busy_poll(&self) -> iox::Result<crate::backend::BusyPoll> {
        Err(NO_BUSY_POLL)
    }

    /// The kqueue poller; `Auto` falls back to it (io_uring is Linux's), `Epoll` and `Uring`
    /// are refused.
    pub(crate) fn new(
        want: crate::backend::Backend,
        events: usize,
        _objects: usize,
        waker: &Waker,
    ) -> iox::Result<(Poller, crate::backend::BackendUsed)> {
        use crate::backend::Backend;
        let fallback = match want {
            Backend::Kqueue => None,
            Backend::Auto => Some(iox::Error::unsupported("io_uring exists on Linux only")),
            Backend::Uring => return Err(iox::Error::unsupported("io_uring exists on Linux only")),
            _ => return Err(iox::Error::unsupported("epoll exists on Linux only")),
        };
        let used = crate::backend::BackendUsed {
            backend: Backend::Kqueue,
            fallback,
            reads_in_ring: false,
        };
        Ok((Poller::open(events, waker)?, used))
    }

    fn open(events: usize, waker: &Waker) -> iox::Result<Poller> {
        let kq = rustix::event::kqueue::kqueue()
            .map_err(|e| iox::Error::from(std::io::Error::from(e)))?;
        let kq = iofd::Fd::from(kq);
        kq.set_cloexec(true)?;
        let mut p = Poller {
            kq,
            events: Vec::with_capacity(events.max(1)),
        };
        // SAFETY: kevent is plain data; all-zero is a valid value.
        p.events
            .resize(events.max(1), unsafe { std::mem::zeroed() });
        let ch = [change(
            waker.raw(),
            libc::EVFILT_READ,
            libc::EV_ADD | libc::EV_CLEAR,
            WAKER,
        )];
        p.apply(&ch)?;
        Ok(p)
    }

    /// Applies changes, each with `EV_RECEIPT`, and returns the first change's error.
    fn apply(&self, changes: &[libc::kevent]) -> iox::Result<()> {
        let mut with_receipt = [change(0, 0, 0, 0); 2];
        let n = changes.len().min(2);
        for (dst, src) in with_receipt.iter_mut().zip(changes) {
            *dst = *src;
            dst.flags |= libc::EV_RECEIPT;
        }
        let mut out = [change(0, 0, 0, 0); 2];
        // SAFETY: both arrays hold `n` valid kevents; the kernel reads the changes and writes
        // at most `n` receipts; a null timeout is allowed.
        let r = unsafe {
            libc::kevent(
                self.kq.raw(),
                with_receipt.as_ptr(),
                n as _,
                out.as_mut_ptr(),
                n as _,
                std::ptr::null(),
            )
        };
        if r < 0 {
            return Err(last_error());
        }
        for ev in &out[..r as usize] {
            if ev.flags & libc::EV_ERROR != 0 && ev.data != 0 {
                return Err(Error::from(zcall::Errno::from_raw(ev.data as i32)));
            }
        }
        Ok(())
    }

    /// Registers `fd` once, with `EV_CLEAR`, for both directions (`writes` is for epoll:
    /// kqueue's write filter is always on).
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: u64,
        _writes: bool,
        _ring_reads: bool,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        stats.ctl += 1;
        let flags = libc::EV_ADD | libc::EV_CLEAR;
        self.apply(&[
            change(fd, libc::EVFILT_READ, flags, token),
            change(fd, libc::EVFILT_WRITE, flags, token),
        ])
    }

    /// Nothing to do: both filters stay registered for the descriptor's life.
    pub(crate) fn watch_writes(
        &mut self,
        _fd: RawFd,
        _token: u64,
        _on: bool,
        _stats: &mut Stats,
    ) -> iox::Result<()> {
        Ok(())
    }

    /// Nothing to do: the read filter reports readiness for the descriptor's life.
    #[inline]
    pub(crate) fn watch_read(&mut self, _token: u64, _stats: &mut Stats) -> iox::Result<()> {
        Ok(())
    }

    /// `fd` is about to be closed: kqueue forgets a closed descriptor by itself.
    #[inline]
    pub(crate) fn forget(
        &mut self,
        _fd: RawFd,
        _token: u64,
        _stats: &mut Stats,
    ) -> iox::Result<()> {
        Ok(())
    }

    /// Every registered descriptor is about to be closed: nothing to do.
    pub(crate) fn forget_all(&mut self, _stats: &mut Stats) -> iox::Result<()> {
        Ok(())
    }

    /// Removes `fd`'s filters.
    pub(crate) fn deregister(
        &mut self,
        fd: RawFd,
        _token: u64,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        stats.ctl += 1;
        let r = self.apply(&[
            change(fd, libc::EVFILT_READ, libc::EV_DELETE, 0),
            change(fd, libc::EVFILT_WRITE, libc::EV_DELETE, 0),
        ]);
        match r {
            Err(e) if e.errno() == Some(zcall::Errno::ENOENT) => Ok(()),
            r => r,
        }
    }

    /// Waits for events; the timeout is a timespec, so no timer object is needed.
    pub(crate) fn wait(
        &mut self,
        timeout: Timeout,
        now: u64,
        stats: &mut Stats,
    ) -> iox::Result<usize> {
        stats.waits += 1;
        let spec;
        let ts = match timeout {
            Timeout::Forever => std::ptr::null(),
            Timeout::Now => {
                spec = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                &spec as *const libc::timespec
            }
            Timeout::At(deadline) => {
                let left = deadline.saturating_sub(now);
                spec = libc::timespec {
                    tv_sec: (left / 1_000_000_000) as libc::time_t,
                    tv_nsec: (left % 1_000_000_000) as _,
                };
                &spec as *const libc::timespec
            }
        };
        // SAFETY: `events` holds `len` writable kevents; no changes are passed; `ts` is null
        // or points to `spec`, alive for the call.
        let r = unsafe {
            libc::kevent(
                self.kq.raw(),
                std::ptr::null(),
                0,
                self.events.as_mut_ptr(),
                self.events.len() as _,
                ts,
            )
        };
        if r < 0 {
            Err(last_error())
        } else {
            Ok(r as usize)
        }
    }

    /// kevent takes its bound itself: there is no wait timer, and its token never comes.
    /// kqueue completes no reads: every read waits for readiness.
    #[inline]
    pub(crate) fn completes_reads(&self) -> bool {
        false
    }

    pub(crate) fn recv(
        &mut self,
        _fd: RawFd,
        _token: u64,
        _target: (*mut u8, usize),
        _kind: RecvKind,
        _stats: &mut Stats,
    ) -> iox::Result<()> {
        Err(iox::Error::unsupported("kqueue completes no reads"))
    }

    #[inline]
    pub(crate) fn prepare_batch(
        &mut self,
        _token: u64,
        _shape: crate::op::BatchShape,
        _stats: &mut Stats,
    ) -> bool {
        false
    }

    #[inline]
    pub(crate) fn prepare_copy(&mut self, _stats: &mut Stats) -> bool {
        false
    }

    #[inline]
    pub(crate) fn forget_buffers(&mut self, _token: u64, _stats: &mut Stats) {}

    #[inline]
    pub(crate) fn end_recv(&mut self, _token: u64, _stats: &mut Stats) {}

    #[inline]
    pub(crate) fn recv_msg(&mut self, _token: u64) -> crate::op::RecvMsg<'_> {
        crate::op::RecvMsg::default()
    }

    pub(crate) fn cancel_recv(&mut self, _token: u64, _stats: &mut Stats) -> Option<i32> {
        None
    }

    pub(crate) fn send(
        &mut self,
        _fd: RawFd,
        _token: u64,
        _source: (*const u8, usize),
        _stats: &mut Stats,
    ) -> iox::Result<()> {
        Err(iox::Error::unsupported("kqueue completes no sends"))
    }

    pub(crate) fn cancel_send(&mut self, _token: u64, _stats: &mut Stats) -> Option<i32> {
        None
    }

    pub(crate) fn connect(
        &mut self,
        _fd: RawFd,
        _token: u64,
        _addr: (*const u8, u32),
    ) -> iox::Result<()> {
        Err(iox::Error::unsupported("kqueue completes no connects"))
    }

    #[inline]
    pub(crate) fn take_result(&mut self, _i: usize) -> i32 {
        0
    }

    pub(crate) fn wait_timer_fired(&mut self) {}

    /// The `i`th event of the last wait: its token and readiness.
    #[inline]
    pub(crate) fn event(&self, i: usize) -> (u64, Ready) {
        let ev = self.events[i];
        let token = ev.udata as usize as u64;
        let mut r = Ready::EMPTY;
        let eof = ev.flags & libc::EV_EOF != 0;
        if ev.filter == libc::EVFILT_READ as _ {
            r |= Ready::READABLE;
            if eof {
                r |= Ready::READ_CLOSED;
                if ev.fflags != 0 {
                    r |= Ready::ERROR | Ready::WRITABLE;
                }
            }
        } else if ev.filter == libc::EVFILT_WRITE as _ {
            r |= Ready::WRITABLE;
            if eof {
                r |= Ready::HUP | Ready::READABLE;
            }
        }
        if ev.flags & libc::EV_ERROR != 0 {
            r |= Ready::ERROR | Ready::READABLE | Ready::WRITABLE;
        }
        (token, r)
    }
}
