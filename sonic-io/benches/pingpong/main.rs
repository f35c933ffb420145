//! Loopback ping-pong: the round-trip time of one 64-byte message over TCP and UDP, as
//! percentiles in nanoseconds, for the sonic-io hot loop (`Io::poll_one` in a loop) and
//! blocking loop (`Io::run_one`), each on the epoll and on the io_uring backend, beside blocking `std::net`, mio (hot: a zero-timeout poll in
//! a loop; blocking: a poll whose timeout is the case's remaining time, the same
//! `epoll_wait` as `None` but bounded), tokio's current-thread runtime, monoio on its
//! io_uring driver (a completion-based peer: `RuntimeBuilder::<IoUringDriver>`, one thread)
//! and the floor (a raw busy-poll: both ends spinning on a non-blocking `recv`, no reactor),
//! all in one run. Each client talks to its own stack's echo server (a sonic-io `Io` in the
//! same mode for the sonic-io rows, a std thread for std, a mio loop in the same mode for
//! mio, a tokio runtime for tokio, a monoio runtime for monoio, a spinning thread for the
//! floor), the server on its own thread; with two or more cores the server is pinned to CPU 0
//! and the client to CPU 1 (`sonic_io::pin_thread`, `sched_setaffinity`). UDP servers stop at
//! an empty datagram sent after the client ends; every server and client also has a backstop
//! (a sonic-io `Timer`, a socket timeout, a tokio or monoio timeout, a deadline) past the
//! case's cap. When the kernel refuses monoio a ring (seccomp, `kernel.io_uring_disabled`,
//! user-mode QEMU), its rows say why and the run goes on. Every round trip is recorded in an
//! `hdrhistogram` (3 significant digits). Syscalls per round trip come from `Io::stats` for
//! sonic-io and from the bench's own counts for the mio and floor clients. After the tables,
//! the goals as ratios of this run: sonic-io's hot loop against the floor (p50, p99)
//! and against mio's hot loop; and the io_uring rows against the epoll rows of the same mode.
//!
//! Then a connection-count sweep: 1, 100, 1,000 and 10,000 TCP connections between a client
//! `Io` (in a child process, so that each process holds one end of every connection) and a
//! server `Io`, both ends on epoll and on io_uring, each in a hot and in a blocking loop;
//! each round sends one 64-byte message on every connection (all in flight at once) and
//! waits for every echo. The figure is the cost per message (elapsed / messages), which
//! should stay flat as connections grow; io_uring's messages/s are compared with epoll's
//! in the same loop.
//!
//! Every loop is bounded by a count and by time (2,000 warm-up round trips, 50,000 measured,
//! at most 20 s a case). `SONIC_BENCH_QUICK=1` or `-- --quick` cuts the counts tenfold and the
//! cap to 2 s. Figures are printed and appended to `target/bench-summary/sonic-io.jsonl`
//! (the summary also holds p75, p95, p99.5, p99.95 and p99.99, for the percentile plot of
//! `cargo xtask bench`). No figure is asserted.
//!
//! One file per subject: `harness.rs` (the plan, the recorder, the pinned pair of threads),
//! one per stack (`sonic.rs`, `std_net.rs`, `mio_loop.rs`, `tokio_rt.rs`, `monoio_rt.rs`,
//! `floor.rs`), `sweep.rs`, `idle.rs` (one empty hot-loop turn), `report.rs` (the tables and
//! the summary) and `sys.rs` (the descriptor limit, its one `unsafe`).
//!
//! `SONIC_BENCH_ONLY` names the cases to run, comma-separated, each the case's name in the
//! tables or a part of it (`SONIC_BENCH_ONLY="tcp sonic-io blocking,tcp sonic-io uring
//! blocking"`; `sweep` names the sweep, `sweep sonic-io uring blocking at 1000 connections`
//! one of its rows): the others are skipped, and a partial run records nothing in the
//! summary.
//!
//! `cargo bench -p sonic-io --bench pingpong [-- --quick]`

#[cfg(target_os = "linux")]
mod floor;
#[cfg(target_os = "linux")]
mod harness;
#[cfg(target_os = "linux")]
mod idle;
#[cfg(target_os = "linux")]
mod mio_loop;
#[cfg(target_os = "linux")]
mod monoio_rt;
#[cfg(target_os = "linux")]
mod report;
#[cfg(target_os = "linux")]
mod sonic;
#[cfg(target_os = "linux")]
mod std_net;
#[cfg(target_os = "linux")]
mod sweep;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
mod tokio_rt;

fn main() {
    #[cfg(target_os = "linux")]
    run();
    #[cfg(not(target_os = "linux"))]
    println!(
        "sonic-io pingpong: linux only (its mio, tokio and monoio peers are Linux dev-dependencies)"
    );
}

