//! The two codecs a connection runs over its byte stream: [`RxCodec`] finds the handshake
//! head and then whole frames at the front of the receive FIFO (a view, nothing copied; a
//! masked frame is unmasked there, in place, through the FIFO's mutable loan);
//! [`TxCodec`] serializes frames straight into the send FIFO, masking and compressing on
//! the way.

use iox::{Error, ErrorKind, Result};
use sonic_bytes::Fifo;
use sonic_io::codec::{Decoded, Decoder, Encoder};

use crate::close::CloseCode;
use crate::deflate::Deflater;
use crate::frame::{self, Frame, Opcode};
use crate::mask::{apply_mask, mask_copy};
use crate::rng::Rng;
use crate::utf8::Utf8Validator;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Looking for the end of the HTTP head (`\r\n\r\n`).
    Head,
    /// Frames.
    Frames,
}

/// The receive side's decoder. With `hold` set, an item is reported as spanning 0 bytes,
/// so the connection's next `item()` decodes it again instead of consuming it: that is
/// how a message stays in the FIFO while the application reads it, and how the
/// connection looks at a frame before deciding to consume it.
#[derive(Debug)]
pub(crate) struct RxCodec {
    pub(crate) mode: Mode,
    pub(crate) hold: bool,
    pub(crate) max_frame: usize,
    pub(crate) max_head: usize,
    /// The UTF-8 state of the uncompressed text message under way, when a continuation
    /// frame may come (set by the connection).
    pub(crate) text_so_far: Option<Utf8Validator>,
    /// Fail-fast UTF-8 of a text frame still arriving: the state after the payload bytes
    /// checked so far, and how many those are. Reset when a frame is consumed.
    pub(crate) probe: Option<(Utf8Validator, usize)>,
    /// The whole frame at the front of the FIFO was unmasked in place (by `decode_mut`)
    /// and is held there: decoding it again must not unmask it twice. Cleared when a frame
    /// is handed out with its span, that is, to be consumed before the next decode.
    pub(crate) front_plain: bool,
}

/// What the receive decoder found.
#[derive(Debug)]
pub(crate) enum Inbound<'a> {
    /// A whole handshake head.
    Head(&'a [u8]),
    /// A whole frame.
    Frame(Frame<&'a [u8]>),
    /// A header the connection must refuse, with the close code and why.
    Bad(CloseCode, &'static str),
}

impl RxCodec {
    fn span(&self, n: usize) -> usize {
        if self.hold { 0 } else { n }
    }

    /// Checks the payload of an incomplete text frame as far as it has arrived, so that
    /// invalid UTF-8 fails before the frame's end comes (RFC 6455 section 8.1: fail fast).
    /// `false` if the bytes so far cannot begin valid UTF-8.
    fn probe_text(&mut self, src: &[u8], header: usize) -> bool {
        let (b0, b1) = (src[0], src[1]);
        if b0 & 0x70 != 0 {
            return true; // reserved bits or compressed: judged when whole
        }
        let start = match (b0 & 0x0F, self.text_so_far) {
            (0x1, _) => Utf8Validator::new(),
            (0x0, Some(v)) => v,
            _ => return true,
        };
        let (mut v, done) = self.probe.unwrap_or((start, 0));
        let have = &src[header..];
        let mut at = done;
        let mut tmp = [0u8; 256];
        while at < have.len() {
            let n = (have.len() - at).min(tmp.len());
            let piece = &have[at..at + n];
            let piece = if b1 & 0x80 != 0 {
                let key = [
                    src[header - 4],
                    src[header - 3],
                    src[header - 2],
                    src[header - 1],
                ];
                mask_copy(&mut tmp[..n], piece, key, at);
                &tmp[..n]
            } else {
                piece
            };
            if v.feed(piece).is_err() {
                return false;
            }
            at += n;
        }
        self.probe = Some((v, at));
        true
    }
}

impl Decoder for RxCodec {
    type Item<'a> = Inbound<'a>;

    /// Whole frames come out as they arrived (masked, unless already unmasked in place);
    /// the connection reads them through `decode_mut`, this finds whether one is whole.
    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Decoded<Inbound<'a>>> {
        let d = self.find(src)?;
        if let Decoded::Item(_, n) = d
            && n > 0
        {
            self.front_plain = false;
        }
        Ok(d)
    }

    /// A whole masked frame is unmasked in place, once, and handed out with its payload
    /// plain (its header still says masked, for the connection's check).
    fn decode_mut<'a>(&mut self, src: &'a mut [u8]) -> Result<Decoded<Inbound<'a>>> {
        if self.mode == Mode::Frames
            && !self.front_plain
            && let Ok(Some((h, p))) = frame::lengths(src)
            && p <= self.max_frame as u64
            && src.len() >= h + p as usize
            && src[1] & 0x80 != 0
        {
            let key = [src[h - 4], src[h - 3], src[h - 2], src[h - 1]];
            apply_mask(&mut src[h..h + p as usize], key, 0);
            self.front_plain = true;
        }
        let src: &'a [u8] = src;
        let d = self.find(src)?;
        if let Decoded::Item(_, n) = d
            && n > 0
        {
            self.front_plain = false;
        }
        Ok(d)
    }
}

