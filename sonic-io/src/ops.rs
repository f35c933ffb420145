//! The byte operations shared by streams, connected packet sockets, files and adapters.

use iox::{Error, ErrorKind, Result};
use sonic_bytes::Fifo;

use crate::buf::{Blocks, IoBuf, IoBufMut, Region};
use crate::error::Partial;
use crate::object::Class;
use crate::op::{Attempt, Dir, Host, OpLogic};

const EMPTY_READ: Error = Error::invalid_input("a read into an empty buffer");
const NO_ROOM: Error = Error::with_context(ErrorKind::NoBufferSpace, "the FIFO has no free space");

/// Whether a FIFO of type `B` keeps the memory its claims hand out in place while the FIFO
/// moves, and reaches it from nowhere else: sonic-bytes' own FIFOs (a `Vec`, a boxed slice,
/// a mapping), whose claimed space a receive in the kernel may then fill
/// ([`OpLogic::recv_target`]). Another `Fifo` implementation waits for readiness: nothing
/// says where its claims point.
pub(crate) fn stable_fifo<B: 'static>() -> bool {
    use std::any::TypeId;
    let t = TypeId::of::<B>();
    t == TypeId::of::<sonic_bytes::ByteBuffer>()
        || t == TypeId::of::<sonic_bytes::BipBuffer>()
        || t == TypeId::of::<sonic_bytes::MirroredBuffer>()
}

/// A claim of at most `n` bytes in `fifo` for a receive to fill, where the FIFO's memory
/// stays put ([`stable_fifo`]); `None` (the claim dropped) for another FIFO or no room.
pub(crate) fn fifo_recv_target<B: Fifo + 'static>(
    fifo: &mut B,
    n: usize,
) -> Option<(*mut u8, usize)> {
    if !stable_fifo::<B>() {
        return None;
    }
    let dst = fifo.claim(n);
    if dst.is_empty() {
        fifo.commit(0);
        return None;
    }
    Some((dst.as_mut_ptr(), dst.len()))
}

/// A receive's result as a FIFO read sees it: committed bytes (`0`: end of stream), `None`
/// to receive again (`EAGAIN`, `EINTR`), or the error. The claim is settled either way.
pub(crate) fn fifo_received<B: Fifo>(fifo: &mut B, res: i32) -> Option<Result<usize>> {
    if res >= 0 {
        return Some(Ok(fifo.commit(res as usize)));
    }
    fifo.commit(0);
    if res == -libc::EAGAIN || res == -libc::EINTR {
        None
    } else {
        Some(Err(Error::from(zcall::Errno::from_raw(-res))))
    }
}

/// The outcome of one read or write syscall, as the attempt loops see it.
enum Step {
    /// `n` bytes moved.
    Moved(usize),
    /// Not ready: park.
    Park,
    /// Failed.
    Fail(Error),
}

fn step(r: Result<usize>, io_class: Class, dir: Dir, obj: &mut crate::object::ObjState) -> Step {
    match r {
        Ok(n) => Step::Moved(n),
        Err(e) if e.is_would_block() => {
            obj.not_ready(dir);
            Step::Park
        }
        // A full device queue, not a full socket buffer: the writable mark stays, so the
        // retry timer's attempt makes the call.
        Err(e) if e.kind() == ErrorKind::NoBufferSpace && io_class == Class::Datagram => Step::Park,
        Err(e) => Step::Fail(e),
    }
}

/// A read: one syscall's worth (`exact == false`) or the whole buffer.
pub(crate) struct ReadOp<B, F> {
    pub(crate) buf: B,
    pub(crate) f: F,
    pub(crate) done: usize,
    pub(crate) exact: bool,
    pub(crate) res: Option<std::result::Result<usize, Partial>>,
}

impl<B, F> ReadOp<B, F> {
    pub(crate) fn new(buf: B, f: F, exact: bool) -> ReadOp<B, F> {
        ReadOp {
            buf,
            f,
            done: 0,
            exact,
            res: None,
        }
    }
}

