//! Interop with OpenSSL's `s_server` and `s_client` (Debian's openssl), TLS 1.2 and 1.3:
//! handshake, data both ways, close_notify both ways.

mod common;

use common::talk::{self, PING};
use common::{Peer, Pki, listener};
use sonic_io::{Io, Listener};
use sonic_tls::Versions;

/// `openssl s_server` on 127.0.0.1, port chosen by the kernel; returns it and the port.
fn s_server(pki: &Pki, extra: &[&str]) -> (Peer, u16) {
    let cert = pki.path("server.pem");
    let key = pki.path("server.key");
    let mut args = vec![
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-naccept",
        "1",
        "-cert",
        &cert,
        "-key",
        &key,
    ];
    args.extend_from_slice(extra);
    let mut peer = Peer::spawn("openssl", &args);
    let line = peer.wait_line("ACCEPT");
    let port = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    (peer, port)
}

fn s_client(pki: &Pki, port: u16, extra: &[&str]) -> Peer {
    let ca = pki.path("ca.pem");
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        &ca,
        "-verify_return_error",
        "-servername",
        "localhost",
        "-nocommands",
    ];
    args.extend_from_slice(extra);
    Peer::spawn("openssl", &args)
}

fn client_against_s_server(versions: Versions, want: rustls::ProtocolVersion) {
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, &[]);
    let mut io = Io::new().unwrap();
    let shook = talk::connect(&mut io, port, pki.client(versions), "localhost").unwrap();
    assert_eq!(shook.version, Some(want));
    assert_eq!(shook.peer_certs, 1);
    talk::client_conversation(&mut io, &mut peer, &shook, "DONE");
    eprintln!("{:?}", peer.seen);
    assert_eq!(peer.wait(), 0);
}

#[test]
fn client_talks_tls13_to_openssl_s_server() {
    client_against_s_server(Versions::Tls13, rustls::ProtocolVersion::TLSv1_3);
}

#[test]
fn client_talks_tls12_to_openssl_s_server() {
    client_against_s_server(Versions::Tls12, rustls::ProtocolVersion::TLSv1_2);
}

fn server_against_s_client(flag: &str, want: rustls::ProtocolVersion) {
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
    let mut peer = s_client(&pki, port, &[flag, "-alpn", "http/1.1"]);
    peer.send(PING);
    let shook = talk::accept(&mut io, l, config).unwrap();
    assert_eq!(shook.version, Some(want));
    assert_eq!(shook.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(shook.sni.as_deref(), Some("localhost"));
    peer.wait_line("Verify return code: 0 (ok)");
    talk::server_conversation(&mut io, &mut peer, &shook, PING);
    assert_eq!(peer.wait(), 0);
}

#[test]
fn server_talks_tls13_to_openssl_s_client() {
    server_against_s_client("-tls1_3", rustls::ProtocolVersion::TLSv1_3);
}

#[test]
fn server_talks_tls12_to_openssl_s_client() {
    server_against_s_client("-tls1_2", rustls::ProtocolVersion::TLSv1_2);
}
