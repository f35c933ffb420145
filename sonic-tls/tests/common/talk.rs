//! The two conversations every interop test holds: our client against a peer server, our
//! server against a peer client.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use sonic_io::{Io, Listener, TcpStream};
use sonic_tls::TlsStream;

use super::{Peer, run_until, slot};

pub const PING: &str = "ping from sonic-tls\n";
pub const PONG: &str = "pong from the peer\n";

/// What a handshake gave.
pub struct Shook {
    pub tls: TlsStream,
    pub version: Option<rustls::ProtocolVersion>,
    pub alpn: Option<Vec<u8>>,
    pub sni: Option<String>,
    pub resumed: Option<bool>,
    pub peer_certs: usize,
    /// The crate's record layer took over from rustls's at the end of the handshake.
    pub records: bool,
}

fn shook(io: &Io, tls: TlsStream) -> Shook {
    let c = tls.get(io).unwrap();
    Shook {
        tls,
        version: c.protocol_version(),
        alpn: c.alpn_protocol().map(<[u8]>::to_vec),
        sni: c.server_name().map(str::to_string),
        resumed: c.is_resumed(),
        peer_certs: c.peer_certificates().map_or(0, <[_]>::len),
        records: c.owns_record_layer(),
    }
}

/// Dials 127.0.0.1:`port` and runs a client handshake over the dialled stream.
pub fn connect(
    io: &mut Io,
    port: u16,
    config: Arc<rustls::ClientConfig>,
    name: &str,
) -> iox::Result<Shook> {
    let out = slot::<iox::Result<TlsStream>>();
    let o = out.clone();
    let name = name.to_string();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    TcpStream::dial(io, addr, move |io, r| {
        let tcp = match r {
            Ok(t) => t,
            Err(e) => return *o.borrow_mut() = Some(Err(e)),
        };
        let o2 = o.clone();
        if let Err(e) = TlsStream::connect(io, tcp, config, &name, move |_, r| {
            *o2.borrow_mut() = Some(r)
        }) {
            *o.borrow_mut() = Some(Err(e));
        }
    })
    .unwrap();
    run_until(io, |_| out.borrow().is_some());
    let r = out.borrow_mut().take().unwrap();
    r.map(|t| shook(io, t))
}

/// Accepts one connection on `l` and runs a server handshake over it.
pub fn accept(
    io: &mut Io,
    l: Listener<sock::TcpListener>,
    config: Arc<rustls::ServerConfig>,
) -> iox::Result<Shook> {
    let out = slot::<iox::Result<TlsStream>>();
    let o = out.clone();
    l.async_accept(io, move |io, r| {
        let (tcp, _) = r.unwrap();
        let o2 = o.clone();
        if let Err(e) = TlsStream::accept(io, tcp, config, move |_, r| *o2.borrow_mut() = Some(r)) {
            *o.borrow_mut() = Some(Err(e));
        }
    })
    .unwrap();
    run_until(io, |_| out.borrow().is_some());
    let r = out.borrow_mut().take().unwrap();
    r.map(|t| shook(io, t))
}

/// Reads until end of stream or an error; returns the bytes and how it ended.
pub fn read_to_end(io: &mut Io, tls: TlsStream) -> (Vec<u8>, iox::Result<()>) {
    let got = Rc::new(RefCell::new(Vec::new()));
    let end = slot::<iox::Result<()>>();
    fn next(
        io: &mut Io,
        tls: TlsStream,
        got: Rc<RefCell<Vec<u8>>>,
        end: Rc<RefCell<Option<iox::Result<()>>>>,
    ) {
        tls.async_read(io, vec![0u8; 4096], move |io, r, buf| match r {
            Ok(0) => *end.borrow_mut() = Some(Ok(())),
            Ok(n) => {
                got.borrow_mut().extend_from_slice(&buf[..n]);
                next(io, tls, got, end);
            }
            Err(e) => *end.borrow_mut() = Some(Err(e)),
        })
        .unwrap();
    }
    next(io, tls, got.clone(), end.clone());
    run_until(io, |_| end.borrow().is_some());
    let r = end.borrow_mut().take().unwrap();
    (got.take(), r)
}

/// Reads exactly `n` bytes.
pub fn read_exact(io: &mut Io, tls: TlsStream, n: usize) -> iox::Result<Vec<u8>> {
    let out = slot::<iox::Result<Vec<u8>>>();
    let o = out.clone();
    tls.async_read_exact(io, vec![0u8; n], move |_, r, buf| {
        *o.borrow_mut() = Some(r.map(|_| buf).map_err(iox::Error::from))
    })
    .unwrap();
    run_until(io, |_| out.borrow().is_some());
    out.borrow_mut().take().unwrap()
}

pub fn write_all(io: &mut Io, tls: TlsStream, data: &[u8]) {
    let out = slot::<iox::Result<usize>>();
    let o = out.clone();
    tls.async_write_all(io, data.to_vec(), move |_, r, _| {
        *o.borrow_mut() = Some(r.map_err(iox::Error::from))
    })
    .unwrap();
    run_until(io, |_| out.borrow().is_some());
    assert_eq!(out.borrow_mut().take().unwrap().unwrap(), data.len());
}

pub fn close(io: &mut Io, tls: TlsStream) -> iox::Result<()> {
    let out = slot::<iox::Result<()>>();
    let o = out.clone();
    tls.close(io, move |_, r| *o.borrow_mut() = Some(r))
        .unwrap();
    run_until(io, |_| out.borrow().is_some());
    out.borrow_mut().take().unwrap()
}

/// Our client against a peer server that prints each line it receives and sends us what
/// its stdin gets: data both ways, then our close_notify and close; the peer must then
/// print `clean` (its sign of a close_notify received).
pub fn client_conversation(io: &mut Io, peer: &mut Peer, shook: &Shook, clean: &str) {
    write_all(io, shook.tls, PING.as_bytes());
    peer.wait_line(PING.trim_end());
    peer.send(PONG);
    let got = read_exact(io, shook.tls, PONG.len()).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), PONG);
    close(io, shook.tls).unwrap();
    peer.wait_line(clean);
}

/// Our server against a peer client that sends its stdin's lines, prints what it receives,
/// and closes with close_notify when its stdin ends.
pub fn server_conversation(io: &mut Io, peer: &mut Peer, shook: &Shook, incoming: &str) {
    let got = read_exact(io, shook.tls, incoming.len()).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), incoming);
    write_all(io, shook.tls, PONG.as_bytes());
    peer.wait_line(PONG.trim_end());
    peer.close_stdin();
    let (rest, end) = read_to_end(io, shook.tls);
    assert!(rest.is_empty(), "unexpected bytes {rest:?}");
    end.expect("the peer's close_notify is a clean end of stream");
    close(io, shook.tls).unwrap();
}
