//! The frame codec against a hostile peer: a header claims only what its limit allows, and
//! the receiving buffer grows with the bytes that arrive, never with what a header claims.
//! Before, a 5-byte message (`40 00 00 00` and one byte) made the receiver allocate and
//! zero 1 GiB.

mod common;
use common::{run_until, slot, unix_pair};

use sonic_io::codec::{CodecConn, DEFAULT_FRAME_LIMIT, Frame};
use sonic_io::{ErrorKind, Io};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

/// One gibibyte announced, one byte sent.
const HOSTILE: [u8; 5] = [0x40, 0, 0, 0, 1];

#[test]
fn a_header_over_the_default_limit_fails_the_read_without_reading_its_payload() {
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    let rx = CodecConn::new(b, Frame::default());
    assert_eq!(Frame::default().limit(), DEFAULT_FRAME_LIMIT);
    a.write(&mut io, &HOSTILE).unwrap();
    let got = slot();
    let g = got.clone();
    let ((), stats) = testkit::count_allocs(|| {
        rx.async_read_next(&mut io, move |_, r, _| *g.borrow_mut() = Some(r))
            .unwrap();
        run_until(&mut io, || got.borrow().is_some());
    });
    let e = got.take().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("limit"), "{e}");
    assert!(
        stats.bytes < 1 << 20,
        "{} bytes allocated for a 5-byte message",
        stats.bytes
    );
}

#[test]
fn with_a_large_limit_the_buffer_grows_with_the_data_not_with_the_header() {
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    let mut rx = CodecConn::new(b, Frame::with_limit(1 << 30));
    a.write(&mut io, &HOSTILE).unwrap();
    let ((), stats) = testkit::count_allocs(|| {
        // Non-blocking reads: the frame stays incomplete.
        for _ in 0..4 {
            let e = rx.read_next(&mut io).err().unwrap();
            assert!(e.is_would_block(), "{e}");
        }
    });
    assert!(
        stats.bytes < 1 << 20,
        "{} bytes allocated for a 5-byte message",
        stats.bytes
    );
    // The same through the async path, then the peer closes: end of stream mid-frame.
    let got = slot();
    let g = got.clone();
    let ((), stats) = testkit::count_allocs(|| {
        rx.async_read_next(&mut io, move |_, r, _| *g.borrow_mut() = Some(r))
            .unwrap();
        a.write(&mut io, &[7u8; 1000]).unwrap();
        a.shutdown(&mut io, std::net::Shutdown::Write).unwrap();
        run_until(&mut io, || got.borrow().is_some());
    });
    let e = got.take().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
    assert!(stats.bytes < 1 << 20, "{} bytes allocated", stats.bytes);
}

#[test]
fn a_large_frame_still_arrives_whole_as_its_bytes_come() {
    // 4 MiB under a 16 MiB limit, sent in one go: the buffer grows by doubling with what
    // has arrived, and the frame is read whole.
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    let mut tx = CodecConn::new(a, Frame::with_limit(16 << 20));
    let rx = CodecConn::new(b, Frame::with_limit(16 << 20));
    let payload: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 253) as u8).collect();
    let left = tx.write_next(&mut io, &payload[..]).unwrap();
    let got = slot();
    let g = got.clone();
    rx.async_read_next(&mut io, move |_, r, mut rx| {
        r.unwrap();
        *g.borrow_mut() = Some(rx.item().unwrap().unwrap().to_vec());
    })
    .unwrap();
    let wrote = slot();
    if left > 0 {
        let w = wrote.clone();
        tx.async_write_next(&mut io, &[][..], move |_, r, _| *w.borrow_mut() = Some(r))
            .ok();
    }
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(got.take().unwrap(), payload);
}

/// A `BipBuffer` as a codec's read buffer: an item cut at the buffer's wrap waits in its
/// second region, which `data()` does not show, so the codec could never decode it (a new
/// user's trial lost 7 of 20 frames of 300 B through a 4 KiB one, then got
/// `UnexpectedEof`). Both reads refuse it with `InvalidInput` naming the buffer; the same
/// frames through a `MirroredBuffer` of the same size all arrive.
#[test]
fn a_codec_refuses_a_read_buffer_that_splits_its_bytes() {
    use sonic_bytes::{BipBuffer, ByteBuffer, MirroredBuffer};
    let mut io = Io::new().unwrap();
    let (a, b) = unix_pair(&mut io);
    let mut rx = CodecConn::with_buffers(
        b,
        Frame::default(),
        BipBuffer::new(4096),
        ByteBuffer::with_capacity(64),
    );
    let Err(e) = rx.read_next(&mut io) else {
        panic!("a read through a bip buffer was taken")
    };
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("BipBuffer"), "{e}");
    let r = rx.async_read_next(&mut io, |_, _, _| panic!("never submitted"));
    let Err(rejected) = r else {
        panic!("a read through a bip buffer was submitted")
    };
    assert_eq!(rejected.error.kind(), ErrorKind::InvalidInput);
    let b = rejected.buf.into_next_layer();
    // The same stream through a mirrored buffer of 4 KiB: every frame.
    let mirrored = MirroredBuffer::new(4096).unwrap();
    let rx = CodecConn::with_buffers(b, Frame::default(), mirrored, ByteBuffer::with_capacity(64));
    let mut tx = CodecConn::new(a, Frame::default());
    for i in 0..20u8 {
        tx.write_next(&mut io, &[i; 300][..]).unwrap();
    }
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    read_frames(&mut io, rx, got.clone());
    run_until(&mut io, || got.borrow().len() == 20);
    for (i, f) in got.borrow().iter().enumerate() {
        assert_eq!(f, &vec![i as u8; 300]);
    }
}

/// Reads frames into `got` until the stream ends or fails.
fn read_frames<S, R, W>(
    io: &mut Io,
    rx: CodecConn<Frame, S, R, W>,
    got: std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
) where
    S: sonic_io::ByteStream + 'static,
    R: sonic_bytes::Fifo + 'static,
    W: sonic_bytes::Fifo + 'static,
{
    rx.async_read_next(io, move |io, r, mut rx| {
        if r.is_err() {
            return;
        }
        while let Ok(Some(item)) = rx.item() {
            got.borrow_mut().push(item.to_vec());
        }
        read_frames(io, rx, got);
    })
    .ok();
}
