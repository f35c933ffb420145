//! Single messages with addresses and control data, descriptor passing and credentials,
//! as methods of every socket ([`NetSocket`]).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{BorrowedFd, OwnedFd};

use sockaddr::{Sockaddr, SockaddrStorage};

use crate::cmsg::{Cmsg, CmsgIter, CmsgWriter, Ucred};
use crate::raw::{self, RecvMeta};
use crate::{NetSocket, sys};

/// The most descriptors one [`NetSocket::recv_fds`] takes (the kernel's per-message limit).
pub const MAX_FDS: usize = 253;

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
    /// `control` (read it with [`CmsgIter`]). [`RecvMeta`] tells the lengths and whether
    /// data (`MSG_TRUNC`) or control data (`MSG_CTRUNC`) were cut. Descriptors arrive
    /// close-on-exec. Under the read deadline; no allocation. See `recvmsg(2)`.
    pub fn recv_msg(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        mut addr: Option<&mut SockaddrStorage>,
        control: &mut [u8],
    ) -> iox::Result<RecvMeta> {
        let flags = sys::RECV_CMSG_CLOEXEC;
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
    /// When more were sent than `fds` can take, the control data is cut (`MSG_CTRUNC`): the
    /// descriptors that did arrive are closed, not leaked, and the error says so.
    pub fn recv_fds(
        &self,
        buf: &mut [u8],
        fds: &mut [Option<OwnedFd>],
    ) -> iox::Result<(usize, usize)> {
        let want = fds.len().min(MAX_FDS);
        let mut control = [0u8; crate::cmsg::space(MAX_FDS * 4)];
        let cap = crate::cmsg::space(want * 4);
        let meta = self.recv_msg(&mut [IoSliceMut::new(buf)], None, &mut control[..cap])?;
        let mut got = 0;
        for m in CmsgIter::new(&control[..meta.control_len]) {
            if let Ok(Cmsg::Rights(list)) = m {
                for fd in list {
                    let owned = raw::take_received_fd(fd);
                    if let Some(slot) = fds.get_mut(got) {
                        *slot = Some(owned);
                        got += 1;
                    }
                }
            }
        }
        if meta.control_truncated() {
            fds.iter_mut().take(got).for_each(|f| *f = None);
            return Err(iox::Error::with_context(
                iox::ErrorKind::MessageTooLarge,
                "control data truncated (MSG_CTRUNC): the descriptors that arrived were closed",
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
