//! A model test of a connection, server and client, against a raw peer: random scripts
//! of frames (text and binary messages cut into fragments with pings and pongs between
//! them, and an ending: a close frame with or without a code, a FIN on a frame boundary
//! or inside a frame, a protocol violation, an RST), written by a plain TCP socket on
//! another thread in random chunks, the FIN right behind the last one; the peer dials our
//! server with masked frames, or accepts our client and sends unmasked ones. A model of
//! RFC 6455 says what our side's reads deliver, how the last one fails, and which frames
//! come back (echoes, automatic pongs, the close answer, nothing else); the peer parses
//! what it gets with a decoder of its own. Each role again with permessage-deflate
//! negotiated (either side's context kept or reset per message): the peer compresses
//! some messages (flate2, raw deflate) and inflates our echoes, and the endings add
//! corrupt compressed data, a small frame that inflates past the message limit, and RSV1
//! where it may not be.

mod common;
use common::*;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::rc::Rc;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sonic_io::{ErrorKind, Io};
use sonic_websocket::{
    ClientConfig, CloseCode, DeflateConfig, Limits, Message, ServerConfig, WebSocket,
};

const REQUEST: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The server's limits: a message may be up to `MAX_MESSAGE` bytes.
const MAX_MESSAGE: usize = 4096;

