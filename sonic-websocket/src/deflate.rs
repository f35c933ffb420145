//! permessage-deflate (RFC 7692): the negotiation of its four parameters and the
//! compressor and decompressor contexts (raw deflate through `flate2`'s zlib-rs backend),
//! kept and reused across messages.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use iox::{Error, ErrorKind, Result};

/// The extension's token.
pub(crate) const EXTENSION: &str = "permessage-deflate";

/// The four bytes a sync flush ends with, removed from each compressed message and put
/// back before inflating it (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// What this endpoint offers (client) or accepts (server) for permessage-deflate.
///
/// As a client, `*_no_context_takeover` and `*_max_window_bits` below 15 are requested in
/// the offer; as a server they are the most it grants (a client's request for less is
/// always granted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's compressor window, 8 to 15 bits.
    pub server_max_window_bits: u8,
    /// The client's compressor window, 8 to 15 bits.
    pub client_max_window_bits: u8,
    /// The compression level, 0 (stored, no compression) to 9 (best); 6 by default. RFC
    /// 7692 leaves the level to the sender and the peer inflates any of them alike. A lower
    /// level trades size for time: level 1 (zlib-rs's fastest matcher) spends a fraction
    /// of level 6's CPU per message and sends somewhat larger frames; for a feed whose
    /// latency matters more than its bandwidth, or a peer on loopback, it is the better
    /// choice. On this project's Autobahn run (`cargo xtask autobahn`, sections 12 and 13:
    /// 1,000 compressed messages per case, echoed both ways), the examples at level 1
    /// instead of 6 brought all 517 cases from 605 to 435 CPU-seconds, both ends counted
    /// (the crate README, "Conformance").
    ///
    /// ```
    /// use sonic_websocket::{DeflateConfig, ServerConfig};
    ///
    /// let fast = DeflateConfig { level: 1, ..DeflateConfig::default() };
    /// let cfg = ServerConfig::default().deflate(fast);
    /// assert_eq!(cfg.deflate.unwrap().level, 1);
    /// ```
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (RSV1 clear).
    pub min_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
            min_size: 0,
        }
    }
}

/// The parameters both ends agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's compressor window, 8 to 15 bits.
    pub server_max_window_bits: u8,
    /// The client's compressor window, 8 to 15 bits.
    pub client_max_window_bits: u8,
}

/// The parameters of one offer or response, as written.
#[derive(Default)]
struct Raw {
    snct: bool,
    cnct: bool,
    smwb: Option<u8>,
    /// `Some(None)`: present without a value (allowed in an offer only).
    cmwb: Option<Option<u8>>,
}

fn bits(v: &str) -> Option<u8> {
    let v = v.trim().trim_matches('"');
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

/// Parses one extension element `permessage-deflate; a; b=c`; `None` if it is another
/// extension, `Some(Err)` if its parameters are invalid (unknown, repeated, out of range).
fn parse(element: &str) -> Option<std::result::Result<Raw, ()>> {
    let mut parts = element.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case(EXTENSION) {
        return None;
    }
    let mut r = Raw::default();
    for p in parts {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (p.trim(), None),
        };
        let ok = match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !r.snct => {
                r.snct = true;
                true
            }
            ("client_no_context_takeover", None) if !r.cnct => {
                r.cnct = true;
                true
            }
            ("server_max_window_bits", Some(v)) if r.smwb.is_none() => {
                r.smwb = bits(v);
                r.smwb.is_some()
            }
            ("client_max_window_bits", v) if r.cmwb.is_none() => match v {
                None => {
                    r.cmwb = Some(None);
                    true
                }
                Some(v) => {
                    r.cmwb = Some(bits(v));
                    r.cmwb.flatten().is_some()
                }
            },
            _ => false,
        };
        if !ok {
            return Some(Err(()));
        }
    }
    Some(Ok(r))
}

