//! Copying between a reader and a writer without losing a `WouldBlock` or a `More`:
//! [`copy`] and its buffer / limit / policy variants, the [`WriteTo`] and [`ReadFrom`] fast
//! paths and their adapters.
//!
//! The rules (those of the Go `iox` package, in Rust's terms):
//!
//! * Bytes read are written before a read-side signal is reported, so nothing is lost:
//!   a read returns data *or* an error, and data is written out first.
//! * A read of `Ok(0)` ends the copy (end of input).
//! * A write that accepts part of a chunk is continued; a write that accepts nothing of a
//!   non-empty chunk (`Ok(0)`) ends the copy with [`ErrorKind::ShortWrite`].
//! * When a write returns `WouldBlock` or `More` before the whole chunk is out, the unwritten
//!   bytes are handed back to the source: a [`Seekable`] source seeks back by their count,
//!   so the next copy resumes exactly there; any other source cannot, and the copy fails
//!   with [`ErrorKind::NoSeeker`] (the bytes would otherwise be lost silently).
//! * `Interrupted` is retried; every other error ends the copy with the count so far.
//! * With a [`SemanticPolicy`] a signal may instead be waited out and the same step retried
//!   (a write retry resumes with the rest of the chunk, so no roll-back is needed).
//! * Signals are recognised through wrapping ([`Semantic`](crate::Semantic)).
//!
//! [`ErrorKind::ShortWrite`]: crate::ErrorKind::ShortWrite
//! [`ErrorKind::NoSeeker`]: crate::ErrorKind::NoSeeker

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::outcome::Semantic;
use crate::policy::{Op, PolicyAction, ReturnPolicy, SemanticPolicy};
use crate::{Error, ErrorKind};

/// The buffer [`copy`] uses, on the stack: 32 KiB, as the Go package.
pub const COPY_BUFFER_SIZE: usize = 32 * 1024;

/// A copy that stopped early: how many bytes reached the destination, and why it stopped
/// (a signal such as `WouldBlock`, or a failure).
#[derive(Debug)]
pub struct CopyError {
    /// Bytes written to the destination before the copy stopped.
    pub written: u64,
    /// Why it stopped.
    pub error: io::Error,
}

impl CopyError {
    fn new(written: u64, error: impl Into<io::Error>) -> CopyError {
        CopyError {
            written,
            error: error.into(),
        }
    }

    /// The iox kind of the error.
    pub fn kind(&self) -> ErrorKind {
        Error::from_io(&self.error).kind()
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "copy stopped after {} bytes: {}",
            self.written, self.error
        )
    }
}

impl std::error::Error for CopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<CopyError> for io::Error {
    fn from(e: CopyError) -> io::Error {
        e.error
    }
}

/// The bytes copied, or where and why the copy stopped.
pub type CopyResult = Result<u64, CopyError>;

/// What a copy reads from: any [`Read`], or a [`Seekable`] one that can take bytes back.
pub trait Source {
    /// Reads as [`Read::read`].
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Steps the source back by `n` bytes; `None` when it cannot.
    fn unread(&mut self, n: u64) -> Option<io::Result<()>> {
        let _ = n;
        None
    }
}

impl<R: Read + ?Sized> Source for R {
    #[inline]
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }
}

/// A source that can take unwritten bytes back by seeking (a file, a `Cursor`).
///
/// ```
/// use std::io::Cursor;
/// use iox::{Seekable, copy};
/// let mut src = Seekable(Cursor::new(b"hello".to_vec()));
/// let mut dst = Vec::new();
/// assert_eq!(copy(&mut dst, &mut src).unwrap(), 5);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Seekable<R>(pub R);

impl<R: Read + Seek> Source for Seekable<R> {
    #[inline]
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
    fn unread(&mut self, n: u64) -> Option<io::Result<()>> {
        let back = i64::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
        Some(
            back.and_then(|b| self.0.seek(SeekFrom::Current(-b)))
                .map(drop),
        )
    }
}

