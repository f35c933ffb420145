//! `ByteBuffer`'s own API beyond `Fifo`: the write area (`write_area`, `advance_write`,
//! `write_pending`, `commit_pending`), `prepare_read` and `NeedMore`, `claim_fixed`,
//! `shrink_by` / `shrink_to` and `reserve`, each checked by contents, lengths and errors.

use sonic_bytes::{ByteBuffer, DEFAULT_CAPACITY, Fifo, NeedMore};

/// A buffer with `readable` committed and `pending` written to the write area.
fn buffer(cap: usize, readable: &[u8], pending: &[u8]) -> ByteBuffer {
    let mut b = ByteBuffer::with_capacity(cap);
    b.claim(readable.len()).copy_from_slice(readable);
    b.commit(readable.len());
    b.write_pending(pending).unwrap();
    b
}

#[test]
fn new_has_the_default_capacity() {
    let b = ByteBuffer::new();
    assert_eq!(b.capacity(), DEFAULT_CAPACITY);
    assert_eq!(DEFAULT_CAPACITY, 512);
    assert!(b.is_empty());
    assert_eq!(b.pending_len(), 0);
}

#[test]
fn write_area_bytes_wait_until_committed() {
    let mut b = ByteBuffer::with_capacity(8);
    let area = b.write_area(5);
    assert_eq!(area.len(), 5);
    area.copy_from_slice(b"hello");
    assert_eq!(b.advance_write(5), 5);
    assert_eq!(b.pending_len(), 5);
    assert_eq!(b.data(), b"", "pending bytes are not readable");
    assert_eq!(b.len(), 0);
    assert_eq!(b.free(), 3, "pending bytes take space");

    assert_eq!(b.commit_pending(2), 2);
    assert_eq!(b.data(), b"he");
    assert_eq!(b.pending_len(), 3);
    assert_eq!(b.commit_pending(100), 3, "clamped to the pending bytes");
    assert_eq!(b.data(), b"hello");
    assert_eq!(b.pending_len(), 0);
    assert_eq!(b.commit_pending(1), 0);
}

#[test]
fn advance_write_in_steps_within_one_area() {
    let mut b = ByteBuffer::with_capacity(16);
    b.write_area(6).copy_from_slice(b"abcdef");
    assert_eq!(b.advance_write(2), 2);
    assert_eq!(b.advance_write(4), 4);
    assert_eq!(b.advance_write(1), 0, "the area is used up");
    assert_eq!(b.pending_len(), 6);
    b.commit_pending(6);
    assert_eq!(b.data(), b"abcdef");
}

/// `advance_write` is clamped to the write area handed out: it never publishes bytes that
/// were not written there (here, old bytes that were consumed before).
#[test]
fn advance_write_is_clamped_to_the_write_area() {
    let mut b = ByteBuffer::with_capacity(16);
    b.claim(16).copy_from_slice(b"old bytes, stale");
    b.commit(16);
    b.consume(16);
    b.write_area(3).copy_from_slice(b"new");
    assert_eq!(b.advance_write(10), 3, "clamped to the 3 bytes of the area");
    assert_eq!(b.commit_pending(usize::MAX), 3);
    assert_eq!(b.data(), b"new");
    assert_eq!(b.advance_write(5), 0, "no write area is open");
    assert_eq!(b.pending_len(), 0);
}

#[test]
fn write_pending_appends_and_grows() {
    let mut b = ByteBuffer::with_capacity(4);
    b.write_pending(b"abc").unwrap();
    b.write_pending(b"defgh").unwrap();
    assert_eq!(b.pending_len(), 8);
    assert!(b.capacity() >= 8);
    assert_eq!(b.data(), b"");
    b.commit_pending(8);
    assert_eq!(b.data(), b"abcdefgh");
    b.write_pending(b"").unwrap();
    assert_eq!(b.pending_len(), 0);
}

/// A write area that needs more room grows the buffer and keeps readable and pending bytes.
#[test]
fn write_area_grows_and_keeps_what_is_held() {
    let mut b = buffer(4, b"ab", b"cd");
    b.consume(1);
    let area = b.write_area(10);
    assert_eq!(area.len(), 10);
    area.copy_from_slice(b"0123456789");
    assert_eq!(b.advance_write(10), 10);
    assert_eq!(b.data(), b"b");
    assert_eq!(b.pending_len(), 12);
    b.commit_pending(12);
    assert_eq!(b.data(), b"bcd0123456789");
}

