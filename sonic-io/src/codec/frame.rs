//! The length-prefixed frame: a 4-byte big-endian length, then that many bytes.

use iox::{Error, ErrorKind, Result};
use sonic_bytes::Fifo;

use super::{Decoded, Decoder, Encoder};

/// The payload limit of [`Frame::default`]: 64 KiB. A peer's header can claim up to 4 GiB;
/// a larger limit is a choice ([`Frame::with_limit`]), not a default.
pub const DEFAULT_FRAME_LIMIT: usize = 64 << 10;

/// The largest payload the format can carry (its length is 32 bits).
pub const FRAME_LIMIT: usize = u32::MAX as usize;

const TOO_LONG: Error = Error::invalid_input("frame length exceeds the codec's limit");

/// The frame codec: a 4-byte big-endian length, then the payload, at most the codec's limit
/// ([`DEFAULT_FRAME_LIMIT`], 64 KiB, unless set with [`with_limit`](Frame::with_limit)).
/// Decoding yields the payload as a slice of the source buffer (no copy); "need more"
/// reports the missing bytes. A header over the limit is refused before any byte of its
/// payload is read, and a connection's buffer grows with the bytes that arrive, never with
/// what a header claims (`tests/codec.rs`).
///
/// ```
/// use sonic_io::codec::{Decoded, Decoder, Encoder, Frame};
/// use sonic_bytes::{ByteBuffer, Fifo};
///
/// let mut buf = ByteBuffer::new();
/// Frame::default().encode(&b"abc"[..], &mut buf).unwrap();
/// assert_eq!(buf.data(), b"\0\0\0\x03abc");
/// assert_eq!(Frame::default().decode(&buf.data()[..5]).unwrap(), Decoded::NeedMore(2));
/// assert_eq!(Frame::default().decode(buf.data()).unwrap(), Decoded::Item(&b"abc"[..], 7));
/// // A header claiming 1 GiB is refused by the default limit.
/// assert!(Frame::default().decode(&[0x40, 0, 0, 0, 1]).is_err());
/// assert!(Frame::with_limit(1 << 30).decode(&[0x40, 0, 0, 0, 1]).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    limit: usize,
}

impl Default for Frame {
    fn default() -> Frame {
        Frame {
            limit: DEFAULT_FRAME_LIMIT,
        }
    }
}

impl Frame {
    /// A codec whose payloads may be up to `limit` bytes (capped at [`FRAME_LIMIT`]), both
    /// ways: decoding refuses a longer header, encoding a longer item.
    pub fn with_limit(limit: usize) -> Frame {
        Frame {
            limit: limit.min(FRAME_LIMIT),
        }
    }

    /// The payload limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Decoder for Frame {
    type Item<'a> = &'a [u8];

    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Decoded<&'a [u8]>> {
        let Some(head) = src.first_chunk::<4>() else {
            return Ok(Decoded::NeedMore(4 - src.len()));
        };
        let len = u32::from_be_bytes(*head) as usize;
        if len > self.limit {
            return Err(TOO_LONG);
        }
        let end = 4 + len;
        if src.len() < end {
            return Ok(Decoded::NeedMore(end - src.len()));
        }
        Ok(Decoded::Item(&src[4..end], end))
    }
}

impl Encoder<&[u8]> for Frame {
    fn encode<B: Fifo>(&mut self, item: &[u8], dst: &mut B) -> Result<()> {
        if item.len() > self.limit {
            return Err(TOO_LONG);
        }
        let n = 4 + item.len();
        let space = dst.claim(n);
        if space.len() < n {
            dst.commit(0);
            return Err(Error::with_context(
                ErrorKind::NoBufferSpace,
                "no room for the frame",
            ));
        }
        space[..4].copy_from_slice(&(item.len() as u32).to_be_bytes());
        space[4..n].copy_from_slice(item);
        dst.commit(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_past_the_limit_is_refused() {
        let head = ((DEFAULT_FRAME_LIMIT + 1) as u32).to_be_bytes();
        assert_eq!(Frame::default().decode(&head).unwrap_err(), TOO_LONG);
        let head = (DEFAULT_FRAME_LIMIT as u32).to_be_bytes();
        assert_eq!(
            Frame::default().decode(&head).unwrap(),
            Decoded::NeedMore(DEFAULT_FRAME_LIMIT)
        );
        let big = Frame::with_limit(usize::MAX);
        assert_eq!(big.limit(), FRAME_LIMIT);
        let head = u32::MAX.to_be_bytes();
        assert_eq!(
            { big }.decode(&head).unwrap(),
            Decoded::NeedMore(FRAME_LIMIT)
        );
        let mut b = sonic_bytes::ByteBuffer::new();
        assert_eq!(
            Frame::with_limit(2)
                .encode(&b"abc"[..], &mut b)
                .unwrap_err(),
            TOO_LONG
        );
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn empty_frames_round_trip() {
        let mut b = sonic_bytes::ByteBuffer::new();
        Frame::default().encode(&[][..], &mut b).unwrap();
        assert_eq!(
            Frame::default().decode(b.data()).unwrap(),
            Decoded::Item(&[][..], 4)
        );
    }
}
