//! `cargo xtask bench [--quick]` and `cargo xtask allocs`: every crate's benchmarks, the
//! allocation tests' measured figures and the syscall counts, gathered into
//! `BENCHMARKS.md` with its plots (`benchmarks/*.svg`) and the headline section of the root
//! README.
//!
//! Each benchmark appends JSON lines to `<target>/bench-summary/<crate>.jsonl` (testkit's
//! `bench::record`); criterion's own results are read from `<target>/criterion/` for the
//! throughput of the buffer comparison. The allocation tests append to
//! `<target>/bench-summary/allocs.jsonl` when `TESTKIT_ALLOC_REPORT` names it. The summary
//! directory is emptied first, so every figure comes from this run.
//!
//! A full run writes `BENCHMARKS.md`, `benchmarks/*.svg` and the README's section between
//! its `bench:begin`/`bench:end` markers. `--quick` (CI's smoke run) writes the same files
//! under `<target>/bench-quick/` and leaves the committed ones alone. Either fails when a
//! benchmark fails or a report comes out empty.
//!
//! The layout is fixed here: sections, rows and series come in a fixed order, numbers in
//! fixed formats, and the plots carry no date, so a new run changes numbers only.

use std::path::PathBuf;
use std::time::Instant;

mod report;

use crate::install::Installer;
use crate::run::{cmd, output, root, status};

/// The benchmarks, in the order they run and appear.
const BENCHES: &[Bench] = &[
    Bench::criterion("zcall", "syscall"),
    Bench::criterion("sockaddr", "codec"),
    Bench::criterion("sock", "roundtrip"),
    Bench::criterion("sock", "batch"),
    Bench::criterion("sonic-bytes", "decode"),
    Bench::latency("sonic-io", "pingpong"),
    Bench::latency("sonic-io", "syscalls"),
    Bench::latency("sonic-io", "instructions"),
    Bench::latency("sonic-io", "shards"),
    Bench::latency("sonic-io", "scale"),
    Bench::latency("sonic-multicast", "multicast"),
    Bench::latency("sonic-multicast", "timestamps"),
    Bench::latency("sonic-tls", "echo"),
    Bench::latency("sonic-websocket", "echo"),
];

/// The crates whose `tests/alloc.rs` report their figures, in the table's order.
const ALLOC_CRATES: &[&str] = &[
    "iofd",
    "sockaddr",
    "sock",
    "sonic-bytes",
    "sonic-io",
    "sonic-multicast",
    "sonic-tls",
    "sonic-websocket",
];

/// The ping-pong subjects, in the plot's and the tables' order.
const PING_SUBJECTS: &[&str] = &[
    "sonic-io hot",
    "sonic-io blocking",
    "sonic-io uring hot",
    "sonic-io uring blocking",
    "mio hot",
    "mio blocking",
    "tokio current_thread",
    "monoio io_uring",
    "std blocking",
    "raw busy-poll",
];

/// The ping-pong subjects that need io_uring: a machine that refuses it (a container's
/// seccomp profile, `kernel.io_uring_disabled`) has no figures for them, and the report
/// leaves their rows out instead of failing.
const URING_SUBJECTS: &[&str] = &[
    "sonic-io uring hot",
    "sonic-io uring blocking",
    "monoio io_uring",
];

/// The percentiles of the latency plot and tables.
const CURVE: &[(&str, f64)] = &[
    ("p50", 0.5),
    ("p75", 0.75),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.5", 0.995),
    ("p99.9", 0.999),
    ("p99.95", 0.9995),
    ("p99.99", 0.9999),
];

const UDP_SUBJECTS: &[&str] = &["single", "batch_8", "batch_32", "batch_64", "gso_gro"];
const BUFFERS: &[&str] = &["mirrored", "byte_buffer", "bip", "vecdeque", "bbqueue"];
const DECODE_SIZES: &[(usize, &str)] = &[(64, "64 B"), (1024, "1 KiB"), (16384, "16 KiB")];

struct Bench {
    krate: &'static str,
    name: &'static str,
    criterion: bool,
}

impl Bench {
    const fn criterion(krate: &'static str, name: &'static str) -> Bench {
        Bench {
            krate,
            name,
            criterion: true,
        }
    }
    const fn latency(krate: &'static str, name: &'static str) -> Bench {
        Bench {
            krate,
            name,
            criterion: false,
        }
    }
    /// The bench's source: `benches/<name>.rs`, or `benches/<name>/` when it is split into
    /// modules.
    fn source(&self) -> String {
        let dir = format!("{}/benches/{}", self.krate, self.name);
        if root().join(&dir).join("main.rs").is_file() {
            format!("{dir}/")
        } else {
            format!("{dir}.rs")
        }
    }
}

