//! Linux: io_uring as the readiness source of an `Io` (the `Uring` backend).
//!
//! One ring per Io, set up with `SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them
//! (one thread per Io is the model already), else `COOP_TASKRUN`, else plain. Each
//! registered descriptor carries one multishot `POLL_ADD` (edge-triggered, the io_uring
//! default, with the same event mask epoll gets): its completions are the readiness events
//! the core consumes, so the operation logic is the same code on both backends. Interest
//! changes are queued entries submitted by the next wait, which is one `io_uring_enter`
//! (submit and wait, its bound an `EXT_ARG` timeout: no timerfd). The posters' eventfd is
//! polled the same way.
//!
//! The ring's memory layout and the kernel ABI are written out here from the uapi header
//! (`include/uapi/linux/io_uring.h`) and driven through zcall's raw `io_uring_setup` and
//! `io_uring_enter`: DESIGN.md §13 says why not the `io-uring` crate.
//!
//! Closing a descriptor does not end a poll on it (the poll holds a file reference, so the
//! socket would stay open): a removed object's poll is cancelled and the cancel submitted
//! at once ([`Poller::release`]), before the descriptor is closed.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{CopiedKind, OP_DONE, OP_MORE, OP_SENT, Ready, RecvKind, SKIP, Timeout, WAKER};
use crate::op::BatchShape;
use crate::stats::Stats;

// ---------------------------------------------------------------------------------------
// The ABI (include/uapi/linux/io_uring.h)

#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params`.
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// `struct io_uring_sqe`, with the unions named for the fields used here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    /// `addr`: for `POLL_REMOVE`, the `user_data` of the poll it removes or updates.
    addr: u64,
    /// `len`: for polls, the `IORING_POLL_*` flags.
    len: u32,
    /// `poll32_events`, `msg_flags`, `rw_flags`, ...
    op_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    file_index: i32,
    addr3: u64,
    pad: u64,
}

/// `struct io_uring_cqe` (without `CQE32`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

/// `struct io_uring_getevents_arg`.
#[repr(C)]
struct GetEventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_SQES: i64 = 0x1000_0000;

const SETUP_CQSIZE: u32 = 1 << 3;
const SETUP_CLAMP: u32 = 1 << 4;
const SETUP_SUBMIT_ALL: u32 = 1 << 7;
const SETUP_COOP_TASKRUN: u32 = 1 << 8;
const SETUP_SINGLE_ISSUER: u32 = 1 << 12;
const SETUP_DEFER_TASKRUN: u32 = 1 << 13;

const FEAT_SINGLE_MMAP: u32 = 1 << 0;
const FEAT_NODROP: u32 = 1 << 1;
const FEAT_EXT_ARG: u32 = 1 << 8;
/// Not used itself: it came with Linux 5.13, the release that added multishot polls
/// (`IORING_POLL_ADD_MULTI`), which have no feature bit of their own.
const FEAT_RSRC_TAGS: u32 = 1 << 10;

const OP_NOP: u8 = 0;
const OP_POLL_ADD: u8 = 6;
const OP_POLL_REMOVE: u8 = 7;
const OP_ASYNC_CANCEL: u8 = 14;
const OP_RECVMSG: u8 = 10;
#[cfg(test)]
const OP_OPENAT: u8 = 18;
const OP_RECV: u8 = 27;
const OP_SEND: u8 = 26;
const OP_CONNECT: u8 = 16;
/// `IORING_RECVSEND_POLL_FIRST` (Linux 5.19), in a send's `ioprio`: wait for room before the
/// first try (the send is made after a try found the buffer full).
const RECVSEND_POLL_FIRST: u16 = 1;

const POLL_ADD_MULTI: u32 = 1;
const POLL_UPDATE_EVENTS: u32 = 2;

const CQE_F_MORE: u32 = 1 << 1;
/// How long [`Poller::cancel_recv`] waits for the kernel to give a cancelled receive back
/// before it aborts the process (it returns in one round on every kernel tried).
const CANCEL_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long one synchronous cancel waits for a request that a kernel worker is running
/// (relative). Never without a bound: when the worker stops, a `DEFER_TASKRUN` ring queues
/// the completion as deferred work, and deferred work wakes the submitter only inside a
/// completion wait, not this one: a cancel without a bound slept forever (test
/// `taking_back_a_request_a_worker_runs_returns`). The callers loop: they run the deferred
/// work, read the completion, and ask again only if it is not there.
const SYNC_CANCEL_WAIT: KernelTimespec = KernelTimespec {
    tv_sec: 0,
    tv_nsec: 1_000_000,
};

/// `IORING_CQE_F_SOCK_NONEMPTY` (5.19): the socket held more data after this receive.
const CQE_F_SOCK_NONEMPTY: u32 = 1 << 2;

const ENTER_GETEVENTS: u32 = 1;
const ENTER_EXT_ARG: u32 = 1 << 3;
const ENTER_REGISTERED_RING: u32 = 1 << 4;

const REGISTER_RING_FDS: u32 = 20;
const UNREGISTER_RING_FDS: u32 = 21;
const REGISTER_SYNC_CANCEL: u32 = 24;

/// `struct io_uring_sync_cancel_reg` (Linux 6.0): cancel the requests whose `user_data` is
/// `addr`, and return once they completed.
#[repr(C)]
struct SyncCancelReg {
    addr: u64,
    fd: i32,
    flags: u32,
    timeout: KernelTimespec,
    opcode: u8,
    pad: [u8; 7],
    pad2: [u64; 3],
}

/// `struct io_uring_rsrc_update`: a registered ring's slot (`offset`, `u32::MAX`: any free
/// one, which the kernel writes back) and the ring's descriptor.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `IOSQE_BUFFER_SELECT`: the kernel picks the entry's buffer from a provided-buffer group.
const SQE_BUFFER_SELECT: u8 = 1 << 5;
/// `IORING_RECV_MULTISHOT`, in a receive's `ioprio`: one completion per arrival until ended.
const RECV_MULTISHOT: u16 = 1 << 1;
/// `IORING_CQE_F_BUFFER`: the completion used the provided buffer whose id is in the upper
/// 16 bits of its flags.
const CQE_F_BUFFER: u32 = 1 << 0;
const CQE_BUFFER_SHIFT: u32 = 16;
const REGISTER_PBUF_RING: u32 = 22;
const UNREGISTER_PBUF_RING: u32 = 23;

/// `struct io_uring_buf_reg` (Linux 5.19): a ring of provided buffers at `ring_addr`
/// (page-aligned, `ring_entries` entries, a power of two), for buffer group `bgid`.
#[repr(C)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

