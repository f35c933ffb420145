//! [`SignalFd`]: signals read as data, [`SigSet`], and the thread's signal mask.
//! See `signalfd(2)`.

use std::os::fd::OwnedFd;

use crate::{Fd, raw};

/// A set of signals 1..=64, in the kernel's format (bit `n - 1` is signal `n`).
///
/// ```
/// use iofd::SigSet;
/// let set = SigSet::of(&[libc::SIGUSR1, libc::SIGTERM]).unwrap();
/// assert!(set.contains(libc::SIGUSR1) && !set.contains(libc::SIGINT));
/// assert!(SigSet::EMPTY.with(0).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SigSet(u64);

const SIG_RANGE: &str = "signal number outside 1..=64";

impl SigSet {
    /// No signals.
    pub const EMPTY: SigSet = SigSet(0);

    /// The set with these kernel-format bits.
    pub const fn from_bits(bits: u64) -> SigSet {
        SigSet(bits)
    }

    /// The kernel-format bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    fn bit(sig: i32) -> iox::Result<u64> {
        if (1..=64).contains(&sig) {
            Ok(1u64 << (sig - 1))
        } else {
            Err(iox::Error::invalid_input(SIG_RANGE))
        }
    }

    /// The set of `sigs`; `InvalidInput` for a number outside 1..=64.
    pub fn of(sigs: &[i32]) -> iox::Result<SigSet> {
        sigs.iter().try_fold(SigSet::EMPTY, |s, &sig| s.with(sig))
    }

    /// This set plus `sig`.
    pub fn with(self, sig: i32) -> iox::Result<SigSet> {
        Ok(SigSet(self.0 | SigSet::bit(sig)?))
    }

    /// Adds `sig`.
    pub fn add(&mut self, sig: i32) -> iox::Result<()> {
        self.0 |= SigSet::bit(sig)?;
        Ok(())
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: i32) -> iox::Result<()> {
        self.0 &= !SigSet::bit(sig)?;
        Ok(())
    }

    /// Whether `sig` is in the set (never for a number outside 1..=64).
    pub fn contains(self, sig: i32) -> bool {
        SigSet::bit(sig).is_ok_and(|b| self.0 & b != 0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The signals in the set, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = i32> {
        (1..=64).filter(move |&s| self.0 & (1u64 << (s - 1)) != 0)
    }

    /// Blocks these signals for the calling thread (so a [`SignalFd`] can read them) and
    /// returns the previous mask. See `pthread_sigmask(3)`.
    pub fn block_thread(self) -> iox::Result<SigSet> {
        Ok(SigSet(zcall::rt_sigprocmask(
            libc::SIG_BLOCK,
            Some(self.0),
        )?))
    }

    /// Unblocks these signals for the calling thread; returns the previous mask.
    pub fn unblock_thread(self) -> iox::Result<SigSet> {
        Ok(SigSet(zcall::rt_sigprocmask(
            libc::SIG_UNBLOCK,
            Some(self.0),
        )?))
    }

    /// Replaces the calling thread's mask; returns the previous one.
    pub fn set_thread_mask(self) -> iox::Result<SigSet> {
        Ok(SigSet(zcall::rt_sigprocmask(
            libc::SIG_SETMASK,
            Some(self.0),
        )?))
    }

    /// The calling thread's current mask.
    pub fn thread_mask() -> iox::Result<SigSet> {
        Ok(SigSet(zcall::rt_sigprocmask(libc::SIG_BLOCK, None)?))
    }
}

/// One signal as a [`SignalFd`] reports it: the kernel's 128-byte `signalfd_siginfo`,
/// read into a stack value (no allocation) and viewed through accessors.
#[derive(Clone, Copy)]
pub struct SignalInfo {
    raw: [u8; 128],
}

static_assertions::assert_eq_size!(libc::signalfd_siginfo, [u8; 128]);

macro_rules! fields {
    ($($(#[$m:meta])* $name:ident: $t:ty = $off:expr;)*) => {
        impl SignalInfo {
            $(
                $(#[$m])*
                pub fn $name(&self) -> $t {
                    const N: usize = std::mem::size_of::<$t>();
                    <$t>::from_ne_bytes(self.raw[$off..$off + N].try_into().expect("in bounds"))
                }
            )*
        }
    };
}

fields! {
    /// `ssi_signo`: the signal number.
    signo: u32 = 0;
    /// `ssi_errno`.
    errno: i32 = 4;
    /// `ssi_code`: how it was sent (`SI_USER`, `SI_TKILL`, `CLD_EXITED`, ...).
    code: i32 = 8;
    /// `ssi_pid`: the sender's process id.
    pid: u32 = 12;
    /// `ssi_uid`: the sender's real user id.
    uid: u32 = 16;
    /// `ssi_fd`: the descriptor (`SIGIO`).
    fd: i32 = 20;
    /// `ssi_tid`: the kernel timer id (POSIX timers).
    tid: u32 = 24;
    /// `ssi_band` (`SIGIO`).
    band: u32 = 28;
    /// `ssi_overrun` (POSIX timers).
    overrun: u32 = 32;
    /// `ssi_trapno`.
    trapno: u32 = 36;
    /// `ssi_status`: the exit status or signal (`SIGCHLD`).
    status: i32 = 40;
    /// `ssi_int` (`sigqueue`).
    int: i32 = 44;
    /// `ssi_ptr` (`sigqueue`).
    ptr: u64 = 48;
    /// `ssi_utime`: user CPU time consumed (`SIGCHLD`).
    utime: u64 = 56;
    /// `ssi_stime`: system CPU time consumed (`SIGCHLD`).
    stime: u64 = 64;
    /// `ssi_addr`: the faulting address (hardware signals).
    addr: u64 = 72;
    /// `ssi_addr_lsb`.
    addr_lsb: u16 = 80;
    /// `ssi_syscall` (`SIGSYS`).
    syscall: i32 = 84;
    /// `ssi_call_addr` (`SIGSYS`).
    call_addr: u64 = 88;
    /// `ssi_arch` (`SIGSYS`).
    arch: u32 = 96;
}

impl SignalInfo {
    /// The raw 128 bytes.
    pub fn as_bytes(&self) -> &[u8; 128] {
        &self.raw
    }
}

impl std::fmt::Debug for SignalInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalInfo")
            .field("signo", &self.signo())
            .field("code", &self.code())
            .field("pid", &self.pid())
            .field("uid", &self.uid())
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// Signals of a set, read as [`SignalInfo`] values. Non-blocking and close-on-exec.
///
/// The signals must be blocked in every thread that could otherwise take them
/// ([`SigSet::block_thread`]), or they are delivered the usual way instead.
#[derive(Debug)]
pub struct SignalFd {
    fd: Fd,
    mask: SigSet,
}

impl SignalFd {
    /// A signalfd for `mask`.
    pub fn new(mask: SigSet) -> iox::Result<SignalFd> {
        let fd = zcall::signalfd4(-1, mask.0, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC)?;
        Ok(SignalFd {
            fd: Fd::from(raw::owned(fd)),
            mask,
        })
    }

    /// Replaces the set of signals it reports.
    pub fn set_mask(&mut self, mask: SigSet) -> iox::Result<()> {
        zcall::signalfd4(self.fd.raw(), mask.0, 0)?;
        self.mask = mask;
        Ok(())
    }

    /// The set it reports.
    pub fn mask(&self) -> SigSet {
        self.mask
    }

    /// The next pending signal; `WouldBlock` when none.
    #[inline]
    pub fn read(&self) -> iox::Result<SignalInfo> {
        let mut info = SignalInfo { raw: [0; 128] };
        let n = self.fd.read(&mut info.raw)?;
        if n != info.raw.len() {
            return Err(iox::Error::with_context(
                iox::ErrorKind::UnexpectedEof,
                "signalfd read returned less than 128 bytes",
            ));
        }
        Ok(info)
    }

    /// The descriptor.
    pub fn as_fd_ref(&self) -> &Fd {
        &self.fd
    }
}

crate::handle_traits!(SignalFd);

impl From<OwnedFd> for SignalFd {
    /// Wraps a descriptor that must be a signalfd; its mask is read back from
    /// `/proc/self/fdinfo` (empty if that fails).
    fn from(fd: OwnedFd) -> SignalFd {
        let fd = Fd::from(fd);
        let mut text = [0u8; 512];
        let mask = crate::fdinfo::read(fd.raw(), &mut text)
            .ok()
            .and_then(|n| crate::fdinfo::field(&text[..n], b"sigmask:", 16))
            .map_or(SigSet::EMPTY, SigSet);
        SignalFd { fd, mask }
    }
}
