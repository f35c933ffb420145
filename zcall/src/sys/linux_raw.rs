//! The inline-asm backend: every call is one syscall instruction through [`crate::raw`].
//!
//! Each function here has the signature of the public function of the same name; the public
//! modules add the documentation and the argument checks that need no kernel.

use core::ffi::{CStr, c_int, c_uint, c_void};
use core::mem::MaybeUninit;

use crate::arch::nr;
use crate::raw::{syscall1, syscall2, syscall3, syscall4, syscall5, syscall6};
use crate::{IoVec, IoVecMut, RawFd, Result};

/// Size of the kernel's signal set (`_NSIG / 8`) on every architecture this backend serves.
const KERNEL_SIGSET_SIZE: usize = 8;

#[inline]
fn fd_arg(fd: RawFd) -> usize {
    fd as isize as usize
}

#[inline]
fn as_fd(ret: usize) -> RawFd {
    ret as RawFd
}

#[inline]
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe { syscall3(nr::READ, fd_arg(fd), buf.as_mut_ptr() as usize, buf.len()) }
}

#[inline]
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    unsafe { syscall3(nr::WRITE, fd_arg(fd), buf.as_ptr() as usize, buf.len()) }
}

#[inline]
pub(crate) fn readv(fd: RawFd, bufs: &mut [IoVecMut<'_>]) -> Result<usize> {
    // SAFETY: `IoVecMut` is a `struct iovec` over a live, writable slice; the kernel writes
    // within those slices only.
    unsafe {
        syscall3(
            nr::READV,
            fd_arg(fd),
            bufs.as_mut_ptr() as usize,
            bufs.len(),
        )
    }
}

#[inline]
pub(crate) fn writev(fd: RawFd, bufs: &[IoVec<'_>]) -> Result<usize> {
    // SAFETY: `IoVec` is a `struct iovec` over a live slice; the kernel only reads them.
    unsafe { syscall3(nr::WRITEV, fd_arg(fd), bufs.as_ptr() as usize, bufs.len()) }
}

#[inline]
pub(crate) fn pread(fd: RawFd, buf: &mut [u8], offset: i64) -> Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe {
        syscall4(
            nr::PREAD64,
            fd_arg(fd),
            buf.as_mut_ptr() as usize,
            buf.len(),
            offset as usize,
        )
    }
}

#[inline]
pub(crate) fn pwrite(fd: RawFd, buf: &[u8], offset: i64) -> Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    unsafe {
        syscall4(
            nr::PWRITE64,
            fd_arg(fd),
            buf.as_ptr() as usize,
            buf.len(),
            offset as usize,
        )
    }
}

