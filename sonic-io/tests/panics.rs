//! The panic contract: a panic in a user callback (or in user code the Io calls, a `Fifo`,
//! a `Decoder`, an adapter's stream) unwinds out of the drive call, and the Io stays whole.
//! No readiness event taken from the kernel is lost, no accepted post is dropped unrun,
//! `pending()` stays exact, and dropping the Io while a panic unwinds does not abort.
//! Each test here failed (or hung, or aborted) before the contract was kept.

mod common;
use common::{BOUND, counter, run_until, slot};

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_bytes::{ByteBuffer, Fifo};
use sonic_io::{Adapter, ErrorKind, Io, Timer, UnixStream};

/// Runs one drive call that must panic with `msg`.
fn expect_panic(msg: &str, f: impl FnOnce()) {
    let p = catch_unwind(AssertUnwindSafe(f)).expect_err("the drive call should have panicked");
    let text = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        text.contains(msg),
        "panicked with {text:?}, expected {msg:?}"
    );
}

/// A Unix pair: the Io's end, and the plain end the test writes to.
fn pair(io: &mut Io) -> (UnixStream, sock::UnixConn) {
    let [a, b] = sock::UnixConn::pair().unwrap();
    (UnixStream::add(io, a).unwrap(), b)
}

/// A callback submits a write that completes inline; that write's callback panics: the
/// panic unwinds through the submitting callback (its code after the submission does not
/// run), out of the drive call, and the Io goes on (README, "A callback that panics").
#[test]
fn a_panic_in_an_inline_completion_unwinds_through_the_callback_that_submitted_it() {
    let mut io = Io::new().unwrap();
    let (s, peer) = pair(&mut io);
    let after = counter();
    let a = after.clone();
    s.async_read(&mut io, vec![0u8; 8], move |io, res, _| {
        assert_eq!(res.unwrap(), 1);
        // Room in the socket: the write completes inside `async_write`.
        let _ = s.async_write(io, b"y", |_, _, _| panic!("inner callback panics"));
        a.set(a.get() + 1);
    })
    .unwrap();
    peer.write(b"x").unwrap();
    expect_panic("inner callback panics", || {
        io.run_one_for(BOUND).unwrap();
    });
    assert_eq!(after.get(), 0, "the outer callback went on after the panic");
    let mut got = [0u8; 1];
    assert_eq!(peer.read(&mut got).unwrap(), 1, "the write itself was made");
    assert_eq!(io.pending(), 0);
    // The Io is whole: the stream reads again.
    let again = slot();
    let g = again.clone();
    s.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
        *g.borrow_mut() = Some(r)
    })
    .unwrap();
    peer.write(b"z").unwrap();
    run_until(&mut io, || again.borrow().is_some());
    assert_eq!(again.take().unwrap().unwrap(), 1);
}

#[test]
fn a_panic_in_one_callback_loses_no_other_event_of_its_batch() {
    let mut io = Io::new().unwrap();
    let ran = counter();
    let mut peers = Vec::new();
    for _ in 0..3 {
        let (s, peer) = pair(&mut io);
        let r = ran.clone();
        s.async_read(&mut io, vec![0u8; 8], move |_, res, _| {
            assert_eq!(res.unwrap(), 1);
            r.set(r.get() + 1);
            panic!("callback panics");
        })
        .unwrap();
        peers.push(peer);
    }
    // All three become readable before the Io waits: one batch of three events.
    for p in &peers {
        p.write(b"x").unwrap();
    }
    for k in 1..=3 {
        expect_panic("callback panics", || {
            io.run_one_for(BOUND).unwrap();
        });
        assert_eq!(
            ran.get(),
            k,
            "each drive call ran the next event's callback"
        );
    }
    assert_eq!(io.pending(), 0);
    assert_eq!(io.poll().unwrap(), 0);
}

