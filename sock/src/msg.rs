//! Single messages with addresses and control data, descriptor passing and credentials,
//! as methods of every socket ([`NetSocket`]).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{BorrowedFd, OwnedFd};

use sockaddr::{Sockaddr, SockaddrStorage};

use crate::cmsg::{self, CmsgBuf, CmsgWriter, FdCarrier, Ucred};
use crate::raw::{self, RecvMeta};
use crate::{NetSocket, sys};

/// The most descriptors one [`NetSocket::recv_fds`] takes (the kernel's per-message limit).
pub const MAX_FDS: usize = 253;

/// The control buffer of [`NetSocket::recv_fds`]: a whole `SCM_RIGHTS` message, and the
/// messages the kernel may put before it (`SCM_CREDENTIALS`, `SCM_PIDFD`, and 256 bytes of
/// `SCM_SECURITY` label).
const RECV_FDS_CONTROL: usize =
    cmsg::space(MAX_FDS * 4) + cmsg::space(12) + cmsg::space(4) + cmsg::space(256);

impl NetSocket {
    /// Sends one message: `bufs` gathered, to `addr` (or the connected peer), with `control`
    /// data built by a [`CmsgWriter`]. Under the write deadline; `MSG_NOSIGNAL`; no
    /// allocation. See `sendmsg(2)`.
    pub fn send_msg(
        &self,
        bufs: &[IoSlice<'_>],
        addr: Option<&dyn Sockaddr>,
        control: &[u8],
    ) -> iox::Result<usize> {
        let a = match addr {
            Some(a) => self.checked(a)?,
            None => &[][..],
        };
        let m = raw::send_header(bufs, a, control);
        crate::deadline::run(&self.deadlines.write, || {
            raw::sendmsg(self.raw(), &m, sys::SEND_FLAGS)
        })
    }

    /// Receives one message into `bufs`, its source into `addr`, control data into
    /// `control` (read it with [`CmsgIter`](cmsg::CmsgIter)). [`RecvMeta`] tells the lengths and whether
    /// data (`MSG_TRUNC`) or control data (`MSG_CTRUNC`) were cut. Under the read deadline;
    /// no allocation. See `recvmsg(2)`.
    ///
    /// Descriptors that arrive in the control data (`SCM_RIGHTS`, `SCM_PIDFD`) are closed
    /// before this returns, and their numbers read as -1: nothing is left open that nobody
    /// owns. To keep them, receive with [`recv_msg_control`](Self::recv_msg_control) or
    /// [`recv_fds`](Self::recv_fds).
    pub fn recv_msg(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        addr: Option<&mut SockaddrStorage>,
        control: &mut [u8],
    ) -> iox::Result<RecvMeta> {
        self.recv_msg_control(bufs, addr, control)
            .map(|(meta, _closed_on_drop)| meta)
    }

    /// [`recv_msg`](Self::recv_msg), keeping the descriptors that arrived: the
    /// [`Received`] control data owns them (close-on-exec) until they are taken, and closes
    /// the rest when dropped. No allocation. See `recvmsg(2)`, `unix(7)`.
    ///
    /// ```
    /// use std::io::IoSliceMut;
    /// use std::os::fd::AsFd;
    /// let [a, b] = sock::UnixConn::pair().unwrap();
    /// let [r, _w] = iofd::Fd::pipe().unwrap();
    /// a.send_fds(b"x", &[r.as_fd()]).unwrap();
    /// let (mut data, mut control) = ([0u8; 4], sock::cmsg::CmsgBuf::<64>::new());
    /// let (meta, mut rx) = b
    ///     .recv_msg_control(&mut [IoSliceMut::new(&mut data)], None, control.as_mut())
    ///     .unwrap();
    /// assert_eq!(meta.bytes, 1);
    /// let fds: Vec<_> = rx.rights().collect(); // OwnedFd, each given once
    /// assert_eq!(fds.len(), 1);
    /// ```
    pub fn recv_msg_control<'c>(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        addr: Option<&mut SockaddrStorage>,
        control: &'c mut [u8],
    ) -> iox::Result<(RecvMeta, Received<'c>)> {
        let meta = self.recv_msg_flags(bufs, addr, control, 0)?;
        let len = meta.control_len.min(control.len());
        Ok((meta, Received::from_kernel(&mut control[..len])))
    }

