//! Zero-copy FIFO buffers for network protocols, with one claim / commit / consume API
//! ([`Fifo`]).
//!
//! | buffer | what | for |
//! |---|---|---|
//! | [`ByteBuffer`] | growable; save / read / write areas; lazy compaction | codecs, streams |
//! | [`MirroredBuffer`] | a ring mapped twice: data and free space always contiguous, no copy at the wrap (Linux) | streams with messages that straddle the end |
//! | [`BipBuffer`] | two regions in a fixed block: contiguous claims, no growth | datagram protocols |
//! | [`SlotSequencer`], [`SlotOffsetter`], [`FenwickTree`], [`Slot`] | out-of-order packets kept in a `ByteBuffer`'s save area, released in sequence | market-data gap handling |
//!
//! Bad counts are clamped, never corrupting: `commit` beyond the claim and `consume`
//! beyond the data return the count actually used.
//!
//! After construction nothing allocates, except [`ByteBuffer`] growing for a claim larger
//! than its free space (`tests/alloc.rs`). No claim panics or aborts, whatever its size: a
//! buffer that cannot offer `n` bytes offers fewer ([`ByteBuffer`] grows by a bounded step,
//! [`CLAIM_GROWTH`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bip;
mod byte_buffer;
mod fifo;
mod mirrored;
mod slot;
mod sys;

pub use bip::BipBuffer;
pub use byte_buffer::{ByteBuffer, CLAIM_GROWTH, DEFAULT_CAPACITY, NeedMore};
pub use fifo::Fifo;
pub use mirrored::{MirrorError, MirrorOptions, MirroredBuffer, rounded_size};
pub use slot::{FenwickTree, NoSpace, Slot, SlotOffsetter, SlotSequencer};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
