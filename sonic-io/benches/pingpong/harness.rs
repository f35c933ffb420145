//! What every stack's harness shares: the plan, the recorder of round trips (an
//! `hdrhistogram`), the syscall costs, one case's outcome, the subjects, and the pair of
//! pinned threads a case runs on.

use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sonic_io::Stats;

pub(crate) const MSG_LEN: usize = 64;
pub(crate) static MSG: [u8; MSG_LEN] = [0x5a; MSG_LEN];
pub(crate) const SERVER_CPU: usize = 0;
pub(crate) const CLIENT_CPU: usize = 1;
/// How long past the case cap a client's own backstop waits before giving up.
pub(crate) const CLIENT_SLACK: Duration = Duration::from_secs(1);
/// How long past the case cap (and setup) a server waits before giving up.
pub(crate) const SERVER_SLACK: Duration = Duration::from_secs(5);
/// The largest round trip the histogram tells apart (larger ones saturate to it): 60 s,
/// past every backstop.
const HIST_MAX_NS: u64 = 60_000_000_000;

static PIN_FAILED: AtomicBool = AtomicBool::new(false);

// -----------------------------------------------------------------------------------------
// The plan, the samples, the costs

#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) quick: bool,
    pub(crate) warmup: usize,
    pub(crate) measure: usize,
    /// The longest one case's rounds may take.
    pub(crate) cap: Duration,
    /// Messages per sweep row (rounds = messages / connections, at least 3).
    pub(crate) sweep_msgs: usize,
    /// The longest a sweep row's connection setup may take.
    pub(crate) setup_cap: Duration,
    /// `SONIC_BENCH_ONLY` is set: only the cases it names run ([`Plan::selected`]), and
    /// the sweep only if it names `sweep`; nothing is recorded in the summary (a partial
    /// run never feeds the report of `cargo xtask bench`).
    pub(crate) partial: bool,
}

impl Plan {
    pub(crate) fn from_env() -> Plan {
        let quick = std::env::args().skip(1).any(|a| a == "--quick")
            || std::env::var("SONIC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let (warmup, measure, cap, sweep_msgs) = if quick {
            (200, 5_000, Duration::from_secs(2), 20_000)
        } else {
            (2_000, 50_000, Duration::from_secs(20), 200_000)
        };
        Plan {
            quick,
            warmup,
            measure,
            cap,
            sweep_msgs,
            setup_cap: Duration::from_secs(20),
            partial: std::env::var_os("SONIC_BENCH_ONLY").is_some(),
        }
    }

    /// Whether the case `proto subject` (as the tables name it, `tcp sonic-io uring
    /// blocking`) runs: always, unless `SONIC_BENCH_ONLY` holds a comma-separated list of
    /// names, one of which must be the case's or a part of it.
    pub(crate) fn selected(self, proto: Proto, subject: Subject) -> bool {
        self.wants(&format!("{} {}", proto.name(), subject.name()))
    }

    /// Whether the part named `what` runs: always, unless `SONIC_BENCH_ONLY` is set and
    /// none of its comma-separated names is `what` or a part of it (`sweep` names the
    /// connection sweep).
    pub(crate) fn wants(self, what: &str) -> bool {
        !self.partial
            || std::env::var("SONIC_BENCH_ONLY").is_ok_and(|only| {
                only.split(',')
                    .map(str::trim)
                    .any(|want| !want.is_empty() && what.contains(want))
            })
    }
}

/// An empty latency histogram in nanoseconds: 1 ns to 60 s at 3 significant digits, so a
/// percentile is within 0.1 % of the sample it names. Allocated once, before the measured
/// loop; recording never allocates.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("valid histogram bounds")
}

/// The value at quantile `q` of `h`: 0 is the smallest recorded, 1 the largest.
pub(crate) fn quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if q <= 0.0 {
        h.min()
    } else if q >= 1.0 {
        h.max()
    } else {
        h.value_at_quantile(q)
    }
}

/// Round-trip times of one client: the warm-up is counted, not kept.
#[derive(Debug)]
pub(crate) struct Recorder {
    warmup: usize,
    total: usize,
    pub(crate) deadline: Instant,
    done: usize,
    pub(crate) rtts: Histogram<u64>,
}

impl Recorder {
    pub(crate) fn new(plan: &Plan) -> Recorder {
        Recorder {
            warmup: plan.warmup,
            total: plan.warmup + plan.measure,
            deadline: Instant::now() + plan.cap,
            done: 0,
            rtts: histogram(),
        }
    }

    /// Records the round trip that started at `t0`; `false` once the case is over (its
    /// count reached or its cap passed).
    #[inline]
    pub(crate) fn record(&mut self, t0: Instant) -> bool {
        let t1 = Instant::now();
        self.done += 1;
        if self.done > self.warmup {
            self.rtts
                .saturating_record(t1.duration_since(t0).as_nanos() as u64);
        }
        self.done < self.total && t1 < self.deadline
    }

    /// Whether the round just recorded was the last of the warm-up.
    #[inline]
    pub(crate) fn warm_ended(&self) -> bool {
        self.done == self.warmup
    }

    /// Measured round trips so far.
    pub(crate) fn measured(&self) -> u64 {
        self.rtts.len()
    }

    pub(crate) fn finish(self, client: Option<Cost>, error: Option<String>) -> Run {
        Run {
            cut: self.done < self.total,
            rtts: self.rtts,
            client,
            server: None,
            error,
        }
    }
}

/// Syscalls over `rounds` measured round trips (or messages).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cost {
    pub(crate) waits: u64,
    pub(crate) reads: u64,
    pub(crate) writes: u64,
    /// `epoll_ctl` and timer arms.
    pub(crate) other: u64,
    pub(crate) rounds: u64,
}