/// `--quick`.
pub(crate) fn parse_args(args: &[String]) -> Result<bool, String> {
    let mut quick = false;
    for a in args {
        match a.as_str() {
            "--quick" => quick = true,
            "--install" => {}
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(quick)
}

/// The target directory cargo uses here: `cargo metadata`'s, which honours
/// `CARGO_TARGET_DIR` and the configuration.
pub(crate) fn target_dir() -> PathBuf {
    output(cmd(
        "cargo",
        &["metadata", "--format-version", "1", "--no-deps"],
    ))
    .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
    .and_then(|v| v["target_directory"].as_str().map(PathBuf::from))
    .unwrap_or_else(|| root().join("target"))
}

fn summary_dir() -> PathBuf {
    target_dir().join("bench-summary")
}

// -----------------------------------------------------------------------------------------
// Figures

/// One figure from a summary line.
#[derive(Clone, Debug, PartialEq)]
struct Fig {
    krate: String,
    name: String,
    subject: String,
    unit: String,
    value: f64,
}

/// Every figure of a run, in the order the benchmarks wrote them; a figure written twice
/// (a criterion estimate compared with two peers) keeps its first place and last value.
#[derive(Default)]
struct Figures(Vec<Fig>);

impl Figures {
    fn parse_into(&mut self, text: &str) {
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(krate), Some(name), Some(subject), Some(unit), Some(value)) = (
                v["crate"].as_str(),
                v["name"].as_str(),
                v["subject"].as_str(),
                v["unit"].as_str(),
                v["value"].as_f64(),
            ) else {
                continue;
            };
            let f = Fig {
                krate: krate.into(),
                name: name.into(),
                subject: subject.into(),
                unit: unit.into(),
                value,
            };
            match self.0.iter_mut().find(|g| {
                g.krate == f.krate && g.name == f.name && g.subject == f.subject && g.unit == f.unit
            }) {
                Some(g) => g.value = f.value,
                None => self.0.push(f),
            }
        }
    }

    fn get(&self, krate: &str, name: &str, subject: &str, unit: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|f| f.krate == krate && f.name == name && f.subject == subject && f.unit == unit)
            .map(|f| f.value)
    }

    fn of_crate(&self, krate: &str) -> impl Iterator<Item = &Fig> {
        self.0.iter().filter(move |f| f.krate == krate)
    }
}

/// One allocation measurement.
#[derive(Clone, Debug, PartialEq)]
struct AllocRow {
    krate: String,
    test: String,
    path: String,
    ops: u64,
    allocs: u64,
    bytes: u64,
}

fn parse_allocs(text: &str) -> Vec<AllocRow> {
    let mut rows: Vec<AllocRow> = text
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some(AllocRow {
                krate: v["crate"].as_str()?.into(),
                test: v["test"].as_str()?.into(),
                path: v["path"].as_str()?.into(),
                ops: v["ops"].as_u64()?,
                allocs: v["allocs"].as_u64()?,
                bytes: v["bytes"].as_u64()?,
            })
        })
        .collect();
    // Tests run in parallel: order by crate (the table's order), then test and path.
    let rank = |k: &str| {
        ALLOC_CRATES
            .iter()
            .position(|c| *c == k)
            .unwrap_or(usize::MAX)
    };
    rows.sort_by(|a, b| {
        (rank(&a.krate), &a.krate, &a.test, &a.path).cmp(&(
            rank(&b.krate),
            &b.krate,
            &b.test,
            &b.path,
        ))
    });
    rows.dedup_by(|a, b| a.krate == b.krate && a.test == b.test && a.path == b.path);
    rows
}

// -----------------------------------------------------------------------------------------
// The machine

struct Machine {
    cpu: String,
    cores: usize,
    kernel: String,
    rustc: String,
    load: String,
    date: String,
}

impl Machine {
    fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into());
        let one = |c: std::process::Command| {
            output(c)
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| "unknown".into())
        };
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: one(cmd("uname", &["-sr"])),
            rustc: one(cmd("rustc", &["-V"])),
            load,
            date: one(cmd("date", &["-u", "+%Y-%m-%d"])),
        }
    }
}

// -----------------------------------------------------------------------------------------
// Running

/// Runs the allocation tests with the report file set; returns their rows.
fn run_allocs() -> Result<Vec<AllocRow>, String> {
    let dir = summary_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join("allocs.jsonl");
    let _ = std::fs::remove_file(&file);
    // Every crate's `tests/alloc.rs` in one command, with the workspace's features: the
    // build `cargo xtask ci`'s test step made (`-p CRATE` would rebuild each crate with its
    // own, a minute of CI).
    let mut c = cmd(
        "cargo",
        &["test", "--workspace", "--all-features", "--test", "alloc"],
    );
    c.env("TESTKIT_ALLOC_REPORT", &file);
    status(c)?;
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let rows = parse_allocs(&text);
    for k in ALLOC_CRATES {
        if !rows.iter().any(|r| r.krate == *k) {
            return Err(format!("{k}: its alloc tests reported no figure"));
        }
    }
    Ok(rows)
}

/// `cargo xtask allocs`: the allocation tests and their table, printed.
pub(crate) fn allocs() -> Result<String, String> {
    let rows = run_allocs()?;
    println!("{}", report::alloc_table(&rows));
    Ok(format!("{} hot paths measured", rows.len()))
}

