//! Benchmark summaries: read criterion's estimates, print ratios against a peer, and append
//! one JSON line per figure under `target/bench-summary/`, where `cargo xtask bench`
//! collects them.

use std::io::Write;
use std::path::PathBuf;

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
}
