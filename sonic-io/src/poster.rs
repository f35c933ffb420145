//! Posting closures to an `Io` from other threads: the public handle over the core's queue
//! (`post.rs`).

use std::sync::Arc;

use iox::Result;

use crate::io::Io;
use crate::post::Shared;
use crate::raw::payload::Posted;
use crate::sys::Waker;

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
    shared: Arc<Shared<Io, Waker>>,
}

impl Poster {
    pub(crate) fn new(shared: Arc<Shared<Io, Waker>>) -> Poster {
        Poster { shared }
    }

    /// Queues `f` to run on the Io's thread and wakes the Io.
    pub fn post<F: FnOnce(&mut Io) + Send + 'static>(&self, f: F) -> Result<()> {
        self.shared.push(Posted::new(f))
    }
}
