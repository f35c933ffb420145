//! Socket options: typed free functions taking any `AsFd`, and [`TABLE`], which says for
//! each option its direction, the privilege it needs, how the kernel reads it back, and
//! where it exists. A platform that lacks an option returns `Unsupported`.
//!
//! | option | access | privilege | read back | platforms |
//! |---|---|---|---|---|
//! | `SO_REUSEADDR`, `SO_REUSEPORT`, `SO_KEEPALIVE`, `SO_BROADCAST` | get/set | — | exact (bool) | all |
//! | `SO_SNDBUF`, `SO_RCVBUF` | get/set | — | doubled by Linux | all |
//! | `SO_SNDBUFFORCE`, `SO_RCVBUFFORCE` | set only | `CAP_NET_ADMIN` | — | Linux |
//! | `SO_LINGER` | get/set | — | seconds | all |
//! | `SO_RCVLOWAT` | get/set | — | exact | all |
//! | `SO_SNDLOWAT` | get only on Linux | — | exact | all |
//! | `SO_PRIORITY` | get/set | `CAP_NET_ADMIN` above 6 | exact | Linux |
//! | `SO_MARK` | get/set | `CAP_NET_ADMIN` | exact | Linux |
//! | `SO_BINDTODEVICE` | get/set | `CAP_NET_RAW` to change once set | name | Linux |
//! | `SO_INCOMING_CPU`, `SO_ZEROCOPY`, `SO_TIMESTAMPING` | get/set | — | exact | Linux |
//! | `SO_BUSY_POLL` | get/set | `CAP_NET_ADMIN` above `net.core.busy_read` | exact | Linux |
//! | `SO_PREFER_BUSY_POLL` | get/set | — | exact | Linux |
//! | `SO_BUSY_POLL_BUDGET` | set only | `CAP_NET_ADMIN` | — | Linux |
//! | `SO_INCOMING_NAPI_ID` | get only | — | — | Linux |
//!
//! The busy-poll options (and `sonic_io::IoBuilder::busy_poll`, the epoll-wide form) act
//! only on traffic that arrives through a NAPI device, a real NIC's driver: loopback and
//! veth have none, so on them the options are set and read back but change nothing, and
//! `SO_INCOMING_NAPI_ID` reads 0.
//! | `SO_ERROR`, `SO_TYPE` | get only | — | — | all |
//! | `SO_DOMAIN`, `SO_PROTOCOL` | get only | — | — | Linux, FreeBSD |
//! | `TCP_NODELAY`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` | get/set | — | exact | all (`TCP_KEEPALIVE` on macOS) |
//! | `TCP_CORK`, `TCP_QUICKACK`, `TCP_USER_TIMEOUT`, `TCP_NOTSENT_LOWAT`, `TCP_FASTOPEN`, `TCP_FASTOPEN_CONNECT`, `TCP_SYNCNT`, `TCP_LINGER2`, `TCP_CONGESTION`, `TCP_MAXSEG` | get/set | — | exact | Linux |
//! | `TCP_DEFER_ACCEPT` | get/set | — | rounded up to a SYN-ACK retransmission step | Linux |
//! | `TCP_WINDOW_CLAMP` | get/set | — | at least half the minimum receive buffer | Linux |
//! | `IP_TOS`, `IP_TTL`, `IPV6_V6ONLY`, `IPV6_TCLASS`, `IPV6_UNICAST_HOPS` | get/set | — | exact | all |
//! | `IP_TRANSPARENT` | get/set | `CAP_NET_ADMIN` | exact | Linux |
//! | `IP_FREEBIND` | get/set | — | exact | Linux |
//! | `UDP_SEGMENT`, `UDP_GRO` | get/set | — | exact | Linux |
//!
//! ```
//! use sock::{TcpListener, opt};
//! let l = TcpListener::bind("127.0.0.1:0").unwrap();
//! opt::set_recv_buffer_size(&l, 65536).unwrap();
//! assert!(opt::recv_buffer_size(&l).unwrap() >= 65536);
//! assert!(opt::reuse_address(&l).unwrap(), "listeners set SO_REUSEADDR, as std's do");
//! ```

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// Who may set or read an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `getsockopt` and `setsockopt`.
    GetSet,
    /// `getsockopt` only (`setsockopt` fails).
    GetOnly,
    /// `setsockopt` only (`getsockopt` fails).
    SetOnly,
}

