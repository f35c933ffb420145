//! Descriptor calls against the real kernel: pipes, memfds, fcntl, fstat, close.

mod common;
use common::own;
use std::os::fd::AsRawFd;
use zcall::{Errno, IoVec, IoVecMut};

#[test]
fn pipe_read_write_and_eof() {
    let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    let (r, w) = (own(r), own(w));
    assert_eq!(zcall::write(w.as_raw_fd(), b"hello").unwrap(), 5);
    let mut buf = [0u8; 16];
    assert_eq!(zcall::read(r.as_raw_fd(), &mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    drop(w);
    assert_eq!(
        zcall::read(r.as_raw_fd(), &mut buf).unwrap(),
        0,
        "EOF is Ok(0)"
    );
}

#[test]
fn empty_buffers_never_enter_the_kernel() {
    // -1 would be EBADF if the kernel were asked.
    assert_eq!(zcall::read(-1, &mut []), Ok(0));
    assert_eq!(zcall::write(-1, &[]), Ok(0));
    assert_eq!(zcall::read(-1, &mut [0u8; 1]), Err(Errno::EBADF));
    assert_eq!(zcall::write(-1, b"x"), Err(Errno::EBADF));
}

#[test]
fn pipe2_flags_are_applied() {
    let [r, w] = zcall::pipe2(libc::O_CLOEXEC | libc::O_NONBLOCK).unwrap();
    let (r, _w) = (own(r), own(w));
    assert_eq!(
        zcall::fcntl(r.as_raw_fd(), libc::F_GETFD, 0).unwrap() & libc::FD_CLOEXEC,
        libc::FD_CLOEXEC
    );
    assert_ne!(
        zcall::fcntl(r.as_raw_fd(), libc::F_GETFL, 0).unwrap() & libc::O_NONBLOCK,
        0
    );
    let e = zcall::read(r.as_raw_fd(), &mut [0u8; 4]).unwrap_err();
    assert_eq!(e, Errno::EAGAIN);
    assert!(e.is_would_block());
    assert_eq!(zcall::pipe2(-1), Err(Errno::EINVAL));
}

#[test]
fn vectored_io_keeps_order() {
    let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    let (r, w) = (own(r), own(w));
    let n = zcall::writev(
        w.as_raw_fd(),
        &[IoVec::new(b"ab"), IoVec::new(b""), IoVec::new(b"cde")],
    )
    .unwrap();
    assert_eq!(n, 5);
    let (mut x, mut y) = ([0u8; 3], [0u8; 8]);
    let n = zcall::readv(
        r.as_raw_fd(),
        &mut [IoVecMut::new(&mut x), IoVecMut::new(&mut y)],
    )
    .unwrap();
    assert_eq!(n, 5);
    assert_eq!(&x, b"abc");
    assert_eq!(&y[..2], b"de");
    assert_eq!(zcall::writev(-1, &[IoVec::new(b"a")]), Err(Errno::EBADF));
}

#[test]
#[cfg(target_os = "linux")]
fn positioned_io_on_a_memfd() {
    let fd = own(zcall::memfd_create(c"zcall-pio", libc::MFD_CLOEXEC).unwrap());
    let fd = fd.as_raw_fd();
    assert_eq!(zcall::pwrite(fd, b"0123456789", 0).unwrap(), 10);
    let mut b = [0u8; 4];
    assert_eq!(zcall::pread(fd, &mut b, 3).unwrap(), 4);
    assert_eq!(&b, b"3456");
    assert_eq!(
        zcall::pwritev(fd, &[IoVec::new(b"AB"), IoVec::new(b"C")], 8).unwrap(),
        3
    );
    let (mut p, mut q) = ([0u8; 2], [0u8; 3]);
    assert_eq!(
        zcall::preadv(fd, &mut [IoVecMut::new(&mut p), IoVecMut::new(&mut q)], 6).unwrap(),
        5
    );
    assert_eq!((&p, &q), (b"67", b"ABC"));
    // The file offset never moved: a plain read starts at 0.
    assert_eq!(zcall::read(fd, &mut b).unwrap(), 4);
    assert_eq!(&b, b"0123");
    assert_eq!(zcall::pread(fd, &mut b, -1), Err(Errno::EINVAL));
}

#[test]
#[cfg(target_os = "linux")]
fn preadv2_and_pwritev2_take_flags() {
    testkit::skip_unless_syscall!("pwritev2");
    let fd = own(zcall::memfd_create(c"zcall-pio2", libc::MFD_CLOEXEC).unwrap());
    let fd = fd.as_raw_fd();
    assert_eq!(zcall::pwritev2(fd, &[IoVec::new(b"zy")], 0, 0).unwrap(), 2);
    let mut one = [0u8; 1];
    assert_eq!(
        zcall::preadv2(fd, &mut [IoVecMut::new(&mut one)], 1, 0).unwrap(),
        1
    );
    assert_eq!(&one, b"y");
    // An unknown RWF_* flag is refused.
    let bad = zcall::preadv2(fd, &mut [IoVecMut::new(&mut one)], 0, 0x4000_0000);
    assert_eq!(bad, Err(Errno::EOPNOTSUPP));
}

#[test]
#[cfg(target_os = "linux")]
fn ftruncate_and_fstat() {
    let fd = own(zcall::memfd_create(c"zcall-size", libc::MFD_CLOEXEC).unwrap());
    zcall::ftruncate(fd.as_raw_fd(), 12345).unwrap();
    let st = zcall::fstat(fd.as_raw_fd()).unwrap();
    assert_eq!(st.st_size, 12345);
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFREG);
    assert_eq!(zcall::ftruncate(fd.as_raw_fd(), -1), Err(Errno::EINVAL));
    assert_eq!(zcall::fstat(-1).unwrap_err(), Errno::EBADF);
    let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    let (r, _w) = (own(r), own(w));
    assert_eq!(
        zcall::fstat(r.as_raw_fd()).unwrap().st_mode & libc::S_IFMT,
        libc::S_IFIFO
    );
}

#[test]
#[cfg(target_os = "linux")]
fn fcntl_admits_integer_commands_only() {
    let [r, w] = zcall::pipe2(0).unwrap();
    let (r, _w) = (own(r), own(w));
    let fd = r.as_raw_fd();
    assert_eq!(
        zcall::fcntl(fd, libc::F_GETFD, 0).unwrap() & libc::FD_CLOEXEC,
        0
    );
    zcall::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC).unwrap();
    assert_eq!(
        zcall::fcntl(fd, libc::F_GETFD, 0).unwrap(),
        libc::FD_CLOEXEC
    );
    let dup = own(zcall::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100).unwrap());
    assert!(dup.as_raw_fd() >= 100);
    assert!(zcall::fcntl(fd, libc::F_GETPIPE_SZ, 0).unwrap() >= 4096);
    // Pointer-argument commands are refused before the kernel.
    assert_eq!(zcall::fcntl(fd, libc::F_GETLK, 0), Err(Errno::EINVAL));
    assert_eq!(zcall::fcntl(-1, libc::F_GETFD, 0), Err(Errno::EBADF));
}

#[test]
fn close_reports_ebadf() {
    let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    // SAFETY: created here, closed once.
    unsafe { zcall::close(r) }.unwrap();
    // SAFETY: created here, closed once.
    unsafe { zcall::close(w) }.unwrap();
    // SAFETY: -1 is no descriptor at all; nothing is closed.
    assert_eq!(unsafe { zcall::close(-1) }, Err(Errno::EBADF));
}
