//! Kernel timestamps of datagrams (Linux): when the stack received each one, read from the
//! control data of the same `recvmsg`/`recvmmsg` that returns it (no extra syscall), and
//! when each send left, read from the socket's error queue and matched to the send by its
//! `SOF_TIMESTAMPING_OPT_ID` counter. See the kernel's
//! `Documentation/networking/timestamping.rst` and `socket(7)`.
//!
//! Receive side: turn stamps on with [`NetSocket::set_rx_timestamps`] (`SO_TIMESTAMPING`
//! with [`TimestampFlags::RX_SOFTWARE`] | [`TimestampFlags::SOFTWARE`]) or
//! [`NetSocket::set_timestamp_ns`] (`SO_TIMESTAMPNS`); read one datagram and its stamp
//! with [`NetSocket::recv_timestamped`], or find the stamp in control bytes you received
//! yourself with [`rx_timestamp`]. Transmit side: [`NetSocket::set_tx_timestamps`] and
//! [`NetSocket::recv_tx_timestamp`].
//!
//! Software stamps are `CLOCK_REALTIME`, taken as the stack handles the packet (on
//! receive: before the protocol layers; on send: as the device driver takes it). Compare
//! them with [`Timestamp::now`], which reads the same clock.
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! use sock::UdpConn;
//! use sock::timestamp::Timestamp;
//! let rx = UdpConn::bind("127.0.0.1:0").unwrap();
//! let tx = UdpConn::bind("127.0.0.1:0").unwrap();
//! rx.set_rx_timestamps(true).unwrap();
//! // The first datagrams after the first socket turns stamps on may come unstamped: the
//! // kernel enables them system-wide from a work queue.
//! for _ in 0..1000 {
//!     let before = Timestamp::now();
//!     tx.send_to(b"tick", &rx.local_addr().unwrap()).unwrap();
//!     let (mut buf, mut from) = ([0u8; 16], sock::SockaddrStorage::new());
//!     let (meta, stamp) = rx.try_recv_timestamped(&mut buf, &mut from).unwrap();
//!     assert_eq!(&buf[..meta.bytes], b"tick");
//!     if let Some(stamp) = stamp {
//!         assert!(before <= stamp && stamp <= Timestamp::now());
//!         break;
//!     }
//! }
//! # }
//! ```

use std::io::IoSliceMut;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockaddr::SockaddrStorage;

use crate::cmsg::consts::{
    IP_RECVERR, IPV6_RECVERR, SO_EE_ORIGIN_TIMESTAMPING, SO_TIMESTAMPING, SO_TIMESTAMPNS, SOL_IP,
    SOL_IPV6, SOL_SOCKET,
};
use crate::raw::{self, RecvMeta};
use crate::{NetSocket, sys};

/// A point on `CLOCK_REALTIME`, to the nanosecond: how the kernel stamps packets in
/// software. Ordered; [`Timestamp::now`] reads the same clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The time since the Unix epoch (`tv_sec`, `tv_nsec`).
    pub const fn from_unix(since_epoch: Duration) -> Timestamp {
        Timestamp(since_epoch)
    }

    /// `CLOCK_REALTIME` now (through the vDSO: no syscall).
    ///
    /// ```
    /// let a = sock::timestamp::Timestamp::now();
    /// assert!(a <= sock::timestamp::Timestamp::now());
    /// ```
    pub fn now() -> Timestamp {
        Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }

    /// The time since the Unix epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// Nanoseconds since the Unix epoch (fits in a `u64` until 2554; later stamps, which
    /// only a bogus control message carries, saturate at `u64::MAX`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sock::timestamp::Timestamp;
    /// assert_eq!(Timestamp::from_unix(Duration::from_nanos(1_750)).as_nanos(), 1_750);
    /// // Found by the cmsg_parse fuzz target: a control message may say anything.
    /// assert_eq!(Timestamp::from_unix(Duration::from_secs(u64::MAX)).as_nanos(), u64::MAX);
    /// ```
    pub const fn as_nanos(self) -> u64 {
        self.0
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(self.0.subsec_nanos() as u64)
    }

    /// As a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + self.0
    }

    /// How long after `earlier` this is; `None` when it is not after it (the clock was
    /// stepped, or the two were taken on different clocks).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sock::timestamp::Timestamp;
    /// let a = Timestamp::from_unix(Duration::from_nanos(1_000));
    /// let b = Timestamp::from_unix(Duration::from_nanos(1_750));
    /// assert_eq!(b.since(a), Some(Duration::from_nanos(750)));
    /// assert_eq!(a.since(b), None);
    /// ```
    pub fn since(self, earlier: Timestamp) -> Option<Duration> {
        self.0.checked_sub(earlier.0)
    }
}