impl DeflateConfig {
    /// The client's offer, the value of a `Sec-WebSocket-Extensions` header. Unless
    /// `client_no_context_takeover` is set, a second offer follows the first that adds it,
    /// for a server that accepts only clients without context takeover (it picks the first
    /// offer it can accept; the response says which).
    pub fn offer(&self) -> String {
        let one = |cnct: bool| {
            let mut s = String::from(EXTENSION);
            if self.server_no_context_takeover {
                s.push_str("; server_no_context_takeover");
            }
            if cnct {
                s.push_str("; client_no_context_takeover");
            }
            if self.server_max_window_bits < 15 {
                s.push_str(&format!(
                    "; server_max_window_bits={}",
                    self.server_max_window_bits.max(8)
                ));
            }
            if self.client_max_window_bits < 15 {
                s.push_str(&format!(
                    "; client_max_window_bits={}",
                    self.client_max_window_bits.max(8)
                ));
            } else {
                s.push_str("; client_max_window_bits");
            }
            s
        };
        if self.client_no_context_takeover {
            one(true)
        } else {
            format!("{}, {}", one(false), one(true))
        }
    }

    /// The server's answer to a client's `Sec-WebSocket-Extensions` values: the first
    /// acceptable permessage-deflate offer, as agreed parameters and the response header
    /// value. `None` when there is none (the connection goes on uncompressed).
    pub fn accept<'a>(
        &self,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Option<(DeflateParams, String)> {
        for value in values {
            for element in value.split(',') {
                let Some(Ok(r)) = parse(element) else {
                    continue;
                };
                let p = DeflateParams {
                    server_no_context_takeover: r.snct || self.server_no_context_takeover,
                    client_no_context_takeover: r.cnct || self.client_no_context_takeover,
                    server_max_window_bits: r
                        .smwb
                        .unwrap_or(15)
                        .min(self.server_max_window_bits.clamp(8, 15)),
                    client_max_window_bits: match r.cmwb {
                        // The client did not say it can limit its window: it uses 15.
                        None => 15,
                        Some(v) => v
                            .unwrap_or(15)
                            .min(self.client_max_window_bits.clamp(8, 15)),
                    },
                };
                if r.cmwb.is_none() && self.client_max_window_bits < 15 {
                    // We want a smaller client window but the client cannot do it.
                    continue;
                }
                let mut s = String::from(EXTENSION);
                if p.server_no_context_takeover {
                    s.push_str("; server_no_context_takeover");
                }
                if p.client_no_context_takeover {
                    s.push_str("; client_no_context_takeover");
                }
                if r.smwb.is_some() || p.server_max_window_bits < 15 {
                    s.push_str(&format!(
                        "; server_max_window_bits={}",
                        p.server_max_window_bits
                    ));
                }
                if r.cmwb.is_some() && (r.cmwb.flatten().is_some() || p.client_max_window_bits < 15)
                {
                    s.push_str(&format!(
                        "; client_max_window_bits={}",
                        p.client_max_window_bits
                    ));
                }
                return Some((p, s));
            }
        }
        None
    }

    /// The client's check of the server's response to [`offer`](DeflateConfig::offer).
    pub fn check_response(&self, value: &str) -> Result<DeflateParams> {
        let bad = |what| Error::with_context(ErrorKind::InvalidInput, what);
        if value.contains(',') {
            return Err(bad(
                "server accepted more than one permessage-deflate offer",
            ));
        }
        let r = match parse(value) {
            None => {
                return Err(bad(
                    "server answered with an extension that was not offered",
                ));
            }
            Some(Err(())) => return Err(bad("server's permessage-deflate parameters are invalid")),
            Some(Ok(r)) => r,
        };
        let smwb = r.smwb.unwrap_or(15);
        if self.server_max_window_bits < 15 && smwb > self.server_max_window_bits {
            return Err(bad("server_max_window_bits above the offer"));
        }
        if self.server_no_context_takeover && !r.snct {
            return Err(bad("server_no_context_takeover requested but not granted"));
        }
        let cmwb = match r.cmwb {
            None => self.client_max_window_bits.clamp(8, 15),
            Some(None) => return Err(bad("client_max_window_bits without a value in a response")),
            Some(Some(v)) => v.min(self.client_max_window_bits.clamp(8, 15)),
        };
        Ok(DeflateParams {
            server_no_context_takeover: r.snct,
            client_no_context_takeover: r.cnct || self.client_no_context_takeover,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        })
    }
}

