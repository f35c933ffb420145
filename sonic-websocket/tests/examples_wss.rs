//! The examples over wss://: `ws_echo_server --tls` (a self-signed certificate made at
//! start, its PEM path printed) against `ws_client --ca PATH`, and our `dial_tls` against
//! the example server. The test builds the two examples first (a no-op when `cargo test`
//! built them already).
#![cfg(all(feature = "tls", target_os = "linux"))]

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use sonic_io::Io;
use sonic_websocket::sonic_tls::ClientOptions;
use sonic_websocket::{ClientConfig, DeflateConfig, WebSocket};

/// A child process killed (if still running) and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The examples' directory, next to this test binary's (`target/debug/examples`), with
/// both examples built (with this build's features).
fn examples() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build).clone()
}

fn build() -> PathBuf {
    // Without this test's package variables: ring's build script would see them change
    // and rebuild twice (here, and in the next cargo run from a shell or xtask).
    let st = testkit::cargo_command(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "sonic-websocket",
            "--all-features",
            "--example",
            "ws_echo_server",
            "--example",
            "ws_client",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(st.success(), "building the examples failed");
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples")
}

/// Starts `ws_echo_server --port 0 --tls`; returns it, its port and its certificate's path.
fn server(dir: &std::path::Path) -> (Reaped, u16, String) {
    let mut child = Reaped(
        Command::new(dir.join("ws_echo_server"))
            .args(["--port", "0", "--tls"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let (mut addr, mut cert) = (String::new(), String::new());
    out.read_line(&mut addr).unwrap();
    out.read_line(&mut cert).unwrap();
    let port = addr.trim().rsplit(':').next().unwrap().parse().unwrap();
    let cert = cert
        .trim()
        .strip_prefix("cert ")
        .expect("the server prints its certificate's path")
        .to_owned();
    (child, port, cert)
}

#[test]
fn ws_client_measures_round_trips_against_ws_echo_server_over_wss() {
    let dir = examples();
    let (_server, port, cert) = server(&dir);
    for deflate in [false, true] {
        let mut cmd = Command::new(dir.join("ws_client"));
        cmd.args(["--url", &format!("wss://localhost:{port}/")])
            .args(["--ca", &cert, "--count", "300", "--size", "100"]);
        if deflate {
            cmd.arg("--deflate");
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("(permessage-deflate: {deflate})")),
            "{stdout}"
        );
        assert!(stdout.contains("300 round trips of 100 B"), "{stdout}");
    }
    let _ = std::fs::remove_file(&cert);
}

#[test]
fn our_dial_tls_against_ws_echo_server_and_ws_client_refusing_without_ca() {
    let dir = examples();
    let (_server, port, cert) = server(&dir);
    let tls = ClientOptions::new()
        .pem_roots(&std::fs::read(&cert).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut io = Io::new().unwrap();
    let got = slot();
    let g = got.clone();
    let cfg = ClientConfig::default()
        .deflate(DeflateConfig::default())
        .timeout(HANG);
    let url = format!("wss://127.0.0.1:{port}/");
    WebSocket::dial_tls(&mut io, &url, &cfg, tls, move |_, r| {
        *g.borrow_mut() = Some(r)
    })
    .unwrap();
    drive(&mut io, || got.borrow().is_some());
    let mut ws = got.borrow_mut().take().unwrap().unwrap();
    assert!(ws.handshake().deflate.is_some());
    ws.send_text(&mut io, "through the example").unwrap();
    let (ws, m) = next(&mut io, ws);
    assert_eq!(m, Owned::Text("through the example".into()));
    ws.close(&mut io).unwrap();

    let out = Command::new(dir.join("ws_client"))
        .args(["--url", &format!("wss://localhost:{port}/"), "--count", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--ca"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&cert);
}
