//! Linux handles against the real kernel: eventfd, timerfd, epoll, signalfd and the signal
//! mask, memfd and mmap, pidfd and waitid, splice/tee/vmsplice, io_uring, raw syscalls.
#![cfg(target_os = "linux")]

mod common;
use common::own;
use std::os::fd::AsRawFd;
use zcall::{Errno, IoVec};

fn u64_of(b: [u8; 8]) -> u64 {
    u64::from_ne_bytes(b)
}

#[test]
fn eventfd_counter_semaphore_and_overflow() {
    let fd = own(zcall::eventfd2(3, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK).unwrap());
    let fd = fd.as_raw_fd();
    zcall::write(fd, &4u64.to_ne_bytes()).unwrap();
    let mut v = [0u8; 8];
    assert_eq!(zcall::read(fd, &mut v).unwrap(), 8);
    assert_eq!(u64_of(v), 7, "counter mode reads and resets the sum");
    assert_eq!(zcall::read(fd, &mut v), Err(Errno::EAGAIN));
    // The counter holds at most u64::MAX - 1: one more would block.
    zcall::write(fd, &(u64::MAX - 1).to_ne_bytes()).unwrap();
    assert_eq!(zcall::write(fd, &1u64.to_ne_bytes()), Err(Errno::EAGAIN));
    assert_eq!(
        zcall::write(fd, &u64::MAX.to_ne_bytes()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        zcall::read(fd, &mut [0u8; 4]),
        Err(Errno::EINVAL),
        "reads need 8 bytes"
    );

    let sem = own(zcall::eventfd2(
        2,
        libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE,
    )
    .unwrap());
    for _ in 0..2 {
        zcall::read(sem.as_raw_fd(), &mut v).unwrap();
        assert_eq!(u64_of(v), 1, "semaphore mode reads 1 at a time");
    }
    assert_eq!(zcall::read(sem.as_raw_fd(), &mut v), Err(Errno::EAGAIN));
    assert_eq!(zcall::eventfd2(0, -1), Err(Errno::EINVAL));
}

fn ts(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

#[test]
fn timerfd_arm_read_disarm_and_epoll() {
    let t = own(zcall::timerfd_create(
        libc::CLOCK_MONOTONIC,
        libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
    )
    .unwrap());
    let t = t.as_raw_fd();
    let mut v = [0u8; 8];
    assert_eq!(zcall::read(t, &mut v), Err(Errno::EAGAIN), "disarmed");
    let spec = libc::itimerspec {
        it_value: ts(0, 1_000_000),
        it_interval: ts(0, 0),
    };
    let old = zcall::timerfd_settime(t, 0, &spec).unwrap();
    assert_eq!((old.it_value.tv_sec, old.it_value.tv_nsec), (0, 0));

    let ep = own(zcall::epoll_create1(libc::EPOLL_CLOEXEC).unwrap());
    let ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 42,
    };
    zcall::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, t, Some(&ev)).unwrap();
    assert_eq!(
        zcall::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, t, Some(&ev)),
        Err(Errno::EEXIST)
    );
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    let n = zcall::epoll_wait(ep.as_raw_fd(), &mut events, 10_000).unwrap();
    assert_eq!(n, 1);
    let (flags, data) = (events[0].events, events[0].u64);
    assert_eq!((flags, data), (libc::EPOLLIN as u32, 42));
    zcall::read(t, &mut v).unwrap();
    assert_eq!(u64_of(v), 1, "one expiration");

    // Periodic, then read back the setting, then disarm.
    let periodic = libc::itimerspec {
        it_value: ts(100, 0),
        it_interval: ts(5, 0),
    };
    zcall::timerfd_settime(t, 0, &periodic).unwrap();
    let cur = zcall::timerfd_gettime(t).unwrap();
    assert_eq!(cur.it_interval.tv_sec, 5);
    assert!(cur.it_value.tv_sec <= 100 && cur.it_value.tv_sec >= 98);
    let off = libc::itimerspec {
        it_value: ts(0, 0),
        it_interval: ts(0, 0),
    };
    let prev = zcall::timerfd_settime(t, 0, &off).unwrap();
    assert_eq!(prev.it_interval.tv_sec, 5);
    assert_eq!(zcall::timerfd_gettime(t).unwrap().it_value.tv_sec, 0);
    let bad = libc::itimerspec {
        it_value: ts(0, 2_000_000_000),
        it_interval: ts(0, 0),
    };
    assert_eq!(
        zcall::timerfd_settime(t, 0, &bad).unwrap_err(),
        Errno::EINVAL
    );

    zcall::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_DEL, t, None).unwrap();
    assert_eq!(
        zcall::epoll_wait(ep.as_raw_fd(), &mut events, 0).unwrap(),
        0
    );
    assert_eq!(
        zcall::epoll_wait(ep.as_raw_fd(), &mut [], 0),
        Err(Errno::EINVAL)
    );
}

