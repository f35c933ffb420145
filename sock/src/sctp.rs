//! SCTP (Linux): one-to-one [`SctpConn`]/[`SctpListener`]/[`SctpDialer`], one-to-many
//! [`SctpSocket`] (one socket, many associations, [`SctpSocket::peeloff`] to a one-to-one
//! socket), per-message [`SndInfo`]/[`RcvInfo`] as typed control messages
//! ([`SctpConn::sctp_send`], [`SctpSocket::sctp_recv`]), notifications ([`subscribe`],
//! [`Notification`]), the option structs in the kernel's layout, and the options.
//!
//! Where the kernel has no SCTP (the module is not loaded, or the platform lacks it),
//! creating a socket fails with `ProtocolNotSupported`. `cargo xtask vm --suite sctp` runs
//! `tests/sctp.rs` against the real stack of Debian 12's 6.1 kernel (see the README).
//!
//! ```no_run
//! use sock::sctp::{RcvInfo, SctpSocket, SndInfo};
//! let server = SctpSocket::bind("127.0.0.1:0").unwrap();
//! sock::sctp::set_recv_rcvinfo(&server, true).unwrap();
//! let client = SctpSocket::bind("127.0.0.1:0").unwrap();
//! let to = server.local_addr().unwrap();
//! client.sctp_send(b"hello", Some(&to), &SndInfo { sid: 1, ppid: 42, ..Default::default() }).unwrap();
//! let mut buf = [0u8; 64];
//! server.set_read_deadline(iox::Deadline::after(std::time::Duration::from_secs(5)));
//! let got = server.sctp_recv(&mut buf).unwrap();
//! let info: RcvInfo = got.info.unwrap();
//! assert_eq!((info.sid, info.ppid), (1, 42));
//! let one_to_one = server.peeloff(info.assoc_id).unwrap(); // the association on its own socket
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::AsFd;
use std::time::Duration;

use sockaddr::{Sockaddr, SockaddrAny, SockaddrStorage};

use crate::addr::{Family, ToSockaddr, domain};
use crate::cmsg::{Cmsg, CmsgBuf, CmsgIter, CmsgWriter};
use crate::tcp::DEFAULT_BACKLOG;
use crate::{NetSocket, opt};

/// `IPPROTO_SCTP`.
pub const IPPROTO_SCTP: i32 = 132;
/// `SOL_SCTP` (the option level is the protocol number).
pub const SOL_SCTP: i32 = 132;

/// SCTP option numbers (`linux/sctp.h`).
#[allow(missing_docs)]
pub mod consts {
    pub const SCTP_RTOINFO: i32 = 0;
    pub const SCTP_ASSOCINFO: i32 = 1;
    pub const SCTP_INITMSG: i32 = 2;
    pub const SCTP_NODELAY: i32 = 3;
    pub const SCTP_AUTOCLOSE: i32 = 4;
    pub const SCTP_SET_PEER_PRIMARY_ADDR: i32 = 5;
    pub const SCTP_PRIMARY_ADDR: i32 = 6;
    pub const SCTP_ADAPTATION_LAYER: i32 = 7;
    pub const SCTP_DISABLE_FRAGMENTS: i32 = 8;
    pub const SCTP_PEER_ADDR_PARAMS: i32 = 9;
    pub const SCTP_DEFAULT_SEND_PARAM: i32 = 10;
    pub const SCTP_EVENTS: i32 = 11;
    pub const SCTP_I_WANT_MAPPED_V4_ADDR: i32 = 12;
    pub const SCTP_MAXSEG: i32 = 13;
    pub const SCTP_STATUS: i32 = 14;
    pub const SCTP_GET_PEER_ADDR_INFO: i32 = 15;
    pub const SCTP_DELAYED_ACK_TIME: i32 = 16;
    pub const SCTP_CONTEXT: i32 = 17;
    pub const SCTP_FRAGMENT_INTERLEAVE: i32 = 18;
    pub const SCTP_PARTIAL_DELIVERY_POINT: i32 = 19;
    pub const SCTP_MAX_BURST: i32 = 20;
    /// Option: deliver an [`RcvInfo`](super::RcvInfo) with each message.
    pub const SCTP_RECVRCVINFO: i32 = 32;
    /// Option: the default [`SndInfo`](super::SndInfo) of sends without one.
    pub const SCTP_DEFAULT_SNDINFO: i32 = 34;
    /// Option: peel an association off a one-to-many socket, with `O_CLOEXEC`/`O_NONBLOCK`.
    pub const SCTP_SOCKOPT_PEELOFF_FLAGS: i32 = 122;
    /// Option: subscribe to one notification (`struct sctp_event`).
    pub const SCTP_EVENT: i32 = 127;

