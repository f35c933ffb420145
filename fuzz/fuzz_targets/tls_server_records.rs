//! Arbitrary bytes from the "peer" into a sonic-tls server connection (`TlsConn` over one
//! end of a Unix socket pair; the input is written into the other end, then the peer's
//! side is shut down): every call ends in data, `WouldBlock` or an error, never a panic, and
//! an error stays the connection's answer.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;

fn config() -> Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
            let (cert, key) = (c.cert.pem(), c.signing_key.serialize_pem());
            sonic_tls::ServerOptions::from_pem(cert.as_bytes(), key.as_bytes())
                .unwrap()
                .build()
                .unwrap()
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(64 << 10)];
    let [ours, peer] = sock::UnixConn::pair().unwrap();
    let mut tls = sonic_tls::TlsConn::server(ours, config()).unwrap();
    peer.write_all(data).unwrap();
    let _ = peer.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 4096];
    let mut first_error = None;
    for _ in 0..64 {
        match tls.read(&mut buf) {
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