#[test]
fn epoll_pwait2_waits_with_a_nanosecond_timeout() {
    testkit::skip_unless_syscall!("epoll_pwait2");
    let ep = own(zcall::epoll_create1(libc::EPOLL_CLOEXEC).unwrap());
    let efd = own(zcall::eventfd2(1, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK).unwrap());
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
    match zcall::epoll_pwait2(ep.as_raw_fd(), &mut events, Some(&ts(0, 1000))) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) if e == Errno::ENOSYS => testkit::skip!("this kernel has no epoll_pwait2"),
        Err(e) => panic!("{e}"),
    }
    let ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 7,
    };
    zcall::epoll_ctl(
        ep.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        efd.as_raw_fd(),
        Some(&ev),
    )
    .unwrap();
    assert_eq!(
        zcall::epoll_pwait2(ep.as_raw_fd(), &mut events, None).unwrap(),
        1
    );
}

#[test]
fn signalfd_receives_a_blocked_signal() {
    testkit::skip_unless_behaviour!("self-directed signals");
    testkit::in_subprocess(|| {
        let sigusr1 = 1u64 << (libc::SIGUSR1 - 1);
        let old = zcall::rt_sigprocmask(libc::SIG_BLOCK, Some(sigusr1)).unwrap();
        assert_eq!(old & sigusr1, 0);
        assert_ne!(
            zcall::rt_sigprocmask(libc::SIG_BLOCK, None).unwrap() & sigusr1,
            0
        );
        let sfd =
            own(zcall::signalfd4(-1, sigusr1, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK).unwrap());
        let mut info = [0u8; 128];
        assert_eq!(zcall::read(sfd.as_raw_fd(), &mut info), Err(Errno::EAGAIN));
        zcall::tgkill(zcall::getpid(), zcall::gettid(), libc::SIGUSR1).unwrap();
        assert_eq!(zcall::read(sfd.as_raw_fd(), &mut info).unwrap(), 128);
        let signo = u32::from_ne_bytes(info[..4].try_into().unwrap());
        assert_eq!(signo, libc::SIGUSR1 as u32);
        let pid = u32::from_ne_bytes(info[12..16].try_into().unwrap());
        assert_eq!(pid, zcall::getpid() as u32);
        // Updating the mask of an existing signalfd returns the same descriptor.
        let both = sigusr1 | (1u64 << (libc::SIGUSR2 - 1));
        assert_eq!(
            zcall::signalfd4(sfd.as_raw_fd(), both, 0).unwrap(),
            sfd.as_raw_fd()
        );
    });
}

