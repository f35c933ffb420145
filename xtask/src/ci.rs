//! `cargo xtask ci`: every check CI runs, in order, each timed.

use crate::cross;
use crate::install::Installer;
use crate::layers;
use crate::run::{Counts, Report, cmd, nightly_cargo, output, status, tests};

/// The toolchain rustup selects in the workspace (`stable`, `1.95.0-x86_64-...`).
fn active_toolchain() -> String {
    output(cmd("rustup", &["show", "active-toolchain"]))
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "stable".into())
}

pub(crate) fn package() -> Result<(), String> {
    status(cmd(
        "cargo",
        &["package", "--workspace", "--allow-dirty", "--quiet"],
    ))
}

pub(crate) fn actionlint(inst: &mut Installer) -> Result<String, String> {
    let (bin, source) = inst.ensure_actionlint()?;
    let mut c = cmd(bin.to_str().unwrap_or("actionlint"), &[]);
    c.arg(".github/workflows/ci.yml");
    status(c).map(|()| format!("linted by {source}"))
}

/// The crates whose tests make no raw system call, so Miri can run them.
pub(crate) const MIRI_CRATES: &[&str] = &["iox", "sockaddr"];

/// `cargo +nightly miri test` on [`MIRI_CRATES`].
pub(crate) fn miri(inst: &mut Installer) -> Result<Counts, String> {
    inst.ensure_toolchain("nightly", &["miri", "rust-src"])?;
    let mut args = vec!["miri", "test"];
    for c in MIRI_CRATES {
        args.extend(["-p", c]);
    }
    tests(nightly_cargo(&args))
}

/// Runs [`miri`] as a step of `report`, adding its counts.
pub(crate) fn miri_step(inst: &mut Installer, report: &mut Report) -> bool {
    let mut counts = None;
    let ok = report.step_noted("miri", || {
        let n = miri(inst)?;
        counts = Some(n);
        Ok(format!(
            "{} passed under Miri ({})",
            n.passed,
            MIRI_CRATES.join(" ")
        ))
    });
    if let Some(n) = counts {
        report.tests.add(n);
    }
    ok
}

pub(crate) fn ci(inst: &mut Installer, report: &mut Report) -> bool {
    let tc = active_toolchain();
    report.step("toolchain", || {
        inst.ensure_toolchain(&tc, &["rustfmt", "clippy"])
    });
    report.step("fmt", || {
        status(cmd("cargo", &["fmt", "--all", "--", "--check"]))
    });
    report.step("clippy", || {
        status(cmd(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        ))
    });
    let mut counts = None;
    report.step_noted("test", || {
        let n = tests(cmd(
            "cargo",
            &["test", "--workspace", "--all-features", "--no-fail-fast"],
        ))?;
        counts = Some(n);
        Ok(format!(
            "{} passed, {} failed, {} ignored",
            n.passed, n.failed, n.ignored
        ))
    });
    if let Some(n) = counts {
        report.tests.add(n);
    }
    report.step("doc", || {
        let mut c = cmd(
            "cargo",
            &["doc", "--workspace", "--no-deps", "--all-features"],
        );
        c.env("RUSTDOCFLAGS", "-D warnings");
        status(c)
    });
    miri_step(inst, report);
    report.step_noted("layers", || {
        layers::check_workspace().map(|n| format!("{n} crates"))
    });
    report.step("package", package);
    cross::cross(inst, report, cross::TARGETS);
    report.step_noted("actionlint", || actionlint(inst));
    report.all_ok()
}