/// `cargo xtask bench [--quick]`.
pub(crate) fn bench(inst: &mut Installer, quick: bool) -> Result<String, String> {
    let started = Instant::now();
    let machine = Machine::read();
    // strace for the syscalls bench, valgrind (callgrind) for the instructions bench.
    inst.ensure_apt(&["strace", "valgrind"])?;
    let summaries = summary_dir();
    if summaries.exists() {
        std::fs::remove_dir_all(&summaries)
            .map_err(|e| format!("cannot empty {}: {e}", summaries.display()))?;
    }
    std::fs::create_dir_all(&summaries).map_err(|e| e.to_string())?;
    status(cmd("cargo", &["bench", "--workspace", "--no-run"]))?;
    // The instructions bench counts the echo example as users run it: built in the same
    // profile, beside the bench binary.
    status(cmd(
        "cargo",
        &[
            "build",
            "--profile",
            "bench",
            "--workspace",
            "--example",
            "echo_server",
        ],
    ))?;
    let mut failed = Vec::new();
    let mut took = Vec::new();
    for (i, b) in BENCHES.iter().enumerate() {
        // Run with the workspace's feature set, the one `--no-run` built: `-p CRATE` would
        // resolve the crate's own and rebuild what differs (about 190 s of `--quick` went to
        // that). A bench name two crates share (`echo`) runs both in one command, at the first.
        if BENCHES[..i].iter().any(|p| p.name == b.name) {
            continue;
        }
        let same: Vec<&Bench> = BENCHES.iter().filter(|p| p.name == b.name).collect();
        let sources = same
            .iter()
            .map(|p| p.source())
            .collect::<Vec<_>>()
            .join(" and ");
        let t = Instant::now();
        let mut c = cmd("cargo", &["bench", "--workspace", "--bench", b.name, "--"]);
        if quick {
            if b.criterion {
                c.args([
                    "--quick",
                    "--warm-up-time",
                    "0.5",
                    "--measurement-time",
                    "1",
                ]);
            } else {
                c.arg("--quick");
            }
        }
        if let Err(e) = status(c) {
            eprintln!("xtask bench: {e}");
            failed.push(sources.clone());
        }
        took.push((sources, t.elapsed().as_secs_f64()));
    }
    let rows = run_allocs()?;
    if !failed.is_empty() {
        return Err(format!("benchmarks failed: {}", failed.join(", ")));
    }
    let mut figs = Figures::default();
    for b in BENCHES {
        let f = summaries.join(format!("{}.jsonl", b.krate));
        if let Ok(text) = std::fs::read_to_string(&f) {
            figs.parse_into(&text);
        }
    }
    if let Ok(text) = std::fs::read_to_string(summaries.join("syscalls.jsonl")) {
        figs.parse_into(&text);
    }
    let out = if quick {
        target_dir().join("bench-quick")
    } else {
        root()
    };
    let plots = out.join("benchmarks");
    std::fs::create_dir_all(&plots).map_err(|e| format!("{}: {e}", plots.display()))?;
    let criterion = target_dir().join("criterion");
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let doc = report::write_report(&figs, &rows, &machine, quick, minutes, &plots, &criterion)?;
    let md = out.join("BENCHMARKS.md");
    std::fs::write(&md, doc).map_err(|e| format!("{}: {e}", md.display()))?;
    let section = report::readme_section(&figs, &rows, minutes)?;
    if quick {
        let p = out.join("README-section.md");
        std::fs::write(&p, section).map_err(|e| format!("{}: {e}", p.display()))?;
    } else {
        report::replace_readme_section(&root().join("README.md"), &section)?;
    }
    for (src, secs) in &took {
        println!("{src}: {secs:.1} s");
    }
    Ok(format!(
        "{} benchmarks, {} hot paths, {} in {:.0} s",
        BENCHES.len(),
        rows.len(),
        md.strip_prefix(root()).unwrap_or(&md).display(),
        started.elapsed().as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_their_first_place_and_last_value() {
        let mut f = Figures::default();
        f.parse_into(
            r#"{"crate":"sock","name":"g","subject":"sock","unit":"ns/op","value":1.0}
{"crate":"sock","name":"g","subject":"std","unit":"ns/op","value":2.0}
not json
{"crate":"sock","name":"g","subject":"sock","unit":"ns/op","value":1.5}"#,
        );
        assert_eq!(f.0.len(), 2);
        assert_eq!(f.0[0].subject, "sock");
        assert_eq!(f.get("sock", "g", "sock", "ns/op"), Some(1.5));
    }

    #[test]
    fn alloc_rows_are_ordered_by_crate_then_test() {
        let rows = parse_allocs(
            r#"{"crate":"sonic-io","test":"b","path":"p","ops":10,"allocs":0,"bytes":0}
{"crate":"iofd","test":"z","path":"p","ops":1,"allocs":0,"bytes":0}
{"crate":"iofd","test":"a","path":"p","ops":1,"allocs":0,"bytes":0}"#,
        );
        let order: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.krate.as_str(), r.test.as_str()))
            .collect();
        assert_eq!(order, [("iofd", "a"), ("iofd", "z"), ("sonic-io", "b")]);
    }
}
