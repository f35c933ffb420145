//! A WebSocket echo server: echoes every text and binary message, accepts
//! permessage-deflate, answers pings, closes cleanly. Prints the address it listens on
//! first (on its own line), then serves until killed. `--level` sets the compression
//! level (0-9, default 6). A connection that has not finished its TLS handshake and its
//! upgrade within 10 s each is closed.
//!
//! `--tls` serves wss:// (feature `tls`): with `--cert FILE --key FILE` (PEM), or else with a
//! self-signed certificate for `localhost` and 127.0.0.1 made at start (rcgen, Linux), whose
//! PEM file's path it prints on the second line (`cert PATH`): give it to
//! `ws_client --ca PATH`.
//!
//! ```text
//! cargo run --release -p sonic-websocket --example ws_echo_server -- --port 9001
//! cargo run --release -p sonic-websocket --example ws_echo_server -- --port 0 --host 0.0.0.0
//! cargo run --release -p sonic-websocket --features tls --example ws_echo_server -- --port 9443 --tls
//! ```

use std::rc::Rc;
use std::time::Duration;

use sonic_io::{ByteStream, Io, Listener, TcpAcceptor, Timer};
use sonic_websocket::{CloseCode, DeflateConfig, Limits, Message, ServerConfig, WebSocket};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 9001u16;
    let mut host = String::from("127.0.0.1");
    let mut deflate = true;
    let mut level = 6u32;
    let (mut tls, mut cert, mut key) = (false, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--host" => host = args.next().ok_or("--host needs a value")?,
            "--no-deflate" => deflate = false,
            "--level" => level = args.next().ok_or("--level needs a value")?.parse()?,
            "--tls" => tls = true,
            "--cert" => cert = Some(args.next().ok_or("--cert needs a file")?),
            "--key" => key = Some(args.next().ok_or("--key needs a file")?),
            other => {
                return Err(format!(
                    "unknown argument {other}; use --port P [--host H] [--no-deflate] [--level 0-9] \
                     [--tls [--cert FILE --key FILE]]"
                )
                .into());
            }
        }
    }
    let mut io = Io::new()?;
    let l = Listener::add(
        &mut io,
        sock::TcpListener::bind(format!("{host}:{port}").as_str())?,
    )?;
    println!("{}", l.get(&io)?.local_addr()?);
    let tls = if tls {
        Some(tls::server_config(cert, key)?)
    } else {
        None
    };
    // A client that connects and never finishes its upgrade (or TLS handshake) holds a
    // descriptor only this long.
    let mut cfg = ServerConfig::default()
        .limits(Limits {
            max_frame: 64 << 20,
            max_message: 64 << 20,
            ..Limits::default()
        })
        .timeout(HANDSHAKE_TIMEOUT);
    if deflate {
        cfg = cfg.deflate(DeflateConfig {
            level,
            ..DeflateConfig::default()
        });
    }
    match tls {
        #[cfg(feature = "tls")]
        Some(t) => tls::accept(&mut io, l, Rc::new(cfg), t),
        _ => accept(&mut io, l, Rc::new(cfg)),
    }
    io.run()?;
    Ok(())
}

/// wss://: a TLS handshake (sonic-tls) before the upgrade.
#[cfg(feature = "tls")]
mod tls {
    use std::rc::Rc;
    use std::sync::Arc;

    use sonic_io::{Io, TcpAcceptor};
    use sonic_websocket::sonic_tls::{ServerOptions, TlsStream, rustls};
    use sonic_websocket::{ServerConfig, WebSocket};

    pub(crate) type Config = Arc<rustls::ServerConfig>;

    /// From `--cert`/`--key`, or self-signed (its PEM written to a file whose path is
    /// printed).
    pub(crate) fn server_config(
        cert: Option<String>,
        key: Option<String>,
    ) -> Result<Config, Box<dyn std::error::Error>> {
        let (chain, key) = match (cert, key) {
            (Some(c), Some(k)) => (std::fs::read(c)?, std::fs::read(k)?),
            (None, None) => self_signed()?,
            _ => return Err("--cert and --key go together".into()),
        };
        Ok(ServerOptions::from_pem(&chain, &key)?.build()?)
    }

    #[cfg(target_os = "linux")]
    fn self_signed() -> Result<(Vec<u8>, Vec<u8>), Box<dyn std::error::Error>> {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
        let pem = c.cert.pem();
        let path = std::env::temp_dir().join(format!("ws_echo_server-{}.pem", std::process::id()));
        std::fs::write(&path, &pem)?;
        println!("cert {}", path.display());
        Ok((pem.into_bytes(), c.signing_key.serialize_pem().into_bytes()))
    }

