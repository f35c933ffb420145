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
    // Cargo treats a registry crate of a given version as immutable: packages (and their
    // builds) of the same version from an earlier run would be reused as they were. Verify
    // in a target directory of its own, emptied first, so each crate is checked against its
    // siblings as they are now.
    let dir = crate::run::root().join("target").join("package-check");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    forget_unpacked_packages()?;
    let mut c = cmd(
        "cargo",
        &["package", "--workspace", "--allow-dirty", "--quiet"],
    );
    c.env("CARGO_TARGET_DIR", &dir);
    status(c)
}

/// Cargo unpacks the packages it verifies into `$CARGO_HOME/registry/src/-<hash>/` (its
/// temporary local registry) and reuses what it finds there for the same name and version:
/// a crate changed since the last run would be verified against its siblings as they were
/// then. Removes those unpacked copies of this workspace's crates first.
pub(crate) fn forget_unpacked_packages() -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let members = crate::cross::workspace_members();
    for kind in ["src", "cache"] {
        let Ok(dirs) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for d in dirs.flatten() {
            // Local registries' directories have no host name before the hash.
            if !d.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(d.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ours = members.iter().any(|m| {
                    name.strip_prefix(m.as_str())
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
                });
                if ours {
                    let p = e.path();
                    let r = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                    r.map_err(|err| format!("cannot remove {}: {err}", p.display()))?;
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn actionlint(inst: &mut Installer) -> Result<String, String> {
    let (bin, source) = inst.ensure_actionlint()?;
    let mut c = cmd(bin.to_str().unwrap_or("actionlint"), &[]);
    c.arg(".github/workflows/ci.yml");
    status(c).map(|()| format!("linted by {source}"))
}

/// The crates whose tests make no raw system call, so Miri runs them all: sockaddr (its
/// `unsafe`: the `Sockaddr` contract and the byte views of the kernel structs in `raw.rs`,
/// through every encode and decode) and sonic-bytes (whose one `unsafe`, the mirrored
/// mapping, Miri cannot run: its buffers are safe code, and their property tests are
/// `cfg_attr(miri, ignore)`, leaving the unit tests, the ring arithmetic and the fixed
/// cases). iox is `#![forbid(unsafe_code)]`: Miri has nothing of its own to check that the
/// native tests do not (its code still runs under Miri inside sockaddr's tests).
pub(crate) const MIRI_CRATES: &[&str] = &["sockaddr", "sonic-bytes"];

/// The crates whose library unit tests (not their integration tests, which make syscalls)
/// run under Miri: sonic-io's inline payload erasure (`raw/payload.rs`, its `unsafe`
/// outside `sys`), the slab, the timer heap, the frame codec.
pub(crate) const MIRI_LIB_CRATES: &[&str] = &["sonic-io"];

/// `cargo +nightly miri test` on [`MIRI_CRATES`], then `--lib` on [`MIRI_LIB_CRATES`].
pub(crate) fn miri(inst: &mut Installer) -> Result<Counts, String> {
    inst.ensure_toolchain("nightly", &["miri", "rust-src"])?;
    let mut args = vec!["miri", "test"];
    for c in MIRI_CRATES {
        args.extend(["-p", c]);
    }
    let mut n = tests(nightly_cargo(&args))?;
    let mut lib = vec!["miri", "test", "--lib"];
    for c in MIRI_LIB_CRATES {
        lib.extend(["-p", c]);
    }
    n.add(tests(nightly_cargo(&lib))?);
    Ok(n)
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
            MIRI_CRATES
                .iter()
                .chain(MIRI_LIB_CRATES)
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        ))
    });
    if let Some(n) = counts {
        report.tests.add(n);
    }
    ok
}

/// Runs a test command as a step of `report`, adding its counts; `true` when it passed.
pub(crate) fn test_step(report: &mut Report, name: &str, c: std::process::Command) -> bool {
    let mut counts = None;
    let ok = report.step_noted(name, || {
        let n = tests(c)?;
        counts = Some(n);
        Ok(format!(
            "{} passed, {} failed, {} ignored",
            n.passed, n.failed, n.ignored
        ))
    });
    if let Some(n) = counts {
        report.tests.add(n);
    }
    ok
}

/// The loom models: every cross-thread structure's tests under `--cfg sonic_io_loom`
/// (sonic-io's post queue and its waker). Release mode, in a target directory of their own
/// so the cfg does not invalidate the main build.
pub(crate) fn loom_command() -> std::process::Command {
    let mut c = cmd(
        "cargo",
        &[
            "test",
            "-p",
            "sonic-io",
            "--lib",
            "--release",
            "--target-dir",
            "target/loom",
            "loom_model",
        ],
    );
    c.env("RUSTFLAGS", "--cfg sonic_io_loom");
    c
}

/// The cargo-deny release xtask installs when `cargo deny` is missing.
const CARGO_DENY_VERSION: &str = "0.20.2";

/// `cargo deny check bans licenses sources` against `deny.toml`. The advisories check needs
/// the RustSec database from GitHub, which this project's machines cannot reach: the GitHub
/// workflow runs it.
pub(crate) fn deny(inst: &mut Installer) -> Result<String, String> {
    inst.ensure_cargo_tool(
        "deny",
        "cargo-deny",
        CARGO_DENY_VERSION,
        crate::install::ToolBuild::Debug,
    )?;
    status(cmd(
        "cargo",
        &["deny", "check", "bans", "licenses", "sources"],
    ))
    .map(|()| "bans licenses sources (advisories: GitHub workflow)".into())
}

