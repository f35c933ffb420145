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
