//! A WebSocket client that measures round trips against an echo server (such as
//! `ws_echo_server`): sends `--count` messages of `--size` bytes one after another and
//! prints the round-trip latency percentiles. With `--autobahn URL` it instead runs every
//! case of an Autobahn fuzzing server (`kosoku` or the original) and asks it to write its
//! report (`--cases FIRST-LAST` runs a range of them). `--level` sets the compression
//! level (0-9, default 6).
//!
//! A `wss://` URL (feature `tls`) is dialled through sonic-tls, trusting the PEM roots of
//! `--ca FILE` (for `ws_echo_server --tls`, the path it prints), or Mozilla's without it
//! (`webpki-roots`, not built here: `--ca` is needed).
//!
//! ```text
//! cargo run --release -p sonic-websocket --example ws_client -- --url ws://127.0.0.1:9001/ --count 10000 --size 64
//! cargo run --release -p sonic-websocket --features tls --example ws_client -- --url wss://localhost:9443/ --ca /tmp/ws_echo_server-1234.pem
//! cargo run --release -p sonic-websocket --example ws_client -- --autobahn ws://127.0.0.1:9001
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use sonic_io::{ByteStream, Io, TcpStream};
use sonic_websocket::{ClientConfig, CloseCode, DeflateConfig, Limits, Message, WebSocket};

type Ws = WebSocket<TcpStream>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = String::from("ws://127.0.0.1:9001/");
    let (mut count, mut size, mut deflate, mut autobahn) = (10_000usize, 64usize, false, None);
    let mut cases = (1usize, usize::MAX);
    let mut level = 6u32;
    let mut ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = val()?,
            "--count" => count = val()?.parse()?,
            "--size" => size = val()?.parse()?,
            "--deflate" => deflate = true,
            "--level" => level = val()?.parse()?,
            "--autobahn" => autobahn = Some(val()?),
            "--ca" => ca = Some(val()?),
            "--cases" => {
                let v = val()?;
                let (a, b) = v.split_once('-').ok_or("--cases takes FIRST-LAST")?;
                cases = (a.parse()?, b.parse()?);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut cfg = ClientConfig::default().limits(Limits {
        max_frame: 64 << 20,
        max_message: 64 << 20,
        ..Limits::default()
    });
    if deflate || autobahn.is_some() {
        cfg = cfg.deflate(DeflateConfig {
            level,
            ..DeflateConfig::default()
        });
    }
    let mut io = Io::new()?;
    match autobahn {
        Some(base) => run_autobahn(&mut io, &base, &cfg, cases),
        None if url
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("wss://")) =>
        {
            let ws = tls::connect(&mut io, &url, &cfg, ca.as_deref())?;
            run_latency(&mut io, ws, &url, count, size)
        }
        None => {
            let ws = connect(&mut io, &url, &cfg)?;
            run_latency(&mut io, ws, &url, count, size)
        }
    }
}

#[cfg(feature = "tls")]
mod tls {
    use std::cell::RefCell;
    use std::rc::Rc;

    use sonic_io::Io;
    use sonic_websocket::sonic_tls::{ClientOptions, TlsStream};
    use sonic_websocket::{ClientConfig, WebSocket};

    pub(crate) fn connect(
        io: &mut Io,
        url: &str,
        cfg: &ClientConfig,
        ca: Option<&str>,
    ) -> Result<WebSocket<TlsStream>, Box<dyn std::error::Error>> {
        let ca = ca.ok_or("a wss:// URL needs --ca FILE (the PEM roots to trust)")?;
        let tls = ClientOptions::new()
            .pem_roots(&std::fs::read(ca)?)?
            .build()?;
        let got = Rc::new(RefCell::new(None));
        let g = got.clone();
        WebSocket::dial_tls(io, url, cfg, tls, move |_, r| *g.borrow_mut() = Some(r))?;
        while got.borrow().is_none() {
            io.run_one()?;
        }
        Ok(got.borrow_mut().take().unwrap()?)
    }
}

#[cfg(not(feature = "tls"))]
mod tls {
    pub(crate) fn connect(
        _: &mut sonic_io::Io,
        _: &str,
        _: &sonic_websocket::ClientConfig,
        _: Option<&str>,
    ) -> Result<super::Ws, Box<dyn std::error::Error>> {
        Err(
            "a wss:// URL needs the tls feature: cargo run --features tls --example ws_client"
                .into(),
        )
    }
}

fn connect(io: &mut Io, url: &str, cfg: &ClientConfig) -> Result<Ws, sonic_io::Error> {
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    WebSocket::dial(io, url, cfg, move |_, r| *g.borrow_mut() = Some(r))?;
    while got.borrow().is_none() {
        io.run_one()?;
    }
    got.borrow_mut().take().unwrap()
}

fn run_latency<S: ByteStream>(
    io: &mut Io,
    ws: WebSocket<S>,
    url: &str,
    count: usize,
    size: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "connected to {url} (permessage-deflate: {})",
        ws.handshake().deflate.is_some()
    );
    let samples = Rc::new(RefCell::new(Vec::with_capacity(count)));
    let payload: Rc<[u8]> = (0..size).map(|i| (i % 251) as u8).collect();
    let done = Rc::new(Cell::new(false));
    round(io, ws, payload, count, samples.clone(), done.clone());
    while !done.get() {
        io.run_one()?;
    }
    let mut s = samples.borrow_mut();
    if s.is_empty() {
        return Err("no round trip completed".into());
    }
    s.sort_unstable();
    let pct = |p: f64| s[((s.len() as f64 * p) as usize).min(s.len() - 1)];
    println!(
        "{} round trips of {size} B: min {} ns, p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        s.len(),
        s[0],
        pct(0.50),
        pct(0.99),
        pct(0.999),
        s[s.len() - 1]
    );
    Ok(())
}

