//! Every buffer driven by random claim / commit / consume / read_from / write_to sequences
//! against a `VecDeque<u8>` model, with capacities that are not powers of two and messages
//! that straddle the wrap, and claims that stay outstanding while the data before them is
//! consumed or written out (so a consume that empties the buffer under a claim is common).

mod common;

use std::collections::VecDeque;
use std::io::{Cursor, Read, Write};

use proptest::prelude::*;
use sonic_bytes::{BipBuffer, ByteBuffer, Fifo};

#[derive(Clone, Debug)]
enum Op {
    Claim(usize, usize),
    /// Claim `n`, write into it, then `between` while the claim is outstanding, then
    /// commit `k`.
    ClaimAcross {
        n: usize,
        between: Between,
        k: usize,
    },
    Consume(usize),
    ReadFrom(Vec<u8>, usize),
    WriteTo(usize),
    Clear,
}

/// What happens between a claim and its commit.
#[derive(Clone, Debug)]
enum Between {
    Consume(usize),
    /// `write_to` a writer that takes at most this many bytes per call.
    WriteTo(usize),
}

fn between() -> impl Strategy<Value = Between> {
    prop_oneof![
        // Consuming everything (often exactly what is there) empties the buffer under
        // the claim.
        2 => Just(Between::Consume(usize::MAX)),
        3 => (0usize..900).prop_map(Between::Consume),
        2 => (0usize..500).prop_map(Between::WriteTo),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..700, 0usize..800).prop_map(|(c, k)| Op::Claim(c, k)),
        4 => (0usize..700, between(), 0usize..800)
            .prop_map(|(n, between, k)| Op::ClaimAcross { n, between, k }),
        4 => (0usize..900).prop_map(Op::Consume),
        2 => (proptest::collection::vec(any::<u8>(), 0..300), 0usize..400).prop_map(|(b, m)| Op::ReadFrom(b, m)),
        2 => (0usize..500).prop_map(Op::WriteTo),
        1 => Just(Op::Clear),
    ]
}

/// A writer that takes at most `limit` bytes per call.
struct Limited {
    got: Vec<u8>,
    limit: usize,
}

impl Write for Limited {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = b.len().min(self.limit);
        self.got.extend_from_slice(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `write_to` through a writer that takes at most `limit` bytes per call; checks that what
/// went out is the front of the model, and drops it there.
fn write_to<F: Fifo>(buf: &mut F, model: &mut VecDeque<u8>, limit: usize) {
    let mut w = Limited {
        got: Vec::new(),
        limit: limit.max(1),
    };
    let n = buf.write_to(&mut w).unwrap();
    assert_eq!(w.got.len(), n);
    let expect: Vec<u8> = model.drain(..n).collect();
    assert_eq!(w.got, expect);
}

/// Fills `space` with the next stamps and returns a copy.
fn stamp_into(space: &mut [u8], stamp: &mut u8) -> Vec<u8> {
    for b in space.iter_mut() {
        *stamp = stamp.wrapping_add(1);
        *b = *stamp;
    }
    space.to_vec()
}

/// Runs `ops` on `buf` and the model; `whole` says whether `data()` shows everything (or,
/// for the bip buffer, only a prefix).
fn run<F: Fifo>(buf: &mut F, ops: &[Op], whole: bool) {
    let mut model: VecDeque<u8> = VecDeque::new();
    let mut stamp = 0u8;
    for o in ops {
        match o {
            Op::Claim(n, k) => {
                let space = buf.claim(*n);
                assert!(space.len() <= *n);
                let written = stamp_into(space, &mut stamp);
                let c = buf.commit(*k);
                assert_eq!(c, (*k).min(written.len()), "commit is clamped to the claim");
                model.extend(&written[..c]);
                stamp = stamp.wrapping_sub((written.len() - c) as u8);
            }
            Op::ClaimAcross { n, between, k } => {
                let space = buf.claim(*n);
                assert!(space.len() <= *n);
                let written = stamp_into(space, &mut stamp);
                match between {
                    Between::Consume(m) => {
                        let visible = buf.data().len();
                        let c = buf.consume(*m);
                        assert_eq!(c, (*m).min(visible), "consume is clamped to the data");
                        model.drain(..c);
                    }
                    Between::WriteTo(limit) => write_to(buf, &mut model, *limit),
                }
                let c = buf.commit(*k);
                assert_eq!(
                    c,
                    (*k).min(written.len()),
                    "a claim outlives the consume before its commit"
                );
                model.extend(&written[..c]);
            }
            Op::Consume(n) => {
                let visible = buf.data().len();
                let c = buf.consume(*n);
                assert_eq!(c, (*n).min(visible), "consume is clamped to the data");
                model.drain(..c);
            }
            Op::ReadFrom(bytes, max) => {
                let mut src = Cursor::new(bytes.clone());
                let n = buf.read_from(&mut src, *max).unwrap();
                assert!(n <= *max && n <= bytes.len());
                model.extend(&bytes[..n]);
                let mut rest = Vec::new();
                src.read_to_end(&mut rest).unwrap();
            }
            Op::WriteTo(limit) => write_to(buf, &mut model, *limit),
            Op::Clear => {
                buf.clear();
                model.clear();
            }
        }
        assert_eq!(buf.len(), model.len());
        let d = buf.data();
        if whole {
            assert!(d.iter().eq(model.iter()), "data() is the whole content");
        } else {
            assert!(
                d.iter().eq(model.iter().take(d.len())),
                "data() is a prefix of the content"
            );
            assert!(
                !d.is_empty() || model.is_empty(),
                "data is never empty while bytes are held"
            );
        }
        assert!(buf.len() <= buf.capacity());
    }
}

/// Operations per case (fewer under Miri, which runs each about a thousand times slower).
const OPS: usize = if cfg!(miri) { 20 } else { 60 };

proptest! {
    #![proptest_config(common::config())]

    #[test]
    #[cfg_attr(miri, ignore = "safe code only (sonic-bytes' one unsafe, the mirrored mapping, cannot run under Miri); natively 256 cases")]
    fn byte_buffer_matches_the_model(cap in 1usize..1000, ops in proptest::collection::vec(op(), 1..OPS)) {
        run(&mut ByteBuffer::with_capacity(cap), &ops, true);
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe code only (sonic-bytes' one unsafe, the mirrored mapping, cannot run under Miri); natively 256 cases")]
    fn bip_buffer_matches_the_model(cap in 1usize..1000, ops in proptest::collection::vec(op(), 1..OPS)) {
        run(&mut BipBuffer::new(cap), &ops, false);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map memory twice")]
    #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
    fn mirrored_buffer_matches_the_model(pages in 1usize..6, ops in proptest::collection::vec(op(), 1..OPS)) {
        let mut m = sonic_bytes::MirroredBuffer::new(pages * 4096 - 100).unwrap();
        run(&mut m, &ops, true);
    }
}
