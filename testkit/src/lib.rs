//! Test support shared by every crate of the workspace (never published, never a normal
//! dependency: take it as a dev-dependency).
//!
//! | item | what |
//! |---|---|
//! | [`CountingAlloc`], [`assert_no_alloc`], [`count_allocs`] | a per-thread counting global allocator |
//! | [`assert_no_alloc_reported`], [`bench::report_allocs`] | the same, the figures also written for `cargo xtask allocs` |
//! | [`in_subprocess`] | run the rest of a test in a fresh child process (process-wide state) |
//! | [`in_netns`], [`NetNs`] | the same, inside a private network namespace with a veth pair |
//! | [`open_fds`] | how many descriptors the process has open |
//! | [`set_open_files_limit`], [`default_sigpipe`], [`fail_syscall`], [`refuse_syscalls`] | process-wide faults for a child process: a lower descriptor limit, SIGPIPE's default action, a seccomp filter failing chosen system calls (`io_uring_setup`, to test a fallback to epoll) |
//! | [`skip!`], [`under_qemu`], [`qemu`] | skipping with a printed reason; what qemu-user cannot do |
//! | [`tcp_pair`], [`udp_pair`] | loopback pairs on ephemeral ports |
//! | [`tcp_active_opens`] | the kernel's count of connects that sent a SYN (`/proc/net/snmp`), exact in [`in_netns`] |
//! | [`bench`](mod@bench) | benchmark summaries: criterion estimates, ratios, JSON lines, allocation figures |
//!
//! testkit depends on std and libc only, and hands out std types, so every layer of the
//! workspace can use it without a cycle.

mod alloc;
pub mod bench;
mod cargo;
mod fds;
mod net;
mod netns;
pub mod qemu;
mod raw;
mod skip;
mod subprocess;
mod sys;

pub use alloc::{
    AllocStats, CountingAlloc, assert_no_alloc, assert_no_alloc_reported, count_allocs,
};
pub use cargo::{cargo_command, is_package_env};
pub use fds::{no_fd_leak, open_fds};
#[cfg(target_os = "linux")]
pub use net::tcp_active_opens;
pub use net::{tcp_pair, udp_pair};
pub use netns::{Iface, NetNs, in_netns};
pub use qemu::under_qemu;
pub use raw::install_noop_handler;
pub use skip::skip_message;
pub use subprocess::{
    ENV_RUNNER, in_subprocess, in_subprocess_named, in_subprocess_named_within, is_subprocess,
};
#[cfg(target_os = "linux")]
pub use sys::{ArgIs, fail_syscall, refuse_syscall_when, refuse_syscalls};
pub use sys::{default_sigpipe, exhaust_descriptors, set_open_files_limit};
