//! The supply chain (issue 15 [K]). PCI DSS v4.0.1 6.3.2: "An inventory of bespoke and
//! custom software, and third-party software components incorporated into bespoke and
//! custom software is maintained to facilitate vulnerability and patch management."
//!
//! `cargo xtask test` (stage "supply chain", on every machine, no network needed):
//! - a CycloneDX 1.5 SBOM of every function in `target/sbom/` (sbom.rs), validated against
//!   the CycloneDX JSON schema and compared with `cargo tree`;
//! - deny.toml's licences, bans and sources over the workspace's Rust graph (policy.rs);
//! - every GitHub Action pinned by a full commit SHA with its tag in a comment.
//!
//! xtask does the SBOM and the policy itself from `cargo metadata`: cargo-cyclonedx 0.5.9
//! and cargo-deny 0.20.2 took 11.6 and 17.2 min to `cargo install` cold on the 2-core CI
//! machine, where every new cargo-installed tool is built once.
//!
//! GitHub CI (`cargo xtask advisories`): installs cargo-deny on demand and runs all its
//! checks with the same deny.toml — the RustSec advisories, whose database is a git
//! repository on github.com (unreachable from the project's CI machine), and licences,
//! bans and sources once more, a second implementation of the same policy.

mod graph;
mod policy;
mod sbom;
mod spdx;