/// One side's compressor: raw deflate, a sync flush per message, the tail removed.
pub(crate) struct Deflater {
    comp: Compress,
    reset_each: bool,
    /// zlib cannot compress with an 8-bit raw window: with 8 agreed, messages go out
    /// uncompressed, which RFC 7692 allows for any message.
    pub(crate) enabled: bool,
    pub(crate) min_size: usize,
}

/// One side's decompressor (always a 15-bit window, which inflates any smaller one).
pub(crate) struct Inflater {
    dec: Decompress,
    reset_each: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").finish_non_exhaustive()
    }
}

/// The contexts of one endpoint, from the agreed parameters.
pub(crate) fn contexts(
    p: DeflateParams,
    client: bool,
    level: u32,
    min_size: usize,
) -> (Deflater, Inflater) {
    let (own_bits, own_reset, peer_reset) = if client {
        (
            p.client_max_window_bits,
            p.client_no_context_takeover,
            p.server_no_context_takeover,
        )
    } else {
        (
            p.server_max_window_bits,
            p.server_no_context_takeover,
            p.client_no_context_takeover,
        )
    };
    let bits = own_bits.clamp(9, 15);
    (
        Deflater {
            comp: Compress::new_with_window_bits(Compression::new(level.min(9)), false, bits),
            reset_each: own_reset,
            enabled: own_bits >= 9,
            min_size,
        },
        Inflater {
            dec: Decompress::new_with_window_bits(false, 15),
            reset_each: peer_reset,
        },
    )
}

fn zerr(what: &'static str) -> Error {
    Error::with_context(ErrorKind::InvalidInput, what)
}

impl Deflater {
    /// Compresses one whole message into `out` (cleared first), without the sync-flush tail.
    pub(crate) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let start = self.comp.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.len().max(input.len() / 2).max(1024));
            }
            let done = (self.comp.total_in() - start) as usize;
            self.comp
                .compress_vec(&input[done..], out, FlushCompress::Sync)
                .map_err(|_| zerr("deflate failed"))?;
            let done = (self.comp.total_in() - start) as usize;
            if done == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if out.is_empty() {
            // A sync flush right after another emits nothing; an empty message is then the
            // one byte of an empty stored block (RFC 7692 section 7.2.3.6).
            out.push(0x00);
        }
        if self.reset_each {
            self.comp.reset();
        }
        Ok(())
    }
}

/// Why inflating failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The output passed the message limit.
    TooBig,
    /// The compressed data is not valid deflate.
    Corrupt,
}

