//! Receiving datagrams in batches: one `recvmmsg` fills many slots of a [`Datagrams`]
//! (Linux, Android, FreeBSD: where `sock::batch` exists).

use std::io::IoSliceMut;

use iox::{Error, Result};
use sock::batch::{BATCH, RecvMsg};
use sock::timestamp::Timestamp;
use sock::{SockaddrAny, SockaddrStorage, UdpConn};

use crate::io::Io;
use crate::object::Owned;
use crate::op::{Attempt, BatchShape, Dir, OpLogic, Received, RingDatagram};
use crate::packet::PacketConn;
use crate::raw::stack::Stack;

/// What one received datagram left in its slot.
#[derive(Clone, Copy, Debug)]
struct Meta {
    len: usize,
    truncated: bool,
    /// Bytes of control data the kernel wrote in the slot's control space.
    control_len: usize,
    from: SockaddrStorage,
}

/// Fixed slots for a batch of datagrams, allocated once and reused:
/// [`PacketConn::async_read_batch`] fills as many as one `recvmmsg` per 64 slots returns.
///
/// ```
/// use sonic_io::{Datagrams, Io, PacketConn};
///
/// let mut io = Io::new().unwrap();
/// let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
/// let tx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
/// for i in 0..3u8 {
///     tx.send_to(&[i; 5], &rx.local_addr().unwrap()).unwrap();
/// }
/// let rx = PacketConn::add(&mut io, rx).unwrap();
/// rx.async_read_batch(&mut io, Datagrams::new(8, 1500), |_, r, batch| {
///     assert_eq!(r.unwrap(), 3);
///     let firsts: Vec<u8> = batch.iter().map(|d| d.bytes()[0]).collect();
///     assert_eq!(firsts, [0, 1, 2]);
/// })
/// .unwrap();
/// ```
///
/// With [`with_timestamps`](Self::with_timestamps) each slot also has control space, and
/// each datagram its kernel receive stamp ([`Datagram::timestamp`]) from the same
/// `recvmmsg`, when the socket has stamps on (`set_rx_timestamps`).
#[derive(Debug)]
pub struct Datagrams {
    data: Box<[u8]>,
    slot: usize,
    /// Control space: `control_slot` bytes per slot, or none (a `u32`, so that the batch,
    /// handed back in a refused submission's error, stays small).
    control: Box<[u8]>,
    control_slot: u32,
    meta: Box<[Meta]>,
    filled: usize,
    /// An error met after earlier chunks of the same read took datagrams: those were
    /// handed over, and this is reported by the next batch read.
    error: Option<Error>,
    /// The first `filled` slots hold datagrams a receive in the ring took, and the read
    /// goes on with a `recvmmsg` for the rest ([`Datagrams::take_received`]).
    top_up: bool,
}

impl Datagrams {
    /// `slots` slots of `slot_len` bytes each (both at least 1), without control space:
    /// the batch reads no control data and [`Datagram::timestamp`] is `None`.
    pub fn new(slots: usize, slot_len: usize) -> Datagrams {
        Self::with_control(slots, slot_len, 0)
    }

    /// [`new`](Self::new) with room in each slot for the kernel's receive stamps
    /// ([`sock::timestamp::RX_CONTROL_LEN`] bytes, allocated here once and reused by every
    /// read): turn stamps on for the socket (`set_rx_timestamps(true)`) and each
    /// [`Datagram::timestamp`] is the time the kernel received it, from the same `recvmmsg`
    /// (no extra syscall, no allocation).
    ///
    /// ```
    /// use sonic_io::{Datagrams, Io, PacketConn};
    ///
    /// let mut io = Io::new().unwrap();
    /// let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    /// rx.set_rx_timestamps(true).unwrap();
    /// let tx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    /// tx.send_to(b"tick", &rx.local_addr().unwrap()).unwrap();
    /// let rx = PacketConn::add(&mut io, rx).unwrap();
    /// rx.async_read_batch(&mut io, Datagrams::with_timestamps(8, 1500), |_, r, batch| {
    ///     assert_eq!(r.unwrap(), 1);
    ///     let d = batch.get(0).unwrap();
    ///     // The very first datagrams after a host's first socket asks may come unstamped
    ///     // (the kernel turns stamps on from a work queue).
    ///     if let Some(t) = d.timestamp() {
    ///         assert!(t <= sock::timestamp::Timestamp::now());
    ///     }
    /// })
    /// .unwrap();
    /// ```
    pub fn with_timestamps(slots: usize, slot_len: usize) -> Datagrams {
        Self::with_control(slots, slot_len, sock::timestamp::RX_CONTROL_LEN)
    }