#[test]
fn a_panic_in_the_read_retry_leaves_the_write_retry_of_the_same_event() {
    // One event makes a stream both readable and writable: the read's callback panics,
    // and the write parked for room must still be retried.
    let mut io = Io::new().unwrap();
    let (s, peer) = pair(&mut io);
    // Fill the send buffer so a write parks.
    let wrote = slot();
    let w = wrote.clone();
    s.async_write_all(&mut io, vec![1u8; 4 << 20], move |_, r, _| {
        *w.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    assert!(wrote.borrow().is_none(), "the write waits for room");
    s.async_read(&mut io, vec![0u8; 8], |_, _, _| panic!("read panics"))
        .unwrap();
    // The peer reads everything (room: a write edge) and sends one byte (a read edge).
    let reader = std::thread::spawn(move || {
        let mut total = 0;
        let mut b = vec![0u8; 1 << 16];
        peer.set_read_deadline(Instant::now() + BOUND);
        let mut sent = false;
        while total < 4 << 20 {
            total += peer.read(&mut b).unwrap();
            if !sent {
                peer.write(b"y").unwrap();
                sent = true;
            }
        }
        total
    });
    let start = Instant::now();
    let mut panicked = false;
    while wrote.borrow().is_none() {
        assert!(start.elapsed() < BOUND, "the write was never retried");
        if catch_unwind(AssertUnwindSafe(|| io.run_one_for(BOUND).unwrap())).is_err() {
            panicked = true;
        }
    }
    assert!(panicked, "the read's callback ran");
    assert_eq!(wrote.take(), Some(4 << 20));
    assert_eq!(reader.join().unwrap(), 4 << 20);
    assert_eq!(io.pending(), 0);
}

#[test]
fn a_panic_before_the_wakers_event_loses_no_post() {
    let mut io = Io::new().unwrap();
    let (s, peer) = pair(&mut io);
    s.async_read(&mut io, vec![0u8; 8], |_, _, _| panic!("read panics"))
        .unwrap();
    // The read's event is queued first, the waker's second: one batch.
    peer.write(b"x").unwrap();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = ran.clone();
    io.poster()
        .post(move |_| {
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
    expect_panic("read panics", || {
        io.run_one_for(BOUND).unwrap();
    });
    let start = Instant::now();
    while ran.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < BOUND, "the post never ran");
        io.run_one_for(BOUND).unwrap();
    }
    assert_eq!(io.posted(), 0);
    assert_eq!(io.pending(), 0);
}

#[test]
fn posts_after_a_panicking_post_run_in_order_on_the_next_turn() {
    let mut io = Io::new().unwrap();
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    // Posts from this thread.
    for i in 0..4 {
        let o = order.clone();
        io.post(move |_| {
            o.borrow_mut().push(i);
            if i == 1 {
                panic!("post panics");
            }
        })
        .unwrap();
    }
    expect_panic("post panics", || {
        io.run_one().unwrap();
    });
    assert_eq!(*order.borrow(), [0, 1]);
    assert_eq!(io.posted(), 2, "two posts wait, none was dropped");
    assert_eq!(io.pending(), 2);
    io.run_pending().unwrap();
    assert_eq!(*order.borrow(), [0, 1, 2, 3]);

    // Posts from another thread.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let poster = io.poster();
    for i in 0..4 {
        let s = seen.clone();
        poster
            .post(move |_| {
                s.lock().unwrap().push(i);
                if i == 0 {
                    panic!("post panics");
                }
            })
            .unwrap();
    }
    expect_panic("post panics", || {
        io.run_one().unwrap();
    });
    assert_eq!(io.posted(), 3);
    io.run_pending().unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3]);
    assert_eq!(io.pending(), 0);
}