/// A frame, masked with `key` (as a client sends it) or not (as a server does).
fn frame(fin: bool, opcode: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![u8::from(fin) << 7 | opcode];
    let mask = if key.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        f.push(mask | n as u8);
    } else if n <= 0xFFFF {
        f.push(mask | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(mask | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match key {
        Some(key) => {
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

#[derive(Clone, Debug)]
enum Item {
    /// A data message, cut at `cuts` (offsets into the payload), with a control frame
    /// (`true`: ping, `false`: pong) and its payload after some of its fragments.
    Message {
        text: bool,
        /// Sent compressed (with permessage-deflate on).
        compress: bool,
        payload: Vec<u8>,
        cuts: Vec<usize>,
        between: Vec<(usize, bool, Vec<u8>)>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Violation {
    ReservedOpcode,
    /// A client's frame unmasked, or a server's masked.
    WrongMasking,
    ContinuationFirst,
    LongControl,
    FragmentedControl,
    InvalidUtf8 {
        at: usize,
        fragmented: bool,
    },
    TooLarge {
        fragmented: bool,
    },
    // With permessage-deflate:
    /// RSV1 data that does not inflate.
    CorruptDeflate,
    /// A small compressed frame that inflates past the message limit.
    Bomb,
    Rsv1Continuation,
    Rsv1Control,
}

#[derive(Clone, Debug)]
enum End {
    /// A close frame with (code, reason), or an empty one.
    Close(Option<(u16, String)>),
    /// A FIN after the last item.
    Fin,
    /// A FIN `cut` bytes into one more binary frame of `len` bytes.
    FinInsideFrame {
        len: usize,
        cut: usize,
    },
    /// A FIN after the first fragment (`len` bytes) of one more message.
    FinInsideMessage {
        len: usize,
    },
    Violation(Violation),
    /// A reset (`SO_LINGER` 0) after the last item.
    Reset,
}

#[derive(Clone, Debug)]
struct Script {
    /// Our side is the client (the peer a raw server), not the server.
    ours_client: bool,
    /// permessage-deflate: (client_no_context_takeover, server_no_context_takeover) asked.
    deflate: Option<(bool, bool)>,
    items: Vec<Item>,
    end: End,
    /// The sizes the byte stream is written in, cycled.
    chunks: Vec<usize>,
    key: [u8; 4],
}

fn payload(text: bool, max: usize) -> BoxedStrategy<Vec<u8>> {
    if text {
        // Multi-byte characters, so that cuts fall inside them.
        proptest::collection::vec(
            prop_oneof![Just('a'), Just('é'), Just('€'), Just('𝄞')],
            0..max,
        )
        .prop_map(|cs| cs.into_iter().collect::<String>().into_bytes())
        .boxed()
    } else {
        proptest::collection::vec(any::<u8>(), 0..max).boxed()
    }
}

fn item() -> impl Strategy<Value = Item> {
    let message = (any::<bool>(), any::<bool>()).prop_flat_map(|(text, compress)| {
        payload(text, 600).prop_flat_map(move |p| {
            let n = p.len();
            let cuts = proptest::collection::vec(0..=n, 0..4);
            let between = proptest::collection::vec(
                (
                    0..4usize,
                    any::<bool>(),
                    proptest::collection::vec(any::<u8>(), 0..126),
                ),
                0..3,
            );
            (Just(p), cuts, between).prop_map(move |(payload, mut cuts, between)| {
                cuts.sort_unstable();
                cuts.dedup();
                Item::Message {
                    text,
                    compress,
                    payload,
                    cuts,
                    between,
                }
            })
        })
    });
    prop_oneof![
        6 => message,
        1 => proptest::collection::vec(any::<u8>(), 0..126).prop_map(Item::Ping),
        1 => proptest::collection::vec(any::<u8>(), 0..126).prop_map(Item::Pong),
    ]
}

fn end(deflate: bool) -> impl Strategy<Value = End> {
    let reason = proptest::collection::vec(prop_oneof![Just('x'), Just('é')], 0..20)
        .prop_map(|cs| cs.into_iter().collect::<String>());
    let code = prop_oneof![Just(1000u16), Just(1001), Just(1008), 3000..5000u16];
    let violation = prop_oneof![
        Just(Violation::ReservedOpcode),
        Just(Violation::WrongMasking),
        Just(Violation::ContinuationFirst),
        Just(Violation::LongControl),
        Just(Violation::FragmentedControl),
        (0..40usize, any::<bool>())
            .prop_map(|(at, fragmented)| Violation::InvalidUtf8 { at, fragmented }),
        any::<bool>().prop_map(|fragmented| Violation::TooLarge { fragmented }),
    ];
    let violation = if deflate {
        prop_oneof![
            2 => violation,
            1 => prop_oneof![
                Just(Violation::CorruptDeflate),
                Just(Violation::Bomb),
                Just(Violation::Rsv1Continuation),
                Just(Violation::Rsv1Control),
            ],
        ]
        .boxed()
    } else {
        violation.boxed()
    };
    prop_oneof![
        3 => proptest::option::of((code, reason)).prop_map(End::Close),
        1 => Just(End::Fin),
        1 => (0..300usize).prop_map(|len| End::FinInsideMessage { len }),
        1 => (2..300usize).prop_flat_map(|len| (Just(len), 1..len + 6))
            .prop_map(|(len, cut)| End::FinInsideFrame { len, cut }),
        3 => violation.prop_map(End::Violation),
        1 => Just(End::Reset),
    ]
}

impl Script {
    /// The peer resets its compressor after each message (its role's no_context_takeover).
    fn peer_resets(&self) -> bool {
        self.deflate
            .is_some_and(|(client, server)| if self.ours_client { server } else { client })
    }

    /// Our side resets its compressor after each message.
    fn ours_resets(&self) -> bool {
        self.deflate
            .is_some_and(|(client, server)| if self.ours_client { client } else { server })
    }
}

fn script(ours_client: bool, deflate: bool) -> impl Strategy<Value = Script> {
    let contexts = if deflate {
        any::<(bool, bool)>().prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    (
        contexts,
        proptest::collection::vec(item(), 0..8),
        end(deflate),
        proptest::collection::vec(1..400usize, 1..6),
        any::<[u8; 4]>(),
    )
        .prop_map(move |(deflate, items, end, chunks, key)| Script {
            ours_client,
            deflate,
            items,
            end,
            chunks,
            key,
        })
}

/// What the server's reads deliver, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
}

/// A frame the peer receives: (fin, opcode, payload).
type Frame = (bool, u8, Vec<u8>);

/// The model: the bytes the peer writes, what the server's reads deliver, how its last read
/// fails (kind and the close code it answers with; `None`: it gets the peer's close), and
/// the frames it sends back (without the close answer's, which the caller checks).
struct Expected {
    bytes: Vec<u8>,
    got: Vec<Got>,
    fails: Option<(ErrorKind, Option<u16>, Option<&'static str>)>,
    back: Vec<Frame>,
}

/// Compresses one message as permessage-deflate sends it: raw deflate, flushed to a byte
/// boundary, without the flush's final `00 00 ff ff`.
fn deflate(c: &mut Compress, payload: &[u8]) -> Vec<u8> {
    if payload.is_empty() {
        // An empty stored block (RFC 7692 section 7.2.3.6): zlib makes no second flush
        // without new input.
        return vec![0];
    }
    let mut out = Vec::with_capacity(payload.len() + 64);
    let start = c.total_in();
    // Bounded: a compressor that stops making progress fails the test instead of hanging it.
    for _ in 0..10_000 {
        let done = (c.total_in() - start) as usize;
        out.reserve(256);
        c.compress_vec(&payload[done..], &mut out, FlushCompress::Sync)
            .unwrap();
        if (c.total_in() - start) as usize == payload.len() && out.ends_with(&[0, 0, 0xFF, 0xFF]) {
            out.truncate(out.len() - 4);
            return out;
        }
    }
    panic!("the compressor made no progress");
}

fn model(s: &Script) -> Expected {
    // The peer masks what it sends when it is the client.
    let k = (!s.ours_client).then_some(s.key);
    let mut compressor = Compress::new(Compression::new(1), false);
    let mut bytes = Vec::new();
    let mut got = Vec::new();
    let mut back = Vec::new();
    for it in &s.items {
        match it {
            Item::Message {
                text,
                compress,
                payload,
                cuts,
                between,
            } => {
                let compressed = *compress && s.deflate.is_some();
                let data = if compressed {
                    if s.peer_resets() {
                        compressor.reset();
                    }
                    deflate(&mut compressor, payload)
                } else {
                    payload.clone()
                };
                let mut bounds = vec![0];
                bounds.extend(cuts.iter().map(|c| (*c).min(data.len())));
                bounds.push(data.len());
                bounds.sort_unstable();
                bounds.dedup();
                let pieces: Vec<&[u8]> = if data.is_empty() {
                    vec![&[][..]]
                } else {
                    bounds.windows(2).map(|w| &data[w[0]..w[1]]).collect()
                };
                for (i, piece) in pieces.iter().enumerate() {
                    let first = i == 0;
                    let last = i + 1 == pieces.len();
                    let op = if !first {
                        0
                    } else if *text {
                        1
                    } else {
                        2
                    };
                    // RSV1 marks the message's first frame as compressed.
                    let op = if first && compressed { op | 0x40 } else { op };
                    bytes.extend(frame(last, op, piece, k));
                    if last {
                        break;
                    }
                    // Control frames may come between fragments (not after the last).
                    for (_, ping, p) in between.iter().filter(|(at, ..)| *at == i) {
                        bytes.extend(frame(true, if *ping { 9 } else { 10 }, p, k));
                        if *ping {
                            back.push((true, 10, p.clone()));
                        } else {
                            got.push(Got::Pong(p.clone()));
                        }
                    }
                }
                got.push(if *text {
                    Got::Text(payload.clone())
                } else {
                    Got::Binary(payload.clone())
                });
                back.push((true, if *text { 1 } else { 2 }, payload.clone()));
            }
            Item::Ping(p) => {
                bytes.extend(frame(true, 9, p, k));
                back.push((true, 10, p.clone()));
            }
            Item::Pong(p) => {
                bytes.extend(frame(true, 10, p, k));
                got.push(Got::Pong(p.clone()));
            }
        }
    }
    let proto = Some((ErrorKind::InvalidInput, Some(1002), None));
    let fails = match &s.end {
        End::Close(c) => {
            let mut p = Vec::new();
            if let Some((code, reason)) = c {
                p.extend_from_slice(&code.to_be_bytes());
                p.extend_from_slice(reason.as_bytes());
            }
            bytes.extend(frame(true, 8, &p, k));
            let (code, reason) = c.clone().unwrap_or((CloseCode::NO_STATUS.0, String::new()));
            got.push(Got::Close(code, reason));
            None
        }
        End::Fin | End::Reset => Some((
            ErrorKind::UnexpectedEof,
            None,
            Some("the peer ended the stream without a close frame"),
        )),
        End::FinInsideMessage { len } => {
            bytes.extend(frame(false, 2, &vec![6; *len], k));
            Some((
                ErrorKind::UnexpectedEof,
                None,
                Some("the peer ended the stream inside a fragmented message"),
            ))
        }
        End::FinInsideFrame { len, cut } => {
            let f = frame(true, 2, &vec![5; *len], k);
            bytes.extend_from_slice(&f[..(*cut).min(f.len() - 1)]);
            Some((
                ErrorKind::UnexpectedEof,
                None,
                Some("the peer ended the stream inside a frame"),
            ))
        }
        End::Violation(v) => match v {
            Violation::ReservedOpcode => {
                bytes.extend(frame(true, 3, b"x", k));
                proto
            }
            Violation::WrongMasking => {
                let wrong = if s.ours_client { Some(s.key) } else { None };
                bytes.extend(frame(true, 2, b"x", wrong));
                Some((
                    ErrorKind::InvalidInput,
                    Some(1002),
                    Some(if s.ours_client {
                        "server sent a masked frame"
                    } else {
                        "client sent an unmasked frame"
                    }),
                ))
            }
            Violation::ContinuationFirst => {
                bytes.extend(frame(true, 0, b"x", k));
                proto
            }
            Violation::LongControl => {
                bytes.extend(frame(true, 9, &[1; 126], k));
                proto
            }
            Violation::FragmentedControl => {
                bytes.extend(frame(false, 9, b"x", k));
                proto
            }
            Violation::InvalidUtf8 { at, fragmented } => {
                let mut p = "é".repeat(20).into_bytes();
                p[*at] = 0xFF;
                if *fragmented {
                    bytes.extend(frame(false, 1, &p[..*at / 2], k));
                    bytes.extend(frame(false, 0, &p[*at / 2..], k));
                } else {
                    bytes.extend(frame(true, 1, &p, k));
                }
                Some((ErrorKind::InvalidInput, Some(1007), None))
            }
            Violation::TooLarge { fragmented } => {
                let p = vec![3; MAX_MESSAGE + 1];
                if *fragmented {
                    bytes.extend(frame(false, 2, &p[..MAX_MESSAGE / 2], k));
                    bytes.extend(frame(true, 0, &p[MAX_MESSAGE / 2..], k));
                } else {
                    bytes.extend(frame(true, 2, &p, k));
                }
                Some((ErrorKind::MessageTooLarge, Some(1009), None))
            }
            Violation::CorruptDeflate => {
                bytes.extend(frame(true, 0x42, &[0xFF; 12], k));
                Some((
                    ErrorKind::InvalidInput,
                    Some(1007),
                    Some("compressed message does not inflate"),
                ))
            }
            Violation::Bomb => {
                // With the peer's context kept, our inflater holds the history of the
                // messages before: compress with the same compressor.
                if s.peer_resets() {
                    compressor.reset();
                }
                let z = deflate(&mut compressor, &vec![0; 64 << 10]);
                assert!(z.len() < MAX_MESSAGE, "{} bytes", z.len());
                bytes.extend(frame(true, 0x42, &z, k));
                Some((ErrorKind::MessageTooLarge, Some(1009), None))
            }
            Violation::Rsv1Continuation => {
                if s.peer_resets() {
                    compressor.reset();
                }
                bytes.extend(frame(false, 0x42, &deflate(&mut compressor, b"ab"), k));
                bytes.extend(frame(true, 0x40, &[0], k));
                Some((
                    ErrorKind::InvalidInput,
                    Some(1002),
                    Some("continuation frame has RSV1 set"),
                ))
            }
            Violation::Rsv1Control => {
                bytes.extend(frame(true, 0x49, b"x", k));
                Some((
                    ErrorKind::InvalidInput,
                    Some(1002),
                    Some("control frame has RSV1 set"),
                ))
            }
        },
    };
    Expected {
        bytes,
        got,
        fails,
        back,
    }
}

/// How the peer meets our side.
enum Meet {
    /// It dials our server, asking for these extensions, if any.
    Dial(std::net::SocketAddr, Option<String>),
    /// It accepts our client's connection and agrees to these extensions, if any.
    Accept(std::net::TcpListener, Option<String>),
}

/// The peer: upgrades, writes `bytes` in `chunks` (cycled), then half-closes, resets or
/// just waits, and returns the other side's head (our server's response, our client's
/// request) and what our side sent after it, to its end (nothing after a reset).
fn peer(
    meet: Meet,
    bytes: Vec<u8>,
    chunks: Vec<usize>,
    reset: bool,
    fin: bool,
) -> (String, Vec<u8>) {
    let read_head = |s: &mut std::net::TcpStream| {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).unwrap(), 1, "the head was cut");
            head.push(b[0]);
        }
        String::from_utf8(head).unwrap()
    };
    let (mut s, head) = match meet {
        Meet::Dial(addr, extensions) => {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(HANG)).unwrap();
            let mut request = REQUEST[..REQUEST.len() - 2].to_vec();
            if let Some(e) = extensions {
                request.extend_from_slice(format!("Sec-WebSocket-Extensions: {e}\r\n").as_bytes());
            }
            request.extend_from_slice(b"\r\n");
            s.write_all(&request).unwrap();
            let head = read_head(&mut s);
            assert!(head.starts_with("HTTP/1.1 101"), "{head}");
            (s, head)
        }
        Meet::Accept(l, extensions) => {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(HANG)).unwrap();
            let head = read_head(&mut s);
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let mut resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
                sonic_websocket::accept_key(key.as_bytes())
            );
            if let Some(e) = extensions {
                resp.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
            }
            resp.push_str("\r\n");
            s.write_all(resp.as_bytes()).unwrap();
            (s, head)
        }
    };
    s.set_nodelay(true).unwrap();
    let mut at = 0;
    for n in chunks.iter().cycle() {
        if at == bytes.len() {
            break;
        }
        let end = (at + n).min(bytes.len());
        // The server may end the connection first (a violation is answered at once).
        if s.write_all(&bytes[at..end]).is_err() {
            break;
        }
        at = end;
    }
    if reset {
        sock::opt::set_linger(&s, Some(std::time::Duration::ZERO)).unwrap();
        drop(s);
        return (head, Vec::new());
    }
    if fin {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut rest = Vec::new();
    // A reset from the server (it closed with our bytes unread) ends what it sent too.
    let _ = s.read_to_end(&mut rest);
    (head, rest)
}

/// Parses our side's frames (masked if it is the client, else unmasked), inflating
/// compressed messages with `inflater` (reset before each message when `reset`); `Err`
/// names what was wrong.
fn parse(
    mut b: &[u8],
    masked: bool,
    inflater: &mut Option<Decompress>,
    reset: bool,
) -> Result<Vec<Frame>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 2 {
            return Err(format!("a cut frame header: {b:x?}"));
        }
        if (b[1] & 0x80 != 0) != masked {
            return Err(format!(
                "a frame masked {}, expected {masked}",
                b[1] & 0x80 != 0
            ));
        }
        let (len, hdr) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n @ 0..=125 => (usize::from(n), 2),
            _ => return Err("a cut extended length".into()),
        };
        let hdr = if masked { hdr + 4 } else { hdr };
        if b.len() < hdr + len {
            return Err(format!(
                "a frame cut short: {} of {} bytes",
                b.len().saturating_sub(hdr),
                len
            ));
        }
        let mut payload = b[hdr..hdr + len].to_vec();
        if masked {
            let key = &b[hdr - 4..hdr];
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= key[i % 4];
            }
        }
        let payload = &payload[..];
        let payload = if b[0] & 0x40 != 0 {
            let d = inflater.as_mut().ok_or("RSV1 without permessage-deflate")?;
            if reset {
                d.reset(false);
            }
            let mut input = payload.to_vec();
            input.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
            let mut out = Vec::with_capacity(MAX_MESSAGE * 2);
            let start = d.total_in();
            // Bounded, like `deflate`: no progress fails the case.
            for _ in 0..10_000 {
                let done = (d.total_in() - start) as usize;
                if done == input.len() {
                    break;
                }
                out.reserve(1024);
                d.decompress_vec(&input[done..], &mut out, FlushDecompress::Sync)
                    .map_err(|e| format!("the server's message does not inflate: {e}"))?;
            }
            if ((d.total_in() - start) as usize) < input.len() {
                return Err("the server's message inflated without end".into());
            }
            out
        } else {
            payload.to_vec()
        };
        out.push((b[0] & 0x80 != 0, b[0] & 0x0F, payload));
        b = &b[hdr + len..];
    }
    Ok(out)
}

