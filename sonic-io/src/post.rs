//! The posting queue: closures other threads hand to an `Io`, and the waker that makes its
//! wait return. The public handle is [`Poster`](crate::Poster) (`poster.rs`), the waker a
//! poller's (`sys`), the closures' context `C` the Io: none of them is named here.

// Under `--cfg sonic_io_loom` the queue's lock and counter are loom's, so the model below explores
// every interleaving of posters and the Io (`cargo xtask loom`).
#[cfg(sonic_io_loom)]
use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicUsize, Ordering},
};
#[cfg(not(sonic_io_loom))]
use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicUsize, Ordering},
};

use iox::{Error, Result};

use crate::raw::payload::Posted;

/// What the queue needs from a waker: the poller's eventfd (or pipe), or the loom model's.
pub(crate) trait Wake {
    /// Makes the Io's next (or current) wait return.
    fn wake(&self) -> Result<()>;
    /// Clears pending wakes; called before the queue is swapped out.
    fn drain(&self);
}

#[derive(Debug)]
struct Queue<C: 'static> {
    items: Vec<Posted<C>>,
    alive: bool,
}

/// What an `Io` and its posters share: the queue and the waker. The waker lives as long as
/// the last of them, so a post after the Io is gone never touches a closed descriptor.
#[derive(Debug)]
pub(crate) struct Shared<C: 'static, W> {
    queue: Mutex<Queue<C>>,
    len: AtomicUsize,
    waker: W,
}

impl<C: 'static, W: Wake> Shared<C, W> {
    pub(crate) fn with_waker(capacity: usize, waker: W) -> Shared<C, W> {
        Shared {
            queue: Mutex::new(Queue {
                items: Vec::with_capacity(capacity),
                alive: true,
            }),
            len: AtomicUsize::new(0),
            waker,
        }
    }

    pub(crate) fn waker(&self) -> &W {
        &self.waker
    }

    fn lock(&self) -> MutexGuard<'_, Queue<C>> {
        // A poisoned lock only means a poster panicked while pushing; the Vec is intact.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Posts not yet taken by the Io.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub(crate) fn push(&self, p: Posted<C>) -> Result<()> {
        let was_empty = {
            let mut q = self.lock();
            if !q.alive {
                return Err(Error::CLOSED);
            }
            q.items.push(p);
            self.len.store(q.items.len(), Ordering::Release);
            q.items.len() == 1
        };
        if was_empty {
            self.waker.wake()?;
        }
        Ok(())
    }

    /// Swaps the queue with `spare` (empty, capacity kept) under the lock; the Io runs
    /// what it got outside the lock.
    pub(crate) fn swap(&self, spare: &mut Vec<Posted<C>>) {
        self.waker.drain();
        let mut q = self.lock();
        std::mem::swap(&mut q.items, spare);
        self.len.store(0, Ordering::Release);
    }

    /// Refuses further posts (the Io is closing).
    pub(crate) fn shut(&self) {
        self.lock().alive = false;
    }
}

/// The post protocol under loom: every interleaving of posters with the Io's harvest, and
/// with its close. Run by `cargo xtask loom` (`RUSTFLAGS="--cfg sonic_io_loom"`, this module only).
///
/// The model waker stands for an eventfd registered edge-triggered in epoll: each `wake`
/// (a write) makes the descriptor ready again, whatever its counter holds, and the Io's
/// wait harvests that readiness once. So a post is never stranded when, at every moment the
/// queue holds something, either the Io is about to swap it out or a readiness edge is
/// pending that its next wait will return.
#[cfg(all(test, sonic_io_loom))]
mod loom_model {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, Ordering};

    use super::{Shared, Wake};
    use crate::raw::payload::Posted;

    #[derive(Debug, Default)]
    struct EdgeWaker {
        ready: AtomicBool,
    }

    impl Wake for EdgeWaker {
        fn wake(&self) -> iox::Result<()> {
            // eventfd_write is a read-modify-write of the counter under the wait
            // queue's lock, so the model's is one too. (loom 0.7 also lets a plain store
            // racing the Io's swap vanish, which no kernel does.)
            self.ready.swap(true, Ordering::AcqRel);
            Ok(())
        }

        fn drain(&self) {
            // The counter's reset does not matter to an edge-triggered wait: the next
            // write raises a new edge whatever the counter holds.
        }
    }

    impl EdgeWaker {
        /// One wait of the Io: did it return the waker's token?
        fn harvest(&self) -> bool {
            self.ready.swap(false, Ordering::AcqRel)
        }
    }

    fn post(shared: &Shared<(), EdgeWaker>) -> iox::Result<()> {
        shared.push(Posted::new(|_: &mut ()| {}))
    }

    /// Two posters (one posting twice) and an Io that waits twice: whatever the Io did not
    /// take is announced by a pending edge, and one more wait takes all of it.
    #[test]
    fn no_post_is_stranded_without_a_wake() {
        loom::model(|| {
            let shared: Arc<Shared<(), EdgeWaker>> =
                Arc::new(Shared::with_waker(3, EdgeWaker::default()));
            let posters: Vec<_> = [2, 1]
                .into_iter()
                .map(|n| {
                    let s = shared.clone();
                    loom::thread::spawn(move || (0..n).for_each(|_| post(&s).unwrap()))
                })
                .collect();
            let mut taken = 0;
            let mut batch = Vec::new();
            for _ in 0..2 {
                if shared.waker().harvest() {
                    shared.swap(&mut batch);
                    taken += batch.len();
                    batch.clear();
                }
            }
            for p in posters {
                p.join().unwrap();
            }
            let left = shared.len();
            assert_eq!(taken + left, 3, "a post was lost or counted twice");
            if left > 0 {
                assert!(
                    shared.waker().harvest(),
                    "{left} post(s) queued and no wake pending: the Io would sleep on them"
                );
                shared.swap(&mut batch);
                assert_eq!(batch.len(), left);
            }
        });
    }

    /// A post racing the Io's close is either refused with `Closed` or in the batch the
    /// close drops: never left behind in a queue nobody swaps again.
    #[test]
    fn a_post_racing_close_is_refused_or_dropped_by_it() {
        loom::model(|| {
            let shared: Arc<Shared<(), EdgeWaker>> =
                Arc::new(Shared::with_waker(1, EdgeWaker::default()));
            let s = shared.clone();
            let poster = loom::thread::spawn(move || post(&s));
            // What `Io::close` does with the queue.
            shared.shut();
            let mut dropped = Vec::new();
            shared.swap(&mut dropped);
            let r = poster.join().unwrap();
            match r {
                Ok(()) => assert_eq!(dropped.len(), 1, "an accepted post escaped the close"),
                Err(e) => {
                    assert_eq!(e.kind(), iox::ErrorKind::Closed, "{e}");
                    assert!(dropped.is_empty());
                }
            }
            assert_eq!(shared.len(), 0);
        });
    }

    /// The counter the Io reads to decide whether to block never hides a queued post: once
    /// a poster returned, either the count shows it or the Io already swapped it out.
    #[test]
    fn the_pending_count_covers_every_returned_post() {
        loom::model(|| {
            let shared: Arc<Shared<(), EdgeWaker>> =
                Arc::new(Shared::with_waker(1, EdgeWaker::default()));
            let s = shared.clone();
            let poster = loom::thread::spawn(move || post(&s).unwrap());
            let mut batch = Vec::new();
            if shared.waker().harvest() {
                shared.swap(&mut batch);
            }
            poster.join().unwrap();
            assert_eq!(batch.len() + shared.len(), 1);
        });
    }
}
