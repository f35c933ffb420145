//! The workspace's own tooling, run as `cargo xtask <command>`.
//!
//! | command | what |
//! |---|---|
//! | `ci` | everything CI checks, in order, with a summary table of step, result and seconds |
//! | `test-uring` | the `ci` step that re-runs the tests of sonic-io, sonic-multicast, sonic-tls and sonic-websocket with `SONIC_IO_BACKEND=uring` (skipped, saying why, where io_uring does not work) |
//! | `cross [--target T]... [--install]` | tests under qemu-user for aarch64/riscv64, checks for macOS/FreeBSD, the loongarch64 asm build |
//! | `autobahn [--cases PATTERN] [--jobs N] [--level N] [--full]` | the Autobahn cases through kosoku against sonic-websocket's examples, both directions, in parallel; fails on a case not OK, NON-STRICT or INFORMATIONAL (default, the ci step: sections 1-11 and a spread of 12-13; `--full`, the workflow's autobahn job: every case; `--level`: the examples' deflate level, 1 by default) |
//! | `miri` | `cargo +nightly miri test` on the tests that reach the `unsafe` outside the `sys` modules (sockaddr, sonic-bytes, sonic-io's lib) |
//! | `fuzz [--seconds N] [--merge]` | every cargo-fuzz target for N seconds (60) from its committed corpus; `--merge` adds what reached new coverage |
//! | `load [--seconds N] [--clients N]` | sonic-io's echo server example under N clients (200) on loopback for N seconds (30), every byte checked, its memory sampled |
//! | `sanitize` | the workspace's tests under AddressSanitizer with leak detection (nightly, build-std) |
//! | `deny` | `cargo deny check bans licenses sources` |
//! | `layers` | fails if a crate depends on a crate of the same or a higher layer |
//! | `package` | `cargo package --workspace`: every crate can be released on its own |
//! | `doc` | the published crates' docs as docs.rs builds them: nightly, `--cfg docsrs`, all features, every target of their docs.rs metadata, warnings denied |
//! | `semver` | `cargo semver-checks` of every published crate against its last `CRATE-vX.Y.Z` tag (skipped, saying so, where there is none) |
//! | `msrv` | `cargo +<rust-version> check --lib --all-features` of every published crate in `target/msrv` (the toolchain installed with rustup when missing) |
//! | `release CRATE LEVEL` | a crate's release prepared offline (LEVEL: patch, minor, major): semver check against its last tag, version and requirement bumps, changelog, `cargo package`; prints the tag and `cargo publish` to run by hand |
//! | `actionlint` | lints `.github/workflows/` with actionlint |
//! | `bench [--quick]` | every crate's benchmarks, the allocation and syscall reports: `BENCHMARKS.md`, `benchmarks/*.svg`, the README's headline section (`--quick`: under `target/bench-quick/`) |
//! | `allocs` | the allocation tests, their measured figures as a table |
//! | `vm [--kernel debian-6.1] [--suite sctp\|uring\|ci\|sock\|all] [--timeout SECS]` | the test binaries inside Debian 12's 6.1 kernel booted in qemu-system-x86_64 (KVM when it starts the guest, else TCG): SCTP against a real stack, sonic-io's io_uring backend on 6.1's io_uring (`ci`: both, the default), the socket suites on the LTS kernel |
//!
//! Missing prerequisites (apt packages such as strace, rustup targets and components,
//! cargo-fuzz, cargo-deny, actionlint) are
//! installed when running as root or with `--install`; otherwise the exact commands are
//! printed and the step fails.
#![forbid(unsafe_code)]

mod autobahn;
mod backend;
mod bench;
mod ci;
mod cpio;
mod cross;
mod doc;
mod fuzz;
mod install;
mod layers;
mod load;
mod plot;
mod release;
mod run;
mod sanitize;
mod vm;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci | test-uring | cross [--target T]... | autobahn [--cases PATTERN] [--jobs N] [--level N] [--full] | miri | loom | fuzz [--seconds N] [--merge] | load [--seconds N] [--clients N] | sanitize | layers | deny | package | doc | semver | msrv | release CRATE patch|minor|major | actionlint | bench [--quick] | allocs | vm [--kernel debian-6.1] [--suite sctp|uring|ci|sock|all] [--timeout SECS]> [--install]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let install = args.iter().any(|a| a == "--install");
    let mut inst = install::Installer::new(install);
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let mut report = run::Report::default();
    let ok = match cmd.as_str() {
        "ci" => ci::ci(&mut inst, &mut report),
        "cross" => {
            let targets = match cross::parse_targets(&args[1..]) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("xtask cross: {e}\n{USAGE}");
                    return ExitCode::FAILURE;
                }
            };
            cross::cross(&mut inst, &mut report, &targets)
        }
        "fuzz" => match fuzz::parse_args(&args[1..]) {
            Ok(o) => fuzz::fuzz(&mut inst, &mut report, o),
            Err(e) => {
                eprintln!("xtask fuzz: {e}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        "load" => match load::parse_args(&args[1..]) {
            Ok(o) => report.step_noted("load", || load::load(&o)),
            Err(e) => {
                eprintln!("xtask load: {e}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        "bench" => match bench::parse_args(&args[1..]) {
            Ok(quick) => report.step_noted(if quick { "bench --quick" } else { "bench" }, || {
                bench::bench(&mut inst, quick)
            }),
            Err(e) => {
                eprintln!("xtask bench: {e}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        "autobahn" => match autobahn::parse_args(&args[1..]) {
            Ok(o) => report.step_noted("autobahn", || autobahn::autobahn(&mut inst, &o)),
            Err(e) => {
                eprintln!("xtask autobahn: {e}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        "allocs" => report.step_noted("allocs", bench::allocs),
        "vm" => match vm::parse_args(&args[1..]) {
            Ok(o) => vm::vm_step(&mut inst, &mut report, &o),
            Err(e) => {
                eprintln!("xtask vm: {e}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        "sanitize" => sanitize::sanitize(&mut inst, &mut report),
        "deny" => report.step_noted("deny", || ci::deny(&mut inst)),
        "layers" => report.step("layers", || layers::check_workspace().map(|_| ())),
        "package" => report.step("package", ci::package),
        "doc" => doc::doc(&mut inst, &mut report),
        "semver" => report.step_noted("semver", || release::semver_step(&mut inst)),
        "msrv" => report.step_noted("msrv", || release::msrv_step(&mut inst)),
        "release" => match release::parse_args(&args[1..]) {
            Ok(o) => report.step_noted("release", || release::release(&mut inst, &o)),
            Err(e) => {
                eprintln!("xtask release: {e}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        "miri" => ci::miri_step(&mut inst, &mut report),
        "loom" => ci::test_step(&mut report, "loom", ci::loom_command()),
        "test-uring" => backend::uring_step(&mut report),
        "actionlint" => report.step_noted("actionlint", || ci::actionlint(&mut inst)),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("xtask: unknown command {other:?}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    report.print_summary();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
