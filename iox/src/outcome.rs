//! [`Outcome`] and the predicates that tell the semantic signals from failures, for
//! [`iox::Error`](crate::Error) and for [`std::io::Error`] (which may carry one).

use std::io;

use crate::{Error, ErrorKind};

/// How a non-blocking operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A real error: stop and report it (end of input is not an error: it is `Ok(0)`).
    Failure,
    /// It completed.
    Ok,
    /// No progress now; wait for readiness and retry.
    WouldBlock,
    /// Progress made; the operation is still active and more completions follow.
    More,
}

impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Outcome::Failure => "failure",
            Outcome::Ok => "ok",
            Outcome::WouldBlock => "would block",
            Outcome::More => "more",
        })
    }
}

/// An error that can say whether it is one of the semantic signals.
///
/// Implemented for [`iox::Error`](crate::Error) and [`std::io::Error`]: an `io::Error` is
/// `WouldBlock` when its kind is, and `More` when it carries an iox `More` error anywhere in
/// its payload or source chain, so wrapping never hides a signal.
pub trait Semantic {
    /// The iox kind this error stands for.
    fn semantic_kind(&self) -> Option<ErrorKind>;
}

impl Semantic for Error {
    #[inline]
    fn semantic_kind(&self) -> Option<ErrorKind> {
        Some(self.kind())
    }
}

impl Semantic for io::Error {
    fn semantic_kind(&self) -> Option<ErrorKind> {
        if let Some(x) = Error::find_in(self) {
            return Some(x.kind());
        }
        (self.kind() == io::ErrorKind::WouldBlock).then_some(ErrorKind::WouldBlock)
    }
}

/// Which outcome `r` is.
///
/// ```
/// use iox::{Error, Outcome, classify};
/// assert_eq!(classify::<(), Error>(&Ok(())), Outcome::Ok);
/// assert_eq!(classify::<(), _>(&Err(Error::WOULD_BLOCK)), Outcome::WouldBlock);
/// let wrapped = std::io::Error::other(std::io::Error::from(Error::MORE));
/// assert_eq!(classify::<(), _>(&Err(wrapped)), Outcome::More);
/// ```
pub fn classify<T, E: Semantic>(r: &Result<T, E>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => match e.semantic_kind() {
            Some(ErrorKind::WouldBlock) => Outcome::WouldBlock,
            Some(ErrorKind::More) => Outcome::More,
            _ => Outcome::Failure,
        },
    }
}

/// `e` is `WouldBlock`.
pub fn is_would_block<E: Semantic>(e: &E) -> bool {
    e.semantic_kind() == Some(ErrorKind::WouldBlock)
}

/// `e` is `More`.
pub fn is_more<E: Semantic>(e: &E) -> bool {
    e.semantic_kind() == Some(ErrorKind::More)
}

/// `e` is `WouldBlock` or `More`: a signal, not a failure.
pub fn is_semantic<E: Semantic>(e: &E) -> bool {
    matches!(
        e.semantic_kind(),
        Some(ErrorKind::WouldBlock | ErrorKind::More)
    )
}

/// `r` is not a failure: `Ok`, `WouldBlock` or `More`.
pub fn is_non_failure<T, E: Semantic>(r: &Result<T, E>) -> bool {
    classify(r) != Outcome::Failure
}

/// `r` made progress: `Ok` or `More`.
pub fn is_progress<T, E: Semantic>(r: &Result<T, E>) -> bool {
    matches!(classify(r), Outcome::Ok | Outcome::More)
}
