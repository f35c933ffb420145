//! Descriptor passing and credentials over Unix sockets (a cut control buffer:
//! `faults_truncation.rs`).

use std::os::fd::{AsFd, OwnedFd};

use sock::UnixConn;

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
