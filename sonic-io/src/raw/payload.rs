//! Inline, type-erased storage for an operation's state, a timer's closure or a post.
//!
//! A [`Payload`] is [`PAYLOAD_BYTES`] of storage aligned to 16 plus one pointer to a static
//! table of functions monomorphised for the stored type. Storing a type that does not fit is
//! a build error (a `const` assertion evaluated when the generic function is instantiated),
//! so no operation ever allocates for its callback.

use core::marker::PhantomData;
use core::mem::{ManuallyDrop, MaybeUninit, align_of, size_of};

use crate::buf::Blocks;
use crate::op::{Attempt, OpLogic, OpSlot};

/// Bytes of inline storage for one operation (its buffer, callback, progress and result),
/// one timer closure or one posted closure.
///
/// A closure that fits is stored inline:
///
/// ```
/// let mut io = sonic_io::Io::new().unwrap();
/// let t = sonic_io::Timer::new(&mut io).unwrap();
/// let state = [1u8; 200];
/// t.schedule_once(&mut io, std::time::Duration::ZERO, move |_, _| assert_eq!(state[199], 1)).unwrap();
/// io.run_pending().unwrap();
/// ```
///
/// One that does not is a build error (not a hidden allocation); box the state instead:
///
/// ```compile_fail
/// let mut io = sonic_io::Io::new().unwrap();
/// let t = sonic_io::Timer::new(&mut io).unwrap();
/// let state = [1u8; 300];
/// t.schedule_once(&mut io, std::time::Duration::ZERO, move |_, _| assert_eq!(state[299], 1)).unwrap();
/// ```
pub const PAYLOAD_BYTES: usize = 256;

/// The storage's alignment.
pub(crate) const PAYLOAD_ALIGN: usize = 16;

#[repr(C, align(16))]
struct Storage(MaybeUninit<[u8; PAYLOAD_BYTES]>);

const _: () = assert!(align_of::<Storage>() == PAYLOAD_ALIGN);

/// A table of functions for one erased type.
pub(crate) trait VTable: 'static {
    /// Drops the value in place.
    fn drop_fn(&self) -> unsafe fn(*mut u8);
}

/// Implemented for every type that can be stored behind the table `V`.
pub(crate) trait Erase<V: VTable>: Sized + 'static {
    /// The table for `Self`.
    const VT: &'static V;
}

/// An erased value of at most [`PAYLOAD_BYTES`] bytes.
pub(crate) struct Payload<V: VTable> {
    data: Storage,
    vt: &'static V,
    _not_send: PhantomData<*const ()>,
}

impl<V: VTable> Payload<V> {
    /// Moves `value` into inline storage. Fails to build if `T` is too large or too aligned.
    #[inline]
    pub(crate) fn new<T: Erase<V>>(value: T) -> Payload<V> {
        fits::<T>();
        let mut data = Storage(MaybeUninit::uninit());
        // SAFETY: the const block proves that `T` fits the storage's size and alignment, and
        // the storage is fresh, so writing a `T` at its start is in bounds and aligned.
        unsafe { data.0.as_mut_ptr().cast::<T>().write(value) };
        Payload {
            data,
            vt: T::VT,
            _not_send: PhantomData,
        }
    }

    /// A payload for a `T` whose storage is not written yet: [`place`] writes the value
    /// where the payload already lies.
    #[inline]
    fn unwritten<T: Erase<V>>() -> Payload<V> {
        fits::<T>();
        Payload {
            data: Storage(MaybeUninit::uninit()),
            vt: T::VT,
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn ptr(&mut self) -> *mut u8 {
        self.data.0.as_mut_ptr().cast::<u8>()
    }

    /// Ends the payload without dropping its value (the value was moved out by a shim).
    #[inline]
    fn into_parts(self) -> (Storage, &'static V) {
        let me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again, so reading the storage out of it
        // moves it exactly once.
        let data = unsafe { core::ptr::read(&me.data) };
        (data, me.vt)
    }
}

impl<V: VTable> Drop for Payload<V> {
    fn drop(&mut self) {
        let f = self.vt.drop_fn();
        let p = self.ptr();
        // SAFETY: the storage holds a live value of the type `vt` was made for (a payload
        // whose value was moved out goes through `into_parts`, which skips this drop).
        unsafe { f(p) };
    }
}

impl<V: VTable> core::fmt::Debug for Payload<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Payload")
    }
}

