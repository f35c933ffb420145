//! Drive calls and shutdown that `drive.rs` leaves out: `run_warm`'s switch from busy
//! turns to one blocking wait (seen in `Io::stats` and in where the loop thread sleeps),
//! and `Io::close` and dropping the Io completing every armed operation with `Cancelled`
//! exactly once, while timer and posted closures are dropped unrun.

mod common;
use common::tcp_pair;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use sonic_io::{ErrorKind, Io, Listener, PacketConn, Timer};

/// Batch reads exist where `recvmmsg` does.
const HAS_BATCH: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd"
));

/// `run_warm` while another thread watches where the loop thread sleeps.
#[cfg(target_os = "linux")]
mod warm {
    use super::*;
    use std::sync::mpsc;

    fn task_file(tid: i32, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/{name}")).unwrap_or_default()
    }

    /// Whether thread `tid` sleeps in the kernel (state S in `/proc/.../stat`) and, where
    /// the kernel names the place (`wchan`), that the place is an epoll wait. A wait with a
    /// zero timeout never sleeps, so only a blocking wait is seen.
    fn blocked_in_wait(tid: i32) -> bool {
        let asleep = task_file(tid, "stat")
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('S'));
        let wchan = task_file(tid, "wchan");
        asleep
            && (wchan.is_empty()
                || wchan == "0"
                || wchan.contains("epoll")
                || wchan.contains("io_cqring"))
    }

    /// Busy turns until `BUSY` of them in a row found nothing, then one blocking wait;
    /// a post from another thread ends that wait and counts as work, so the loop goes
    /// through `BUSY` busy turns again before it blocks the second time, when a second post
    /// closes the Io. Each turn is one wait, so the count is exact; with the default
    /// features the blocking waits arm the wait timer once (the second's deadline is later
    /// and the armed one is kept), with `linux_5_11` never (`epoll_pwait2` takes the bound).
    #[test]
    fn run_warm_blocks_after_its_busy_turns_and_work_starts_the_count_again() {
        const BUSY: u64 = 50;
        let mut io = Io::new().unwrap();
        let tid = zcall::gettid();
        let poster = io.poster();
        let (ran_tx, ran_rx) = mpsc::channel::<()>();
        let watcher = std::thread::spawn(move || {
            while !blocked_in_wait(tid) {
                std::thread::yield_now();
            }
            poster.post(move |_| ran_tx.send(()).unwrap()).unwrap();
            // The loop ran the first post: it is past that blocking wait.
            ran_rx.recv().unwrap();
            while !blocked_in_wait(tid) {
                std::thread::yield_now();
            }
            poster.post(|io| io.close().unwrap()).unwrap();
        });
        io.run_warm(BUSY, Duration::from_secs(3600)).unwrap();
        watcher.join().unwrap();
        let s = io.stats();
        assert_eq!(s.waits, 2 * (BUSY + 1), "{s:?}");
        assert_eq!(s.wakes, 2, "{s:?}");
        // The uring backend bounds its waits in `io_uring_enter` itself.
        let arms =
            if cfg!(feature = "linux_5_11") || io.backend().backend() == sonic_io::Backend::Uring {
                0
            } else {
                1
            };
        assert_eq!(s.timer_arms, arms, "{s:?}");
        assert!(io.closed());
    }
}

/// What each callback saw: how many times it ran and the error kinds it got.
type Seen = Rc<RefCell<Vec<ErrorKind>>>;

fn seen() -> Seen {
    Rc::new(RefCell::new(Vec::new()))
}

/// Counts its drops: a closure that owns one was dropped (run or not) when this goes up.
struct DropCount(Rc<RefCell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        *self.0.borrow_mut() += 1;
    }
}

/// The callbacks of every kind of armed operation, and the closures of a timer and a post.
struct Armed {
    read: Seen,
    write: Seen,
    accept: Seen,
    read_from: Seen,
    batch: Seen,
    timer_ran: Rc<RefCell<usize>>,
    timer_dropped: Rc<RefCell<usize>>,
    post_ran: Rc<RefCell<usize>>,
    post_dropped: Rc<RefCell<usize>>,
}

