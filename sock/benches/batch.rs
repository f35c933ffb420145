//! Datagrams per second for 64-byte UDP messages over loopback, in one run: one
//! `sendto`/`recvfrom` per datagram, `sendmmsg`/`recvmmsg` batches of 8, 32 and 64, and GSO
//! (one send of 64 segments, received with GRO as one buffer). Each iteration moves 64
//! datagrams. Ratios (single / batched: above 1 means batching is faster) are printed and
//! appended to `target/bench-summary/sock.jsonl`.
//!
//! Then the receive side alone (`udp_rx_64b`): before each timed sample the receiver's
//! buffer is filled with `RX_FILL` 64-byte datagrams (untimed `sendmmsg`; the socket buffer
//! is 8 MiB, so none is dropped), and the sample times taking them all: one `recvfrom` per
//! datagram (`recv_from_into`) against `recvmmsg` batches of 8, 32 and 64
//! (`recv_messages`, every slot with its source address), and one `recvmsg` per datagram
//! (the per-message path `recvmmsg` runs for each slot). Every subject runs in turn within
//! each round, so the machine's drift touches them alike; the figure is the median per
//! datagram, with the share of the receive time spent in the kernel (`getrusage`). The
//! ratio batch / single is the batch receive's gain; recvmsg − recvmmsg is what a batch
//! saves per datagram, which bounds that gain. 300 rounds (`--quick`: 30).

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the sock batch benchmarks run on Linux only");
}

/// The one place this benchmark needs `unsafe`: the calling thread's CPU times.
#[cfg(target_os = "linux")]
mod sys {
    use std::time::Duration;

