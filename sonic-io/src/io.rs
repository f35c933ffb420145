//! The reactor: [`Io`], its builder, the objects it owns and its drive calls.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iox::{Error, Result};

use crate::backend::{Backend, BackendUsed, BusyPoll};
use crate::buf::{Blocks, BytesId, Region};
use crate::heap::Timers;
use crate::object::{Class, Object, Owned};
use crate::op::{Attempt, Dir, IoId, Key, OpLogic, OpSlot};
use crate::post::Shared;
use crate::raw::payload::{Finishing, OnceVt, OpPayload, Payload, complete_in_slot, place};
use crate::ready::Ready;
use crate::slab::Slab;
use crate::stats::Stats;
use crate::sys::{
    OP_DONE, OP_MORE, OP_SENT, Poller, RecvKind, SKIP, Timeout, WAIT_TIMER, WAKER, Waker,
};

/// Completions that may run inline, nested in the code that produced them, before further
/// ones are deferred to the next turn of the loop.
pub const MAX_DEPTH: u8 = 32;

const IN_CALLBACK: Error = Error::invalid_input("drive call from inside a callback");

/// Why `Backend::Auto` with busy polling runs on the readiness backend.
const AUTO_BUSY_POLL: Error = Error::unsupported(
    "busy polling is set on an epoll instance, so Backend::Auto with busy_poll takes epoll",
);

/// A completion deferred by the depth limit: the operation with its result.
#[derive(Debug)]
struct Completion {
    key: Key,
    dir: Dir,
    op: OpPayload<Io>,
}

enum Clock {
    /// The monotonic clock's reading when the Io was built, in nanoseconds.
    Real(u64),
    Custom {
        clock: Box<dyn iox::Clock>,
        epoch: Instant,
    },
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Clock::Real(_) => "Clock::Real",
            Clock::Custom { .. } => "Clock::Custom",
        })
    }
}

/// Capacities and options for an [`Io`]. Every capacity is reserved up front, so a warmed-up
/// Io whose counts stay within them never allocates.
///
/// ```
/// let io = sonic_io::Io::builder().objects(1024).timers(64).events(128).build().unwrap();
/// assert_eq!(io.pending(), 0);
/// ```
pub struct IoBuilder {
    objects: usize,
    timers: usize,
    events: usize,
    ready: usize,
    posts: usize,
    blocks: usize,
    clock: Option<Box<dyn iox::Clock>>,
    busy_poll: Option<BusyPoll>,
    backend: Result<Backend>,
}

impl std::fmt::Debug for IoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoBuilder")
            .field("objects", &self.objects)
            .field("timers", &self.timers)
            .field("events", &self.events)
            .field("ready", &self.ready)
            .field("posts", &self.posts)
            .field("blocks", &self.blocks)
            .field("custom_clock", &self.clock.is_some())
            .field("busy_poll", &self.busy_poll)
            .field("backend", &self.backend)
            .finish()
    }
}

impl Default for IoBuilder {
    fn default() -> IoBuilder {
        IoBuilder {
            objects: 64,
            timers: 64,
            events: 256,
            ready: 64,
            posts: 64,
            blocks: 8,
            clock: None,
            busy_poll: None,
            backend: Backend::from_env(),
        }
    }
}

impl IoBuilder {
    /// Sockets, files and adapters held at once without growing (default 64).
    pub fn objects(mut self, n: usize) -> IoBuilder {
        self.objects = n;
        self
    }
    /// Timers held at once without growing (default 64).
    pub fn timers(mut self, n: usize) -> IoBuilder {
        self.timers = n;
        self
    }
    /// Events taken from the kernel per wait (default 256); more wait for the next turn.
    pub fn events(mut self, n: usize) -> IoBuilder {
        self.events = n.max(1);
        self
    }
    /// Completions deferred by the depth limit held without growing (default 64).
    pub fn ready(mut self, n: usize) -> IoBuilder {
        self.ready = n;
        self
    }
    /// Posted closures held per turn without growing (default 64).
    pub fn posts(mut self, n: usize) -> IoBuilder {
        self.posts = n;
        self
    }
    /// Io-owned byte blocks ([`Io::add_bytes`]) held without growing (default 8).
    pub fn blocks(mut self, n: usize) -> IoBuilder {
        self.blocks = n;
        self
    }
    /// Reads time from `clock` instead of `CLOCK_MONOTONIC` (tests: a manual clock). Waits
    /// still sleep in real time, for the clock's remaining time to the next deadline.
    pub fn clock(mut self, clock: Box<dyn iox::Clock>) -> IoBuilder {
        self.clock = Some(clock);
        self
    }

    /// Busy-polls in the Io's waits ([`BusyPoll`]). [`build`](Self::build) fails with
    /// `Unsupported` where the kernel lacks it (Linux before 6.9, macOS, FreeBSD), with
    /// `PermissionDenied` for a budget above 64 without `CAP_NET_ADMIN`, and with
    /// `InvalidInput` for `usecs` above `i32::MAX`: never silently ignored.
    pub fn busy_poll(mut self, params: BusyPoll) -> IoBuilder {
        self.busy_poll = Some(params);
        self
    }

    /// The kernel interface the Io waits with ([`Backend`]). The default is what the
    /// environment variable [`BACKEND_ENV`](crate::BACKEND_ENV) names, else the platform's
    /// readiness backend (epoll on Linux). [`build`](Self::build) fails if the backend asked
    /// for is not available (`Backend::Uring` where io_uring is refused, say), except
    /// `Backend::Auto`, which falls back and says why in [`Io::backend`].
    pub fn backend(mut self, backend: Backend) -> IoBuilder {
        self.backend = Ok(backend);
        self
    }

    /// Creates the poller, the wait timer and the posters' waker (and sets busy polling).
    pub fn build(self) -> Result<Io> {
        let id = IoId::next();
        let mut want = self.backend?;
        // Busy polling is set on an epoll instance: `Auto` takes the backend that has it,
        // so that asking for it behaves the same wherever io_uring is available or not.
        let busy_auto = want == Backend::Auto && self.busy_poll.is_some();
        if busy_auto {
            want = Backend::readiness();
        }
        let shared = Arc::new(Shared::with_waker(self.posts, Waker::new()?));
        let (poller, mut backend) = Poller::new(want, self.events, self.objects, shared.waker())?;
        if busy_auto {
            backend.fallback = Some(AUTO_BUSY_POLL);
        }
        if let Some(bp) = self.busy_poll {
            poller.set_busy_poll(bp)?;
        }
        let clock = match self.clock {
            None => Clock::Real(crate::raw::calls::monotonic_ns()),
            Some(c) => {
                let epoch = c.now();
                Clock::Custom { clock: c, epoch }
            }
        };
        Ok(Io {
            id,
            objects: Slab::with_capacity(self.objects, id),
            pub_blocks: Blocks::with_capacity(self.blocks, id),
            timers: Timers::with_capacity(self.timers, id),
            ready: VecDeque::with_capacity(self.ready),
            later: VecDeque::new(),
            local_posts: Vec::with_capacity(self.posts),
            local_running: Vec::with_capacity(self.posts),
            posts_running: Vec::with_capacity(self.posts),
            ev_next: 0,
            ev_count: 0,
            poller,
            backend,
            shared,
            clock,
            stats: Stats::default(),
            armed: 0,
            depth: 0,
            in_drive: false,
            closed: false,
            _not_send: std::marker::PhantomData,
        })
    }
}

