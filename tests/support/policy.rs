//! The cfn-guard rule pack as the tests read it: each rule's header (requirements, PCI DSS
//! v4.0.1 requirements, what it checks, its scenarios), the PCI DSS ids its messages cite,
//! and the cases of its test file.

use crate::repo;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const POLICY_DIR: &str = "templates/policy";

/// One rule and what its header says.
#[derive(Debug, Clone, Default)]
pub struct RuleHeader {
    pub file: String,
    pub name: String,
    pub requirements: Vec<String>,
    /// PCI DSS v4.0.1 requirement ids from the `# PCI DSS v4.0.1:` line (`none` = empty).
    pub pci: Vec<String>,
    /// Requirement ids the rule's `<< … >>` messages cite after "PCI DSS ".
    pub cited_pci: Vec<String>,
    pub checks: String,
    /// The expected outcomes its scenarios name: SKIP, PASS, FAIL.
    pub scenarios: Vec<String>,
}

/// Every `.guard` file of the pack, sorted.
pub fn rule_files() -> Vec<PathBuf> {
    repo::files_with_suffix(&repo::root().join(POLICY_DIR), ".guard")
        .into_iter()
        .filter(|p| p.parent() == Some(&repo::root().join(POLICY_DIR)))
        .collect()
}

/// The test file of a rule file: `tests/<stem>_tests.yaml`.
pub fn test_file(rule_file: &Path) -> PathBuf {
    let stem = rule_file.file_stem().unwrap().to_string_lossy();
    rule_file
        .parent()
        .unwrap()
        .join("tests")
        .join(format!("{stem}_tests.yaml"))
}

/// The headers of every rule of a file, in order.
pub fn headers(rule_file: &Path) -> Vec<RuleHeader> {
    let text = fs::read_to_string(rule_file).unwrap();
    let file = rule_file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut rules = Vec::new();
    let mut current: Option<RuleHeader> = None;
    let mut in_scenarios = false;
    for line in text.lines() {
        let body = line.trim_start_matches('#').trim();
        if let Some(name) = body.strip_prefix("Rule: ") {
            rules.extend(current.take());
            current = Some(RuleHeader {
                file: file.clone(),
                name: name.trim().into(),
                ..Default::default()
            });
            in_scenarios = false;
            continue;
        }
        let Some(rule) = current.as_mut() else {
            continue;
        };
        if !line.starts_with('#') {
            in_scenarios = false;
            // A message line: "Violation: REQ-… / PCI DSS 3.3.1, 6.2.4: what is wrong."
            if let Some((_, after)) = line.split_once("PCI DSS ")
                && let Some((ids, _)) = after.split_once(':')
            {
                rule.cited_pci
                    .extend(ids.split(',').map(|s| s.trim().to_string()));
            }
            continue;
        }
        let list = |text: &str| -> Vec<String> {
            text.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s != "none")
                .collect()
        };
        if let Some(value) = body.strip_prefix("Requirements:") {
            rule.requirements = list(value);
        } else if let Some(value) = body.strip_prefix("PCI DSS v4.0.1:") {
            rule.pci = list(value);
        } else if body.starts_with("PCI DSS") {
            // v4.0 was retired on 31 December 2024; a header citing it (or no version) would
            // silently lose its requirement ids, so it stops every test that reads the pack.
            panic!(
                "{file}: rule {} cites `{body}`; write `# PCI DSS v4.0.1: <ids>` (or `none`)",
                rule.name
            );
        } else if let Some(value) = body.strip_prefix("Checks:") {
            rule.checks = value.trim().into();
        } else if body == "Scenarios:" {
            in_scenarios = true;
        } else if in_scenarios && let Some((outcome, _)) = body.split_once(':') {
            rule.scenarios.push(outcome.trim().into());
        }
    }
    rules.extend(current);
    rules
}

/// (rule, expected outcome) pairs a test file asserts.
pub fn tested_outcomes(test_file: &Path) -> BTreeSet<(String, String)> {
    let text = fs::read_to_string(test_file).unwrap_or_default();
    let cases: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or(serde_yaml::Value::Null);
    let mut outcomes = BTreeSet::new();
    for case in cases.as_sequence().into_iter().flatten() {
        for (rule, outcome) in case["expectations"]["rules"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            outcomes.insert((
                rule.as_str().unwrap_or("").into(),
                outcome.as_str().unwrap_or("").into(),
            ));
        }
    }
    outcomes
}

/// A tool installed by `cargo xtask setup`: from PATH, the cargo root or the project venv.
pub fn tool(name: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    candidates.extend(cargo_home.map(|c| c.join("bin").join(name)));
    candidates.push(repo::root().join(".tools/venv/bin").join(name));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run `cargo xtask setup`"))
}

/// `cfn-guard validate` of a template against the whole pack: (exit code, report).
pub fn validate(template: &Path) -> (i32, String) {
    let output = Command::new(tool("cfn-guard"))
        .args(["validate", "--show-summary", "fail", "--rules"])
        .arg(repo::root().join(POLICY_DIR))
        .arg("--data")
        .arg(template)
        .output()
        .expect("cfn-guard runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), report)
}
