//! Codecs: items decoded from and encoded into `sonic-bytes` FIFOs, and a connection that
//! reads and writes items instead of bytes.

mod frame;

pub use frame::{DEFAULT_FRAME_LIMIT, FRAME_LIMIT, Frame};

use iox::{Error, ErrorKind, Result};
use sonic_bytes::{ByteBuffer, Fifo};

use crate::io::Io;
use crate::op::{Attempt, Dir, Key, OpLogic};
use crate::stream::{ByteStream, TcpStream};

/// [`CodecConn::write_gather`]'s refusal: the parts would not fit the destination buffer.
const GATHER_NO_ROOM: Error = Error::with_context(
    ErrorKind::NoBufferSpace,
    "the destination FIFO cannot hold the parts",
);

/// Claims `n` bytes of `dst`, the claim repeated while each one grows the FIFO: one claim
/// grows a `ByteBuffer` by one step at most (its `CLAIM_GROWTH` or its size), which bounds
/// a read's claim, but the parts a program writes may need several steps. The length the
/// last claim got (uncommitted).
fn claim_grown<W: Fifo>(dst: &mut W, n: usize) -> usize {
    let mut had = 0;
    loop {
        let got = dst.claim(n).len();
        if got >= n || got <= had {
            return got;
        }
        had = got;
    }
}

/// What a decoder found at the front of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// An item and the bytes it spans (consumed when the next item is asked for).
    Item(T, usize),
    /// Not enough bytes: at least this many more are needed (0 if unknown).
    NeedMore(usize),
}

/// Decodes items from the front of a byte buffer.
///
/// `decode` looks at the committed bytes and does not consume them: the connection
/// consumes an item's span lazily, when the next item is asked for, so an item may borrow
/// the buffer until then. "Need more" is a result, not an error.
///
/// [`decode_mut`](Decoder::decode_mut) is the same with the bytes lent mutably, for a
/// format whose payload must be transformed before use (a WebSocket frame is unmasked, a
/// record decrypted): the decoder changes the bytes **in place**, within the span of the
/// item it returns, and hands them out as a borrowed slice, so nothing is copied.
/// [`CodecConn::item_mut`] calls it when the source FIFO lends its bytes mutably
/// ([`FifoMut`]). `decode` must still find the same items and spans (without transforming
/// them): [`CodecConn::async_read_next`] and [`CodecConn::item`] use it, and it is all a
/// FIFO without [`FifoMut`] gets. A decoder must not transform the same bytes twice: an
/// item reported with a span of 0 (held at the front) is decoded again next time; the
/// decoder keeps track of that itself. By default `decode_mut` is `decode`.
///
/// ```
/// use iox::Result;
/// use sonic_bytes::ByteBuffer;
/// use sonic_io::codec::{CodecConn, Decoded, Decoder};
/// use sonic_io::{Io, UnixStream};
///
/// /// One byte of length, then that many bytes XORed with 0x5A: `decode` finds an item's
/// /// span (and hands it out as it arrived), `decode_mut` hands it out plain.
/// struct Xor;
/// impl Decoder for Xor {
///     type Item<'a> = &'a [u8];
///     fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Decoded<&'a [u8]>> {
///         let Some(&n) = src.first() else { return Ok(Decoded::NeedMore(1)) };
///         let end = 1 + n as usize;
///         if src.len() < end {
///             return Ok(Decoded::NeedMore(end - src.len()));
///         }
///         Ok(Decoded::Item(&src[1..end], end))
///     }
///     fn decode_mut<'a>(&mut self, src: &'a mut [u8]) -> Result<Decoded<&'a [u8]>> {
///         if let Some(&n) = src.first()
///             && src.len() > n as usize
///         {
///             // Each item is decoded once here: its span is consumed before the next.
///             src[1..=n as usize].iter_mut().for_each(|b| *b ^= 0x5A);
///         }
///         self.decode(src)
///     }
/// }
///
/// let mut io = Io::new().unwrap();
/// let [a, b] = sock::UnixConn::pair().unwrap();
/// std::io::Write::write_all(&mut &a, &[2, b'h' ^ 0x5A, b'i' ^ 0x5A]).unwrap();
/// let mut rx = CodecConn::new(UnixStream::add(&mut io, b).unwrap(), Xor);
/// assert!(rx.item_mut().unwrap().is_none());
/// rx.async_read_next(&mut io, |_, r, mut rx| {
///     r.unwrap();
///     assert_eq!(rx.item_mut().unwrap(), Some(&b"hi"[..]));
/// })
/// .unwrap();
/// io.run_pending().unwrap();
/// ```
pub trait Decoder {
    /// The decoded item; it may borrow the buffer.
    type Item<'a>;
    /// Decodes one item from the front of `src`.
    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Decoded<Self::Item<'a>>>;
    /// Decodes one item from the front of `src`, which it may change in place within the
    /// item's span (see the trait's documentation). By default: [`decode`](Decoder::decode).
    fn decode_mut<'a>(&mut self, src: &'a mut [u8]) -> Result<Decoded<Self::Item<'a>>> {
        self.decode(src)
    }
}