/// One thread's reactor: it owns sockets, files, timers and buffers, and drives them with
/// completion callbacks.
///
/// An operation is submitted on a handle (`stream.async_read(&mut io, buf, cb)`): the Io
/// tries the syscall at once and, when it can complete, runs the callback before returning
/// (up to [`MAX_DEPTH`] nested completions); otherwise it waits for readiness with no
/// further syscall and completes from a drive call ([`run`](Io::run),
/// [`run_one`](Io::run_one), [`poll_one`](Io::poll_one), ...). Callbacks receive
/// `&mut Io`, so they can start the next operation, close objects or schedule timers.
///
/// `Io` is `!Send`: it lives on the thread that created it. Other threads reach it through a
/// [`Poster`](crate::Poster).
///
/// ```
/// use sonic_io::{Io, Timer};
/// use std::time::Duration;
///
/// let mut io = Io::new().unwrap();
/// let t = Timer::new(&mut io).unwrap();
/// t.schedule_once(&mut io, Duration::from_millis(1), |io, _t| io.close().unwrap()).unwrap();
/// io.run().unwrap();
/// assert!(io.closed());
/// ```
#[derive(Debug)]
pub struct Io {
    id: IoId,
    pub(crate) objects: Slab<Object<Io>>,
    pub(crate) pub_blocks: Blocks,
    pub(crate) timers: Timers<Io>,
    ready: VecDeque<Completion>,
    /// Reads into regions submitted at the depth limit: armed in their slots, attempted at
    /// the start of the next turn ([`Io::submit`]).
    later: VecDeque<(Key, Dir)>,
    local_posts: Vec<Payload<OnceVt<Io, ()>>>,
    /// Local posts being run, in reverse order (the next is last): a panic in one leaves
    /// the rest here, and the next turn runs them first.
    local_running: Vec<Payload<OnceVt<Io, ()>>>,
    /// Posts from other threads being run, in reverse order, kept the same way.
    posts_running: Vec<crate::raw::payload::Posted<Io>>,
    /// The events of the last wait not yet dispatched: `ev_next..ev_count`. A panic in a
    /// callback leaves the rest here, and the next turn dispatches them before it waits.
    ev_next: usize,
    ev_count: usize,
    pub(crate) poller: Poller,
    backend: BackendUsed,
    pub(crate) shared: Arc<Shared<Io, Waker>>,
    clock: Clock,
    pub(crate) stats: Stats,
    armed: usize,
    depth: u8,
    in_drive: bool,
    closed: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Io {
    /// An Io with the default capacities ([`IoBuilder`]).
    pub fn new() -> Result<Io> {
        IoBuilder::default().build()
    }

    /// A builder for capacities and the clock.
    pub fn builder() -> IoBuilder {
        IoBuilder::default()
    }

    /// Nanoseconds since the Io was created, on its clock.
    #[inline]
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now_ns())
    }

    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        match &self.clock {
            Clock::Real(epoch) => crate::raw::calls::monotonic_ns().saturating_sub(*epoch),
            Clock::Custom { clock, epoch } => {
                let d = clock.now().saturating_duration_since(*epoch);
                d.as_nanos().min(u128::from(u64::MAX / 2)) as u64
            }
        }
    }

    /// The busy-poll parameters of the Io's waits, as the kernel reports them
    /// (`EPIOCGPARAMS`; all zero unless [`IoBuilder::busy_poll`] set them). `Unsupported`
    /// where the kernel lacks the ioctl.
    pub fn busy_poll(&self) -> Result<BusyPoll> {
        self.poller.busy_poll()
    }

    /// The backend this Io waits with and, if [`Backend::Auto`] fell back from io_uring,
    /// why ([`BackendUsed::fallback`]).
    ///
    /// ```
    /// let io = sonic_io::Io::builder().backend(sonic_io::Backend::Epoll).build().unwrap();
    /// assert_eq!(io.backend().backend(), sonic_io::Backend::Epoll);
    /// assert!(io.backend().fallback().is_none());
    /// ```
    pub fn backend(&self) -> BackendUsed {
        self.backend
    }

    /// What the Io has done so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Zeroes the counters.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Armed operations, deferred completions, scheduled timers and posts not yet run.
    pub fn pending(&self) -> usize {
        self.armed + self.ready.len() + self.timers.scheduled_count() + self.posted()
    }

    /// Posts not yet run, from this thread and from posters.
    pub fn posted(&self) -> usize {
        self.local_posts.len()
            + self.local_running.len()
            + self.posts_running.len()
            + self.shared.len()
    }

    /// `true` after [`close`](Io::close).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Objects (sockets, files, adapters) the Io holds.
    pub fn objects(&self) -> usize {
        self.objects.len()
    }

    /// Queues `f` to run on this Io's next turn (from this thread; other threads use a
    /// [`Poster`](crate::Poster)). Never runs `f` inline.
    pub fn post<F: FnOnce(&mut Io) + 'static>(&mut self, f: F) -> Result<()> {
        if self.closed {
            return Err(Error::CLOSED);
        }
        self.local_posts
            .push(Payload::new(move |io: &mut Io, (): ()| f(io)));
        Ok(())
    }

    /// A handle other threads use to run closures on this Io.
    pub fn poster(&self) -> crate::Poster {
        crate::Poster::new(self.shared.clone())
    }

    // -----------------------------------------------------------------------------------
    // Io-owned byte blocks (`buf.rs`)

    /// Gives the Io a block of bytes that operations can target by [`Region`]. Blocks are
    /// limited to 4 GiB.
    pub fn add_bytes(&mut self, bytes: impl Into<Box<[u8]>>) -> Result<BytesId> {
        self.pub_blocks.add(bytes.into())
    }

    /// Names `range` of block `id`.
    #[inline]
    pub fn region(&self, id: BytesId, range: std::ops::Range<usize>) -> Result<Region> {
        self.pub_blocks.region(id, range)
    }

    /// The bytes of `r`; refused while an armed operation targets an overlapping range.
    pub fn bytes(&self, r: Region) -> Result<&[u8]> {
        self.pub_blocks.bytes(r)
    }

    /// The bytes of `r`, writable; refused while an armed operation targets an overlapping
    /// range.
    pub fn bytes_mut(&mut self, r: Region) -> Result<&mut [u8]> {
        self.pub_blocks.bytes_mut(r)
    }

    /// Takes block `id` back; refused while any armed operation targets it.
    pub fn remove_bytes(&mut self, id: BytesId) -> Result<Box<[u8]>> {
        self.pub_blocks.remove(id)
    }

    // -----------------------------------------------------------------------------------
    // Objects

    /// Stores an object and, unless it is a regular file, registers it with the poller
    /// (one registration for its lifetime).
    pub(crate) fn insert(&mut self, owned: Owned, class: Class) -> Result<Key> {
        if self.closed {
            return Err(Error::CLOSED);
        }
        let fd = owned.raw_fd();
        let register = class != Class::File;
        if !register {
            // A File is never registered: only a descriptor that is always ready may be one.
            crate::object::check_always_ready(fd)?;
        }
        let key = self.objects.next_key();
        // Watched for writes from the start: all but datagram sockets (each datagram sent
        // raises a write-space edge) and, where sends wait for room in the ring, streams (an
        // edge beside each send's completion would wake the wait twice per send). Those are
        // watched only while a write waits for readiness ([`Io::watch_writes`]).
        let writes = class != Class::Datagram && !unwatches(class, self.poller.completes_reads());
        if register {
            let ring_reads = ring_readable(class);
            self.poller
                .register(fd, key.token(), writes, ring_reads, &mut self.stats)?;
        }
        let mut obj = Object::new(fd, owned, class, register);
        obj.write_watch = writes;
        let k = self.objects.insert(obj);
        debug_assert_eq!(k, key);
        Ok(key)
    }

    #[inline]
    pub(crate) fn object(&self, key: Key) -> Result<&Object<Io>> {
        self.objects.lookup(key)
    }

    #[inline]
    pub(crate) fn object_mut(&mut self, key: Key) -> Result<&mut Object<Io>> {
        self.objects.lookup_mut(key)
    }

    /// Removes an object: its armed operations complete with `Cancelled`, it is
    /// deregistered if `keep` (the caller takes the descriptor back), and returned.
    /// Both operations complete even if the first one's callback panics; the panic then
    /// goes on unwinding.
    pub(crate) fn remove_object(&mut self, key: Key, keep: bool) -> Result<Owned> {
        let e = self.objects.missing(key);
        let mut obj = self.objects.remove(key).ok_or(e)?;
        let ops = [
            (Dir::Read, std::mem::take(&mut obj.read)),
            (Dir::Write, std::mem::take(&mut obj.write)),
        ];
        // The operations come back first: a receive or send still queued on this side is
        // withdrawn before the poll's end below enters the ring, which would otherwise
        // submit it only for a synchronous cancel to take it back.
        let (ops, _) = self.settle_taken(key, ops);
        let mut result = Ok(());
        if keep && obj.registered {
            // A descriptor handed back must leave the interest list now.
            result = self.poller.deregister(obj.fd, key.token(), &mut self.stats);
        } else if obj.registered {
            // Closing the descriptor removes it from epoll by itself; an io_uring poll
            // would keep it open.
            result = self.poller.forget(obj.fd, key.token(), &mut self.stats);
        }
        let owned = obj.into_owned();
        self.deliver_cancelled(key, ops);
        // A socket that read batches in the ring leaves its buffers behind otherwise.
        self.poller.forget_buffers(key.token(), &mut self.stats);
        result.map(|()| owned)
    }

    /// Completes the armed operations of the chosen directions with `Cancelled`, both even
    /// if the first one's callback panics.
    pub(crate) fn cancel_ops(&mut self, key: Key, read: bool, write: bool) -> Result<usize> {
        let o = self.object_mut(key)?;
        let mut take = |dir: Dir, on: bool| {
            let slot = o.slot_mut(dir);
            if on && matches!(slot, OpSlot::Armed(_) | OpSlot::InFlight(_)) {
                (dir, std::mem::take(slot))
            } else {
                (dir, OpSlot::Idle)
            }
        };
        let ops = [take(Dir::Read, read), take(Dir::Write, write)];
        if !matches!(ops[1].1, OpSlot::Idle) {
            // A write parked on readiness asked for write-space edges: stop them, or every
            // later send would wake the wait a second time.
            self.unwatch_writes(key, Dir::Write);
        }
        Ok(self.cancel_taken(key, ops))
    }

    /// Completes operations already taken out of their object with `Cancelled`; how many
    /// (an operation whose receive or send completed in the kernel first gets its real
    /// result and is not counted).
    fn cancel_taken(&mut self, key: Key, ops: [(Dir, OpSlot<Io>); 2]) -> usize {
        let (ops, n) = self.settle_taken(key, ops);
        self.deliver_cancelled(key, ops);
        n
    }

    /// The first half of [`cancel_taken`](Io::cancel_taken): the operations' count leaves
    /// `armed`, and receives and sends in the kernel's hands come back (before any callback,
    /// and before the caller closes the descriptor), each keeping the real result it got
    /// if it completed. Returns them and how many will report `Cancelled`.
    fn settle_taken(&mut self, key: Key, ops: [(Dir, OpSlot<Io>); 2]) -> (Settled, usize) {
        let taken = ops
            .iter()
            .filter(|(_, s)| matches!(s, OpSlot::Armed(_) | OpSlot::InFlight(_)))
            .count();
        self.armed -= taken;
        let ops = ops.map(|(dir, slot)| (dir, self.settle(key, dir, slot)));
        let n = ops
            .iter()
            .filter(|(_, f)| f.as_ref().is_some_and(|f| !f.kept()))
            .count();
        (ops, n)
    }

    /// The second half: delivers settled operations, `Cancelled` unless they kept a result.
    /// Nothing of the Io is touched between callbacks but the delivery itself: a callback
    /// may replace `*io`, and the next operation still completes once. The first panic goes
    /// on unwinding after the rest completed.
    fn deliver_cancelled(&mut self, key: Key, ops: Settled) {
        let mut panic = None;
        for (dir, slot) in ops {
            if let Some(mut f) = slot {
                f.fail(Error::CANCELLED);
                first_panic(&mut panic, self.try_deliver(key, dir, &mut f));
            }
        }
        if let Some(panic) = panic {
            resume_unwind(panic);
        }
    }

    /// An operation taken out of its object to be cancelled, ready to deliver: a receive or
    /// send in the kernel's hands is taken back first (`Poller::cancel_recv` and
    /// `cancel_send` return once the kernel lets go of its buffer), and keeps the result it
    /// got if it completed meanwhile (the cancel then changes nothing: `fail` does not
    /// overwrite a result); a send that sent part of a write of all counts it, and the
    /// write reports `Cancelled` after those bytes. `None` for an empty slot.
    fn settle(&mut self, key: Key, dir: Dir, slot: OpSlot<Io>) -> Option<Finishing<Io>> {
        match slot {
            OpSlot::Armed(p) => Some(Finishing::new(p)),
            OpSlot::InFlight(p) if dir == Dir::Write => {
                let mut f = Finishing::new(p);
                let res = self.poller.cancel_send(key.token(), &mut self.stats);
                if let Some(o) = self.objects.get_mut(key) {
                    // A dial's connect that completed as it was taken back (a timeout's):
                    // the stream goes to the program, its pre-connect readiness void.
                    o.void_connect_readiness();
                }
                if let Some(res) = res
                    && f.sent(res)
                {
                    f.keep_result();
                }
                Some(f)
            }
            OpSlot::InFlight(p) => {
                let mut f = Finishing::new(p);
                if let Some(res) = self.poller.cancel_recv(key.token(), &mut self.stats)
                    && f.received(
                        res,
                        &self.poller.recv_msg(key.token()),
                        &mut self.pub_blocks,
                    )
                {
                    f.keep_result();
                }
                Some(f)
            }
            OpSlot::Idle | OpSlot::Queued => None,
        }
    }

    /// The program shut `key` down in the directions `read` and `write`: the operations
    /// parked there try their syscall now, and learn the end (a read's end of stream, a
    /// write's `EPIPE`). The kernel may raise no edge for a shutdown of the program's own: a
    /// Unix stream's `SHUT_WR` with its send buffer full wakes the socket but reports it
    /// neither writable nor hung up, and TCP's `SHUT_RD` wakes nothing, so a parked
    /// operation would wait for the peer (`tests/streams.rs`,
    /// `our_own_shutdown_ends_the_operations_parked_in_its_direction`). A receive in the
    /// kernel's hands is taken back first, its result kept if it has one. Returns the
    /// callbacks run.
    pub(crate) fn shut_down(&mut self, key: Key, read: bool, write: bool) -> usize {
        let mut n = 0;
        if read {
            let in_flight = self
                .objects
                .get(key)
                .is_some_and(|o| matches!(o.read, OpSlot::InFlight(_)));
            if in_flight {
                match self.poller.cancel_recv(key.token(), &mut self.stats) {
                    // The receive completed as it was taken back: that is its result.
                    Some(res) => n += self.on_done(key, res, false),
                    None => {
                        if let Some(o) = self.objects.get_mut(key)
                            && let OpSlot::InFlight(p) = std::mem::take(&mut o.read)
                        {
                            o.read = OpSlot::Armed(p);
                        }
                    }
                }
            }
            if let Some(o) = self.objects.get_mut(key) {
                o.ready |= Ready::UNSURE;
            }
            n += self.retry(key, Dir::Read);
        }
        if write {
            let in_flight = self
                .objects
                .get(key)
                .is_some_and(|o| matches!(o.write, OpSlot::InFlight(_)));
            if in_flight {
                // A send in the kernel may wait for room that never comes (a Unix stream shut
                // down with its buffer full reports no room): taken back, and the write
                // tries its syscall below, which meets the end.
                let res = self.poller.cancel_send(key.token(), &mut self.stats);
                let Some(o) = self.objects.get_mut(key) else {
                    return n;
                };
                let OpSlot::InFlight(p) = &mut o.write else {
                    return n;
                };
                if res.is_some_and(|r| p.sent(r)) {
                    return n + self.finish_in_flight(key, Dir::Write);
                }
                if let OpSlot::InFlight(p) = std::mem::take(&mut o.write) {
                    o.write = OpSlot::Armed(p);
                }
            }
            if let Some(o) = self.objects.get_mut(key) {
                o.ready |= Ready::WRITABLE;
            }
            n += self.retry(key, Dir::Write);
        }
        n
    }

    /// Completes the armed operation of `dir`, if any, with `e`; 1 if there was one.
    pub(crate) fn fail_armed(&mut self, key: Key, dir: Dir, e: Error) -> usize {
        let Some(o) = self.objects.get_mut(key) else {
            return 0;
        };
        let slot = o.slot_mut(dir);
        if !matches!(slot, OpSlot::Armed(_) | OpSlot::InFlight(_)) {
            return 0;
        }
        let slot = std::mem::take(slot);
        self.armed -= 1;
        // A connect in the kernel's hands is taken back first; if it completed meanwhile,
        // its result stands.
        let Some(mut f) = self.settle(key, dir, slot) else {
            unreachable!("matched as armed or in flight above")
        };
        f.fail(e);
        self.deliver(key, dir, &mut f);
        1
    }

    // -----------------------------------------------------------------------------------
    // Operations

    /// Submits `op` on `key`'s `dir`: tries it at once, completes it (inline or deferred) or
    /// arms it for readiness. A refused submission returns the buffer; the callback is
    /// dropped unrun.
    pub(crate) fn submit<T: OpLogic<Io>>(
        &mut self,
        key: Key,
        dir: Dir,
        mut op: T,
    ) -> std::result::Result<(), crate::Rejected<T::Buf>> {
        let refuse = |op: T, error: Error| {
            Err(crate::Rejected {
                error,
                buf: op.into_buf(),
            })
        };
        if self.closed {
            return refuse(op, Error::CLOSED);
        }
        let Io {
            objects,
            pub_blocks,
            stats,
            poller,
            ..
        } = self;
        let o = match objects.get_mut(key) {
            None => {
                let e = objects.missing(key);
                return refuse(op, e);
            }
            Some(o) if !matches!(o.slot(dir), OpSlot::Idle) => {
                return refuse(
                    op,
                    Error::invalid_input("an operation is already pending in that direction"),
                );
            }
            Some(o) => o,
        };
        if let Err(e) = op.acquire(pub_blocks) {
            return refuse(op, e);
        }
        let (obj, slot) = o.parts(dir);
        // A stream read on a backend that completes reads, with nothing known to be there
        // (no readiness edge since the last receive, no end, no read-ahead bytes), goes to
        // the kernel at once instead of trying a syscall that would find nothing.
        if dir == Dir::Read
            && ring_readable(obj.class)
            && poller.completes_reads()
            && !obj.ready.intersects(Ready::READABLE | Ready::READ_ENDED)
            && !obj.holds_ahead()
            && let Some((buf, kind)) = ring_recv(poller, stats, key.token(), obj.class, &mut op)
        {
            let target = (obj.fd, key.token(), buf, kind);
            return match park_in_ring(poller, stats, slot, target, op) {
                Ok(()) => {
                    self.armed += 1;
                    Ok(())
                }
                Err((op, e)) => refuse(op, e),
            };
        }
        // A dial on a backend that connects in the kernel (the only one whose dials leave
        // the connect to the Io): its connect goes to the kernel with the next wait (held
        // by the poller until then, so a dial given up before it sends nothing), and its
        // completion is the dial's result (no `connect`, no readiness edge, no `SO_ERROR`).
        if dir == Dir::Write
            && let Some(addr) = op.connect_target()
        {
            if let Err(e) = poller.connect(obj.fd, key.token(), addr) {
                return refuse(op, e);
            }
            obj.connecting = true;
            place(slot, op, true);
            self.armed += 1;
            return Ok(());
        }
        if self.depth >= MAX_DEPTH && op.fills_shared() {
            // A read into a region at the depth limit is not attempted now: its callback
            // would wait in the ready queue while its bytes sat in a region other reads may
            // fill (several reads may target one, and the program moves them on from their
            // callbacks), and they would overwrite the bytes before the callback saw them.
            // It stays armed (so it can still be redirected) and is attempted at the start
            // of the next turn, where its callback runs as soon as it completes.
            place(slot, op, false);
            self.armed += 1;
            self.later.push_back((key, dir));
            return Ok(());
        }
        let mut cx = Attempt {
            obj,
            blocks: pub_blocks,
            stats,
            enobufs: false,
        };
        // A panic in user code inside the attempt (a FIFO, a decoder, an adapter) gives
        // back what `acquire` claimed before it unwinds on.
        let attempted = catch_unwind(AssertUnwindSafe(|| op.attempt(&mut cx)));
        let enobufs = cx.enobufs;
        match attempted {
            Ok(true) => {
                self.stats.immediate += 1;
                if self.depth < MAX_DEPTH {
                    self.run_callback(move |io| op.complete(io));
                } else {
                    self.defer(key, dir, erase(op));
                }
            }
            Ok(false) => {
                // A stream read on a backend that completes reads parks in the kernel: its
                // receive, into its own buffer, is submitted with the next wait, and its
                // completion is the read's result (no readiness edge, no second attempt).
                if dir == Dir::Read
                    && ring_readable(cx.obj.class)
                    && poller.completes_reads()
                    && let Some((buf, kind)) =
                        ring_recv(poller, cx.stats, key.token(), cx.obj.class, &mut op)
                {
                    let target = (cx.obj.fd, key.token(), buf, kind);
                    return match park_in_ring(poller, cx.stats, slot, target, op) {
                        Ok(()) => {
                            self.armed += 1;
                            Ok(())
                        }
                        Err((op, e)) => refuse(op, e),
                    };
                }
                // A stream write that found the socket's buffer full, on a backend that
                // completes sends, hands its rest to a send in the kernel, made when room
                // comes: no readiness edge and no second attempt. Where the ring takes no
                // entry, it waits for readiness as on epoll.
                if dir == Dir::Write
                    && cx.obj.class == Class::Stream
                    && poller.completes_reads()
                    && let Some(src) = op.send_target(cx.blocks)
                    && poller.send(cx.obj.fd, key.token(), src, cx.stats).is_ok()
                {
                    place(slot, op, true);
                    self.armed += 1;
                    return Ok(());
                }
                let watch = needs_watch(cx.obj, dir, poller.completes_reads());
                place(slot, op, false);
                self.armed += 1;
                if enobufs || watch {
                    self.parked(key, dir, enobufs);
                }
            }
            Err(panic) => {
                op.abandon(&mut self.pub_blocks);
                resume_unwind(panic);
            }
        }
        Ok(())
    }

    /// An attempt found its object not ready: watch what it waits for. A datagram send
    /// that met `ENOBUFS` (a full device queue, which raises no edge) retries on a timer.
    #[inline]
    fn parked(&mut self, key: Key, dir: Dir, enobufs: bool) {
        if enobufs {
            let at = self.now_ns() + crate::op::ENOBUFS_RETRY_NS;
            self.timers.schedule_retry(at, key, Dir::Write);
        }
        match dir {
            Dir::Write => self.watch_writes(key, dir),
            Dir::Read => self.watch_read(key),
        }
    }

    /// A socket's read parked for readiness on a backend whose reads complete in the ring:
    /// that backend polls such a socket for reading only on demand (`sys::uring`), once
    /// per wait for readiness; the poll is queued for the next wait, no syscall.
    fn watch_read(&mut self, key: Key) {
        if let Err(e) = self.poller.watch_read(key.token(), &mut self.stats) {
            // The ring took no poll: the read learns it now rather than wait forever.
            self.fail_armed(key, Dir::Read, e);
        }
    }

    /// A send on a datagram socket parked for room (`WouldBlock`): from now on the poller
    /// must report writability for it. One `epoll_ctl`, and one more to stop when the send
    /// completes ([`unwatch_writes`](Io::unwatch_writes)). A send parked on `ENOBUFS` keeps
    /// the writable mark and waits for its retry timer instead.
    fn watch_writes(&mut self, key: Key, dir: Dir) {
        if dir != Dir::Write {
            return;
        }
        let Some(o) = self.objects.get_mut(key) else {
            return;
        };
        if o.write_watch || !o.registered || o.may_try(Dir::Write) {
            return;
        }
        let fd = o.fd;
        match self
            .poller
            .watch_writes(fd, key.token(), true, &mut self.stats)
        {
            Ok(()) => o.write_watch = true,
            // The descriptor cannot be watched (it was closed behind the Io's back, say):
            // the send learns it from its next attempt.
            Err(e) => {
                o.ready |= Ready::WRITABLE;
                self.fail_armed(key, dir, e);
            }
        }
    }

    /// The parked datagram send (or, where sends wait in the ring, stream write) completed:
    /// stop the write-space edges every later send would raise.
    fn unwatch_writes(&mut self, key: Key, dir: Dir) {
        if dir != Dir::Write {
            return;
        }
        let ring = self.poller.completes_reads();
        let Some(o) = self.objects.get_mut(key) else {
            return;
        };
        if !o.write_watch || !unwatches(o.class, ring) {
            return;
        }
        let fd = o.fd;
        if self
            .poller
            .watch_writes(fd, key.token(), false, &mut self.stats)
            .is_ok()
        {
            o.write_watch = false;
        }
    }

    /// Delivers a completed operation under the depth rule.
    #[inline]
    fn deliver(&mut self, key: Key, dir: Dir, op: &mut Finishing<Io>) {
        if let Some(panic) = self.try_deliver(key, dir, op) {
            resume_unwind(panic);
        }
    }

    /// [`deliver`](Io::deliver), handing a panic of the callback back instead of
    /// unwinding.
    #[inline]
    fn try_deliver(&mut self, key: Key, dir: Dir, op: &mut Finishing<Io>) -> Option<Panic> {
        if self.depth < MAX_DEPTH {
            self.try_callback(|io| op.complete(io))
        } else {
            if let Some(p) = op.take_payload() {
                self.defer(key, dir, p);
            }
            None
        }
    }

    fn defer(&mut self, key: Key, dir: Dir, op: OpPayload<Io>) {
        self.stats.deferred += 1;
        if let Some(o) = self.objects.get_mut(key) {
            *o.slot_mut(dir) = OpSlot::Queued;
        }
        self.ready.push_back(Completion { key, dir, op });
    }

    /// Runs user code one level deeper; the depth is restored even if it panics.
    #[inline]
    pub(crate) fn run_callback(&mut self, f: impl FnOnce(&mut Io)) {
        if let Some(panic) = self.try_callback(f) {
            resume_unwind(panic);
        }
    }

    /// Runs user code one level deeper and returns its panic, if any, for the caller to
    /// resume once its own state is whole. The depth is saved and restored, not counted
    /// down: a callback may replace `*io` with another Io, whose depth must not underflow.
    #[inline]
    pub(crate) fn try_callback(&mut self, f: impl FnOnce(&mut Io)) -> Option<Panic> {
        let depth = self.depth;
        self.depth = depth + 1;
        let r = catch_unwind(AssertUnwindSafe(|| f(self)));
        self.depth = depth;
        r.err()
    }

    /// A read put off at the depth limit ([`Io::submit`]): attempted now if it is still
    /// armed (not cancelled, closed, or completed since).
    fn retry_later(&mut self, key: Key, dir: Dir) -> usize {
        let armed = self
            .objects
            .get(key)
            .is_some_and(|o| matches!(o.slot(dir), OpSlot::Armed(_)));
        if !armed {
            return 0;
        }
        // Not ready: `retry` parks it as any read that finds nothing.
        self.retry(key, dir)
    }

    /// Retries the armed operation of `dir` after readiness, where it lies in its slot;
    /// returns 1 if it completed. Only a completed operation is moved out (to run its
    /// callback, which may arm the slot again).
    fn retry(&mut self, key: Key, dir: Dir) -> usize {
        let Io {
            objects,
            pub_blocks,
            stats,
            poller,
            ..
        } = self;
        let Some(o) = objects.get_mut(key) else {
            return 0;
        };
        let (obj, slot) = o.parts(dir);
        let OpSlot::Armed(p) = slot else {
            return 0;
        };
        let ring_reads = poller.completes_reads();
        let mut cx = Attempt {
            obj,
            blocks: pub_blocks,
            stats,
            enobufs: false,
        };
        let attempted = catch_unwind(AssertUnwindSafe(|| p.attempt(&mut cx)));
        let enobufs = cx.enobufs;
        if let Ok(false) = attempted {
            if enobufs || needs_watch(cx.obj, dir, ring_reads) {
                self.parked(key, dir, enobufs);
            }
            return 0;
        }
        let unwatch =
            dir == Dir::Write && cx.obj.write_watch && unwatches(cx.obj.class, ring_reads);
        if attempted.is_ok() && !unwatch && self.depth < MAX_DEPTH {
            // The common case: the callback runs with the operation read out of its slot
            // where it lies.
            self.armed -= 1;
            self.stats.scheduled += 1;
            self.run_callback(|io| complete_in_slot(io, |io| io.slot_of(key, dir)));
            return 1;
        }
        let Some(mut f) = Finishing::take(slot) else {
            unreachable!("matched as armed above")
        };
        self.armed -= 1;
        if unwatch {
            self.unwatch_writes(key, dir);
        }
        match attempted {
            Ok(_) => {
                self.stats.scheduled += 1;
                self.deliver(key, dir, &mut f);
                1
            }
            // User code inside the attempt panicked: the operation is gone (its callback
            // never runs), and so are its count and the region it claimed.
            Err(panic) => {
                f.abandon(&mut self.pub_blocks);
                resume_unwind(panic);
            }
        }
    }

    /// The operation record of `key`'s `dir`, if `key` names an object.
    #[inline]
    fn slot_of(&mut self, key: Key, dir: Dir) -> Option<&mut OpSlot<Io>> {
        self.objects.get_mut(key).map(|o| o.slot_mut(dir))
    }

    /// Retries one direction of `key` (internal timers use this).
    pub(crate) fn retry_dir(&mut self, key: Key, dir: Dir) -> usize {
        self.retry(key, dir)
    }

    /// Delivers an operation that has no object (a dial that failed before it had one)
    /// under the depth rule.
    pub(crate) fn deliver_detached<T: OpLogic<Io>>(&mut self, op: T) {
        self.stats.immediate += 1;
        if self.depth < MAX_DEPTH {
            self.run_callback(move |io| op.complete(io));
        } else {
            self.defer(
                Key::new(u32::MAX - 2, 0, self.id),
                Dir::Write,
                Payload::new(op),
            );
        }
    }

    /// Retries the armed operations an event concerns. Its readiness was recorded when
    /// the wait returned ([`record_events`](Io::record_events)), so dispatching an event
    /// twice (after a panic) only retries what is still armed and may try.
    fn on_event(&mut self, key: Key, r: Ready) -> usize {
        let Some(o) = self.objects.get(key) else {
            return 0;
        };
        // One lookup decides both: an edge for a direction with nothing armed (every
        // arrival on a stream also reports it writable) costs no retry.
        let any = o.class == Class::Adapter;
        let read = (any || r.contains(Ready::READABLE)) && matches!(o.read, OpSlot::Armed(_));
        let write = (any || r.contains(Ready::WRITABLE)) && matches!(o.write, OpSlot::Armed(_));
        let mut n = 0;
        if read {
            n += self.retry(key, Dir::Read);
        }
        if write {
            n += self.retry(key, Dir::Write);
        }
        n
    }

    /// A receive of `key`'s read completed in the kernel with `res`: the read has its
    /// result (delivered under the depth rule) or receives again (an exact read with more
    /// to come). `more`: the kernel said the socket still holds data, so the next read
    /// tries its syscall at once instead of going back to the kernel for a turn. 1 if it
    /// completed.
    fn on_done(&mut self, key: Key, res: i32, more: bool) -> usize {
        let Io {
            objects,
            stats,
            poller,
            pub_blocks,
            ..
        } = self;
        // A closed object's receive was taken back by its cancel: nothing arrives for it.
        let Some(o) = objects.get_mut(key) else {
            return 0;
        };
        let (obj, slot) = o.parts(Dir::Read);
        let OpSlot::InFlight(p) = slot else {
            return 0;
        };
        // A batch receive completes once per datagram and goes on until it is cancelled: it
        // is ended here, at its first completion (one enter), and the read takes every
        // datagram it brought.
        poller.end_recv(key.token(), stats);
        // The receive may have left bytes no edge will announce (it filled its buffer, or
        // stopped at an urgent mark): a read that waits for readiness tries its syscall.
        obj.ready |= Ready::UNSURE;
        if more {
            obj.ready |= Ready::READABLE;
        }
        let datagram = obj.class == Class::Datagram;
        if res == 0 && !datagram {
            // The end of stream, as a read in readiness mode would have marked it (an empty
            // datagram is only that).
            obj.ready |= Ready::READ_CLOSED;
        }
        if !p.received(res, &poller.recv_msg(key.token()), pub_blocks, false) {
            match p.recv_target() {
                Some(buf) => {
                    let kind = recv_kind(obj.class, p.source_control());
                    match poller.recv(obj.fd, key.token(), buf, kind, stats) {
                        Ok(()) => return 0,
                        Err(e) => p.fail(e),
                    }
                }
                // Nothing left to receive into, and not complete (a codec read whose bytes
                // must be decoded first): the operation goes back to attempting, where it
                // lies (`UNSURE` lets it try a syscall for the rest of an item).
                None => {
                    if let OpSlot::InFlight(p) = std::mem::take(slot) {
                        *slot = OpSlot::Armed(p);
                    }
                    return self.retry(key, Dir::Read);
                }
            }
        }
        self.finish_in_flight(key, Dir::Read)
    }

    /// A send of `key`'s write completed in the kernel with `res`: the write has its result
    /// or sends its rest (a write of all whose send took part; the buffer is full again).
    /// 1 if it completed.
    fn on_sent(&mut self, key: Key, res: i32) -> usize {
        let Io {
            objects,
            stats,
            poller,
            pub_blocks,
            ..
        } = self;
        // A closed object's send was taken back by its cancel: nothing arrives for it.
        let Some(o) = objects.get_mut(key) else {
            return 0;
        };
        let (obj, slot) = o.parts(Dir::Write);
        let OpSlot::InFlight(p) = slot else {
            return 0;
        };
        obj.void_connect_readiness();
        if p.sent(res) {
            if res > 0 {
                // The kernel had room: the next write tries its syscall at once, as after
                // a write-space edge.
                obj.ready |= Ready::WRITABLE;
            }
            return self.finish_in_flight(key, Dir::Write);
        }
        if let Some(src) = p.send_target(pub_blocks)
            && poller.send(obj.fd, key.token(), src, stats).is_ok()
        {
            return 0;
        }
        // The ring took no entry: the write waits for readiness, as on epoll.
        if let OpSlot::InFlight(p) = std::mem::take(slot) {
            *slot = OpSlot::Armed(p);
        }
        self.retry(key, Dir::Write)
    }

    /// Delivers the operation of `key`'s `dir` whose receive or send in the kernel gave it
    /// its result, under the depth rule; 1 if there was one.
    fn finish_in_flight(&mut self, key: Key, dir: Dir) -> usize {
        let Some(o) = self.objects.get_mut(key) else {
            return 0;
        };
        if !matches!(o.slot(dir), OpSlot::InFlight(_)) {
            return 0;
        }
        self.armed -= 1;
        self.stats.scheduled += 1;
        if self.depth < MAX_DEPTH {
            self.run_callback(|io| complete_in_slot(io, |io| io.slot_of(key, dir)));
            return 1;
        }
        let Some(mut f) = Finishing::take_in_flight(o.slot_mut(dir)) else {
            unreachable!("matched as in flight above")
        };
        self.deliver(key, dir, &mut f);
        1
    }

    // -----------------------------------------------------------------------------------
    // The loop

    /// One turn: deferred completions, due timers, posts, one wait, its events. Events a
    /// panic left undispatched are dispatched first, in place of the wait.
    fn turn(&mut self, bound: Timeout) -> Result<usize> {
        let mut n = 0;
        let queued = self.ready.len();
        for _ in 0..queued {
            let Some(c) = self.ready.pop_front() else {
                break;
            };
            if let Some(o) = self.objects.get_mut(c.key)
                && matches!(o.slot(c.dir), OpSlot::Queued)
            {
                *o.slot_mut(c.dir) = OpSlot::Idle;
            }
            self.run_callback(move |io| c.op.complete(io));
            n += 1;
        }
        // No callback runs: no read is delivering into a region.
        self.pub_blocks.settle_marks();
        // Reads into regions put off at the depth limit: attempted now, at the top.
        for _ in 0..self.later.len() {
            let Some((key, dir)) = self.later.pop_front() else {
                break;
            };
            n += self.retry_later(key, dir);
        }
        // The clock is read only when something needs the time: a timer to fire or a wait
        // bounded by a deadline. A blocking loop with no timer reads no clock.
        let timers = self.timers.earliest().is_some();
        let now = if timers || matches!(bound, Timeout::At(_)) {
            self.now_ns()
        } else {
            0
        };
        if timers && self.timers.earliest().is_some_and(|t| t <= now) {
            n += self.fire_timers(now);
        }
        n += self.run_local_posts();
        if !self.posts_running.is_empty() {
            n += self.resume_posts();
        }
        if self.closed {
            return Ok(n);
        }
        let mut timeout = Timeout::Now;
        let mut timed_out = false;
        if self.ev_next >= self.ev_count {
            let busy =
                n > 0 || !self.ready.is_empty() || !self.later.is_empty() || self.posted() > 0;
            if !busy {
                timeout = match (bound, self.timers.earliest()) {
                    (Timeout::Now, _) => Timeout::Now,
                    (b, None) => b,
                    (Timeout::Forever, Some(t)) => Timeout::At(t),
                    (Timeout::At(b), Some(t)) => Timeout::At(b.min(t)),
                };
            }
            // A deadline is relative to now: read the clock if this turn has not (a timer
            // scheduled after the turn's start would otherwise be measured from 0).
            let now = match timeout {
                Timeout::At(_) if !timers && !matches!(bound, Timeout::At(_)) => self.now_ns(),
                _ => now,
            };
            self.ev_next = 0;
            self.ev_count = 0;
            let count = self.poller.wait(timeout, now, &mut self.stats)?;
            self.stats.events += count as u64;
            self.ev_count = count;
            timed_out = count == 0 && timeout != Timeout::Now;
            self.record_events();
        }
        let mut timer_due = false;
        while self.ev_next < self.ev_count {
            let i = self.ev_next;
            let (token, r) = self.poller.event(i);
            match token {
                WAKER => {
                    self.ev_next = i + 1;
                    n += self.run_posts();
                }
                WAIT_TIMER => {
                    self.ev_next = i + 1;
                    timer_due = true;
                }
                SKIP => self.ev_next = i + 1,
                // A receive's or a send's completion, consumed before its callback runs.
                t if t & OP_DONE != 0 => {
                    self.ev_next = i + 1;
                    let res = self.poller.take_result(i);
                    let key = Key::from_token(t & !(OP_DONE | OP_MORE | OP_SENT), self.id);
                    if t & OP_SENT != 0 {
                        n += self.on_sent(key, res);
                    } else {
                        n += self.on_done(key, res, t & OP_MORE != 0);
                    }
                }
                // The event stays current until both of its retries ran: a panic in the
                // first leaves the second to the next turn.
                t => {
                    n += self.on_event(Key::from_token(t, self.id), r);
                    self.ev_next = i + 1;
                }
            }
            if self.closed {
                return Ok(n);
            }
        }
        // A wait that ended on its deadline, or on the wait timer, may have made a timer due:
        // fire it now. A wait that ended on events leaves due timers to the next turn's
        // start (after this turn's callbacks), which spares a clock read per message.
        if (timer_due || timed_out) && self.timers.earliest().is_some() {
            let now = self.now_ns();
            n += self.fire_timers(now);
        }
        Ok(n)
    }

    /// Records what the wait returned before any callback runs: each object's readiness,
    /// and the wait timer's expiry (its counter read). A panic while the events are
    /// dispatched then loses no readiness, and no edge the kernel will not send again.
    fn record_events(&mut self) {
        for i in 0..self.ev_count {
            let (token, r) = self.poller.event(i);
            match token {
                WAKER | SKIP => {}
                WAIT_TIMER => self.poller.wait_timer_fired(),
                // Completions carry results, not readiness.
                t if t & OP_DONE != 0 => {}
                t => {
                    if let Some(o) = self.objects.get_mut(Key::from_token(t, self.id)) {
                        if matches!(o.read, OpSlot::InFlight(_)) && r.contains(Ready::READABLE) {
                            // Data for the receive in the kernel, which takes it: whatever
                            // it leaves is only possibly there (and an urgent mark is the
                            // wake-up key's, not the socket's).
                            let mut r = r;
                            r.remove(Ready::READABLE | Ready::URGENT);
                            o.ready |= r | Ready::UNSURE;
                        } else {
                            o.ready |= r;
                        }
                    }
                }
            }
        }
    }

    fn run_local_posts(&mut self) -> usize {
        let mut n = self.resume_local_posts();
        if self.local_posts.is_empty() || self.closed {
            return n;
        }
        // `local_running` is empty: take the queue, keep both allocations. Posts made
        // while these run go to the queue, for the next turn.
        std::mem::swap(&mut self.local_posts, &mut self.local_running);
        self.local_running.reverse();
        n += self.resume_local_posts();
        n
    }

    /// Runs the local posts taken from the queue and not yet run, in order.
    fn resume_local_posts(&mut self) -> usize {
        let mut n = 0;
        while !self.closed {
            let Some(p) = self.local_running.pop() else {
                break;
            };
            n += 1;
            self.run_callback(move |io| p.call(io, ()));
        }
        n
    }

    /// The waker fired: runs what a panic left of the last batch, then the posts queued
    /// since.
    fn run_posts(&mut self) -> usize {
        self.stats.wakes += 1;
        let mut n = self.resume_posts();
        if self.closed {
            return n;
        }
        self.shared.swap(&mut self.posts_running);
        self.posts_running.reverse();
        n += self.resume_posts();
        n
    }

    /// Runs the posts taken from the shared queue and not yet run, in order.
    fn resume_posts(&mut self) -> usize {
        let mut n = 0;
        while !self.closed {
            let Some(p) = self.posts_running.pop() else {
                break;
            };
            n += 1;
            self.run_callback(move |io| p.run(io));
        }
        n
    }

    /// Checks and marks entry into a drive call; restores the mark on exit and on panic.
    fn drive<R>(&mut self, f: impl FnOnce(&mut Io) -> Result<R>) -> Result<R> {
        if self.in_drive || self.depth > 0 {
            return Err(IN_CALLBACK);
        }
        if self.closed {
            return Err(Error::CLOSED);
        }
        self.in_drive = true;
        let r = catch_unwind(AssertUnwindSafe(|| f(self)));
        self.in_drive = false;
        match r {
            Ok(r) => r,
            Err(panic) => resume_unwind(panic),
        }
    }

    /// Blocks until at least one callback ran, runs every ready one, returns how many.
    /// Signals interrupting the wait are retried. Returns `Ok(n)` early if a callback
    /// closed the Io.
    pub fn run_one(&mut self) -> Result<usize> {
        self.drive(|io| io.run_one_inner())
    }

    fn run_one_inner(&mut self) -> Result<usize> {
        loop {
            match self.turn(Timeout::Forever) {
                Ok(0) if !self.closed => continue,
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == iox::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// [`run_one`](Io::run_one) that gives up after `d`: `Ok(0)` when the time passes or a
    /// signal interrupts the wait. The bound is kept to the wait timer's precision
    /// (nanoseconds), not epoll's milliseconds.
    pub fn run_one_for(&mut self, d: Duration) -> Result<usize> {
        self.drive(|io| {
            let deadline = io
                .now_ns()
                .saturating_add(d.as_nanos().min(u128::from(u64::MAX / 4)) as u64);
            loop {
                match io.turn(Timeout::At(deadline)) {
                    Ok(0) if !io.closed && io.now_ns() < deadline => continue,
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == iox::ErrorKind::Interrupted => return Ok(0),
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// Runs until nothing is pending ([`pending`](Io::pending) is 0) or the Io is closed.
    pub fn run_pending(&mut self) -> Result<()> {
        self.drive(|io| {
            while io.pending() > 0 && !io.closed {
                io.run_one_inner()?;
            }
            Ok(())
        })
    }

    /// Runs until [`close`](Io::close) is called from a callback (`Ok(())`) or an error.
    pub fn run(&mut self) -> Result<()> {
        self.drive(|io| {
            while !io.closed {
                io.run_one_inner()?;
            }
            Ok(())
        })
    }

    /// The hot loop: non-blocking turns until `busy_cycles` of them in a row found nothing,
    /// then one turn that may block up to `timeout`; any work starts the count again. Runs
    /// until the Io is closed from a callback (`Ok(())`) or an error.
    pub fn run_warm(&mut self, busy_cycles: u64, timeout: Duration) -> Result<()> {
        self.drive(|io| {
            let mut idle = 0u64;
            while !io.closed {
                let bound = if idle >= busy_cycles {
                    Timeout::At(io.now_ns().saturating_add(timeout.as_nanos().min(u128::from(u64::MAX / 4)) as u64))
                } else {
                    Timeout::Now
                };
                match io.turn(bound) {
                    Ok(0) => idle += 1,
                    Ok(_) => idle = 0,
                    Err(e) if e.kind() == iox::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    /// One non-blocking turn; how many callbacks ran (0 when nothing was ready).
    pub fn poll_one(&mut self) -> Result<usize> {
        self.drive(|io| io.poll_one_inner())
    }

    fn poll_one_inner(&mut self) -> Result<usize> {
        match self.turn(Timeout::Now) {
            Err(e) if e.kind() == iox::ErrorKind::Interrupted => Ok(0),
            r => r,
        }
    }

    /// Non-blocking turns until one finds nothing to do; the total of callbacks run.
    pub fn poll(&mut self) -> Result<usize> {
        self.drive(|io| {
            let mut total = 0;
            loop {
                let n = io.poll_one_inner()?;
                total += n;
                if n == 0 || io.closed {
                    return Ok(total);
                }
            }
        })
    }

    /// Closes the Io: new submissions and posts fail with `Closed`; every object is
    /// closed and its armed operations complete with `Cancelled`; deferred completions are
    /// delivered; unrun posts and timer closures are dropped. Drive calls return `Closed`
    /// afterwards. Idempotent. A callback may call it; the drive call returns after that
    /// callback.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.shared.shut();
        // Everything leaves the Io before any callback runs: a callback may replace `*io`,
        // and must then neither lose the rest of this Io's operations nor see the new Io's
        // posts and timers cleared. Unrun posts and timer closures are dropped last, each on
        // its own: a value they hold may panic in its drop, and the operations complete
        // first all the same.
        let mut timers = self.timers.take_all();
        let local_posts = std::mem::take(&mut self.local_posts);
        let local_running = std::mem::take(&mut self.local_running);
        let posts_running = std::mem::take(&mut self.posts_running);
        let mut shared = Vec::new();
        self.shared.swap(&mut shared);
        let keys: Vec<Key> = self.objects.keys().collect();
        let mut ops = Vec::with_capacity(self.armed);
        // A receive, send or connect in the kernel's hands comes back before its descriptor
        // closes; one still queued on this side is withdrawn before the polls' end below
        // submits the queue, and a dial's connect the poller holds for the wait is dropped
        // (a dial made in this turn sends no SYN).
        for &k in &keys {
            for dir in [Dir::Read, Dir::Write] {
                let Some(o) = self.objects.get_mut(k) else {
                    continue;
                };
                let slot = std::mem::take(o.slot_mut(dir));
                if let Some(f) = self.settle(k, dir, slot) {
                    ops.push(f);
                }
            }
        }
        // io_uring's polls let go of the descriptors before they are closed below.
        let mut first_err = self.poller.forget_all(&mut self.stats);
        for k in keys {
            let Some(obj) = self.objects.remove(k) else {
                continue;
            };
            if let Err(e) = obj.into_owned().close()
                && first_err.is_ok()
            {
                first_err = Err(e);
            }
        }
        self.armed = 0;
        let ready = std::mem::take(&mut self.ready);
        // Every operation completes once, even when a callback panics: the first panic
        // goes on unwinding after the rest are done.
        let mut panic = None;
        for mut f in ops {
            f.fail(Error::CANCELLED);
            first_panic(&mut panic, self.try_callback(|io| f.complete(io)));
        }
        for c in ready {
            first_panic(&mut panic, self.try_callback(move |io| c.op.complete(io)));
        }
        let timer_keys: Vec<Key> = timers.keys().collect();
        drop_each(timer_keys.into_iter().map(|k| timers.remove(k)), &mut panic);
        drop_each(local_posts, &mut panic);
        drop_each(local_running, &mut panic);
        drop_each(posts_running, &mut panic);
        drop_each(shared, &mut panic);
        if let Some(panic) = panic {
            resume_unwind(panic);
        }
        first_err
    }
}

impl crate::op::Host for Io {
    #[inline]
    fn blocks(&mut self) -> &mut Blocks {
        &mut self.pub_blocks
    }
}

/// An object's two operations, taken out and settled ([`Io::settle_taken`]), to deliver.
type Settled = [(Dir, Option<Finishing<Io>>); 2];

/// An operation in its payload, out of line for the same reason as [`park_in_ring`]: in a
/// debug build every `Payload::new` in `submit` would be a 256-byte temporary of its frame.
#[inline(never)]
fn erase<T: OpLogic<Io>>(op: T) -> OpPayload<Io> {
    Payload::new(op)
}

/// Hands a stream read to the kernel: its receive into `target` (descriptor, token,
/// buffer, length) is queued, and the operation waits in `slot` as `InFlight`. Out of line,
/// so that `submit`, which nests once per inline completion, keeps a small frame (the
/// depth-limit test runs 32 nested completions on a 256 KiB stack in a debug build). On
/// error the operation comes back: an owned buffer claimed nothing in `acquire`, so
/// refusing hands it back whole.
#[inline(never)]
#[allow(clippy::type_complexity)]
fn park_in_ring<T: OpLogic<Io>>(
    poller: &mut Poller,
    stats: &mut Stats,
    slot: &mut OpSlot<Io>,
    (fd, token, buf, kind): (std::os::fd::RawFd, u64, (*mut u8, usize), RecvKind),
    op: T,
) -> std::result::Result<(), (T, Error)> {
    match poller.recv(fd, token, buf, kind, stats) {
        Ok(()) => {
            place(slot, op, true);
            Ok(())
        }
        Err(e) => Err((op, e)),
    }
}

/// Where the kernel receives a read that parks in the ring, and how: into the operation's
/// own buffer (as [`recv_kind`] says); for a batch read, into buffers the backend provides
/// ([`RecvKind::Batch`]); for a read into a region, into a buffer of the backend's whose
/// bytes are copied in when it completes ([`RecvKind::Copied`]). `None`: the read waits for
/// readiness.
#[inline]
fn ring_recv<T: OpLogic<Io>>(
    poller: &mut Poller,
    stats: &mut Stats,
    token: u64,
    class: Class,
    op: &mut T,
) -> Option<((*mut u8, usize), RecvKind)> {
    if let Some(buf) = op.recv_target() {
        return Some((buf, recv_kind(class, op.source_control())));
    }
    if let Some(shape) = op.batch_shape() {
        return poller
            .prepare_batch(token, shape, stats)
            .then_some(((std::ptr::null_mut(), 0), RecvKind::Batch));
    }
    // A read into a region: the backend's buffers are made at its first one (where the
    // kernel refuses them, reads into regions wait for readiness).
    if !op.fills_shared() || !poller.prepare_copy(stats) {
        return None;
    }
    let kind = recv_kind(class, op.source_control()).copied()?;
    let room = op.copy_target()?;
    Some(((std::ptr::null_mut(), room), kind))
}

/// How the kernel receives a read on an object of `class`: with its datagram's source and
/// this much control space where the operation takes it (`source`: a `recvmsg`), else as
/// the object's class reads.
#[inline]
fn recv_kind(class: Class, source: Option<usize>) -> RecvKind {
    match source {
        Some(control) => RecvKind::Source(control),
        None if class == Class::Datagram => RecvKind::Datagram,
        None => RecvKind::Stream,
    }
}

/// Whether an operation parked on `obj` needs the poller to start reporting its
/// direction: a write, writability ([`Io::watch_writes`] decides the same, after a lookup
/// this check spares); a socket's read where reads complete in the ring (`ring_reads`),
/// readability ([`Io::watch_read`]).
#[inline]
fn needs_watch(obj: &crate::object::ObjState, dir: Dir, ring_reads: bool) -> bool {
    match dir {
        Dir::Write => !obj.write_watch && obj.registered && !obj.may_try(Dir::Write),
        Dir::Read => ring_reads && ring_readable(obj.class) && obj.registered,
    }
}

/// The objects whose write watch ends with the write that asked for it: datagram sockets
/// (each datagram sent raises a write-space edge), and streams where sends wait for room in
/// the ring (an edge beside each send's completion would wake the wait twice per send). On
/// epoll a stream is watched for writes from its registration on.
#[inline]
fn unwatches(class: Class, ring_sends: bool) -> bool {
    class == Class::Datagram || (class == Class::Stream && ring_sends)
}

/// The objects whose reads may complete in the ring (where the backend completes reads):
/// streams and datagram sockets. Listeners accept on readiness; adapters read through user
/// code; files are never registered.
#[inline]
fn ring_readable(class: Class) -> bool {
    matches!(class, Class::Stream | Class::Datagram)
}

/// A panic caught from user code, to be resumed.
pub(crate) type Panic = Box<dyn std::any::Any + Send + 'static>;

/// Drops each item on its own, keeping the first panic a drop raises: the rest are dropped
/// all the same (a second panic while the first unwinds would abort).
fn drop_each<T>(items: impl IntoIterator<Item = T>, panic: &mut Option<Panic>) {
    for item in items {
        first_panic(panic, catch_unwind(AssertUnwindSafe(|| drop(item))).err());
    }
}

/// Keeps the first of several panics.
fn first_panic(first: &mut Option<Panic>, p: Option<Panic>) {
    if first.is_none() {
        *first = p;
    }
}

impl Drop for Io {
    /// Closes the Io ([`close`](Io::close)): every armed operation's callback runs with
    /// `Cancelled`. A callback that panics unwinds out of the drop after the others ran,
    /// unless the drop itself happens while a panic unwinds: the second panic is then
    /// discarded, since letting it out would abort the process.
    fn drop(&mut self) {
        // Errors closing descriptors cannot be reported from drop; every operation still
        // completes exactly once.
        match catch_unwind(AssertUnwindSafe(|| self.close())) {
            Ok(_) => {}
            Err(panic) if !std::thread::panicking() => resume_unwind(panic),
            Err(_) => {}
        }
    }
}

// The byte operations' paths outside the async machinery (`ops.rs`, `handle.rs`).
impl Io {
    pub(crate) fn retarget_read(&mut self, key: Key, r: Region) -> Result<()> {
        let Io {
            objects,
            pub_blocks,
            ..
        } = self;
        // A read into a region in the kernel receives into a buffer of the backend's and is
        // copied into its region when it completes: redirecting it is redirecting that copy.
        let (crate::op::OpSlot::Armed(p) | crate::op::OpSlot::InFlight(p)) =
            objects.lookup_mut(key)?.slot_mut(Dir::Read)
        else {
            return Err(Error::invalid_input("no armed read to redirect"));
        };
        p.retarget(pub_blocks, r)
    }

    /// A non-blocking syscall on an object outside the async machinery, keeping its cached
    /// readiness current.
    pub(crate) fn sync_io(
        &mut self,
        key: Key,
        dir: Dir,
        f: impl FnOnce(&mut crate::object::ObjState) -> Result<usize>,
    ) -> Result<usize> {
        self.sync_io_counted(key, dir, |o, stats| {
            match dir {
                Dir::Read => stats.reads += 1,
                Dir::Write => stats.writes += 1,
            }
            f(o)
        })
    }

    /// Whether `key`'s writes may gather ([`ObjState::gathers`](crate::object::ObjState)).
    pub(crate) fn gathers(&self, key: Key) -> Result<bool> {
        Ok(self.objects.lookup(key)?.gathers())
    }

    /// One non-blocking read outside the async machinery, through the stream read-ahead;
    /// counts the syscall only when it is made.
    pub(crate) fn sync_recv(&mut self, key: Key, buf: &mut [u8]) -> Result<usize> {
        self.sync_io_counted(key, Dir::Read, |o, stats| o.recv(buf, &mut stats.reads))
    }

    /// [`sync_io`](Self::sync_io) where `f` counts its own syscalls.
    fn sync_io_counted(
        &mut self,
        key: Key,
        dir: Dir,
        f: impl FnOnce(&mut crate::object::ObjState, &mut crate::Stats) -> Result<usize>,
    ) -> Result<usize> {
        if self.closed() {
            return Err(Error::CLOSED);
        }
        let Io { objects, stats, .. } = self;
        let obj = objects.lookup_mut(key)?;
        if !matches!(obj.slot(dir), crate::op::OpSlot::Idle) {
            return Err(Error::invalid_input(
                "an async operation holds that direction",
            ));
        }
        let r = f(&mut obj.st, stats);
        if matches!(&r, Err(e) if e.is_would_block()) {
            obj.not_ready(dir);
        }
        r
    }
}
