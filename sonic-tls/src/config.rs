//! Building rustls configs with the ring provider: roots, ALPN, versions, client
//! certificates, resumption, key logging; and [`SniRecorder`], which lets a server
//! connection report the name the client asked for.

use std::sync::Arc;

use iox::{Error, ErrorKind, Result};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::conn::LAST_SNI;
use crate::error::tls_error;

const BAD_PEM_CERT: Error = Error::invalid_input("TLS: no certificate in the PEM input");
const BAD_PEM_KEY: Error = Error::invalid_input("TLS: no private key in the PEM input");
const BAD_ROOT: Error = Error::invalid_input("TLS: a root certificate could not be parsed");
const NO_ROOTS: Error = Error::invalid_input("TLS: the client config has no root certificate");
const BAD_KEY: Error = Error::with_context(
    ErrorKind::InvalidInput,
    "TLS: the private key is not usable with ring",
);

/// Which TLS versions a config allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Versions {
    /// TLS 1.2 and TLS 1.3 (the default).
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl Versions {
    fn list(self) -> &'static [&'static SupportedProtocolVersion] {
        static BOTH: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static V12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static V13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            Versions::Both => &BOTH,
            Versions::Tls12 => &V12,
            Versions::Tls13 => &V13,
        }
    }
}

/// The ring crypto provider, the one this crate builds every config with.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM bundle (`CERTIFICATE` sections), in order.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| BAD_PEM_CERT)?;
    if certs.is_empty() {
        return Err(BAD_PEM_CERT);
    }
    Ok(certs)
}

/// The first private key in a PEM input (PKCS#8, PKCS#1 or SEC1).
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| BAD_PEM_KEY)
}

/// Options for a client config: build with [`build`](Self::build).
///
/// ```
/// # fn main() -> iox::Result<()> {
/// # let pem = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap().cert.pem();
/// let config = sonic_tls::ClientOptions::new()
///     .pem_roots(pem.as_bytes())?
///     .alpn(&[b"http/1.1"])
///     .versions(sonic_tls::Versions::Tls13)
///     .build()?;
/// assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ClientOptions {
    roots: RootCertStore,
    alpn: Vec<Vec<u8>>,
    versions: Versions,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    no_resumption: bool,
    key_log: bool,
}

impl ClientOptions {
    /// No roots yet, TLS 1.2 and 1.3, no ALPN, resumption on (rustls's in-memory cache of
    /// 256 sessions), no key log.
    pub fn new() -> ClientOptions {
        ClientOptions {
            roots: RootCertStore::empty(),
            alpn: Vec::new(),
            versions: Versions::Both,
            client_cert: None,
            no_resumption: false,
            key_log: false,
        }
    }

    /// Adds every certificate of a PEM bundle as a trusted root.
    pub fn pem_roots(mut self, pem: &[u8]) -> Result<ClientOptions> {
        for cert in certs_from_pem(pem)? {
            self.roots.add(cert).map_err(|_| BAD_ROOT)?;
        }
        Ok(self)
    }

    /// Adds a trusted root in DER form.
    pub fn root(mut self, der: CertificateDer<'static>) -> Result<ClientOptions> {
        self.roots.add(der).map_err(|_| BAD_ROOT)?;
        Ok(self)
    }

    /// Adds Mozilla's root store (the `webpki-roots` crate).
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots(mut self) -> ClientOptions {
        self.roots
            .extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        self
    }