    /// [`new`](Self::new) with `control_len` bytes of control space per slot, for any
    /// control messages the socket was asked for (read them with
    /// [`Datagram::control`] and `sock::cmsg::CmsgIter`). Allocated here once.
    pub fn with_control(slots: usize, slot_len: usize, control_len: usize) -> Datagrams {
        let slots = slots.max(1);
        let slot = slot_len.max(1);
        let control_len = control_len.min(u32::MAX as usize);
        Datagrams {
            data: vec![0; slots * slot].into_boxed_slice(),
            slot,
            control: vec![0; slots * control_len].into_boxed_slice(),
            control_slot: control_len as u32,
            meta: vec![
                Meta {
                    len: 0,
                    truncated: false,
                    control_len: 0,
                    from: SockaddrStorage::default(),
                };
                slots
            ]
            .into_boxed_slice(),
            filled: 0,
            error: None,
            top_up: false,
        }
    }

    /// The control space of each slot, in bytes (0: none).
    pub fn control_len(&self) -> usize {
        self.control_slot as usize
    }

    /// Datagrams received by the last batch read.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// `true` when no datagram is held.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// How many slots there are.
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// The size of each slot; a longer datagram is cut to it and marked
    /// [`truncated`](Datagram::truncated).
    pub fn slot_len(&self) -> usize {
        self.slot
    }

    /// The `i`th datagram of the last batch.
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.filled {
            return None;
        }
        let m = &self.meta[i];
        let start = i * self.slot;
        let cstart = i * self.control_slot as usize;
        Some(Datagram {
            bytes: &self.data[start..start + m.len],
            truncated: m.truncated,
            control: &self.control[cstart..cstart + m.control_len],
            from: &m.from,
        })
    }

    /// The datagrams of the last batch, in arrival order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Datagram<'_>> + '_ {
        (0..self.filled).map(|i| self.get(i).expect("within the filled slots"))
    }

    /// Forgets the datagrams held (the next batch read does this too). An error held for
    /// the next read stays.
    pub fn clear(&mut self) {
        self.filled = 0;
    }

    /// One `recvmmsg` per chunk of up to [`BATCH`] slots, until a chunk comes back short.
    /// `Ok(0)` never happens: nothing to read is `WouldBlock`. A chunk that fails after
    /// earlier ones took datagrams ends the read with those; its error (unless `WouldBlock`
    /// or `EINTR`) is held and returned by the next read without a syscall.
    fn receive(&mut self, u: &UdpConn, calls: &mut u64) -> Result<usize> {
        if std::mem::take(&mut self.top_up) {
            // After datagrams the ring took: the rest of the slots, and the read completes
            // with what it has whatever this finds.
            return match self.receive_rest(calls, |msgs| u.try_recv_messages(msgs)) {
                Err(e) if !e.is_would_block() && e.kind() != iox::ErrorKind::Interrupted => {
                    self.error = Some(e);
                    Ok(self.filled)
                }
                _ => Ok(self.filled),
            };
        }
        self.receive_with(calls, |msgs| u.try_recv_messages(msgs))
    }

    /// [`receive`](Self::receive) over any `recvmmsg`-like call (the unit tests' fake).
    fn receive_with(
        &mut self,
        calls: &mut u64,
        recv: impl FnMut(&mut [RecvMsg<'_, '_>]) -> Result<usize>,
    ) -> Result<usize> {
        self.filled = 0;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.receive_rest(calls, recv)
    }

    /// [`receive_with`](Self::receive_with) into the slots after the `filled` ones: an
    /// error with datagrams already in the batch is held for the next read.
    fn receive_rest(
        &mut self,
        calls: &mut u64,
        mut recv: impl FnMut(&mut [RecvMsg<'_, '_>]) -> Result<usize>,
    ) -> Result<usize> {
        let slot = self.slot;
        let cslot = self.control_slot as usize;
        let start = self.filled;
        // Without control space every slot gets an empty control buffer: no chunk of it.
        let mut controls = self.control[start * cslot..].chunks_mut((cslot * BATCH).max(1));
        for (chunk, metas) in self.data[start * slot..]
            .chunks_mut(slot * BATCH)
            .zip(self.meta[start..].chunks_mut(BATCH))
        {
            let k = metas.len();
            // Only the `k` slots of this chunk are built, in place (`raw::stack`).
            let mut iovs: Stack<IoSliceMut<'_>, BATCH> = Stack::new();
            for s in chunk.chunks_mut(slot).take(k) {
                let _ = iovs.push(IoSliceMut::new(s));
            }
            let mut ctl = match controls.next() {
                Some(c) if cslot > 0 => Some(c.chunks_mut(cslot)),
                _ => None,
            };
            let mut msgs: Stack<RecvMsg<'_, '_>, BATCH> = Stack::new();
            for bufs in iovs.as_mut_slice().chunks_mut(1) {
                let c = ctl.as_mut().and_then(Iterator::next).unwrap_or(&mut []);
                let _ = msgs.push(RecvMsg::new(bufs, c));
            }
            let msgs = msgs.as_mut_slice();
            *calls += 1;
            let n = match recv(msgs) {
                Ok(n) => n,
                Err(e) if self.filled == 0 => return Err(e),
                // Earlier chunks took datagrams: they are handed over now, and a real error
                // (the socket's, which the kernel reported once) is held for the next read.
                Err(e) => {
                    if !e.is_would_block() && e.kind() != iox::ErrorKind::Interrupted {
                        self.error = Some(e);
                    }
                    break;
                }
            };
            for (m, r) in metas.iter_mut().zip(msgs.iter().take(n)) {
                *m = Meta {
                    len: r.meta.bytes.min(slot),
                    truncated: r.meta.truncated(),
                    control_len: r.meta.control_len.min(r.control.len()),
                    from: r.addr,
                };
            }
            self.filled += n;
            if n < k {
                break;
            }
        }
        Ok(self.filled)
    }
}

