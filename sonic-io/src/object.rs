//! The objects an `Io` owns: sockets, files, adapters, and the syscalls their operations make.

use std::any::Any;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use iox::{Error, Result};
use sock::{TcpConn, TcpListener, UdpConn, UnixConn, UnixDatagram, UnixListener};

use crate::op::{Dir, OpSlot};
use crate::ready::Ready;

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

/// How many bytes a stream read asks the kernel for beyond the caller's buffer.
///
/// With edge-triggered readiness a read that fills its buffer exactly cannot tell a drained
/// socket from one that holds more, so the next read would make a syscall that finds
/// nothing. Each stream read is one `readv` (`recvmsg` on a Unix stream) into the caller's
/// buffer and this read-ahead: when the read-ahead is not filled too, the socket was drained
/// and the next read waits for an edge (3 syscalls per scheduled message:
/// `tests/read_ahead.rs`); bytes that landed in it go first to the next read, without a
/// syscall.
pub(crate) const READ_AHEAD: usize = 16;

/// The bytes a stream had read past its last reader's buffer when it left its Io
/// ([`Stream::take_with_read_ahead`](crate::Stream::take_with_read_ahead)): at most 16, the
/// first bytes the new owner must see before reading the socket.
///
/// ```
/// use std::io::Write;
/// use sonic_io::{Io, UnixStream};
///
/// let mut io = Io::new().unwrap();
/// let [a, b] = sock::UnixConn::pair().unwrap();
/// (&a).write_all(b"HDR:rest of the stream").unwrap();
/// let b = UnixStream::add(&mut io, b).unwrap();
/// b.async_read_exact(&mut io, vec![0u8; 4], |_, r, buf| {
///     assert_eq!(&buf[..r.unwrap()], b"HDR:");
/// })
/// .unwrap();
/// io.run_pending().unwrap();
/// // The read asked for 16 bytes more than its buffer: they come back with the socket.
/// let (conn, early) = b.take_with_read_ahead(&mut io).unwrap();
/// assert_eq!(early.as_slice(), b"rest of the stre");
/// # drop(conn);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAhead {
    buf: [u8; READ_AHEAD],
    len: u8,
}

impl ReadAhead {
    /// The bytes, in stream order.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl std::ops::Deref for ReadAhead {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for ReadAhead {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadAhead({:?})", self.as_slice())
    }
}

/// Bytes read ahead of a stream's reader, and the error of the read that brought the last
/// of them, if it failed after they were handed out.
#[derive(Debug)]
pub(crate) struct AheadBuf {
    buf: [u8; READ_AHEAD],
    start: u8,
    end: u8,
    /// The kernel's error from a read that also delivered read-ahead bytes: the bytes
    /// went to the caller first, the error goes to the next read (a reset is reported by
    /// the kernel once; it must not turn into an end of stream).
    deferred: Option<zcall::Errno>,
}

impl AheadBuf {
    const fn new() -> AheadBuf {
        AheadBuf {
            buf: [0; READ_AHEAD],
            start: 0,
            end: 0,
            deferred: None,
        }
    }

    /// Bytes held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.end - self.start)
    }

    /// Whether the next read has something to deliver without a syscall.
    #[inline]
    fn pending(&self) -> bool {
        self.end > self.start || self.deferred.is_some()
    }

    /// Moves held bytes to the front of `dst`; returns how many.
    #[inline]
    fn take_into(&mut self, dst: &mut [u8]) -> usize {
        let k = self.len().min(dst.len());
        if k > 0 {
            let s = usize::from(self.start);
            dst[..k].copy_from_slice(&self.buf[s..s + k]);
            // `k <= end - start <= READ_AHEAD`, which fits a `u8`.
            self.start += k as u8;
        }
        k
    }
}

/// The refusal of a descriptor a [`File`](crate::File) cannot drive.
const NOT_A_FILE: Error = Error::invalid_input(
    "not a regular file or block device: a socket, pipe, terminal or other device is \
     never registered as a File and would wait forever (use its socket handle or an Adapter)",
);

/// `Ok` for a regular file or a block device: descriptors whose reads and writes never
/// wait for readiness, so a [`File`](crate::File) may skip the poller. `fstat(2)`.
pub(crate) fn check_always_ready(fd: std::os::fd::RawFd) -> Result<()> {
    let st = zcall::fstat(fd)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFBLK => Ok(()),
        _ => Err(NOT_A_FILE),
    }
}

/// One object slot: its state, and the operation record of each direction. The two are
/// separate fields so that an armed operation runs its attempt where it lies, borrowing the
/// state ([`Attempt`](crate::op::Attempt)) without being moved out of its slot.
#[derive(Debug)]
pub(crate) struct Object<C: 'static> {
    pub(crate) st: ObjState,
    pub(crate) read: OpSlot<C>,
    pub(crate) write: OpSlot<C>,
}

