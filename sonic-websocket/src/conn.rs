//! The connection: a [`WebSocket`] over any byte stream of the reactor, its [`Sender`],
//! and the [`Message`]s it hands out.

use std::time::Duration;

use iox::{Error, ErrorKind, Result};
use sonic_bytes::ByteBuffer;
use sonic_io::codec::CodecConn;
use sonic_io::{ByteStream, Io, TcpStream, Timer};

use crate::close::{CloseCode, parse_close};
use crate::codec::{Inbound, Mode, Out, RxCodec, TxCodec};
use crate::config::{ClientConfig, Limits, ServerConfig};
use crate::deflate::{InflateError, Inflater, contexts};
use crate::frame::{MAX_CONTROL_PAYLOAD, Opcode};
use crate::handshake::{Handshake, check_response, client_request, new_key, server_response};
use crate::rng::Rng;
use crate::utf8::Utf8Validator;

/// A message, borrowed from the connection: from its receive FIFO when it arrived in one
/// uncompressed frame (a masked one unmasked there, in place), otherwise from the connection's reassembly buffer (reused
/// from message to message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (validated UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping (delivered only with automatic pongs switched off).
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame: its code ([`CloseCode::NO_STATUS`] if it had none) and
    /// reason. The connection has answered it; finish with
    /// [`async_close`](WebSocket::async_close) or [`close`](WebSocket::close) (a further
    /// [`async_read`](WebSocket::async_read) is refused and ends the stream).
    Close(CloseCode, &'a str),
}

impl<'a> Message<'a> {
    /// The payload's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(_, r) => r.as_bytes(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// Where the message of the last completed read is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Current {
    None,
    /// The frame at the front of the receive FIFO (held there).
    InPlace(Kind),
    /// `State::buf`.
    Buffered(Kind),
    /// `State::ctrl`.
    Ping,
    Pong,
    Close(CloseCode),
}

struct State {
    client: bool,
    limits: Limits,
    auto_pong: bool,
    handshake: Handshake,
    inflater: Option<Inflater>,
    /// Reassembled, unmasked or inflated messages (reused).
    buf: Vec<u8>,
    utf8: Utf8Validator,
    /// The kind of the fragmented message under way and whether it is compressed.
    frag: Option<(Kind, bool)>,
    current: Current,
    /// A delivered frame is held at the front of the receive FIFO.
    held: bool,
    ctrl: [u8; MAX_CONTROL_PAYLOAD],
    ctrl_len: usize,
    /// The payload of the latest ping whose automatic pong waits for the send FIFO to
    /// drain below [`PONG_BACKLOG`] (`None`: no pong due).
    pong_due: Option<([u8; MAX_CONTROL_PAYLOAD], usize)>,
    close_received: bool,
    failed: Option<Error>,
    close_timeout: Duration,
}

/// The sending half of a [`WebSocket`]: frames are serialized into its send FIFO and
/// written at once as far as the socket takes them; the rest stays buffered
/// ([`unsent`](Sender::unsent)) and goes first with the next write or
/// [`async_flush`](WebSocket::async_flush).
pub struct Sender<S: ByteStream = TcpStream> {
    cc: CodecConn<TxCodec, S>,
    close_sent: bool,
}

impl<S: ByteStream> std::fmt::Debug for Sender<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("unsent", &self.cc.unsent())
            .field("close_sent", &self.close_sent)
            .finish()
    }
}

const CLOSE_SENT: Error =
    Error::with_context(ErrorKind::Closed, "websocket close frame already sent");
/// Bytes waiting in the send FIFO past which an automatic pong is not queued: a peer that
/// sends pings and does not read would otherwise grow the FIFO without limit (a helper's
/// flood of 300 MB of pings took a server from 2.6 MB to 527 MB). The latest ping's pong
/// waits instead and goes out once the FIFO drains below it (RFC 6455 section 5.5.3 lets an
/// endpoint answer only the most recent of several pings). `tests/violations.rs`:
/// `a_ping_flood_that_does_not_read_pongs_grows_no_buffer`.
pub(crate) const PONG_BACKLOG: usize = 64 << 10;

/// What [`WebSocket::accept`] fails with when [`ServerConfig::timeout`] passes first.
const ACCEPT_TIMED_OUT: Error = Error::with_context(
    ErrorKind::TimedOut,
    "websocket accept timed out before the upgrade completed",
);

/// What a read after the peer's close frame is refused with.
const PEER_CLOSED: Error = Error::with_context(
    ErrorKind::Closed,
    "websocket close frame already received: the connection is over",
);

