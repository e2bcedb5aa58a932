//! `deny.toml`'s licences, bans and sources, judged by xtask (no cargo-deny: its cold
//! `cargo install` took 17.2 min on the 2-core CI machine).
//!
//! The graph is the one `cargo deny --workspace` judges: every workspace member a root,
//! normal, build and dev dependencies, for each of `[graph].targets`. deny.toml stays the
//! single policy — GitHub CI runs cargo-deny 0.20.2 itself over it (`cargo xtask
//! advisories`) — so a key of `[graph]`, `[licenses]`, `[bans]` or `[sources]` that this
//! file does not implement is an error, never a silent difference between the two.
//! Semantics: https://embarkstudios.github.io/cargo-deny/checks/cfg.html and the
//! licenses / bans / sources pages beside it; defaults are cargo-deny's.

use super::graph::{Graph, Kind};
use super::spdx;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Allow,
    Warn,
    Deny,
}

/// A licence the policy accepts: an SPDX id, maybe `+`, maybe `WITH <exception>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Licensee {
    id: String,
    exception: Option<String>,
}

impl Licensee {
    fn parse(text: &str) -> Result<Licensee, String> {
        match spdx::parse(text)? {
            spdx::Expr::License { id, exception } => Ok(Licensee { id, exception }),
            _ => Err(format!("`{text}` is an expression, not one licence")),
        }
    }

    /// `GPL-2.0+` in a crate is accepted by `GPL-2.0` here, and ids compare without case;
    /// the exception must be the same (a licence with an exception is another licence).
    fn accepts(&self, id: &str, exception: Option<&str>) -> bool {
        let base = |s: &str| s.trim_end_matches('+').to_ascii_lowercase();
        base(&self.id) == base(id)
            && self.exception.as_deref().map(str::to_ascii_lowercase)
                == exception.map(str::to_ascii_lowercase)
    }

    fn shown(&self) -> String {
        match &self.exception {
            Some(e) => format!("{} WITH {e}", self.id),
            None => self.id.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub targets: Vec<String>,
    pub allow: Vec<Licensee>,
    /// `[[licenses.exceptions]]`: more licences for one crate.
    exceptions: Vec<(String, Vec<Licensee>)>,
    private_ignore: bool,
    unused_allowed: Level,
    multiple_versions: Level,
    wildcards: Level,
    allow_wildcard_paths: bool,
    deny: Vec<String>,
    unknown_registry: Level,
    unknown_git: Level,
    allow_registry: Vec<String>,
    allow_git: Vec<String>,
}

const CRATES_IO: &str = "https://github.com/rust-lang/crates.io-index";

fn known(section: &str, table: &Value, keys: &[&str]) -> Result<(), String> {
    for key in table.as_object().into_iter().flat_map(|t| t.keys()) {
        if !keys.contains(&key.as_str()) {
            return Err(format!(
                "deny.toml: `{section}{key}` is not implemented by `cargo xtask supply` \
                 (code/xtask/src/supply/policy.rs): implement it there, or xtask and cargo-deny \
                 (GitHub CI) would judge the graph differently"
            ));
        }
    }
    Ok(())
}

fn level(value: &Value, key: &str, default: Level) -> Result<Level, String> {
    match value.as_str() {
        None if value.is_null() => Ok(default),
        Some("allow") => Ok(Level::Allow),
        Some("warn") => Ok(Level::Warn),
        Some("deny") => Ok(Level::Deny),
        _ => Err(format!(
            "deny.toml: `{key}` must be \"allow\", \"warn\" or \"deny\", not {value}"
        )),
    }
}

fn strings(value: &Value, key: &str) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("deny.toml: `{key}` holds {v}, not a string"))
            })
            .collect(),
        _ => Err(format!("deny.toml: `{key}` must be a list")),
    }
}

fn boolean(value: &Value, key: &str) -> Result<bool, String> {
    match value {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(format!("deny.toml: `{key}` must be true or false")),
    }
}

/// A crate named by a `[bans].deny` or `[[licenses.exceptions]]` entry: `"name"`,
/// `{ crate = "name" }` or `{ name = "name" }`; versions are not implemented.
fn crate_name(entry: &Value, key: &str) -> Result<String, String> {
    let name = entry
        .as_str()
        .or_else(|| entry["crate"].as_str())
        .or_else(|| entry["name"].as_str())
        .ok_or_else(|| format!("deny.toml: `{key}` entry {entry} names no crate"))?;
    if name.contains('@') || entry.get("version").is_some() {
        return Err(format!(
            "deny.toml: `{key}` entry {entry}: versions are not implemented by `cargo xtask supply`"
        ));
    }
    Ok(name.to_string())
}

