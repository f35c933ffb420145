//! Operation records: keys, directions, the state of each direction, and the trait every
//! operation type implements.

use crate::io::Io;
use crate::raw::payload::OpPayload;

/// An object's slot index and generation; also its poller token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) idx: u32,
    pub(crate) generation: u32,
}

impl Key {
    pub(crate) const fn new(idx: u32, generation: u32) -> Key {
        Key { idx, generation }
    }

    #[inline]
    pub(crate) fn token(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.idx)
    }

    #[inline]
    pub(crate) fn from_token(t: u64) -> Key {
        Key {
            idx: t as u32,
            generation: (t >> 32) as u32,
        }
    }
}

/// Which of an object's two operation records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// The state of one direction of an object. The armed operation is stored inline, on
/// purpose: boxing it would allocate per operation.
#[derive(Debug, Default)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum OpSlot {
    /// Nothing pending.
    #[default]
    Idle,
    /// Waiting for readiness.
    Armed(OpPayload),
    /// Completed; the callback waits in the ready queue.
    Queued,
}

/// An operation: its buffer, callback, progress and result, stored inline in a payload.
pub(crate) trait OpLogic: Sized + 'static {
    /// What a refused submission hands back.
    type Buf;
    /// Claims what the operation targets (an Io-owned region), before the first attempt.
    fn acquire(&mut self, _io: &mut Io) -> iox::Result<()> {
        Ok(())
    }
    /// Makes the syscall(s); `true` when the operation has a result (success or error),
    /// `false` when it must wait for readiness (progress so far is kept).
    fn attempt(&mut self, io: &mut Io, key: Key) -> bool;
    /// Sets the result to an error found outside an attempt (cancel, close).
    fn fail(&mut self, e: iox::Error);
    /// Runs the callback with the result.
    fn complete(self, io: &mut Io);
    /// Redirects an armed read to an Io-owned region; only region reads accept.
    fn retarget(&mut self, _io: &mut Io, _key: Key, _r: crate::buf::Region) -> iox::Result<()> {
        Err(iox::Error::invalid_input(
            "the armed read does not target an Io-owned region",
        ))
    }
    /// The buffer, for a refused submission.
    fn into_buf(self) -> Self::Buf;
}
