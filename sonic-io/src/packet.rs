//! Datagram sockets: UDP and Unix datagram sockets owned by an `Io`.

use iox::{Error, ErrorKind, Result};
use sock::{SockaddrAny, SockaddrStorage, UdpConn, UnixDatagram};
use sockaddr::Sockaddr;

use crate::buf::{IoBuf, IoBufMut};
use crate::handle::handle;
use crate::io::Io;
use crate::object::Register;
use crate::op::{Dir, Key, OpLogic};
use crate::ops::byte_ops;

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

byte_ops!(PacketConn<U: PacketSock>);

impl<U: PacketSock> PacketConn<U> {
    /// Receives one datagram into `buf`; the callback gets its length and source.
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
        io.submit(self.key, Dir::Read, RecvFromOp { buf, f, res: None })
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

struct RecvFromOp<B, F> {
    buf: B,
    f: F,
    res: Option<Result<(usize, SockaddrAny)>>,
}

impl<B: IoBufMut, F: FnOnce(&mut Io, Result<(usize, SockaddrAny)>, B) + 'static> OpLogic
    for RecvFromOp<B, F>
{
    type Buf = B;

    fn acquire(&mut self, io: &mut Io) -> Result<()> {
        self.buf.acquire(&mut io.pub_blocks)
    }

    fn attempt(&mut self, io: &mut Io, key: Key) -> bool {
        let Io {
            objects,
            pub_blocks,
            stats,
            ..
        } = io;
        let Some(obj) = objects.get_mut(key) else {
            self.fail(Error::CLOSED);
            return true;
        };
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
            match zcall::recvfrom(obj.fd, dst, 0, from.as_mut_bytes()) {
                Ok((n, len)) => {
                    self.res = Some(
                        from.set_len(len)
                            .and_then(|()| from.decode())
                            .map(|a| (n, a)),
                    );
                    return true;
                }
                Err(e) if e == zcall::Errno::EAGAIN => {
                    obj.not_ready(Dir::Read);
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

    fn retarget(&mut self, io: &mut Io, _key: Key, r: crate::buf::Region) -> Result<()> {
        self.buf.retarget(&mut io.pub_blocks, r)
    }

    fn into_buf(self) -> B {
        self.buf
    }

    fn abandon(self, io: &mut Io) {
        self.buf.release(&mut io.pub_blocks);
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

impl<B: IoBuf, F: FnOnce(&mut Io, Result<usize>, B) + 'static> OpLogic for SendToOp<B, F> {
    type Buf = B;

    fn acquire(&mut self, io: &mut Io) -> Result<()> {
        self.buf.acquire(&mut io.pub_blocks)
    }

    fn attempt(&mut self, io: &mut Io, key: Key) -> bool {
        let enobufs = {
            let Io {
                objects,
                pub_blocks,
                stats,
                ..
            } = &mut *io;
            let Some(obj) = objects.get_mut(key) else {
                self.fail(Error::CLOSED);
                return true;
            };
            loop {
                if !obj.may_try(Dir::Write) {
                    return false;
                }
                let src = match self.buf.slice(pub_blocks) {
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
                    // The device queue is full, not the socket buffer: the writable
                    // mark stays, so the retry timer's attempt makes the call.
                    Err(e) if e == zcall::Errno::ENOBUFS => break true,
                    Err(e) if e == zcall::Errno::EINTR => {}
                    Err(e) => {
                        self.fail(e.into());
                        return true;
                    }
                }
            }
        };
        if enobufs {
            let at = io.now_ns() + crate::ops::ENOBUFS_RETRY_NS;
            io.timers.schedule_retry(at, key, Dir::Write);
        }
        false
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

    fn abandon(self, io: &mut Io) {
        self.buf.release(&mut io.pub_blocks);
    }
}

const _: () = {
    // The ENOBUFS classification above relies on this.
    assert!(matches!(
        Error::kind_of_errno(zcall::Errno::ENOBUFS),
        ErrorKind::NoBufferSpace
    ));
};
