//! Which kernel interface an `Io` waits with: the request ([`Backend`]) and the outcome
//! ([`BackendUsed`]).

use iox::{Error, Result};

/// The environment variable [`IoBuilder`](crate::IoBuilder) reads for its default backend:
/// `epoll`, `kqueue`, `uring` (or `io_uring`) or `auto`. Unset: the platform's readiness
/// backend (epoll on Linux, kqueue on macOS and FreeBSD). `cargo xtask ci` runs the
/// reactor's test suites once with it unset and once with `uring`.
pub const BACKEND_ENV: &str = "SONIC_IO_BACKEND";

/// The kernel interface an [`Io`](crate::Io) waits with.
///
/// Every backend gives the same behaviour through the API: operations try their syscall
/// first and, when it would block, wait for the descriptor's readiness. What differs is
/// how readiness reaches the Io and what a wait costs (see the crate's DESIGN.md, §13).
///
/// ```
/// use sonic_io::{Backend, Io};
///
/// let io = Io::builder().backend(Backend::Auto).build().unwrap();
/// let used = io.backend();
/// assert_ne!(used.backend(), Backend::Auto);
/// if let Some(why) = used.fallback() {
///     // io_uring was refused here (seccomp, kernel.io_uring_disabled, an old kernel, ...).
///     println!("fell back to {}: {why}", used.backend());
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Edge-triggered epoll (Linux).
    Epoll,
    /// kqueue with `EV_CLEAR` (macOS, FreeBSD).
    Kqueue,
    /// io_uring (Linux 5.13+): one ring per Io, readiness from multishot polls, one
    /// `io_uring_enter` per wait that also submits the Io's interest changes.
    Uring,
    /// io_uring if the kernel and the process's sandbox allow it, else the platform's
    /// readiness backend; [`BackendUsed::fallback`] then says why. With
    /// [`IoBuilder::busy_poll`](crate::IoBuilder::busy_poll), which sets an epoll instance,
    /// it takes epoll (the fallback says so), so that busy polling works the same either way.
    Auto,
}

impl Backend {
    /// The platform's readiness backend: epoll on Linux, kqueue on macOS and FreeBSD.
    pub const fn readiness() -> Backend {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            Backend::Epoll
        } else {
            Backend::Kqueue
        }
    }

    /// The backend [`BACKEND_ENV`] names, or the platform's readiness backend when it is
    /// unset. A value that names no backend is an `InvalidInput` error.
    pub fn from_env() -> Result<Backend> {
        match std::env::var(BACKEND_ENV) {
            Ok(v) => v.parse(),
            Err(std::env::VarError::NotPresent) => Ok(Backend::readiness()),
            Err(std::env::VarError::NotUnicode(_)) => Err(BAD_NAME),
        }
    }
}

const BAD_NAME: Error =
    Error::invalid_input("SONIC_IO_BACKEND: expected epoll, kqueue, uring, io_uring or auto");

impl std::str::FromStr for Backend {
    type Err = Error;

    /// `epoll`, `kqueue`, `uring` (or `io_uring`), `auto`; ASCII case is ignored.
    fn from_str(s: &str) -> Result<Backend> {
        let s = s.trim();
        Ok(if s.eq_ignore_ascii_case("epoll") {
            Backend::Epoll
        } else if s.eq_ignore_ascii_case("kqueue") {
            Backend::Kqueue
        } else if s.eq_ignore_ascii_case("uring") || s.eq_ignore_ascii_case("io_uring") {
            Backend::Uring
        } else if s.eq_ignore_ascii_case("auto") {
            Backend::Auto
        } else {
            return Err(BAD_NAME);
        })
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Epoll => "epoll",
            Backend::Kqueue => "kqueue",
            Backend::Uring => "io_uring",
            Backend::Auto => "auto",
        })
    }
}

/// The backend an [`Io`](crate::Io) runs on ([`Io::backend`](crate::Io::backend)) and,
/// when [`Backend::Auto`] could not have io_uring, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendUsed {
    pub(crate) backend: Backend,
    pub(crate) fallback: Option<Error>,
    pub(crate) reads_in_ring: bool,
}

impl BackendUsed {
    /// The backend in use: never [`Backend::Auto`].
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Why [`Backend::Auto`] fell back to the readiness backend: the error io_uring's setup
    /// gave, with a context naming the likely cause (`PermissionDenied`: a seccomp filter or
    /// `kernel.io_uring_disabled`; `Unsupported`: no io_uring or a missing feature; the errno
    /// `ENOMEM`: `RLIMIT_MEMLOCK` on kernels before 5.12).
    /// `None` when the requested backend is the one in use.
    pub fn fallback(&self) -> Option<&Error> {
        self.fallback.as_ref()
    }