    /// Receives one message from the socket's error queue (`MSG_ERRQUEUE`, Linux): the
    /// datagram that failed (as much as fits in `bufs`), where it was going (`addr`), and
    /// a [`Cmsg::RecvErr`](crate::cmsg::Cmsg::RecvErr) saying why, when
    /// [`set_recv_errors`](Self::set_recv_errors) is on. `WouldBlock` when the queue is
    /// empty (a waiting error makes the socket report `POLLERR`, not readable). Under the
    /// read deadline. `Unsupported` elsewhere than Linux. See `recvmsg(2)`, `ip(7)`.
    pub fn recv_error(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        addr: Option<&mut SockaddrStorage>,
        control: &mut [u8],
    ) -> iox::Result<RecvMeta> {
        let errqueue = sys::MSG_ERRQUEUE.ok_or(iox::Error::unsupported(
            "MSG_ERRQUEUE: the error queue is Linux-only",
        ))?;
        self.recv_msg_flags(bufs, addr, control, errqueue)
    }

    fn recv_msg_flags(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        mut addr: Option<&mut SockaddrStorage>,
        control: &mut [u8],
        flags: i32,
    ) -> iox::Result<RecvMeta> {
        let flags = flags | sys::RECV_CMSG_CLOEXEC;
        let (meta, namelen) = crate::deadline::run(&self.deadlines.read, || {
            let mut m = raw::recv_header(bufs, addr.as_deref_mut(), control);
            let n = raw::recvmsg(self.raw(), &mut m, flags)?;
            Ok((
                RecvMeta {
                    bytes: n,
                    control_len: m.msg_controllen as _,
                    flags: m.msg_flags,
                },
                m.msg_namelen,
            ))
        })?;
        if let Some(a) = addr {
            a.set_len(namelen as usize)?;
        }
        Ok(meta)
    }