/// `Fifo::commit` keeps the order: pending bytes written before the claim become readable
/// with it.
#[test]
fn a_claim_commit_makes_pending_bytes_readable_first() {
    let mut b = buffer(16, b"", b"ab");
    b.claim(2).copy_from_slice(b"cd");
    assert_eq!(b.commit(2), 2);
    assert_eq!(b.data(), b"abcd");
    assert_eq!(b.pending_len(), 0);
}

/// The write area and a claim use the same space at the end: taking the write area ends
/// an outstanding claim (its commit publishes nothing of it), and a claim ends the write
/// area (`advance_write` then records nothing).
#[test]
fn the_write_area_and_a_claim_replace_each_other() {
    let mut b = ByteBuffer::with_capacity(16);
    b.claim(3).copy_from_slice(b"xyz");
    b.write_area(2).copy_from_slice(b"ab");
    assert_eq!(b.advance_write(2), 2);
    assert_eq!(b.commit(3), 0, "the claim ended with the write area");
    assert_eq!(
        b.data(),
        b"ab",
        "the commit made the pending bytes readable"
    );

    b.write_area(4).copy_from_slice(b"1234");
    b.claim(2).copy_from_slice(b"cd");
    assert_eq!(b.advance_write(4), 0, "the write area ended with the claim");
    assert_eq!(b.commit(2), 2);
    assert_eq!(b.data(), b"abcd");
}

#[test]
fn consume_takes_readable_bytes_only() {
    let mut b = buffer(16, b"abc", b"def");
    assert_eq!(b.consume(100), 3, "clamped to the readable bytes");
    assert_eq!(b.data(), b"");
    assert_eq!(b.pending_len(), 3, "pending bytes stay");
    b.commit_pending(3);
    assert_eq!(b.data(), b"def");
}

#[test]
fn prepare_read_commits_just_enough() {
    let mut b = buffer(16, b"ab", b"cdef");
    // Enough readable already: nothing more is committed.
    assert_eq!(b.prepare_read(2).unwrap(), b"ab");
    assert_eq!(b.prepare_read(0).unwrap(), b"ab");
    assert_eq!(b.pending_len(), 4);
    // Commits exactly what is missing.
    assert_eq!(b.prepare_read(3).unwrap(), b"abc");
    assert_eq!(b.data(), b"abc");
    assert_eq!(b.pending_len(), 3);
    assert_eq!(b.prepare_read(6).unwrap(), b"abcdef");
    assert_eq!(b.pending_len(), 0);
}

#[test]
fn prepare_read_says_how_many_bytes_there_are_and_commits_nothing() {
    let mut b = buffer(16, b"ab", b"cd");
    assert_eq!(b.prepare_read(5), Err(NeedMore { have: 4 }));
    assert_eq!(b.data(), b"ab", "nothing was committed");
    assert_eq!(b.pending_len(), 2);
    assert_eq!(b.prepare_read(usize::MAX), Err(NeedMore { have: 4 }));

    let mut empty = ByteBuffer::with_capacity(8);
    assert_eq!(empty.prepare_read(1), Err(NeedMore { have: 0 }));
    assert_eq!(empty.prepare_read(0).unwrap(), b"");
    // More arrives: now it is enough.
    empty.write_pending(b"x").unwrap();
    assert_eq!(empty.prepare_read(1).unwrap(), b"x");
}

#[test]
fn claim_fixed_never_grows() {
    let mut b = ByteBuffer::with_capacity(8);
    assert!(b.claim_fixed(9).is_none(), "more than the capacity");
    assert!(b.claim_fixed(usize::MAX).is_none());
    let room = b.claim_fixed(8).unwrap();
    assert_eq!(room.len(), 8);
    room.copy_from_slice(b"abcdefgh");
    assert_eq!(b.commit(8), 8);
    assert!(b.claim_fixed(1).is_none(), "full");
    assert_eq!(b.capacity(), 8, "nothing grew");
    assert_eq!(b.data(), b"abcdefgh");
}

