//! Operation records: keys, directions, the state of each direction, and the trait every
//! operation type implements.

use crate::buf::Blocks;
use crate::object::ObjState;
use crate::raw::payload::OpPayload;
use crate::stats::Stats;

/// An object's slot index and generation, and the identity of the Io whose slab holds it.
/// The index and generation are also its poller token (the poller belongs to one Io).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) idx: u32,
    pub(crate) generation: u32,
    pub(crate) io: IoId,
}

/// An Io's identity: unique among the Ios a process creates (a 32-bit counter, so until
/// 2^32 Ios have been built). Every handle, timer and region carries its Io's, and an Io
/// refuses another's with [`FOREIGN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IoId(pub(crate) u32);

impl IoId {
    /// A fresh identity.
    pub(crate) fn next() -> IoId {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        IoId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// The error for a handle, timer or region used on an Io other than its own.
pub(crate) const FOREIGN: iox::Error =
    iox::Error::invalid_input("the handle belongs to another Io");

impl Key {
    pub(crate) const fn new(idx: u32, generation: u32, io: IoId) -> Key {
        Key {
            idx,
            generation,
            io,
        }
    }

    #[inline]
    pub(crate) fn token(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.idx)
    }

    /// The key of a token this Io's poller returned.
    #[inline]
    pub(crate) fn from_token(t: u64, io: IoId) -> Key {
        Key {
            idx: t as u32,
            generation: (t >> 32) as u32,
            io,
        }
    }
}

/// What a `recvmsg` in the kernel wrote beside a datagram's bytes
/// ([`OpLogic::received_msg`]); empty slices for a plain receive.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RecvMsg<'a> {
    /// The source's address, as the kernel encodes it (`msg_namelen` bytes; empty for a
    /// Unix datagram from an unnamed socket).
    pub(crate) name: &'a [u8],
    /// The control data (`msg_controllen` bytes).
    pub(crate) control: &'a [u8],
    /// A batch receive's completions ([`OpLogic::batch_shape`]), in arrival order; `None`
    /// for any other receive. (Batch reads exist where `sock::batch` does.)
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "android", target_os = "freebsd")),
        allow(dead_code)
    )]
    pub(crate) batch: Option<&'a dyn Received>,
    /// The bytes a receive into a buffer of the backend's brought
    /// ([`OpLogic::copy_target`]), copied into the operation's target
    /// ([`OpLogic::copy_in`]) before its result is taken; `None` for any other receive.
    pub(crate) copied: Option<&'a [u8]>,
}

/// The most bytes a receive into a buffer of the backend's brings
/// ([`OpLogic::copy_target`]): a stream read's receive asks at most this much, and a
/// datagram read into a larger region waits for readiness (the buffer would cut a
/// datagram the region holds whole).
pub(crate) const COPY_LIMIT: usize = 16 * 1024;

/// The room a batch read asks the kernel for ([`OpLogic::batch_shape`]): at most `slots`
/// datagrams of `slot_len` bytes, each with `control` bytes of control space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchShape {
    pub(crate) slots: usize,
    pub(crate) slot_len: usize,
    pub(crate) control: usize,
}

/// One completion of a batch receive in the kernel (made by the io_uring backend only).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) enum RingDatagram<'a> {
    /// A datagram: its bytes (at most the slot's length), its whole length, whether it was
    /// cut, its source as the kernel encodes it, and its control data.
    Datagram {
        bytes: &'a [u8],
        truncated: bool,
        name: &'a [u8],
        control: &'a [u8],
    },
    /// What ended the receive (`-errno`): the cancel that took it back (`ECANCELED`), no
    /// buffer left (`ENOBUFS`: the batch is full), or the socket's error.
    End(i32),
}

