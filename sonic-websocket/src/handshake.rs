//! The opening handshake (RFC 6455 section 4): an HTTP/1.1 `GET` with `Upgrade: websocket`
//! answered by `101 Switching Protocols`, parsed with `httparse`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use iox::{Error, ErrorKind, Result};
use sha1::{Digest, Sha1};

use crate::config::{ClientConfig, ServerConfig};
use crate::deflate::DeflateParams;

/// The GUID the server appends to the client's key (RFC 6455 section 1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The most headers a handshake head may carry.
const MAX_HEADERS: usize = 64;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// // RFC 6455 section 1.3's example.
/// assert_eq!(
///     sonic_websocket::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID.as_bytes());
    STANDARD.encode(h.finalize())
}

/// A fresh `Sec-WebSocket-Key`: 16 bytes of OS randomness from `rng`, base64.
pub(crate) fn new_key(rng: &mut crate::rng::Rng) -> iox::Result<String> {
    let mut k = [0u8; 16];
    rng.fill(&mut k)?;
    Ok(STANDARD.encode(k))
}

/// What the handshake settled, kept by the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    /// The request target (`/path?query`): what the client asked for.
    pub path: String,
    /// The chosen subprotocol.
    pub protocol: Option<String>,
    /// permessage-deflate's agreed parameters, if it was negotiated.
    pub deflate: Option<DeflateParams>,
    /// The peer's headers (names as sent), for the application to read.
    pub headers: Vec<(String, String)>,
}

impl Handshake {
    /// The value of the peer's header `name` (ASCII case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn bad(what: &'static str) -> Error {
    Error::with_context(ErrorKind::InvalidInput, what)
}

/// Whether a comma-separated header value holds `token` (ASCII case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn owned_headers(h: &[httparse::Header<'_>]) -> Result<Vec<(String, String)>> {
    h.iter()
        .map(|h| match std::str::from_utf8(h.value) {
            Ok(v) => Ok((h.name.to_owned(), v.trim().to_owned())),
            Err(_) => Err(bad("handshake header value is not UTF-8")),
        })
        .collect()
}

/// The client's request.
pub(crate) fn client_request(host: &str, path: &str, key: &str, cfg: &ClientConfig) -> Vec<u8> {
    let mut r = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !cfg.protocols.is_empty() {
        r.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            cfg.protocols.join(", ")
        ));
    }
    if let Some(d) = cfg.deflate {
        r.push_str(&format!("Sec-WebSocket-Extensions: {}\r\n", d.offer()));
    }
    for (n, v) in &cfg.headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// The client's check of the server's response head.
pub(crate) fn check_response(head: &[u8], key: &str, cfg: &ClientConfig) -> Result<Handshake> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("handshake response truncated")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(bad("handshake response has more than 64 headers"));
        }
        Err(_) => return Err(bad("handshake response is not HTTP/1.1")),
    }
    if resp.code != Some(101) {
        return Err(bad("server refused the upgrade (status not 101)"));
    }
    let headers = owned_headers(resp.headers)?;
    let hs = Handshake {
        headers,
        ..Handshake::default()
    };
    if !hs
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    {
        return Err(bad("handshake response lacks Upgrade: websocket"));
    }
    if !hs
        .header("connection")
        .is_some_and(|v| has_token(v, "upgrade"))
    {
        return Err(bad("handshake response lacks Connection: Upgrade"));
    }
    if hs.header("sec-websocket-accept") != Some(accept_key(key.as_bytes()).as_str()) {
        return Err(bad("Sec-WebSocket-Accept does not match the key"));
    }
    let protocol = match hs.header("sec-websocket-protocol") {
        None => None,
        Some(p) if cfg.protocols.iter().any(|o| o == p) => Some(p.to_owned()),
        Some(_) => return Err(bad("server chose a subprotocol that was not offered")),
    };
    let deflate = match hs.header("sec-websocket-extensions") {
        None => None,
        Some(v) => match cfg.deflate {
            Some(d) => Some(d.check_response(v)?),
            None => {
                return Err(bad(
                    "server answered with an extension that was not offered",
                ));
            }
        },
    };
    Ok(Handshake {
        protocol,
        deflate,
        ..hs
    })
}

/// A refused upgrade: the response to send before closing, and the error.
pub(crate) struct Refusal {
    pub(crate) response: &'static [u8],
    pub(crate) error: Error,
}

pub(crate) const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const UPGRADE_REQUIRED: &[u8] = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\
Connection: close\r\nContent-Length: 0\r\n\r\n";

fn refuse(what: &'static str) -> Refusal {
    Refusal {
        response: BAD_REQUEST,
        error: bad(what),
    }
}

