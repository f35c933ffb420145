//! TCP: every listen/dial form, non-blocking dial, the dialer's outcomes, deadlines, std
//! interop (the faults: `faults_*.rs`).

mod common;
use common::{BOUND, soon, tcp_pair};

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use sock::{
    Deadline, ErrorKind, Family, ListenOptions, SockaddrAny, TcpConn, TcpDialer, TcpListener,
};

#[test]
fn listen_and_dial_every_form() {
    for (listen, v6) in [("127.0.0.1:0", false), ("[::1]:0", true)] {
        let l = TcpListener::bind(listen).unwrap();
        let a = l.local_addr().unwrap();
        assert_eq!(matches!(a, SockaddrAny::Inet6(_)), v6);
        let dialer = TcpDialer {
            timeout: Some(BOUND),
            nodelay: true,
            ..Default::default()
        };
        let c = if v6 {
            dialer.dial6(a).unwrap()
        } else {
            dialer.dial4(a).unwrap()
        };
        assert!(c.nodelay().unwrap());
        l.set_read_deadline(soon());
        let (s, peer) = l.accept().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        assert_eq!(c.peer_addr().unwrap(), a);
        assert_eq!(s.domain(), if v6 { libc::AF_INET6 } else { libc::AF_INET });
    }
    // By std address and by kernel address.
    let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let port = l.local_addr().unwrap().as_socket().unwrap().port();
    let c = TcpDialer {
        timeout: Some(BOUND),
        ..Default::default()
    }
    .dial(sock::SockaddrInet4::new(Ipv4Addr::LOCALHOST, port))
    .unwrap();
    assert!(c.poll_connected().unwrap());
    // By host name (through the resolver).
    let by_name = TcpDialer {
        timeout: Some(BOUND),
        ..Default::default()
    }
    .dial4(format!("localhost:{port}"))
    .unwrap();
    assert!(by_name.poll_connected().unwrap());
}

#[test]
fn family_restrictions_are_errors_not_surprises() {
    let e = TcpListener::bind4("[::1]:0").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressFamilyNotSupported);
    let e = TcpListener::bind6("127.0.0.1:0").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressFamilyNotSupported);
    assert_eq!(
        TcpConn::connect("/tmp/x.sock").unwrap_err().kind(),
        ErrorKind::AddressFamilyNotSupported
    );
    let e = TcpDialer {
        local: Some("[::1]:0".parse().unwrap()),
        ..Default::default()
    }
    .dial("127.0.0.1:1")
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        TcpListener::bind("not an address").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn non_blocking_dial_returns_before_the_handshake() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpConn::connect(l.local_addr().unwrap()).unwrap();
    // Either still in progress or already done on loopback; the first write succeeds once
    // connected (or says WouldBlock while in progress).
    let start = Instant::now();
    loop {
        match c.write(b"first") {
            Ok(n) => {
                assert_eq!(n, 5);
                break;
            }
            Err(e) if e.is_would_block() => assert!(start.elapsed() < BOUND),
            Err(e) => panic!("{e}"),
        }
    }
    l.set_read_deadline(soon());
    let (s, _) = l.accept().unwrap();
    s.set_read_deadline(soon());
    let mut b = [0u8; 5];
    assert_eq!(s.read(&mut b).unwrap(), 5);
}

#[test]
fn accept_read_and_write_deadlines() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    // No deadline: at once.
    assert!(l.accept().unwrap_err().is_would_block());
    // In the past: one attempt, then TimedOut.
    l.set_read_deadline(Deadline::at(Instant::now() - Duration::from_secs(1)));
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::TimedOut);
    // Short: TimedOut, not before the deadline.
    let short = Duration::from_millis(30);
    let due = Instant::now() + short;
    l.set_read_deadline(Deadline::at(due));
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::TimedOut);
    assert!(Instant::now() >= due, "TimedOut before the deadline");
    // Cleared: non-blocking again.
    l.set_read_deadline(Deadline::NONE);
    assert!(l.accept().unwrap_err().is_would_block());

    let (c, s) = tcp_pair();
    let mut b = [0u8; 8];
    s.set_read_deadline(Deadline::after(short));
    assert_eq!(s.read(&mut b).unwrap_err().kind(), ErrorKind::TimedOut);
    // Data that arrives while the read waits completes it.
    s.set_read_deadline(soon());
    let writer = std::thread::spawn(move || {
        std::thread::yield_now();
        c.write_all(b"late").unwrap();
        c
    });
    assert_eq!(s.read(&mut b).unwrap(), 4);
    let c = writer.join().unwrap();
    // A full send buffer under a short write deadline times out.
    sock::opt::set_send_buffer_size(&c, 4096).unwrap();
    c.set_write_deadline(Deadline::after(short));
    let chunk = [0u8; 65536];
    let e = loop {
        if let Err(e) = c.write(&chunk) {
            break e;
        }
    };
    assert_eq!(e.kind(), ErrorKind::TimedOut);
}