/// The wait timer's event came in the batch after a panicking callback: its counter must
/// still be read, or it never raises another edge and every later timer stalls. Run in a
/// process of its own with a time limit: the bug made the next wait block forever.
#[test]
fn a_panic_before_the_wait_timers_event_does_not_stall_timers() {
    testkit::in_subprocess_named_within(
        "a_panic_before_the_wait_timers_event_does_not_stall_timers",
        Duration::from_secs(60),
        || {
            let mut io = Io::new().unwrap();
            let (s, peer) = pair(&mut io);
            let t = Timer::new(&mut io).unwrap();
            let fired = counter();
            let f = fired.clone();
            t.schedule_once(&mut io, Duration::from_millis(2), move |_, _| f.set(1))
                .unwrap();
            let (s2, peer2) = pair(&mut io);
            // A first turn arms the wait timer for the timer's deadline and returns with a
            // read event.
            s.async_read(&mut io, vec![0u8; 8], |_, _, _| {}).unwrap();
            peer.write(b"x").unwrap();
            io.run_one_for(BOUND).unwrap();
            // The next read's event is queued, then the wait timer expires: one batch.
            s2.async_read(&mut io, vec![0u8; 8], |_, _, _| panic!("read panics"))
                .unwrap();
            peer2.write(b"x").unwrap();
            let due = Instant::now() + Duration::from_millis(3);
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            expect_panic("read panics", || {
                io.run_one_for(BOUND).unwrap();
            });
            run_until(&mut io, || fired.get() == 1);
            // A later timer still fires: the wait timer is armed anew.
            let again = counter();
            let a = again.clone();
            t.schedule_once(&mut io, Duration::from_millis(1), move |_, _| a.set(1))
                .unwrap();
            run_until(&mut io, || again.get() == 1);
            assert_eq!(io.pending(), 0);
        },
    );
}

#[test]
fn a_repeating_timer_whose_callback_panics_is_cancelled_and_pending_stays_exact() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    t.schedule_repeating(&mut io, Duration::from_micros(100), |_, _| {
        panic!("timer panics")
    })
    .unwrap();
    assert_eq!(io.pending(), 1);
    expect_panic("timer panics", || {
        io.run_pending().unwrap();
    });
    assert!(
        !t.scheduled(&mut io),
        "a panicking repeating timer is cancelled"
    );
    assert_eq!(io.pending(), 0);
    io.run_pending().unwrap();
    // It can be armed again.
    let n = counter();
    let c = n.clone();
    t.schedule_once(&mut io, Duration::ZERO, move |_, _| c.set(1))
        .unwrap();
    io.run_pending().unwrap();
    assert_eq!(n.get(), 1);
}

/// A FIFO whose `claim` panics on its `n`th call.
struct PanickyFifo {
    inner: ByteBuffer,
    calls: usize,
    panic_at: usize,
}

impl Fifo for PanickyFifo {
    fn claim(&mut self, n: usize) -> &mut [u8] {
        self.calls += 1;
        if self.calls == self.panic_at {
            panic!("fifo panics");
        }
        self.inner.claim(n)
    }
    fn commit(&mut self, n: usize) -> usize {
        self.inner.commit(n)
    }
    fn data(&self) -> &[u8] {
        self.inner.data()
    }
    fn consume(&mut self, n: usize) -> usize {
        self.inner.consume(n)
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
    fn clear(&mut self) {
        self.inner.clear()
    }
}

#[test]
fn a_panic_in_a_fifo_during_a_readiness_retry_leaves_no_armed_count() {
    let mut io = Io::new().unwrap();
    let (s, peer) = pair(&mut io);
    let fifo = PanickyFifo {
        inner: ByteBuffer::with_capacity(64),
        calls: 0,
        panic_at: 2,
    };
    s.async_read_into(&mut io, fifo, 64, |_, _, _| panic!("never completes"))
        .unwrap();
    assert_eq!(io.pending(), 1, "armed: no data yet");
    peer.write(b"x").unwrap();
    expect_panic("fifo panics", || {
        io.run_one_for(BOUND).unwrap();
    });
    assert_eq!(
        io.pending(),
        0,
        "the operation is gone, and so is its count"
    );
    io.run_pending().unwrap();
    // The stream is usable: the byte is still there.
    let got = slot();
    let g = got.clone();
    s.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
        *g.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(got.take(), Some(1));
}

/// A stream whose `read` panics once told to.
struct PanickyStream {
    conn: sock::UnixConn,
    panic_reads: Rc<std::cell::Cell<bool>>,
}

impl Read for PanickyStream {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        if self.panic_reads.get() {
            panic!("adapter panics");
        }
        self.conn.read(b).map_err(Into::into)
    }
}
impl Write for PanickyStream {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.conn.write(b).map_err(Into::into)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl AsFd for PanickyStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }
}

