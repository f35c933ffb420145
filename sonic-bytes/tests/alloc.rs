//! After construction, claim / commit / consume / read_from / write_to, `ByteBuffer`'s write
//! area and `claim_fixed`, and the sequencer's push / pop, allocate nothing.

use std::io::Cursor;

use sonic_bytes::{BipBuffer, ByteBuffer, Fifo};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

/// Rounds of [`exercise`]: claim / commit, read_from, write_to, consume.
const ROUNDS: u64 = if cfg!(miri) { 20 } else { 1000 };

fn exercise<F: Fifo>(b: &mut F) {
    let src = [7u8; 100];
    let mut sink = [0u8; 4096];
    for _ in 0..ROUNDS {
        b.claim(64).fill(1);
        b.commit(64);
        b.read_from(&mut Cursor::new(&src[..]), 100).unwrap();
        let mut w = Cursor::new(&mut sink[..]);
        b.write_to(&mut w).unwrap();
        b.consume(usize::MAX);
    }
}

#[test]
fn byte_and_bip_buffers() {
    let mut bb = ByteBuffer::with_capacity(1024);
    let mut bip = BipBuffer::new(1000);
    testkit::assert_no_alloc_reported(
        "ByteBuffer and BipBuffer claim / commit / read_from / write_to / consume, one round each",
        ROUNDS,
        || {
            exercise(&mut bb);
            exercise(&mut bip);
            let s = bb.save(0);
            bb.discard(s);
        },
    );
}

#[test]
fn byte_buffer_write_area_and_claim_fixed() {
    let mut b = ByteBuffer::with_capacity(1024);
    testkit::assert_no_alloc_reported(
        "ByteBuffer write_area / advance_write / prepare_read / commit_pending / claim_fixed, one round",
        ROUNDS,
        || {
            for _ in 0..ROUNDS {
                b.write_area(64).fill(2);
                assert_eq!(b.advance_write(64), 64);
                b.write_pending(&[3; 16]).unwrap();
                assert_eq!(b.prepare_read(70).unwrap().len(), 70);
                assert_eq!(b.commit_pending(usize::MAX), 10);
                b.claim_fixed(100).unwrap().fill(4);
                b.commit(100);
                b.shrink_by(0);
                assert_eq!(b.consume(usize::MAX), 180);
            }
        },
    );
}

#[test]
fn slot_sequencer_push_and_pop() {
    let mut buf = ByteBuffer::with_capacity(4096);
    let mut seq = sonic_bytes::SlotSequencer::new(16, 4096);
    let rounds = if cfg!(miri) { 3u64 } else { 100 };
    testkit::assert_no_alloc_reported(
        "SlotSequencer push + pop of 16 slots out of order",
        rounds,
        || {
            for round in 0..rounds {
                // 16 packets of 10 bytes arrive in reverse order, then leave in order.
                for n in (0..16u64).rev() {
                    buf.claim(10).fill(n as u8);
                    buf.commit(10);
                    let slot = buf.save(10);
                    assert!(seq.push(round * 16 + n, slot).unwrap());
                }
                for n in 0..16u64 {
                    let slot = seq.pop(round * 16 + n).unwrap();
                    assert_eq!(buf.saved_slot(slot), &[n as u8; 10]);
                }
                buf.discard_all();
            }
        },
    );
}

#[test]
#[cfg(all(target_os = "linux", not(miri)))]
fn mirrored_buffer() {
    let mut m = sonic_bytes::MirroredBuffer::new(3 * 4096).unwrap();
    testkit::assert_no_alloc_reported(
        "MirroredBuffer claim / commit / read_from / write_to / consume, one round",
        ROUNDS,
        || exercise(&mut m),
    );
}