// On 64-bit kernels the offset is one register; the `pos_h` half is ignored and passed as 0.
#[inline]
pub(crate) fn preadv(fd: RawFd, bufs: &mut [IoVecMut<'_>], offset: i64) -> Result<usize> {
    // SAFETY: as in `readv`.
    unsafe {
        syscall5(
            nr::PREADV,
            fd_arg(fd),
            bufs.as_mut_ptr() as usize,
            bufs.len(),
            offset as usize,
            0,
        )
    }
}

#[inline]
pub(crate) fn pwritev(fd: RawFd, bufs: &[IoVec<'_>], offset: i64) -> Result<usize> {
    // SAFETY: as in `writev`.
    unsafe {
        syscall5(
            nr::PWRITEV,
            fd_arg(fd),
            bufs.as_ptr() as usize,
            bufs.len(),
            offset as usize,
            0,
        )
    }
}

#[inline]
pub(crate) fn preadv2(
    fd: RawFd,
    bufs: &mut [IoVecMut<'_>],
    offset: i64,
    flags: c_int,
) -> Result<usize> {
    // SAFETY: as in `readv`; `(fd, iov, cnt, pos_l, pos_h, flags)` is the 64-bit ABI.
    unsafe {
        syscall6(
            nr::PREADV2,
            fd_arg(fd),
            bufs.as_mut_ptr() as usize,
            bufs.len(),
            offset as usize,
            0,
            flags as usize,
        )
    }
}

#[inline]
pub(crate) fn pwritev2(fd: RawFd, bufs: &[IoVec<'_>], offset: i64, flags: c_int) -> Result<usize> {
    // SAFETY: as in `writev`; `(fd, iov, cnt, pos_l, pos_h, flags)` is the 64-bit ABI.
    unsafe {
        syscall6(
            nr::PWRITEV2,
            fd_arg(fd),
            bufs.as_ptr() as usize,
            bufs.len(),
            offset as usize,
            0,
            flags as usize,
        )
    }
}

#[inline]
pub(crate) unsafe fn close(fd: RawFd) -> Result<()> {
    // SAFETY: the caller owns `fd` and gives it up.
    unsafe { syscall1(nr::CLOSE, fd_arg(fd)) }.map(drop)
}

#[inline]
pub(crate) fn fcntl(fd: RawFd, cmd: c_int, arg: c_int) -> Result<c_int> {
    // SAFETY: the public wrapper admits only commands whose argument is an integer.
    unsafe { syscall3(nr::FCNTL, fd_arg(fd), cmd as usize, arg as isize as usize) }
        .map(|r| r as c_int)
}

#[inline]
pub(crate) fn ftruncate(fd: RawFd, len: i64) -> Result<()> {
    // SAFETY: plain values only.
    unsafe { syscall2(nr::FTRUNCATE, fd_arg(fd), len as usize) }.map(drop)
}

#[cfg(not(target_arch = "loongarch64"))]
pub(crate) fn fstat(fd: RawFd) -> Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` has room for the kernel's `struct stat`, which `libc::stat` mirrors on
    // this architecture; the kernel fills it completely on success.
    unsafe { syscall2(nr::FSTAT, fd_arg(fd), st.as_mut_ptr() as usize) }?;
    // SAFETY: initialised by the successful call above.
    Ok(unsafe { st.assume_init() })
}

#[cfg(target_arch = "loongarch64")]
pub(crate) fn fstat(fd: RawFd) -> Result<libc::stat> {
    // loongarch64 kernels before 6.11 have no fstat: ask statx and translate.
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: an empty, NUL-terminated path with AT_EMPTY_PATH names `fd` itself; `stx` has
    // room for `struct statx`.
    unsafe {
        syscall5(
            nr::STATX,
            fd_arg(fd),
            c"".as_ptr() as usize,
            libc::AT_EMPTY_PATH as usize,
            libc::STATX_BASIC_STATS as usize,
            stx.as_mut_ptr() as usize,
        )
    }?;
    // SAFETY: zero-initialised, then filled by the kernel.
    let stx = unsafe { stx.assume_init() };
    // SAFETY: `libc::stat` is plain integers; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    st.st_dev = libc::makedev(stx.stx_dev_major, stx.stx_dev_minor);
    st.st_ino = stx.stx_ino;
    st.st_mode = stx.stx_mode as u32;
    st.st_nlink = stx.stx_nlink;
    st.st_uid = stx.stx_uid;
    st.st_gid = stx.stx_gid;
    st.st_rdev = libc::makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
    st.st_size = stx.stx_size as i64;
    st.st_blksize = stx.stx_blksize as i32;
    st.st_blocks = stx.stx_blocks as i64;
    st.st_atime = stx.stx_atime.tv_sec;
    st.st_atime_nsec = stx.stx_atime.tv_nsec as i64;
    st.st_mtime = stx.stx_mtime.tv_sec;
    st.st_mtime_nsec = stx.stx_mtime.tv_nsec as i64;
    st.st_ctime = stx.stx_ctime.tv_sec;
    st.st_ctime_nsec = stx.stx_ctime.tv_nsec as i64;
    Ok(st)
}

#[inline]
pub(crate) fn pipe2(flags: c_int) -> Result<[RawFd; 2]> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: the kernel writes two ints into `fds`.
    unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, flags as usize) }?;
    Ok(fds)
}

#[inline]
pub(crate) fn socket(domain: c_int, ty: c_int, protocol: c_int) -> Result<RawFd> {
    // SAFETY: plain values only.
    unsafe { syscall3(nr::SOCKET, domain as usize, ty as usize, protocol as usize) }.map(as_fd)
}

#[inline]
pub(crate) fn socketpair(domain: c_int, ty: c_int, protocol: c_int) -> Result<[RawFd; 2]> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: the kernel writes two ints into `fds`.
    unsafe {
        syscall4(
            nr::SOCKETPAIR,
            domain as usize,
            ty as usize,
            protocol as usize,
            fds.as_mut_ptr() as usize,
        )
    }?;
    Ok(fds)
}

#[inline]
pub(crate) fn bind(fd: RawFd, addr: &[u8]) -> Result<()> {
    // SAFETY: the kernel reads `addr.len()` bytes of address.
    unsafe { syscall3(nr::BIND, fd_arg(fd), addr.as_ptr() as usize, addr.len()) }.map(drop)
}

#[inline]
pub(crate) fn connect(fd: RawFd, addr: &[u8]) -> Result<()> {
    // SAFETY: the kernel reads `addr.len()` bytes of address.
    unsafe { syscall3(nr::CONNECT, fd_arg(fd), addr.as_ptr() as usize, addr.len()) }.map(drop)
}

#[inline]
pub(crate) fn listen(fd: RawFd, backlog: c_int) -> Result<()> {
    // SAFETY: plain values only.
    unsafe { syscall2(nr::LISTEN, fd_arg(fd), backlog as usize) }.map(drop)
}

/// `(pointer, pointer to length)` for an optional address out-parameter.
#[inline]
fn addr_out(addr: Option<&mut [u8]>, len: &mut libc::socklen_t) -> (usize, usize) {
    match addr {
        Some(a) => {
            *len = a.len().min(libc::socklen_t::MAX as usize) as libc::socklen_t;
            (
                a.as_mut_ptr() as usize,
                len as *mut libc::socklen_t as usize,
            )
        }
        None => (0, 0),
    }
}

#[inline]
pub(crate) fn accept(fd: RawFd, addr: Option<&mut [u8]>) -> Result<(RawFd, usize)> {
    accept4(fd, addr, 0)
}

#[inline]
pub(crate) fn accept4(fd: RawFd, addr: Option<&mut [u8]>, flags: c_int) -> Result<(RawFd, usize)> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(addr, &mut len);
    // SAFETY: `p` is null or a buffer of `len` bytes; `l` is null or points at `len`.
    let fd = unsafe { syscall4(nr::ACCEPT4, fd_arg(fd), p, l, flags as usize) }?;
    Ok((as_fd(fd), len as usize))
}

#[inline]
pub(crate) fn shutdown(fd: RawFd, how: c_int) -> Result<()> {
    // SAFETY: plain values only.
    unsafe { syscall2(nr::SHUTDOWN, fd_arg(fd), how as usize) }.map(drop)
}

#[inline]
pub(crate) fn getsockname(fd: RawFd, addr: &mut [u8]) -> Result<usize> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(Some(addr), &mut len);
    // SAFETY: `p` is a buffer of `len` bytes and `l` points at `len`.
    unsafe { syscall3(nr::GETSOCKNAME, fd_arg(fd), p, l) }?;
    Ok(len as usize)
}

#[inline]
pub(crate) fn getpeername(fd: RawFd, addr: &mut [u8]) -> Result<usize> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(Some(addr), &mut len);
    // SAFETY: `p` is a buffer of `len` bytes and `l` points at `len`.
    unsafe { syscall3(nr::GETPEERNAME, fd_arg(fd), p, l) }?;
    Ok(len as usize)
}

#[inline]
pub(crate) fn setsockopt(fd: RawFd, level: c_int, name: c_int, value: &[u8]) -> Result<()> {
    // SAFETY: the kernel reads `value.len()` bytes; the public wrapper refuses options whose
    // value embeds a pointer.
    unsafe {
        syscall5(
            nr::SETSOCKOPT,
            fd_arg(fd),
            level as usize,
            name as usize,
            value.as_ptr() as usize,
            value.len(),
        )
    }
    .map(drop)
}

#[inline]
pub(crate) fn getsockopt(fd: RawFd, level: c_int, name: c_int, value: &mut [u8]) -> Result<usize> {
    let mut len = value.len().min(libc::socklen_t::MAX as usize) as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value` and the length into `len`;
    // the public wrapper refuses options whose value embeds a pointer.
    unsafe {
        syscall5(
            nr::GETSOCKOPT,
            fd_arg(fd),
            level as usize,
            name as usize,
            value.as_mut_ptr() as usize,
            &mut len as *mut libc::socklen_t as usize,
        )
    }?;
    Ok(len as usize)
}

#[inline]
pub(crate) fn sendto(fd: RawFd, buf: &[u8], flags: c_int, addr: &[u8]) -> Result<usize> {
    let (p, l) = if addr.is_empty() {
        (0, 0)
    } else {
        (addr.as_ptr() as usize, addr.len())
    };
    // SAFETY: the kernel reads `buf.len()` bytes of data and `l` bytes of address.
    unsafe {
        syscall6(
            nr::SENDTO,
            fd_arg(fd),
            buf.as_ptr() as usize,
            buf.len(),
            flags as usize,
            p,
            l,
        )
    }
}

#[inline]
pub(crate) fn recvfrom(
    fd: RawFd,
    buf: &mut [u8],
    flags: c_int,
    addr: Option<&mut [u8]>,
) -> Result<(usize, usize)> {
    let mut len: libc::socklen_t = 0;
    let (p, l) = addr_out(addr, &mut len);
    // SAFETY: the kernel writes at most `buf.len()` bytes of data, at most `len` bytes of
    // address at `p` (or none when null), and the address length at `l`.
    let n = unsafe {
        syscall6(
            nr::RECVFROM,
            fd_arg(fd),
            buf.as_mut_ptr() as usize,
            buf.len(),
            flags as usize,
            p,
            l,
        )
    }?;
    Ok((n, len as usize))
}

#[inline]
pub(crate) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: the caller vouches for `msg` and everything it points to.
    unsafe { syscall3(nr::SENDMSG, fd_arg(fd), msg as usize, flags as usize) }
}

#[inline]
pub(crate) unsafe fn recvmsg(fd: RawFd, msg: *mut libc::msghdr, flags: c_int) -> Result<usize> {
    // SAFETY: the caller vouches for `msg` and everything it points to.
    unsafe { syscall3(nr::RECVMSG, fd_arg(fd), msg as usize, flags as usize) }
}

#[inline]
pub(crate) unsafe fn sendmmsg(
    fd: RawFd,
    msgs: *mut libc::mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> Result<usize> {
    // SAFETY: the caller vouches for `msgs[..vlen]` and everything they point to.
    unsafe {
        syscall4(
            nr::SENDMMSG,
            fd_arg(fd),
            msgs as usize,
            vlen as usize,
            flags as usize,
        )
    }
}

#[inline]
pub(crate) unsafe fn recvmmsg(
    fd: RawFd,
    msgs: *mut libc::mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> Result<usize> {
    // SAFETY: the caller vouches for `msgs[..vlen]`, everything they point to, and `timeout`.
    unsafe {
        syscall5(
            nr::RECVMMSG,
            fd_arg(fd),
            msgs as usize,
            vlen as usize,
            flags as usize,
            timeout as usize,
        )
    }
}

#[inline]
pub(crate) unsafe fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: RawFd,
    offset: i64,
) -> Result<*mut c_void> {
    // SAFETY: the caller vouches that the mapping does not replace memory still in use.
    unsafe {
        syscall6(
            nr::MMAP,
            addr as usize,
            len,
            prot as usize,
            flags as usize,
            fd_arg(fd),
            offset as usize,
        )
    }
    .map(|p| p as *mut c_void)
}

#[inline]
pub(crate) unsafe fn munmap(addr: *mut c_void, len: usize) -> Result<()> {
    // SAFETY: the caller vouches that nothing uses the range any more.
    unsafe { syscall2(nr::MUNMAP, addr as usize, len) }.map(drop)
}

#[inline]
pub(crate) unsafe fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> Result<()> {
    // SAFETY: the caller vouches that the advice is sound for the range (MADV_DONTNEED and
    // MADV_FREE discard contents).
    unsafe { syscall3(nr::MADVISE, addr as usize, len, advice as usize) }.map(drop)
}

#[inline]
pub(crate) fn eventfd2(initval: c_uint, flags: c_int) -> Result<RawFd> {
    // SAFETY: plain values only.
    unsafe { syscall2(nr::EVENTFD2, initval as usize, flags as usize) }.map(as_fd)
}

#[inline]
pub(crate) fn timerfd_create(clockid: c_int, flags: c_int) -> Result<RawFd> {
    // SAFETY: plain values only.
    unsafe { syscall2(nr::TIMERFD_CREATE, clockid as usize, flags as usize) }.map(as_fd)
}

#[inline]
pub(crate) fn timerfd_settime(
    fd: RawFd,
    flags: c_int,
    new: &libc::itimerspec,
) -> Result<libc::itimerspec> {
    let mut old = MaybeUninit::<libc::itimerspec>::zeroed();
    // SAFETY: the kernel reads `new` and writes one `itimerspec` into `old`.
    unsafe {
        syscall4(
            nr::TIMERFD_SETTIME,
            fd_arg(fd),
            flags as usize,
            new as *const libc::itimerspec as usize,
            old.as_mut_ptr() as usize,
        )
    }?;
    // SAFETY: zero-initialised and filled by the kernel.
    Ok(unsafe { old.assume_init() })
}

#[inline]
pub(crate) fn timerfd_gettime(fd: RawFd) -> Result<libc::itimerspec> {
    let mut cur = MaybeUninit::<libc::itimerspec>::zeroed();
    // SAFETY: the kernel writes one `itimerspec` into `cur`.
    unsafe { syscall2(nr::TIMERFD_GETTIME, fd_arg(fd), cur.as_mut_ptr() as usize) }?;
    // SAFETY: zero-initialised and filled by the kernel.
    Ok(unsafe { cur.assume_init() })
}

#[inline]
pub(crate) fn epoll_create1(flags: c_int) -> Result<RawFd> {
    // SAFETY: plain values only.
    unsafe { syscall1(nr::EPOLL_CREATE1, flags as usize) }.map(as_fd)
}

#[inline]
pub(crate) fn epoll_ctl(
    epfd: RawFd,
    op: c_int,
    fd: RawFd,
    event: Option<&libc::epoll_event>,
) -> Result<()> {
    let ev = event.map_or(0, |e| e as *const libc::epoll_event as usize);
    // SAFETY: the kernel reads one `epoll_event` at `ev` (null for EPOLL_CTL_DEL).
    unsafe { syscall4(nr::EPOLL_CTL, fd_arg(epfd), op as usize, fd_arg(fd), ev) }.map(drop)
}

#[inline]
pub(crate) fn epoll_wait(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout_ms: c_int,
) -> Result<usize> {
    let max = events.len().min(c_int::MAX as usize);
    // SAFETY: the kernel writes at most `max` events into `events`; a null sigmask makes
    // epoll_pwait an epoll_wait (the generic syscall table has only the former).
    unsafe {
        syscall6(
            nr::EPOLL_PWAIT,
            fd_arg(epfd),
            events.as_mut_ptr() as usize,
            max,
            timeout_ms as usize,
            0,
            0,
        )
    }
}

#[inline]
pub(crate) fn epoll_pwait2(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout: Option<&libc::timespec>,
) -> Result<usize> {
    let max = events.len().min(c_int::MAX as usize);
    let t = timeout.map_or(0, |t| t as *const libc::timespec as usize);
    // SAFETY: the kernel writes at most `max` events and reads one timespec at `t` (or none).
    unsafe {
        syscall6(
            nr::EPOLL_PWAIT2,
            fd_arg(epfd),
            events.as_mut_ptr() as usize,
            max,
            t,
            0,
            0,
        )
    }
}

#[inline]
pub(crate) fn signalfd4(fd: RawFd, mask: u64, flags: c_int) -> Result<RawFd> {
    // SAFETY: the kernel reads an 8-byte signal set at `&mask`.
    unsafe {
        syscall4(
            nr::SIGNALFD4,
            fd_arg(fd),
            &mask as *const u64 as usize,
            KERNEL_SIGSET_SIZE,
            flags as usize,
        )
    }
    .map(as_fd)
}

#[inline]
pub(crate) fn rt_sigprocmask(how: c_int, set: Option<u64>) -> Result<u64> {
    let mut old: u64 = 0;
    let set_ptr = set.as_ref().map_or(0, |s| s as *const u64 as usize);
    // SAFETY: the kernel reads an 8-byte set at `set_ptr` (or none) and writes one into `old`.
    unsafe {
        syscall4(
            nr::RT_SIGPROCMASK,
            how as usize,
            set_ptr,
            &mut old as *mut u64 as usize,
            KERNEL_SIGSET_SIZE,
        )
    }?;
    Ok(old)
}

#[inline]
pub(crate) fn memfd_create(name: &CStr, flags: c_uint) -> Result<RawFd> {
    // SAFETY: `name` is NUL-terminated.
    unsafe { syscall2(nr::MEMFD_CREATE, name.as_ptr() as usize, flags as usize) }.map(as_fd)
}

#[inline]
pub(crate) fn pidfd_open(pid: libc::pid_t, flags: c_uint) -> Result<RawFd> {
    // SAFETY: plain values only.
    unsafe { syscall2(nr::PIDFD_OPEN, pid as usize, flags as usize) }.map(as_fd)
}

#[inline]
pub(crate) fn pidfd_send_signal(pidfd: RawFd, sig: c_int, flags: c_uint) -> Result<()> {
    // SAFETY: a null siginfo makes the kernel build one as kill(2) would.
    unsafe {
        syscall4(
            nr::PIDFD_SEND_SIGNAL,
            fd_arg(pidfd),
            sig as usize,
            0,
            flags as usize,
        )
    }
    .map(drop)
}

#[inline]
pub(crate) fn pidfd_getfd(pidfd: RawFd, targetfd: RawFd, flags: c_uint) -> Result<RawFd> {
    // SAFETY: plain values only.
    unsafe {
        syscall3(
            nr::PIDFD_GETFD,
            fd_arg(pidfd),
            fd_arg(targetfd),
            flags as usize,
        )
    }
    .map(as_fd)
}

#[inline]
pub(crate) fn waitid(
    idtype: libc::idtype_t,
    id: libc::id_t,
    options: c_int,
) -> Result<libc::siginfo_t> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: the kernel writes one `siginfo_t` into `info`; a null rusage is allowed.
    unsafe {
        syscall5(
            nr::WAITID,
            idtype as usize,
            id as usize,
            info.as_mut_ptr() as usize,
            options as usize,
            0,
        )
    }?;
    // SAFETY: zero-initialised (so `si_pid` is 0 when WNOHANG found nothing) and filled by
    // the kernel otherwise.
    Ok(unsafe { info.assume_init() })
}

#[inline]
pub(crate) fn splice(
    fd_in: RawFd,
    off_in: Option<&mut i64>,
    fd_out: RawFd,
    off_out: Option<&mut i64>,
    len: usize,
    flags: c_uint,
) -> Result<usize> {
    let pi = off_in.map_or(0, |o| o as *mut i64 as usize);
    let po = off_out.map_or(0, |o| o as *mut i64 as usize);
    // SAFETY: the kernel reads and updates one `loff_t` at each non-null offset pointer.
    unsafe {
        syscall6(
            nr::SPLICE,
            fd_arg(fd_in),
            pi,
            fd_arg(fd_out),
            po,
            len,
            flags as usize,
        )
    }
}

#[inline]
pub(crate) fn tee(fd_in: RawFd, fd_out: RawFd, len: usize, flags: c_uint) -> Result<usize> {
    // SAFETY: plain values only.
    unsafe { syscall4(nr::TEE, fd_arg(fd_in), fd_arg(fd_out), len, flags as usize) }
}

#[inline]
pub(crate) unsafe fn vmsplice(fd: RawFd, bufs: &[IoVec<'_>], flags: c_uint) -> Result<usize> {
    // SAFETY: the caller vouches that the pages stay unmodified while the pipe references them.
    unsafe {
        syscall4(
            nr::VMSPLICE,
            fd_arg(fd),
            bufs.as_ptr() as usize,
            bufs.len(),
            flags as usize,
        )
    }
}

#[inline]
pub(crate) unsafe fn io_uring_setup(entries: u32, params: *mut c_void) -> Result<RawFd> {
    // SAFETY: the caller vouches for `params` (a `struct io_uring_params`).
    unsafe { syscall2(nr::IO_URING_SETUP, entries as usize, params as usize) }.map(as_fd)
}

#[inline]
pub(crate) unsafe fn io_uring_enter(
    fd: RawFd,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    arg: *const c_void,
    argsz: usize,
) -> Result<u32> {
    // SAFETY: the caller vouches for the rings and for `arg`.
    unsafe {
        syscall6(
            nr::IO_URING_ENTER,
            fd_arg(fd),
            to_submit as usize,
            min_complete as usize,
            flags as usize,
            arg as usize,
            argsz,
        )
    }
    .map(|n| n as u32)
}

#[inline]
pub(crate) unsafe fn io_uring_register(
    fd: RawFd,
    opcode: u32,
    arg: *const c_void,
    nr_args: u32,
) -> Result<usize> {
    // SAFETY: the caller vouches for `arg`.
    unsafe {
        syscall4(
            nr::IO_URING_REGISTER,
            fd_arg(fd),
            opcode as usize,
            arg as usize,
            nr_args as usize,
        )
    }
}

#[inline]
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: no arguments; getpid cannot fail.
    unsafe { crate::raw::syscall0(nr::GETPID) }.map_or(0, |p| p as libc::pid_t)
}

#[inline]
pub(crate) fn gettid() -> libc::pid_t {
    // SAFETY: no arguments; gettid cannot fail.
    unsafe { crate::raw::syscall0(nr::GETTID) }.map_or(0, |p| p as libc::pid_t)
}

#[inline]
pub(crate) fn tgkill(tgid: libc::pid_t, tid: libc::pid_t, sig: c_int) -> Result<()> {
    // SAFETY: plain values only.
    unsafe { syscall3(nr::TGKILL, tgid as usize, tid as usize, sig as usize) }.map(drop)
}
