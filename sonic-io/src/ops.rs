//! The byte operations shared by streams, connected packet sockets, files and adapters.

use iox::{Error, ErrorKind, Result};
use sonic_bytes::Fifo;

use crate::buf::{Blocks, IoBuf, IoBufMut, Region};
use crate::error::Partial;
use crate::io::Io;
use crate::object::Class;
use crate::op::{Attempt, Dir, Key, OpLogic};

const EMPTY_READ: Error = Error::invalid_input("a read into an empty buffer");
const NO_ROOM: Error = Error::with_context(ErrorKind::NoBufferSpace, "the FIFO has no free space");

/// How long a datagram send that met ENOBUFS waits before it retries (a full device queue
/// raises no edge on the socket; a write-space edge, if one comes, retries it sooner).
pub(crate) const ENOBUFS_RETRY_NS: u64 = 50_000;

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

impl<B: IoBufMut, F: FnOnce(&mut Io, std::result::Result<usize, Partial>, B) + 'static> OpLogic
    for ReadOp<B, F>
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

    fn complete(self, io: &mut Io) {
        self.buf.release(&mut io.pub_blocks);
        let res = self.res.unwrap_or(Err(Partial {
            error: Error::CANCELLED,
            done: self.done,
        }));
        (self.f)(io, res, self.buf);
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
}

impl<B, F> WriteOp<B, F> {
    pub(crate) fn new(buf: B, f: F, all: bool) -> WriteOp<B, F> {
        WriteOp {
            buf,
            f,
            done: 0,
            all,
            res: None,
        }
    }
}

