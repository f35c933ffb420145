//! Benchmark summaries: read criterion's estimates, print ratios against a peer, and append
//! one JSON line per figure under `target/bench-summary/`, where `cargo xtask bench`
//! collects them; allocation figures of the hot paths for `cargo xtask allocs`.

use std::io::Write;
use std::path::PathBuf;

use crate::AllocStats;

/// The target directory: `CARGO_TARGET_DIR`, else three levels above the running
/// benchmark binary (`target/<profile>/deps/<bin>`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The headline estimate (slope, else mean), in nanoseconds, that criterion saved for
/// `group/bench` in its last run, or `None` when there is none.
pub fn criterion_estimate_ns(group: &str, bench: &str) -> Option<f64> {
    let base = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("criterion"));
    let text = std::fs::read_to_string(
        base.join(group)
            .join(bench)
            .join("new")
            .join("estimates.json"),
    )
    .ok()?;
    headline_estimate(&text)
}

/// Extracts criterion's headline estimate from `estimates.json`: the slope (the figure
/// criterion prints as `time:`) when present, else the mean.
pub fn headline_estimate(json: &str) -> Option<f64> {
    point_estimate(json, "\"slope\"").or_else(|| point_estimate(json, "\"mean\""))
}

fn point_estimate(json: &str, field: &str) -> Option<f64> {
    let at = json.find(field)?;
    let rest = &json[at..];
    if rest[field.len()..]
        .trim_start()
        .trim_start_matches(':')
        .trim_start()
        .starts_with("null")
    {
        return None;
    }
    let key = "\"point_estimate\":";
    let at = rest.find(key)? + key.len();
    let num: String = rest[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        .collect();
    num.parse().ok()
}

/// One figure of a benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure<'a> {
    /// The benchmark (`"eventfd write+read"`).
    pub name: &'a str,
    /// What was measured (`"zcall"`, or the peer: `"libc"`).
    pub subject: &'a str,
    /// The unit of `value` (`"ns/op"`).
    pub unit: &'a str,
    /// The figure.
    pub value: f64,
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JSON line for a figure.
pub fn figure_json(crate_name: &str, f: &Figure<'_>) -> String {
    format!(
        "{{\"crate\":{},\"name\":{},\"subject\":{},\"unit\":{},\"value\":{}}}",
        json_str(crate_name),
        json_str(f.name),
        json_str(f.subject),
        json_str(f.unit),
        if f.value.is_finite() {
            f.value.to_string()
        } else {
            "null".into()
        }
    )
}

/// Appends figures to `target/bench-summary/<crate_name>.jsonl`.
pub fn record(crate_name: &str, figures: &[Figure<'_>]) -> std::io::Result<()> {
    let dir = target_dir().join("bench-summary");
    std::fs::create_dir_all(&dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{crate_name}.jsonl")))?;
    for f in figures {
        writeln!(file, "{}", figure_json(crate_name, f))?;
    }
    Ok(())
}

/// Reads the criterion estimates of `group/ours` and `group/peer`, prints them with their
/// ratio (peer / ours: above 1 means ours is faster), and records all three. Returns the
/// ratio, or `None` when either estimate is missing (criterion was filtered, say).
pub fn compare(crate_name: &str, group: &str, ours: &str, peer: &str) -> Option<f64> {
    let a = criterion_estimate_ns(group, ours)?;
    let b = criterion_estimate_ns(group, peer)?;
    let ratio = b / a;
    println!("{group}: {ours} {a:.1} ns, {peer} {b:.1} ns, {peer}/{ours} = {ratio:.3}");
    let figures = [
        Figure {
            name: group,
            subject: ours,
            unit: "ns/op",
            value: a,
        },
        Figure {
            name: group,
            subject: peer,
            unit: "ns/op",
            value: b,
        },
        Figure {
            name: group,
            subject: &format!("{peer}/{ours}"),
            unit: "ratio",
            value: ratio,
        },
    ];
    if let Err(e) = record(crate_name, &figures) {
        eprintln!("testkit::bench: cannot record the summary: {e}");
    }
    Some(ratio)
}

/// The environment variable that names the file [`report_allocs`] appends to. `cargo xtask
/// allocs` (and `cargo xtask bench`) sets it to `target/bench-summary/allocs.jsonl`; unset,
/// nothing is written.
pub const ALLOC_REPORT_ENV: &str = "TESTKIT_ALLOC_REPORT";

/// The JSON line of one measured hot path.
pub fn alloc_json(crate_name: &str, test: &str, path: &str, ops: u64, stats: AllocStats) -> String {
    format!(
        "{{\"crate\":{},\"test\":{},\"path\":{},\"ops\":{ops},\"allocs\":{},\"bytes\":{}}}",
        json_str(crate_name),
        json_str(test),
        json_str(path),
        stats.allocs,
        stats.bytes
    )
}

/// Records the allocation figures of `ops` operations of the hot path `path` for the
/// workspace's allocation report: when [`ALLOC_REPORT_ENV`] names a file, appends one JSON
/// line with the crate under test (`CARGO_PKG_NAME`, which cargo sets for test runs), the
/// test (the name of the calling thread, which libtest names after the test), the path, the
/// operation count and the figures. Without the variable it does nothing.
pub fn report_allocs(path: &str, ops: u64, stats: AllocStats) {
    let Some(file) = std::env::var_os(ALLOC_REPORT_ENV) else {
        return;
    };
    let krate = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "unknown".into());
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed");
    // One write of the whole line to a file opened for appending: lines of tests running
    // in parallel do not interleave.
    let line = format!("{}\n", alloc_json(&krate, test, path, ops, stats));
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!(
            "testkit: cannot append to {} ({ALLOC_REPORT_ENV}): {e}",
            PathBuf::from(file).display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_slope_else_the_mean_never_the_median() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":10.0,"upper_bound":12.0},"point_estimate":11.25,"standard_error":0.5},"median":{"confidence_interval":{},"point_estimate":99.0},"slope":null}"#;
        assert_eq!(headline_estimate(json), Some(11.25));
        let with_slope = r#"{"mean":{"point_estimate":11.25},"median":{"point_estimate":99.0},"slope":{"confidence_interval":{},"point_estimate":10.5}}"#;
        assert_eq!(headline_estimate(with_slope), Some(10.5));
        assert_eq!(headline_estimate("{}"), None);
    }

    #[test]
    fn figure_lines_are_json() {
        let f = Figure {
            name: "a \"b\"",
            subject: "zcall",
            unit: "ns/op",
            value: 1.5,
        };
        assert_eq!(
            figure_json("zcall", &f),
            r#"{"crate":"zcall","name":"a \"b\"","subject":"zcall","unit":"ns/op","value":1.5}"#
        );
    }

    #[test]
    fn alloc_lines_are_json() {
        let st = AllocStats {
            allocs: 0,
            deallocs: 0,
            bytes: 0,
        };
        assert_eq!(
            alloc_json("sock", "tcp_read_write", "read + write", 1000, st),
            r#"{"crate":"sock","test":"tcp_read_write","path":"read + write","ops":1000,"allocs":0,"bytes":0}"#
        );
    }
}
