//! The two codecs a connection runs over its byte stream: [`RxCodec`] finds the handshake
//! head and then whole frames at the front of the receive FIFO (a view, nothing copied);
//! [`TxCodec`] serializes frames straight into the send FIFO, masking and compressing on
//! the way.

use iox::{Error, ErrorKind, Result};
use sonic_bytes::Fifo;
use sonic_io::codec::{Decoded, Decoder, Encoder};

use crate::close::CloseCode;
use crate::deflate::Deflater;
use crate::frame::{self, Frame, Opcode};
use crate::mask::mask_copy;
use crate::rng::Rng;

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
}

impl Decoder for RxCodec {
    type Item<'a> = Inbound<'a>;

    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Decoded<Inbound<'a>>> {
        match self.mode {
            Mode::Head => {
                if let Some(i) = src.windows(4).position(|w| w == b"\r\n\r\n") {
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

fn put(dst: &mut impl Fifo, n: usize) -> Result<&mut [u8]> {
    let c = dst.claim(n);
    if c.len() < n {
        return Err(Error::with_context(
            ErrorKind::NoBufferSpace,
            "the send FIFO cannot hold the frame",
        ));
    }
    Ok(&mut c[..n])
}

impl TxCodec {
    fn frame<B: Fifo>(
        &mut self,
        dst: &mut B,
        opcode: Opcode,
        fin: bool,
        rsv1: bool,
        parts: [&[u8]; 2],
    ) -> Result<()> {
        let len = parts[0].len() + parts[1].len();
        let key = self.mask.then(|| self.rng.mask_key());
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
                let deflate = match &mut self.deflate {
                    Some(d)
                        if compress
                            && self.compress
                            && d.enabled
                            && fin
                            && payload.len() >= d.min_size
                            && !opcode.is_control()
                            && opcode != Opcode::Continuation =>
                    {
                        Some(d)
                    }
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
