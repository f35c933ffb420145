//! A WebSocket echo server: echoes every text and binary message, accepts
//! permessage-deflate, answers pings, closes cleanly. Prints the address it listens on
//! first (on its own line), then serves until killed. `--level` sets the compression
//! level (0-9, default 6).
//!
//! ```text
//! cargo run --release -p sonic-websocket --example ws_echo_server -- --port 9001
//! cargo run --release -p sonic-websocket --example ws_echo_server -- --port 0 --host 0.0.0.0
//! ```

use std::rc::Rc;

use sonic_io::{ByteStream, Io, Listener, TcpAcceptor};
use sonic_websocket::{CloseCode, DeflateConfig, Limits, Message, ServerConfig, WebSocket};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 9001u16;
    let mut host = String::from("127.0.0.1");
    let mut deflate = true;
    let mut level = 6u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--host" => host = args.next().ok_or("--host needs a value")?,
            "--no-deflate" => deflate = false,
            "--level" => level = args.next().ok_or("--level needs a value")?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other}; use --port P [--host H] [--no-deflate] [--level 0-9]"
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
    let mut cfg = ServerConfig::default().limits(Limits {
        max_frame: 64 << 20,
        max_message: 64 << 20,
        ..Limits::default()
    });
    if deflate {
        cfg = cfg.deflate(DeflateConfig {
            level,
            ..DeflateConfig::default()
        });
    }
    accept(&mut io, l, Rc::new(cfg));
    io.run()?;
    Ok(())
}

fn accept(io: &mut Io, l: TcpAcceptor, cfg: Rc<ServerConfig>) {
    let again = cfg.clone();
    let r = l.async_accept(io, move |io, r| {
        if let Ok((conn, _)) = r {
            // Several frames (a pong, an echo) may leave in a row: no Nagle delay.
            let _ = conn.get(io).map(|c| c.set_nodelay(true));
            let _ = WebSocket::accept(io, conn, &again, |io, ws| {
                if let Ok(ws) = ws {
                    echo(io, ws);
                }
            });
        }
        accept(io, l, again);
    });
    if let Err(e) = r {
        eprintln!("accept: {e}");
    }
    drop(cfg);
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
