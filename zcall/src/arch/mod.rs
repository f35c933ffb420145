//! Inline-asm syscall entry points, one file per architecture, and the matching number table.

#[cfg(target_arch = "x86_64")]
#[path = "x86_64.rs"]
mod imp;
#[cfg(target_arch = "aarch64")]
#[path = "aarch64.rs"]
mod imp;
#[cfg(target_arch = "riscv64")]
#[path = "riscv64.rs"]
mod imp;
#[cfg(target_arch = "loongarch64")]
#[path = "loongarch64.rs"]
mod imp;

#[cfg(target_arch = "x86_64")]
#[path = "../nr/x86_64.rs"]
pub mod nr;
#[cfg(not(target_arch = "x86_64"))]
#[path = "../nr/generic.rs"]
pub mod nr;

pub(crate) use imp::*;

#[cfg(test)]
mod tests {
    use super::nr;

    /// Every number this crate issues matches the C library's table for the architecture.
    #[test]
    fn numbers_match_libc() {
        let pairs: &[(usize, libc::c_long, &str)] = &[
            (nr::READ, libc::SYS_read, "read"),
            (nr::WRITE, libc::SYS_write, "write"),
            (nr::CLOSE, libc::SYS_close, "close"),
            #[cfg(not(target_arch = "loongarch64"))]
            (nr::FSTAT, libc::SYS_fstat, "fstat"),
            (nr::MMAP, libc::SYS_mmap, "mmap"),
            (nr::MUNMAP, libc::SYS_munmap, "munmap"),
            (nr::MADVISE, libc::SYS_madvise, "madvise"),
            (
                nr::RT_SIGPROCMASK,
                libc::SYS_rt_sigprocmask,
                "rt_sigprocmask",
            ),
            (nr::PREAD64, libc::SYS_pread64, "pread64"),
            (nr::PWRITE64, libc::SYS_pwrite64, "pwrite64"),
            (nr::READV, libc::SYS_readv, "readv"),
            (nr::WRITEV, libc::SYS_writev, "writev"),
            (nr::PREADV, libc::SYS_preadv, "preadv"),
            (nr::PWRITEV, libc::SYS_pwritev, "pwritev"),
            (nr::PREADV2, libc::SYS_preadv2, "preadv2"),
            (nr::PWRITEV2, libc::SYS_pwritev2, "pwritev2"),
            (nr::GETPID, libc::SYS_getpid, "getpid"),
            (nr::GETTID, libc::SYS_gettid, "gettid"),
            (nr::TGKILL, libc::SYS_tgkill, "tgkill"),
            (nr::SOCKET, libc::SYS_socket, "socket"),
            (nr::SOCKETPAIR, libc::SYS_socketpair, "socketpair"),
            (nr::BIND, libc::SYS_bind, "bind"),
            (nr::LISTEN, libc::SYS_listen, "listen"),
            (nr::ACCEPT, libc::SYS_accept, "accept"),
            (nr::ACCEPT4, libc::SYS_accept4, "accept4"),
            (nr::CONNECT, libc::SYS_connect, "connect"),
            (nr::SHUTDOWN, libc::SYS_shutdown, "shutdown"),
            (nr::GETSOCKNAME, libc::SYS_getsockname, "getsockname"),
            (nr::GETPEERNAME, libc::SYS_getpeername, "getpeername"),
            (nr::SETSOCKOPT, libc::SYS_setsockopt, "setsockopt"),
            (nr::GETSOCKOPT, libc::SYS_getsockopt, "getsockopt"),
            (nr::SENDTO, libc::SYS_sendto, "sendto"),
            (nr::RECVFROM, libc::SYS_recvfrom, "recvfrom"),
            (nr::SENDMSG, libc::SYS_sendmsg, "sendmsg"),
            (nr::RECVMSG, libc::SYS_recvmsg, "recvmsg"),
            (nr::SENDMMSG, libc::SYS_sendmmsg, "sendmmsg"),
            (nr::RECVMMSG, libc::SYS_recvmmsg, "recvmmsg"),
            (nr::FCNTL, libc::SYS_fcntl, "fcntl"),
            (nr::FTRUNCATE, libc::SYS_ftruncate, "ftruncate"),
            (nr::PIPE2, libc::SYS_pipe2, "pipe2"),
            (nr::EVENTFD2, libc::SYS_eventfd2, "eventfd2"),
            (nr::EPOLL_CREATE1, libc::SYS_epoll_create1, "epoll_create1"),
            (nr::EPOLL_CTL, libc::SYS_epoll_ctl, "epoll_ctl"),
            (nr::EPOLL_PWAIT, libc::SYS_epoll_pwait, "epoll_pwait"),
            (nr::EPOLL_PWAIT2, libc::SYS_epoll_pwait2, "epoll_pwait2"),
            (
                nr::TIMERFD_CREATE,
                libc::SYS_timerfd_create,
                "timerfd_create",
            ),
            (
                nr::TIMERFD_SETTIME,
                libc::SYS_timerfd_settime,
                "timerfd_settime",
            ),
            (
                nr::TIMERFD_GETTIME,
                libc::SYS_timerfd_gettime,
                "timerfd_gettime",
            ),
            (nr::SIGNALFD4, libc::SYS_signalfd4, "signalfd4"),
            (nr::WAITID, libc::SYS_waitid, "waitid"),
            (nr::MEMFD_CREATE, libc::SYS_memfd_create, "memfd_create"),
            (nr::PIDFD_OPEN, libc::SYS_pidfd_open, "pidfd_open"),
            (
                nr::PIDFD_SEND_SIGNAL,
                libc::SYS_pidfd_send_signal,
                "pidfd_send_signal",
            ),
            (nr::PIDFD_GETFD, libc::SYS_pidfd_getfd, "pidfd_getfd"),
            (
                nr::IO_URING_SETUP,
                libc::SYS_io_uring_setup,
                "io_uring_setup",
            ),
            (
                nr::IO_URING_ENTER,
                libc::SYS_io_uring_enter,
                "io_uring_enter",
            ),
            (
                nr::IO_URING_REGISTER,
                libc::SYS_io_uring_register,
                "io_uring_register",
            ),
            (nr::SPLICE, libc::SYS_splice, "splice"),
            (nr::TEE, libc::SYS_tee, "tee"),
            (nr::VMSPLICE, libc::SYS_vmsplice, "vmsplice"),
            #[cfg(not(target_arch = "x86_64"))]
            (nr::STATX, libc::SYS_statx, "statx"),
        ];
        for &(ours, theirs, name) in pairs {
            assert_eq!(ours, theirs as usize, "syscall number of {name}");
        }
    }
}
