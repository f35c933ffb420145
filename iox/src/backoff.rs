//! [`Backoff`]: the Strike-Spin-Adapt ladder, and [`retry`], the loop that climbs it.
//!
//! *Strike*: the syscall itself. *Spin*: a bounded number of `spin_loop` hints, for the
//! microsecond in which a peer on another core usually answers. *Adapt*: `yield_now`, then
//! sleeps that grow to a cap, with jitter, and never past the deadline.

use std::time::Duration;

use crate::{Clock, Deadline, Error, Result, SystemClock};

/// How the sleeps of the *Adapt* phase grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ladder {
    /// Block-linear (the Go `iox.Backoff`): block `n` (from 1) performs `n` sleeps of
    /// `min(n * base, max)`: 1×base, 2×2·base, 3×3·base, ...
    BlockLinear {
        /// The first sleep.
        base: Duration,
        /// The cap.
        max: Duration,
    },
    /// Doubling from `first` to `cap`.
    Exponential {
        /// The first sleep.
        first: Duration,
        /// The cap.
        cap: Duration,
    },
    /// A fixed table, the last entry repeating (the Go `sock` network tiers).
    Tiers(&'static [Duration]),
}

/// A backoff's shape: spins, then yields, then the sleep ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// `spin_loop` hints before the first yield.
    pub spins: u32,
    /// `yield_now` calls before the first sleep.
    pub yields: u32,
    /// The sleeps.
    pub ladder: Ladder,
    /// ±12.5 % jitter on each sleep (xorshift64), so that many waiters do not wake together.
    pub jitter: bool,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The Go `sock` network tiers: 1, 2, 4, ... 128 ms, then +64 ms per tier to 640 ms.
const NETWORK_TIERS: &[Duration] = &[
    ms(1),
    ms(2),
    ms(4),
    ms(8),
    ms(16),
    ms(32),
    ms(64),
    ms(128),
    ms(192),
    ms(256),
    ms(320),
    ms(384),
    ms(448),
    ms(512),
    ms(576),
    ms(640),
];

impl BackoffConfig {
    /// For sockets and latency-sensitive waits (the default): 200 spins (a few
    /// microseconds), 20 yields, then sleeps doubling from 50 µs to 1 ms. A wait never lags
    /// readiness by more than about a millisecond plus the scheduler's latency.
    pub const LOW_LATENCY: BackoffConfig = BackoffConfig {
        spins: 200,
        yields: 20,
        ladder: Ladder::Exponential {
            first: Duration::from_micros(50),
            cap: ms(1),
        },
        jitter: true,
    };

    /// The Go `iox.Backoff` ladder: no spin, no yield, block-linear sleeps of 500 µs steps
    /// capped at 100 ms.
    pub const IOX: BackoffConfig = BackoffConfig {
        spins: 0,
        yields: 0,
        ladder: Ladder::BlockLinear {
            base: Duration::from_micros(500),
            max: ms(100),
        },
        jitter: true,
    };

    /// The Go `sock` network ladder, tuned there for mobile TCP handshakes: 1 ms doubling to
    /// 128 ms, then +64 ms steps to 640 ms. Not for low-latency paths.
    pub const NETWORK: BackoffConfig = BackoffConfig {
        spins: 0,
        yields: 0,
        ladder: Ladder::Tiers(NETWORK_TIERS),
        jitter: true,
    };
}

impl Default for BackoffConfig {
    fn default() -> BackoffConfig {
        BackoffConfig::LOW_LATENCY
    }
}

/// One rung of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// One `spin_loop` hint.
    Spin,
    /// One `yield_now`.
    Yield,
    /// A sleep of this length (before jitter and the deadline clamp).
    Sleep(Duration),
}

