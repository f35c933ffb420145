//! Arbitrary operation sequences on the ByteBuffer and the BipBuffer, checked against a
//! `VecDeque` model: no panic, no lost or invented byte, counts always clamped; claims
//! stay outstanding across a consume (which often empties the buffer) before their commit.
#![no_main]

use std::collections::VecDeque;

use sonic_bytes::{BipBuffer, ByteBuffer, Fifo};

fn drive<F: Fifo>(buf: &mut F, data: &[u8], whole: bool) {
    let mut model = VecDeque::new();
    let mut stamp = 0u8;
    for op in data.chunks_exact(3) {
        let n = usize::from(u16::from_le_bytes([op[1], op[2]])) % 1500;
        match op[0] % 4 {
            0 => {
                let space = buf.claim(n);
                for b in space.iter_mut() {
                    stamp = stamp.wrapping_add(1);
                    *b = stamp;
                }
                let written = space.to_vec();
                let k = buf.commit(n / 2 + usize::from(op[0]));
                assert!(k <= written.len());
                model.extend(&written[..k]);
            }
            1 => {
                let visible = buf.data().len();
                let k = buf.consume(n);
                assert_eq!(k, n.min(visible));
                model.drain(..k);
            }
            2 => {
                // Claim, write, consume while the claim is outstanding, then commit.
                let space = buf.claim(n);
                for b in space.iter_mut() {
                    stamp = stamp.wrapping_add(1);
                    *b = stamp;
                }
                let written = space.to_vec();
                let m = if op[0] & 0x80 != 0 { usize::MAX } else { n / 3 };
                let visible = buf.data().len();
                let c = buf.consume(m);
                assert_eq!(c, m.min(visible));
                model.drain(..c);
                let k = buf.commit(n / 2 + usize::from(op[0]));
                assert_eq!(k, (n / 2 + usize::from(op[0])).min(written.len()));
                model.extend(&written[..k]);
            }
            _ => {
                buf.clear();
                model.clear();
            }
        }
        assert_eq!(buf.len(), model.len());
        let d = buf.data();
        if whole {
            assert!(d.iter().eq(model.iter()));
        } else {
            assert!(d.iter().eq(model.iter().take(d.len())));
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cap, ops)) = data.split_first() else {
        return;
    };
    let cap = usize::from(cap) * 8 + 1;
    drive(&mut ByteBuffer::with_capacity(cap), ops, true);
    drive(&mut BipBuffer::new(cap), ops, false);
});