impl<C: 'static> std::ops::Deref for Object<C> {
    type Target = ObjState;
    #[inline]
    fn deref(&self) -> &ObjState {
        &self.st
    }
}

impl<C: 'static> std::ops::DerefMut for Object<C> {
    #[inline]
    fn deref_mut(&mut self) -> &mut ObjState {
        &mut self.st
    }
}

/// What an object is, apart from its operations: the descriptor, what owns it, its cached
/// readiness and its read-ahead.
#[derive(Debug)]
pub(crate) struct ObjState {
    pub(crate) fd: RawFd,
    owned: Owned,
    pub(crate) class: Class,
    pub(crate) ready: Ready,
    pub(crate) registered: bool,
    /// The poller reports writability for it: from registration for all but datagram
    /// sockets (and streams where sends wait in io_uring), which get it only while a send
    /// waits for room ([`Io::watch_writes`]); `Io::insert` sets it.
    ///
    /// [`Io::watch_writes`]: crate::Io
    pub(crate) write_watch: bool,
    /// Streams only: bytes read past the last reader's buffer.
    pub(crate) ahead: AheadBuf,
    /// A dial's connect is in the kernel (io_uring): the socket's poll, armed before it
    /// was connected, may have reported the `POLLHUP` of an unconnected socket, which the
    /// connect's completion voids ([`Io::on_sent`]).
    ///
    /// [`Io::on_sent`]: crate::Io
    pub(crate) connecting: bool,
}

impl<C: 'static> Object<C> {
    pub(crate) fn new(fd: RawFd, owned: Owned, class: Class, registered: bool) -> Object<C> {
        Object {
            st: ObjState {
                fd,
                owned,
                class,
                // Unknown readiness means "try": the first operation makes the syscall.
                ready: Ready::READABLE | Ready::WRITABLE,
                registered,
                write_watch: class != Class::Datagram,
                ahead: AheadBuf::new(),
                connecting: false,
            },
            read: OpSlot::Idle,
            write: OpSlot::Idle,
        }
    }

    #[inline]
    pub(crate) fn slot(&self, dir: Dir) -> &OpSlot<C> {
        match dir {
            Dir::Read => &self.read,
            Dir::Write => &self.write,
        }
    }

    #[inline]
    pub(crate) fn slot_mut(&mut self, dir: Dir) -> &mut OpSlot<C> {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }

    /// The state and one direction's record, borrowed apart.
    #[inline]
    pub(crate) fn parts(&mut self, dir: Dir) -> (&mut ObjState, &mut OpSlot<C>) {
        match dir {
            Dir::Read => (&mut self.st, &mut self.read),
            Dir::Write => (&mut self.st, &mut self.write),
        }
    }

    pub(crate) fn into_owned(self) -> Owned {
        self.st.owned
    }
}