/// The completions a batch receive in the kernel collected, read by the operation when it
/// completes (the backend owns the buffers they lie in).
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", target_os = "freebsd")),
    allow(dead_code)
)]
pub(crate) trait Received: std::fmt::Debug {
    /// How many completions.
    fn count(&self) -> usize;
    /// The `i`th, `i < count()`.
    fn get(&self, i: usize) -> RingDatagram<'_>;
}

/// Which of an object's two operation records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// The state of one direction of an object. The armed operation is stored inline, on
/// purpose: boxing it would allocate per operation. `C` is what its callback gets (the Io).
#[derive(Debug, Default)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum OpSlot<C: 'static> {
    /// Nothing pending.
    #[default]
    Idle,
    /// Waiting for readiness.
    Armed(OpPayload<C>),
    /// Its receive (or, for a write, its send) is in the kernel's hands (a completion
    /// backend): the kernel may reach its buffer until the completion comes back, so
    /// nothing attempts it, and only a cancel that waits for the kernel
    /// (`Poller::cancel_recv`, `Poller::cancel_send`) may end it early.
    InFlight(OpPayload<C>),
    /// Completed; the callback waits in the ready queue.
    Queued,
}

/// How long a datagram send that met ENOBUFS waits before it retries (a full device queue
/// raises no edge on the socket; a write-space edge, if one comes, retries it sooner).
pub(crate) const ENOBUFS_RETRY_NS: u64 = 50_000;

/// What the reactor lends an operation's completion before the callback runs: the byte
/// blocks, so a completed operation gives back the region it claimed. `Io` implements it;
/// this module does not name it.
pub(crate) trait Host: 'static {
    fn blocks(&mut self) -> &mut Blocks;
}

/// What an attempt works with: its object's state (not the object's operation records,
/// so an armed operation attempts where it lies), the Io's byte blocks and counters. An
/// attempt reaches nothing else of the Io: what it needs done after it (a retry timer)
/// it asks for here.
pub(crate) struct Attempt<'a> {
    pub(crate) obj: &'a mut ObjState,
    pub(crate) blocks: &'a mut Blocks,
    pub(crate) stats: &'a mut Stats,
    /// Set by a datagram send that parked on `ENOBUFS`: a full device queue raises no edge,
    /// so the Io arms the object's retry timer.
    pub(crate) enobufs: bool,
}

