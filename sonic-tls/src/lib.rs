//! TLS on the sonic-io reactor, with rustls's unbuffered API.
//!
//! | item | what |
//! |---|---|
//! | [`TlsConn`] | a non-blocking `Read + Write + AsFd` TLS connection over any non-blocking socket: ciphertext read into its receive FIFO and decrypted there, records encrypted into its send FIFO |
//! | [`TlsStream`] | a TLS connection owned by an [`Io`](sonic_io::Io): asynchronous handshake ([`connect`](TlsStream::connect), [`accept`](TlsStream::accept)), the reactor's byte operations, [`close`](TlsStream::close) with close_notify |
//! | [`ClientOptions`], [`ServerOptions`], [`Versions`] | rustls configs with the ring provider: roots (PEM or webpki-roots), ALPN, versions, client certificates, resumption, `SSLKEYLOGFILE` |
//! | [`tls_error`], [`TRUNCATED`] | rustls's errors as `iox::Error`s naming the TLS reason |
//!
//! `sonic-tls/README.md` says what is measured and what is not supported.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod conn;
mod error;
mod records;
mod stream;

pub use config::{
    ClientOptions, ServerOptions, SniRecorder, Versions, certs_from_pem, key_from_pem, provider,
};
pub use conn::{MAX_RECORD_PLAINTEXT, MAX_WRITE, TlsConn};
pub use error::{HANDSHAKE_EOF, TRUNCATED, tls_error};
pub use rustls;
pub use stream::{IntoConn, TlsStream};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
