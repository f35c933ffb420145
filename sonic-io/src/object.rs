//! The objects an `Io` owns: sockets, files, adapters, and the syscalls their operations make.

use std::any::Any;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use iox::{Error, Result};
use sock::{TcpConn, TcpListener, UdpConn, UnixConn, UnixDatagram, UnixListener};

use crate::op::{Dir, OpSlot};
use crate::sys::Ready;

/// How an object's operations behave.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A connected byte stream: short transfers clear the cached readiness.
    Stream,
    /// Datagrams: only `WouldBlock` clears the cached readiness.
    Datagram,
    /// A listening socket.
    Listener,
    /// A regular file: never registered, always ready.
    File,
    /// A user stream: every operation tries at once, any edge retries both directions.
    Adapter,
}

/// A non-blocking stream driven through an [`Adapter`](crate::Adapter).
pub trait AdapterIo: Read + Write + AsFd + Any {
    #[doc(hidden)]
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    #[doc(hidden)]
    fn as_any(&self) -> &dyn Any;
    #[doc(hidden)]
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Read + Write + AsFd + Any> AdapterIo for T {
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What an object slot holds.
#[doc(hidden)]
pub enum Owned {
    Tcp(TcpConn),
    Unix(UnixConn),
    TcpListener(TcpListener),
    UnixListener(UnixListener),
    Udp(UdpConn),
    UnixDatagram(UnixDatagram),
    File(iofd::Fd),
    Adapter(Box<dyn AdapterIo>),
}

impl std::fmt::Debug for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Owned(fd {})", self.raw_fd())
    }
}

impl Owned {
    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            Owned::Tcp(s) => s.as_raw_fd(),
            Owned::Unix(s) => s.as_raw_fd(),
            Owned::TcpListener(s) => s.as_raw_fd(),
            Owned::UnixListener(s) => s.as_raw_fd(),
            Owned::Udp(s) => s.as_raw_fd(),
            Owned::UnixDatagram(s) => s.as_raw_fd(),
            Owned::File(f) => f.raw(),
            Owned::Adapter(a) => a.as_fd().as_raw_fd(),
        }
    }

    /// Closes the descriptor and returns `close(2)`'s own result.
    pub(crate) fn close(self) -> Result<()> {
        match self {
            Owned::Tcp(s) => s.close(),
            Owned::Unix(s) => s.close(),
            Owned::TcpListener(s) => iofd::Fd::from(std::os::fd::OwnedFd::from(s)).close(),
            Owned::UnixListener(s) => iofd::Fd::from(std::os::fd::OwnedFd::from(s)).close(),
            Owned::Udp(s) => s.close(),
            Owned::UnixDatagram(s) => iofd::Fd::from(std::os::fd::OwnedFd::from(s)).close(),
            Owned::File(f) => f.close(),
            Owned::Adapter(a) => {
                drop(a);
                Ok(())
            }
        }
    }
}

/// Socket types an [`Io`](crate::Io) can own (sealed).
pub trait Register: Sized + 'static + private::Sealed {}

pub(crate) mod private {
    use super::{Class, Owned};

    pub trait Sealed: Sized {
        const CLASS: Class;
        fn into_owned(self) -> Owned;
        fn from_owned(o: Owned) -> Result<Self, Owned>;
        fn borrow(o: &Owned) -> Option<&Self>;
    }
}

macro_rules! register {
    ($t:ty, $variant:ident, $class:ident) => {
        impl private::Sealed for $t {
            const CLASS: Class = Class::$class;
            fn into_owned(self) -> Owned {
                Owned::$variant(self)
            }
            fn from_owned(o: Owned) -> std::result::Result<Self, Owned> {
                match o {
                    Owned::$variant(s) => Ok(s),
                    other => Err(other),
                }
            }
            fn borrow(o: &Owned) -> Option<&Self> {
                match o {
                    Owned::$variant(s) => Some(s),
                    _ => None,
                }
            }
        }
        impl Register for $t {}
    };
}

register!(TcpConn, Tcp, Stream);
register!(UnixConn, Unix, Stream);
register!(TcpListener, TcpListener, Listener);
register!(UnixListener, UnixListener, Listener);
register!(UdpConn, Udp, Datagram);
register!(UnixDatagram, UnixDatagram, Datagram);

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const NOSIGNAL: libc::c_int = libc::MSG_NOSIGNAL;
// macOS: sock sets SO_NOSIGPIPE on every socket instead.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const NOSIGNAL: libc::c_int = 0;

