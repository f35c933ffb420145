//! Accepting: descriptors above 4096 and 9,000 connections on one Io. EMFILE on accept is
//! a fault scenario in `faults_reactor.rs`.

mod common;
use common::{BOUND, counter};

use std::cell::RefCell;
use std::rc::Rc;

use sonic_io::{Io, Listener, TcpStream};

/// 9,000 concurrent connections on one Io, with descriptors numbered past 4096 (the Go
/// library's fd-indexed table stopped there). Each client sends its index; the server echoes
/// it; every client checks its own answer.
#[test]
fn nine_thousand_connections_with_descriptors_above_4096() {
    testkit::in_subprocess(|| {
        const N: usize = 9_000;
        // 2 descriptors per connection (both ends live here) plus slack.
        let need = (2 * N + 256) as u64;
        if let Err(e) = testkit::set_open_files_limit(need.max(20_000)) {
            testkit::skip_message(format_args!(
                "cannot raise RLIMIT_NOFILE to 20,000 ({e}): 9,000 connections need it"
            ));
            return;
        }
        let mut io = Io::builder().objects(2 * N + 16).build().unwrap();
        let l = sock::TcpListener::bind_with(
            "127.0.0.1:0",
            sock::Family::Any,
            sock::ListenOptions {
                backlog: 4096,
                ..Default::default()
            },
        )
        .unwrap();
        let addr = l.local_addr().unwrap();
        let l = Listener::add(&mut io, l).unwrap();
        fn accept_loop(io: &mut Io, l: Listener<sock::TcpListener>, served: Rc<RefCell<usize>>) {
            let s2 = served.clone();
            l.async_accept(io, move |io, r| {
                // The Io's close at the end cancels the last, still pending accept.
                let Ok((conn, _)) = r else { return };
                conn.async_read_exact(io, vec![0u8; 8], move |io, r, buf| {
                    r.unwrap();
                    conn.async_write_all(io, buf, |_, r, _| {
                        r.unwrap();
                    })
                    .unwrap();
                })
                .unwrap();
                *s2.borrow_mut() += 1;
                accept_loop(io, l, s2.clone());
            })
            .unwrap();
        }
        let served = Rc::new(RefCell::new(0));
        accept_loop(&mut io, l, served.clone());
        let answered = counter();
        let max_fd = Rc::new(RefCell::new(0));
        for i in 0..N {
            let a = answered.clone();
            let m = max_fd.clone();
            TcpStream::dial(&mut io, addr, move |io, r| {
                let c = r.unwrap();
                let fd = std::os::fd::AsRawFd::as_raw_fd(c.get(io).unwrap());
                let mut mx = m.borrow_mut();
                *mx = (*mx).max(fd);
                c.async_write_all(io, (i as u64).to_be_bytes().to_vec(), |_, r, _| {
                    r.unwrap();
                })
                .unwrap();
                c.async_read_exact(io, vec![0u8; 8], move |_, r, buf| {
                    r.unwrap();
                    assert_eq!(u64::from_be_bytes(buf[..8].try_into().unwrap()), i as u64);
                    a.set(a.get() + 1);
                })
                .unwrap();
            })
            .unwrap();
            // Keep the backlog from overflowing: let the loop accept as we go.
            if i % 256 == 255 {
                io.poll().unwrap();
            }
        }
        let start = std::time::Instant::now();
        while answered.get() < N {
            assert!(
                start.elapsed() < 6 * BOUND,
                "{} of {N} answered",
                answered.get()
            );
            io.run_one_for(std::time::Duration::from_millis(100))
                .unwrap();
        }
        assert_eq!(*served.borrow(), N);
        assert!(
            *max_fd.borrow() > 4096,
            "descriptors reached {}",
            max_fd.borrow()
        );
        assert_eq!(io.objects(), 2 * N + 1);
    });
}