impl ObjState {
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
            Class::Stream => {
                self.ready.contains(ready)
                    || (dir == Dir::Read && self.ready.contains(Ready::UNSURE))
                    || self.ready.intersects(ended)
                    || (dir == Dir::Read && self.ahead.pending())
            }
            // One datagram's error says nothing about the next; a listener's queue is
            // read until `WouldBlock`.
            Class::Datagram | Class::Listener => self.ready.contains(ready),
        }
    }

    /// Whether the next read has something without a syscall: read-ahead bytes, or the
    /// error of the read that brought them.
    #[inline]
    pub(crate) fn holds_ahead(&self) -> bool {
        self.ahead.pending()
    }

    /// A dial's connect in the kernel ended: the socket's poll was armed before it, and
    /// what it reported then (an unconnected socket's `POLLHUP`) is void. Unknown
    /// readiness: try, as for a stream added connected (a stream left marked hung up made
    /// a syscall before every read parked in the ring, and a connect that falls back to
    /// readiness would never have watched for writability).
    #[inline]
    pub(crate) fn void_connect_readiness(&mut self) {
        if self.connecting {
            self.connecting = false;
            self.ready = Ready::READABLE | Ready::WRITABLE;
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
            Dir::Read => Ready::READ_HINTS,
            Dir::Write => Ready::WRITABLE,
        });
    }

    /// One read into `buf`: at most one syscall. A stream's read also keeps its readiness
    /// mark current (it clears it when the kernel had less than was asked for), so callers
    /// must not infer drained-ness from a short count: read-ahead bytes alone make a short
    /// read without a syscall.
    /// `syscalls` counts the syscall when one is made.
    #[inline]
    pub(crate) fn recv(&mut self, buf: &mut [u8], syscalls: &mut u64) -> Result<usize> {
        if self.class == Class::Stream && !buf.is_empty() {
            return self.recv_stream(buf, syscalls);
        }
        *syscalls += 1;
        match &mut self.owned {
            Owned::File(f) => iofd::Fd::read(f, buf),
            Owned::Adapter(a) => a.read(buf).map_err(|e| Error::from_io(&e)),
            _ => zcall::recv(self.fd, buf, 0).map_err(Error::from),
        }
    }

    /// A stream read through the read-ahead (see [`READ_AHEAD`]).
    fn recv_stream(&mut self, dst: &mut [u8], syscalls: &mut u64) -> Result<usize> {
        let k = self.ahead.take_into(dst);
        if k == dst.len() {
            return Ok(k);
        }
        if k == 0 {
            if let Some(e) = self.ahead.deferred.take() {
                return Err(Error::from(e));
            }
        } else if !self.ready.intersects(Ready::READ_HINTS) {
            // The read that brought these bytes drained the socket: the rest waits for an
            // edge (or the end-of-stream mark, which the next read reports).
            return Ok(k);
        }
        let rest = &mut dst[k..];
        let want = rest.len();
        *syscalls += 1;
        // A Unix stream read may end at a message boundary the kernel does not read across
        // (descriptors attached, a change of writer): then a short count proves nothing.
        let (r, boundary) = match &self.owned {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Owned::Unix(_) => {
                match crate::raw::calls::recv_unix_stream(self.fd, rest, &mut self.ahead.buf) {
                    Ok((n, b)) => (Ok(n), b),
                    Err(e) => (Err(e), false),
                }
            }
            _ => {
                let mut iov = [
                    zcall::IoVecMut::new(rest),
                    zcall::IoVecMut::new(&mut self.ahead.buf),
                ];
                (zcall::readv(self.fd, &mut iov), false)
            }
        };
        match r {
            Ok(0) => {
                // The peer's end is consumed: every later read makes its syscall and sees it.
                self.ready |= Ready::READ_CLOSED;
                Ok(k)
            }
            Ok(n) => {
                if n < want + READ_AHEAD && !boundary && !self.ready.contains(Ready::URGENT) {
                    // The kernel had less than was asked for: drained (unless urgent data
                    // was signalled, which ends reads early: then only `WouldBlock` says so).
                    self.ready.remove(Ready::READ_HINTS);
                }
                if n > want {
                    self.ahead.start = 0;
                    // `n - want <= READ_AHEAD`, which fits a `u8`.
                    self.ahead.end = (n - want) as u8;
                }
                Ok(k + n.min(want))
            }
            Err(errno) => {
                let e = Error::from(errno);
                if e.is_would_block() {
                    self.ready.remove(Ready::READ_HINTS);
                } else if k > 0 && e.kind() != iox::ErrorKind::Interrupted {
                    self.ahead.deferred = Some(errno);
                }
                if k > 0 { Ok(k) } else { Err(e) }
            }
        }
    }

    /// Whether the object may leave its Io with nothing left behind: no bytes read ahead
    /// (`InvalidInput`), no read error held for the next read (that error).
    pub(crate) fn check_take(&self) -> Result<()> {
        if let Some(e) = self.ahead.deferred {
            return Err(Error::from(e));
        }
        if self.ahead.len() > 0 {
            return Err(Error::invalid_input(
                "the stream holds read-ahead bytes: read them, or use take_with_read_ahead",
            ));
        }
        Ok(())
    }

    /// Hands out the bytes read ahead (the object is leaving the Io). A kernel error held
    /// for the next read is returned instead, and the bytes stay.
    pub(crate) fn take_read_ahead(&mut self) -> Result<crate::ReadAhead> {
        if let Some(e) = self.ahead.deferred {
            return Err(Error::from(e));
        }
        let mut out = crate::ReadAhead::default();
        let n = self.ahead.take_into(&mut out.buf);
        out.len = n as u8;
        Ok(out)
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

    /// Whether [`send_gather`](ObjState::send_gather) writes to the descriptor: an adapter
    /// (a TLS stream) frames each write it is given, so its caller writes one buffer.
    pub(crate) fn gathers(&self) -> bool {
        !matches!(self.owned, Owned::Adapter(_))
    }

    /// One gather write of `parts`, in order: one `sendmsg` on a socket (`MSG_NOSIGNAL`),
    /// one `writev` on a file. Only where [`gathers`](ObjState::gathers).
    pub(crate) fn send_gather(&mut self, parts: [&[u8]; 2]) -> Result<usize> {
        let iov = parts.map(zcall::IoVec::new);
        match &mut self.owned {
            Owned::File(_) => zcall::writev(self.fd, &iov).map_err(Error::from),
            Owned::Adapter(_) => Err(Error::unsupported(
                "an adapter takes one buffer per write (sonic-io's codec buffers the parts)",
            )),
            _ => zcall::sendv(self.fd, &iov, NOSIGNAL).map_err(Error::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_slot_stays_within_its_budget() {
        // Two inline operation records dominate: 2 × (256 + vtable + state).
        let size = std::mem::size_of::<Object<crate::Io>>();
        println!(
            "Object: {size} bytes, OpSlot: {} bytes",
            std::mem::size_of::<OpSlot<crate::Io>>()
        );
        assert!(size <= 2 * (crate::PAYLOAD_BYTES + 32) + 128, "{size}");
    }
}