#[test]
fn a_panic_in_an_adapter_gives_back_the_region_its_read_claimed() {
    let mut io = Io::new().unwrap();
    let [a, b] = sock::UnixConn::pair().unwrap();
    let flag = Rc::new(std::cell::Cell::new(false));
    let ad = Adapter::new(
        &mut io,
        PanickyStream {
            conn: a,
            panic_reads: flag.clone(),
        },
    )
    .unwrap();
    let id = io.add_bytes(vec![0u8; 64]).unwrap();
    let region = io.region(id, 0..16).unwrap();

    // Panic in the retry after an edge.
    ad.async_read(&mut io, region, |_, _, _| panic!("never completes"))
        .unwrap();
    assert!(
        io.bytes_mut(region).is_err(),
        "armed: the region is claimed"
    );
    flag.set(true);
    b.write(b"x").unwrap();
    expect_panic("adapter panics", || {
        io.run_one_for(BOUND).unwrap();
    });
    assert_eq!(io.pending(), 0);
    assert!(io.bytes_mut(region).is_ok(), "the region was given back");

    // Panic in the first attempt, inside the submission.
    expect_panic("adapter panics", || {
        let _ = ad.async_read(&mut io, region, |_, _, _| panic!("never completes"));
    });
    assert_eq!(io.pending(), 0);
    assert!(io.bytes_mut(region).is_ok(), "the region was given back");
    flag.set(false);
    let got = slot();
    let g = got.clone();
    ad.async_read(&mut io, region, move |_, r, _| {
        *g.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    run_until(&mut io, || got.borrow().is_some());
    assert_eq!(got.take(), Some(1));
    assert_eq!(io.bytes(region).unwrap()[0], b'x');
    io.remove_bytes(id).unwrap();
}

#[test]
fn closing_a_stream_completes_its_write_even_when_the_reads_callback_panics() {
    let mut io = Io::new().unwrap();
    let (s, _peer) = pair(&mut io);
    s.async_write_all(&mut io, vec![0u8; 8 << 20], |_, _, _| {})
        .ok();
    // Replace it with a write whose completion is observed, once the first parked.
    let wrote = slot();
    s.cancel_write(&mut io).unwrap();
    let w = wrote.clone();
    s.async_write_all(&mut io, vec![0u8; 8 << 20], move |_, r, _| {
        *w.borrow_mut() = Some(r.map_err(|p| p.error.kind()))
    })
    .unwrap();
    s.async_read(&mut io, vec![0u8; 8], |_, r, _| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        panic!("cancelled read panics")
    })
    .unwrap();
    assert_eq!(io.pending(), 2);
    expect_panic("cancelled read panics", || {
        let _ = s.close(&mut io);
    });
    assert_eq!(wrote.take(), Some(Err(ErrorKind::Cancelled)));
    assert_eq!(io.pending(), 0);
    assert_eq!(io.objects(), 0);
}

#[test]
fn closing_the_io_completes_every_operation_even_when_one_callback_panics() {
    let mut io = Io::new().unwrap();
    let done = counter();
    let mut peers = Vec::new();
    for i in 0..4 {
        let (s, peer) = pair(&mut io);
        peers.push(peer);
        let d = done.clone();
        s.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
            d.set(d.get() + 1);
            if i == 1 {
                panic!("cancelled read panics");
            }
        })
        .unwrap();
    }
    expect_panic("cancelled read panics", || {
        let _ = io.close();
    });
    assert_eq!(done.get(), 4, "every read completed once");
    assert_eq!(io.objects(), 0);
    assert_eq!(io.pending(), 0);
}

/// A value whose drop panics, held by a closure the Io never runs.
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{} dropped", self.0);
    }
}