    /// Control message type (`enum sctp_cmsg_type`, level `SOL_SCTP`): `struct sctp_sndinfo`.
    pub const SCTP_SNDINFO: i32 = 2;
    /// Control message type: `struct sctp_rcvinfo`.
    pub const SCTP_RCVINFO: i32 = 3;

    /// [`SndInfo::flags`](super::SndInfo::flags): deliver out of order.
    pub const SCTP_UNORDERED: u16 = 1 << 0;
    /// Send to the address given rather than the primary path.
    pub const SCTP_ADDR_OVER: u16 = 1 << 1;
    /// Abort the association (the message, if any, is the abort's reason).
    pub const SCTP_ABORT: u16 = 1 << 2;
    /// Shut the association down gracefully (`MSG_FIN`).
    pub const SCTP_EOF: u16 = 0x200;
    /// `msg_flags` of a received notification.
    pub const MSG_NOTIFICATION: i32 = 0x8000;

    /// Notification type (`enum sctp_sn_type`): an association came up or went down.
    pub const SCTP_ASSOC_CHANGE: u16 = 0x8001;
    /// Notification type: the peer shut down.
    pub const SCTP_SHUTDOWN_EVENT: u16 = 0x8005;

    /// `sac_state`: the association is up.
    pub const SCTP_COMM_UP: u16 = 0;
    /// `sac_state`: the association failed (aborted, or the peer is gone).
    pub const SCTP_COMM_LOST: u16 = 1;
    /// `sac_state`: the peer restarted.
    pub const SCTP_RESTART: u16 = 2;
    /// `sac_state`: the association shut down gracefully.
    pub const SCTP_SHUTDOWN_COMP: u16 = 3;
    /// `sac_state`: the association could not be set up.
    pub const SCTP_CANT_STR_ASSOC: u16 = 4;
}
use consts::*;

/// `struct sctp_initmsg`: the association's stream counts and INIT retries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct InitMsg {
    /// Outbound streams requested.
    pub num_ostreams: u16,
    /// Inbound streams accepted at most.
    pub max_instreams: u16,
    /// INIT retransmissions before giving up.
    pub max_attempts: u16,
    /// The longest INIT retransmission timeout, in milliseconds.
    pub max_init_timeo: u16,
}

/// `struct sctp_assoc_value`: a value for one association (0: the endpoint's default),
/// what `SCTP_CONTEXT`, `SCTP_MAXSEG` and `SCTP_MAX_BURST` take (the Go package passed a
/// bare int here and got `EINVAL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct AssocValue {
    /// `sctp_assoc_t`.
    pub assoc_id: i32,
    /// The value.
    pub value: u32,
}

/// `struct sctp_sndinfo`: per-message send parameters (`SCTP_SNDINFO` control message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SndInfo {
    /// Stream id.
    pub sid: u16,
    /// `SCTP_UNORDERED`, `SCTP_ADDR_OVER`, `SCTP_ABORT`, `SCTP_EOF`...
    pub flags: u16,
    /// Payload protocol identifier (network byte order on the wire).
    pub ppid: u32,
    /// Context returned with send failures.
    pub context: u32,
    /// Association (one-to-many sockets).
    pub assoc_id: i32,
}

/// `struct sctp_rcvinfo`: per-message receive information (`SCTP_RCVINFO` control message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RcvInfo {
    /// Stream id.
    pub sid: u16,
    /// Stream sequence number.
    pub ssn: u16,
    /// `SCTP_UNORDERED`...
    pub flags: u16,
    /// Payload protocol identifier.
    pub ppid: u32,
    /// Transmission sequence number.
    pub tsn: u32,
    /// Cumulative TSN.
    pub cumtsn: u32,
    /// Context.
    pub context: u32,
    /// Association.
    pub assoc_id: i32,
}