/// Fails to build if a `T` does not fit a payload's storage.
#[inline(always)]
const fn fits<T>() {
    const {
        assert!(
            size_of::<T>() <= PAYLOAD_BYTES,
            "sonic-io: an operation's state (buffer + callback captures + result) exceeds \
             the 256-byte inline payload; box the captured state (Box<State> is 8 bytes)"
        );
        assert!(
            align_of::<T>() <= PAYLOAD_ALIGN,
            "sonic-io: a callback's captures need more than 16-byte alignment"
        );
    }
}

unsafe fn drop_erased<T>(p: *mut u8) {
    // SAFETY: the caller passes storage that holds a live `T` (the table was made for `T`).
    unsafe { p.cast::<T>().drop_in_place() };
}

// ---------------------------------------------------------------------------------------
// Operations

/// The table of an operation record whose callback gets a `&mut C` (the Io).
pub(crate) struct OpVt<C: 'static> {
    attempt: unsafe fn(*mut u8, &mut Attempt<'_>) -> bool,
    fail: unsafe fn(*mut u8, iox::Error),
    complete: unsafe fn(*mut u8, &mut C),
    complete_from: unsafe fn(*mut u8, *mut OpSlot<C>, *mut C),
    retarget: unsafe fn(*mut u8, &mut Blocks, crate::buf::Region) -> iox::Result<()>,
    abandon: unsafe fn(*mut u8, &mut Blocks),
    recv_target: unsafe fn(*mut u8) -> Option<(*mut u8, usize)>,
    received: unsafe fn(*mut u8, i32, &crate::op::RecvMsg<'_>) -> bool,
    source_control: unsafe fn(*mut u8) -> Option<usize>,
    copy_in: unsafe fn(*mut u8, &[u8], &mut Blocks, bool),
    send_target: unsafe fn(*mut u8, &Blocks) -> Option<(*const u8, usize)>,
    sent: unsafe fn(*mut u8, i32) -> bool,
    drop: unsafe fn(*mut u8),
    /// Moves the stored value from one storage to another: a copy of the type's own
    /// bytes, of a size known where it is compiled.
    relocate: unsafe fn(*const u8, *mut u8),
}

impl<C: 'static> VTable for OpVt<C> {
    fn drop_fn(&self) -> unsafe fn(*mut u8) {
        self.drop
    }
}

unsafe fn op_attempt<C, T: OpLogic<C>>(p: *mut u8, cx: &mut Attempt<'_>) -> bool {
    // SAFETY: the storage holds a live `T` and the payload is borrowed mutably by the caller.
    let t = unsafe { &mut *p.cast::<T>() };
    t.attempt(cx)
}

unsafe fn op_fail<C, T: OpLogic<C>>(p: *mut u8, e: iox::Error) {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &mut *p.cast::<T>() };
    t.fail(e);
}

unsafe fn op_complete<C, T: OpLogic<C>>(p: *mut u8, io: &mut C) {
    // SAFETY: the storage holds a live `T`; the caller gave up the payload (`into_parts`),
    // so this read is the value's only move out.
    let t = unsafe { p.cast::<T>().read() };
    t.complete(io);
}

unsafe fn op_complete_from<C, T: OpLogic<C>>(p: *mut u8, slot: *mut OpSlot<C>, io: *mut C) {
    // SAFETY: `p` is the storage of the payload in `*slot`, which holds a live `T`; this is
    // the value's only move out (the slot is overwritten next, without a drop).
    let t = unsafe { p.cast::<T>().read() };
    // SAFETY: `slot` is valid for writes (`complete_in_slot`); writing `Idle` over the
    // payload skips its drop, so the value read above keeps one owner.
    unsafe { slot.write(OpSlot::Idle) };
    // SAFETY: `slot` was derived from `io` (`complete_in_slot`) and is not used again, so
    // this is the only live borrow of the Io.
    let io = unsafe { &mut *io };
    t.complete(io);
}

unsafe fn op_retarget<C, T: OpLogic<C>>(
    p: *mut u8,
    blocks: &mut Blocks,
    r: crate::buf::Region,
) -> iox::Result<()> {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &mut *p.cast::<T>() };
    t.retarget(blocks, r)
}

