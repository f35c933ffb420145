//! Handshake failures against real peers, each asserted by kind and message: unknown CA,
//! name mismatch, expired certificate, no common protocol version (both ways), an alert
//! from the peer; a peer that closes without close_notify (truncation); garbage from the
//! peer, to our client and to our server.

mod common;

use common::talk;
use common::{Peer, Pki, listener};
use iox::ErrorKind;
use sonic_io::{Io, Listener};
use sonic_tls::{ClientOptions, ServerOptions, Versions};

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");

fn s_server(pki: &Pki, cert: &str, key: &str, extra: &[&str]) -> (Peer, u16) {
    let (cert, key) = (pki.path(cert), pki.path(key));
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
    (
        peer,
        line.rsplit(':').next().unwrap().trim().parse().unwrap(),
    )
}

fn py(script: &str, args: &[&str]) -> Peer {
    let script = format!("{PEERS}/{script}");
    let mut all = vec![script.as_str()];
    all.extend_from_slice(args);
    Peer::spawn("python3", &all)
}

fn assert_err(r: iox::Result<impl Sized>, kind: ErrorKind, msg: &str) {
    match r {
        Ok(_) => panic!("expected {kind:?} {msg:?}, got a connection"),
        Err(e) => assert_eq!((e.kind(), e.context_str()), (kind, Some(msg)), "{e}"),
    }
}

fn client_fails(
    config: std::sync::Arc<rustls::ClientConfig>,
    cert: &str,
    key: &str,
    name: &str,
    extra: &[&str],
) -> iox::Result<talk::Shook> {
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, cert, key, extra);
    let mut io = Io::new().unwrap();
    let r = talk::connect(&mut io, port, config, name);
    peer.close_stdin();
    drop(peer);
    r
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let pki = Pki::new();
    let config = ClientOptions::new()
        .pem_roots(pki.other_ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let (mut peer, port) = s_server(&pki, "server.pem", "server.key", &[]);
    let mut io = Io::new().unwrap();
    let r = talk::connect(&mut io, port, config, "localhost");
    assert_err(
        r,
        ErrorKind::PermissionDenied,
        "TLS: certificate signed by an unknown issuer",
    );
    peer.close_stdin();
}

#[test]
fn a_server_certificate_for_another_name_is_refused() {
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, "server.pem", "server.key", &[]);
    let mut io = Io::new().unwrap();
    let r = talk::connect(&mut io, port, pki.client(Versions::Both), "wrong.example");
    assert_err(
        r,
        ErrorKind::PermissionDenied,
        "TLS: certificate not valid for the name",
    );
    peer.close_stdin();
}

#[test]
fn an_expired_server_certificate_is_refused() {
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, "expired.pem", "expired.key", &[]);
    let mut io = Io::new().unwrap();
    let r = talk::connect(&mut io, port, pki.client(Versions::Both), "localhost");
    assert_err(r, ErrorKind::PermissionDenied, "TLS: certificate expired");
    peer.close_stdin();
}

#[test]
fn a_tls13_only_client_and_a_tls12_only_openssl_server_share_no_version() {
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, "server.pem", "server.key", &["-tls1_2"]);
    let mut io = Io::new().unwrap();
    let r = talk::connect(&mut io, port, pki.client(Versions::Tls13), "localhost");
    // OpenSSL refuses the ClientHello with an alert.
    assert_err(
        r,
        ErrorKind::ConnectionReset,
        "TLS: peer sent alert protocol_version",
    );
    peer.close_stdin();
}

#[test]
fn a_tls13_only_server_and_a_tls12_only_openssl_client_share_no_version() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = listener();
    let l = Listener::add(&mut io, l).unwrap();
    let connect = format!("127.0.0.1:{port}");
    let ca = pki.path("ca.pem");
    let peer = Peer::spawn(
        "openssl",
        &[
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            &ca,
            "-tls1_2",
            "-nocommands",
        ],
    );
    let r = talk::accept(&mut io, l, pki.server(Versions::Tls13));
    assert_err(r, ErrorKind::Unsupported, "TLS: no common protocol version");
    assert_ne!(peer.wait(), 0, "s_client must fail too");
}

#[test]
fn an_alert_from_a_python_client_that_does_not_trust_us_is_reported() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = listener();
    let l = Listener::add(&mut io, l).unwrap();
    let other = pki.path("other_ca.pem");
    let mut peer = py("py_client.py", &[&port.to_string(), &other, "1.3", "plain"]);
    let r = talk::accept(&mut io, l, pki.server(Versions::Both));
    assert_err(
        r,
        ErrorKind::ConnectionReset,
        "TLS: peer sent alert unknown_ca",
    );
    peer.wait_line("HANDSHAKE-FAILED");
    assert_eq!(peer.wait(), 3);
}

