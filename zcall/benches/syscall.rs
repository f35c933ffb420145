//! zcall against libc for the same cheap system calls, in the same run.
//!
//! * `eventfd_write_read`: write 1 to an eventfd, read the counter back (2 syscalls).
//! * `pipe_64b_round_trip`: write 64 bytes into a pipe, read them out (2 syscalls).
//!
//! Each group has a `zcall` and a `libc` function; after criterion, the estimates and their
//! ratio (libc / zcall: above 1 means zcall is faster) are printed and appended to
//! `target/bench-summary/zcall.jsonl`.

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use criterion::Criterion;

    fn own(fd: i32) -> OwnedFd {
        assert!(fd >= 0);
        // SAFETY: a descriptor just created by this benchmark and owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    fn libc_write(fd: i32, buf: &[u8]) -> isize {
        // SAFETY: `buf` is readable for its length.
        unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }
    }

    fn libc_read(fd: i32, buf: &mut [u8]) -> isize {
        // SAFETY: `buf` is writable for its length.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
    }

    fn eventfd(c: &mut Criterion) {
        let efd = own(zcall::eventfd2(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK).unwrap());
        let fd = efd.as_raw_fd();
        let one = 1u64.to_ne_bytes();
        let mut g = c.benchmark_group("eventfd_write_read");
        g.bench_function("zcall", |b| {
            let mut out = [0u8; 8];
            b.iter(|| {
                zcall::write(fd, black_box(&one)).unwrap();
                zcall::read(fd, black_box(&mut out)).unwrap();
            })
        });
        g.bench_function("libc", |b| {
            let mut out = [0u8; 8];
            b.iter(|| {
                assert_eq!(libc_write(fd, black_box(&one)), 8);
                assert_eq!(libc_read(fd, black_box(&mut out)), 8);
            })
        });
        g.finish();
    }

    fn pipe(c: &mut Criterion) {
        let [r, w] = zcall::pipe2(libc::O_CLOEXEC | libc::O_NONBLOCK).unwrap();
        let (r, w) = (own(r), own(w));
        let (r, w) = (r.as_raw_fd(), w.as_raw_fd());
        let msg = [0x5au8; 64];
        let mut g = c.benchmark_group("pipe_64b_round_trip");
        g.bench_function("zcall", |b| {
            let mut out = [0u8; 64];
            b.iter(|| {
                zcall::write(w, black_box(&msg)).unwrap();
                zcall::read(r, black_box(&mut out)).unwrap();
            })
        });
        g.bench_function("libc", |b| {
            let mut out = [0u8; 64];
            b.iter(|| {
                assert_eq!(libc_write(w, black_box(&msg)), 64);
                assert_eq!(libc_read(r, black_box(&mut out)), 64);
            })
        });
        g.finish();
    }

    pub(crate) fn main() {
        let mut c = Criterion::default().configure_from_args();
        eventfd(&mut c);
        pipe(&mut c);
        c.final_summary();
        for group in ["eventfd_write_read", "pipe_64b_round_trip"] {
            if testkit::bench::compare("zcall", group, "zcall", "libc").is_none() {
                println!("{group}: no estimates (filtered out?)");
            }
        }
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the zcall benchmarks run on Linux only");
}