fn bad(what: &'static str) -> Error {
    Error::with_context(ErrorKind::InvalidInput, what)
}

impl<S: ByteStream> Sender<S> {
    fn write(&mut self, io: &mut Io, out: Out<'_>) -> Result<usize> {
        if self.close_sent {
            return Err(CLOSE_SENT);
        }
        // A large frame the codec does not transform (a server's, uncompressed) goes out
        // from where its payload lies: header and payload in one gather write, and only
        // what the socket does not take copied into the send FIFO.
        if let Out::Frame {
            opcode,
            fin,
            payload,
            compress,
        } = out
            && let Some((head, n)) = self
                .cc
                .codec()
                .gather_header(opcode, fin, payload, compress)
        {
            return self.cc.write_gather(io, [&head[..n], payload]);
        }
        self.cc.write_next(io, out)
    }

    /// Sends a text message; returns the bytes still buffered (0 when all went out).
    pub fn send_text(&mut self, io: &mut Io, text: &str) -> Result<usize> {
        self.send(io, Opcode::Text, text.as_bytes(), true)
    }

    /// Sends a binary message; returns the bytes still buffered.
    pub fn send_binary(&mut self, io: &mut Io, data: &[u8]) -> Result<usize> {
        self.send(io, Opcode::Binary, data, true)
    }

    /// Sends a whole message of `opcode` (text or binary), compressed when
    /// permessage-deflate was negotiated, compression is on
    /// ([`set_compression`](Sender::set_compression)) and `compress` is set.
    pub fn send(
        &mut self,
        io: &mut Io,
        opcode: Opcode,
        payload: &[u8],
        compress: bool,
    ) -> Result<usize> {
        if !matches!(opcode, Opcode::Text | Opcode::Binary) {
            return Err(Error::invalid_input(
                "a websocket message is text or binary",
            ));
        }
        self.write(
            io,
            Out::Frame {
                opcode,
                fin: true,
                payload,
                compress,
            },
        )
    }

    /// Sends one frame as given, never compressed: the pieces of a fragmented message
    /// (`Text`/`Binary` then `Continuation`s, the last with `fin`).
    pub fn send_frame(
        &mut self,
        io: &mut Io,
        opcode: Opcode,
        fin: bool,
        payload: &[u8],
    ) -> Result<usize> {
        if opcode.is_control() && (!fin || payload.len() > MAX_CONTROL_PAYLOAD) {
            return Err(Error::invalid_input(
                "a control frame is unfragmented and carries at most 125 bytes",
            ));
        }
        self.write(
            io,
            Out::Frame {
                opcode,
                fin,
                payload,
                compress: false,
            },
        )
    }

    /// Sends a ping (at most 125 bytes).
    pub fn ping(&mut self, io: &mut Io, payload: &[u8]) -> Result<usize> {
        self.send_frame(io, Opcode::Ping, true, payload)
    }

    /// Sends a pong (at most 125 bytes).
    pub fn pong(&mut self, io: &mut Io, payload: &[u8]) -> Result<usize> {
        self.send_frame(io, Opcode::Pong, true, payload)
    }

    /// Sends a close frame (the reason is cut to 123 bytes); nothing may be sent after it.
    pub fn send_close(&mut self, io: &mut Io, code: CloseCode, reason: &str) -> Result<usize> {
        if self.close_sent {
            return Err(CLOSE_SENT);
        }
        self.close_sent = true;
        self.cc.write_next(io, Out::Close(code, reason))
    }

    /// Switches compression of outgoing messages on or off (when negotiated; on by default).
    pub fn set_compression(&mut self, on: bool) {
        self.cc.codec().compress = on;
    }

    /// Whether outgoing messages are compressed: permessage-deflate was negotiated with a
    /// window this side can compress with, and compression is on.
    pub fn compressing(&mut self) -> bool {
        let c = self.cc.codec();
        c.compress && c.deflate.as_ref().is_some_and(|d| d.enabled)
    }

    /// Bytes serialized but not yet taken by the socket.
    pub fn unsent(&self) -> usize {
        self.cc.unsent()
    }

    /// Writes what is buffered, as far as the socket takes it now; returns what is left.
    pub fn flush(&mut self, io: &mut Io) -> Result<usize> {
        self.cc.flush(io)
    }

    /// Whether a close frame was sent.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }
}