/// The state of one wait: where on the ladder it stands.
///
/// ```
/// use std::time::Duration;
/// use iox::{Backoff, BackoffConfig, Deadline, Step};
/// let mut b = Backoff::new(BackoffConfig::IOX);
/// assert_eq!(b.next_step(), Step::Sleep(Duration::from_micros(500)));
/// assert_eq!(b.next_step(), Step::Sleep(Duration::from_micros(1000)));
/// assert_eq!(b.next_step(), Step::Sleep(Duration::from_micros(1000)));
/// assert_eq!(b.next_step(), Step::Sleep(Duration::from_micros(1500)));
/// // A deadline that has passed ends the wait.
/// let mut b = Backoff::default();
/// assert!(b.wait(Deadline::after(Duration::ZERO)).unwrap_err().kind() == iox::ErrorKind::TimedOut);
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    config: BackoffConfig,
    /// Steps taken since the start (or the last reset).
    steps: u64,
    rng: u64,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(BackoffConfig::default())
    }
}

/// A per-backoff jitter seed from std's hash keys (random per thread, no allocation, no
/// syscall after the first), never zero.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::hash::RandomState::new().hash_one(0u8) | 1
}

impl Backoff {
    /// A backoff at the bottom of `config`'s ladder.
    pub fn new(config: BackoffConfig) -> Backoff {
        Backoff {
            config,
            steps: 0,
            rng: seed(),
        }
    }

    /// The same with a fixed jitter seed, for reproducible tests.
    pub fn with_seed(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            steps: 0,
            rng: seed | 1,
        }
    }

    /// The shape.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Back to the bottom of the ladder (the seed is kept).
    pub fn reset(&mut self) {
        self.steps = 0;
    }

    /// Steps taken since the start or the last reset.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The sleep the `k`-th sleep (from 0) of the ladder lasts, before jitter.
    pub fn sleep_for(ladder: Ladder, k: u64) -> Duration {
        match ladder {
            Ladder::BlockLinear { base, max } => {
                // Block n holds n sleeps: sleep k falls in the smallest n with n(n+1)/2 > k.
                let mut n: u64 = 1;
                while n * (n + 1) / 2 <= k {
                    n += 1;
                    if n.saturating_mul(base.as_nanos() as u64) >= max.as_nanos() as u64 {
                        return max;
                    }
                }
                base.saturating_mul(n as u32).min(max)
            }
            Ladder::Exponential { first, cap } => {
                if k >= 32 {
                    return cap;
                }
                first.saturating_mul(1u32 << k).min(cap)
            }
            Ladder::Tiers(t) => match t.len() {
                0 => Duration::ZERO,
                len => t[(k as usize).min(len - 1)],
            },
        }
    }

    /// The next rung, advancing the ladder.
    pub fn next_step(&mut self) -> Step {
        let s = self.steps;
        self.steps = self.steps.saturating_add(1);
        let spins = u64::from(self.config.spins);
        let yields = u64::from(self.config.yields);
        if s < spins {
            Step::Spin
        } else if s < spins + yields {
            Step::Yield
        } else {
            Step::Sleep(Backoff::sleep_for(self.config.ladder, s - spins - yields))
        }
    }

    /// `d` with ±12.5 % jitter (Go's xorshift64 rule: `d + d·(r−128)/1024`, `r` in 0..256).
    pub fn jitter(&mut self, d: Duration) -> Duration {
        if !self.config.jitter {
            return d;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let r = ((x >> 32) % 256) as i64 - 128;
        let ns = d.as_nanos().min(u64::MAX as u128) as i64;
        let delta = ns / 1024 * r;
        Duration::from_nanos(ns.saturating_add(delta).max(0) as u64)
    }

    /// Takes one rung with `clock`: `TimedOut` when `deadline` has passed; otherwise spins,
    /// yields or sleeps, a sleep clamped so that it never ends after the deadline.
    pub fn wait_with<C: Clock + ?Sized>(&mut self, deadline: Deadline, clock: &C) -> Result<()> {
        let now = clock.now();
        if deadline.has_passed_at(now) {
            return Err(Error::TIMED_OUT);
        }
        match self.next_step() {
            Step::Spin => clock.spin(),
            Step::Yield => clock.yield_now(),
            Step::Sleep(d) => {
                let mut d = self.jitter(d);
                if let Some(left) = deadline.remaining_at(now) {
                    d = d.min(left);
                }
                clock.sleep(d);
            }
        }
        Ok(())
    }

    /// [`wait_with`](Self::wait_with) on the [`SystemClock`].
    pub fn wait(&mut self, deadline: Deadline) -> Result<()> {
        self.wait_with(deadline, &SystemClock)
    }
}