unsafe fn op_abandon<C, T: OpLogic<C>>(p: *mut u8, blocks: &mut Blocks) {
    // SAFETY: as in `op_complete`: the caller gave up the payload, this is the only move.
    let t = unsafe { p.cast::<T>().read() };
    t.abandon(blocks);
}

unsafe fn op_recv_target<C, T: OpLogic<C>>(p: *mut u8) -> Option<(*mut u8, usize)> {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &mut *p.cast::<T>() };
    t.recv_target()
}

unsafe fn op_received<C, T: OpLogic<C>>(
    p: *mut u8,
    res: i32,
    msg: &crate::op::RecvMsg<'_>,
) -> bool {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &mut *p.cast::<T>() };
    t.received_msg(res, msg)
}

unsafe fn op_source_control<C, T: OpLogic<C>>(p: *mut u8) -> Option<usize> {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &*p.cast::<T>() };
    t.source_control()
}

unsafe fn op_copy_in<C, T: OpLogic<C>>(
    p: *mut u8,
    bytes: &[u8],
    blocks: &mut Blocks,
    taking_back: bool,
) {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &mut *p.cast::<T>() };
    t.copy_in(bytes, blocks, taking_back);
}

unsafe fn op_send_target<C, T: OpLogic<C>>(
    p: *mut u8,
    blocks: &Blocks,
) -> Option<(*const u8, usize)> {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &mut *p.cast::<T>() };
    t.send_target(blocks)
}

unsafe fn op_sent<C, T: OpLogic<C>>(p: *mut u8, res: i32) -> bool {
    // SAFETY: as in `op_attempt`.
    let t = unsafe { &mut *p.cast::<T>() };
    t.sent(res)
}

unsafe fn relocate<T>(src: *const u8, dst: *mut u8) {
    // SAFETY: the caller passes a storage holding a live `T`, 16-aligned (`fits`); the
    // caller treats it as empty from now on, so this read is the value's only move out.
    let v = unsafe { src.cast::<T>().read() };
    // SAFETY: `dst` is a distinct, unwritten storage, 16-aligned and large enough for a `T`.
    unsafe { dst.cast::<T>().write(v) };
}

impl<C: 'static, T: OpLogic<C>> Erase<OpVt<C>> for T {
    const VT: &'static OpVt<C> = &OpVt {
        attempt: op_attempt::<C, T>,
        fail: op_fail::<C, T>,
        complete: op_complete::<C, T>,
        complete_from: op_complete_from::<C, T>,
        retarget: op_retarget::<C, T>,
        abandon: op_abandon::<C, T>,
        recv_target: op_recv_target::<C, T>,
        received: op_received::<C, T>,
        source_control: op_source_control::<C, T>,
        copy_in: op_copy_in::<C, T>,
        send_target: op_send_target::<C, T>,
        sent: op_sent::<C, T>,
        drop: drop_erased::<T>,
        relocate: relocate::<T>,
    };
}

/// An armed or queued operation.
pub(crate) type OpPayload<C> = Payload<OpVt<C>>;

