//! Reactor fault scenarios: a signal interrupting a blocked drive call, a connection closed
//! from its own callback with a read and a write pending, a stale handle after its
//! descriptor number was reused, a timer cancelled from another timer's callback, posting
//! after the Io is gone, a peer reset during a read and during a write, EMFILE on accept.
//! Each runs in a process of its own (`testkit::in_subprocess`) and ends with as many
//! descriptors open as it began with.

mod common;
use common::{Manual, counter, run_until, slot, tcp_pair, unix_pair};
use testkit::no_fd_leak;

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sonic_io::{ErrorKind, Io, Listener, Timer, UnixStream};

/// A signal from another thread interrupts a drive call blocked in `epoll_wait`.
#[cfg(target_os = "linux")]
mod eintr {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn task_file(tid: i32, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/{name}")).unwrap_or_default()
    }

    /// `true` when the thread's state in `/proc/.../stat` is S (asleep).
    fn asleep(tid: i32) -> bool {
        task_file(tid, "stat")
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('S'))
    }

    /// Whether this kernel names where a sleeping thread waits (`/proc/.../wchan`; some
    /// configurations always say "0"), found on a thread parked on a channel.
    fn wchan_works() -> bool {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            tid_tx.send(zcall::gettid()).unwrap();
            let _ = wake_rx.recv();
        });
        let tid = tid_rx.recv().unwrap();
        while !asleep(tid) {
            std::thread::yield_now();
        }
        let w = task_file(tid, "wchan");
        wake_tx.send(()).unwrap();
        parked.join().unwrap();
        !w.is_empty() && w != "0"
    }

    /// Whether thread `tid` is blocked in its Io's wait: its wchan names an epoll function
    /// (or io_uring's completion wait) when the kernel says; otherwise all that can be known
    /// is that it sleeps.
    fn blocked_in_wait(tid: i32, wchan: bool) -> bool {
        if wchan {
            let w = task_file(tid, "wchan");
            w.contains("epoll") || w.contains("io_cqring")
        } else {
            asleep(tid)
        }
    }

    /// Signals thread `tid` with SIGUSR1 each time it is seen blocked, up to `max` times,
    /// until `stop`; once the thread blocks again after the last one, it runs `then`.
    /// Returns how many signals it sent.
    /// With `wchan`, each was sent while the thread was in `epoll_wait`, so each ended
    /// exactly one wait; without, some may land while it sleeps elsewhere (a lock) and only
    /// run the handler.
    fn interrupter(
        tid: i32,
        wchan: bool,
        max: usize,
        stop: Arc<AtomicBool>,
        then: impl FnOnce() + Send + 'static,
    ) -> std::thread::JoinHandle<usize> {
        let pid = zcall::getpid();
        std::thread::spawn(move || {
            let mut then = Some(then);
            let mut sent = 0;
            while !stop.load(Ordering::Acquire) {
                if blocked_in_wait(tid, wchan) {
                    if sent < max {
                        zcall::tgkill(pid, tid, libc::SIGUSR1).unwrap();
                        sent += 1;
                    } else if let Some(f) = then.take() {
                        // Blocked again after the last signal: it has had its effect.
                        f();
                    }
                }
                std::thread::yield_now();
            }
            sent
        })
    }

    /// `run_one_for` with an hour's bound returns `Ok(0)` at the first signal; `run_one`
    /// goes on waiting through three signals and returns with the post that follows them.
    /// The handler has no `SA_RESTART`, and `epoll_wait` is never restarted anyway.
    #[test]
    fn eintr_from_another_thread_ends_run_one_for_early_and_run_one_keeps_waiting() {
        testkit::in_subprocess(|| {
            testkit::install_noop_handler(libc::SIGUSR1).unwrap();
            no_fd_leak(|| {
                let wchan = wchan_works();
                if !wchan {
                    eprintln!("wchan reads 0: signals go whenever the loop thread sleeps");
                }
                let mut io = Io::new().unwrap();
                let tid = zcall::gettid();

                // The bounded call: back at the first signal, with nothing done.
                let stop = Arc::new(AtomicBool::new(false));
                let killer = interrupter(tid, wchan, usize::MAX, stop.clone(), || {});
                let n = io.run_one_for(Duration::from_secs(3600)).unwrap();
                stop.store(true, Ordering::Release);
                let sent = killer.join().unwrap();
                assert_eq!(n, 0, "a signal ends run_one_for with 0 completions");
                assert!(sent >= 1);
                if wchan {
                    assert_eq!(sent, 1, "the first signal ended the call");
                    assert_eq!(io.stats().waits, 1, "one wait, interrupted");
                }
                assert!(!io.closed());

                // The unbounded call: each signal ends one wait, which it starts again.
                io.reset_stats();
                let stop = Arc::new(AtomicBool::new(false));
                let poster = io.poster();
                let killer = interrupter(tid, wchan, 3, stop.clone(), move || {
                    poster.post(|io| io.close().unwrap()).unwrap()
                });
                let n = io.run_one().unwrap();
                stop.store(true, Ordering::Release);
                let sent = killer.join().unwrap();
                assert_eq!(sent, 3);
                assert_eq!(n, 1, "run_one returned with the post, not at a signal");
                assert!(io.closed(), "the post ran");
                let waits = io.stats().waits;
                if wchan {
                    assert_eq!(
                        waits, 4,
                        "three interrupted waits, then the one the post ended"
                    );
                } else {
                    assert!((1..=4).contains(&waits), "{waits} waits");
                }
            });
        });
    }
}