pub fn parse(config: &Value) -> Result<Policy, String> {
    known(
        "",
        config,
        &["graph", "advisories", "licenses", "bans", "sources"],
    )?;
    let graph = &config["graph"];
    known("graph.", graph, &["targets"])?;
    let targets = graph["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            t.as_str()
                .or_else(|| t["triple"].as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("deny.toml: graph.targets entry {t} names no triple"))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let licenses = &config["licenses"];
    known(
        "licenses.",
        licenses,
        &[
            "allow",
            // Applies to licence texts cargo-deny reads; xtask reads only `license` fields.
            "confidence-threshold",
            "private",
            "unused-allowed-license",
            "exceptions",
        ],
    )?;
    known("licenses.private.", &licenses["private"], &["ignore"])?;
    let allow = strings(&licenses["allow"], "licenses.allow")?
        .iter()
        .map(|l| Licensee::parse(l).map_err(|e| format!("deny.toml: licenses.allow: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut exceptions = Vec::new();
    for entry in licenses["exceptions"].as_array().into_iter().flatten() {
        known("licenses.exceptions[].", entry, &["name", "crate", "allow"])?;
        let name = crate_name(entry, "licenses.exceptions")?;
        let allowed = strings(&entry["allow"], "licenses.exceptions.allow")?
            .iter()
            .map(|l| Licensee::parse(l))
            .collect::<Result<Vec<_>, _>>()?;
        exceptions.push((name, allowed));
    }

    let bans = &config["bans"];
    known(
        "bans.",
        bans,
        &[
            "multiple-versions",
            "wildcards",
            "allow-wildcard-paths",
            // How duplicates are drawn in cargo-deny's output; nothing to judge.
            "highlight",
            "deny",
        ],
    )?;
    let deny = bans["deny"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            known("bans.deny[].", entry, &["name", "crate", "reason"])?;
            crate_name(entry, "bans.deny")
        })
        .collect::<Result<Vec<_>, _>>()?;

    let sources = &config["sources"];
    known(
        "sources.",
        sources,
        &[
            "unknown-registry",
            "unknown-git",
            "allow-registry",
            "allow-git",
        ],
    )?;
    let mut allow_registry = strings(&sources["allow-registry"], "sources.allow-registry")?;
    if sources["allow-registry"].is_null() {
        allow_registry.push(CRATES_IO.to_string());
    }

    Ok(Policy {
        targets,
        allow,
        exceptions,
        private_ignore: boolean(&licenses["private"]["ignore"], "licenses.private.ignore")?,
        unused_allowed: level(
            &licenses["unused-allowed-license"],
            "licenses.unused-allowed-license",
            Level::Warn,
        )?,
        multiple_versions: level(
            &bans["multiple-versions"],
            "bans.multiple-versions",
            Level::Warn,
        )?,
        wildcards: level(&bans["wildcards"], "bans.wildcards", Level::Allow)?,
        allow_wildcard_paths: boolean(&bans["allow-wildcard-paths"], "bans.allow-wildcard-paths")?,
        deny,
        unknown_registry: level(
            &sources["unknown-registry"],
            "sources.unknown-registry",
            Level::Warn,
        )?,
        unknown_git: level(&sources["unknown-git"], "sources.unknown-git", Level::Warn)?,
        allow_registry: allow_registry.iter().map(|u| registry(u)).collect(),
        allow_git: strings(&sources["allow-git"], "sources.allow-git")?,
    })
}

/// A registry index URL, with crates.io's sparse index written as its git index.
fn registry(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url == "https://index.crates.io" {
        CRATES_IO.to_string()
    } else {
        url.to_string()
    }
}

#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// One line per check that ran, for the stage's output.
    pub summary: Vec<String>,
}

impl Findings {
    fn at(&mut self, level: Level, message: String) {
        match level {
            Level::Deny => self.errors.push(message),
            Level::Warn => self.warnings.push(message),
            Level::Allow => {}
        }
    }
}

/// Licences, bans and sources of every package reachable from the workspace.
pub fn judge(policy: &Policy, graph: &Graph) -> Findings {
    let parents = graph.reachable(&graph.members, &[Kind::Normal, Kind::Build, Kind::Dev]);
    let mut ids: Vec<&String> = parents.keys().collect();
    ids.sort_by_key(|id| {
        let p = &graph.packages[*id];
        (&p.name, &p.version)
    });
    let mut findings = Findings::default();
    licences(policy, graph, &ids, &parents, &mut findings);
    bans(policy, graph, &ids, &parents, &mut findings);
    sources(policy, graph, &ids, &parents, &mut findings);
    findings
}

fn licences(
    policy: &Policy,
    graph: &Graph,
    ids: &[&String],
    parents: &BTreeMap<String, Option<String>>,
    findings: &mut Findings,
) {
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let mut checked = 0;
    for id in ids {
        let p = &graph.packages[*id];
        if p.private && policy.private_ignore {
            continue;
        }
        checked += 1;
        let shown = format!("{} {}", p.name, p.version);
        let Some(text) = &p.license else {
            findings.errors.push(format!(
                "licence: {shown} declares no SPDX `license` expression (xtask reads no licence \
                 files); in the graph as {}",
                graph.chain(id, parents)
            ));
            continue;
        };
        let expr = match spdx::parse(text) {
            Ok(expr) => expr,
            Err(e) => {
                findings.errors.push(format!("licence: {shown}: {e}"));
                continue;
            }
        };
        let extra: Vec<&Licensee> = policy
            .exceptions
            .iter()
            .filter(|(name, _)| *name == p.name)
            .flat_map(|(_, allowed)| allowed)
            .collect();
        let accepted = |id: &str, exception: Option<&str>| {
            policy.allow.iter().any(|l| l.accepts(id, exception))
                || extra.iter().any(|l| l.accepts(id, exception))
        };
        for (id, exception) in expr.leaves() {
            used.extend(
                policy
                    .allow
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.accepts(id, exception))
                    .map(|(i, _)| i),
            );
        }
        if !expr.satisfied(&accepted) {
            let mut missing: Vec<String> = expr
                .leaves()
                .into_iter()
                .filter(|(id, exception)| !accepted(id, *exception))
                .map(|(id, exception)| match exception {
                    Some(e) => format!("{id} WITH {e}"),
                    None => id.to_string(),
                })
                .collect();
            missing.dedup();
            findings.errors.push(format!(
                "licence: {shown} is licensed `{text}`, which deny.toml's [licenses].allow does \
                 not satisfy (not allowed: {}); in the graph as {}",
                missing.join(", "),
                graph.chain(id, parents)
            ));
        }
    }
    let unused: Vec<String> = policy
        .allow
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, l)| l.shown())
        .collect();
    if !unused.is_empty() {
        findings.at(
            policy.unused_allowed,
            format!(
                "licence: [licenses].allow lists {} that no package uses",
                unused.join(", ")
            ),
        );
    }
    findings.summary.push(format!(
        "licences: {checked} packages against [licenses].allow ({})",
        policy
            .allow
            .iter()
            .map(Licensee::shown)
            .collect::<Vec<_>>()
            .join(", ")
    ));
}

