//! The platform seam: one poller per `Io`, chosen here once.
//!
//! Linux uses edge-triggered epoll ([`epoll`]) or io_uring's multishot polls ([`uring`]),
//! chosen per Io ([`Poller`]); macOS and FreeBSD use kqueue with `EV_CLEAR` ([`kqueue`]).
//! Everything above this module is the same on every platform and backend.

#[cfg(any(target_os = "linux", target_os = "android"))]
use std::os::fd::RawFd;

pub(crate) use crate::ready::Ready;

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

/// How a receive in the ring takes its bytes ([`Poller::recv`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecvKind {
    /// A stream's bytes: `recv`; a result of 0 is the end of stream.
    Stream,
    /// One datagram: `recv` with `MSG_TRUNC`, so the result is the datagram's whole
    /// length, longer than the buffer when it was cut.
    Datagram,
    /// One datagram with its source and at most this many bytes of control data:
    /// `recvmsg` with `MSG_TRUNC`, its header, address and control space kept by the
    /// backend per object ([`Poller::recv_msg`]).
    Source(usize),
    /// A batch of datagrams: one multishot `recvmsg` into buffers the backend provides
    /// (the shape given to [`Poller::prepare_batch`]), one completion per datagram, until
    /// the backend ends it ([`Poller::end_recv`]); the datagrams come to the operation
    /// through [`Poller::recv_msg`]. No buffer of the operation's is named.
    Batch,
    /// As the kind it holds, into a buffer the backend provides rather than the
    /// operation's (a region's read: `OpLogic::copy_target`): the bytes come back through
    /// [`Poller::recv_msg`] (`RecvMsg::copied`) to be copied in. No buffer of the
    /// operation's is named; `len` bounds the receive.
    Copied(CopiedKind),
}

/// The receives of [`RecvKind::Copied`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CopiedKind {
    Stream,
    Datagram,
    Source(usize),
}

impl RecvKind {
    /// The same receive into a buffer the backend provides; `None` for a batch.
    pub(crate) fn copied(self) -> Option<RecvKind> {
        Some(RecvKind::Copied(match self {
            RecvKind::Stream => CopiedKind::Stream,
            RecvKind::Datagram => CopiedKind::Datagram,
            RecvKind::Source(c) => CopiedKind::Source(c),
            RecvKind::Batch | RecvKind::Copied(_) => return None,
        }))
    }
}