impl<C: 'static> Payload<OpVt<C>> {
    /// Issues the operation's syscall(s); `true` when it has a result.
    #[inline]
    pub(crate) fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let f = self.vt.attempt;
        let p = self.ptr();
        // SAFETY: `p` holds the live `T` that `f` was instantiated for.
        unsafe { f(p, cx) }
    }

    /// Sets the result to `e` (cancel, close, an error found outside an attempt).
    #[inline]
    pub(crate) fn fail(&mut self, e: iox::Error) {
        let f = self.vt.fail;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p, e) };
    }

    /// Redirects an armed read to `r`.
    #[inline]
    pub(crate) fn retarget(
        &mut self,
        blocks: &mut Blocks,
        r: crate::buf::Region,
    ) -> iox::Result<()> {
        let f = self.vt.retarget;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p, blocks, r) }
    }

    /// Where a completion backend may receive ([`OpLogic::recv_target`]).
    #[inline]
    pub(crate) fn recv_target(&mut self) -> Option<(*mut u8, usize)> {
        let f = self.vt.recv_target;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p) }
    }

    /// A receive's result and what a `recvmsg` wrote beside it
    /// ([`OpLogic::received_msg`]).
    #[inline]
    /// Bytes a receive into the backend's buffer brought ([`OpLogic::copy_target`]) are
    /// copied into the operation's target first ([`OpLogic::copy_in`]; `taking_back`: a
    /// cancel, close or `take` took the receive back).
    pub(crate) fn received(
        &mut self,
        res: i32,
        msg: &crate::op::RecvMsg<'_>,
        blocks: &mut Blocks,
        taking_back: bool,
    ) -> bool {
        if let Some(bytes) = msg.copied {
            let f = self.vt.copy_in;
            let p = self.ptr();
            // SAFETY: as in `attempt`.
            unsafe { f(p, bytes, blocks, taking_back) };
        }
        let f = self.vt.received;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p, res, msg) }
    }

    /// Where a completion backend may send from ([`OpLogic::send_target`]).
    #[inline]
    pub(crate) fn send_target(&mut self, blocks: &Blocks) -> Option<(*const u8, usize)> {
        let f = self.vt.send_target;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p, blocks) }
    }

    /// A send's result ([`OpLogic::sent`]).
    #[inline]
    pub(crate) fn sent(&mut self, res: i32) -> bool {
        let f = self.vt.sent;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p, res) }
    }

    /// Whether the receive is a `recvmsg` for the datagram's source, with how much control
    /// space ([`OpLogic::source_control`]).
    #[inline]
    pub(crate) fn source_control(&mut self) -> Option<usize> {
        let f = self.vt.source_control;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p) }
    }

    /// Runs the callback with the stored result.
    #[inline]
    pub(crate) fn complete(self, io: &mut C) {
        Finishing::new(self).complete(io);
    }
}

/// Puts `op` in `slot`, which holds no operation, armed for readiness or (`in_flight`) with
/// its receive in the kernel. The operation's bytes are written straight into the slot's
/// storage instead of into a payload beside it that is then copied in whole
/// (`benches/instructions.rs`: that copy of the 256-byte storage cost about 60
/// instructions per parked read). Out of line in a debug build, where the payload
/// temporary would otherwise sit in the frame of `submit`, which nests once per inline
/// completion.
#[cfg_attr(debug_assertions, inline(never))]
#[cfg_attr(not(debug_assertions), inline)]
pub(crate) fn place<C: 'static, T: OpLogic<C>>(slot: &mut OpSlot<C>, op: T, in_flight: bool) {
    debug_assert!(matches!(slot, OpSlot::Idle | OpSlot::Queued));
    let empty = Payload::<OpVt<C>>::unwritten::<T>();
    *slot = if in_flight {
        OpSlot::InFlight(empty)
    } else {
        OpSlot::Armed(empty)
    };
    let (OpSlot::Armed(p) | OpSlot::InFlight(p)) = slot else {
        unreachable!("written above")
    };
    // SAFETY: `unwritten::<T>` proved that a `T` fits the storage's size and alignment and
    // set the table for `T`; the storage holds no value yet, and nothing between the line
    // above and this write can unwind, so the payload is never seen without its `T`.
    unsafe { p.ptr().cast::<T>().write(op) };
}

/// Runs the callback of the operation in the slot `find` names in `io` (armed or in flight;
/// nothing happens for another slot or none). The slot is left `Idle` before the callback
/// runs, so the callback may arm the direction again. The operation is read out by its own
/// type's code, only the fields its completion uses, instead of being copied whole to a
/// [`Finishing`] first (`benches/instructions.rs`: about 30 instructions per scheduled
/// completion).
#[inline]
pub(crate) fn complete_in_slot<C: 'static>(
    io: &mut C,
    find: impl FnOnce(&mut C) -> Option<&mut OpSlot<C>>,
) {
    let io: *mut C = io;
    // SAFETY: `io` is valid and unaliased (it was a `&mut C`); this borrow ends before the
    // Io is borrowed again, inside `complete_from`, after its last use of `slot`.
    let Some(slot) = find(unsafe { &mut *io }) else {
        return;
    };
    let (OpSlot::Armed(p) | OpSlot::InFlight(p)) = slot else {
        return;
    };
    let f = p.vt.complete_from;
    let data = p.ptr();
    let slot: *mut OpSlot<C> = slot;
    // SAFETY: `data` holds the live `T` that `f` was made for, in the payload `slot` holds;
    // `slot` was derived from `io` after `io`'s last other use. `f` moves the value out,
    // overwrites the slot without dropping it, and only then borrows the Io.
    unsafe { f(data, slot, io) };
}