impl Inflater {
    /// Inflates a piece of a compressed message, appending to `out` (at most `limit` bytes
    /// in all); `last` adds the sync-flush tail and ends the message.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> std::result::Result<(), InflateError> {
        self.run(input, out, limit, FlushDecompress::None)
    }

    /// Ends the message: inflates the tail, resets if the peer does not keep its context.
    pub(crate) fn finish(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> std::result::Result<(), InflateError> {
        let r = self.run(&TAIL, out, limit, FlushDecompress::Sync);
        if self.reset_each || r.is_err() {
            self.dec.reset(false);
        }
        r
    }

    fn run(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        flush: FlushDecompress,
    ) -> std::result::Result<(), InflateError> {
        let start = self.dec.total_in();
        loop {
            if out.len() == out.capacity() {
                if out.len() >= limit {
                    // Full at the limit: one more byte would be too many; probe with a
                    // byte of room.
                    if out.len() > limit {
                        return Err(InflateError::TooBig);
                    }
                    out.reserve_exact(1);
                } else {
                    // Exact: `reserve` may double the capacity, and the inflater fills what
                    // it is given, so a bomb reached twice the limit before the check (a
                    // helper saw 135 MB at the 64 MiB default). Doubling up to the limit
                    // keeps the growth geometric.
                    let grow = out.len().max(4096).min(limit - out.len()).max(1);
                    out.reserve_exact(grow);
                }
            }
            let before_out = out.len();
            let done = (self.dec.total_in() - start) as usize;
            let st = self
                .dec
                .decompress_vec(&input[done..], out, flush)
                .map_err(|_| InflateError::Corrupt)?;
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            let done_now = (self.dec.total_in() - start) as usize;
            let progressed = done_now != done || out.len() != before_out;
            if st == Status::StreamEnd {
                // A final block ends the stream; the next message starts a new one.
                self.dec.reset(false);
                if done_now < input.len() && input[done_now..] != TAIL[..] {
                    return Err(InflateError::Corrupt);
                }
                return Ok(());
            }
            if done_now == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if !progressed && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_grants_requests_and_caps() {
        let server = DeflateConfig::default();
        let (p, s) = server
            .accept(["permessage-deflate; client_max_window_bits; server_max_window_bits=10"])
            .unwrap();
        assert_eq!(p.server_max_window_bits, 10);
        assert_eq!(p.client_max_window_bits, 15);
        assert_eq!(s, "permessage-deflate; server_max_window_bits=10");
        let client = DeflateConfig {
            server_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        assert_eq!(
            client.offer(),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits, \
             permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits"
        );
        // A server that takes the first offer grants context takeover.
        let (p, _) = server.accept([client.offer().as_str()]).unwrap();
        assert!(!p.client_no_context_takeover);
        assert_eq!(client.check_response(&s).unwrap(), p);
        // Invalid offers are skipped; the next acceptable one is taken.
        let (p, s) = server
            .accept(["permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover"])
            .unwrap();
        assert!(p.client_no_context_takeover);
        assert_eq!(s, "permessage-deflate; client_no_context_takeover");
        assert!(
            server
                .accept(["x-webkit-deflate-frame", "permessage-deflate; foo"])
                .is_none()
        );
        assert!(
            client
                .check_response("permessage-deflate; server_max_window_bits=12")
                .is_err()
        );
        assert!(
            client
                .check_response("permessage-deflate; client_max_window_bits")
                .is_err()
        );
    }

    #[test]
    fn messages_round_trip_with_and_without_context_takeover() {
        for nct in [false, true] {
            for bits in [8u8, 9, 12, 15] {
                let p = DeflateParams {
                    server_no_context_takeover: nct,
                    client_no_context_takeover: nct,
                    server_max_window_bits: bits,
                    client_max_window_bits: bits,
                };
                let (mut d, _) = contexts(p, true, 6, 0);
                let (_, mut i) = contexts(p, false, 6, 0);
                assert_eq!(d.enabled, bits >= 9);
                let mut z = Vec::new();
                let mut out = Vec::new();
                for round in 0..6 {
                    // Two empty messages in a row among the others.
                    let len = if round == 1 || round == 2 { 0 } else { 3000 };
                    let msg: Vec<u8> = (0..len).map(|k| ((k * round) % 17) as u8).collect();
                    d.compress(&msg, &mut z).unwrap();
                    out.clear();
                    let (a, b) = z.split_at(z.len() / 2);
                    i.inflate(a, &mut out, 1 << 20).unwrap();
                    i.inflate(b, &mut out, 1 << 20).unwrap();
                    i.finish(&mut out, 1 << 20).unwrap();
                    assert_eq!(out, msg);
                }
                // The limit holds.
                let msg = vec![0u8; 10_000];
                d.compress(&msg, &mut z).unwrap();
                out.clear();
                let r = i
                    .inflate(&z, &mut out, 1000)
                    .and_then(|()| i.finish(&mut out, 1000));
                assert_eq!(r, Err(InflateError::TooBig));
                assert!(out.len() <= 1001 + 4096);
            }
        }
    }

    /// A bomb stops at its limit: the buffer it inflates into is never given room past
    /// the limit and a byte (with `reserve`, which may double the capacity, a helper saw a
    /// 1 GiB bomb take 135 MB at the 64 MiB default).
    #[test]
    fn a_bomb_gets_no_room_past_the_limit() {
        let p = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let (mut d, _) = contexts(p, true, 9, 0);
        let mut z = Vec::new();
        d.compress(&vec![0u8; 16 << 20], &mut z).unwrap();
        for limit in [1 << 20, (3 << 20) + 5, 12 << 20] {
            let (_, mut i) = contexts(p, false, 9, 0);
            let mut out = Vec::new();
            let r = i
                .inflate(&z, &mut out, limit)
                .and_then(|()| i.finish(&mut out, limit));
            assert_eq!(r, Err(InflateError::TooBig));
            assert!(
                out.capacity() <= limit + 1,
                "{} for {limit}",
                out.capacity()
            );
        }
    }
}
