//! `ClientOptions::key_log` writes the session secrets to the file `SSLKEYLOGFILE` names,
//! in the NSS format Wireshark reads (in a child process: it sets an environment variable).

mod common;

use std::time::Instant;

use common::{BOUND, Pki};
use sonic_tls::{ClientOptions, TlsConn, Versions};

#[test]
fn key_log_writes_the_session_secrets_to_sslkeylogfile() {
    testkit::in_subprocess(|| {
        let pki = Pki::new();
        let path = pki.dir.join("keys.log");
        // SAFETY: in_subprocess runs this closure alone in a child process of its own; no
        // other thread reads or writes the environment meanwhile.
        unsafe { std::env::set_var("SSLKEYLOGFILE", &path) };
        let client = ClientOptions::new()
            .pem_roots(pki.ca_pem.as_bytes())
            .unwrap()
            .versions(Versions::Tls13)
            .key_log()
            .build()
            .unwrap();
        let (l, port) = common::listener();
        let c = sock::TcpConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
        let (s, _) = l.accept().unwrap();
        let mut c = TlsConn::client(c, client, "localhost").unwrap();
        let mut s = TlsConn::server(s, pki.server(Versions::Tls13)).unwrap();
        let deadline = Instant::now() + BOUND;
        while c.handshake_step().is_err() | s.handshake_step().is_err() {
            assert!(Instant::now() < deadline, "handshake did not finish");
        }
        let log = std::fs::read_to_string(&path).unwrap();
        for label in [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ] {
            assert!(log.contains(label), "{label} missing from {log}");
        }
    });
}