impl Datagrams {
    /// Fills the slots from a batch receive the kernel made ([`Received`]), in arrival
    /// order: as many datagrams as there are slots (the backend gave the kernel no more
    /// buffers than that). What ended the receive is reported as a `recvmmsg` error would
    /// be: with datagrams, a socket's error is held for the next read; without, it is the
    /// result. `None`: the read goes on in an attempt, for nothing came (the receive ended
    /// without a datagram or an error), or a burst came and the rest of the slots are to
    /// be filled by a `recvmmsg`.
    fn take_received(&mut self, got: &dyn Received) -> Option<Result<usize>> {
        self.filled = 0;
        let mut end = 0;
        for i in 0..got.count() {
            match got.get(i) {
                RingDatagram::Datagram {
                    bytes,
                    truncated,
                    name,
                    control,
                } => {
                    let k = self.filled;
                    if k == self.meta.len() {
                        debug_assert!(false, "more datagrams than slots");
                        continue;
                    }
                    let len = bytes.len().min(self.slot);
                    self.data[k * self.slot..][..len].copy_from_slice(&bytes[..len]);
                    let cslot = self.control_slot as usize;
                    let control_len = control.len().min(cslot);
                    self.control[k * cslot..][..control_len]
                        .copy_from_slice(&control[..control_len]);
                    self.meta[k] = Meta {
                        len,
                        truncated,
                        control_len,
                        from: SockaddrStorage::from_bytes(name).unwrap_or_default(),
                    };
                    self.filled += 1;
                }
                RingDatagram::End(e) => end = e,
            }
        }
        let error = (end < 0
            && ![libc::ECANCELED, libc::ENOBUFS, libc::EAGAIN, libc::EINTR].contains(&-end))
        .then(|| Error::from(zcall::Errno::from_raw(-end)));
        match (self.filled, error) {
            (0, Some(e)) => Some(Err(e)),
            (0, None) => None,
            // More than one came before the receive ended: a burst, which may have left
            // more queued than the receive took before its cancel landed (the kernel also
            // takes a multishot receive's datagrams in rounds). The read goes on with one
            // `recvmmsg` for the rest of the slots, as a batch read on readiness would take
            // every queued datagram. One datagram alone (a spaced feed) completes at once.
            (n, None) if n > 1 && n < self.meta.len() => {
                self.top_up = true;
                None
            }
            (n, e) => {
                self.error = e;
                Some(Ok(n))
            }
        }
    }
}

/// One datagram of a [`Datagrams`] batch.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    bytes: &'a [u8],
    truncated: bool,
    control: &'a [u8],
    from: &'a SockaddrStorage,
}

impl<'a> Datagram<'a> {
    /// Its bytes (at most the slot's length).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The datagram was longer than the slot (`MSG_TRUNC`): the rest was discarded.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Its source, in kernel format.
    pub fn source(&self) -> &'a SockaddrStorage {
        self.from
    }

    /// Its source, decoded.
    pub fn from(&self) -> Result<SockaddrAny> {
        self.from.decode()
    }

    /// The time the kernel received it (`CLOCK_REALTIME`, software stamp), from the control
    /// data of the same `recvmmsg`: `None` when the batch has no control space
    /// ([`Datagrams::new`]) or the socket has stamps off. Parsed here, when asked: a batch
    /// read does no control-message work. See [`Datagrams::with_timestamps`].
    pub fn timestamp(&self) -> Option<Timestamp> {
        sock::timestamp::rx_timestamp(self.control)
    }

    /// The control data the kernel wrote for it (empty without control space); walk it
    /// with `sock::cmsg::CmsgIter`.
    pub fn control(&self) -> &'a [u8] {
        self.control
    }
}