type Log = Rc<RefCell<(Vec<Got>, Option<sonic_io::Error>, bool)>>;

/// The server: echoes text and binary messages, logs what its reads deliver, closes with
/// the closing handshake after the peer's close, and at once after an error.
fn serve(io: &mut Io, ws: WebSocket, log: Log) {
    ws.async_read(io, move |io, r, mut ws| {
        if let Err(e) = r {
            let mut l = log.borrow_mut();
            l.1 = Some(e);
            l.2 = true;
            drop(l);
            ws.close(io).unwrap();
            return;
        }
        let (m, tx) = ws.split();
        let m = m.expect("a completed read has a message");
        let entry = match m {
            Message::Text(t) => {
                // A send fails after the peer's reset; the frames back show any other failure.
                let _ = tx.send_text(io, t);
                Got::Text(t.as_bytes().to_vec())
            }
            Message::Binary(b) => {
                let _ = tx.send_binary(io, b);
                Got::Binary(b.to_vec())
            }
            Message::Pong(p) => Got::Pong(p.to_vec()),
            Message::Ping(_) => panic!("a ping delivered with automatic pongs on"),
            Message::Close(c, reason) => Got::Close(c.0, reason.to_string()),
        };
        let closing = matches!(entry, Got::Close(..));
        log.borrow_mut().0.push(entry);
        if closing {
            let l = log.clone();
            ws.async_close(io, CloseCode::NORMAL, "", move |_, r| {
                r.unwrap();
                l.borrow_mut().2 = true;
            })
            .unwrap();
            return;
        }
        serve(io, ws, log);
    })
    .unwrap();
}

