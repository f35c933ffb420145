//! The crate's module layering (DESIGN.md section 1): the core (objects, operations and
//! their logic, timers, posts, buffers, the payload erasure) names neither the `Io` hub nor
//! a backend, the backends (`sys`) name only the core, and the hub names no handle module.
//! Read from the sources' `crate::` paths, outside comments and `#[cfg(test)]` modules: a
//! `use crate::io::Io` added to a core module fails here.

use std::collections::BTreeSet;
use std::path::Path;

/// Layers, bottom up; a module may name its own layer and those below.
const CORE: &[&str] = &[
    "backend", "buf", "error", "heap", "object", "op", "ops", "post", "raw", "ready", "slab",
    "stats",
];
const BACKENDS: &[&str] = &["sys"];
const HUB: &[&str] = &["io"];

/// The top-level modules a source file names through `crate::`.
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        if line.trim_start().starts_with("#[cfg(test)]") {
            // Test modules sit at the end of a file, by this crate's convention.
            break;
        }
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Every source file under `dir`, with the top-level module it belongs to.
fn sources(dir: &Path, top: Option<&str>, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let stem = p.file_stem().unwrap().to_str().unwrap().to_owned();
        if p.is_dir() {
            sources(&p, Some(top.unwrap_or(&stem)), out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let module = top.map_or(stem, str::to_owned);
            out.push((module, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn the_core_names_no_hub_and_no_backend_and_backends_name_only_the_core() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, None, &mut files);
    assert!(files.len() > 20, "read {} files", files.len());
    let mut bad = Vec::new();
    for (module, text) in &files {
        let allowed: Vec<&str> = if CORE.contains(&module.as_str()) {
            CORE.to_vec()
        } else if BACKENDS.contains(&module.as_str()) {
            [CORE, BACKENDS].concat()
        } else if HUB.contains(&module.as_str()) {
            [CORE, BACKENDS, HUB].concat()
        } else {
            // The handle modules (the public API) and lib.rs may name anything.
            continue;
        };
        for n in named(text) {
            if !allowed.contains(&n.as_str()) {
                bad.push(format!("{module} names crate::{n}"));
            }
        }
    }
    assert!(bad.is_empty(), "upward dependencies: {bad:#?}");
}

#[test]
fn the_reader_sees_uses_and_paths_but_not_comments_or_tests() {
    let text = "use crate::op::Key;\n// crate::io is only mentioned\nlet x = crate::ready::Ready::EMPTY; // crate::sys\n#[cfg(test)]\nmod tests { use crate::io::Io; }\n";
    let n: Vec<String> = named(text).into_iter().collect();
    assert_eq!(n, ["op", "ready"]);
}
