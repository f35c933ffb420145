//! The RFC 6455 frame (section 5.2) as a typed view over bytes, and the header writer.
//!
//! ```text
//!  0               1               2               3
//!  0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```

use iox::{Error, ErrorKind, Result};

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest payload of a control frame (ping, pong, close).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode (RFC 6455 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// A continuation of a fragmented message.
    Continuation = 0x0,
    /// The first (or only) frame of a text message.
    Text = 0x1,
    /// The first (or only) frame of a binary message.
    Binary = 0x2,
    /// Close.
    Close = 0x8,
    /// Ping.
    Ping = 0x9,
    /// Pong.
    Pong = 0xA,
}

impl Opcode {
    /// The opcode of the 4 low bits, `None` for the reserved values (3-7, 0xB-0xF).
    pub const fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits & 0x0F {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Control frames (close, ping, pong) are never fragmented and carry at most 125 bytes.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// The lengths a frame header announces: `(header_len, payload_len)`, or `Ok(None)` while
/// the header is incomplete (`needed` more bytes are then at least `header_len - len`).
///
/// A 64-bit length with its most significant bit set is refused (RFC 6455 section 5.2).
pub fn lengths(bytes: &[u8]) -> Result<Option<(usize, u64)>> {
    if bytes.len() < 2 {
        return Ok(None);
    }
    let masked = bytes[1] & 0x80 != 0;
    let mask_len = if masked { 4 } else { 0 };
    let (ext, payload) = match bytes[1] & 0x7F {
        126 => {
            if bytes.len() < 4 {
                return Ok(None);
            }
            (2, u64::from(u16::from_be_bytes([bytes[2], bytes[3]])))
        }
        127 => {
            if bytes.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[2..10]);
            let n = u64::from_be_bytes(b);
            if n >> 63 != 0 {
                return Err(Error::with_context(
                    ErrorKind::InvalidInput,
                    "websocket frame length has its most significant bit set",
                ));
            }
            (8, n)
        }
        n => (0, u64::from(n)),
    };
    let header = 2 + ext + mask_len;
    if bytes.len() < header {
        return Ok(None);
    }
    Ok(Some((header, payload)))
}

/// A read-only view of one whole frame at the front of a byte buffer.
///
/// [`new_checked`](Frame::new_checked) validates the lengths once; the accessors then read
/// fields without further checks. The view does not judge the frame against the protocol
/// state (reserved bits, masking direction, fragmentation): the connection does.
///
/// ```
/// use sonic_websocket::{Frame, Opcode};
///
/// let bytes = [0x81, 0x05, b'h', b'e', b'l', b'l', b'o'];
/// let f = Frame::new_checked(&bytes[..]).unwrap();
/// assert!(f.fin());
/// assert_eq!(f.opcode(), Some(Opcode::Text));
/// assert_eq!(f.payload(), b"hello");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    /// Invariant (when made by `new_checked`): holds a whole frame, header and payload.
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// A view without checks; the accessors may panic if `buffer` does not hold a whole
    /// frame. Use [`check_len`](Frame::check_len) or [`new_checked`](Frame::new_checked).
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// A view of the whole frame at the front of `buffer`, or `InvalidData` ("websocket
    /// frame truncated") if the buffer is shorter than the frame.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let f = Frame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks that the buffer holds the whole frame its header announces.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        match lengths(b)? {
            Some((h, p)) if (b.len() - h) as u64 >= p => Ok(()),
            _ => Err(Error::with_context(
                ErrorKind::InvalidInput,
                "websocket frame truncated",
            )),
        }
    }

    fn dims(&self) -> (usize, usize) {
        let (h, p) = lengths(self.buffer.as_ref())
            .ok()
            .flatten()
            .expect("a checked frame");
        (h, p as usize)
    }

    /// FIN: the last frame of a message.
    pub fn fin(&self) -> bool {
        self.buffer.as_ref()[0] & 0x80 != 0
    }

    /// RSV1 (the "compressed" bit of permessage-deflate).
    pub fn rsv1(&self) -> bool {
        self.buffer.as_ref()[0] & 0x40 != 0
    }

    /// RSV2.
    pub fn rsv2(&self) -> bool {
        self.buffer.as_ref()[0] & 0x20 != 0
    }

    /// RSV3.
    pub fn rsv3(&self) -> bool {
        self.buffer.as_ref()[0] & 0x10 != 0
    }

    /// The raw 4-bit opcode.
    pub fn opcode_bits(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x0F
    }

    /// The opcode, `None` if reserved.
    pub fn opcode(&self) -> Option<Opcode> {
        Opcode::from_bits(self.opcode_bits())
    }

    /// MASK: the payload is masked (every frame from a client, none from a server).
    pub fn masked(&self) -> bool {
        self.buffer.as_ref()[1] & 0x80 != 0
    }

    /// The masking key, if masked.
    pub fn mask_key(&self) -> Option<[u8; 4]> {
        if !self.masked() {
            return None;
        }
        let (h, _) = self.dims();
        let b = self.buffer.as_ref();
        Some([b[h - 4], b[h - 3], b[h - 2], b[h - 1]])
    }

    /// The header's length: 2 to 14 bytes.
    pub fn header_len(&self) -> usize {
        self.dims().0
    }

    /// The payload's length.
    pub fn payload_len(&self) -> usize {
        self.dims().1
    }

    /// The whole frame's length: header and payload.
    pub fn frame_len(&self) -> usize {
        let (h, p) = self.dims();
        h + p
    }

    /// The payload as it is on the wire (still masked if [`masked`](Frame::masked)).
    pub fn payload(&self) -> &[u8] {
        let (h, p) = self.dims();
        &self.buffer.as_ref()[h..h + p]
    }

    /// The bytes underneath.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<'a> Frame<&'a [u8]> {
    /// The payload, borrowed for as long as the bytes underneath (not just the view).
    pub fn payload_ref(&self) -> &'a [u8] {
        let (h, p) = self.dims();
        let b: &'a [u8] = self.buffer;
        &b[h..h + p]
    }
}