/// A connection's read callback arms another read, and closes the connection while that
/// read and an earlier write wait: both complete at once, inside `close`, with `Cancelled`,
/// after the handle is already stale, with their buffers; never again afterwards; and the
/// descriptor is closed by then.
#[test]
fn closing_a_connection_from_its_own_callback_cancels_its_pending_read_and_write_once() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let mut io = Io::new().unwrap();
            let (a, b) = tcp_pair(&mut io);
            // b's send buffer and a's receive buffer full: a write on b waits.
            sock::opt::set_send_buffer_size(b.get(&io).unwrap(), 4096).unwrap();
            sock::opt::set_recv_buffer_size(a.get(&io).unwrap(), 4096).unwrap();
            let chunk = vec![0u8; 1 << 16];
            let mut writes = 0;
            while b.write(&mut io, &chunk).is_ok() {
                writes += 1;
                assert!(writes < 10_000, "the send buffer never filled");
            }
            type Log = Rc<RefCell<Vec<(&'static str, ErrorKind, bool, usize)>>>;
            let log: Log = Rc::new(RefCell::new(Vec::new()));
            let l = log.clone();
            b.async_write_all(&mut io, vec![7u8; 1 << 20], move |io, r, buf| {
                let p = r.unwrap_err();
                l.borrow_mut()
                    .push(("write", p.error.kind(), b.is_open(io), buf.len()));
            })
            .unwrap();
            let fds = slot();
            let (l, f) = (log.clone(), fds.clone());
            b.async_read(&mut io, vec![0u8; 8], move |io, r, _| {
                assert_eq!(r.unwrap(), 1);
                // Nothing more is coming: this read waits beside the write.
                let l2 = l.clone();
                b.async_read(io, vec![0u8; 8], move |io, r, buf| {
                    l2.borrow_mut()
                        .push(("read", r.unwrap_err().kind(), b.is_open(io), buf.len()));
                })
                .unwrap();
                assert_eq!(io.pending(), 2, "a read and a write wait");
                assert!(l.borrow().is_empty());
                let before = testkit::open_fds().unwrap();
                b.close(io).unwrap();
                *f.borrow_mut() = Some((before, testkit::open_fds().unwrap()));
                assert_eq!(l.borrow().len(), 2, "both completed inside close");
                assert_eq!(io.pending(), 0);
            })
            .unwrap();
            a.write(&mut io, b"x").unwrap();
            run_until(&mut io, || fds.borrow().is_some());

            let mut seen = log.borrow().clone();
            seen.sort_by_key(|e| e.0);
            assert_eq!(
                seen,
                [
                    ("read", ErrorKind::Cancelled, false, 8),
                    ("write", ErrorKind::Cancelled, false, 1 << 20)
                ],
                "each once, Cancelled, the handle stale, the buffer handed back"
            );
            let (before, after) = fds.borrow().unwrap();
            assert_eq!(after, before - 1, "the descriptor was closed in close");
            assert_eq!(io.objects(), 1);
            for _ in 0..3 {
                io.poll().unwrap();
            }
            assert_eq!(log.borrow().len(), 2, "exactly once");
            assert_eq!(b.close(&mut io).unwrap_err().kind(), ErrorKind::Closed);
        });
    });
}

