//! Running commands, timing steps, counting tests, printing the summary.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The workspace root (the parent of xtask's own directory).
pub(crate) fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// A command rooted at the workspace, echoed before it runs.
/// A command run from the workspace root, without the package variables `cargo xtask`
/// (a `cargo run`) set for xtask: a cargo started with them would rebuild what declares
/// `rerun-if-env-changed` on them (ring's build script), and again at the next cargo run
/// without them. The same rule as `testkit::is_package_env`, which tests use; xtask may not
/// depend on testkit (the layer rule), hence this twin.
pub(crate) fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(is_package_env) {
            c.env_remove(&k);
        }
    }
    c.args(args).current_dir(root());
    c
}

/// A variable cargo sets for the package it runs (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...),
/// not the user's configuration (`CARGO_HOME`, `CARGO_TARGET_DIR`).
fn is_package_env(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || name.starts_with("CARGO_BIN_")
        || matches!(
            name,
            "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// The command line with the environment it sets, as echoed before it runs.
fn describe(c: &Command) -> String {
    let mut s = String::new();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&short(c));
    s
}

/// The program and its arguments, for error messages.
fn short(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `cargo +nightly <args>`, without the outer (stable) cargo's environment leaking in.
pub(crate) fn nightly_cargo(args: &[&str]) -> Command {
    toolchain_cargo("nightly", args)
}

/// `cargo +<toolchain> <args>`, without the outer cargo's environment leaking in.
pub(crate) fn toolchain_cargo(toolchain: &str, args: &[&str]) -> Command {
    let mut c = cmd("cargo", &[&format!("+{toolchain}")]);
    c.args(args);
    for v in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "CARGO",
        "RUSTC_WRAPPER",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs `c` with inherited output; an error names the command and its status.
pub(crate) fn status(mut c: Command) -> Result<(), String> {
    println!("$ {}", describe(&c));
    let st = c
        .status()
        .map_err(|e| format!("cannot run {}: {e}", short(&c)))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({st})", short(&c)))
    }
}

/// Runs `c` quietly and returns its standard output, or `None` if it failed to run or exited
/// non-zero.
pub(crate) fn output(mut c: Command) -> Option<String> {
    let out = c.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `c` with its standard error read line by line: each line is echoed and handed to
/// `scan`. An error names the command and its status.
pub(crate) fn status_scanning_stderr(
    mut c: Command,
    mut scan: impl FnMut(&str),
) -> Result<(), String> {
    println!("$ {}", describe(&c));
    let mut child = c
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", short(&c)))?;
    let stderr = child.stderr.take().expect("piped stderr");
    let mut err = std::io::stderr();
    for line in BufReader::new(stderr).split(b'\n') {
        let line = line.map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&line);
        let _ = writeln!(err, "{line}");
        scan(&line);
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({st})", short(&c)))
    }
}

/// Test counts, summed over libtest's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) ignored: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: Counts) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.ignored += o.ignored;
    }
}

/// Parses `test result: ok. 5 passed; 0 failed; 1 ignored; ...`.
pub(crate) fn parse_test_result(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut c = Counts::default();
    for part in rest.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let n = words.len();
        if n < 2 {
            continue;
        }
        let Ok(v) = words[n - 2].parse::<u64>() else {
            continue;
        };
        match words[n - 1] {
            "passed" => c.passed = v,
            "failed" => c.failed = v,
            "ignored" => c.ignored = v,
            _ => {}
        }
    }
    Some(c)
}

/// Runs a test command, echoing its standard output as it comes, and returns the summed
/// counts of its `test result:` lines (an error if it failed or ran no test at all).
pub(crate) fn tests(mut c: Command) -> Result<Counts, String> {
    println!("$ {}", describe(&c));
    let mut child = c
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", short(&c)))?;
    let mut counts = Counts::default();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let _ = writeln!(out, "{line}");
        if let Some(r) = parse_test_result(&line) {
            counts.add(r);
        }
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!(
            "`{}` failed ({st}); {} passed, {} failed",
            short(&c),
            counts.passed,
            counts.failed
        ));
    }
    if counts.passed == 0 {
        return Err(format!("`{}` ran no test", short(&c)));
    }
    Ok(counts)
}

struct Row {
    step: String,
    ok: bool,
    secs: f64,
    note: String,
}

/// The steps of one xtask run and what they counted.
#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<Row>,
    pub(crate) tests: Counts,
}

impl Report {
    /// Runs one step, timing it; a failure is printed and recorded, and later steps still run.
    pub(crate) fn step(&mut self, name: &str, f: impl FnOnce() -> Result<(), String>) -> bool {
        self.step_noted(name, || f().map(|()| String::new()))
    }

    /// Like [`step`](Self::step), for a step that returns a note for the summary.
    pub(crate) fn step_noted(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<String, String>,
    ) -> bool {
        println!("\n==> {name}");
        let t = Instant::now();
        let r = f();
        let secs = t.elapsed().as_secs_f64();
        let (ok, note) = match r {
            Ok(note) => (true, note),
            Err(e) => {
                eprintln!("xtask: step {name} failed: {e}");
                (false, e.lines().next().unwrap_or("").to_owned())
            }
        };
        self.rows.push(Row {
            step: name.to_owned(),
            ok,
            secs,
            note,
        });
        ok
    }

    /// `true` when every step so far passed.
    pub(crate) fn all_ok(&self) -> bool {
        self.rows.iter().all(|r| r.ok)
    }

    pub(crate) fn print_summary(&self) {
        if self.rows.is_empty() {
            return;
        }
        let total: f64 = self.rows.iter().map(|r| r.secs).sum();
        let w = self
            .rows
            .iter()
            .map(|r| r.step.len())
            .max()
            .unwrap_or(4)
            .max(5);
        println!("\n{:<w$}  {:<6}  {:>8}  note", "step", "result", "seconds");
        println!("{:-<w$}  {:-<6}  {:->8}  ----", "", "", "");
        for r in &self.rows {
            let res = if r.ok { "ok" } else { "FAILED" };
            println!("{:<w$}  {:<6}  {:>8.1}  {}", r.step, res, r.secs, r.note);
        }
        println!(
            "{:<w$}  {:<6}  {:>8.1}  ({:.1} min)",
            "total",
            if self.all_ok() { "ok" } else { "FAILED" },
            total,
            total / 60.0
        );
        if self.tests.passed + self.tests.failed > 0 {
            // The plain closing line CI readers look for.
            println!(
                "xtask: {} passed, {} failed, {} skipped",
                self.tests.passed, self.tests.failed, self.tests.ignored
            );
        }
    }
}

/// `cargo metadata --no-deps` of the workspace, parsed.
pub(crate) fn workspace_metadata() -> Result<serde_json::Value, String> {
    let json = output(cmd(
        "cargo",
        &["metadata", "--format-version", "1", "--no-deps"],
    ))
    .ok_or("cargo metadata failed")?;
    serde_json::from_str(&json).map_err(|e| format!("cargo metadata: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_result_lines() {
        let c = parse_test_result(
            "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 4 filtered out; finished in 0.01s",
        );
        assert_eq!(
            c,
            Some(Counts {
                passed: 12,
                failed: 0,
                ignored: 3
            })
        );
        let f = parse_test_result(
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        assert_eq!(
            f,
            Some(Counts {
                passed: 1,
                failed: 2,
                ignored: 0
            })
        );
        assert_eq!(parse_test_result("running 3 tests"), None);
    }
}