/// A FIFO that also lends its committed bytes mutably, for decoders that transform them in
/// place ([`Decoder::decode_mut`]). [`ByteBuffer`] is one.
pub trait FifoMut: Fifo {
    /// The committed bytes, mutably (the same bytes as [`Fifo::data`]).
    fn data_mut(&mut self) -> &mut [u8];
}

impl FifoMut for ByteBuffer {
    fn data_mut(&mut self) -> &mut [u8] {
        ByteBuffer::data_mut(self)
    }
}

/// Encodes items into a FIFO: claims the space, writes, **and commits** (the Go frame codec
/// forgot the commit).
pub trait Encoder<I> {
    /// Appends `item`'s encoding to `dst`.
    fn encode<B: Fifo>(&mut self, item: I, dst: &mut B) -> Result<()>;
}

struct Inner<C, R, W> {
    codec: C,
    src: R,
    dst: W,
    /// The span of the item handed out last, consumed at the next decode.
    lent: usize,
    /// Bytes claimed per read when the decoder cannot say how many it needs.
    read_size: usize,
}

/// A stream that reads and writes items of codec `C` through a source FIFO `R` and a
/// destination FIFO `W` (both [`ByteBuffer`] by default).
///
/// The state lives in one box made by [`new`](CodecConn::new) (cold path); the async calls
/// move the connection into the operation and hand it back to the callback, so nothing is
/// allocated per item. After [`async_read_next`](CodecConn::async_read_next) succeeds,
/// [`item`](CodecConn::item) returns the decoded item without a syscall.
///
/// ```
/// use sonic_io::codec::{CodecConn, Frame};
/// use sonic_io::{Io, UnixStream};
///
/// let mut io = Io::new().unwrap();
/// let [a, b] = sock::UnixConn::pair().unwrap();
/// let (a, b) = (UnixStream::add(&mut io, a).unwrap(), UnixStream::add(&mut io, b).unwrap());
/// let mut tx = CodecConn::new(a, Frame::default());
/// assert_eq!(tx.write_next(&mut io, &b"hello"[..]).unwrap(), 0);
/// let rx = CodecConn::new(b, Frame::default());
/// rx.async_read_next(&mut io, |_, r, mut rx| {
///     r.unwrap();
///     assert_eq!(rx.item().unwrap(), Some(&b"hello"[..]));
/// })
/// .unwrap();
/// io.run_pending().unwrap();
/// ```
pub struct CodecConn<C, S = TcpStream, R = ByteBuffer, W = ByteBuffer> {
    stream: S,
    inner: Box<Inner<C, R, W>>,
}

impl<C, S: ByteStream, R, W> std::fmt::Debug for CodecConn<C, S, R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodecConn")
            .field("stream", &self.stream.stream_id())
            .finish_non_exhaustive()
    }
}

/// A read through a source FIFO that does not show all its bytes in `data()`.
const SPLIT_SOURCE: Error = Error::with_context(
    ErrorKind::InvalidInput,
    "a codec's read buffer must show every byte it holds in data() (Fifo::contiguous): a BipBuffer splits an item at its wrap; use a ByteBuffer or a MirroredBuffer",
);