    /// Sends `data` with descriptors attached (`SCM_RIGHTS`; at most [`MAX_FDS`]). Empty
    /// `data` sends one zero byte (a stream needs a byte to carry control data).
    pub fn send_fds(&self, data: &[u8], fds: &[BorrowedFd<'_>]) -> iox::Result<usize> {
        let mut control = [0u8; crate::cmsg::space(MAX_FDS * 4)];
        let mut w = CmsgWriter::new(&mut control);
        w.rights(fds)?;
        let n = w.len();
        let data = if data.is_empty() { &[0u8][..] } else { data };
        self.send_msg(&[IoSlice::new(data)], None, &control[..n])
    }

    /// Receives data into `buf` and up to `fds.len()` descriptors into `fds` (as
    /// `OwnedFd`, close-on-exec). Returns the byte count and how many descriptors arrived.
    /// No allocation.
    ///
    /// No descriptor is ever lost silently. The control buffer has room for a whole
    /// message of [`MAX_FDS`] (the kernel's limit) whatever `fds.len()` is, and for the
    /// `SCM_CREDENTIALS` and `SCM_PIDFD` messages the kernel puts first, so the kernel
    /// installs every descriptor sent and this call sees each one. (A buffer sized to
    /// `fds.len()` would not hold to that: `CMSG_SPACE` rounds it up, so for an odd count
    /// on 64-bit systems the kernel installed one descriptor more than asked for and
    /// reported nothing; other messages share it; and qemu-user does not pass its size to
    /// the kernel.) When more descriptors arrive than `fds` has slots, or the kernel
    /// reports the control data cut (`MSG_CTRUNC`, e.g. at the descriptor limit), the call
    /// fails with `MessageTooLarge`, every descriptor that arrived is closed and `fds` is
    /// left empty: the sender broke the protocol, and a partial set is not handed on as if
    /// whole. A pidfd (`SCM_PIDFD`, with [`set_passpidfd`](Self::set_passpidfd)) is
    /// closed: take it with [`recv_msg_control`](Self::recv_msg_control).
    pub fn recv_fds(
        &self,
        buf: &mut [u8],
        fds: &mut [Option<OwnedFd>],
    ) -> iox::Result<(usize, usize)> {
        let mut control = CmsgBuf::<RECV_FDS_CONTROL>::new();
        let (meta, mut rx) =
            self.recv_msg_control(&mut [IoSliceMut::new(buf)], None, control.as_mut())?;
        let mut got = 0;
        let mut extra = false;
        for fd in rx.rights() {
            match fds.get_mut(got) {
                Some(slot) => {
                    *slot = Some(fd);
                    got += 1;
                }
                None => extra = true,
            }
        }
        drop(rx);
        if extra || meta.control_truncated() {
            fds.iter_mut().take(got).for_each(|f| *f = None);
            return Err(iox::Error::with_context(
                iox::ErrorKind::MessageTooLarge,
                if extra {
                    "more descriptors arrived than there are slots: all that arrived were closed"
                } else {
                    "control data truncated (MSG_CTRUNC): the descriptors that arrived were closed"
                },
            ));
        }
        Ok((meta.bytes, got))
    }

    /// `SO_PASSCRED`: receive the sender's credentials with every message (Linux).
    pub fn set_passcred(&self, on: bool) -> iox::Result<()> {
        crate::opt::set_int(
            self,
            libc::SOL_SOCKET,
            sys::SO_PASSCRED.ok_or(iox::Error::unsupported("SO_PASSCRED"))?,
            i32::from(on),
        )
    }

    /// `SO_PASSPIDFD`: receive a pidfd of the sending process with every message, as an
    /// `SCM_PIDFD` control message (Linux 6.5+; `Unsupported` elsewhere, `ENOPROTOOPT` from
    /// older kernels). Take it with [`Received::pidfd`](crate::cmsg::Received::pidfd) after
    /// [`recv_msg_control`](Self::recv_msg_control); every other receive closes it.
    pub fn set_passpidfd(&self, on: bool) -> iox::Result<()> {
        crate::opt::set_int(
            self,
            libc::SOL_SOCKET,
            sys::SO_PASSPIDFD.ok_or(iox::Error::unsupported("SO_PASSPIDFD"))?,
            i32::from(on),
        )
    }

    /// `SO_TIMESTAMPNS`: receive the time each datagram arrived (`CLOCK_REALTIME`, in
    /// nanoseconds) with it, as a [`Cmsg::TimestampNs`](crate::cmsg::Cmsg::TimestampNs)
    /// control message (Linux; `Unsupported` elsewhere). For hardware or transmit times see
    /// [`opt::set_timestamping`](crate::opt::set_timestamping). See `socket(7)`.
    pub fn set_timestamp_ns(&self, on: bool) -> iox::Result<()> {
        crate::opt::set_int(
            self,
            libc::SOL_SOCKET,
            sys::SO_TIMESTAMPNS.ok_or(iox::Error::unsupported("SO_TIMESTAMPNS"))?,
            i32::from(on),
        )
    }

    /// `IP_RECVERR` (IPv4 socket) or `IPV6_RECVERR` (IPv6 socket): queue the errors the
    /// network reports for this socket's datagrams (ICMP unreachable, fragmentation needed,
    /// local drops) with their details, for [`recv_error`](Self::recv_error). A connected
    /// socket also fails its next call with the error. Linux; `Unsupported` elsewhere,
    /// `InvalidInput` for a socket that is not IP. See `ip(7)`, `ipv6(7)`.
    pub fn set_recv_errors(&self, on: bool) -> iox::Result<()> {
        sys::MSG_ERRQUEUE.ok_or(iox::Error::unsupported(
            "IP_RECVERR: the error queue is Linux-only",
        ))?;
        let (level, opt) = match self.domain() {
            libc::AF_INET => (cmsg::consts::SOL_IP, cmsg::consts::IP_RECVERR),
            libc::AF_INET6 => (cmsg::consts::SOL_IPV6, cmsg::consts::IPV6_RECVERR),
            _ => {
                return Err(iox::Error::invalid_input(
                    "IP_RECVERR needs an IPv4 or IPv6 socket",
                ));
            }
        };
        crate::opt::set_int(self, level, opt, i32::from(on))
    }

    /// `SO_PEERCRED`: the credentials of the process at the other end of a Unix socket,
    /// as they were when it connected (Linux).
    pub fn peer_credentials(&self) -> iox::Result<Ucred> {
        let opt = sys::SO_PEERCRED.ok_or(iox::Error::unsupported("SO_PEERCRED"))?;
        let mut b = [0u8; 12];
        zcall::getsockopt(self.raw(), libc::SOL_SOCKET, opt, &mut b)?;
        Ok(Ucred {
            pid: i32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            uid: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            gid: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        })
    }

    /// `SO_PEERPIDFD`: a pidfd of the peer process (Linux 6.5+; `Unsupported` before).
    pub fn peer_pidfd(&self) -> iox::Result<OwnedFd> {
        let opt = sys::SO_PEERPIDFD.ok_or(iox::Error::unsupported("SO_PEERPIDFD"))?;
        let mut b = [0u8; 4];
        zcall::getsockopt(self.raw(), libc::SOL_SOCKET, opt, &mut b)?;
        Ok(raw::take_received_fd(i32::from_ne_bytes(b)))
    }
}

/// Control data the kernel wrote in one receive by this process, owning the descriptors in
/// it ([`NetSocket::recv_msg_control`]).
///
/// Two control messages install descriptors in the receiving process: `SCM_RIGHTS`
/// (descriptors the peer passed) and, on Linux, `SCM_PIDFD` (a pidfd of the sender, with
/// [`NetSocket::set_passpidfd`]). No other message does. A `Received` owns each of those
/// descriptors until it is taken, by [`rights`](Self::rights) or [`pidfd`](Self::pidfd),
/// each once; dropping it closes the rest, so none can leak. Read the messages with
/// [`iter`](Self::iter): a descriptor already taken or closed reads as -1 there.
#[derive(Debug)]
pub struct Received<'a> {
    /// The `msg_controllen` bytes the kernel wrote, borrowed mutably so that nothing else
    /// can change them while descriptors are owned through them.
    buf: &'a mut [u8],
}