impl<C: Host, B: IoBufMut, F: FnOnce(&mut C, std::result::Result<usize, Partial>, B) + 'static>
    OpLogic<C> for ReadOp<B, F>
{
    type Buf = B;

    fn acquire(&mut self, blocks: &mut Blocks) -> Result<()> {
        self.buf.acquire(blocks)
    }

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
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
            let total = dst.len();
            let want = total - self.done.min(total);
            if want == 0 {
                self.res = Some(if self.done > 0 || self.exact {
                    Ok(self.done)
                } else {
                    Err(Partial {
                        error: EMPTY_READ,
                        done: 0,
                    })
                });
                return true;
            }
            let class = obj.class;
            let r = obj.recv(&mut dst[self.done..], &mut stats.reads);
            match step(r, class, Dir::Read, obj) {
                Step::Moved(0) if class != Class::Datagram => {
                    self.res = Some(if self.exact {
                        Err(Partial {
                            error: Error::new(ErrorKind::UnexpectedEof),
                            done: self.done,
                        })
                    } else {
                        Ok(0)
                    });
                    return true;
                }
                Step::Moved(n) => {
                    // A stream's `recv` keeps its readiness mark itself (a short count may
                    // be read-ahead bytes alone, with more in the socket).
                    self.done += n;
                    if !self.exact || class == Class::Datagram || self.done == total {
                        self.res = Some(Ok(self.done));
                        return true;
                    }
                }
                Step::Park => return false,
                Step::Fail(e) if e.kind() == ErrorKind::Interrupted => {}
                Step::Fail(e) => {
                    self.fail(e);
                    return true;
                }
            }
        }
    }

    fn fail(&mut self, error: Error) {
        self.res = Some(Err(Partial {
            error,
            done: self.done,
        }));
    }

    fn complete(self, io: &mut C) {
        self.buf.release(io.blocks());
        let res = self.res.unwrap_or(Err(Partial {
            error: Error::CANCELLED,
            done: self.done,
        }));
        (self.f)(io, res, self.buf);
    }

    fn recv_target(&mut self) -> Option<(*mut u8, usize)> {
        let rest = self.buf.stable_mut()?.get_mut(self.done..)?;
        // An empty read is the attempt's to refuse.
        (!rest.is_empty()).then_some((rest.as_mut_ptr(), rest.len()))
    }

    /// A stream read into a region waits for readiness on every backend: a receive in the
    /// kernel would take bytes that a cancel of the read could then only drop (if another
    /// read shares the region) where epoll leaves them in the socket.
    fn fills_shared(&self) -> bool {
        self.buf.region_len().is_some()
    }

    fn received(&mut self, res: i32) -> bool {
        match res {
            n if n > 0 => {
                self.done += n as usize;
                let total = self.buf.stable_mut().map_or(0, |b| b.len());
                if !self.exact || self.done >= total {
                    self.res = Some(Ok(self.done));
                    return true;
                }
                false
            }
            0 => {
                self.res = Some(if self.exact {
                    Err(Partial {
                        error: Error::new(ErrorKind::UnexpectedEof),
                        done: self.done,
                    })
                } else {
                    Ok(0)
                });
                true
            }
            e if e == -libc::EAGAIN || e == -libc::EINTR => false,
            e => {
                self.fail(Error::from(zcall::Errno::from_raw(-e)));
                true
            }
        }
    }

    fn retarget(&mut self, blocks: &mut Blocks, r: Region) -> Result<()> {
        if self.done > 0 {
            return Err(Error::invalid_input(
                "the armed read has already received bytes",
            ));
        }
        self.buf.retarget(blocks, r)
    }

    fn into_buf(self) -> B {
        self.buf
    }

    fn abandon(self, blocks: &mut Blocks) {
        self.buf.release(blocks);
    }
}

/// A write: one syscall's worth (`all == false`) or the whole buffer.
pub(crate) struct WriteOp<B, F> {
    pub(crate) buf: B,
    pub(crate) f: F,
    pub(crate) done: usize,
    pub(crate) all: bool,
    pub(crate) res: Option<std::result::Result<usize, Partial>>,
    /// The buffer's length, noted when its rest is handed to a send in the kernel
    /// ([`OpLogic::send_target`]), which completes without the buffer at hand.
    pub(crate) len: usize,
}

