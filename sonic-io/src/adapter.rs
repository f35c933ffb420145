//! Driving any non-blocking `Read + Write + AsFd` (a TLS stream, say) with the async API.

use iox::{Error, Result};

use crate::io::Io;
use crate::object::{AdapterIo, Class, Owned};
use crate::op::Key;
use crate::ops::byte_ops;

/// A user stream owned by an [`Io`]: any non-blocking `T: Read + Write + AsFd` gets the
/// async operations of a [`Stream`](crate::Stream).
///
/// Its descriptor is registered like a socket's, but cached readiness is not trusted: a
/// new operation always tries `T` at once, and an armed one is retried on *any* edge, read
/// or write. So a stream whose read first needs a write (TLS renegotiation, a handshake
/// message) makes progress on the writable edge. `T` must be non-blocking: a blocking `T`
/// would block the whole loop. [`take`](Adapter::take) hands `T` back for its orderly
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
            Owned::Adapter(a) => a.as_any().downcast_ref::<T>().ok_or(Error::CLOSED),
            _ => Err(Error::CLOSED),
        }
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