/// Unrun closures (a local post, a `Poster`'s post, a timer's, two of each kind) hold values
/// whose drop panics: closing the Io still completes the pending read, once, drops every
/// closure, then lets the first panic out; the Io is closed and holds nothing. (Before, the
/// first drop's panic left the close halfway: the read never completed.)
#[test]
fn closing_the_io_completes_its_operations_before_dropping_closures_that_panic() {
    let mut io = Io::new().unwrap();
    let (a, _peer) = pair(&mut io);
    let cancelled = counter();
    let c = cancelled.clone();
    a.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        c.set(c.get() + 1);
    })
    .unwrap();
    let dropped = Rc::new(std::cell::Cell::new(0));
    for name in ["first local post", "second local post"] {
        let bomb = PanicsOnDrop(name);
        io.post(move |_| drop(bomb)).unwrap();
    }
    for name in ["first posted", "second posted"] {
        let bomb = PanicsOnDrop(name);
        io.poster().post(move |_| drop(bomb)).unwrap();
    }
    for name in ["first timer", "second timer"] {
        let bomb = PanicsOnDrop(name);
        let d = dropped.clone();
        let guard = DropCount(d);
        Timer::new(&mut io)
            .unwrap()
            .schedule_once(&mut io, Duration::from_secs(3600), move |_, _| {
                drop((bomb, guard))
            })
            .unwrap();
    }
    expect_panic("first timer dropped", || io.close().unwrap());
    assert_eq!(cancelled.get(), 1, "the read completed once");
    assert_eq!(dropped.get(), 2, "both timer closures were dropped");
    assert!(io.closed());
    assert_eq!((io.objects(), io.pending()), (0, 0));
    io.close().unwrap();
    drop(io);
    assert_eq!(cancelled.get(), 1);
}

/// Counts its drops.
struct DropCount(Rc<std::cell::Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_the_io_while_a_panic_unwinds_does_not_abort() {
    testkit::in_subprocess(|| {
        let done = counter();
        let d = done.clone();
        let r = catch_unwind(AssertUnwindSafe(move || {
            let mut io = Io::new().unwrap();
            for _ in 0..2 {
                let (s, peer) = pair(&mut io);
                std::mem::forget(peer);
                let d = d.clone();
                s.async_read(&mut io, vec![0u8; 8], move |_, _, _| {
                    d.set(d.get() + 1);
                    panic!("cancelled read panics");
                })
                .unwrap();
            }
            panic!("the user's own panic");
        }));
        let p = r.unwrap_err();
        assert_eq!(p.downcast_ref::<&str>(), Some(&"the user's own panic"));
        assert_eq!(
            done.get(),
            2,
            "each callback ran once; their panics were discarded"
        );
    });
}

#[test]
fn dropping_the_io_runs_every_cancellation_then_lets_the_first_panic_out() {
    let done = counter();
    let d = done.clone();
    let r = catch_unwind(AssertUnwindSafe(move || {
        let mut io = Io::new().unwrap();
        for i in 0..3 {
            let (s, peer) = pair(&mut io);
            std::mem::forget(peer);
            let d = d.clone();
            s.async_read(&mut io, vec![0u8; 8], move |_, _, _| {
                d.set(d.get() + 1);
                if i == 0 {
                    panic!("cancelled read panics");
                }
            })
            .unwrap();
        }
        drop(io);
    }));
    assert_eq!(
        r.unwrap_err().downcast_ref::<&str>(),
        Some(&"cancelled read panics")
    );
    assert_eq!(done.get(), 3);
}

#[test]
fn a_callback_may_replace_the_io_it_was_given() {
    let mut io = Io::new().unwrap();
    let (s, peer) = pair(&mut io);
    peer.write(b"x").unwrap();
    // Completes inline, one level deep: the new Io must come out at depth 0.
    s.async_read(&mut io, vec![0u8; 8], |io, r, _| {
        assert_eq!(r.unwrap(), 1);
        *io = Io::new().unwrap();
    })
    .unwrap();
    assert_eq!(io.objects(), 0, "a new Io");
    let t = Timer::new(&mut io).unwrap();
    let n = counter();
    let c = n.clone();
    t.schedule_once(&mut io, Duration::ZERO, move |_, _| c.set(1))
        .unwrap();
    io.run_pending().unwrap();
    assert_eq!(n.get(), 1);
    // And from a callback the loop runs.
    let t2 = t;
    t2.schedule_once(&mut io, Duration::ZERO, |io, _| *io = Io::new().unwrap())
        .unwrap();
    io.run_one().unwrap();
    assert_eq!(io.pending(), 0);
    assert_eq!(io.poll().unwrap(), 0);
}

// Found by review: a panic swallowed when a repeating timer's slot was gone, and close
// paths that touched the Io between callbacks while a callback had replaced `*io`.

/// A repeating timer whose callback closes its own timer and then panics: the panic must
/// unwind out of the drive call (the contract), not vanish. `fire_timers` looks the slot up
/// after the callback, finds it gone and `continue`s, dropping the caught panic.
#[test]
fn a_repeating_timer_that_closes_itself_and_panics_is_not_swallowed() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    let ran = counter();
    let r = ran.clone();
    t.schedule_repeating(&mut io, Duration::from_millis(1), move |io, t| {
        r.set(r.get() + 1);
        t.close(io);
        panic!("repeating timer panics");
    })
    .unwrap();
    let res = catch_unwind(AssertUnwindSafe(|| {
        while ran.get() == 0 {
            io.run_one_for(BOUND).unwrap();
        }
    }));
    assert_eq!(ran.get(), 1);
    assert!(
        res.is_err(),
        "the timer callback's panic was swallowed: the drive call returned normally"
    );
    assert_eq!(io.pending(), 0);
}