impl<'a> Received<'a> {
    /// Wraps the control bytes a `recvmsg` by this process just wrote (`buf` is exactly
    /// `msg_controllen` long): every non-negative descriptor number in them was installed by
    /// the kernel for this process and belongs to nobody else yet.
    pub(crate) fn from_kernel(buf: &'a mut [u8]) -> Received<'a> {
        Received { buf }
    }

    /// The messages.
    pub fn iter(&self) -> cmsg::CmsgIter<'_> {
        cmsg::CmsgIter::new(self.buf)
    }

    /// The control bytes, as the kernel wrote them (taken descriptors as -1).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf
    }

    /// The descriptors of the `SCM_RIGHTS` messages not yet taken, in order, each as an
    /// `OwnedFd` given once.
    pub fn rights(&mut self) -> TakeRights<'_, 'a> {
        TakeRights {
            rx: self,
            at: Cursor::default(),
        }
    }

    /// The pidfd of the sending process (`SCM_PIDFD`, Linux 6.5+, when the receiver set
    /// [`NetSocket::set_passpidfd`]), once; `None` when there is none or it was taken.
    pub fn pidfd(&mut self) -> Option<OwnedFd> {
        self.take(FdCarrier::PidFd, &mut Cursor::default())
    }

    /// The next descriptor in a message of `kind` at or after `at`, marked taken.
    fn take(&mut self, kind: FdCarrier, at: &mut Cursor) -> Option<OwnedFd> {
        loop {
            let (level, ty, clen) = cmsg::header(self.buf.get(at.msg..)?)?.ok()?;
            if cmsg::installs_descriptors(level, ty) == Some(kind) {
                let data = at.msg + cmsg::HDR..at.msg + clen;
                while data.start + 4 * (at.slot + 1) <= data.end {
                    let off = data.start + 4 * at.slot;
                    at.slot += 1;
                    let cell: &mut [u8; 4] = (&mut self.buf[off..off + 4]).try_into().ok()?;
                    let fd = i32::from_ne_bytes(*cell);
                    if fd >= 0 {
                        *cell = (-1i32).to_ne_bytes();
                        return Some(raw::take_received_fd(fd));
                    }
                }
            }
            at.msg += cmsg::align(clen);
            at.slot = 0;
        }
    }
}

impl Drop for Received<'_> {
    /// Closes every descriptor not taken.
    fn drop(&mut self) {
        for kind in [FdCarrier::Rights, FdCarrier::PidFd] {
            let mut at = Cursor::default();
            while self.take(kind, &mut at).is_some() {}
        }
    }
}

/// Where a walk for descriptors is: the message's offset, the next slot in it.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    msg: usize,
    slot: usize,
}

/// The descriptors of the `SCM_RIGHTS` messages in a [`Received`]
/// ([`Received::rights`]).
#[derive(Debug)]
pub struct TakeRights<'r, 'a> {
    rx: &'r mut Received<'a>,
    at: Cursor,
}

impl Iterator for TakeRights<'_, '_> {
    type Item = OwnedFd;
    fn next(&mut self) -> Option<OwnedFd> {
        self.rx.take(FdCarrier::Rights, &mut self.at)
    }
}
