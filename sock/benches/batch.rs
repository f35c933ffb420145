//! Datagrams per second for 64-byte UDP messages over loopback, in one run: one
//! `sendto`/`recvfrom` per datagram, `sendmmsg`/`recvmmsg` batches of 8, 32 and 64, and GSO
//! (one send of 64 segments, received with GRO as one buffer). Each iteration moves 64
//! datagrams. Ratios (single / batched: above 1 means batching is faster) are printed and
//! appended to `target/bench-summary/sock.jsonl`.

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the sock batch benchmarks run on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{IoSlice, IoSliceMut};

    use criterion::{Criterion, Throughput};
    use sock::batch::{RecvMsg, SendMsg};
    use sock::{SockaddrStorage, UdpConn, opt};

    const N: usize = 64;
    const SIZE: usize = 64;

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
    }
}
