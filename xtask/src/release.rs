//! `cargo xtask release CRATE LEVEL`: a crate's release, prepared offline and reversibly.
//!
//! Refuses on a dirty tree. Checks the crate with `cargo semver-checks` against its last
//! release tag (`CRATE-vX.Y.Z`, a git revision: no registry) for the chosen level, when there
//! is a tag. Then bumps the crate's version, the requirement of every crate that depends on
//! it (the workspace table, and any manifest that names a version of it itself), moves the
//! changelog's Unreleased section under the new version, and runs `cargo package` in a fresh
//! target directory; on a failure there every file is put back as it was. Prints the
//! dependents that need a release of their own, the tag and the commands to publish by hand.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::install::Installer;
use crate::run::{cmd, output, root, status};

/// The cargo-semver-checks release installed on demand (its rustdoc JSON reader must know
/// the format of the toolchain in use: 0.51 reads that of Rust 1.95).
pub(crate) const SEMVER_CHECKS_VERSION: &str = "0.51.0";

/// How far a release moves the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Patch,
    Minor,
    Major,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Patch => "patch",
            Level::Minor => "minor",
            Level::Major => "major",
        }
    }
}

/// `major.minor.patch`, without pre-release or build parts (the workspace uses none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    pub(crate) fn parse(s: &str) -> Option<Version> {
        let mut it = s.split('.').map(|p| p.parse::<u64>().ok());
        let v = Version {
            major: it.next()??,
            minor: it.next()??,
            patch: it.next()??,
        };
        it.next().is_none().then_some(v)
    }

    pub(crate) fn bump(self, level: Level) -> Version {
        match level {
            Level::Patch => Version {
                patch: self.patch + 1,
                ..self
            },
            Level::Minor => Version {
                minor: self.minor + 1,
                patch: 0,
                ..self
            },
            Level::Major => Version {
                major: self.major + 1,
                minor: 0,
                patch: 0,
            },
        }
    }

    /// Whether a caret requirement `^self` (what `version = "x.y.z"` means) accepts `new`:
    /// the leftmost non-zero part must stay the same.
    pub(crate) fn accepts(self, new: Version) -> bool {
        new >= self
            && if self.major > 0 {
                new.major == self.major
            } else if self.minor > 0 {
                new.major == 0 && new.minor == self.minor
            } else {
                new.major == 0 && new.minor == 0 && new.patch == self.patch
            }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What `cargo xtask release` was asked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) krate: String,
    pub(crate) level: Level,
}

pub(crate) fn parse_args(args: &[String]) -> Result<Options, String> {
    let words: Vec<&String> = args.iter().filter(|a| *a != "--install").collect();
    let [krate, level] = words[..] else {
        return Err("expected a crate and a level (patch | minor | major)".into());
    };
    let level = match level.as_str() {
        "patch" => Level::Patch,
        "minor" => Level::Minor,
        "major" => Level::Major,
        other => return Err(format!("level {other:?} is not patch, minor or major")),
    };
    Ok(Options {
        krate: krate.clone(),
        level,
    })
}

/// One workspace member as `cargo metadata` describes it.
struct Member {
    name: String,
    version: String,
    manifest: PathBuf,
    publish: bool,
    /// Workspace members it depends on: (name, kind), kind `None` for normal dependencies.
    deps: Vec<(String, Option<String>)>,
}

fn members() -> Result<Vec<Member>, String> {
    let meta = crate::run::workspace_metadata()?;
    let packages = meta["packages"].as_array().ok_or("no packages")?;
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    Ok(packages
        .iter()
        .map(|p| Member {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            version: p["version"].as_str().unwrap_or_default().to_owned(),
            manifest: PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
            // `publish = false` is `[]`; null means any registry.
            publish: p["publish"].as_array().is_none_or(|r| !r.is_empty()),
            deps: p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    let n = d["name"].as_str()?;
                    names
                        .contains(n)
                        .then(|| (n.to_owned(), d["kind"].as_str().map(String::from)))
                })
                .collect(),
        })
        .collect())
}

/// The published workspace members (all but `publish = false`) and the `rust-version` each
/// declares.
pub(crate) fn published() -> Result<Vec<(String, Option<String>)>, String> {
    let meta = crate::run::workspace_metadata()?;
    Ok(published_in(&meta))
}

fn published_in(meta: &serde_json::Value) -> Vec<(String, Option<String>)> {
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["publish"].as_array().is_none_or(|r| !r.is_empty()))
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_owned(),
                p["rust_version"].as_str().map(String::from),
            ))
        })
        .collect()
}

