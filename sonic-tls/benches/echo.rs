//! TLS 1.3 echo round trip on loopback, 64 B and 16 KiB, as percentiles: sonic-tls with
//! the client's Io in a hot loop (`Io::poll_one`) and in a blocking loop (`Io::run_one`),
//! against tokio's current-thread runtime with tokio-rustls, both on rustls with the ring
//! provider and the same certificate, in one run. Each client talks to an echo server of
//! its own stack on another thread (sonic-tls: an Io in the same mode; tokio: a runtime).
//! Then the handshake rate of each stack (connections per second, full TLS 1.3 handshakes,
//! resumption off), in rounds that alternate the two stacks (which goes first alternates
//! too), each stack's figure the median of its rounds: one sequential sample per stack
//! gave ratios from 0.87 to 1.12 between runs of the same code.
//!
//! Bounded: 1,000 warm-up round trips, 20,000 measured per case (`SONIC_BENCH_QUICK=1` or
//! `-- --quick`: a tenth). Figures are printed and appended to
//! `target/bench-summary/sonic-tls.jsonl` for `cargo xtask bench`. No figure is asserted.
//!
//! `cargo bench -p sonic-tls --bench echo [-- --quick]`

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("sonic-tls echo bench: linux only (its tokio peer is a Linux dev-dependency)");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::net::SocketAddr;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sonic_io::{Io, Listener, TcpStream};
    use sonic_tls::{ClientOptions, ServerOptions, TlsStream, Versions};
    use testkit::bench::Figure;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Plan {
        warm: usize,
        measured: usize,
        handshakes: usize,
    }

    struct Configs {
        client: Arc<rustls::ClientConfig>,
        server: Arc<rustls::ServerConfig>,
    }

    fn configs() -> Configs {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        Configs {
            server: ServerOptions::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())
                .unwrap()
                .versions(Versions::Tls13)
                .build()
                .unwrap(),
            client: ClientOptions::new()
                .pem_roots(cert_pem.as_bytes())
                .unwrap()
                .versions(Versions::Tls13)
                .no_resumption()
                .build()
                .unwrap(),
        }
    }

    fn percentiles(mut ns: Vec<u64>) -> [f64; 3] {
        ns.sort_unstable();
        let at = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64;
        [at(0.50), at(0.99), at(0.999)]
    }

    /// A sonic-tls echo server on its own thread: accepts `conns` connections, one after
    /// the other, and echoes each until its close_notify.
    fn sonic_server(
        cfg: Arc<rustls::ServerConfig>,
        conns: usize,
        hot: bool,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let l = sock::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = SocketAddr::try_from(l.local_addr().unwrap()).unwrap();
        let h = std::thread::spawn(move || {
            let mut io = Io::new().unwrap();
            let l = Listener::add(&mut io, l).unwrap();
            let left = Rc::new(RefCell::new(conns));
            let finished = Rc::new(RefCell::new(0usize));
            type Count = Rc<RefCell<usize>>;
            fn accept(
                io: &mut Io,
                l: Listener<sock::TcpListener>,
                cfg: Arc<rustls::ServerConfig>,
                left: Count,
                finished: Count,
            ) {
                l.async_accept(io, move |io, r| {
                    let (tcp, _) = r.unwrap();
                    tcp.get(io).unwrap().set_nodelay(true).unwrap();
                    let c2 = cfg.clone();
                    let l2 = left.clone();
                    let f2 = finished.clone();
                    TlsStream::accept(io, tcp, cfg, move |io, r| match r {
                        Ok(tls) => echo(io, tls, vec![0u8; 64 << 10], f2),
                        Err(_) => *f2.borrow_mut() += 1,
                    })
                    .unwrap();
                    *l2.borrow_mut() -= 1;
                    if *l2.borrow() > 0 {
                        accept(io, l, c2, l2, finished);
                    }
                })
                .unwrap();
            }
            fn echo(io: &mut Io, tls: TlsStream, buf: Vec<u8>, finished: Count) {
                tls.async_read(io, buf, move |io, r, mut buf| match r {
                    Ok(0) | Err(_) => {
                        let _ = tls.abort(io);
                        *finished.borrow_mut() += 1;
                    }
                    Ok(n) => {
                        let cap = buf.len();
                        buf.truncate(n);
                        tls.async_write_all(io, buf, move |io, r, mut buf| {
                            if r.is_ok() {
                                buf.resize(cap, 0);
                                echo(io, tls, buf, finished);
                            }
                        })
                        .unwrap();
                    }
                })
                .unwrap();
            }
            accept(&mut io, l, cfg, left.clone(), finished.clone());
            let deadline = Instant::now() + Duration::from_secs(120);
            while *finished.borrow() < conns && Instant::now() < deadline {
                if hot {
                    io.poll_one().unwrap();
                } else {
                    io.run_one_for(Duration::from_millis(100)).unwrap();
                }
            }
        });
        (addr, h)
    }

    fn sonic_echo(cfg: &Configs, size: usize, plan: &Plan, hot: bool) -> Vec<u64> {
        let (addr, server) = sonic_server(cfg.server.clone(), 1, hot);
        let mut io = Io::new().unwrap();
        let tls = Rc::new(RefCell::new(None));
        let t2 = tls.clone();
        let client = cfg.client.clone();
        TcpStream::dial(&mut io, addr, move |io, r| {
            let tcp = r.unwrap();
            tcp.get(io).unwrap().set_nodelay(true).unwrap();
            TlsStream::connect(io, tcp, client, "localhost", move |_, r| {
                *t2.borrow_mut() = Some(r.unwrap())
            })
            .unwrap();
        })
        .unwrap();
        while tls.borrow().is_none() {
            io.run_one_for(Duration::from_millis(100)).unwrap();
        }
        let tls: TlsStream = tls.borrow_mut().take().unwrap();
        let samples = Rc::new(RefCell::new(Vec::with_capacity(plan.measured)));
        let done = Rc::new(RefCell::new(false));
        fn ping(
            io: &mut Io,
            tls: TlsStream,
            buf: Vec<u8>,
            i: usize,
            (warm, total): (usize, usize),
            samples: Rc<RefCell<Vec<u64>>>,
            done: Rc<RefCell<bool>>,
        ) {
            if i == total {
                *done.borrow_mut() = true;
                return;
            }
            let t0 = Instant::now();
            // An error here is the close after the time cap (Cancelled): stop quietly.
            tls.async_write_all(io, buf, move |io, r, buf| {
                if r.is_err() {
                    return;
                }
                tls.async_read_exact(io, buf, move |io, r, buf| {
                    if r.is_err() {
                        return;
                    }
                    if i >= warm {
                        samples.borrow_mut().push(t0.elapsed().as_nanos() as u64);
                    }
                    ping(io, tls, buf, i + 1, (warm, total), samples, done);
                })
                .unwrap();
            })
            .unwrap();
        }
        ping(
            &mut io,
            tls,
            vec![7u8; size],
            0,
            (plan.warm, plan.warm + plan.measured),
            samples.clone(),
            done.clone(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !*done.borrow() && Instant::now() < deadline {
            if hot {
                io.poll_one().unwrap();
            } else {
                io.run_one_for(Duration::from_millis(100)).unwrap();
            }
        }
        if !*done.borrow() {
            eprintln!(
                "  (stopped at the 60 s cap after {} of {} round trips)",
                samples.borrow().len(),
                plan.measured
            );
        }
        let c = Rc::new(RefCell::new(false));
        let c2 = c.clone();
        tls.close(&mut io, move |_, _| *c2.borrow_mut() = true)
            .unwrap();
        while !*c.borrow() {
            io.run_one_for(Duration::from_millis(100)).unwrap();
        }
        server.join().unwrap();
        samples.take()
    }

    fn tokio_rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn tokio_server(
        cfg: Arc<rustls::ServerConfig>,
        conns: usize,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_l.set_nonblocking(true).unwrap();
        let addr = std_l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            tokio_rt().block_on(async move {
                let l = tokio::net::TcpListener::from_std(std_l).unwrap();
                let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                for _ in 0..conns {
                    let (tcp, _) = l.accept().await.unwrap();
                    tcp.set_nodelay(true).unwrap();
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        continue;
                    };
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tls.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                }
            })
        });
        (addr, h)
    }

    fn tokio_echo(cfg: &Configs, size: usize, plan: &Plan) -> Vec<u64> {
        let (addr, server) = tokio_server(cfg.server.clone(), 1);
        let connector = tokio_rustls::TlsConnector::from(cfg.client.clone());
        let (warm, measured) = (plan.warm, plan.measured);
        let samples = tokio_rt().block_on(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            let mut buf = vec![7u8; size];
            let mut samples = Vec::with_capacity(measured);
            for i in 0..warm + measured {
                let t0 = Instant::now();
                tls.write_all(&buf).await.unwrap();
                tls.read_exact(&mut buf).await.unwrap();
                if i >= warm {
                    samples.push(t0.elapsed().as_nanos() as u64);
                }
            }
            tls.shutdown().await.unwrap();
            samples
        });
        server.join().unwrap();
        samples
    }

    fn sonic_handshakes(cfg: &Configs, n: usize) -> f64 {
        let (addr, server) = sonic_server(cfg.server.clone(), n, false);
        let mut io = Io::new().unwrap();
        let t0 = Instant::now();
        for _ in 0..n {
            let done = Rc::new(RefCell::new(None));
            let d2 = done.clone();
            let client = cfg.client.clone();
            TcpStream::dial(&mut io, addr, move |io, r| {
                let tcp = r.unwrap();
                TlsStream::connect(io, tcp, client, "localhost", move |_, r| {
                    *d2.borrow_mut() = Some(r.unwrap())
                })
                .unwrap();
            })
            .unwrap();
            while done.borrow().is_none() {
                io.run_one_for(Duration::from_millis(100)).unwrap();
            }
            let tls: TlsStream = done.borrow_mut().take().unwrap();
            tls.abort(&mut io).unwrap();
        }
        let rate = n as f64 / t0.elapsed().as_secs_f64();
        server.join().unwrap();
        rate
    }

    fn tokio_handshakes(cfg: &Configs, n: usize) -> f64 {
        let (addr, server) = tokio_server(cfg.server.clone(), n);
        let connector = tokio_rustls::TlsConnector::from(cfg.client.clone());
        let rate = tokio_rt().block_on(async move {
            let t0 = Instant::now();
            for _ in 0..n {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, tcp).await.unwrap();
                drop(tls);
            }
            n as f64 / t0.elapsed().as_secs_f64()
        });
        server.join().unwrap();
        rate
    }

    pub(crate) fn main() {
        let quick = std::env::var_os("SONIC_BENCH_QUICK").is_some()
            || std::env::args().any(|a| a == "--quick");
        let plan = if quick {
            Plan {
                warm: 100,
                measured: 2_000,
                handshakes: 50,
            }
        } else {
            Plan {
                warm: 1_000,
                measured: 20_000,
                handshakes: 540,
            }
        };
        let cfg = configs();
        let mut lines = Vec::new();
        let mut names = Vec::new();
        println!(
            "TLS 1.3 echo round trip on loopback (ns): p50 / p99 / p99.9, {} round trips",
            plan.measured
        );
        for size in [64usize, 16 << 10] {
            let rows = [
                ("sonic-tls hot", sonic_echo(&cfg, size, &plan, true)),
                ("sonic-tls blocking", sonic_echo(&cfg, size, &plan, false)),
                ("tokio-rustls", tokio_echo(&cfg, size, &plan)),
            ];
            let tokio = percentiles(rows[2].1.clone());
            for (subject, samples) in rows {
                let p = percentiles(samples);
                println!(
                    "  {size:>5} B  {subject:<20} {:>9.0} {:>9.0} {:>9.0}   tokio/ours p50 {:.2}, p99 {:.2}",
                    p[0],
                    p[1],
                    p[2],
                    tokio[0] / p[0],
                    tokio[1] / p[1]
                );
                for (q, v) in ["p50", "p99", "p99.9"].iter().zip(p) {
                    names.push((format!("TLS 1.3 echo {size} B {q}"), subject, v));
                }
            }
        }
        let rounds = if quick { 5 } else { 9 };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            if r % 2 == 0 {
                ours.push(sonic_handshakes(&cfg, plan.handshakes / rounds));
                theirs.push(tokio_handshakes(&cfg, plan.handshakes / rounds));
            } else {
                theirs.push(tokio_handshakes(&cfg, plan.handshakes / rounds));
                ours.push(sonic_handshakes(&cfg, plan.handshakes / rounds));
            }
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "TLS 1.3 full handshakes per second (client and server on two threads; median of {rounds} alternating rounds): sonic-tls {ours:.0}, tokio-rustls {theirs:.0}, ratio ours/tokio {:.2}",
            ours / theirs
        );
        names.push(("TLS 1.3 handshakes".to_string(), "sonic-tls", ours));
        names.push(("TLS 1.3 handshakes".to_string(), "tokio-rustls", theirs));
        for (name, subject, value) in &names {
            let unit = if name.ends_with("handshakes") {
                "per s"
            } else {
                "ns"
            };
            lines.push(Figure {
                name,
                subject,
                unit,
                value: *value,
            });
        }
        if let Err(e) = testkit::bench::record("sonic-tls", &lines) {
            eprintln!("could not record the figures: {e}");
        }
    }
}
