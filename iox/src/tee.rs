//! [`TeeReader`] and [`TeeWriter`]: mirror a stream's bytes into a second writer without
//! losing a `WouldBlock` or a `More`.

use std::io::{self, Read, Write};

use crate::outcome::Semantic;
use crate::policy::{Op, PolicyAction, ReturnPolicy, SemanticPolicy};
use crate::{Error, ErrorKind};

/// Writes all of `buf` to `w` under `policy` for `op`.
fn write_all_policy<W: Write + ?Sized, P: SemanticPolicy + ?Sized>(
    w: &mut W,
    mut buf: &[u8],
    op: Op,
    policy: &mut P,
) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(Error::new(ErrorKind::ShortWrite).into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if retry(policy, op, &e) {
                    continue;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// `true` (after the policy's yield) when `e` is a signal the policy retries.
fn retry<P: SemanticPolicy + ?Sized>(policy: &mut P, op: Op, e: &io::Error) -> bool {
    let action = match e.semantic_kind() {
        Some(ErrorKind::WouldBlock) => policy.on_would_block(op),
        Some(ErrorKind::More) => policy.on_more(op),
        _ => return false,
    };
    if action == PolicyAction::Retry {
        policy.yield_now(op);
        true
    } else {
        false
    }
}

/// A reader that writes every byte it reads into a side writer.
///
/// A read returns the bytes read from the inner reader even when the side write fails;
/// the side's error is then returned by the *next* read (Rust's `Read` cannot return data
/// and an error at once, and dropping either would lose something). The side's error wins
/// over the reader's. Signals of the inner reader pass through unchanged, or are waited
/// out when the policy says so.
///
/// ```
/// use std::io::Read;
/// let mut side = Vec::new();
/// let mut tee = iox::TeeReader::new(&b"mirror"[..], &mut side);
/// let mut out = String::new();
/// tee.read_to_string(&mut out).unwrap();
/// drop(tee);
/// assert_eq!((out.as_str(), side.as_slice()), ("mirror", &b"mirror"[..]));
/// ```
#[derive(Debug)]
pub struct TeeReader<R, W, P = ReturnPolicy> {
    reader: R,
    side: W,
    policy: P,
    pending: Option<io::Error>,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    /// Mirrors `reader` into `side`; every signal is returned.
    pub fn new(reader: R, side: W) -> TeeReader<R, W> {
        TeeReader {
            reader,
            side,
            policy: ReturnPolicy,
            pending: None,
        }
    }
}

impl<R: Read, W: Write, P: SemanticPolicy> TeeReader<R, W, P> {
    /// Mirrors `reader` into `side` under `policy` ([`Op::TeeReaderRead`],
    /// [`Op::TeeReaderSideWrite`]).
    pub fn with_policy(reader: R, side: W, policy: P) -> TeeReader<R, W, P> {
        TeeReader {
            reader,
            side,
            policy,
            pending: None,
        }
    }

    /// The inner reader, side writer and policy.
    pub fn into_inner(self) -> (R, W, P) {
        (self.reader, self.side, self.policy)
    }
}

impl<R: Read, W: Write, P: SemanticPolicy> Read for TeeReader<R, W, P> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let n = loop {
            match self.reader.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if retry(&mut self.policy, Op::TeeReaderRead, &e) {
                        continue;
                    }
                    return Err(e);
                }
            }
        };
        if n > 0
            && let Err(e) = write_all_policy(
                &mut self.side,
                &buf[..n],
                Op::TeeReaderSideWrite,
                &mut self.policy,
            )
        {
            self.pending = Some(e);
        }
        Ok(n)
    }
}

/// A writer that mirrors every byte its primary accepts into a tee.
///
/// A write returns what the primary accepted; those bytes are then written whole to the
/// tee. A tee error is returned by the *next* write (the primary's bytes are already out
/// and must be counted). Signals of the primary pass through, or are waited out under the
/// policy, in which case `write` keeps going until all of `buf` is accepted.
///
/// ```
/// use std::io::Write;
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// let mut tee = iox::TeeWriter::new(&mut a, &mut b);
/// tee.write_all(b"twice").unwrap();
/// drop(tee);
/// assert_eq!(a, b);
/// ```
#[derive(Debug)]
pub struct TeeWriter<W, T, P = ReturnPolicy> {
    primary: W,
    tee: T,
    policy: P,
    pending: Option<io::Error>,
}

impl<W: Write, T: Write> TeeWriter<W, T> {
    /// Mirrors `primary` into `tee`; every signal is returned.
    pub fn new(primary: W, tee: T) -> TeeWriter<W, T> {
        TeeWriter {
            primary,
            tee,
            policy: ReturnPolicy,
            pending: None,
        }
    }
}

impl<W: Write, T: Write, P: SemanticPolicy> TeeWriter<W, T, P> {
    /// Mirrors `primary` into `tee` under `policy` ([`Op::TeeWriterPrimaryWrite`],
    /// [`Op::TeeWriterTeeWrite`]).
    pub fn with_policy(primary: W, tee: T, policy: P) -> TeeWriter<W, T, P> {
        TeeWriter {
            primary,
            tee,
            policy,
            pending: None,
        }
    }

    /// The primary, tee and policy.
    pub fn into_inner(self) -> (W, T, P) {
        (self.primary, self.tee, self.policy)
    }
}

impl<W: Write, T: Write, P: SemanticPolicy> Write for TeeWriter<W, T, P> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut off = 0;
        while off < buf.len() {
            match self.primary.write(&buf[off..]) {
                Ok(0) if off == 0 => return Err(Error::new(ErrorKind::ShortWrite).into()),
                Ok(0) => break,
                Ok(n) => {
                    if let Err(e) = write_all_policy(
                        &mut self.tee,
                        &buf[off..off + n],
                        Op::TeeWriterTeeWrite,
                        &mut self.policy,
                    ) {
                        self.pending = Some(e);
                        return Ok(off + n);
                    }
                    off += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if retry(&mut self.policy, Op::TeeWriterPrimaryWrite, &e) {
                        continue;
                    }
                    return if off == 0 { Err(e) } else { Ok(off) };
                }
            }
        }
        Ok(off)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        self.primary.flush()?;
        self.tee.flush()
    }
}
