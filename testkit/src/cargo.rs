//! Running cargo from a process cargo started (a test, `cargo xtask`).

use std::process::Command;

/// Whether `name` is one of the variables cargo sets for the package it builds or runs
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `CARGO_CRATE_NAME`, `OUT_DIR`, ...), as opposed to
/// the user's own configuration (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_BUILD_*`).
pub fn is_package_env(name: &str) -> bool {
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

/// A `Command` for `program` (cargo, or a tool that runs it) without the package variables
/// this process inherited from the cargo that started it.
///
/// Build scripts that declare `rerun-if-env-changed` on them (ring's does, for
/// `CARGO_MANIFEST_DIR` and `CARGO_PKG_*`) see them change between a cargo run from a test
/// or from `cargo xtask` and a cargo run from a shell, and rebuild, with everything above
/// them, twice: once for the inner run, once for the next outer one (seven seconds here
/// for sonic-websocket's TLS stack, each time).
pub fn cargo_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(is_package_env) {
            c.env_remove(&k);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_variables_are_told_from_configuration() {
        for k in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_CRATE_NAME",
            "OUT_DIR",
        ] {
            assert!(is_package_env(k), "{k}");
        }
        for k in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "CARGO",
            "PATH",
        ] {
            assert!(!is_package_env(k), "{k}");
        }
        // This test runs under cargo, which set CARGO_MANIFEST_DIR: the command drops it.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let c = cargo_command("cargo");
        assert!(
            c.get_envs()
                .any(|(k, v)| k == "CARGO_MANIFEST_DIR" && v.is_none())
        );
    }
}