fn bans(
    policy: &Policy,
    graph: &Graph,
    ids: &[&String],
    parents: &BTreeMap<String, Option<String>>,
    findings: &mut Findings,
) {
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in ids {
        let p = &graph.packages[*id];
        versions.entry(&p.name).or_default().push(&p.version);
        if policy.deny.contains(&p.name) {
            findings.errors.push(format!(
                "bans: {} {} is denied by [bans].deny; in the graph as {}",
                p.name,
                p.version,
                graph.chain(id, parents)
            ));
        }
        for d in &p.declared {
            let private_path = policy.allow_wildcard_paths && d.path && p.private;
            if d.req.trim() == "*" && !private_path {
                findings.at(
                    policy.wildcards,
                    format!(
                        "bans: {} {} depends on {} with a wildcard version `*`",
                        p.name, p.version, d.name
                    ),
                );
            }
        }
    }
    let duplicates: Vec<String> = versions
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(name, v)| format!("{name} ({})", v.join(", ")))
        .collect();
    if !duplicates.is_empty() {
        findings.at(
            policy.multiple_versions,
            format!(
                "bans: {} crates in more than one version: {}",
                duplicates.len(),
                duplicates.join("; ")
            ),
        );
    }
    findings.summary.push(format!(
        "bans: {} denied crates, wildcards {:?}, multiple versions {:?}",
        policy.deny.len(),
        policy.wildcards,
        policy.multiple_versions
    ));
}

