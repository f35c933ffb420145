//! SCTP (Linux): one-to-one [`SctpConn`]/[`SctpListener`]/[`SctpDialer`], one-to-many
//! [`SctpSocket`], the option structs in the kernel's layout, and the options.
//!
//! Where the kernel has no SCTP (the module is not loaded, or the platform lacks it),
//! creating a socket fails with `ProtocolNotSupported`.

use std::os::fd::AsFd;
use std::time::Duration;

use sockaddr::{Sockaddr, SockaddrAny, SockaddrStorage};

use crate::addr::{Family, ToSockaddr, domain};
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
    pub const SCTP_SNDINFO: i32 = 34;
    pub const SCTP_RCVINFO: i32 = 35;
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
    /// How long to wait for the association; `None`: do not wait.
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

/// A one-to-many SCTP endpoint (`SOCK_SEQPACKET`): one socket, many associations, each
/// message sent to and received from an address.
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