/// Strike-Spin-Adapt: runs `op`; while it returns `WouldBlock`, climbs `backoff` and runs it
/// again, until it completes or `deadline` passes.
///
/// Without a deadline the first `WouldBlock` is returned at once (the non-blocking
/// contract). A deadline that has already passed gives `TimedOut` after the first attempt.
/// Any other result, success or error, is returned as it is.
///
/// ```
/// use std::time::Duration;
/// use iox::{Backoff, Deadline, Error, retry};
/// let mut tries = 0;
/// let r = retry(Deadline::after(Duration::from_secs(5)), &mut Backoff::default(), || {
///     tries += 1;
///     if tries < 3 { Err(Error::WOULD_BLOCK) } else { Ok(tries) }
/// });
/// assert_eq!(r, Ok(3));
/// assert_eq!(retry(Deadline::NONE, &mut Backoff::default(), || Err::<(), _>(Error::WOULD_BLOCK)),
///            Err(Error::WOULD_BLOCK));
/// ```
pub fn retry<T>(
    deadline: Deadline,
    backoff: &mut Backoff,
    op: impl FnMut() -> Result<T>,
) -> Result<T> {
    retry_with(deadline, backoff, &SystemClock, op)
}

/// [`retry`] with an explicit [`Clock`].
pub fn retry_with<T, C: Clock + ?Sized>(
    deadline: Deadline,
    backoff: &mut Backoff,
    clock: &C,
    op: impl FnMut() -> Result<T>,
) -> Result<T> {
    retry_watching_with(|| deadline, backoff, clock, op)
}

/// [`retry`] for a deadline that another thread may change during the wait: `deadline` is
/// called again before every rung, so a change reaches the waiter at its next step (within
/// one sleep of the ladder, at most its cap). Moved into the past, the wait ends with
/// `TimedOut`; cleared ([`Deadline::NONE`]), with `WouldBlock`, the non-blocking answer.
///
/// ```
/// use std::cell::Cell;
/// use std::time::Duration;
/// use iox::{Backoff, Deadline, Error, ErrorKind, retry_watching};
/// let deadline = Cell::new(Deadline::after(Duration::from_secs(3600)));
/// let mut tries = 0;
/// let r: iox::Result<()> = retry_watching(|| deadline.get(), &mut Backoff::default(), || {
///     tries += 1;
///     if tries == 3 {
///         deadline.set(Deadline::after(Duration::ZERO)); // as another thread might
///     }
///     Err(Error::WOULD_BLOCK)
/// });
/// assert_eq!(r.unwrap_err().kind(), ErrorKind::TimedOut);
/// assert_eq!(tries, 3);
/// ```
pub fn retry_watching<T>(
    deadline: impl FnMut() -> Deadline,
    backoff: &mut Backoff,
    op: impl FnMut() -> Result<T>,
) -> Result<T> {
    retry_watching_with(deadline, backoff, &SystemClock, op)
}

/// [`retry_watching`] with an explicit [`Clock`].
pub fn retry_watching_with<T, C: Clock + ?Sized>(
    mut deadline: impl FnMut() -> Deadline,
    backoff: &mut Backoff,
    clock: &C,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    loop {
        match op() {
            Err(e) if e.is_would_block() => {}
            other => return other,
        }
        let d = deadline();
        if d.is_none() {
            return Err(Error::WOULD_BLOCK);
        }
        backoff.wait_with(d, clock)?;
    }
}