/// A closed stream's descriptor number is reused by a new socket registered in the same
/// Io: every call through the old handle fails `Closed` and none of them reaches the new
/// object, whose pending read survives them and completes with its own data.
#[test]
fn a_stale_handle_after_descriptor_reuse_is_closed_and_leaves_the_new_object_alone() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let mut io = Io::new().unwrap();
            let (a, b) = unix_pair(&mut io);
            let old_fd = b.get(&io).unwrap().as_raw_fd();
            b.close(&mut io).unwrap();
            // New sockets take the lowest free numbers: soon one of them is the number just
            // closed (under qemu the emulator may hold a descriptor or two of its own).
            let mut spare = Vec::new();
            let (reused, peer) = loop {
                let [c, d] = sock::UnixConn::pair().unwrap();
                if c.as_raw_fd() == old_fd {
                    break (c, d);
                }
                if d.as_raw_fd() == old_fd {
                    break (d, c);
                }
                assert!(spare.len() < 256, "descriptor {old_fd} was never reused");
                spare.push((c, d));
            };
            let reused = UnixStream::add(&mut io, reused).unwrap();
            let peer = UnixStream::add(&mut io, peer).unwrap();
            assert_eq!(reused.get(&io).unwrap().as_raw_fd(), old_fd);
            let got = slot();
            let g = got.clone();
            reused
                .async_read(&mut io, vec![0u8; 8], move |_, r, mut buf| {
                    buf.truncate(r.unwrap());
                    *g.borrow_mut() = Some(buf);
                })
                .unwrap();

            let e = b
                .async_read(&mut io, vec![1u8; 3], |_, _, _| panic!("never runs"))
                .unwrap_err();
            assert_eq!((e.error.kind(), e.buf), (ErrorKind::Closed, vec![1u8; 3]));
            let e = b
                .async_write_all(&mut io, vec![2u8; 3], |_, _, _| panic!("never runs"))
                .unwrap_err();
            assert_eq!((e.error.kind(), e.buf), (ErrorKind::Closed, vec![2u8; 3]));
            let closed = |r: sonic_io::Result<usize>| r.unwrap_err().kind() == ErrorKind::Closed;
            assert!(closed(b.write(&mut io, b"x")));
            assert!(closed(b.read(&mut io, &mut [0u8; 1])));
            assert!(closed(b.cancel(&mut io)));
            assert!(closed(b.cancel_read(&mut io)));
            assert_eq!(b.get(&io).unwrap_err().kind(), ErrorKind::Closed);
            assert_eq!(b.take(&mut io).unwrap_err().kind(), ErrorKind::Closed);
            assert_eq!(b.close(&mut io).unwrap_err().kind(), ErrorKind::Closed);
            assert!(!b.is_open(&io));

            // The new object is untouched: open, on the same number, its read still armed.
            assert!(reused.is_open(&io) && peer.is_open(&io) && a.is_open(&io));
            assert_eq!(reused.get(&io).unwrap().as_raw_fd(), old_fd);
            assert_eq!(io.pending(), 1);
            assert!(got.borrow().is_none());
            peer.write(&mut io, b"new!").unwrap();
            run_until(&mut io, || got.borrow().is_some());
            assert_eq!(got.borrow().as_deref(), Some(&b"new!"[..]));
            drop(spare);
        });
    });
}