impl RxCodec {
    fn find<'a>(&mut self, src: &'a [u8]) -> Result<Decoded<Inbound<'a>>> {
        match self.mode {
            Mode::Head => {
                // The limit holds whether the head's end came in the same read or not (a
                // helper's 32 KB head that arrived whole was taken).
                let within = &src[..src.len().min(self.max_head)];
                if let Some(i) = within.windows(4).position(|w| w == b"\r\n\r\n") {
                    let n = i + 4;
                    return Ok(Decoded::Item(Inbound::Head(&src[..n]), self.span(n)));
                }
                if src.len() > self.max_head {
                    return Ok(Decoded::Item(
                        Inbound::Bad(CloseCode::POLICY, "handshake head exceeds the limit"),
                        0,
                    ));
                }
                Ok(Decoded::NeedMore(0))
            }
            Mode::Frames => {
                let (h, p) = match frame::lengths(src) {
                    Ok(Some(l)) => l,
                    Ok(None) => return Ok(Decoded::NeedMore(0)),
                    Err(_) => {
                        return Ok(Decoded::Item(
                            Inbound::Bad(CloseCode::PROTOCOL, "frame length has its top bit set"),
                            0,
                        ));
                    }
                };
                if p > self.max_frame as u64 {
                    return Ok(Decoded::Item(
                        Inbound::Bad(CloseCode::TOO_BIG, "frame exceeds the frame limit"),
                        0,
                    ));
                }
                let total = h + p as usize;
                if src.len() < total {
                    if src.len() > h && !self.probe_text(src, h) {
                        return Ok(Decoded::Item(
                            Inbound::Bad(
                                CloseCode::INVALID_DATA,
                                "text message is not valid UTF-8",
                            ),
                            0,
                        ));
                    }
                    return Ok(Decoded::NeedMore(total - src.len()));
                }
                Ok(Decoded::Item(
                    Inbound::Frame(Frame::new_unchecked(&src[..total])),
                    self.span(total),
                ))
            }
        }
    }
}

/// The send side's encoder state: masking keys (clients), the compressor and its output.
#[derive(Debug)]
pub(crate) struct TxCodec {
    pub(crate) mask: bool,
    pub(crate) rng: Rng,
    pub(crate) deflate: Option<Deflater>,
    /// The compressed form of the message being sent (reused).
    pub(crate) scratch: Vec<u8>,
    /// Compress outgoing messages when permessage-deflate was negotiated.
    pub(crate) compress: bool,
}