/// An operation: its buffer, callback, progress and result, stored inline in a payload. `C`
/// is what the callback gets: the operation logic (its attempts) never sees it, and the
/// reactor that instantiates it (`Io`) sits above this module.
pub(crate) trait OpLogic<C>: Sized + 'static {
    /// What a refused submission hands back.
    type Buf;
    /// Claims what the operation targets (an Io-owned region), before the first attempt.
    fn acquire(&mut self, _blocks: &mut Blocks) -> iox::Result<()> {
        Ok(())
    }
    /// Makes the syscall(s); `true` when the operation has a result (success or error),
    /// `false` when it must wait for readiness (progress so far is kept).
    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool;
    /// Sets the result to an error found outside an attempt (cancel, close).
    fn fail(&mut self, e: iox::Error);
    /// Runs the callback with the result: the one place an operation meets the Io.
    fn complete(self, io: &mut C);
    /// Redirects an armed read to an Io-owned region; only region reads accept.
    fn retarget(&mut self, _blocks: &mut Blocks, _r: crate::buf::Region) -> iox::Result<()> {
        Err(iox::Error::invalid_input(
            "the armed read does not target an Io-owned region",
        ))
    }
    /// Where a completion backend may receive this read's bytes: the unfilled rest of a
    /// buffer whose memory stays put while the operation moves and that nothing else
    /// reaches while it waits (an owned `Vec` or `Box`, not a shared region). `None`: the
    /// operation waits for readiness and attempts.
    fn recv_target(&mut self) -> Option<(*mut u8, usize)> {
        None
    }
    /// The kernel's result of a receive into [`recv_target`](OpLogic::recv_target): bytes
    /// (`0`: end of stream) or `-errno`. `true` when the operation has its result, `false`
    /// to receive again (an exact read with more to come, `EAGAIN`).
    fn received(&mut self, _res: i32) -> bool {
        true
    }
    /// A read that takes its datagram's source: the receive into
    /// [`recv_target`](OpLogic::recv_target) is a `recvmsg` with the source's address and
    /// this many bytes of control space (`Some(0)`: none), both in storage the backend
    /// keeps per object. `None` (the default): a plain receive.
    fn source_control(&self) -> Option<usize> {
        None
    }
    /// A read whose target the kernel cannot be handed (a `Region`: several armed reads
    /// may share one) but whose bytes a completion backend may receive into a buffer of
    /// its own, to be copied in when the receive completes: at most this many bytes.
    /// `None` (the default): the read waits for readiness (or receives in place).
    fn copy_target(&mut self) -> Option<usize> {
        None
    }
    /// Copies the bytes a receive into the backend's buffer brought
    /// ([`copy_target`](OpLogic::copy_target)) into the operation's target, before
    /// [`received_msg`](OpLogic::received_msg) takes the receive's result. `taking_back`: the
    /// receive completed as a cancel, close or `take` took it back; its bytes must then not
    /// land in a region another armed read shares (that read may have completed and not
    /// been delivered yet), and the operation drops them and reports `Cancelled` instead.
    fn copy_in(&mut self, _bytes: &[u8], _blocks: &mut Blocks, _taking_back: bool) {}
    /// A read whose target other reads may fill too (a `Region`): at the depth limit it is
    /// not attempted where it is submitted but at the start of the next turn, so that its
    /// bytes never wait in a shared region for a deferred callback.
    fn fills_shared(&self) -> bool {
        false
    }
    /// A batch read that a completion backend may receive in the kernel, into buffers of
    /// its own, with one multishot `recvmsg` of this shape; the datagrams come to
    /// [`received_msg`](OpLogic::received_msg) as [`RecvMsg::batch`]. `None` (the
    /// default): not a batch read.
    fn batch_shape(&self) -> Option<BatchShape> {
        None
    }
    /// The result of a receive, with what a `recvmsg` wrote beside the bytes (empty for a
    /// plain receive): the source's address and the control data. The default hands the
    /// result to [`received`](OpLogic::received).
    fn received_msg(&mut self, res: i32, _msg: &RecvMsg<'_>) -> bool {
        self.received(res)
    }
    /// Where a completion backend may send this stream write's rest from, once an attempt
    /// found the socket's buffer full: memory that stays put while the operation moves and
    /// that nothing writes while it is armed (every write buffer: an owned or static one,
    /// or a region, which its claim freezes). `None` (the default): the write waits for
    /// readiness and attempts.
    fn send_target(&mut self, _blocks: &Blocks) -> Option<(*const u8, usize)> {
        None
    }
    /// The kernel's result of a send from [`send_target`](OpLogic::send_target): bytes sent
    /// or `-errno`; or of a connect to [`connect_target`](OpLogic::connect_target): `0` or
    /// `-errno`. `true` when the operation has its result, `false` to send again (a write
    /// of all its bytes with more to go) or, with no send target, to wait for readiness
    /// and attempt.
    fn sent(&mut self, _res: i32) -> bool {
        true
    }
    /// A dial whose connect a completion backend may make in the kernel, before any
    /// attempt: the address, in memory that stays put while the operation moves. `None`
    /// (the default): not such a dial; and a dial attempted without one connects itself.
    fn connect_target(&self) -> Option<(*const u8, u32)> {
        None
    }
    /// The buffer, for a refused submission.
    fn into_buf(self) -> Self::Buf;
    /// Gives up the operation without running its callback (user code inside its attempt
    /// panicked): hands back what [`acquire`](OpLogic::acquire) claimed, drops the rest.
    fn abandon(self, _blocks: &mut Blocks) {}
}
