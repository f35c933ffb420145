//! Adapters: lending the user's stream, driving it with `async_drive`, and codecs over an
//! adapter through the byte-stream seam.

mod common;
use common::{run_until, slot};

use sonic_io::codec::{CodecConn, Frame};
use sonic_io::{Adapter, ByteStream, ErrorKind, Io};

#[test]
fn get_and_get_mut_lend_the_stream_inside() {
    // `get` always failed with `Closed` before: the boxed stream was itself taken for the
    // adapter's `T` and the downcast missed.
    let mut io = Io::new().unwrap();
    let [a, _b] = sock::UnixConn::pair().unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&a);
    let ad = Adapter::new(&mut io, a).unwrap();
    assert_eq!(std::os::fd::AsRawFd::as_raw_fd(ad.get(&io).unwrap()), fd);
    assert_eq!(
        std::os::fd::AsRawFd::as_raw_fd(ad.get_mut(&mut io).unwrap()),
        fd
    );
    // Refused while an operation holds the stream.
    ad.async_read(&mut io, vec![0u8; 4], |_, _, _| {}).unwrap();
    assert_eq!(
        ad.get_mut(&mut io).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(ad.get(&io).is_ok());
    assert_eq!(ad.cancel(&mut io).unwrap(), 1);
    assert!(ad.get_mut(&mut io).is_ok());
}

#[test]
fn async_drive_retries_on_edges_until_the_call_succeeds() {
    let mut io = Io::new().unwrap();
    let [a, b] = sock::UnixConn::pair().unwrap();
    let ad = Adapter::new(&mut io, a).unwrap();
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let c = calls.clone();
    let done = slot();
    let d = done.clone();
    ad.async_drive(
        &mut io,
        move |s: &mut sock::UnixConn| {
            c.set(c.get() + 1);
            let mut two = [0u8; 2];
            match s.peek(&mut two)? {
                2 => Ok(()),
                _ => Err(iox::Error::WOULD_BLOCK),
            }
        },
        move |_, r| *d.borrow_mut() = Some(r),
    )
    .unwrap();
    assert_eq!(calls.get(), 1, "tried at once");
    assert!(done.borrow().is_none());
    assert_eq!(io.pending(), 1);
    // A write is refused while the drive holds the write direction.
    assert!(ad.async_write(&mut io, b"x", |_, _, _| {}).is_err());
    b.write_all(b"a").unwrap();
    run_until(&mut io, || calls.get() >= 2);
    assert!(done.borrow().is_none(), "one byte is not enough");
    b.write_all(b"b").unwrap();
    run_until(&mut io, || done.borrow().is_some());
    assert_eq!(done.take(), Some(Ok(())));
    assert_eq!(io.pending(), 0);

    // Cancelled once on close.
    let done = slot();
    let d = done.clone();
    ad.async_drive(
        &mut io,
        |_: &mut sock::UnixConn| Err(iox::Error::WOULD_BLOCK),
        move |_, r| *d.borrow_mut() = Some(r.unwrap_err().kind()),
    )
    .unwrap();
    ad.close(&mut io).unwrap();
    assert_eq!(done.take(), Some(ErrorKind::Cancelled));
    assert_eq!(io.pending(), 0);
}

#[test]
fn a_codec_runs_over_an_adapter_through_the_byte_stream_seam() {
    let mut io = Io::new().unwrap();
    let [a, b] = sock::UnixConn::pair().unwrap();
    let a = Adapter::new(&mut io, a).unwrap();
    let b = Adapter::new(&mut io, b).unwrap();
    assert_ne!(a.stream_id(), b.stream_id());
    let mut tx = CodecConn::new(a, Frame::default());
    let rx = CodecConn::new(b, Frame::default());
    let got = slot();
    let g = got.clone();
    rx.async_read_next(&mut io, move |_, r, mut rx| {
        r.unwrap();
        *g.borrow_mut() = Some(rx.item().unwrap().unwrap().to_vec());
    })
    .unwrap();
    assert_eq!(tx.write_next(&mut io, &b"framed"[..]).unwrap(), 0);
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(got.take().unwrap(), b"framed");
    assert_eq!(tx.into_next_layer(), a);
}