#[cfg(target_os = "linux")]
fn run() {
    use std::time::Instant;

    use harness::{Plan, Proto, SUBJECTS};

    let plan = Plan::from_env();
    if sweep::child(plan) {
        return;
    }
    let t_all = Instant::now();
    eprintln!(
        "sonic-io pingpong ({} mode): {} warm-up + {} measured round trips per case, {:?} cap",
        if plan.quick { "quick" } else { "full" },
        plan.warmup,
        plan.measure,
        plan.cap
    );
    let mut results = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp] {
        for subject in SUBJECTS {
            if !plan.selected(proto, subject) {
                continue;
            }
            let t = Instant::now();
            let run = run_case(plan, proto, subject);
            eprintln!(
                "  {} {:<22} {:>6} samples, mean {:>8.0} ns, in {:>6.2} s{}",
                proto.name(),
                subject.name(),
                run.rtts.len(),
                if run.rtts.is_empty() {
                    0.0
                } else {
                    run.rtts.mean()
                },
                t.elapsed().as_secs_f64(),
                run.error
                    .as_deref()
                    .map(|e| format!("  ERROR: {e}"))
                    .unwrap_or_default()
            );
            results.push((proto, subject, run));
        }
    }
    let t_cases = t_all.elapsed();
    let t_sweep = Instant::now();
    let (sweep, skipped) = if sweep::wanted(plan) {
        sweep::sweep(plan)
    } else {
        (
            Vec::new(),
            vec!["the sweep: SONIC_BENCH_ONLY does not name it".to_owned()],
        )
    };
    let t_sweep = t_sweep.elapsed();
    let idle = idle::idle_turns(if plan.quick { 20_000 } else { 200_000 });
    report::report(&report::Outcome {
        plan,
        results,
        sweep,
        skipped,
        idle,
        took: [t_all.elapsed(), t_cases, t_sweep],
    });
}

/// One case: `subject`'s echo server and client over `proto`, on the pinned pair of threads.
#[cfg(target_os = "linux")]
fn run_case(plan: harness::Plan, proto: harness::Proto, subject: harness::Subject) -> harness::Run {
    use harness::{Proto, Run, SERVER_SLACK, Subject, pair, str_err};

    let backstop_after = plan.cap + SERVER_SLACK;
    let warm = plan.warmup as u64;
    let hot = subject.hot();
    let backend = subject.backend();
    let none = |r: std::io::Result<()>| str_err(r).map(|()| None);
    match proto {
        Proto::Tcp => {
            let l = match std::net::TcpListener::bind("127.0.0.1:0") {
                Ok(l) => l,
                Err(e) => return Run::failed(format!("bind: {e}")),
            };
            let addr = l.local_addr().expect("local_addr");
            match subject {
                Subject::SonicHot
                | Subject::SonicBlocking
                | Subject::SonicUringHot
                | Subject::SonicUringBlocking => {
                    let l = match sock::TcpListener::try_from(l) {
                        Ok(l) => l,
                        Err(e) => return Run::failed(e.to_string()),
                    };
                    pair(
                        None,
                        move || sonic::sonic_tcp_server(l, backend, hot, warm, 64, backstop_after),
                        move || sonic::sonic_tcp_client(addr, backend, hot, plan),
                    )
                }
                Subject::Std => pair(
                    None,
                    move || none(std_net::std_tcp_server(l, backstop_after)),
                    move || std_net::std_tcp_client(addr, plan),
                ),
                Subject::MioHot | Subject::MioBlocking => pair(
                    None,
                    move || none(mio_loop::mio_tcp_server(l, hot, backstop_after)),
                    move || mio_loop::mio_tcp_client(addr, hot, plan),
                ),
                Subject::Tokio => pair(
                    None,
                    move || none(tokio_rt::tokio_tcp_server(l, backstop_after)),
                    move || tokio_rt::tokio_client(addr, Proto::Tcp, plan),
                ),
                Subject::MonoioUring => match monoio_rt::probe() {
                    Err(e) => Run::failed(e),
                    Ok(()) => pair(
                        None,
                        move || none(monoio_rt::monoio_tcp_server(l, backstop_after)),
                        move || monoio_rt::monoio_client(addr, Proto::Tcp, plan),
                    ),
                },
                Subject::Floor => pair(
                    None,
                    move || none(floor::tcp_server(l, backstop_after)),
                    move || floor::tcp_client(addr, plan),
                ),
            }
        }
        Proto::Udp => {
            let s = match std::net::UdpSocket::bind("127.0.0.1:0") {
                Ok(s) => s,
                Err(e) => return Run::failed(format!("bind: {e}")),
            };
            let addr = s.local_addr().expect("local_addr");
            let bye = Some(addr);
            match subject {
                Subject::SonicHot
                | Subject::SonicBlocking
                | Subject::SonicUringHot
                | Subject::SonicUringBlocking => pair(
                    bye,
                    move || sonic::sonic_udp_server(s, backend, hot, warm, backstop_after),
                    move || sonic::sonic_udp_client(addr, backend, hot, plan),
                ),
                Subject::Std => pair(
                    bye,
                    move || none(std_net::std_udp_server(s, backstop_after)),
                    move || std_net::std_udp_client(addr, plan),
                ),
                Subject::MioHot | Subject::MioBlocking => pair(
                    bye,
                    move || none(mio_loop::mio_udp_server(s, hot, backstop_after)),
                    move || mio_loop::mio_udp_client(addr, hot, plan),
                ),
                Subject::Tokio => pair(
                    bye,
                    move || none(tokio_rt::tokio_udp_server(s, backstop_after)),
                    move || tokio_rt::tokio_client(addr, Proto::Udp, plan),
                ),
                Subject::MonoioUring => match monoio_rt::probe() {
                    Err(e) => Run::failed(e),
                    Ok(()) => pair(
                        bye,
                        move || none(monoio_rt::monoio_udp_server(s, backstop_after)),
                        move || monoio_rt::monoio_client(addr, Proto::Udp, plan),
                    ),
                },
                Subject::Floor => pair(
                    bye,
                    move || none(floor::udp_server(s, backstop_after)),
                    move || floor::udp_client(addr, plan),
                ),
            }
        }
    }
}
