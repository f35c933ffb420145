//! `cargo xtask doc`: the published crates' documentation built the way docs.rs builds it.
//!
//! For each target a crate's `[package.metadata.docs.rs]` lists: `cargo +nightly doc
//! --no-deps --all-features --target T` with `RUSTDOCFLAGS="--cfg docsrs -D warnings"`, so
//! `doc_cfg` marks what is platform- or feature-gated and any rustdoc warning fails, in
//! `target/docsrs`. On a target other than this machine's (Linux), links to Linux-only items
//! cannot resolve and are allowed to stay plain text; and the crates whose build scripts
//! compile C for the target ([`crate::cross::NO_CROSS_C`]), and those that pull one of them
//! in with all features on, are left out and named: this machine has no C compiler for it.

use std::collections::BTreeMap;

use crate::install::Installer;
use crate::run::{Report, cmd, output, status, toolchain_cargo};

/// The host triple of the nightly toolchain (`host: ...` in `rustc -vV`).
fn host() -> Result<String, String> {
    let v = output(cmd("rustc", &["+nightly", "-vV"])).ok_or("rustc +nightly -vV failed")?;
    v.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
        .ok_or_else(|| "no host line in rustc -vV".into())
}

/// Per published crate: its docs.rs targets (the host alone when it lists none) and the
/// workspace crates it depends on with every feature on (normal and build dependencies,
/// optional ones included), from `cargo metadata`.
struct Plan {
    targets: Vec<String>,
    deps: Vec<String>,
}

fn plans(meta: &serde_json::Value, host: &str) -> BTreeMap<String, Plan> {
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .filter(|p| p["publish"].as_array().is_none_or(|r| !r.is_empty()))
        .filter_map(|p| {
            let name = p["name"].as_str()?.to_owned();
            let mut targets: Vec<String> = p["metadata"]["docs"]["rs"]["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(String::from))
                .collect();
            if targets.is_empty() {
                targets.push(host.to_owned());
            }
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str())
                .filter(|n| names.contains(n))
                .map(String::from)
                .collect();
            Some((name, Plan { targets, deps }))
        })
        .collect()
}

/// Whether `krate` builds C for the target through itself or a workspace dependency.
fn needs_target_c(plans: &BTreeMap<String, Plan>, krate: &str) -> bool {
    crate::cross::NO_CROSS_C.contains(&krate)
        || plans
            .get(krate)
            .is_some_and(|p| p.deps.iter().any(|d| needs_target_c(plans, d)))
}

/// The crates to document per target, and per target those left out.
type Batches = BTreeMap<String, (Vec<String>, Vec<String>)>;

fn batches(plans: &BTreeMap<String, Plan>, host: &str) -> Batches {
    let mut out = Batches::new();
    for (name, plan) in plans {
        for t in &plan.targets {
            let e = out.entry(t.clone()).or_default();
            if t != host && needs_target_c(plans, name) {
                e.1.push(name.clone());
            } else {
                e.0.push(name.clone());
            }
        }
    }
    out
}

/// Runs one step per target; `true` when every one passed.
pub(crate) fn doc(inst: &mut Installer, report: &mut Report) -> bool {
    let prepared = (|| -> Result<(String, Batches), String> {
        inst.ensure_toolchain("nightly", &[])?;
        let host = host()?;
        let meta = crate::run::workspace_metadata()?;
        let b = batches(&plans(&meta, &host), &host);
        Ok((host, b))
    })();
    let (host, batches) = match prepared {
        Ok(p) => p,
        Err(e) => return report.step("doc", || Err(e)),
    };
    let mut ok = true;
    for (target, (crates, left_out)) in &batches {
        ok &= report.step_noted(&format!("doc {target}"), || {
            // The nightly's standard library for the target, or else (where it cannot be
            // fetched: this machine gets FreeBSD's only for stable) the stable one, with
            // RUSTC_BOOTSTRAP=1 for `doc_cfg`.
            let mut toolchain = "nightly";
            if target != &host && inst.ensure_target("nightly", target).is_err() {
                inst.ensure_target("stable", target)?;
                eprintln!(
                    "xtask: doc: no nightly std for {target}; stable's, with RUSTC_BOOTSTRAP=1"
                );
                toolchain = "stable";
            }
            let mut args = vec![
                "doc",
                "--no-deps",
                "--all-features",
                "--target",
                target.as_str(),
                "--target-dir",
                "target/docsrs",
            ];
            for c in crates {
                args.extend(["-p", c.as_str()]);
            }
            let mut c = toolchain_cargo(toolchain, &args);
            // Elsewhere than on the host (Linux), links to Linux-only items cannot resolve
            // (docs.rs leaves them as plain text there); every other warning is denied.
            c.env(
                "RUSTDOCFLAGS",
                if target == &host {
                    "--cfg docsrs -D warnings"
                } else {
                    "--cfg docsrs -D warnings -A rustdoc::broken_intra_doc_links"
                },
            );
            if toolchain != "nightly" {
                c.env("RUSTC_BOOTSTRAP", "1");
            }
            status(c)?;
            let mut note = format!("{} crates ({toolchain})", crates.len());
            if !left_out.is_empty() {
                note.push_str(&format!(
                    "; left out (C for the target, no compiler here): {}",
                    left_out.join(" ")
                ));
            }
            Ok(note)
        });
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_that_compile_c_for_the_target_are_documented_on_the_host_only() {
        let host = "x86_64-unknown-linux-gnu";
        let t = serde_json::json!({"docs": {"rs": {"targets": [host, "aarch64-apple-darwin"]}}});
        let meta = serde_json::json!({"packages": [
            {"name": "sonic-io", "publish": null, "metadata": t, "dependencies": []},
            {"name": "sonic-tls", "publish": null, "metadata": t,
             "dependencies": [{"name": "sonic-io", "kind": null}]},
            {"name": "sonic-websocket", "publish": null, "metadata": t,
             "dependencies": [{"name": "sonic-tls", "kind": null, "optional": true}]},
            {"name": "plain", "publish": null, "metadata": null,
             "dependencies": [{"name": "sonic-tls", "kind": "dev"}]},
            {"name": "testkit", "publish": [], "metadata": t, "dependencies": []},
        ]});
        let b = batches(&plans(&meta, host), host);
        assert_eq!(
            b[host].0,
            ["plain", "sonic-io", "sonic-tls", "sonic-websocket"]
        );
        assert!(b[host].1.is_empty());
        assert_eq!(b["aarch64-apple-darwin"].0, ["sonic-io"]);
        assert_eq!(
            b["aarch64-apple-darwin"].1,
            ["sonic-tls", "sonic-websocket"]
        );
    }
}
