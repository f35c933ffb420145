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

/// The most payload one UDP datagram carries over IPv4: 65,535 less the IPv4 (20) and UDP
/// (8) headers. A GSO send is one datagram to the kernel: it may carry no more.
const MAX_UDP_PAYLOAD_V4: usize = 65_507;
/// Over IPv6: 65,535 less the UDP header (the IPv6 header is not in the payload length).
const MAX_UDP_PAYLOAD_V6: usize = 65_527;
/// `UDP_MAX_SEGMENTS` of kernels before it was raised to 128.
const GSO_MAX_SEGMENTS_OLD: u8 = 64;

/// The kernel or device refuses GSO: `EIO` (no checksum offload, xfrm), `EINVAL` (no UDP
/// checksum, or more segments than `UDP_MAX_SEGMENTS`, which the caller tells apart).
fn is_gso_refusal(e: iox::Error) -> bool {
    matches!(
        e.errno(),
        Some(zcall::Errno::EIO) | Some(zcall::Errno::EINVAL)
    )
}

/// Runs `f` over `k` (1 to [`BATCH`]) zeroed `mmsghdr`s on the stack, zeroing at most twice
/// as many as it uses. The headers are rebuilt on every call: zeroing all 64 (4 KiB) for a
/// call of 8 was most of the call's user-side instructions (`sock/benches/batch.rs` under
/// callgrind).
fn with_headers<R>(k: usize, f: impl FnOnce(&mut [libc::mmsghdr]) -> R) -> R {
    fn on<const C: usize, R>(k: usize, f: impl FnOnce(&mut [libc::mmsghdr]) -> R) -> R {
        let mut hdrs = [raw::zeroed_mmsghdr(); C];
        f(&mut hdrs[..k])
    }
    match k {
        0..=8 => on::<8, R>(k, f),
        9..=16 => on::<16, R>(k, f),
        17..=32 => on::<32, R>(k, f),
        _ => on::<BATCH, R>(k, f),
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
            let k = chunk.len();
            let r: iox::Result<usize> = with_headers(k, |hdrs| {
                for (i, (h, m)) in hdrs.iter_mut().zip(chunk.iter()).enumerate() {
                    h.msg_hdr = raw::send_header(m.bufs, names[i], m.control);
                }
                let n = crate::deadline::run(&self.deadlines.write, || {
                    raw::sendmmsg(self.raw(), hdrs, sys::SEND_FLAGS)
                })?;
                for (m, h) in chunk.iter_mut().zip(&hdrs[..n]) {
                    m.sent = h.msg_len as usize;
                }
                Ok(n)
            });
            let n = match r {
                Ok(n) => n,
                Err(e) if total > 0 && e.is_would_block() => return Ok(total),
                Err(e) => return Err(e),
            };
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
        self.recv_messages_in(msgs, true)
    }

    /// One attempt at [`recv_messages`](Self::recv_messages) that ignores the deadlines:
    /// `WouldBlock` at once when no datagram is queued. For an event loop that does its
    /// own waiting and must never block or spin in a call.
    pub fn try_recv_messages(&self, msgs: &mut [RecvMsg<'_, '_>]) -> iox::Result<usize> {
        self.recv_messages_in(msgs, false)
    }

    fn recv_messages_in(&self, msgs: &mut [RecvMsg<'_, '_>], wait: bool) -> iox::Result<usize> {
        let mut total = 0;
        for chunk in msgs.chunks_mut(BATCH) {
            let k = chunk.len();
            let first = total == 0;
            let r: iox::Result<usize> = with_headers(k, |hdrs| {
                let n = if first && wait {
                    crate::deadline::run(&self.deadlines.read, || {
                        for (h, m) in hdrs.iter_mut().zip(chunk.iter_mut()) {
                            h.msg_hdr = raw::recv_header(m.bufs, Some(&mut m.addr), m.control);
                        }
                        raw::recvmmsg(self.raw(), hdrs, sys::RECV_CMSG_CLOEXEC)
                    })?
                } else {
                    for (h, m) in hdrs.iter_mut().zip(chunk.iter_mut()) {
                        h.msg_hdr = raw::recv_header(m.bufs, Some(&mut m.addr), m.control);
                    }
                    raw::recvmmsg(
                        self.raw(),
                        hdrs,
                        libc::MSG_DONTWAIT | sys::RECV_CMSG_CLOEXEC,
                    )?
                };
                for (m, h) in chunk.iter_mut().zip(&hdrs[..n]) {
                    m.meta = RecvMeta {
                        bytes: h.msg_len as usize,
                        control_len: h.msg_hdr.msg_controllen as _,
                        flags: h.msg_hdr.msg_flags,
                    };
                    m.addr.set_len(h.msg_hdr.msg_namelen as usize)?;
                }
                Ok(n)
            });
            let n = match r {
                Ok(n) => n,
                Err(e) if total > 0 && e.is_would_block() => return Ok(total),
                Err(e) => return Err(e),
            };
            total += n;
            if n < k {
                break;
            }
        }
        Ok(total)
    }

    /// Sends `buf` to `addr` as segments of `segment` bytes, the last one possibly shorter
    /// (UDP GSO: the kernel or the NIC splits it). Returns the bytes sent.
    ///
    /// One syscall carries at most what the kernel takes: `UDP_MAX_SEGMENTS` segments (128
    /// on recent Linux, 64 on older kernels, learnt from the kernel's `EINVAL` and
    /// remembered; see [`gso_max_segments`](Self::gso_max_segments)) and one datagram's
    /// worth of bytes (65,507 over IPv4, 65,527 over IPv6). A larger `buf` goes in as many
    /// syscalls as that takes, each under the write deadline. Where the kernel or device
    /// refuses GSO itself (`EIO`, or `EINVAL` for a send within those limits), the rest goes
    /// one datagram per syscall instead, and this socket remembers to do so from then on
    /// ([`gso_disabled`](Self::gso_disabled)).
    ///
    /// When the socket's buffer fills after part of `buf` went, the bytes sent so far are
    /// returned (`WouldBlock` only when nothing went), as [`send_messages`](Self::send_messages)
    /// does.
    pub fn send_gso(&self, buf: &[u8], segment: u16, addr: &impl Sockaddr) -> iox::Result<usize> {
        if segment == 0 {
            return Err(iox::Error::invalid_input(
                "GSO segment size must be positive",
            ));
        }
        let seg = usize::from(segment);
        let max_bytes = if i32::from(addr.family()) == libc::AF_INET6 {
            MAX_UDP_PAYLOAD_V6
        } else {
            MAX_UDP_PAYLOAD_V4
        };
        let mut control = [0u8; crate::cmsg_space!(u16)];
        let mut w = CmsgWriter::new(&mut control);
        w.udp_segment(segment)?;
        let clen = w.len();
        let mut sent = 0;
        loop {
            let most = usize::from(self.gso_segments.load(Ordering::Relaxed));
            if most == 0 {
                break;
            }
            let per = most.min(max_bytes / seg).max(1);
            let end = buf.len().min(sent + per * seg);
            match self.send_msg(
                &[IoSlice::new(&buf[sent..end])],
                Some(addr),
                &control[..clen],
            ) {
                // UDP takes a datagram whole; a zero for a non-empty one would loop.
                Ok(0) if end > sent => return Ok(sent),
                Ok(n) => sent += n,
                Err(e) if is_gso_refusal(e) => {
                    let segments = (end - sent).div_ceil(seg);
                    let old = usize::from(GSO_MAX_SEGMENTS_OLD);
                    let now = if e.errno() == Some(zcall::Errno::EINVAL) && segments > old {
                        // An older kernel's UDP_MAX_SEGMENTS: retry within it.
                        GSO_MAX_SEGMENTS_OLD
                    } else {
                        0
                    };
                    self.gso_segments.store(now, Ordering::Relaxed);
                }
                Err(e) if sent > 0 && e.is_would_block() => return Ok(sent),
                Err(e) => return Err(e),
            }
            if sent >= buf.len() {
                return Ok(sent);
            }
        }
        for chunk in buf[sent..].chunks(seg) {
            match self.send_to(chunk, addr) {
                Ok(n) => sent += n,
                Err(e) if sent > 0 && e.is_would_block() => return Ok(sent),
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// `true` once a GSO send was refused and this socket fell back to one datagram per
    /// syscall.
    pub fn gso_disabled(&self) -> bool {
        self.gso_max_segments() == 0
    }

    /// The most segments one GSO syscall of this socket carries: 128 at first, 64 once the
    /// kernel showed it takes no more (kernels whose `UDP_MAX_SEGMENTS` is 64), 0 once GSO
    /// was refused ([`gso_disabled`](Self::gso_disabled)).
    pub fn gso_max_segments(&self) -> usize {
        usize::from(self.gso_segments.load(Ordering::Relaxed))
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
