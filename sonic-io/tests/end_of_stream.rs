//! End of stream is never lost: the edge that brings the last bytes may also bring the
//! FIN (`EPOLLIN | EPOLLRDHUP` in one event), and no later edge will come. "Read closed" is
//! sticky state, apart from the "readable" mark that a short read clears.

mod common;
use common::{run_until, slot};

use std::io::Write;
use std::net::Shutdown;

use sonic_io::{Io, TcpStream, UnixStream};

/// Reads with `async_read` of `chunk` bytes, chaining the next read from the callback,
/// until end of stream; returns the sizes each read completed with.
/// The first read is armed before `peer` runs, so the edge that brings the data (and the
/// FIN) is taken by a wait, not found by a read submitted later.
fn read_chain<C: sonic_io::StreamSock>(
    io: &mut Io,
    s: sonic_io::Stream<C>,
    chunk: usize,
    peer: impl FnOnce(),
) -> Vec<usize> {
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let done = slot::<()>();
    fn next<C: sonic_io::StreamSock>(
        io: &mut Io,
        s: sonic_io::Stream<C>,
        chunk: usize,
        got: std::rc::Rc<std::cell::RefCell<Vec<usize>>>,
        done: std::rc::Rc<std::cell::RefCell<Option<()>>>,
    ) {
        s.async_read(io, vec![0u8; chunk], move |io, r, _| {
            let n = r.unwrap();
            got.borrow_mut().push(n);
            if n == 0 {
                *done.borrow_mut() = Some(());
            } else {
                next(io, s, chunk, got, done);
            }
        })
        .unwrap();
    }
    next(io, s, chunk, got.clone(), done.clone());
    assert_eq!(
        io.pending(),
        1,
        "nothing to read yet: the first read is armed"
    );
    peer();
    run_until(io, || done.borrow().is_some());
    got.take()
}

#[test]
fn a_fin_in_the_same_edge_as_the_last_bytes_ends_the_stream_after_a_short_read() {
    // The reproduction: the peer writes 5,000 bytes and shuts down its write side
    // before the Io waits, so one edge carries both; reads of 4096 get 4096, 904, then 0.
    let mut io = Io::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mine, _) = l.accept().unwrap();
    let s = TcpStream::add(&mut io, sock::TcpConn::try_from(mine).unwrap()).unwrap();
    let got = read_chain(&mut io, s, 4096, || {
        peer.write_all(&[7u8; 5000]).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(got, [4096, 904, 0]);
}

#[test]
fn end_of_stream_after_a_short_read_on_a_unix_stream() {
    let mut io = Io::new().unwrap();
    let [a, b] = sock::UnixConn::pair().unwrap();
    let s = UnixStream::add(&mut io, b).unwrap();
    let got = read_chain(&mut io, s, 64, || {
        a.write_all_blocking(&[1u8; 100]);
        a.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(got, [64, 36, 0]);
}

#[test]
fn end_of_stream_reaches_a_read_armed_after_the_short_read_completed() {
    // The FIN edge already came and went while no read was armed; the read armed later
    // must still see it (the mark is sticky).
    let mut io = Io::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mine, _) = l.accept().unwrap();
    let s = TcpStream::add(&mut io, sock::TcpConn::try_from(mine).unwrap()).unwrap();
    let first = slot();
    let f = first.clone();
    s.async_read(&mut io, vec![0u8; 3], move |_, r, _| {
        *f.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    peer.write_all(b"abcde").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    run_until(&mut io, || first.borrow().is_some());
    assert_eq!(first.take(), Some(3));
    let second = slot();
    let f = second.clone();
    s.async_read(&mut io, vec![0u8; 16], move |_, r, _| {
        *f.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    assert_eq!(
        second.take(),
        Some(2),
        "the rest was there: a short read, inline"
    );
    // Let the loop take every event there is before the next read is armed.
    while io.poll_one().unwrap() > 0 {}
    let eof = slot();
    let e = eof.clone();
    s.async_read(&mut io, vec![0u8; 16], move |_, r, _| {
        *e.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || eof.borrow().is_some());
    assert_eq!(eof.take(), Some(0));
}

trait WriteAllBlocking {
    fn write_all_blocking(&self, b: &[u8]);
}

impl WriteAllBlocking for sock::UnixConn {
    fn write_all_blocking(&self, mut b: &[u8]) {
        while !b.is_empty() {
            let n = self.write(b).unwrap();
            b = &b[n..];
        }
    }
}