bitflags::bitflags! {
    /// `SOF_TIMESTAMPING_*`: what `SO_TIMESTAMPING` generates and reports. Generation flags
    /// (`TX_*`, `RX_*`) say which stamps the kernel takes; reporting flags (`SOFTWARE`,
    /// `RAW_HARDWARE`) say which of them reach this socket; the `OPT_*` flags shape how.
    /// See `Documentation/networking/timestamping.rst`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TimestampFlags: u32 {
        /// Stamp sends in the device's hardware.
        const TX_HARDWARE = 1 << 0;
        /// Stamp sends as the driver takes them (software).
        const TX_SOFTWARE = 1 << 1;
        /// Stamp receives in the device's hardware.
        const RX_HARDWARE = 1 << 2;
        /// Stamp receives as the stack first sees them (software).
        const RX_SOFTWARE = 1 << 3;
        /// Report software stamps (in `ts[0]` of `SCM_TIMESTAMPING`).
        const SOFTWARE = 1 << 4;
        /// Report hardware stamps converted to system time (deprecated by the kernel).
        const SYS_HARDWARE = 1 << 5;
        /// Report raw hardware stamps (in `ts[2]`).
        const RAW_HARDWARE = 1 << 6;
        /// Number each send; the number comes back with its transmit stamp (`ee_data`):
        /// 0 for the first send after the flag is turned on (from off: setting it again
        /// while it is on keeps the count), then one more per send (per byte on TCP).
        const OPT_ID = 1 << 7;
        /// Stamp sends as they enter the packet scheduler.
        const TX_SCHED = 1 << 8;
        /// Stamp sends when the peer acknowledges all their data (TCP).
        const TX_ACK = 1 << 9;
        /// Deliver the `IP_PKTINFO`/`IPV6_PKTINFO` of stamped sends too.
        const OPT_CMSG = 1 << 10;
        /// Transmit stamps come alone, without the packet they stamp: nothing to copy.
        const OPT_TSONLY = 1 << 11;
        /// Deliver TCP statistics with transmit stamps.
        const OPT_STATS = 1 << 12;
        /// Deliver the receiving interface with hardware receive stamps.
        const OPT_PKTINFO = 1 << 13;
        /// Deliver software and hardware transmit stamps both, when both are taken.
        const OPT_TX_SWHW = 1 << 14;
        /// Bind to a PTP hardware clock (with a `struct so_timestamping`; not set here).
        const BIND_PHC = 1 << 15;
        /// TCP: count `OPT_ID` at the send rather than when data is queued (Linux 6.13).
        const OPT_ID_TCP = 1 << 16;
        /// Report receive stamps only when this socket asked for their generation (Linux
        /// 6.12): another socket's `RX_SOFTWARE` does not leak stamps into this one.
        const OPT_RX_FILTER = 1 << 17;
    }
}

/// Which point of a send a transmit stamp marks (`ee_info`, `SCM_TSTAMP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxPoint {
    /// `SCM_TSTAMP_SND`: the driver took the packet ([`TimestampFlags::TX_SOFTWARE`]).
    Sent,
    /// `SCM_TSTAMP_SCHED`: the packet entered the scheduler ([`TimestampFlags::TX_SCHED`]).
    Scheduled,
    /// `SCM_TSTAMP_ACK`: the peer acknowledged the data ([`TimestampFlags::TX_ACK`]).
    Acked,
    /// A value this module does not know.
    Other(u32),
}

impl TxPoint {
    fn from_raw(v: u32) -> TxPoint {
        match v {
            0 => TxPoint::Sent,
            1 => TxPoint::Scheduled,
            2 => TxPoint::Acked,
            v => TxPoint::Other(v),
        }
    }
}

/// One transmit stamp from the error queue ([`NetSocket::recv_tx_timestamp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxTimestamp {
    /// The send's `OPT_ID` number (`ee_data`): with [`TimestampFlags::OPT_ID`], 0 for the
    /// first send after the option was set, then one more per datagram.
    pub id: u32,
    /// The point of the send it marks.
    pub point: TxPoint,
    /// The software stamp (`ts[0]`); `None` when only a hardware stamp came.
    pub software: Option<Timestamp>,
    /// The raw hardware stamp (`ts[2]`), when the device took one.
    pub hardware: Option<Timestamp>,
}

