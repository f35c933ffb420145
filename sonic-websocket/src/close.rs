//! Close codes (RFC 6455 section 7.4) and the close frame's payload.

use std::fmt;

/// A close status code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: going away (a server shutting down, a page left).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: an unexpected condition on the server.
    pub const INTERNAL: CloseCode = CloseCode(1011);

    /// Whether a peer may send this code in a close frame: 1000-1003, 1007-1014 (the
    /// registered codes) and 3000-4999 (libraries and applications).
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a close frame's payload says, validated: a code allowed on the wire and a UTF-8
/// reason; or, for an empty payload, no code ([`CloseCode::NO_STATUS`]).
///
/// ```
/// use sonic_websocket::{CloseCode, parse_close};
///
/// assert_eq!(parse_close(&[0x03, 0xE8, b'b', b'y', b'e']), Ok((CloseCode::NORMAL, "bye")));
/// assert_eq!(parse_close(&[]), Ok((CloseCode::NO_STATUS, "")));
/// assert_eq!(parse_close(&[0x03]).unwrap_err(), CloseCode::PROTOCOL);
/// assert_eq!(parse_close(&[0x03, 0xE8, 0xFF]).unwrap_err(), CloseCode::INVALID_DATA);
/// ```
pub fn parse_close(payload: &[u8]) -> Result<(CloseCode, &str), CloseCode> {
    match payload {
        [] => Ok((CloseCode::NO_STATUS, "")),
        [_] => Err(CloseCode::PROTOCOL),
        [a, b, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*a, *b]));
            if !code.is_valid_on_wire() {
                return Err(CloseCode::PROTOCOL);
            }
            match simdutf8::basic::from_utf8(reason) {
                Ok(r) => Ok((code, r)),
                Err(_) => Err(CloseCode::INVALID_DATA),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_allowed_on_the_wire() {
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(c).is_valid_on_wire(), "{c}");
        }
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c}");
        }
    }
}
