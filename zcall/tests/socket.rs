//! Socket calls against the real kernel: a loopback TCP pair, UDP, Unix pairs, options,
//! single and batch messages, and the error paths.
#![cfg(target_os = "linux")]

mod common;
use common::{bytes_of, int, loopback4, own, port_of};
use std::os::fd::{AsRawFd, OwnedFd};
use zcall::{Errno, IoVec, IoVecMut};

const NB: i32 = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// A listening socket on 127.0.0.1 and its port.
fn listener() -> (OwnedFd, u16) {
    let l = own(zcall::socket(libc::AF_INET, libc::SOCK_STREAM | NB, 0).unwrap());
    zcall::setsockopt(l.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, &int(1)).unwrap();
    zcall::bind(l.as_raw_fd(), bytes_of(&loopback4(0))).unwrap();
    zcall::listen(l.as_raw_fd(), 16).unwrap();
    let mut addr = [0u8; 128];
    let len = zcall::getsockname(l.as_raw_fd(), &mut addr).unwrap();
    assert_eq!(len, std::mem::size_of::<libc::sockaddr_in>());
    (l, port_of(&addr))
}

/// Waits (bounded) until `fd` is ready for `events`, through poll(2) from libc.
fn wait_for(fd: i32, events: i16) {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 10_000) };
    assert_eq!(n, 1, "descriptor {fd} not ready within the bound");
}

fn tcp_pair() -> (OwnedFd, OwnedFd) {
    let (l, port) = listener();
    let c = own(zcall::socket(libc::AF_INET, libc::SOCK_STREAM | NB, 0).unwrap());
    match zcall::connect(c.as_raw_fd(), bytes_of(&loopback4(port))) {
        Ok(()) => {}
        Err(e) => assert!(e.is_in_progress(), "{e}"),
    }
    wait_for(l.as_raw_fd(), libc::POLLIN);
    let mut peer = [0u8; 128];
    let (s, len) = zcall::accept4(l.as_raw_fd(), Some(&mut peer), NB).unwrap();
    assert_eq!(len, std::mem::size_of::<libc::sockaddr_in>());
    wait_for(c.as_raw_fd(), libc::POLLOUT);
    let mut err = [0u8; 4];
    zcall::getsockopt(c.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR, &mut err).unwrap();
    assert_eq!(i32::from_ne_bytes(err), 0);
    // The peer address the listener saw is the client's own address.
    let mut own_addr = [0u8; 128];
    zcall::getsockname(c.as_raw_fd(), &mut own_addr).unwrap();
    assert_eq!(port_of(&own_addr), port_of(&peer));
    (c, own(s))
}