/// The server's answer to a request head: the 101 response and what was agreed.
pub(crate) fn server_response(
    head: &[u8],
    cfg: &ServerConfig,
) -> std::result::Result<(Vec<u8>, Handshake), Refusal> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(refuse("handshake request truncated")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refuse("handshake request has more than 64 headers"));
        }
        Err(_) => return Err(refuse("handshake request is not HTTP/1.1")),
    }
    if req.method != Some("GET") {
        return Err(refuse("handshake request is not a GET"));
    }
    if req.version != Some(1) {
        return Err(refuse("handshake request is not HTTP/1.1"));
    }
    let path = req.path.unwrap_or("/").to_owned();
    let headers =
        owned_headers(req.headers).map_err(|_| refuse("handshake header value is not UTF-8"))?;
    let mut hs = Handshake {
        path,
        headers,
        ..Handshake::default()
    };
    if hs.header("host").is_none() {
        return Err(refuse("handshake request lacks Host"));
    }
    if !hs
        .header("upgrade")
        .is_some_and(|v| has_token(v, "websocket"))
    {
        return Err(refuse("handshake request lacks Upgrade: websocket"));
    }
    if !hs
        .header("connection")
        .is_some_and(|v| has_token(v, "upgrade"))
    {
        return Err(refuse("handshake request lacks Connection: Upgrade"));
    }
    if hs.header("sec-websocket-version") != Some("13") {
        return Err(Refusal {
            response: UPGRADE_REQUIRED,
            error: bad("handshake request's Sec-WebSocket-Version is not 13"),
        });
    }
    let keys = hs
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-key"))
        .count();
    if keys > 1 {
        return Err(refuse(
            "handshake request has more than one Sec-WebSocket-Key",
        ));
    }
    let key = match hs.header("sec-websocket-key") {
        Some(k) if STANDARD.decode(k).is_ok_and(|b| b.len() == 16) => k.to_owned(),
        _ => {
            return Err(refuse(
                "handshake request's Sec-WebSocket-Key is not 16 bytes of base64",
            ));
        }
    };
    let offered: Vec<&str> = hs
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    let protocol = cfg
        .protocols
        .iter()
        .find(|p| offered.contains(&p.as_str()))
        .cloned();
    let ext = cfg.deflate.and_then(|d| {
        d.accept(
            hs.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"))
                .map(|(_, v)| v.as_str()),
        )
    });
    let mut r = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(key.as_bytes())
    );
    if let Some(p) = &protocol {
        r.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    if let Some((_, e)) = &ext {
        r.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    for (n, v) in &cfg.headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    hs.protocol = protocol;
    hs.deflate = ext.map(|(p, _)| p);
    Ok((r.into_bytes(), hs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::DeflateConfig;

    #[test]
    fn request_and_response_agree() {
        let cfg = ClientConfig::default()
            .protocol("a")
            .protocol("b")
            .header("X-Id", "7")
            .deflate(DeflateConfig::default());
        let req = client_request("h:1", "/feed?x=1", "dGhlIHNhbXBsZSBub25jZQ==", &cfg);
        let server = ServerConfig::default()
            .protocol("b")
            .deflate(DeflateConfig::default())
            .header("X-Server", "sonic");
        let (resp, hs) = server_response(&req, &server).ok().unwrap();
        assert_eq!(hs.path, "/feed?x=1");
        assert_eq!(hs.protocol.as_deref(), Some("b"));
        assert_eq!(hs.header("x-id"), Some("7"));
        let got = check_response(&resp, "dGhlIHNhbXBsZSBub25jZQ==", &cfg).unwrap();
        assert_eq!(got.protocol.as_deref(), Some("b"));
        assert_eq!(got.deflate, hs.deflate);
        assert!(got.deflate.is_some());
        assert_eq!(got.header("X-SERVER"), Some("sonic"));
        // A wrong key fails the client's check.
        let e = check_response(&resp, "AAAAAAAAAAAAAAAAAAAAAA==", &cfg).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn bad_requests_are_refused_with_a_status() {
        let ok = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let cfg = ServerConfig::default();
        assert!(server_response(ok.as_bytes(), &cfg).is_ok());
        let v12 = ok.replace("Version: 13", "Version: 12");
        let r = server_response(v12.as_bytes(), &cfg).err().unwrap();
        assert!(r.response.starts_with(b"HTTP/1.1 426"));
        for broken in [
            ok.replace("GET", "POST"),
            ok.replace("Upgrade: websocket", "Upgrade: h2c"),
            ok.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"),
            ok.replace("Host: x\r\n", ""),
            "garbage\r\n\r\n".to_owned(),
        ] {
            let r = server_response(broken.as_bytes(), &cfg).err().unwrap();
            assert!(r.response.starts_with(b"HTTP/1.1 400"), "{broken}");
        }
        // Each refusal says what was wrong (a helper's 500 headers were "not HTTP/1.1", and
        // a second key was taken).
        let many = ok.replace("\r\n\r\n", &"\r\nX-A: b".repeat(100)) + "\r\n\r\n";
        let twice = ok.replace(
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version",
        );
        for (req, what) in [
            (many, "handshake request has more than 64 headers"),
            (
                twice,
                "handshake request has more than one Sec-WebSocket-Key",
            ),
        ] {
            let r = server_response(req.as_bytes(), &cfg).err().unwrap();
            assert!(r.response.starts_with(b"HTTP/1.1 400"), "{req}");
            assert_eq!(r.error.context_str(), Some(what));
        }
    }
}
