//! Cross-architecture checks: tests run under qemu-user for the Linux targets that have an
//! asm backend, `cargo clippy` for macOS and FreeBSD, and a nightly build-std build of zcall
//! for loongarch64 so its asm is compiled.

use crate::install::Installer;
use crate::run::{Report, cmd, nightly_cargo, output, status, tests};

/// How a target is exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Build the tests and run them under qemu-user.
    Run {
        /// The C cross linker.
        linker: &'static str,
        /// The qemu-user binary.
        qemu: &'static str,
        /// The target's sysroot for qemu's `-L`.
        sysroot: &'static str,
        /// Debian packages that provide the three above.
        apt: &'static [&'static str],
    },
    /// `cargo clippy` of every target, warnings denied.
    Check,
    /// `cargo +nightly build -Zbuild-std=core -p zcall`.
    BuildStd,
}

/// One cross target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) triple: &'static str,
    pub(crate) mode: Mode,
}

pub(crate) const TARGETS: &[Target] = &[
    Target {
        triple: "aarch64-unknown-linux-gnu",
        mode: Mode::Run {
            linker: "aarch64-linux-gnu-gcc",
            qemu: "qemu-aarch64",
            sysroot: "/usr/aarch64-linux-gnu",
            apt: &[
                "qemu-user",
                "gcc-aarch64-linux-gnu",
                "libc6-dev-arm64-cross",
            ],
        },
    },
    Target {
        triple: "riscv64gc-unknown-linux-gnu",
        mode: Mode::Run {
            linker: "riscv64-linux-gnu-gcc",
            qemu: "qemu-riscv64",
            sysroot: "/usr/riscv64-linux-gnu",
            apt: &[
                "qemu-user",
                "gcc-riscv64-linux-gnu",
                "libc6-dev-riscv64-cross",
            ],
        },
    },
    Target {
        triple: "aarch64-apple-darwin",
        mode: Mode::Check,
    },
    Target {
        triple: "x86_64-unknown-freebsd",
        mode: Mode::Check,
    },
    Target {
        triple: "loongarch64-unknown-linux-gnu",
        mode: Mode::BuildStd,
    },
];

/// The crates whose lib and integration tests run under qemu, as far as they exist.
/// Crates left out of the macOS and FreeBSD lint: their build scripts compile C (ring, under
/// sonic-tls) with the target's C compiler, which this Linux machine does not have. Linted
/// natively on Linux; the GitHub workflow's macOS job builds them there.
pub(crate) const NO_CROSS_C: &[&str] = &["sonic-tls"];

/// Crates whose optional features pull a crate of [`NO_CROSS_C`] (sonic-websocket's `tls`):
/// the macOS and FreeBSD lint checks them with their default features, in a pass of their
/// own, since `--all-features` over the workspace would build that crate's C.
pub(crate) const CROSS_DEFAULT_FEATURES: &[&str] = &["sonic-websocket"];

pub(crate) const RUN_CRATES: &[&str] = &[
    "zcall",
    "iox",
    "iofd",
    "sockaddr",
    "sock",
    "sonic-bytes",
    "sonic-io",
];

/// `CARGO_TARGET_<TRIPLE>_<KEY>` as cargo spells it.
pub(crate) fn target_env(triple: &str, key: &str) -> String {
    format!(
        "CARGO_TARGET_{}_{key}",
        triple.to_uppercase().replace(['-', '.'], "_")
    )
}

/// `--target T` arguments, checked against the table; none means every target.
pub(crate) fn parse_targets(args: &[String]) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => {
                let t = it.next().ok_or("--target needs a value")?;
                let found = TARGETS.iter().find(|x| x.triple == t).ok_or_else(|| {
                    let known: Vec<&str> = TARGETS.iter().map(|x| x.triple).collect();
                    format!("unknown target {t}; known: {}", known.join(", "))
                })?;
                out.push(*found);
            }
            "--install" => {}
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(if out.is_empty() {
        TARGETS.to_vec()
    } else {
        out
    })
}

/// The workspace's package names.
pub(crate) fn workspace_members() -> Vec<String> {
    output(cmd(
        "cargo",
        &["metadata", "--format-version", "1", "--no-deps"],
    ))
    .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
    .and_then(|m| {
        m["packages"].as_array().map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(String::from))
                .collect()
        })
    })
    .unwrap_or_default()
}

/// The workspace members among `wanted`.
pub(crate) fn existing(wanted: &[&str]) -> Vec<String> {
    let members = workspace_members();
    wanted
        .iter()
        .filter(|w| members.iter().any(|m| m == *w))
        .map(|w| (*w).to_owned())
        .collect()
}

fn container_engine_works() -> bool {
    output(cmd("docker", &["info"])).is_some() || output(cmd("podman", &["info"])).is_some()
}