#[test]
fn tcp_loopback_send_recv_and_names() {
    let (c, s) = tcp_pair();
    let mut name = [0u8; 128];
    let n = zcall::getpeername(s.as_raw_fd(), &mut name).unwrap();
    assert_eq!(n, 16);
    assert_eq!(
        zcall::send(c.as_raw_fd(), b"ping", libc::MSG_NOSIGNAL).unwrap(),
        4
    );
    wait_for(s.as_raw_fd(), libc::POLLIN);
    let mut buf = [0u8; 8];
    assert_eq!(zcall::recv(s.as_raw_fd(), &mut buf, 0).unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(zcall::recv(s.as_raw_fd(), &mut buf, 0), Err(Errno::EAGAIN));
    zcall::shutdown(c.as_raw_fd(), libc::SHUT_WR).unwrap();
    wait_for(s.as_raw_fd(), libc::POLLIN);
    assert_eq!(
        zcall::recv(s.as_raw_fd(), &mut buf, 0).unwrap(),
        0,
        "orderly shutdown reads as EOF"
    );
}

#[test]
fn send_after_peer_close_is_epipe_not_sigpipe() {
    let (c, s) = tcp_pair();
    drop(s);
    sends_end_in_epipe(c.as_raw_fd(), |fd| {
        zcall::send(fd, &[0u8; 1024], libc::MSG_NOSIGNAL)
    });
}

/// Sends with `send` to a peer that has closed: the first may be accepted before the RST
/// arrives, but a bounded number must end in EPIPE or ECONNRESET, and MSG_NOSIGNAL keeps
/// the process alive.
fn sends_end_in_epipe(fd: i32, mut send: impl FnMut(i32) -> zcall::Result<usize>) {
    let mut seen = None;
    for _ in 0..1000 {
        match send(fd) {
            Ok(_) => wait_for(fd, libc::POLLOUT | libc::POLLERR),
            Err(e) => {
                seen = Some(e);
                break;
            }
        }
    }
    let e = seen.expect("an error within 1000 sends");
    assert!(e == Errno::EPIPE || e == Errno::ECONNRESET, "{e}");
}

/// `sendv` sends its buffers in order as one stream write, and with `MSG_NOSIGNAL` a
/// closed peer is an error, not a signal.
#[test]
fn sendv_gathers_in_order_and_takes_its_flags() {
    let (c, s) = tcp_pair();
    let parts = [&b"head:"[..], &b""[..], &b"body"[..]];
    let iov = parts.map(zcall::IoVec::new);
    assert_eq!(
        zcall::sendv(c.as_raw_fd(), &iov, libc::MSG_NOSIGNAL).unwrap(),
        9
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while got.len() < 9 {
        wait_for(s.as_raw_fd(), libc::POLLIN);
        let n = zcall::recv(s.as_raw_fd(), &mut buf, 0).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"head:body");
    assert_eq!(
        zcall::sendv(c.as_raw_fd(), &[], libc::MSG_NOSIGNAL).unwrap(),
        0
    );
    drop(s);
    sends_end_in_epipe(c.as_raw_fd(), |fd| {
        let iov = [
            zcall::IoVec::new(&[1u8; 512]),
            zcall::IoVec::new(&[2u8; 512]),
        ];
        zcall::sendv(fd, &iov, libc::MSG_NOSIGNAL)
    });
}

#[test]
fn accept_on_an_empty_queue_would_block_and_connect_can_be_refused() {
    let (l, port) = listener();
    assert_eq!(
        zcall::accept4(l.as_raw_fd(), None, NB).unwrap_err(),
        Errno::EAGAIN
    );
    assert_eq!(
        zcall::accept(l.as_raw_fd(), None).unwrap_err(),
        Errno::EAGAIN
    );
    drop(l);
    // Nobody listens on the port now.
    let c = own(zcall::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0).unwrap());
    assert_eq!(
        zcall::connect(c.as_raw_fd(), bytes_of(&loopback4(port))),
        Err(Errno::ECONNREFUSED)
    );
}

#[test]
fn udp_sendto_recvfrom() {
    let a = own(zcall::socket(libc::AF_INET, libc::SOCK_DGRAM | NB, 0).unwrap());
    let b = own(zcall::socket(libc::AF_INET, libc::SOCK_DGRAM | NB, 0).unwrap());
    zcall::bind(a.as_raw_fd(), bytes_of(&loopback4(0))).unwrap();
    zcall::bind(b.as_raw_fd(), bytes_of(&loopback4(0))).unwrap();
    let (mut aa, mut ba) = ([0u8; 16], [0u8; 16]);
    zcall::getsockname(a.as_raw_fd(), &mut aa).unwrap();
    zcall::getsockname(b.as_raw_fd(), &mut ba).unwrap();
    assert_eq!(zcall::sendto(a.as_raw_fd(), b"dgram", 0, &ba).unwrap(), 5);
    wait_for(b.as_raw_fd(), libc::POLLIN);
    let mut buf = [0u8; 16];
    let mut from = [0u8; 128];
    let (n, len) = zcall::recvfrom(b.as_raw_fd(), &mut buf, 0, &mut from).unwrap();
    assert_eq!((n, len), (5, 16));
    assert_eq!(&from[..16], &aa);
    // A truncated datagram with MSG_TRUNC reports its real length.
    zcall::sendto(a.as_raw_fd(), b"0123456789", 0, &ba).unwrap();
    wait_for(b.as_raw_fd(), libc::POLLIN);
    let mut small = [0u8; 4];
    let (n, _) = zcall::recvfrom(b.as_raw_fd(), &mut small, libc::MSG_TRUNC, &mut from).unwrap();
    assert_eq!(n, 10);
    // Unconnected send has no destination.
    assert_eq!(
        zcall::send(a.as_raw_fd(), b"x", 0),
        Err(Errno::EDESTADDRREQ)
    );
    assert_eq!(
        zcall::recvfrom(b.as_raw_fd(), &mut buf, 0, &mut from).unwrap_err(),
        Errno::EAGAIN
    );
}

#[test]
fn socket_errors() {
    assert_eq!(
        zcall::socket(9999, libc::SOCK_STREAM, 0),
        Err(Errno::EAFNOSUPPORT)
    );
    assert_eq!(zcall::bind(-1, bytes_of(&loopback4(0))), Err(Errno::EBADF));
    let [r, w] = zcall::pipe2(libc::O_CLOEXEC).unwrap();
    let (r, _w) = (own(r), own(w));
    assert_eq!(zcall::listen(r.as_raw_fd(), 1), Err(Errno::ENOTSOCK));
    let s = own(zcall::socket(libc::AF_INET, libc::SOCK_STREAM | NB, 0).unwrap());
    assert_eq!(zcall::bind(s.as_raw_fd(), &[0u8; 3]), Err(Errno::EINVAL));
    let mut v = [0u8; 4];
    assert_eq!(
        zcall::getsockopt(s.as_raw_fd(), libc::SOL_SOCKET, 12345, &mut v),
        Err(Errno::ENOPROTOOPT)
    );
    assert_eq!(
        zcall::getpeername(s.as_raw_fd(), &mut [0u8; 16]),
        Err(Errno::ENOTCONN)
    );
    // Pointer-carrying options are refused without a syscall (even on a bad descriptor).
    assert_eq!(
        zcall::getsockopt(-1, libc::IPPROTO_TCP, 35, &mut [0u8; 64]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn socketpair_and_msg_calls() {
    let [a, b] = zcall::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM | NB, 0).unwrap();
    let (a, b) = (own(a), own(b));
    let parts = [IoVec::new(b"scatter "), IoVec::new(b"gather")];
    let mut msg: libc::msghdr = unsafe_zeroed_msghdr();
    msg.msg_iov = parts.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = parts.len();
    assert_eq!(
        // SAFETY: `msg` names two live iovecs and no address or control data.
        unsafe { zcall::sendmsg(a.as_raw_fd(), &msg, 0) }.unwrap(),
        14
    );
    let mut buf = [0u8; 32];
    let mut bufs = [IoVecMut::new(&mut buf)];
    let mut rmsg: libc::msghdr = unsafe_zeroed_msghdr();
    rmsg.msg_iov = bufs.as_mut_ptr().cast();
    rmsg.msg_iovlen = 1;
    assert_eq!(
        // SAFETY: `rmsg` names one live, writable iovec.
        unsafe { zcall::recvmsg(b.as_raw_fd(), &mut rmsg, 0) }.unwrap(),
        14
    );
    assert_eq!(&buf[..14], b"scatter gather");
}

fn unsafe_zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is pointers and integers; all-zero is a valid, empty header.
    unsafe { std::mem::zeroed() }
}

#[test]
fn batch_send_and_receive() {
    let a = own(zcall::socket(libc::AF_INET, libc::SOCK_DGRAM | NB, 0).unwrap());
    let b = own(zcall::socket(libc::AF_INET, libc::SOCK_DGRAM | NB, 0).unwrap());
    zcall::bind(b.as_raw_fd(), bytes_of(&loopback4(0))).unwrap();
    let mut ba = [0u8; 16];
    zcall::getsockname(b.as_raw_fd(), &mut ba).unwrap();
    let payloads: [&[u8]; 3] = [b"one", b"two!", b"three"];
    let iovs: Vec<IoVec<'_>> = payloads.iter().map(|p| IoVec::new(p)).collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter()
        .map(|iov| {
            let mut h = unsafe_zeroed_msghdr();
            h.msg_name = ba.as_ptr() as *mut libc::c_void;
            h.msg_namelen = 16;
            h.msg_iov = iov as *const IoVec<'_> as *mut libc::iovec;
            h.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            }
        })
        .collect();
    // SAFETY: three headers, each naming a live address and one live iovec.
    let sent = unsafe { zcall::sendmmsg(a.as_raw_fd(), msgs.as_mut_ptr(), 3, 0) }.unwrap();
    assert_eq!(sent, 3);
    assert_eq!(
        msgs.iter().map(|m| m.msg_len).collect::<Vec<_>>(),
        [3, 4, 5]
    );

    wait_for(b.as_raw_fd(), libc::POLLIN);
    let mut store = [[0u8; 16]; 4];
    let mut riovs: Vec<IoVecMut<'_>> = store.iter_mut().map(|s| IoVecMut::new(s)).collect();
    let mut rmsgs: Vec<libc::mmsghdr> = riovs
        .iter_mut()
        .map(|iov| {
            let mut h = unsafe_zeroed_msghdr();
            h.msg_iov = iov as *mut IoVecMut<'_> as *mut libc::iovec;
            h.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            }
        })
        .collect();
    // SAFETY: four headers, each naming one live, writable iovec; no timeout.
    let got = unsafe {
        zcall::recvmmsg(
            b.as_raw_fd(),
            rmsgs.as_mut_ptr(),
            4,
            0,
            std::ptr::null_mut(),
        )
    }
    .unwrap();
    assert_eq!(got, 3);
    let lens: Vec<u32> = rmsgs.iter().take(3).map(|m| m.msg_len).collect();
    drop(rmsgs);
    drop(riovs);
    assert_eq!(lens, [3, 4, 5]);
    assert_eq!(&store[2][..5], b"three");
}
