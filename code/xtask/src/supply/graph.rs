//! The Rust dependency graph, from `cargo metadata --format-version 1 --locked`, pruned to
//! the edges cargo builds.
//!
//! `cargo metadata`'s resolve keeps an optional dependency as soon as a feature names it,
//! even weakly: rustls-webpki's `alloc = ["ring?/alloc", …]` keeps `ring` in the resolve
//! although no feature enables it (measured: `cargo tree` and cargo-deny do not list it;
//! cargo-cyclonedx 0.5.9 did). So an edge to an optional dependency is kept only when an
//! enabled feature of the dependent activates it: `dep:name`, `name/feature` (not
//! `name?/feature`), or the implicit feature `name`. The features are the ones cargo
//! metadata reports, unified over the whole workspace: a function's graph can hold a crate
//! that only another member's features pull in — more than the binary links, never less
//! (the SBOM check compares with `cargo tree`, which resolves features per build).

use crate::project::Project;
use crate::shell;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Normal,
    Build,
    Dev,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// `registry+…`, `sparse+…`, `git+…`; `None` for the workspace and path dependencies.
    pub source: Option<String>,
    /// The manifest's SPDX expression, as written.
    pub license: Option<String>,
    pub description: Option<String>,
    /// `publish = false`: cargo metadata reports an empty list of registries.
    pub private: bool,
    pub manifest: PathBuf,
    /// What the manifest declares (every kind), for the wildcard check.
    pub declared: Vec<Declared>,
}

#[derive(Debug, Clone)]
pub struct Declared {
    pub name: String,
    pub req: String,
    pub path: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// By cargo package id.
    pub packages: BTreeMap<String, Package>,
    /// Edges cargo builds, by dependent id.
    pub edges: BTreeMap<String, BTreeSet<(String, Kind)>>,
    pub members: Vec<String>,
}

/// `cargo metadata` for one target triple (`None`: every platform).
pub fn metadata(project: &Project, target: Option<&str>) -> Result<Value, String> {
    let mut cargo = shell::command(project, "cargo");
    cargo.args(["metadata", "--format-version", "1", "--locked"]);
    if let Some(target) = target {
        cargo.args(["--filter-platform", target]);
    }
    let text = shell::output(cargo)?;
    serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))
}