/// `struct io_uring_buf`: one entry of a provided-buffer ring. The ring's tail, which this
/// side writes, is the `resv` of its first entry.
#[repr(C)]
struct RingBuf {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// `struct io_uring_recvmsg_out`, which a multishot `recvmsg` writes at the start of each
/// buffer (the address's length, the control bytes written, the datagram's whole length
/// with `MSG_TRUNC`, the `msg_flags`), then the address room, the control room, the bytes.
const RECVMSG_OUT: usize = 16;
/// The address room in each batch buffer.
const NAME_ROOM: usize = size_of::<libc::sockaddr_storage>();
/// The buffer group of the copy pool ([`Pool`]); batch rings take theirs from
/// [`BGID_BASE`] up.
const POOL_BGID: u16 = 0;
/// The copy pool's buffers: how many, and how large (a stream receive into a region takes
/// at most this much at a time; a datagram read into a larger region waits for readiness).
const POOL_BUFS: usize = 64;
const POOL_BUF_LEN: usize = crate::op::COPY_LIMIT;

/// The first buffer group a batch ring takes ([`Poller::prepare_batch`]).
const BGID_BASE: usize = 64;
/// The most entries a provided-buffer ring may have: a batch read receives at most this
/// many datagrams in the ring.
const BATCH_MAX: usize = 1 << 15;

/// A full submission queue the kernel took none of (`Ring::push`).
const SQ_FULL: iox::Error = iox::Error::with_context(
    iox::ErrorKind::NoBufferSpace,
    "the io_uring submission queue is full and the kernel took none of it",
);

/// The `user_data` of entries whose completion says nothing the core needs (cancels of
/// polls). Never an object's token: no slab index reaches `u32::MAX - 2`.
const QUIET: u64 = SKIP;

/// Set in the `user_data` of a poll update (on the token's slab index, which stays below
/// 2^31; the waker's token, `u64::MAX`, is never updated): its completion says whether the update took, and an update that met the poll
/// while it was posting an event (`EALREADY`) is sent again.
const UPDATE: u64 = 1 << 31;

/// Set in the `user_data` of a stream's one-shot read poll ([`Poller::watch_read`]), on
/// the token's slab index (below 2^29).
const READ_POLL: u64 = 1 << 29;

/// The `user_data` of a batch receive's cancel ([`Poller::end_recv`]), on the token's
/// slab index: its completion says whether the cancel met the receive.
const BATCH_CANCEL: u64 = UPDATE | OP_DONE;

/// The `user_data` of a stream write's send ([`Poller::send`]), on the token's slab index.
const SEND: u64 = UPDATE | READ_POLL;

/// The tag bits of a `user_data` (above the slab index).
const TAGS: u64 = UPDATE | OP_DONE | READ_POLL;

/// The same event bits epoll gets (the `POLL*` and `EPOLL*` values are one set on Linux).
const READ_MASK: u32 = (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) as u32;

/// A stream's one-shot read poll ([`Poller::watch_read`]).
const READ_POLL_MASK: u32 = (libc::POLLIN | libc::POLLRDHUP) as u32;

/// The multishot poll's mask. A socket whose reads complete in the ring leaves `POLLIN` and
/// `POLLPRI` out: the key of every arrival's wake-up is `POLLIN | POLLPRI | POLLRDNORM |
/// POLLRDBAND`, and a poll whose mask meets it posts an event (with `POLLOUT`, a writable
/// socket always has) beside the receive's completion, from its own task work: the wait
/// then wakes twice per message. Such a stream is polled for reading only while a read
/// waits for readiness, once ([`Poller::watch_read`]). The end, a hang-up and errors
/// (`POLLRDHUP`; `POLLERR` and `POLLHUP` are always reported) stay in the multishot poll.
fn poll_mask(reads_on_demand: bool, writes: bool) -> u32 {
    let read = if reads_on_demand {
        libc::POLLRDHUP as u32
    } else {
        READ_MASK
    };
    if writes {
        read | libc::POLLOUT as u32
    } else {
        read
    }
}

/// Submission entries; the completion queue gets [`CQ_ENTRIES`] (many multishot polls can
/// each post an event in one turn; the kernel keeps any overflow, `FEAT_NODROP`).
const SQ_ENTRIES: u32 = 256;
const CQ_ENTRIES: u32 = 4096;

// ---------------------------------------------------------------------------------------
// The ring

/// A shared mapping, unmapped on drop.
#[derive(Debug)]
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: RawFd, len: usize, offset: i64) -> iox::Result<Map> {
        // SAFETY: a fresh shared mapping of the ring descriptor at an offset the kernel
        // defines for it; no existing memory is touched (the address is the kernel's choice).
        let ptr = unsafe {
            zcall::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset,
            )
        }
        .map_err(|e| iox::Error::from(e).context("mmap of the io_uring rings"))?;
        Ok(Map {
            ptr: ptr.cast(),
            len,
        })
    }

    /// A private anonymous mapping of `len` bytes, zeroed and page-aligned.
    fn anon(len: usize) -> iox::Result<Map> {
        // SAFETY: a fresh private mapping at an address the kernel chooses; no existing
        // memory is touched.
        let ptr = unsafe {
            zcall::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        }
        .map_err(|e| iox::Error::from(e).context("mmap of a provided-buffer ring"))?;
        Ok(Map {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The `u32` the kernel shares at byte `offset`.
    fn atomic(&self, offset: u32) -> Shared32 {
        debug_assert!(offset as usize + 4 <= self.len);
        // SAFETY: the offset comes from the kernel's `io_uring_params` for this mapping and
        // lies inside it (checked above in debug builds).
        let p = unsafe { self.ptr.add(offset as usize) };
        Shared32(p.cast())
    }

    /// The `T` array the kernel places at byte `offset` (`T`-aligned: the mapping is
    /// page-aligned and the kernel aligns its arrays).
    fn array<T>(&self, offset: usize) -> *mut T {
        debug_assert!(offset < self.len);
        // SAFETY: as for `atomic`: a kernel-given offset inside the mapping.
        let p = unsafe { self.ptr.add(offset) };
        #[allow(clippy::cast_ptr_alignment)] // aligned by the kernel, see above
        p.cast::<T>()
    }
}

/// A `u32` of the ring the kernel also reads or writes: a pointer into a live mapping,
/// dereferenced only as an atomic.
#[derive(Debug, Clone, Copy)]
struct Shared32(*const AtomicU32);

impl Shared32 {
    #[inline]
    fn get(&self) -> &AtomicU32 {
        // SAFETY: the pointer is into the ring mapping, which the `Ring` holding this keeps
        // alive, at a 4-aligned offset the kernel gave; the kernel accesses it atomically.
        unsafe { &*self.0 }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly one mapping made in `Map::new`, unmapped once.
        let _ = unsafe { zcall::munmap(self.ptr.cast(), self.len) };
    }
}

/// One io_uring: the descriptor, the two rings and the entry array, driven by one thread.
#[derive(Debug)]
struct Ring {
    fd: iofd::Fd,
    /// The ring as `io_uring_enter` names it: its slot in this thread's registered rings
    /// (Linux 5.18+: the kernel skips the descriptor lookup), else its descriptor.
    enter_fd: RawFd,
    /// `ENTER_REGISTERED_RING` when `enter_fd` is a registered slot.
    enter_flags: u32,
    /// Kept for the mapping's lifetime (the pointers below point into it).
    _rings: Map,
    sqes: Map,
    sq_head: Shared32,
    sq_tail: Shared32,
    sq_mask: u32,
    sq_entries: u32,
    /// Entries written but not yet published to the kernel (`tail` as this side knows it).
    sq_local_tail: u32,
    cq_head: Shared32,
    cq_tail: Shared32,
    cq_mask: u32,
    cqes: *mut Cqe,
    /// The setup flags the kernel accepted (shown by `Debug`).
    #[allow(dead_code)]
    setup_flags: u32,
}

impl Ring {
    fn new() -> iox::Result<Ring> {
        let base = SETUP_CQSIZE | SETUP_CLAMP;
        // Newest first; EINVAL means a flag this kernel does not know.
        let attempts = [
            base | SETUP_SUBMIT_ALL | SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN,
            base | SETUP_SUBMIT_ALL | SETUP_COOP_TASKRUN,
            base,
        ];
        let mut last = iox::Error::unsupported("io_uring_setup");
        for flags in attempts {
            let mut p = Params {
                flags,
                cq_entries: CQ_ENTRIES,
                ..Params::default()
            };
            // SAFETY: `p` is a valid, writable `struct io_uring_params` for the call.
            match unsafe { zcall::io_uring_setup(SQ_ENTRIES, (&raw mut p).cast()) } {
                Ok(fd) => return Ring::map(iofd::Fd::from(super::owned(fd)), &p),
                Err(e) if e == zcall::Errno::EINVAL => last = iox::Error::from(e),
                Err(e) => return Err(setup_error(e)),
            }
        }
        Err(last.context("io_uring_setup refused every flag set"))
    }

    fn map(fd: iofd::Fd, p: &Params) -> iox::Result<Ring> {
        let needed = FEAT_SINGLE_MMAP | FEAT_NODROP | FEAT_EXT_ARG | FEAT_RSRC_TAGS;
        if p.features & needed != needed {
            return Err(iox::Error::unsupported(
                "io_uring lacks a feature the backend needs (Linux 5.13: single mmap, \
                 no-drop completions, EXT_ARG waits, multishot polls)",
            ));
        }
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Cqe>();
        let raw = fd.raw();
        let rings = Map::new(raw, sq_len.max(cq_len), IORING_OFF_SQ_RING)?;
        let sqes = Map::new(
            raw,
            p.sq_entries as usize * size_of::<Sqe>(),
            IORING_OFF_SQES,
        )?;
        // The index array: `sq_entries` u32s the kernel reads only for entries published by
        // a tail store (Release) later. Each slot names the entry of the same index, once
        // for all.
        for i in 0..p.sq_entries {
            rings
                .atomic(p.sq_off.array + 4 * i)
                .get()
                .store(i, Ordering::Relaxed);
        }
        let cqes = rings.array::<Cqe>(p.cq_off.cqes as usize);
        let sq_mask = rings
            .atomic(p.sq_off.ring_mask)
            .get()
            .load(Ordering::Relaxed);
        let cq_mask = rings
            .atomic(p.cq_off.ring_mask)
            .get()
            .load(Ordering::Relaxed);
        let sq_tail = rings.atomic(p.sq_off.tail);
        let sq_local_tail = sq_tail.get().load(Ordering::Relaxed);
        let (enter_fd, enter_flags) = match register_ring(raw) {
            Some(slot) => (slot as RawFd, ENTER_REGISTERED_RING),
            None => (raw, 0),
        };
        Ok(Ring {
            enter_fd,
            enter_flags,
            sq_head: rings.atomic(p.sq_off.head),
            sq_tail,
            sq_mask,
            sq_entries: p.sq_entries,
            sq_local_tail,
            cq_head: rings.atomic(p.cq_off.head),
            cq_tail: rings.atomic(p.cq_off.tail),
            cq_mask,
            cqes,
            setup_flags: p.flags,
            fd,
            _rings: rings,
            sqes,
        })
    }

    /// Entries written and not yet submitted.
    fn pending(&self) -> u32 {
        let head = self.sq_head.get().load(Ordering::Acquire);
        self.sq_local_tail.wrapping_sub(head)
    }

    /// Enters the kernel to run the ring's deferred work only (`GETEVENTS`, nothing
    /// submitted): completions a cancel produced are posted. Unlike [`enter`](Ring::enter),
    /// it works while the kernel refuses a full submission queue.
    fn run_work(&self) -> iox::Result<()> {
        // SAFETY: nothing is submitted (count 0) and no argument is passed.
        let r = unsafe {
            zcall::io_uring_enter(
                self.enter_fd,
                0,
                0,
                ENTER_GETEVENTS | self.enter_flags,
                std::ptr::null(),
                0,
            )
        };
        r.map(|_| ()).map_err(iox::Error::from)
    }

    /// Takes back the entry whose `user_data` is `user_data` if it is still queued on this
    /// side (not consumed by the kernel: a submission it refused): it becomes a no-op whose
    /// completion is ignored. `true` if it was there.
    fn withdraw(&mut self, user_data: u64) -> bool {
        let head = self.sq_head.get().load(Ordering::Acquire);
        let mut pos = head;
        while pos != self.sq_local_tail {
            let idx = (pos & self.sq_mask) as usize;
            // SAFETY: `idx` is masked into the entry array; entries from the kernel's head
            // to this side's tail are not the kernel's (single issuer: it consumes them only
            // inside this thread's enters).
            let slot = unsafe { self.sqes.array::<Sqe>(0).add(idx) };
            // SAFETY: as above: in the mapping, aligned, written by `push`, not the kernel's.
            let sqe = unsafe { slot.read() };
            if sqe.user_data == user_data {
                // SAFETY: as above.
                unsafe {
                    slot.write(Sqe {
                        opcode: OP_NOP,
                        user_data: QUIET,
                        ..Sqe::default()
                    });
                }
                return true;
            }
            pos = pos.wrapping_add(1);
        }
        false
    }

    /// Queues `sqe`, submitting what is queued first if the queue is full. Fails with
    /// [`SQ_FULL`] when the kernel takes none of a full queue (`EAGAIN` when it cannot
    /// allocate requests, `EBUSY` while its completion backlog drains): the entry is not
    /// queued, and no queued one is overwritten.
    fn push(&mut self, sqe: Sqe, stats: &mut Stats) -> iox::Result<()> {
        if self.pending() >= self.sq_entries {
            self.enter(0, None)?;
            stats.ctl += 1;
            if self.pending() >= self.sq_entries {
                return Err(SQ_FULL);
            }
        }
        let idx = (self.sq_local_tail & self.sq_mask) as usize;
        debug_assert!(idx * size_of::<Sqe>() < self.sqes.len);
        // SAFETY: `idx` is masked into the entry array (`sq_entries` entries).
        let slot = unsafe { self.sqes.array::<Sqe>(0).add(idx) };
        // SAFETY: `slot` is that entry, inside the mapping and aligned (see `Map::array`),
        // and not the kernel's: fewer than `sq_entries` entries are pending, so its head has
        // passed it. The tail store in `enter` publishes it.
        unsafe { slot.write(sqe) };
        self.sq_local_tail = self.sq_local_tail.wrapping_add(1);
        stats.sqes += 1;
        Ok(())
    }

    /// Publishes queued entries and enters the kernel: submits them and, with `wait`, waits
    /// for one completion at most until its bound (`None` in `wait`: forever). Runs the
    /// ring's deferred work either way (`GETEVENTS`), so that a cancelled poll lets go of
    /// its descriptor before this returns. `Ok(true)`: the bound passed (`ETIME`).
    fn enter(
        &mut self,
        min_complete: u32,
        wait: Option<Option<&KernelTimespec>>,
    ) -> iox::Result<bool> {
        // Release publishes the entries written before the tail.
        self.sq_tail
            .get()
            .store(self.sq_local_tail, Ordering::Release);
        let to_submit = self.pending();
        let mut arg = GetEventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: 0,
        };
        let mut flags = ENTER_GETEVENTS | self.enter_flags;
        let (argp, argsz) = match wait {
            Some(Some(ts)) => {
                arg.ts = std::ptr::from_ref(ts) as u64;
                flags |= ENTER_EXT_ARG;
                (
                    (&raw const arg).cast::<libc::c_void>(),
                    size_of::<GetEventsArg>(),
                )
            }
            _ => (std::ptr::null(), 0),
        };
        let min = if wait.is_some() { min_complete } else { 0 };
        // SAFETY: the entries submitted hold no pointers but a receive's buffer (which
        // `Poller::recv`'s caller keeps valid and untouched until its completion is taken)
        // and the poller's own storage (a `recvmsg` header, a provided-buffer ring and its
        // buffers, kept until the poller drops, after the ring);
        // `arg` and the timespec it points at outlive the call; `argsz` is `arg`'s size
        // when EXT_ARG is set, else the pointer is null.
        let r = unsafe { zcall::io_uring_enter(self.enter_fd, to_submit, min, flags, argp, argsz) };
        match r {
            Ok(_) => Ok(false),
            Err(e) if e == zcall::Errno::ETIME => Ok(true),
            // The kernel's completion backlog must drain before it takes more entries;
            // the caller reaps completions and the next enter submits them.
            Err(e) if e == zcall::Errno::EBUSY || e == zcall::Errno::EAGAIN => Ok(false),
            Err(e) => Err(iox::Error::from(e)),
        }
    }

    /// The completions ready now, without a syscall: the head and the tail.
    fn completions(&self) -> (u32, u32) {
        // Acquire on the tail makes the entries before it visible.
        (
            self.cq_head.get().load(Ordering::Relaxed),
            self.cq_tail.get().load(Ordering::Acquire),
        )
    }

    /// The completion at position `pos` (between head and tail).
    fn cqe(&self, pos: u32) -> Cqe {
        // SAFETY: the masked index lies inside the completion array (`cq_entries` entries).
        let slot = unsafe { self.cqes.add((pos & self.cq_mask) as usize) };
        // SAFETY: `pos` lies between the head and the tail the kernel published, so that
        // entry is written and stays untouched until the head passes it.
        unsafe { slot.read() }
    }

    /// Hands the completions before `pos` back to the kernel.
    fn advance(&self, pos: u32) {
        // Release orders the reads of the entries before the kernel may overwrite them.
        self.cq_head.get().store(pos, Ordering::Release);
    }
}

/// Registers the ring `fd` in the calling thread's ring table (`IORING_REGISTER_RING_FDS`,
/// Linux 5.18+): its slot, or `None` where the kernel cannot (older, or the table is full),
/// and the ring is then entered by its descriptor. The slot is the thread's: an `Io` is
/// `!Send`, so it enters and drops its ring on the thread that built it.
fn register_ring(fd: RawFd) -> Option<u32> {
    let mut up = RsrcUpdate {
        offset: u32::MAX,
        resv: 0,
        data: fd as u64,
    };
    // SAFETY: `up` is one valid, writable `io_uring_rsrc_update` for the call (nr_args 1);
    // the kernel writes the slot it chose into `offset`.
    let r = unsafe { zcall::io_uring_register(fd, REGISTER_RING_FDS, (&raw mut up).cast(), 1) };
    matches!(r, Ok(1)).then_some(up.offset)
}

/// Cancels the requests whose `user_data` is `user_data` and returns once none is left in
/// the kernel (`IORING_REGISTER_SYNC_CANCEL`, Linux 6.0): `Ok(true)` if one was found,
/// `Ok(false)` if none was (`ENOENT`: it completed, or was never submitted), `ETIME` if
/// one was still running after [`SYNC_CANCEL_WAIT`]: the caller runs the ring's deferred
/// work and asks again.
fn sync_cancel(fd: RawFd, user_data: u64) -> Result<bool, zcall::Errno> {
    let reg = SyncCancelReg {
        addr: user_data,
        fd: 0,
        flags: 0,
        timeout: SYNC_CANCEL_WAIT,
        opcode: 0,
        pad: [0; 7],
        pad2: [0; 3],
    };
    loop {
        // SAFETY: `reg` is one valid `io_uring_sync_cancel_reg` for the call (nr_args 1),
        // read by the kernel only.
        let r = unsafe {
            zcall::io_uring_register(
                fd,
                REGISTER_SYNC_CANCEL,
                (&raw const reg).cast_mut().cast(),
                1,
            )
        };
        match r {
            Ok(_) => return Ok(true),
            Err(e) if e == zcall::Errno::ENOENT => return Ok(false),
            // A signal ended the wait: the request may still be in flight.
            Err(e) if e == zcall::Errno::EINTR => {}
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.enter_flags & ENTER_REGISTERED_RING != 0 {
            // The registration holds a reference to the ring: without this, the ring (and
            // a slot of the thread's 16) would outlive the Io until the thread exits.
            let up = RsrcUpdate {
                offset: self.enter_fd as u32,
                resv: 0,
                data: 0,
            };
            // SAFETY: `up` is one valid `io_uring_rsrc_update` naming the slot registered
            // in `register_ring` on this thread (the Io is `!Send`).
            let _ = unsafe {
                zcall::io_uring_register(
                    self.fd.raw(),
                    UNREGISTER_RING_FDS,
                    (&raw const up).cast(),
                    1,
                )
            };
        }
    }
}

/// The reason a ring could not be set up, in the words a user needs.
fn setup_error(e: zcall::Errno) -> iox::Error {
    let context = match e {
        zcall::Errno::ENOSYS => "io_uring_setup: this kernel has no io_uring (ENOSYS)",
        zcall::Errno::EPERM => {
            if io_uring_disabled() {
                "io_uring_setup refused: kernel.io_uring_disabled is set"
            } else {
                "io_uring_setup refused (EPERM): a seccomp filter (container runtimes block \
                 io_uring by default) or kernel.io_uring_disabled"
            }
        }
        zcall::Errno::ENOMEM => {
            "io_uring_setup: no memory for the rings (before Linux 5.12, RLIMIT_MEMLOCK \
             bounds them)"
        }
        zcall::Errno::EMFILE | zcall::Errno::ENFILE => {
            "io_uring_setup: no descriptor left for the ring"
        }
        _ => "io_uring_setup failed",
    };
    iox::Error::from(e).context(context)
}

/// `kernel.io_uring_disabled` is 1 or 2 (Linux 6.6+; absent before).
fn io_uring_disabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .is_ok_and(|s| matches!(s.trim(), "1" | "2"))
}

// ---------------------------------------------------------------------------------------
// The poller

/// What the ring knows of one registered descriptor, to re-arm its poll if the kernel ends
/// it (a multishot poll stops on a completion without `F_MORE`).
#[derive(Clone, Copy, Debug)]
struct Watch {
    token: u64,
    fd: RawFd,
    mask: u32,
    /// A socket whose reads complete in the ring: read readiness comes from one-shot polls
    /// ([`poll_mask`]).
    reads_on_demand: bool,
    /// Its one-shot read poll is in the kernel.
    read_armed: bool,
}

/// The control space of a `recvmsg` in the ring, in bytes: room for the receive stamps
/// (`sock::timestamp::RX_CONTROL_LEN`), in 8-byte words so a `cmsghdr` is aligned.
const MSG_CONTROL_WORDS: usize = 16;
const MSG_CONTROL_BYTES: usize = MSG_CONTROL_WORDS * 8;
const _: () = assert!(sock::timestamp::RX_CONTROL_LEN <= MSG_CONTROL_BYTES);

/// What a `recvmsg` in the ring reads and writes beside the bytes: its header, the
/// buffer's `iovec`, the source's address and the control space. One per object that
/// receives with a source, allocated at its first such receive and reused by every later
/// one (boxed: it stays put while the receive is in flight, whatever the table does).
struct MsgBuf {
    hdr: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
    control: [u64; MSG_CONTROL_WORDS],
    /// The token of the object whose receive last used it.
    token: u64,
}

impl MsgBuf {
    fn new() -> Box<MsgBuf> {
        // SAFETY: every field is a plain C struct, array or integer, for which all-zero
        // bytes are a valid value (null pointers, zero lengths).
        Box::new(unsafe { std::mem::zeroed::<MsgBuf>() })
    }

    /// Points the header at `ptr`/`len`, the address space and `control` bytes of control
    /// space (at most [`MSG_CONTROL_BYTES`]); the header's address, for the entry.
    fn prepare(&mut self, token: u64, (ptr, len): (*mut u8, usize), control: usize) -> u64 {
        self.token = token;
        self.iov.iov_base = ptr.cast();
        self.iov.iov_len = len;
        self.hdr.msg_name = std::ptr::addr_of_mut!(self.name).cast();
        self.hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        self.hdr.msg_iov = std::ptr::addr_of_mut!(self.iov);
        self.hdr.msg_iovlen = 1;
        let control = control.min(MSG_CONTROL_BYTES);
        // No control data an earlier receive left may be read as this one's: a receive that
        // fails writes no `msg_controllen` back, and a first header of length 0 ends the
        // walk at once.
        self.control[0] = 0;
        self.hdr.msg_control = if control == 0 {
            std::ptr::null_mut()
        } else {
            self.control.as_mut_ptr().cast()
        };
        self.hdr.msg_controllen = control as _;
        self.hdr.msg_flags = 0;
        std::ptr::addr_of!(self.hdr) as u64
    }

    /// What the kernel wrote back: the address (`msg_namelen` bytes) and the control data
    /// (`msg_controllen` bytes).
    fn written(&self) -> crate::op::RecvMsg<'_> {
        let name_len = (self.hdr.msg_namelen as usize).min(std::mem::size_of_val(&self.name));
        // `msg_controllen` is a `size_t` in glibc and a `socklen_t` in musl.
        #[allow(clippy::unnecessary_cast)]
        let control_len = (self.hdr.msg_controllen as usize).min(MSG_CONTROL_BYTES);
        // SAFETY: the view lies inside `self.name`, which the borrow keeps alive and
        // unwritten (no receive uses this header while its result is read: the Io reads it
        // when it takes the completion, before it queues another); any byte is a `u8`.
        let name = unsafe {
            std::slice::from_raw_parts(std::ptr::addr_of!(self.name).cast::<u8>(), name_len)
        };
        // SAFETY: as above, inside `self.control`.
        let control =
            unsafe { std::slice::from_raw_parts(self.control.as_ptr().cast::<u8>(), control_len) };
        crate::op::RecvMsg {
            name,
            control,
            batch: None,
            copied: None,
        }
    }
}