/// Timer `a` cancels `b`, already due in the same pass, `c`, a repeating timer also due,
/// and `d`, not yet due. None of them fires, then or later; their closures (and what they
/// hold) are dropped at the cancel; `b` can be armed again. A manual clock moves time, so
/// nothing depends on how fast this runs.
#[test]
fn a_timer_cancelled_from_another_timers_callback_never_fires() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let (clock, now) = Manual::new();
            let mut io = Io::builder().clock(Box::new(clock)).build().unwrap();
            let [a, b, c, d] = [(); 4].map(|()| Timer::new(&mut io).unwrap());
            let held = Rc::new(());
            let fired = Rc::new(RefCell::new(Vec::new()));
            let arm = |io: &mut Io, t: Timer, name: &'static str, ms: u64, repeat: bool| {
                let (f, h) = (fired.clone(), held.clone());
                let cb = move |_: &mut Io, _: Timer| {
                    let _held = &h;
                    f.borrow_mut().push(name);
                };
                let after = Duration::from_millis(ms);
                if repeat {
                    t.schedule_repeating(io, after, cb).unwrap();
                } else {
                    t.schedule_once(io, after, cb).unwrap();
                }
            };
            arm(&mut io, b, "b", 2, false);
            arm(&mut io, c, "c", 3, true);
            arm(&mut io, d, "d", 50, false);
            let cancelled = slot();
            let (cs, h) = (cancelled.clone(), held.clone());
            a.schedule_once(&mut io, Duration::from_millis(1), move |io, _| {
                *cs.borrow_mut() = Some([b.cancel(io), c.cancel(io), d.cancel(io)]);
                // Left: the test's own and this closure's.
                assert_eq!(
                    Rc::strong_count(&h),
                    2,
                    "the cancelled closures are dropped"
                );
            })
            .unwrap();
            assert_eq!(Rc::strong_count(&held), 5);
            assert_eq!(io.pending(), 4);

            // a, b and c are all due; a's deadline is the earliest, so it fires first.
            now.set(Duration::from_millis(10));
            assert_eq!(io.poll().unwrap(), 1, "a alone fired");
            assert_eq!(*cancelled.borrow(), Some([true, true, true]));
            assert!(fired.borrow().is_empty());
            assert_eq!(io.pending(), 0);
            assert!(!b.scheduled(&mut io) && !c.scheduled(&mut io) && !d.scheduled(&mut io));

            // Far past every old deadline: still nothing.
            now.set(Duration::from_secs(3600));
            assert_eq!(io.poll().unwrap(), 0);
            assert!(fired.borrow().is_empty());

            // b works again once re-armed.
            arm(&mut io, b, "b again", 1, false);
            now.set(Duration::from_secs(3601));
            assert_eq!(io.poll().unwrap(), 1);
            assert_eq!(*fired.borrow(), ["b again"]);
        });
    });
}

