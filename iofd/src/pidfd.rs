//! [`PidFd`]: a process as a descriptor: signal it, take its descriptors, reap it.
//! See `pidfd_open(2)`.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::{Fd, raw};

/// A handle on a process that cannot be confused with a later process reusing its pid.
/// Close-on-exec; non-blocking unless opened with [`open_blocking`](PidFd::open_blocking).
/// It becomes readable when the process exits, so a reactor can wait on it.
///
/// ```
/// let child = std::process::Command::new("true").spawn().unwrap();
/// let pidfd = iofd::PidFd::open_blocking(child.id() as i32).unwrap();
/// assert!(pidfd.wait().unwrap().success());
/// ```
#[derive(Debug)]
pub struct PidFd {
    fd: Fd,
    pid: libc::pid_t,
}

impl PidFd {
    /// A non-blocking pidfd for `pid` (`PIDFD_NONBLOCK`): [`wait`](Self::wait) returns
    /// `WouldBlock` while the process runs. `pid <= 0` is `InvalidInput`.
    pub fn open(pid: libc::pid_t) -> iox::Result<PidFd> {
        PidFd::open_flags(pid, libc::PIDFD_NONBLOCK)
    }

    /// A blocking pidfd for `pid`: [`wait`](Self::wait) blocks until it exits.
    pub fn open_blocking(pid: libc::pid_t) -> iox::Result<PidFd> {
        PidFd::open_flags(pid, 0)
    }

    fn open_flags(pid: libc::pid_t, flags: u32) -> iox::Result<PidFd> {
        if pid <= 0 {
            return Err(iox::Error::invalid_input("pid must be positive"));
        }
        let fd = zcall::pidfd_open(pid, flags)?;
        Ok(PidFd {
            fd: Fd::from(raw::owned(fd)),
            pid,
        })
    }

    /// The process id it was opened for.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Sends `sig` (0 only checks that the process still exists).
    pub fn send_signal(&self, sig: i32) -> iox::Result<()> {
        zcall::pidfd_send_signal(self.fd.raw(), sig, 0).map_err(iox::Error::from)
    }

    /// A copy of the process's descriptor `target` in this process (close-on-exec).
    /// Needs ptrace permission over the process.
    pub fn get_fd(&self, target: i32) -> iox::Result<Fd> {
        let fd = zcall::pidfd_getfd(self.fd.raw(), target, 0)?;
        Ok(Fd::from(raw::owned(fd)))
    }

    fn waitid(&self, options: i32) -> iox::Result<Option<ExitStatus>> {
        let info = zcall::waitid(
            libc::P_PIDFD,
            self.fd.raw() as libc::id_t,
            libc::WEXITED | options,
        )?;
        let (pid, status) = raw::child_status(&info);
        if pid == 0 {
            return Ok(None);
        }
        let raw = match info.si_code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_KILLED => status & 0x7f,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            _ => {
                return Err(iox::Error::unsupported(
                    "waitid reported a state other than an exit",
                ));
            }
        };
        Ok(Some(ExitStatus::from_raw(raw)))
    }

    /// Reaps the process (it must be a child of this one) and returns how it ended.
    /// On a non-blocking pidfd, `WouldBlock` while it still runs.
    pub fn wait(&self) -> iox::Result<ExitStatus> {
        self.waitid(0)?.ok_or(iox::Error::WOULD_BLOCK)
    }

    /// Reaps the process if it has exited: `Ok(None)` while it runs.
    pub fn try_wait(&self) -> iox::Result<Option<ExitStatus>> {
        match self.waitid(libc::WNOHANG) {
            Err(e) if e.is_would_block() => Ok(None),
            r => r,
        }
    }

    /// The descriptor.
    pub fn as_fd_ref(&self) -> &Fd {
        &self.fd
    }
}

crate::handle_traits!(PidFd);

impl From<OwnedFd> for PidFd {
    /// Wraps a descriptor that must be a pidfd; its pid is read back from
    /// `/proc/self/fdinfo` (0 if that fails).
    fn from(fd: OwnedFd) -> PidFd {
        let fd = Fd::from(fd);
        let mut text = [0u8; 512];
        let pid = crate::fdinfo::read(fd.raw(), &mut text)
            .ok()
            .and_then(|n| crate::fdinfo::field(&text[..n], b"Pid:", 10))
            .map_or(0, |p| p as libc::pid_t);
        PidFd { fd, pid }
    }
}
