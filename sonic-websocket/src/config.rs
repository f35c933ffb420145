//! What a client offers and a server accepts, and the limits both keep.

use std::time::Duration;

use crate::deflate::DeflateConfig;

/// Size limits on what a peer may send. A frame or message over its limit closes the
/// connection with 1009 ("message too big") before its bytes are buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame payload accepted (64 MiB by default).
    pub max_frame: usize,
    /// The largest message accepted, after reassembly and decompression (64 MiB by default).
    pub max_message: usize,
    /// The largest handshake head (request or response line and headers; 16 KiB).
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 64 << 20,
            max_message: 64 << 20,
            max_head: 16 << 10,
        }
    }
}

/// A client's options for the opening handshake and the connection.
///
/// ```
/// use sonic_websocket::{ClientConfig, DeflateConfig};
///
/// let cfg = ClientConfig::default()
///     .protocol("chat")
///     .header("Authorization", "Bearer abc")
///     .deflate(DeflateConfig::default());
/// assert_eq!(cfg.protocols, ["chat"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// Subprotocols offered in `Sec-WebSocket-Protocol`, in order of preference.
    pub protocols: Vec<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// permessage-deflate, offered if set.
    pub deflate: Option<DeflateConfig>,
    /// Frame, message and head limits.
    pub limits: Limits,
    /// One timeout over name resolution, the TCP connect, the TLS handshake (`wss://`) and
    /// the upgrade ([`dial`](crate::WebSocket::dial)): the dial fails with `TimedOut`
    /// naming the stage it was in; `None`: none.
    pub timeout: Option<Duration>,
    /// Do not answer pings automatically (they are then delivered as messages).
    pub manual_pong: bool,
    /// Leave Nagle's algorithm on for a dialled connection (by default `TCP_NODELAY` is
    /// set).
    pub nagle: bool,
}

impl ClientConfig {
    /// Adds a subprotocol to offer.
    pub fn protocol(mut self, p: &str) -> ClientConfig {
        self.protocols.push(p.to_owned());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> ClientConfig {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Offers permessage-deflate.
    pub fn deflate(mut self, d: DeflateConfig) -> ClientConfig {
        self.deflate = Some(d);
        self
    }

    /// Sets the timeout over the whole dial.
    pub fn timeout(mut self, t: Duration) -> ClientConfig {
        self.timeout = Some(t);
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, l: Limits) -> ClientConfig {
        self.limits = l;
        self
    }
}

/// A server's options for the opening handshake and the connection.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Subprotocols supported, in order of preference: the first one the client also
    /// offers is chosen.
    pub protocols: Vec<String>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// permessage-deflate, accepted when offered if set.
    pub deflate: Option<DeflateConfig>,
    /// Frame, message and head limits.
    pub limits: Limits,
    /// Do not answer pings automatically (they are then delivered as messages).
    pub manual_pong: bool,
    /// How long [`accept`](crate::WebSocket::accept) waits for the upgrade (the request
    /// read and the response written) before it closes the stream and fails with
    /// `TimedOut`; `None` (the default): no limit. A server open to untrusted clients
    /// should set one: a client that connects and sends nothing, or half a request, holds
    /// its descriptor for as long as the limit allows.
    pub timeout: Option<Duration>,
}

impl ServerConfig {
    /// Sets the upgrade's timeout.
    pub fn timeout(mut self, t: Duration) -> ServerConfig {
        self.timeout = Some(t);
        self
    }

    /// Adds a supported subprotocol.
    pub fn protocol(mut self, p: &str) -> ServerConfig {
        self.protocols.push(p.to_owned());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> ServerConfig {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Accepts permessage-deflate.
    pub fn deflate(mut self, d: DeflateConfig) -> ServerConfig {
        self.deflate = Some(d);
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, l: Limits) -> ServerConfig {
        self.limits = l;
        self
    }
}
