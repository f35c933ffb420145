//! 64-byte IPv4 multicast across the veth pair of a private network namespace (never a
//! real interface): receive throughput with one `recvfrom` per datagram against `recvmmsg`
//! batches, and the latency from a send to the receiving callback, against std's blocking
//! socket doing the same.
//!
//! Throughput: one Io sends a burst of `BURST` datagrams to a group with `write_to`, then
//! the receiving peer takes them all (single reads, or batch reads of up to 64); bursts
//! repeat for a fixed count, the two modes in turn. The receive-side figure times the
//! taking alone (the burst is queued before its clock starts), so its ratio is sonic-io's
//! batch read against one `recvfrom` per datagram. Latency: one datagram at a time, timed from before the send to the
//! callback (the veth's softirq runs inside the send), every sample recorded in an
//! `hdrhistogram` (3 significant digits).
//!
//! `cargo bench -p sonic-multicast --bench multicast [-- --quick]` (or
//! `SONIC_BENCH_QUICK=1`). Figures are printed and appended to
//! `target/bench-summary/sonic-multicast.jsonl`.

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::Cell;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
    use std::rc::Rc;
    use std::time::Instant;

    use hdrhistogram::Histogram;
    use sock::SockaddrAny;
    use sonic_io::{Datagrams, Io};
    use sonic_multicast::{Iface, UdpPeer};
    use testkit::NetNs;
    use testkit::bench::Figure;

    const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);
    const BURST: usize = 64;

    struct Setup {
        io: Io,
        tx: UdpPeer,
        rx: UdpPeer,
        to: SockaddrAny,
    }

    fn setup(ns: &NetNs) -> Setup {
        let mut io = Io::new().unwrap();
        let rx = UdpPeer::bind(&mut io, "0.0.0.0:0").unwrap();
        rx.join_on(&mut io, GROUP.into(), Iface::Index(ns.b.index))
            .unwrap();
        sock::opt::set_recv_buffer_size(rx.handle().get(&io).unwrap(), 4 << 20).unwrap();
        let tx = UdpPeer::bind(
            &mut io,
            SockaddrAny::from(SocketAddr::new(IpAddr::V4(ns.a.ipv4), 0)),
        )
        .unwrap();
        tx.set_outbound(&mut io, Iface::Index(ns.a.index)).unwrap();
        tx.set_loop(&mut io, false).unwrap();
        let to = SockaddrAny::from(SocketAddr::new(GROUP.into(), rx.local_addr().port()));
        Setup { io, tx, rx, to }
    }

    fn burst(s: &mut Setup) {
        let payload = [7u8; 64];
        for _ in 0..BURST {
            s.tx.write_to(&s.io, &payload, &s.to).unwrap();
        }
    }

    /// Drives the Io until the callback has handed the buffer back to `cell`.
    fn wait_for<T>(io: &mut Io, cell: &Cell<Option<T>>) {
        loop {
            match cell.take() {
                Some(t) => {
                    cell.set(Some(t));
                    return;
                }
                None => {
                    io.run_one().unwrap();
                }
            }
        }
    }

    /// Receives `n` datagrams one `recvfrom` at a time.
    fn take_single(s: &mut Setup, buf: &Rc<Cell<Option<Vec<u8>>>>, n: usize) {
        for _ in 0..n {
            let b = buf.take().unwrap();
            let back = buf.clone();
            s.rx.async_read(&mut s.io, b, move |_, r, b| {
                assert_eq!(r.unwrap().0, 64);
                back.set(Some(b));
            })
            .unwrap();
            wait_for(&mut s.io, buf);
        }
    }

    /// Receives `n` datagrams in batches.
    fn take_batch(s: &mut Setup, slots: &Rc<Cell<Option<Datagrams>>>, n: usize) {
        let got = Rc::new(Cell::new(0usize));
        while got.get() < n {
            let b = slots.take().unwrap();
            let back = slots.clone();
            let g = got.clone();
            s.rx.async_read_batch(&mut s.io, b, move |_, r, b| {
                g.set(g.get() + r.unwrap());
                back.set(Some(b));
            })
            .unwrap();
            wait_for(&mut s.io, slots);
        }
    }

    /// One mode's totals over the measured bursts.
    #[derive(Clone, Copy, Default)]
    struct Totals {
        /// Sending and receiving.
        end_to_end: std::time::Duration,
        /// Receiving only: the burst is queued before this clock starts.
        receiving: std::time::Duration,
        reads: u64,
    }

    /// Both modes, one burst each in turn, so that the machine's drift touches them alike:
    /// for one `recvfrom` per datagram, then `recvmmsg` batches, the datagrams per second end
    /// to end (bursts sent and received), the datagrams per second of receive time alone,
    /// and read syscalls per datagram.
    fn throughput(ns: &NetNs, bursts: usize) -> [(f64, f64, f64); 2] {
        let mut s = setup(ns);
        let buf = Rc::new(Cell::new(Some(vec![0u8; 2048])));
        let slots = Rc::new(Cell::new(Some(Datagrams::new(BURST, 2048))));
        let mut totals = [Totals::default(); 2];
        let warm = bursts / 10 + 1;
        for i in 0..warm + bursts {
            for (mode, t) in totals.iter_mut().enumerate() {
                let reads = s.io.stats().reads;
                let t0 = Instant::now();
                burst(&mut s);
                let t1 = Instant::now();
                if mode == 1 {
                    take_batch(&mut s, &slots, BURST);
                } else {
                    take_single(&mut s, &buf, BURST);
                }
                if i >= warm {
                    t.receiving += t1.elapsed();
                    t.end_to_end += t0.elapsed();
                    t.reads += s.io.stats().reads - reads;
                }
            }
        }
        let n = (bursts * BURST) as f64;
        totals.map(|t| {
            (
                n / t.end_to_end.as_secs_f64(),
                n / t.receiving.as_secs_f64(),
                t.reads as f64 / n,
            )
        })
    }

    /// A latency histogram in nanoseconds: 1 ns to 60 s at 3 significant digits, allocated
    /// once before the measured loop (values past its range saturate, none is dropped).
    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
    }

    /// The value at percentile `p` (0 to 100) of `h`; 100 is the largest recorded.
    fn percentile(h: &Histogram<u64>, p: f64) -> f64 {
        if p >= 100.0 {
            h.max() as f64
        } else {
            h.value_at_percentile(p) as f64
        }
    }

    const PCTS: [(f64, &str); 4] = [
        (50.0, "p50"),
        (99.0, "p99"),
        (99.9, "p99.9"),
        (100.0, "max"),
    ];

    fn latency_peer(ns: &NetNs, n: usize) -> Histogram<u64> {
        let mut s = setup(ns);
        let buf = Rc::new(Cell::new(Some(vec![0u8; 2048])));
        let mut out = histogram();
        for i in 0..n + n / 10 {
            let t = Instant::now();
            s.tx.write_to(&s.io, &[1u8; 64], &s.to).unwrap();
            take_single(&mut s, &buf, 1);
            if i >= n / 10 {
                out.saturating_record(t.elapsed().as_nanos() as u64);
            }
        }
        out
    }

    fn latency_std(ns: &NetNs, n: usize) -> Histogram<u64> {
        let rx = UdpSocket::bind("0.0.0.0:0").unwrap();
        rx.join_multicast_v4(&GROUP, &ns.b.ipv4).unwrap();
        let tx = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ns.a.ipv4), 0)).unwrap();
        tx.set_multicast_loop_v4(false).unwrap();
        let to = SocketAddr::new(GROUP.into(), rx.local_addr().unwrap().port());
        let mut b = [0u8; 2048];
        let mut out = histogram();
        for i in 0..n + n / 10 {
            let t = Instant::now();
            tx.send_to(&[1u8; 64], to).unwrap();
            let (len, _) = rx.recv_from(&mut b).unwrap();
            assert_eq!(len, 64);
            if i >= n / 10 {
                out.saturating_record(t.elapsed().as_nanos() as u64);
            }
        }
        out
    }

    fn run(ns: &NetNs, quick: bool) {
        let bursts = if quick { 300 } else { 3000 };
        let samples = if quick { 5_000 } else { 50_000 };
        let mut figures: Vec<(String, String, String, f64)> = Vec::new();

        let [
            (single, single_rx, single_reads),
            (batched, batched_rx, batch_reads),
        ] = throughput(ns, bursts);
        println!(
            "64-byte multicast across veth, bursts of {BURST}: one recvfrom per datagram \
             {single:.0} dgram/s end to end, {single_rx:.0} dgram/s of receive time \
             ({single_reads:.3} reads/dgram); recvmmsg batches {batched:.0} end to end, \
             {batched_rx:.0} of receive time ({batch_reads:.3} reads/dgram): receive side \
             batch/single {:.2}x",
            batched_rx / single_rx
        );
        for (name, a, b, unit) in [
            (
                "multicast 64B end-to-end throughput",
                single,
                batched,
                "dgram/s",
            ),
            (
                "multicast 64B receive-side throughput",
                single_rx,
                batched_rx,
                "dgram/s",
            ),
            (
                "multicast 64B reads per datagram",
                single_reads,
                batch_reads,
                "syscalls",
            ),
        ] {
            figures.push((name.into(), "recvfrom".into(), unit.into(), a));
            figures.push((name.into(), "recvmmsg".into(), unit.into(), b));
        }

        let ours = latency_peer(ns, samples);
        let std = latency_std(ns, samples);
        for (subject, v) in [("sonic-multicast", &ours), ("std", &std)] {
            let line: Vec<String> = PCTS
                .iter()
                .map(|&(p, label)| format!("{label} {:.0}", percentile(v, p)))
                .collect();
            println!("send-to-receive latency, {subject}: {} ns", line.join(", "));
            for (p, label) in PCTS {
                figures.push((
                    format!("multicast 64B send-to-receive {label}"),
                    subject.into(),
                    "ns".into(),
                    percentile(v, p),
                ));
            }
        }
        println!(
            "p50 std/sonic-multicast: {:.2}",
            percentile(&std, 50.0) / percentile(&ours, 50.0)
        );
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
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var("SONIC_BENCH_QUICK").is_ok_and(|v| v == "1");
        testkit::in_netns(|ns| run(ns, quick));
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("sonic-multicast bench: needs a Linux network namespace; nothing measured");
}
