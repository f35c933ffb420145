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
    assert!(
        shook.records,
        "the crate's record layer took over after the handshake"
    );
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
    assert!(
        shook.records,
        "the crate's record layer took over after the handshake"
    );
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

/// `openssl s_client -tls1_3 -msg` with its command letters (a line "K" asks it for a key
/// update with update_requested; it then prints KEYUPDATE on stderr) and stderr merged into
/// stdout, so a test can wait for the command to be taken (a line read together with the
/// command would be dropped with it) and see the handshake messages it receives.
fn s_client_tls13_msg(pki: &Pki, port: u16) -> Peer {
    let cmd = format!(
        "exec openssl s_client -connect 127.0.0.1:{port} -CAfile {} -servername localhost -tls1_3 -msg 2>&1",
        pki.path("ca.pem")
    );
    Peer::spawn("sh", &["-c", &cmd])
}

/// OpenSSL's s_client sends a KeyUpdate that requests ours (its `K` command) in the middle
/// of the conversation: our server takes the new receiving keys, answers with its own
/// KeyUpdate before its next record, and both directions go on under the new keys.
#[test]
fn server_answers_a_key_update_request_from_openssl_s_client() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = listener();
    let l = Listener::add(&mut io, l).unwrap();
    let mut peer = s_client_tls13_msg(&pki, port);
    peer.send(PING);
    let shook = talk::accept(&mut io, l, pki.server(Versions::Tls13)).unwrap();
    assert!(shook.records);
    assert_eq!(
        talk::read_exact(&mut io, shook.tls, PING.len()).unwrap(),
        PING.as_bytes()
    );
    for round in 0..3 {
        peer.send("K\n");
        peer.wait_line("KEYUPDATE");
        let line = format!("after key update {round}\n");
        peer.send(&line);
        let got = talk::read_exact(&mut io, shook.tls, line.len()).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), line);
        // Sealed after our KeyUpdate, under our next keys: s_client must have switched.
        let back = format!("answer {round}\n");
        talk::write_all(&mut io, shook.tls, back.as_bytes());
        // -msg shows the handshake messages s_client received: our KeyUpdate came first.
        while !peer.wait_line("KeyUpdate").starts_with("<<<") {}
        peer.wait_line(back.trim_end());
    }
    peer.close_stdin();
    let (rest, end) = talk::read_to_end(&mut io, shook.tls);
    assert!(rest.is_empty(), "{rest:?}");
    end.unwrap();
    talk::close(&mut io, shook.tls).unwrap();
    assert_eq!(peer.wait(), 0);
}

/// Our client asks for a key update (TlsStream::update_keys) between writes: OpenSSL's
/// s_server decrypts what follows under our next keys and answers the request with its own
/// KeyUpdate, whose next keys we then decrypt its lines with.
#[test]
fn client_key_updates_are_followed_by_openssl_s_server() {
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, &["-tls1_3"]);
    let mut io = Io::new().unwrap();
    let shook = talk::connect(&mut io, port, pki.client(Versions::Tls13), "localhost").unwrap();
    assert!(shook.records);
    for round in 0..3 {
        shook.tls.update_keys(&mut io).unwrap();
        let line = format!("after our key update {round}\n");
        talk::write_all(&mut io, shook.tls, line.as_bytes());
        peer.wait_line(line.trim_end());
        let back = format!("answer {round}\n");
        peer.send(&back);
        let got = talk::read_exact(&mut io, shook.tls, back.len()).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), back);
    }
    talk::close(&mut io, shook.tls).unwrap();
    peer.wait_line("DONE");
    assert_eq!(peer.wait(), 0);
}

/// TLS 1.2 has no key update: the call says so and the connection goes on.
#[test]
fn a_key_update_over_tls12_is_unsupported() {
    let pki = Pki::new();
    let (mut peer, port) = s_server(&pki, &[]);
    let mut io = Io::new().unwrap();
    let shook = talk::connect(&mut io, port, pki.client(Versions::Tls12), "localhost").unwrap();
    let e = shook.tls.update_keys(&mut io).unwrap_err();
    assert_eq!(e.kind(), iox::ErrorKind::Unsupported);
    assert_eq!(
        e.context_str(),
        Some("TLS: key updates need TLS 1.3 and a config that allows secret extraction")
    );
    talk::client_conversation(&mut io, &mut peer, &shook, "DONE");
    assert_eq!(peer.wait(), 0);
}

/// With a few records per key, our server updates its sending keys by itself between
/// records (KeyUpdates that do not ask for one back), also inside one write of four
/// records; OpenSSL's s_client follows every update and receives every line.
#[test]
fn a_records_per_key_limit_updates_keys_that_openssl_follows() {
    let pki = Pki::new();
    let mut io = Io::new().unwrap();
    let (l, port) = listener();
    let l = Listener::add(&mut io, l).unwrap();
    let mut peer = s_client_tls13_msg(&pki, port);
    peer.send(PING);
    let shook = talk::accept(&mut io, l, pki.server(Versions::Tls13)).unwrap();
    assert_eq!(
        talk::read_exact(&mut io, shook.tls, PING.len()).unwrap(),
        PING.as_bytes()
    );
    shook
        .tls
        .get_mut(&mut io)
        .unwrap()
        .set_records_per_key(2)
        .unwrap();
    for i in 0..6 {
        talk::write_all(&mut io, shook.tls, format!("line {i}\n").as_bytes());
    }
    // Four records of 16 KiB in one write: a key update falls inside it.
    let mut big = vec![b'x'; 4 * 16384 - 1];
    big.push(b'\n');
    talk::write_all(&mut io, shook.tls, &big);
    talk::write_all(&mut io, shook.tls, b"last line\n");
    peer.wait_line("last line");
    let updates = peer
        .seen
        .iter()
        .filter(|l| l.starts_with("<<<") && l.contains("KeyUpdate"))
        .count();
    // 11 records at 2 per key: at least 5 updates whatever the count of tickets before.
    assert!(
        (5..=11).contains(&updates),
        "{updates} key updates: {:?}",
        peer.seen
    );
    for i in 0..6 {
        assert!(
            peer.seen.iter().any(|l| l == &format!("line {i}")),
            "line {i}"
        );
    }
    peer.close_stdin();
    let (rest, end) = talk::read_to_end(&mut io, shook.tls);
    assert!(rest.is_empty(), "{rest:?}");
    end.unwrap();
    talk::close(&mut io, shook.tls).unwrap();
    assert_eq!(peer.wait(), 0);
}