/// The `semver` step of `cargo xtask ci`: every published crate that has a release tag is
/// checked against its newest one, the release type taken from the version in its
/// manifest. Where no crate has a tag there is nothing to compare, and cargo-semver-checks
/// is not even installed.
pub(crate) fn semver_step(inst: &mut Installer) -> Result<String, String> {
    let crates = published()?;
    let tagged: Vec<(String, String)> = crates
        .iter()
        .filter_map(|(c, _)| last_tag(c).map(|(t, _)| (c.clone(), t)))
        .collect();
    let untagged: Vec<&str> = crates
        .iter()
        .map(|(c, _)| c.as_str())
        .filter(|c| !tagged.iter().any(|(t, _)| t == c))
        .collect();
    let shallow = output(cmd("git", &["rev-parse", "--is-shallow-repository"]))
        .is_some_and(|s| s.trim() == "true");
    let why = if shallow {
        "no CRATE-vX.Y.Z tag in this shallow clone (fetch the tags to compare)"
    } else {
        "no CRATE-vX.Y.Z tag yet (never released)"
    };
    if !untagged.is_empty() {
        println!("semver: skipped, {why}: {}", untagged.join(" "));
    }
    if tagged.is_empty() {
        return Ok(format!(
            "skipped: {why} for any of the {} published crates",
            crates.len()
        ));
    }
    let mut failed = Vec::new();
    for (c, tag) in &tagged {
        if let Err(e) = semver_checks(inst, c, tag, None) {
            eprintln!("xtask: semver: {c} against {tag}: {e}");
            failed.push(format!("{c} against {tag}"));
        }
    }
    if failed.is_empty() {
        Ok(format!(
            "{} checked against their tags, {} without a tag",
            tagged.len(),
            untagged.len()
        ))
    } else {
        Err(format!("semver violations: {}", failed.join(", ")))
    }
}

/// The `msrv` step of `cargo xtask ci`: `cargo +<rust-version> check --lib --all-features`
/// of every published crate, with the toolchain each declares (installed with rustup,
/// minimal profile, when missing), in `target/msrv` so the main build stays as it is.
pub(crate) fn msrv_step(inst: &mut Installer) -> Result<String, String> {
    let crates = published()?;
    let mut by_version: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (c, v) in &crates {
        let v = v
            .as_deref()
            .ok_or_else(|| format!("{c} declares no rust-version"))?;
        by_version.entry(v).or_default().push(c);
    }
    let mut notes = Vec::new();
    for (v, cs) in &by_version {
        inst.ensure_toolchain(v, &[])?;
        let mut args = vec![
            "check",
            "--lib",
            "--all-features",
            "--target-dir",
            "target/msrv",
        ];
        for c in cs {
            args.extend(["-p", c]);
        }
        status(crate::run::toolchain_cargo(v, &args))?;
        notes.push(format!("{} crates check with Rust {v}", cs.len()));
    }
    Ok(notes.join("; "))
}

/// The highest `CRATE-vX.Y.Z` tag in the repository, if any.
pub(crate) fn last_tag(krate: &str) -> Option<(String, Version)> {
    let tags = output(cmd("git", &["tag", "--list", &format!("{krate}-v*")]))?;
    newest_tag(krate, &tags)
}

fn newest_tag(krate: &str, tags: &str) -> Option<(String, Version)> {
    tags.lines()
        .filter_map(|t| {
            let v = Version::parse(t.trim().strip_prefix(krate)?.strip_prefix("-v")?)?;
            Some((t.trim().to_owned(), v))
        })
        .max_by_key(|(_, v)| *v)
}

/// `cargo semver-checks check-release -p CRATE --baseline-rev TAG [--release-type LEVEL]`.
pub(crate) fn semver_checks(
    inst: &mut Installer,
    krate: &str,
    tag: &str,
    level: Option<Level>,
) -> Result<(), String> {
    inst.ensure_cargo_tool(
        "semver-checks",
        "cargo-semver-checks",
        SEMVER_CHECKS_VERSION,
        crate::install::ToolBuild::Release,
    )?;
    let mut args = vec!["semver-checks", "check-release", "-p", krate];
    args.extend(["--baseline-rev", tag]);
    if let Some(l) = level {
        args.extend(["--release-type", l.name()]);
    }
    status(cmd("cargo", &args))
}