/// The apt packages of the peers that tests run against: socat, netcat-openbsd (`nc -N`),
/// python3 (its `socket`, `ssl` and `venv` modules: sonic-websocket's tests install Python's
/// `websockets` into a virtual environment under the target directory) and openssl
/// (`s_server`, `s_client`, for sonic-tls's tests).
pub(crate) const PEER_TOOLS: &[&str] = &["socat", "netcat-openbsd", "python3", "openssl"];

/// The workspace members that declare Cargo features of their own (besides `default`),
/// from `cargo metadata`.
pub(crate) fn feature_crates() -> Result<Vec<String>, String> {
    let meta = crate::run::workspace_metadata()?;
    Ok(crates_with_features(&meta))
}

fn crates_with_features(meta: &serde_json::Value) -> Vec<String> {
    let Some(packages) = meta["packages"].as_array() else {
        return Vec::new();
    };
    packages
        .iter()
        .filter(|p| {
            p["features"]
                .as_object()
                .is_some_and(|f| f.keys().any(|k| k != "default"))
        })
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect()
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
    // The real peers the tests talk to (sonic-io's tests/peers.rs, sonic-tls's and
    // sonic-websocket's interop tests).
    report.step("peer tools", || inst.ensure_apt(PEER_TOOLS));
    // sonic-io's default backend is named, not inherited from the caller's environment: this
    // is the epoll half of the backend matrix, `test-uring` the other.
    let mut test = cmd(
        "cargo",
        &["test", "--workspace", "--all-features", "--no-fail-fast"],
    );
    test.env(crate::backend::ENV, "epoll");
    test_step(report, "test", test);
    // The same tests of sonic-io and the crates above it on io_uring, where it works.
    crate::backend::uring_step(report);
    // `--all-features` turns on every optional path (sonic-io's `linux_5_11` replaces the
    // timerfd wait with epoll_pwait2), so the default build would run nowhere: test it too,
    // for the crates whose features change their own code. The others build the same either
    // way and are not run twice (sonic-multicast, above sonic-io, only sees the wait
    // primitive change under it).
    match feature_crates() {
        Ok(crates) if crates.is_empty() => {}
        Ok(crates) => {
            // Unit and integration tests: doctests do not change with the features.
            let mut args = vec!["test", "--no-fail-fast", "--lib", "--tests"];
            for c in &crates {
                args.extend(["-p", c.as_str()]);
            }
            test_step(
                report,
                &format!("test default features ({})", crates.join(" ")),
                cmd("cargo", &args),
            );
        }
        Err(e) => {
            report.step("test default features", || Err(e));
        }
    }
    report.step_noted("load", || {
        crate::load::load(&crate::load::Options::default())
    });
    // Every benchmark in its short form and the reports built from them, written under
    // target/bench-quick/: fails when a benchmark fails or a report is empty.
    report.step_noted("bench --quick", || crate::bench::bench(inst, true));
    // The Autobahn cases through kosoku, both directions, in parallel, the examples deflating
    // at level 1: every case of sections 1 to 11 and the spread of 12 and 13
    // (`autobahn::in_ci_spread`, 373 of 517). All 517 took 4.8 to 7.5 min of this step, too
    // much of CI's 45; the GitHub workflow's `autobahn` job runs `--full`. After the
    // benchmarks, whose bench-profile build the examples share.
    report.step_noted("autobahn", || {
        crate::autobahn::autobahn(inst, &crate::autobahn::Options::default())
    });
    // The mirrored buffer's shm_open path (macOS, FreeBSD) run for real on Linux.
    let mut shm = cmd(
        "cargo",
        &[
            "test",
            "-p",
            "sonic-bytes",
            "--tests",
            "--target-dir",
            "target/shm",
        ],
    );
    shm.env("RUSTFLAGS", "--cfg sonic_bytes_shm");
    test_step(report, "test sonic-bytes shm_open path", shm);
    report.step("doc", || {
        let mut c = cmd(
            "cargo",
            &["doc", "--workspace", "--no-deps", "--all-features"],
        );
        c.env("RUSTDOCFLAGS", "-D warnings");
        status(c)
    });
    miri_step(inst, report);
    test_step(report, "loom", loom_command());
    report.step_noted("fuzz smoke", || crate::fuzz::smoke(inst));
    report.step_noted("layers", || {
        layers::check_workspace().map(|n| format!("{n} crates"))
    });
    report.step_noted("deny", || deny(inst));
    report.step("package", package);
    // Each published crate against its last release tag (skipped, without installing
    // anything, while there is none), and each checked with the Rust it declares.
    report.step_noted("semver", || crate::release::semver_step(inst));
    report.step_noted("msrv", || crate::release::msrv_step(inst));
    cross::cross(inst, report, cross::TARGETS);
    // SCTP against a real stack: sock's tests/sctp.rs inside Debian 12's 6.1 kernel booted in
    // qemu (this machine's kernel has no SCTP), with the binaries the test step built; in the
    // same boot sonic-io's tests/uring.rs, the io_uring backend on 6.1's io_uring. The
    // other suites (`cargo xtask vm --suite all`) take far longer under TCG: their own command
    // and workflow job. Where apt has no Debian 12 kernel (the GitHub runner's Ubuntu) the step
    // says it skipped; the workflow's vm job runs it in a Debian 12 container.
    crate::vm::ci_step(inst, report);
    report.step_noted("actionlint", || actionlint(inst));
    report.all_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_crates_with_features_of_their_own_are_tested_twice() {
        let meta = serde_json::json!({
            "packages": [
                {"name": "zcall", "features": {}},
                {"name": "sock", "features": {"default": [], "raw": []}},
                {"name": "plain", "features": {"default": []}},
                {"name": "sonic-io", "features": {"default": [], "linux_5_11": []}},
            ]
        });
        assert_eq!(crates_with_features(&meta), ["sock", "sonic-io"]);
        assert!(crates_with_features(&serde_json::json!({})).is_empty());
    }
}
