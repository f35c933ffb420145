//! The libc backend: macOS, FreeBSD, Linux on architectures without an asm file, and Miri.
//!
//! Each function has the signature of the public function of the same name. A `-1` return
//! is turned into the thread's `errno`.

#[cfg(any(target_os = "linux", target_os = "android"))]
use core::ffi::CStr;
use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;

use crate::{Errno, IoVec, IoVecMut, RawFd, Result};

/// The calling thread's `errno`.
pub(crate) fn errno() -> Errno {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "emscripten"))]
    // SAFETY: returns a valid pointer to the calling thread's errno.
    let p = unsafe { libc::__errno_location() };
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "dragonfly"
    ))]
    // SAFETY: returns a valid pointer to the calling thread's errno.
    let p = unsafe { libc::__error() };
    #[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
    // SAFETY: returns a valid pointer to the calling thread's errno.
    let p = unsafe { libc::__errno() };
    // SAFETY: `p` points to the calling thread's errno, valid while the thread lives.
    let e = unsafe { *p };
    Errno::from_raw(e)
}

#[inline]
fn check(ret: c_int) -> Result<c_int> {
    if ret == -1 { Err(errno()) } else { Ok(ret) }
}

#[inline]
fn check_size(ret: isize) -> Result<usize> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret as usize)
    }
}

#[inline]
fn iov_count(n: usize) -> c_int {
    n.min(c_int::MAX as usize) as c_int
}

pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: libc writes at most `buf.len()` bytes into `buf`.
    check_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

pub(crate) fn write(fd: RawFd, buf: &[u8]) -> Result<usize> {
    // SAFETY: libc reads at most `buf.len()` bytes from `buf`.
    check_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

pub(crate) fn readv(fd: RawFd, bufs: &mut [IoVecMut<'_>]) -> Result<usize> {
    // SAFETY: `IoVecMut` is a `struct iovec` over a live, writable slice.
    check_size(unsafe { libc::readv(fd, bufs.as_mut_ptr().cast(), iov_count(bufs.len())) })
}

pub(crate) fn writev(fd: RawFd, bufs: &[IoVec<'_>]) -> Result<usize> {
    // SAFETY: `IoVec` is a `struct iovec` over a live slice.
    check_size(unsafe { libc::writev(fd, bufs.as_ptr().cast(), iov_count(bufs.len())) })
}

pub(crate) fn pread(fd: RawFd, buf: &mut [u8], offset: i64) -> Result<usize> {
    // SAFETY: libc writes at most `buf.len()` bytes into `buf`.
    check_size(unsafe {
        libc::pread(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            offset as libc::off_t,
        )
    })
}

pub(crate) fn pwrite(fd: RawFd, buf: &[u8], offset: i64) -> Result<usize> {
    // SAFETY: libc reads at most `buf.len()` bytes from `buf`.
    check_size(unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), offset as libc::off_t) })
}

pub(crate) fn preadv(fd: RawFd, bufs: &mut [IoVecMut<'_>], offset: i64) -> Result<usize> {
    // SAFETY: as in `readv`.
    check_size(unsafe {
        libc::preadv(
            fd,
            bufs.as_mut_ptr().cast(),
            iov_count(bufs.len()),
            offset as libc::off_t,
        )
    })
}

pub(crate) fn pwritev(fd: RawFd, bufs: &[IoVec<'_>], offset: i64) -> Result<usize> {
    // SAFETY: as in `writev`.
    check_size(unsafe {
        libc::pwritev(
            fd,
            bufs.as_ptr().cast(),
            iov_count(bufs.len()),
            offset as libc::off_t,
        )
    })
}

pub(crate) unsafe fn close(fd: RawFd) -> Result<()> {
    // SAFETY: the caller owns `fd` and gives it up.
    check(unsafe { libc::close(fd) }).map(drop)
}

pub(crate) fn fcntl(fd: RawFd, cmd: c_int, arg: c_int) -> Result<c_int> {
    // SAFETY: the public wrapper admits only commands whose argument is an integer.
    check(unsafe { libc::fcntl(fd, cmd, arg) })
}

pub(crate) fn ftruncate(fd: RawFd, len: i64) -> Result<()> {
    // SAFETY: plain values only.
    check(unsafe { libc::ftruncate(fd, len as libc::off_t) }).map(drop)
}

pub(crate) fn fstat(fd: RawFd) -> Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: libc fills one `struct stat` on success.
    check(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: initialised by the successful call above.
    Ok(unsafe { st.assume_init() })
}

#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) fn pipe2(flags: c_int) -> Result<[RawFd; 2]> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: libc writes two ints into `fds`.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) })?;
    Ok(fds)
}

/// macOS has no pipe2: pipe, then fcntl for each flag (not atomic with respect to fork).
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) fn pipe2(flags: c_int) -> Result<[RawFd; 2]> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: libc writes two ints into `fds`.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    let apply = |fd: RawFd| -> Result<()> {
        if flags & libc::O_CLOEXEC != 0 {
            fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC)?;
        }
        if flags & libc::O_NONBLOCK != 0 {
            let fl = fcntl(fd, libc::F_GETFL, 0)?;
            fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK)?;
        }
        Ok(())
    };
    if let Err(e) = apply(fds[0]).and_then(|()| apply(fds[1])) {
        for fd in fds {
            // SAFETY: both descriptors were just created here and are owned by nobody else.
            unsafe { libc::close(fd) };
        }
        return Err(e);
    }
    Ok(fds)
}