fn round<S: ByteStream>(
    io: &mut Io,
    mut ws: WebSocket<S>,
    payload: Rc<[u8]>,
    left: usize,
    samples: Rc<RefCell<Vec<u64>>>,
    done: Rc<Cell<bool>>,
) {
    if left == 0 {
        let _ = ws.async_close(io, CloseCode::NORMAL, "", move |_, _| done.set(true));
        return;
    }
    let start = Instant::now();
    let unsent = match ws.send_binary(io, &payload) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("send: {e}");
            return done.set(true);
        }
    };
    if unsent > 0 {
        // The socket did not take the whole message: the rest is buffered, and nothing
        // writes it unless something flushes (the echo would never come).
        let r = ws.async_flush(io, move |io, r, ws| match r {
            Ok(()) => await_echo(io, ws, payload, left, samples, done, start),
            Err(e) => {
                eprintln!("send: {e}");
                done.set(true)
            }
        });
        if let Err(e) = r {
            eprintln!("send: {e}");
        }
        return;
    }
    await_echo(io, ws, payload, left, samples, done, start);
}

fn await_echo<S: ByteStream>(
    io: &mut Io,
    ws: WebSocket<S>,
    payload: Rc<[u8]>,
    left: usize,
    samples: Rc<RefCell<Vec<u64>>>,
    done: Rc<Cell<bool>>,
    start: Instant,
) {
    let r = ws.async_read(io, move |io, r, mut ws| {
        let ok = r.is_ok() && matches!(ws.message(), Some(Message::Binary(b)) if *b == *payload);
        if !ok {
            eprintln!("the echo failed: {r:?}");
            return done.set(true);
        }
        samples.borrow_mut().push(start.elapsed().as_nanos() as u64);
        round(io, ws, payload, left - 1, samples, done);
    });
    if r.is_err() {
        eprintln!("read: {r:?}");
    }
}

/// Autobahn's fuzzing server protocol: `/getCaseCount`, then `/runCase?case=N&agent=A` for
/// each case (echo everything until the server closes), then `/updateReports?agent=A`.
fn run_autobahn(
    io: &mut Io,
    base: &str,
    cfg: &ClientConfig,
    (first, last): (usize, usize),
) -> Result<(), Box<dyn std::error::Error>> {
    let base = base.trim_end_matches('/');
    let agent = "sonic-websocket";
    let ws = connect(io, &format!("{base}/getCaseCount"), cfg)?;
    let count = Rc::new(Cell::new(None));
    let c = count.clone();
    ws.async_read(io, move |io, r, mut ws| {
        if r.is_ok()
            && let Some(Message::Text(t)) = ws.message()
        {
            c.set(t.trim().parse::<usize>().ok());
        }
        let _ = ws.close(io);
    })?;
    while count.get().is_none() {
        io.run_one()?;
    }
    let count = count.get().unwrap();
    println!("{count} cases");
    for case in first.max(1)..=last.min(count) {
        eprint!("\rcase {case}");
        let ws = match connect(
            io,
            &format!("{base}/runCase?case={case}&agent={agent}"),
            cfg,
        ) {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("case {case}: {e}");
                continue;
            }
        };
        let done = Rc::new(Cell::new(false));
        echo_until_closed(io, ws, done.clone());
        while !done.get() {
            io.run_one()?;
        }
    }
    let ws = connect(io, &format!("{base}/updateReports?agent={agent}"), cfg)?;
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    ws.async_close(io, CloseCode::NORMAL, "", move |_, _| d.set(true))?;
    while !done.get() {
        io.run_one()?;
    }
    println!("reports updated");
    Ok(())
}

fn echo_until_closed(io: &mut Io, ws: Ws, done: Rc<Cell<bool>>) {
    let d = done.clone();
    let r = ws.async_read(io, move |io, r, mut ws| {
        if r.is_err() {
            let _ = ws.close(io);
            return done.set(true);
        }
        let (m, tx) = ws.split();
        let sent = match m {
            Some(Message::Text(t)) => tx.send_text(io, t),
            Some(Message::Binary(b)) => tx.send_binary(io, b),
            Some(Message::Close(..)) => {
                let _ = ws.async_close(io, CloseCode::NORMAL, "", move |_, _| done.set(true));
                return;
            }
            _ => Ok(0),
        };
        match sent {
            Ok(0) => echo_until_closed(io, ws, done),
            Ok(_) => {
                let _ = ws.async_flush(io, move |io, r, ws| match r {
                    Ok(()) => echo_until_closed(io, ws, done),
                    Err(_) => {
                        let _ = ws.close(io);
                        done.set(true);
                    }
                });
            }
            Err(_) => {
                let _ = ws.close(io);
                done.set(true);
            }
        }
    });
    if r.is_err() {
        d.set(true);
    }
}
