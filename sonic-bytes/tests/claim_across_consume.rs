//! A claim stays valid while the data before it is consumed: `claim; consume; commit`
//! publishes what was written into the claim, in every buffer.
//!
//! Before the fix, a `consume` that emptied a `ByteBuffer` or a `MirroredBuffer` rewound
//! the write position while a claim was outstanding, so the following `commit` published
//! the bytes at the rewound position (the old, already consumed bytes) instead of the ones
//! just written.

use sonic_bytes::{BipBuffer, ByteBuffer, Fifo};

/// `claim(3) "old"; commit; claim(3) "new"; consume(3); commit(3)` must leave exactly
/// "new" readable; then the buffer goes on working normally.
fn old_then_new<F: Fifo>(b: &mut F) {
    b.claim(3).copy_from_slice(b"old");
    assert_eq!(b.commit(3), 3);
    b.claim(3).copy_from_slice(b"new");
    assert_eq!(b.consume(3), 3, "the old bytes are consumed");
    assert_eq!(b.len(), 0);
    assert_eq!(b.commit(3), 3, "the claim survived the consume");
    assert_eq!(
        b.data(),
        b"new",
        "the claimed bytes are published, not the old ones"
    );
    assert_eq!(b.len(), 3);

    // Once the claim is committed an emptying consume may rewind again: the next bytes
    // still come out whole and in order.
    assert_eq!(b.consume(3), 3);
    assert!(b.is_empty());
    b.claim(4).copy_from_slice(b"next");
    assert_eq!(b.commit(4), 4);
    assert_eq!(b.data(), b"next");
}

/// A partial commit of a claim that outlived an emptying consume publishes its prefix.
fn partial_commit_after_emptying<F: Fifo>(b: &mut F) {
    b.claim(5).copy_from_slice(b"abcde");
    b.commit(5);
    b.claim(4).copy_from_slice(b"wxyz");
    assert_eq!(b.consume(10), 5);
    assert_eq!(b.commit(2), 2);
    assert_eq!(b.data(), b"wx");
}

#[test]
fn byte_buffer_claim_survives_an_emptying_consume() {
    old_then_new(&mut ByteBuffer::with_capacity(16));
    partial_commit_after_emptying(&mut ByteBuffer::with_capacity(16));
}

/// With a save area the rewind target is the end of the save area, not 0: same rule.
#[test]
fn byte_buffer_with_a_save_area_claim_survives_an_emptying_consume() {
    let mut b = ByteBuffer::with_capacity(32);
    b.claim(4).copy_from_slice(b"keep");
    b.commit(4);
    let slot = b.save(4);
    old_then_new(&mut b);
    assert_eq!(b.saved_slot(slot), b"keep", "the save area is untouched");
}

#[test]
fn bip_buffer_claim_survives_an_emptying_consume() {
    old_then_new(&mut BipBuffer::new(16));
    partial_commit_after_emptying(&mut BipBuffer::new(16));
}

// Not under Miri, which cannot map memory twice: the ring arithmetic it would check is the
// `Ring` unit test in `src/mirrored.rs`, which Miri runs.
#[test]
#[cfg(all(
    any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"),
    not(miri)
))]
fn mirrored_buffer_claim_survives_an_emptying_consume() {
    old_then_new(&mut sonic_bytes::MirroredBuffer::new(4096).unwrap());
    partial_commit_after_emptying(&mut sonic_bytes::MirroredBuffer::new(4096).unwrap());
}

/// Compaction (by `save`) moves an outstanding claim's bytes along with the data.
#[test]
fn byte_buffer_claim_survives_compaction_by_save() {
    let mut b = ByteBuffer::with_capacity(8);
    b.claim(6).copy_from_slice(b"abcdef");
    b.commit(6);
    assert_eq!(b.consume(4), 4);
    b.claim(2).copy_from_slice(b"XY");
    let slot = b.save(1); // compacts "ef" + the claim down to the start
    assert_eq!(b.saved_slot(slot), b"e");
    assert_eq!(b.commit(2), 2);
    assert_eq!(b.data(), b"fXY");
}

/// `discard` moves the bytes after a slot down, an outstanding claim's included.
#[test]
fn byte_buffer_claim_survives_a_discard() {
    let mut b = ByteBuffer::with_capacity(16);
    b.claim(5).copy_from_slice(b"saved");
    b.commit(5);
    let slot = b.save(5);
    b.claim(4).copy_from_slice(b"data");
    b.commit(4);
    b.claim(3).copy_from_slice(b"new");
    b.discard(slot);
    assert!(b.saved().is_empty());
    assert_eq!(b.commit(3), 3);
    assert_eq!(b.data(), b"datanew");
}

/// `reserve` (compaction, then growth) keeps an outstanding claim's bytes.
#[test]
fn byte_buffer_claim_survives_reserve() {
    let mut b = ByteBuffer::with_capacity(8);
    b.claim(5).copy_from_slice(b"abcde");
    b.commit(5);
    b.consume(3);
    b.claim(3).copy_from_slice(b"xyz");
    b.reserve(100).unwrap();
    assert_eq!(b.commit(3), 3);
    assert_eq!(b.data(), b"dexyz");
}