pub(crate) fn socket(domain: c_int, ty: c_int, protocol: c_int) -> Result<RawFd> {
    // SAFETY: plain values only.
    check(unsafe { libc::socket(domain, ty, protocol) })
}

pub(crate) fn socketpair(domain: c_int, ty: c_int, protocol: c_int) -> Result<[RawFd; 2]> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: libc writes two ints into `fds`.
    check(unsafe { libc::socketpair(domain, ty, protocol, fds.as_mut_ptr()) })?;
    Ok(fds)
}

#[inline]
fn addr_len(len: usize) -> libc::socklen_t {
    len.min(libc::socklen_t::MAX as usize) as libc::socklen_t
}

pub(crate) fn bind(fd: RawFd, addr: &[u8]) -> Result<()> {
    // SAFETY: libc reads `addr.len()` bytes of address (the kernel copies, alignment is free).
    check(unsafe { libc::bind(fd, addr.as_ptr().cast(), addr_len(addr.len())) }).map(drop)
}

pub(crate) fn connect(fd: RawFd, addr: &[u8]) -> Result<()> {
    // SAFETY: libc reads `addr.len()` bytes of address.
    check(unsafe { libc::connect(fd, addr.as_ptr().cast(), addr_len(addr.len())) }).map(drop)
}

pub(crate) fn listen(fd: RawFd, backlog: c_int) -> Result<()> {
    // SAFETY: plain values only.
    check(unsafe { libc::listen(fd, backlog) }).map(drop)
}

fn addr_out(
    addr: Option<&mut [u8]>,
    len: &mut libc::socklen_t,
) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
    match addr {
        Some(a) => {
            *len = addr_len(a.len());
            (a.as_mut_ptr().cast(), len)
        }
        None => (core::ptr::null_mut(), core::ptr::null_mut()),
    }
}

pub(crate) fn accept(fd: RawFd, addr: Option<&mut [u8]>) -> Result<(RawFd, usize)> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(addr, &mut len);
    // SAFETY: `p` is null or a buffer of `len` bytes; `l` is null or points at `len`.
    let fd = check(unsafe { libc::accept(fd, p, l) })?;
    Ok((fd, len as usize))
}

#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) fn accept4(fd: RawFd, addr: Option<&mut [u8]>, flags: c_int) -> Result<(RawFd, usize)> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(addr, &mut len);
    // SAFETY: `p` is null or a buffer of `len` bytes; `l` is null or points at `len`.
    let fd = check(unsafe { libc::accept4(fd, p, l, flags) })?;
    Ok((fd, len as usize))
}

pub(crate) fn shutdown(fd: RawFd, how: c_int) -> Result<()> {
    // SAFETY: plain values only.
    check(unsafe { libc::shutdown(fd, how) }).map(drop)
}

pub(crate) fn getsockname(fd: RawFd, addr: &mut [u8]) -> Result<usize> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(Some(addr), &mut len);
    // SAFETY: `p` is a buffer of `len` bytes and `l` points at `len`.
    check(unsafe { libc::getsockname(fd, p, l) })?;
    Ok(len as usize)
}

pub(crate) fn getpeername(fd: RawFd, addr: &mut [u8]) -> Result<usize> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(Some(addr), &mut len);
    // SAFETY: `p` is a buffer of `len` bytes and `l` points at `len`.
    check(unsafe { libc::getpeername(fd, p, l) })?;
    Ok(len as usize)
}

pub(crate) fn setsockopt(fd: RawFd, level: c_int, name: c_int, value: &[u8]) -> Result<()> {
    // SAFETY: libc reads `value.len()` bytes; pointer-carrying options are refused above.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value.as_ptr().cast(),
            addr_len(value.len()),
        )
    })
    .map(drop)
}