static_assertions::assert_eq_size!(InitMsg, [u8; 8]);
static_assertions::assert_eq_size!(AssocValue, [u8; 8]);
static_assertions::assert_eq_size!(SndInfo, [u8; 16]);
static_assertions::assert_eq_size!(RcvInfo, [u8; 28]);
static_assertions::const_assert_eq!(core::mem::offset_of!(RcvInfo, ppid), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(RcvInfo, assoc_id), 24);
static_assertions::const_assert_eq!(core::mem::offset_of!(SndInfo, assoc_id), 12);

macro_rules! to_bytes {
    ($t:ty, $($f:ident),*) => {
        impl $t {
            /// The kernel's bytes for this struct (native byte order, `repr(C)` layout).
            pub fn to_bytes(&self) -> [u8; core::mem::size_of::<$t>()] {
                let mut out = [0u8; core::mem::size_of::<$t>()];
                $( {
                    let b = self.$f.to_ne_bytes();
                    let off = core::mem::offset_of!($t, $f);
                    out[off..off + b.len()].copy_from_slice(&b);
                } )*
                out
            }

            /// The struct from the kernel's bytes (`InvalidInput` when too short).
            pub fn from_bytes(b: &[u8]) -> iox::Result<$t> {
                if b.len() < core::mem::size_of::<$t>() {
                    return Err(iox::Error::invalid_input(concat!(stringify!($t), " needs more bytes")));
                }
                let mut v = <$t>::default();
                $( {
                    let off = core::mem::offset_of!($t, $f);
                    let n = core::mem::size_of_val(&v.$f);
                    let mut a = [0u8; 4];
                    a[..n].copy_from_slice(&b[off..off + n]);
                    v.$f = match n {
                        2 => { let x = u16::from_ne_bytes([a[0], a[1]]); x as _ }
                        _ => { let x = u32::from_ne_bytes(a); x as _ }
                    };
                } )*
                Ok(v)
            }
        }
    };
}

to_bytes!(
    InitMsg,
    num_ostreams,
    max_instreams,
    max_attempts,
    max_init_timeo
);
to_bytes!(AssocValue, assoc_id, value);
to_bytes!(SndInfo, sid, flags, ppid, context, assoc_id);
to_bytes!(
    RcvInfo, sid, ssn, flags, ppid, tsn, cumtsn, context, assoc_id
);

fn sctp_socket(addr: &SockaddrAny, ty: i32) -> iox::Result<NetSocket> {
    if matches!(addr, SockaddrAny::Unix(_)) {
        return Err(iox::Error::with_context(
            iox::ErrorKind::AddressFamilyNotSupported,
            "an SCTP socket needs an IPv4 or IPv6 address",
        ));
    }
    NetSocket::new(domain(addr), ty, IPPROTO_SCTP)
}

/// A one-to-one SCTP association (`SOCK_STREAM`), read and written like a stream.
#[derive(Debug)]
pub struct SctpConn {
    sock: NetSocket,
}

crate::stream::connected_io!(SctpConn);

/// A one-to-one SCTP listener.
#[derive(Debug)]
pub struct SctpListener {
    sock: NetSocket,
}

crate::stream::fd_traits!(SctpListener);

impl SctpListener {
    /// Listens on `addr` (`SOCK_STREAM`, `SO_REUSEADDR`).
    pub fn bind(addr: impl ToSockaddr) -> iox::Result<SctpListener> {
        let addr = addr.to_sockaddr(Family::Any)?;
        let sock = sctp_socket(&addr, libc::SOCK_STREAM)?;
        opt::set_reuse_address(&sock, true)?;
        sock.bind(&addr)?;
        sock.listen(DEFAULT_BACKLOG)?;
        Ok(SctpListener { sock })
    }

    /// Accepts one association.
    pub fn accept(&self) -> iox::Result<(SctpConn, SockaddrAny)> {
        let mut peer = SockaddrStorage::new();
        let c = crate::deadline::run(&self.sock.deadlines.read, || {
            self.sock.accept_into(&mut peer)
        })?;
        Ok((SctpConn { sock: c }, peer.decode()?))
    }
}

