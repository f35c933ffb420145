//! WebSocket (RFC 6455) client and server on the [`sonic_io`] reactor, with
//! permessage-deflate (RFC 7692).
//!
//! | item | what |
//! |---|---|
//! | [`WebSocket`] | a connection over any [`ByteStream`](sonic_io::ByteStream): [`dial`](WebSocket::dial) a `ws://` URL (`dial_tls`: `wss://`, feature `tls`), [`client`](WebSocket::client) / [`accept`](WebSocket::accept) over a connected stream, [`async_read`](WebSocket::async_read) then [`message`](WebSocket::message), [`async_close`](WebSocket::async_close) |
//! | [`Sender`] | messages and frames serialized straight into the send FIFO: text, binary, fragments, ping, pong, close |
//! | [`Message`] | a message borrowed from the receive FIFO (or the reassembly buffer) |
//! | [`ClientConfig`], [`ServerConfig`], [`Limits`] | subprotocols, extra headers, permessage-deflate, size limits, the dial timeout |
//! | [`DeflateConfig`], [`DeflateParams`] | permessage-deflate's offer and what was agreed |
//! | [`Frame`], [`Opcode`], [`frame`] | the frame as a typed view over bytes, and the header writer |
//! | [`mask`] | masking a 64-bit word at a time |
//! | [`Utf8Validator`] | UTF-8 validation across fragments |
//! | [`CloseCode`], [`parse_close`] | close codes and the close frame's payload |
//! | [`Handshake`], [`accept_key`], [`Url`] | the opening handshake |
//!
//! ```
//! use sonic_io::{Io, Listener};
//! use sonic_websocket::{ClientConfig, Message, ServerConfig, WebSocket};
//!
//! let mut io = Io::new().unwrap();
//! let l = Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
//! let url = format!("ws://{}/echo", l.get(&io).unwrap().local_addr().unwrap());
//! // A server that echoes one message.
//! l.async_accept(&mut io, |io, r| {
//!     let (conn, _) = r.unwrap();
//!     WebSocket::accept(io, conn, &ServerConfig::default(), |io, ws| {
//!         ws.unwrap().async_read(io, |io, r, mut ws| {
//!             r.unwrap();
//!             let (msg, tx) = ws.split();
//!             tx.send_text(io, match msg.unwrap() { Message::Text(t) => t, _ => "?" }).unwrap();
//!         }).unwrap();
//!     }).unwrap();
//! }).unwrap();
//! WebSocket::dial(&mut io, &url, &ClientConfig::default(), |io, ws| {
//!     let mut ws = ws.unwrap();
//!     ws.send_text(io, "hello").unwrap();
//!     ws.async_read(io, |io, r, mut ws| {
//!         r.unwrap();
//!         assert_eq!(ws.message(), Some(Message::Text("hello")));
//!         io.close().unwrap();
//!     }).unwrap();
//! }).unwrap();
//! io.run().unwrap();
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod close;
mod codec;
mod config;
mod conn;
mod deflate;
mod dial;
pub mod frame;
mod handshake;
pub mod mask;
mod rng;
mod utf8;

pub use close::{CloseCode, parse_close};
pub use config::{ClientConfig, Limits, ServerConfig};
pub use conn::{Message, Sender, WebSocket};
pub use deflate::{DeflateConfig, DeflateParams};
pub use dial::Url;
pub use frame::{Frame, Opcode};
pub use handshake::{GUID, Handshake, accept_key};
pub use utf8::Utf8Validator;

/// sonic-tls, for the `wss://` dial's client config ([`sonic_tls::ClientOptions`]) and
/// [`TlsStream`](sonic_tls::TlsStream) (feature `tls`).
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use sonic_tls;

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