pub(crate) fn getsockopt(fd: RawFd, level: c_int, name: c_int, value: &mut [u8]) -> Result<usize> {
    let mut len = addr_len(value.len());
    // SAFETY: libc writes at most `len` bytes into `value` and the length into `len`.
    check(unsafe { libc::getsockopt(fd, level, name, value.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

pub(crate) fn sendto(fd: RawFd, buf: &[u8], flags: c_int, addr: &[u8]) -> Result<usize> {
    let p: *const libc::sockaddr = if addr.is_empty() {
        core::ptr::null()
    } else {
        addr.as_ptr().cast()
    };
    // SAFETY: libc reads `buf.len()` bytes of data and `addr.len()` bytes of address.
    check_size(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags,
            p,
            addr_len(addr.len()),
        )
    })
}

pub(crate) fn recvfrom(
    fd: RawFd,
    buf: &mut [u8],
    flags: c_int,
    addr: Option<&mut [u8]>,
) -> Result<(usize, usize)> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(addr, &mut len);
    // SAFETY: libc writes at most `buf.len()` bytes of data, at most `len` bytes of address.
    let n =
        check_size(unsafe { libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), flags, p, l) })?;
    Ok((n, len as usize))
}

pub(crate) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: the caller vouches for `msg` and everything it points to.
    check_size(unsafe { libc::sendmsg(fd, msg, flags) })
}

pub(crate) unsafe fn recvmsg(fd: RawFd, msg: *mut libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: the caller vouches for `msg` and everything it points to.
    check_size(unsafe { libc::recvmsg(fd, msg, flags) })
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) unsafe fn sendmmsg(
    fd: RawFd,
    msgs: *mut libc::mmsghdr,
    vlen: core::ffi::c_uint,
    flags: c_int,
) -> Result<usize> {
    // SAFETY: the caller vouches for `msgs[..vlen]` and everything they point to.
    let n = unsafe { libc::sendmmsg(fd, msgs, vlen as _, flags as _) };
    check_size(n as isize)
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) unsafe fn recvmmsg(
    fd: RawFd,
    msgs: *mut libc::mmsghdr,
    vlen: core::ffi::c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> Result<usize> {
    // SAFETY: the caller vouches for `msgs[..vlen]`, everything they point to, and `timeout`.
    let n = unsafe { libc::recvmmsg(fd, msgs, vlen as _, flags as _, timeout as _) };
    check_size(n as isize)
}

pub(crate) unsafe fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: RawFd,
    offset: i64,
) -> Result<*mut c_void> {
    // SAFETY: the caller vouches that the mapping does not replace memory still in use.
    let p = unsafe { libc::mmap(addr, len, prot, flags, fd, offset as libc::off_t) };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p)
    }
}

pub(crate) unsafe fn munmap(addr: *mut c_void, len: usize) -> Result<()> {
    // SAFETY: the caller vouches that nothing uses the range any more.
    check(unsafe { libc::munmap(addr, len) }).map(drop)
}