/// A thread posts in a loop while the Io runs some of its posts and is then dropped: every
/// `post` returns `Ok` or `Closed`, never panics; every posted closure either ran or was
/// dropped unrun, exactly once; after the drop every post is `Closed`. The posters keep the
/// waker's descriptor alive, and it is closed with the last of them.
#[test]
fn posting_from_a_thread_after_the_io_was_dropped_is_an_error_not_a_crash() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            /// Counts its drops: a closure holding one is gone when it is.
            struct Token(Arc<AtomicUsize>);
            impl Drop for Token {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::AcqRel);
                }
            }
            let dropped = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(AtomicUsize::new(0));
            let mut io = Io::new().unwrap();
            let poster = io.poster();
            let (dr, rn) = (dropped.clone(), ran.clone());
            let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::spawn(move || {
                let (mut ok, mut refused, mut after_drop) = (0usize, 0usize, 0usize);
                let mut io_gone = false;
                loop {
                    if !io_gone && dropped_rx.try_recv().is_ok() {
                        io_gone = true;
                    }
                    let (t, r) = (Token(dr.clone()), rn.clone());
                    match poster.post(move |_| {
                        let _t = t;
                        r.fetch_add(1, Ordering::AcqRel);
                    }) {
                        Ok(()) => {
                            assert!(!io_gone, "a post after the drop was accepted");
                            ok += 1;
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
                            refused += 1;
                            if io_gone {
                                after_drop += 1;
                                if after_drop == 100 {
                                    return (ok, refused);
                                }
                            }
                        }
                    }
                }
            });
            // Run posts until a hundred ran, then drop the Io with posts still arriving.
            while ran.load(Ordering::Acquire) < 100 {
                io.run_one().unwrap();
            }
            drop(io);
            dropped_tx.send(()).unwrap();
            let (ok, refused) = thread.join().unwrap();
            let ran = ran.load(Ordering::Acquire);
            assert!(ran >= 100 && ran <= ok, "{ran} ran of {ok} accepted");
            assert!(refused >= 100);
            assert_eq!(
                dropped.load(Ordering::Acquire),
                ok + refused,
                "every closure ran or was dropped, once"
            );
        });
    });
}

/// Resets: the order of errors after one is Linux's (other systems may differ).
#[cfg(target_os = "linux")]
mod reset {
    use super::*;

    /// The peer closes with linger 0 (a reset) while a read waits: it completes
    /// `ConnectionReset` (`ECONNRESET`), once; the next read is end of stream.
    #[test]
    fn a_peer_reset_during_an_async_read_is_connection_reset_then_end_of_stream() {
        testkit::in_subprocess(|| {
            no_fd_leak(|| {
                let mut io = Io::new().unwrap();
                let (a, b) = tcp_pair(&mut io);
                let got = slot();
                let g = got.clone();
                b.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
                    *g.borrow_mut() = Some(r)
                })
                .unwrap();
                assert_eq!(io.pending(), 1);
                sock::opt::set_linger(a.get(&io).unwrap(), Some(Duration::ZERO)).unwrap();
                a.close(&mut io).unwrap();
                run_until(&mut io, || got.borrow().is_some());
                let e = got.borrow().unwrap().unwrap_err();
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                assert_eq!(e.errno(), Some(zcall::Errno::ECONNRESET));
                let next = slot();
                let n = next.clone();
                b.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
                    *n.borrow_mut() = Some(r)
                })
                .unwrap();
                run_until(&mut io, || next.borrow().is_some());
                assert_eq!(next.borrow().unwrap().unwrap(), 0, "then end of stream");
                assert_eq!(io.pending(), 0);
            });
        });
    }

    /// The peer resets while a write waits for room (both buffers full): the write completes
    /// `ConnectionReset` (`ECONNRESET`) with what went before it; the next write fails `EPIPE`.
    #[test]
    fn a_peer_reset_during_an_async_write_is_connection_reset_then_broken_pipe() {
        testkit::in_subprocess(|| {
            no_fd_leak(|| {
                let mut io = Io::new().unwrap();
                let (a, b) = tcp_pair(&mut io);
                sock::opt::set_send_buffer_size(b.get(&io).unwrap(), 4096).unwrap();
                sock::opt::set_recv_buffer_size(a.get(&io).unwrap(), 4096).unwrap();
                let got = slot();
                let g = got.clone();
                b.async_write_all(&mut io, vec![9u8; 8 << 20], move |_, r, _| {
                    *g.borrow_mut() = Some(r)
                })
                .unwrap();
                assert!(got.borrow().is_none(), "8 MiB do not fit: the write waits");
                assert_eq!(io.pending(), 1);
                sock::opt::set_linger(a.get(&io).unwrap(), Some(Duration::ZERO)).unwrap();
                a.close(&mut io).unwrap();
                run_until(&mut io, || got.borrow().is_some());
                let p = got.borrow().unwrap().unwrap_err();
                assert_eq!(p.error.kind(), ErrorKind::ConnectionReset, "{}", p.error);
                assert_eq!(p.error.errno(), Some(zcall::Errno::ECONNRESET));
                assert!(
                    p.done > 0 && p.done < 8 << 20,
                    "{} bytes went first",
                    p.done
                );
                let next = slot();
                let n = next.clone();
                b.async_write(&mut io, b"more", move |_, r, _| *n.borrow_mut() = Some(r))
                    .unwrap();
                run_until(&mut io, || next.borrow().is_some());
                let e = next.borrow().unwrap().unwrap_err();
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                assert_eq!(e.errno(), Some(zcall::Errno::EPIPE), "then broken pipe");
            });
        });
    }
}