impl MsgBuf {
    /// Closes the descriptors the receive installed in this process: a Unix datagram may
    /// carry `SCM_RIGHTS` (and, with `SO_PASSPIDFD`, an `SCM_PIDFD`) into the control space
    /// a stamped read provides, and nobody asked for them (the readiness path's `recvmsg`
    /// closes them too). The receive passed `MSG_CMSG_CLOEXEC`, so none leaks into a child
    /// meanwhile. sock's `Received` does the walk and marks each closed descriptor -1, so
    /// a second call closes nothing.
    fn close_installed(&mut self) {
        // `msg_controllen` is a `size_t` in glibc and a `socklen_t` in musl.
        #[allow(clippy::unnecessary_cast)]
        let len = (self.hdr.msg_controllen as usize).min(MSG_CONTROL_BYTES);
        // SAFETY: the view lies inside `self.control`, borrowed mutably; any byte is a `u8`.
        let control =
            unsafe { std::slice::from_raw_parts_mut(self.control.as_mut_ptr().cast::<u8>(), len) };
        // SAFETY: these are the bytes the kernel wrote for this object's receive, whose
        // completion is being taken (or, after a receive that wrote none, a first header of
        // length 0, set before it): every non-negative descriptor in them was installed for
        // this process by that receive and nothing else owns it; those an earlier call
        // closed read -1.
        drop(unsafe { sock::cmsg::Received::from_raw_control(control) });
    }
}

impl std::fmt::Debug for MsgBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgBuf")
            .field("token", &self.token)
            .finish()
    }
}

/// Writes entry `bid` (`addr`, `len`) at `tail` of a provided-buffer ring of `mask + 1`
/// entries, and advances `tail`; [`publish`] hands the entries to the kernel.
fn provide(ring: &Map, mask: u32, tail: &mut u16, (addr, len, bid): (u64, u32, u16)) {
    let idx = u32::from(*tail) & mask;
    let base = ring.array::<RingBuf>(0);
    // SAFETY: `idx` is masked into the ring's entries, inside the mapping.
    let entry = unsafe { base.add(idx as usize) };
    // SAFETY: `entry` is in the mapping and aligned (page-aligned base, 16-byte entries);
    // it is not the kernel's (the caller keeps fewer buffers in the ring than it has
    // entries, so its head has passed it); `publish` hands it over.
    unsafe {
        entry.write(RingBuf {
            addr,
            len,
            bid,
            resv: 0,
        });
    }
    *tail = tail.wrapping_add(1);
}

