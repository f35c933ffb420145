//! A sock socket goes through tokio's AsyncFd and mio's registry, and comes back.
#![cfg(target_os = "linux")]

mod common;
use common::tcp_pair;

use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn tokio_async_fd_round_trip() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap();
    let (c, s) = tcp_pair();
    s.set_read_deadline(iox::Deadline::NONE);
    rt.block_on(async {
        // SAFETY: a TcpConn owns its descriptor for its whole life and always reports the
        // same one.
        let afd = unsafe { tokio::io::unix::AsyncFd::register(s) }.unwrap();
        let reader = async {
            let mut buf = [0u8; 5];
            loop {
                let mut guard = afd.readable().await.unwrap();
                match guard
                    .try_io(|inner| inner.get_ref().read(&mut buf).map_err(std::io::Error::from))
                {
                    Ok(r) => return (r.unwrap(), buf),
                    Err(_would_block) => continue,
                }
            }
        };
        c.write_all(b"tokio").unwrap();
        let (n, buf) = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"tokio");
        let s = afd.into_inner();
        assert!(s.fd().is_nonblocking().unwrap(), "comes back as it went in");
    });
}

#[test]
fn mio_source_fd_round_trip() {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    let (c, s) = tcp_pair();
    s.set_read_deadline(iox::Deadline::NONE);
    let mut poll = Poll::new().unwrap();
    let raw = s.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&raw), Token(7), Interest::READABLE)
        .unwrap();
    c.write_all(b"mio").unwrap();
    let mut events = Events::with_capacity(4);
    let mut got = 0;
    for _ in 0..100 {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        if events
            .iter()
            .any(|e| e.token() == Token(7) && e.is_readable())
        {
            let mut b = [0u8; 3];
            got = s.read(&mut b).unwrap();
            break;
        }
    }
    assert_eq!(got, 3);
    poll.registry().deregister(&mut SourceFd(&raw)).unwrap();
}
