//! Interop with Python's `ssl` module (python3, OpenSSL underneath), as client and as
//! server, TLS 1.2 and 1.3: data both ways, close_notify both ways, ALPN, SNI, client
//! certificates.

mod common;

use common::talk::{self, PONG};
use common::{Peer, Pki, listener};
use sonic_io::{Io, Listener};
use sonic_tls::Versions;

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");

fn py_server(pki: &Pki, ver: &str, mode: &str) -> (Peer, u16) {
    let script = format!("{PEERS}/py_server.py");
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    let mut peer = Peer::spawn("python3", &[&script, &cert, &key, &ca, ver, mode]);
    let line = peer.wait_line("PORT");
    (peer, line[5..].trim().parse().unwrap())
}

fn py_client(pki: &Pki, port: u16, ver: &str, mode: &str) -> Peer {
    let script = format!("{PEERS}/py_client.py");
    let ca = pki.path("ca.pem");
    Peer::spawn("python3", &[&script, &port.to_string(), &ca, ver, mode])
}

fn client_against_python(versions: Versions, ver: &str, want: rustls::ProtocolVersion) {
    let pki = Pki::new();
    let (mut peer, port) = py_server(&pki, ver, "plain");
    let mut io = Io::new().unwrap();
    let shook = talk::connect(&mut io, port, pki.client(versions), "localhost").unwrap();
    assert_eq!(shook.version, Some(want));
    assert!(
        shook.records,
        "the crate's record layer took over after the handshake"
    );
    talk::client_conversation(&mut io, &mut peer, &shook, "CLEAN");
    assert_eq!(peer.wait(), 0);
}

#[test]
fn client_talks_tls13_to_python() {
    client_against_python(Versions::Both, "1.3", rustls::ProtocolVersion::TLSv1_3);
}

#[test]
fn client_talks_tls12_to_python() {
    client_against_python(Versions::Both, "1.2", rustls::ProtocolVersion::TLSv1_2);
}

fn server_against_python(ver: &str, want: rustls::ProtocolVersion) {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = listener();
    let l = Listener::add(&mut io, l).unwrap();
    let config =
        sonic_tls::ServerOptions::from_pem(pki.server_pem.as_bytes(), pki.server_key.as_bytes())
            .unwrap()
            .alpn(&[b"h2", b"http/1.1"])
            .build()
            .unwrap();
    let mut peer = py_client(&pki, port, ver, "plain");
    let shook = talk::accept(&mut io, l, config).unwrap();
    assert_eq!(shook.version, Some(want));
    assert!(
        shook.records,
        "the crate's record layer took over after the handshake"
    );
    assert_eq!(shook.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(shook.sni.as_deref(), Some("localhost"));
    talk::server_conversation(&mut io, &mut peer, &shook, "ping from the peer\n");
    peer.wait_line("CLEAN");
    assert_eq!(peer.wait(), 0);
}

#[test]
fn server_talks_tls13_to_python() {
    server_against_python("1.3", rustls::ProtocolVersion::TLSv1_3);
}

#[test]
fn server_talks_tls12_to_python() {
    server_against_python("1.2", rustls::ProtocolVersion::TLSv1_2);
}

#[test]
fn client_certificate_is_presented_to_a_python_server_that_requires_one() {
    let pki = Pki::new();
    let (mut peer, port) = py_server(&pki, "1.3", "mtls");
    let config = sonic_tls::ClientOptions::new()
        .pem_roots(pki.ca_pem.as_bytes())
        .unwrap()
        .client_cert_pem(pki.client_pem.as_bytes(), pki.client_key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let mut io = Io::new().unwrap();
    let shook = talk::connect(&mut io, port, config, "localhost").unwrap();
    talk::client_conversation(&mut io, &mut peer, &shook, "CLEAN");
    assert!(peer.try_line("CLIENT client.test"), "{:?}", peer.seen);
    assert_eq!(peer.wait(), 0);
    let _ = PONG;
}