/// Publishes a provided-buffer ring's `tail`: the entries written before it are the
/// kernel's to take.
fn publish(ring: &Map, tail: u16) {
    let base = ring.array::<RingBuf>(0);
    // SAFETY: `base` is the first entry, inside the mapping and aligned; this names its
    // `resv` field (the ring's tail) without reading or referencing the entry.
    let t = unsafe { &raw mut (*base).resv };
    // SAFETY: the tail is a 2-aligned `u16` in the mapping, which outlives this call; the
    // kernel reads it atomically and this side alone writes it.
    let t = unsafe { std::sync::atomic::AtomicU16::from_ptr(t) };
    // Release publishes the entries written before it.
    t.store(tail, Ordering::Release);
}

/// Registers `ring` (page-aligned, `entries` entries) as provided-buffer group `bgid`.
fn register_buffers(ring_fd: RawFd, ring: &Map, entries: u32, bgid: u16) -> iox::Result<()> {
    let reg = BufReg {
        ring_addr: ring.ptr as u64,
        ring_entries: entries,
        bgid,
        flags: 0,
        resv: [0; 3],
    };
    // SAFETY: `reg` is one valid `io_uring_buf_reg` (nr_args 1), read by the kernel only;
    // it names `ring`, a page-aligned mapping of `entries` entries, which its owner keeps
    // mapped (declared after the ring in the poller, so it outlives the ring).
    unsafe {
        zcall::io_uring_register(
            ring_fd,
            REGISTER_PBUF_RING,
            (&raw const reg).cast_mut().cast(),
            1,
        )
    }
    .map(|_| ())
    .map_err(|e| iox::Error::from(e).context("registering a provided-buffer ring"))
}

/// The buffers a read into a region receives into ([`RecvKind::Copied`]): one ring of
/// [`POOL_BUFS`] buffers of [`POOL_BUF_LEN`] bytes per Io, registered as group
/// [`POOL_BGID`] at its first such receive. The kernel picks a buffer when the bytes
/// arrive; the operation copies them into its region when it takes the result
/// ([`Poller::recv_msg`]), and the buffer goes back into the ring with the next wait. A
/// receive that finds none free completes with `ENOBUFS`, and its read tries its syscall
/// instead.
struct Pool {
    ring: Map,
    tail: u16,
    data: Box<[u8]>,
    /// Buffers read out, to go back into the ring with the next wait.
    returns: Vec<u16>,
}

impl Pool {
    fn new(ring_fd: RawFd, stats: &mut Stats) -> iox::Result<Pool> {
        let ring = Map::anon((POOL_BUFS * size_of::<RingBuf>()).next_multiple_of(4096))?;
        register_buffers(ring_fd, &ring, POOL_BUFS as u32, POOL_BGID)?;
        stats.ctl += 1;
        let mut p = Pool {
            ring,
            tail: 0,
            data: vec![0; POOL_BUFS * POOL_BUF_LEN].into_boxed_slice(),
            returns: (0..POOL_BUFS as u16).collect(),
        };
        p.give_back();
        Ok(p)
    }

    /// Puts the buffers read out back into the ring.
    fn give_back(&mut self) {
        if self.returns.is_empty() {
            return;
        }
        for i in 0..self.returns.len() {
            let bid = self.returns[i];
            let addr = self.data[usize::from(bid) * POOL_BUF_LEN..].as_mut_ptr() as u64;
            provide(
                &self.ring,
                POOL_BUFS as u32 - 1,
                &mut self.tail,
                (addr, POOL_BUF_LEN as u32, bid),
            );
        }
        self.returns.clear();
        publish(&self.ring, self.tail);
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("returns", &self.returns.len())
            .finish()
    }
}

/// The provided buffers of one object's batch reads: a ring of buffer ids registered as
/// buffer group `bgid` (64 + the object's slab index), from which the kernel picks a buffer for
/// each datagram one multishot `recvmsg` receives. The buffers are the backend's, never the
/// program's: the operation copies each datagram into its batch's slot when it completes,
/// so the batch handed back is never memory the kernel may write. Allocated at the object's
/// first batch read and reused by every later one (and by the next object in its slot);
/// registered again only when a batch of another shape comes (boxed: the header the entry
/// names stays put while the table grows).
struct Batch {
    /// The token of the object whose receive last used it.
    token: u64,
    bgid: u16,
    /// The ring of buffer entries, registered with the kernel.
    ring: Map,
    entries: u32,
    /// The ring's tail as this side wrote it.
    tail: u16,
    /// `shape.slots` buffers of `buf_len` bytes, buffer `bid` at `bid * buf_len`.
    data: Box<[u8]>,
    buf_len: usize,
    /// The control room of each buffer: the batch's slot's.
    control: usize,
    /// The shape the ring was built for.
    shape: BatchShape,
    /// Buffers in the ring that the kernel has not taken.
    available: usize,
    /// Buffer ids out of the ring: taken by a completion the operation has read.
    spare: Vec<u16>,
    /// The header the entry names: its name and control lengths are the rooms each buffer
    /// leaves; the kernel reads it when it takes the entry.
    hdr: libc::msghdr,
    name: libc::sockaddr_storage,
    /// The completions of the last receive, in order: result and flags.
    records: Vec<(i32, u32)>,
    /// The receive is in the kernel (no completion without `F_MORE` yet).
    in_flight: bool,
    /// Its cancel is queued or done.
    cancelled: bool,
    /// It ended and its operation has not read its completions yet.
    unread: bool,
}

impl Batch {
    /// A ring with a buffer for each of `shape`'s slots, registered as group `bgid`.
    fn new(
        ring_fd: RawFd,
        bgid: u16,
        shape: BatchShape,
        stats: &mut Stats,
    ) -> iox::Result<Box<Batch>> {
        // At most `slots` buffers are in the ring at once (`arm`), so that many exist; the
        // ring itself is a power of two.
        let slots = shape.slots.clamp(1, BATCH_MAX);
        let entries = slots.next_power_of_two();
        // The control room is the slot's own, not rounded up: the kernel cuts control data
        // to it (`MSG_CTRUNC`) exactly as `recvmmsg` cuts it to the slot (a room rounded up
        // to 24 for a 20-byte slot let a 24-byte message through, cut to 20 by the copy: a
        // header claiming more bytes than the slot held, found by a new user's trial).
        let control = shape.control;
        let buf_len = RECVMSG_OUT + NAME_ROOM + control + shape.slot_len;
        if u32::try_from(buf_len).is_err() {
            return Err(iox::Error::invalid_input(
                "a batch slot is too large for the ring's buffers",
            ));
        }
        let ring_len = (entries * size_of::<RingBuf>()).next_multiple_of(4096);
        let ring = Map::anon(ring_len)?;
        register_buffers(ring_fd, &ring, entries as u32, bgid)?;
        stats.ctl += 1;
        // SAFETY: a plain C struct of pointers and integers, for which all-zero bytes are a
        // valid value (null pointers, zero lengths).
        let hdr = unsafe { std::mem::zeroed::<libc::msghdr>() };
        // SAFETY: a plain C struct of integers and byte arrays; all-zero is `AF_UNSPEC`.
        let name = unsafe { std::mem::zeroed::<libc::sockaddr_storage>() };
        let mut b = Box::new(Batch {
            token: 0,
            bgid,
            ring,
            entries: entries as u32,
            tail: 0,
            data: vec![0; slots * buf_len].into_boxed_slice(),
            buf_len,
            control,
            shape,
            available: 0,
            spare: (0..slots as u16).rev().collect(),
            hdr,
            name,
            records: Vec::with_capacity(entries + 2),
            in_flight: false,
            cancelled: false,
            unread: false,
        });
        b.hdr.msg_name = (&raw mut b.name).cast();
        b.hdr.msg_namelen = NAME_ROOM as libc::socklen_t;
        b.hdr.msg_controllen = control as _;
        Ok(b)
    }

    /// Unregisters the ring (before it is unmapped, or replaced by one of another shape):
    /// no receive uses it then.
    fn unregister(&self, ring_fd: RawFd, stats: &mut Stats) {
        let reg = BufReg {
            ring_addr: 0,
            ring_entries: 0,
            bgid: self.bgid,
            flags: 0,
            resv: [0; 3],
        };
        // SAFETY: as in `new`: one valid `io_uring_buf_reg`, read only.
        let _ = unsafe {
            zcall::io_uring_register(
                ring_fd,
                UNREGISTER_PBUF_RING,
                (&raw const reg).cast_mut().cast(),
                1,
            )
        };
        stats.ctl += 1;
    }

    /// Readies a receive of `slots` datagrams: the buffers the last one took come back to
    /// the spare list, and exactly `slots` buffers are left in the ring, so the kernel
    /// cannot take more datagrams than the batch has slots.
    fn arm(&mut self, token: u64, slots: usize) {
        self.token = token;
        for &(_, flags) in &self.records {
            if flags & CQE_F_BUFFER != 0 {
                self.spare.push((flags >> CQE_BUFFER_SHIFT) as u16);
            }
        }
        self.records.clear();
        self.cancelled = false;
        self.unread = false;
        let mask = self.entries - 1;
        while self.available < slots {
            let Some(bid) = self.spare.pop() else { break };
            // `bid < shape.slots`: the buffer lies inside `data`.
            let addr = self.data[usize::from(bid) * self.buf_len..].as_mut_ptr() as u64;
            provide(
                &self.ring,
                mask,
                &mut self.tail,
                (addr, self.buf_len as u32, bid),
            );
            self.available += 1;
        }
        publish(&self.ring, self.tail);
    }

    /// Records one completion of the receive; one without `F_MORE` ends it.
    fn take(&mut self, cqe: Cqe) {
        self.records.push((cqe.res, cqe.flags));
        if cqe.flags & CQE_F_BUFFER != 0 {
            self.available = self.available.saturating_sub(1);
        }
        if cqe.flags & CQE_F_MORE == 0 {
            self.in_flight = false;
            self.unread = true;
        }
    }

    /// Whether the ended receive brought anything the operation must see: a datagram, or
    /// an error of the socket's (not the cancel, not the end of the buffers).
    fn brought(&self) -> bool {
        self.records.iter().any(|&(res, flags)| {
            flags & CQE_F_BUFFER != 0
                || (res < 0 && res != -libc::ECANCELED && res != -libc::ENOBUFS)
        })
    }
}

impl crate::op::Received for Batch {
    fn count(&self) -> usize {
        self.records.len()
    }

