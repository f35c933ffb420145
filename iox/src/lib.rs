//! One error type for non-blocking I/O, its semantics, backoff and deadlines, and copying
//! that keeps them.
//!
//! | item | what |
//! |---|---|
//! | [`Error`], [`ErrorKind`], [`Result`] | `Copy`, 24 bytes; the workspace's only errno → meaning table ([`Error::kind_of_errno`]); converts to and from [`std::io::Error`] |
//! | [`Outcome`], [`classify`], [`is_would_block`], [`is_more`], [`is_semantic`], [`is_non_failure`], [`is_progress`] | telling `WouldBlock` / `More` from failures, through wrapping |
//! | [`Deadline`], [`Clock`], [`SystemClock`] | an optional monotonic instant; what backoff waits with |
//! | [`Backoff`], [`BackoffConfig`], [`retry`], [`retry_watching`] | Strike-Spin-Adapt: spin, yield, sleeps to a cap with jitter, never past the deadline (`retry_watching` reads a changing deadline again at every step) |
//! | [`copy`], [`copy_n`], [`copy_buffer`], ..., [`WriteTo`], [`ReadFrom`], [`Seekable`] | copies that keep signals and roll back what a blocked write did not take |
//! | [`SemanticPolicy`], [`Op`], [`ReturnPolicy`], [`YieldPolicy`], [`YieldOnWriteWouldBlockPolicy`], [`PolicyFn`] | return a signal or wait it out, step by step |
//! | [`TeeReader`], [`TeeWriter`] | mirror a stream into a second writer |
//!
//! `WouldBlock` means *no progress now, wait for readiness and retry*; `More` means
//! *progress was made and the operation is still active: more completions follow*
//! (multishot). Neither is a failure. End of input is `Ok(0)`, as in std.
//!
//! ```
//! use iox::{Error, ErrorKind, Outcome, classify};
//! let r: iox::Result<usize> = Err(zcall::Errno::EAGAIN.into());
//! assert_eq!(classify(&r), Outcome::WouldBlock);
//! let e = r.unwrap_err();
//! assert_eq!((e.kind(), e.errno()), (ErrorKind::WouldBlock, Some(zcall::Errno::EAGAIN)));
//! assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::WouldBlock);
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod copy;
mod deadline;
mod error;
mod outcome;
mod policy;
mod tee;

pub use backoff::{
    Backoff, BackoffConfig, Ladder, Step, retry, retry_watching, retry_watching_with, retry_with,
};
pub use copy::{
    AsReadFrom, AsWriteTo, COPY_BUFFER_SIZE, CopyError, CopyResult, ReadFrom, Seekable, Source,
    WriteTo, copy, copy_buffer, copy_buffer_policy, copy_n, copy_n_buffer, copy_n_buffer_policy,
    copy_n_policy, copy_policy, read_from_policy, write_to_policy,
};
pub use deadline::{Clock, Deadline, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use outcome::{
    Outcome, Semantic, classify, is_more, is_non_failure, is_progress, is_semantic, is_would_block,
};
pub use policy::{
    Op, PolicyAction, PolicyFn, ReturnPolicy, SemanticPolicy, YieldOnWriteWouldBlockPolicy,
    YieldPolicy,
};
pub use tee::{TeeReader, TeeWriter};

static_assertions::const_assert!(core::mem::size_of::<Error>() <= 24);

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
