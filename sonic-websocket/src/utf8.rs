//! Incremental UTF-8 validation of a text message that arrives in pieces (fragments,
//! inflated chunks): each piece is checked as it arrives, a character split across two
//! pieces is carried (at most 3 bytes), and an invalid sequence fails at once rather than
//! at the end of the message (RFC 6455 section 8.1: fail fast).

/// The state between pieces: the bytes of an incomplete character.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    len: u8,
}

/// The number of bytes a character with this lead byte has; 0 if no character starts so.
fn width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Utf8Validator {
        Utf8Validator {
            partial: [0; 4],
            len: 0,
        }
    }

    /// Checks the next piece. `Err(())` if the bytes so far cannot begin valid UTF-8.
    #[allow(clippy::result_unit_err)]
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ()> {
        if self.len > 0 {
            let have = usize::from(self.len);
            let need = width(self.partial[0]);
            let take = (need - have).min(bytes.len());
            self.partial[have..have + take].copy_from_slice(&bytes[..take]);
            let now = have + take;
            bytes = &bytes[take..];
            match std::str::from_utf8(&self.partial[..now]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_none() && now < need => {
                    self.len = now as u8;
                    return Ok(());
                }
                Err(_) => return Err(()),
            }
        }
        match simdutf8::compat::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// Ends the message: `Err(())` if it stops inside a character. Resets the validator.
    #[allow(clippy::result_unit_err)]
    pub fn finish(&mut self) -> Result<(), ()> {
        let ok = self.len == 0;
        self.len = 0;
        if ok { Ok(()) } else { Err(()) }
    }

    /// Forgets the current message.
    pub fn reset(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_everywhere(bytes: &[u8]) -> bool {
        let whole = std::str::from_utf8(bytes).is_ok();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Validator::new();
                let r = v
                    .feed(&bytes[..i])
                    .and_then(|()| v.feed(&bytes[i..j]))
                    .and_then(|()| v.feed(&bytes[j..]))
                    .and_then(|()| v.finish());
                assert_eq!(r.is_ok(), whole, "{bytes:x?} split at {i},{j}");
            }
        }
        whole
    }

    #[test]
    fn agrees_with_std_at_every_split() {
        assert!(split_everywhere("κόσμε hello €𝄞".as_bytes()));
        assert!(!split_everywhere(&[
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xed, 0xa0, 0x80
        ]));
        assert!(!split_everywhere(&[0xf4, 0x90, 0x80, 0x80]));
        assert!(!split_everywhere(&[0xc0, 0xaf]));
        assert!(!split_everywhere(&[b'a', 0xe2, 0x82]));
        assert!(!split_everywhere(&[0xff]));
    }

    #[test]
    fn fails_fast_inside_a_piece() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xce, 0xba]).is_ok());
        // A surrogate half: invalid as soon as its second byte is seen.
        assert!(v.feed(&[0xed]).is_ok());
        assert!(v.feed(&[0xa0]).is_err());
    }
}