/// The length of a header for a payload of `len` bytes, masked or not.
pub const fn header_len(len: u64, masked: bool) -> usize {
    let ext = if len < 126 {
        0
    } else if len <= 0xFFFF {
        2
    } else {
        8
    };
    2 + ext + if masked { 4 } else { 0 }
}

/// Writes a frame header into `dst` (at least [`header_len`] bytes) and returns its length.
///
/// ```
/// use sonic_websocket::{Opcode, frame};
///
/// let mut h = [0u8; frame::MAX_HEADER_LEN];
/// let n = frame::write_header(&mut h, true, false, Opcode::Binary, None, 300);
/// assert_eq!(&h[..n], &[0x82, 126, 0x01, 0x2C]);
/// ```
pub fn write_header(
    dst: &mut [u8],
    fin: bool,
    rsv1: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: u64,
) -> usize {
    dst[0] = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode as u8;
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        dst[1] = m | len as u8;
        2
    } else if len <= 0xFFFF {
        dst[1] = m | 126;
        dst[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        dst[1] = m | 127;
        dst[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    if let Some(k) = mask {
        dst[n..n + 4].copy_from_slice(&k);
        n += 4;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_every_header_form() {
        assert_eq!(lengths(&[0x82]).unwrap(), None);
        assert_eq!(lengths(&[0x82, 5]).unwrap(), Some((2, 5)));
        assert_eq!(lengths(&[0x82, 0x85, 1, 2, 3]).unwrap(), None);
        assert_eq!(lengths(&[0x82, 0x85, 1, 2, 3, 4]).unwrap(), Some((6, 5)));
        assert_eq!(lengths(&[0x82, 126, 1]).unwrap(), None);
        assert_eq!(lengths(&[0x82, 126, 1, 0]).unwrap(), Some((4, 256)));
        let mut long = [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(lengths(&long).unwrap(), Some((10, 1 << 32)));
        long[2] = 0x80;
        let e = lengths(&long).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn header_round_trips_through_the_view() {
        for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let mut buf = vec![0u8; MAX_HEADER_LEN + len as usize];
                let n = write_header(&mut buf, false, true, Opcode::Text, mask, len);
                assert_eq!(n, header_len(len, mask.is_some()));
                buf.truncate(n + len as usize);
                let f = Frame::new_checked(&buf[..]).unwrap();
                assert!(!f.fin() && f.rsv1() && !f.rsv2() && !f.rsv3());
                assert_eq!(f.opcode(), Some(Opcode::Text));
                assert_eq!(f.mask_key(), mask);
                assert_eq!(f.payload_len() as u64, len);
                assert_eq!(f.frame_len(), buf.len());
                let short = &buf[..buf.len() - 1];
                assert!(Frame::new_checked(short).is_err());
            }
        }
    }

    #[test]
    fn reserved_opcodes_are_none() {
        for b in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(Opcode::from_bits(b), None);
        }
        assert!(Opcode::Ping.is_control() && !Opcode::Continuation.is_control());
    }
}
