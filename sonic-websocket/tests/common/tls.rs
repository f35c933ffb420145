//! wss:// test support: a CA and a server certificate for `localhost` and 127.0.0.1 made
//! by rcgen at test time (PEM files in a fresh temp dir), sonic-tls configs from them, and
//! an echo server over TLS.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use sonic_io::{Io, TcpAcceptor};
use sonic_websocket::sonic_tls::{ClientOptions, ServerOptions, TlsStream, rustls};
use sonic_websocket::{ServerConfig, WebSocket};

use super::echo;

/// A CA, a server certificate it issued, and an unrelated CA, as PEM strings and files.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key: String,
    pub other_ca_pem: String,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_string());
    let key = KeyPair::generate().unwrap();
    let pem = p.self_signed(&key).unwrap().pem();
    (p, key, pem)
}

impl Pki {
    pub fn new() -> Pki {
        let (ca_params, ca_key, ca_pem) = ca("sonic-websocket test CA");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let mut p =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "localhost".to_string());
        let key = KeyPair::generate().unwrap();
        let server_pem = p.signed_by(&key, &issuer).unwrap().pem();
        let server_key = key.serialize_pem();
        let (_, _, other_ca_pem) = ca("an unrelated CA");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sonic-websocket-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in [
            ("ca.pem", &ca_pem),
            ("server.pem", &server_pem),
            ("server.key", &server_key),
        ] {
            std::fs::write(dir.join(name), body).unwrap();
        }
        Pki {
            dir,
            ca_pem,
            server_pem,
            server_key,
            other_ca_pem,
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    /// A client config trusting our CA.
    pub fn client(&self) -> Arc<rustls::ClientConfig> {
        ClientOptions::new()
            .pem_roots(self.ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    }

    /// A client config trusting only an unrelated CA.
    pub fn distrusting_client(&self) -> Arc<rustls::ClientConfig> {
        ClientOptions::new()
            .pem_roots(self.other_ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    }

    pub fn server(&self) -> Arc<rustls::ServerConfig> {
        ServerOptions::from_pem(self.server_pem.as_bytes(), self.server_key.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Accepts connections forever: TLS handshake, upgrade, then echoes every text and binary
/// message.
pub fn serve_echo_tls(
    io: &mut Io,
    l: TcpAcceptor,
    cfg: Rc<ServerConfig>,
    tls: Arc<rustls::ServerConfig>,
) {
    let again = cfg.clone();
    l.async_accept(io, move |io, r| {
        if let Ok((conn, _)) = r {
            conn.get(io).unwrap().set_nodelay(true).unwrap();
            let c = again.clone();
            TlsStream::accept(io, conn, tls.clone(), move |io, r| {
                if let Ok(s) = r {
                    WebSocket::accept(io, s, &c, |io, ws| {
                        if let Ok(ws) = ws {
                            echo(io, ws);
                        }
                    })
                    .unwrap();
                }
            })
            .unwrap();
            serve_echo_tls(io, l, again, tls);
        }
    })
    .unwrap();
    drop(cfg);
}