impl<C: Decoder + 'static, S: ByteStream> CodecConn<C, S, ByteBuffer, ByteBuffer> {
    /// A connection over `stream` (a TCP or Unix stream, an [`Adapter`](crate::Adapter), any
    /// [`ByteStream`]) with two growable [`ByteBuffer`]s.
    pub fn new(stream: S, codec: C) -> Self {
        CodecConn::with_buffers(
            stream,
            codec,
            ByteBuffer::with_capacity(16 * 1024),
            ByteBuffer::with_capacity(16 * 1024),
        )
    }
}

impl<C: Decoder + 'static, S: ByteStream, R: Fifo + 'static, W: Fifo + 'static>
    CodecConn<C, S, R, W>
{
    /// A connection over `stream` with the given buffers. The read buffer `src` must show
    /// every byte it holds in `data()` ([`Fifo::contiguous`]): reads through a
    /// [`BipBuffer`](sonic_bytes::BipBuffer) are refused with `InvalidInput` (an item cut
    /// at its wrap could never be decoded); `ByteBuffer` and `MirroredBuffer` can.
    pub fn with_buffers(stream: S, codec: C, src: R, dst: W) -> Self {
        CodecConn {
            stream,
            inner: Box::new(Inner {
                codec,
                src,
                dst,
                lent: 0,
                read_size: 16 * 1024,
            }),
        }
    }

    /// The stream underneath.
    pub fn next_layer(&self) -> S {
        self.stream
    }

    /// The Io object the bytes go through.
    fn key(&self) -> Key {
        self.stream.stream_id().0
    }

    /// The codec.
    pub fn codec(&mut self) -> &mut C {
        &mut self.inner.codec
    }

    /// Bytes written by [`write_next`](CodecConn::write_next) that the socket has not taken.
    pub fn unsent(&self) -> usize {
        self.inner.dst.len()
    }

    /// Bytes received and not decoded into an item yet: the start of an item still
    /// incomplete, or items not asked for (the span of the item handed out last is not
    /// counted). After `UnexpectedEof`, more than 0 means the stream ended inside an item.
    pub fn buffered(&self) -> usize {
        self.inner.src.len() - self.inner.lent
    }

    /// The next item already in the source buffer, if any (no syscall). Consumes the item
    /// returned before.
    pub fn item(&mut self) -> Result<Option<C::Item<'_>>> {
        let inner = &mut *self.inner;
        let lent = std::mem::take(&mut inner.lent);
        inner.src.consume(lent);
        match inner.codec.decode(inner.src.data())? {
            Decoded::Item(item, n) => {
                inner.lent = n;
                Ok(Some(item))
            }
            Decoded::NeedMore(_) => Ok(None),
        }
    }

    /// Like [`item`](CodecConn::item), with the bytes lent mutably to the decoder
    /// ([`Decoder::decode_mut`]): it may transform the item in place (unmask, decrypt)
    /// before handing it out.
    pub fn item_mut(&mut self) -> Result<Option<C::Item<'_>>>
    where
        R: FifoMut,
    {
        let inner = &mut *self.inner;
        let lent = std::mem::take(&mut inner.lent);
        inner.src.consume(lent);
        match inner.codec.decode_mut(inner.src.data_mut())? {
            Decoded::Item(item, n) => {
                inner.lent = n;
                Ok(Some(item))
            }
            Decoded::NeedMore(_) => Ok(None),
        }
    }

    fn has_item(&mut self) -> Result<std::result::Result<(), usize>> {
        let inner = &mut *self.inner;
        let lent = std::mem::take(&mut inner.lent);
        inner.src.consume(lent);
        Ok(match inner.codec.decode(inner.src.data())? {
            Decoded::Item(..) => Ok(()),
            Decoded::NeedMore(n) => Err(n),
        })
    }

    /// The next item: from the buffer, or after one non-blocking read; `WouldBlock` if it
    /// is still incomplete, `UnexpectedEof` if the stream ended, `NoBufferSpace` if the
    /// source FIFO has no room left for the rest of the item (as the async read says).
    pub fn read_next(&mut self, io: &mut Io) -> Result<C::Item<'_>> {
        if !self.inner.src.contiguous() {
            return Err(SPLIT_SOURCE);
        }
        if let Err(need) = self.has_item()? {
            let inner = &mut *self.inner;
            let dst = inner
                .src
                .claim(claim_size(need, inner.read_size, inner.src.len()));
            if dst.is_empty() {
                // A zero-length read would say WouldBlock forever: refuse as the async
                // read does.
                inner.src.commit(0);
                return Err(Error::with_context(
                    ErrorKind::NoBufferSpace,
                    "the source FIFO has no free space",
                ));
            }
            let n = match io.sync_recv(self.stream.stream_id().0, dst) {
                Ok(n) => n,
                Err(e) => {
                    inner.src.commit(0);
                    return Err(e);
                }
            };
            inner.src.commit(n);
            if n == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof));
            }
        }
        match self.item()? {
            Some(item) => Ok(item),
            None => Err(Error::WOULD_BLOCK),
        }
    }

    /// Encodes `item` into the destination buffer and writes what the socket takes now;
    /// the rest stays buffered and goes first next time. Returns the bytes still buffered.
    pub fn write_next<I>(&mut self, io: &mut Io, item: I) -> Result<usize>
    where
        C: Encoder<I>,
    {
        let inner = &mut *self.inner;
        inner.codec.encode(item, &mut inner.dst)?;
        self.flush(io)
    }

    /// Writes `parts` (a frame's header and its payload, say) after what is buffered, as
    /// [`write_next`](CodecConn::write_next) writes an encoded item, without copying them
    /// into the destination buffer first when nothing is buffered: then they go to the
    /// socket in one gather write (`sendmsg` with two iovecs), and only what the socket
    /// does not take is copied into the buffer, to go first next time. Behind something
    /// buffered, or on a stream that frames its writes itself (an adapter such as a TLS
    /// stream), the parts are appended to the buffer and written from there. Returns the
    /// bytes still buffered. `NoBufferSpace` if the destination buffer could not hold the
    /// parts should the socket take none of them: checked before anything is written, so
    /// the stream never carries part of them.
    ///
    /// For an encoder whose items carry large payloads the peer may take as they are (an
    /// unmasked WebSocket frame): the payload's copy into the buffer was two thirds of the
    /// instructions of a server's 16 KiB WebSocket echo (DESIGN section 11).
    ///
    /// ```no_run
    /// # use sonic_io::{Io, TcpStream, codec::{CodecConn, Frame}};
    /// # fn f(io: &mut Io, cc: &mut CodecConn<Frame, TcpStream>, payload: &[u8]) -> iox::Result<()> {
    /// // A `Frame` (4-byte length, then the payload) whose payload is not copied first:
    /// let head = (payload.len() as u32).to_be_bytes();
    /// let unsent = cc.write_gather(io, [&head, payload])?;
    /// # let _ = unsent; Ok(()) }
    /// ```
    pub fn write_gather(&mut self, io: &mut Io, parts: [&[u8]; 2]) -> Result<usize> {
        let key = self.stream.stream_id().0;
        let inner = &mut *self.inner;
        let total = parts[0].len() + parts[1].len();
        let mut taken = 0;
        if inner.dst.is_empty() && total > 0 && io.gathers(key)? {
            // Whatever the socket takes, the rest must fit the buffer: refused before anything
            // is written, as `write_next` refuses an item its buffer cannot hold (else the
            // peer would get a torn frame: a review sent 40 MiB past a 16 MiB buffer's limit,
            // and 3.9 MB of a cut frame went out).
            if total > inner.dst.free() {
                let room = claim_grown(&mut inner.dst, total);
                inner.dst.commit(0);
                if room < total {
                    return Err(GATHER_NO_ROOM);
                }
            }
            match io.sync_io(key, Dir::Write, |o| o.send_gather(parts)) {
                Ok(n) => taken = n,
                Err(e) if e.is_would_block() => {}
                Err(e) => return Err(e),
            }
        }
        if taken < total {
            let (a, b) = if taken < parts[0].len() {
                (&parts[0][taken..], parts[1])
            } else {
                (&[][..], &parts[1][taken - parts[0].len()..])
            };
            if claim_grown(&mut inner.dst, a.len() + b.len()) < a.len() + b.len() {
                inner.dst.commit(0);
                return Err(GATHER_NO_ROOM);
            }
            let c = inner.dst.claim(a.len() + b.len());
            c[..a.len()].copy_from_slice(a);
            c[a.len()..a.len() + b.len()].copy_from_slice(b);
            inner.dst.commit(a.len() + b.len());
        }
        self.flush(io)
    }

    /// Writes what is buffered as far as the socket takes it now (no syscall when nothing
    /// is); returns the bytes still buffered.
    pub fn flush(&mut self, io: &mut Io) -> Result<usize> {
        let inner = &mut *self.inner;
        while !inner.dst.is_empty() {
            let key = self.stream.stream_id().0;
            match io.sync_io(key, Dir::Write, |o| o.send(inner.dst.data())) {
                Ok(n) => {
                    inner.dst.consume(n);
                }
                Err(e) if e.is_would_block() => break,
                Err(e) => return Err(e),
            }
        }
        Ok(inner.dst.len())
    }

    /// Waits for the next whole item: reads (through the stream's read path: cached
    /// readiness, the depth rule) until the decoder has one, then hands the connection
    /// back; [`item`](CodecConn::item) returns it.
    pub fn async_read_next<F>(
        self,
        io: &mut Io,
        f: F,
    ) -> std::result::Result<(), crate::Rejected<Self>>
    where
        F: FnOnce(&mut Io, Result<()>, Self) + 'static,
    {
        if !self.inner.src.contiguous() {
            return Err(crate::Rejected {
                error: SPLIT_SOURCE,
                buf: self,
            });
        }
        let key = self.key();
        io.submit(
            key,
            Dir::Read,
            ReadNextOp {
                cc: self,
                f,
                res: None,
            },
        )
    }

    /// Encodes `item` and writes the destination buffer until it is empty.
    pub fn async_write_next<I, F>(
        mut self,
        io: &mut Io,
        item: I,
        f: F,
    ) -> std::result::Result<(), crate::Rejected<Self>>
    where
        C: Encoder<I>,
        F: FnOnce(&mut Io, Result<()>, Self) + 'static,
    {
        let inner = &mut *self.inner;
        if let Err(error) = inner.codec.encode(item, &mut inner.dst) {
            return Err(crate::Rejected { error, buf: self });
        }
        let key = self.key();
        io.submit(
            key,
            Dir::Write,
            WriteNextOp {
                cc: self,
                f,
                res: None,
            },
        )
    }

    /// Closes the stream at once (pending operations complete with `Cancelled`): no
    /// orderly shutdown of a layer that has one (a TLS close_notify). For that, use
    /// [`close_gracefully`](Self::close_gracefully).
    pub fn close(self, io: &mut Io) -> Result<()> {
        io.remove_object(self.key(), false)?.close()
    }

    /// Closes the stream the way its layer ends it ([`ByteStream::close_gracefully`]: a
    /// TLS stream sends close_notify first), giving up the codec and its buffers.
    pub fn close_gracefully(self, io: &mut Io) -> Result<()> {
        self.stream.close_gracefully(io)
    }

    /// The stream underneath, giving up the codec and its buffers.
    pub fn into_next_layer(self) -> S {
        self.stream
    }
}

