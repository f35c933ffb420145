//! The tables (ping-pong percentiles with ratios to the sonic-io hot loop, the goals
//! against the floor and mio, syscalls per round trip, the sweep, the idle turn) and the
//! summary lines for `cargo xtask bench`.

use std::io;
use std::time::Duration;

use testkit::bench::Figure;

use crate::harness::{
    CLIENT_CPU, Cost, Plan, Proto, Run, SERVER_CPU, Subject, cores, pin_failed, quantile,
};
use crate::sweep::SweepRow;

/// The percentiles of the table.
const PCTS: [(&str, f64); 6] = [
    ("min", 0.0),
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("max", 1.0),
];
/// Percentiles recorded in the summary only, for the percentile plot of `cargo xtask
/// bench` (p50 to p99.99 on a log scale).
const CURVE: [(&str, f64); 5] = [
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99.5", 0.995),
    ("p99.95", 0.9995),
    ("p99.99", 0.9999),
];

/// Everything a run measured.
pub(crate) struct Outcome {
    pub(crate) plan: Plan,
    pub(crate) results: Vec<(Proto, Subject, Run)>,
    pub(crate) sweep: Vec<SweepRow>,
    pub(crate) skipped: Vec<String>,
    /// Nanoseconds of one idle turn: sonic-io, mio.
    pub(crate) idle: io::Result<(f64, f64)>,
    /// The whole run, the ping-pong cases, the sweep.
    pub(crate) took: [Duration; 3],
}

fn cost_cells(c: Option<Cost>) -> String {
    match c {
        Some(c) if c.rounds > 0 => format!(
            "{:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2}",
            c.per(c.waits),
            c.per(c.reads),
            c.per(c.writes),
            c.per(c.other),
            c.per(c.total())
        ),
        _ => format!("{:>6} {:>6} {:>6} {:>6} {:>6}", "-", "-", "-", "-", "-"),
    }
}

/// The p50 and p99 of `subject` over `proto`, when it has samples.
fn p50_p99(o: &Outcome, proto: Proto, subject: Subject) -> Option<(f64, f64)> {
    o.results
        .iter()
        .find(|(p, s, r)| *p == proto && *s == subject && !r.rtts.is_empty())
        .map(|(_, _, r)| {
            (
                quantile(&r.rtts, 0.5) as f64,
                quantile(&r.rtts, 0.99) as f64,
            )
        })
}

/// The goals for `proto` as ratios of this run: sonic-io's hot loop over the raw
/// busy-poll floor (p50 at most 1.05, p99 at most 1.15) and over mio's hot loop (at most 1
/// at both); printed, and recorded as `sonic-io hot/<peer>` ratios.
fn goals(o: &Outcome, proto: Proto, names: &mut Vec<(String, String, String, f64)>) {
    let Some((h50, h99)) = p50_p99(o, proto, Subject::SonicHot) else {
        println!("{} goals: no sonic-io hot-loop samples", proto.name());
        return;
    };
    let mut parts = Vec::new();
    for (peer, goal50, goal99) in [(Subject::Floor, 1.05, 1.15), (Subject::MioHot, 1.0, 1.0)] {
        let Some((p50, p99)) = p50_p99(o, proto, peer) else {
            parts.push(format!("{}: no samples", peer.name()));
            continue;
        };
        let (r50, r99) = (h50 / p50, h99 / p99);
        let mark = |r: f64, g: f64| if r <= g { "met" } else { "not met" };
        parts.push(format!(
            "sonic-io hot / {}: p50 {r50:.2} (goal <= {goal50:.2}, {}), p99 {r99:.2} (goal <= {goal99:.2}, {})",
            peer.name(),
            mark(r50, goal50),
            mark(r99, goal99)
        ));
        for (pname, r) in [("p50", r50), ("p99", r99)] {
            names.push((
                format!("{} pingpong 64B {pname}", proto.name()),
                format!("sonic-io hot/{}", peer.name()),
                "ratio".into(),
                r,
            ));
        }
    }
    println!("{} goals: {}", proto.name(), parts.join("; "));
    // The io_uring backend against epoll, same mode (issue 19: uring's p99 no worse than
    // epoll's at one connection).
    let mut parts = Vec::new();
    for (uring, epoll) in [
        (Subject::SonicUringBlocking, Subject::SonicBlocking),
        (Subject::SonicUringHot, Subject::SonicHot),
    ] {
        let (Some((u50, u99)), Some((e50, e99))) =
            (p50_p99(o, proto, uring), p50_p99(o, proto, epoll))
        else {
            parts.push(format!("{}: no samples", uring.name()));
            continue;
        };
        let (r50, r99) = (u50 / e50, u99 / e99);
        parts.push(format!(
            "{} / {}: p50 {r50:.2}, p99 {r99:.2} ({})",
            uring.name(),
            epoll.name(),
            if r99 <= 1.0 {
                "p99 no worse"
            } else {
                "p99 worse"
            }
        ));
        for (pname, r) in [("p50", r50), ("p99", r99)] {
            names.push((
                format!("{} pingpong 64B {pname}", proto.name()),
                format!("{}/{}", uring.name(), epoll.name()),
                "ratio".into(),
                r,
            ));
        }
    }
    println!("{} io_uring: {}", proto.name(), parts.join("; "));
}

