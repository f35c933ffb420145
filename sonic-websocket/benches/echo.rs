//! WebSocket echo on loopback, in one run: sonic-websocket against tokio-tungstenite and
//! fastwebsockets, each on tokio's current-thread runtime.
//!
//! * **Round trip**, one binary message in flight, 64 B, 1 KiB and 16 KiB, as percentiles:
//!   sonic-websocket with its client and server `Io`s in a hot loop (`Io::poll_one`) and in a
//!   blocking loop (`Io::run_one_for`), without and with permessage-deflate (only
//!   sonic-websocket has it: those rows stand alone), against tokio-tungstenite and
//!   fastwebsockets (its plain `WebSocket`, no `FragmentCollector`; the upgrade written by
//!   hand, without its hyper feature). Each client talks to a server of its own stack; the
//!   server thread is pinned to CPU 0 and the client thread to CPU 1 where there are two.
//! * **Throughput** in messages per second at 100 connections × 20 B and 200 connections ×
//!   16 KiB (the shapes fastwebsockets publishes): one common client, sonic-websocket in a
//!   blocking loop on its own pinned thread (under full load its waits rarely block; it
//!   leaves the core when the server is the slower side), one message in flight per
//!   connection (the next sent when its echo is back), against each stack's echo server on
//!   the other thread (sonic-websocket's in its hot and its blocking loop). The same client
//!   drives every server, so a server faster than the client shows the client's rate.
//! * **Allocations per round trip** on the client thread over the measured round trips (a
//!   counting global allocator, testkit's, per thread) for every stack, and on
//!   sonic-websocket's server thread after its warm-up.
//!
//! The payload is JSON-like text (a market-data feed's shape), sent as binary messages, so
//! the deflate rows compress something realistic.
//!
//! Bounded: 1,000 warm-up round trips and 20,000 measured per case (5,000 at 16 KiB), every
//! case capped at 30 s; throughput 0.5 s of warm-up and 3 s measured per server.
//! `SONIC_BENCH_QUICK=1` or `-- --quick` (CI's smoke run, about 10 s): 100 warm-up and 1,000
//! measured round trips, throughput 0.1 s + 0.4 s. Figures are printed and appended to
//! `target/bench-summary/sonic-websocket.jsonl` for `cargo xtask bench`. No figure is
//! asserted.
//!
//! `cargo bench -p sonic-websocket --bench echo [-- --quick]`

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("sonic-websocket echo bench: linux only (its tokio peers are Linux dev-dependencies)");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::{Cell, RefCell};
    use std::net::SocketAddr;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use fastwebsockets::{Frame, OpCode, Payload, Role};
    use futures_util::{SinkExt, StreamExt};
    use sonic_io::{Io, Listener, TcpStream};
    use sonic_websocket::{ClientConfig, DeflateConfig, Message, ServerConfig, WebSocket};
    use testkit::AllocStats;
    use testkit::bench::Figure;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::{self, Bytes};

    static PIN_FAILED: AtomicBool = AtomicBool::new(false);

    #[derive(Clone, Copy)]
    struct Plan {
        warm: usize,
        measured: usize,
        /// Measured round trips at 16 KiB.
        measured_large: usize,
        cap: Duration,
        load_warm: Duration,
        load_measured: Duration,
    }

    const SIZES: [usize; 3] = [64, 1024, 16 << 10];

    fn label(size: usize) -> String {
        if size >= 1024 {
            format!("{} KiB", size / 1024)
        } else {
            format!("{size} B")
        }
    }

    /// JSON-like text of `len` bytes: a trade feed's records, one after the other.
    fn payload(len: usize) -> &'static [u8] {
        let mut v = Vec::with_capacity(len + 128);
        let mut i = 0u64;
        while v.len() < len {
            v.extend_from_slice(
                format!(
                    r#"{{"e":"trade","E":{},"s":"BTCUSDT","t":{},"p":"{}.{:02}","q":"0.{:04}","m":{}}},"#,
                    1_700_000_000_000u64 + i * 7,
                    4_000_000 + i,
                    97_000 + (i * 37) % 500,
                    (i * 13) % 100,
                    (i * 7919) % 10_000,
                    i.is_multiple_of(3)
                )
                .as_bytes(),
            );
            i += 1;
        }
        v.truncate(len);
        Box::leak(v.into_boxed_slice())
    }

    fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn pin(cpu: usize) {
        if cores() >= 2 && sonic_io::pin_thread(cpu).is_err() {
            PIN_FAILED.store(true, Ordering::Relaxed);
        }
    }

    fn spawn<T: Send + 'static>(
        name: &str,
        cpu: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                pin(cpu);
                f()
            })
            .unwrap()
    }

    fn tokio_rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn std_listener() -> (std::net::TcpListener, SocketAddr) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    }

    /// What one latency case measured.
    struct Lat {
        samples: Vec<u64>,
        client_allocs: AllocStats,
        /// sonic-websocket's server, after its warm-up: (allocations, messages echoed).
        server_allocs: Option<(AllocStats, u64)>,
    }

    fn percentiles(mut ns: Vec<u64>) -> [f64; 3] {
        if ns.is_empty() {
            return [f64::NAN; 3];
        }
        ns.sort_unstable();
        let at = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64;
        [at(0.50), at(0.99), at(0.999)]
    }

    // -------------------------------------------------------------------------------------
    // sonic-websocket

    fn sonic_cfgs(deflate: bool) -> (ServerConfig, ClientConfig) {
        let (mut s, mut c) = (ServerConfig::default(), ClientConfig::default());
        if deflate {
            s = s.deflate(DeflateConfig::default());
            c = c.deflate(DeflateConfig::default());
        }
        (s, c)
    }

    struct Served {
        echoed: Cell<u64>,
        ended: Cell<usize>,
    }

    fn sonic_echo(io: &mut Io, ws: WebSocket<TcpStream>, sv: Rc<Served>) {
        let s2 = sv.clone();
        let r = ws.async_read(io, move |io, r, mut ws| {
            if r.is_err() {
                let _ = ws.close(io);
                sv.ended.set(sv.ended.get() + 1);
                return;
            }
            let (m, tx) = ws.split();
            let sent = match m {
                Some(Message::Binary(b)) => tx.send_binary(io, b),
                Some(Message::Text(t)) => tx.send_text(io, t),
                _ => Ok(0),
            };
            sv.echoed.set(sv.echoed.get() + 1);
            match sent {
                Ok(0) => sonic_echo(io, ws, sv),
                Ok(_) => {
                    let _ = ws.async_flush(io, move |io, r, ws| {
                        if r.is_ok() {
                            sonic_echo(io, ws, sv);
                        } else {
                            let _ = ws.close(io);
                            sv.ended.set(sv.ended.get() + 1);
                        }
                    });
                }
                Err(_) => {
                    let _ = ws.close(io);
                    sv.ended.set(sv.ended.get() + 1);
                }
            }
        });
        // A refused read (after the peer's close) dropped the connection: it has ended.
        if r.is_err() {
            s2.ended.set(s2.ended.get() + 1);
        }
    }

    /// A sonic-websocket echo server on its own thread (CPU 0): accepts `conns`
    /// connections and echoes them until every one has closed (or `cap`). Counts its
    /// allocations after `warm` messages have been echoed.
    fn sonic_server(
        conns: usize,
        hot: bool,
        deflate: bool,
        warm: u64,
        cap: Duration,
    ) -> (SocketAddr, JoinHandle<(AllocStats, u64)>) {
        let l = sock::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = SocketAddr::try_from(l.local_addr().unwrap()).unwrap();
        let h = spawn("ws-server", 0, move || {
            let mut io = Io::new().unwrap();
            let l = Listener::add(&mut io, l).unwrap();
            let sv = Rc::new(Served {
                echoed: Cell::new(0),
                ended: Cell::new(0),
            });
            let cfg = Rc::new(sonic_cfgs(deflate).0);
            fn accept(
                io: &mut Io,
                l: sonic_io::TcpAcceptor,
                left: usize,
                cfg: Rc<ServerConfig>,
                sv: Rc<Served>,
            ) {
                l.async_accept(io, move |io, r| {
                    let Ok((conn, _)) = r else { return };
                    conn.get(io).unwrap().set_nodelay(true).unwrap();
                    let s2 = sv.clone();
                    WebSocket::accept(io, conn, &cfg, move |io, ws| match ws {
                        Ok(ws) => sonic_echo(io, ws, s2),
                        Err(_) => s2.ended.set(s2.ended.get() + 1),
                    })
                    .unwrap();
                    if left > 1 {
                        accept(io, l, left - 1, cfg, sv);
                    }
                })
                .unwrap();
            }
            accept(&mut io, l, conns, cfg, sv.clone());
            let deadline = Instant::now() + cap;
            let turn = |io: &mut Io| {
                if hot {
                    io.poll_one().unwrap();
                } else {
                    io.run_one_for(Duration::from_millis(50)).unwrap();
                }
            };
            while sv.echoed.get() < warm && sv.ended.get() < conns && Instant::now() < deadline {
                turn(&mut io);
            }
            let from = sv.echoed.get();
            let ((), allocs) = testkit::count_allocs(|| {
                while sv.ended.get() < conns && Instant::now() < deadline {
                    turn(&mut io);
                }
            });
            (allocs, sv.echoed.get() - from)
        });
        (addr, h)
    }

    /// Drives `io` until `done` or the deadline.
    fn drive(io: &mut Io, hot: bool, deadline: Instant, done: impl Fn() -> bool) {
        while !done() && Instant::now() < deadline {
            if hot {
                io.poll_one().unwrap();
            } else {
                io.run_one_for(Duration::from_millis(50)).unwrap();
            }
        }
    }

    fn sonic_dial(io: &mut Io, addr: SocketAddr, cfg: &ClientConfig) -> WebSocket<TcpStream> {
        let slot = Rc::new(RefCell::new(None));
        let s = slot.clone();
        WebSocket::dial(io, &format!("ws://{addr}/"), cfg, move |_, r| {
            *s.borrow_mut() = Some(r.unwrap())
        })
        .unwrap();
        drive(io, false, Instant::now() + Duration::from_secs(10), || {
            slot.borrow().is_some()
        });
        slot.borrow_mut().take().expect("the dial completed")
    }

    /// One chain of round trips on the client's Io.
    struct Chain {
        payload: &'static [u8],
        left: Cell<usize>,
        record: bool,
        samples: RefCell<Vec<u64>>,
        parked: RefCell<Option<WebSocket<TcpStream>>>,
    }

    fn ping(io: &mut Io, mut ws: WebSocket<TcpStream>, ch: Rc<Chain>) {
        if ch.left.get() == 0 {
            *ch.parked.borrow_mut() = Some(ws);
            return;
        }
        ch.left.set(ch.left.get() - 1);
        let t0 = Instant::now();
        // An error ends the chain (the case's deadline then ends the run, with the samples
        // so far); so does the Io's drop, which cancels a read still pending.
        match ws.send_binary(io, ch.payload) {
            Ok(0) => pong(io, ws, ch, t0),
            Ok(_) => {
                let _ = ws.async_flush(io, move |io, r, ws| {
                    if r.is_ok() {
                        pong(io, ws, ch, t0)
                    }
                });
            }
            Err(_) => {}
        }
    }

    fn pong(io: &mut Io, ws: WebSocket<TcpStream>, ch: Rc<Chain>, t0: Instant) {
        let _ = ws.async_read(io, move |io, r, mut ws| {
            if r.is_err() {
                return;
            }
            match ws.message() {
                Some(Message::Binary(b)) => assert_eq!(b.len(), ch.payload.len()),
                other => panic!("unexpected {other:?}"),
            }
            if ch.record {
                ch.samples.borrow_mut().push(t0.elapsed().as_nanos() as u64);
            }
            ping(io, ws, ch)
        });
    }

    fn sonic_latency(size: usize, plan: Plan, hot: bool, deflate: bool, measured: usize) -> Lat {
        let (addr, server) = sonic_server(1, hot, deflate, plan.warm as u64, plan.cap + plan.cap);
        let client = spawn("ws-client", 1, move || {
            let mut io = Io::new().unwrap();
            let ws = sonic_dial(&mut io, addr, &sonic_cfgs(deflate).1);
            assert_eq!(ws.handshake().deflate.is_some(), deflate);
            let deadline = Instant::now() + plan.cap;
            let run = |io: &mut Io, ws, n: usize, ch: Rc<Chain>| {
                ch.left.set(n);
                ping(io, ws, ch.clone());
                drive(io, hot, deadline, || ch.parked.borrow().is_some());
                ch.parked.borrow_mut().take()
            };
            let warm = Rc::new(Chain {
                payload: payload(size),
                left: Cell::new(0),
                record: false,
                samples: RefCell::new(Vec::new()),
                parked: RefCell::new(None),
            });
            let Some(ws) = run(&mut io, ws, plan.warm, warm.clone()) else {
                // Past the cap already (a very busy machine): no samples, the row says so.
                return (Vec::new(), AllocStats::default());
            };
            let ch = Rc::new(Chain {
                payload: warm.payload,
                left: Cell::new(0),
                record: true,
                samples: RefCell::new(Vec::with_capacity(measured)),
                parked: RefCell::new(None),
            });
            let (ws, allocs) = testkit::count_allocs(|| run(&mut io, ws, measured, ch.clone()));
            if let Some(ws) = ws {
                let _ = ws.close(&mut io);
            }
            // Let the close go out before the Io is dropped.
            let _ = io.run_one_for(Duration::from_millis(1));
            (ch.samples.take(), allocs)
        });
        let (samples, client_allocs) = client.join().expect("sonic-websocket client");
        let server = server.join().expect("sonic-websocket server");
        Lat {
            samples,
            client_allocs,
            server_allocs: Some(server),
        }
    }

    // -------------------------------------------------------------------------------------
    // tokio-tungstenite

    fn tungstenite_server(conns: usize, cap: Duration) -> (SocketAddr, JoinHandle<()>) {
        let (l, addr) = std_listener();
        let h = spawn("tungstenite-server", 0, move || {
            tokio_rt().block_on(async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                let mut tasks = Vec::with_capacity(conns);
                for _ in 0..conns {
                    let Ok(Ok((tcp, _))) = tokio::time::timeout(cap, l.accept()).await else {
                        break;
                    };
                    tcp.set_nodelay(true).unwrap();
                    tasks.push(tokio::spawn(async move {
                        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                            return;
                        };
                        while let Some(Ok(m)) = ws.next().await {
                            if (m.is_binary() || m.is_text()) && ws.send(m).await.is_err() {
                                break;
                            }
                        }
                    }));
                }
                let deadline = tokio::time::Instant::now() + cap;
                for t in tasks {
                    let _ = tokio::time::timeout_at(deadline, t).await;
                }
            })
        });
        (addr, h)
    }

    fn tungstenite_latency(size: usize, plan: Plan, measured: usize) -> Lat {
        let (addr, server) = tungstenite_server(1, plan.cap + plan.cap);
        let client = spawn("tungstenite-client", 1, move || {
            let rt = tokio_rt();
            let data = Bytes::from_static(payload(size));
            let mut ws = rt.block_on(async {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp)
                    .await
                    .unwrap()
                    .0
            });
            let deadline = Instant::now() + plan.cap;
            let mut samples = Vec::with_capacity(measured);
            async fn round(
                ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
                data: Bytes,
            ) -> usize {
                ws.send(tungstenite::Message::Binary(data)).await.unwrap();
                loop {
                    match ws.next().await {
                        Some(Ok(tungstenite::Message::Binary(b))) => return b.len(),
                        Some(Ok(_)) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            rt.block_on(async {
                for _ in 0..plan.warm {
                    if Instant::now() > deadline {
                        break;
                    }
                    round(&mut ws, data.clone()).await;
                }
            });
            let ((), allocs) = testkit::count_allocs(|| {
                rt.block_on(async {
                    for _ in 0..measured {
                        if Instant::now() > deadline {
                            break;
                        }
                        let t0 = Instant::now();
                        let n = round(&mut ws, data.clone()).await;
                        samples.push(t0.elapsed().as_nanos() as u64);
                        assert_eq!(n, size);
                    }
                })
            });
            rt.block_on(async {
                let _ = ws.close(None).await;
            });
            (samples, allocs)
        });
        let (samples, client_allocs) = client.join().expect("tokio-tungstenite client");
        server.join().expect("tokio-tungstenite server");
        Lat {
            samples,
            client_allocs,
            server_allocs: None,
        }
    }

    // -------------------------------------------------------------------------------------
    // fastwebsockets, with the upgrade written by hand

    async fn read_head(tcp: &mut tokio::net::TcpStream) -> Option<String> {
        let mut head = Vec::with_capacity(512);
        let mut b = [0u8; 512];
        while !head.ends_with(b"\r\n\r\n") {
            // One byte at a time past the first read would be slow; the peer sends the head
            // alone and waits for the answer, so a read ends at the head's end.
            let n = tcp.read(&mut b).await.ok()?;
            if n == 0 || head.len() > 16 << 10 {
                return None;
            }
            head.extend_from_slice(&b[..n]);
        }
        String::from_utf8(head).ok()
    }

    async fn fws_accept(
        mut tcp: tokio::net::TcpStream,
    ) -> Option<fastwebsockets::WebSocket<tokio::net::TcpStream>> {
        let head = read_head(&mut tcp).await?;
        let key = head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_owned())
        })?;
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            sonic_websocket::accept_key(key.as_bytes())
        );
        tcp.write_all(resp.as_bytes()).await.ok()?;
        let mut ws = fastwebsockets::WebSocket::after_handshake(tcp, Role::Server);
        ws.set_auto_close(true);
        ws.set_auto_pong(true);
        Some(ws)
    }

    async fn fws_connect(addr: SocketAddr) -> fastwebsockets::WebSocket<tokio::net::TcpStream> {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let head = read_head(&mut tcp).await.expect("an upgrade response");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        let mut ws = fastwebsockets::WebSocket::after_handshake(tcp, Role::Client);
        ws.set_auto_close(true);
        ws.set_auto_pong(true);
        ws
    }

    fn fws_server(conns: usize, cap: Duration) -> (SocketAddr, JoinHandle<()>) {
        let (l, addr) = std_listener();
        let h = spawn("fastwebsockets-server", 0, move || {
            tokio_rt().block_on(async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                let mut tasks = Vec::with_capacity(conns);
                for _ in 0..conns {
                    let Ok(Ok((tcp, _))) = tokio::time::timeout(cap, l.accept()).await else {
                        break;
                    };
                    tcp.set_nodelay(true).unwrap();
                    tasks.push(tokio::spawn(async move {
                        let Some(mut ws) = fws_accept(tcp).await else {
                            return;
                        };
                        while let Ok(frame) = ws.read_frame().await {
                            match frame.opcode {
                                OpCode::Close => break,
                                OpCode::Text | OpCode::Binary => {
                                    // A new frame around the same payload: the received
                                    // frame keeps its masking key after `read_frame`
                                    // unmasks it, and written back as it is it would go
                                    // out masked (which a client must refuse).
                                    let out = Frame::new(true, frame.opcode, None, frame.payload);
                                    if ws.write_frame(out).await.is_err() {
                                        break;
                                    }
                                }
                                _ => {}
                            }
                        }
                    }));
                }
                let deadline = tokio::time::Instant::now() + cap;
                for t in tasks {
                    let _ = tokio::time::timeout_at(deadline, t).await;
                }
            })
        });
        (addr, h)
    }

    fn fws_latency(size: usize, plan: Plan, measured: usize) -> Lat {
        let (addr, server) = fws_server(1, plan.cap + plan.cap);
        let client = spawn("fastwebsockets-client", 1, move || {
            let rt = tokio_rt();
            let data = payload(size);
            let mut ws = rt.block_on(fws_connect(addr));
            // The client masks in place: a scratch copy per message, so the payload stays
            // as it is (what an application sending the same bytes again would do).
            let mut scratch = vec![0u8; size];
            let deadline = Instant::now() + plan.cap;
            let mut samples = Vec::with_capacity(measured);
            async fn round(
                ws: &mut fastwebsockets::WebSocket<tokio::net::TcpStream>,
                data: &[u8],
                scratch: &mut [u8],
            ) -> usize {
                scratch.copy_from_slice(data);
                ws.write_frame(Frame::binary(Payload::BorrowedMut(scratch)))
                    .await
                    .unwrap();
                loop {
                    let f = ws.read_frame().await.unwrap();
                    if f.opcode == OpCode::Binary {
                        return f.payload.len();
                    }
                }
            }
            rt.block_on(async {
                for _ in 0..plan.warm {
                    if Instant::now() > deadline {
                        break;
                    }
                    round(&mut ws, data, &mut scratch).await;
                }
            });
            let ((), allocs) = testkit::count_allocs(|| {
                rt.block_on(async {
                    for _ in 0..measured {
                        if Instant::now() > deadline {
                            break;
                        }
                        let t0 = Instant::now();
                        let n = round(&mut ws, data, &mut scratch).await;
                        samples.push(t0.elapsed().as_nanos() as u64);
                        assert_eq!(n, size);
                    }
                })
            });
            rt.block_on(async {
                let _ = ws.write_frame(Frame::close(1000, b"")).await;
            });
            (samples, allocs)
        });
        let (samples, client_allocs) = client.join().expect("fastwebsockets client");
        server.join().expect("fastwebsockets server");
        Lat {
            samples,
            client_allocs,
            server_allocs: None,
        }
    }

    // -------------------------------------------------------------------------------------
    // Throughput: one common client (sonic-websocket, blocking loop), many connections

    struct Load {
        payload: &'static [u8],
        received: Cell<u64>,
        failed: Cell<u64>,
        stop: Cell<bool>,
        parked: RefCell<Vec<WebSocket<TcpStream>>>,
    }

    fn load_send(io: &mut Io, mut ws: WebSocket<TcpStream>, ld: Rc<Load>) {
        if ld.stop.get() {
            ld.parked.borrow_mut().push(ws);
            return;
        }
        match ws.send_binary(io, ld.payload) {
            Ok(0) => load_read(io, ws, ld),
            Ok(_) => {
                let _ = ws.async_flush(io, move |io, r, ws| match r {
                    Ok(()) => load_read(io, ws, ld),
                    Err(_) => {
                        ld.failed.set(ld.failed.get() + 1);
                        ld.parked.borrow_mut().push(ws);
                    }
                });
            }
            Err(_) => {
                ld.failed.set(ld.failed.get() + 1);
                ld.parked.borrow_mut().push(ws);
            }
        }
    }

    fn load_read(io: &mut Io, ws: WebSocket<TcpStream>, ld: Rc<Load>) {
        let _ = ws.async_read(io, move |io, r, ws| {
            if r.is_err() {
                ld.failed.set(ld.failed.get() + 1);
                ld.parked.borrow_mut().push(ws);
                return;
            }
            ld.received.set(ld.received.get() + 1);
            load_send(io, ws, ld)
        });
    }

    /// The common client: `conns` connections to `addr`, one message of `size` in flight on
    /// each; messages per second over the measured window.
    /// Nanoseconds a thread of this process has run on a CPU (`/proc/.../schedstat`'s first
    /// field): `None` for a thread that is gone or a kernel without schedstats.
    fn cpu_ns(task: &str) -> Option<u64> {
        std::fs::read_to_string(format!("/proc/{task}/schedstat"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The echo server's thread (the one thread of this process whose name starts as a
    /// server's does; only one runs at a time), as a `/proc` task path.
    fn server_task() -> Option<String> {
        std::fs::read_dir("/proc/self/task")
            .ok()?
            .flatten()
            .find_map(|e| {
                let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
                ["ws-server", "tungstenite-ser", "fastwebsockets-"]
                    .iter()
                    .any(|n| comm.starts_with(n))
                    .then(|| format!("self/task/{}", e.file_name().to_string_lossy()))
            })
    }

    /// What one throughput run measured: messages per second, and the CPU time per
    /// message of the server's thread and of the client's, over the measured window.
    struct Rate {
        per_s: f64,
        server_cpu: Option<f64>,
        client_cpu: Option<f64>,
    }

    fn load(addr: SocketAddr, conns: usize, size: usize, plan: Plan) -> Result<Rate, String> {
        let h = spawn("ws-load", 1, move || {
            let mut io = Io::new().unwrap();
            let cfg = ClientConfig::default();
            let ready: Rc<RefCell<Vec<WebSocket<TcpStream>>>> =
                Rc::new(RefCell::new(Vec::with_capacity(conns)));
            let dialled = Rc::new(Cell::new(0usize));
            let url = format!("ws://{addr}/");
            for _ in 0..conns {
                let (r2, d2) = (ready.clone(), dialled.clone());
                WebSocket::dial(&mut io, &url, &cfg, move |_, r| {
                    d2.set(d2.get() + 1);
                    if let Ok(ws) = r {
                        r2.borrow_mut().push(ws);
                    }
                })
                .unwrap();
            }
            drive(
                &mut io,
                false,
                Instant::now() + Duration::from_secs(20),
                || dialled.get() == conns,
            );
            let up = ready.borrow().len();
            if up < conns {
                return Err(format!("{up} of {conns} connections upgraded"));
            }
            let ld = Rc::new(Load {
                payload: payload(size),
                received: Cell::new(0),
                failed: Cell::new(0),
                stop: Cell::new(false),
                parked: RefCell::new(Vec::with_capacity(conns)),
            });
            for ws in ready.take() {
                load_send(&mut io, ws, ld.clone());
            }
            let t0 = Instant::now();
            let warm_end = t0 + plan.load_warm;
            drive(&mut io, false, warm_end, || false);
            let server = server_task();
            let cpu = || (server.as_deref().and_then(cpu_ns), cpu_ns("thread-self"));
            let (c0, n0, m0) = (cpu(), ld.received.get(), Instant::now());
            drive(&mut io, false, m0 + plan.load_measured, || false);
            let (c1, n1, m1) = (cpu(), ld.received.get(), Instant::now());
            ld.stop.set(true);
            drive(&mut io, false, m1 + Duration::from_secs(5), || {
                ld.parked.borrow().len() == conns
            });
            for ws in ld.parked.take() {
                let _ = ws.close(&mut io);
            }
            let _ = io.run_one_for(Duration::from_millis(1));
            if ld.failed.get() > 0 {
                return Err(format!("{} connections failed", ld.failed.get()));
            }
            let n = (n1 - n0).max(1) as f64;
            let per = |a: Option<u64>, b: Option<u64>| Some(b?.checked_sub(a?)? as f64 / n);
            Ok(Rate {
                per_s: (n1 - n0) as f64 / (m1 - m0).as_secs_f64(),
                server_cpu: per(c0.0, c1.0),
                client_cpu: per(c0.1, c1.1),
            })
        });
        h.join()
            .map_err(|_| "the load client panicked".to_string())?
    }

    // -------------------------------------------------------------------------------------

    const SONIC: [(&str, bool, bool); 4] = [
        ("sonic-websocket hot", true, false),
        ("sonic-websocket blocking", false, false),
        ("sonic-websocket hot, deflate", true, true),
        ("sonic-websocket blocking, deflate", false, true),
    ];
    const TUNGSTENITE: &str = "tokio-tungstenite";
    const FASTWS: &str = "fastwebsockets";

    fn per(a: AllocStats, n: u64) -> f64 {
        if n == 0 {
            f64::NAN
        } else {
            a.allocs as f64 / n as f64
        }
    }

    pub(crate) fn main() {
        let quick = std::env::var_os("SONIC_BENCH_QUICK").is_some()
            || std::env::args().any(|a| a == "--quick");
        let plan = if quick {
            Plan {
                warm: 100,
                measured: 1_000,
                measured_large: 1_000,
                cap: Duration::from_secs(5),
                load_warm: Duration::from_millis(100),
                load_measured: Duration::from_millis(400),
            }
        } else {
            Plan {
                warm: 1_000,
                measured: 20_000,
                measured_large: 5_000,
                cap: Duration::from_secs(30),
                load_warm: Duration::from_millis(500),
                load_measured: Duration::from_secs(3),
            }
        };
        // `-- latency` or `-- throughput` runs that part alone (for profiling).
        let only: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let part = |p: &str| only.is_empty() || only.iter().any(|o| o == p);
        let started = Instant::now();
        let mut figs: Vec<(String, String, &'static str, f64)> = Vec::new();
        let mut fig = |name: String, subject: &str, unit: &'static str, v: f64| {
            if v.is_finite() {
                figs.push((name, subject.to_string(), unit, v));
            }
        };
        println!(
            "WebSocket echo round trip on loopback (µs): p50 / p99 / p99.9; {} round trips ({} at 16 KiB){}",
            plan.measured,
            plan.measured_large,
            if cores() < 2 {
                ", one core: unpinned"
            } else {
                ""
            }
        );
        println!(
            "  {:<7} {:<34} {:>8} {:>8} {:>8}  {:>9} {:>9}  {:>12} {:>12}",
            "size",
            "subject",
            "p50",
            "p99",
            "p99.9",
            "p50/best",
            "p99/best",
            "client a/RT",
            "server a/msg"
        );
        for size in SIZES.into_iter().filter(|_| part("latency")) {
            let measured = if size >= 16 << 10 {
                plan.measured_large
            } else {
                plan.measured
            };
            let mut rows: Vec<(&str, Lat)> = Vec::new();
            rows.push((TUNGSTENITE, tungstenite_latency(size, plan, measured)));
            rows.push((FASTWS, fws_latency(size, plan, measured)));
            for (name, hot, deflate) in SONIC {
                rows.push((name, sonic_latency(size, plan, hot, deflate, measured)));
            }
            let ps: Vec<[f64; 3]> = rows
                .iter()
                .map(|(_, l)| percentiles(l.samples.clone()))
                .collect();
            // The best peer at each percentile: the lower of the two.
            let best = |q: usize| ps[0][q].min(ps[1][q]);
            for ((subject, l), p) in rows.iter().zip(&ps) {
                let n = l.samples.len() as u64;
                if (n as usize) < measured {
                    println!(
                        "  {:<7} {subject}: {n} of {measured} round trips within the case's cap",
                        label(size)
                    );
                }
                let ca = per(l.client_allocs, n);
                let sa = l.server_allocs.map(|(a, m)| per(a, m));
                println!(
                    "  {:<7} {:<34} {:>8.1} {:>8.1} {:>8.1}  {:>8.2}× {:>8.2}×  {:>12.2} {:>12}",
                    label(size),
                    subject,
                    p[0] / 1e3,
                    p[1] / 1e3,
                    p[2] / 1e3,
                    p[0] / best(0),
                    p[1] / best(1),
                    ca,
                    sa.map_or("–".into(), |v| format!("{v:.2}"))
                );
                for (q, v) in ["p50", "p99", "p99.9"].iter().zip(p) {
                    fig(
                        format!("WebSocket echo {} {q}", label(size)),
                        subject,
                        "ns",
                        *v,
                    );
                }
                fig(
                    format!("WebSocket echo {} client allocations", label(size)),
                    subject,
                    "per round trip",
                    ca,
                );
                if let Some(v) = sa {
                    fig(
                        format!("WebSocket echo {} server allocations", label(size)),
                        subject,
                        "per message",
                        v,
                    );
                }
            }
        }

        println!(
            "WebSocket throughput on loopback: one common client (sonic-websocket, blocking loop), one message in flight per connection; messages/s over {:.1} s",
            plan.load_measured.as_secs_f64()
        );
        let shapes = [(100usize, 20usize), (200, 16 << 10)];
        for (conns, size) in shapes.into_iter().filter(|_| part("throughput")) {
            let cap = plan.load_warm + plan.load_measured + Duration::from_secs(40);
            let shape = format!("{conns} connections x {}", label(size));
            let mut rates: Vec<(&str, Result<Rate, String>)> = Vec::new();
            let (a, s) = tungstenite_server(conns, cap);
            rates.push((TUNGSTENITE, load(a, conns, size, plan)));
            s.join().expect("tokio-tungstenite server");
            let (a, s) = fws_server(conns, cap);
            rates.push((FASTWS, load(a, conns, size, plan)));
            s.join().expect("fastwebsockets server");
            for (name, hot) in [
                ("sonic-websocket hot", true),
                ("sonic-websocket blocking", false),
            ] {
                let (a, s) = sonic_server(conns, hot, false, 0, cap);
                rates.push((name, load(a, conns, size, plan)));
                s.join().expect("sonic-websocket server");
            }
            let fws = rates[1].1.as_ref().ok().map(|r| r.per_s);
            let best = rates[..2]
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().map(|r| r.per_s))
                .fold(f64::NAN, f64::max);
            for (subject, r) in &rates {
                match r {
                    Ok(r) => {
                        let v = r.per_s;
                        let cpu =
                            |c: Option<f64>| c.map_or("–".into(), |c| format!("{:.2}", c / 1e3));
                        println!(
                            "  {shape:<28} {subject:<26} {:>9.0} msg/s  {:>6.2}× fastwebsockets  {:>6.2}× best peer  CPU µs/msg server {:>6} client {:>6}",
                            v,
                            fws.map_or(f64::NAN, |f| v / f),
                            v / best,
                            cpu(r.server_cpu),
                            cpu(r.client_cpu)
                        );
                        fig(format!("WebSocket throughput {shape}"), subject, "msg/s", v);
                        if let Some(c) = r.server_cpu {
                            fig(
                                format!("WebSocket throughput {shape} server CPU"),
                                subject,
                                "ns/msg",
                                c,
                            );
                        }
                        if let Some(c) = r.client_cpu {
                            fig(
                                format!("WebSocket throughput {shape} client CPU"),
                                subject,
                                "ns/msg",
                                c,
                            );
                        }
                    }
                    Err(e) => println!("  {shape:<28} {subject:<22} failed: {e}"),
                }
            }
        }
        println!(
            "sonic-websocket echo bench: {:.1} s{}",
            started.elapsed().as_secs_f64(),
            if PIN_FAILED.load(Ordering::Relaxed) {
                " (pinning failed: threads ran unpinned)"
            } else {
                ""
            }
        );
        let lines: Vec<Figure<'_>> = figs
            .iter()
            .map(|(name, subject, unit, value)| Figure {
                name,
                subject,
                unit,
                value: *value,
            })
            .collect();
        if let Err(e) = testkit::bench::record("sonic-websocket", &lines) {
            eprintln!("could not record the figures: {e}");
        }
    }
}