/// No descriptor left for an accepted connection: `async_accept` completes at once with
/// errno `EMFILE`, and the listener lives on. With one descriptor free the next accept
/// takes the same queued connection at once (the readiness was kept: no new edge would
/// come for it), and it carries data; the one after waits for the next dial.
#[test]
fn emfile_on_async_accept_is_reported_then_accepting_recovers() {
    testkit::in_subprocess(|| {
        no_fd_leak(|| {
            let mut io = Io::new().unwrap();
            let l =
                Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
            let addr = l.get(&io).unwrap().local_addr().unwrap();
            // One connection queued in the backlog (a std client, outside the Io).
            let mut c1 = std::net::TcpStream::connect(addr.to_string()).unwrap();
            // Take every descriptor left under the limit.
            let (mut fillers, old) = testkit::exhaust_descriptors(8).unwrap();

            let got = slot();
            let g = got.clone();
            l.async_accept(&mut io, move |_, r| {
                *g.borrow_mut() = Some(r.map(drop).unwrap_err())
            })
            .unwrap();
            let e = got
                .borrow_mut()
                .take()
                .expect("the accept completed at once");
            assert_eq!(e.errno(), Some(zcall::Errno::EMFILE), "{e}");
            assert_eq!(io.pending(), 0);
            assert_eq!(io.objects(), 1, "the listener lives on");

            fillers.pop();
            let conn = slot();
            let c = conn.clone();
            l.async_accept(&mut io, move |_, r| *c.borrow_mut() = Some(r.unwrap()))
                .unwrap();
            let (s, peer) = conn
                .borrow_mut()
                .take()
                .expect("the queued connection was accepted at once");
            assert_eq!(
                peer.to_string(),
                c1.local_addr().unwrap().to_string(),
                "the same connection"
            );
            std::io::Write::write_all(&mut c1, b"ok").unwrap();
            let data = slot();
            let d = data.clone();
            s.async_read_exact(&mut io, vec![0u8; 2], move |_, r, buf| {
                r.unwrap();
                *d.borrow_mut() = Some(buf);
            })
            .unwrap();
            run_until(&mut io, || data.borrow().is_some());
            assert_eq!(data.borrow().as_deref(), Some(&b"ok"[..]));

            drop(fillers);
            testkit::set_open_files_limit(old).unwrap();
            let n = counter();
            let n2 = n.clone();
            l.async_accept(&mut io, move |_, r| {
                r.unwrap();
                n2.set(1);
            })
            .unwrap();
            assert_eq!(io.pending(), 1, "no connection queued: the accept waits");
            let _c2 = std::net::TcpStream::connect(addr.to_string()).unwrap();
            run_until(&mut io, || n.get() == 1);
        });
    });
}