/// Prints the tables and appends the figures to the summary.
pub(crate) fn report(o: &Outcome) {
    // ---- the table
    let pinned = if cores() < 2 {
        "not pinned (1 core)".to_string()
    } else if pin_failed() {
        "pinning failed, threads unpinned".to_string()
    } else {
        format!("server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}")
    };
    println!();
    println!(
        "64-byte ping-pong RTT on loopback, ns: {} warm-up + {} measured round trips per case (cap {:?}); {} cores, {pinned}",
        o.plan.warmup,
        o.plan.measure,
        o.plan.cap,
        cores()
    );
    println!(
        "servers: each subject's own echo server on its own thread (sonic-io Io in the same mode and backend, std thread, mio loop in the same mode, tokio current_thread, monoio on io_uring, a non-blocking recv spin for the raw busy-poll floor)"
    );
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7}",
        "subject", "min", "p50", "p90", "p99", "p99.9", "max", "p50/hot", "p99/hot", "n"
    );
    let mut names: Vec<(String, String, String, f64)> = Vec::new();
    let mut hot_ref: Option<(f64, f64)> = None;
    for (proto, subject, run) in &o.results {
        let label = format!("{} {}", proto.name(), subject.name());
        if run.rtts.is_empty() {
            println!(
                "{label:<26} no samples: {}",
                run.error.as_deref().unwrap_or("none recorded")
            );
            if *subject == Subject::SonicHot {
                hot_ref = None;
            }
            continue;
        }
        let v = &run.rtts;
        let q: Vec<u64> = PCTS.iter().map(|&(_, p)| quantile(v, p)).collect();
        let (p50, p99) = (q[1] as f64, q[3] as f64);
        if *subject == Subject::SonicHot {
            hot_ref = Some((p50, p99));
        }
        let (r50, r99) = match hot_ref {
            Some((h50, h99)) => (p50 / h50, p99 / h99),
            None => (f64::NAN, f64::NAN),
        };
        let mut note = String::new();
        if run.cut {
            note.push_str("  (cut by the time cap)");
        }
        if let Some(e) = &run.error {
            note.push_str(&format!("  ({e})"));
        }
        println!(
            "{label:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8.2} {:>8.2} {:>7}{note}",
            q[0],
            q[1],
            q[2],
            q[3],
            q[4],
            q[5],
            r50,
            r99,
            v.len()
        );
        for (i, (pname, _)) in PCTS.iter().enumerate() {
            names.push((
                format!("{} pingpong 64B {pname}", proto.name()),
                subject.name().to_string(),
                "ns".into(),
                q[i] as f64,
            ));
        }
        for (pname, p) in CURVE {
            names.push((
                format!("{} pingpong 64B {pname}", proto.name()),
                subject.name().to_string(),
                "ns".into(),
                quantile(v, p) as f64,
            ));
        }
        if *subject != Subject::SonicHot && hot_ref.is_some() {
            for (pname, r) in [("p50", r50), ("p99", r99)] {
                names.push((
                    format!("{} pingpong 64B {pname}", proto.name()),
                    format!("{}/sonic-io hot", subject.name()),
                    "ratio".into(),
                    r,
                ));
            }
        }
    }

    // ---- the goals: ratios of this run
    println!();
    for proto in [Proto::Tcp, Proto::Udp] {
        goals(o, proto, &mut names);
    }

    // ---- syscalls per round trip
    println!();
    println!(
        "syscalls per measured round trip (sonic-io: Io::stats; mio and the floor: counted by this bench, client only; the floor's reads include every empty recv of its spin)"
    );
    println!(
        "{:<26} {:>6} {:>6} {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6} {:>6} {:>6}",
        "",
        "waits",
        "reads",
        "writes",
        "other",
        "total",
        "waits",
        "reads",
        "writes",
        "other",
        "total"
    );
    println!("{:<26} {:<34}   {:<34}", "", "client", "server");
    for (proto, subject, run) in &o.results {
        if run.client.is_none() && run.server.is_none() {
            continue;
        }
        println!(
            "{:<26} {}   {}",
            format!("{} {}", proto.name(), subject.name()),
            cost_cells(run.client),
            cost_cells(run.server)
        );
        for (side, c) in [("client", run.client), ("server", run.server)] {
            if let Some(c) = c.filter(|c| c.rounds > 0) {
                names.push((
                    format!(
                        "{} pingpong 64B {side} syscalls per round trip",
                        proto.name()
                    ),
                    subject.name().to_string(),
                    "syscalls".into(),
                    c.per(c.total()),
                ));
            }
        }
    }

    // ---- the sweep table
    println!();
    println!(
        "connection sweep, TCP, 64-byte messages, both ends in the same mode (client Io in a child process, server Io here, pinned to their own cores); each round one message per connection, all in flight"
    );
    println!(
        "{:<24} {:>11} {:>8} {:>10} {:>10} {:>9} {:>10}   {:>13} {:>13} {:>13} {:>13} {:>8}",
        "mode",
        "connections",
        "rounds",
        "messages",
        "ns/msg",
        "vs 100",
        "elapsed ms",
        "client waits",
        "client rd+wr",
        "server waits",
        "server rd+wr",
        "setup ms"
    );
    println!(
        "{:>100}(syscalls per message; waits of a hot loop include its empty polls; 1 connection is one round trip in flight, so \"vs 100\" compares pipelines)",
        ""
    );
    // One connection has one message in flight: a round trip, not a pipeline. The
    // comparison is against 100 connections of the same mode.
    let per_msg = |mode: crate::sweep::Mode, conns: usize| {
        o.sweep
            .iter()
            .find(|r| r.mode == mode && r.conns == conns && r.messages > 0)
            .map(SweepRow::ns_per_msg)
    };
    for row in &o.sweep {
        let per = row.ns_per_msg();
        let base = per_msg(row.mode, 100);
        let waits = |c: Option<Cost>| {
            c.filter(|c| c.rounds > 0)
                .map_or(f64::NAN, |c| c.per(c.waits))
        };
        let rw = |c: Option<Cost>| {
            c.filter(|c| c.rounds > 0)
                .map_or(f64::NAN, |c| c.per(c.total() - c.waits))
        };
        let mut note = String::new();
        if row.cut {
            note.push_str("  (cut by the time cap)");
        }
        if let Some(e) = &row.error {
            note.push_str(&format!("  ({e})"));
        }
        println!(
            "{:<24} {:>11} {:>8} {:>10} {:>10.0} {:>9.2} {:>10.1}   {:>13.2} {:>13.2} {:>13.2} {:>13.2} {:>8.0}{note}",
            row.mode.subject().name(),
            row.conns,
            row.rounds,
            row.messages,
            per,
            base.map_or(f64::NAN, |b| per / b),
            row.elapsed.as_secs_f64() * 1e3,
            waits(row.client),
            rw(row.client),
            waits(row.server),
            rw(row.server),
            row.setup.as_secs_f64() * 1e3
        );
        if row.messages > 0 {
            names.push((
                format!(
                    "tcp sweep 64B per message, {} connection{}",
                    row.conns,
                    if row.conns == 1 { "" } else { "s" }
                ),
                row.mode.subject().name().into(),
                "ns/msg".into(),
                per,
            ));
        }
    }
    // io_uring against epoll in the same loop: messages/s is the inverse of the cost.
    for row in o.sweep.iter().filter(|r| r.mode.uring && r.messages > 0) {
        if let Some(epoll) = per_msg(row.mode.on_epoll(), row.conns) {
            println!(
                "messages/s, {} / {} at {:>5} connections: {:.2}x",
                row.mode.subject().name(),
                row.mode.on_epoll().subject().name(),
                row.conns,
                epoll / row.ns_per_msg()
            );
        }
    }
    for s in &o.skipped {
        println!("{s}");
    }
    println!();
    match &o.idle {
        Ok((sonic, mio)) => {
            let (sonic, mio) = (*sonic, *mio);
            println!(
                "one idle hot-loop turn (nothing ready; includes the epoll_wait): sonic-io poll_one {sonic:.0} ns, mio poll(0) {mio:.0} ns"
            );
            names.push((
                "idle hot-loop turn".into(),
                "sonic-io hot".into(),
                "ns".into(),
                sonic,
            ));
            names.push((
                "idle hot-loop turn".into(),
                "mio hot".into(),
                "ns".into(),
                mio,
            ));
        }
        Err(e) => println!("idle hot-loop turn: not measured ({e})"),
    }
    println!();
    println!(
        "took {:.1} s: ping-pong cases {:.1} s, sweep {:.1} s",
        o.took[0].as_secs_f64(),
        o.took[1].as_secs_f64(),
        o.took[2].as_secs_f64()
    );

    let figures: Vec<Figure<'_>> = names
        .iter()
        .filter(|f| f.3.is_finite())
        .map(|(name, subject, unit, value)| Figure {
            name,
            subject,
            unit,
            value: *value,
        })
        .collect();
    if o.plan.partial {
        eprintln!("SONIC_BENCH_ONLY: a partial run, not recorded in the summary");
    } else if let Err(e) = testkit::bench::record("sonic-io", &figures) {
        eprintln!("cannot record the summary: {e}");
    }
}
