//! `cargo xtask fuzz [--seconds N] [--merge]`: every cargo-fuzz target under
//! `fuzz/fuzz_targets`, each run for N seconds (nightly, AddressSanitizer, cargo-fuzz's
//! defaults) starting from its committed corpus `fuzz/corpus/<target>`.
//!
//! What a run finds goes to a scratch corpus under `fuzz/target/corpus/<target>` (emptied
//! first, so every run starts from the committed corpus alone); the committed one is only
//! read, unless `--merge` adds the scratch inputs that reach new coverage to it (libFuzzer's
//! `-merge=1`, which keeps it minimal). A crash fails the target's step and leaves the input
//! in `fuzz/artifacts/<target>/`.

use std::path::{Path, PathBuf};

use crate::install::Installer;
use crate::run::{Report, nightly_cargo, root, status, status_scanning_stderr};

/// Seconds per target in `cargo xtask ci`.
pub(crate) const SMOKE_SECONDS: u64 = 10;

/// Seconds per target of `cargo xtask fuzz` without `--seconds`.
const DEFAULT_SECONDS: u64 = 60;

/// The cargo-fuzz release xtask installs when `cargo fuzz` is missing.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// What `cargo xtask fuzz` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) seconds: u64,
    pub(crate) merge: bool,
}

/// `--seconds N` and `--merge` (`--install` is the installer's).
pub(crate) fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        seconds: DEFAULT_SECONDS,
        merge: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                o.seconds =
                    v.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("--seconds wants a positive whole number, not {v:?}")
                    })?;
            }
            "--merge" => o.merge = true,
            "--install" => {}
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(o)
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// The targets: the file stems under `fuzz/fuzz_targets`, sorted.
pub(crate) fn targets(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(String::from)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no fuzz target in {}", dir.display()));
    }
    Ok(names)
}

/// The execution count in one of libFuzzer's closing lines: `Done 123 runs in 10
/// second(s)`, or `stat::number_of_executed_units: 123` (`-print_final_stats=1`).
pub(crate) fn parse_runs(line: &str) -> Option<u64> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("Done ") {
        return rest.split_whitespace().next()?.parse().ok();
    }
    line.strip_prefix("stat::number_of_executed_units:")?
        .trim()
        .parse()
        .ok()
}

fn ensure(inst: &mut Installer) -> Result<(), String> {
    inst.ensure_toolchain("nightly", &[])?;
    inst.ensure_cargo_tool(
        "fuzz",
        "cargo-fuzz",
        CARGO_FUZZ_VERSION,
        crate::install::ToolBuild::Release,
    )
}

/// `cargo +nightly fuzz build`: every target, once.
fn build() -> Result<(), String> {
    status(nightly_cargo(&["fuzz", "build"]))
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Runs one target for `seconds` and returns its note: executions, corpus size.
fn run_target(name: &str, seconds: u64, merge: bool) -> Result<(u64, String), String> {
    let committed = fuzz_dir().join("corpus").join(name);
    let scratch = fuzz_dir().join("target").join("corpus").join(name);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .map_err(|e| format!("cannot empty {}: {e}", scratch.display()))?;
    }
    for d in [&committed, &scratch] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut c = nightly_cargo(&["fuzz", "run", name]);
    c.arg(&scratch).arg(&committed).args([
        "--",
        &format!("-max_total_time={seconds}"),
        "-print_final_stats=1",
    ]);
    let mut runs = None;
    status_scanning_stderr(c, |line| {
        if let Some(n) = parse_runs(line) {
            runs = Some(runs.map_or(n, |r: u64| r.max(n)));
        }
    })
    .map_err(|e| format!("{e}: a crash? see fuzz/artifacts/{name}/"))?;
    let runs = runs.ok_or("libFuzzer printed no execution count")?;
    let found = count_files(&scratch);
    let mut note = format!(
        "{name}: {runs} runs in {seconds} s, corpus {} (+{found} this run)",
        count_files(&committed)
    );
    if merge && found > 0 {
        let before = count_files(&committed);
        let mut m = nightly_cargo(&["fuzz", "run", name]);
        m.arg(&committed).arg(&scratch).args(["--", "-merge=1"]);
        status(m)?;
        note.push_str(&format!(
            ", {} merged",
            count_files(&committed).saturating_sub(before)
        ));
    }
    Ok((runs, note))
}

/// `cargo xtask fuzz`: a build step, then one step per target.
pub(crate) fn fuzz(inst: &mut Installer, report: &mut Report, o: Options) -> bool {
    if !report.step("fuzz tools", || ensure(inst)) || !report.step("fuzz build", build) {
        return false;
    }
    let names = match targets(&fuzz_dir().join("fuzz_targets")) {
        Ok(n) => n,
        Err(e) => return report.step("fuzz targets", || Err(e)),
    };
    let mut ok = true;
    for name in &names {
        ok &= report.step_noted(&format!("fuzz {name}"), || {
            run_target(name, o.seconds, o.merge).map(|(_, note)| note)
        });
    }
    ok
}

/// The `fuzz smoke` step of `cargo xtask ci`: every target for [`SMOKE_SECONDS`].
pub(crate) fn smoke(inst: &mut Installer) -> Result<String, String> {
    ensure(inst)?;
    build()?;
    let mut notes = Vec::new();
    for name in targets(&fuzz_dir().join("fuzz_targets"))? {
        let (runs, _) = run_target(&name, SMOKE_SECONDS, false)?;
        notes.push(format!("{name} {runs}"));
    }
    Ok(format!(
        "runs in {SMOKE_SECONDS} s each: {}",
        notes.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_closing_lines() {
        assert_eq!(
            parse_runs("Done 1234567 runs in 10 second(s)"),
            Some(1_234_567)
        );
        assert_eq!(
            parse_runs("stat::number_of_executed_units: 98765"),
            Some(98_765)
        );
        assert_eq!(
            parse_runs("#4096 pulse  cov: 120 ft: 300 corp: 90/2Kb"),
            None
        );
        assert_eq!(parse_runs("INFO: Seed: 42"), None);
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&[]),
            Ok(Options {
                seconds: 60,
                merge: false
            })
        );
        assert_eq!(
            a(&["--seconds", "5", "--merge", "--install"]),
            Ok(Options {
                seconds: 5,
                merge: true
            })
        );
        assert!(a(&["--seconds", "0"]).is_err());
        assert!(a(&["--seconds"]).is_err());
        assert!(a(&["--bogus"]).is_err());
    }

    #[test]
    fn the_workspace_has_fuzz_targets_with_corpora() {
        let names = targets(&fuzz_dir().join("fuzz_targets")).unwrap();
        for t in [
            "cmsg_parse",
            "tls_server_records",
            "ws_frames",
            "ws_handshake",
        ] {
            assert!(names.contains(&t.to_string()), "{t} missing from {names:?}");
        }
        for n in &names {
            assert!(
                count_files(&fuzz_dir().join("corpus").join(n)) > 0,
                "fuzz/corpus/{n} is committed and not empty"
            );
        }
    }
}