/// How the value read back relates to the value set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readback {
    /// The same value.
    Exact,
    /// A boolean: any non-zero value reads back as 1.
    Bool,
    /// Doubled by the kernel (socket buffers on Linux).
    Doubled,
    /// At least the value set (rounded up to a step, or raised to a floor).
    AtLeast,
    /// Nothing to compare (read-only or write-only options).
    None,
}

/// One row of [`TABLE`].
#[derive(Clone, Copy, Debug)]
pub struct OptionInfo {
    /// `"SO_REUSEADDR"`.
    pub name: &'static str,
    /// `SOL_SOCKET`, `IPPROTO_TCP`, ...
    pub level: i32,
    /// The option number here, or `None` where this platform lacks it.
    pub option: Option<i32>,
    /// Get, set or both.
    pub access: Access,
    /// The capability needed (`""`: none).
    pub privilege: &'static str,
    /// How it reads back.
    pub readback: Readback,
    /// A value the tests set (sockets of the option's level: TCP for `SOL_SOCKET`/`IPPROTO_TCP`/
    /// `IPPROTO_IP`, TCP over IPv6 for `IPPROTO_IPV6`, UDP for `IPPROTO_UDP`).
    pub sample: i32,
}

macro_rules! linux {
    ($e:expr) => {{
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let v = Some($e);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let v: Option<i32> = None;
        v
    }};
}