/// Dials one-to-one SCTP, optionally waiting for the association (as [`TcpDialer`](crate::TcpDialer)).
#[derive(Clone, Copy, Debug, Default)]
pub struct SctpDialer {
    /// How long to wait for the association; `None`: do not wait. A one-to-one socket
    /// takes data only once its association is up: written earlier, it fails with `EPIPE`
    /// (`ConnectionReset`); [`peer_addr`](NetSocket::peer_addr) answers once it is up.
    pub timeout: Option<Duration>,
    /// Stream counts to request.
    pub init: Option<InitMsg>,
}

impl SctpDialer {
    /// Connects to `addr`.
    pub fn dial(&self, addr: impl ToSockaddr) -> iox::Result<SctpConn> {
        let addr = addr.to_sockaddr(Family::Any)?;
        let sock = sctp_socket(&addr, libc::SOCK_STREAM)?;
        if let Some(init) = &self.init {
            set_initmsg(&sock, init)?;
        }
        let done = sock.connect(&addr)?;
        let conn = SctpConn { sock };
        if done || self.timeout.is_none() {
            return Ok(conn);
        }
        let deadline = iox::Deadline::after(self.timeout.unwrap_or_default());
        let mut backoff = iox::Backoff::new(crate::deadline::SOCKET_BACKOFF);
        iox::retry(deadline, &mut backoff, || {
            if let Some(e) = conn.sock.take_error()? {
                return Err(e);
            }
            match conn.sock.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == iox::ErrorKind::NotConnected => Err(iox::Error::WOULD_BLOCK),
                Err(e) => Err(e),
            }
        })?;
        Ok(conn)
    }
}

impl SctpConn {
    /// Sends one message with per-message parameters (stream, payload protocol, flags such as
    /// [`SCTP_UNORDERED`] or [`SCTP_EOF`]) as an
    /// `SCTP_SNDINFO` control message. Under the write deadline. See `sctp_sendv(3)`.
    pub fn sctp_send(&self, buf: &[u8], info: &SndInfo) -> iox::Result<usize> {
        send_with_info(&self.sock, buf, None, info)
    }

    /// Receives one message (or a notification) with its [`RcvInfo`] when
    /// [`set_recv_rcvinfo`] is on. Under the read deadline. See `sctp_recvv(3)`.
    pub fn sctp_recv(&self, buf: &mut [u8]) -> iox::Result<SctpRecv> {
        recv_with_info(&self.sock, buf)
    }
}

/// A one-to-many SCTP endpoint (`SOCK_SEQPACKET`): one socket, many associations, each
/// message sent to and received from an address. Associations are set up by the first send
/// to a peer (or by the peer's); each has an id ([`RcvInfo::assoc_id`],
/// [`Notification::AssocChange`]) that sends name in [`SndInfo::assoc_id`] and
/// [`peeloff`](Self::peeloff) takes.
#[derive(Debug)]
pub struct SctpSocket {
    sock: NetSocket,
}

crate::stream::fd_traits!(SctpSocket);

impl SctpSocket {
    /// Binds a one-to-many endpoint to `addr` and listens (so peers may associate).
    pub fn bind(addr: impl ToSockaddr) -> iox::Result<SctpSocket> {
        let addr = addr.to_sockaddr(Family::Any)?;
        let sock = sctp_socket(&addr, libc::SOCK_SEQPACKET)?;
        sock.bind(&addr)?;
        sock.listen(DEFAULT_BACKLOG)?;
        Ok(SctpSocket { sock })
    }

    /// Sends one message to `addr` (an association is set up implicitly).
    pub fn send_to(&self, buf: &[u8], addr: &impl Sockaddr) -> iox::Result<usize> {
        self.sock.send_to(buf, addr)
    }