    /// The calling thread's user and system CPU time so far (`getrusage(RUSAGE_THREAD)`).
    pub(crate) fn thread_times() -> (Duration, Duration) {
        // SAFETY: `rusage` is plain data, valid when zeroed.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
        let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        if r != 0 {
            return (Duration::ZERO, Duration::ZERO);
        }
        let d = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        (d(ru.ru_utime), d(ru.ru_stime))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{IoSlice, IoSliceMut};
    use std::time::{Duration, Instant};

    use criterion::{Criterion, Throughput};
    use sock::batch::{RecvMsg, SendMsg};
    use sock::{SockaddrStorage, UdpConn, opt};

    const N: usize = 64;
    const SIZE: usize = 64;
    /// Datagrams queued before each timed receive sample.
    const RX_FILL: usize = 1024;
    /// The receive-side subjects: one `recvfrom` per datagram, one `recvmsg` per datagram
    /// (the per-message path `recvmmsg` runs for each slot, with its own syscall), then
    /// `recvmmsg` batches (the slot count; 0 stands for `recvmsg`).
    const RX_SUBJECTS: [(&str, usize); 5] = [
        ("recvfrom", 1),
        ("recvmsg", 0),
        ("recvmmsg_8", 8),
        ("recvmmsg_32", 32),
        ("recvmmsg_64", 64),
    ];

    fn pair() -> (UdpConn, UdpConn) {
        let tx = UdpConn::bind("127.0.0.1:0").unwrap();
        let rx = UdpConn::bind("127.0.0.1:0").unwrap();
        opt::set_recv_buffer_size(&rx, 4 << 20).unwrap();
        (tx, rx)
    }

    fn spin<T>(mut f: impl FnMut() -> sock::Result<T>) -> T {
        loop {
            match f() {
                Ok(v) => return v,
                Err(e) if e.is_would_block() => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Spins on `f` until it stops failing with `WouldBlock`; a datagram that never comes
    /// (dropped) ends the bench after a second instead of spinning forever.
    fn spin_bounded<T>(mut f: impl FnMut() -> sock::Result<T>) -> T {
        let mut since: Option<Instant> = None;
        loop {
            match f() {
                Ok(v) => return v,
                Err(e) if e.is_would_block() => {
                    let t = *since.get_or_insert_with(Instant::now);
                    assert!(
                        t.elapsed() < Duration::from_secs(1),
                        "a queued datagram never arrived (dropped?)"
                    );
                    std::hint::spin_loop();
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Queues `RX_FILL` datagrams on `to` from `tx` (`sendmmsg`, 64 at a time).
    fn fill(tx: &UdpConn, msgs: &mut [SendMsg<'_>]) {
        let mut left = RX_FILL;
        while left > 0 {
            let k = left.min(msgs.len());
            let mut sent = 0;
            while sent < k {
                sent += spin(|| tx.send_messages(&mut msgs[sent..k]));
            }
            left -= k;
        }
    }

    /// The receive side alone, every subject in turn within each round so that the
    /// machine's drift touches them alike: each sample fills the receiver's buffer untimed,
    /// then times taking every datagram (one `recvfrom` each, or `recvmmsg` batches). Returns
    /// each subject's median nanoseconds per datagram, and the share of its receive time the
    /// thread spent in the kernel (`getrusage`, summed over every sample).
    fn receive_side(rounds: usize) -> Vec<(&'static str, f64, f64)> {
        let payload = [0x42u8; SIZE];
        let (tx, rx) = pair();
        let to = rx.local_addr().unwrap();
        let iov = [IoSlice::new(&payload)];
        let mut out: Vec<SendMsg<'_>> = (0..N).map(|_| SendMsg::new(&iov, Some(&to))).collect();
        let mut store = vec![[0u8; SIZE]; N];
        let mut riov: Vec<[IoSliceMut<'_>; 1]> =
            store.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let mut slots: Vec<RecvMsg<'_, '_>> =
            riov.iter_mut().map(|v| RecvMsg::new(v, &mut [])).collect();
        let mut buf = [0u8; SIZE];
        let mut from = SockaddrStorage::new();
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); RX_SUBJECTS.len()];
        let mut cpu = vec![(Duration::ZERO, Duration::ZERO); RX_SUBJECTS.len()];
        // A first round warms the caches and the socket; it is not kept.
        for round in 0..=rounds {
            for (i, &(_, batch)) in RX_SUBJECTS.iter().enumerate() {
                fill(&tx, &mut out);
                let (u0, s0) = crate::sys::thread_times();
                let t = Instant::now();
                let mut got = 0;
                if batch == 1 {
                    while got < RX_FILL {
                        spin_bounded(|| rx.recv_from_into(&mut buf, &mut from));
                        got += 1;
                    }
                } else if batch == 0 {
                    while got < RX_FILL {
                        spin_bounded(|| {
                            rx.recv_msg(&mut [IoSliceMut::new(&mut buf)], Some(&mut from), &mut [])
                        });
                        got += 1;
                    }
                } else {
                    while got < RX_FILL {
                        let want = batch.min(RX_FILL - got);
                        got += spin_bounded(|| rx.recv_messages(&mut slots[..want]));
                    }
                }
                let ns = t.elapsed().as_nanos() as f64 / RX_FILL as f64;
                let (u1, s1) = crate::sys::thread_times();
                if round > 0 {
                    samples[i].push(ns);
                    cpu[i].0 += u1 - u0;
                    cpu[i].1 += s1 - s0;
                }
            }
        }
        RX_SUBJECTS
            .iter()
            .zip(samples)
            .zip(cpu)
            .map(|((&(name, _), mut v), (user, kernel))| {
                v.sort_by(f64::total_cmp);
                let all = (user + kernel).as_secs_f64();
                let share = if all > 0.0 {
                    kernel.as_secs_f64() / all
                } else {
                    f64::NAN
                };
                (name, v[v.len() / 2], share)
            })
            .collect()
    }

    pub(crate) fn main() {
        let mut c = Criterion::default().configure_from_args();
        let mut g = c.benchmark_group("udp_64x64b");
        g.throughput(Throughput::Elements(N as u64));
        let payload = [0x42u8; SIZE];

        let (tx, rx) = pair();
        let to = rx.local_addr().unwrap();
        let mut buf = [0u8; SIZE];
        let mut from = SockaddrStorage::new();
        g.bench_function("single", |b| {
            b.iter(|| {
                for _ in 0..N {
                    spin(|| tx.send_to(&payload, &to));
                }
                for _ in 0..N {
                    spin(|| rx.recv_from_into(&mut buf, &mut from));
                }
            })
        });

        for batch in [8usize, 32, 64] {
            let (tx, rx) = pair();
            let to = rx.local_addr().unwrap();
            let iov = [IoSlice::new(&payload)];
            let mut msgs: Vec<SendMsg<'_>> =
                (0..batch).map(|_| SendMsg::new(&iov, Some(&to))).collect();
            let mut store = vec![[0u8; SIZE]; batch];
            let mut riov: Vec<[IoSliceMut<'_>; 1]> =
                store.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let mut slots: Vec<RecvMsg<'_, '_>> =
                riov.iter_mut().map(|v| RecvMsg::new(v, &mut [])).collect();
            g.bench_function(format!("batch_{batch}"), |b| {
                b.iter(|| {
                    for _ in 0..N / batch {
                        let mut sent = 0;
                        while sent < batch {
                            sent += spin(|| tx.send_messages(&mut msgs[sent..]));
                        }
                    }
                    for _ in 0..N / batch {
                        let mut got = 0;
                        while got < batch {
                            got += spin(|| rx.recv_messages(&mut slots[got..]));
                        }
                    }
                })
            });
        }

        let (tx, rx) = pair();
        opt::set_udp_gro(&rx, true).unwrap();
        let to = rx.local_addr().unwrap();
        let big = [0x42u8; N * SIZE];
        let mut all = vec![0u8; 65536];
        g.bench_function("gso_gro", |b| {
            b.iter(|| {
                spin(|| tx.send_gso(&big, SIZE as u16, &to));
                let mut got = 0;
                while got < N * SIZE {
                    got += spin(|| rx.recv_gro(&mut all, &mut from)).0;
                }
            })
        });
        g.finish();
        c.final_summary();
        for ours in ["batch_8", "batch_32", "batch_64", "gso_gro"] {
            if testkit::bench::compare("sock", "udp_64x64b", ours, "single").is_none() {
                println!("udp_64x64b: no estimates for {ours} (filtered out?)");
            }
        }
        for v in ["single", "batch_8", "batch_32", "batch_64", "gso_gro"] {
            if let Some(ns) = testkit::bench::criterion_estimate_ns("udp_64x64b", v) {
                let dps = N as f64 / (ns * 1e-9);
                println!("udp_64x64b/{v}: {:.2} M datagrams/s", dps / 1e6);
                let f = testkit::bench::Figure {
                    name: "udp_64x64b",
                    subject: v,
                    unit: "datagrams/s",
                    value: dps,
                };
                let _ = testkit::bench::record("sock", &[f]);
            }
        }
        let quick = std::env::args().any(|a| a == "--quick");
        let rounds = if quick { 30 } else { 300 };
        let rx = receive_side(rounds);
        let single = rx[0].1;
        println!(
            "udp_rx_64b: the receive side alone, {RX_FILL} queued 64-byte datagrams per sample, {rounds} rounds with every subject in turn, median per datagram; kernel share of the receive time from getrusage:"
        );
        let mut figs: Vec<(&str, &str, f64)> = Vec::new();
        for &(v, ns, kernel) in &rx {
            let dps = 1e9 / ns;
            println!(
                "udp_rx_64b/{v}: {:.2} M datagrams/s received, {ns:.1} ns per datagram, {:.2}x one recvfrom per datagram, {:.0} % in the kernel",
                dps / 1e6,
                single / ns,
                kernel * 100.0
            );
            figs.push((v, "datagrams/s", dps));
            figs.push((v, "ratio", single / ns));
            figs.push((v, "kernel share", kernel));
        }
        // recvmsg and recvmmsg run the same per-message path in the kernel (copy the
        // msghdr in, import the iovec, receive, write the results back); recvmmsg makes one
        // syscall for up to 64 of them. Their difference is all a batch saves per datagram;
        // were the per-message path as light as recvfrom's, that saving would bound the gain.
        let get = |name: &str| rx.iter().find(|r| r.0 == name).map_or(f64::NAN, |r| r.1);
        let saved = get("recvmsg") - get("recvmmsg_64");
        let extra = get("recvmsg") - single;
        let bound = single / (single - saved);
        println!(
            "udp_rx_64b: one syscall per datagram saved by a 64-slot recvmmsg: {saved:.1} ns (recvmsg - recvmmsg_64); the msghdr path costs {extra:.1} ns more per datagram than recvfrom's (recvmsg - recvfrom); were it as light, a batch would reach at most {bound:.2}x one recvfrom per datagram"
        );
        figs.push(("syscall saved per datagram", "ns", saved));
        figs.push(("msghdr path over recvfrom", "ns", extra));
        figs.push(("batch bound", "ratio", bound));
        let figures: Vec<testkit::bench::Figure<'_>> = figs
            .iter()
            .filter(|f| f.2.is_finite())
            .map(|&(subject, unit, value)| testkit::bench::Figure {
                name: "udp_rx_64b",
                subject,
                unit,
                value,
            })
            .collect();
        let _ = testkit::bench::record("sock", &figures);
    }
}