/// An operation taken out of its slot, completed where it lies: the closure that runs its
/// callback under `catch_unwind` borrows it instead of carrying it, and taking it out of
/// its slot copies the operation's own bytes, not the whole 256-byte storage
/// (`benches/instructions.rs`: four whole-payload copies per echoed message before).
pub(crate) struct Finishing<C: 'static> {
    p: ManuallyDrop<OpPayload<C>>,
    done: bool,
    /// The operation has its own result (a receive that completed as it was cancelled):
    /// `fail` leaves it.
    kept: bool,
}

impl<C: 'static> Finishing<C> {
    #[inline]
    pub(crate) fn new(p: OpPayload<C>) -> Finishing<C> {
        Finishing {
            p: ManuallyDrop::new(p),
            done: false,
            kept: false,
        }
    }

    /// Takes the armed operation out of `slot`, which is left `Idle`; `None` if it holds
    /// none.
    #[inline]
    pub(crate) fn take(slot: &mut OpSlot<C>) -> Option<Finishing<C>> {
        match slot {
            OpSlot::Armed(_) => Some(Finishing::take_out(slot)),
            _ => None,
        }
    }

    /// Takes the operation whose receive the kernel has given back (`InFlight`: its
    /// completion was taken, or its cancel returned) out of `slot`, which is left `Idle`.
    #[inline]
    pub(crate) fn take_in_flight(slot: &mut OpSlot<C>) -> Option<Finishing<C>> {
        match slot {
            OpSlot::InFlight(_) => Some(Finishing::take_out(slot)),
            _ => None,
        }
    }

    /// Moves the payload of an `Armed` or `InFlight` slot out, copying the operation's own
    /// bytes; the slot is left `Idle`.
    #[inline]
    fn take_out(slot: &mut OpSlot<C>) -> Finishing<C> {
        let (OpSlot::Armed(src) | OpSlot::InFlight(src)) = slot else {
            unreachable!("the callers matched the slot")
        };
        let vt = src.vt;
        let mut data = Storage(MaybeUninit::uninit());
        // SAFETY: `src` holds a live value of the type `vt` was made for, at the start of its
        // storage; `data` is a distinct storage of the same size and alignment. The value
        // moves to `data`, and `src` is forgotten below.
        unsafe {
            (vt.relocate)(
                src.data.0.as_ptr().cast::<u8>(),
                data.0.as_mut_ptr().cast::<u8>(),
            )
        };
        // SAFETY: `slot` is valid for writes; the old payload is overwritten without being
        // dropped (its value now lives in `data`), so the value keeps one owner.
        unsafe { core::ptr::write(slot, OpSlot::Idle) };
        Finishing::new(Payload {
            data,
            vt,
            _not_send: PhantomData,
        })
    }

    /// A receive's result, as a cancel took it back ([`OpLogic::received`]); `true` when
    /// the operation has its result.
    #[inline]
    pub(crate) fn received(
        &mut self,
        res: i32,
        msg: &crate::op::RecvMsg<'_>,
        blocks: &mut Blocks,
    ) -> bool {
        self.done || self.p.received(res, msg, blocks, true)
    }

    /// A send's result, as a cancel took it back ([`OpLogic::sent`]); `true` when the
    /// operation has its result.
    #[inline]
    pub(crate) fn sent(&mut self, res: i32) -> bool {
        self.done || self.p.sent(res)
    }

    /// Sets the result to an error (cancel, close).
    #[inline]
    pub(crate) fn fail(&mut self, e: iox::Error) {
        if !self.done && !self.kept {
            self.p.fail(e);
        }
    }

    /// The operation's result stands: a later [`fail`](Finishing::fail) changes nothing.
    #[inline]
    pub(crate) fn keep_result(&mut self) {
        self.kept = true;
    }

    /// Whether the operation keeps a result of its own ([`keep_result`](Finishing::keep_result)).
    #[inline]
    pub(crate) fn kept(&self) -> bool {
        self.kept
    }

    /// Runs the callback with the stored result; a second call does nothing.
    #[inline]
    pub(crate) fn complete(&mut self, io: &mut C) {
        if self.done {
            return;
        }
        // Marked first: if the callback panics, the value has already been moved out.
        self.done = true;
        let f = self.p.vt.complete;
        let p = self.p.ptr();
        // SAFETY: the storage holds the live `T` that `f` was made for; `done` now keeps
        // `Drop` from touching it, so the read inside `f` is the value's only move out.
        unsafe { f(p, io) };
    }

    /// Gives the operation up without its callback ([`OpLogic::abandon`]).
    pub(crate) fn abandon(&mut self, blocks: &mut Blocks) {
        if self.done {
            return;
        }
        self.done = true;
        let f = self.p.vt.abandon;
        let p = self.p.ptr();
        // SAFETY: as in `complete`: `abandon` moves the value out once.
        unsafe { f(p, blocks) };
    }

    /// The payload back, to be queued (the depth limit defers its callback).
    pub(crate) fn take_payload(&mut self) -> Option<OpPayload<C>> {
        if self.done {
            return None;
        }
        self.done = true;
        // SAFETY: not completed, so the payload is whole; `done` keeps `Drop` from
        // dropping it again, so this read is its only move out.
        Some(unsafe { ManuallyDrop::take(&mut self.p) })
    }
}

