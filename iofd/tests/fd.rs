//! Fd against the real kernel: I/O, flags, clone, close, std traits, and a descriptor that
//! is not open.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use iofd::Fd;
use iox::ErrorKind;

#[test]
fn pipe_io_and_end_of_input() {
    let [r, w] = Fd::pipe().unwrap();
    assert_eq!(w.write(b"abc").unwrap(), 3);
    assert_eq!(
        w.writev(&[IoSlice::new(b"de"), IoSlice::new(b"f")])
            .unwrap(),
        3
    );
    let (mut x, mut y) = ([0u8; 2], [0u8; 8]);
    assert_eq!(
        r.readv(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap(),
        6
    );
    assert_eq!((&x, &y[..4]), (b"ab", &b"cdef"[..]));
    let e = r.read(&mut y).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::WouldBlock, Some(zcall::Errno::EAGAIN))
    );
    assert_eq!(r.read(&mut []).unwrap(), 0, "an empty buffer is not a read");
    w.close().unwrap();
    assert_eq!(r.read(&mut y).unwrap(), 0, "end of input");
}

#[test]
fn flags_round_trip() {
    let [r, _w] = Fd::pipe().unwrap();
    assert!(r.is_nonblocking().unwrap() && r.is_cloexec().unwrap());
    r.set_nonblocking(false).unwrap();
    assert!(!r.is_nonblocking().unwrap());
    r.set_nonblocking(true).unwrap();
    assert!(r.is_nonblocking().unwrap());
    r.set_cloexec(false).unwrap();
    assert!(!r.is_cloexec().unwrap());
    r.set_cloexec(true).unwrap();
    assert!(r.is_cloexec().unwrap());
}

#[test]
fn clone_shares_the_file_and_std_traits_work() {
    let [r, w] = Fd::pipe().unwrap();
    let w2 = w.try_clone().unwrap();
    assert_ne!(w2.raw(), w.raw());
    assert!(w2.is_cloexec().unwrap());
    (&w2).write_all(b"via clone").unwrap();
    drop(w2);
    let mut buf = [0u8; 9];
    (&r).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"via clone");
    let io_err = Read::read(&mut &r, &mut buf).unwrap_err();
    assert_eq!(io_err.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(
        io_err.raw_os_error(),
        Some(libc::EAGAIN),
        "no allocation on the way: an OS error"
    );
    drop(w);
}

#[test]
fn owned_fd_conversions() {
    let [r, w] = Fd::pipe().unwrap();
    let raw = r.as_raw_fd();
    let owned: OwnedFd = r.into();
    assert_eq!(owned.as_raw_fd(), raw);
    let back = Fd::from(owned);
    let n = back.into_raw_fd();
    // SAFETY: `n` came from into_raw_fd just above and is owned by nothing else.
    let again = unsafe { Fd::from_raw_fd(n) };
    assert_eq!(again.raw(), raw);
    drop(w);
}

#[test]
fn a_descriptor_that_is_not_open_reports_closed() {
    // A number far above anything this test process has open.
    let n = 1 << 20;
    // SAFETY: the number is not open; the `Fd` is only used for calls that fail with EBADF
    // and is consumed by `close`, which reports EBADF instead of asserting in a drop.
    let fd = unsafe { Fd::from_raw_fd(n) };
    let mut buf = [0u8; 4];
    for e in [
        fd.read(&mut buf).unwrap_err(),
        fd.write(b"x").unwrap_err(),
        fd.set_nonblocking(true).unwrap_err(),
        fd.is_cloexec().unwrap_err(),
        fd.try_clone().unwrap_err(),
    ] {
        assert_eq!(
            (e.kind(), e.errno()),
            (ErrorKind::Closed, Some(zcall::Errno::EBADF)),
            "{e}"
        );
    }
    assert_eq!(fd.close().unwrap_err().kind(), ErrorKind::Closed);
}