pub(crate) struct RecvBatchOp<F> {
    batch: Datagrams,
    f: F,
    res: Option<Result<usize>>,
}

impl<F: FnOnce(&mut Io, Result<usize>, Datagrams) + 'static> OpLogic<Io> for RecvBatchOp<F> {
    type Buf = Datagrams;

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        loop {
            // A held error is reported whatever the readiness, and datagrams the ring took
            // complete the read whatever the rest finds.
            if !obj.may_try(Dir::Read) && self.batch.error.is_none() && !self.batch.top_up {
                return false;
            }
            let Owned::Udp(u) = obj.owned() else {
                self.fail(Error::invalid_input("a batch read needs a UDP socket"));
                return true;
            };
            match self.batch.receive(u, &mut stats.reads) {
                Ok(n) => {
                    self.res = Some(Ok(n));
                    return true;
                }
                Err(e) if e.is_would_block() => {
                    obj.not_ready(Dir::Read);
                    return false;
                }
                Err(e) if e.kind() == iox::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(e);
                    return true;
                }
            }
        }
    }

    fn fail(&mut self, e: Error) {
        if std::mem::take(&mut self.batch.top_up) {
            // Datagrams the ring took wait in the slots for the rest: they are the result
            // (a cancel or close meets a read that has them).
            self.res = Some(Ok(self.batch.filled));
            return;
        }
        self.res = Some(Err(e));
    }

    /// On io_uring the batch is received in the kernel, into the backend's buffers: a
    /// multishot `recvmsg` with as many buffers as the batch has slots. A held error is
    /// reported by the attempt instead, at once.
    fn batch_shape(&self) -> Option<BatchShape> {
        self.batch.error.is_none().then_some(BatchShape {
            slots: self.batch.capacity(),
            slot_len: self.batch.slot,
            control: self.batch.control_slot as usize,
        })
    }

    fn received_msg(&mut self, _res: i32, msg: &crate::op::RecvMsg<'_>) -> bool {
        let Some(got) = msg.batch else {
            self.fail(Error::invalid_input(
                "a batch read got a single receive's result",
            ));
            return true;
        };
        match self.batch.take_received(got) {
            Some(r) => {
                self.res = Some(r);
                true
            }
            None => false,
        }
    }

    fn complete(self, io: &mut Io) {
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.batch);
    }

    fn into_buf(self) -> Datagrams {
        self.batch
    }
}

