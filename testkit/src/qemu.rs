//! Running under qemu-user, and the one list of what it cannot emulate.
//!
//! `cargo xtask cross` builds the tests of the cross targets with `--cfg qemu` and runs
//! them under Debian's qemu-user (7.2). The options and system calls below fail there
//! (`ENOPROTOOPT`, `ENOSYS`) although the host kernel has them; tests that need one of them
//! use [`skip_unless_sockopt!`](crate::skip_unless_sockopt) and
//! [`skip_unless_syscall!`](crate::skip_unless_syscall) so the skip is printed, not silent.

/// `true` when the test binary was built for qemu-user (`--cfg qemu`).
pub const fn under_qemu() -> bool {
    cfg!(qemu)
}

/// Socket options qemu-user 7.2 does not translate: `(level, name, "NAME")`.
#[cfg(target_os = "linux")]
pub const UNSUPPORTED_SOCKOPTS: &[(i32, i32, &str)] = &[
    (libc::SOL_SOCKET, libc::SO_MARK, "SO_MARK"),
    (libc::SOL_SOCKET, libc::SO_INCOMING_CPU, "SO_INCOMING_CPU"),
    (libc::SOL_SOCKET, libc::SO_BUSY_POLL, "SO_BUSY_POLL"),
    (libc::SOL_SOCKET, SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL"),
    (libc::SOL_SOCKET, SO_BUSY_POLL_BUDGET, "SO_BUSY_POLL_BUDGET"),
    (libc::SOL_SOCKET, libc::SO_ZEROCOPY, "SO_ZEROCOPY"),
    (
        libc::SOL_SOCKET,
        libc::SO_INCOMING_NAPI_ID,
        "SO_INCOMING_NAPI_ID",
    ),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMPING, "SO_TIMESTAMPING"),
    (libc::SOL_SOCKET, SO_TIMESTAMPNS, "SO_TIMESTAMPNS"),
    (libc::SOL_SOCKET, SO_PASSPIDFD, "SO_PASSPIDFD"),
    (libc::IPPROTO_IP, libc::IP_TRANSPARENT, "IP_TRANSPARENT"),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, "IP_MULTICAST_ALL"),
    (
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        "IP_MULTICAST_IF with ip_mreqn",
    ),
    (
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
        "IPV6_MULTICAST_IF",
    ),
    (
        libc::IPPROTO_IP,
        MCAST_JOIN_SOURCE_GROUP,
        "MCAST_JOIN_SOURCE_GROUP",
    ),
];

#[cfg(target_os = "linux")]
const MCAST_JOIN_SOURCE_GROUP: i32 = 46;
/// `SO_TIMESTAMPNS` (`SO_TIMESTAMPNS_OLD`), which libc does not name on Linux.
#[cfg(target_os = "linux")]
const SO_TIMESTAMPNS: i32 = 35;
/// `SO_PASSPIDFD` (Linux 6.5), newer than qemu 7.2.
#[cfg(target_os = "linux")]
const SO_PASSPIDFD: i32 = 76;

/// Behaviours qemu-user 7.2 gets wrong although the syscalls succeed.
pub const UNSUPPORTED_BEHAVIOURS: &[&str] = &[
    // Control data is translated through a host buffer of qemu's own size: a receive whose
    // target buffer is too small never reports MSG_CTRUNC.
    "MSG_CTRUNC",
    // getsockopt(TCP_INFO) comes back shorter than the host kernel's struct tcp_info.
    "TCP_INFO",
    // A blocked signal sent to the calling thread (tgkill to self, then read from a
    // signalfd) sometimes deadlocks qemu-aarch64 7.2: both of its threads wait on a futex
    // forever (seen in CI in zcall's signalfd test).
    "self-directed signals",
    // qemu-user refuses PR_SET_SECCOMP (EINVAL) so a guest filter cannot block the host
    // calls qemu itself needs.
    "seccomp",
    // IP_ADD_MEMBERSHIP with an ip_mreqn naming an interface index that does not exist
    // succeeds under qemu-aarch64 7.2 (seen in CI in sock's multicast error test): the index
    // does not reach the host kernel, which refuses it with ENODEV natively.
    "multicast interface index",
];

/// `Some(name)` when this build runs under qemu-user and qemu gets `name` wrong.
pub fn behaviour_unsupported(name: &str) -> Option<&'static str> {
    if !under_qemu() {
        return None;
    }
    UNSUPPORTED_BEHAVIOURS.iter().copied().find(|s| *s == name)
}

/// Skips the calling test, with the reason printed, when qemu-user gets the behaviour
/// wrong. Use in a test function returning `()`.
#[macro_export]
macro_rules! skip_unless_behaviour {
    ($name:expr) => {
        if let Some(what) = $crate::qemu::behaviour_unsupported($name) {
            $crate::skip!("qemu-user does not emulate {what} faithfully");
        }
    };
}

/// Elsewhere qemu-user is not used: nothing to list.
#[cfg(not(target_os = "linux"))]
pub const UNSUPPORTED_SOCKOPTS: &[(i32, i32, &str)] = &[];

/// System calls qemu-user 7.2 answers with `ENOSYS`.
pub const UNSUPPORTED_SYSCALLS: &[&str] = &[
    "epoll_pwait2",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "preadv2",
    "pwritev2",
];

#[cfg(target_os = "linux")]
const SO_PREFER_BUSY_POLL: i32 = 69;
#[cfg(target_os = "linux")]
const SO_BUSY_POLL_BUDGET: i32 = 70;

/// The name of the socket option when this build runs under qemu-user and qemu cannot
/// emulate it; `None` when the test can go ahead.
///
/// ```
/// if let Some(name) = testkit::qemu::sockopt_unsupported(libc::SOL_SOCKET, libc::SO_MARK) {
///     // testkit::skip!("qemu-user cannot emulate {name}");
/// #   let _ = name;
/// }
/// ```
pub fn sockopt_unsupported(level: i32, name: i32) -> Option<&'static str> {
    if !under_qemu() {
        return None;
    }
    UNSUPPORTED_SOCKOPTS
        .iter()
        .find(|(l, n, _)| *l == level && *n == name)
        .map(|(_, _, s)| *s)
}

/// `Some(name)` when this build runs under qemu-user and qemu answers `name` with ENOSYS.
pub fn syscall_unsupported(name: &str) -> Option<&'static str> {
    if !under_qemu() {
        return None;
    }
    UNSUPPORTED_SYSCALLS.iter().copied().find(|s| *s == name)
}

/// Skips the calling test, with the reason printed, when qemu-user cannot emulate the
/// socket option. Use in a test function returning `()`.
#[macro_export]
macro_rules! skip_unless_sockopt {
    ($level:expr, $name:expr) => {
        if let Some(what) = $crate::qemu::sockopt_unsupported($level, $name) {
            $crate::skip!("qemu-user cannot emulate the socket option {what}");
        }
    };
}

/// Skips the calling test, with the reason printed, when qemu-user answers the system
/// call with ENOSYS. Use in a test function returning `()`.
#[macro_export]
macro_rules! skip_unless_syscall {
    ($name:expr) => {
        if let Some(what) = $crate::qemu::syscall_unsupported($name) {
            $crate::skip!("qemu-user answers {what} with ENOSYS");
        }
    };
}
