//! BENCHMARKS.md and the README section from a run's figures: fixed sections, rows in a
//! fixed order, numbers in fixed formats, and the plots (`benchmarks/*.svg`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::{
    AllocRow, BUFFERS, CURVE, DECODE_SIZES, Figures, Machine, PING_SUBJECTS, UDP_SUBJECTS,
    URING_SUBJECTS,
};
use crate::plot;

/// Nanoseconds with a unit that keeps 3 significant digits.
fn ns(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} µs", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.2} µs", v / 1e3)
    } else {
        format!("{v:.1} ns")
    }
}

fn ratio(v: f64) -> String {
    format!("{v:.2}×")
}

fn value(unit: &str, v: f64) -> String {
    match unit {
        "ns" | "ns/op" | "ns/msg" => ns(v),
        "ratio" => ratio(v),
        u if u.ends_with("/s") => format!("{} {u}", plot::short_number(v)),
        _ => format!("{v:.2} {unit}"),
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".into(), f)
}

/// The criterion estimate and throughput of `group/bench` (ns per iteration, bytes per
/// iteration).
fn criterion_throughput(dir: &Path, group: &str, bench: &str) -> Option<(f64, f64)> {
    let base = dir.join(group).join(bench).join("new");
    let est: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("estimates.json")).ok()?).ok()?;
    let ns = est["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| est["mean"]["point_estimate"].as_f64())?;
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("benchmark.json")).ok()?).ok()?;
    let bytes = b["throughput"]["Bytes"].as_f64()?;
    Some((ns, bytes))
}

/// Whether a column holds figures (right-aligned) rather than names.
fn is_numeric(head: &str) -> bool {
    !matches!(
        head,
        "" | "subject"
            | "mode"
            | "messages"
            | "buffer"
            | "benchmark"
            | "case"
            | "work"
            | "stack"
            | "per"
            | "which"
            | "crate"
            | "hot path"
            | "test"
            | "TCP, 64 B"
    )
}

/// A Markdown table: text columns left-aligned, figures right-aligned.
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        head.iter()
            .map(|h| if is_numeric(h) { "---:|" } else { "---|" })
            .collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

fn pingpong_curves(figs: &Figures, proto: &str) -> Vec<plot::Curve> {
    PING_SUBJECTS
        .iter()
        .filter_map(|s| {
            let points: Vec<(f64, f64)> = CURVE
                .iter()
                .filter_map(|(p, q)| {
                    figs.get("sonic-io", &format!("{proto} pingpong 64B {p}"), s, "ns")
                        .map(|v| (*q, v / 1e3))
                })
                .collect();
            (points.len() == CURVE.len()).then(|| plot::Curve {
                name: (*s).into(),
                points,
            })
        })
        .collect()
}

fn pingpong_table(out: &mut String, figs: &Figures, proto: &str) -> usize {
    let cols = ["min", "p50", "p90", "p99", "p99.9", "p99.99", "max"];
    let mut rows = Vec::new();
    let hot = |p: &str| {
        figs.get(
            "sonic-io",
            &format!("{proto} pingpong 64B {p}"),
            "sonic-io hot",
            "ns",
        )
    };
    for s in PING_SUBJECTS {
        let mut r = vec![(*s).to_string()];
        let mut any = false;
        for c in cols {
            let v = figs.get("sonic-io", &format!("{proto} pingpong 64B {c}"), s, "ns");
            any |= v.is_some();
            r.push(opt(v, ns));
        }
        for p in ["p50", "p99"] {
            let v = figs.get("sonic-io", &format!("{proto} pingpong 64B {p}"), s, "ns");
            r.push(opt(v.zip(hot(p)), |(a, b)| ratio(a / b)));
        }
        for side in ["client", "server"] {
            r.push(opt(
                figs.get(
                    "sonic-io",
                    &format!("{proto} pingpong 64B {side} syscalls per round trip"),
                    s,
                    "syscalls",
                ),
                |v| format!("{v:.2}"),
            ));
        }
        if any {
            rows.push(r);
        }
    }
    let n = rows.len();
    table(
        out,
        &[
            "subject",
            "min",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "p99.99",
            "max",
            "p50 / hot",
            "p99 / hot",
            "client syscalls/RT",
            "server syscalls/RT",
        ],
        &rows,
    );
    n
}

/// The issue's latency goals for `proto`, as the bench recorded them: sonic-io's hot loop
/// over the floor (p50 at most 1.05×, p99 at most 1.15×) and over mio's hot loop (at most
/// 1× at both).
fn pingpong_goals(figs: &Figures, proto: &str) -> String {
    let mut parts = Vec::new();
    for (peer, g50, g99) in [("raw busy-poll", 1.05, 1.15), ("mio hot", 1.0, 1.0)] {
        let r = |p: &str| {
            figs.get(
                "sonic-io",
                &format!("{proto} pingpong 64B {p}"),
                &format!("sonic-io hot/{peer}"),
                "ratio",
            )
        };
        let cell = |v: Option<f64>, g: f64| {
            opt(v, |v| {
                format!(
                    "{} (goal ≤ {}, {})",
                    ratio(v),
                    ratio(g),
                    if v <= g { "met" } else { "not met" }
                )
            })
        };
        parts.push(format!(
            "sonic-io hot / {peer}: p50 {}, p99 {}",
            cell(r("p50"), g50),
            cell(r("p99"), g99)
        ));
    }
    format!("Goals, this run: {}.\n\n", parts.join("; "))
}

