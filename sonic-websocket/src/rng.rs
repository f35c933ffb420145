//! Masking keys and handshake nonces from the operating system's cryptographic generator
//! (`getrandom(2)` on Linux, `getentropy`/`arc4random` elsewhere, through the `getrandom`
//! crate), read [`POOL`] bytes at a time.
//!
//! RFC 6455 (section 10.3) asks for masking keys a hostile page cannot predict, so that it
//! cannot choose the bytes an intermediary sees on the wire; section 4.1 asks the same of
//! the handshake's nonce. Each connection keeps its own pool of OS random bytes, allocated
//! on first use (a server, which never masks, has none) and refilled when spent: a masked
//! frame takes 4 bytes of it, so one refill (one syscall) serves 64 frames and a frame costs
//! no syscall on average and never an allocation.

use iox::{Error, Result};

/// Bytes read from the OS at a time.
pub(crate) const POOL: usize = 256;

#[derive(Debug)]
struct Pool {
    bytes: [u8; POOL],
    /// The next unused byte; `POOL` when spent.
    pos: usize,
}

/// A connection's supply of OS random bytes (a pointer until first used).
#[derive(Debug, Default)]
pub(crate) struct Rng(Option<Box<Pool>>);

impl Rng {
    pub(crate) fn new() -> Rng {
        Rng(None)
    }

    /// Fills `out` from the pool, refilling it from the OS when spent.
    pub(crate) fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        let pool = self.0.get_or_insert_with(|| {
            Box::new(Pool {
                bytes: [0; POOL],
                pos: POOL,
            })
        });
        let mut done = 0;
        while done < out.len() {
            if pool.pos == POOL {
                getrandom::fill(&mut pool.bytes).map_err(|e| {
                    let err = match e.raw_os_error() {
                        Some(n) => Error::from_io(&std::io::Error::from_raw_os_error(n)),
                        None => Error::new(iox::ErrorKind::Os),
                    };
                    err.context("the OS random generator failed (getrandom)")
                })?;
                pool.pos = 0;
            }
            let n = (out.len() - done).min(POOL - pool.pos);
            out[done..done + n].copy_from_slice(&pool.bytes[pool.pos..pool.pos + n]);
            // Each random byte is handed out once.
            pool.bytes[pool.pos..pool.pos + n].fill(0);
            pool.pos += n;
            done += n;
        }
        Ok(())
    }

    /// A frame's masking key.
    pub(crate) fn mask_key(&mut self) -> Result<[u8; 4]> {
        let mut k = [0u8; 4];
        self.fill(&mut k)?;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn keys(rng: &mut Rng, n: usize) -> Vec<u32> {
        (0..n)
            .map(|_| u32::from_ne_bytes(rng.mask_key().unwrap()))
            .collect()
    }

    #[test]
    fn keys_are_distinct_and_balanced() {
        let mut rng = Rng::new();
        let k = keys(&mut rng, 20_000);
        // 20,000 draws from 2^32 collide with probability about 0.05; three collisions
        // would be a generator with far fewer than 32 bits of state per key.
        let distinct: HashSet<u32> = k.iter().copied().collect();
        assert!(
            k.len() - distinct.len() <= 2,
            "{} repeats",
            k.len() - distinct.len()
        );
        // Not a counter or any fixed-step sequence.
        let steps: HashSet<u32> = k.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        assert!(steps.len() > 19_000, "{} distinct steps", steps.len());
        // About half the bits are set (640,000 bits: 320,000 +- 4 sigma of 400).
        let ones: u32 = k.iter().map(|x| x.count_ones()).sum();
        assert!((318_400..=321_600).contains(&ones), "{ones} bits set");
        // Every bit position varies.
        let and = k.iter().fold(u32::MAX, |a, x| a & x);
        let or = k.iter().fold(0, |a, x| a | x);
        assert_eq!((and, or), (0, u32::MAX));
    }

    #[test]
    fn two_generators_give_different_streams() {
        let (mut a, mut b) = (Rng::new(), Rng::new());
        let (ka, kb) = (keys(&mut a, 1000), keys(&mut b, 1000));
        let sa: HashSet<u32> = ka.iter().copied().collect();
        assert!(kb.iter().filter(|k| sa.contains(k)).count() <= 1);
    }

    #[test]
    fn fills_across_refills_and_spans_of_any_length() {
        let mut rng = Rng::new();
        // 7 does not divide 256: spans cross the refill boundary.
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let mut b = [0u8; 7];
            rng.fill(&mut b).unwrap();
            seen.insert(b);
        }
        assert_eq!(seen.len(), 200);
        let mut big = [0u8; 3 * POOL + 5];
        rng.fill(&mut big).unwrap();
        assert!(big.chunks(16).collect::<HashSet<_>>().len() == big.chunks(16).count());
    }
}