use crate::project::Project;
use crate::{shell, tools};
use graph::Graph;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// SBOM, licences/bans/sources and pinned Actions: what `cargo xtask test` runs. Every
/// part runs; the stage fails naming each part that failed.
pub fn check(project: &Project) -> Result<(), String> {
    let mut failures = Vec::new();
    let policy = policy::parse(&deny_config(project)?)?;
    let arm64 = Graph::from_metadata(&graph::metadata(project, Some(sbom::TARGET))?)?;

    match sbom::write_all(project, &arm64) {
        Ok(paths) => println!(
            "    SBOM: {} functions in {}, valid CycloneDX 1.5, nothing `cargo tree` builds missing",
            paths.len(),
            shell::relative(project, &project.target("sbom"))
        ),
        Err(e) => failures.push(format!("SBOM: {e}")),
    }

    let graph = policy_graph(project, &policy, Some(arm64))?;
    let findings = policy::judge(&policy, &graph);
    for line in &findings.summary {
        println!("    deny.toml {line}");
    }
    for warning in &findings.warnings {
        println!("    warning: {warning}");
    }
    if !findings.errors.is_empty() {
        failures.push(format!(
            "deny.toml (licences, bans, sources):\n  {}",
            findings.errors.join("\n  ")
        ));
    }

    let workflows = project.path(".github/workflows");
    let mut problems = Vec::new();
    for file in yaml_files(&workflows)? {
        let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let shown = shell::relative(project, &file);
        problems.extend(
            unpinned(&text)
                .into_iter()
                .map(|(line, message)| format!("{shown}:{line}: {message}")),
        );
    }
    if problems.is_empty() {
        println!("    GitHub Actions: every `uses:` pinned by commit SHA");
    } else {
        failures.push(format!(
            "GitHub Actions not pinned by commit:\n  {}",
            problems.join("\n  ")
        ));
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// `cargo xtask advisories` (GitHub CI): cargo-deny, installed on demand at its pinned
/// version, over the whole workspace — without `--workspace` a non-virtual workspace's
/// graph is the root package's alone, which has none of the functions' dependencies.
pub fn advisories(project: &Project) -> Result<(), String> {
    tools::cargo_tool(project, "cargo-deny")?;
    let mut deny = shell::command(project, "cargo");
    deny.args(["deny", "--workspace", "--locked", "check"])
        .args(["advisories", "licenses", "bans", "sources"]);
    shell::run(deny).map_err(|e| {
        format!("{e}\n(the advisory database is fetched from github.com/rustsec/advisory-db)")
    })
}

/// Writes one CycloneDX JSON SBOM per function to `target/sbom/<function>.cdx.json` and
/// checks each (schema, completeness, sanity).
pub fn sbom(project: &Project) -> Result<Vec<PathBuf>, String> {
    let arm64 = Graph::from_metadata(&graph::metadata(project, Some(sbom::TARGET))?)?;
    sbom::write_all(project, &arm64)
}

fn deny_config(project: &Project) -> Result<Value, String> {
    let path = project.path("deny.toml");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml_to_json(&text).map_err(|e| format!("deny.toml: {e}"))
}

/// The graph cargo-deny judges: the union over deny.toml's `[graph].targets` (every
/// platform when it names none); `arm64`, already resolved, is reused.
fn policy_graph(
    project: &Project,
    policy: &policy::Policy,
    mut arm64: Option<Graph>,
) -> Result<Graph, String> {
    if policy.targets.is_empty() {
        return Graph::from_metadata(&graph::metadata(project, None)?);
    }
    let mut union = Graph::default();
    for target in &policy.targets {
        let graph = match arm64.take_if(|_| target == sbom::TARGET) {
            Some(graph) => graph,
            None => Graph::from_metadata(&graph::metadata(project, Some(target))?)?,
        };
        union = union.union(graph);
    }
    Ok(union)
}

/// A TOML document (deny.toml, Cargo.lock) as JSON, so the checks read it like metadata.
pub(crate) fn toml_to_json(text: &str) -> Result<Value, String> {
    use toml_edit::{Item, Table, Value as Toml};
    fn value(v: &Toml) -> Value {
        match v {
            Toml::String(s) => Value::from(s.value().as_str()),
            Toml::Integer(i) => Value::from(*i.value()),
            Toml::Float(f) => Value::from(*f.value()),
            Toml::Boolean(b) => Value::from(*b.value()),
            Toml::Datetime(d) => Value::from(d.value().to_string()),
            Toml::Array(a) => Value::Array(a.iter().map(value).collect()),
            Toml::InlineTable(t) => {
                Value::Object(t.iter().map(|(k, v)| (k.to_string(), value(v))).collect())
            }
        }
    }
    fn table(t: &Table) -> Value {
        Value::Object(t.iter().map(|(k, v)| (k.to_string(), item(v))).collect())
    }
    fn item(i: &Item) -> Value {
        match i {
            Item::None => Value::Null,
            Item::Value(v) => value(v),
            Item::Table(t) => table(t),
            Item::ArrayOfTables(a) => Value::Array(a.iter().map(table).collect()),
        }
    }
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    Ok(table(doc.as_table()))
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every `uses:` of a workflow that is not `owner/repo[/path]@<40 hex> # <tag>`: a tag or
/// branch can be moved to other code after review; a commit cannot. Local actions
/// (`./…`) and container images (`docker://…`) are not GitHub Actions refs.
pub fn unpinned(workflow: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in workflow.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
        let Some(rest) = trimmed.strip_prefix("uses:") else {
            continue;
        };
        let (reference, comment) = match rest.split_once('#') {
            Some((reference, comment)) => (reference.trim(), comment.trim()),
            None => (rest.trim(), ""),
        };
        let reference = reference.trim_matches(|c| c == '"' || c == '\'');
        if reference.starts_with("./") || reference.starts_with("docker://") {
            continue;
        }
        let Some((action, at)) = reference.rsplit_once('@') else {
            found.push((index + 1, format!("`{reference}` names no version")));
            continue;
        };
        let sha = at.len() == 40
            && at
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
        if !sha {
            found.push((
                index + 1,
                format!("`{action}@{at}` is a tag or branch, not a commit SHA"),
            ));
        } else if comment.is_empty() {
            found.push((
                index + 1,
                format!("`{action}@{at}` has no `# <tag>` comment saying which release it is"),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_pinned_by_commit_with_their_tag_pass() {
        let workflow = "steps:\n  - uses: actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5 # v4.3.1\n  - uses: ./local-action\n    with:\n      x: 1\n  - name: a\n    uses: \"docker://alpine:3\"\n";
        assert_eq!(unpinned(workflow), vec![]);
    }

    #[test]
    fn tags_branches_short_shas_and_missing_comments_are_findings() {
        let workflow = "\
jobs:
  a:
    steps:
      - uses: actions/checkout@v4
      - uses: dtolnay/rust-toolchain@master
      - uses: actions/cache@0057852
      - uses: actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020
      - uses: some/action
  b:
    uses: org/repo/.github/workflows/x.yml@main
";
        let found = unpinned(workflow);
        let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8, 10], "{found:?}");
        assert!(
            found[0]
                .1
                .contains("`actions/checkout@v4` is a tag or branch")
        );
        assert!(found[3].1.contains("no `# <tag>` comment"));
        assert!(found[4].1.contains("names no version"));
    }

    #[test]
    fn toml_becomes_json() {
        let doc =
            toml_to_json("a = 1\n[t]\nlist = [\"x\", { triple = \"y\" }]\n[[p]]\nname = \"n\"\n")
                .unwrap();
        assert_eq!(
            doc,
            json!({"a": 1, "t": {"list": ["x", {"triple": "y"}]}, "p": [{"name": "n"}]})
        );
    }

    /// The mutant of the brief: deny.toml without one licence the real graph needs fails,
    /// naming a package that needs it.
    #[test]
    fn an_allow_list_missing_a_licence_the_graph_needs_fails_naming_the_package() {
        let project = Project::locate();
        let text = fs::read_to_string(project.path("deny.toml")).unwrap();
        let policy = policy::parse(&toml_to_json(&text).unwrap()).unwrap();
        let graph = policy_graph(&project, &policy, None).unwrap();
        // A crates.io package under one single licence, and that licence.
        let (package, licence) = graph
            .packages
            .values()
            .filter(|p| p.source.is_some())
            .find_map(|p| {
                let licence = p.license.as_deref()?;
                let single = !licence.contains([' ', '/', '(']);
                single.then(|| (format!("{} {}", p.name, p.version), licence.to_string()))
            })
            .expect("a crate under a single licence");
        let mutant = text.replace(&format!("\"{licence}\","), "");
        let weaker = policy::parse(&toml_to_json(&mutant).unwrap()).unwrap();
        assert_eq!(
            weaker.allow.len() + 1,
            policy.allow.len(),
            "{licence} removed"
        );
        let errors = policy::judge(&weaker, &graph).errors.join("\n");
        assert!(
            errors.contains(&format!("{package} is licensed `{licence}`")),
            "{package} ({licence}) not named:\n{errors}"
        );
    }
}
