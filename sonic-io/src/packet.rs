//! Datagram sockets: UDP and Unix datagram sockets owned by an `Io`.

use iox::{Error, ErrorKind, Result};
use sock::timestamp::Timestamp;
use sock::{SockaddrAny, SockaddrStorage, UdpConn, UnixDatagram};
use sockaddr::Sockaddr;

use sonic_bytes::Fifo;

use crate::buf::{Blocks, IoBuf, IoBufMut, Region};
use crate::error::{Partial, Rejected};
use crate::handle::handle;
use crate::io::Io;
use crate::object::{ObjState, Owned, Register};
use crate::op::{Attempt, Dir, OpLogic, RecvMsg};
use crate::ops::{WriteFromOp, WriteOp};

/// Datagram sockets (sealed): [`sock::UdpConn`], [`sock::UnixDatagram`].
pub trait PacketSock: Register {}
impl PacketSock for UdpConn {}
impl PacketSock for UnixDatagram {}

handle! {
    /// A datagram socket owned by an [`Io`]. `async_read_from`/`async_write_to` name the
    /// peer per datagram; on a connected socket `async_read`/`async_write` do without. An
    /// empty datagram reads as `Ok(0)`, which here is not end of stream. A send that meets
    /// `ENOBUFS` (a full device queue) is retried after 50 µs, and on each write-space edge.
    ///
    /// **A datagram longer than the buffer is an error, never a silent cut**: every read
    /// (`async_read`, `async_read_from`, `async_read_exact`, `async_read_into`, `read`)
    /// fails with [`ErrorKind::MessageTooLarge`] ("datagram truncated (MSG_TRUNC): ..."); the buffer
    /// holds the datagram's first bytes (a FIFO commits none) and the rest is gone, as
    /// `recv(2)` discards it. The next read gets the next datagram. To receive oversized
    /// datagrams cut and marked instead, use a batch read
    /// ([`Datagram::truncated`](crate::Datagram::truncated)). Detected with `MSG_TRUNC`
    /// (Linux, Android); on other platforms a cut datagram is not detected.
    ///
    /// ```
    /// use sonic_io::{Io, PacketConn};
    ///
    /// let mut io = Io::new().unwrap();
    /// let a = PacketConn::add(&mut io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap();
    /// let b = PacketConn::add(&mut io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap();
    /// let to = b.get(&io).unwrap().local_addr().unwrap();
    /// a.async_write_to(&mut io, b"hello", &to, |_, r, _| assert_eq!(r.unwrap(), 5)).unwrap();
    /// b.async_read_from(&mut io, vec![0u8; 64], |_, r, buf| {
    ///     let (n, _from) = r.unwrap();
    ///     assert_eq!(&buf[..n], b"hello");
    /// })
    /// .unwrap();
    /// io.run_pending().unwrap();
    /// ```
    PacketConn<U: PacketSock>
}

/// A UDP socket owned by an [`Io`].
pub type UdpSocket = PacketConn<UdpConn>;

/// What a read of a datagram longer than its buffer fails with.
const TRUNCATED_ERROR: Error = Error::with_context(
    ErrorKind::MessageTooLarge,
    "datagram truncated (MSG_TRUNC): longer than the buffer, which holds its first bytes",
);

/// `MSG_TRUNC` as a receive flag makes Linux return a datagram's real length.
#[cfg(any(target_os = "linux", target_os = "android"))]
const TRUNC: libc::c_int = libc::MSG_TRUNC;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const TRUNC: libc::c_int = 0;

/// One datagram into `dst`: its length, or [`TRUNCATED_ERROR`] when it did not fit.
fn recv_datagram(fd: std::os::fd::RawFd, dst: &mut [u8]) -> Result<usize> {
    let n = zcall::recv(fd, dst, TRUNC)?;
    if n > dst.len() {
        return Err(TRUNCATED_ERROR);
    }
    Ok(n)
}