#[test]
fn memfd_mmap_madvise_munmap() {
    let fd = own(
        zcall::memfd_create(c"zcall-map", libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING).unwrap(),
    );
    let len = 2 * 4096;
    zcall::ftruncate(fd.as_raw_fd(), len as i64).unwrap();
    // SAFETY: a fresh shared mapping of the memfd; no fixed address.
    let p = unsafe {
        zcall::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    }
    .unwrap();
    // SAFETY: the mapping is `len` bytes, readable and writable, used only here.
    let mem = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
    mem[4096..4102].copy_from_slice(b"shared");
    let mut b = [0u8; 5];
    zcall::pread(fd.as_raw_fd(), &mut b, 4096).unwrap();
    assert_eq!(&b, b"share");
    // SAFETY: MADV_WILLNEED does not change contents.
    unsafe { zcall::madvise(p, len, libc::MADV_WILLNEED) }.unwrap();
    // SAFETY: nothing uses the mapping after this.
    unsafe { zcall::munmap(p, len) }.unwrap();
    // Seals: no more growing.
    zcall::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_GROW).unwrap();
    assert_eq!(
        zcall::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS, 0).unwrap() & libc::F_SEAL_GROW,
        libc::F_SEAL_GROW
    );
    assert_eq!(
        zcall::ftruncate(fd.as_raw_fd(), 3 * 4096),
        Err(Errno::EPERM)
    );
    // SAFETY: a zero-length mapping is refused by the kernel; nothing is mapped.
    let e = unsafe {
        zcall::mmap(
            std::ptr::null_mut(),
            0,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    assert_eq!(e.unwrap_err(), Errno::EINVAL);
    assert_eq!(
        zcall::memfd_create(c"bad", 0xffff_0000).unwrap_err(),
        Errno::EINVAL
    );
}

#[test]
fn pidfd_signal_wait_and_getfd() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pidfd = own(zcall::pidfd_open(child.id() as i32, 0).unwrap());
    zcall::pidfd_send_signal(pidfd.as_raw_fd(), libc::SIGKILL, 0).unwrap();
    let info = zcall::waitid(
        libc::P_PIDFD,
        pidfd.as_raw_fd() as libc::id_t,
        libc::WEXITED,
    )
    .unwrap();
    // SAFETY: the kernel filled a SIGCHLD siginfo.
    let pid = unsafe { info.si_pid() };
    // SAFETY: as above.
    let status = unsafe { info.si_status() };
    assert_eq!(pid, child.id() as i32);
    assert_eq!(info.si_code, libc::CLD_KILLED);
    assert_eq!(status, libc::SIGKILL);
    assert!(
        child.try_wait().is_err() || child.try_wait().unwrap().is_none(),
        "already reaped through the pidfd"
    );
    assert_eq!(
        zcall::pidfd_send_signal(pidfd.as_raw_fd(), 0, 0),
        Err(Errno::ESRCH)
    );
    assert_eq!(zcall::pidfd_open(-1, 0), Err(Errno::EINVAL));

    // A descriptor of our own process, fetched through our own pidfd.
    let me = own(zcall::pidfd_open(zcall::getpid(), 0).unwrap());
    let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    let (r, w) = (own(r), own(w));
    let dup = own(zcall::pidfd_getfd(me.as_raw_fd(), w.as_raw_fd(), 0).unwrap());
    zcall::write(dup.as_raw_fd(), b"via pidfd").unwrap();
    let mut b = [0u8; 9];
    zcall::read(r.as_raw_fd(), &mut b).unwrap();
    assert_eq!(&b, b"via pidfd");
    assert_eq!(
        zcall::pidfd_getfd(me.as_raw_fd(), 1_000_000, 0),
        Err(Errno::EBADF)
    );
}

#[test]
fn waitid_nohang_reports_nothing_yet() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let info = zcall::waitid(libc::P_PID, child.id(), libc::WEXITED | libc::WNOHANG).unwrap();
    // SAFETY: zeroed siginfo; si_pid stays 0 when nothing changed.
    assert_eq!(unsafe { info.si_pid() }, 0);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        zcall::waitid(libc::P_PID, child.id(), libc::WEXITED).unwrap_err(),
        Errno::ECHILD
    );
}

