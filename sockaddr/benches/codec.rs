//! Encode + decode of an IPv4 and an IPv6 socket address, three ways, in one run:
//!
//! * `sockaddr`: build the kernel struct and view its bytes (what `bind`/`sendto` read),
//!   then decode, in place, a storage as a kernel filled it (`recvfrom`/`getsockname`) and
//!   read ip and port;
//! * `via_std`: the same, starting from and ending at `std::net::SocketAddr`;
//! * `socket2`: `socket2::SockAddr::from(SocketAddr)` and its pointer and length, then
//!   `as_socket()` on a kernel-filled `SockAddr`.
//!
//! Ratios (peer / ours, above 1 means ours is faster) are printed and appended to
//! `target/bench-summary/sockaddr.jsonl`.

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the sockaddr benchmarks run on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

    use criterion::Criterion;
    use sockaddr::{Sockaddr, SockaddrAny, SockaddrInet4, SockaddrInet6, SockaddrStorage};

    /// Three contenders for one round trip: encode (the bytes the kernel reads), then decode
    /// in place from a storage as `recvfrom`/`getsockname` leave it.
    fn group<F1, F2, F3>(c: &mut Criterion, name: &str, ours: F1, via_std: F2, s2: F3)
    where
        F1: Fn() -> u16,
        F2: Fn() -> u16,
        F3: Fn() -> u16,
    {
        let mut g = c.benchmark_group(name);
        g.bench_function("sockaddr", |b| b.iter(|| black_box(ours())));
        g.bench_function("via_std", |b| b.iter(|| black_box(via_std())));
        g.bench_function("socket2", |b| b.iter(|| black_box(s2())));
        g.finish();
    }

    fn image(a: SocketAddr) -> (SockaddrStorage, socket2::SockAddr) {
        (
            SockaddrStorage::from(&SockaddrAny::from(a)),
            socket2::SockAddr::from(a),
        )
    }

    pub(crate) fn main() {
        let mut c = Criterion::default().configure_from_args();
        let v4 = SocketAddr::from((Ipv4Addr::new(10, 1, 2, 3), 8080));
        let v6 = SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7), 443));
        let (img4, s2img4) = image(v4);
        let (img6, s2img6) = image(v6);
        group(
            &mut c,
            "inet4_encode_decode",
            || {
                let a = SockaddrInet4::new(black_box(Ipv4Addr::new(10, 1, 2, 3)), black_box(8080));
                black_box(a.as_bytes());
                let d = black_box(&img4).inet4().unwrap();
                black_box(d.ip());
                d.port()
            },
            || {
                let a = SockaddrAny::from(black_box(v4));
                black_box(a.as_bytes());
                SocketAddr::try_from(black_box(&img4).decode().unwrap())
                    .unwrap()
                    .port()
            },
            || {
                let a = socket2::SockAddr::from(black_box(v4));
                black_box((a.as_ptr(), a.len()));
                black_box(&s2img4).as_socket().unwrap().port()
            },
        );
        group(
            &mut c,
            "inet6_encode_decode",
            || {
                let a = SockaddrInet6::new(
                    black_box(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
                    black_box(443),
                    0,
                    0,
                );
                black_box(a.as_bytes());
                let d = black_box(&img6).inet6().unwrap();
                black_box(d.ip());
                d.port()
            },
            || {
                let a = SockaddrAny::from(black_box(v6));
                black_box(a.as_bytes());
                SocketAddr::try_from(black_box(&img6).decode().unwrap())
                    .unwrap()
                    .port()
            },
            || {
                let a = socket2::SockAddr::from(black_box(v6));
                black_box((a.as_ptr(), a.len()));
                black_box(&s2img6).as_socket().unwrap().port()
            },
        );
        c.final_summary();
        for g in ["inet4_encode_decode", "inet6_encode_decode"] {
            for peer in ["via_std", "socket2"] {
                if testkit::bench::compare("sockaddr", g, "sockaddr", peer).is_none() {
                    println!("{g}: no estimates for {peer} (filtered out?)");
                }
            }
        }
    }
}
