//! Kernel-receive-to-callback latency of the multicast peer, measured with the kernel's own
//! receive stamps, in a private network namespace the bench creates (a veth pair; never a
//! real interface).
//!
//! A sender thread sends 64-byte IPv4 datagrams to a group through `veth0`, one at a time
//! (the next once the receiver has counted the last), each carrying the `CLOCK_REALTIME`
//! time just before its `sendto`. The receiving peer, joined on `veth1` with software
//! receive stamps on (`SO_TIMESTAMPING` with `RX_SOFTWARE`), reads each with its stamp and
//! records in `hdrhistogram`s:
//!
//! * kernel receive to callback: `now` in the callback minus the kernel's stamp, the time
//!   the datagram waited between the stack and the application (wake-up, the read, the
//!   dispatch): the figure the issue asks for;
//! * send to kernel receive: the stamp minus the sender's time (the send path and the veth's
//!   softirq), for context.
//!
//! Receivers, all in the same run: the peer in a hot loop (`poll_one` spins), the peer
//! blocked in its wait (`run_one_for`: epoll sleeps until the datagram wakes it), the peer's
//! batch read (`Datagrams::with_timestamps`, hot loop), and the floor, a bare
//! `try_recv_timestamped` spin on a `sock` socket with no reactor. Ratios are against the
//! floor. Bounded: `SAMPLES` datagrams per receiver (quick: fewer) and `LIMIT` of time.
//!
//! The kernel's software receive stamp is taken as the packet enters the receive backlog
//! (`netif_rx`, with the default `net.core.netdev_tstamp_prequeue=1`): the figure includes
//! the IP and UDP receive path and the socket queueing, then the wake-up and the read.
//!
//! `cargo bench -p sonic-multicast --bench timestamps [-- --quick]` (or
//! `SONIC_BENCH_QUICK=1`). The table is printed and the figures appended to
//! `target/bench-summary/sonic-multicast.jsonl`.

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use hdrhistogram::Histogram;
    use sock::SockaddrAny;
    use sock::mcast::{self, Interface};
    use sock::timestamp::Timestamp;
    use sonic_io::{Datagrams, ErrorKind, Io};
    use sonic_multicast::{Iface, UdpPeer};
    use testkit::NetNs;
    use testkit::bench::Figure;

    const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 8);
    const SAMPLES: u64 = 20_000;
    const QUICK_SAMPLES: u64 = 2_000;
    /// Datagrams sent and read before recording starts (the kernel turns stamps on from a
    /// work queue, and caches warm up).
    const WARMUP: u64 = 200;
    /// The most time one receiver may take.
    const LIMIT: Duration = Duration::from_secs(30);

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Receiver {
        Hot,
        Blocking,
        BatchHot,
        Floor,
    }

    impl Receiver {
        fn label(self) -> &'static str {
            match self {
                Receiver::Hot => "sonic-multicast hot loop",
                Receiver::Blocking => "sonic-multicast blocking",
                Receiver::BatchHot => "sonic-multicast batch, hot loop",
                Receiver::Floor => "busy-poll floor (sock, no reactor)",
            }
        }
    }

    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
    }

    /// What one receiver recorded.
    struct Record {
        /// Datagrams seen, warm-up included.
        seen: u64,
        /// Datagrams that came without a stamp after the warm-up.
        unstamped: u64,
        kernel_to_callback: Histogram<u64>,
        send_to_kernel: Histogram<u64>,
        /// Shared with the sender: datagrams counted so far.
        count: Arc<AtomicU64>,
    }

    impl Record {
        fn new(count: Arc<AtomicU64>) -> Record {
            Record {
                seen: 0,
                unstamped: 0,
                kernel_to_callback: histogram(),
                send_to_kernel: histogram(),
                count,
            }
        }

        /// One datagram: its payload (the sender's clock first), its stamp, the clock now.
        fn take(&mut self, payload: &[u8], stamp: Option<Timestamp>, now: Timestamp) {
            self.seen += 1;
            if self.seen > WARMUP {
                match stamp {
                    Some(k) => {
                        let sent = payload
                            .get(..8)
                            .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
                            .unwrap_or(0);
                        let k_ns = k.as_nanos();
                        let cb = now.as_nanos().saturating_sub(k_ns).max(1);
                        self.kernel_to_callback.saturating_record(cb);
                        self.send_to_kernel
                            .saturating_record(k_ns.saturating_sub(sent).max(1));
                    }
                    None => self.unstamped += 1,
                }
            }
            self.count.fetch_add(1, Ordering::Release);
        }
    }

    /// Sends `total` datagrams to `to` from `veth0`, each once the receiver has counted the
    /// one before, until `stop`.
    fn sender(
        ns_a: (Ipv4Addr, u32),
        to: SocketAddr,
        total: u64,
        count: Arc<AtomicU64>,
        stop: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let tx = sock::UdpConn::bind(SocketAddr::new(IpAddr::V4(ns_a.0), 0)).unwrap();
            mcast::set_interface_v4(&tx, Interface::Index(ns_a.1)).unwrap();
            mcast::set_loop_v4(&tx, false).unwrap();
            let to = SockaddrAny::from(to);
            let mut payload = [0u8; 64];
            for i in 0..total {
                let mut spins = 0u32;
                while count.load(Ordering::Acquire) < i {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    spins += 1;
                    if spins.is_multiple_of(64) {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                payload[..8].copy_from_slice(&Timestamp::now().as_nanos().to_ne_bytes());
                // A full device queue (ENOBUFS) or socket buffer: try again.
                while tx.send_to(&payload, &to).is_err() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::yield_now();
                }
            }
        })
    }

    fn arm_single(io: &mut Io, peer: UdpPeer, rec: Rc<RefCell<Record>>, buf: Vec<u8>) {
        let p = peer.clone();
        peer.async_read_timestamped(io, buf, move |io, r, buf| {
            let now = Timestamp::now();
            match r {
                Ok((n, _, stamp)) => rec.borrow_mut().take(&buf[..n], stamp, now),
                Err(e) if e.kind() == ErrorKind::Cancelled => return,
                Err(e) => panic!("read: {e}"),
            }
            arm_single(io, p, rec, buf);
        })
        .unwrap();
    }

    fn arm_batch(io: &mut Io, peer: UdpPeer, rec: Rc<RefCell<Record>>, batch: Datagrams) {
        let p = peer.clone();
        peer.async_read_batch(io, batch, move |io, r, batch| {
            let now = Timestamp::now();
            match r {
                Ok(_) => {
                    let mut rec = rec.borrow_mut();
                    for d in batch.iter() {
                        rec.take(d.bytes(), d.timestamp(), now);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Cancelled => return,
                Err(e) => panic!("batch read: {e}"),
            }
            arm_batch(io, p, rec, batch);
        })
        .unwrap();
    }

    /// One receiver's run: `total` datagrams (or `LIMIT`), recorded.
    fn run(ns: &NetNs, who: Receiver, total: u64) -> Record {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let rec = Rc::new(RefCell::new(Record::new(count.clone())));
        let mut io = Io::new().unwrap();
        let peer = UdpPeer::bind(&mut io, "0.0.0.0:0").unwrap();
        peer.join_on(&mut io, GROUP.into(), Iface::Index(ns.b.index))
            .unwrap();
        peer.set_rx_timestamps(&mut io, true).unwrap();
        let port = peer.local_addr().port();
        // The floor reads its own socket, joined the same way; the peer stays idle.
        let floor = (who == Receiver::Floor).then(|| {
            let s = sock::UdpConn::bind("0.0.0.0:0").unwrap();
            mcast::set_all_v4(&s, false).unwrap();
            mcast::join(&s, GROUP.into(), Interface::Index(ns.b.index)).unwrap();
            s.set_rx_timestamps(true).unwrap();
            s
        });
        let port = floor.as_ref().map_or(port, |s| {
            s.local_addr()
                .unwrap()
                .as_socket()
                .expect("an IP address")
                .port()
        });
        match who {
            Receiver::Hot | Receiver::Blocking => {
                arm_single(&mut io, peer.clone(), rec.clone(), vec![0u8; 256])
            }
            Receiver::BatchHot => arm_batch(
                &mut io,
                peer.clone(),
                rec.clone(),
                Datagrams::with_timestamps(64, 256),
            ),
            Receiver::Floor => {}
        }
        let to = SocketAddr::new(GROUP.into(), port);
        let tx = sender(
            (ns.a.ipv4, ns.a.index),
            to,
            total,
            count.clone(),
            stop.clone(),
        );
        let give_up = Instant::now() + LIMIT;
        let mut buf = [0u8; 256];
        let mut from = sock::SockaddrStorage::new();
        while count.load(Ordering::Acquire) < total && Instant::now() < give_up {
            match who {
                Receiver::Hot | Receiver::BatchHot => {
                    for _ in 0..1024 {
                        io.poll_one().unwrap();
                    }
                }
                Receiver::Blocking => {
                    io.run_one_for(Duration::from_millis(50)).unwrap();
                }
                Receiver::Floor => {
                    let s = floor.as_ref().expect("the floor's socket");
                    for _ in 0..1024 {
                        match s.try_recv_timestamped(&mut buf, &mut from) {
                            Ok((meta, stamp)) => {
                                let now = Timestamp::now();
                                rec.borrow_mut().take(&buf[..meta.bytes], stamp, now);
                            }
                            Err(e) if e.is_would_block() => std::hint::spin_loop(),
                            Err(e) => panic!("floor read: {e}"),
                        }
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        tx.join().unwrap();
        peer.close(&mut io).unwrap();
        drop(io);
        match Rc::try_unwrap(rec) {
            Ok(r) => r.into_inner(),
            Err(_) => panic!("the record is still shared"),
        }
    }

    fn main_in(ns: &NetNs, quick: bool) {
        let samples = if quick { QUICK_SAMPLES } else { SAMPLES };
        let total = samples + WARMUP;
        let order = [
            Receiver::Floor,
            Receiver::Hot,
            Receiver::Blocking,
            Receiver::BatchHot,
        ];
        let mut results = Vec::new();
        for who in order {
            let r = run(ns, who, total);
            println!(
                "{}: {} datagrams, {} recorded, {} unstamped after the warm-up",
                who.label(),
                r.seen,
                r.kernel_to_callback.len(),
                r.unstamped
            );
            results.push((who, r));
        }
        let pct = [("p50", 50.0), ("p99", 99.0), ("p99.9", 99.9)];
        println!(
            "\nkernel receive to callback, 64-byte IPv4 multicast across a veth pair (ns; \
             ratio: / floor)"
        );
        println!(
            "| receiver | p50 | p99 | p99.9 | max | p50 / floor | p99 / floor | send to kernel p50 |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let floor = &results[0].1.kernel_to_callback;
        let (f50, f99) = (
            floor.value_at_percentile(50.0).max(1) as f64,
            floor.value_at_percentile(99.0).max(1) as f64,
        );
        let mut figures: Vec<(String, String, String, f64)> = Vec::new();
        for (who, r) in &results {
            let h = &r.kernel_to_callback;
            if h.is_empty() {
                println!("| {} | no samples | | | | | | |", who.label());
                continue;
            }
            let v = |p: f64| h.value_at_percentile(p);
            println!(
                "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {} |",
                who.label(),
                v(50.0),
                v(99.0),
                v(99.9),
                h.max(),
                v(50.0) as f64 / f50,
                v(99.0) as f64 / f99,
                r.send_to_kernel.value_at_percentile(50.0)
            );
            for (label, p) in pct {
                figures.push((
                    format!("multicast 64B kernel-receive-to-callback {label}"),
                    who.label().into(),
                    "ns".into(),
                    v(p) as f64,
                ));
                figures.push((
                    format!("multicast 64B send-to-kernel-receive {label}"),
                    who.label().into(),
                    "ns".into(),
                    r.send_to_kernel.value_at_percentile(p) as f64,
                ));
            }
            if *who != Receiver::Floor {
                figures.push((
                    "multicast 64B kernel-receive-to-callback p50 / floor".into(),
                    who.label().into(),
                    "ratio".into(),
                    v(50.0) as f64 / f50,
                ));
                figures.push((
                    "multicast 64B kernel-receive-to-callback p99 / floor".into(),
                    who.label().into(),
                    "ratio".into(),
                    v(99.0) as f64 / f99,
                ));
            }
        }
        let figs: Vec<Figure<'_>> = figures
            .iter()
            .map(|(name, subject, unit, value)| Figure {
                name,
                subject,
                unit,
                value: *value,
            })
            .collect();
        testkit::bench::record("sonic-multicast", &figs).unwrap();
    }

    pub(crate) fn main() {
        let quick = std::env::var("SONIC_BENCH_QUICK").is_ok_and(|v| v == "1");
        if !quick && std::env::args().any(|a| a == "--quick") {
            // The namespace child gets the test harness's arguments, not ours: run again
            // with the environment variable, which it inherits.
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args(std::env::args_os().skip(1))
                .env("SONIC_BENCH_QUICK", "1")
                .status()
                .unwrap();
            std::process::exit(status.code().unwrap_or(1));
        }
        testkit::in_netns(|ns| main_in(ns, quick));
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!(
        "sonic-multicast timestamps bench: needs Linux (a network namespace, SO_TIMESTAMPING)"
    );
}
