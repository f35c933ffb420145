//! Masking (RFC 6455 section 5.3), a 64-bit word at a time.
//!
//! The key is repeated into a `u64` and XORed over 8-byte chunks (which the compiler
//! turns into vector instructions where it can); the tail goes byte by byte. `phase` is
//! the payload offset of `buf[0]` modulo 4, so a payload may be masked in pieces.

fn key_word(key: [u8; 4], phase: usize) -> ([u8; 4], u64) {
    let k = [
        key[phase % 4],
        key[(phase + 1) % 4],
        key[(phase + 2) % 4],
        key[(phase + 3) % 4],
    ];
    let w = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    (k, w)
}

/// XORs `buf` with the masking `key`, `buf[0]` being byte `phase` of the payload. Masking
/// twice restores the bytes.
///
/// ```
/// let mut b = *b"hello world";
/// sonic_websocket::mask::apply_mask(&mut b, [1, 2, 3, 4], 0);
/// sonic_websocket::mask::apply_mask(&mut b[..5], [1, 2, 3, 4], 0);
/// sonic_websocket::mask::apply_mask(&mut b[5..], [1, 2, 3, 4], 5);
/// assert_eq!(&b, b"hello world");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let (k, w) = key_word(key, phase);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ w;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

/// Copies `src` into `dst` (of the same length) masking it on the way, `src[0]` being byte
/// `phase` of the payload.
pub fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    assert_eq!(dst.len(), src.len(), "mask_copy needs equal lengths");
    let (k, w) = key_word(key, phase);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dc, sc) in (&mut d).zip(&mut s) {
        let v = u64::from_ne_bytes([sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]]) ^ w;
        dc.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, (db, sb)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        *db = sb ^ k[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], phase: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + phase) % 4];
        }
    }

    #[test]
    fn word_masking_equals_byte_masking_at_every_length_and_phase() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..70 {
            for phase in 0..4 {
                let src: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut a = src.clone();
                let mut b = src.clone();
                apply_mask(&mut a, key, phase);
                naive(&mut b, key, phase);
                assert_eq!(a, b, "len {len} phase {phase}");
                let mut c = vec![0u8; len];
                mask_copy(&mut c, &src, key, phase);
                assert_eq!(c, b);
            }
        }
    }
}