    /// Receives one message and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> iox::Result<(usize, SockaddrAny)> {
        self.sock.recv_from(buf, 0)
    }

    /// Sends one message with per-message parameters as an `SCTP_SNDINFO` control message:
    /// to `to` (an association is set up when there is none), or with `to` `None` on the
    /// association [`SndInfo::assoc_id`] names. With [`SCTP_ABORT`] in
    /// the flags it aborts that association, with [`SCTP_EOF`] it shuts
    /// it down. Under the write deadline. See `sctp_sendv(3)`.
    pub fn sctp_send(
        &self,
        buf: &[u8],
        to: Option<&dyn Sockaddr>,
        info: &SndInfo,
    ) -> iox::Result<usize> {
        send_with_info(&self.sock, buf, to, info)
    }

    /// Receives one message or notification, its source, and its [`RcvInfo`] when
    /// [`set_recv_rcvinfo`] is on. Under the read deadline. See `sctp_recvv(3)`.
    pub fn sctp_recv(&self, buf: &mut [u8]) -> iox::Result<SctpRecv> {
        recv_with_info(&self.sock, buf)
    }

    /// Moves association `assoc_id` to a one-to-one socket of its own (non-blocking,
    /// close-on-exec; its type stays `SOCK_SEQPACKET`, its peer is the association's); this
    /// socket no longer sees it. `InvalidInput` for an id this socket
    /// has no association under. See `sctp_peeloff(3)`.
    pub fn peeloff(&self, assoc_id: i32) -> iox::Result<SctpConn> {
        // sctp_peeloff_flags_arg_t: { { assoc_id, sd }, flags }.
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&assoc_id.to_ne_bytes());
        let flags = (libc::O_CLOEXEC | libc::O_NONBLOCK) as u32;
        b[8..].copy_from_slice(&flags.to_ne_bytes());
        get_struct(&self.sock, SCTP_SOCKOPT_PEELOFF_FLAGS, &mut b)?;
        let fd = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
        if fd < 0 {
            return Err(iox::Error::invalid_input(
                "SCTP peeloff returned no descriptor",
            ));
        }
        // The kernel installed `fd` in this process's table for this call; nobody else owns it.
        let owned = crate::raw::take_received_fd(fd);
        Ok(SctpConn {
            sock: NetSocket::from_owned(owned)?,
        })
    }
}

/// What [`SctpConn::sctp_recv`] and [`SctpSocket::sctp_recv`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SctpRecv {
    /// Bytes written to the buffer.
    pub bytes: usize,
    /// The source address (`None` when the kernel gave none).
    pub from: Option<SockaddrAny>,
    /// The message's `SCTP_RCVINFO` (with [`set_recv_rcvinfo`] on; not for notifications).
    pub info: Option<RcvInfo>,
    /// The buffer holds a notification (`MSG_NOTIFICATION`): read it with
    /// [`Notification::parse`].
    pub notification: bool,
    /// The message ended in this receive (`MSG_EOR`); without it the buffer was too small
    /// and the rest comes with the next receive.
    pub complete: bool,
}

/// A control buffer for one `SCTP_SNDINFO`.
const SNDINFO_SPACE: usize = crate::cmsg_space!(SndInfo);
/// For `SCTP_RCVINFO` and `SCTP_NXTINFO` (16 bytes) together.
const RCV_SPACE: usize = crate::cmsg_space!(RcvInfo, [u8; 16]);

fn send_with_info(
    sock: &NetSocket,
    buf: &[u8],
    to: Option<&dyn Sockaddr>,
    info: &SndInfo,
) -> iox::Result<usize> {
    let mut control = CmsgBuf::<SNDINFO_SPACE>::new();
    let mut w = CmsgWriter::new(control.as_mut());
    w.push(SOL_SCTP, SCTP_SNDINFO, &info.to_bytes())?;
    let n = w.len();
    sock.send_msg(&[IoSlice::new(buf)], to, &control.as_ref()[..n])
}

fn recv_with_info(sock: &NetSocket, buf: &mut [u8]) -> iox::Result<SctpRecv> {
    let mut control = CmsgBuf::<RCV_SPACE>::new();
    let mut from = SockaddrStorage::new();
    let meta = sock.recv_msg(
        &mut [IoSliceMut::new(buf)],
        Some(&mut from),
        control.as_mut(),
    )?;
    let mut info = None;
    let len = meta.control_len.min(RCV_SPACE);
    for c in CmsgIter::new(&control.as_ref()[..len]) {
        if let Cmsg::Other {
            level: SOL_SCTP,
            ty: SCTP_RCVINFO,
            data,
        } = c?
        {
            info = Some(RcvInfo::from_bytes(data)?);
        }
    }
    Ok(SctpRecv {
        bytes: meta.bytes,
        from: if from.is_empty() {
            None
        } else {
            Some(from.decode()?)
        },
        info,
        notification: meta.flags & MSG_NOTIFICATION != 0,
        complete: meta.flags & libc::MSG_EOR != 0,
    })
}

