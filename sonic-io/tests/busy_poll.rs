//! Kernel busy polling on an Io's epoll instance (`EPIOCSPARAMS`, Linux 6.9+): the
//! parameters are set when the Io is built and the kernel reads them back
//! (`EPIOCGPARAMS`); refusals are errors naming the reason, never ignored. Loopback has no
//! NAPI context, so busy polling changes nothing there, and traffic still flows.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sonic_io::{Backend, BusyPoll, Io, IoBuilder, TcpStream};

/// Busy polling is an epoll instance's: these tests build their Ios on epoll whatever
/// `SONIC_IO_BACKEND` says.
fn epoll() -> IoBuilder {
    Io::builder().backend(Backend::Epoll)
}

/// The kernel's release, e.g. (6, 18).
fn kernel() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = r.trim().split(['.', '-']).map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn supported() -> bool {
    if kernel() < (6, 9) {
        let e = epoll()
            .busy_poll(BusyPoll {
                usecs: 10,
                budget: 8,
                prefer: false,
            })
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::Unsupported);
        assert_eq!(
            e.context_str(),
            Some("epoll busy polling needs Linux 6.9 (EPIOCSPARAMS)")
        );
        eprintln!(
            "busy_poll: kernel {:?} lacks EPIOCSPARAMS (Unsupported, as asserted)",
            kernel()
        );
        return false;
    }
    if testkit::qemu::under_qemu() {
        eprintln!("busy_poll: skipped: qemu-user does not pass the epoll ioctls through");
        return false;
    }
    true
}

#[test]
fn the_kernel_reads_back_what_the_builder_set() {
    if !supported() {
        return;
    }
    assert_eq!(
        epoll().build().unwrap().busy_poll().unwrap(),
        BusyPoll::default(),
        "off unless asked"
    );
    for bp in [
        BusyPoll {
            usecs: 50,
            budget: 8,
            prefer: true,
        },
        BusyPoll {
            usecs: 1,
            budget: 64,
            prefer: false,
        },
        BusyPoll {
            usecs: i32::MAX as u32,
            budget: 0,
            prefer: true,
        },
    ] {
        let io = epoll().busy_poll(bp).build().unwrap();
        assert_eq!(io.busy_poll().unwrap(), bp);
    }
}

#[test]
fn out_of_range_parameters_are_refused_by_name() {
    if !supported() {
        return;
    }
    let e = epoll()
        .busy_poll(BusyPoll {
            usecs: i32::MAX as u32 + 1,
            budget: 8,
            prefer: false,
        })
        .build()
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.context_str()),
        (
            iox::ErrorKind::InvalidInput,
            Some("busy-poll usecs exceeds i32::MAX")
        )
    );
}

/// A budget above 64 needs CAP_NET_ADMIN: granted to root, refused by name otherwise.
#[test]
fn a_large_budget_needs_cap_net_admin() {
    if !supported() {
        return;
    }
    let bp = BusyPoll {
        usecs: 20,
        budget: 256,
        prefer: false,
    };
    match epoll().busy_poll(bp).build() {
        Ok(io) => assert_eq!(io.busy_poll().unwrap(), bp),
        Err(e) => assert_eq!(
            (e.kind(), e.context_str()),
            (
                iox::ErrorKind::PermissionDenied,
                Some("a busy-poll budget above 64 needs CAP_NET_ADMIN")
            )
        ),
    }
}

/// An echo through a busy-polling Io (loopback: nothing to poll, the waits sleep as usual).
#[test]
fn a_busy_polling_io_still_echoes() {
    if !supported() {
        return;
    }
    let mut io = epoll()
        .busy_poll(BusyPoll {
            usecs: 50,
            budget: 8,
            prefer: true,
        })
        .build()
        .unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    TcpStream::dial(&mut io, addr, move |io, r| {
        let s = r.unwrap();
        s.async_write_all(io, b"hello".to_vec(), move |io, r, buf| {
            r.unwrap();
            s.async_read_exact(io, buf, move |_, r, buf| {
                r.unwrap();
                assert_eq!(&buf, b"hello");
                d.set(true);
            })
            .unwrap();
        })
        .unwrap();
    })
    .unwrap();
    for _ in 0..300 {
        if done.get() {
            break;
        }
        io.run_one_for(Duration::from_millis(100)).unwrap();
    }
    assert!(done.get());
    peer.join().unwrap();
}

/// The uring backend has no epoll instance to set: asking for busy polling there is an
/// `Unsupported` error that names the way to get it, never silence.
#[test]
fn the_uring_backend_refuses_busy_polling_by_name() {
    let bp = BusyPoll {
        usecs: 50,
        budget: 8,
        prefer: false,
    };
    match Io::builder().backend(Backend::Uring).build() {
        Ok(io) => {
            let e = io.busy_poll().unwrap_err();
            assert_eq!(e.kind(), iox::ErrorKind::Unsupported);
            assert!(e.to_string().contains("Backend::Epoll"), "{e}");
        }
        Err(e) => println!("skipped: io_uring unavailable here: {e}"),
    }
    if let Ok(_io) = Io::builder().backend(Backend::Uring).build() {
        let e = Io::builder()
            .backend(Backend::Uring)
            .busy_poll(bp)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::Unsupported);
    }
}

/// `Backend::Auto` with busy polling takes epoll, where busy polling is set, and says so:
/// asking for it behaves the same whether io_uring is available or not.
#[test]
fn auto_with_busy_polling_takes_epoll_and_says_why() {
    let bp = BusyPoll {
        usecs: 50,
        budget: 8,
        prefer: false,
    };
    let io = match Io::builder().backend(Backend::Auto).busy_poll(bp).build() {
        Ok(io) => io,
        // Before 6.9 (or off Linux) the refusal is the same as on epoll.
        Err(e) => {
            assert_eq!(e.kind(), iox::ErrorKind::Unsupported, "{e}");
            return;
        }
    };
    let used = io.backend();
    assert_eq!(used.backend(), Backend::Epoll);
    let why = used.fallback().expect("the fallback says why");
    assert!(why.to_string().contains("busy"), "{why}");
    assert_eq!(io.busy_poll().unwrap(), bp);
}