impl Cost {
    pub(crate) fn from_stats(s: Stats, rounds: u64) -> Cost {
        Cost {
            waits: s.waits,
            reads: s.reads,
            writes: s.writes,
            other: s.ctl + s.timer_arms,
            rounds,
        }
    }
    pub(crate) fn total(&self) -> u64 {
        self.waits + self.reads + self.writes + self.other
    }
    pub(crate) fn per(&self, x: u64) -> f64 {
        if self.rounds == 0 {
            f64::NAN
        } else {
            x as f64 / self.rounds as f64
        }
    }
}

/// One case's outcome.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) rtts: Histogram<u64>,
    /// Stopped by the time cap before its count.
    pub(crate) cut: bool,
    pub(crate) client: Option<Cost>,
    pub(crate) server: Option<Cost>,
    pub(crate) error: Option<String>,
}

impl Run {
    pub(crate) fn failed(e: String) -> Run {
        Run {
            rtts: histogram(),
            cut: false,
            client: None,
            server: None,
            error: Some(e),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Subject {
    SonicHot,
    SonicBlocking,
    /// sonic-io on its io_uring backend (readiness from multishot polls).
    SonicUringHot,
    SonicUringBlocking,
    Std,
    MioHot,
    MioBlocking,
    Tokio,
    /// monoio's io_uring driver, a runtime on the current thread.
    MonoioUring,
    /// The floor: a non-blocking `recv` spin on both ends, no reactor at all.
    Floor,
}

/// The subjects, in the order they run and print. The sonic-io hot loop comes first: the
/// ratios of the rows below it divide by it.
pub(crate) const SUBJECTS: [Subject; 10] = [
    Subject::SonicHot,
    Subject::SonicBlocking,
    Subject::SonicUringHot,
    Subject::SonicUringBlocking,
    Subject::Std,
    Subject::MioHot,
    Subject::MioBlocking,
    Subject::Tokio,
    Subject::MonoioUring,
    Subject::Floor,
];

impl Subject {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Subject::SonicHot => "sonic-io hot",
            Subject::SonicBlocking => "sonic-io blocking",
            Subject::SonicUringHot => "sonic-io uring hot",
            Subject::SonicUringBlocking => "sonic-io uring blocking",
            Subject::Std => "std blocking",
            Subject::MioHot => "mio hot",
            Subject::MioBlocking => "mio blocking",
            Subject::Tokio => "tokio current_thread",
            Subject::MonoioUring => "monoio io_uring",
            Subject::Floor => "raw busy-poll",
        }
    }

    /// The sonic-io backend of a sonic-io subject (epoll for the others, unused).
    pub(crate) fn backend(self) -> sonic_io::Backend {
        match self {
            Subject::SonicUringHot | Subject::SonicUringBlocking => sonic_io::Backend::Uring,
            _ => sonic_io::Backend::Epoll,
        }
    }

    /// A hot loop (spinning on a zero-timeout wait) rather than a blocking one.
    pub(crate) fn hot(self) -> bool {
        matches!(
            self,
            Subject::SonicHot | Subject::SonicUringHot | Subject::MioHot
        )
    }
}

// -----------------------------------------------------------------------------------------
// Threads

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn pin(cpu: usize) {
    if cores() >= 2 && sonic_io::pin_thread(cpu).is_err() {
        // Best effort: an unpinned run is still a valid run; the header says so.
        PIN_FAILED.store(true, Ordering::Relaxed);
    }
}

/// Whether a thread could not be pinned.
pub(crate) fn pin_failed() -> bool {
    PIN_FAILED.load(Ordering::Relaxed)
}

pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// Runs `server` and `client` on their own (pinned) threads; after the client ends, sends
/// an empty datagram to `udp_bye` (the UDP servers' signal to stop).
pub(crate) fn pair<S, C>(udp_bye: Option<SocketAddr>, server: S, client: C) -> Run
where
    S: FnOnce() -> Result<Option<Cost>, String> + Send + 'static,
    C: FnOnce() -> Run + Send + 'static,
{
    let s = std::thread::Builder::new()
        .name("echo-server".into())
        .spawn(move || {
            pin(SERVER_CPU);
            server()
        })
        .expect("spawn the server");
    let c = std::thread::Builder::new()
        .name("client".into())
        .spawn(move || {
            pin(CLIENT_CPU);
            client()
        })
        .expect("spawn the client");
    let mut run = c
        .join()
        .unwrap_or_else(|p| Run::failed(format!("client: {}", panic_text(&*p))));
    if let Some(to) = udp_bye
        && let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0")
    {
        // Two, in case one is lost; the servers' own backstops cover the rest.
        let _ = s.send_to(&[], to);
        let _ = s.send_to(&[], to);
    }
    match s.join() {
        Ok(Ok(cost)) => run.server = cost,
        Ok(Err(e)) => {
            run.error.get_or_insert(format!("server: {e}"));
        }
        Err(p) => {
            run.error
                .get_or_insert(format!("server: {}", panic_text(&*p)));
        }
    }
    run
}

pub(crate) fn str_err<T>(r: io::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

// -----------------------------------------------------------------------------------------
// Non-blocking sockets without a poller (mio's harness and the floor)

/// Retries a non-blocking call that met `WouldBlock` (a full socket buffer: not expected
/// with one message in flight) until `deadline`.
#[inline]
pub(crate) fn retry(
    deadline: Instant,
    count: &mut u64,
    mut f: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        *count += 1;
        match f() {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(ErrorKind::TimedOut, "socket stayed full"));
                }
                std::hint::spin_loop();
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn write_spin(
    w: &mut impl Write,
    mut buf: &[u8],
    deadline: Instant,
    count: &mut u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = retry(deadline, count, || w.write(buf))?;
        if n == 0 {
            return Err(ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}