/// A notification read from a receive that had [`SctpRecv::notification`] set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notification {
    /// `SCTP_ASSOC_CHANGE` (`struct sctp_assoc_change`).
    AssocChange {
        /// [`SCTP_COMM_UP`], [`SCTP_COMM_LOST`], ...
        state: u16,
        /// The error cause, if any.
        error: u16,
        /// Outbound streams of the association.
        outbound_streams: u16,
        /// Inbound streams.
        inbound_streams: u16,
        /// The association.
        assoc_id: i32,
    },
    /// `SCTP_SHUTDOWN_EVENT`: the peer shut down.
    Shutdown {
        /// The association.
        assoc_id: i32,
    },
    /// A notification this module does not decode, by its type.
    Other {
        /// `sn_type`.
        ty: u16,
        /// `sn_flags`.
        flags: u16,
    },
}

impl Notification {
    /// Decodes the notification at the start of `b` (the bytes a receive returned).
    /// `InvalidInput` when `b` is shorter than its header or than its type's struct.
    pub fn parse(b: &[u8]) -> iox::Result<Notification> {
        let u16_at = |o: usize| b.get(o..o + 2).map(|x| u16::from_ne_bytes([x[0], x[1]]));
        let i32_at = |o: usize| {
            b.get(o..o + 4)
                .map(|x| i32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
        };
        let short = || iox::Error::invalid_input("SCTP notification is shorter than its struct");
        let ty = u16_at(0).ok_or_else(short)?;
        let flags = u16_at(2).ok_or_else(short)?;
        i32_at(4).ok_or_else(short)?;
        Ok(match ty {
            SCTP_ASSOC_CHANGE => Notification::AssocChange {
                state: u16_at(8).ok_or_else(short)?,
                error: u16_at(10).ok_or_else(short)?,
                outbound_streams: u16_at(12).ok_or_else(short)?,
                inbound_streams: u16_at(14).ok_or_else(short)?,
                assoc_id: i32_at(16).ok_or_else(short)?,
            },
            SCTP_SHUTDOWN_EVENT => Notification::Shutdown {
                assoc_id: i32_at(8).ok_or_else(short)?,
            },
            _ => Notification::Other { ty, flags },
        })
    }
}

/// `struct sctp_event` bytes: `{ se_assoc_id: i32, se_type: u16, se_on: u8 }`, padded to 8.
fn event_bytes(assoc_id: i32, event: u16, on: bool) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&assoc_id.to_ne_bytes());
    b[4..6].copy_from_slice(&event.to_ne_bytes());
    b[6] = u8::from(on);
    b
}

/// Turns notification `event` ([`SCTP_ASSOC_CHANGE`],
/// [`SCTP_SHUTDOWN_EVENT`], ...) on or off for association
/// `assoc_id` (0: the endpoint, and associations made from now on). `SCTP_EVENT`, see
/// `sctp(7)`.
pub fn subscribe(fd: &impl AsFd, event: u16, assoc_id: i32, on: bool) -> iox::Result<()> {
    set_struct(fd, SCTP_EVENT, &event_bytes(assoc_id, event, on))
}

/// Whether notification `event` is on for `assoc_id` (`SCTP_EVENT`).
pub fn subscribed(fd: &impl AsFd, event: u16, assoc_id: i32) -> iox::Result<bool> {
    let mut b = event_bytes(assoc_id, event, false);
    let n = get_struct(fd, SCTP_EVENT, &mut b)?;
    if n < 7 {
        return Err(iox::Error::invalid_input(
            "SCTP_EVENT: the kernel returned a short struct",
        ));
    }
    Ok(b[6] != 0)
}

fn sctp_int(fd: &impl AsFd, option: i32) -> iox::Result<i32> {
    opt::get_int(fd, SOL_SCTP, option)
}

fn set_sctp_int(fd: &impl AsFd, option: i32, v: i32) -> iox::Result<()> {
    opt::set_int(fd, SOL_SCTP, option, v)
}