fn syscall_table(out: &mut String, figs: &Figures) -> usize {
    // Cases in the order the bench wrote them.
    let mut cases: Vec<(String, String, String)> = Vec::new();
    for f in figs.of_crate("syscalls") {
        if let Some(per) = f
            .unit
            .strip_prefix("calls/")
            .and_then(|u| u.strip_suffix(" total"))
        {
            cases.push((f.name.clone(), f.subject.clone(), per.to_string()));
        }
    }
    let mut rows = Vec::new();
    for (work, subject, per) in &cases {
        let prefix = format!("calls/{per} ");
        let detail: BTreeMap<&str, f64> = figs
            .of_crate("syscalls")
            .filter(|f| &f.name == work && &f.subject == subject)
            .filter_map(|f| {
                let n = f.unit.strip_prefix(&prefix)?;
                (n != "total").then_some((n, f.value))
            })
            .collect();
        let total = figs
            .get("syscalls", work, subject, &format!("calls/{per} total"))
            .unwrap_or(f64::NAN);
        rows.push(vec![
            work.clone(),
            subject.clone(),
            per.clone(),
            format!("{total:.2}"),
            detail
                .iter()
                .map(|(n, v)| format!("`{n}` {v:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    table(out, &["work", "stack", "per", "syscalls", "which"], &rows);
    rows.len()
}

pub(super) fn alloc_table(rows: &[AllocRow]) -> String {
    let mut out = String::new();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!("`{}`", r.krate),
                r.path.clone(),
                r.ops.to_string(),
                r.allocs.to_string(),
                r.bytes.to_string(),
                if r.ops == 0 {
                    "–".into()
                } else {
                    format!("{}", r.allocs as f64 / r.ops as f64)
                },
                format!("`{}/tests/alloc.rs` `{}`", r.krate, r.test),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "crate",
            "hot path",
            "operations",
            "allocations",
            "bytes",
            "per operation",
            "test",
        ],
        &body,
    );
    out
}

/// The TLS subjects of `sonic-tls/benches/echo.rs`, in the tables' order.
const TLS_SUBJECTS: &[&str] = &["sonic-tls hot", "sonic-tls blocking", "tokio-rustls"];

/// TLS 1.3 echo round trips against tokio-rustls, and the handshake rate.
fn tls_section(o: &mut String, figs: &Figures) -> Result<(), String> {
    let _ = writeln!(o, "## TLS: echo round trips and handshakes\n");
    let _ = writeln!(
        o,
        "`sonic-tls/benches/echo.rs`: TLS 1.3 (rustls with ring on both sides), one message in \
         flight on loopback, client and server on threads of their own; sonic-tls's hot and \
         blocking loops against tokio's current-thread runtime with tokio-rustls. \"/ tokio-rustls\" \
         divides by tokio-rustls's figure at the same percentile.\n"
    );
    let mut any = false;
    for size in ["64 B", "16384 B"] {
        let mut rows = Vec::new();
        for s in TLS_SUBJECTS {
            let mut row = vec![format!("{s}")];
            for p in ["p50", "p99", "p99.9"] {
                let name = format!("TLS 1.3 echo {size} {p}");
                let v = figs.get("sonic-tls", &name, s, "ns");
                let peer = figs.get("sonic-tls", &name, "tokio-rustls", "ns");
                any |= v.is_some();
                row.push(opt(v, ns));
                if p != "p99.9" {
                    row.push(opt(v.zip(peer), |(a, b)| ratio(a / b)));
                }
            }
            rows.push(row);
        }
        let _ = writeln!(o, "### {size}\n");
        table(
            o,
            &[
                "subject",
                "p50",
                "p50 / tokio-rustls",
                "p99",
                "p99 / tokio-rustls",
                "p99.9",
            ],
            &rows,
        );
    }
    if !any {
        return Err("no TLS echo figures".into());
    }
    let rows: Vec<Vec<String>> = ["sonic-tls", "tokio-rustls"]
        .iter()
        .map(|s| {
            vec![
                (*s).to_string(),
                opt(
                    figs.get("sonic-tls", "TLS 1.3 handshakes", s, "per s"),
                    |v| format!("{v:.0}"),
                ),
            ]
        })
        .collect();
    let _ = writeln!(
        o,
        "Full TLS 1.3 handshakes per second, one at a time (same bench), each stack's the median of \
         rounds that alternate the two (one sequential sample each moved the ratio by up to a \
         sixth between runs of the same code):\n"
    );
    table(o, &["subject", "handshakes/s"], &rows);
    Ok(())
}

/// `sonic-io/benches/shards.rs`: one Io against two on this machine, and where the CPUs went.
fn shards_section(o: &mut String, figs: &Figures) {
    let get = |name: &str, s: &str, unit: &str| figs.get("sonic-io", name, s, unit);
    let (Some(one), Some(two)) = (
        get("sharded echo msgs/s", "1 Io", "msg/s"),
        get("sharded echo msgs/s", "2 Ios", "msg/s"),
    ) else {
        return;
    };
    let _ = writeln!(o, "## Scale-out: one Io per core\n");
    let _ = writeln!(
        o,
        "`sonic-io/benches/shards.rs`: a 64-byte TCP echo served by `shard::Shards` with 1 and \
         with 2 Ios (one per core, SO_REUSEPORT, the kernel's hash), the clients in a child \
         process (2 threads x 16 connections, one message in flight each) for a fixed time.\n"
    );
    let rows: Vec<Vec<String>> = [("1 Io", one), ("2 Ios", two)]
        .iter()
        .map(|(s, v)| {
            vec![
                (*s).to_string(),
                format!("{v:.0}"),
                opt(get("sharded echo p99", s, "us"), |p| format!("{p:.0} µs")),
                ratio(v / one),
            ]
        })
        .collect();
    table(o, &["server", "messages/s", "p99", "/ 1 Io"], &rows);
    let cpu = |s: &str| get("sharded echo CPUs busy", s, "CPUs");
    if let (Some(server), Some(clients), Some(others), Some(stolen)) = (
        cpu("server"),
        cpu("clients"),
        cpu("other processes"),
        cpu("other processes, most in a run"),
    ) {
        let verdict = if stolen > 0.1 {
            "other processes took CPU time during the runs, so the ratio measures the machine's \
             load as much as the scaling"
        } else {
            "the clients share the cores with the server, so the ratio is a floor of the scaling, \
             not the scaling"
        };
        let _ = writeln!(
            o,
            "With 2 Ios the CPUs were busy {:.2} (server {server:.2}, clients {clients:.2}, other \
             processes {others:.2}; others took up to {stolen:.2} in a run): {verdict}. On two \
             cores the clients cannot be kept off the server's cores, so the issue's 1.8x goal is \
             not measurable here; `sonic-io/DESIGN.md` section 17 puts the per-core costs at 16 \
             and 64 cores on paper.\n",
            server + clients + others
        );
    }
}

/// The round-trip subjects of `sonic-websocket/benches/echo.rs`, in the tables' order: the
/// two peers first, then ours.
const WS_SUBJECTS: &[&str] = &[
    "tokio-tungstenite",
    "fastwebsockets",
    "sonic-websocket hot",
    "sonic-websocket blocking",
    "sonic-websocket hot, deflate",
    "sonic-websocket blocking, deflate",
];
const WS_PEERS: &[&str] = &["tokio-tungstenite", "fastwebsockets"];
const WS_SIZES: &[&str] = &["64 B", "1 KiB", "16 KiB"];
const WS_SHAPES: &[&str] = &["100 connections x 20 B", "200 connections x 16 KiB"];
const WS_LOAD_SUBJECTS: &[&str] = &[
    "tokio-tungstenite",
    "fastwebsockets",
    "sonic-websocket hot",
    "sonic-websocket blocking",
];

/// The lower of the peers' figures (latency: the best peer).
fn ws_best_peer(figs: &Figures, name: &str) -> Option<f64> {
    WS_PEERS
        .iter()
        .filter_map(|p| figs.get("sonic-websocket", name, p, "ns"))
        .reduce(f64::min)
}

/// WebSocket echo round trips and throughput against tokio-tungstenite and fastwebsockets.
fn ws_section(o: &mut String, figs: &Figures) -> Result<(), String> {
    let _ = writeln!(o, "## WebSocket: echo round trips and throughput\n");
    let _ = writeln!(
        o,
        "`sonic-websocket/benches/echo.rs`: binary messages of JSON-like text on loopback, one \
         in flight, each client against a server of its own stack on a thread of its own \
         (server pinned to CPU 0, client to CPU 1); sonic-websocket's hot and blocking loops, \
         with and without permessage-deflate (no peer has it: those rows stand alone), against \
         tokio-tungstenite and fastwebsockets (its plain `WebSocket`, upgrade written by hand) \
         on tokio's current-thread runtime. \"/ best peer\" divides by the lower of the two \
         peers' figures at the same percentile (the issue's goal: p99 at most 0.80×). \
         Allocations: the client thread's, per round trip, over the measured round trips \
         (testkit's per-thread counting allocator is the bench's global allocator, for every \
         stack).\n"
    );
    let mut any = false;
    for size in WS_SIZES {
        let mut rows = Vec::new();
        for s in WS_SUBJECTS {
            let mut row = vec![(*s).to_string()];
            let mut has = false;
            for p in ["p50", "p99", "p99.9"] {
                let name = format!("WebSocket echo {size} {p}");
                let v = figs.get("sonic-websocket", &name, s, "ns");
                has |= v.is_some();
                row.push(opt(v, ns));
                if p != "p99.9" {
                    row.push(opt(v.zip(ws_best_peer(figs, &name)), |(a, b)| ratio(a / b)));
                }
            }
            row.push(opt(
                figs.get(
                    "sonic-websocket",
                    &format!("WebSocket echo {size} client allocations"),
                    s,
                    "per round trip",
                ),
                |v| format!("{v:.2}"),
            ));
            if has {
                any = true;
                rows.push(row);
            }
        }
        let _ = writeln!(o, "### {size}\n");
        table(
            o,
            &[
                "subject",
                "p50",
                "p50 / best peer",
                "p99",
                "p99 / best peer",
                "p99.9",
                "client allocations / RT",
            ],
            &rows,
        );
    }
    if !any {
        return Err("no WebSocket echo figures".into());
    }
    let server: Vec<(String, f64)> = WS_SIZES
        .iter()
        .flat_map(|size| {
            WS_SUBJECTS.iter().filter_map(move |s| {
                figs.get(
                    "sonic-websocket",
                    &format!("WebSocket echo {size} server allocations"),
                    s,
                    "per message",
                )
                .map(|v| (format!("{size} {s}: {v:.2}"), v))
            })
        })
        .collect();
    if !server.is_empty() {
        let which = if server.iter().all(|(_, v)| *v == 0.0) {
            format!("0 in all {} cases", server.len())
        } else {
            server
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let _ = writeln!(
            o,
            "sonic-websocket's server thread, allocations per echoed message after its warm-up \
             (same bench): {which}.\n"
        );
    }
    let _ = writeln!(
        o,
        "Throughput (same bench): one common client for every server, sonic-websocket in a \
         blocking loop on its own pinned thread, one message in flight per connection (the \
         next sent when its echo is back); messages echoed per second. A server faster than \
         that client shows the client's rate. \"/ fastwebsockets\" is the issue's goal (at \
         least 1.10×). CPU per message: the time the server's and the client's threads ran on \
         a CPU over the measured window (`/proc/<tid>/schedstat`) divided by the messages, \
         which depends less on what else runs on the machine than the rate does (a hot \
         loop's server spins, so its figure is its whole window).\n"
    );
    let mut rows = Vec::new();
    for shape in WS_SHAPES {
        let name = format!("WebSocket throughput {shape}");
        let fws = figs.get("sonic-websocket", &name, "fastwebsockets", "msg/s");
        let best = WS_PEERS
            .iter()
            .filter_map(|p| figs.get("sonic-websocket", &name, p, "msg/s"))
            .reduce(f64::max);
        for s in WS_LOAD_SUBJECTS {
            let v = figs.get("sonic-websocket", &name, s, "msg/s");
            if v.is_none() {
                continue;
            }
            let cpu = |side: &str| {
                opt(
                    figs.get(
                        "sonic-websocket",
                        &format!("{name} {side} CPU"),
                        s,
                        "ns/msg",
                    ),
                    ns,
                )
            };
            rows.push(vec![
                (*shape).to_string(),
                (*s).to_string(),
                opt(v, |v| format!("{v:.0}")),
                opt(v.zip(fws), |(a, b)| ratio(a / b)),
                opt(v.zip(best), |(a, b)| ratio(a / b)),
                cpu("server"),
                cpu("client"),
            ]);
        }
    }
    if rows.is_empty() {
        return Err("no WebSocket throughput figures".into());
    }
    table(
        o,
        &[
            "case",
            "subject",
            "messages/s",
            "/ fastwebsockets",
            "/ best peer",
            "server CPU / message",
            "client CPU / message",
        ],
        &rows,
    );
    Ok(())
}

/// The receivers of `sonic-multicast/benches/timestamps.rs`, in the table's order (the
/// floor first: the ratios divide by it).
const STAMP_RECEIVERS: &[&str] = &[
    "busy-poll floor (sock, no reactor)",
    "sonic-multicast hot loop",
    "sonic-multicast blocking",
    "sonic-multicast batch, hot loop",
];

/// The timestamps bench's figure names start so.
const STAMP_NAME: &str = "multicast 64B kernel-receive-to-callback";

/// Kernel receive to callback, from the kernel's own receive stamps.
fn timestamps_section(o: &mut String, figs: &Figures) -> Result<(), String> {
    let _ = writeln!(o, "## Multicast: kernel receive to callback\n");
    let _ = writeln!(
        o,
        "`sonic-multicast/benches/timestamps.rs`: 64-byte IPv4 multicast across a veth pair in \
         a private network namespace, one datagram at a time; each datagram's software \
         receive stamp (`SO_TIMESTAMPING`, `RX_SOFTWARE`, taken as the packet enters the \
         receive backlog) read with it, and the time from that stamp to the receiving \
         callback recorded in an `hdrhistogram`. The floor is a bare `recv` spin on a `sock` \
         socket with no reactor; \"send to kernel\" is the sender's clock to the stamp, for \
         context.\n"
    );
    let g = |p: &str, s: &str| figs.get("sonic-multicast", &format!("{STAMP_NAME} {p}"), s, "ns");
    let r = |p: &str, s: &str| {
        figs.get(
            "sonic-multicast",
            &format!("{STAMP_NAME} {p} / floor"),
            s,
            "ratio",
        )
    };
    let mut rows = Vec::new();
    for s in STAMP_RECEIVERS {
        let Some(p50) = g("p50", s) else {
            continue;
        };
        rows.push(vec![
            (*s).to_string(),
            ns(p50),
            opt(g("p99", s), ns),
            opt(g("p99.9", s), ns),
            opt(r("p50", s), ratio),
            opt(r("p99", s), ratio),
            opt(
                figs.get(
                    "sonic-multicast",
                    "multicast 64B send-to-kernel-receive p50",
                    s,
                    "ns",
                ),
                ns,
            ),
        ]);
    }
    if rows.len() < STAMP_RECEIVERS.len() {
        return Err(format!(
            "receive timestamps: {} of {} receivers measured",
            rows.len(),
            STAMP_RECEIVERS.len()
        ));
    }
    table(
        o,
        &[
            "subject",
            "p50",
            "p99",
            "p99.9",
            "p50 / floor",
            "p99 / floor",
            "send to kernel p50",
        ],
        &rows,
    );
    Ok(())
}

/// The receive-side subjects of `sock/benches/batch.rs`, in the table's order.
const RX_SUBJECTS: &[&str] = &[
    "recvfrom",
    "recvmsg",
    "recvmmsg_8",
    "recvmmsg_32",
    "recvmmsg_64",
];

/// The receive side alone: one `recvfrom` per datagram against `recvmmsg` batches, and
/// what bounds the batch's gain.
fn batch_receive_section(o: &mut String, figs: &Figures) -> Result<(), String> {
    const NAME: &str = "udp_rx_64b";
    let _ = writeln!(o, "## UDP: batch receive, the receive side alone\n");
    let _ = writeln!(
        o,
        "`sock/benches/batch.rs` (`{NAME}`): before each timed sample the receiver's 8 MiB \
         buffer is filled with 1,024 datagrams of 64 bytes (untimed), and the sample times \
         taking them all; every subject runs in turn within each round, so the machine's \
         drift touches them alike. Median per datagram; the kernel's share of the receive \
         time from `getrusage` (sampled at the scheduler's tick: coarse in a `--quick` run). `recvmsg` runs, one syscall per datagram, the per-message \
         path `recvmmsg` runs for each of its slots, so recvmsg − recvmmsg_64 is what a \
         batch saves per datagram.\n"
    );
    let single = figs.get("sock", NAME, "recvfrom", "datagrams/s");
    let mut rows = Vec::new();
    for s in RX_SUBJECTS {
        let Some(dps) = figs.get("sock", NAME, s, "datagrams/s") else {
            continue;
        };
        rows.push(vec![
            format!("`{s}`"),
            value("datagrams/s", dps),
            ns(1e9 / dps),
            opt(single, |b| ratio(dps / b)),
            opt(figs.get("sock", NAME, s, "kernel share"), |k| {
                format!("{:.0} %", k * 100.0)
            }),
        ]);
    }
    if rows.len() < RX_SUBJECTS.len() {
        return Err(format!(
            "batch receive: {} of {} subjects measured",
            rows.len(),
            RX_SUBJECTS.len()
        ));
    }
    table(
        o,
        &[
            "mode",
            "datagrams/s",
            "per datagram",
            "vs recvfrom",
            "in the kernel",
        ],
        &rows,
    );
    let f = |subject: &str, unit: &str| figs.get("sock", NAME, subject, unit);
    let _ = writeln!(
        o,
        "A 64-slot `recvmmsg` saves {} per datagram (one syscall: recvmsg − recvmmsg_64), \
         while its per-message path costs {} more than `recvfrom`'s (recvmsg − recvfrom). \
         Even with a per-message path as light as `recvfrom`'s, a batch would reach at most \
         {} one `recvfrom` per datagram here: the kernel's per-datagram work, not the \
         syscall, is the cost, and the user side (the table's remainder) has too little \
         left to take.\n",
        opt(f("syscall saved per datagram", "ns"), ns),
        opt(f("msghdr path over recvfrom", "ns"), ns),
        opt(f("batch bound", "ratio"), ratio)
    );
    Ok(())
}

/// The servers of `sonic-io/benches/instructions.rs`, in the table's order.
const INSTRUCTION_SUBJECTS: &[&str] = &[
    "sonic-io echo example",
    "sonic-io minimal",
    "mio",
    "tokio current_thread",
    "std blocking",
];

/// Server-side instructions per echoed message, counted by callgrind.
/// Where the sweep's growth goes (`sonic-io/benches/scale.rs`): the blocking server's user
/// and system CPU per message at 100 and 10,000 connections. Absent figures leave it out.
fn scale_section(o: &mut String, figs: &Figures) {
    let get = |n: &str, side: &str| {
        figs.get(
            "sonic-io",
            &format!("server CPU per message, {n} connections"),
            side,
            "ns/msg",
        )
    };
    let (Some(u0), Some(s0), Some(u1), Some(s1)) = (
        get("100", "user"),
        get("100", "sys"),
        get("10000", "user"),
        get("10000", "sys"),
    ) else {
        return;
    };
    let _ = writeln!(
        o,
        "Where the growth goes (`sonic-io/benches/scale.rs`): a blocking sonic-io server \
         thread's CPU per echoed 64-byte message, user and kernel, from `/proc/thread-self/stat`; \
         the reactor's instructions per message stay flat (callgrind), so what grows is the \
         kernel's per-socket work and the caches (`sonic-io/DESIGN.md` section 15 profiles \
         which kernel functions grow: the TCP hash lookup, epoll's poll of the socket, \
         delayed-ACK timers).\n"
    );
    let row = |n: &str, u: f64, s: f64| {
        vec![
            n.to_string(),
            ns(u),
            ns(s),
            ns(u + s),
            format!("{:.0} %", 100.0 * s / (u + s)),
        ]
    };
    table(
        o,
        &["connections", "user", "system", "total", "system share"],
        &[
            row("100", u0, s0),
            row("10,000", u1, s1),
            vec![
                "10,000 / 100".into(),
                ratio(u1 / u0),
                ratio(s1 / s0),
                ratio((u1 + s1) / (u0 + s0)),
                String::new(),
            ],
        ],
    );
}

fn instructions_section(o: &mut String, figs: &Figures) -> Result<(), String> {
    const NAME: &str = "tcp echo 64B server instructions per message";
    let _ = writeln!(o, "## Instructions per message\n");
    let _ = writeln!(
        o,
        "`sonic-io/benches/instructions.rs`: each blocking echo server runs alone under \
         `valgrind --tool=callgrind` and echoes one TCP connection; a client outside valgrind \
         makes n and then m round trips of one 64-byte message against a fresh server; \
         (Ir(m) − Ir(n)) / (m − n) is the server's user-space instructions per message, \
         exact and unmoved by the machine's load (start-up, accept and exit cancel out; the \
         kernel's work is not counted: the syscalls table is). \"sonic-io minimal\" is the \
         reactor with no work of its own around it (the read and the write on a `Region` of an \
         Io-owned block, nothing copied or cleared); the example is \
         `sonic-io/examples/echo_server.rs` as users copy it, so the gap between the two \
         rows is the example's own per-message work, or the cost of its buffer type against \
         a `Region`. mio is a bare blocking loop (poll, one read, the write).\n"
    );
    let mio = figs.get("sonic-io", NAME, "mio", "instructions");
    let mut rows = Vec::new();
    for s in INSTRUCTION_SUBJECTS {
        let Some(v) = figs.get("sonic-io", NAME, s, "instructions") else {
            continue;
        };
        rows.push(vec![
            (*s).to_string(),
            format!("{v:.0}"),
            opt(mio, |m| ratio(v / m)),
        ]);
    }
    if rows.len() < INSTRUCTION_SUBJECTS.len() {
        return Err(format!(
            "instructions per message: {} of {} servers measured",
            rows.len(),
            INSTRUCTION_SUBJECTS.len()
        ));
    }
    table(o, &["subject", "instructions per message", "/ mio"], &rows);
    Ok(())
}

/// Writes the plots under `plots` and returns BENCHMARKS.md.
pub(super) fn write_report(
    figs: &Figures,
    allocs: &[AllocRow],
    m: &Machine,
    quick: bool,
    minutes: f64,
    plots: &Path,
    criterion: &Path,
) -> Result<String, String> {
    let mut o = String::new();
    let _ = writeln!(o, "# Benchmarks\n");
    let _ = writeln!(
        o,
        "Written by `cargo xtask bench{}` on {}; every figure below comes from that run and \
         names the benchmark or test that measured it. The command fixes the layout: a new run \
         changes the numbers only. All traffic is on loopback or inside a network namespace \
         the benchmark creates.\n",
        if quick { " --quick" } else { "" },
        m.date
    );
    let _ = writeln!(o, "## Machine\n");
    table(
        &mut o,
        &["", ""],
        &[
            vec!["CPU".into(), m.cpu.clone()],
            vec!["cores".into(), m.cores.to_string()],
            vec!["kernel".into(), m.kernel.clone()],
            vec!["rustc".into(), m.rustc.clone()],
            vec![
                "load average at the start (1, 5, 15 min)".into(),
                m.load.clone(),
            ],
            vec![
                "run time, builds included".into(),
                format!("{minutes:.1} min"),
            ],
            vec![
                "mode".into(),
                if quick {
                    "quick (CI smoke run: short measurements)".into()
                } else {
                    "full".into()
                },
            ],
        ],
    );
    let _ = writeln!(
        o,
        "The machine is shared: other builds and tests may run beside the benchmarks (the load \
         average says how busy it was), so the tails (p99.9 and above) carry that noise.\n"
    );

    // ---- latency
    let _ = writeln!(o, "## Latency: 64-byte ping-pong on loopback\n");
    let _ = writeln!(
        o,
        "`sonic-io/benches/pingpong/`: one message in flight, client and server threads \
         pinned to their own cores where there are two, each subject against its own echo \
         server; every round trip recorded in an `hdrhistogram`. Percentiles of the \
         round-trip time; \"/ hot\" divides by sonic-io's hot loop; syscalls per round trip \
         as counted by `Io::stats` (sonic-io) or the bench (mio and floor clients; the \
         floor's reads include every empty `recv` of its spin). The raw busy-poll row is the \
         floor: both ends spin on a non-blocking `recv`, with no reactor at all.\n"
    );
    for proto in ["tcp", "udp"] {
        let curves = pingpong_curves(figs, proto);
        // A subject that failed (the bench prints its error and goes on) has no curve: the
        // report would be incomplete, so the run fails.
        let missing: Vec<&str> = PING_SUBJECTS
            .iter()
            .copied()
            .filter(|s| !URING_SUBJECTS.contains(s) && !curves.iter().any(|c| c.name == *s))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{proto} ping-pong: no percentiles for {}",
                missing.join(", ")
            ));
        }
        let name = format!("pingpong-{proto}.svg");
        plot::percentiles(
            &plots.join(&name),
            &format!("{} 64-byte round trip on loopback", proto.to_uppercase()),
            &curves,
        )?;
        let _ = writeln!(o, "### {}\n", proto.to_uppercase());
        let _ = writeln!(
            o,
            "![{} round-trip percentiles](benchmarks/{name})\n",
            proto.to_uppercase()
        );
        if pingpong_table(&mut o, figs, proto) == 0 {
            return Err(format!("no {proto} ping-pong figures"));
        }
        o.push_str(&pingpong_goals(figs, proto));
    }
    let mut sweep = Vec::new();
    for f in figs.of_crate("sonic-io") {
        if f.name.starts_with("tcp sweep") && f.unit == "ns/msg" {
            // The same mode at 100 connections; for io_uring, epoll in the same loop.
            let base = figs.get(
                "sonic-io",
                "tcp sweep 64B per message, 100 connections",
                &f.subject,
                "ns/msg",
            );
            let epoll_subject = f.subject.replace(" uring", "");
            let epoll = (epoll_subject != f.subject)
                .then(|| figs.get("sonic-io", &f.name, &epoll_subject, "ns/msg"))
                .flatten();
            sweep.push(vec![
                f.subject.clone(),
                f.name.clone(),
                ns(f.value),
                opt(base, |b| ratio(f.value / b)),
                opt(epoll, |e| ratio(e / f.value)),
            ]);
        }
    }
    if !sweep.is_empty() {
        let _ = writeln!(
            o,
            "Connection sweep (same bench): TCP, both ends in the same mode (epoll and \
             io_uring, hot and blocking loops; the client in a child process), one 64-byte \
             message per connection per round, all in flight; cost per message, its ratio to \
             100 connections in the same mode (the goal: at most 1.10× at 10,000), and for \
             io_uring its messages/s against epoll's in the same loop (the goal: at least \
             1.20× in the blocking loop at 1,000 connections). One run's figures: on this \
             2-core VM the ratios move by up to a quarter between runs (`sonic-io/DESIGN.md` \
             section 13 lists several runs, and profiles why io_uring's ratio stays near 1 on \
             loopback: a `send` there carries the receiver's whole TCP input, the same work on \
             both backends, and a receive path costing nothing beyond its copy would reach \
             about 1.12×).\n"
        );
        table(
            &mut o,
            &[
                "mode",
                "case",
                "per message",
                "vs 100 connections",
                "messages/s vs epoll",
            ],
            &sweep,
        );
    }
    scale_section(&mut o, figs);

    // ---- TLS
    tls_section(&mut o, figs)?;

    // ---- WebSocket
    ws_section(&mut o, figs)?;

    // ---- Scale-out
    shards_section(&mut o, figs);

    // ---- UDP batching
    let _ = writeln!(o, "## UDP: one datagram per syscall against batches\n");
    let _ = writeln!(
        o,
        "`sock/benches/batch.rs`: 64 datagrams of 64 bytes per iteration over loopback, sent \
         and received with `sendto`/`recvfrom` one at a time, `sendmmsg`/`recvmmsg` batches of \
         8, 32 and 64, and one GSO send received with GRO.\n"
    );
    let mut groups = Vec::new();
    let mut vals = Vec::new();
    let mut rows = Vec::new();
    let single = figs.get("sock", "udp_64x64b", "single", "datagrams/s");
    for s in UDP_SUBJECTS {
        let dps = figs.get("sock", "udp_64x64b", s, "datagrams/s");
        if let Some(v) = dps {
            groups.push((*s).to_string());
            vals.push(vec![Some(v)]);
        }
        rows.push(vec![
            format!("`{s}`"),
            opt(figs.get("sock", "udp_64x64b", s, "ns/op"), ns),
            opt(dps, |v| value("datagrams/s", v)),
            opt(dps.zip(single), |(a, b)| ratio(a / b)),
        ]);
    }
    plot::grouped_bars(
        &plots.join("udp-batch.svg"),
        "64-byte UDP datagrams per second, loopback (log scale)",
        "datagrams/s",
        &groups,
        &["datagrams/s".to_string()],
        &vals,
        true,
    )?;
    let _ = writeln!(o, "![UDP datagrams per second](benchmarks/udp-batch.svg)\n");
    table(
        &mut o,
        &["mode", "per 64 datagrams", "datagrams/s", "vs single"],
        &rows,
    );

    // ---- batch receive
    batch_receive_section(&mut o, figs)?;

    // ---- receive timestamps
    timestamps_section(&mut o, figs)?;

    // ---- buffers
    let _ = writeln!(o, "## Buffers: decoding length-prefixed messages\n");
    let _ = writeln!(
        o,
        "`sonic-bytes/benches/decode.rs`: a 1 MiB stream of 4-byte-length-prefixed messages \
         fed in 4 KiB reads through a 64 KiB buffer, so messages straddle its end; throughput \
         from criterion's estimate and the stream's length (`target/criterion/`); the ratio is \
         the peer's time over the mirrored buffer's.\n"
    );
    let mut tvals = Vec::new();
    let mut brows = Vec::new();
    for (size, label) in DECODE_SIZES {
        let group = format!("decode_{size}b");
        let mut row = Vec::new();
        let mine = criterion_throughput(criterion, &group, "mirrored");
        for b in BUFFERS {
            let t = criterion_throughput(criterion, &group, b);
            row.push(t.map(|(ns, bytes)| bytes / ns));
            brows.push(vec![
                label.to_string(),
                format!("`{b}`"),
                opt(t.map(|t| t.0), ns),
                opt(t.map(|(ns, bytes)| bytes / ns), |v| format!("{v:.2} GB/s")),
                opt(t.zip(mine), |(p, m)| ratio(p.0 / m.0)),
            ]);
        }
        tvals.push(row);
    }
    if tvals.iter().flatten().all(Option::is_none) {
        return Err("no sonic-bytes decode throughput in target/criterion".into());
    }
    plot::grouped_bars(
        &plots.join("buffers.svg"),
        "decode throughput by message size",
        "GB/s",
        &DECODE_SIZES
            .iter()
            .map(|(_, l)| l.to_string())
            .collect::<Vec<_>>(),
        &BUFFERS.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        &tvals,
        false,
    )?;
    let _ = writeln!(o, "![decode throughput](benchmarks/buffers.svg)\n");
    table(
        &mut o,
        &[
            "messages",
            "buffer",
            "per MiB stream",
            "throughput",
            "time / mirrored",
        ],
        &brows,
    );

    // ---- the other comparisons, as the benches wrote them
    let _ = writeln!(o, "## Other comparisons\n");
    let _ = writeln!(
        o,
        "Each group as its benchmark recorded it, peers and ratios from the same run (a ratio \
         is peer / ours: above 1 means ours is faster).\n"
    );
    // The groups with a section of their own (names starting so) are skipped here.
    let sections: [(&str, &str, &[&str]); 4] = [
        ("zcall", "zcall/benches/syscall.rs", &[]),
        ("sockaddr", "sockaddr/benches/codec.rs", &[]),
        (
            "sock",
            "sock/benches/roundtrip.rs",
            &["udp_64x64b", "udp_rx_64b"],
        ),
        (
            "sonic-multicast",
            "sonic-multicast/benches/multicast.rs",
            &[STAMP_NAME, "multicast 64B send-to-kernel-receive"],
        ),
    ];
    for (krate, bench, skip) in sections {
        let mut names: Vec<&str> = Vec::new();
        for f in figs.of_crate(krate) {
            if !skip.iter().any(|p| f.name.starts_with(p)) && !names.contains(&f.name.as_str()) {
                names.push(&f.name);
            }
        }
        if names.is_empty() {
            return Err(format!("no figures from {bench}"));
        }
        let _ = writeln!(o, "### `{bench}`\n");
        let mut rows = Vec::new();
        for n in names {
            for f in figs.of_crate(krate).filter(|f| f.name == n) {
                rows.push(vec![
                    format!("`{n}`"),
                    f.subject.clone(),
                    value(&f.unit, f.value),
                ]);
            }
        }
        table(&mut o, &["benchmark", "subject", "figure"], &rows);
    }

    // ---- syscalls
    let _ = writeln!(o, "## System calls per message\n");
    let _ = writeln!(
        o,
        "`sonic-io/benches/syscalls.rs`: each case runs as a child process under `strace -f -c` \
         with n and with 2n messages; (count(2n) − count(n)) / n per syscall, so the \
         process's start and the warm-up drop out. The whole process is counted (both ends of \
         an echo). Immediate: one thread, each read submitted after the peer's write. \
         Scheduled: client and server threads blocked in their waits. Hot loop: the same \
         threads spinning on zero-timeout waits, whose empty polls under strace follow the \
         tracer's pace. UDP echo: a std client sends a 64-byte datagram, waits for its echo \
         and pauses 300 µs (a spin, no syscall), so the server always waits for the next; the \
         server receives it with its source and sends it back (the client's `sendto` and \
         `recvfrom` are 2 per round trip in every row). UDP receive: bursts of 64 datagrams \
         sent with std's `sendto` (1 per datagram in every row) and received by the stack. Timer: a 100 µs one-shot armed and awaited \
         (mio has no timer: its `poll` timeout stands in). `sonic-io` runs on epoll, \
         `sonic-io uring` is the same code on the io_uring backend (`io_uring_enter` is its \
         wait; its rows are absent where io_uring is refused). Rows a stack lacks (tokio's \
         hot loop, batch receive outside sonic-io) are absent.\n"
    );
    if syscall_table(&mut o, figs) == 0 {
        return Err("no syscall figures".into());
    }

    // ---- instructions
    instructions_section(&mut o, figs)?;

    // ---- allocations
    let _ = writeln!(o, "## Allocations on the hot paths\n");
    let _ = writeln!(
        o,
        "Every hot path a crate's README calls allocation-free, measured by its test in \
         `tests/alloc.rs` under testkit's per-thread counting allocator (the test fails on any \
         allocation) and written by `testkit::assert_no_alloc_reported` / \
         `testkit::bench::report_allocs` when `cargo xtask allocs` (or this command) runs \
         them. sonic-io's echo row is the difference between 10,000 and 10 round trips, which \
         takes out the test's own three setup allocations.\n"
    );
    if allocs.is_empty() {
        return Err("no allocation figures".into());
    }
    o.push_str(&alloc_table(allocs));
    let nonzero = allocs.iter().filter(|r| r.allocs > 0).count();
    let _ = writeln!(
        o,
        "{} hot paths, {} with any allocation.\n",
        allocs.len(),
        nonzero
    );

    let _ = writeln!(o, "## Reproduce\n");
    let _ = writeln!(
        o,
        "```sh\ncargo xtask bench           # every benchmark, this file, benchmarks/*.svg, the README's section\ncargo xtask bench --quick   # short run, written under target/bench-quick/ (a step of cargo xtask ci)\ncargo xtask allocs          # the allocation table alone\n```"
    );
    Ok(o)
}

/// The README's headline section: the TCP table's key figures, the latency plot, how to
/// reproduce.
pub(super) fn readme_section(
    figs: &Figures,
    allocs: &[AllocRow],
    minutes: f64,
) -> Result<String, String> {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "From the last full `cargo xtask bench` ([BENCHMARKS.md](BENCHMARKS.md) has the \
         machine, every table and the other plots): 64-byte TCP round trips on loopback \
         (`sonic-io/benches/pingpong/`); syscalls per round trip, both ends, from \
         `sonic-io/benches/syscalls.rs` under strace: its hot-loop case for the hot rows \
         (empty polls included, paced by the tracer), its scheduled case (threads blocked in \
         their waits) for the others.\n"
    );
    let mut rows = Vec::new();
    let hot50 = figs.get("sonic-io", "tcp pingpong 64B p50", "sonic-io hot", "ns");
    for s in PING_SUBJECTS {
        let p50 = figs.get("sonic-io", "tcp pingpong 64B p50", s, "ns");
        let p99 = figs.get("sonic-io", "tcp pingpong 64B p99", s, "ns");
        let p9999 = figs.get("sonic-io", "tcp pingpong 64B p99.99", s, "ns");
        if p50.is_none() {
            continue;
        }
        // The syscalls bench's subject: the row's name without its loop mode
        // ("sonic-io uring hot" -> "sonic-io uring").
        let stack = s
            .strip_suffix(" hot")
            .or_else(|| s.strip_suffix(" blocking"))
            .unwrap_or(s);
        let stack = if stack.starts_with("tokio") || stack.starts_with("std") {
            s.split_whitespace().next().unwrap_or(s)
        } else {
            stack
        };
        let sys = if s.ends_with("hot") {
            figs.get(
                "syscalls",
                "tcp echo, hot loop",
                stack,
                "calls/round trip total",
            )
        } else if *s == "sonic-io blocking"
            || *s == "sonic-io uring blocking"
            || *s == "mio blocking"
            || s.starts_with("tokio")
            || s.starts_with("std")
        {
            figs.get(
                "syscalls",
                "tcp echo, scheduled",
                stack,
                "calls/round trip total",
            )
        } else {
            None
        };
        rows.push(vec![
            (*s).to_string(),
            opt(p50, ns),
            opt(p99, ns),
            opt(p9999, ns),
            opt(p50.zip(hot50), |(a, b)| ratio(a / b)),
            opt(sys, |v| format!("{v:.2}")),
        ]);
    }
    if rows.is_empty() {
        return Err("no TCP ping-pong figures for the README".into());
    }
    table(
        &mut o,
        &[
            "TCP, 64 B",
            "p50",
            "p99",
            "p99.99",
            "p50 / sonic-io hot",
            "syscalls per round trip",
        ],
        &rows,
    );
    let zero = allocs.iter().filter(|r| r.allocs == 0).count();
    let _ = writeln!(
        o,
        "![TCP round-trip percentiles](benchmarks/pingpong-tcp.svg)\n\n\
         Allocations: {zero} of the {} hot paths measured by the crates' `tests/alloc.rs` \
         allocate nothing (table in BENCHMARKS.md). Reproduce with `cargo xtask bench` \
         (every benchmark at full length; this run took {minutes:.1} minutes on {} cores) or \
         `cargo xtask bench --quick` (the short form CI runs, written under \
         `target/bench-quick/`).",
        allocs.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    Ok(o)
}

const BEGIN: &str = "<!-- bench:begin (written by cargo xtask bench) -->";
const END: &str = "<!-- bench:end -->";

/// Replaces what lies between the README's markers.
pub(super) fn replace_readme_section(path: &Path, section: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{}: no `{BEGIN}` ... `{END}` markers",
            path.display()
        ));
    };
    if b < a {
        return Err(format!(
            "{}: the bench markers are out of order",
            path.display()
        ));
    }
    let new = format!(
        "{}{BEGIN}\n{section}\n{END}{}",
        &text[..a],
        &text[b + END.len()..]
    );
    std::fs::write(path, new).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_section_is_replaced_between_its_markers() {
        let dir = std::env::temp_dir().join(format!("xtask-readme-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("README.md");
        std::fs::write(&p, format!("a\n{BEGIN}\nold\n{END}\nb\n")).unwrap();
        replace_readme_section(&p, "new").unwrap();
        replace_readme_section(&p, "newer").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("a\n{BEGIN}\nnewer\n{END}\nb\n")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_websocket_section_has_ratios_to_the_best_peer() {
        let mut f = Figures::default();
        let mut lines = String::new();
        for (subject, p99) in [
            ("tokio-tungstenite", 100.0),
            ("fastwebsockets", 80.0),
            ("sonic-websocket hot", 40.0),
        ] {
            for size in WS_SIZES {
                for (p, v) in [("p50", p99 / 2.0), ("p99", p99), ("p99.9", p99 * 2.0)] {
                    lines.push_str(&format!(
                        "{{\"crate\":\"sonic-websocket\",\"name\":\"WebSocket echo {size} {p}\",\"subject\":\"{subject}\",\"unit\":\"ns\",\"value\":{}}}\n",
                        v * 1e3
                    ));
                }
            }
            for (shape, v) in [
                ("100 connections x 20 B", 10.0),
                ("200 connections x 16 KiB", 4.0),
            ] {
                lines.push_str(&format!(
                    "{{\"crate\":\"sonic-websocket\",\"name\":\"WebSocket throughput {shape}\",\"subject\":\"{subject}\",\"unit\":\"msg/s\",\"value\":{}}}\n",
                    v * p99
                ));
            }
        }
        f.parse_into(&lines);
        let mut o = String::new();
        ws_section(&mut o, &f).unwrap();
        // p99 40 µs against the best peer's 80 µs; 400 msg/s against fastwebsockets's 800.
        assert!(
            o.contains("| sonic-websocket hot | 20.0 µs | 0.50× | 40.0 µs | 0.50× | 80.0 µs | – |"),
            "{o}"
        );
        assert!(
            o.contains(
                "| 100 connections x 20 B | sonic-websocket hot | 400 | 0.50× | 0.40× | – | – |"
            ),
            "{o}"
        );
        assert!(ws_section(&mut String::new(), &Figures::default()).is_err());
    }

    #[test]
    fn the_instructions_section_has_every_server_and_its_ratio_to_mio() {
        let mut lines = String::new();
        for (i, s) in INSTRUCTION_SUBJECTS.iter().enumerate() {
            lines.push_str(&format!(
                "{{\"crate\":\"sonic-io\",\"name\":\"tcp echo 64B server instructions per message\",\"subject\":\"{s}\",\"unit\":\"instructions\",\"value\":{}}}\n",
                100.0 * (i + 1) as f64
            ));
        }
        let mut f = Figures::default();
        f.parse_into(&lines);
        let mut o = String::new();
        instructions_section(&mut o, &f).unwrap();
        assert!(o.contains("| sonic-io minimal | 200 | 0.67× |"), "{o}");
        assert!(o.contains("| mio | 300 | 1.00× |"), "{o}");
        // One server missing fails the report rather than printing a short table.
        let mut partial = Figures::default();
        partial.parse_into(
            lines
                .lines()
                .skip(1)
                .collect::<Vec<_>>()
                .join("\n")
                .as_str(),
        );
        assert!(instructions_section(&mut String::new(), &partial).is_err());
    }

    #[test]
    fn the_goals_line_says_which_ratio_meets_its_goal() {
        let mut f = Figures::default();
        f.parse_into(
            r#"{"crate":"sonic-io","name":"tcp pingpong 64B p50","subject":"sonic-io hot/raw busy-poll","unit":"ratio","value":1.04}
{"crate":"sonic-io","name":"tcp pingpong 64B p99","subject":"sonic-io hot/raw busy-poll","unit":"ratio","value":1.2}
{"crate":"sonic-io","name":"tcp pingpong 64B p50","subject":"sonic-io hot/mio hot","unit":"ratio","value":0.98}"#,
        );
        assert_eq!(
            pingpong_goals(&f, "tcp"),
            "Goals, this run: sonic-io hot / raw busy-poll: p50 1.04× (goal ≤ 1.05×, met), \
             p99 1.20× (goal ≤ 1.15×, not met); sonic-io hot / mio hot: p50 0.98× (goal ≤ \
             1.00×, met), p99 –.\n\n"
        );
    }

    #[test]
    fn the_scale_section_splits_user_and_system_time_and_their_growth() {
        let mut lines = String::new();
        for (n, u, sy) in [("100", 400.0, 5000.0), ("10000", 600.0, 11000.0)] {
            for (side, v) in [("user", u), ("sys", sy)] {
                lines.push_str(&format!(
                    "{{\"crate\":\"sonic-io\",\"name\":\"server CPU per message, {n} connections\",\"subject\":\"{side}\",\"unit\":\"ns/msg\",\"value\":{v}}}\n"
                ));
            }
        }
        let mut f = Figures::default();
        f.parse_into(&lines);
        let mut o = String::new();
        scale_section(&mut o, &f);
        assert!(o.contains("| 10,000 / 100 | 1.50× | 2.20× |"), "{o}");
        assert!(o.contains("| 100 |"), "{o}");
        let mut none = String::new();
        scale_section(&mut none, &Figures::default());
        assert!(none.is_empty(), "no figures, no section");
    }

    #[test]
    fn the_batch_receive_section_has_every_mode_and_the_bound() {
        let mut lines = String::new();
        for (i, s) in RX_SUBJECTS.iter().enumerate() {
            for (unit, v) in [
                ("datagrams/s", 1e6 * (i + 1) as f64),
                ("kernel share", 0.95),
            ] {
                lines.push_str(&format!(
                    "{{\"crate\":\"sock\",\"name\":\"udp_rx_64b\",\"subject\":\"{s}\",\"unit\":\"{unit}\",\"value\":{v}}}\n"
                ));
            }
        }
        lines.push_str(
            r#"{"crate":"sock","name":"udp_rx_64b","subject":"batch bound","unit":"ratio","value":1.41}"#,
        );
        let mut f = Figures::default();
        f.parse_into(&lines);
        let mut o = String::new();
        batch_receive_section(&mut o, &f).unwrap();
        assert!(
            o.contains("| `recvmmsg_64` | 5.0M datagrams/s | 200.0 ns | 5.00× | 95 % |"),
            "{o}"
        );
        assert!(o.contains("at most 1.41× one `recvfrom`"), "{o}");
        assert!(batch_receive_section(&mut String::new(), &Figures::default()).is_err());
    }

    #[test]
    fn the_timestamps_section_has_every_receiver_against_the_floor() {
        let mut lines = String::new();
        for (i, s) in STAMP_RECEIVERS.iter().enumerate() {
            let v = 1000.0 * (i + 1) as f64;
            for (name, unit, value) in [
                (format!("{STAMP_NAME} p50"), "ns", v),
                (format!("{STAMP_NAME} p99"), "ns", 2.0 * v),
                (format!("{STAMP_NAME} p99.9"), "ns", 4.0 * v),
                (format!("{STAMP_NAME} p50 / floor"), "ratio", (i + 1) as f64),
            ] {
                lines.push_str(&format!(
                    "{{\"crate\":\"sonic-multicast\",\"name\":\"{name}\",\"subject\":\"{s}\",\"unit\":\"{unit}\",\"value\":{value}}}\n"
                ));
            }
        }
        let mut f = Figures::default();
        f.parse_into(&lines);
        let mut o = String::new();
        timestamps_section(&mut o, &f).unwrap();
        assert!(
            o.contains(
                "| sonic-multicast blocking | 3.00 µs | 6.00 µs | 12.0 µs | 3.00× | – | – |"
            ),
            "{o}"
        );
        assert!(timestamps_section(&mut String::new(), &Figures::default()).is_err());
    }

    #[test]
    fn numbers_have_fixed_formats() {
        assert_eq!(ns(512.34), "512.3 ns");
        assert_eq!(ns(12_345.0), "12.3 µs");
        assert_eq!(ns(1_234.0), "1.23 µs");
        assert_eq!(ratio(1.234), "1.23×");
    }
}