impl<C: 'static> Drop for Finishing<C> {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: not completed, so the payload is whole, and this is its only drop.
            unsafe { ManuallyDrop::drop(&mut self.p) };
        }
    }
}

// ---------------------------------------------------------------------------------------
// Closures: timers and posts

/// The table of a `FnOnce(&mut C, A)`.
pub(crate) struct OnceVt<C: 'static, A: 'static> {
    call: unsafe fn(*mut u8, &mut C, A),
    drop: unsafe fn(*mut u8),
}

impl<C: 'static, A: 'static> VTable for OnceVt<C, A> {
    fn drop_fn(&self) -> unsafe fn(*mut u8) {
        self.drop
    }
}

unsafe fn call_once<C, T: FnOnce(&mut C, A), A>(p: *mut u8, io: &mut C, a: A) {
    // SAFETY: the storage holds a live `T` given up by its payload (`into_parts`); this
    // read is its only move out.
    let f = unsafe { p.cast::<T>().read() };
    f(io, a);
}

impl<C: 'static, T: FnOnce(&mut C, A) + 'static, A: 'static> Erase<OnceVt<C, A>> for T {
    const VT: &'static OnceVt<C, A> = &OnceVt {
        call: call_once::<C, T, A>,
        drop: drop_erased::<T>,
    };
}

impl<C: 'static, A: 'static> Payload<OnceVt<C, A>> {
    /// Calls the closure, consuming it.
    #[inline]
    pub(crate) fn call(self, io: &mut C, a: A) {
        let (mut data, vt) = self.into_parts();
        let p = data.0.as_mut_ptr().cast::<u8>();
        // SAFETY: `data` holds the live closure `vt` was made for, given up by the payload.
        unsafe { (vt.call)(p, io, a) };
    }
}

/// The table of a `FnMut(&mut C, A)`.
pub(crate) struct MutVt<C: 'static, A: 'static> {
    call: unsafe fn(*mut u8, &mut C, A),
    drop: unsafe fn(*mut u8),
}

impl<C: 'static, A: 'static> VTable for MutVt<C, A> {
    fn drop_fn(&self) -> unsafe fn(*mut u8) {
        self.drop
    }
}

unsafe fn call_mut<C, T: FnMut(&mut C, A), A>(p: *mut u8, io: &mut C, a: A) {
    // SAFETY: the storage holds a live `T`, borrowed mutably through its payload.
    let f = unsafe { &mut *p.cast::<T>() };
    f(io, a);
}

impl<C: 'static, T: FnMut(&mut C, A) + 'static, A: 'static> Erase<MutVt<C, A>> for T {
    const VT: &'static MutVt<C, A> = &MutVt {
        call: call_mut::<C, T, A>,
        drop: drop_erased::<T>,
    };
}

impl<C: 'static, A: 'static> Payload<MutVt<C, A>> {
    /// Calls the closure in place; it stays alive.
    #[inline]
    pub(crate) fn call(&mut self, io: &mut C, a: A) {
        let f = self.vt.call;
        let p = self.ptr();
        // SAFETY: `p` holds the live closure `f` was made for.
        unsafe { f(p, io, a) };
    }
}

/// A posted closure: `FnOnce(&mut C) + Send`.
pub(crate) struct Posted<C: 'static>(Payload<OnceVt<C, ()>>);