impl<U: PacketSock> PacketConn<U> {
    /// Receives one datagram into `buf` (up to its length) on a connected socket. The
    /// callback gets its length and the buffer back; a longer datagram fails with
    /// `MessageTooLarge`. Tries at once; completes inline when a datagram
    /// is queued (within the dispatch-depth limit) and the Io knows it. On io_uring, where
    /// reads complete in the ring, a read submitted after a completion from the ring goes to
    /// the kernel (a datagram socket's completion does not say whether more are queued), so
    /// each datagram of a burst completes in a turn of its own: one `io_uring_enter` each,
    /// where epoll spends a read each after one wait.
    pub fn async_read<B, F>(self, io: &mut Io, buf: B, f: F) -> std::result::Result<(), Rejected<B>>
    where
        B: IoBufMut,
        F: FnOnce(&mut Io, Result<usize>, B) + 'static,
    {
        let f = move |io: &mut Io, r: std::result::Result<usize, Partial>, b| {
            f(io, r.map_err(|p| p.error), b)
        };
        io.submit(self.key, Dir::Read, RecvOp::new(buf, f))
    }

    /// [`async_read`](Self::async_read) with a [`Partial`] error, for code written against
    /// streams: one datagram, however long the buffer (a datagram is never split). On
    /// truncation [`Partial::done`] is the buffer's length, the bytes it holds.
    pub fn async_read_exact<B, F>(
        self,
        io: &mut Io,
        buf: B,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: IoBufMut,
        F: FnOnce(&mut Io, std::result::Result<usize, Partial>, B) + 'static,
    {
        io.submit(self.key, Dir::Read, RecvOp::new(buf, f))
    }

    /// Sends `buf` as one datagram on a connected socket; the callback gets the count sent.
    pub fn async_write<B, F>(
        self,
        io: &mut Io,
        buf: B,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: IoBuf,
        F: FnOnce(&mut Io, Result<usize>, B) + 'static,
    {
        let op = WriteOp::new(
            buf,
            move |io: &mut Io, r: std::result::Result<usize, Partial>, b| {
                f(io, r.map_err(|p| p.error), b)
            },
            false,
        );
        io.submit(self.key, Dir::Write, op)
    }

    /// Sends `buf` as one datagram (a datagram goes whole or not at all), with a
    /// [`Partial`] error.
    pub fn async_write_all<B, F>(
        self,
        io: &mut Io,
        buf: B,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: IoBuf,
        F: FnOnce(&mut Io, std::result::Result<usize, Partial>, B) + 'static,
    {
        io.submit(self.key, Dir::Write, WriteOp::new(buf, f, true))
    }

    /// Receives one datagram into the free space of a `sonic-bytes` FIFO (at most `max`
    /// bytes) and commits it: no copy. A FIFO with no room fails with `NoBufferSpace`; a
    /// datagram longer than the room claimed fails with `MessageTooLarge`
    /// and commits nothing.
    pub fn async_read_into<B, F>(
        self,
        io: &mut Io,
        fifo: B,
        max: usize,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: Fifo + 'static,
        F: FnOnce(&mut Io, Result<usize>, B) + 'static,
    {
        let op = RecvIntoOp {
            fifo,
            f,
            max,
            res: None,
        };
        io.submit(self.key, Dir::Read, op)
    }

    /// Sends a FIFO's data as datagrams until it is empty, consuming what went.
    pub fn async_write_from<B, F>(
        self,
        io: &mut Io,
        fifo: B,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: Fifo + 'static,
        F: FnOnce(&mut Io, std::result::Result<usize, Partial>, B) + 'static,
    {
        let op = WriteFromOp {
            fifo,
            f,
            done: 0,
            res: None,
        };
        io.submit(self.key, Dir::Write, op)
    }

    /// Redirects the armed read (which must target a [`Region`] and have received nothing
    /// yet) to `region`: the seed's `SetAsyncReadBuffer`. On io_uring a datagram read whose
    /// receive is in the kernel (into a buffer of the Io's, copied into the region when it
    /// completes) is redirected too, to a region of at most 16 KiB.
    pub fn retarget_read(self, io: &mut Io, region: Region) -> Result<()> {
        io.retarget_read(self.key, region)
    }

    /// One non-blocking receive of a datagram, outside the async machinery (`WouldBlock`
    /// when none is queued, `MessageTooLarge` when it did not fit); refused while an async
    /// read is pending.
    pub fn read(self, io: &mut Io, buf: &mut [u8]) -> Result<usize> {
        io.sync_io(self.key, Dir::Read, |o| recv_datagram(o.fd, buf))
    }

    /// One non-blocking send of `buf` as a datagram; refused while an async write is
    /// pending.
    pub fn write(self, io: &mut Io, buf: &[u8]) -> Result<usize> {
        io.sync_io(self.key, Dir::Write, |o| o.send(buf))
    }

    /// Receives one datagram into `buf`; the callback gets its length and source. A
    /// datagram longer than `buf` fails with `MessageTooLarge`.
    pub fn async_read_from<B, F>(
        self,
        io: &mut Io,
        buf: B,
        f: F,
    ) -> std::result::Result<(), crate::Rejected<B>>
    where
        B: IoBufMut,
        F: FnOnce(&mut Io, Result<(usize, SockaddrAny)>, B) + 'static,
    {
        io.submit(self.key, Dir::Read, RecvFromOp::<Plain, _, _>::new(buf, f))
    }

    /// [`async_read_from`](Self::async_read_from) with the kernel's receive stamp of the
    /// datagram: the callback gets its length, its source and the time the kernel received
    /// it (`CLOCK_REALTIME`; `None` when the socket has stamps off). The stamp comes in the
    /// control data of the same `recvmsg` (no extra syscall) and is read from a buffer on
    /// the stack (no allocation). Turn stamps on with `set_rx_timestamps(true)` on the
    /// socket (`SO_TIMESTAMPING`, software) or `set_timestamp_ns(true)`. `async_read_from`
    /// stays a plain `recvfrom` with no control data: without stamps, use it.
    ///
    /// ```
    /// use sonic_io::{Io, PacketConn};
    ///
    /// let mut io = Io::new().unwrap();
    /// let rx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    /// rx.set_rx_timestamps(true).unwrap();
    /// let tx = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    /// tx.send_to(b"tick", &rx.local_addr().unwrap()).unwrap();
    /// let rx = PacketConn::add(&mut io, rx).unwrap();
    /// rx.async_read_from_timestamped(&mut io, vec![0u8; 64], |_, r, buf| {
    ///     let (n, _from, stamp) = r.unwrap();
    ///     assert_eq!(&buf[..n], b"tick");
    ///     // The first datagrams after a host's first socket asks may come unstamped.
    ///     if let Some(t) = stamp {
    ///         let latency = sock::timestamp::Timestamp::now().since(t);
    ///         assert!(latency.is_some());
    ///     }
    /// })
    /// .unwrap();
    /// io.run_pending().unwrap();
    /// ```
    pub fn async_read_from_timestamped<B, F>(
        self,
        io: &mut Io,
        buf: B,
        f: F,
    ) -> std::result::Result<(), crate::Rejected<B>>
    where
        B: IoBufMut,
        F: FnOnce(&mut Io, Result<(usize, SockaddrAny, Option<Timestamp>)>, B) + 'static,
    {
        io.submit(
            self.key,
            Dir::Read,
            RecvFromOp::<Stamped, _, _>::new(buf, f),
        )
    }

    /// Sends `buf` as one datagram to `to` (copied into the operation).
    pub fn async_write_to<B, F>(
        self,
        io: &mut Io,
        buf: B,
        to: &impl Sockaddr,
        f: F,
    ) -> std::result::Result<(), crate::Rejected<B>>
    where
        B: IoBuf,
        F: FnOnce(&mut Io, Result<usize>, B) + 'static,
    {
        let addr = match SockaddrStorage::from_bytes(to.as_bytes()) {
            Ok(a) => a,
            Err(error) => return Err(crate::Rejected { error, buf }),
        };
        io.submit(
            self.key,
            Dir::Write,
            SendToOp {
                buf,
                f,
                addr,
                res: None,
            },
        )
    }
}

/// How a datagram read with a source takes one datagram: its syscall, and what it hands the
/// callback. The readiness rules around it are [`RecvFromOp`]'s, written once.
trait RecvFrom: 'static {
    type Out;
    /// The control space a receive in the ring asks for (a `recvmsg` there, whatever the
    /// syscall of [`recv`](RecvFrom::recv)).
    const CONTROL: usize;

    /// One receive into `dst`, the source into `from`. A datagram longer than `dst` is
    /// `TRUNCATED_ERROR`; `WouldBlock` and `Interrupted` are left to the caller.
    fn recv(obj: &ObjState, dst: &mut [u8], from: &mut SockaddrStorage) -> Result<Self::Out>;

    /// What a `recvmsg` in the ring got: a whole datagram of `n` bytes (the caller has
    /// checked it fit), with the source and control data in `msg`.
    fn from_msg(n: usize, msg: &RecvMsg<'_>) -> Result<Self::Out>;
}

/// The source a receive wrote: a Unix datagram from an unnamed socket (a `pair()`, say)
/// has none, an address of length 0.
fn source(from: &SockaddrStorage) -> Result<SockaddrAny> {
    if from.is_empty() {
        Ok(SockaddrAny::Unix(sockaddr::SockaddrUnix::unnamed()))
    } else {
        from.decode()
    }
}

/// `recvfrom` with `MSG_TRUNC`: the length and the source.
struct Plain;

impl RecvFrom for Plain {
    type Out = (usize, SockaddrAny);
    const CONTROL: usize = 0;

    fn from_msg(n: usize, msg: &RecvMsg<'_>) -> Result<Self::Out> {
        source(&SockaddrStorage::from_bytes(msg.name)?).map(|a| (n, a))
    }

    fn recv(obj: &ObjState, dst: &mut [u8], from: &mut SockaddrStorage) -> Result<Self::Out> {
        let room = dst.len();
        match zcall::recvfrom(obj.fd, dst, TRUNC, from.as_mut_bytes())? {
            (n, _) if n > room => Err(TRUNCATED_ERROR),
            (n, len) => {
                from.set_len(len)?;
                source(from).map(|a| (n, a))
            }
        }
    }
}

/// `recvmsg` with control space on the stack: the length, the source and the kernel's
/// receive stamp.
struct Stamped;

impl RecvFrom for Stamped {
    type Out = (usize, SockaddrAny, Option<Timestamp>);
    const CONTROL: usize = sock::timestamp::RX_CONTROL_LEN;

    fn from_msg(n: usize, msg: &RecvMsg<'_>) -> Result<Self::Out> {
        let stamp = sock::timestamp::rx_timestamp(msg.control);
        source(&SockaddrStorage::from_bytes(msg.name)?).map(|a| (n, a, stamp))
    }

    fn recv(obj: &ObjState, dst: &mut [u8], from: &mut SockaddrStorage) -> Result<Self::Out> {
        let (meta, stamp) = match obj.owned() {
            Owned::Udp(u) => u.try_recv_timestamped(dst, from)?,
            Owned::UnixDatagram(u) => u.try_recv_timestamped(dst, from)?,
            _ => {
                return Err(Error::invalid_input(
                    "a datagram read needs a datagram socket",
                ));
            }
        };
        if meta.truncated() {
            Err(TRUNCATED_ERROR)
        } else {
            source(from).map(|a| (meta.bytes, a, stamp))
        }
    }
}

/// One datagram and its source (and, with [`Stamped`], its receive stamp) into an owned
/// buffer or a region.
struct RecvFromOp<K: RecvFrom, B, F> {
    buf: B,
    f: F,
    /// The buffer's length, for a receive in the ring.
    room: usize,
    /// A receive into a buffer of the backend's is in the kernel
    /// ([`copy_target`](OpLogic::copy_target)).
    in_ring: bool,
    res: Option<Result<K::Out>>,
}

impl<K: RecvFrom, B, F> RecvFromOp<K, B, F> {
    fn new(buf: B, f: F) -> Self {
        RecvFromOp {
            buf,
            f,
            room: 0,
            in_ring: false,
            res: None,
        }
    }
}

impl<K, B, F> OpLogic<Io> for RecvFromOp<K, B, F>
where
    K: RecvFrom,
    B: IoBufMut,
    F: FnOnce(&mut Io, Result<K::Out>, B) + 'static,
{
    type Buf = B;

    fn acquire(&mut self, blocks: &mut Blocks) -> Result<()> {
        self.buf.acquire(blocks)
    }

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        // Not in the kernel: a receive taken back whole (a shutdown's) is attempted again.
        self.in_ring = Default::default();
        let Attempt {
            obj,
            blocks: pub_blocks,
            stats,
            ..
        } = cx;
        loop {
            if !obj.may_try(Dir::Read) {
                return false;
            }
            let dst = match self.buf.slice_mut(pub_blocks) {
                Ok(d) => d,
                Err(e) => {
                    self.fail(e);
                    return true;
                }
            };
            let mut from = SockaddrStorage::default();
            stats.reads += 1;
            match K::recv(obj, dst, &mut from) {
                Err(e) if e.is_would_block() => {
                    obj.not_ready(Dir::Read);
                    return false;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                r => {
                    self.res = Some(r);
                    return true;
                }
            }
        }
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    /// The owned buffer (a `Vec`, a `Box`; never a region), for a `recvmsg` in the ring.
    fn recv_target(&mut self) -> Option<(*mut u8, usize)> {
        let dst = self.buf.stable_mut()?;
        self.room = dst.len();
        Some((dst.as_mut_ptr(), dst.len()))
    }

    fn source_control(&self) -> Option<usize> {
        Some(K::CONTROL)
    }

    fn copy_target(&mut self) -> Option<usize> {
        datagram_copy_target(&self.buf, &mut self.room, &mut self.in_ring)
    }

    fn fills_shared(&self) -> bool {
        self.buf.region_len().is_some()
    }

    fn copy_in(&mut self, bytes: &[u8], blocks: &mut Blocks, taking_back: bool) {
        self.in_ring = false;
        self.room = copy_datagram(&mut self.buf, bytes, blocks, taking_back);
    }

    fn received_msg(&mut self, res: i32, msg: &RecvMsg<'_>) -> bool {
        self.in_ring = false;
        self.res = Some(match res {
            // Taken back, its datagram dropped ([`copy_datagram`]).
            _ if self.room == usize::MAX => Err(Error::CANCELLED),
            // The receive passed `MSG_TRUNC`: longer than the buffer means cut, as the
            // attempt's `recv` reports it.
            n if n >= 0 && n as usize > self.room => Err(TRUNCATED_ERROR),
            n if n >= 0 => K::from_msg(n as usize, msg),
            // No buffer of the backend's was free (`ENOBUFS`): the read tries its syscall.
            e if e == -libc::EAGAIN || e == -libc::EINTR || e == -libc::ENOBUFS => return false,
            e => Err(Error::from(zcall::Errno::from_raw(-e))),
        });
        true
    }

    fn complete(self, io: &mut Io) {
        self.buf.release(&mut io.pub_blocks);
        // While the callback runs, a read taken back with its bytes landed in the ring does
        // not copy them over these ([`copy_datagram`]).
        let mark = self.buf.as_region();
        io.pub_blocks.delivering(mark);
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.buf);
        io.pub_blocks.delivered(mark);
    }

    fn retarget(&mut self, blocks: &mut Blocks, r: Region) -> Result<()> {
        retarget_datagram(&mut self.buf, self.in_ring, blocks, r)
    }

    fn into_buf(self) -> B {
        self.buf
    }

    fn abandon(self, blocks: &mut Blocks) {
        self.buf.release(blocks);
    }
}

/// A datagram read's copy target ([`OpLogic::copy_target`]): a region of at most
/// [`COPY_LIMIT`](crate::op::COPY_LIMIT), into which the datagram, received into a buffer of
/// the backend's, is copied. Called only when the receive goes to the kernel: it records
/// the room and that the receive is there.
fn datagram_copy_target<B: IoBufMut>(
    buf: &B,
    room: &mut usize,
    in_ring: &mut bool,
) -> Option<usize> {
    let len = buf
        .region_len()
        .filter(|&l| l > 0 && l <= crate::op::COPY_LIMIT)?;
    *room = len;
    *in_ring = true;
    Some(len)
}

/// Copies a datagram a receive brought into a buffer of the backend's into `buf` (a
/// region, as it is now: a redirect may have changed it), as much as it holds; returns
/// its length, against which the datagram's whole length tells a cut. A receive taken
/// back by a cancel, close or `take` (`taking_back`) whose region another read shares
/// (armed, or delivering: its callback running) leaves the region alone: the other read's
/// bytes there may not have been seen yet. Its datagram is dropped then, and the read
/// reports `Cancelled` (returned as `usize::MAX`, which no datagram reaches).
fn copy_datagram<B: IoBufMut>(
    buf: &mut B,
    bytes: &[u8],
    blocks: &mut Blocks,
    taking_back: bool,
) -> usize {
    if taking_back && buf.shared_with(blocks) {
        return usize::MAX;
    }
    let Ok(dst) = buf.slice_mut(blocks) else {
        return 0;
    };
    let n = bytes.len().min(dst.len());
    dst[..n].copy_from_slice(&bytes[..n]);
    dst.len()
}

/// Redirects an armed datagram read to `r`. A receive in the kernel (`in_ring`) brings at
/// most a backend buffer's worth ([`COPY_LIMIT`](crate::op::COPY_LIMIT)), so a region past
/// it is refused then (a longer datagram would be cut where the region holds it).
fn retarget_datagram<B: IoBufMut>(
    buf: &mut B,
    in_ring: bool,
    blocks: &mut Blocks,
    r: Region,
) -> Result<()> {
    if in_ring && r.len() > crate::op::COPY_LIMIT {
        return Err(Error::invalid_input(
            "the armed read is receiving in the kernel into 16 KiB: the new region must be no larger",
        ));
    }
    buf.retarget(blocks, r)
}

/// One datagram into an owned buffer or a region. A truncated datagram's [`Partial`]
/// counts the bytes the buffer holds.
struct RecvOp<B, F> {
    buf: B,
    f: F,
    room: usize,
    /// A receive into a buffer of the backend's is in the kernel
    /// ([`copy_target`](OpLogic::copy_target)).
    in_ring: bool,
    res: Option<Result<usize>>,
}

impl<B, F> RecvOp<B, F> {
    fn new(buf: B, f: F) -> RecvOp<B, F> {
        RecvOp {
            buf,
            f,
            room: 0,
            in_ring: false,
            res: None,
        }
    }
}

impl<B: IoBufMut, F: FnOnce(&mut Io, std::result::Result<usize, Partial>, B) + 'static> OpLogic<Io>
    for RecvOp<B, F>
{
    type Buf = B;

    fn acquire(&mut self, blocks: &mut Blocks) -> Result<()> {
        self.buf.acquire(blocks)
    }

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        // Not in the kernel: a receive taken back whole (a shutdown's) is attempted again.
        self.in_ring = Default::default();
        let Attempt {
            obj,
            blocks: pub_blocks,
            stats,
            ..
        } = cx;
        loop {
            if !obj.may_try(Dir::Read) {
                return false;
            }
            let dst = match self.buf.slice_mut(pub_blocks) {
                Ok(d) => d,
                Err(e) => {
                    self.fail(e);
                    return true;
                }
            };
            if dst.is_empty() {
                self.fail(Error::invalid_input("a read into an empty buffer"));
                return true;
            }
            stats.reads += 1;
            self.room = dst.len();
            match recv_datagram(obj.fd, dst) {
                Err(e) if e.is_would_block() => {
                    obj.not_ready(Dir::Read);
                    return false;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                r => {
                    self.res = Some(r);
                    return true;
                }
            }
        }
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    /// The owned buffer (a `Vec`, a `Box`; never a region) for a receive in the ring.
    fn recv_target(&mut self) -> Option<(*mut u8, usize)> {
        let dst = self.buf.stable_mut()?;
        if dst.is_empty() {
            // The attempt refuses it.
            return None;
        }
        self.room = dst.len();
        Some((dst.as_mut_ptr(), dst.len()))
    }

    fn copy_target(&mut self) -> Option<usize> {
        datagram_copy_target(&self.buf, &mut self.room, &mut self.in_ring)
    }

    fn fills_shared(&self) -> bool {
        self.buf.region_len().is_some()
    }

    fn copy_in(&mut self, bytes: &[u8], blocks: &mut Blocks, taking_back: bool) {
        self.in_ring = false;
        self.room = copy_datagram(&mut self.buf, bytes, blocks, taking_back);
    }

    /// The datagram's whole length (the receive passes `MSG_TRUNC`): longer than the
    /// buffer means cut, as the attempt's `recv` reports it.
    fn received(&mut self, res: i32) -> bool {
        self.in_ring = false;
        self.res = Some(match res {
            // Taken back, its datagram dropped ([`copy_datagram`]).
            _ if self.room == usize::MAX => Err(Error::CANCELLED),
            n if n >= 0 && n as usize > self.room => Err(TRUNCATED_ERROR),
            n if n >= 0 => Ok(n as usize),
            // No buffer of the backend's was free (`ENOBUFS`): the read tries its syscall.
            e if e == -libc::EAGAIN || e == -libc::EINTR || e == -libc::ENOBUFS => return false,
            e => Err(Error::from(zcall::Errno::from_raw(-e))),
        });
        true
    }

    fn complete(self, io: &mut Io) {
        self.buf.release(&mut io.pub_blocks);
        let room = self.room;
        let res = self
            .res
            .unwrap_or(Err(Error::CANCELLED))
            .map_err(|error| Partial {
                error,
                done: if error == TRUNCATED_ERROR { room } else { 0 },
            });
        // As in `RecvFromOp::complete`.
        let mark = self.buf.as_region();
        io.pub_blocks.delivering(mark);
        (self.f)(io, res, self.buf);
        io.pub_blocks.delivered(mark);
    }

    fn retarget(&mut self, blocks: &mut Blocks, r: Region) -> Result<()> {
        retarget_datagram(&mut self.buf, self.in_ring, blocks, r)
    }

    fn into_buf(self) -> B {
        self.buf
    }

    fn abandon(self, blocks: &mut Blocks) {
        self.buf.release(blocks);
    }
}

/// One datagram straight into a FIFO's free space (claim, one syscall, commit).
struct RecvIntoOp<B, F> {
    fifo: B,
    f: F,
    max: usize,
    res: Option<Result<usize>>,
}

impl<B: Fifo + 'static, F: FnOnce(&mut Io, Result<usize>, B) + 'static> OpLogic<Io>
    for RecvIntoOp<B, F>
{
    type Buf = B;

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        loop {
            let dst = self.fifo.claim(self.max);
            if dst.is_empty() {
                self.fail(Error::with_context(
                    ErrorKind::NoBufferSpace,
                    "the FIFO has no free space",
                ));
                return true;
            }
            if !obj.may_try(Dir::Read) {
                self.fifo.commit(0);
                return false;
            }
            stats.reads += 1;
            match recv_datagram(obj.fd, dst) {
                Ok(n) => {
                    self.fifo.commit(n);
                    self.res = Some(Ok(n));
                    return true;
                }
                Err(e) => {
                    self.fifo.commit(0);
                    if e.is_would_block() {
                        obj.not_ready(Dir::Read);
                        return false;
                    }
                    if e.kind() != ErrorKind::Interrupted {
                        self.fail(e);
                        return true;
                    }
                }
            }
        }
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    fn complete(self, io: &mut Io) {
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.fifo);
    }

    fn into_buf(self) -> B {
        self.fifo
    }
}

struct SendToOp<B, F> {
    buf: B,
    f: F,
    addr: SockaddrStorage,
    res: Option<Result<usize>>,
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const NOSIGNAL: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const NOSIGNAL: libc::c_int = 0;

impl<B: IoBuf, F: FnOnce(&mut Io, Result<usize>, B) + 'static> OpLogic<Io> for SendToOp<B, F> {
    type Buf = B;

    fn acquire(&mut self, blocks: &mut Blocks) -> Result<()> {
        self.buf.acquire(blocks)
    }

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt {
            obj,
            blocks,
            stats,
            enobufs,
        } = cx;
        loop {
            if !obj.may_try(Dir::Write) {
                return false;
            }
            let src = match self.buf.slice(blocks) {
                Ok(s) => s,
                Err(e) => {
                    self.fail(e);
                    return true;
                }
            };
            stats.writes += 1;
            match zcall::sendto(obj.fd, src, NOSIGNAL, self.addr.addr_bytes()) {
                Ok(n) => {
                    self.res = Some(Ok(n));
                    return true;
                }
                Err(e) if e == zcall::Errno::EAGAIN => {
                    obj.not_ready(Dir::Write);
                    return false;
                }
                // The device queue is full, not the socket buffer: the writable mark
                // stays, and the Io's retry timer makes the next attempt.
                Err(e) if e == zcall::Errno::ENOBUFS => {
                    *enobufs = true;
                    return false;
                }
                Err(e) if e == zcall::Errno::EINTR => {}
                Err(e) => {
                    self.fail(e.into());
                    return true;
                }
            }
        }
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    fn complete(self, io: &mut Io) {
        self.buf.release(&mut io.pub_blocks);
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.buf);
    }

    fn into_buf(self) -> B {
        self.buf
    }

    fn abandon(self, blocks: &mut Blocks) {
        self.buf.release(blocks);
    }
}

const _: () = {
    // The ENOBUFS classification above relies on this.
    assert!(matches!(
        Error::kind_of_errno(zcall::Errno::ENOBUFS),
        ErrorKind::NoBufferSpace
    ));
};