/// Replaces the `version = "..."` of `[package]` in a crate manifest.
pub(crate) fn set_package_version(manifest: &str, old: &str, new: &str) -> Result<String, String> {
    let mut in_package = false;
    let mut done = false;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            in_package = t == "[package]";
        }
        if in_package && !done && t == format!("version = \"{old}\"") {
            out.push_str(&line.replacen(old, new, 1));
            done = true;
        } else {
            out.push_str(line);
        }
    }
    if done {
        Ok(out)
    } else {
        Err(format!("no `version = \"{old}\"` line under [package]"))
    }
}

/// Sets the version requirement of every `krate = { ... version = "..." ... }` line (a
/// dependency declared with a version, in any table) to `new`. Returns the new text and how
/// many lines changed.
pub(crate) fn set_requirements(manifest: &str, krate: &str, new: &str) -> (String, usize) {
    let mut n = 0;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.split_inclusive('\n') {
        let t = line.trim_start();
        let named = t
            .strip_prefix(krate)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        let at = line.find("version = \"");
        match (named, at) {
            (true, Some(i)) => {
                let start = i + "version = \"".len();
                let end = line[start..].find('"').map_or(line.len(), |e| start + e);
                out.push_str(&line[..start]);
                out.push_str(new);
                out.push_str(&line[end..]);
                n += 1;
            }
            _ => out.push_str(line),
        }
    }
    (out, n)
}

/// Moves what is under `## [Unreleased]` under a new `## [VERSION] - DATE` heading, leaving
/// Unreleased empty. Refuses when there is nothing under it.
pub(crate) fn move_unreleased(
    changelog: &str,
    version: &str,
    date: &str,
) -> Result<String, String> {
    const HEAD: &str = "## [Unreleased]\n";
    let at = changelog
        .find(HEAD)
        .ok_or("CHANGELOG.md has no `## [Unreleased]` heading")?;
    let body_start = at + HEAD.len();
    let body_end = changelog[body_start..]
        .find("\n## [")
        .map_or(changelog.len(), |i| body_start + i + 1);
    let body = changelog[body_start..body_end].trim();
    if body.is_empty() {
        return Err(
            "nothing under Unreleased in CHANGELOG.md: write what this release changes first"
                .into(),
        );
    }
    Ok(format!(
        "{}{HEAD}\n## [{version}] - {date}\n\n{body}\n\n{}",
        &changelog[..at],
        &changelog[body_end..]
    ))
}