/// The flags [`NetSocket::set_rx_timestamps`] sets: generate and report software receive
/// stamps.
pub const RX_SOFTWARE: TimestampFlags = TimestampFlags::RX_SOFTWARE.union(TimestampFlags::SOFTWARE);

/// The flags [`NetSocket::set_tx_timestamps`] sets: software transmit stamps, numbered,
/// without the packet.
pub const TX_SOFTWARE: TimestampFlags = TimestampFlags::TX_SOFTWARE
    .union(TimestampFlags::SOFTWARE)
    .union(TimestampFlags::OPT_ID)
    .union(TimestampFlags::OPT_TSONLY);

/// Control space for the receive stamps of one datagram: an `SCM_TIMESTAMPING` (three
/// `timespec`s) and an `SCM_TIMESTAMPNS`, should both options be on, with room to spare for
/// one more small message.
pub const RX_CONTROL_LEN: usize = crate::cmsg::space(3 * 2 * core::mem::size_of::<libc::time_t>())
    + crate::cmsg::space(2 * core::mem::size_of::<libc::time_t>())
    + crate::cmsg::space(16);

/// Control space for one error-queue message: a `sock_extended_err` with a
/// `sockaddr_in6` offender, an `SCM_TIMESTAMPING`, and room for `OPT_CMSG`/`OPT_STATS`
/// extras.
const TX_CONTROL_LEN: usize = 512;

/// A `struct timespec` of the native width at `off`; `None` when it lies outside `d` or is
/// zero (the kernel writes zeros where it took no stamp).
fn timespec_at(d: &[u8], off: usize) -> Option<Timestamp> {
    let w = core::mem::size_of::<libc::time_t>();
    let word = |at: usize| -> Option<i64> {
        let b = d.get(at..at + w)?;
        Some(if w == 8 {
            i64::from_ne_bytes(b.try_into().ok()?)
        } else {
            i64::from(i32::from_ne_bytes(b.try_into().ok()?))
        })
    };
    let (sec, nsec) = (word(off)?, word(off + w)?);
    if sec == 0 && nsec == 0 {
        return None;
    }
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return None;
    }
    Some(Timestamp(Duration::new(sec as u64, nsec as u32)))
}

/// The header at the start of `b` (see [`crate::cmsg`]), or `None` when none is left or
/// it is malformed (the walk stops: a bad length would put the rest out of step).
fn next_header(b: &[u8]) -> Option<(i32, i32, &[u8], &[u8])> {
    let (level, ty, clen) = crate::cmsg::header(b)?.ok()?;
    let data = &b[crate::cmsg::HDR..clen];
    let rest = b.get(crate::cmsg::align(clen)..).unwrap_or(&[]);
    Some((level, ty, data, rest))
}

/// The software receive stamp in `control` (the bytes a receive wrote, up to its
/// `msg_controllen`): `ts[0]` of an `SCM_TIMESTAMPING`, else an `SCM_TIMESTAMPNS`. `None`
/// when neither came (stamps off) or the software stamp is zero. Reads the headers only
/// up to the stamp; allocates nothing.
///
/// ```
/// // An empty control buffer (stamps off) has none.
/// assert_eq!(sock::timestamp::rx_timestamp(&[]), None);
/// ```
pub fn rx_timestamp(control: &[u8]) -> Option<Timestamp> {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return None;
    }
    let mut rest = control;
    let mut ns = None;
    while let Some((level, ty, data, next)) = next_header(rest) {
        if level == SOL_SOCKET {
            if ty == SO_TIMESTAMPING {
                if let Some(t) = timespec_at(data, 0) {
                    return Some(t);
                }
            } else if ty == SO_TIMESTAMPNS {
                ns = ns.or(timespec_at(data, 0));
            }
        }
        rest = next;
    }
    ns
}