/// One object slot.
#[derive(Debug)]
pub(crate) struct Object {
    pub(crate) fd: RawFd,
    owned: Owned,
    pub(crate) class: Class,
    pub(crate) ready: Ready,
    pub(crate) registered: bool,
    /// The poller reports writability for it: from registration for all but datagram
    /// sockets, which get it only while a send waits for room ([`Io::watch_writes`]).
    ///
    /// [`Io::watch_writes`]: crate::Io
    pub(crate) write_watch: bool,
    pub(crate) read: OpSlot,
    pub(crate) write: OpSlot,
}

impl Object {
    pub(crate) fn new(fd: RawFd, owned: Owned, class: Class, registered: bool) -> Object {
        Object {
            fd,
            owned,
            class,
            // Unknown readiness means "try": the first operation makes the syscall.
            ready: Ready::READABLE | Ready::WRITABLE,
            registered,
            write_watch: class != Class::Datagram,
            read: OpSlot::Idle,
            write: OpSlot::Idle,
        }
    }

    #[inline]
    pub(crate) fn slot(&self, dir: Dir) -> &OpSlot {
        match dir {
            Dir::Read => &self.read,
            Dir::Write => &self.write,
        }
    }

    #[inline]
    pub(crate) fn slot_mut(&mut self, dir: Dir) -> &mut OpSlot {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }

    pub(crate) fn owned(&self) -> &Owned {
        &self.owned
    }

    /// The adapter's stream, if this object is an adapter over a `T`.
    pub(crate) fn adapter_mut<T: 'static>(&mut self) -> Option<&mut T> {
        match &mut self.owned {
            // `Box<dyn AdapterIo>` is an `AdapterIo` itself: reach the one inside.
            Owned::Adapter(a) => (**a).as_any_mut().downcast_mut::<T>(),
            _ => None,
        }
    }

    pub(crate) fn into_owned(self) -> Owned {
        self.owned
    }

    /// Whether an attempt in `dir` should make its syscall now.
    ///
    /// "Readable" and "read side ended" are separate marks: a short read clears the first,
    /// nothing clears the second. The edge that brings a stream's last bytes may also bring
    /// its end (`EPOLLIN | EPOLLRDHUP` in one event) and no edge follows, so once a stream's
    /// read side ended every read makes its syscall, and the one after the data sees the
    /// end of stream (`tests/end_of_stream.rs`). The same holds for a hung-up or failed
    /// write side.
    #[inline]
    pub(crate) fn may_try(&self, dir: Dir) -> bool {
        let (ready, ended) = match dir {
            Dir::Read => (Ready::READABLE, Ready::READ_ENDED),
            Dir::Write => (Ready::WRITABLE, Ready::WRITE_ENDED),
        };
        match self.class {
            Class::File | Class::Adapter => true,
            Class::Stream => self.ready.contains(ready) || self.ready.intersects(ended),
            // One datagram's error says nothing about the next; a listener's queue is
            // read until `WouldBlock`.
            Class::Datagram | Class::Listener => self.ready.contains(ready),
        }
    }

    /// Records that `dir` is not ready (after `WouldBlock`, or a short stream transfer).
    /// Only the readiness mark is cleared; the ended marks stay.
    #[inline]
    pub(crate) fn not_ready(&mut self, dir: Dir) {
        if matches!(self.class, Class::File | Class::Adapter) {
            return;
        }
        self.ready.remove(match dir {
            Dir::Read => Ready::READABLE,
            Dir::Write => Ready::WRITABLE,
        });
    }

    /// One read-side syscall into `buf`.
    #[inline]
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        match &mut self.owned {
            Owned::File(f) => iofd::Fd::read(f, buf),
            Owned::Adapter(a) => a.read(buf).map_err(|e| Error::from_io(&e)),
            _ => zcall::recv(self.fd, buf, 0).map_err(Error::from),
        }
    }

    /// One write-side syscall from `buf`; never raises SIGPIPE.
    #[inline]
    pub(crate) fn send(&mut self, buf: &[u8]) -> Result<usize> {
        match &mut self.owned {
            Owned::File(f) => iofd::Fd::write(f, buf),
            Owned::Adapter(a) => a.write(buf).map_err(|e| Error::from_io(&e)),
            _ => zcall::send(self.fd, buf, NOSIGNAL).map_err(Error::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_slot_stays_within_its_budget() {
        // Two inline operation records dominate: 2 × (256 + vtable + state).
        let size = std::mem::size_of::<Object>();
        println!(
            "Object: {size} bytes, OpSlot: {} bytes",
            std::mem::size_of::<OpSlot>()
        );
        assert!(size <= 2 * (crate::PAYLOAD_BYTES + 32) + 128, "{size}");
    }
}