/// The members `krate` depends on through normal and build dependencies, transitively.
fn internal_deps(all: &[Member], krate: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![krate.to_owned()];
    while let Some(n) = todo.pop() {
        let Some(m) = all.iter().find(|m| m.name == n) else {
            continue;
        };
        for (d, kind) in &m.deps {
            if kind.as_deref() != Some("dev") && seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

/// The published members that depend on `krate` as a normal or build dependency.
fn dependents(all: &[Member], krate: &str) -> Vec<String> {
    all.iter()
        .filter(|m| {
            m.publish
                && m.deps
                    .iter()
                    .any(|(d, k)| d == krate && k.as_deref() != Some("dev"))
        })
        .map(|m| m.name.clone())
        .collect()
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

fn write(p: &Path, s: &str) -> Result<(), String> {
    std::fs::write(p, s).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

pub(crate) fn release(inst: &mut Installer, o: &Options) -> Result<String, String> {
    let ws = root();
    let dirty = output(cmd("git", &["status", "--porcelain"])).ok_or("git status failed")?;
    if !dirty.trim().is_empty() {
        return Err(format!(
            "the work tree is not clean; commit or set aside first:\n{dirty}"
        ));
    }
    let all = members()?;
    let me = all
        .iter()
        .find(|m| m.name == o.krate)
        .ok_or_else(|| format!("{} is not a workspace member", o.krate))?;
    if !me.publish {
        return Err(format!("{} is never published (publish = false)", o.krate));
    }
    let old = Version::parse(&me.version)
        .ok_or_else(|| format!("version {} is not major.minor.patch", me.version))?;
    let new = old.bump(o.level);
    println!("{}: {old} -> {new} ({})", o.krate, o.level.name());

    // Semver first: a violation refuses before any file changes.
    let semver = match last_tag(&o.krate) {
        Some((tag, v)) => {
            println!(
                "semver: checking {} against {tag} as a {} release",
                o.krate,
                o.level.name()
            );
            semver_checks(inst, &o.krate, &tag, Some(o.level))
                .map_err(|e| format!("semver check against {tag} failed: {e}"))?;
            format!(
                "no violation for a {} release against {tag} ({v})",
                o.level.name()
            )
        }
        None => {
            let s = format!(
                "no {}-vX.Y.Z tag: {} has never been released, there is no baseline to compare with",
                o.krate, o.krate
            );
            println!("semver: {s}");
            s
        }
    };

    // Every file this touches, as it was, to put back on failure.
    let mut saved: Vec<(PathBuf, String)> = Vec::new();
    let lock = ws.join("Cargo.lock");
    if lock.exists() {
        saved.push((lock.clone(), read(&lock)?));
    }
    let result = (|| -> Result<Vec<String>, String> {
        let mut changed = Vec::new();
        let mut edit = |p: &Path, f: &dyn Fn(&str) -> Result<Option<String>, String>| {
            let before = read(p)?;
            if let Some(after) = f(&before)? {
                saved.push((p.to_path_buf(), before));
                write(p, &after)?;
                changed.push(rel(p));
            }
            Ok::<(), String>(())
        };
        let (oldv, newv) = (old.to_string(), new.to_string());
        edit(&me.manifest, &|s| {
            set_package_version(s, &oldv, &newv).map(Some)
        })?;
        // The requirement: the workspace table, and any member naming a version itself.
        let mut manifests = vec![ws.join("Cargo.toml")];
        manifests.extend(all.iter().map(|m| m.manifest.clone()));
        for p in &manifests {
            edit(p, &|s| {
                let (t, n) = set_requirements(s, &o.krate, &newv);
                Ok((n > 0).then_some(t))
            })?;
        }
        let date = output(cmd("date", &["-u", "+%Y-%m-%d"]))
            .map(|d| d.trim().to_owned())
            .ok_or("date failed")?;
        let changelog = me
            .manifest
            .parent()
            .ok_or("manifest without a directory")?
            .join("CHANGELOG.md");
        edit(&changelog, &|s| move_unreleased(s, &newv, &date).map(Some))?;
        Ok(changed)
    })();
    let restore = |saved: &[(PathBuf, String)]| {
        for (p, s) in saved.iter().rev() {
            if let Err(e) = write(p, s) {
                eprintln!("xtask: {e}");
            }
        }
    };
    let changed = match result {
        Ok(c) => c,
        Err(e) => {
            restore(&saved);
            return Err(format!("{e} (every file put back)"));
        }
    };
    for c in &changed {
        println!("changed: {c}");
    }

    // Which dependents need a release of their own.
    let direct = dependents(&all, &o.krate);
    if direct.is_empty() {
        println!("dependents: none among the published crates");
    } else if old.accepts(new) {
        println!(
            "dependents: {} require ^{old}, which accepts {new}: none needs a release (only to use what {new} adds)",
            direct.join(", ")
        );
    } else {
        let mut further = BTreeSet::new();
        for d in &direct {
            for t in dependents(&all, d) {
                if !direct.contains(&t) && t != o.krate {
                    further.insert(t);
                }
            }
        }
        println!(
            "dependents needing a release of their own: {} (their published requirement ^{old} does not accept {new}; the requirement is now {new})",
            direct.join(", ")
        );
        if !further.is_empty() {
            println!(
                "  and, if those releases break their APIs, their own dependents: {}",
                further.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }

    // Package in a fresh target directory, with the workspace crates it depends on packaged
    // beside it so the verification build finds them without a registry.
    let dir = ws.join("target").join("release-package");
    let packaged = (|| -> Result<PathBuf, String> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
        }
        crate::ci::forget_unpacked_packages()?;
        let deps = internal_deps(&all, &o.krate);
        let mut args = vec!["package", "--allow-dirty", "-p", o.krate.as_str()];
        for d in &deps {
            args.extend(["-p", d.as_str()]);
        }
        let mut c = cmd("cargo", &args);
        c.env("CARGO_TARGET_DIR", &dir);
        status(c)?;
        Ok(dir.join("package").join(format!("{}-{new}.crate", o.krate)))
    })();
    let krate_file = match packaged {
        Ok(p) => p,
        Err(e) => {
            restore(&saved);
            return Err(format!("cargo package failed: {e} (every file put back)"));
        }
    };
    // `cargo package` updates the lock file with the new version.
    let mut changed = changed;
    if let Some((_, before)) = saved.iter().find(|(p, _)| *p == lock)
        && read(&lock).is_ok_and(|now| now != *before)
    {
        changed.push(rel(&lock));
    }
    let tag = format!("{}-v{new}", o.krate);
    println!("semver: {semver}");
    println!("package: {} verified", rel(&krate_file));
    println!(
        "\nNext, by hand (cargo publish needs the workspace crates {} requires on crates.io at those versions: release them first):",
        o.krate
    );
    println!("    git commit -am \"{} {new}\"", o.krate);
    println!("    git tag {tag}");
    println!("    cargo publish -p {}", o.krate);
    println!("    git push origin HEAD {tag}");
    println!("To undo instead: git checkout -- {}", changed.join(" "));
    Ok(format!("{} {new} prepared; tag {tag}", o.krate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_bump_and_caret_requirements_accept_as_cargo_does() {
        assert_eq!(v("0.1.0").bump(Level::Patch), v("0.1.1"));
        assert_eq!(v("0.1.3").bump(Level::Minor), v("0.2.0"));
        assert_eq!(v("0.1.3").bump(Level::Major), v("1.0.0"));
        assert_eq!(v("1.2.3").bump(Level::Minor), v("1.3.0"));
        assert!(v("0.1.0").accepts(v("0.1.1")));
        assert!(!v("0.1.0").accepts(v("0.2.0")));
        assert!(v("1.2.0").accepts(v("1.3.0")));
        assert!(!v("1.2.0").accepts(v("2.0.0")));
        assert!(!v("0.0.1").accepts(v("0.0.2")));
        assert_eq!(Version::parse("0.1"), None);
        assert_eq!(Version::parse("0.1.0-rc.1"), None);
        assert_eq!(v("10.0.2").to_string(), "10.0.2");
    }

    #[test]
    fn arguments_are_a_crate_and_a_level() {
        let a = |s: &[&str]| parse_args(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&["sockaddr", "minor"]),
            Ok(Options {
                krate: "sockaddr".into(),
                level: Level::Minor
            })
        );
        assert_eq!(
            a(&["sock", "patch", "--install"]).map(|o| o.level),
            Ok(Level::Patch)
        );
        assert!(a(&["sock"]).is_err());
        assert!(a(&["sock", "huge"]).is_err());
    }

    #[test]
    fn only_published_crates_are_released_and_checked() {
        let meta = serde_json::json!({"packages": [
            {"name": "zcall", "publish": null, "rust_version": "1.88"},
            {"name": "testkit", "publish": [], "rust_version": "1.88"},
            {"name": "sock", "publish": ["crates-io"]},
        ]});
        assert_eq!(
            published_in(&meta),
            [("zcall".into(), Some("1.88".into())), ("sock".into(), None)]
        );
    }

    #[test]
    fn the_newest_tag_of_the_crate_is_the_baseline() {
        let tags = "sock-v0.1.0\nsock-v0.10.0\nsock-v0.9.1\nsockaddr-v3.0.0\nsock-vbad\n";
        assert_eq!(
            newest_tag("sock", tags),
            Some(("sock-v0.10.0".into(), v("0.10.0")))
        );
        assert_eq!(newest_tag("iox", tags), None);
    }

    #[test]
    fn manifests_change_only_the_package_version_and_the_named_requirements() {
        let m = "[package]\nname = \"sock\"\nversion = \"0.1.0\"\n\n[dependencies]\nfoo = { version = \"0.1.0\" }\n";
        assert_eq!(
            set_package_version(m, "0.1.0", "0.2.0").unwrap(),
            m.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)
        );
        assert!(set_package_version(m, "0.3.0", "0.4.0").is_err());
        let ws = "[workspace.dependencies]\nsock = { path = \"sock\", version = \"0.1.0\" }\nsockaddr = { path = \"sockaddr\", version = \"0.1.0\" }\nsock-x = \"0.1\"\n";
        let (out, n) = set_requirements(ws, "sock", "0.2.0");
        assert_eq!(n, 1);
        assert!(out.contains("sock = { path = \"sock\", version = \"0.2.0\" }"));
        assert!(out.contains("sockaddr = { path = \"sockaddr\", version = \"0.1.0\" }"));
        let (_, none) = set_requirements("sock.workspace = true\n", "sock", "0.2.0");
        assert_eq!(none, 0);
    }

    #[test]
    fn unreleased_moves_under_the_new_version_and_an_empty_one_refuses() {
        let c = "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- `x`\n\n## [0.1.0] - not yet published\n\nFirst.\n";
        let out = move_unreleased(c, "0.2.0", "2026-12-02").unwrap();
        assert_eq!(
            out,
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-12-02\n\n### Added\n\n- `x`\n\n## [0.1.0] - not yet published\n\nFirst.\n"
        );
        let empty = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - x\n";
        assert!(move_unreleased(empty, "0.2.0", "d").is_err());
        assert!(move_unreleased("# Changelog\n", "0.2.0", "d").is_err());
    }
}
