//! Timers: the public handle over the core's heap (`heap.rs`), and the Io's firing of what
//! is due.

use std::time::Duration;

use iox::{Error, Result};

use crate::heap::{Cb, NONE, Slot};
use crate::io::Io;
use crate::op::Key;
use crate::raw::payload::Payload;

/// A timer of one [`Io`]: a `Copy` handle. Arming and cancelling cost no system call; the
/// Io's one wait timer bounds its wait by the earliest deadline.
///
/// ```
/// use sonic_io::{Io, Timer};
/// use std::time::Duration;
///
/// let mut io = Io::new().unwrap();
/// let t = Timer::new(&mut io).unwrap();
/// let fired = std::rc::Rc::new(std::cell::Cell::new(0));
/// let f = fired.clone();
/// t.schedule_repeating(&mut io, Duration::from_micros(200), move |io, t| {
///     f.set(f.get() + 1);
///     if f.get() == 3 {
///         t.cancel(io);
///     }
/// })
/// .unwrap();
/// io.run_pending().unwrap();
/// assert_eq!(fired.get(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    key: Key,
}

const ALREADY: Error = Error::invalid_input("the timer is already scheduled; cancel it first");

impl Timer {
    /// A new, idle timer.
    pub fn new(io: &mut Io) -> Result<Timer> {
        if io.closed() {
            return Err(Error::CLOSED);
        }
        let key = io.timers.slots.insert(Slot::idle());
        Ok(Timer { key })
    }

    fn slot<'a>(&self, io: &'a mut Io) -> Result<&'a mut Slot<Io>> {
        if io.closed() {
            return Err(Error::CLOSED);
        }
        io.timers.slots.lookup_mut(self.key)
    }

    fn arm(self, io: &mut Io, after: Duration, period: u64, cb: Cb<Io>) -> Result<()> {
        let now = io.now_ns();
        let s = self.slot(io)?;
        if s.pos != NONE {
            return Err(ALREADY);
        }
        s.cb = cb;
        s.period = period;
        let deadline = now.saturating_add(after.as_nanos().min(u128::from(u64::MAX / 4)) as u64);
        io.timers.push(self.key.idx, deadline);
        io.timers.scheduled += 1;
        Ok(())
    }

    /// Runs `f` once, `d` from now (`d == 0`: on the next turn, never inside this call).
    pub fn schedule_once<F: FnOnce(&mut Io, Timer) + 'static>(
        self,
        io: &mut Io,
        d: Duration,
        f: F,
    ) -> Result<()> {
        self.arm(
            io,
            d,
            0,
            Cb::Once(Payload::new(move |io: &mut Io, key: Key| {
                f(io, Timer { key })
            })),
        )
    }

    /// Runs `f` every `period`, first at now + `period`. Deadlines do not drift: the next is
    /// the previous deadline plus the period, whatever the callback's own time; periods the
    /// loop missed are skipped, keeping the phase.
    pub fn schedule_repeating<F: FnMut(&mut Io, Timer) + 'static>(
        self,
        io: &mut Io,
        period: Duration,
        f: F,
    ) -> Result<()> {
        let p = period.as_nanos().min(u128::from(u64::MAX / 4)) as u64;
        if p == 0 {
            return Err(Error::invalid_input(
                "a repeating timer needs a non-zero period",
            ));
        }
        let mut f = f;
        self.arm(
            io,
            period,
            p,
            Cb::Repeat(Payload::new(move |io: &mut Io, key: Key| {
                f(io, Timer { key })
            })),
        )
    }

    /// Stops the timer; `true` if it was scheduled. Its closure is dropped (a repeating
    /// timer cancelled from its own callback stops after that callback).
    pub fn cancel(self, io: &mut Io) -> bool {
        let Ok(s) = self.slot(io) else { return false };
        let pos = s.pos;
        s.epoch = s.epoch.wrapping_add(1);
        let cb = std::mem::replace(&mut s.cb, Cb::Empty);
        if pos == NONE {
            return false;
        }
        io.timers.remove_at(pos as usize);
        io.timers.scheduled -= 1;
        drop(cb);
        true
    }

    /// `true` while a deadline is pending.
    pub fn scheduled(self, io: &mut Io) -> bool {
        self.slot(io).is_ok_and(|s| s.pos != NONE)
    }

    /// The pending deadline, as Io time ([`Io::now`]).
    pub fn deadline(self, io: &mut Io) -> Option<Duration> {
        let pos = self.slot(io).ok()?.pos;
        (pos != NONE).then(|| Duration::from_nanos(io.timers.heap[pos as usize].deadline))
    }

    /// Cancels the timer and frees its slot; the handle is stale afterwards. Idempotent.
    pub fn close(self, io: &mut Io) {
        self.cancel(io);
        io.timers.slots.remove(self.key);
    }
}

impl Io {
    /// Fires every timer due at `now` that was scheduled before this pass began.
    pub(crate) fn fire_timers(&mut self, now: u64) -> usize {
        let pass = self.timers.seq;
        let mut n = 0;
        while let Some(top) = self.timers.heap.first().copied() {
            if top.deadline > now || top.seq > pass || self.closed() {
                break;
            }
            self.timers.remove_at(0);
            let Some((key, s)) = self.timers.slots.by_index_mut(top.slot) else {
                continue;
            };
            match std::mem::replace(&mut s.cb, Cb::Empty) {
                Cb::Once(p) => {
                    self.timers.scheduled -= 1;
                    n += 1;
                    self.run_callback(move |io| p.call(io, key));
                }
                Cb::Repeat(mut p) => {
                    let period = s.period;
                    let epoch = s.epoch;
                    s.cb = Cb::Lent;
                    let mut next = top.deadline + period;
                    if next <= now {
                        next += (now - next) / period * period + period;
                    }
                    self.timers.push(top.slot, next);
                    n += 1;
                    let panic = self.try_callback(|io| p.call(io, key));
                    // Closed from its own callback (or the Io closed or replaced): nothing to
                    // put back, but a panic still goes on.
                    let Some(s) = self.timers.slots.get_mut(key) else {
                        if let Some(panic) = panic {
                            std::panic::resume_unwind(panic);
                        }
                        continue;
                    };
                    // Cancelled or closed from its own callback: nothing to put back.
                    if s.epoch != epoch || !matches!(s.cb, Cb::Lent) {
                        if let Some(panic) = panic {
                            std::panic::resume_unwind(panic);
                        }
                        continue;
                    }
                    match panic {
                        None => s.cb = Cb::Repeat(p),
                        // A closure that panicked half-way is not run again: the timer is
                        // cancelled (its next deadline removed, its closure dropped), so
                        // `pending()` stays exact.
                        Some(panic) => {
                            s.cb = Cb::Empty;
                            s.epoch = s.epoch.wrapping_add(1);
                            let pos = s.pos;
                            if pos != NONE {
                                self.timers.remove_at(pos as usize);
                                self.timers.scheduled -= 1;
                            }
                            drop(p);
                            std::panic::resume_unwind(panic);
                        }
                    }
                }
                Cb::Retry { key: obj, dir } => {
                    self.timers.slots.remove(key);
                    n += self.retry_dir(obj, dir);
                }
                Cb::Expire { key: obj, dir } => {
                    self.timers.slots.remove(key);
                    n += self.fail_armed(obj, dir, crate::stream::DIAL_TIMED_OUT);
                }
                Cb::Empty | Cb::Lent => {}
            }
        }
        n
    }
}