impl<B: IoBuf, F: FnOnce(&mut Io, std::result::Result<usize, Partial>, B) + 'static> OpLogic
    for WriteOp<B, F>
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

    fn complete(self, io: &mut Io) {
        self.buf.release(&mut io.pub_blocks);
        let res = self.res.unwrap_or(Err(Partial {
            error: Error::CANCELLED,
            done: self.done,
        }));
        (self.f)(io, res, self.buf);
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

impl<B: Fifo + 'static, F: FnOnce(&mut Io, Result<usize>, B) + 'static> OpLogic
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

    fn complete(self, io: &mut Io) {
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.fifo);
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

impl<B: Fifo + 'static, F: FnOnce(&mut Io, std::result::Result<usize, Partial>, B) + 'static>
    OpLogic for WriteFromOp<B, F>
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

    fn complete(self, io: &mut Io) {
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

/// Generates the byte operations on a handle type whose objects read and write bytes.
macro_rules! byte_ops {
    ($name:ident < $p:ident : $bound:path >) => {
        impl<$p: $bound> $name<$p> {
            /// Reads once into `buf` (up to its length). The callback gets the count
            /// (`Ok(0)`: end of stream) and the buffer back. Tries at once; completes
            /// inline when the data is there (within the dispatch-depth limit).
            pub fn async_read<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBufMut,
                F: FnOnce(&mut $crate::Io, iox::Result<usize>, B) + 'static,
            {
                let op = $crate::ops::ReadOp::new(
                    buf,
                    move |io: &mut $crate::Io,
                          r: ::std::result::Result<usize, $crate::Partial>,
                          b| { f(io, r.map_err(|p| p.error), b) },
                    false,
                );
                io.submit(self.key, $crate::op::Dir::Read, op)
            }

            /// Reads until `buf` is full. End of stream first is `UnexpectedEof`, with the
            /// count received in [`Partial::done`]($crate::Partial).
            pub fn async_read_exact<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBufMut,
                F: FnOnce(&mut $crate::Io, ::std::result::Result<usize, $crate::Partial>, B)
                    + 'static,
            {
                io.submit(
                    self.key,
                    $crate::op::Dir::Read,
                    $crate::ops::ReadOp::new(buf, f, true),
                )
            }

            /// Writes once from `buf`; the callback gets the count sent (maybe short).
            pub fn async_write<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBuf,
                F: FnOnce(&mut $crate::Io, iox::Result<usize>, B) + 'static,
            {
                let op = $crate::ops::WriteOp::new(
                    buf,
                    move |io: &mut $crate::Io,
                          r: ::std::result::Result<usize, $crate::Partial>,
                          b| { f(io, r.map_err(|p| p.error), b) },
                    false,
                );
                io.submit(self.key, $crate::op::Dir::Write, op)
            }

            /// Writes all of `buf`, continuing after partial progress; a failure reports
            /// how much went in [`Partial::done`]($crate::Partial).
            pub fn async_write_all<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBuf,
                F: FnOnce(&mut $crate::Io, ::std::result::Result<usize, $crate::Partial>, B)
                    + 'static,
            {
                io.submit(
                    self.key,
                    $crate::op::Dir::Write,
                    $crate::ops::WriteOp::new(buf, f, true),
                )
            }

            /// Reads once into the free space of a `sonic-bytes` FIFO (at most `max` bytes),
            /// committing what arrived: no copy. A FIFO with no room fails with
            /// `NoBufferSpace` (never `Ok(0)`, which means end of stream).
            pub fn async_read_into<B, F>(
                self,
                io: &mut $crate::Io,
                fifo: B,
                max: usize,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: sonic_bytes::Fifo + 'static,
                F: FnOnce(&mut $crate::Io, iox::Result<usize>, B) + 'static,
            {
                let op = $crate::ops::ReadIntoOp {
                    fifo,
                    f,
                    max,
                    res: None,
                };
                io.submit(self.key, $crate::op::Dir::Read, op)
            }

            /// Writes a FIFO's data until it is empty, consuming what went.
            pub fn async_write_from<B, F>(
                self,
                io: &mut $crate::Io,
                fifo: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: sonic_bytes::Fifo + 'static,
                F: FnOnce(&mut $crate::Io, ::std::result::Result<usize, $crate::Partial>, B)
                    + 'static,
            {
                let op = $crate::ops::WriteFromOp {
                    fifo,
                    f,
                    done: 0,
                    res: None,
                };
                io.submit(self.key, $crate::op::Dir::Write, op)
            }

            /// Redirects the armed read (which must target a [`Region`]($crate::Region) and
            /// have received nothing yet) to `region`: the seed's `SetAsyncReadBuffer`.
            pub fn retarget_read(
                self,
                io: &mut $crate::Io,
                region: $crate::Region,
            ) -> iox::Result<()> {
                io.retarget_read(self.key, region)
            }

            /// One non-blocking read, outside the async machinery (`WouldBlock` when no
            /// data); refused while an async read is pending.
            pub fn read(self, io: &mut $crate::Io, buf: &mut [u8]) -> iox::Result<usize> {
                io.sync_recv(self.key, buf)
            }

            /// One non-blocking write; refused while an async write is pending.
            pub fn write(self, io: &mut $crate::Io, buf: &[u8]) -> iox::Result<usize> {
                io.sync_io(self.key, $crate::op::Dir::Write, |o| o.send(buf))
            }
        }
    };
}

pub(crate) use byte_ops;

impl Io {
    pub(crate) fn retarget_read(&mut self, key: Key, r: Region) -> Result<()> {
        let Io {
            objects,
            pub_blocks,
            ..
        } = self;
        let crate::op::OpSlot::Armed(p) = objects.lookup_mut(key)?.slot_mut(Dir::Read) else {
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
        f: impl FnOnce(&mut crate::object::Object) -> Result<usize>,
    ) -> Result<usize> {
        self.sync_io_counted(key, dir, |o, stats| {
            match dir {
                Dir::Read => stats.reads += 1,
                Dir::Write => stats.writes += 1,
            }
            f(o)
        })
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
        f: impl FnOnce(&mut crate::object::Object, &mut crate::Stats) -> Result<usize>,
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
        let r = f(obj, stats);
        if matches!(&r, Err(e) if e.is_would_block()) {
            obj.not_ready(dir);
        }
        r
    }
}