macro_rules! linux_freebsd {
    ($e:expr) => {{
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        let v = Some($e);
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        let v: Option<i32> = None;
        v
    }};
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const SO_PREFER_BUSY_POLL: i32 = 69;
#[cfg(any(target_os = "linux", target_os = "android"))]
const SO_BUSY_POLL_BUDGET: i32 = 70;
#[cfg(any(target_os = "linux", target_os = "android"))]
const UDP_SEGMENT: i32 = 103;
#[cfg(any(target_os = "linux", target_os = "android"))]
const UDP_GRO: i32 = 104;
const SOF_TIMESTAMPING_RX_SOFTWARE: i32 = 1 << 3;
const SOF_TIMESTAMPING_SOFTWARE: i32 = 1 << 4;

use Access::{GetOnly, GetSet, SetOnly};
use Readback::{AtLeast, Bool, Doubled, Exact};

const SOL_SOCKET: i32 = libc::SOL_SOCKET;
const TCP: i32 = libc::IPPROTO_TCP;
const IP: i32 = libc::IPPROTO_IP;
const IPV6: i32 = libc::IPPROTO_IPV6;
const UDP: i32 = libc::IPPROTO_UDP;

const fn row(
    name: &'static str,
    level: i32,
    option: Option<i32>,
    access: Access,
    privilege: &'static str,
    readback: Readback,
    sample: i32,
) -> OptionInfo {
    OptionInfo {
        name,
        level,
        option,
        access,
        privilege,
        readback,
        sample,
    }
}

const BUF: Readback = if cfg!(any(target_os = "linux", target_os = "android")) {
    Doubled
} else {
    Exact
};
const SNDLOWAT: Access = if cfg!(any(target_os = "linux", target_os = "android")) {
    GetOnly
} else {
    GetSet
};

/// Every integer-valued option this module knows (string and struct options,
/// `SO_BINDTODEVICE`, `TCP_CONGESTION`, `SO_LINGER`, have their own functions).
pub const TABLE: &[OptionInfo] = &[
    row(
        "SO_REUSEADDR",
        SOL_SOCKET,
        Some(libc::SO_REUSEADDR),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "SO_REUSEPORT",
        SOL_SOCKET,
        Some(libc::SO_REUSEPORT),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "SO_KEEPALIVE",
        SOL_SOCKET,
        Some(libc::SO_KEEPALIVE),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "SO_BROADCAST",
        SOL_SOCKET,
        Some(libc::SO_BROADCAST),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "SO_SNDBUF",
        SOL_SOCKET,
        Some(libc::SO_SNDBUF),
        GetSet,
        "",
        BUF,
        65536,
    ),
    row(
        "SO_RCVBUF",
        SOL_SOCKET,
        Some(libc::SO_RCVBUF),
        GetSet,
        "",
        BUF,
        65536,
    ),
    row(
        "SO_SNDBUFFORCE",
        SOL_SOCKET,
        linux!(libc::SO_SNDBUFFORCE),
        SetOnly,
        "CAP_NET_ADMIN",
        Readback::None,
        65536,
    ),
    row(
        "SO_RCVBUFFORCE",
        SOL_SOCKET,
        linux!(libc::SO_RCVBUFFORCE),
        SetOnly,
        "CAP_NET_ADMIN",
        Readback::None,
        65536,
    ),
    row(
        "SO_RCVLOWAT",
        SOL_SOCKET,
        Some(libc::SO_RCVLOWAT),
        GetSet,
        "",
        Exact,
        4,
    ),
    row(
        "SO_SNDLOWAT",
        SOL_SOCKET,
        Some(libc::SO_SNDLOWAT),
        SNDLOWAT,
        "",
        Exact,
        4096,
    ),
    row(
        "SO_PRIORITY",
        SOL_SOCKET,
        linux!(libc::SO_PRIORITY),
        GetSet,
        "CAP_NET_ADMIN above 6",
        Exact,
        5,
    ),
    row(
        "SO_MARK",
        SOL_SOCKET,
        linux!(libc::SO_MARK),
        GetSet,
        "CAP_NET_ADMIN",
        Exact,
        42,
    ),
    row(
        "SO_INCOMING_CPU",
        SOL_SOCKET,
        linux!(libc::SO_INCOMING_CPU),
        GetSet,
        "",
        Exact,
        0,
    ),
    row(
        "SO_BUSY_POLL",
        SOL_SOCKET,
        linux!(libc::SO_BUSY_POLL),
        GetSet,
        "CAP_NET_ADMIN above net.core.busy_read",
        Exact,
        50,
    ),
    row(
        "SO_PREFER_BUSY_POLL",
        SOL_SOCKET,
        linux!(SO_PREFER_BUSY_POLL),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "SO_BUSY_POLL_BUDGET",
        SOL_SOCKET,
        linux!(SO_BUSY_POLL_BUDGET),
        SetOnly,
        "CAP_NET_ADMIN",
        Readback::None,
        16,
    ),
    row(
        "SO_INCOMING_NAPI_ID",
        SOL_SOCKET,
        linux!(libc::SO_INCOMING_NAPI_ID),
        GetOnly,
        "",
        Readback::None,
        0,
    ),
    row(
        "SO_ZEROCOPY",
        SOL_SOCKET,
        linux!(libc::SO_ZEROCOPY),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "SO_TIMESTAMPING",
        SOL_SOCKET,
        linux!(libc::SO_TIMESTAMPING),
        GetSet,
        "",
        Exact,
        SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE,
    ),
    row(
        "SO_ERROR",
        SOL_SOCKET,
        Some(libc::SO_ERROR),
        GetOnly,
        "",
        Readback::None,
        0,
    ),
    row(
        "SO_TYPE",
        SOL_SOCKET,
        Some(libc::SO_TYPE),
        GetOnly,
        "",
        Readback::None,
        0,
    ),
    row(
        "SO_DOMAIN",
        SOL_SOCKET,
        linux_freebsd!(libc::SO_DOMAIN),
        GetOnly,
        "",
        Readback::None,
        0,
    ),
    row(
        "SO_PROTOCOL",
        SOL_SOCKET,
        linux_freebsd!(libc::SO_PROTOCOL),
        GetOnly,
        "",
        Readback::None,
        0,
    ),
    row(
        "TCP_NODELAY",
        TCP,
        Some(libc::TCP_NODELAY),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "TCP_KEEPIDLE",
        TCP,
        Some(crate::sys::TCP_KEEPIDLE),
        GetSet,
        "",
        Exact,
        30,
    ),
    row(
        "TCP_KEEPINTVL",
        TCP,
        Some(libc::TCP_KEEPINTVL),
        GetSet,
        "",
        Exact,
        10,
    ),
    row(
        "TCP_KEEPCNT",
        TCP,
        Some(libc::TCP_KEEPCNT),
        GetSet,
        "",
        Exact,
        4,
    ),
    row("TCP_CORK", TCP, linux!(libc::TCP_CORK), GetSet, "", Bool, 1),
    row(
        "TCP_QUICKACK",
        TCP,
        linux!(libc::TCP_QUICKACK),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "TCP_USER_TIMEOUT",
        TCP,
        linux!(libc::TCP_USER_TIMEOUT),
        GetSet,
        "",
        Exact,
        30000,
    ),
    row(
        "TCP_NOTSENT_LOWAT",
        TCP,
        linux!(libc::TCP_NOTSENT_LOWAT),
        GetSet,
        "",
        Exact,
        16384,
    ),
    row(
        "TCP_DEFER_ACCEPT",
        TCP,
        linux!(libc::TCP_DEFER_ACCEPT),
        GetSet,
        "",
        AtLeast,
        5,
    ),
    row(
        "TCP_FASTOPEN",
        TCP,
        linux!(libc::TCP_FASTOPEN),
        GetSet,
        "",
        Exact,
        16,
    ),
    row(
        "TCP_FASTOPEN_CONNECT",
        TCP,
        linux!(libc::TCP_FASTOPEN_CONNECT),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "TCP_MAXSEG",
        TCP,
        linux!(libc::TCP_MAXSEG),
        GetSet,
        "",
        Exact,
        1200,
    ),
    row(
        "TCP_SYNCNT",
        TCP,
        linux!(libc::TCP_SYNCNT),
        GetSet,
        "",
        Exact,
        3,
    ),
    row(
        "TCP_LINGER2",
        TCP,
        linux!(libc::TCP_LINGER2),
        GetSet,
        "",
        Exact,
        30,
    ),
    row(
        "TCP_WINDOW_CLAMP",
        TCP,
        linux!(libc::TCP_WINDOW_CLAMP),
        GetSet,
        "",
        AtLeast,
        1,
    ),
    row("IP_TOS", IP, Some(libc::IP_TOS), GetSet, "", Exact, 0x10),
    row("IP_TTL", IP, Some(libc::IP_TTL), GetSet, "", Exact, 17),
    row(
        "IP_TRANSPARENT",
        IP,
        linux!(libc::IP_TRANSPARENT),
        GetSet,
        "CAP_NET_ADMIN",
        Bool,
        1,
    ),
    row(
        "IP_FREEBIND",
        IP,
        linux!(libc::IP_FREEBIND),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "IPV6_V6ONLY",
        IPV6,
        Some(libc::IPV6_V6ONLY),
        GetSet,
        "",
        Bool,
        1,
    ),
    row(
        "IPV6_TCLASS",
        IPV6,
        Some(libc::IPV6_TCLASS),
        GetSet,
        "",
        Exact,
        0x20,
    ),
    row(
        "IPV6_UNICAST_HOPS",
        IPV6,
        Some(libc::IPV6_UNICAST_HOPS),
        GetSet,
        "",
        Exact,
        9,
    ),
    row(
        "UDP_SEGMENT",
        UDP,
        linux!(UDP_SEGMENT),
        GetSet,
        "",
        Exact,
        1200,
    ),
    row("UDP_GRO", UDP, linux!(UDP_GRO), GetSet, "", Bool, 1),
];

/// The row for `name`.
pub fn info(name: &str) -> Option<&'static OptionInfo> {
    TABLE.iter().find(|r| r.name == name)
}