    fn get(&self, i: usize) -> crate::op::RingDatagram<'_> {
        let (res, flags) = self.records[i];
        if flags & CQE_F_BUFFER == 0 || res < 0 {
            return crate::op::RingDatagram::End(res.min(0));
        }
        let bid = (flags >> CQE_BUFFER_SHIFT) as usize;
        let buf = &self.data[bid * self.buf_len..(bid + 1) * self.buf_len];
        let word = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
        let (name_len, control_len, msg_flags) = (word(0) as usize, word(4) as usize, word(12));
        let written = (res as usize).min(self.buf_len);
        let payload = RECVMSG_OUT + NAME_ROOM + self.control;
        let name = &buf[RECVMSG_OUT..RECVMSG_OUT + name_len.min(NAME_ROOM)];
        let control = &buf[RECVMSG_OUT + NAME_ROOM..][..control_len.min(self.control)];
        crate::op::RingDatagram::Datagram {
            bytes: &buf[payload..written.max(payload)],
            truncated: msg_flags & libc::MSG_TRUNC as u32 != 0,
            name,
            control,
        }
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("token", &self.token)
            .field("shape", &self.shape)
            .field("records", &self.records.len())
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

/// The uring poller of one `Io`: the same methods as the epoll one.
#[derive(Debug)]
pub(crate) struct Poller {
    ring: Ring,
    /// Indexed by the token's slab index.
    watches: Vec<Option<Watch>>,
    waker: RawFd,
    /// The events of the last wait: token and `POLL*` mask, or, for a receive's completion
    /// (`token | OP_DONE`), its result; a wait takes at most its capacity (the builder's
    /// `events`), so it never grows.
    events: Vec<(u64, u32)>,
    /// Completions a cancel took off the ring while looking for its own (the ring is read in
    /// order): the next wait hands them out first.
    stash: VecDeque<Cqe>,
    /// Receives complete in the ring: the kernel cancels synchronously (Linux 6.0).
    completes_reads: bool,
    /// The `recvmsg` storage of the objects that receive with a source, by slab index.
    /// Declared after the ring, so the ring is closed first when the poller drops (the Io
    /// has taken every receive back by then: its close cancels them).
    msgs: Vec<Option<Box<MsgBuf>>>,
    /// The provided buffers of the objects that read batches in the ring, by slab index
    /// (after the ring, as `msgs`).
    batches: Vec<Option<Box<Batch>>>,
    /// The kernel refused a provided-buffer ring: batch reads wait for readiness.
    no_batches: bool,
    /// The buffers reads into regions receive into, made at the first such read (after the
    /// ring, as `msgs`); `None` with `no_batches` set: refused, they wait for readiness.
    pool: Option<Pool>,
    /// By slab index: the pool buffer the last receive into a region landed in, with its
    /// token and the bytes it holds, until the operation reads it.
    landed: Vec<Option<(u64, u16, u32)>>,
    /// Polls whose re-arm (the kernel ended a multishot poll), update (an update that met
    /// the poll posting) or cancel (a descriptor deregistered) found the submission queue
    /// full: queued again before the next wait enters (and at each reap), so that no
    /// completion is dropped and no descriptor left unwatched for want of a slot.
    redo: Vec<Redo>,
    /// Dials' connects, held on this side until the next wait queues them just before it
    /// enters: any other enter of the turn (a deregistration's, a take-back's, a full
    /// queue's) would send a SYN for a dial the program may still give up in the same turn
    /// (a zero timeout, the Io's close), and a connect held here is taken back by dropping
    /// it. Queued in the order the dials were made.
    connects: Vec<Sqe>,
}

/// A poll submission to queue again ([`Poller::redo`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Redo {
    /// The poll ended: arm it anew.
    Arm(u64),
    /// The poll lives; its mask is to be updated to the watch's.
    Update(u64),
    /// A deregistered descriptor's poll (or read poll) still to be cancelled: the poll
    /// holds the file, so the socket would stay open until the cancel lands.
    Cancel(u64),
}

impl Poller {
    /// A ring, with room to watch `objects` descriptors without growing.
    pub(crate) fn new(events: usize, objects: usize, waker: &super::Waker) -> iox::Result<Poller> {
        let ring = Ring::new()?;
        // A cancel of nothing answers ENOENT where the kernel has synchronous cancels, and
        // EINVAL where it does not (before 6.0): there reads wait for readiness.
        let completes_reads = sync_cancel(ring.fd.raw(), QUIET).is_ok();
        let mut p = Poller {
            ring,
            watches: Vec::with_capacity(objects),
            waker: waker.raw(),
            events: Vec::with_capacity(events.max(1)),
            stash: VecDeque::with_capacity(64),
            completes_reads,
            msgs: Vec::new(),
            batches: Vec::new(),
            no_batches: false,
            pool: None,
            landed: Vec::new(),
            redo: Vec::new(),
            connects: Vec::new(),
        };
        let mut stats = Stats::default();
        p.arm(p.waker, WAKER, libc::POLLIN as u32, &mut stats)?;
        Ok(p)
    }

    fn arm(&mut self, fd: RawFd, token: u64, mask: u32, stats: &mut Stats) -> iox::Result<()> {
        self.ring.push(
            Sqe {
                opcode: OP_POLL_ADD,
                fd,
                len: POLL_ADD_MULTI,
                op_flags: mask,
                user_data: token,
                ..Sqe::default()
            },
            stats,
        )
    }