/// A WebSocket connection over a byte stream `S` of the reactor: a [`TcpStream`], a Unix
/// stream, an [`Adapter`](sonic_io::Adapter), or any type implementing [`ByteStream`]
/// (a TLS stream).
///
/// Like a buffer, the connection is a value the application owns: the async calls move it
/// into the operation and hand it back to the callback. After
/// [`async_read`](WebSocket::async_read) completes, [`message`](WebSocket::message) lends
/// the message until the next read; [`split`](WebSocket::split) lends it together with the
/// [`Sender`], so a message can be answered (echoed) without copying it first.
///
/// Control frames are handled inside the read: a ping is answered with a pong (unless
/// switched off), a close is answered with a close and delivered as [`Message::Close`].
/// A peer breaking the protocol gets a close frame with the matching code (1002, 1007,
/// 1009), flushed before the read completes with an error naming what was wrong.
pub struct WebSocket<S: ByteStream = TcpStream> {
    rx: CodecConn<RxCodec, S>,
    tx: Sender<S>,
    st: Box<State>,
}

impl<S: ByteStream> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("stream", &self.rx.next_layer().stream_id())
            .field("client", &self.st.client)
            .field("tx", &self.tx)
            .finish_non_exhaustive()
    }
}

enum Step {
    Ready,
    More,
    Fail(CloseCode, Error),
}

/// Lets the frame held at the front of the receive FIFO go: the next `item()` consumes it.
fn release<S: ByteStream>(rx: &mut CodecConn<RxCodec, S>) {
    rx.codec().hold = false;
    let _ = rx.item();
    let c = rx.codec();
    c.hold = true;
    c.probe = None;
}

/// Closes a stream of which only the handle is at hand, at once (failures, and a peer
/// that did not answer the close in time: a TLS close_notify could wait for it forever).
pub(crate) fn close_stream<S: ByteStream>(io: &mut Io, s: S) -> Result<()> {
    s.close_now(io)
}

fn message_of<'a, S: ByteStream>(
    rx: &'a mut CodecConn<RxCodec, S>,
    st: &'a State,
) -> Option<Message<'a>> {
    let of = |kind, b: &'a [u8]| match kind {
        Kind::Binary => Message::Binary(b),
        // Validated on arrival; checked again here to make the `&str` without unsafe.
        Kind::Text => simdutf8::basic::from_utf8(b).map_or(Message::Binary(b), Message::Text),
    };
    match st.current {
        Current::None => None,
        Current::InPlace(kind) => {
            rx.codec().hold = true;
            match rx.item_mut() {
                Ok(Some(Inbound::Frame(f))) => Some(of(kind, f.payload_ref())),
                _ => None,
            }
        }
        Current::Buffered(kind) => Some(of(kind, &st.buf)),
        Current::Ping => Some(Message::Ping(&st.ctrl[..st.ctrl_len])),
        Current::Pong => Some(Message::Pong(&st.ctrl[..st.ctrl_len])),
        Current::Close(code) => {
            let reason = st.ctrl.get(2..st.ctrl_len).unwrap_or(&[]);
            Some(Message::Close(
                code,
                std::str::from_utf8(reason).unwrap_or(""),
            ))
        }
    }
}

impl<S: ByteStream> WebSocket<S> {
    fn parts(stream: S, client: bool, limits: Limits, auto_pong: bool) -> WebSocket<S> {
        let rx = CodecConn::with_buffers(
            stream,
            RxCodec {
                mode: Mode::Head,
                hold: false,
                max_frame: limits.max_frame,
                max_head: limits.max_head,
                text_so_far: None,
                probe: None,
                front_plain: false,
            },
            ByteBuffer::with_capacity(16 * 1024),
            ByteBuffer::with_capacity(0),
        );
        let tx = CodecConn::with_buffers(
            stream,
            TxCodec {
                mask: client,
                rng: Rng::new(),
                deflate: None,
                scratch: Vec::new(),
                compress: true,
            },
            ByteBuffer::with_capacity(0),
            ByteBuffer::with_capacity(16 * 1024),
        );
        WebSocket {
            rx,
            tx: Sender {
                cc: tx,
                close_sent: false,
            },
            st: Box::new(State {
                client,
                limits,
                auto_pong,
                handshake: Handshake::default(),
                inflater: None,
                buf: Vec::new(),
                utf8: Utf8Validator::new(),
                frag: None,
                current: Current::None,
                held: false,
                ctrl: [0; MAX_CONTROL_PAYLOAD],
                ctrl_len: 0,
                pong_due: None,
                close_received: false,
                failed: None,
                close_timeout: Duration::from_secs(5),
            }),
        }
    }