/// The transmit stamp in the control bytes of one error-queue message: its
/// `sock_extended_err` (origin `SO_EE_ORIGIN_TIMESTAMPING`) and `SCM_TIMESTAMPING`.
/// `None` when the message is not a transmit stamp; `Some(Err(..))` carrying the queued
/// error when it is another error (an ICMP report, a local drop).
///
/// ```
/// assert!(sock::timestamp::tx_timestamp(&[]).is_none());
/// ```
pub fn tx_timestamp(control: &[u8]) -> Option<iox::Result<TxTimestamp>> {
    let mut rest = control;
    let mut err: Option<(u32, u8, u32, u32)> = None;
    let mut stamps: Option<(Option<Timestamp>, Option<Timestamp>)> = None;
    while let Some((level, ty, data, next)) = next_header(rest) {
        if (level == SOL_IP && ty == IP_RECVERR) || (level == SOL_IPV6 && ty == IPV6_RECVERR) {
            let u32_at = |o: usize| -> Option<u32> {
                Some(u32::from_ne_bytes(data.get(o..o + 4)?.try_into().ok()?))
            };
            if let (Some(errno), Some(&origin), Some(info), Some(id)) =
                (u32_at(0), data.get(4), u32_at(8), u32_at(12))
            {
                err = Some((errno, origin, info, id));
            }
        } else if level == SOL_SOCKET && ty == SO_TIMESTAMPING {
            let w = 2 * core::mem::size_of::<libc::time_t>();
            stamps = Some((timespec_at(data, 0), timespec_at(data, 2 * w)));
        }
        rest = next;
    }
    let (errno, origin, info, id) = err?;
    if origin != SO_EE_ORIGIN_TIMESTAMPING {
        return Some(Err(iox::Error::from(zcall::Errno::from_raw(errno as i32))));
    }
    let (software, hardware) = stamps.unwrap_or_default();
    Some(Ok(TxTimestamp {
        id,
        point: TxPoint::from_raw(info),
        software,
        hardware,
    }))
}

impl NetSocket {
    /// `SO_TIMESTAMPING` with `flags` (Linux; `Unsupported` elsewhere). Turning
    /// [`TimestampFlags::OPT_ID`] on when it was off starts the send counter at 0; setting
    /// it while it is on keeps the count (turn stamps off, then on, to restart). See
    /// `Documentation/networking/timestamping.rst`.
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use sock::timestamp::TimestampFlags;
    /// let s = sock::UdpConn::bind("127.0.0.1:0").unwrap();
    /// let f = TimestampFlags::RX_SOFTWARE | TimestampFlags::SOFTWARE;
    /// s.set_timestamping(f).unwrap();
    /// assert_eq!(s.timestamping().unwrap(), f);
    /// # }
    /// ```
    pub fn set_timestamping(&self, flags: TimestampFlags) -> iox::Result<()> {
        crate::opt::set_timestamping(self, flags.bits())
    }

    /// The `SO_TIMESTAMPING` flags as the kernel has them (flags this module does not name
    /// are kept).
    pub fn timestamping(&self) -> iox::Result<TimestampFlags> {
        crate::opt::timestamping(self).map(TimestampFlags::from_bits_retain)
    }

    /// Software receive stamps on or off: `SO_TIMESTAMPING` set to [`RX_SOFTWARE`] (on) or
    /// to nothing (off). Each datagram then carries the time the stack received it, read by
    /// [`recv_timestamped`](Self::recv_timestamped), [`rx_timestamp`], and the batch and
    /// reactor reads built on them. Replaces the transmit flags: to have both, use
    /// [`set_timestamping`](Self::set_timestamping) with `RX_SOFTWARE | TX_SOFTWARE`.
    pub fn set_rx_timestamps(&self, on: bool) -> iox::Result<()> {
        self.set_timestamping(if on {
            RX_SOFTWARE
        } else {
            TimestampFlags::empty()
        })
    }

    /// Software transmit stamps on or off: `SO_TIMESTAMPING` set to [`TX_SOFTWARE`]
    /// (`TX_SOFTWARE | SOFTWARE | OPT_ID | OPT_TSONLY`) or to nothing. Each send then queues
    /// a [`TxTimestamp`] on the error queue, numbered from 0 when stamps were off before,
    /// read with
    /// [`recv_tx_timestamp`](Self::recv_tx_timestamp).
    pub fn set_tx_timestamps(&self, on: bool) -> iox::Result<()> {
        self.set_timestamping(if on {
            TX_SOFTWARE
        } else {
            TimestampFlags::empty()
        })
    }