/// How much one read may claim in the source FIFO for an item that needs `need` more bytes:
/// at least `read_size`, and for a longer item no more than what has arrived so far again.
/// The buffer grows with the data (doubling at most per read), never with what a peer's
/// header claims: a 5-byte message announcing 1 GiB costs a `read_size` claim, not 1 GiB.
fn claim_size(need: usize, read_size: usize, buffered: usize) -> usize {
    need.min(buffered.max(read_size)).max(read_size)
}

struct ReadNextOp<CC, F> {
    cc: CC,
    f: F,
    res: Option<Result<()>>,
}

impl<C, S, R, W, F> OpLogic<Io> for ReadNextOp<CodecConn<C, S, R, W>, F>
where
    C: Decoder + 'static,
    S: ByteStream,
    R: Fifo + 'static,
    W: Fifo + 'static,
    F: FnOnce(&mut Io, Result<()>, CodecConn<C, S, R, W>) + 'static,
{
    type Buf = CodecConn<C, S, R, W>;

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        loop {
            let need = match self.cc.has_item() {
                Ok(Ok(())) => {
                    self.res = Some(Ok(()));
                    return true;
                }
                Ok(Err(need)) => need,
                Err(e) => {
                    self.fail(e);
                    return true;
                }
            };
            if !obj.may_try(Dir::Read) {
                return false;
            }
            let inner = &mut *self.cc.inner;
            let dst = inner
                .src
                .claim(claim_size(need, inner.read_size, inner.src.len()));
            let want = dst.len();
            if want == 0 {
                self.fail(Error::with_context(
                    ErrorKind::NoBufferSpace,
                    "the source FIFO has no free space",
                ));
                return true;
            }
            match obj.recv(dst, &mut stats.reads) {
                Ok(0) => {
                    inner.src.commit(0);
                    self.fail(Error::new(ErrorKind::UnexpectedEof));
                    return true;
                }
                // A stream's `recv` keeps its readiness mark itself.
                Ok(n) => {
                    inner.src.commit(n);
                }
                Err(e) => {
                    inner.src.commit(0);
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
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.cc);
    }

    /// With nothing buffered (the last item consumed, no partial one), a `read_size` claim
    /// in the source FIFO, where it is one of sonic-bytes' own (`ops::stable_fifo`; it
    /// also lives in the connection's box): the receive fills it in place. Bytes already
    /// buffered are the attempt's to decode first (the decoder is user code, run only
    /// inside an attempt).
    fn recv_target(&mut self) -> Option<(*mut u8, usize)> {
        if !crate::ops::stable_fifo::<R>() {
            return None;
        }
        let inner = &mut *self.cc.inner;
        let lent = std::mem::take(&mut inner.lent);
        inner.src.consume(lent);
        if inner.src.len() > 0 {
            return None;
        }
        crate::ops::fifo_recv_target(&mut inner.src, inner.read_size)
    }

    /// Bytes that arrived are committed and left to the attempt to decode (`false`: the Io
    /// goes back to attempting, as nothing is left to receive into); the end of stream and
    /// errors complete the read.
    fn received(&mut self, res: i32) -> bool {
        match crate::ops::fifo_received(&mut self.cc.inner.src, res) {
            Some(Ok(0)) => {
                self.fail(Error::new(ErrorKind::UnexpectedEof));
                true
            }
            Some(Ok(_)) | None => false,
            Some(Err(e)) => {
                self.fail(e);
                true
            }
        }
    }

    fn into_buf(self) -> Self::Buf {
        self.cc
    }
}

struct WriteNextOp<CC, F> {
    cc: CC,
    f: F,
    res: Option<Result<()>>,
}

impl<C, S, R, W, F> OpLogic<Io> for WriteNextOp<CodecConn<C, S, R, W>, F>
where
    C: Decoder + 'static,
    S: ByteStream,
    R: Fifo + 'static,
    W: Fifo + 'static,
    F: FnOnce(&mut Io, Result<()>, CodecConn<C, S, R, W>) + 'static,
{
    type Buf = CodecConn<C, S, R, W>;

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Attempt { obj, stats, .. } = cx;
        let dst = &mut self.cc.inner.dst;
        loop {
            if dst.is_empty() {
                self.res = Some(Ok(()));
                return true;
            }
            if !obj.may_try(Dir::Write) {
                return false;
            }
            let len = dst.data().len();
            stats.writes += 1;
            match obj.send(dst.data()) {
                Ok(n) => {
                    dst.consume(n);
                    if n < len {
                        obj.not_ready(Dir::Write);
                    }
                }
                Err(e) if e.is_would_block() => {
                    obj.not_ready(Dir::Write);
                    return false;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
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
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)), self.cc);
    }

    fn into_buf(self) -> Self::Buf {
        self.cc
    }
}
