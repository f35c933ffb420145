//! The Fenwick tree against a plain array, and the sequencer with a real ByteBuffer.

mod common;

use proptest::prelude::*;
use sonic_bytes::{ByteBuffer, FenwickTree, Fifo, NoSpace, SlotSequencer};

proptest! {
    #![proptest_config(common::config())]

    #[test]
    #[cfg_attr(miri, ignore = "safe code only (sonic-bytes' one unsafe, the mirrored mapping, cannot run under Miri); natively 256 cases")]
    fn fenwick_matches_prefix_sums(adds in proptest::collection::vec((0usize..64, 0u64..1000), 0..100)) {
        let mut t = FenwickTree::new(64);
        let mut plain = [0u64; 64];
        for &(i, v) in &adds {
            t.add(i, v);
            plain[i] += v;
        }
        for i in 0..=64 {
            prop_assert_eq!(t.sum_until(i), plain[..i].iter().sum::<u64>());
        }
        for i in 0..64 {
            prop_assert_eq!(t.at(i), plain[i]);
            prop_assert_eq!(t.sum_from(i), plain[i..].iter().sum::<u64>());
        }
        prop_assert_eq!(&FenwickTree::from_values(&plain), &t);
        // Positions outside the tree are ignored, even the last one `usize` has.
        let before = t.clone();
        t.add(64, 1);
        t.add(usize::MAX, 1);
        prop_assert_eq!(&t, &before);
        prop_assert_eq!(t.at(usize::MAX), 0);
    }

    /// Packets pushed in any order and popped in any order come back intact, each found
    /// where the discards of the others left it.
    #[test]
    #[cfg_attr(miri, ignore = "safe code only (sonic-bytes' one unsafe, the mirrored mapping, cannot run under Miri); natively 256 cases")]
    fn sequencer_releases_intact_packets(order in Just((0u64..12).collect::<Vec<_>>()).prop_shuffle(),
                                         pops in Just((0u64..12).collect::<Vec<_>>()).prop_shuffle()) {
        let mut buf = ByteBuffer::with_capacity(256);
        let mut seq = SlotSequencer::new(16, 256);
        for &n in &order {
            let payload = vec![n as u8; 1 + n as usize];
            buf.claim(payload.len()).copy_from_slice(&payload);
            buf.commit(payload.len());
            let slot = buf.save(payload.len());
            prop_assert!(seq.push(n, slot).unwrap());
        }
        prop_assert_eq!(seq.size(), 12);
        for &n in &pops {
            let s = seq.pop(n).unwrap();
            prop_assert_eq!(buf.saved_slot(s), &vec![n as u8; 1 + n as usize][..]);
            buf.discard(s);
        }
        prop_assert_eq!(seq.size(), 0);
        prop_assert_eq!(buf.saved().len(), 0);
    }
}

#[test]
fn sequencer_bounds_and_duplicates() {
    let mut buf = ByteBuffer::with_capacity(64);
    let mut seq = SlotSequencer::new(2, 10);
    // A packet the sequencer refuses or already has is discarded by the caller at once.
    let mut push = |seq: &mut SlotSequencer, n: u64, len: usize| {
        buf.claim(len).fill(n as u8);
        buf.commit(len);
        let s = buf.save(len);
        let r = seq.push(n, s);
        if r != Ok(true) {
            buf.discard(s);
        }
        r
    };
    assert_eq!(push(&mut seq, 1, 4), Ok(true));
    assert_eq!(push(&mut seq, 1, 4), Ok(false), "a duplicate is ignored");
    assert_eq!(push(&mut seq, 2, 7), Err(NoSpace), "over the byte bound");
    assert_eq!(push(&mut seq, 3, 4), Ok(true));
    assert_eq!(push(&mut seq, 4, 1), Err(NoSpace), "over the slot bound");
    assert_eq!(seq.first(), Some(1));
    assert_eq!(seq.bytes(), 8);
    assert!((seq.fill_pct() - 80.0).abs() < 1e-9);
    assert_eq!(seq.pop(9), None);
    seq.reset();
    assert_eq!(seq.size(), 0);
}

/// What the sequencer's docs say: positions advance with every byte popped while it holds
/// a slot, so one that never empties runs out after `max_bytes` bytes; `reset` recovers.
#[test]
fn a_sequencer_that_never_empties_runs_out_after_max_bytes() {
    let mut buf = ByteBuffer::with_capacity(256);
    let mut seq = SlotSequencer::new(4, 100);
    let save = |buf: &mut ByteBuffer, n: u8| {
        buf.claim(10).fill(n);
        buf.commit(10);
        buf.save(10)
    };
    // Packet 1000 waits for a gap that never fills.
    let held = save(&mut buf, 0xee);
    assert_eq!(seq.push(1000, held), Ok(true));
    let mut passed = 0;
    for n in 0..20u64 {
        let s = save(&mut buf, n as u8);
        match seq.push(n, s) {
            Ok(true) => {}
            Err(NoSpace) => {
                buf.discard(s);
                break;
            }
            Ok(false) => unreachable!("no duplicates here"),
        }
        let at = seq.pop(n).unwrap();
        assert_eq!(buf.saved_slot(at), &[n as u8; 10], "packet {n} intact");
        buf.discard(at);
        passed += 10;
    }
    assert!(passed <= 100, "{passed} bytes went through");
    assert!(passed >= 80, "only {passed} bytes went through");
    // The held packet is still where the sequencer says.
    let at = seq.pop(1000).unwrap();
    assert_eq!(buf.saved_slot(at), &[0xee; 10]);
    buf.discard(at);
    assert_eq!(buf.saved().len(), 0);
    // Empty again: positions restart.
    let s = save(&mut buf, 7);
    assert_eq!(seq.push(1, s), Ok(true));
}

#[test]
fn bogus_slots_are_ignored() {
    let mut buf = ByteBuffer::with_capacity(16);
    buf.claim(4).copy_from_slice(b"abcd");
    buf.commit(4);
    let s = buf.save(2);
    for bad in [
        sonic_bytes::Slot {
            index: usize::MAX,
            length: 2,
        },
        sonic_bytes::Slot {
            index: 1,
            length: usize::MAX,
        },
        sonic_bytes::Slot {
            index: 1,
            length: 5,
        },
    ] {
        assert_eq!(buf.saved_slot(bad), b"");
        buf.discard(bad);
    }
    assert_eq!(buf.saved_slot(s), b"ab");
    assert_eq!(buf.data(), b"cd");
}
