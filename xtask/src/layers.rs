//! The layer check: a crate's normal (and build) dependencies on workspace crates must all
//! have a strictly lower rank than the crate itself, as `[workspace.metadata.layers]` in
//! the root Cargo.toml gives them; testkit may only ever be a dev-dependency.

use std::collections::BTreeMap;

use serde_json::Value;

/// One workspace package and its dependencies on other workspace packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub(crate) name: String,
    /// `(dependency, kind)` with kind `"normal"`, `"dev"` or `"build"`.
    pub(crate) deps: Vec<(String, String)>,
}

/// The crate that may only be a dev-dependency.
const DEV_ONLY: &str = "testkit";

/// Reads the ranks and the workspace packages out of `cargo metadata` JSON.
pub(crate) fn parse_metadata(
    meta: &Value,
) -> Result<(BTreeMap<String, i64>, Vec<Package>), String> {
    let ranks_v = meta
        .pointer("/metadata/layers")
        .and_then(Value::as_object)
        .ok_or("the root Cargo.toml has no [workspace.metadata.layers] table")?;
    let mut ranks = BTreeMap::new();
    for (k, v) in ranks_v {
        let r = v
            .as_i64()
            .ok_or_else(|| format!("layer rank of {k} is not an integer"))?;
        ranks.insert(k.clone(), r);
    }
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut pkgs = Vec::new();
    let all = meta["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    let names: Vec<&str> = all
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in all {
        let Some(id) = p["id"].as_str() else { continue };
        if !members.contains(&id) {
            continue;
        }
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let deps = p["dependencies"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| {
                        let dn = d["name"].as_str()?;
                        names.contains(&dn).then(|| {
                            let kind = d["kind"].as_str().unwrap_or("normal").to_owned();
                            (dn.to_owned(), kind)
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        pkgs.push(Package { name, deps });
    }
    Ok((ranks, pkgs))
}

/// Every violation of the layer rules, one message each (empty: the graph is layered).
pub(crate) fn violations(ranks: &BTreeMap<String, i64>, pkgs: &[Package]) -> Vec<String> {
    let mut v = Vec::new();
    for p in pkgs {
        let Some(&rank) = ranks.get(&p.name) else {
            v.push(format!(
                "{} has no rank in [workspace.metadata.layers]",
                p.name
            ));
            continue;
        };
        for (dep, kind) in &p.deps {
            if kind == "dev" {
                continue;
            }
            if dep == DEV_ONLY {
                v.push(format!(
                    "{} takes {DEV_ONLY} as a {kind} dependency; it may only be a dev-dependency",
                    p.name
                ));
                continue;
            }
            match ranks.get(dep) {
                None => v.push(format!("{} depends on {dep}, which has no rank", p.name)),
                Some(&d) if d >= rank => v.push(format!(
                    "{} (rank {rank}) depends on {dep} (rank {d}): dependencies must point to a lower layer",
                    p.name
                )),
                Some(_) => {}
            }
        }
    }
    v
}

/// Checks the real workspace; returns how many packages were checked.
pub(crate) fn check_workspace() -> Result<usize, String> {
    let meta = crate::run::workspace_metadata()?;
    let (ranks, pkgs) = parse_metadata(&meta)?;
    let v = violations(&ranks, &pkgs);
    if v.is_empty() {
        for p in &pkgs {
            println!("  {:<16} rank {}", p.name, ranks[&p.name]);
        }
        Ok(pkgs.len())
    } else {
        Err(v.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranks() -> BTreeMap<String, i64> {
        [("testkit", 0), ("zcall", 1), ("iox", 2), ("iofd", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    fn pkg(name: &str, deps: &[(&str, &str)]) -> Package {
        Package {
            name: name.into(),
            deps: deps
                .iter()
                .map(|(d, k)| ((*d).into(), (*k).into()))
                .collect(),
        }
    }

    #[test]
    fn a_layered_graph_passes() {
        let pkgs = [
            pkg("zcall", &[("testkit", "dev")]),
            pkg("iox", &[("zcall", "normal")]),
            pkg(
                "iofd",
                &[("zcall", "normal"), ("iox", "normal"), ("testkit", "dev")],
            ),
        ];
        assert_eq!(violations(&ranks(), &pkgs), Vec::<String>::new());
    }

    #[test]
    fn an_inverted_dependency_fails() {
        let pkgs = [pkg("zcall", &[("iox", "normal")]), pkg("iox", &[])];
        let v = violations(&ranks(), &pkgs);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].contains("zcall (rank 1) depends on iox (rank 2)"),
            "{v:?}"
        );
    }

    #[test]
    fn a_same_rank_dependency_and_a_build_dependency_fail_too() {
        let mut r = ranks();
        r.insert("sock".into(), 5);
        r.insert("sonic-bytes".into(), 5);
        let pkgs = [
            pkg("sock", &[("sonic-bytes", "normal")]),
            pkg("iox", &[("iofd", "build")]),
        ];
        assert_eq!(violations(&r, &pkgs).len(), 2);
    }

    #[test]
    fn testkit_is_dev_only_and_every_crate_needs_a_rank() {
        let pkgs = [pkg("iofd", &[("testkit", "normal")]), pkg("newcrate", &[])];
        let v = violations(&ranks(), &pkgs);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("may only be a dev-dependency"));
        assert!(v[1].contains("newcrate has no rank"));
    }

    #[test]
    fn parses_cargo_metadata() {
        let meta: Value = serde_json::from_str(
            r#"{
              "workspace_members": ["path+file:///w/zcall#0.1.0", "path+file:///w/iox#0.1.0"],
              "metadata": {"layers": {"zcall": 1, "iox": 2}},
              "packages": [
                {"id": "path+file:///w/zcall#0.1.0", "name": "zcall",
                 "dependencies": [{"name": "libc", "kind": null}, {"name": "iox", "kind": null}]},
                {"id": "path+file:///w/iox#0.1.0", "name": "iox",
                 "dependencies": [{"name": "zcall", "kind": null}]}
              ]
            }"#,
        )
        .unwrap();
        let (r, p) = parse_metadata(&meta).unwrap();
        assert_eq!(
            p[0].deps,
            [("iox".to_owned(), "normal".to_owned())],
            "external crates are not listed"
        );
        let v = violations(&r, &p);
        assert_eq!(v.len(), 1, "the inverted zcall -> iox edge: {v:?}");
    }

    #[test]
    fn the_real_workspace_is_layered() {
        assert!(check_workspace().unwrap() >= 3);
    }
}