#[test]
fn a_python_server_that_closes_without_close_notify_is_a_truncation() {
    let pki = Pki::new();
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    let mut peer = py("py_server.py", &[&cert, &key, &ca, "1.3", "truncate"]);
    let port: u16 = peer.wait_line("PORT")[5..].trim().parse().unwrap();
    let mut io = Io::new().unwrap();
    let shook = talk::connect(&mut io, port, pki.client(Versions::Both), "localhost").unwrap();
    talk::write_all(&mut io, shook.tls, talk::PING.as_bytes());
    peer.send(talk::PONG);
    let (got, end) = talk::read_to_end(&mut io, shook.tls);
    assert_eq!(
        String::from_utf8_lossy(&got),
        talk::PONG,
        "the data before the cut arrives"
    );
    assert_err(
        end,
        ErrorKind::UnexpectedEof,
        "TLS: peer closed the connection without close_notify (truncation)",
    );
    assert_eq!(peer.wait(), 0);
}

#[test]
fn an_openssl_server_that_quits_without_close_notify_is_a_truncation() {
    // s_server, its stdin closed, marks the connection shut down without sending close_notify.
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, "server.pem", "server.key", &[]);
    let mut io = Io::new().unwrap();
    let shook = talk::connect(&mut io, port, pki.client(Versions::Both), "localhost").unwrap();
    talk::write_all(&mut io, shook.tls, talk::PING.as_bytes());
    peer.wait_line(talk::PING.trim_end());
    peer.send(talk::PONG);
    peer.close_stdin();
    let (got, end) = talk::read_to_end(&mut io, shook.tls);
    assert_eq!(String::from_utf8_lossy(&got), talk::PONG);
    assert_err(
        end,
        ErrorKind::UnexpectedEof,
        "TLS: peer closed the connection without close_notify (truncation)",
    );
    assert_eq!(peer.wait(), 0);
}

#[test]
fn garbage_from_a_server_fails_the_handshake() {
    let pki = Pki::new();
    let mut peer = py("py_server.py", &["-", "-", "-", "1.3", "garbage"]);
    let port: u16 = peer.wait_line("PORT")[5..].trim().parse().unwrap();
    let mut io = Io::new().unwrap();
    let r = talk::connect(&mut io, port, pki.client(Versions::Both), "localhost");
    let e = r.err().expect("garbage cannot make a connection");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.context_str()
            .unwrap()
            .starts_with("TLS: bad record from the peer"),
        "{e}"
    );
    assert_eq!(peer.wait(), 0);
}

#[test]
fn garbage_from_a_client_fails_the_handshake() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = listener();
    let l = Listener::add(&mut io, l).unwrap();
    let peer = py("py_client.py", &[&port.to_string(), "-", "1.3", "garbage"]);
    let r = talk::accept(&mut io, l, pki.server(Versions::Both));
    let e = r.err().expect("garbage cannot make a connection");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.context_str()
            .unwrap()
            .starts_with("TLS: bad record from the peer"),
        "{e}"
    );
    assert_eq!(peer.wait(), 0);
}

#[test]
fn server_options_refuse_pem_without_a_certificate_or_key() {
    let pki = Pki::new();
    let e = ServerOptions::from_pem(b"not pem", pki.server_key.as_bytes()).unwrap_err();
    assert_eq!(
        e.context_str(),
        Some("TLS: no certificate in the PEM input")
    );
    let e = ServerOptions::from_pem(pki.server_pem.as_bytes(), b"").unwrap_err();
    assert_eq!(
        e.context_str(),
        Some("TLS: no private key in the PEM input")
    );
    let e = ClientOptions::new().build().unwrap_err();
    assert_eq!(
        e.context_str(),
        Some("TLS: the client config has no root certificate")
    );
    let _ = client_fails;
}

/// A self-signed certificate made the usual way (`openssl req -x509`, which marks it
/// CA:TRUE) and trusted as a root is refused by the verifier as a CA certificate used as
/// an end entity: the error says so (a new user got "TLS: bad certificate" for it).
#[test]
fn a_self_signed_ca_certificate_presented_as_the_servers_own_is_named() {
    let pki = Pki::new();
    let (cert, key) = (
        pki.dir.join("selfsigned.pem"),
        pki.dir.join("selfsigned.key"),
    );
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = ClientOptions::new()
        .pem_roots(&std::fs::read(&cert).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let (mut peer, port) = s_server(&pki, "selfsigned.pem", "selfsigned.key", &[]);
    let mut io = Io::new().unwrap();
    let r = talk::connect(&mut io, port, config, "localhost");
    assert_err(
        r,
        ErrorKind::PermissionDenied,
        "TLS: the peer's certificate is a CA certificate (CA:TRUE), not an end entity's",
    );
    peer.close_stdin();
}