fn unsupported(name: &'static str) -> iox::Error {
    iox::Error::unsupported(name)
}

fn number(name: &'static str) -> iox::Result<(i32, i32)> {
    let r = info(name).ok_or(unsupported("unknown option"))?;
    Ok((r.level, r.option.ok_or(unsupported(r.name))?))
}

/// Sets an `int` option.
pub fn set_int(fd: &impl AsFd, level: i32, option: i32, value: i32) -> iox::Result<()> {
    Ok(zcall::setsockopt(
        fd.as_fd().as_raw_fd(),
        level,
        option,
        &value.to_ne_bytes(),
    )?)
}

/// Reads an `int` option (a shorter value, such as a `u8` the kernel writes for some IPv4
/// options, is widened).
pub fn get_int(fd: &impl AsFd, level: i32, option: i32) -> iox::Result<i32> {
    let mut b = [0u8; 4];
    let n = zcall::getsockopt(fd.as_fd().as_raw_fd(), level, option, &mut b)?;
    Ok(match n {
        1 => i32::from(b[0]),
        _ => i32::from_ne_bytes(b),
    })
}

/// Sets the option named in [`TABLE`] (`Unsupported` where the platform lacks it).
pub fn set_named(fd: &impl AsFd, name: &'static str, value: i32) -> iox::Result<()> {
    let (level, option) = number(name)?;
    set_int(fd, level, option, value)
}

