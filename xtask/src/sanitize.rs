//! `cargo xtask sanitize`: the workspace's unit and integration tests under
//! AddressSanitizer with leak detection (nightly `-Zsanitizer=address`, the standard library
//! rebuilt with it through `-Zbuild-std`). Not a step of `cargo xtask ci`: the rebuild takes
//! long on two cores; the GitHub workflow runs it as a job of its own.

use crate::install::Installer;
use crate::run::{Report, nightly_cargo, root};

/// The one target AddressSanitizer is run on.
pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";

/// `halt_on_error` stays on (the default): the first report fails the test binary.
const ASAN_OPTIONS: &str = "detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1";

/// The test command: every workspace crate but xtask (tooling that only spawns commands),
/// lib and integration tests (doctests cannot take `-Zbuild-std`), in a target directory of
/// its own so the instrumented build never mixes with the normal one.
pub(crate) fn command() -> std::process::Command {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("sanitize");
    let mut c = nightly_cargo(&[
        "test",
        "-Zbuild-std",
        "--target",
        TARGET,
        "--workspace",
        "--exclude",
        "xtask",
        "--all-features",
        "--lib",
        "--tests",
        "--no-fail-fast",
    ]);
    c.arg("--target-dir").arg(dir);
    // RUSTFLAGS with --target reach only the target's crates, not build scripts or
    // proc-macros, which run on the host uninstrumented.
    c.env(
        "RUSTFLAGS",
        "-Zsanitizer=address -Cforce-frame-pointers=yes",
    );
    c.env("ASAN_OPTIONS", ASAN_OPTIONS);
    c
}

/// Runs the sanitizer steps into `report`.
pub(crate) fn sanitize(inst: &mut Installer, report: &mut Report) -> bool {
    if !(cfg!(all(target_os = "linux", target_arch = "x86_64"))) {
        return report.step("sanitize", || {
            Err(format!("AddressSanitizer runs here on {TARGET} only"))
        });
    }
    if !report.step("toolchain nightly rust-src", || {
        inst.ensure_toolchain("nightly", &["rust-src"])
    }) {
        return false;
    }
    // sonic-io's tests/peers.rs drives the echo example with these.
    report.step("peer tools", || inst.ensure_apt(crate::ci::PEER_TOOLS));
    crate::ci::test_step(report, "test under AddressSanitizer", command())
}