macro_rules! sctp_int_options {
    ($($(#[$d:meta])* $get:ident, $set:ident, $opt:ident, $t:ty;)*) => {$(
        $(#[$d])*
        pub fn $get(fd: &impl AsFd) -> iox::Result<$t> {
            sctp_int(fd, $opt).map(|v| v as $t)
        }
        $(#[$d])*
        pub fn $set(fd: &impl AsFd, v: $t) -> iox::Result<()> {
            set_sctp_int(fd, $opt, v as i32)
        }
    )*};
}

macro_rules! sctp_bool_options {
    ($($(#[$d:meta])* $get:ident, $set:ident, $opt:ident;)*) => {$(
        $(#[$d])*
        pub fn $get(fd: &impl AsFd) -> iox::Result<bool> {
            sctp_int(fd, $opt).map(|v| v != 0)
        }
        $(#[$d])*
        pub fn $set(fd: &impl AsFd, on: bool) -> iox::Result<()> {
            set_sctp_int(fd, $opt, i32::from(on))
        }
    )*};
}

sctp_bool_options! {
    /// `SCTP_NODELAY` (no bundling delay).
    nodelay, set_nodelay, SCTP_NODELAY;
    /// `SCTP_DISABLE_FRAGMENTS`.
    disable_fragments, set_disable_fragments, SCTP_DISABLE_FRAGMENTS;
    /// `SCTP_I_WANT_MAPPED_V4_ADDR`.
    mapped_v4, set_mapped_v4, SCTP_I_WANT_MAPPED_V4_ADDR;
    /// `SCTP_RECVRCVINFO`: each received message comes with an `SCTP_RCVINFO`
    /// ([`SctpRecv::info`]).
    recv_rcvinfo, set_recv_rcvinfo, SCTP_RECVRCVINFO;
}

sctp_int_options! {
    /// `SCTP_AUTOCLOSE`: seconds before an idle association closes (one-to-many).
    autoclose_secs, set_autoclose_secs, SCTP_AUTOCLOSE, u32;
    /// `SCTP_FRAGMENT_INTERLEAVE` level.
    fragment_interleave, set_fragment_interleave, SCTP_FRAGMENT_INTERLEAVE, u32;
    /// `SCTP_PARTIAL_DELIVERY_POINT` in bytes.
    partial_delivery_point, set_partial_delivery_point, SCTP_PARTIAL_DELIVERY_POINT, u32;
}

fn set_struct(fd: &impl AsFd, option: i32, b: &[u8]) -> iox::Result<()> {
    use std::os::fd::AsRawFd;
    Ok(zcall::setsockopt(
        fd.as_fd().as_raw_fd(),
        SOL_SCTP,
        option,
        b,
    )?)
}

fn get_struct<const N: usize>(fd: &impl AsFd, option: i32, b: &mut [u8; N]) -> iox::Result<usize> {
    use std::os::fd::AsRawFd;
    Ok(zcall::getsockopt(
        fd.as_fd().as_raw_fd(),
        SOL_SCTP,
        option,
        b,
    )?)
}

/// `SCTP_INITMSG`.
pub fn set_initmsg(fd: &impl AsFd, m: &InitMsg) -> iox::Result<()> {
    set_struct(fd, SCTP_INITMSG, &m.to_bytes())
}

/// `SCTP_INITMSG`.
pub fn initmsg(fd: &impl AsFd) -> iox::Result<InitMsg> {
    let mut b = [0u8; 8];
    let n = get_struct(fd, SCTP_INITMSG, &mut b)?;
    InitMsg::from_bytes(&b[..n])
}

macro_rules! assoc_options {
    ($($(#[$d:meta])* $get:ident, $set:ident, $opt:ident;)*) => {$(
        $(#[$d])*
        pub fn $set(fd: &impl AsFd, v: AssocValue) -> iox::Result<()> {
            set_struct(fd, $opt, &v.to_bytes())
        }
        $(#[$d])*
        pub fn $get(fd: &impl AsFd, assoc_id: i32) -> iox::Result<AssocValue> {
            let mut b = AssocValue { assoc_id, value: 0 }.to_bytes();
            let n = get_struct(fd, $opt, &mut b)?;
            AssocValue::from_bytes(&b[..n])
        }
    )*};
}

assoc_options! {
    /// `SCTP_CONTEXT`, per association.
    context, set_context, SCTP_CONTEXT;
    /// `SCTP_MAXSEG`, per association.
    maxseg, set_maxseg, SCTP_MAXSEG;
    /// `SCTP_MAX_BURST`, per association.
    max_burst, set_max_burst, SCTP_MAX_BURST;
}