/// Arms on `io`: a read on a TCP stream with nothing to read, a write of 16 MiB to a peer
/// that never reads (it parks when the buffers are full), an accept with nobody dialling,
/// a datagram read and a batch read with nothing queued, a timer an hour away and a post.
fn arm_everything(io: &mut Io) -> Armed {
    let a = Armed {
        read: seen(),
        write: seen(),
        accept: seen(),
        read_from: seen(),
        batch: seen(),
        timer_ran: Rc::default(),
        timer_dropped: Rc::default(),
        post_ran: Rc::default(),
        post_dropped: Rc::default(),
    };
    let (c, _s) = tcp_pair(io);
    let r = a.read.clone();
    c.async_read(io, vec![0u8; 64], move |_, res, buf| {
        assert_eq!(buf.len(), 64, "the buffer comes back");
        r.borrow_mut().push(res.unwrap_err().kind());
    })
    .unwrap();
    let w = a.write.clone();
    c.async_write_all(io, vec![7u8; 16 << 20], move |_, res, buf| {
        assert_eq!(buf.len(), 16 << 20, "the buffer comes back");
        w.borrow_mut().push(res.unwrap_err().error.kind());
    })
    .unwrap();
    let l = Listener::add(io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let ac = a.accept.clone();
    l.async_accept(io, move |_, res| {
        ac.borrow_mut().push(res.unwrap_err().kind())
    })
    .unwrap();
    let u = PacketConn::add(io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap();
    let rf = a.read_from.clone();
    u.async_read_from(io, vec![0u8; 64], move |_, res, _| {
        rf.borrow_mut().push(res.unwrap_err().kind())
    })
    .unwrap();
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        let ub = PacketConn::add(io, sock::UdpConn::bind("127.0.0.1:0").unwrap()).unwrap();
        let b = a.batch.clone();
        ub.async_read_batch(io, sonic_io::Datagrams::new(4, 64), move |_, res, _| {
            b.borrow_mut().push(res.unwrap_err().kind())
        })
        .unwrap();
    }
    let t = Timer::new(io).unwrap();
    let (ran, guard) = (a.timer_ran.clone(), DropCount(a.timer_dropped.clone()));
    t.schedule_once(io, Duration::from_secs(3600), move |_, _| {
        let _g = &guard;
        *ran.borrow_mut() += 1;
    })
    .unwrap();
    let (ran, guard) = (a.post_ran.clone(), DropCount(a.post_dropped.clone()));
    io.post(move |_| {
        let _g = &guard;
        *ran.borrow_mut() += 1;
    })
    .unwrap();
    // One non-blocking turn runs the post (so post it again, to have one left), and leaves
    // the operations armed: nothing can complete them.
    io.poll().unwrap();
    assert_eq!(*a.post_ran.borrow(), 1);
    let (ran, guard) = (a.post_ran.clone(), DropCount(a.post_dropped.clone()));
    io.post(move |_| {
        let _g = &guard;
        *ran.borrow_mut() += 1;
    })
    .unwrap();
    for (name, s) in a.ops() {
        assert!(s.borrow().is_empty(), "{name} completed before the close");
    }
    assert_eq!(*a.timer_ran.borrow(), 0);
    // The operations, the timer and the post.
    assert_eq!(io.pending(), a.ops().len() + 2);
    a
}

impl Armed {
    fn ops(&self) -> Vec<(&'static str, &Seen)> {
        let mut ops = vec![
            ("the read", &self.read),
            ("the write", &self.write),
            ("the accept", &self.accept),
            ("the datagram read", &self.read_from),
        ];
        if HAS_BATCH {
            ops.push(("the batch read", &self.batch));
        }
        ops
    }

    /// Every operation completed once, with `Cancelled`; the timer's and the post's
    /// closures were dropped without running.
    fn check_cancelled_once(&self) {
        for (name, s) in self.ops() {
            assert_eq!(
                *s.borrow(),
                [ErrorKind::Cancelled],
                "{name} completes once, with Cancelled"
            );
        }
        assert_eq!(*self.timer_ran.borrow(), 0, "the timer never fires");
        assert_eq!(*self.timer_dropped.borrow(), 1, "its closure is dropped");
        assert_eq!(*self.post_ran.borrow(), 1, "only the post that ran before");
        assert_eq!(
            *self.post_dropped.borrow(),
            2,
            "the other post is dropped unrun"
        );
    }
}

#[test]
fn io_close_completes_every_armed_operation_with_cancelled_once() {
    let mut io = Io::new().unwrap();
    let a = arm_everything(&mut io);
    io.close().unwrap();
    a.check_cancelled_once();
    assert_eq!(io.pending(), 0);
    assert_eq!(io.objects(), 0);
    // Closing again, and drive calls after, complete nothing more.
    io.close().unwrap();
    assert_eq!(io.poll().unwrap_err().kind(), ErrorKind::Closed);
    drop(io);
    a.check_cancelled_once();
}

#[test]
fn dropping_the_io_completes_every_armed_operation_with_cancelled_once() {
    let mut io = Io::new().unwrap();
    let a = arm_everything(&mut io);
    drop(io);
    a.check_cancelled_once();
}