    /// One datagram into `buf`, its source into `from`, and its software receive stamp
    /// (`None` when stamps are off): one `recvmsg`, no allocation. Under the read deadline,
    /// like [`recv_msg`](Self::recv_msg). A datagram longer than `buf` is cut and
    /// [`RecvMeta::truncated`] says so.
    pub fn recv_timestamped(
        &self,
        buf: &mut [u8],
        from: &mut SockaddrStorage,
    ) -> iox::Result<(RecvMeta, Option<Timestamp>)> {
        crate::deadline::run(&self.deadlines.read, || self.recv_stamped_once(buf, from))
    }

    /// [`recv_timestamped`](Self::recv_timestamped) without the deadlines: one attempt,
    /// `WouldBlock` at once when nothing is queued. For an event loop that does its own
    /// waiting.
    pub fn try_recv_timestamped(
        &self,
        buf: &mut [u8],
        from: &mut SockaddrStorage,
    ) -> iox::Result<(RecvMeta, Option<Timestamp>)> {
        self.recv_stamped_once(buf, from)
    }

    fn recv_stamped_once(
        &self,
        buf: &mut [u8],
        from: &mut SockaddrStorage,
    ) -> iox::Result<(RecvMeta, Option<Timestamp>)> {
        let mut control = crate::cmsg::CmsgBuf::<RX_CONTROL_LEN>::new();
        let mut bufs = [IoSliceMut::new(buf)];
        let mut m = raw::recv_header(&mut bufs, Some(from), control.as_mut());
        let n = raw::recvmsg(
            self.raw(),
            &mut m,
            sys::RECV_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
        )?;
        let meta = RecvMeta {
            bytes: n,
            control_len: m.msg_controllen as _,
            flags: m.msg_flags,
        };
        let namelen = m.msg_namelen as usize;
        from.set_len(namelen)?;
        let control = &mut control.as_mut()[..meta.control_len.min(RX_CONTROL_LEN)];
        let stamp = rx_timestamp(control);
        if self.domain() == libc::AF_UNIX {
            // A Unix datagram may carry descriptors: close them, as `recv_msg` does.
            drop(crate::msg::Received::from_kernel(control));
        }
        Ok((meta, stamp))
    }

    /// The next transmit stamp from the error queue (`recvmsg(MSG_ERRQUEUE)`, which never
    /// blocks): `WouldBlock` when none is queued yet. Turn stamps on first with
    /// [`set_tx_timestamps`](Self::set_tx_timestamps) or
    /// [`set_timestamping`](Self::set_timestamping); match a stamp to its send by
    /// [`TxTimestamp::id`]. Another error waiting on the queue (an ICMP report, with
    /// [`set_recv_errors`](Self::set_recv_errors)) is taken and returned as that error.
    /// No allocation. Linux; `Unsupported` elsewhere. See `recvmsg(2)`.
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use sock::UdpConn;
    /// let rx = UdpConn::bind("127.0.0.1:0").unwrap();
    /// let tx = UdpConn::bind("127.0.0.1:0").unwrap();
    /// tx.set_tx_timestamps(true).unwrap();
    /// for _ in 0..3 {
    ///     tx.send_to(b"x", &rx.local_addr().unwrap()).unwrap();
    /// }
    /// // Loopback stamps the sends inside the send calls.
    /// let ids: Vec<u32> = (0..3).map(|_| tx.recv_tx_timestamp().unwrap().id).collect();
    /// assert_eq!(ids, [0, 1, 2]);
    /// assert!(tx.recv_tx_timestamp().unwrap_err().is_would_block());
    /// # }
    /// ```
    pub fn recv_tx_timestamp(&self) -> iox::Result<TxTimestamp> {
        let errqueue = sys::MSG_ERRQUEUE.ok_or(iox::Error::unsupported(
            "MSG_ERRQUEUE: transmit timestamps are Linux-only",
        ))?;
        loop {
            let mut control = crate::cmsg::CmsgBuf::<TX_CONTROL_LEN>::new();
            // Without OPT_TSONLY the packet comes back too: its first bytes land here and
            // the rest is discarded (MSG_TRUNC).
            let mut scratch = [0u8; 64];
            let mut bufs = [IoSliceMut::new(&mut scratch)];
            let mut m = raw::recv_header(&mut bufs, None, control.as_mut());
            raw::recvmsg(
                self.raw(),
                &mut m,
                errqueue | sys::RECV_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
            )?;
            let len: usize = m.msg_controllen as _;
            let len = len.min(TX_CONTROL_LEN);
            match tx_timestamp(&control.as_ref()[..len]) {
                Some(r) => return r,
                // A message with no extended error: nothing to report, read the next.
                None => continue,
            }
        }
    }
}