impl<C: 'static> Posted<C> {
    /// Erases `f`. The `Send` bound is what makes [`Posted`] `Send`.
    #[inline]
    pub(crate) fn new<F: FnOnce(&mut C) + Send + 'static>(f: F) -> Posted<C> {
        Posted(Payload::new(move |io: &mut C, (): ()| f(io)))
    }

    /// Runs the closure.
    #[inline]
    pub(crate) fn run(self, io: &mut C) {
        self.0.call(io, ());
    }
}

impl<C: 'static> core::fmt::Debug for Posted<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Posted")
    }
}

// SAFETY: a `Posted` is only built by `Posted::new` from a `Send` closure, and its table
// holds plain function pointers; moving it to another thread moves a `Send` value.
unsafe impl<C: 'static> Send for Posted<C> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    struct Probe(Rc<Cell<u32>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn a_dropped_payload_drops_its_value_once() {
        let drops = Rc::new(Cell::new(0));
        let probe = Probe(drops.clone());
        let p: Payload<MutVt<(), u32>> = Payload::new(move |_: &mut (), _: u32| {
            let _keep = &probe;
        });
        assert_eq!(drops.get(), 0);
        drop(p);
        assert_eq!(drops.get(), 1);
    }

    /// A host that holds one operation record, as the Io's objects do.
    struct Host {
        slot: OpSlot<Host>,
        log: Vec<u32>,
    }

    /// An operation whose completion logs its value and, the first time, arms the same
    /// slot again from inside its callback (as an echo's read callback does).
    struct Rearm {
        v: u32,
        again: bool,
        probe: Probe,
    }

    impl OpLogic<Host> for Rearm {
        type Buf = ();
        fn attempt(&mut self, _: &mut Attempt<'_>) -> bool {
            true
        }
        fn fail(&mut self, _: iox::Error) {}
        fn complete(self, io: &mut Host) {
            io.log.push(self.v);
            if self.again {
                let next = Rearm {
                    v: self.v + 1,
                    again: false,
                    probe: Probe(self.probe.0.clone()),
                };
                place(&mut io.slot, next, false);
            }
        }
        fn into_buf(self) {}
    }

    /// `place` writes an operation into its slot, `complete_in_slot` runs it from there:
    /// the slot is free again before the callback, which may fill it, and every value is
    /// dropped once. (Run under Miri by `cargo xtask ci`, which checks the pointer rules
    /// of both.)
    #[test]
    fn an_operation_placed_in_its_slot_completes_from_there_once() {
        let drops = Rc::new(Cell::new(0));
        let mut host = Host {
            slot: OpSlot::Idle,
            log: Vec::new(),
        };
        let first = Rearm {
            v: 7,
            again: true,
            probe: Probe(drops.clone()),
        };
        place(&mut host.slot, first, true);
        assert!(matches!(host.slot, OpSlot::InFlight(_)));
        complete_in_slot(&mut host, |h| Some(&mut h.slot));
        assert_eq!(host.log, [7]);
        assert_eq!(
            drops.get(),
            1,
            "the first operation is dropped after its callback"
        );
        assert!(
            matches!(host.slot, OpSlot::Armed(_)),
            "its callback armed the slot again"
        );
        complete_in_slot(&mut host, |h| Some(&mut h.slot));
        assert_eq!(host.log, [7, 8]);
        assert_eq!(drops.get(), 2);
        assert!(matches!(host.slot, OpSlot::Idle));
        // An idle slot, or none: nothing runs.
        complete_in_slot(&mut host, |h| Some(&mut h.slot));
        complete_in_slot(&mut host, |_| None);
        assert_eq!(host.log, [7, 8]);
        // A placed operation that never completes is dropped with its slot.
        place(
            &mut host.slot,
            Rearm {
                v: 9,
                again: false,
                probe: Probe(drops.clone()),
            },
            false,
        );
        drop(host);
        assert_eq!(drops.get(), 3);
    }

    #[test]
    fn largest_payload_fits_and_alignment_is_kept() {
        #[repr(align(16))]
        struct Big([u8; PAYLOAD_BYTES]);
        let big = Big([7; PAYLOAD_BYTES]);
        let p: Payload<MutVt<(), ()>> = Payload::new(move |_: &mut (), (): ()| {
            assert_eq!(big.0[PAYLOAD_BYTES - 1], 7);
        });
        assert_eq!(core::mem::size_of_val(&p.data), PAYLOAD_BYTES);
        drop(p);
    }
}
