//! Encode, decode, std conversions, parsing and formatting allocate nothing.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use sockaddr::{
    Sockaddr, SockaddrAny, SockaddrInet4, SockaddrInet6, SockaddrStorage, SockaddrUnix,
};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

/// A fixed buffer to format into without a String.
struct Buf {
    b: [u8; 128],
    n: usize,
}

impl std::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.n + s.len();
        self.b
            .get_mut(self.n..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.n = end;
        Ok(())
    }
}

/// Rounds of the hot-path loop: under Miri (`cargo xtask miri`), which interprets each
/// round about a thousand times slower, a few rounds show the same: no allocation.
const ROUNDS: u64 = if cfg!(miri) { 10 } else { 1000 };

#[test]
fn hot_path_conversions_allocate_nothing() {
    let std_v4: SocketAddr = "10.2.3.4:5".parse().unwrap();
    let std_v6: SocketAddr = "[2001:db8::5%3]:6".parse().unwrap();
    testkit::assert_no_alloc_reported(
        "encode + decode (inet4, inet6, unix) and std::net conversions, one round",
        ROUNDS,
        || {
            for _ in 0..ROUNDS {
                let a = SockaddrInet4::new(Ipv4Addr::LOCALHOST, 80);
                let s = SockaddrStorage::from_bytes(a.as_bytes()).unwrap();
                assert_eq!(s.decode().unwrap(), SockaddrAny::Inet4(a));
                let b = SockaddrInet6::new(Ipv6Addr::LOCALHOST, 81, 0, 2);
                let s6 = SockaddrStorage::from(&b);
                assert_eq!(SockaddrInet6::try_from(s6).unwrap(), b);
                for std_addr in [std_v4, std_v6] {
                    let any = SockaddrAny::from(std_addr);
                    assert_eq!(SocketAddr::try_from(any).unwrap(), std_addr);
                }
                let u = SockaddrUnix::new("/tmp/no-alloc.sock").unwrap();
                assert_eq!(
                    SockaddrStorage::from(&u).decode().unwrap(),
                    SockaddrAny::Unix(u)
                );
            }
        },
    );
}

#[test]
fn parsing_and_formatting_allocate_nothing() {
    testkit::assert_no_alloc_reported("parse + format an address (5 forms)", 5, || {
        let mut out = Buf { b: [0; 128], n: 0 };
        for s in [
            "127.0.0.1:80",
            "[::1]:443",
            "[fe80::1%7]:9",
            "/run/a.sock",
            "@svc",
        ] {
            if s.starts_with('@') && !cfg!(target_os = "linux") {
                continue;
            }
            let a: SockaddrAny = s.parse().unwrap();
            out.n = 0;
            write!(out, "{a}").unwrap();
            assert_eq!(&out.b[..out.n], s.as_bytes());
        }
    });
}
