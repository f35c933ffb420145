//! Interop with a peer nobody here wrote: Python's `websockets` package, as server and as
//! client, with and without permessage-deflate, over ws:// and (feature `tls`, Linux)
//! wss:// with Python's `ssl` and certificates made by rcgen. The test installs it (pinned) into a
//! virtual environment under the target directory on first use: it needs `python3` with
//! the `venv` module and access to PyPI (or a pip mirror) the first time.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::OnceLock;

use sonic_io::{ByteStream, Io};
use sonic_websocket::{ClientConfig, CloseCode, DeflateConfig, Opcode, ServerConfig, WebSocket};

/// The version the tests were written against.
const PIN: &str = "websockets==17.4";

fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-websockets");
        let py = dir.join("bin").join("python");
        let has = |py: &Path| {
            Command::new(py)
                .args([
                    "-c",
                    "import websockets, sys; sys.exit(websockets.__version__ != '17.4')",
                ])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !has(&py) {
            let st = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .expect("the interop tests need python3 (with venv)");
            assert!(st.success(), "python3 -m venv {} failed", dir.display());
            let st = Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    PIN,
                ])
                .status()
                .unwrap();
            assert!(st.success(), "pip install {PIN} failed");
            assert!(has(&py), "{PIN} did not install");
        }
        py
    })
    .clone()
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// A child process killed (if still running) and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Python echo server for `mode`, serving wss:// with `cert` and `key` if given; and
/// its port.
fn python_server(mode: &str, tls: Option<(&str, &str)>) -> (Reaped, u16) {
    let mut cmd = Command::new(python());
    cmd.arg(script("echo_server.py")).arg(mode);
    if let Some((cert, key)) = tls {
        cmd.arg(cert).arg(key);
    }
    let mut server = Reaped(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    (server, port)
}

fn client_config(mode: &str) -> ClientConfig {
    let mut cfg = ClientConfig::default();
    if mode == "deflate" {
        cfg = cfg.deflate(DeflateConfig::default());
    }
    cfg
}

fn our_client_against_python_server(mode: &str) {
    let (_server, port) = python_server(mode, None);
    let mut io = Io::new().unwrap();
    let ws = dial(
        &mut io,
        &format!("ws://127.0.0.1:{port}/"),
        &client_config(mode),
    );
    exchange(&mut io, ws, mode == "deflate");
}

/// Text, binary (1 MiB), a fragmented message, a ping, then our close, each echo checked.
fn exchange<S: ByteStream>(io: &mut Io, mut ws: WebSocket<S>, deflate: bool) {
    let io = &mut *io;
    assert_eq!(
        ws.handshake().deflate.is_some(),
        deflate,
        "{:?}",
        ws.handshake()
    );
    let big: String = "κόσμε ".repeat(50_000);
    let bin: Vec<u8> = (0..(1 << 20)).map(|i| (i % 253) as u8).collect();
    for text in ["hello", "", big.as_str()] {
        ws.send_text(io, text).unwrap();
        ws = flush(io, ws);
        let (w, m) = next(io, ws);
        assert_eq!(m, Owned::Text(text.into()));
        ws = w;
    }
    for data in [&b""[..], &bin] {
        ws.send_binary(io, data).unwrap();
        ws = flush(io, ws);
        let (w, m) = next(io, ws);
        assert_eq!(m, Owned::Binary(data.to_vec()));
        ws = w;
    }
    let tx = ws.sender();
    tx.send_frame(io, Opcode::Binary, false, b"frag").unwrap();
    tx.send_frame(io, Opcode::Continuation, false, b"men")
        .unwrap();
    tx.send_frame(io, Opcode::Continuation, true, b"ted")
        .unwrap();
    let (mut ws, m) = next(io, ws);
    assert_eq!(m, Owned::Binary(b"fragmented".to_vec()));
    ws.sender().ping(io, b"ping from rust").unwrap();
    let (ws, m) = next(io, ws);
    assert_eq!(m, Owned::Pong(b"ping from rust".to_vec()));
    let done = slot();
    let d = done.clone();
    ws.async_close(io, CloseCode::NORMAL, "done", move |_, r| {
        *d.borrow_mut() = Some(r)
    })
    .unwrap();
    drive(io, || done.borrow().is_some());
    assert_eq!(done.borrow_mut().take().unwrap(), Ok(()));
}

fn python_client_against_our_server(mode: &str, expect: &str) {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let cfg = ServerConfig::default().deflate(DeflateConfig::default());
    serve_echo(&mut io, l, Rc::new(cfg));
    python_client(&mut io, &url, mode, None, expect);
}

/// Runs the Python client against `url` (trusting `ca` for wss://) while `io` serves it;
/// it must print `expect`.
fn python_client(io: &mut Io, url: &str, mode: &str, ca: Option<&str>, expect: &str) {
    let mut cmd = Command::new(python());
    cmd.arg(script("client.py")).arg(url).arg(mode);
    if let Some(ca) = ca {
        cmd.arg(ca);
    }
    let mut client = Reaped(cmd.stdout(Stdio::piped()).spawn().unwrap());
    drive(io, || client.0.try_wait().unwrap().is_some());
    let status = client.0.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(client.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(
        status.success(),
        "the Python client failed: {status:?} {out}"
    );
    assert_eq!(out.trim(), expect);
}

#[test]
fn our_client_talks_to_python_websockets_server() {
    our_client_against_python_server("none");
}

#[test]
fn our_client_talks_to_python_websockets_server_compressed() {
    our_client_against_python_server("deflate");
}

#[test]
fn python_websockets_client_talks_to_our_server() {
    python_client_against_our_server("none", "ok - 1000");
}

#[test]
fn python_websockets_client_talks_to_our_server_compressed() {
    python_client_against_our_server("deflate", "ok permessage-deflate 1000");
}

#[test]
fn python_websockets_client_with_small_windows_and_no_context_takeover() {
    python_client_against_our_server("deflate-params", "ok permessage-deflate 1000");
}

/// wss:// against Python's `ssl`: certificates made by rcgen at test time.
#[cfg(all(feature = "tls", target_os = "linux"))]
mod wss {
    use super::*;
    use common::tls::{Pki, serve_echo_tls};

    fn our_client_against_python_wss_server(mode: &str) {
        let pki = Pki::new();
        let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
        let (_server, port) = python_server(mode, Some((&cert, &key)));
        let mut io = Io::new().unwrap();
        let got = slot();
        let g = got.clone();
        let url = format!("wss://localhost:{port}/");
        let cfg = client_config(mode).timeout(HANG);
        WebSocket::dial_tls(&mut io, &url, &cfg, pki.client(), move |_, r| {
            *g.borrow_mut() = Some(r)
        })
        .unwrap();
        drive(&mut io, || got.borrow().is_some());
        let ws = got.borrow_mut().take().unwrap().unwrap();
        exchange(&mut io, ws, mode == "deflate");
    }

    fn python_wss_client_against_our_server(mode: &str, expect: &str) {
        let pki = Pki::new();
        let mut io = Io::new().unwrap();
        let (l, url) = listen(&mut io);
        let cfg = ServerConfig::default().deflate(DeflateConfig::default());
        serve_echo_tls(&mut io, l, Rc::new(cfg), pki.server());
        let url = url.replacen("ws://127.0.0.1", "wss://localhost", 1);
        python_client(&mut io, &url, mode, Some(&pki.path("ca.pem")), expect);
    }

    #[test]
    fn our_wss_client_talks_to_python_websockets_server() {
        our_client_against_python_wss_server("none");
    }

    #[test]
    fn our_wss_client_talks_to_python_websockets_server_compressed() {
        our_client_against_python_wss_server("deflate");
    }

    #[test]
    fn python_websockets_wss_client_talks_to_our_server() {
        python_wss_client_against_our_server("none", "ok - 1000");
    }

    #[test]
    fn python_websockets_wss_client_talks_to_our_server_compressed() {
        python_wss_client_against_our_server("deflate", "ok permessage-deflate 1000");
    }
}