    #[cfg(not(target_os = "linux"))]
    fn self_signed() -> Result<(Vec<u8>, Vec<u8>), Box<dyn std::error::Error>> {
        Err(
            "a self-signed certificate needs rcgen (a Linux dev-dependency): give --cert and --key"
                .into(),
        )
    }

    pub(crate) fn accept(io: &mut Io, l: TcpAcceptor, cfg: Rc<ServerConfig>, tls: Config) {
        let again = cfg.clone();
        let r = l.async_accept(io, move |io, r| {
            match r {
                Ok((conn, _)) => {
                    let _ = conn.get(io).map(|c| c.set_nodelay(true));
                    let c = again.clone();
                    let timeout = super::HANDSHAKE_TIMEOUT;
                    let _ =
                        TlsStream::accept_within(io, conn, tls.clone(), timeout, move |io, s| {
                            if let Ok(s) = s {
                                let _ = WebSocket::accept(io, s, &c, |io, ws| {
                                    if let Ok(ws) = ws {
                                        super::echo(io, ws);
                                    }
                                });
                            }
                        });
                }
                Err(e) if e.kind() == sonic_io::ErrorKind::Cancelled => return,
                Err(e) => {
                    return super::pause_then(io, &e, move |io| accept(io, l, again, tls));
                }
            }
            accept(io, l, again, tls);
        });
        if let Err(e) = r {
            eprintln!("accept: {e}");
        }
        drop(cfg);
    }
}

#[cfg(not(feature = "tls"))]
mod tls {
    pub(crate) enum Config {}
    pub(crate) fn server_config(
        _: Option<String>,
        _: Option<String>,
    ) -> Result<Config, Box<dyn std::error::Error>> {
        Err("--tls needs the tls feature: cargo run --features tls --example ws_echo_server".into())
    }
}

fn accept(io: &mut Io, l: TcpAcceptor, cfg: Rc<ServerConfig>) {
    let again = cfg.clone();
    let r = l.async_accept(io, move |io, r| {
        match r {
            Ok((conn, _)) => {
                // Several frames (a pong, an echo) may leave in a row: no Nagle delay.
                let _ = conn.get(io).map(|c| c.set_nodelay(true));
                let _ = WebSocket::accept(io, conn, &again, |io, ws| {
                    if let Ok(ws) = ws {
                        echo(io, ws);
                    }
                });
            }
            Err(e) if e.kind() == sonic_io::ErrorKind::Cancelled => return,
            Err(e) => return pause_then(io, &e, move |io| accept(io, l, again)),
        }
        accept(io, l, again);
    });
    if let Err(e) = r {
        eprintln!("accept: {e}");
    }
    drop(cfg);
}

/// How long accepting pauses after an error such as `EMFILE`.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// How long a connection may take over its TLS handshake, and then over its upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After a failed accept, `resume` after a pause: the connection stays in the listen queue
/// (`EMFILE` and friends), so accepting again at once would fail again at once and spin at
/// 100 % of a core until a descriptor frees up.
fn pause_then(io: &mut Io, e: &sonic_io::Error, resume: impl FnOnce(&mut Io) + 'static) {
    eprintln!("accept: {e}; trying again in {ACCEPT_PAUSE:?}");
    let scheduled = Timer::new(io).and_then(|t| {
        t.schedule_once(io, ACCEPT_PAUSE, move |io, t| {
            t.close(io);
            resume(io);
        })
    });
    if let Err(e) = scheduled {
        eprintln!("accept pause: {e}");
    }
}

fn echo<S: ByteStream>(io: &mut Io, ws: WebSocket<S>) {
    let _ = ws.async_read(io, |io, r, mut ws| {
        if r.is_err() {
            // A protocol error was answered with its close code already.
            let _ = ws.close(io);
            return;
        }
        let (m, tx) = ws.split();
        let sent = match m {
            Some(Message::Text(t)) => tx.send_text(io, t),
            Some(Message::Binary(b)) => tx.send_binary(io, b),
            Some(Message::Close(..)) => {
                let _ = ws.async_close(io, CloseCode::NORMAL, "", |_, _| {});
                return;
            }
            _ => Ok(0),
        };
        match sent {
            Ok(0) => echo(io, ws),
            Ok(_) => {
                let _ = ws.async_flush(io, |io, r, ws| match r {
                    Ok(()) => echo(io, ws),
                    Err(_) => drop(ws.close(io)),
                });
            }
            Err(_) => drop(ws.close(io)),
        }
    });
}
