//! Raw system calls for the lowest-latency networking stack on Unix.
//!
//! On Linux x86_64, aarch64, riscv64 and loongarch64 every call is one `syscall`/`svc`/`ecall`
//! instruction in inline asm: no libc, no errno thread-local, no allocation. The kernel's
//! `-4095..=-1` error range is decoded into an [`Errno`] returned by value. Everywhere else
//! (macOS, FreeBSD, Linux on other architectures, and Miri) the same functions go through
//! `libc`, so code above this crate is portable and can run under Miri.
//!
//! # Map
//!
//! | module | what |
//! |---|---|
//! | [`Errno`] | the error number: names, descriptions, predicates, no allocation |
//! | [`raw`] | `syscall0`..`syscall6` and (on the asm targets) the syscall numbers, [`raw::nr`] |
//! | [`read`], [`write()`], [`readv`], ... | descriptors: I/O, `fcntl`, `fstat`, `pipe2`, `close` |
//! | [`socket`], [`bind`], [`sendto`], ... | sockets; addresses are the kernel's bytes (`&[u8]`) |
//! | [`mmap`], [`munmap`], [`madvise`] | memory mappings (`unsafe`) |
//! | [`eventfd2`], [`timerfd_create`], [`epoll_create1`], ... | Linux handles, signals, processes, io_uring |
//!
//! # Safety model
//!
//! Calls whose arguments are values, slices or references are safe functions: the slice
//! bounds are what the kernel is told, so it cannot write outside them. Calls where the
//! caller must vouch for a raw pointer (`sendmsg`, `recvmsg`, `mmap`, `io_uring_enter`, ...)
//! are `unsafe fn` with a `# Safety` section. Descriptors are plain [`RawFd`] numbers:
//! owning them is the business of the layer above (`iofd`), which is why [`close`] is
//! `unsafe` (closing a descriptor someone else owns breaks their I/O safety).
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
//! assert_eq!(zcall::write(w, b"ping").unwrap(), 4);
//! let mut buf = [0u8; 8];
//! assert_eq!(zcall::read(r, &mut buf).unwrap(), 4);
//! assert_eq!(&buf[..4], b"ping");
//! // An empty buffer never enters the kernel, even on a bad descriptor.
//! assert_eq!(zcall::read(-1, &mut []).unwrap(), 0);
//! assert_eq!(zcall::read(-1, &mut buf), Err(zcall::Errno::EBADF));
//! # unsafe { zcall::close(r).unwrap(); zcall::close(w).unwrap(); }
//! # }
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(test)]
extern crate std;

// The one place where the backend is chosen (`cfg(zcall_asm)` comes from build.rs).
#[cfg(zcall_asm)]
mod arch;

/// With `--cfg zcall_codegen`, every asm entry point is compiled into this crate's own
/// object code (they are `#[inline(always)]`, so otherwise only callers instantiate them).
/// `cargo xtask cross` builds loongarch64, where no linker is at hand, this way, so that
/// the assembler really sees that architecture's instructions.
#[cfg(all(zcall_asm, zcall_codegen))]
#[used]
#[allow(clippy::type_complexity)]
static CODEGEN_CHECK: (
    unsafe fn(usize) -> usize,
    unsafe fn(usize, usize) -> usize,
    unsafe fn(usize, usize, usize) -> usize,
    unsafe fn(usize, usize, usize, usize) -> usize,
    unsafe fn(usize, usize, usize, usize, usize) -> usize,
    unsafe fn(usize, usize, usize, usize, usize, usize) -> usize,
    unsafe fn(usize, usize, usize, usize, usize, usize, usize) -> usize,
) = (
    arch::syscall0,
    arch::syscall1,
    arch::syscall2,
    arch::syscall3,
    arch::syscall4,
    arch::syscall5,
    arch::syscall6,
);
#[cfg(zcall_asm)]
#[path = "sys/linux_raw.rs"]
mod sys;
#[cfg(not(zcall_asm))]
#[path = "sys/libc.rs"]
mod sys;

mod errno;
mod fd;
mod iovec;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux;
mod mem;
pub mod raw;
mod socket;

pub use errno::Errno;
pub use fd::*;
pub use iovec::{IoVec, IoVecMut};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use linux::*;
pub use mem::*;
pub use socket::*;

/// A raw descriptor number, as the kernel sees it.
pub type RawFd = core::ffi::c_int;

/// The result of a system call: the value, or the [`Errno`] the kernel returned.
pub type Result<T> = core::result::Result<T, Errno>;

/// `true` when this build issues syscalls in inline asm; `false` when it goes through libc.
pub const INLINE_ASM: bool = cfg!(zcall_asm);

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