/// The poller of one `Io` on Linux: epoll or io_uring, chosen when the Io is built. Each
/// call is one predictable branch on the variant.
/// The variants differ in size (the ring's bookkeeping), and that is kept: there is one
/// poller per Io, built once and never moved on a hot path, and a box would put a pointer
/// load in front of every call.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Poller {
    Epoll(epoll::Poller),
    Uring(uring::Poller),
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Poller {
    /// The poller `want` asks for, and what was used (with the reason of a fallback).
    pub(crate) fn new(
        want: crate::backend::Backend,
        events: usize,
        objects: usize,
        waker: &Waker,
    ) -> iox::Result<(Poller, crate::backend::BackendUsed)> {
        use crate::backend::{Backend, BackendUsed};
        let used = |backend, fallback, reads_in_ring| BackendUsed {
            backend,
            fallback,
            reads_in_ring,
        };
        match want {
            Backend::Epoll => Ok((
                Poller::Epoll(epoll::Poller::new(events, waker)?),
                used(Backend::Epoll, None, false),
            )),
            Backend::Uring => {
                let p = uring::Poller::new(events, objects, waker)?;
                let ring = p.completes_reads();
                Ok((Poller::Uring(p), used(Backend::Uring, None, ring)))
            }
            Backend::Auto => match uring::Poller::new(events, objects, waker) {
                Ok(p) => {
                    let ring = p.completes_reads();
                    Ok((Poller::Uring(p), used(Backend::Uring, None, ring)))
                }
                Err(e) => Ok((
                    Poller::Epoll(epoll::Poller::new(events, waker)?),
                    used(Backend::Epoll, Some(e), false),
                )),
            },
            _ => Err(iox::Error::unsupported(
                "kqueue is the macOS and FreeBSD backend",
            )),
        }
    }

    pub(crate) fn set_busy_poll(&self, bp: crate::backend::BusyPoll) -> iox::Result<()> {
        match self {
            Poller::Epoll(p) => p.set_busy_poll(bp),
            Poller::Uring(_) => Err(URING_BUSY_POLL),
        }
    }

    pub(crate) fn busy_poll(&self) -> iox::Result<crate::backend::BusyPoll> {
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
        ring_reads: bool,
        stats: &mut crate::stats::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(p) => p.register(fd, token, writes, stats),
            Poller::Uring(p) => p.register(fd, token, writes, ring_reads, stats),
        }
    }

    /// A read on `token`'s socket (a stream or a datagram socket) waits for readiness.
    /// epoll reports it by itself; io_uring, where reads complete in the ring, polls for it
    /// on demand (see `uring`).
    #[inline]
    pub(crate) fn watch_read(
        &mut self,
        token: u64,
        stats: &mut crate::stats::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(_) => Ok(()),
            Poller::Uring(p) => p.watch_read(token, stats),
        }
    }

    #[inline]
    pub(crate) fn watch_writes(
        &mut self,
        fd: RawFd,
        token: u64,
        on: bool,
        stats: &mut crate::stats::Stats,
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
        stats: &mut crate::stats::Stats,
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
        stats: &mut crate::stats::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(_) => Ok(()),
            Poller::Uring(p) => p.deregister(fd, token, stats),
        }
    }

    /// Every registered descriptor is about to be closed (the Io closes).
    pub(crate) fn forget_all(&mut self, stats: &mut crate::stats::Stats) -> iox::Result<()> {
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
        stats: &mut crate::stats::Stats,
    ) -> iox::Result<usize> {
        match self {
            Poller::Epoll(p) => p.wait(timeout, now, stats),
            Poller::Uring(p) => p.wait(timeout, now, stats),
        }
    }

    /// Whether stream reads complete in the ring ([`recv`](Poller::recv)): io_uring with
    /// synchronous cancellation (Linux 6.0), which a close needs to take a receive back
    /// before its buffer is handed back.
    #[inline]
    pub(crate) fn completes_reads(&self) -> bool {
        match self {
            Poller::Epoll(_) => false,
            Poller::Uring(p) => p.completes_reads(),
        }
    }

    /// Queues a receive of at most `len` bytes from `fd` into `ptr`, as `kind` says; its
    /// result comes back as an event whose token is `token | OP_DONE`
    /// ([`take_result`](Poller::take_result)), and what a `recvmsg` wrote beside it from
    /// [`recv_msg`](Poller::recv_msg).
    ///
    /// The memory must stay valid, and untouched by anyone else, until that completion is
    /// taken: from a wait's events, or from [`cancel_recv`](Poller::cancel_recv).
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        token: u64,
        (ptr, len): (*mut u8, usize),
        kind: RecvKind,
        stats: &mut crate::stats::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(_) => Err(iox::Error::unsupported("epoll completes no reads")),
            Poller::Uring(p) => p.recv(fd, token, (ptr, len), kind, stats),
        }
    }

    /// Readies `token`'s buffers for a batch receive of `shape` in the kernel
    /// ([`RecvKind::Batch`]); `false` where the backend takes batches by readiness (epoll,
    /// kqueue, or a ring that cannot provide buffers for this object).
    #[inline]
    pub(crate) fn prepare_batch(
        &mut self,
        token: u64,
        shape: crate::op::BatchShape,
        stats: &mut crate::stats::Stats,
    ) -> bool {
        match self {
            Poller::Epoll(_) => false,
            Poller::Uring(p) => p.prepare_batch(token, shape, stats),
        }
    }

    /// Whether reads into regions may receive in the kernel into buffers of the backend's,
    /// to be copied in ([`RecvKind::Copied`]).
    #[inline]
    pub(crate) fn prepare_copy(&mut self, stats: &mut crate::stats::Stats) -> bool {
        match self {
            Poller::Epoll(_) => false,
            Poller::Uring(p) => p.prepare_copy(stats),
        }
    }

    /// Ends `token`'s receive in the kernel if it goes on after a completion (a batch
    /// receive, one completion per datagram), so that its operation may take its result.
    #[inline]
    pub(crate) fn end_recv(&mut self, token: u64, stats: &mut crate::stats::Stats) {
        match self {
            Poller::Epoll(_) => {}
            Poller::Uring(p) => p.end_recv(token, stats),
        }
    }

    /// Frees what the backend keeps for `token`'s batch reads (its object is gone).
    #[inline]
    pub(crate) fn forget_buffers(&mut self, token: u64, stats: &mut crate::stats::Stats) {
        match self {
            Poller::Epoll(_) => {}
            Poller::Uring(p) => p.forget_buffers(token, stats),
        }
    }

    /// What the last `recvmsg` of `token` ([`RecvKind::Source`]) wrote beside its bytes:
    /// the source's address and the control data; empty for any other receive. Read it
    /// when the receive's result is taken, before the object receives again: the first
    /// read closes the descriptors the receive installed (a Unix datagram's `SCM_RIGHTS`).
    #[inline]
    pub(crate) fn recv_msg(&mut self, token: u64) -> crate::op::RecvMsg<'_> {
        match self {
            Poller::Epoll(_) => crate::op::RecvMsg::default(),
            Poller::Uring(p) => p.recv_msg(token),
        }
    }

    /// Takes `token`'s receive back from the kernel, waiting until the kernel no longer
    /// touches its buffer: the bytes it received (`Some(n)`, `n >= 0`) or its error
    /// (`Some(-errno)`) if it completed first, `None` if it was cancelled.
    pub(crate) fn cancel_recv(
        &mut self,
        token: u64,
        stats: &mut crate::stats::Stats,
    ) -> Option<i32> {
        match self {
            Poller::Epoll(_) => None,
            Poller::Uring(p) => p.cancel_recv(token, stats),
        }
    }

    /// Queues a send of `len` bytes from `ptr` on `token`'s stream socket `fd`, made when the
    /// kernel has room (`MSG_NOSIGNAL`; the socket's buffer was full a moment ago, so it
    /// waits for room first): its result (bytes sent, or `-errno`) comes back as an event
    /// whose token is `token | OP_DONE | OP_SENT` ([`take_result`](Poller::take_result)).
    ///
    /// The memory must stay valid, and unchanged, until that completion is taken: from a
    /// wait's events, or from [`cancel_send`](Poller::cancel_send).
    pub(crate) fn send(
        &mut self,
        fd: RawFd,
        token: u64,
        (ptr, len): (*const u8, usize),
        stats: &mut crate::stats::Stats,
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(_) => Err(iox::Error::unsupported("epoll completes no sends")),
            Poller::Uring(p) => p.send(fd, token, (ptr, len), stats),
        }
    }

    /// Queues a connect of `token`'s unconnected stream socket `fd` to the address at
    /// `addr` (`len` bytes): its result (`0` or `-errno`) comes back as a send's
    /// ([`send`](Poller::send)), and [`cancel_send`](Poller::cancel_send) takes it back.
    ///
    /// The address must stay valid until the next wait has submitted it (the kernel copies
    /// it then); the dial keeps it until the completion is taken.
    pub(crate) fn connect(
        &mut self,
        fd: RawFd,
        token: u64,
        addr: (*const u8, u32),
    ) -> iox::Result<()> {
        match self {
            Poller::Epoll(_) => Err(iox::Error::unsupported("epoll completes no connects")),
            Poller::Uring(p) => {
                p.connect(fd, token, addr);
                Ok(())
            }
        }
    }

    /// Takes `token`'s send back from the kernel, waiting until the kernel no longer reads
    /// its buffer: the bytes it sent (`Some(n)`) or its error (`Some(-errno)`) if it
    /// completed first, `None` if it was cancelled having sent nothing.
    pub(crate) fn cancel_send(
        &mut self,
        token: u64,
        stats: &mut crate::stats::Stats,
    ) -> Option<i32> {
        match self {
            Poller::Epoll(_) => None,
            Poller::Uring(p) => p.cancel_send(token, stats),
        }
    }

    /// Takes the result of the `i`th event, a completion (`token & OP_DONE`): the event is
    /// consumed (a later cancel of the same receive does not find it again).
    #[inline]
    pub(crate) fn take_result(&mut self, i: usize) -> i32 {
        match self {
            Poller::Epoll(_) => 0,
            Poller::Uring(p) => p.take_result(i),
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

/// The readiness in a `POLL*`/`EPOLL*` mask (one set of values on Linux): one load from a
/// table of the 64 combinations of the six bits that matter, built at compile time by
/// [`poll_bits_ready`] (`benches/instructions.rs`: the bit-by-bit mapping cost about 25
/// instructions per event, and each event is mapped twice, when recorded and when
/// dispatched).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
pub(crate) fn ready_from_poll(bits: u32) -> Ready {
    POLL_READY[poll_index(bits)]
}

/// `EPOLLIN`, `EPOLLPRI`, `EPOLLOUT`, `EPOLLERR` and `EPOLLHUP` are the low five bits;
/// `EPOLLRDHUP` (`0x2000`) moves down to the sixth.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
const fn poll_index(bits: u32) -> usize {
    const LOW: u32 =
        (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32;
    const _: () = assert!(LOW == 0x1f && libc::EPOLLRDHUP == 0x2000);
    ((bits & LOW) | ((bits & libc::EPOLLRDHUP as u32) >> 8)) as usize
}

#[cfg(any(target_os = "linux", target_os = "android"))]
static POLL_READY: [Ready; 64] = {
    let mut t = [Ready::EMPTY; 64];
    let mut i = 0;
    while i < 64 {
        let bits = (i as u32 & 0x1f) | ((i as u32 & 0x20) << 8);
        t[i] = poll_bits_ready(bits);
        i += 1;
    }
    t
};

/// The mapping itself, one bit at a time.
#[cfg(any(target_os = "linux", target_os = "android"))]
const fn poll_bits_ready(bits: u32) -> Ready {
    let mut r = Ready::EMPTY;
    if bits & libc::EPOLLIN as u32 != 0 {
        r = r.union(Ready::READABLE);
    }
    if bits & libc::EPOLLOUT as u32 != 0 {
        r = r.union(Ready::WRITABLE);
    }
    if bits & libc::EPOLLPRI as u32 != 0 {
        r = r.union(Ready::URGENT).union(Ready::READABLE);
    }
    if bits & libc::EPOLLRDHUP as u32 != 0 {
        r = r.union(Ready::READ_CLOSED).union(Ready::READABLE);
    }
    if bits & libc::EPOLLHUP as u32 != 0 {
        r = r
            .union(Ready::HUP)
            .union(Ready::READABLE)
            .union(Ready::WRITABLE);
    }
    if bits & libc::EPOLLERR as u32 != 0 {
        r = r
            .union(Ready::ERROR)
            .union(Ready::READABLE)
            .union(Ready::WRITABLE);
    }
    r
}

/// The token of the posters' waker.
pub(crate) const WAKER: u64 = u64::MAX;
/// Set in an event's token when the event is an operation's completion (a receive the ring
/// made), not readiness: the result is [`Poller::result`]. Below the waker's and skipped
/// tokens' values, it marks a slab index, which stays below 2^30 on io_uring.
pub(crate) const OP_DONE: u64 = 1 << 30;
/// Set beside [`OP_DONE`] when the kernel said the socket still held data after the
/// receive (`IORING_CQE_F_SOCK_NONEMPTY`: TCP and Unix streams say it, UDP never does): the
/// next read may try its syscall at once. Its bit is io_uring's read-poll marker, which never
/// reaches an event.
pub(crate) const OP_MORE: u64 = 1 << 29;
/// Set beside [`OP_DONE`] when the completion is a stream write's send
/// ([`Poller::send`]), not a receive. Its bit is above every slab index and is io_uring's
/// poll-update marker, which never reaches an event either.
pub(crate) const OP_SENT: u64 = 1 << 31;
/// The token of an event to ignore: a completion already taken by a cancel.
pub(crate) const SKIP: u64 = u64::MAX - 2;
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

/// Takes ownership of a descriptor the kernel just returned (epoll's; kqueue's comes from
/// rustix already owned).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn owned(fd: RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` was just returned by a successful syscall that created it, and nothing
    // else owns it.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

impl crate::post::Wake for Waker {
    fn wake(&self) -> iox::Result<()> {
        Waker::wake(self)
    }

    fn drain(&self) {
        Waker::drain(self)
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// The table gives what the bit-by-bit mapping gives for every combination of the six
    /// bits it reads, whatever else the mask holds (`EPOLLRDNORM`, `EPOLLWRNORM`, `EPOLLET`,
    /// `EPOLLMSG` and the rest are not readiness here).
    #[test]
    fn the_poll_table_is_the_mapping() {
        let six = [
            libc::EPOLLIN,
            libc::EPOLLPRI,
            libc::EPOLLOUT,
            libc::EPOLLERR,
            libc::EPOLLHUP,
            libc::EPOLLRDHUP,
        ];
        let noise = [
            0,
            libc::EPOLLRDNORM | libc::EPOLLWRNORM,
            libc::EPOLLRDBAND | libc::EPOLLWRBAND | libc::EPOLLMSG,
            libc::EPOLLET | libc::EPOLLONESHOT | libc::EPOLLEXCLUSIVE,
            !0x201f,
        ];
        for subset in 0..64u32 {
            let bits = six
                .iter()
                .enumerate()
                .filter(|(k, _)| subset & (1 << k) != 0)
                .fold(0u32, |m, (_, b)| m | *b as u32);
            for n in noise {
                let m = bits | (n as u32 & !0x201f);
                assert_eq!(ready_from_poll(m), poll_bits_ready(bits), "mask {m:#x}");
            }
        }
        assert_eq!(
            ready_from_poll(libc::EPOLLRDHUP as u32),
            Ready::READ_CLOSED | Ready::READABLE
        );
        assert_eq!(ready_from_poll(0), Ready::EMPTY);
    }
}