/// Runs every selected target as its own step of `report`.
pub(crate) fn cross(inst: &mut Installer, report: &mut Report, targets: &[Target]) -> bool {
    let mut ok = true;
    if targets.iter().any(|t| matches!(t.mode, Mode::Run { .. })) {
        println!("cross: {}", crate::backend::QEMU_SKIP);
    }
    for t in targets {
        let name = format!("cross {}", t.triple);
        ok &= match t.mode {
            Mode::Run {
                linker,
                qemu,
                sysroot,
                apt,
            } => {
                let mut counts = None;
                let r = report.step_noted(&name, || {
                    inst.ensure_target("stable", t.triple)?;
                    let crates = existing(RUN_CRATES);
                    let mut args = vec![
                        "test",
                        "--no-fail-fast",
                        "--target",
                        t.triple,
                        "--lib",
                        "--tests",
                    ];
                    for c in &crates {
                        args.extend(["-p", c]);
                    }
                    let runner = format!("{qemu} -L {sysroot}");
                    let mut c = if container_engine_works()
                        && output(cmd("cross", &["--version"])).is_some()
                    {
                        let mut c = cmd("cross", &args);
                        c.env(target_env(t.triple, "RUSTFLAGS"), "--cfg qemu");
                        c
                    } else {
                        inst.ensure_apt(apt)?;
                        let mut c = cmd("cargo", &args);
                        c.env(target_env(t.triple, "LINKER"), linker)
                            .env(target_env(t.triple, "RUNNER"), &runner)
                            .env(target_env(t.triple, "RUSTFLAGS"), "--cfg qemu")
                            // testkit re-runs test binaries through this prefix.
                            .env("TESTKIT_RUNNER", &runner);
                        c
                    };
                    // The epoll half only: see the message printed above.
                    c.env(crate::backend::ENV, "epoll");
                    let n = tests(c)?;
                    counts = Some(n);
                    Ok(format!(
                        "{} passed, {} failed, {} ignored ({})",
                        n.passed,
                        n.failed,
                        n.ignored,
                        crates.join(" ")
                    ))
                });
                if let Some(n) = counts {
                    report.tests.add(n);
                }
                r
            }
            Mode::Check => report.step(&name, || {
                inst.ensure_target("stable", t.triple)?;
                // Clippy, warnings denied: lints on the other platforms count as much as
                // on this one (a clean `cargo check` there once hid an unsafe-block lint).
                let mut args = vec![
                    "clippy",
                    "--target",
                    t.triple,
                    "--workspace",
                    "--exclude",
                    "xtask",
                ];
                let skipped = existing(NO_CROSS_C);
                let default_only = existing(CROSS_DEFAULT_FEATURES);
                for c in skipped.iter().chain(&default_only) {
                    args.extend(["--exclude", c.as_str()]);
                }
                args.extend(["--all-targets", "--all-features", "--", "-D", "warnings"]);
                status(cmd("cargo", &args))?;
                if default_only.is_empty() {
                    return Ok(());
                }
                let mut args = vec!["clippy", "--target", t.triple];
                for c in &default_only {
                    args.extend(["-p", c.as_str()]);
                }
                args.extend(["--all-targets", "--", "-D", "warnings"]);
                status(cmd("cargo", &args))
            }),
            Mode::BuildStd => report.step(&name, || {
                inst.ensure_toolchain("nightly", &["rust-src"])?;
                let mut c = nightly_cargo(&[
                    "build",
                    "-Zbuild-std=core",
                    "-p",
                    "zcall",
                    "--target",
                    t.triple,
                ]);
                // Compile the asm entry points into zcall's own object code (no linker here).
                c.env(target_env(t.triple, "RUSTFLAGS"), "--cfg zcall_codegen");
                status(c)
            }),
        };
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_cargo() {
        assert_eq!(
            target_env("aarch64-unknown-linux-gnu", "RUNNER"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER"
        );
        assert_eq!(
            target_env("riscv64gc-unknown-linux-gnu", "LINKER"),
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER"
        );
    }

    #[test]
    fn the_table_covers_the_promised_targets() {
        let run: Vec<&str> = TARGETS
            .iter()
            .filter(|t| matches!(t.mode, Mode::Run { .. }))
            .map(|t| t.triple)
            .collect();
        assert_eq!(
            run,
            ["aarch64-unknown-linux-gnu", "riscv64gc-unknown-linux-gnu"]
        );
        let check: Vec<&str> = TARGETS
            .iter()
            .filter(|t| t.mode == Mode::Check)
            .map(|t| t.triple)
            .collect();
        assert_eq!(check, ["aarch64-apple-darwin", "x86_64-unknown-freebsd"]);
        assert!(
            TARGETS
                .iter()
                .any(|t| t.mode == Mode::BuildStd && t.triple.starts_with("loongarch64"))
        );
        for t in TARGETS {
            if let Mode::Run {
                linker,
                qemu,
                sysroot,
                apt,
            } = t.mode
            {
                let arch = t.triple.split('-').next().unwrap().trim_end_matches("gc");
                assert!(
                    linker.starts_with(arch) && qemu.ends_with(arch) && sysroot.contains(arch),
                    "{t:?}"
                );
                assert!(apt.contains(&"qemu-user"));
            }
        }
    }

    #[test]
    fn parses_target_arguments() {
        let all = parse_targets(&[]).unwrap();
        assert_eq!(all.len(), TARGETS.len());
        let one = parse_targets(&["--target".into(), "aarch64-apple-darwin".into()]).unwrap();
        assert_eq!(one, [TARGETS[2]]);
        assert!(
            parse_targets(&["--target".into(), "mips-unknown-linux-gnu".into()])
                .unwrap_err()
                .contains("unknown target")
        );
        assert!(parse_targets(&["--target".into()]).is_err());
    }
}
