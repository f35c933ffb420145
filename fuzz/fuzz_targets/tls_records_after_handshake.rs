//! Records that pass authentication, with arbitrary content, into sonic-tls's own record
//! layer. A client and a server `TlsConn` (TLS 1.2 or 1.3, chosen by the first byte) finish
//! their handshake over a Unix socket pair; then the input is cut into records of arbitrary
//! content type and payload (alerts, handshake messages such as key updates and tickets,
//! application data, unknown types) that the client seals with its real keys, mixed with
//! raw unsealed bytes, and the server reads it all: every call ends in data, `WouldBlock`,
//! `Ok(0)` or an error, never a panic or a hang, and an error stays the connection's answer.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sonic_tls::{TlsConn, Versions};

struct Configs {
    server: [Arc<rustls::ServerConfig>; 2],
    client: [Arc<rustls::ClientConfig>; 2],
}

fn configs() -> &'static Configs {
    static C: OnceLock<Configs> = OnceLock::new();
    C.get_or_init(|| {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (c.cert.pem(), c.signing_key.serialize_pem());
        let server = |v| {
            sonic_tls::ServerOptions::from_pem(cert.as_bytes(), key.as_bytes())
                .unwrap()
                .versions(v)
                .build()
                .unwrap()
        };
        let client = |v| {
            sonic_tls::ClientOptions::new()
                .pem_roots(cert.as_bytes())
                .unwrap()
                .versions(v)
                .no_resumption()
                .build()
                .unwrap()
        };
        Configs {
            server: [server(Versions::Tls12), server(Versions::Tls13)],
            client: [client(Versions::Tls12), client(Versions::Tls13)],
        }
    })
}

fn handshaken(v: usize) -> Option<(TlsConn<sock::UnixConn>, TlsConn<sock::UnixConn>)> {
    let [a, b] = sock::UnixConn::pair().unwrap();
    let c = configs();
    let mut client = TlsConn::client(a, c.client[v].clone(), "localhost").unwrap();
    let mut server = TlsConn::server(b, c.server[v].clone()).unwrap();
    for _ in 0..64 {
        let (x, y) = (client.handshake_step(), server.handshake_step());
        if x.is_ok() && y.is_ok() {
            return Some((client, server));
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut data)) = data.split_first() else {
        return;
    };
    let Some((mut client, mut server)) = handshaken(usize::from(first & 1)) else {
        panic!("the handshake did not finish");
    };
    assert!(client.owns_record_layer() && server.owns_record_layer());
    // Records: [kind, len_hi, len_lo, payload...]; kind's top bit sends the payload raw.
    while let [kind, hi, lo, rest @ ..] = data {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(rest.len());
        let (payload, after) = rest.split_at(len);
        data = after;
        if kind & 0x80 != 0 {
            let _ = client.get_ref().write_all(payload);
        } else if client.fuzz_seal_record(20 + kind % 8, payload).is_err() {
            break;
        }
        let _ = client.flush();
    }
    let _ = client.get_ref().shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 4096];
    let mut first_error = None;
    for _ in 0..256 {
        match server.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.is_would_block() => {}
            Err(e) => {
                if let Some(first) = first_error {
                    assert_eq!(first, e, "an error is sticky");
                    break;
                }
                first_error = Some(e);
            }
        }
    }
});
