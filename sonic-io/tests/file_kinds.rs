//! A `File` drives only descriptors that are always ready: `File::add` and `File::open`
//! refuse a socket, a pipe or a character device with `InvalidInput` (such a descriptor is
//! never registered with the poller, so its parked operations would wait forever), close
//! what they refused, and accept a regular file.

use std::os::fd::OwnedFd;

use sonic_io::{ErrorKind, File, Io};
use testkit::no_fd_leak;

fn refused(io: &mut Io, fd: OwnedFd, what: &str) {
    let e = File::add(io, iofd::Fd::from(fd)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
    assert!(
        e.to_string().contains("not a regular file"),
        "{what}: the error says why: {e}"
    );
    assert_eq!(io.objects(), 0, "{what}: nothing was added");
}

#[test]
fn file_add_refuses_a_socket_and_a_pipe_and_closes_them() {
    // Counting descriptors needs a process of its own (tests run in parallel).
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let mut io = Io::new().unwrap();
            let [a, _b] = sock::UnixConn::pair().unwrap();
            refused(&mut io, OwnedFd::from(a), "a Unix stream socket");
            let udp = sock::UdpConn::bind("127.0.0.1:0").unwrap();
            refused(&mut io, OwnedFd::from(udp), "a UDP socket");
            let [r, w] = iofd::Fd::pipe().unwrap();
            refused(&mut io, OwnedFd::from(r), "a pipe's read end");
            refused(&mut io, OwnedFd::from(w), "a pipe's write end");
            let null = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .unwrap();
            refused(&mut io, OwnedFd::from(null), "a character device");
        })
    });
}

#[test]
fn file_open_refuses_a_fifo_and_file_add_takes_a_regular_file() {
    let mut io = Io::new().unwrap();
    let dir = std::env::temp_dir().join(format!("sonic-io-file-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut opts = std::fs::OpenOptions::new();
    // Read and write, so opening the FIFO does not wait for a peer.
    opts.read(true).write(true);
    let e = File::open(&mut io, &fifo, &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    let path = dir.join("regular");
    std::fs::write(&path, b"hello").unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let f = File::add(&mut io, iofd::Fd::from(OwnedFd::from(f))).unwrap();
    let got = std::rc::Rc::new(std::cell::RefCell::new(None));
    let g = got.clone();
    f.async_read(&mut io, vec![0u8; 16], move |_, r, buf| {
        *g.borrow_mut() = Some(buf[..r.unwrap()].to_vec())
    })
    .unwrap();
    io.run_pending().unwrap();
    assert_eq!(got.borrow().as_deref(), Some(&b"hello"[..]));
    f.close(&mut io).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