pub(crate) unsafe fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> Result<()> {
    // SAFETY: the caller vouches that the advice is sound for the range.
    check(unsafe { libc::madvise(addr, len, advice) }).map(drop)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use self::linux::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use super::*;
    use core::ffi::c_uint;

    fn check_long(ret: libc::c_long) -> Result<usize> {
        if ret < 0 {
            Err(errno())
        } else {
            Ok(ret as usize)
        }
    }

    /// A libc `sigset_t` holding the signals of a kernel-format 64-bit set.
    fn sigset_from_bits(bits: u64) -> libc::sigset_t {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the whole set.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        for sig in 1..=64 {
            if bits & (1u64 << (sig - 1)) != 0 {
                // SAFETY: the set is initialised; sigaddset only writes inside it.
                unsafe { libc::sigaddset(set.as_mut_ptr(), sig) };
            }
        }
        // SAFETY: initialised by sigemptyset above.
        unsafe { set.assume_init() }
    }

    fn sigset_to_bits(set: &libc::sigset_t) -> u64 {
        let mut bits = 0u64;
        for sig in 1..=64 {
            // SAFETY: `set` is an initialised signal set.
            if unsafe { libc::sigismember(set, sig) } == 1 {
                bits |= 1u64 << (sig - 1);
            }
        }
        bits
    }

    pub(crate) fn preadv2(
        fd: RawFd,
        bufs: &mut [IoVecMut<'_>],
        offset: i64,
        flags: c_int,
    ) -> Result<usize> {
        // SAFETY: as in `readv`.
        check_size(unsafe {
            libc::preadv2(
                fd,
                bufs.as_mut_ptr().cast(),
                iov_count(bufs.len()),
                offset as libc::off_t,
                flags,
            )
        })
    }

    pub(crate) fn pwritev2(
        fd: RawFd,
        bufs: &[IoVec<'_>],
        offset: i64,
        flags: c_int,
    ) -> Result<usize> {
        // SAFETY: as in `writev`.
        check_size(unsafe {
            libc::pwritev2(
                fd,
                bufs.as_ptr().cast(),
                iov_count(bufs.len()),
                offset as libc::off_t,
                flags,
            )
        })
    }

    pub(crate) fn eventfd2(initval: c_uint, flags: c_int) -> Result<RawFd> {
        // SAFETY: plain values only.
        check(unsafe { libc::eventfd(initval, flags) })
    }

    pub(crate) fn timerfd_create(clockid: c_int, flags: c_int) -> Result<RawFd> {
        // SAFETY: plain values only.
        check(unsafe { libc::timerfd_create(clockid, flags) })
    }

    pub(crate) fn timerfd_settime(
        fd: RawFd,
        flags: c_int,
        new: &libc::itimerspec,
    ) -> Result<libc::itimerspec> {
        let mut old = MaybeUninit::<libc::itimerspec>::zeroed();
        // SAFETY: libc reads `new` and writes one `itimerspec` into `old`.
        check(unsafe { libc::timerfd_settime(fd, flags, new, old.as_mut_ptr()) })?;
        // SAFETY: zero-initialised and filled by the call.
        Ok(unsafe { old.assume_init() })
    }

    pub(crate) fn timerfd_gettime(fd: RawFd) -> Result<libc::itimerspec> {
        let mut cur = MaybeUninit::<libc::itimerspec>::zeroed();
        // SAFETY: libc writes one `itimerspec` into `cur`.
        check(unsafe { libc::timerfd_gettime(fd, cur.as_mut_ptr()) })?;
        // SAFETY: zero-initialised and filled by the call.
        Ok(unsafe { cur.assume_init() })
    }

    pub(crate) fn epoll_create1(flags: c_int) -> Result<RawFd> {
        // SAFETY: plain values only.
        check(unsafe { libc::epoll_create1(flags) })
    }

    pub(crate) fn epoll_ctl(
        epfd: RawFd,
        op: c_int,
        fd: RawFd,
        event: Option<&libc::epoll_event>,
    ) -> Result<()> {
        let ev = event.map_or(core::ptr::null_mut(), |e| {
            e as *const libc::epoll_event as *mut libc::epoll_event
        });
        // SAFETY: the kernel only reads the event (libc's prototype is not const-correct).
        check(unsafe { libc::epoll_ctl(epfd, op, fd, ev) }).map(drop)
    }

    pub(crate) fn epoll_wait(
        epfd: RawFd,
        events: &mut [libc::epoll_event],
        timeout_ms: c_int,
    ) -> Result<usize> {
        let max = events.len().min(c_int::MAX as usize) as c_int;
        // SAFETY: libc writes at most `max` events into `events`.
        check(unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), max, timeout_ms) })
            .map(|n| n as usize)
    }

    pub(crate) fn epoll_pwait2(
        epfd: RawFd,
        events: &mut [libc::epoll_event],
        timeout: Option<&libc::timespec>,
    ) -> Result<usize> {
        let max = events.len().min(c_int::MAX as usize) as libc::c_long;
        let t = timeout.map_or(core::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the kernel writes at most `max` events and reads one timespec (or none).
        check_long(unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                epfd,
                events.as_mut_ptr(),
                max,
                t,
                core::ptr::null::<u8>(),
                8usize,
            )
        })
    }

    pub(crate) fn signalfd4(fd: RawFd, mask: u64, flags: c_int) -> Result<RawFd> {
        let set = sigset_from_bits(mask);
        // SAFETY: libc reads the signal set.
        check(unsafe { libc::signalfd(fd, &set, flags) })
    }

    pub(crate) fn rt_sigprocmask(how: c_int, set: Option<u64>) -> Result<u64> {
        let new = set.map(sigset_from_bits);
        let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
        let p = new
            .as_ref()
            .map_or(core::ptr::null(), |s| s as *const libc::sigset_t);
        // SAFETY: pthread_sigmask reads `p` (or nothing) and writes the old mask.
        let rc = unsafe { libc::pthread_sigmask(how, p, old.as_mut_ptr()) };
        if rc != 0 {
            return Err(Errno::from_raw(rc));
        }
        // SAFETY: zero-initialised and filled by the call.
        Ok(sigset_to_bits(unsafe { old.assume_init_ref() }))
    }

    pub(crate) fn memfd_create(name: &CStr, flags: c_uint) -> Result<RawFd> {
        // SAFETY: `name` is NUL-terminated.
        check(unsafe { libc::memfd_create(name.as_ptr(), flags) })
    }

    pub(crate) fn pidfd_open(pid: libc::pid_t, flags: c_uint) -> Result<RawFd> {
        // SAFETY: plain values only.
        check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) }).map(|fd| fd as RawFd)
    }

    pub(crate) fn pidfd_send_signal(pidfd: RawFd, sig: c_int, flags: c_uint) -> Result<()> {
        // SAFETY: a null siginfo makes the kernel build one as kill(2) would.
        check_long(unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd,
                sig,
                core::ptr::null::<u8>(),
                flags,
            )
        })
        .map(drop)
    }

    pub(crate) fn pidfd_getfd(pidfd: RawFd, targetfd: RawFd, flags: c_uint) -> Result<RawFd> {
        // SAFETY: plain values only.
        check_long(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, targetfd, flags) })
            .map(|fd| fd as RawFd)
    }

    pub(crate) fn waitid(
        idtype: libc::idtype_t,
        id: libc::id_t,
        options: c_int,
    ) -> Result<libc::siginfo_t> {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: libc writes one `siginfo_t` into `info`.
        check(unsafe { libc::waitid(idtype, id, info.as_mut_ptr(), options) })?;
        // SAFETY: zero-initialised and filled by the call.
        Ok(unsafe { info.assume_init() })
    }

    pub(crate) fn splice(
        fd_in: RawFd,
        off_in: Option<&mut i64>,
        fd_out: RawFd,
        off_out: Option<&mut i64>,
        len: usize,
        flags: c_uint,
    ) -> Result<usize> {
        let pi = off_in.map_or(core::ptr::null_mut(), |o| {
            o as *mut i64 as *mut libc::loff_t
        });
        let po = off_out.map_or(core::ptr::null_mut(), |o| {
            o as *mut i64 as *mut libc::loff_t
        });
        // SAFETY: libc reads and updates one `loff_t` at each non-null offset pointer.
        check_size(unsafe { libc::splice(fd_in, pi, fd_out, po, len, flags) })
    }

    pub(crate) fn tee(fd_in: RawFd, fd_out: RawFd, len: usize, flags: c_uint) -> Result<usize> {
        // SAFETY: plain values only.
        check_size(unsafe { libc::tee(fd_in, fd_out, len, flags) })
    }

    pub(crate) unsafe fn vmsplice(fd: RawFd, bufs: &[IoVec<'_>], flags: c_uint) -> Result<usize> {
        // SAFETY: the caller vouches that the pages stay unmodified while the pipe references them.
        check_size(unsafe { libc::vmsplice(fd, bufs.as_ptr().cast(), bufs.len(), flags) })
    }

    pub(crate) unsafe fn io_uring_setup(entries: u32, params: *mut c_void) -> Result<RawFd> {
        // SAFETY: the caller vouches for `params`.
        check_long(unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, params) })
            .map(|fd| fd as RawFd)
    }

    pub(crate) unsafe fn io_uring_enter(
        fd: RawFd,
        to_submit: u32,
        min_complete: u32,
        flags: u32,
        arg: *const c_void,
        argsz: usize,
    ) -> Result<u32> {
        // SAFETY: the caller vouches for the rings and for `arg`.
        check_long(unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit,
                min_complete,
                flags,
                arg,
                argsz,
            )
        })
        .map(|n| n as u32)
    }

    pub(crate) unsafe fn io_uring_register(
        fd: RawFd,
        opcode: u32,
        arg: *const c_void,
        nr_args: u32,
    ) -> Result<usize> {
        // SAFETY: the caller vouches for `arg`.
        check_long(unsafe { libc::syscall(libc::SYS_io_uring_register, fd, opcode, arg, nr_args) })
    }

    pub(crate) fn getpid() -> libc::pid_t {
        // SAFETY: getpid cannot fail.
        unsafe { libc::getpid() }
    }

    pub(crate) fn gettid() -> libc::pid_t {
        // SAFETY: gettid cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
    }

    pub(crate) fn tgkill(tgid: libc::pid_t, tid: libc::pid_t, sig: c_int) -> Result<()> {
        // SAFETY: plain values only.
        check_long(unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) }).map(drop)
    }
}
