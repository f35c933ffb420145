//! Descriptor passing and credentials over Unix sockets (a cut control buffer:
//! `faults_truncation.rs`).

// Half of these tests are Linux-only (credentials, pidfds, Python peers): their imports are
// unused elsewhere.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports))]

mod common;
use common::soon;

use std::io::IoSliceMut;
use std::os::fd::{AsFd, OwnedFd};

use sock::cmsg::{Cmsg, CmsgIter};

use sock::{ErrorKind, UnixConn, UnixListener};
use testkit::no_fd_leak;

#[test]
fn descriptors_arrive_usable_and_close_on_exec() {
    let [a, b] = UnixConn::pair().unwrap();
    let [r, w] = iofd::Fd::pipe().unwrap();
    assert_eq!(a.send_fds(b"fds", &[r.as_fd(), w.as_fd()]).unwrap(), 3);
    let mut buf = [0u8; 8];
    let mut fds: [Option<OwnedFd>; 4] = Default::default();
    let (n, k) = b.recv_fds(&mut buf, &mut fds).unwrap();
    assert_eq!((n, k), (3, 2));
    let got_r = iofd::Fd::from(fds[0].take().unwrap());
    let got_w = iofd::Fd::from(fds[1].take().unwrap());
    if cfg!(any(target_os = "linux", target_os = "freebsd")) {
        assert!(
            got_r.is_cloexec().unwrap() && got_w.is_cloexec().unwrap(),
            "MSG_CMSG_CLOEXEC"
        );
    }
    got_w.write(b"through a passed fd").unwrap();
    let mut b2 = [0u8; 19];
    assert_eq!(r.read(&mut b2).unwrap(), 19);
    // Empty data still carries the descriptors (one zero byte goes with them).
    assert_eq!(a.send_fds(&[], &[r.as_fd()]).unwrap(), 1);
    let (n, k) = b.recv_fds(&mut buf, &mut fds).unwrap();
    assert_eq!((n, k, buf[0]), (1, 1, 0));
}