/// The same through `Io::close` from inside the repeating timer's callback: the timers are
/// cleared, the slot is gone, and the panic is dropped.
#[test]
fn a_repeating_timer_that_closes_the_io_and_panics_is_not_swallowed() {
    let mut io = Io::new().unwrap();
    let t = Timer::new(&mut io).unwrap();
    let ran = counter();
    let r = ran.clone();
    t.schedule_repeating(&mut io, Duration::from_millis(1), move |io, _| {
        r.set(r.get() + 1);
        let _ = io.close();
        panic!("repeating timer panics after close");
    })
    .unwrap();
    let res = catch_unwind(AssertUnwindSafe(|| {
        while ran.get() == 0 && !io.closed() {
            io.run_one_for(BOUND).unwrap();
        }
    }));
    assert_eq!(ran.get(), 1);
    assert!(
        res.is_err(),
        "the timer callback's panic was swallowed: the drive call returned normally"
    );
}

/// `Io::close` runs each object's cancelled callbacks; one of them replaces `*io` (which
/// the contract allows: tests/panics.rs `a_callback_may_replace_the_io_it_was_given`).
/// The old Io is dropped inside the callback, and its drop's `close` returns at once (its
/// `closed` flag is already up), so the objects `close` had not reached yet are dropped with
/// their operations unrun; `close` then goes on against the NEW Io and clears its
/// posts and timers although that Io is open.
#[test]
fn replacing_the_io_from_a_callback_of_close_loses_no_operation_and_no_new_post() {
    let mut io = Io::new().unwrap();
    let (a, _pa) = pair(&mut io);
    let (b, _pb) = pair(&mut io);
    let posted = counter();
    let p = posted.clone();
    a.async_read(&mut io, vec![0u8; 8], move |io, r, _| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        *io = Io::new().unwrap();
        let p = p.clone();
        io.post(move |_| p.set(p.get() + 1)).unwrap();
    })
    .unwrap();
    let b_res = slot();
    let br = b_res.clone();
    b.async_read(&mut io, vec![0u8; 8], move |_, r, _| {
        *br.borrow_mut() = Some(r.map_err(|e| e.kind()));
    })
    .unwrap();
    let _ = io.close();
    assert_eq!(
        b_res.take(),
        Some(Err(ErrorKind::Cancelled)),
        "the second object's read never completed"
    );
    assert!(!io.closed(), "the callback's new Io");
    assert_eq!(
        io.pending(),
        1,
        "the post made on the new Io is still there"
    );
    io.run_pending().unwrap();
    assert_eq!(posted.get(), 1, "the post accepted by the new Io ran");
}

