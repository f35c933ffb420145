//! UDP in batches: `sendmmsg`/`recvmmsg` with per-message addresses, buffers, control data
//! and lengths, and generic segmentation/receive offload (GSO/GRO). Linux and FreeBSD.

use std::io::{IoSlice, IoSliceMut};
use std::sync::atomic::Ordering;

use sockaddr::{Sockaddr, SockaddrAny, SockaddrStorage};

use crate::cmsg::{Cmsg, CmsgIter, CmsgWriter};
use crate::raw::{self, RecvMeta};
use crate::{UdpConn, sys};

/// Messages per `sendmmsg`/`recvmmsg` call: longer slices go in several calls of this many.
/// The headers live on the stack (64 × 64 bytes).
pub const BATCH: usize = 64;

/// One datagram to send in a batch.
#[derive(Debug)]
pub struct SendMsg<'a> {
    /// The data, gathered.
    pub bufs: &'a [IoSlice<'a>],
    /// The destination (`None`: the connected peer).
    pub addr: Option<&'a SockaddrAny>,
    /// Control data (a [`CmsgWriter`]'s bytes), e.g. a `UDP_SEGMENT` for GSO.
    pub control: &'a [u8],
    /// Set by the send: the bytes that went.
    pub sent: usize,
}

impl<'a> SendMsg<'a> {
    /// `bufs` to `addr`, no control data.
    pub fn new(bufs: &'a [IoSlice<'a>], addr: Option<&'a SockaddrAny>) -> Self {
        SendMsg {
            bufs,
            addr,
            control: &[],
            sent: 0,
        }
    }
}

/// One datagram slot to receive into in a batch.
#[derive(Debug)]
pub struct RecvMsg<'a, 'b> {
    /// Where the data goes.
    pub bufs: &'a mut [IoSliceMut<'b>],
    /// Set by the receive: the source.
    pub addr: SockaddrStorage,
    /// Where control data goes (empty: none wanted).
    pub control: &'a mut [u8],
    /// Set by the receive: lengths and flags.
    pub meta: RecvMeta,
}

impl<'a, 'b> RecvMsg<'a, 'b> {
    /// A slot over `bufs` and `control`.
    pub fn new(bufs: &'a mut [IoSliceMut<'b>], control: &'a mut [u8]) -> Self {
        RecvMsg {
            bufs,
            addr: SockaddrStorage::new(),
            control,
            meta: RecvMeta::default(),
        }
    }

    /// The GRO segment size reported with this datagram, if it was coalesced.
    pub fn gro_segment(&self) -> Option<u16> {
        gro_segment(&self.control[..self.meta.control_len])
    }
}

fn gro_segment(control: &[u8]) -> Option<u16> {
    CmsgIter::new(control).find_map(|m| match m {
        Ok(Cmsg::UdpGro(n)) => Some(n),
        _ => None,
    })
}

