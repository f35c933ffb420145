//! Interop with a peer nobody here wrote: Python's `websockets` package, as server and as
//! client, with and without permessage-deflate. The test installs it (pinned) into a
//! virtual environment under the target directory on first use: it needs `python3` with
//! the `venv` module and access to PyPI (or a pip mirror) the first time.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::OnceLock;

use sonic_io::Io;
use sonic_websocket::{ClientConfig, CloseCode, DeflateConfig, Opcode, ServerConfig};

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

fn our_client_against_python_server(mode: &str) {
    let mut server = Reaped(
        Command::new(python())
            .arg(script("echo_server.py"))
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    let deflate = mode == "deflate";
    let mut cfg = ClientConfig::default();
    if deflate {
        cfg = cfg.deflate(DeflateConfig::default());
    }
    let mut io = Io::new().unwrap();
    let mut ws = dial(&mut io, &format!("ws://127.0.0.1:{port}/"), &cfg);
    assert_eq!(
        ws.handshake().deflate.is_some(),
        deflate,
        "{:?}",
        ws.handshake()
    );
    let big: String = "κόσμε ".repeat(50_000);
    let bin: Vec<u8> = (0..(1 << 20)).map(|i| (i % 253) as u8).collect();
    for text in ["hello", "", big.as_str()] {
        ws.send_text(&mut io, text).unwrap();
        ws = flush(&mut io, ws);
        let (w, m) = next(&mut io, ws);
        assert_eq!(m, Owned::Text(text.into()));
        ws = w;
    }
    for data in [&b""[..], &bin] {
        ws.send_binary(&mut io, data).unwrap();
        ws = flush(&mut io, ws);
        let (w, m) = next(&mut io, ws);
        assert_eq!(m, Owned::Binary(data.to_vec()));
        ws = w;
    }
    let tx = ws.sender();
    tx.send_frame(&mut io, Opcode::Binary, false, b"frag")
        .unwrap();
    tx.send_frame(&mut io, Opcode::Continuation, false, b"men")
        .unwrap();
    tx.send_frame(&mut io, Opcode::Continuation, true, b"ted")
        .unwrap();
    let (mut ws, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Binary(b"fragmented".to_vec()));
    ws.sender().ping(&mut io, b"ping from rust").unwrap();
    let (ws, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Pong(b"ping from rust".to_vec()));
    let done = slot();
    let d = done.clone();
    ws.async_close(&mut io, CloseCode::NORMAL, "done", move |_, r| {
        *d.borrow_mut() = Some(r)
    })
    .unwrap();
    drive(&mut io, || done.borrow().is_some());
    assert_eq!(done.borrow_mut().take().unwrap(), Ok(()));
}

fn python_client_against_our_server(mode: &str, expect: &str) {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let cfg = ServerConfig::default().deflate(DeflateConfig::default());
    serve_echo(&mut io, l, Rc::new(cfg));
    let mut client = Reaped(
        Command::new(python())
            .arg(script("client.py"))
            .arg(&url)
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    drive(&mut io, || client.0.try_wait().unwrap().is_some());
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