impl<B, F> WriteOp<B, F> {
    pub(crate) fn new(buf: B, f: F, all: bool) -> WriteOp<B, F> {
        WriteOp {
            buf,
            f,
            done: 0,
            all,
            res: None,
            len: 0,
        }
    }
}

impl<C: Host, B: IoBuf, F: FnOnce(&mut C, std::result::Result<usize, Partial>, B) + 'static>
    OpLogic<C> for WriteOp<B, F>
{
    type Buf = B;

    fn acquire(&mut self, blocks: &mut Blocks) -> Result<()> {
        self.buf.acquire(blocks)
    }

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt {
            obj,
            blocks: pub_blocks,
            stats,
            enobufs,
        } = cx;
        {
            loop {
                if !obj.may_try(Dir::Write) {
                    break false;
                }
                let src = match self.buf.slice(pub_blocks) {
                    Ok(s) => s,
                    Err(e) => {
                        self.fail(e);
                        break true;
                    }
                };
                let rest = &src[self.done.min(src.len())..];
                let class = obj.class;
                // An empty datagram is still a datagram: send it.
                if rest.is_empty() && class != Class::Datagram {
                    self.res = Some(Ok(self.done));
                    break true;
                }
                stats.writes += 1;
                let r = obj.send(rest);
                if let Err(e) = &r {
                    *enobufs = e.kind() == ErrorKind::NoBufferSpace;
                }
                match step(r, class, Dir::Write, obj) {
                    Step::Moved(0) if class != Class::Datagram => {
                        self.fail(Error::new(ErrorKind::ShortWrite));
                        break true;
                    }
                    Step::Moved(n) => {
                        self.done += n;
                        if n < rest.len() && class == Class::Stream {
                            obj.not_ready(Dir::Write);
                        }
                        if !self.all || class == Class::Datagram || self.done == src.len() {
                            self.res = Some(Ok(self.done));
                            break true;
                        }
                    }
                    Step::Park => break false,
                    Step::Fail(e) if e.kind() == ErrorKind::Interrupted => {}
                    Step::Fail(e) => {
                        self.fail(e);
                        break true;
                    }
                }
            }
        }
    }

    fn fail(&mut self, error: Error) {
        self.res = Some(Err(Partial {
            error,
            done: self.done,
        }));
    }

    fn complete(self, io: &mut C) {
        self.buf.release(io.blocks());
        let res = self.res.unwrap_or(Err(Partial {
            error: Error::CANCELLED,
            done: self.done,
        }));
        (self.f)(io, res, self.buf);
    }

    /// The unsent rest. Every write buffer stays put: owned and static ones keep their
    /// address, and a region's block is frozen by the write's claim (no read may fill it,
    /// and it cannot be taken back while the write holds it).
    fn send_target(&mut self, blocks: &Blocks) -> Option<(*const u8, usize)> {
        let src = self.buf.slice(blocks).ok()?;
        let rest = src.get(self.done..)?;
        self.len = src.len();
        // An empty write is the attempt's to finish.
        (!rest.is_empty()).then_some((rest.as_ptr(), rest.len()))
    }

    fn sent(&mut self, res: i32) -> bool {
        match res {
            n if n > 0 => {
                self.done += n as usize;
                if !self.all || self.done >= self.len {
                    self.res = Some(Ok(self.done));
                    return true;
                }
                false
            }
            0 => {
                self.fail(Error::new(ErrorKind::ShortWrite));
                true
            }
            // Nothing sent (io_uring's worker fallback can say so): send again.
            e if e == -libc::EAGAIN || e == -libc::EINTR => false,
            e => {
                self.fail(Error::from(zcall::Errno::from_raw(-e)));
                true
            }
        }
    }

    fn into_buf(self) -> B {
        self.buf
    }

    fn abandon(self, blocks: &mut Blocks) {
        self.buf.release(blocks);
    }
}

