//! A 64-byte round trip over loopback, TCP and UDP, through `sock`, `std::net` and
//! `socket2`, in one run: the client sends 64 bytes, the server reads and echoes them, the
//! client reads them back. One thread drives both ends (loopback delivers during the send,
//! so a read right after finds the data; `sock` retries a rare `WouldBlock` in place).
//!
//! Ratios (peer / sock, above 1 means sock is faster) are printed and appended to
//! `target/bench-summary/sock.jsonl`.

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the sock benchmarks run on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener as StdListener, TcpStream, UdpSocket};

    use criterion::Criterion;

    const MSG: [u8; 64] = [0x5a; 64];

    fn spin<T>(mut f: impl FnMut() -> sock::Result<T>) -> T {
        loop {
            match f() {
                Ok(v) => return v,
                Err(e) if e.is_would_block() => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn sock_tcp() -> (sock::TcpConn, sock::TcpConn) {
        let l = sock::TcpListener::bind("127.0.0.1:0").unwrap();
        let d = sock::TcpDialer {
            timeout: Some(std::time::Duration::from_secs(5)),
            nodelay: true,
            ..Default::default()
        };
        let c = d.dial(l.local_addr().unwrap()).unwrap();
        let (s, _) = spin(|| l.accept());
        s.set_nodelay(true).unwrap();
        (c, s)
    }

    fn std_tcp() -> (TcpStream, TcpStream) {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        c.set_nodelay(true).unwrap();
        s.set_nodelay(true).unwrap();
        (c, s)
    }

    fn socket2_tcp() -> (socket2::Socket, socket2::Socket) {
        let (c, s) = std_tcp();
        (socket2::Socket::from(c), socket2::Socket::from(s))
    }

    pub(crate) fn main() {
        let mut c = Criterion::default().configure_from_args();
        let mut buf = [0u8; 64];
        {
            let mut g = c.benchmark_group("tcp_64b_round_trip");
            let (cl, sv) = sock_tcp();
            g.bench_function("sock", |b| {
                b.iter(|| {
                    spin(|| cl.write(&MSG));
                    let mut got = 0;
                    while got < 64 {
                        got += spin(|| sv.read(&mut buf[got..]));
                    }
                    spin(|| sv.write(&buf));
                    let mut got = 0;
                    while got < 64 {
                        got += spin(|| cl.read(&mut buf[got..]));
                    }
                })
            });
            let (mut cl, mut sv) = std_tcp();
            g.bench_function("std", |b| {
                b.iter(|| {
                    cl.write_all(&MSG).unwrap();
                    sv.read_exact(&mut buf).unwrap();
                    sv.write_all(&buf).unwrap();
                    cl.read_exact(&mut buf).unwrap();
                })
            });
            let (mut cl, mut sv) = socket2_tcp();
            g.bench_function("socket2", |b| {
                b.iter(|| {
                    cl.write_all(&MSG).unwrap();
                    sv.read_exact(&mut buf).unwrap();
                    sv.write_all(&buf).unwrap();
                    cl.read_exact(&mut buf).unwrap();
                })
            });
            g.finish();
        }
        {
            let mut g = c.benchmark_group("udp_64b_round_trip");
            let a = sock::UdpConn::bind("127.0.0.1:0").unwrap();
            let z = sock::UdpConn::bind("127.0.0.1:0").unwrap();
            let (aa, za) = (a.local_addr().unwrap(), z.local_addr().unwrap());
            let mut from = sock::SockaddrStorage::new();
            g.bench_function("sock", |b| {
                b.iter(|| {
                    spin(|| a.send_to(&MSG, &za));
                    spin(|| z.recv_from_into(&mut buf, &mut from));
                    spin(|| z.send_to(&buf, &aa));
                    spin(|| a.recv_from_into(&mut buf, &mut from));
                })
            });
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let z = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (aa, za): (SocketAddr, SocketAddr) =
                (a.local_addr().unwrap(), z.local_addr().unwrap());
            g.bench_function("std", |b| {
                b.iter(|| {
                    a.send_to(&MSG, za).unwrap();
                    z.recv_from(&mut buf).unwrap();
                    z.send_to(&buf, aa).unwrap();
                    a.recv_from(&mut buf).unwrap();
                })
            });
            let a = socket2::Socket::from(UdpSocket::bind("127.0.0.1:0").unwrap());
            let z = socket2::Socket::from(UdpSocket::bind("127.0.0.1:0").unwrap());
            let (aa, za) = (a.local_addr().unwrap(), z.local_addr().unwrap());
            let mut ubuf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            g.bench_function("socket2", |b| {
                b.iter(|| {
                    a.send_to(&MSG, &za).unwrap();
                    z.recv_from(&mut ubuf).unwrap();
                    z.send_to(&MSG, &aa).unwrap();
                    a.recv_from(&mut ubuf).unwrap();
                })
            });
            g.finish();
        }
        c.final_summary();
        for g in ["tcp_64b_round_trip", "udp_64b_round_trip"] {
            for peer in ["std", "socket2"] {
                if testkit::bench::compare("sock", g, "sock", peer).is_none() {
                    println!("{g}: no estimates for {peer} (filtered out?)");
                }
            }
        }
    }
}