fn kind(value: &Value) -> Kind {
    match value.as_str() {
        Some("build") => Kind::Build,
        Some("dev") => Kind::Dev,
        _ => Kind::Normal,
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

/// The dependency keys (name or rename) that `enabled` features of a package activate.
fn activated(package: &Value, enabled: &[&str]) -> BTreeSet<String> {
    let features = &package["features"];
    let mut keys = BTreeSet::new();
    for feature in enabled {
        let Some(values) = features[*feature].as_array() else {
            // An implicit feature that metadata does not list: the optional dependency itself.
            keys.insert(feature.to_string());
            continue;
        };
        for value in values.iter().filter_map(Value::as_str) {
            if let Some(key) = value.strip_prefix("dep:") {
                keys.insert(key.to_string());
            } else if let Some((key, _)) = value.split_once('/')
                && !key.ends_with('?')
            {
                keys.insert(key.to_string());
            }
        }
    }
    keys
}

impl Graph {
    pub fn from_metadata(metadata: &Value) -> Result<Graph, String> {
        let raw: BTreeMap<&str, &Value> = metadata["packages"]
            .as_array()
            .ok_or("cargo metadata: no packages")?
            .iter()
            .filter_map(|p| Some((p["id"].as_str()?, p)))
            .collect();
        let mut graph = Graph {
            members: metadata["workspace_members"]
                .as_array()
                .ok_or("cargo metadata: no workspace_members")?
                .iter()
                .filter_map(text)
                .collect(),
            ..Graph::default()
        };
        for (id, p) in &raw {
            let declared = p["dependencies"]
                .as_array()
                .map(|deps| {
                    deps.iter()
                        .map(|d| Declared {
                            name: text(&d["name"]).unwrap_or_default(),
                            req: text(&d["req"]).unwrap_or_default(),
                            path: d["path"].is_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            graph.packages.insert(
                id.to_string(),
                Package {
                    name: text(&p["name"]).unwrap_or_default(),
                    version: text(&p["version"]).unwrap_or_default(),
                    source: text(&p["source"]),
                    license: text(&p["license"]),
                    description: text(&p["description"]),
                    private: p["publish"].as_array().is_some_and(Vec::is_empty),
                    manifest: PathBuf::from(text(&p["manifest_path"]).unwrap_or_default()),
                    declared,
                },
            );
        }
        let nodes = metadata["resolve"]["nodes"]
            .as_array()
            .ok_or("cargo metadata: no resolve (run without --no-deps)")?;
        for node in nodes {
            let Some(id) = node["id"].as_str() else {
                continue;
            };
            let package = raw
                .get(id)
                .ok_or_else(|| format!("cargo metadata: no package {id}"))?;
            let enabled: Vec<&str> = node["features"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let activated = activated(package, &enabled);
            let declarations = package["dependencies"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let edges = graph.edges.entry(id.to_string()).or_default();
            for dep in node["deps"].as_array().into_iter().flatten() {
                let Some(to) = dep["pkg"].as_str() else {
                    continue;
                };
                let to_name = raw.get(to).and_then(|p| p["name"].as_str()).unwrap_or("");
                for dep_kind in dep["dep_kinds"].as_array().into_iter().flatten() {
                    let kind = kind(&dep_kind["kind"]);
                    let matching: Vec<&Value> = declarations
                        .iter()
                        .filter(|d| {
                            d["name"] == to_name
                                && self::kind(&d["kind"]) == kind
                                && d["target"] == dep_kind["target"]
                        })
                        .collect();
                    // No declaration matches only if metadata's shape changed: keep the edge.
                    let active = matching.is_empty()
                        || matching.iter().any(|d| {
                            d["optional"] != true || {
                                let key = d["rename"].as_str().or(d["name"].as_str());
                                key.is_some_and(|k| activated.contains(k))
                            }
                        });
                    if active {
                        edges.insert((to.to_string(), kind));
                    }
                }
            }
        }
        Ok(graph)
    }

    /// Packages and edges of both graphs (one per target platform).
    pub fn union(mut self, other: Graph) -> Graph {
        self.packages.extend(other.packages);
        for (from, to) in other.edges {
            self.edges.entry(from).or_default().extend(to);
        }
        for member in other.members {
            if !self.members.contains(&member) {
                self.members.push(member);
            }
        }
        self
    }

    /// Every package reachable from `roots` along edges of the given kinds, each with the
    /// package it was first reached from (`None` for a root): breadth first, so the chain
    /// back to a root is a shortest one.
    pub fn reachable(&self, roots: &[String], kinds: &[Kind]) -> BTreeMap<String, Option<String>> {
        let mut seen: BTreeMap<String, Option<String>> =
            roots.iter().map(|r| (r.clone(), None)).collect();
        let mut queue: VecDeque<String> = roots.iter().cloned().collect();
        while let Some(from) = queue.pop_front() {
            for (to, kind) in self.edges.get(&from).into_iter().flatten() {
                if kinds.contains(kind) && !seen.contains_key(to) {
                    seen.insert(to.clone(), Some(from.clone()));
                    queue.push_back(to.clone());
                }
            }
        }
        seen
    }

    /// The direct dependencies of `id` along edges of the given kinds.
    pub fn dependencies(&self, id: &str, kinds: &[Kind]) -> BTreeSet<String> {
        self.edges
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(_, kind)| kinds.contains(kind))
            .map(|(to, _)| to.clone())
            .collect()
    }

    /// `name version`.
    pub fn shown(&self, id: &str) -> String {
        self.packages
            .get(id)
            .map(|p| format!("{} {}", p.name, p.version))
            .unwrap_or_else(|| id.to_string())
    }

    /// `untrusted 0.9.0 ← rustls-webpki 0.103.17 ← … ← payments-aws 0.1.0`: why a package
    /// is in the graph.
    pub fn chain(&self, id: &str, parents: &BTreeMap<String, Option<String>>) -> String {
        let mut chain = vec![self.shown(id)];
        let mut at = id.to_string();
        while let Some(Some(parent)) = parents.get(&at) {
            chain.push(self.shown(parent));
            at = parent.clone();
        }
        chain.join(" ← ")
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    /// A declared dependency of a test package: `(name, kind, optional)`.
    pub type Dep<'a> = (&'a str, Option<&'a str>, bool);
    /// A test package: `(name, license, dependencies)`.
    pub type Pkg<'a> = (&'a str, &'a str, &'a [Dep<'a>]);

    /// A `cargo metadata` document of `packages` (names starting `fn-`, and `lib`, are
    /// workspace members); `features` per package; nodes follow the declarations.
    pub fn metadata(packages: &[Pkg], features: &[(&str, Value, &[&str])]) -> Value {
        let id = |name: &str| {
            format!("registry+https://github.com/rust-lang/crates.io-index#{name}@1.0.0")
        };
        let member = |name: &str| name.starts_with("fn-") || name == "lib";
        let pid = |name: &str| {
            if member(name) {
                format!("path+file:///repo/{name}#0.1.0")
            } else {
                id(name)
            }
        };
        let feature = |name: &str| features.iter().find(|(n, _, _)| *n == name);
        let packages_json: Vec<Value> = packages
            .iter()
            .map(|(name, license, deps)| {
                json!({
                    "id": pid(name), "name": name,
                    "version": if member(name) { "0.1.0" } else { "1.0.0" },
                    "source": if member(name) { Value::Null } else { json!("registry+https://github.com/rust-lang/crates.io-index") },
                    "license": license, "description": format!("the {name} crate"),
                    "publish": if member(name) { json!([]) } else { Value::Null },
                    "manifest_path": format!("/repo/{name}/Cargo.toml"),
                    "features": feature(name).map(|(_, f, _)| f.clone()).unwrap_or(json!({})),
                    "dependencies": deps.iter().map(|(d, kind, optional)| json!({
                        "name": d, "req": "^1", "kind": kind, "optional": optional,
                        "rename": null, "target": null,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let nodes: Vec<Value> = packages
            .iter()
            .map(|(name, _, deps)| {
                json!({
                    "id": pid(name),
                    "features": feature(name).map(|(_, _, on)| on.to_vec()).unwrap_or_default(),
                    "deps": deps.iter().map(|(d, kind, _)| json!({
                        "name": d.replace('-', "_"), "pkg": pid(d),
                        "dep_kinds": [{"kind": kind, "target": null}],
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let members: Vec<String> = packages
            .iter()
            .filter(|(n, _, _)| member(n))
            .map(|(n, _, _)| pid(n))
            .collect();
        json!({"packages": packages_json, "workspace_members": members, "resolve": {"nodes": nodes}})
    }

    fn names(graph: &Graph, ids: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut names: Vec<String> = ids
            .into_iter()
            .map(|id| graph.packages[&id].name.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn optional_dependencies_count_only_when_a_feature_enables_them() {
        let doc = metadata(
            &[
                (
                    "fn-a",
                    "MIT",
                    &[("webpki", None, false), ("serde", None, false)],
                ),
                // `ring?/alloc` is weak: ring stays off; `dep:aws-lc` is on.
                (
                    "webpki",
                    "ISC",
                    &[
                        ("ring", None, true),
                        ("aws-lc", None, true),
                        ("untrusted", None, false),
                    ],
                ),
                ("serde", "MIT", &[("serde_derive", None, true)]),
                ("ring", "ISC", &[]),
                ("aws-lc", "ISC", &[]),
                ("untrusted", "ISC", &[]),
                ("serde_derive", "MIT", &[]),
            ],
            &[
                (
                    "webpki",
                    json!({"alloc": ["ring?/alloc"], "aws-lc": ["dep:aws-lc"], "ring": ["dep:ring"]}),
                    &["alloc", "aws-lc"],
                ),
                // An implicit feature named after the optional dependency.
                (
                    "serde",
                    json!({"derive": ["serde_derive"], "serde_derive": ["dep:serde_derive"]}),
                    &["derive", "serde_derive"],
                ),
            ],
        );
        let graph = Graph::from_metadata(&doc).unwrap();
        let root = graph.members[0].clone();
        let reached = graph.reachable(&[root], &[Kind::Normal]);
        assert_eq!(
            names(&graph, reached.into_keys()),
            vec![
                "aws-lc",
                "fn-a",
                "serde",
                "serde_derive",
                "untrusted",
                "webpki"
            ]
        );
    }

    #[test]
    fn build_and_dev_edges_are_followed_only_when_asked() {
        let doc = metadata(
            &[
                (
                    "fn-a",
                    "MIT",
                    &[
                        ("tokio", None, false),
                        ("cc", Some("build"), false),
                        ("proptest", Some("dev"), false),
                    ],
                ),
                ("tokio", "MIT", &[]),
                ("cc", "MIT", &[]),
                ("proptest", "MIT", &[]),
            ],
            &[],
        );
        let graph = Graph::from_metadata(&doc).unwrap();
        let root = graph.members[0].clone();
        let normal = graph.reachable(std::slice::from_ref(&root), &[Kind::Normal]);
        assert_eq!(names(&graph, normal.into_keys()), vec!["fn-a", "tokio"]);
        let all = graph.reachable(&[root], &[Kind::Normal, Kind::Build, Kind::Dev]);
        assert_eq!(
            names(&graph, all.into_keys()),
            vec!["cc", "fn-a", "proptest", "tokio"]
        );
    }

    #[test]
    fn the_chain_names_the_way_from_a_root() {
        let doc = metadata(
            &[
                ("fn-a", "MIT", &[("b", None, false)]),
                ("b", "MIT", &[("c", None, false)]),
                ("c", "ISC", &[]),
            ],
            &[],
        );
        let graph = Graph::from_metadata(&doc).unwrap();
        let parents = graph.reachable(&graph.members, &[Kind::Normal]);
        let c = parents.keys().find(|id| id.contains("#c@")).unwrap();
        assert_eq!(graph.chain(c, &parents), "c 1.0.0 ← b 1.0.0 ← fn-a 0.1.0");
    }
}