/// One read straight into a FIFO's free space (claim, one syscall, commit).
pub(crate) struct ReadIntoOp<B, F> {
    pub(crate) fifo: B,
    pub(crate) f: F,
    pub(crate) max: usize,
    pub(crate) res: Option<Result<usize>>,
}

impl<C: Host, B: Fifo + 'static, F: FnOnce(&mut C, Result<usize>, B) + 'static> OpLogic<C>
    for ReadIntoOp<B, F>
{
    type Buf = B;

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        loop {
            let dst = self.fifo.claim(self.max);
            if dst.is_empty() {
                self.fail(NO_ROOM);
                return true;
            }
            if !obj.may_try(Dir::Read) {
                self.fifo.commit(0);
                return false;
            }
            let class = obj.class;
            let r = obj.recv(dst, &mut stats.reads);
            match step(r, class, Dir::Read, obj) {
                Step::Moved(n) => {
                    self.fifo.commit(n);
                    self.res = Some(Ok(n));
                    return true;
                }
                Step::Park => {
                    self.fifo.commit(0);
                    return false;
                }
                Step::Fail(e) if e.kind() == ErrorKind::Interrupted => {}
                Step::Fail(e) => {
                    self.fifo.commit(0);
                    self.fail(e);
                    return true;
                }
            }
        }
    }

    fn fail(&mut self, e: Error) {
        self.res = Some(Err(e));
    }

    fn complete(self, io: &mut C) {
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.fifo);
    }

    /// The FIFO's free space (at most `max`), where the FIFO is one of sonic-bytes' own
    /// ([`stable_fifo`]): the receive fills it in place, as the attempt's read would.
    /// With no room, the attempt says so.
    fn recv_target(&mut self) -> Option<(*mut u8, usize)> {
        fifo_recv_target(&mut self.fifo, self.max)
    }

    fn received(&mut self, res: i32) -> bool {
        match fifo_received(&mut self.fifo, res) {
            Some(r) => {
                self.res = Some(r);
                true
            }
            None => false,
        }
    }

    fn into_buf(self) -> B {
        self.fifo
    }
}

/// Writes a FIFO's data until it is empty, consuming what went.
pub(crate) struct WriteFromOp<B, F> {
    pub(crate) fifo: B,
    pub(crate) f: F,
    pub(crate) done: usize,
    pub(crate) res: Option<std::result::Result<usize, Partial>>,
}

impl<
    C: Host,
    B: Fifo + 'static,
    F: FnOnce(&mut C, std::result::Result<usize, Partial>, B) + 'static,
> OpLogic<C> for WriteFromOp<B, F>
{
    type Buf = B;

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        loop {
            if !obj.may_try(Dir::Write) {
                return false;
            }
            let src = self.fifo.data();
            if src.is_empty() {
                self.res = Some(Ok(self.done));
                return true;
            }
            let len = src.len();
            stats.writes += 1;
            let class = obj.class;
            let r = obj.send(src);
            match step(r, class, Dir::Write, obj) {
                Step::Moved(0) => {
                    self.fail(Error::new(ErrorKind::ShortWrite));
                    return true;
                }
                Step::Moved(n) => {
                    self.fifo.consume(n);
                    self.done += n;
                    if n < len && class == Class::Stream {
                        obj.not_ready(Dir::Write);
                    }
                }
                Step::Park => return false,
                Step::Fail(e) if e.kind() == ErrorKind::Interrupted => {}
                Step::Fail(e) => {
                    self.fail(e);
                    return true;
                }
            }
        }
    }

    fn fail(&mut self, error: Error) {
        self.res = Some(Err(Partial {
            error,
            done: self.done,
        }));
    }

    fn complete(self, io: &mut C) {
        let res = self.res.unwrap_or(Err(Partial {
            error: Error::CANCELLED,
            done: self.done,
        }));
        (self.f)(io, res, self.fifo);
    }

    fn into_buf(self) -> B {
        self.fifo
    }
}
