//! Driving any non-blocking `Read + Write + AsFd` (a TLS stream, say) with the async API.

use iox::{Error, Result};

use crate::handle::byte_ops;
use crate::io::Io;
use crate::object::{AdapterIo, Class, Owned};
use crate::op::{Attempt, Dir, Key, OpLogic, OpSlot};
use crate::stream::{ByteStream, StreamId};

const PENDING: Error = Error::invalid_input("an operation of the adapter is pending");

/// A user stream owned by an [`Io`]: any non-blocking `T: Read + Write + AsFd` gets the
/// async operations of a [`Stream`](crate::Stream).
///
/// Its descriptor is registered like a socket's, but cached readiness is not trusted: a
/// new operation always tries `T` at once, and an armed one is retried on *any* edge, read
/// or write. So a stream whose read first needs a write (TLS renegotiation, a handshake
/// message) makes progress on the writable edge. `T` must be non-blocking: a blocking `T`
/// would block the whole loop. That includes a sock socket with a read or write deadline
/// set: its `Read`/`Write` run sock's deadline loop, which waits; leave its deadlines unset,
/// or build `T` on sock's `try_read`/`try_write`, which never wait. [`take`](Adapter::take) hands `T` back for its orderly
/// shutdown (a TLS close_notify, say). Creating an adapter boxes `T` once (cold path).
///
/// ```
/// use sonic_io::{Adapter, Io};
///
/// let mut io = Io::new().unwrap();
/// let [a, b] = sock::UnixConn::pair().unwrap();
/// let a = Adapter::new(&mut io, a).unwrap();
/// let b = Adapter::new(&mut io, b).unwrap();
/// a.async_write_all(&mut io, b"hi", |_, r, _| assert_eq!(r.unwrap(), 2)).unwrap();
/// b.async_read_exact(&mut io, vec![0; 2], |_, r, buf| assert_eq!((r.unwrap(), &buf[..]), (2, &b"hi"[..]))).unwrap();
/// io.run_pending().unwrap();
/// let _a: sock::UnixConn = a.take(&mut io).unwrap();
/// ```
pub struct Adapter<T> {
    pub(crate) key: Key,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Adapter<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Adapter<T> {}
impl<T> PartialEq for Adapter<T> {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl<T> Eq for Adapter<T> {}
impl<T> std::hash::Hash for Adapter<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key.hash(h)
    }
}
impl<T> std::fmt::Debug for Adapter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Adapter({}#{})", self.key.idx, self.key.generation)
    }
}

byte_ops!(Adapter<T: AdapterIo>);

impl<T: AdapterIo> Adapter<T> {
    /// Gives `t` to `io` and registers its descriptor.
    pub fn new(io: &mut Io, t: T) -> Result<Adapter<T>> {
        let key = io.insert(Owned::Adapter(Box::new(t)), Class::Adapter)?;
        Ok(Adapter {
            key,
            _t: std::marker::PhantomData,
        })
    }

    /// Lends `T`.
    pub fn get(self, io: &Io) -> Result<&T> {
        match io.object(self.key)?.owned() {
            Owned::Adapter(a) => (**a).as_any().downcast_ref::<T>().ok_or(Error::CLOSED),
            _ => Err(Error::CLOSED),
        }
    }

    /// Lends `T` mutably (refused while an operation of the adapter is pending: it holds
    /// `T`'s state).
    pub fn get_mut(self, io: &mut Io) -> Result<&mut T> {
        let o = io.object_mut(self.key)?;
        if !matches!(o.read, OpSlot::Idle) || !matches!(o.write, OpSlot::Idle) {
            return Err(PENDING);
        }
        o.adapter_mut::<T>().ok_or(Error::CLOSED)
    }

    /// Calls `g` on `T` now and again on every edge of its descriptor while it returns
    /// `WouldBlock`, then completes `f` once with its result: an operation that is not a
    /// read or a write of bytes, such as a TLS handshake or the flush of a close_notify.
    /// It holds the write direction (a write is refused meanwhile, and it is refused while
    /// a write is pending), completes inline under the dispatch-depth rule when `g`
    /// succeeds at once, and completes with `Cancelled` on cancel or close.
    ///
    /// ```
    /// use std::io::Write;
    /// use sonic_io::{Adapter, Io};
    ///
    /// let mut io = Io::new().unwrap();
    /// let [a, b] = sock::UnixConn::pair().unwrap();
    /// let a = Adapter::new(&mut io, a).unwrap();
    /// // Wait until the peer has sent something, without reading it.
    /// a.async_drive(
    ///     &mut io,
    ///     |c: &mut sock::UnixConn| {
    ///         let mut one = [0u8; 1];
    ///         c.peek(&mut one).map(drop)
    ///     },
    ///     |_, r| r.unwrap(),
    /// )
    /// .unwrap();
    /// b.write(b"x").unwrap();
    /// io.run_pending().unwrap();
    /// ```
    pub fn async_drive<G, F>(self, io: &mut Io, g: G, f: F) -> Result<()>
    where
        G: FnMut(&mut T) -> Result<()> + 'static,
        F: FnOnce(&mut Io, Result<()>) + 'static,
    {
        let op = DriveOp::<T, G, F> {
            g,
            f,
            res: None,
            _t: std::marker::PhantomData,
        };
        io.submit(self.key, Dir::Write, op).map_err(|r| r.error)
    }

    /// Completes every pending operation with `Cancelled`; returns how many.
    pub fn cancel(self, io: &mut Io) -> Result<usize> {
        io.cancel_ops(self.key, true, true)
    }

    /// Removes the adapter (pending operations complete with `Cancelled`) and hands `T`
    /// back, deregistered, for its own shutdown.
    pub fn take(self, io: &mut Io) -> Result<T> {
        match io.remove_object(self.key, true)? {
            Owned::Adapter(a) => a
                .into_any()
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|_| Error::CLOSED),
            _ => Err(Error::CLOSED),
        }
    }

    /// Removes the adapter and drops `T` (pending operations complete with `Cancelled`).
    pub fn close(self, io: &mut Io) -> Result<()> {
        io.remove_object(self.key, false)?.close()
    }
}

impl<T: AdapterIo> ByteStream for Adapter<T> {
    fn stream_id(self) -> StreamId {
        StreamId(self.key)
    }
}

/// [`Adapter::async_drive`]: `g` on `T` until it stops saying `WouldBlock`.
struct DriveOp<T, G, F> {
    g: G,
    f: F,
    res: Option<Result<()>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, G, F> OpLogic<Io> for DriveOp<T, G, F>
where
    T: AdapterIo,
    G: FnMut(&mut T) -> Result<()> + 'static,
    F: FnOnce(&mut Io, Result<()>) + 'static,
{
    type Buf = ();

    fn attempt(&mut self, cx: &mut Attempt<'_>) -> bool {
        let Some(t) = cx.obj.adapter_mut::<T>() else {
            self.fail(Error::CLOSED);
            return true;
        };
        loop {
            match (self.g)(t) {
                Err(e) if e.is_would_block() => return false,
                Err(e) if e.kind() == iox::ErrorKind::Interrupted => {}
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

    fn complete(self, io: &mut Io) {
        (self.f)(io, self.res.unwrap_or(Err(Error::CANCELLED)));
    }

    fn into_buf(self) {}
}