/// Reads the option named in [`TABLE`].
pub fn get_named(fd: &impl AsFd, name: &'static str) -> iox::Result<i32> {
    let (level, option) = number(name)?;
    get_int(fd, level, option)
}

macro_rules! int_options {
    ($($(#[$doc:meta])* $get:ident, $set:ident, $name:literal, $t:ty;)*) => {$(
        $(#[$doc])*
        #[doc = concat!("\n\nReads `", $name, "`.")]
        pub fn $get(fd: &impl AsFd) -> iox::Result<$t> {
            get_named(fd, $name).map(|v| v as $t)
        }
        $(#[$doc])*
        #[doc = concat!("\n\nSets `", $name, "`.")]
        pub fn $set(fd: &impl AsFd, value: $t) -> iox::Result<()> {
            let v = i32::try_from(value).map_err(|_| iox::Error::invalid_input(concat!($name, " value exceeds i32::MAX")))?;
            set_named(fd, $name, v)
        }
    )*};
}

macro_rules! bool_options {
    ($($(#[$doc:meta])* $get:ident, $set:ident, $name:literal;)*) => {$(
        $(#[$doc])*
        #[doc = concat!("\n\nReads `", $name, "`.")]
        pub fn $get(fd: &impl AsFd) -> iox::Result<bool> {
            get_named(fd, $name).map(|v| v != 0)
        }
        $(#[$doc])*
        #[doc = concat!("\n\nSets `", $name, "`.")]
        pub fn $set(fd: &impl AsFd, on: bool) -> iox::Result<()> {
            set_named(fd, $name, i32::from(on))
        }
    )*};
}

bool_options! {
    /// Allow binding an address still in `TIME_WAIT`.
    reuse_address, set_reuse_address, "SO_REUSEADDR";
    /// Allow several sockets to bind the same address and share its traffic.
    reuse_port, set_reuse_port, "SO_REUSEPORT";
    /// Send keepalive probes on an idle connection.
    keepalive, set_keepalive, "SO_KEEPALIVE";
    /// Allow sending to broadcast addresses.
    broadcast, set_broadcast, "SO_BROADCAST";
    /// Prefer busy polling over interrupts for this socket (traffic from a NAPI device only:
    /// see the module docs).
    prefer_busy_poll, set_prefer_busy_poll, "SO_PREFER_BUSY_POLL";
    /// Allow `MSG_ZEROCOPY` sends.
    zerocopy, set_zerocopy, "SO_ZEROCOPY";
    /// Disable Nagle's algorithm: send small segments at once.
    nodelay, set_nodelay, "TCP_NODELAY";
    /// Hold back partial frames until uncorked (or 200 ms pass).
    cork, set_cork, "TCP_CORK";
    /// Acknowledge at once rather than delaying ACKs (not permanent: the kernel may leave
    /// quick-ack mode).
    quickack, set_quickack, "TCP_QUICKACK";
    /// Send data in the SYN when a Fast Open cookie is cached (client side).
    fastopen_connect, set_fastopen_connect, "TCP_FASTOPEN_CONNECT";
    /// Bind to a non-local address (transparent proxying).
    ip_transparent, set_ip_transparent, "IP_TRANSPARENT";
    /// Bind to an address not (yet) configured locally.
    ip_freebind, set_ip_freebind, "IP_FREEBIND";
    /// Restrict an IPv6 socket to IPv6 (no IPv4-mapped traffic).
    only_v6, set_only_v6, "IPV6_V6ONLY";
    /// Coalesce received datagrams (generic receive offload).
    udp_gro, set_udp_gro, "UDP_GRO";
}

int_options! {
    /// The send buffer size (Linux reports twice the value set, for its bookkeeping).
    send_buffer_size, set_send_buffer_size, "SO_SNDBUF", usize;
    /// The receive buffer size (Linux reports twice the value set).
    recv_buffer_size, set_recv_buffer_size, "SO_RCVBUF", usize;
    /// The minimum number of bytes that makes the socket readable.
    recv_lowat, set_recv_lowat, "SO_RCVLOWAT", i32;
    /// The minimum free space that makes the socket writable (read-only on Linux).
    send_lowat, set_send_lowat, "SO_SNDLOWAT", i32;
    /// The queueing priority of outgoing packets.
    priority, set_priority, "SO_PRIORITY", i32;
    /// The firewall mark of outgoing packets.
    mark, set_mark, "SO_MARK", u32;
    /// The CPU whose queue this socket's packets arrive on.
    incoming_cpu, set_incoming_cpu, "SO_INCOMING_CPU", i32;
    /// Busy-poll for this many microseconds before sleeping in a blocking read (traffic
    /// from a NAPI device only: see the module docs).
    busy_poll, set_busy_poll, "SO_BUSY_POLL", u32;
    /// `SOF_TIMESTAMPING_*` flags.
    timestamping, set_timestamping, "SO_TIMESTAMPING", u32;
    /// Probes before a dead connection is dropped.
    keepalive_count, set_keepalive_count, "TCP_KEEPCNT", u32;
    /// Milliseconds unacknowledged data may wait before the connection is dropped.
    user_timeout_ms, set_user_timeout_ms, "TCP_USER_TIMEOUT", u32;
    /// Unsent bytes above which the socket stops being writable.
    notsent_lowat, set_notsent_lowat, "TCP_NOTSENT_LOWAT", u32;
    /// Seconds a listener waits for data before waking `accept` (rounded up to a
    /// retransmission step).
    defer_accept_secs, set_defer_accept_secs, "TCP_DEFER_ACCEPT", u32;
    /// The Fast Open queue length of a listener.
    fastopen_queue, set_fastopen_queue, "TCP_FASTOPEN", u32;
    /// The maximum segment size.
    max_segment, set_max_segment, "TCP_MAXSEG", u32;
    /// SYN retransmits before a connect gives up.
    syn_count, set_syn_count, "TCP_SYNCNT", u32;
    /// Seconds an orphaned connection stays in `FIN_WAIT2`.
    linger2_secs, set_linger2_secs, "TCP_LINGER2", i32;
    /// The advertised window's upper bound.
    window_clamp, set_window_clamp, "TCP_WINDOW_CLAMP", u32;
    /// The IPv4 type of service byte (DSCP and ECN).
    tos, set_tos, "IP_TOS", u32;
    /// The IPv4 time to live of unicast packets.
    ttl, set_ttl, "IP_TTL", u32;
    /// The IPv6 traffic class (DSCP and ECN).
    tclass, set_tclass, "IPV6_TCLASS", u32;
    /// The IPv6 hop limit of unicast packets.
    unicast_hops, set_unicast_hops, "IPV6_UNICAST_HOPS", u32;
    /// The segment size for UDP generic segmentation offload (0: off).
    udp_segment, set_udp_segment, "UDP_SEGMENT", u32;
}

/// The id of the NAPI context (the NIC receive queue) the socket's last packet came
/// through (`SO_INCOMING_NAPI_ID`, read-only): 0 when it came through a device without NAPI
/// (loopback, veth) or nothing arrived yet. Busy polling needs a non-zero id to act.
pub fn incoming_napi_id(fd: &impl AsFd) -> iox::Result<u32> {
    get_named(fd, "SO_INCOMING_NAPI_ID").map(|v| v as u32)
}

/// How many packets one busy-poll round processes (`SO_BUSY_POLL_BUDGET`, `CAP_NET_ADMIN`).
/// Write-only. Acts only on traffic from a NAPI device (see the module docs).
pub fn set_busy_poll_budget(fd: &impl AsFd, packets: u32) -> iox::Result<()> {
    let v = i32::try_from(packets)
        .map_err(|_| iox::Error::invalid_input("SO_BUSY_POLL_BUDGET value exceeds i32::MAX"))?;
    set_named(fd, "SO_BUSY_POLL_BUDGET", v)
}

/// Forces the send buffer size past `net.core.wmem_max` (`CAP_NET_ADMIN`). Write-only.
pub fn set_send_buffer_size_force(fd: &impl AsFd, size: usize) -> iox::Result<()> {
    let v = i32::try_from(size)
        .map_err(|_| iox::Error::invalid_input("SO_SNDBUFFORCE value exceeds i32::MAX"))?;
    set_named(fd, "SO_SNDBUFFORCE", v)
}

/// Forces the receive buffer size past `net.core.rmem_max` (`CAP_NET_ADMIN`). Write-only.
pub fn set_recv_buffer_size_force(fd: &impl AsFd, size: usize) -> iox::Result<()> {
    let v = i32::try_from(size)
        .map_err(|_| iox::Error::invalid_input("SO_RCVBUFFORCE value exceeds i32::MAX"))?;
    set_named(fd, "SO_RCVBUFFORCE", v)
}

fn secs(name: &'static str, d: Duration) -> iox::Result<i32> {
    let s = d.as_secs();
    if s == 0 {
        return Err(iox::Error::invalid_input(name));
    }
    i32::try_from(s).map_err(|_| iox::Error::invalid_input(name))
}

/// Keepalive: on, with `idle` before the first probe and the same interval between probes
/// (whole seconds, at least 1); `None` turns keepalive off.
pub fn set_keepalive_time(fd: &impl AsFd, idle: Option<Duration>) -> iox::Result<()> {
    match idle {
        None => set_keepalive(fd, false),
        Some(d) => {
            let s = secs("keepalive time must be at least 1 second", d)?;
            set_named(fd, "TCP_KEEPIDLE", s)?;
            set_named(fd, "TCP_KEEPINTVL", s)?;
            set_keepalive(fd, true)
        }
    }
}

/// The keepalive idle time, `None` when keepalive is off.
pub fn keepalive_time(fd: &impl AsFd) -> iox::Result<Option<Duration>> {
    if !keepalive(fd)? {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs(
        get_named(fd, "TCP_KEEPIDLE")?.max(0) as u64,
    )))
}

/// The interval between keepalive probes.
pub fn set_keepalive_interval(fd: &impl AsFd, every: Duration) -> iox::Result<()> {
    set_named(
        fd,
        "TCP_KEEPINTVL",
        secs("keepalive interval must be at least 1 second", every)?,
    )
}

/// The interval between keepalive probes.
pub fn keepalive_interval(fd: &impl AsFd) -> iox::Result<Duration> {
    Ok(Duration::from_secs(
        get_named(fd, "TCP_KEEPINTVL")?.max(0) as u64
    ))
}

/// `SO_LINGER`: `Some(d)` makes close wait up to `d` (whole seconds) for unsent data;
/// `Some(0)` resets the connection on close; `None` is the default (close returns at once,
/// data is sent in the background).
pub fn set_linger(fd: &impl AsFd, linger: Option<Duration>) -> iox::Result<()> {
    let l = libc::linger {
        l_onoff: i32::from(linger.is_some()),
        l_linger: match linger {
            Some(d) => i32::try_from(d.as_secs())
                .map_err(|_| iox::Error::invalid_input("linger exceeds i32::MAX s"))?,
            None => 0,
        },
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&l.l_onoff.to_ne_bytes());
    b[4..].copy_from_slice(&l.l_linger.to_ne_bytes());
    Ok(zcall::setsockopt(
        fd.as_fd().as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &b,
    )?)
}

/// `SO_LINGER` as set.
pub fn linger(fd: &impl AsFd) -> iox::Result<Option<Duration>> {
    let mut b = [0u8; 8];
    zcall::getsockopt(
        fd.as_fd().as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &mut b,
    )?;
    let on = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let secs = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
    Ok((on != 0).then(|| Duration::from_secs(secs.max(0) as u64)))
}

/// The longest interface or congestion-control name, without its NUL.
pub const NAME_MAX: usize = 15;

/// A short name the kernel returns (an interface, a congestion-control algorithm), kept
/// on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortName {
    b: [u8; NAME_MAX + 1],
    n: usize,
}

impl ShortName {
    /// The name.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.b[..self.n]).unwrap_or("")
    }
}

impl std::fmt::Debug for ShortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

fn set_name(
    fd: &impl AsFd,
    level: i32,
    option: Option<i32>,
    what: &'static str,
    name: &str,
) -> iox::Result<()> {
    let option = option.ok_or(unsupported(what))?;
    if name.len() > NAME_MAX || name.as_bytes().contains(&0) {
        return Err(iox::Error::invalid_input(
            "name exceeds 15 bytes or contains a NUL byte",
        ));
    }
    Ok(zcall::setsockopt(
        fd.as_fd().as_raw_fd(),
        level,
        option,
        name.as_bytes(),
    )?)
}

fn get_name(
    fd: &impl AsFd,
    level: i32,
    option: Option<i32>,
    what: &'static str,
) -> iox::Result<ShortName> {
    let option = option.ok_or(unsupported(what))?;
    let mut s = ShortName {
        b: [0; NAME_MAX + 1],
        n: 0,
    };
    let n = zcall::getsockopt(fd.as_fd().as_raw_fd(), level, option, &mut s.b)?.min(NAME_MAX + 1);
    s.n = s.b[..n].iter().position(|&c| c == 0).unwrap_or(n);
    Ok(s)
}

/// `SO_BINDTODEVICE`: send and receive only through `ifname` (`""` unbinds). Linux.
pub fn set_bind_device(fd: &impl AsFd, ifname: &str) -> iox::Result<()> {
    set_name(
        fd,
        libc::SOL_SOCKET,
        linux!(libc::SO_BINDTODEVICE),
        "SO_BINDTODEVICE",
        ifname,
    )
}

/// The interface `SO_BINDTODEVICE` names (empty when unbound). Linux.
pub fn bind_device(fd: &impl AsFd) -> iox::Result<ShortName> {
    get_name(
        fd,
        libc::SOL_SOCKET,
        linux!(libc::SO_BINDTODEVICE),
        "SO_BINDTODEVICE",
    )
}

/// `TCP_CONGESTION`: the congestion-control algorithm (`"cubic"`, `"reno"`, `"bbr"`...).
/// Linux.
pub fn set_congestion(fd: &impl AsFd, algorithm: &str) -> iox::Result<()> {
    set_name(
        fd,
        libc::IPPROTO_TCP,
        linux!(libc::TCP_CONGESTION),
        "TCP_CONGESTION",
        algorithm,
    )
}

/// The congestion-control algorithm. Linux.
pub fn congestion(fd: &impl AsFd) -> iox::Result<ShortName> {
    get_name(
        fd,
        libc::IPPROTO_TCP,
        linux!(libc::TCP_CONGESTION),
        "TCP_CONGESTION",
    )
}

/// `SO_ERROR`, cleared by reading: `None` when there is no pending error.
pub fn take_error(fd: &impl AsFd) -> iox::Result<Option<iox::Error>> {
    let e = get_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((e != 0).then(|| iox::Error::from(zcall::Errno::from_raw(e))))
}

/// `SO_TYPE`.
pub fn socket_type(fd: &impl AsFd) -> iox::Result<i32> {
    get_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)
}

/// `(SO_DOMAIN, SO_PROTOCOL)`; elsewhere than Linux and FreeBSD the domain is read from
/// the socket's own address and the protocol is 0.
pub fn domain_and_protocol(fd: &impl AsFd) -> iox::Result<(i32, i32)> {
    match (get_named(fd, "SO_DOMAIN"), get_named(fd, "SO_PROTOCOL")) {
        (Ok(d), Ok(p)) => Ok((d, p)),
        _ => {
            let mut s = sockaddr::SockaddrStorage::new();
            let n = zcall::getsockname(fd.as_fd().as_raw_fd(), s.as_mut_bytes())?;
            s.set_len(n)?;
            Ok((i32::from(s.family()), 0))
        }
    }
}