#[test]
fn splice_tee_vmsplice() {
    let [r1, w1] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    let [r2, w2] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    let (r1, w1, r2, w2) = (own(r1), own(w1), own(r2), own(w2));
    let data = *b"spliced bytes";
    // SAFETY: `data` stays untouched until it has been read below.
    let n = unsafe { zcall::vmsplice(w1.as_raw_fd(), &[IoVec::new(&data)], 0) }.unwrap();
    assert_eq!(n, data.len());
    assert_eq!(
        zcall::tee(r1.as_raw_fd(), w2.as_raw_fd(), 64, libc::SPLICE_F_NONBLOCK).unwrap(),
        n
    );
    let file = own(zcall::memfd_create(c"zcall-splice", libc::MFD_CLOEXEC).unwrap());
    let mut off = 0i64;
    let moved = zcall::splice(
        r1.as_raw_fd(),
        None,
        file.as_raw_fd(),
        Some(&mut off),
        64,
        0,
    )
    .unwrap();
    assert_eq!((moved, off), (n, n as i64));
    let mut b = [0u8; 13];
    zcall::pread(file.as_raw_fd(), &mut b, 0).unwrap();
    assert_eq!(&b, &data);
    zcall::read(r2.as_raw_fd(), &mut b).unwrap();
    assert_eq!(&b, &data, "tee left a copy in the second pipe");
    assert_eq!(
        zcall::splice(-1, None, w2.as_raw_fd(), None, 1, 0),
        Err(Errno::EBADF)
    );
}

#[test]
fn io_uring_setup_enter_register() {
    testkit::skip_unless_syscall!("io_uring_setup");
    // struct io_uring_params is 120 bytes; zeroed asks for defaults.
    let mut params = [0u64; 15];
    // SAFETY: `params` is a writable, zeroed io_uring_params.
    let fd = match unsafe { zcall::io_uring_setup(4, params.as_mut_ptr().cast()) } {
        Ok(fd) => own(fd),
        Err(e) if e == Errno::ENOSYS || e == Errno::EPERM => {
            testkit::skip!("io_uring is unavailable here ({e})")
        }
        Err(e) => panic!("{e}"),
    };
    // sq_entries (first u32 of the params) was filled in.
    assert_eq!(params[0] as u32, 4);
    assert_eq!(
        // SAFETY: nothing submitted, nothing awaited, no argument.
        unsafe { zcall::io_uring_enter(fd.as_raw_fd(), 0, 0, 0, std::ptr::null(), 0) }.unwrap(),
        0
    );
    // IORING_REGISTER_EVENTFD (4): one int, the eventfd to signal on completions.
    let efd = own(zcall::eventfd2(0, libc::EFD_CLOEXEC).unwrap());
    let raw: i32 = efd.as_raw_fd();
    // SAFETY: the argument is one live int, as the opcode expects.
    unsafe { zcall::io_uring_register(fd.as_raw_fd(), 4, (&raw as *const i32).cast(), 1) }.unwrap();
    // An unknown opcode is refused.
    // SAFETY: a null argument with zero entries; the kernel rejects the opcode first.
    let e =
        unsafe { zcall::io_uring_register(fd.as_raw_fd(), 9999, std::ptr::null(), 0) }.unwrap_err();
    assert_eq!(e, Errno::EINVAL);
    assert_eq!(
        // SAFETY: params is valid; the entry count is out of range.
        unsafe { zcall::io_uring_setup(0, params.as_mut_ptr().cast()) }.unwrap_err(),
        Errno::EINVAL
    );
}

#[test]
fn raw_syscalls_decode_errors() {
    // SAFETY: getpid takes no arguments.
    let pid = unsafe { zcall::raw::syscall0(libc::SYS_getpid as usize) }.unwrap();
    assert_eq!(pid as i32, zcall::getpid());
    assert_eq!(pid as u32, std::process::id());
    // SAFETY: close(-1) touches no memory and no descriptor.
    let e =
        unsafe { zcall::raw::syscall1(libc::SYS_close as usize, -1isize as usize) }.unwrap_err();
    assert_eq!(e, Errno::EBADF);
    assert_eq!(
        // SAFETY: an unknown syscall number touches nothing.
        unsafe { zcall::raw::syscall6(100_000, 0, 0, 0, 0, 0, 0) }.unwrap_err(),
        Errno::ENOSYS
    );
    assert_ne!(zcall::gettid(), 0);
    assert_eq!(zcall::tgkill(zcall::getpid(), zcall::gettid(), 0), Ok(()));
    assert_eq!(zcall::tgkill(zcall::getpid(), -1, 0), Err(Errno::EINVAL));
}