    /// Registers `fd` for reading and, if `writes`, for writing (see the epoll poller). The
    /// read readiness of a socket whose reads may complete in the ring (`ring_reads`: a
    /// stream or a datagram socket) is polled on demand where they do ([`poll_mask`]).
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: u64,
        writes: bool,
        ring_reads: bool,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        if token & (UPDATE | OP_DONE | READ_POLL) != 0 {
            return Err(iox::Error::invalid_input(
                "the uring backend watches at most 2^29 objects per Io",
            ));
        }
        let reads_on_demand = ring_reads && self.completes_reads;
        let mask = poll_mask(reads_on_demand, writes);
        self.arm(fd, token, mask, stats)?;
        let idx = token as u32 as usize;
        if idx >= self.watches.len() {
            self.watches.resize(idx + 1, None);
        }
        self.watches[idx] = Some(Watch {
            token,
            fd,
            mask,
            reads_on_demand,
            read_armed: false,
        });
        Ok(())
    }

    /// A read on `token`'s stream waits for readiness: unless its multishot poll reports
    /// reads, or a read poll is in the kernel already, queue a one-shot poll for `POLLIN |
    /// POLLRDHUP`. The kernel checks the socket when it takes the poll, so bytes that came
    /// before, or that a read ending early at an urgent mark or a message boundary left,
    /// complete it at once: no `URGENT` mark is needed, and `POLLPRI` stays out (a poll
    /// woken by an arrival reports the wake-up key, which holds `POLLPRI` for every
    /// arrival: the sticky mark would make every read end on `WouldBlock`).
    pub(crate) fn watch_read(&mut self, token: u64, stats: &mut Stats) -> iox::Result<()> {
        let Some(Some(w)) = self.watches.get_mut(token as u32 as usize) else {
            return Ok(());
        };
        if w.token != token || !w.reads_on_demand || w.read_armed {
            return Ok(());
        }
        w.read_armed = true;
        let fd = w.fd;
        let r = self.ring.push(
            Sqe {
                opcode: OP_POLL_ADD,
                fd,
                op_flags: READ_POLL_MASK,
                user_data: token | READ_POLL,
                ..Sqe::default()
            },
            stats,
        );
        if r.is_err()
            && let Some(Some(w)) = self.watches.get_mut(token as u32 as usize)
        {
            w.read_armed = false;
        }
        r
    }

    /// Adds or removes `POLLOUT` on a registered `fd`'s poll, in place (a poll update
    /// re-checks the descriptor, so room already there is reported at once).
    pub(crate) fn watch_writes(
        &mut self,
        _fd: RawFd,
        token: u64,
        on: bool,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        let mut mask = poll_mask(false, on);
        let mut watched = false;
        if let Some(Some(w)) = self.watches.get_mut(token as u32 as usize)
            && w.token == token
        {
            mask = poll_mask(w.reads_on_demand, on);
            w.mask = mask;
            watched = true;
        }
        match self.update(token, mask, stats) {
            // A full queue the kernel refused: the update goes with the next wait (which
            // queues the waiting resubmissions first), to the watch's mask, set above. Failing
            // the write here would end a write that only has to wait (a stream's poll has no
            // `POLLOUT` until a write asks for it).
            Err(_) if watched => {
                self.redo.push(Redo::Update(token));
                Ok(())
            }
            r => r,
        }
    }

    fn update(&mut self, token: u64, mask: u32, stats: &mut Stats) -> iox::Result<()> {
        self.ring.push(
            Sqe {
                opcode: OP_POLL_REMOVE,
                addr: token,
                len: POLL_UPDATE_EVENTS | POLL_ADD_MULTI,
                op_flags: mask,
                user_data: token | UPDATE,
                ..Sqe::default()
            },
            stats,
        )
    }

    /// Cancels `token`'s poll (`ASYNC_CANCEL`, which unlike `POLL_REMOVE` cannot fail on a
    /// poll that is posting an event at that moment).
    fn cancel(&mut self, token: u64, stats: &mut Stats) -> iox::Result<()> {
        self.ring.push(
            Sqe {
                opcode: OP_ASYNC_CANCEL,
                addr: token,
                user_data: QUIET,
                ..Sqe::default()
            },
            stats,
        )
    }

    /// Ends `token`'s poll and submits that at once: the descriptor is about to be closed
    /// or handed back, and the poll would keep the file open.
    pub(crate) fn deregister(
        &mut self,
        _fd: RawFd,
        token: u64,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        let idx = token as u32 as usize;
        let read_armed = match self.watches.get(idx) {
            Some(Some(w)) if w.token == token => w.read_armed,
            _ => return Ok(()),
        };
        // The watch goes first, so the poll's last completion (`ECANCELED`) is never
        // re-armed; the cancels are never dropped ([`end_poll`](Poller::end_poll)).
        self.watches[idx] = None;
        self.end_poll(token, stats);
        if read_armed {
            self.end_poll(token | READ_POLL, stats);
        }
        stats.ctl += 1;
        self.ring.enter(0, None).map(|_| ())
    }

    /// Cancels the poll `target` of a descriptor being closed or handed back, whatever the
    /// submission queue says: queued if it has room; else at once through the kernel's
    /// synchronous cancel (no entry needed; Linux 6.0, where reads complete in the ring);
    /// else with the next wait ([`Redo::Cancel`]). A cancel left undone would leave the
    /// poll holding the file: the socket would stay open, and its peer see no end of
    /// stream, until the Io dropped (a review's test closed a stream under a refused full
    /// queue: its peer waited 2 s for nothing).
    fn end_poll(&mut self, target: u64, stats: &mut Stats) {
        if self.cancel(target, stats).is_ok() {
            return;
        }
        if self.completes_reads && sync_cancel(self.ring.fd.raw(), target).is_ok() {
            stats.ctl += 1;
            return;
        }
        self.redo.push(Redo::Cancel(target));
    }

    /// Ends the polls of every registered descriptor, with one submission (the Io closes).
    pub(crate) fn deregister_all(&mut self, stats: &mut Stats) -> iox::Result<()> {
        let mut any = false;
        for i in 0..self.watches.len() {
            if let Some(w) = self.watches[i].take() {
                any = true;
                // As in `deregister`: no cancel is dropped.
                self.end_poll(w.token, stats);
                if w.read_armed {
                    self.end_poll(w.token | READ_POLL, stats);
                }
            }
        }
        if any {
            stats.ctl += 1;
            self.ring.enter(0, None)?;
        }
        Ok(())
    }

    /// Submits what is queued and waits for events (see the epoll poller); returns how
    /// many [`event`](Poller::event) can read.
    pub(crate) fn wait(
        &mut self,
        timeout: Timeout,
        now: u64,
        stats: &mut Stats,
    ) -> iox::Result<usize> {
        stats.waits += 1;
        if let Some(p) = &mut self.pool {
            p.give_back();
        }
        let (head, tail) = self.ring.completions();
        // Completions left from the last wait (more than `events` came) or stashed by a
        // cancel: take them without waiting, but still submit and let the kernel run its
        // deferred work.
        //
        // Polls waiting for a submission slot go with this wait: queued before it enters. If
        // the queue is still too full for all of them, the wait is kept short (1 ms), so the
        // next one submits the rest: a poll left out of a wait that blocks would leave its
        // descriptor (the waker's too) unwatched for as long as the wait lasts (a review's
        // test: an accept with its connection queued waited out a 2 s bound). Not `Now`,
        // which would spin while the kernel refuses the queue.
        self.redo_polls(stats);
        self.queue_connects(stats);
        let timeout = if tail != head || !self.stash.is_empty() {
            Timeout::Now
        } else if !self.redo.is_empty() || !self.connects.is_empty() {
            let soon = now.saturating_add(1_000_000);
            match timeout {
                Timeout::At(d) if d < soon => Timeout::At(d),
                Timeout::Now => Timeout::Now,
                _ => Timeout::At(soon),
            }
        } else {
            timeout
        };
        let spec;
        let mut left = 0;
        let wait = match timeout {
            Timeout::Now => None,
            Timeout::Forever => Some(None),
            Timeout::At(deadline) => {
                left = deadline.saturating_sub(now);
                spec = KernelTimespec {
                    tv_sec: (left / 1_000_000_000) as i64,
                    tv_nsec: (left % 1_000_000_000) as i64,
                };
                Some(Some(&spec))
            }
        };
        // A wait that also submits returns the count submitted, hiding what ended the wait:
        // a signal (`EINTR`) or the bound (`ETIME`). Submitting first and waiting alone would
        // cost a syscall on every turn with a receive to submit, so the wait is one call, and
        // a return with nothing completed is told apart afterwards: forever, or before the
        // bound by the monotonic clock (the kernel's timeout clock), means a signal.
        let submitting = wait.is_some() && self.ring.pending() > 0;
        let start = if submitting && matches!(timeout, Timeout::At(_)) {
            crate::raw::calls::monotonic_ns()
        } else {
            0
        };
        // EINTR: the Io retries or returns, as with epoll; completions already there stay
        // for the next wait.
        let timed_out = self.ring.enter(1, wait)?;
        if submitting && !timed_out {
            let (head, tail) = self.ring.completions();
            let signalled = head == tail
                && match timeout {
                    Timeout::Forever => true,
                    Timeout::At(_) => crate::raw::calls::monotonic_ns().wrapping_sub(start) < left,
                    Timeout::Now => false,
                };
            if signalled {
                return Err(iox::Error::from(zcall::Errno::EINTR));
            }
        }
        self.reap(stats)
    }

    /// Moves up to `events`' capacity of completions into it (the stashed ones first),
    /// re-arming polls the kernel ended.
    fn reap(&mut self, stats: &mut Stats) -> iox::Result<usize> {
        self.events.clear();
        self.redo_polls(stats);
        while self.events.len() < self.events.capacity() {
            let Some(cqe) = self.stash.pop_front() else {
                break;
            };
            self.take(cqe, stats);
        }
        let (mut head, tail) = self.ring.completions();
        while head != tail && self.events.len() < self.events.capacity() {
            let cqe = self.ring.cqe(head);
            head = head.wrapping_add(1);
            self.take(cqe, stats);
        }
        self.ring.advance(head);
        Ok(self.events.len())
    }

    /// Queues the dials' connects ([`connects`](Poller::connects)), in order, as far as the
    /// submission queue takes them; the rest wait for the next wait, which is kept short as
    /// for a poll left in `redo`.
    fn queue_connects(&mut self, stats: &mut Stats) {
        let mut queued = 0;
        for i in 0..self.connects.len() {
            if self.ring.push(self.connects[i], stats).is_err() {
                break;
            }
            queued += 1;
        }
        self.connects.drain(..queued);
    }

    /// Queues the polls [`redo`](Poller::redo) holds, as far as the submission queue takes
    /// them; a watch removed since needs nothing.
    fn redo_polls(&mut self, stats: &mut Stats) {
        let mut i = 0;
        while i < self.redo.len() {
            let done = match self.redo[i] {
                Redo::Arm(token) => match self.rearmed(token) {
                    Some(w) => self.arm(w.fd, w.token, w.mask, stats).is_ok(),
                    None => true,
                },
                Redo::Update(token) => match self.watch(token) {
                    Some(w) => self.update(token, w.mask, stats).is_ok(),
                    None => true,
                },
                Redo::Cancel(target) => self.cancel(target, stats).is_ok(),
            };
            if done {
                self.redo.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// The poll to arm again for `token`: its watch, or the waker's.
    fn rearmed(&self, token: u64) -> Option<Watch> {
        if token == WAKER {
            Some(Watch {
                token,
                fd: self.waker,
                mask: libc::POLLIN as u32,
                reads_on_demand: false,
                read_armed: false,
            })
        } else {
            self.watch(token)
        }
    }

    /// One completion: an event for the core, or the ring's own bookkeeping. A poll it
    /// must submit again and cannot (the submission queue is full) waits in
    /// [`redo`](Poller::redo): the completion itself is never dropped.
    fn take(&mut self, cqe: Cqe, stats: &mut Stats) {
        if cqe.user_data == QUIET {
            return;
        }
        if cqe.user_data & TAGS == SEND && cqe.user_data != WAKER {
            // A stream write's send: its result, for the operation waiting on it.
            let token = cqe.user_data & !SEND;
            self.events
                .push((token | OP_DONE | OP_SENT, cqe.res as u32));
            return;
        }
        if cqe.user_data & BATCH_CANCEL == BATCH_CANCEL && cqe.user_data != WAKER {
            // A batch receive's cancel, met after its receive was ended ([`end_batch`]
            // reads it otherwise): nothing to do.
            return;
        }
        if cqe.user_data & UPDATE != 0 && cqe.user_data != WAKER {
            // A poll update. ENOENT: the poll had ended, and its re-arm (below, from its
            // last completion) takes the watch's mask, which is the new one.
            let token = cqe.user_data & !UPDATE;
            if cqe.res == -libc::EALREADY
                && let Some(w) = self.watch(token)
                && self.update(token, w.mask, stats).is_err()
            {
                self.redo.push(Redo::Update(token));
            }
            return;
        }
        if cqe.user_data & OP_DONE != 0 && cqe.user_data != WAKER {
            // A batch receive's completion: recorded for its operation, which takes them
            // all once the receive has ended (`end_recv`); each is an event.
            if let Some(b) = self.batch_mut(cqe.user_data & !OP_DONE)
                && b.in_flight
            {
                b.take(cqe);
                self.events.push((cqe.user_data, cqe.res as u32));
                return;
            }
            self.note_landed(&cqe);
            // A receive's result, for the operation waiting on it, marked when the socket
            // holds more.
            let more = if cqe.flags & CQE_F_SOCK_NONEMPTY != 0 {
                OP_MORE
            } else {
                0
            };
            self.events.push((cqe.user_data | more, cqe.res as u32));
            return;
        }
        if cqe.user_data & READ_POLL != 0 && cqe.user_data != WAKER {
            // A stream's one-shot read poll: readiness for its token, as the multishot
            // poll's would be; the next read that waits queues another.
            let token = cqe.user_data & !READ_POLL;
            if let Some(Some(w)) = self.watches.get_mut(token as u32 as usize)
                && w.token == token
            {
                w.read_armed = false;
            }
            if cqe.res > 0 {
                self.events.push((token, cqe.res as u32));
            } else if cqe.res < 0 && cqe.res != -libc::ECANCELED {
                self.events.push((token, libc::POLLERR as u32));
            }
            return;
        }
        let token = cqe.user_data;
        if cqe.res > 0 {
            self.events.push((token, cqe.res as u32));
        } else if cqe.res < 0 && cqe.res != -libc::ECANCELED {
            // The poll failed on the descriptor (closed behind the Io's back, say): report
            // an error, so that each operation tries its syscall and learns it.
            self.events.push((token, libc::POLLERR as u32));
            return;
        }
        if cqe.flags & CQE_F_MORE == 0 {
            // The kernel ended this poll (no room to post its next event, say): re-arm it
            // if the descriptor is still registered. A removed poll's last completion
            // finds no watch.
            if let Some(w) = self.rearmed(token)
                && self.arm(w.fd, w.token, w.mask, stats).is_err()
            {
                self.redo.push(Redo::Arm(token));
            }
        }
    }

    /// Receives complete in the ring ([`recv`](Poller::recv)).
    #[inline]
    pub(crate) fn completes_reads(&self) -> bool {
        self.completes_reads
    }

    /// Queues a receive into `ptr`/`len` for `token`'s socket, as `kind` says
    /// ([`RecvKind`]); the next enter submits it. A datagram receive passes `MSG_TRUNC`: its
    /// result is the datagram's whole length, longer than `len` when the datagram was cut.
    /// A receive with a source is a `recvmsg` whose header, address and control space are
    /// the object's [`MsgBuf`] ([`recv_msg`](Poller::recv_msg) reads what it wrote).
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        token: u64,
        (ptr, len): (*mut u8, usize),
        kind: RecvKind,
        stats: &mut Stats,
    ) -> iox::Result<()> {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let idx = token as u32 as usize;
        if let Some(Some(b)) = self.batches.get_mut(idx) {
            // Another receive of this slot: an ended batch's completions are no longer read.
            b.unread = false;
        }
        if let Some(l) = self.landed.get_mut(idx)
            && let Some((_, bid, _)) = l.take()
            && let Some(p) = &mut self.pool
        {
            // Never read (its operation went another way): back to the pool.
            p.returns.push(bid);
        }
        let sqe = match kind {
            RecvKind::Copied(copied) => {
                // A stream's receive asks for the region's rest (a redirect keeps room for
                // it); a datagram's for a whole buffer, so that a redirect to a larger
                // region still gets its datagram whole.
                let len = match copied {
                    CopiedKind::Stream => len.min(POOL_BUF_LEN as u32),
                    _ => POOL_BUF_LEN as u32,
                };
                let mut sqe = Sqe {
                    opcode: OP_RECV,
                    flags: SQE_BUFFER_SELECT,
                    fd,
                    len,
                    user_data: token | OP_DONE,
                    buf_index: POOL_BGID,
                    ..Sqe::default()
                };
                match copied {
                    CopiedKind::Stream => {}
                    CopiedKind::Datagram => sqe.op_flags = libc::MSG_TRUNC as u32,
                    CopiedKind::Source(control) => {
                        if self.msgs.len() <= idx {
                            self.msgs.resize_with(idx + 1, || None);
                        }
                        let m = self.msgs[idx].get_or_insert_with(MsgBuf::new);
                        // The iovec's length bounds the receive; the kernel puts the
                        // buffer it picks in its place.
                        sqe.opcode = OP_RECVMSG;
                        sqe.addr = m.prepare(token, (std::ptr::null_mut(), len as usize), control);
                        sqe.len = 1;
                        sqe.op_flags = (libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC) as u32;
                    }
                }
                sqe
            }
            RecvKind::Batch => {
                let Some(b) = self.batch_mut(token) else {
                    return Err(iox::Error::invalid_input(
                        "a batch receive without its buffers prepared",
                    ));
                };
                b.in_flight = true;
                Sqe {
                    opcode: OP_RECVMSG,
                    flags: SQE_BUFFER_SELECT,
                    ioprio: RECV_MULTISHOT,
                    fd,
                    addr: (&raw const b.hdr) as u64,
                    len: 1,
                    op_flags: libc::MSG_TRUNC as u32,
                    user_data: token | OP_DONE,
                    buf_index: b.bgid,
                    ..Sqe::default()
                }
            }
            RecvKind::Stream | RecvKind::Datagram => Sqe {
                opcode: OP_RECV,
                fd,
                addr: ptr as u64,
                len,
                op_flags: if kind == RecvKind::Datagram {
                    libc::MSG_TRUNC as u32
                } else {
                    0
                },
                user_data: token | OP_DONE,
                ..Sqe::default()
            },
            RecvKind::Source(control) => {
                let idx = token as u32 as usize;
                if self.msgs.len() <= idx {
                    self.msgs.resize_with(idx + 1, || None);
                }
                let m = self.msgs[idx].get_or_insert_with(MsgBuf::new);
                Sqe {
                    opcode: OP_RECVMSG,
                    fd,
                    addr: m.prepare(token, (ptr, len as usize), control),
                    len: 1,
                    op_flags: (libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC) as u32,
                    user_data: token | OP_DONE,
                    ..Sqe::default()
                }
            }
        };
        let r = self.ring.push(sqe, stats);
        if r.is_err()
            && let Some(b) = self.batch_mut(token)
        {
            b.in_flight = false;
        }
        r
    }

    /// The batch buffers of `token`'s object, if it has them and is their last user.
    fn batch_mut(&mut self, token: u64) -> Option<&mut Batch> {
        match self.batches.get_mut(token as u32 as usize) {
            Some(Some(b)) if b.token == token => Some(b),
            _ => None,
        }
    }

    /// Whether reads into regions may receive in the ring, into the copy pool ([`Pool`],
    /// made at the first such read): where reads complete in the ring and the kernel gave
    /// a provided-buffer ring.
    pub(crate) fn prepare_copy(&mut self, stats: &mut Stats) -> bool {
        if !self.completes_reads || self.no_batches {
            return false;
        }
        if self.pool.is_none() {
            match Pool::new(self.ring.fd.raw(), stats) {
                Ok(p) => self.pool = Some(p),
                Err(_) => {
                    self.no_batches = true;
                    return false;
                }
            }
        }
        true
    }

    /// Records the pool buffer a receive's completion used, for its operation to read
    /// ([`recv_msg`](Poller::recv_msg)).
    fn note_landed(&mut self, cqe: &Cqe) {
        if cqe.flags & CQE_F_BUFFER == 0 {
            return;
        }
        let token = cqe.user_data & !OP_DONE;
        let idx = token as u32 as usize;
        if self.landed.len() <= idx {
            self.landed.resize(idx + 1, None);
        }
        let len = (cqe.res.max(0) as u32).min(POOL_BUF_LEN as u32);
        let bid = (cqe.flags >> CQE_BUFFER_SHIFT) as u16;
        if let Some((_, old, _)) = self.landed[idx].replace((token, bid, len))
            && let Some(p) = &mut self.pool
        {
            p.returns.push(old);
        }
    }

    /// Readies `token`'s provided buffers for a batch receive of `shape` (see
    /// [`Batch::arm`]): built at the object's first batch read, registered again when the
    /// shape changes or more buffers are left in the ring than this batch has slots.
    /// `false` where the kernel has no synchronous cancel (reads wait for readiness there),
    /// for slots past the 2^16 - 64 buffer groups, or when the kernel refused a ring (then
    /// every later batch read waits for readiness too).
    pub(crate) fn prepare_batch(
        &mut self,
        token: u64,
        shape: BatchShape,
        stats: &mut Stats,
    ) -> bool {
        if !self.completes_reads || self.no_batches {
            return false;
        }
        let idx = token as u32 as usize;
        // The group is the slot index past the first 64: Linux 6.1 keeps groups below 64 in
        // a table whose ring head survives unregistering, so a ring registered again there
        // starts at the old head, and the kernel reads entries this side never wrote (seen
        // in the VM step: five datagrams into a two-slot batch, through stale entries).
        // Groups from 64 up are made afresh at each registration.
        let Some(bgid) = u16::try_from(idx + BGID_BASE).ok() else {
            return false;
        };
        let slots = shape.slots.clamp(1, BATCH_MAX);
        if self.batches.len() <= idx {
            self.batches.resize_with(idx + 1, || None);
        }
        let fd = self.ring.fd.raw();
        // The ring serves a batch with buffers of the same layout and no more slots than
        // it has buffers, unless more of them are left in the ring than this batch has
        // slots (the kernel could then take more datagrams than the batch can hold).
        let keep = matches!(&self.batches[idx],
            Some(b) if b.shape.slot_len == shape.slot_len
                && b.shape.control == shape.control
                && slots <= b.shape.slots
                && b.available <= slots);
        if !keep {
            if let Some(old) = self.batches[idx].take() {
                old.unregister(fd, stats);
            }
            match Batch::new(fd, bgid, BatchShape { slots, ..shape }, stats) {
                Ok(b) => self.batches[idx] = Some(b),
                Err(_) => {
                    self.no_batches = true;
                    return false;
                }
            }
        }
        let Some(b) = self.batches[idx].as_mut() else {
            return false;
        };
        b.arm(token, slots);
        true
    }

    /// Ends `token`'s receive if it goes on: a batch receive, after its first datagram
    /// ([`end_batch`](Poller::end_batch): its cancel queued and submitted with one enter,
    /// which also posts the receive's last completion); every datagram that arrived until
    /// the cancel landed joins the batch, and its read completes in the same turn.
    pub(crate) fn end_recv(&mut self, token: u64, stats: &mut Stats) {
        if self.batch_mut(token).is_some_and(|b| b.in_flight) {
            self.end_batch(token, stats);
        }
    }

    /// Queues the cancel of `token`'s batch receive; its completion comes back tagged
    /// [`BATCH_CANCEL`].
    fn cancel_batch(&mut self, token: u64, stats: &mut Stats) -> iox::Result<()> {
        self.ring.push(
            Sqe {
                opcode: OP_ASYNC_CANCEL,
                addr: token | OP_DONE,
                user_data: token | BATCH_CANCEL,
                ..Sqe::default()
            },
            stats,
        )
    }

    /// Takes `token`'s batch receive back from the kernel and reads its completions until
    /// its last one (completions of other requests met on the way go to the stash, and
    /// the receive's own that a cancel stashed before are taken first). The first round
    /// queues its cancel and submits it with one enter, which runs the deferred work that
    /// posts the last completion: one syscall. A receive still in this side's queue (a
    /// submission the kernel refused) is withdrawn; one the cancel did not end (a cancel
    /// refused, or one that met the receive running) is cancelled synchronously, with
    /// enters that submit nothing, so that a full queue the kernel refuses cannot keep
    /// the deferred work from running.
    fn end_batch(&mut self, token: u64, stats: &mut Stats) {
        let ud = token | OP_DONE;
        let mut i = 0;
        while i < self.stash.len() {
            if self.stash[i].user_data == ud && self.batch_mut(token).is_some_and(|b| b.in_flight) {
                let cqe = self.stash.remove(i).expect("within the stash");
                if let Some(b) = self.batch_mut(token) {
                    b.take(cqe);
                }
            } else {
                i += 1;
            }
        }
        if !self.batch_mut(token).is_some_and(|b| b.in_flight) {
            return;
        }
        if self.ring.withdraw(ud) {
            // Never reached the kernel: it took nothing.
            if let Some(b) = self.batch_mut(token) {
                b.in_flight = false;
                b.unread = true;
            }
            return;
        }
        let mut queued = self.cancel_batch(token, stats).is_ok() && {
            stats.ctl += 1;
            self.ring.enter(0, None).is_ok() && self.ring.pending() == 0
        };
        if !queued {
            // A cancel the kernel did not take would end a later receive of this token.
            self.ring.withdraw(token | BATCH_CANCEL);
        }
        let start = std::time::Instant::now();
        loop {
            let (mut head, tail) = self.ring.completions();
            while head != tail {
                let cqe = self.ring.cqe(head);
                head = head.wrapping_add(1);
                if cqe.user_data == token | BATCH_CANCEL {
                    continue;
                }
                match self.batch_mut(token) {
                    Some(b) if cqe.user_data == ud && b.in_flight => b.take(cqe),
                    _ => self.stash.push_back(cqe),
                }
            }
            self.ring.advance(head);
            if !self.batch_mut(token).is_some_and(|b| b.in_flight) {
                return;
            }
            if !queued {
                let _ = sync_cancel(self.ring.fd.raw(), ud);
                stats.ctl += 1;
            }
            queued = false;
            if self.ring.run_work().is_ok() {
                stats.ctl += 1;
            }
            if start.elapsed() > CANCEL_LIMIT {
                eprintln!(
                    "sonic-io: io_uring did not give back a cancelled batch receive within {CANCEL_LIMIT:?}; aborting rather than reuse buffers the kernel may still write"
                );
                std::process::abort();
            }
        }
    }

    /// Frees `token`'s batch buffers (its object is gone, its receive ended): the
    /// buffer group is unregistered and its memory given back.
    pub(crate) fn forget_buffers(&mut self, token: u64, stats: &mut Stats) {
        let idx = token as u32 as usize;
        if self.batch_mut(token).is_some_and(|b| !b.in_flight)
            && let Some(b) = self.batches[idx].take()
        {
            b.unregister(self.ring.fd.raw(), stats);
        }
    }

    /// What `token`'s last `recvmsg` wrote beside its bytes, read when its completion is
    /// taken (the descriptors it installed closed then); empty where the object made none.
    /// A plain receive's caller ignores it.
    #[inline]
    pub(crate) fn recv_msg(&mut self, token: u64) -> crate::op::RecvMsg<'_> {
        if self.batch_mut(token).is_some_and(|b| b.unread) {
            // The operation reads them now: the events of its other completions are
            // spent (a batch read armed again from the callback must not take them).
            let ud = token | OP_DONE;
            for e in &mut self.events {
                if e.0 & !OP_MORE == ud {
                    e.0 = SKIP;
                }
            }
            if let Some(Some(b)) = self.batches.get_mut(token as u32 as usize) {
                b.unread = false;
                return crate::op::RecvMsg {
                    batch: Some(&**b),
                    ..crate::op::RecvMsg::default()
                };
            }
        }
        let idx = token as u32 as usize;
        let mut copied = None;
        if let Some(l) = self.landed.get_mut(idx)
            && l.is_some_and(|(t, ..)| t == token)
            && let Some((_, bid, len)) = l.take()
            && let Some(p) = &mut self.pool
        {
            // Read now; back into the ring with the next wait.
            p.returns.push(bid);
            copied = Some((bid, len));
        }
        let copied = match (copied, &self.pool) {
            (Some((bid, len)), Some(p)) => {
                Some(&p.data[usize::from(bid) * POOL_BUF_LEN..][..len as usize])
            }
            _ => None,
        };
        let mut msg = match self.msgs.get_mut(idx) {
            Some(Some(m)) if m.token == token => {
                m.close_installed();
                m.written()
            }
            _ => crate::op::RecvMsg::default(),
        };
        msg.copied = copied;
        msg
    }

    /// Takes `token`'s receive back: its result if it completed (from this turn's events,
    /// the stash or the ring, wherever it is), `None` once it is cancelled. Returns only when
    /// the kernel no longer holds the request, so the buffer may be handed back.
    pub(crate) fn cancel_recv(&mut self, token: u64, stats: &mut Stats) -> Option<i32> {
        let ud = token | OP_DONE;
        let batch = self
            .batch_mut(token)
            .is_some_and(|b| b.in_flight || b.unread);
        if !batch {
            // Still queued on this side: withdrawn, it never reaches the kernel. Otherwise
            // the kernel holds it, and `take_back` finds it wherever it is.
            if self.ring.withdraw(ud) {
                return None;
            }
            return self.take_back(ud, ud, stats);
        }
        // A batch receive's entry may not be submitted yet: the kernel must hold it for its
        // end to cancel it.
        if self.ring.pending() > 0 && self.ring.enter(0, None).is_ok() {
            stats.ctl += 1;
        }
        // Its completions this turn has not dispatched are recorded already, and those a
        // cancel stashed are taken now; then it is ended. Its datagrams (or its socket's
        // error) are its result; nothing but the cancel and it was cancelled.
        for e in &mut self.events {
            if e.0 & !OP_MORE == ud {
                e.0 = SKIP;
            }
        }
        self.end_batch(token, stats);
        let b = self.batch_mut(token)?;
        if b.brought() {
            return Some(b.records.len() as i32);
        }
        b.unread = false;
        None
    }

    /// Queues a send of `len` bytes from `ptr` on `token`'s stream socket, which waits for
    /// room first (`RECVSEND_POLL_FIRST`: a try just found the buffer full). One send, not
    /// `MSG_WAITALL`: a cancel of a send that sent part would report `ECANCELED` and lose
    /// the count, where a send that completes at its first bytes reports them.
    pub(crate) fn send(
        &mut self,
        fd: RawFd,
        token: u64,
        (ptr, len): (*const u8, usize),
        stats: &mut Stats,
    ) -> iox::Result<()> {
        self.ring.push(
            Sqe {
                opcode: OP_SEND,
                ioprio: RECVSEND_POLL_FIRST,
                fd,
                addr: ptr as u64,
                len: u32::try_from(len).unwrap_or(u32::MAX),
                op_flags: libc::MSG_NOSIGNAL as u32,
                user_data: token | SEND,
                ..Sqe::default()
            },
            stats,
        )
    }

    /// Holds a connect of `token`'s unconnected stream socket to the address at `addr` for
    /// the next wait, which queues it just before it enters (the kernel reads the address
    /// then: the caller keeps it until the connect is taken back or completes). Its
    /// completion comes as a send's (the write slot holds one request in the kernel at
    /// most), and a cancel takes it back as one ([`cancel_send`](Poller::cancel_send)).
    pub(crate) fn connect(&mut self, fd: RawFd, token: u64, (addr, len): (*const u8, u32)) {
        self.connects.push(Sqe {
            opcode: OP_CONNECT,
            fd,
            addr: addr as u64,
            // `addr2`: the address's length.
            off: u64::from(len),
            user_data: token | SEND,
            ..Sqe::default()
        });
    }

    /// Takes `token`'s send back: its result if it completed, `None` once it is cancelled
    /// (having sent nothing: a send completes at its first bytes). Returns only when the
    /// kernel no longer holds the request, so the buffer may be handed back.
    pub(crate) fn cancel_send(&mut self, token: u64, stats: &mut Stats) -> Option<i32> {
        // A connect held for the next wait, or a send or connect still queued on this side,
        // never reaches the kernel: dropped or withdrawn, it sent nothing (a dial given up
        // before its turn's wait sends no SYN). Otherwise the kernel holds it.
        if let Some(i) = self
            .connects
            .iter()
            .position(|c| c.user_data == token | SEND)
        {
            self.connects.remove(i);
            return None;
        }
        if self.ring.withdraw(token | SEND) {
            return None;
        }
        self.take_back(token | SEND, token | OP_DONE | OP_SENT, stats)
    }

    /// Takes the request `ud` back from wherever it is (this turn's events, as `event`; the
    /// stash; this side's queue; the kernel, by a synchronous cancel): its result if it
    /// completed, `None` if it was cancelled or never reached the kernel.
    fn take_back(&mut self, ud: u64, event: u64, stats: &mut Stats) -> Option<i32> {
        if let Some(e) = self.events.iter_mut().find(|e| e.0 & !OP_MORE == event) {
            // Reaped this turn and not dispatched yet: the Io skips it now.
            e.0 = SKIP;
            return Some(e.1 as i32);
        }
        if let Some(i) = self.stash.iter().position(|c| c.user_data == ud) {
            let c = self.stash.remove(i)?;
            self.note_landed(&c);
            return Some(c.res);
        }
        if self.ring.withdraw(ud) {
            // Still queued on this side (the kernel refused the submission): it never
            // reached the kernel.
            return None;
        }
        // One round, as a rule: the cancel returns once the request is gone, and the enter
        // runs the deferred work that posts its completion (submitting nothing, so that a
        // full queue the kernel refuses cannot keep it from running). More only if an enter is
        // interrupted (a signal) or the completion is late; never `None` while the kernel
        // may still hold the buffer: the caller hands it back on `None`.
        let start = std::time::Instant::now();
        loop {
            let _ = sync_cancel(self.ring.fd.raw(), ud);
            stats.ctl += 1;
            if self.ring.run_work().is_ok() {
                stats.ctl += 1;
            }
            let (mut head, tail) = self.ring.completions();
            let mut found = None;
            while head != tail {
                let cqe = self.ring.cqe(head);
                head = head.wrapping_add(1);
                if found.is_none() && cqe.user_data == ud {
                    self.note_landed(&cqe);
                    found = Some(cqe.res);
                } else {
                    self.stash.push_back(cqe);
                }
            }
            self.ring.advance(head);
            match found {
                Some(r) if r == -libc::ECANCELED => return None,
                Some(r) => return Some(r),
                None => {}
            }
            if start.elapsed() > CANCEL_LIMIT {
                // The kernel keeps a receive it was told to drop: handing its buffer back
                // could let the kernel write into memory the program reuses. Stop here.
                eprintln!(
                    "sonic-io: io_uring did not give back a cancelled receive or send within {CANCEL_LIMIT:?}; aborting rather than free memory the kernel may still reach"
                );
                std::process::abort();
            }
        }
    }

    /// Takes the result of the `i`th event, a receive's completion, consuming the event.
    #[inline]
    pub(crate) fn take_result(&mut self, i: usize) -> i32 {
        let e = &mut self.events[i];
        e.0 = SKIP;
        e.1 as i32
    }

    /// The watch of a registered token.
    fn watch(&self, token: u64) -> Option<Watch> {
        self.watches
            .get(token as u32 as usize)
            .copied()
            .flatten()
            .filter(|w| w.token == token)
    }

    /// Nothing to read: the uring backend bounds waits without a timer descriptor.
    pub(crate) fn wait_timer_fired(&mut self) {}

    /// The `i`th event of the last wait.
    #[inline]
    pub(crate) fn event(&self, i: usize) -> (u64, Ready) {
        let (token, bits) = self.events[i];
        (token, super::ready_from_poll(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A poll whose submission met a full queue waits in `redo`; the next wait queues it
    /// before it enters, so the wait watches its descriptor. Here an eventfd's watch is
    /// recorded with its poll left in `redo` (as a re-arm the full queue refused leaves
    /// it), the eventfd is made readable, and one bounded wait must report it. Before, the
    /// list was queued after the wait's enter: the wait blocked without the poll and saw
    /// nothing (a review's test saw an accept wait out a 2 s bound).
    #[test]
    #[cfg_attr(
        miri,
        ignore = "io_uring and eventfd are system calls Miri does not run"
    )]
    fn a_poll_waiting_in_redo_goes_with_the_next_wait() {
        let waker = super::super::Waker::new().unwrap();
        let Ok(mut p) = Poller::new(8, 8, &waker) else {
            println!("skipped: io_uring unavailable here");
            return;
        };
        let mut stats = Stats::default();
        let efd = iofd::EventFd::new(0).unwrap();
        let token = 3;
        p.watches.resize(4, None);
        p.watches[3] = Some(Watch {
            token,
            fd: std::os::fd::AsRawFd::as_raw_fd(&efd),
            mask: libc::POLLIN as u32,
            reads_on_demand: false,
            read_armed: false,
        });
        p.redo.push(Redo::Arm(token));
        efd.signal(1).unwrap();
        let now = crate::raw::calls::monotonic_ns();
        let bound = Timeout::At(now + 2_000_000_000);
        let mut seen = false;
        // The eventfd is readable before the wait enters: the wait that submits its poll
        // returns with its event. A few waits, in case one returns on another completion
        // first; a wait that returns nothing has missed it.
        for _ in 0..3 {
            let n = p.wait(bound, now, &mut stats).unwrap();
            if (0..n).any(|i| p.event(i).0 == token) {
                seen = true;
                break;
            }
            if n == 0 {
                break;
            }
        }
        assert!(
            seen,
            "the wait did not watch the descriptor whose poll was in redo"
        );
        assert!(p.redo.is_empty());
    }

    /// A cancel that finds its request running in the kernel's worker thread waits for it
    /// to stop; on a `DEFER_TASKRUN` ring its completion is then queued as deferred work,
    /// which wakes no one (the kernel wakes the submitter for deferred work only inside a
    /// completion wait). A cancel waiting without a bound slept forever: seen once under
    /// CPU load, as a stream's `shut_down` taking back a send that a worker ran. Here an
    /// `openat` of a FIFO nobody writes blocks in a worker, deterministically; taking it
    /// back must return (a watchdog aborts the run after 30 s, as the hang did not).
    #[test]
    #[cfg_attr(miri, ignore = "io_uring and FIFOs are system calls Miri does not run")]
    fn taking_back_a_request_a_worker_runs_returns() {
        let waker = super::super::Waker::new().unwrap();
        let Ok(mut p) = Poller::new(8, 8, &waker) else {
            println!("skipped: io_uring unavailable here");
            return;
        };
        if !p.completes_reads {
            println!("skipped: no synchronous cancel here (Linux 6.0)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("sonic-io-fifo-{}", std::process::id()));
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `path` is a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let mut stats = Stats::default();
        let ud = 7 | SEND;
        let sqe = Sqe {
            opcode: OP_OPENAT,
            // `IOSQE_ASYNC`: issued in a worker, which blocks (issued inline, the open
            // would be non-blocking and succeed at once).
            flags: 1 << 4,
            fd: libc::AT_FDCWD,
            addr: path.as_ptr() as u64,
            op_flags: (libc::O_RDONLY | libc::O_CLOEXEC) as u32,
            user_data: ud,
            ..Sqe::default()
        };
        p.ring.push(sqe, &mut stats).unwrap();
        p.ring.enter(0, None).unwrap();
        // The open waits for a writer inside an `iou-wrk` thread: wait until one sleeps
        // there, so that the cancel meets it running. Where `/proc` does not show the
        // worker's wait channel, the cancel goes on after a bound (it may then meet the
        // request queued, which tests less but must return all the same).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !fifo_open_waits() {
            if std::time::Instant::now() > deadline {
                println!("the worker's wait on the FIFO was not seen in /proc; cancelling anyway");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let (done, watch) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if watch
                .recv_timeout(std::time::Duration::from_secs(30))
                .is_err()
            {
                eprintln!("taking back a request a worker runs did not return in 30 s");
                std::process::abort();
            }
        });
        let r = p.take_back(ud, ud | OP_DONE, &mut stats);
        done.send(()).unwrap();
        // SAFETY: as above.
        unsafe { libc::unlink(path.as_ptr()) };
        // Interrupted by the cancel: cancelled, or the open's own error.
        assert!(
            r.is_none_or(|r| r < 0),
            "the cancelled open of a FIFO nobody writes gave {r:?}"
        );
    }

    /// Whether one of this process's io_uring workers sleeps opening a FIFO.
    fn fifo_open_waits() -> bool {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return false;
        };
        tasks.flatten().any(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let wchan = std::fs::read_to_string(t.path().join("wchan")).unwrap_or_default();
            comm.starts_with("iou-wrk") && wchan.contains("wait_for_partner")
        })
    }

    /// The layouts of the uapi header (`io_uring_params` 120 bytes, SQE 64, CQE 16,
    /// `io_uring_getevents_arg` 24).
    #[test]
    fn abi_sizes() {
        assert_eq!(size_of::<Params>(), 120);
        assert_eq!(size_of::<Sqe>(), 64);
        assert_eq!(size_of::<Cqe>(), 16);
        assert_eq!(size_of::<GetEventsArg>(), 24);
        assert_eq!(size_of::<SyncCancelReg>(), 64);
        assert_eq!(std::mem::offset_of!(Sqe, user_data), 32);
        assert_eq!(std::mem::offset_of!(Sqe, addr3), 48);
    }
}
