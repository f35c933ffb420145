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
    retarget: unsafe fn(*mut u8, &mut Blocks, crate::buf::Region) -> iox::Result<()>,
    abandon: unsafe fn(*mut u8, &mut Blocks),
    recv_target: unsafe fn(*mut u8) -> Option<(*mut u8, usize)>,
    received: unsafe fn(*mut u8, i32, &crate::op::RecvMsg<'_>) -> bool,
    source_control: unsafe fn(*mut u8) -> Option<usize>,
    drop: unsafe fn(*mut u8),
    /// `size_of` the stored type: what a move out of a slot copies.
    size: usize,
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

impl<C: 'static, T: OpLogic<C>> Erase<OpVt<C>> for T {
    const VT: &'static OpVt<C> = &OpVt {
        attempt: op_attempt::<C, T>,
        fail: op_fail::<C, T>,
        complete: op_complete::<C, T>,
        retarget: op_retarget::<C, T>,
        abandon: op_abandon::<C, T>,
        recv_target: op_recv_target::<C, T>,
        received: op_received::<C, T>,
        source_control: op_source_control::<C, T>,
        drop: drop_erased::<T>,
        size: size_of::<T>(),
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
    pub(crate) fn received(&mut self, res: i32, msg: &crate::op::RecvMsg<'_>) -> bool {
        let f = self.vt.received;
        let p = self.ptr();
        // SAFETY: as in `attempt`.
        unsafe { f(p, res, msg) }
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
        // SAFETY: `src` holds a live value of `vt.size` bytes at the start of its storage;
        // both storages are `PAYLOAD_BYTES` long and 16-aligned, and distinct. The bytes
        // become the new payload's value.
        unsafe {
            core::ptr::copy_nonoverlapping(
                src.data.0.as_ptr().cast::<u8>(),
                data.0.as_mut_ptr().cast::<u8>(),
                vt.size,
            );
        }
        // SAFETY: `slot` is valid for writes; the old payload is overwritten without being
        // dropped (its value now lives in `data`), so the value keeps one owner.
        unsafe { core::ptr::write(slot, OpSlot::Idle) };
        Finishing::new(Payload {
            data,
            vt,
            _not_send: PhantomData,
        })
    }

    /// A receive's result ([`OpLogic::received`]); `true` when the operation has its result.
    #[inline]
    pub(crate) fn received(&mut self, res: i32, msg: &crate::op::RecvMsg<'_>) -> bool {
        self.done || self.p.received(res, msg)
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