#[test]
fn vectored_peek_shutdown_and_std_traits() {
    let (c, s) = tcp_pair();
    assert_eq!(
        c.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
            .unwrap(),
        4
    );
    let mut p = [0u8; 4];
    assert_eq!(s.peek(&mut p).unwrap(), 4);
    let (mut x, mut y) = ([0u8; 1], [0u8; 3]);
    assert_eq!(
        s.read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap(),
        4
    );
    assert_eq!((&x, &y), (b"a", b"bcd"));
    Write::write_all(&mut &c, b"std").unwrap();
    let mut b = [0u8; 3];
    (&s).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"std");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(s.read(&mut b).unwrap(), 0, "end of stream");
    assert_eq!(s.read(&mut []).unwrap(), 0);
}

#[test]
fn std_interop_both_ways() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let ours = sock::TcpListener::try_from(l).unwrap();
    assert!(ours.fd().is_nonblocking().unwrap());
    assert_eq!(ours.local_addr().unwrap().as_socket(), Some(addr));
    let std_client = std::net::TcpStream::connect(addr).unwrap();
    let client = TcpConn::try_from(std_client).unwrap();
    assert_eq!(
        (client.domain(), client.socket_type()),
        (libc::AF_INET, libc::SOCK_STREAM)
    );
    ours.set_read_deadline(soon());
    let (srv, _) = ours.accept().unwrap();
    let mut std_srv = std::net::TcpStream::from(srv);
    std_srv.set_nonblocking(false).unwrap();
    client.set_write_deadline(soon());
    client.write_all(b"to std").unwrap();
    let mut b = [0u8; 6];
    std_srv.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"to std");
    let back = std::net::TcpListener::from(ours);
    assert_eq!(back.local_addr().unwrap(), addr);
}

#[test]
fn dual_stack_and_reuse_port() {
    let l = TcpListener::bind_with(
        "[::]:0",
        Family::V6,
        ListenOptions {
            only_v6: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!sock::opt::only_v6(&l).unwrap());
    let port = l.local_addr().unwrap().as_socket().unwrap().port();
    let c = TcpDialer {
        timeout: Some(BOUND),
        ..Default::default()
    }
    .dial(("127.0.0.1:".to_owned() + &port.to_string()).as_str());
    assert!(c.is_ok(), "an IPv4 client reaches a dual-stack listener");
    l.set_read_deadline(soon());
    let (_s, peer) = l.accept().unwrap();
    assert!(peer.to_string().starts_with("[::ffff:127.0.0.1]"), "{peer}");

    // A busy port refuses a second listener unless both ask for SO_REUSEPORT.
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let e = TcpListener::bind(a.local_addr().unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressInUse);
    let shared = ListenOptions {
        reuse_port: true,
        ..Default::default()
    };
    let b1 = TcpListener::bind_with("127.0.0.1:0", Family::V4, shared).unwrap();
    let b2 = TcpListener::bind_with(b1.local_addr().unwrap(), Family::V4, shared).unwrap();
    assert_eq!(b1.local_addr().unwrap(), b2.local_addr().unwrap());
}

#[test]
fn raw_descriptor_escape_hatches() {
    let (c, s) = tcp_pair();
    let fd = c.with_fd(|fd| std::os::fd::AsRawFd::as_raw_fd(&fd));
    assert_eq!(fd, std::os::fd::AsRawFd::as_raw_fd(&c));
    let mut tries = 0;
    let n = s
        .read_with(|fd| {
            tries += 1;
            if tries == 1 {
                c.write_all(b"x").unwrap();
            }
            let mut b = [0u8; 1];
            Ok(zcall::recv(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &mut b,
                0,
            )?)
        })
        .unwrap();
    assert_eq!(n, 1);
    s.set_read_deadline(Deadline::NONE);
    let r: sock::Result<()> = s.read_with(|_| Err(sock::Error::WOULD_BLOCK));
    assert!(r.unwrap_err().is_would_block(), "no deadline: at once");
}

/// `TCP_NODELAY` set on a listener is inherited by the connections it accepts (Linux copies
/// the listener's socket state into each child), so a server sets it once. Without it a
/// server's reply may wait for the client's delayed ACK (40 ms) before its last segment.
#[cfg(target_os = "linux")]
#[test]
fn accepted_connections_inherit_nodelay_from_the_listener() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    sock::opt::set_nodelay(&l, true).unwrap();
    let addr = l.local_addr().unwrap();
    let _c = std::net::TcpStream::connect(addr.to_string()).unwrap();
    let (a, _) = l.accept().unwrap();
    assert!(
        a.nodelay().unwrap(),
        "the accepted connection has TCP_NODELAY"
    );
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let _d = std::net::TcpStream::connect(plain.local_addr().unwrap().to_string()).unwrap();
    let (b, _) = plain.accept().unwrap();
    assert!(!b.nodelay().unwrap(), "and not without it");
}