/// Closing one stream with a read and a write armed: the read's `Cancelled` callback
/// replaces `*io`. `remove_object` then decrements `armed` of the NEW Io for the write
/// (underflow: a panic in debug, a wrapped `pending()` in release) and the write's callback
/// is dropped unrun by that panic.
#[test]
fn replacing_the_io_from_a_cancelled_read_still_completes_the_write_once() {
    let mut io = Io::new().unwrap();
    let (s, _peer) = pair(&mut io);
    let wrote = slot();
    let w = wrote.clone();
    s.async_write_all(&mut io, vec![1u8; 4 << 20], move |_, r, _| {
        *w.borrow_mut() = Some(r.map_err(|e| e.error.kind()).map(|_| ()));
    })
    .unwrap();
    assert!(wrote.borrow().is_none(), "the write waits for room");
    s.async_read(&mut io, vec![0u8; 8], |io, r, _| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        *io = Io::new().unwrap();
    })
    .unwrap();
    let res = catch_unwind(AssertUnwindSafe(|| s.close(&mut io)));
    assert!(res.is_ok(), "closing the stream panicked");
    assert_eq!(
        wrote.take(),
        Some(Err(ErrorKind::Cancelled)),
        "the write completed once with Cancelled"
    );
    assert_eq!(io.pending(), 0, "the new Io's count did not move");
}

/// With one object only: `Io::close` runs its read's `Cancelled` callback, which replaces
/// `*io` and posts to and schedules a timer on the new Io. `close` then goes on with
/// `self` being the NEW, open Io: it clears its timers and local posts (and swaps its
/// shared queue out and drops it), so what the new Io accepted is dropped unrun.
static REMOTE_RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn io_close_does_not_clear_the_posts_and_timers_of_an_io_a_callback_put_in_its_place() {
    let mut io = Io::new().unwrap();
    let (a, _pa) = pair(&mut io);
    let ran = counter();
    let r = ran.clone();
    a.async_read(&mut io, vec![0u8; 8], move |io, res, _| {
        assert_eq!(res.unwrap_err().kind(), ErrorKind::Cancelled);
        *io = Io::new().unwrap();
        let p = r.clone();
        io.post(move |_| p.set(p.get() + 1)).unwrap();
        io.poster()
            .post(|_| {
                REMOTE_RAN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .unwrap();
        let p = r.clone();
        Timer::new(io)
            .unwrap()
            .schedule_once(io, Duration::ZERO, move |_, _| p.set(p.get() + 100))
            .unwrap();
        assert_eq!(io.pending(), 3);
    })
    .unwrap();
    let _ = io.close();
    assert!(!io.closed(), "the callback's new Io is open");
    assert_eq!(io.pending(), 3, "what the new Io accepted is still pending");
    let start = std::time::Instant::now();
    let remote = || REMOTE_RAN.load(std::sync::atomic::Ordering::SeqCst);
    while (ran.get() != 101 || remote() != 1) && start.elapsed() < BOUND {
        io.run_one_for(Duration::from_millis(100)).unwrap();
    }
    assert_eq!(ran.get(), 101, "the new Io's local post and its timer ran");
    assert_eq!(remote(), 1, "the new Io's post from a Poster ran");
}

/// A stream handed to a callback (an accepted one here) is the program's from then on: the
/// handle is a copyable key, and the Io cannot tell whether the callback kept it before it
/// panicked, so it does not close it. The stream stays in the Io, its descriptor open,
/// until the program closes it (with a handle it kept) or the Io closes (README, "A
/// callback that panics").
#[test]
fn a_stream_whose_accept_callback_panics_stays_until_closed() {
    let mut io = Io::new().unwrap();
    let l = sock::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std::net::SocketAddr::try_from(l.local_addr().unwrap()).unwrap();
    let l = sonic_io::Listener::add(&mut io, l).unwrap();
    let kept = slot();
    let k = kept.clone();
    l.async_accept(&mut io, move |_, r| {
        let (s, _) = r.unwrap();
        *k.borrow_mut() = Some(s);
        panic!("accept callback panics");
    })
    .unwrap();
    let mut peer = std::net::TcpStream::connect(addr).unwrap();
    peer.set_read_timeout(Some(BOUND)).unwrap();
    expect_panic("accept callback panics", || {
        io.run_one_for(BOUND).unwrap();
    });
    // The listener and the accepted stream.
    assert_eq!(io.objects(), 2);
    kept.take().unwrap().close(&mut io).unwrap();
    assert_eq!(io.objects(), 1);
    let mut buf = [0u8; 1];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "the peer sees the close");
}