impl PacketConn<UdpConn> {
    /// Receives as many datagrams as are queued, up to `batch`'s capacity, with one
    /// `recvmmsg` per 64 slots; the callback gets how many arrived (at least one) and the
    /// batch to read them from ([`Datagrams::iter`]). Datagrams already taken are never
    /// lost to an error: when a later `recvmmsg` of the same read fails, the read completes
    /// with what it took and `batch` keeps the error, which the next read with it reports
    /// (at once, without a syscall). Completes at once when datagrams
    /// are queued and the Io knows it, under the same dispatch rule as every operation (on
    /// io_uring a read after a completion from the ring goes to the kernel: see
    /// [`PacketConn::async_read`]).
    pub fn async_read_batch<F>(
        self,
        io: &mut Io,
        batch: Datagrams,
        f: F,
    ) -> std::result::Result<(), crate::Rejected<Datagrams>>
    where
        F: FnOnce(&mut Io, Result<usize>, Datagrams) + 'static,
    {
        io.submit(
            self.key,
            Dir::Read,
            RecvBatchOp {
                batch,
                f,
                res: None,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `recvmmsg`: the first call fills every slot it is given (datagram `i` is `i`
    /// repeated 3 times), later calls fail with `err`.
    fn fill_then_fail(
        err: Error,
        calls: &mut usize,
    ) -> impl FnMut(&mut [RecvMsg<'_, '_>]) -> Result<usize> + '_ {
        move |msgs| {
            *calls += 1;
            if *calls > 1 {
                return Err(err);
            }
            for (i, m) in msgs.iter_mut().enumerate() {
                m.bufs[0][..3].fill(i as u8);
                m.meta.bytes = 3;
            }
            Ok(msgs.len())
        }
    }

    #[test]
    fn datagrams_taken_before_a_later_chunk_fails_are_handed_over_and_the_error_comes_next() {
        let refused = Error::from(zcall::Errno::ECONNREFUSED);
        let mut d = Datagrams::new(2 * BATCH, 16);
        let (mut calls, mut syscalls) = (0, 0);
        // The first chunk takes BATCH datagrams, the second fails: the datagrams are
        // returned, not lost behind the error.
        let n = d.receive_with(&mut syscalls, fill_then_fail(refused, &mut calls));
        assert_eq!(n.unwrap(), BATCH);
        assert_eq!(d.len(), BATCH);
        assert!(d.iter().enumerate().all(|(i, g)| g.bytes() == [i as u8; 3]));
        assert_eq!(syscalls, 2);
        // The error comes with the next read, before any syscall.
        let mut none = |_: &mut [RecvMsg<'_, '_>]| -> Result<usize> {
            panic!("no syscall while an error is held")
        };
        let e = d.receive_with(&mut syscalls, &mut none).unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::ConnectionRefused);
        assert!(d.is_empty());
        assert_eq!(syscalls, 2);
        // Then reads go on as before.
        let mut calls = 0;
        let n = d.receive_with(&mut syscalls, fill_then_fail(refused, &mut calls));
        assert_eq!(n.unwrap(), BATCH);
    }

    #[test]
    fn would_block_after_datagrams_ends_the_batch_and_an_error_with_none_taken_is_returned() {
        let wb = Error::from(zcall::Errno::EAGAIN);
        let mut d = Datagrams::new(2 * BATCH, 16);
        let (mut calls, mut syscalls) = (0, 0);
        assert_eq!(
            d.receive_with(&mut syscalls, fill_then_fail(wb, &mut calls))
                .unwrap(),
            BATCH
        );
        // WouldBlock is not held: the next read makes its syscall.
        let mut calls = 1;
        let e = d
            .receive_with(&mut syscalls, fill_then_fail(wb, &mut calls))
            .unwrap_err();
        assert!(e.is_would_block());
        let refused = Error::from(zcall::Errno::ECONNREFUSED);
        let mut calls = 1;
        let e = d
            .receive_with(&mut syscalls, fill_then_fail(refused, &mut calls))
            .unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::ConnectionRefused);
    }

    /// A fake `recvmmsg` that stamps slot `i` of each call with `base + i` seconds in an
    /// `SCM_TIMESTAMPING` written into the slot's own control space (a Linux message).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn each_slot_reads_its_own_stamp_from_its_own_control_space_across_chunks() {
        let mut d = Datagrams::with_timestamps(BATCH + 5, 16);
        let mut call = 0u64;
        let mut stamp = |msgs: &mut [RecvMsg<'_, '_>]| -> Result<usize> {
            call += 1;
            for (i, m) in msgs.iter_mut().enumerate() {
                let sec = (call * 1000 + i as u64) as libc::time_t;
                let mut ts = Vec::new();
                for (s, ns) in [(sec, 5 as libc::c_long), (0, 0), (0, 0)] {
                    ts.extend_from_slice(&s.to_ne_bytes());
                    ts.extend_from_slice(&ns.to_ne_bytes());
                }
                let mut w = sock::cmsg::CmsgWriter::new(m.control);
                w.push(libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &ts)
                    .unwrap();
                m.meta.control_len = w.len();
                m.meta.bytes = 1;
            }
            Ok(msgs.len())
        };
        let mut syscalls = 0;
        assert_eq!(
            d.receive_with(&mut syscalls, &mut stamp).unwrap(),
            BATCH + 5
        );
        assert_eq!(syscalls, 2);
        for (i, g) in d.iter().enumerate() {
            let (call, slot) = if i < BATCH { (1, i) } else { (2, i - BATCH) };
            let want = std::time::Duration::new(call * 1000 + slot as u64, 5);
            assert_eq!(
                g.timestamp().map(|t| t.since_epoch()),
                Some(want),
                "slot {i}"
            );
        }
        // Without control space nothing is parsed and no slot has a stamp.
        let mut plain = Datagrams::new(4, 16);
        let mut seen = Vec::new();
        let mut none = |msgs: &mut [RecvMsg<'_, '_>]| -> Result<usize> {
            seen.extend(msgs.iter().map(|m| m.control.len()));
            msgs[0].meta.bytes = 1;
            Ok(1)
        };
        assert_eq!(plain.receive_with(&mut syscalls, &mut none).unwrap(), 1);
        assert_eq!(seen, [0, 0, 0, 0]);
        assert_eq!(plain.get(0).unwrap().timestamp(), None);
    }
}