impl UdpConn {
    /// Sends `msgs` with `sendmmsg`, in calls of up to [`BATCH`]; sets each `sent`; returns
    /// how many went (fewer when the socket's buffer filled: `WouldBlock` then only if none
    /// went). Under the write deadline; no allocation.
    pub fn send_messages(&self, msgs: &mut [SendMsg<'_>]) -> iox::Result<usize> {
        let mut total = 0;
        for chunk in msgs.chunks_mut(BATCH) {
            let mut names: [&[u8]; BATCH] = [&[]; BATCH];
            for (i, m) in chunk.iter().enumerate() {
                if let Some(a) = m.addr {
                    names[i] = self.checked(a)?;
                }
            }
            let mut hdrs = [raw::zeroed_mmsghdr(); BATCH];
            for (i, m) in chunk.iter().enumerate() {
                hdrs[i].msg_hdr = raw::send_header(m.bufs, names[i], m.control);
            }
            let k = chunk.len();
            let r = crate::deadline::run(&self.deadlines.write, || {
                raw::sendmmsg(self.raw(), &mut hdrs[..k], sys::SEND_FLAGS)
            });
            let n = match r {
                Ok(n) => n,
                Err(e) if total > 0 && e.is_would_block() => return Ok(total),
                Err(e) => return Err(e),
            };
            for (m, h) in chunk.iter_mut().zip(&hdrs[..n]) {
                m.sent = h.msg_len as usize;
            }
            total += n;
            if n < k {
                break;
            }
        }
        Ok(total)
    }

    /// Receives up to `msgs.len()` datagrams with `recvmmsg`, in calls of up to [`BATCH`];
    /// fills each slot's source, lengths and flags; returns how many arrived. Under the
    /// read deadline (for the first); no allocation.
    pub fn recv_messages(&self, msgs: &mut [RecvMsg<'_, '_>]) -> iox::Result<usize> {
        let mut total = 0;
        for chunk in msgs.chunks_mut(BATCH) {
            let mut hdrs = [raw::zeroed_mmsghdr(); BATCH];
            let k = chunk.len();
            let r = if total == 0 {
                crate::deadline::run(&self.deadlines.read, || {
                    for (h, m) in hdrs.iter_mut().zip(chunk.iter_mut()) {
                        h.msg_hdr = raw::recv_header(m.bufs, Some(&mut m.addr), m.control);
                    }
                    raw::recvmmsg(self.raw(), &mut hdrs[..k], sys::RECV_CMSG_CLOEXEC)
                })
            } else {
                for (h, m) in hdrs.iter_mut().zip(chunk.iter_mut()) {
                    h.msg_hdr = raw::recv_header(m.bufs, Some(&mut m.addr), m.control);
                }
                raw::recvmmsg(
                    self.raw(),
                    &mut hdrs[..k],
                    libc::MSG_DONTWAIT | sys::RECV_CMSG_CLOEXEC,
                )
            };
            let n = match r {
                Ok(n) => n,
                Err(e) if total > 0 && e.is_would_block() => return Ok(total),
                Err(e) => return Err(e),
            };
            for (m, h) in chunk.iter_mut().zip(&hdrs[..n]) {
                m.meta = RecvMeta {
                    bytes: h.msg_len as usize,
                    control_len: h.msg_hdr.msg_controllen as _,
                    flags: h.msg_hdr.msg_flags,
                };
                m.addr.set_len(h.msg_hdr.msg_namelen as usize)?;
            }
            total += n;
            if n < k {
                break;
            }
        }
        Ok(total)
    }

    /// Sends `buf` to `addr` as segments of `segment` bytes in one syscall (UDP GSO: the
    /// kernel or the NIC splits it). Where the kernel or device refuses GSO (`EIO`,
    /// `EINVAL`), the datagrams are sent one by one instead, and this socket remembers to
    /// do so from then on ([`gso_disabled`](Self::gso_disabled)). Returns the bytes sent.
    pub fn send_gso(&self, buf: &[u8], segment: u16, addr: &impl Sockaddr) -> iox::Result<usize> {
        if segment == 0 {
            return Err(iox::Error::invalid_input(
                "GSO segment size must be positive",
            ));
        }
        if !self.gso_off.load(Ordering::Relaxed) {
            let mut control = [0u8; crate::cmsg_space!(u16)];
            let mut w = CmsgWriter::new(&mut control);
            w.udp_segment(segment)?;
            let n = w.len();
            match self.send_msg(&[IoSlice::new(buf)], Some(addr), &control[..n]) {
                Err(e)
                    if matches!(
                        e.errno(),
                        Some(zcall::Errno::EIO) | Some(zcall::Errno::EINVAL)
                    ) =>
                {
                    self.gso_off.store(true, Ordering::Relaxed);
                }
                r => return r,
            }
        }
        let mut sent = 0;
        for seg in buf.chunks(usize::from(segment)) {
            sent += self.send_to(seg, addr)?;
        }
        Ok(sent)
    }

    /// `true` once a GSO send was refused and this socket fell back to one datagram per
    /// syscall.
    pub fn gso_disabled(&self) -> bool {
        self.gso_off.load(Ordering::Relaxed)
    }

    /// Receives one datagram, possibly several coalesced by GRO (turn it on with
    /// `opt::set_udp_gro`), into `buf`; returns the bytes, the source written into `from`,
    /// and the segment size when datagrams were coalesced.
    pub fn recv_gro(
        &self,
        buf: &mut [u8],
        from: &mut SockaddrStorage,
    ) -> iox::Result<(usize, Option<u16>)> {
        let mut control = [0u8; crate::cmsg_space!(i32)];
        let meta = self.recv_msg(&mut [IoSliceMut::new(buf)], Some(from), &mut control)?;
        Ok((meta.bytes, gro_segment(&control[..meta.control_len])))
    }
}