fn sources(
    policy: &Policy,
    graph: &Graph,
    ids: &[&String],
    parents: &BTreeMap<String, Option<String>>,
    findings: &mut Findings,
) {
    let mut registries = 0;
    for id in ids {
        let p = &graph.packages[*id];
        let Some(source) = &p.source else {
            continue; // the workspace and path dependencies
        };
        let why = || format!("in the graph as {}", graph.chain(id, parents));
        if let Some(url) = source
            .strip_prefix("registry+")
            .or_else(|| source.strip_prefix("sparse+"))
        {
            registries += 1;
            if !policy.allow_registry.contains(&registry(url)) {
                findings.at(
                    policy.unknown_registry,
                    format!(
                        "sources: {} {} comes from the registry {url}, not in [sources].allow-registry; {}",
                        p.name,
                        p.version,
                        why()
                    ),
                );
            }
        } else if let Some(url) = source.strip_prefix("git+") {
            let repository = url.split(['?', '#']).next().unwrap_or(url);
            if !policy.allow_git.iter().any(|g| g == repository) {
                findings.at(
                    policy.unknown_git,
                    format!(
                        "sources: {} {} comes from the git repository {repository}, not in [sources].allow-git; {}",
                        p.name,
                        p.version,
                        why()
                    ),
                );
            }
        } else {
            findings.errors.push(format!(
                "sources: {} {} comes from `{source}`, a kind of source xtask does not know; {}",
                p.name,
                p.version,
                why()
            ));
        }
    }
    findings.summary.push(format!(
        "sources: {registries} registry packages against [sources].allow-registry ({})",
        policy.allow_registry.join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supply::graph::tests::{Pkg, metadata};
    use crate::supply::toml_to_json;
    use serde_json::json;

    fn policy(text: &str) -> Result<Policy, String> {
        parse(&toml_to_json(text)?)
    }

    const POLICY: &str = r#"
[graph]
targets = ["aarch64-unknown-linux-gnu", { triple = "x86_64-unknown-linux-gnu" }]
[licenses]
allow = ["MIT", "Apache-2.0"]
[licenses.private]
ignore = true
[[licenses.exceptions]]
name = "ring"
allow = ["ISC"]
[bans]
multiple-versions = "deny"
wildcards = "deny"
allow-wildcard-paths = true
deny = ["openssl"]
[sources]
unknown-registry = "deny"
unknown-git = "deny"
"#;

    fn graph(packages: &[Pkg]) -> Graph {
        Graph::from_metadata(&metadata(packages, &[])).unwrap()
    }

    #[test]
    fn the_policy_reads_cargo_deny_keys_and_refuses_unknown_ones() {
        let p = policy(POLICY).unwrap();
        assert_eq!(
            p.targets,
            vec!["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"]
        );
        assert_eq!(p.allow.len(), 2);
        assert_eq!(p.allow_registry, vec![CRATES_IO]);
        let skip = POLICY.replace("[bans]", "[bans]\nskip = [\"syn\"]");
        assert!(
            policy(&skip)
                .unwrap_err()
                .contains("`bans.skip` is not implemented")
        );
        let clarify =
            format!("{POLICY}\n[[licenses.clarify]]\nname = \"ring\"\nexpression = \"ISC\"\n");
        assert!(policy(&clarify).unwrap_err().contains("`licenses.clarify`"));
        assert!(
            policy("[bans]\nwildcards = \"maybe\"")
                .unwrap_err()
                .contains("bans.wildcards")
        );
    }

    #[test]
    fn every_licence_must_be_satisfiable_by_the_allow_list() {
        let g = graph(&[
            (
                "fn-a",
                "GPL-3.0",
                &[
                    ("serde", None, false),
                    ("untrusted", None, false),
                    ("ring", None, false),
                ],
            ),
            ("serde", "MIT OR Apache-2.0", &[]),
            ("untrusted", "ISC", &[]),
            // ISC allowed for ring only, by an exception.
            ("ring", "Apache-2.0 AND ISC", &[]),
        ]);
        let findings = judge(&policy(POLICY).unwrap(), &g);
        assert_eq!(findings.errors.len(), 1, "{:?}", findings.errors);
        let error = &findings.errors[0];
        assert!(
            error.contains("untrusted 1.0.0 is licensed `ISC`"),
            "{error}"
        );
        assert!(error.contains("(not allowed: ISC)"), "{error}");
        assert!(error.contains("untrusted 1.0.0 ← fn-a 0.1.0"), "{error}");
        // The private member's GPL is ignored (licenses.private.ignore).
        assert!(!error.contains("GPL"));
    }

    #[test]
    fn an_unused_allowed_licence_is_reported_at_its_level() {
        let g = graph(&[
            ("fn-a", "MIT", &[("serde", None, false)]),
            ("serde", "MIT", &[]),
        ]);
        let findings = judge(&policy(POLICY).unwrap(), &g);
        assert!(findings.errors.is_empty(), "{:?}", findings.errors);
        assert_eq!(
            findings.warnings,
            vec!["licence: [licenses].allow lists Apache-2.0 that no package uses"]
        );
    }

    #[test]
    fn bans_deny_list_duplicates_and_wildcards() {
        let mut doc = metadata(
            &[
                (
                    "fn-a",
                    "MIT",
                    &[("openssl", None, false), ("lib", None, false)],
                ),
                ("openssl", "Apache-2.0", &[]),
                ("lib", "MIT", &[]),
            ],
            &[],
        );
        // A wildcard on a crates.io dependency; the private member's path wildcard is allowed.
        doc["packages"][1]["dependencies"] =
            json!([{"name": "libc", "req": "*", "kind": null, "optional": false, "target": null}]);
        doc["packages"][0]["dependencies"][1]["req"] = json!("*");
        doc["packages"][0]["dependencies"][1]["path"] = json!("/repo/lib");
        // A second version of openssl in the graph.
        let mut second = doc["packages"][1].clone();
        second["id"] = json!("registry+https://github.com/rust-lang/crates.io-index#openssl@2.0.0");
        second["version"] = json!("2.0.0");
        doc["packages"].as_array_mut().unwrap().push(second);
        doc["resolve"]["nodes"].as_array_mut().unwrap().push(json!({"id": "registry+https://github.com/rust-lang/crates.io-index#openssl@2.0.0", "features": [], "deps": []}));
        doc["resolve"]["nodes"][0]["deps"].as_array_mut().unwrap().push(json!({"name": "openssl2", "pkg": "registry+https://github.com/rust-lang/crates.io-index#openssl@2.0.0", "dep_kinds": [{"kind": null, "target": null}]}));
        let g = Graph::from_metadata(&doc).unwrap();
        let errors = judge(&policy(POLICY).unwrap(), &g).errors;
        let all = errors.join("\n");
        assert!(all.contains("bans: openssl 1.0.0 is denied"), "{all}");
        assert!(
            all.contains("openssl 1.0.0 depends on libc with a wildcard"),
            "{all}"
        );
        assert!(!all.contains("depends on lib with"), "{all}");
        assert!(all.contains("openssl (1.0.0, 2.0.0)"), "{all}");
    }

    #[test]
    fn only_allowed_registries_and_git_repositories() {
        let mut doc = metadata(
            &[
                (
                    "fn-a",
                    "MIT",
                    &[("a", None, false), ("b", None, false), ("c", None, false)],
                ),
                ("a", "MIT", &[]),
                ("b", "MIT", &[]),
                ("c", "MIT", &[]),
            ],
            &[],
        );
        doc["packages"][1]["source"] = json!("sparse+https://index.crates.io/");
        doc["packages"][2]["source"] = json!("registry+https://dl.cloudsmith.io/x/index.git");
        doc["packages"][3]["source"] = json!("git+https://github.com/o/c?rev=1#0123");
        let g = Graph::from_metadata(&doc).unwrap();
        let all = judge(&policy(POLICY).unwrap(), &g).errors.join("\n");
        assert!(
            !all.contains("a 1.0.0"),
            "crates.io's sparse index is crates.io: {all}"
        );
        assert!(
            all.contains("b 1.0.0 comes from the registry https://dl.cloudsmith.io/x/index.git"),
            "{all}"
        );
        assert!(
            all.contains("c 1.0.0 comes from the git repository https://github.com/o/c,"),
            "{all}"
        );
    }
}
