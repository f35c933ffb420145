//! Receiving datagrams in batches: one `recvmmsg` fills many slots of a [`Datagrams`]
//! (Linux, Android, FreeBSD: where `sock::batch` exists).

use std::io::IoSliceMut;

use iox::{Error, Result};
use sock::batch::{BATCH, RecvMsg};
use sock::{SockaddrAny, SockaddrStorage, UdpConn};

use crate::io::Io;
use crate::object::Owned;
use crate::op::{Dir, Key, OpLogic};
use crate::packet::PacketConn;

/// What one received datagram left in its slot.
#[derive(Clone, Copy, Debug)]
struct Meta {
    len: usize,
    truncated: bool,
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
#[derive(Debug)]
pub struct Datagrams {
    data: Box<[u8]>,
    slot: usize,
    meta: Box<[Meta]>,
    filled: usize,
}

impl Datagrams {
    /// `slots` slots of `slot_len` bytes each (both at least 1).
    pub fn new(slots: usize, slot_len: usize) -> Datagrams {
        let slots = slots.max(1);
        let slot = slot_len.max(1);
        Datagrams {
            data: vec![0; slots * slot].into_boxed_slice(),
            slot,
            meta: vec![
                Meta {
                    len: 0,
                    truncated: false,
                    from: SockaddrStorage::default(),
                };
                slots
            ]
            .into_boxed_slice(),
            filled: 0,
        }
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
        Some(Datagram {
            bytes: &self.data[start..start + m.len],
            truncated: m.truncated,
            from: &m.from,
        })
    }

    /// The datagrams of the last batch, in arrival order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Datagram<'_>> + '_ {
        (0..self.filled).map(|i| self.get(i).expect("within the filled slots"))
    }

    /// Forgets the datagrams held (the next batch read does this too).
    pub fn clear(&mut self) {
        self.filled = 0;
    }

    /// One `recvmmsg` per chunk of up to [`BATCH`] slots, until a chunk comes back short.
    /// `Ok(0)` never happens: nothing to read is `WouldBlock`.
    fn receive(&mut self, u: &UdpConn, calls: &mut u64) -> Result<usize> {
        self.filled = 0;
        let slot = self.slot;
        for (chunk, metas) in self
            .data
            .chunks_mut(slot * BATCH)
            .zip(self.meta.chunks_mut(BATCH))
        {
            let k = metas.len();
            let mut iovs: [IoSliceMut<'_>; BATCH] =
                std::array::from_fn(|_| IoSliceMut::new(&mut []));
            for (iov, s) in iovs.iter_mut().zip(chunk.chunks_mut(slot)) {
                *iov = IoSliceMut::new(s);
            }
            let mut bufs = iovs.chunks_mut(1);
            let mut msgs: [RecvMsg<'_, '_>; BATCH] =
                std::array::from_fn(|_| RecvMsg::new(bufs.next().unwrap_or(&mut []), &mut []));
            *calls += 1;
            let n = match u.try_recv_messages(&mut msgs[..k]) {
                Ok(n) => n,
                Err(e) if self.filled > 0 && e.is_would_block() => break,
                Err(e) => return Err(e),
            };
            for (m, r) in metas.iter_mut().zip(&msgs[..n]) {
                *m = Meta {
                    len: r.meta.bytes.min(slot),
                    truncated: r.meta.truncated(),
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

/// One datagram of a [`Datagrams`] batch.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    bytes: &'a [u8],
    truncated: bool,
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
}

pub(crate) struct RecvBatchOp<F> {
    batch: Datagrams,
    f: F,
    res: Option<Result<usize>>,
}

impl<F: FnOnce(&mut Io, Result<usize>, Datagrams) + 'static> OpLogic for RecvBatchOp<F> {
    type Buf = Datagrams;

    fn attempt(&mut self, io: &mut Io, key: Key) -> bool {
        let Io { objects, stats, .. } = io;
        let Some(obj) = objects.get_mut(key) else {
            self.fail(Error::CLOSED);
            return true;
        };
        loop {
            if !obj.may_try(Dir::Read) {
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
        self.res = Some(Err(e));
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
    /// batch to read them from ([`Datagrams::iter`]). Completes at once when datagrams
    /// are queued, under the same dispatch rule as every operation.
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
