//! The sonic-io backend matrix. sonic-io's default backend comes from `SONIC_IO_BACKEND` in
//! the environment (`epoll`, `uring`, `auto`; unset: epoll), so the tests of sonic-io and of
//! the crates built on it run twice in `ci`: in the `test` step with `SONIC_IO_BACKEND=epoll`
//! and again in the `test-uring` step with `SONIC_IO_BACKEND=uring`, after a probe that
//! io_uring works on this machine (the step passes, saying why it skipped, when it does not).
//! Under qemu-user (`cross`) only the epoll half runs: qemu-user does not emulate io_uring.

use std::process::Command;

use crate::run::{Report, cmd};

/// The environment variable that picks sonic-io's default backend.
pub(crate) const ENV: &str = "SONIC_IO_BACKEND";

/// The name of the uring half's step in the summary.
pub(crate) const URING_STEP: &str = "test-uring";

/// The crates whose tests run on both backends: sonic-io and every crate that drives I/O
/// through it.
pub(crate) const CRATES: &[&str] = &[
    "sonic-io",
    "sonic-multicast",
    "sonic-tls",
    "sonic-websocket",
];

/// What the cross step prints once: why its tests run on epoll only.
pub(crate) const QEMU_SKIP: &str = "the uring half (SONIC_IO_BACKEND=uring) is skipped under qemu-user: it does not emulate io_uring (io_uring_setup answers ENOSYS)";

/// `cargo test` of `crates` as the main test step runs them (all features, lib, integration
/// and doc tests, no fail-fast), with `SONIC_IO_BACKEND=uring`.
pub(crate) fn uring_command(crates: &[String]) -> Command {
    let mut args = vec!["test", "--all-features", "--no-fail-fast"];
    for c in crates {
        args.extend(["-p", c.as_str()]);
    }
    let mut c = cmd("cargo", &args);
    c.env(ENV, "uring");
    c
}

/// The `test-uring` step: probes io_uring, then re-runs the tests of [`CRATES`] (those that
/// exist) on it; a machine without io_uring passes the step with `test-uring skipped: <reason>`.
pub(crate) fn uring_step(report: &mut Report) -> bool {
    if let Err(reason) = io_uring_probe() {
        return report.step_noted(URING_STEP, || {
            println!("{URING_STEP} skipped: {reason}");
            Ok(format!("skipped: {reason}"))
        });
    }
    let crates = crate::cross::existing(CRATES);
    crate::ci::test_step(report, URING_STEP, uring_command(&crates))
}

/// `Ok` when sonic-io gets io_uring here: its `backend` example builds an Io with
/// `Backend::Auto` and prints the backend in use, with the reason of a fallback (a seccomp
/// filter, `kernel.io_uring_disabled`, ENOSYS, an old kernel). The reason otherwise.
fn io_uring_probe() -> Result<(), String> {
    let out = cmd(
        "cargo",
        &["run", "-q", "-p", "sonic-io", "--example", "backend"],
    )
    .output()
    .map_err(|e| format!("cargo run --example backend: {e}"))?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(format!(
            "the backend probe failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // "io_uring (stream reads in the ring)" or "... (reads wait for readiness)".
    if line.starts_with("io_uring") {
        Ok(())
    } else {
        Err(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uring_half_runs_the_four_crates_with_the_variable_set() {
        let crates: Vec<String> = CRATES.iter().map(|c| (*c).to_owned()).collect();
        let c = uring_command(&crates);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "test",
                "--all-features",
                "--no-fail-fast",
                "-p",
                "sonic-io",
                "-p",
                "sonic-multicast",
                "-p",
                "sonic-tls",
                "-p",
                "sonic-websocket"
            ]
        );
        // What it sets (the package variables it removes aside).
        let env: Vec<_> = c.get_envs().filter(|(_, v)| v.is_some()).collect();
        assert_eq!(
            env,
            [(
                std::ffi::OsStr::new(ENV),
                Some(std::ffi::OsStr::new("uring"))
            )]
        );
    }
}