    /// Whether stream reads complete in the kernel: io_uring with synchronous cancellation
    /// (Linux 6.0+). A read of a TCP or Unix stream into an owned buffer (`Vec<u8>`,
    /// `Box<[u8]>`) that has nothing known to read is then handed to the kernel as a
    /// receive into that buffer, submitted with the Io's next wait, and completes when the
    /// kernel filled it: no read syscall and no readiness edge per message (a scheduled echo
    /// costs its wait and its write). FIFO and codec reads do the same when their FIFO is
    /// one of sonic-bytes' own. Reads into a [`Region`](crate::Region), and every read
    /// elsewhere, wait for readiness and try their syscall. Callbacks,
    /// results and cancellation behave the same either way: a read cancelled or closed
    /// while the kernel holds it is taken back before its buffer is, and if it completed
    /// meanwhile its real result is delivered, once.
    ///
    /// On the same kernels, a stream write (`async_write`, `async_write_all`) that tries its
    /// syscall and finds the socket's buffer full hands its rest to a send in the kernel,
    /// made when room comes: no readiness edge and no retry syscall per buffer-full of
    /// bytes. Taken back by a cancel or close, the write reports `Cancelled` with `done`
    /// counting every byte the kernel sent, or its own result if its last send completed
    /// first (an `async_write` has it after any bytes).
    pub fn reads_in_ring(&self) -> bool {
        self.reads_in_ring
    }
}

impl std::fmt::Display for BackendUsed {
    /// `epoll`, `io_uring (stream reads in the ring)`, `io_uring (reads wait for
    /// readiness)` (before Linux 6.0), `epoll (io_uring unavailable: <reason>)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fallback {
            None if self.backend == Backend::Uring => {
                let reads = if self.reads_in_ring {
                    "stream reads in the ring"
                } else {
                    "reads wait for readiness"
                };
                write!(f, "{} ({reads})", self.backend)
            }
            None => write!(f, "{}", self.backend),
            Some(e) => write!(f, "{} (io_uring unavailable: {e})", self.backend),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for b in [
            Backend::Epoll,
            Backend::Kqueue,
            Backend::Uring,
            Backend::Auto,
        ] {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        assert_eq!(" URING ".parse::<Backend>().unwrap(), Backend::Uring);
        let e = "iouring".parse::<Backend>().unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("SONIC_IO_BACKEND"), "{e}");
    }

    #[test]
    fn the_backend_in_use_says_how_reads_complete() {
        let used = |backend, reads_in_ring, fallback| BackendUsed {
            backend,
            fallback,
            reads_in_ring,
        };
        assert_eq!(used(Backend::Epoll, false, None).to_string(), "epoll");
        assert_eq!(
            used(Backend::Uring, true, None).to_string(),
            "io_uring (stream reads in the ring)"
        );
        assert_eq!(
            used(Backend::Uring, false, None).to_string(),
            "io_uring (reads wait for readiness)"
        );
        let e = Error::unsupported("no io_uring");
        assert!(
            used(Backend::Epoll, false, Some(e))
                .to_string()
                .starts_with("epoll (io_uring unavailable: ")
        );
    }
}

/// Kernel busy polling for an Io's waits (Linux 6.9+: the epoll ioctl `EPIOCSPARAMS`).
///
/// While the Io waits, the kernel polls the NIC receive queues (NAPI contexts) of its
/// sockets for up to `usecs` microseconds before it sleeps, processing up to `budget`
/// packets a round (above 64, the kernel's `NAPI_POLL_WEIGHT`, needs `CAP_NET_ADMIN`);
/// `prefer` asks the driver to defer its interrupts while the Io polls
/// (`SO_PREFER_BUSY_POLL` for the whole Io). It acts only on traffic from a NAPI device,
/// a real NIC: loopback and veth have none, so there it is accepted and read back but
/// changes nothing. See `sock::opt`'s busy-poll options for the per-socket form.
///
/// ```
/// use sonic_io::{BusyPoll, Io};
/// let bp = BusyPoll { usecs: 50, budget: 8, prefer: true };
/// match Io::builder().busy_poll(bp).build() {
///     Ok(io) => assert_eq!(io.busy_poll().unwrap(), bp),
///     // Kernels before 6.9 (and macOS, FreeBSD) say so rather than ignore it.
///     Err(e) => assert_eq!(e.kind(), iox::ErrorKind::Unsupported),
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusyPoll {
    /// Microseconds to busy-poll before sleeping (0: off; at most `i32::MAX`).
    pub usecs: u32,
    /// Packets per busy-poll round (0: the kernel's default).
    pub budget: u16,
    /// Defer the device's interrupts while busy polling.
    pub prefer: bool,
}
