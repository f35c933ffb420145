//! Posting closures to an `Io` from other threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use iox::{Error, Result};

use crate::io::Io;
use crate::raw::payload::Posted;
use crate::sys::Waker;

#[derive(Debug)]
struct Queue {
    items: Vec<Posted>,
    alive: bool,
}

/// What an `Io` and its posters share: the queue and the waker. The waker lives as long as
/// the last of them, so a post after the Io is gone never touches a closed descriptor.
#[derive(Debug)]
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    len: AtomicUsize,
    waker: Waker,
}

impl Shared {
    pub(crate) fn new(capacity: usize) -> Result<Shared> {
        Ok(Shared {
            queue: Mutex::new(Queue {
                items: Vec::with_capacity(capacity),
                alive: true,
            }),
            len: AtomicUsize::new(0),
            waker: Waker::new()?,
        })
    }

    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock only means a poster panicked while pushing; the Vec is intact.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Posts not yet taken by the Io.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    fn push(&self, p: Posted) -> Result<()> {
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
    pub(crate) fn swap(&self, spare: &mut Vec<Posted>) {
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

/// A thread-safe handle that runs closures on an [`Io`]'s thread ([`Io::poster`]).
///
/// [`post`](Poster::post) queues a `Send` closure and wakes the loop if it is waiting. The
/// loop swaps the queue out under the lock and runs the closures outside it, so a posted
/// closure may post again (it runs on a later turn) and posting threads never wait for user
/// code. Once the Io is closed or dropped, `post` fails with `Closed`.
///
/// ```
/// use sonic_io::Io;
///
/// let mut io = Io::new().unwrap();
/// let poster = io.poster();
/// std::thread::spawn(move || poster.post(|io| io.close().unwrap()).unwrap());
/// io.run().unwrap();
/// assert!(io.closed());
/// ```
#[derive(Clone, Debug)]
pub struct Poster {
    shared: Arc<Shared>,
}

impl Poster {
    pub(crate) fn new(shared: Arc<Shared>) -> Poster {
        Poster { shared }
    }

    /// Queues `f` to run on the Io's thread and wakes the Io.
    pub fn post<F: FnOnce(&mut Io) + Send + 'static>(&self, f: F) -> Result<()> {
        self.shared.push(Posted::new(f))
    }
}
