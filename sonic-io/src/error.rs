//! The two error shapes of the async API beside [`iox::Error`].

use iox::Error;

/// A submission the Io refused (stale handle, closed Io, a direction already busy, a
/// target range in use): the error and the buffer, handed back. The callback was dropped
/// unrun; every accepted operation, by contrast, completes exactly once.
pub struct Rejected<B> {
    /// Why.
    pub error: Error,
    /// The buffer the operation would have used.
    pub buf: B,
}

impl<B> std::fmt::Debug for Rejected<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<B> std::fmt::Display for Rejected<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "operation refused: {}", self.error)
    }
}

impl<B> std::error::Error for Rejected<B> {}

impl<B> From<Rejected<B>> for Error {
    fn from(r: Rejected<B>) -> Error {
        r.error
    }
}

impl<B> From<Rejected<B>> for std::io::Error {
    fn from(r: Rejected<B>) -> std::io::Error {
        r.error.into()
    }
}

/// The failure of an operation that moves a whole buffer (`async_read_exact`,
/// `async_write_all`, `async_write_from`): the error and how many bytes moved before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partial {
    /// Why it stopped.
    pub error: Error,
    /// Bytes transferred before the error.
    pub done: usize,
}

impl std::fmt::Display for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} after {} bytes", self.error, self.done)
    }
}

impl std::error::Error for Partial {}

impl From<Partial> for Error {
    fn from(p: Partial) -> Error {
        p.error
    }
}

impl From<Partial> for std::io::Error {
    fn from(p: Partial) -> std::io::Error {
        p.error.into()
    }
}
