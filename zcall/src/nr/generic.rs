//! System-call numbers of the asm-generic table (`include/uapi/asm-generic/unistd.h`), shared
//! by Linux aarch64, riscv64 and loongarch64. Each is checked against `libc::SYS_*` in the
//! crate's tests.
//!
//! The generic table has no `epoll_wait` (only `epoll_pwait`); loongarch64 kernels before
//! 6.11 lack `fstat`, so zcall uses `statx` there.
#![allow(missing_docs)]

pub const EVENTFD2: usize = 19;
pub const EPOLL_CREATE1: usize = 20;
pub const EPOLL_CTL: usize = 21;
pub const EPOLL_PWAIT: usize = 22;
pub const FCNTL: usize = 25;
pub const FTRUNCATE: usize = 46;
pub const CLOSE: usize = 57;
pub const PIPE2: usize = 59;
pub const READ: usize = 63;
pub const WRITE: usize = 64;
pub const READV: usize = 65;
pub const WRITEV: usize = 66;
pub const PREAD64: usize = 67;
pub const PWRITE64: usize = 68;
pub const PREADV: usize = 69;
pub const PWRITEV: usize = 70;
pub const SIGNALFD4: usize = 74;
pub const VMSPLICE: usize = 75;
pub const SPLICE: usize = 76;
pub const TEE: usize = 77;
pub const FSTAT: usize = 80;
pub const TIMERFD_CREATE: usize = 85;
pub const TIMERFD_SETTIME: usize = 86;
pub const TIMERFD_GETTIME: usize = 87;
pub const WAITID: usize = 95;
pub const TGKILL: usize = 131;
pub const RT_SIGPROCMASK: usize = 135;
pub const GETPID: usize = 172;
pub const GETTID: usize = 178;
pub const SOCKET: usize = 198;
pub const SOCKETPAIR: usize = 199;
pub const BIND: usize = 200;
pub const LISTEN: usize = 201;
pub const ACCEPT: usize = 202;
pub const CONNECT: usize = 203;
pub const GETSOCKNAME: usize = 204;
pub const GETPEERNAME: usize = 205;
pub const SENDTO: usize = 206;
pub const RECVFROM: usize = 207;
pub const SETSOCKOPT: usize = 208;
pub const GETSOCKOPT: usize = 209;
pub const SHUTDOWN: usize = 210;
pub const SENDMSG: usize = 211;
pub const RECVMSG: usize = 212;
pub const MUNMAP: usize = 215;
pub const MMAP: usize = 222;
pub const MADVISE: usize = 233;
pub const ACCEPT4: usize = 242;
pub const RECVMMSG: usize = 243;
pub const SENDMMSG: usize = 269;
pub const MEMFD_CREATE: usize = 279;
pub const PREADV2: usize = 286;
pub const PWRITEV2: usize = 287;
pub const STATX: usize = 291;
pub const PIDFD_SEND_SIGNAL: usize = 424;
pub const IO_URING_SETUP: usize = 425;
pub const IO_URING_ENTER: usize = 426;
pub const IO_URING_REGISTER: usize = 427;
pub const PIDFD_OPEN: usize = 434;
pub const PIDFD_GETFD: usize = 438;
pub const EPOLL_PWAIT2: usize = 441;
