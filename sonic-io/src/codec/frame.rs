//! The length-prefixed frame: a 4-byte big-endian length, then that many bytes.

use iox::{Error, ErrorKind, Result};
use sonic_bytes::Fifo;

use super::{Decoded, Decoder, Encoder};

/// The largest frame payload: 1 GiB.
pub const FRAME_LIMIT: usize = 1 << 30;

const TOO_LONG: Error = Error::invalid_input("frame length exceeds 1 GiB");

/// The frame codec: a 4-byte big-endian length, then the payload (at most [`FRAME_LIMIT`]).
/// Decoding yields the payload as a slice of the source buffer (no copy); "need more"
/// reports exactly the missing bytes, so the connection reads a whole frame at once.
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
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Frame;

impl Decoder for Frame {
    type Item<'a> = &'a [u8];

    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Decoded<&'a [u8]>> {
        let Some(head) = src.first_chunk::<4>() else {
            return Ok(Decoded::NeedMore(4 - src.len()));
        };
        let len = u32::from_be_bytes(*head) as usize;
        if len > FRAME_LIMIT {
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
        if item.len() > FRAME_LIMIT {
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
        let head = ((FRAME_LIMIT + 1) as u32).to_be_bytes();
        assert_eq!(Frame.decode(&head).unwrap_err(), TOO_LONG);
        let head = (FRAME_LIMIT as u32).to_be_bytes();
        assert_eq!(Frame.decode(&head).unwrap(), Decoded::NeedMore(FRAME_LIMIT));
    }

    #[test]
    fn empty_frames_round_trip() {
        let mut b = sonic_bytes::ByteBuffer::new();
        Frame.encode(&[][..], &mut b).unwrap();
        assert_eq!(Frame.decode(b.data()).unwrap(), Decoded::Item(&[][..], 4));
    }
}