    /// The application protocols to offer (ALPN), in order of preference.
    pub fn alpn(mut self, protocols: &[&[u8]]) -> ClientOptions {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// The TLS versions to offer.
    pub fn versions(mut self, v: Versions) -> ClientOptions {
        self.versions = v;
        self
    }

    /// A client certificate chain and its key, in PEM, for servers that ask for one.
    pub fn client_cert_pem(mut self, chain: &[u8], key: &[u8]) -> Result<ClientOptions> {
        self.client_cert = Some((certs_from_pem(chain)?, key_from_pem(key)?));
        Ok(self)
    }

    /// Turns session resumption off (it is on by default).
    pub fn no_resumption(mut self) -> ClientOptions {
        self.no_resumption = true;
        self
    }

    /// Logs the session secrets to the file named by `SSLKEYLOGFILE`, if set, in the
    /// NSS key log format Wireshark reads. For debugging only.
    pub fn key_log(mut self) -> ClientOptions {
        self.key_log = true;
        self
    }

    /// The config (ring provider).
    pub fn build(self) -> Result<Arc<ClientConfig>> {
        if self.roots.is_empty() {
            return Err(NO_ROOTS);
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(self.versions.list())
            .map_err(|e| tls_error(&e))?
            .with_root_certificates(self.roots);
        let mut config = match self.client_cert {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|_| BAD_KEY)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        if self.no_resumption {
            config.resumption = rustls::client::Resumption::disabled();
        }
        if self.key_log {
            config.key_log = Arc::new(rustls::KeyLogFile::new());
        }
        // rustls hands the traffic keys over after the handshake: TlsConn's own record
        // layer seals and opens records in place, with no allocation.
        config.enable_secret_extraction = true;
        Ok(Arc::new(config))
    }
}

/// Options for a server config: a certificate chain and key, ALPN, versions, client
/// certificate verification.
///
/// ```
/// # fn main() -> iox::Result<()> {
/// # let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let (cert, key) = (c.cert.pem(), c.signing_key.serialize_pem());
/// let config = sonic_tls::ServerOptions::from_pem(cert.as_bytes(), key.as_bytes())?
///     .alpn(&[b"h2", b"http/1.1"])
///     .build()?;
/// # drop(config); Ok(()) }
/// ```
#[derive(Debug)]
pub struct ServerOptions {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: Vec<Vec<u8>>,
    versions: Versions,
    client_roots: Option<RootCertStore>,
    key_log: bool,
}

impl ServerOptions {
    /// A certificate chain (end-entity first) and its private key, both in PEM.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<ServerOptions> {
        Ok(ServerOptions {
            chain: certs_from_pem(chain)?,
            key: key_from_pem(key)?,
            alpn: Vec::new(),
            versions: Versions::Both,
            client_roots: None,
            key_log: false,
        })
    }

    /// The application protocols the server accepts (ALPN), in order of preference.
    pub fn alpn(mut self, protocols: &[&[u8]]) -> ServerOptions {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// The TLS versions to accept.
    pub fn versions(mut self, v: Versions) -> ServerOptions {
        self.versions = v;
        self
    }

    /// Requires a client certificate issued by one of the roots in this PEM bundle.
    pub fn client_roots_pem(mut self, pem: &[u8]) -> Result<ServerOptions> {
        let mut roots = RootCertStore::empty();
        for cert in certs_from_pem(pem)? {
            roots.add(cert).map_err(|_| BAD_ROOT)?;
        }
        self.client_roots = Some(roots);
        Ok(self)
    }

    /// Logs the session secrets to `SSLKEYLOGFILE` (see [`ClientOptions::key_log`]).
    pub fn key_log(mut self) -> ServerOptions {
        self.key_log = true;
        self
    }

    /// The config (ring provider), its certificate behind a [`SniRecorder`].
    pub fn build(self) -> Result<Arc<ServerConfig>> {
        let provider = provider();
        let key = provider
            .key_provider
            .load_private_key(self.key)
            .map_err(|_| BAD_KEY)?;
        let certified = Arc::new(CertifiedKey::new(self.chain, key));
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.versions.list())
            .map_err(|e| tls_error(&e))?;
        let builder = match self.client_roots {
            Some(roots) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|_| BAD_ROOT)?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config =
            builder.with_cert_resolver(Arc::new(SniRecorder::new(Arc::new(Single(certified)))));
        config.alpn_protocols = self.alpn;
        if self.key_log {
            config.key_log = Arc::new(rustls::KeyLogFile::new());
        }
        // rustls hands the traffic keys over after the handshake: TlsConn's own record
        // layer seals and opens records in place, with no allocation.
        config.enable_secret_extraction = true;
        Ok(Arc::new(config))
    }
}

/// One certificate for every name.
#[derive(Debug)]
struct Single(Arc<CertifiedKey>);

impl ResolvesServerCert for Single {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A certificate resolver that notes the server name (SNI) of each ClientHello before it
/// asks the resolver it wraps, so that [`TlsConn::server_name`](crate::TlsConn::server_name)
/// can report it (rustls's unbuffered server connection has no accessor of its own).
/// [`ServerOptions::build`] installs one; wrap your own resolver in it to keep the
/// accessor working with a hand-built config.
#[derive(Debug)]
pub struct SniRecorder {
    inner: Arc<dyn ResolvesServerCert>,
}

impl SniRecorder {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ResolvesServerCert>) -> SniRecorder {
        SniRecorder { inner }
    }
}

impl ResolvesServerCert for SniRecorder {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            LAST_SNI.with(|s| *s.borrow_mut() = Some(name.into()));
        }
        self.inner.resolve(hello)
    }
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions::new()
    }
}