    /// Switches from the handshake to frames and sets up what was negotiated.
    fn established(&mut self, hs: Handshake, level: u32, min_size: usize) {
        let c = self.rx.codec();
        c.mode = Mode::Frames;
        c.hold = true;
        if let Some(p) = hs.deflate {
            let (d, i) = contexts(p, self.st.client, level, min_size);
            self.tx.cc.codec().deflate = Some(d);
            self.st.inflater = Some(i);
        }
        self.st.handshake = hs;
    }

    /// Serializes `out` and writes until the send FIFO is empty, then calls `g`.
    fn write_then<G>(self, io: &mut Io, out: Out<'_>, g: G) -> Result<()>
    where
        G: FnOnce(&mut Io, Result<()>, WebSocket<S>) + 'static,
    {
        let WebSocket { rx, tx, st } = self;
        let Sender { cc, close_sent } = tx;
        cc.async_write_next(io, out, move |io, r, cc| {
            let mut ws = WebSocket {
                rx,
                tx: Sender { cc, close_sent },
                st,
            };
            // The send FIFO drained: a pong held back by its backlog goes now.
            if r.is_ok() && ws.st.pong_due.is_some() && !ws.tx.close_sent {
                answer_ping(io, &mut ws.tx, &mut ws.st);
            }
            g(io, r, ws)
        })
        .map_err(|r| r.error)
    }

    /// The client's side of the opening handshake over `stream` (already connected, and for
    /// `wss://` already through TLS): sends the upgrade request for `path` with
    /// `Host: host`, checks the response, and hands the connection to `f`. On failure the
    /// stream is closed and `f` gets the error.
    pub fn client<F>(
        io: &mut Io,
        stream: S,
        host: &str,
        path: &str,
        cfg: &ClientConfig,
        f: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
    {
        let mut ws = WebSocket::parts(stream, true, cfg.limits, !cfg.manual_pong);
        let key = new_key(&mut ws.tx.cc.codec().rng)?;
        let req = client_request(host, path, &key, cfg);
        let ctx = Box::new((key, cfg.clone()));
        ws.write_then(io, Out::Raw(&req), move |io, r, ws| {
            if let Err(e) = r {
                let _ = close_stream(io, stream);
                return f(io, Err(e));
            }
            let WebSocket { rx, tx, st } = ws;
            let armed = rx.async_read_next(io, move |io, r, rx| {
                let mut ws = WebSocket { rx, tx, st };
                let r = r.and_then(|()| {
                    let hs = match ws.rx.item()? {
                        Some(Inbound::Head(h)) => check_response(h, &ctx.0, &ctx.1)?,
                        Some(Inbound::Bad(_, what)) => return Err(bad(what)),
                        _ => return Err(bad("no handshake response")),
                    };
                    let d = ctx.1.deflate.unwrap_or_default();
                    ws.established(hs, d.level, d.min_size);
                    Ok(())
                });
                match r {
                    Ok(()) => f(io, Ok(ws)),
                    Err(e) => {
                        let _ = close_stream(io, stream);
                        f(io, Err(e));
                    }
                }
            });
            if armed.is_err() {
                let _ = close_stream(io, stream);
            }
        })
    }

    /// The server's side of the opening handshake over an accepted `stream`: reads the
    /// upgrade request, answers `101 Switching Protocols` (choosing a subprotocol and
    /// permessage-deflate parameters from `cfg`) and hands the connection to `f`. A bad
    /// request is answered with 400 (426 for another WebSocket version), the stream is
    /// closed and `f` gets the error.
    pub fn accept<F>(io: &mut Io, stream: S, cfg: &ServerConfig, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<WebSocket<S>>) + 'static,
    {
        let WebSocket { rx, tx, st } =
            WebSocket::parts(stream, false, cfg.limits, !cfg.manual_pong);
        // The timeout closes the stream: the operation under way then completes with
        // `Cancelled`, which the timer's state turns into `TimedOut`.
        let timer = match cfg.timeout {
            Some(d) => {
                let t = Timer::new(io)?;
                if let Err(e) = t.schedule_once(io, d, move |io, _| {
                    let _ = close_stream(io, stream);
                }) {
                    t.close(io);
                    return Err(e);
                }
                Some(t)
            }
            None => None,
        };
        // Ends the timer; the error to report (`TimedOut` if the timer closed the stream).
        let settle = move |io: &mut Io, e: Option<Error>| -> Option<Error> {
            let Some(t) = timer else { return e };
            // A closed Io cancels nothing (it completes its operations with `Cancelled`):
            // the timer did not fire then.
            let fired = !t.cancel(io) && !io.closed();
            t.close(io);
            match e {
                Some(_) if fired => Some(ACCEPT_TIMED_OUT),
                e => e,
            }
        };
        let cfg = Box::new(cfg.clone());
        rx.async_read_next(io, move |io, r, rx| {
            let mut ws = WebSocket { rx, tx, st };
            if let Err(e) = r {
                let _ = close_stream(io, stream);
                let e = settle(io, Some(e)).unwrap_or(e);
                return f(io, Err(e));
            }
            let answer = match ws.rx.item() {
                Ok(Some(Inbound::Head(h))) => server_response(h, &cfg),
                _ => Err(crate::handshake::Refusal {
                    response: crate::handshake::BAD_REQUEST,
                    error: bad("handshake head exceeds the limit"),
                }),
            };
            let r = match answer {
                Ok((resp, hs)) => {
                    let d = cfg.deflate.unwrap_or_default();
                    ws.established(hs, d.level, d.min_size);
                    ws.write_then(io, Out::Raw(&resp), move |io, r, ws| match r {
                        Ok(()) => {
                            settle(io, None);
                            f(io, Ok(ws))
                        }
                        Err(e) => {
                            let _ = close_stream(io, stream);
                            let e = settle(io, Some(e)).unwrap_or(e);
                            f(io, Err(e));
                        }
                    })
                }
                Err(refusal) => ws.write_then(io, Out::Raw(refusal.response), move |io, _, _| {
                    let _ = close_stream(io, stream);
                    settle(io, None);
                    f(io, Err(refusal.error));
                }),
            };
            if r.is_err() {
                let _ = close_stream(io, stream);
                settle(io, None);
            }
        })
        .map_err(|r| {
            // The read was refused: nothing will end the timer but this.
            if let Some(t) = timer {
                t.close(io);
            }
            r.error
        })
    }

    /// Reads until a whole message (or a pong, a close, or a ping with automatic pongs
    /// off) is there, then hands the connection back; [`message`](WebSocket::message)
    /// lends it. An error ends the connection: a protocol violation has then been
    /// answered with a close frame (flushed, or the stream closed when the peer has not
    /// taken it within the close timeout), and the error names what was wrong; finish
    /// with [`close`](WebSocket::close).
    ///
    /// A read after the connection is over (the peer's [`Message::Close`] came, or a read
    /// failed) is refused with `Closed` (or the failure's error) and closes the stream, so
    /// a loop that reads until an error leaks nothing: what the send FIFO still holds (the
    /// answer to the peer's close) is written as far as the socket takes it at once, then
    /// the stream ends the way its layer ends. [`async_close`](WebSocket::async_close) is
    /// the ending that waits for the flush. Any other refused submission (the stream
    /// already closed, the Io closed) returns the error and drops the connection.
    pub fn async_read<F>(mut self, io: &mut Io, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<()>, WebSocket<S>) + 'static,
    {
        if self.st.close_received || self.st.failed.is_some() {
            let e = match self.st.failed {
                Some(e) => e,
                None => PEER_CLOSED,
            };
            self.end_refused(io);
            return Err(e);
        }
        if self.st.held {
            release(&mut self.rx);
            self.st.held = false;
        }
        self.st.current = Current::None;
        self.arm(io, f)
    }

    fn arm<F>(self, io: &mut Io, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<()>, WebSocket<S>) + 'static,
    {
        let WebSocket { rx, tx, st } = self;
        rx.async_read_next(io, move |io, r, rx| {
            on_read(io, r, WebSocket { rx, tx, st }, f)
        })
        .map_err(|r| r.error)
    }

    /// The message the last read completed with, borrowed until the next read.
    pub fn message(&mut self) -> Option<Message<'_>> {
        message_of(&mut self.rx, &self.st)
    }

    /// The message and the sender together, to answer a message without copying it.
    pub fn split(&mut self) -> (Option<Message<'_>>, &mut Sender<S>) {
        let WebSocket { rx, tx, st } = self;
        (message_of(rx, st), tx)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender<S> {
        &mut self.tx
    }

    /// Sends a text message ([`Sender::send_text`]).
    pub fn send_text(&mut self, io: &mut Io, text: &str) -> Result<usize> {
        self.tx.send_text(io, text)
    }

    /// Sends a binary message ([`Sender::send_binary`]).
    pub fn send_binary(&mut self, io: &mut Io, data: &[u8]) -> Result<usize> {
        self.tx.send_binary(io, data)
    }

    /// Writes until the send FIFO is empty, then hands the connection back.
    pub fn async_flush<F>(self, io: &mut Io, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<()>, WebSocket<S>) + 'static,
    {
        self.write_then(io, Out::Flush, f)
    }

    /// The closing handshake: sends a close frame (unless one was sent), flushes, waits for
    /// the peer's close (unless it came already), then closes the stream and calls `f`.
    /// A peer that does not answer within the close timeout (5 s,
    /// [`set_close_timeout`](WebSocket::set_close_timeout)) has its stream closed and `f`
    /// gets `TimedOut`.
    pub fn async_close<F>(mut self, io: &mut Io, code: CloseCode, reason: &str, f: F) -> Result<()>
    where
        F: FnOnce(&mut Io, Result<()>) + 'static,
    {
        if !self.tx.close_sent
            && let Err(e) = self.tx.send_close(io, code, reason)
        {
            let _ = self.close(io);
            return Err(e);
        }
        let stream = self.next_layer();
        let timer = Timer::new(io)?;
        timer.schedule_once(io, self.st.close_timeout, move |io, _| {
            let _ = close_stream(io, stream);
        })?;
        self.write_then(io, Out::Flush, move |io, r, ws| {
            if r.is_err() || ws.st.close_received || ws.st.failed.is_some() {
                finish_close(io, ws, timer, r, f);
            } else {
                drain(io, ws, timer, f);
            }
        })
    }

    /// Closes the stream at once, without a closing handshake.
    pub fn close(self, io: &mut Io) -> Result<()> {
        self.rx.close(io)
    }

    /// Ends a connection whose read was refused because it is over: flushes what the
    /// socket takes now, then closes gracefully if all went out and at once otherwise (a
    /// TLS close_notify behind unsent bytes would only be cut off too).
    fn end_refused(mut self, io: &mut Io) {
        let flushed = matches!(self.tx.flush(io), Ok(0));
        let stream = self.next_layer();
        drop(self);
        let _ = if flushed {
            stream.close_gracefully(io)
        } else {
            stream.close_now(io)
        };
    }

    /// Sets how long [`async_close`](WebSocket::async_close) waits for the peer's close.
    pub fn set_close_timeout(&mut self, d: Duration) {
        self.st.close_timeout = d;
    }

    /// What the opening handshake settled: path, subprotocol, permessage-deflate, headers.
    pub fn handshake(&self) -> &Handshake {
        &self.st.handshake
    }

    /// The subprotocol chosen in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.st.handshake.protocol.as_deref()
    }

    /// Whether this is the client end.
    pub fn is_client(&self) -> bool {
        self.st.client
    }

    /// Whether the peer's close frame has arrived.
    pub fn close_received(&self) -> bool {
        self.st.close_received
    }

    /// The stream underneath.
    pub fn next_layer(&self) -> S {
        self.rx.next_layer()
    }

    fn fail<F>(mut self, io: &mut Io, code: CloseCode, e: Error, f: F)
    where
        F: FnOnce(&mut Io, Result<()>, WebSocket<S>) + 'static,
    {
        self.st.failed = Some(e);
        if !self.tx.close_sent {
            let _ = self.tx.send_close(io, code, e.context_str().unwrap_or(""));
        }
        if self.tx.unsent() == 0 {
            return f(io, Err(e), self);
        }
        // A peer that does not read would hold the error back for ever: the close timeout
        // bounds the flush (the stream is then closed, and the read fails all the same).
        let stream = self.next_layer();
        let timer = match Timer::new(io) {
            Ok(t) => t,
            Err(_) => {
                let _ = self.write_then(io, Out::Flush, move |io, _, ws| f(io, Err(e), ws));
                return;
            }
        };
        let _ = timer.schedule_once(io, self.st.close_timeout, move |io, _| {
            let _ = close_stream(io, stream);
        });
        let r = self.write_then(io, Out::Flush, move |io, _, ws| {
            timer.cancel(io);
            timer.close(io);
            f(io, Err(e), ws)
        });
        if r.is_err() {
            timer.close(io);
        }
    }

    /// Looks at the frames at the front of the receive FIFO until a message is whole.
    fn process(&mut self, io: &mut Io) -> Step {
        let WebSocket { rx, tx, st } = self;
        if st.held {
            release(rx);
            st.held = false;
        }
        if st.pong_due.is_some() && !tx.close_sent {
            answer_ping(io, tx, st);
        }
        st.current = Current::None;
        loop {
            rx.codec().hold = true;
            // Lent mutably: a masked frame comes out unmasked in place, its payload plain.
            let f = match rx.item_mut() {
                Ok(Some(Inbound::Frame(f))) => f,
                Ok(Some(Inbound::Bad(code, what))) => {
                    let kind = if code == CloseCode::TOO_BIG {
                        ErrorKind::MessageTooLarge
                    } else {
                        ErrorKind::InvalidInput
                    };
                    return Step::Fail(code, Error::with_context(kind, what));
                }
                Ok(Some(Inbound::Head(_))) => {
                    return Step::Fail(CloseCode::PROTOCOL, bad("unexpected head"));
                }
                Ok(None) => return Step::More,
                Err(e) => return Step::Fail(CloseCode::PROTOCOL, e),
            };
            let proto = |what| Step::Fail(CloseCode::PROTOCOL, bad(what));
            if f.rsv2() || f.rsv3() {
                return proto("frame has RSV2 or RSV3 set");
            }
            let Some(op) = f.opcode() else {
                return proto("frame has a reserved opcode");
            };
            if f.masked() == st.client {
                return proto(if st.client {
                    "server sent a masked frame"
                } else {
                    "client sent an unmasked frame"
                });
            }
            if op.is_control() {
                if !f.fin() {
                    return proto("control frame is fragmented");
                }
                if f.payload_len() > MAX_CONTROL_PAYLOAD {
                    return proto("control frame carries more than 125 bytes");
                }
                if f.rsv1() {
                    return proto("control frame has RSV1 set");
                }
                let p = f.payload();
                let n = p.len();
                st.ctrl[..n].copy_from_slice(p);
                st.ctrl_len = n;
                release(rx);
                match op {
                    Opcode::Ping if st.auto_pong => {
                        if !tx.close_sent {
                            let mut due = [0u8; MAX_CONTROL_PAYLOAD];
                            due[..n].copy_from_slice(&st.ctrl[..n]);
                            st.pong_due = Some((due, n));
                            answer_ping(io, tx, st);
                        }
                    }
                    Opcode::Ping => {
                        st.current = Current::Ping;
                        return Step::Ready;
                    }
                    Opcode::Pong => {
                        st.current = Current::Pong;
                        return Step::Ready;
                    }
                    _ => {
                        let code = match parse_close(&st.ctrl[..n]) {
                            Ok((code, _)) => code,
                            Err(CloseCode::INVALID_DATA) => {
                                return Step::Fail(
                                    CloseCode::INVALID_DATA,
                                    bad("close reason is not valid UTF-8"),
                                );
                            }
                            Err(_) => return proto("close frame has an invalid code or length"),
                        };
                        st.close_received = true;
                        if !tx.close_sent {
                            let _ = tx.send_close(io, code, "");
                        }
                        st.current = Current::Close(code);
                        return Step::Ready;
                    }
                }
                continue;
            }
            let (kind, compressed) = match (op, st.frag) {
                (Opcode::Continuation, None) => {
                    return proto("continuation frame without a message to continue");
                }
                (Opcode::Continuation, Some(k)) => {
                    if f.rsv1() {
                        return proto("continuation frame has RSV1 set");
                    }
                    k
                }
                (_, Some(_)) => return proto("new message inside a fragmented message"),
                (op, None) => {
                    if f.rsv1() && st.inflater.is_none() {
                        return proto("RSV1 set without permessage-deflate");
                    }
                    (
                        if op == Opcode::Text {
                            Kind::Text
                        } else {
                            Kind::Binary
                        },
                        f.rsv1(),
                    )
                }
            };
            let max = st.limits.max_message;
            let too_big = || {
                Step::Fail(
                    CloseCode::TOO_BIG,
                    Error::with_context(
                        ErrorKind::MessageTooLarge,
                        "message exceeds the message limit",
                    ),
                )
            };
            let not_utf8 = || {
                Step::Fail(
                    CloseCode::INVALID_DATA,
                    bad("text message is not valid UTF-8"),
                )
            };
            if f.fin() && op != Opcode::Continuation && !compressed {
                // The message is this one frame, as it should be read: hand it out in place.
                if f.payload_len() > max {
                    return too_big();
                }
                if kind == Kind::Text && simdutf8::basic::from_utf8(f.payload()).is_err() {
                    return not_utf8();
                }
                st.current = Current::InPlace(kind);
                st.held = true;
                return Step::Ready;
            }
            if op != Opcode::Continuation {
                st.frag = Some((kind, compressed));
            }
            let State {
                buf,
                utf8,
                inflater,
                ..
            } = &mut **st;
            if op != Opcode::Continuation {
                buf.clear();
                utf8.reset();
            }
            let start = buf.len();
            let p = f.payload();
            if compressed {
                let Some(inf) = inflater.as_mut() else {
                    return proto("RSV1 set without permessage-deflate");
                };
                let r = inf.inflate(p, buf, max).and_then(|()| {
                    if f.fin() {
                        inf.finish(buf, max)
                    } else {
                        Ok(())
                    }
                });
                match r {
                    Ok(()) => {}
                    Err(InflateError::TooBig) => return too_big(),
                    Err(InflateError::Corrupt) => {
                        return Step::Fail(
                            CloseCode::INVALID_DATA,
                            bad("compressed message does not inflate"),
                        );
                    }
                }
            } else {
                if buf.len() + p.len() > max {
                    return too_big();
                }
                buf.extend_from_slice(p);
            }
            if kind == Kind::Text && utf8.feed(&buf[start..]).is_err() {
                return not_utf8();
            }
            let fin = f.fin();
            release(rx);
            rx.codec().text_so_far = (kind == Kind::Text && !compressed && !fin).then_some(*utf8);
            if fin {
                if kind == Kind::Text && utf8.finish().is_err() {
                    return not_utf8();
                }
                st.frag = None;
                st.current = Current::Buffered(kind);
                return Step::Ready;
            }
        }
    }
}

/// Sends the pong that is due, unless more than [`PONG_BACKLOG`] bytes wait in the send FIFO
/// after one attempt to write them: then it stays due (replaced by a later ping's).
fn answer_ping<S: ByteStream>(io: &mut Io, tx: &mut Sender<S>, st: &mut State) {
    if tx.unsent() > PONG_BACKLOG {
        let _ = tx.flush(io);
        if tx.unsent() > PONG_BACKLOG {
            return;
        }
    }
    if let Some((p, n)) = st.pong_due.take() {
        let _ = tx.pong(io, &p[..n]);
    }
}

fn on_read<S, F>(io: &mut Io, r: Result<()>, mut ws: WebSocket<S>, f: F)
where
    S: ByteStream,
    F: FnOnce(&mut Io, Result<()>, WebSocket<S>) + 'static,
{
    if let Err(e) = r {
        let e = if e.kind() == ErrorKind::UnexpectedEof && e.context_str().is_none() {
            e.context(if ws.rx.buffered() > 0 {
                "the peer ended the stream inside a frame"
            } else if ws.st.frag.is_some() {
                "the peer ended the stream inside a fragmented message"
            } else {
                "the peer ended the stream without a close frame"
            })
        } else {
            e
        };
        ws.st.failed = Some(e);
        return f(io, Err(e), ws);
    }
    match ws.process(io) {
        Step::Ready => {
            if ws.tx.unsent() > 0 {
                let _ = ws.tx.flush(io);
            }
            if ws.st.pong_due.is_some() && !ws.tx.close_sent {
                answer_ping(io, &mut ws.tx, &mut ws.st);
            }
            f(io, Ok(()), ws)
        }
        Step::More => {
            let _ = ws.arm(io, f);
        }
        Step::Fail(code, e) => ws.fail(io, code, e, f),
    }
}

fn drain<S, F>(io: &mut Io, ws: WebSocket<S>, timer: Timer, f: F)
where
    S: ByteStream,
    F: FnOnce(&mut Io, Result<()>) + 'static,
{
    let stream = ws.next_layer();
    let r = ws.async_read(io, move |io, r, ws| match r {
        Ok(()) if !ws.st.close_received => drain(io, ws, timer, f),
        r => finish_close(io, ws, timer, r, f),
    });
    if r.is_err() {
        timer.close(io);
        let _ = close_stream(io, stream);
    }
}

fn finish_close<S, F>(io: &mut Io, ws: WebSocket<S>, timer: Timer, r: Result<()>, f: F)
where
    S: ByteStream,
    F: FnOnce(&mut Io, Result<()>) + 'static,
{
    // A closed Io cancels nothing: the timer did not fire then.
    let fired = !timer.cancel(io) && !io.closed();
    timer.close(io);
    // The closing handshake is over (or failed): the stream ends the way its layer ends
    // (a TLS stream sends close_notify), unless the peer did not answer in time.
    let stream = ws.next_layer();
    drop(ws);
    let _ = if fired {
        stream.close_now(io)
    } else {
        stream.close_gracefully(io)
    };
    let r = match r {
        Err(_) if fired => Err(Error::with_context(
            ErrorKind::TimedOut,
            "the peer did not answer the close in time",
        )),
        // The peer closed after our close frame: the handshake is over either way.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(()),
        r => r,
    };
    f(io, r)
}