#[test]
#[cfg(target_os = "linux")]
fn credentials_and_peer_identity() {
    let [a, b] = UnixConn::pair().unwrap();
    let me = a.peer_credentials().unwrap();
    assert_eq!(me.pid as u32, std::process::id());
    b.set_passcred(true).unwrap();
    a.write_all(b"c").unwrap();
    let mut buf = [0u8; 4];
    let mut control = sock::cmsg::CmsgBuf::<64>::new();
    let meta = b
        .recv_msg(
            &mut [std::io::IoSliceMut::new(&mut buf)],
            None,
            control.as_mut(),
        )
        .unwrap();
    let creds: Vec<_> = sock::cmsg::CmsgIter::new(&control.as_ref()[..meta.control_len])
        .filter_map(|m| match m {
            Ok(sock::cmsg::Cmsg::Credentials(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(creds, [me]);
    match a.peer_pidfd() {
        Ok(pidfd) => {
            let p = iofd::PidFd::from(pidfd);
            assert_eq!(p.pid() as u32, std::process::id());
        }
        Err(e) => eprintln!("fds: SO_PEERPIDFD not available here ({e})"),
    }
}

/// More descriptors than `recv_fds` has slots for, for every slot count up to 5 (odd counts
/// once left room in the control buffer for one more, which the kernel installed and
/// `recv_fds` then closed while returning `Ok`): the call fails, keeps none, and every
/// descriptor that arrived is closed. As many as there are slots arrive whole.
#[test]
fn more_descriptors_than_slots_are_refused_and_none_leaks() {
    testkit::in_subprocess(|| {
        let [a, b] = UnixConn::pair().unwrap();
        let [r, w] = iofd::Fd::pipe().unwrap();
        let all = [
            r.as_fd(),
            w.as_fd(),
            r.as_fd(),
            w.as_fd(),
            r.as_fd(),
            w.as_fd(),
        ];
        no_fd_leak(|| {
            for slots in 1..=5 {
                let mut fds: Vec<Option<OwnedFd>> = (0..slots).map(|_| None).collect();
                let mut buf = [0u8; 4];
                a.send_fds(b"m", &all[..slots + 1]).unwrap();
                let e = b.recv_fds(&mut buf, &mut fds).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::MessageTooLarge, "{slots} slots: {e}");
                assert!(fds.iter().all(Option::is_none), "{slots} slots: none kept");
                a.send_fds(b"m", &all[..slots]).unwrap();
                assert_eq!(b.recv_fds(&mut buf, &mut fds).unwrap(), (1, slots));
                fds.iter_mut().for_each(|f| assert!(f.take().is_some()));
            }
        });
    });
}

/// Python's `socket.send_fds` as the sender: two descriptors where one slot waits is an
/// error that leaks nothing; two where two wait arrive, and work.
#[test]
#[cfg(target_os = "linux")]
fn python_sends_more_descriptors_than_slots() {
    const PEER: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
r, w = os.pipe()
os.write(w, b"through python's pipe")
socket.send_fds(s, [b"a"], [r, w])
socket.send_fds(s, [b"b"], [r, w])
print("sent", flush=True)
sys.stdin.read()
"#;
    testkit::in_subprocess(|| {
        let path = std::env::temp_dir().join(format!("sock-{}-pyfds", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(path.to_str().unwrap()).unwrap();
        let Some(mut py) = common::python(PEER, &[path.to_str().unwrap()]) else {
            testkit::skip!("python3 is not installed: no peer for SCM_RIGHTS")
        };
        assert_eq!(common::line_from(&mut py), "sent");
        l.set_read_deadline(soon());
        let (c, _) = l.accept().unwrap();
        c.set_read_deadline(soon());
        no_fd_leak(|| {
            let mut buf = [0u8; 4];
            let mut one: [Option<OwnedFd>; 1] = Default::default();
            let e = c.recv_fds(&mut buf, &mut one).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::MessageTooLarge, "{e}");
            assert!(one[0].is_none());
            let mut two: [Option<OwnedFd>; 2] = Default::default();
            assert_eq!(c.recv_fds(&mut buf, &mut two).unwrap(), (1, 2));
            assert_eq!(buf[0], b'b');
            let r = iofd::Fd::from(two[0].take().unwrap());
            let mut got = [0u8; 21];
            assert_eq!(r.read(&mut got).unwrap(), 21);
            assert_eq!(&got, b"through python's pipe");
            drop(two);
        });
        common::finish(py);
        std::fs::remove_file(&path).unwrap();
    });
}

/// `SO_PASSPIDFD` on the receiver makes the kernel attach a pidfd of the sender to every
/// message (`SCM_PIDFD`): `recv_fds` closes it rather than leaking it.
#[test]
#[cfg(target_os = "linux")]
fn a_pidfd_the_kernel_attaches_does_not_leak_from_recv_fds() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, 76);
    testkit::in_subprocess(|| {
        let [a, b] = UnixConn::pair().unwrap();
        match b.set_passpidfd(true) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(zcall::Errno::ENOPROTOOPT) => {
                testkit::skip!("SO_PASSPIDFD needs Linux 6.5: {e}")
            }
            Err(e) => panic!("{e}"),
        }
        let [r, _w] = iofd::Fd::pipe().unwrap();
        no_fd_leak(|| {
            let mut buf = [0u8; 4];
            let mut fds: [Option<OwnedFd>; 2] = Default::default();
            a.send_fds(b"p", &[r.as_fd()]).unwrap();
            assert_eq!(b.recv_fds(&mut buf, &mut fds).unwrap(), (1, 1));
            drop(fds);
            a.write_all(b"none").unwrap();
            assert_eq!(b.recv_fds(&mut buf, &mut [None]).unwrap(), (4, 0));
            // The pidfd was there to close: recv_msg_control hands it over.
            a.send_fds(b"q", &[r.as_fd()]).unwrap();
            let mut control = sock::cmsg::CmsgBuf::<128>::new();
            let (_, mut rx) = b
                .recv_msg_control(&mut [IoSliceMut::new(&mut buf)], None, control.as_mut())
                .unwrap();
            assert!(rx.pidfd().is_some(), "SCM_PIDFD arrived");
            assert!(rx.pidfd().is_none(), "given once");
            assert_eq!(rx.rights().count(), 1);
            drop(rx);
            // recv_msg closes whatever arrived, and says so with -1.
            a.send_fds(b"r", &[r.as_fd()]).unwrap();
            let meta = b
                .recv_msg(&mut [IoSliceMut::new(&mut buf)], None, control.as_mut())
                .unwrap();
            let numbers: Vec<i32> = CmsgIter::new(&control.as_ref()[..meta.control_len])
                .flat_map(|m| match m.unwrap() {
                    Cmsg::Rights(fds) => fds.collect(),
                    Cmsg::PidFd(fd) => vec![fd],
                    _ => vec![],
                })
                .collect();
            assert_eq!(numbers, [-1, -1], "a pidfd and a descriptor, both closed");
        });
    });
}
