//! Test support: certificates made with rcgen and written to a temp dir, external peers
//! (openssl, python3) run with bounded waits, and a bounded Io loop.
#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};
use sonic_io::Io;

pub mod talk;

/// How long any one wait may last before the test fails.
pub const BOUND: Duration = Duration::from_secs(30);

/// A CA, a server certificate it issued for `localhost` and 127.0.0.1, an expired one, a
/// client certificate, and an unrelated CA; PEM files in a fresh temp dir.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key: String,
    pub expired_pem: String,
    pub expired_key: String,
    pub client_pem: String,
    pub client_key: String,
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

fn leaf(names: &[&str], issuer: &Issuer<'_, &KeyPair>, expired: bool) -> (String, String) {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, names[0].to_string());
    if expired {
        p.not_before = date_time_ymd(2020, 1, 1);
        p.not_after = date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    pub fn new() -> Pki {
        let (ca_params, ca_key, ca_pem) = ca("sonic-tls test CA");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let (server_pem, server_key) = leaf(&["localhost", "127.0.0.1"], &issuer, false);
        let (expired_pem, expired_key) = leaf(&["localhost", "127.0.0.1"], &issuer, true);
        let (client_pem, client_key) = leaf(&["client.test"], &issuer, false);
        let (_, _, other_ca_pem) = ca("an unrelated CA");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sonic-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki {
            dir,
            ca_pem,
            server_pem,
            server_key,
            expired_pem,
            expired_key,
            client_pem,
            client_key,
            other_ca_pem,
        };
        for (name, body) in [
            ("ca.pem", &pki.ca_pem),
            ("server.pem", &pki.server_pem),
            ("server.key", &pki.server_key),
            ("expired.pem", &pki.expired_pem),
            ("expired.key", &pki.expired_key),
            ("client.pem", &pki.client_pem),
            ("client.key", &pki.client_key),
            ("other_ca.pem", &pki.other_ca_pem),
        ] {
            std::fs::write(pki.dir.join(name), body).unwrap();
        }
        pki
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    pub fn client(&self, versions: sonic_tls::Versions) -> Arc<rustls::ClientConfig> {
        sonic_tls::ClientOptions::new()
            .pem_roots(self.ca_pem.as_bytes())
            .unwrap()
            .versions(versions)
            .build()
            .unwrap()
    }

    pub fn server(&self, versions: sonic_tls::Versions) -> Arc<rustls::ServerConfig> {
        sonic_tls::ServerOptions::from_pem(self.server_pem.as_bytes(), self.server_key.as_bytes())
            .unwrap()
            .versions(versions)
            .build()
            .unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An external program with its stdout read line by line on a thread, killed on drop if
/// it is still running.
pub struct Peer {
    child: Child,
    pub stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Peer {
    pub fn spawn(program: &str, args: &[&str]) -> Peer {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Peer {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Waits (bounded) for a line of stdout that contains `needle`; returns it.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => {
                    let err = self.stderr_now();
                    panic!(
                        "no line with {needle:?} from the peer ({e:?}); saw {:?}; stderr: {err}",
                        self.seen
                    )
                }
            }
        }
    }

    /// A line with `needle` if one is already there (no wait).
    pub fn try_line(&mut self, needle: &str) -> bool {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.iter().any(|l| l.contains(needle))
    }

    pub fn send(&mut self, s: &str) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(s.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (bounded; killed and failed past it) for the exit; returns its status code.
    pub fn wait(mut self) -> i32 {
        let pid = self.child.id();
        let (tx, rx) = mpsc::channel::<()>();
        let guard = std::thread::spawn(move || {
            if rx.recv_timeout(BOUND).is_err() {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                return true;
            }
            false
        });
        let status = self.child.wait().unwrap();
        let _ = tx.send(());
        let killed = guard.join().unwrap();
        assert!(
            !killed,
            "the peer hung and was killed: {}",
            self.stderr_now()
        );
        status.code().unwrap_or(-1)
    }

    fn stderr_now(&mut self) -> String {
        match self.stderr.take() {
            Some(h) if h.is_finished() => h.join().unwrap_or_default(),
            Some(h) => {
                self.stderr = Some(h);
                "(still running)".into()
            }
            None => String::new(),
        }
    }

    /// stderr, after the exit.
    pub fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `io` until `done()` says so, failing past [`BOUND`].
pub fn run_until(io: &mut Io, mut done: impl FnMut(&mut Io) -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done(io) {
        assert!(
            Instant::now() < deadline,
            "the Io did not finish in {BOUND:?}"
        );
        io.run_one_for(Duration::from_millis(20)).unwrap();
    }
}

/// A value a callback fills in.
pub fn slot<T>() -> Rc<RefCell<Option<T>>> {
    Rc::new(RefCell::new(None))
}

/// A listener on 127.0.0.1, port 0, and its port.
pub fn listener() -> (sock::TcpListener, u16) {
    let l = sock::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std::net::SocketAddr::try_from(l.local_addr().unwrap())
        .map(|a| a.port())
        .unwrap_or_else(|_| panic!("no port"));
    (l, port)
}

pub fn dir_exists(p: &Path) -> bool {
    p.exists()
}
