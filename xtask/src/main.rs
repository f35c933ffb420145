//! The workspace's own tooling, run as `cargo xtask <command>`.
//!
//! | command | what |
//! |---|---|
//! | `ci` | everything CI checks, in order, with a summary table of step, result and seconds |
//! | `cross [--target T]... [--install]` | tests under qemu-user for aarch64/riscv64, checks for macOS/FreeBSD, the loongarch64 asm build |
//! | `miri` | `cargo +nightly miri test` on the crates whose tests make no raw syscall (iox, sockaddr) |
//! | `layers` | fails if a crate depends on a crate of the same or a higher layer |
//! | `package` | `cargo package --workspace`: every crate can be released on its own |
//! | `actionlint` | lints `.github/workflows/` with actionlint |
//!
//! Missing prerequisites (apt packages, rustup targets and components, actionlint) are
//! installed when running as root or with `--install`; otherwise the exact commands are
//! printed and the step fails.
#![forbid(unsafe_code)]

mod ci;
mod cross;
mod install;
mod layers;
mod run;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci | cross [--target T]... | miri | layers | package | actionlint> [--install]";

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
        "layers" => report.step("layers", || layers::check_workspace().map(|_| ())),
        "package" => report.step("package", ci::package),
        "miri" => ci::miri_step(&mut inst, &mut report),
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
