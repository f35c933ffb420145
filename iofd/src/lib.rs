//! Owned file descriptors with [`iox`] errors.
//!
//! | item | what | platforms |
//! |---|---|---|
//! | [`Fd`] | one owned descriptor: read/write/readv/writev, non-blocking and close-on-exec flags, `try_clone`, `close` that reports | all Unix |
//! | [`EventFd`] | a kernel counter: signal, wait, peek its value; counter and semaphore modes | Linux |
//! | [`TimerFd`] | a timer on a clock: relative, absolute, periodic; expirations; its setting | Linux |
//! | [`SignalFd`], [`SigSet`], [`SignalInfo`] | signals read as data; thread mask helpers | Linux |
//! | [`MemFd`] | an anonymous file: plain, sealable, huge pages; size, seals | Linux |
//! | [`PidFd`] | a process: signal it, copy its descriptors, reap it with its exit status | Linux |
//! | [`Signaler`], [`Timer`] | the handle traits | all Unix |
//!
//! Every handle is created non-blocking and close-on-exec, owns its descriptor (closed on
//! drop; no double close can be written), and implements `AsFd`, `AsRawFd`, `IntoRawFd`,
//! `From<OwnedFd>` and `Into<OwnedFd>`, so it can be handed to mio or tokio and back. The
//! operations on the hot path ([`Fd::read`], [`Fd::write`], [`EventFd::signal`],
//! [`EventFd::wait`], [`TimerFd::arm`], [`TimerFd::expirations`], [`SignalFd::read`])
//! allocate nothing (`tests/alloc.rs`).
//!
//! On macOS and FreeBSD only [`Fd`] and the traits exist: the Linux handles are compiled
//! only for Linux.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod fd;
mod raw;
mod traits;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod eventfd;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod fdinfo;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod memfd;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod pidfd;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod signalfd;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod timerfd;

pub use fd::Fd;
pub use traits::{Signaler, Timer};

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use eventfd::{EventFd, EventFdFlags};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use memfd::{MEMFD_NAME_MAX, MemFd, MemFdFlags, Seals};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use pidfd::PidFd;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use signalfd::{SigSet, SignalFd, SignalInfo};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use timerfd::{ClockId, TimerFd, TimerSetting};

/// The descriptor traits every handle shares, delegating to its `fd: Fd` field.
#[cfg(any(target_os = "linux", target_os = "android"))]
macro_rules! handle_traits {
    ($t:ident) => {
        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.fd)
            }
        }
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.fd.raw()
            }
        }
        impl std::os::fd::IntoRawFd for $t {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.fd)
            }
        }
        impl From<$t> for std::os::fd::OwnedFd {
            fn from(h: $t) -> std::os::fd::OwnedFd {
                std::os::fd::OwnedFd::from(h.fd)
            }
        }
        impl From<$t> for $crate::Fd {
            fn from(h: $t) -> $crate::Fd {
                h.fd
            }
        }
        impl $t {
            /// Closes the descriptor and reports the kernel's answer (see [`Fd::close`]).
            pub fn close(self) -> iox::Result<()> {
                self.fd.close()
            }
        }
    };
}
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use handle_traits;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