#[derive(Clone, Copy)]
enum Signal {
    WouldBlock,
    More,
}

fn signal(e: &io::Error) -> Option<Signal> {
    match e.semantic_kind() {
        Some(ErrorKind::WouldBlock) => Some(Signal::WouldBlock),
        Some(ErrorKind::More) => Some(Signal::More),
        _ => None,
    }
}

fn decide<P: SemanticPolicy + ?Sized>(policy: &mut P, op: Op, s: Signal) -> PolicyAction {
    match s {
        Signal::WouldBlock => policy.on_would_block(op),
        Signal::More => policy.on_more(op),
    }
}

/// The one copy engine behind every variant.
fn engine<W, S, P>(
    dst: &mut W,
    src: &mut S,
    buf: &mut [u8],
    limit: Option<u64>,
    policy: &mut P,
) -> CopyResult
where
    W: Write + ?Sized,
    S: Source + ?Sized,
    P: SemanticPolicy + ?Sized,
{
    if buf.is_empty() {
        return Err(CopyError::new(
            0,
            Error::invalid_input("copy buffer is empty"),
        ));
    }
    let mut written: u64 = 0;
    loop {
        let want = match limit {
            Some(n) if written >= n => return Ok(written),
            Some(n) => buf
                .len()
                .min(usize::try_from(n - written).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let nr = match src.read_some(&mut buf[..want]) {
            Ok(0) => {
                return match limit {
                    Some(n) if written < n => {
                        Err(CopyError::new(written, io::ErrorKind::UnexpectedEof))
                    }
                    _ => Ok(written),
                };
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => match signal(&e) {
                Some(s) => match decide(policy, Op::CopyRead, s) {
                    PolicyAction::Retry => {
                        policy.yield_now(Op::CopyRead);
                        continue;
                    }
                    PolicyAction::Return => return Err(CopyError::new(written, e)),
                },
                None => return Err(CopyError::new(written, e)),
            },
        };
        let mut off = 0;
        while off < nr {
            match dst.write(&buf[off..nr]) {
                Ok(0) => return Err(CopyError::new(written, Error::new(ErrorKind::ShortWrite))),
                Ok(n) => {
                    off += n;
                    written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => match signal(&e) {
                    Some(s) => match decide(policy, Op::CopyWrite, s) {
                        PolicyAction::Retry => policy.yield_now(Op::CopyWrite),
                        PolicyAction::Return => {
                            let unwritten = (nr - off) as u64;
                            return match src.unread(unwritten) {
                                Some(Ok(())) => Err(CopyError::new(written, e)),
                                Some(Err(se)) => Err(CopyError::new(written, se)),
                                None => {
                                    Err(CopyError::new(written, Error::new(ErrorKind::NoSeeker)))
                                }
                            };
                        }
                    },
                    None => return Err(CopyError::new(written, e)),
                },
            }
        }
    }
}

/// Copies `src` to `dst` until the end of `src`, a signal, or an error, through a 32 KiB
/// stack buffer.
///
/// ```
/// let mut dst = Vec::new();
/// assert_eq!(iox::copy(&mut dst, &mut &b"abc"[..]).unwrap(), 3);
/// assert_eq!(dst, b"abc");
/// ```
pub fn copy<W: Write + ?Sized, S: Source + ?Sized>(dst: &mut W, src: &mut S) -> CopyResult {
    let mut buf = [0u8; COPY_BUFFER_SIZE];
    engine(dst, src, &mut buf, None, &mut ReturnPolicy)
}

/// [`copy`] through `buf` (an empty `buf` is `InvalidInput`).
pub fn copy_buffer<W: Write + ?Sized, S: Source + ?Sized>(
    dst: &mut W,
    src: &mut S,
    buf: &mut [u8],
) -> CopyResult {
    engine(dst, src, buf, None, &mut ReturnPolicy)
}

/// Copies exactly `n` bytes: `UnexpectedEof` if `src` ends first; signals are returned as
/// they are, with the count so far. `n == 0` reads nothing.
pub fn copy_n<W: Write + ?Sized, S: Source + ?Sized>(
    dst: &mut W,
    src: &mut S,
    n: u64,
) -> CopyResult {
    let mut buf = [0u8; COPY_BUFFER_SIZE];
    engine(dst, src, &mut buf, Some(n), &mut ReturnPolicy)
}

/// [`copy_n`] through `buf`.
pub fn copy_n_buffer<W: Write + ?Sized, S: Source + ?Sized>(
    dst: &mut W,
    src: &mut S,
    n: u64,
    buf: &mut [u8],
) -> CopyResult {
    engine(dst, src, buf, Some(n), &mut ReturnPolicy)
}

/// [`copy`] with a policy for the signals.
pub fn copy_policy<W, S, P>(dst: &mut W, src: &mut S, policy: &mut P) -> CopyResult
where
    W: Write + ?Sized,
    S: Source + ?Sized,
    P: SemanticPolicy + ?Sized,
{
    let mut buf = [0u8; COPY_BUFFER_SIZE];
    engine(dst, src, &mut buf, None, policy)
}

/// [`copy_buffer`] with a policy.
pub fn copy_buffer_policy<W, S, P>(
    dst: &mut W,
    src: &mut S,
    buf: &mut [u8],
    policy: &mut P,
) -> CopyResult
where
    W: Write + ?Sized,
    S: Source + ?Sized,
    P: SemanticPolicy + ?Sized,
{
    engine(dst, src, buf, None, policy)
}

/// [`copy_n`] with a policy. Unlike the Go package, an early end of `src` is
/// `UnexpectedEof` here too, exactly as without a policy.
pub fn copy_n_policy<W, S, P>(dst: &mut W, src: &mut S, n: u64, policy: &mut P) -> CopyResult
where
    W: Write + ?Sized,
    S: Source + ?Sized,
    P: SemanticPolicy + ?Sized,
{
    let mut buf = [0u8; COPY_BUFFER_SIZE];
    engine(dst, src, &mut buf, Some(n), policy)
}

/// [`copy_n_buffer`] with a policy.
pub fn copy_n_buffer_policy<W, S, P>(
    dst: &mut W,
    src: &mut S,
    n: u64,
    buf: &mut [u8],
    policy: &mut P,
) -> CopyResult
where
    W: Write + ?Sized,
    S: Source + ?Sized,
    P: SemanticPolicy + ?Sized,
{
    engine(dst, src, buf, Some(n), policy)
}

/// A source that writes itself out without an intermediate buffer (Go's `WriterTo`).
///
/// Implementations are resumable: after a signal, calling `write_to` again continues where
/// the last call stopped.
pub trait WriteTo {
    /// Writes everything that is left to `dst`.
    fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> CopyResult;
}

/// A destination that fills itself from a source directly (Go's `ReaderFrom`).
pub trait ReadFrom {
    /// Reads from `src` until its end or a signal.
    fn read_from<S: Source + ?Sized>(&mut self, src: &mut S) -> CopyResult;
}

/// Writes `data` out, advancing past what each write accepted.
fn drain<W: Write + ?Sized>(
    data: &[u8],
    dst: &mut W,
    mut advance: impl FnMut(usize),
) -> CopyResult {
    let mut off = 0;
    while off < data.len() {
        match dst.write(&data[off..]) {
            Ok(0) => {
                return Err(CopyError::new(
                    off as u64,
                    Error::new(ErrorKind::ShortWrite),
                ));
            }
            Ok(n) => {
                off += n;
                advance(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CopyError::new(off as u64, e)),
        }
    }
    Ok(off as u64)
}

impl WriteTo for &[u8] {
    /// Writes the slice out, shrinking it by what was written (so a retry resumes).
    fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> CopyResult {
        let data: &[u8] = self;
        let mut done = 0;
        let r = drain(data, dst, |n| done += n);
        *self = &data[done..];
        r
    }
}

impl<T: AsRef<[u8]>> WriteTo for io::Cursor<T> {
    /// Writes from the position to the end, advancing the position by what was written.
    fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> CopyResult {
        let pos = usize::try_from(self.position())
            .unwrap_or(usize::MAX)
            .min(self.get_ref().as_ref().len());
        let mut done = 0;
        let r = drain(&self.get_ref().as_ref()[pos..], dst, |n| done += n);
        self.set_position((pos + done) as u64);
        r
    }
}

impl ReadFrom for Vec<u8> {
    /// Appends everything `src` yields, growing in 32 KiB steps.
    fn read_from<S: Source + ?Sized>(&mut self, src: &mut S) -> CopyResult {
        let mut total = 0u64;
        loop {
            let start = self.len();
            self.resize(start + COPY_BUFFER_SIZE, 0);
            let r = src.read_some(&mut self[start..]);
            let n = *r.as_ref().unwrap_or(&0);
            self.truncate(start + n);
            match r {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CopyError::new(total, e)),
            }
        }
    }
}

/// Gives any reader a [`WriteTo`] built on [`copy`] (Go's `WriterToAdapter`).
#[derive(Debug, Clone, Default)]
pub struct AsWriteTo<R>(pub R);

impl<R: Read> WriteTo for AsWriteTo<R> {
    fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> CopyResult {
        copy(dst, &mut self.0)
    }
}

impl<R: Read + Seek> WriteTo for AsWriteTo<Seekable<R>> {
    fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> CopyResult {
        copy(dst, &mut self.0)
    }
}

/// Gives any writer a [`ReadFrom`] built on [`copy`] (Go's `ReaderFromAdapter`).
#[derive(Debug, Clone, Default)]
pub struct AsReadFrom<W>(pub W);

impl<W: Write> ReadFrom for AsReadFrom<W> {
    fn read_from<S: Source + ?Sized>(&mut self, src: &mut S) -> CopyResult {
        copy(&mut self.0, src)
    }
}

/// Runs a fast path (`step`) to the end under `policy`: a signal the policy retries is
/// waited out and the (resumable) fast path called again; the counts add up.
fn fast_path_policy<P: SemanticPolicy + ?Sized>(
    op: Op,
    policy: &mut P,
    mut step: impl FnMut() -> CopyResult,
) -> CopyResult {
    let mut total = 0u64;
    loop {
        match step() {
            Ok(n) => return Ok(total + n),
            Err(e) => {
                total += e.written;
                match signal(&e.error) {
                    Some(s) if decide(policy, op, s) == PolicyAction::Retry => policy.yield_now(op),
                    _ => {
                        return Err(CopyError {
                            written: total,
                            error: e.error,
                        });
                    }
                }
            }
        }
    }
}

/// `src.write_to(dst)` under `policy` ([`Op::CopyWriteTo`]).
pub fn write_to_policy<W, T, P>(dst: &mut W, src: &mut T, policy: &mut P) -> CopyResult
where
    W: Write + ?Sized,
    T: WriteTo + ?Sized,
    P: SemanticPolicy + ?Sized,
{
    fast_path_policy(Op::CopyWriteTo, policy, || src.write_to(dst))
}

/// `dst.read_from(src)` under `policy` ([`Op::CopyReadFrom`]).
pub fn read_from_policy<D, S, P>(dst: &mut D, src: &mut S, policy: &mut P) -> CopyResult
where
    D: ReadFrom + ?Sized,
    S: Source + ?Sized,
    P: SemanticPolicy + ?Sized,
{
    fast_path_policy(Op::CopyReadFrom, policy, || dst.read_from(src))
}