/// What the send side writes.
#[derive(Debug)]
pub(crate) enum Out<'a> {
    /// Bytes as they are (the handshake).
    Raw(&'a [u8]),
    /// One frame; `compress` asks for permessage-deflate (whole messages only).
    Frame {
        opcode: Opcode,
        fin: bool,
        payload: &'a [u8],
        compress: bool,
    },
    /// A close frame with a code and reason (at most 123 bytes, cut at a character).
    Close(CloseCode, &'a str),
    /// Nothing: flush what is buffered.
    Flush,
}

impl Decoder for TxCodec {
    type Item<'a> = ();
    fn decode(&mut self, _: &[u8]) -> Result<Decoded<()>> {
        Ok(Decoded::NeedMore(0))
    }
}

/// `n` bytes of the send FIFO to write a frame into. One claim grows a `ByteBuffer` by one
/// step at most (its `CLAIM_GROWTH`, 16 MiB, or its size): that bounds what a peer's forged
/// length makes the receive side allocate, but a message the program sends may need several
/// steps, so the claim is repeated while it grows (a helper's 17 MB message failed with
/// `NoBufferSpace`; `tests/echo.rs`, `messages_past_the_fifo_growth_step_go_both_ways`).
fn put(dst: &mut impl Fifo, n: usize) -> Result<&mut [u8]> {
    let mut had = 0;
    loop {
        let got = dst.claim(n).len();
        if got >= n {
            break;
        }
        if got <= had {
            dst.commit(0);
            return Err(Error::with_context(
                ErrorKind::NoBufferSpace,
                "the send FIFO cannot hold the frame",
            ));
        }
        had = got;
    }
    Ok(&mut dst.claim(n)[..n])
}

/// Payloads from this size up are sent from where they lie ([`TxCodec::gather_header`]);
/// smaller ones are copied into the send FIFO with their header. The threshold is a
/// choice, not a measured optimum.
pub(crate) const GATHER_MIN: usize = 2048;

impl TxCodec {
    /// Whether a frame of `opcode` carrying `len` bytes goes out compressed: asked for,
    /// negotiated and on, a whole data message (not a fragment, not a control frame), and
    /// at least the configured size.
    fn deflates(&self, opcode: Opcode, fin: bool, len: usize, compress: bool) -> bool {
        compress
            && self.compress
            && fin
            && !opcode.is_control()
            && opcode != Opcode::Continuation
            && self
                .deflate
                .as_ref()
                .is_some_and(|d| d.enabled && len >= d.min_size)
    }

    /// The header of a frame whose payload may be sent as it is, from where it lies: an
    /// unmasked (server) frame that is not compressed, of at least [`GATHER_MIN`] bytes.
    /// `None` for a frame the codec must transform (mask, compress) or below that size.
    /// Header bytes, length.
    pub(crate) fn gather_header(
        &self,
        opcode: Opcode,
        fin: bool,
        payload: &[u8],
        compress: bool,
    ) -> Option<([u8; frame::MAX_HEADER_LEN], usize)> {
        if self.mask
            || payload.len() < GATHER_MIN
            || self.deflates(opcode, fin, payload.len(), compress)
        {
            return None;
        }
        let mut h = [0u8; frame::MAX_HEADER_LEN];
        let n = frame::write_header(&mut h, fin, false, opcode, None, payload.len() as u64);
        Some((h, n))
    }

    fn frame<B: Fifo>(
        &mut self,
        dst: &mut B,
        opcode: Opcode,
        fin: bool,
        rsv1: bool,
        parts: [&[u8]; 2],
    ) -> Result<()> {
        let len = parts[0].len() + parts[1].len();
        let key = match self.mask {
            true => Some(self.rng.mask_key()?),
            false => None,
        };
        let hl = frame::header_len(len as u64, key.is_some());
        let c = put(dst, hl + len)?;
        let n = frame::write_header(c, fin, rsv1, opcode, key, len as u64);
        let (a, b) = c[n..].split_at_mut(parts[0].len());
        match key {
            Some(k) => {
                mask_copy(a, parts[0], k, 0);
                mask_copy(b, parts[1], k, parts[0].len());
            }
            None => {
                a.copy_from_slice(parts[0]);
                b.copy_from_slice(parts[1]);
            }
        }
        dst.commit(hl + len);
        Ok(())
    }
}

impl Encoder<Out<'_>> for TxCodec {
    fn encode<B: Fifo>(&mut self, item: Out<'_>, dst: &mut B) -> Result<()> {
        match item {
            Out::Raw(b) => {
                put(dst, b.len())?.copy_from_slice(b);
                dst.commit(b.len());
                Ok(())
            }
            Out::Frame {
                opcode,
                fin,
                payload,
                compress,
            } => {
                let deflates = self.deflates(opcode, fin, payload.len(), compress);
                let deflate = match &mut self.deflate {
                    Some(d) if deflates => Some(d),
                    _ => None,
                };
                match deflate {
                    Some(d) => {
                        let mut z = std::mem::take(&mut self.scratch);
                        let r = d
                            .compress(payload, &mut z)
                            .and_then(|()| self.frame(dst, opcode, true, true, [&z, &[]]));
                        self.scratch = z;
                        r
                    }
                    None => self.frame(dst, opcode, fin, false, [payload, &[]]),
                }
            }
            Out::Close(code, reason) => {
                let mut cut = reason.len().min(123);
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                if code == CloseCode::NO_STATUS {
                    return self.frame(dst, Opcode::Close, true, false, [&[], &[]]);
                }
                let c = code.0.to_be_bytes();
                self.frame(
                    dst,
                    Opcode::Close,
                    true,
                    false,
                    [&c, &reason.as_bytes()[..cut]],
                )
            }
            Out::Flush => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rx() -> RxCodec {
        RxCodec {
            mode: Mode::Frames,
            hold: true,
            max_frame: 1 << 20,
            max_head: 1 << 10,
            text_so_far: None,
            probe: None,
            front_plain: false,
        }
    }

    /// A masked binary frame of `payload` with key `k`.
    fn masked(payload: &[u8], k: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0x82, 0x80 | payload.len() as u8];
        f.extend_from_slice(&k);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        f
    }

    fn payload(d: Decoded<Inbound<'_>>) -> (Vec<u8>, usize) {
        match d {
            Decoded::Item(Inbound::Frame(f), n) => (f.payload().to_vec(), n),
            other => panic!("not a frame: {other:?}"),
        }
    }

    /// The head limit holds when the whole head is in the buffer at once: before, only a
    /// head whose end had not come yet was measured against it.
    #[test]
    fn a_whole_head_past_the_limit_is_refused() {
        let mut c = rx();
        c.mode = Mode::Head;
        let head = |n: usize| {
            let mut h = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
            h.resize(n - 4, b'a');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let fits = head(1 << 10);
        assert!(matches!(
            c.find(&fits),
            Ok(Decoded::Item(Inbound::Head(_), _))
        ));
        let over = head((1 << 10) + 1);
        assert!(matches!(
            c.find(&over),
            Ok(Decoded::Item(
                Inbound::Bad(_, "handshake head exceeds the limit"),
                0
            ))
        ));
    }

    #[test]
    fn a_held_frame_is_unmasked_in_place_once() {
        let mut c = rx();
        let mut buf = masked(b"hello", [1, 2, 3, 4]);
        let second = masked(b"world!", [9, 8, 7, 6]);
        buf.extend_from_slice(&second);
        // Held (span 0): unmasked in place, and not again when decoded again.
        for _ in 0..3 {
            assert_eq!(
                payload(c.decode_mut(&mut buf).unwrap()),
                (b"hello".to_vec(), 0)
            );
        }
        assert_eq!(&buf[6..11], b"hello");
        // The shared decode sees the same plain bytes.
        assert_eq!(payload(c.decode(&buf).unwrap()), (b"hello".to_vec(), 0));
        // Handed out with its span: the next decode is of fresh bytes, unmasked again.
        c.hold = false;
        assert_eq!(payload(c.decode(&buf).unwrap()), (b"hello".to_vec(), 11));
        c.hold = true;
        let mut rest = buf[11..].to_vec();
        assert_eq!(
            payload(c.decode_mut(&mut rest).unwrap()),
            (b"world!".to_vec(), 0)
        );
        assert_eq!(
            payload(c.decode_mut(&mut rest).unwrap()),
            (b"world!".to_vec(), 0)
        );
    }

    #[test]
    fn an_incomplete_or_oversized_frame_is_left_as_it_is() {
        let mut c = rx();
        let whole = masked(b"hello", [1, 2, 3, 4]);
        let mut part = whole[..8].to_vec();
        assert!(matches!(
            c.decode_mut(&mut part).unwrap(),
            Decoded::NeedMore(3)
        ));
        assert_eq!(part, whole[..8]);
        c.max_frame = 4;
        let mut big = whole.clone();
        assert!(matches!(
            c.decode_mut(&mut big).unwrap(),
            Decoded::Item(Inbound::Bad(CloseCode::TOO_BIG, _), 0)
        ));
        assert_eq!(big, whole);
    }
}