fn check(s: &Script) -> Result<(), TestCaseError> {
    let want = model(s);
    let reset = matches!(s.end, End::Reset);
    let fin = matches!(
        s.end,
        End::Fin | End::FinInsideFrame { .. } | End::FinInsideMessage { .. }
    );
    let mut io = Io::new().unwrap();
    let (bytes, chunks) = (want.bytes.clone(), s.chunks.clone());
    let extensions = s.deflate.map(|(client, server)| {
        let mut e = "permessage-deflate".to_string();
        if client {
            e.push_str("; client_no_context_takeover");
        }
        if server {
            e.push_str("; server_no_context_takeover");
        }
        e
    });
    let deflate = s.deflate.map(|(client, server)| DeflateConfig {
        client_no_context_takeover: client,
        server_no_context_takeover: server,
        level: 1,
        ..DeflateConfig::default()
    });
    let limits = Limits {
        max_frame: 1 << 20,
        max_message: MAX_MESSAGE,
        ..Limits::default()
    };
    let log: Log = Rc::default();
    let lg = log.clone();
    let peer = if s.ours_client {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", l.local_addr().unwrap());
        let meet = Meet::Accept(l, extensions);
        let peer = std::thread::spawn(move || peer(meet, bytes, chunks, reset, fin));
        let mut cfg = ClientConfig::default().limits(limits);
        if let Some(d) = deflate {
            cfg = cfg.deflate(d);
        }
        WebSocket::dial(&mut io, &url, &cfg, move |io, ws| {
            let ws = ws.unwrap();
            ws.next_layer().get(io).unwrap().set_nodelay(true).unwrap();
            serve(io, ws, lg)
        })
        .unwrap();
        peer
    } else {
        let (l, addr) = listen_at(&mut io);
        let meet = Meet::Dial(addr, extensions);
        let peer = std::thread::spawn(move || peer(meet, bytes, chunks, reset, fin));
        let mut cfg = ServerConfig::default().limits(limits);
        if deflate.is_some() {
            // A server agrees to what the client asks; its own settings are the defaults.
            cfg = cfg.deflate(DeflateConfig {
                level: 1,
                ..DeflateConfig::default()
            });
        }
        // Boxed: a callback's captures live in the operation's 256-byte record.
        let cfg = Box::new(cfg);
        l.async_accept(&mut io, move |io, r| {
            let (conn, _) = r.unwrap();
            conn.get(io).unwrap().set_nodelay(true).unwrap();
            WebSocket::accept(io, conn, &cfg, move |io, ws| serve(io, ws.unwrap(), lg)).unwrap();
        })
        .unwrap();
        peer
    };
    drive(&mut io, || log.borrow().2);
    let (head, rest) = peer.join().unwrap();
    let (got, err, _) = log.borrow().clone();
    // What our side asked for (as a client) or agreed to (as a server).
    let agreed = head.lines().find(|l| {
        l.to_ascii_lowercase()
            .starts_with("sec-websocket-extensions:")
    });
    prop_assert_eq!(agreed.is_some(), s.deflate.is_some(), "{}", head);
    for (flag, asked) in [
        (
            "client_no_context_takeover",
            s.deflate.is_some_and(|(c, _)| c),
        ),
        (
            "server_no_context_takeover",
            s.deflate.is_some_and(|(_, sv)| sv),
        ),
    ] {
        let has = agreed.is_some_and(|l| l.contains(flag));
        if s.ours_client && flag.starts_with("client") {
            // A client's offer lists alternatives, one with its own context reset; the
            // peer's answer (the script's) settles it.
            continue;
        }
        prop_assert_eq!(has, asked, "{}", head);
    }
    let mut inflater = s.deflate.map(|_| Decompress::new(false));
    let frames =
        parse(&rest, s.ours_client, &mut inflater, s.ours_resets()).map_err(TestCaseError::fail)?;
    if reset {
        // The reset may reach the server before bytes it had not read yet: what it
        // delivered is a prefix of the script, and it ends with an error.
        prop_assert!(
            want.got.starts_with(&got),
            "{:?} is not a prefix of {:?}",
            got,
            want.got
        );
        prop_assert!(err.is_some());
        return Ok(());
    }
    prop_assert_eq!(&got, &want.got);
    let back_len = want.back.len();
    prop_assert!(frames.len() >= back_len, "frames back: {:?}", frames);
    prop_assert_eq!(&frames[..back_len], &want.back[..]);
    let after = &frames[back_len..];
    match want.fails {
        // The peer's close is answered with its code (no payload for an empty close),
        // and nothing follows.
        None => {
            let (code, _) = s_close(&s.end);
            let answer = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
            prop_assert_eq!(after, &[(true, 8, answer)][..]);
            prop_assert!(err.is_none(), "{:?}", err);
        }
        Some((kind, code, context)) => {
            let e = err.expect("the last read failed");
            prop_assert_eq!(e.kind(), kind, "{}", e);
            if let Some(c) = context {
                prop_assert_eq!(e.context_str(), Some(c));
            }
            prop_assert!(
                e.context_str().is_some(),
                "{:?} says nothing of what was wrong",
                e
            );
            match code {
                None => prop_assert!(after.is_empty(), "after the end: {:?}", after),
                Some(c) => {
                    prop_assert_eq!(after.len(), 1, "after the violation: {:?}", after);
                    prop_assert_eq!(after[0].1, 8);
                    prop_assert_eq!(&after[0].2[..2], &c.to_be_bytes()[..]);
                }
            }
        }
    }
    Ok(())
}

fn s_close(e: &End) -> (Option<u16>, String) {
    match e {
        End::Close(Some((c, r))) => (Some(*c), r.clone()),
        _ => (None, String::new()),
    }
}

fn run(ours_client: bool, deflate: bool) {
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&script(ours_client, deflate), |s| check(&s))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_server_connection_follows_the_model_against_random_peer_scripts() {
    run(false, false);
}

#[test]
fn a_compressing_server_connection_follows_the_model_against_random_peer_scripts() {
    run(false, true);
}

#[test]
fn a_client_connection_follows_the_model_against_random_peer_scripts() {
    run(true, false);
}

#[test]
fn a_compressing_client_connection_follows_the_model_against_random_peer_scripts() {
    run(true, true);
}