/// `claim_fixed` compacts when the consumed bytes at the front make enough room.
#[test]
fn claim_fixed_compacts_to_make_room() {
    let mut b = buffer(8, b"abcdefgh", b"");
    b.consume(5);
    let room = b.claim_fixed(5).unwrap();
    room.copy_from_slice(b"12345");
    assert_eq!(b.commit(5), 5);
    assert_eq!(b.data(), b"fgh12345");
    assert_eq!(b.capacity(), 8);
    // Zero bytes are always there.
    assert_eq!(b.claim_fixed(0).unwrap().len(), 0);
}

/// The save area takes room from `claim_fixed`.
#[test]
fn claim_fixed_counts_the_save_area() {
    let mut b = buffer(8, b"abcd", b"");
    let slot = b.save(4);
    assert!(b.claim_fixed(5).is_none());
    b.claim_fixed(4).unwrap().copy_from_slice(b"wxyz");
    b.commit(4);
    assert_eq!(b.saved_slot(slot), b"abcd");
    assert_eq!(b.data(), b"wxyz");
}

/// `claim_fixed` replaces an outstanding claim, and is committed like one.
#[test]
fn claim_fixed_replaces_a_claim() {
    let mut b = ByteBuffer::with_capacity(8);
    b.claim(6).fill(b'!');
    b.claim_fixed(2).unwrap().copy_from_slice(b"ok");
    assert_eq!(b.commit(6), 2, "clamped to the fixed claim");
    assert_eq!(b.data(), b"ok");
}

#[test]
fn shrink_by_drops_pending_bytes_from_the_end() {
    let mut b = buffer(16, b"ab", b"hello");
    assert_eq!(b.shrink_by(2), 2);
    assert_eq!(b.pending_len(), 3);
    assert_eq!(b.shrink_by(100), 3, "clamped to the pending bytes");
    assert_eq!(b.pending_len(), 0);
    assert_eq!(b.data(), b"ab", "readable bytes are never shrunk");
    assert_eq!(b.shrink_by(1), 0);
}

#[test]
fn shrink_to_keeps_the_first_pending_bytes() {
    let mut b = buffer(16, b"ab", b"hello");
    b.shrink_to(10);
    assert_eq!(b.pending_len(), 5, "longer than what is there: no change");
    b.shrink_to(2);
    assert_eq!(b.pending_len(), 2);
    // What comes next follows the kept bytes.
    b.write_pending(b"y!").unwrap();
    b.commit_pending(usize::MAX);
    assert_eq!(b.data(), b"abhey!");
    b.write_pending(b"zz").unwrap();
    b.shrink_to(0);
    assert_eq!(b.pending_len(), 0);
    assert_eq!(b.data(), b"abhey!");
}

#[test]
fn reserve_compacts_before_growing() {
    let mut b = buffer(8, b"abcde", b"");
    b.consume(3);
    b.reserve(6).unwrap();
    assert_eq!(b.capacity(), 8, "compaction made the room");
    assert!(b.free() >= 6);
    assert_eq!(b.data(), b"de");
    assert_eq!(b.claim_fixed(6).unwrap().len(), 6, "the room is at the end");
    b.commit(0);
}

#[test]
fn reserve_grows_and_keeps_saved_readable_and_pending_bytes() {
    let mut b = buffer(8, b"abcd", b"ef");
    let slot = b.save(1);
    b.reserve(100).unwrap();
    assert!(b.free() >= 100);
    let cap = b.capacity();
    assert!(cap >= 105);
    assert_eq!(b.saved_slot(slot), b"a");
    assert_eq!(b.data(), b"bcd");
    assert_eq!(b.pending_len(), 2);
    // The room is there: a claim of it does not grow the buffer again.
    assert_eq!(b.claim(100).len(), 100);
    b.commit(0);
    assert_eq!(b.capacity(), cap);
    b.commit_pending(2);
    assert_eq!(b.data(), b"bcdef");
}

#[test]
fn reserve_doubles_when_that_is_enough() {
    let mut b = ByteBuffer::with_capacity(8);
    b.reserve(0).unwrap();
    b.reserve(8).unwrap();
    assert_eq!(b.capacity(), 8, "it fits: no growth");
    b.reserve(9).unwrap();
    assert_eq!(b.capacity(), 16);
    b.reserve(40).unwrap();
    assert_eq!(
        b.capacity(),
        40,
        "doubling is not enough: exactly what is needed"
    );
}
