//! AWS's own rule set: the AWS Control Tower proactive controls, AWS-authored cfn-guard rules
//! that the npm package `@cdklabs/cdk-validator-cfnguard` ships (pinned in tools/package.json,
//! installed by `cargo xtask setup`), run against the template by tests/aws_rules.rs.
//!
//! A control applies when its metadata's `EvaluatedResourceTypes` names a resource type the
//! template declares. Each failure is compared, resource by resource, with the checked-in
//! list of departures (templates/policy/aws-control-tower-exceptions.yaml).
//!
//! The rules were written for Control Tower's CloudFormation hook, which evaluates a resource
//! as CloudFormation is about to provision it (AWS Control Tower Control Catalog, "Proactive
//! controls": preCreate and preUpdate hook handlers). Two rewrites, neither changing the
//! template's meaning, make the file the rules read closer to that:
//! - `!GetAtt Resource.Attribute` is written in its list form `[Resource, Attribute]`: the two
//!   are the same function (CloudFormation Template Reference, "Fn::GetAtt"), and the rules
//!   follow a local reference only in the list form;
//! - a `!Ref` to a template parameter becomes the value that environment's parameter file
//!   (templates/params/<env>.json, else the parameter's default) deploys.

use crate::{policy, repo};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PACKAGE: &str = "@cdklabs/cdk-validator-cfnguard";
pub const EXCEPTIONS: &str = "templates/policy/aws-control-tower-exceptions.yaml";
pub const PARAMS_DIR: &str = "templates/params";

/// Where `npm ci` (tools/package.json) puts the package.
pub fn package_dir() -> PathBuf {
    repo::root().join("tools/node_modules").join(PACKAGE)
}

/// The version tools/package.json pins.
pub fn pinned_version() -> String {
    let manifest: Json =
        serde_json::from_str(&fs::read_to_string(repo::root().join("tools/package.json")).unwrap())
            .unwrap();
    manifest["dependencies"][PACKAGE]
        .as_str()
        .unwrap_or_else(|| panic!("tools/package.json does not pin {PACKAGE}"))
        .to_string()
}

/// The version installed in tools/node_modules, if any.
pub fn installed_version() -> Option<String> {
    let text = fs::read_to_string(package_dir().join("package.json")).ok()?;
    let manifest: Json = serde_json::from_str(&text).ok()?;
    manifest["version"].as_str().map(str::to_string)
}

/// One Control Tower control: its rule file and what its metadata says.
#[derive(Debug, Clone)]
pub struct Control {
    /// The rule file's stem, e.g. `ct-s3-pr-9`.
    pub rule: String,
    /// The control id, e.g. `CT.S3.PR.9`.
    pub id: String,
    pub title: String,
    pub types: Vec<String>,
    /// PCI DSS 3.2.1 requirement ids from the metadata's framework mappings.
    pub pci: Vec<String>,
    pub guard: PathBuf,
    /// The rule names the guard file reports (its top-level rules).
    pub rule_names: BTreeSet<String>,
}

/// Every control of the package, sorted by service and number.
pub fn controls(package: &Path) -> Vec<Control> {
    let rules = package.join("rules/control-tower");
    let mut found = Vec::new();
    for guard in repo::files_with_suffix(&rules.join("cfn-guard"), ".guard") {
        let rule = guard.file_stem().unwrap().to_string_lossy().into_owned();
        let service = guard.parent().unwrap().file_name().unwrap();
        let metadata_file = rules
            .join("metadata")
            .join(service)
            .join(format!("{rule}.metadata.json"));
        let metadata: Json = serde_json::from_str(
            &fs::read_to_string(&metadata_file)
                .unwrap_or_else(|e| panic!("{}: {e}", metadata_file.display())),
        )
        .unwrap();
        let strings = |value: &Json| -> Vec<String> {
            value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let pci = metadata["ComplianceFrameworkMappings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["ComplianceFramework"].as_str() == Some("PCI DSS version 3.2.1"))
            .flat_map(|m| strings(&m["Ids"]))
            .collect();
        found.push(Control {
            id: metadata["Id"].as_str().unwrap_or_default().to_string(),
            title: metadata["DisplayName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            types: strings(&metadata["EvaluatedResourceTypes"]),
            pci,
            rule_names: rule_names(&fs::read_to_string(&guard).unwrap()),
            guard,
            rule,
        });
    }
    found.sort_by_key(|c| sort_key(&c.rule));
    found
}

/// `ct-s3-pr-10` after `ct-s3-pr-9`.
pub fn sort_key(rule: &str) -> (String, u32) {
    match rule.rsplit_once('-') {
        Some((service, n)) => (service.to_string(), n.parse().unwrap_or(0)),
        None => (rule.to_string(), 0),
    }
}

/// Top-level rules (`rule name when …` or `rule name {`), not parameterised helpers.
pub fn rule_names(guard: &str) -> BTreeSet<String> {
    guard
        .lines()
        .filter_map(|line| line.strip_prefix("rule "))
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = rest[name.len()..].trim_start();
            (!name.is_empty() && !after.starts_with('(')).then_some(name)
        })
        .collect()
}

/// The controls that evaluate at least one of `types`.
pub fn applicable(controls: &[Control], types: &BTreeSet<String>) -> Vec<Control> {
    controls
        .iter()
        .filter(|c| c.types.iter().any(|t| types.contains(t)))
        .cloned()
        .collect()
}

/// Every resource type the template declares.
pub fn resource_types(template: &Yaml) -> BTreeSet<String> {
    template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(_, r)| r["Type"].as_str().map(str::to_string))
        .collect()
}

/// A parameter's value as CloudFormation hands it to a resource: a number for a `Number`
/// parameter (every one this template declares is whole), text otherwise.
fn typed(declared: &Yaml, name: &str, value: &str) -> Json {
    let number = declared[name]["Type"].as_str() == Some("Number");
    match value.parse::<i64>() {
        Ok(n) if number => json!(n),
        _ => json!(value),
    }
}

/// The template's parameter defaults, typed (`typed`).
pub fn defaults(template: &Yaml) -> BTreeMap<String, Json> {
    let declared = &template["Parameters"];
    declared
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(name, parameter)| {
            let name = name.as_str()?;
            let default = crate::template::scalar(&parameter["Default"])?;
            Some((name.to_string(), typed(declared, name, &default)))
        })
        .collect()
}

/// Each environment's parameter values (`templates/params/<env>.json` over the defaults),
/// typed as CloudFormation hands them to a resource: numbers for `Number` parameters.
pub fn environments(template: &Yaml) -> BTreeMap<String, BTreeMap<String, Json>> {
    let declared = &template["Parameters"];
    let mut environments = BTreeMap::new();
    for file in repo::files_with_suffix(&repo::root().join(PARAMS_DIR), ".json") {
        let env = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut values = defaults(template);
        let given: Json = serde_json::from_str(&fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for entry in given.as_array().into_iter().flatten() {
            let (Some(name), Some(value)) = (
                entry["ParameterKey"].as_str(),
                entry["ParameterValue"].as_str(),
            ) else {
                continue;
            };
            values.insert(name.to_string(), typed(declared, name, value));
        }
        environments.insert(env, values);
    }
    environments
}

/// The template as JSON in the long form of every intrinsic function, `!GetAtt A.b` as
/// `{"Fn::GetAtt": ["A", "b"]}` and a `!Ref` to a parameter replaced by its value.
pub fn as_deployed(value: &Yaml, parameters: &BTreeMap<String, Json>) -> Json {
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => json!(b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap(),
        Yaml::String(s) => json!(s),
        Yaml::Sequence(items) => items.iter().map(|v| as_deployed(v, parameters)).collect(),
        Yaml::Mapping(map) => {
            let mut object = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => crate::template::scalar(other).unwrap_or_default(),
                };
                object.insert(key, as_deployed(v, parameters));
            }
            Json::Object(object)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = &tagged.value;
            match (name, inner) {
                ("Ref", Yaml::String(target)) => parameters
                    .get(target)
                    .cloned()
                    .unwrap_or_else(|| json!({ "Ref": target })),
                ("GetAtt", Yaml::String(dotted)) => match dotted.split_once('.') {
                    Some((resource, attribute)) => json!({ "Fn::GetAtt": [resource, attribute] }),
                    None => json!({ "Fn::GetAtt": dotted }),
                },
                ("Condition", _) => json!({ "Condition": as_deployed(inner, parameters) }),
                _ => json!({ format!("Fn::{name}"): as_deployed(inner, parameters) }),
            }
        }
    }
}

/// What one control found in one data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Skip,
    /// The resources the failing clauses point at (none when a rule fails without naming one).
    Fail(BTreeSet<String>),
}

/// `cfn-guard --version`.
pub fn guard_version() -> String {
    let output = Command::new(policy::tool("cfn-guard"))
        .arg("--version")
        .output()
        .expect("cfn-guard runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Runs every control against every data file in `data_dir` in one cfn-guard process:
/// data file stem → rule → outcome.
pub fn evaluate(
    controls: &[Control],
    data_dir: &Path,
) -> BTreeMap<String, BTreeMap<String, Outcome>> {
    let mut command = Command::new(policy::tool("cfn-guard"));
    command.arg("validate");
    for control in controls {
        command.arg("--rules").arg(&control.guard);
    }
    command.arg("--data").arg(data_dir).args([
        "--structured",
        "--output-format",
        "json",
        "--show-summary",
        "none",
    ]);
    let output = command.output().expect("cfn-guard runs");
    // 0: every rule passed or skipped; 19: a rule failed (DESIGN.md §8).
    assert!(
        matches!(output.status.code(), Some(0 | 19)),
        "cfn-guard validate failed to run:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reports: Json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "cfn-guard printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let mut results = BTreeMap::new();
    for report in reports.as_array().expect("one report per data file") {
        let stem = Path::new(report["name"].as_str().unwrap())
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut failing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in report["not_compliant"].as_array().into_iter().flatten() {
            let name = entry["Rule"]["name"].as_str().unwrap_or_default();
            let resources = failing.entry(name.to_string()).or_default();
            clause_resources(&entry["Rule"], resources);
        }
        let passing: BTreeSet<&str> = report["compliant"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
            .collect();
        let mut outcomes = BTreeMap::new();
        for control in controls {
            let failed: Option<BTreeSet<String>> = control
                .rule_names
                .iter()
                .filter_map(|n| failing.get(n))
                .fold(None, |acc, r| {
                    Some(acc.unwrap_or_default().union(r).cloned().collect())
                });
            let outcome = match failed {
                Some(resources) => Outcome::Fail(resources),
                None if control
                    .rule_names
                    .iter()
                    .any(|n| passing.contains(n.as_str())) =>
                {
                    Outcome::Pass
                }
                None => Outcome::Skip,
            };
            outcomes.insert(control.rule.clone(), outcome);
        }
        results.insert(stem, outcomes);
    }
    results
}

/// The logical ids of the resources that the failing clauses under `node` point at.
fn clause_resources(node: &Json, found: &mut BTreeSet<String>) {
    match node {
        Json::Object(map) => {
            if let Some(clause) = map.get("Clause") {
                paths(clause, found);
                return;
            }
            map.values().for_each(|v| clause_resources(v, found));
        }
        Json::Array(items) => items.iter().for_each(|v| clause_resources(v, found)),
        _ => {}
    }
}

fn paths(node: &Json, found: &mut BTreeSet<String>) {
    match node {
        Json::Object(map) => {
            if let Some(id) = map
                .get("path")
                .and_then(Json::as_str)
                .and_then(|p| p.strip_prefix("/Resources/"))
                .and_then(|p| p.split('/').next())
            {
                found.insert(id.to_string());
            }
            map.values().for_each(|v| paths(v, found));
        }
        Json::Array(items) => items.iter().for_each(|v| paths(v, found)),
        _ => {}
    }
}

/// One entry of the exceptions file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub rule: String,
    pub control: String,
    pub intent: String,
    pub status: Status,
    pub resources: Vec<String>,
    pub reason: String,
    #[serde(default)]
    pub fix: Option<String>,
    pub compensating: String,
    #[serde(default)]
    pub pack_rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Status {
    #[serde(rename = "departure")]
    Departure,
    #[serde(rename = "fix pending (lead)")]
    FixPending,
    #[serde(rename = "false positive (cfn-guard 3.2.1)")]
    Evaluator,
    #[serde(rename = "false positive (!Sub)")]
    SubForm,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Departure => "departure",
            Status::FixPending => "fix pending (lead)",
            Status::Evaluator => "false positive (cfn-guard 3.2.1)",
            Status::SubForm => "false positive (!Sub)",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionsFile {
    exceptions: Vec<Exception>,
}

pub fn exceptions_from(text: &str) -> Vec<Exception> {
    serde_yaml::from_str::<ExceptionsFile>(text)
        .unwrap_or_else(|e| panic!("{EXCEPTIONS}: {e}"))
        .exceptions
}

pub fn exceptions() -> Vec<Exception> {
    exceptions_from(&fs::read_to_string(repo::root().join(EXCEPTIONS)).unwrap())
}

/// Every disagreement between what the controls found and the exceptions file: a failure
/// not listed, a listed failure that is gone, an entry that does not describe its control.
/// `outcomes` is data file → rule → outcome; `pack_rules` are the rule names of our own pack.
pub fn compare(
    controls: &[Control],
    outcomes: &BTreeMap<String, BTreeMap<String, Outcome>>,
    exceptions: &[Exception],
    pack_rules: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let by_rule: BTreeMap<&str, &Control> = controls.iter().map(|c| (c.rule.as_str(), c)).collect();
    let mut listed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for entry in exceptions {
        let Some(control) = by_rule.get(entry.rule.as_str()) else {
            problems.push(format!(
                "{}: no such control applies to the template; delete the entry",
                entry.rule
            ));
            continue;
        };
        if entry.control != control.id {
            problems.push(format!(
                "{}: the control is {}, not {}",
                entry.rule, control.id, entry.control
            ));
        }
        for (field, text) in [
            ("intent", &entry.intent),
            ("reason", &entry.reason),
            ("compensating", &entry.compensating),
        ] {
            if text.trim().len() < 10 {
                problems.push(format!("{}: `{field}` says nothing", entry.rule));
            }
        }
        if entry.status == Status::FixPending && entry.fix.as_deref().unwrap_or("").len() < 10 {
            problems.push(format!("{}: a pending fix must say what it is", entry.rule));
        }
        if (entry.status == Status::Evaluator) != entry.resources.is_empty() {
            problems.push(format!(
                "{}: only a cfn-guard false positive lists no resource, and it lists none",
                entry.rule
            ));
        }
        for rule in &entry.pack_rules {
            if !pack_rules.contains(rule) {
                problems.push(format!(
                    "{}: {rule} is not a rule of templates/policy",
                    entry.rule
                ));
            }
        }
        let resources = listed.entry(entry.rule.as_str()).or_default();
        for resource in &entry.resources {
            if !resources.insert(resource.as_str()) {
                problems.push(format!("{}: {resource} is listed twice", entry.rule));
            }
        }
    }
    // Failures nobody listed.
    for (data, results) in outcomes {
        for (rule, outcome) in results {
            let Outcome::Fail(failing) = outcome else {
                continue;
            };
            let covered = listed.get(rule.as_str());
            let unlisted: Vec<&String> = failing
                .iter()
                .filter(|r| !covered.is_some_and(|c| c.contains(r.as_str())))
                .collect();
            let vacuous_listed = exceptions
                .iter()
                .any(|e| &e.rule == rule && e.resources.is_empty());
            if !unlisted.is_empty() {
                problems.push(format!(
                    "{rule} ({}) fails on {} in {data}: fix the template or add a departure to {EXCEPTIONS}",
                    by_rule[rule.as_str()].id,
                    unlisted
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            } else if failing.is_empty() && !vacuous_listed {
                problems.push(format!(
                    "{rule} ({}) fails in {data} without naming a resource; find out why and list it",
                    by_rule[rule.as_str()].id
                ));
            }
        }
    }
    // Listed failures that are gone.
    for entry in exceptions {
        let fails = |pred: &dyn Fn(&BTreeSet<String>) -> bool| {
            outcomes.values().any(
                |results| matches!(results.get(&entry.rule), Some(Outcome::Fail(r)) if pred(r)),
            )
        };
        if entry.resources.is_empty() {
            if !fails(&|r| r.is_empty()) {
                problems.push(format!(
                    "{}: listed as a cfn-guard false positive but no longer fails; delete the entry",
                    entry.rule
                ));
            }
            continue;
        }
        for resource in &entry.resources {
            if !fails(&|r| r.contains(resource)) {
                problems.push(format!(
                    "{}: {resource} is listed ({}) but passes now; delete it from {EXCEPTIONS}",
                    entry.rule,
                    entry.status.label()
                ));
            }
        }
    }
    problems
}

/// The rule names of our own pack (templates/policy).
pub fn pack_rule_names() -> BTreeSet<String> {
    policy::rule_files()
        .iter()
        .flat_map(|f| policy::headers(f))
        .map(|h| h.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(rule: &str) -> Control {
        Control {
            rule: rule.into(),
            id: rule.to_uppercase().replace('-', "."),
            title: String::new(),
            types: vec!["AWS::S3::Bucket".into()],
            pci: vec![],
            guard: PathBuf::new(),
            rule_names: BTreeSet::new(),
        }
    }

    fn exception(rule: &str, status: &str, resources: &[&str]) -> Exception {
        exceptions_from(&format!(
            "exceptions:\n  - rule: {rule}\n    control: {}\n    intent: an intent of ten\n    \
             status: {status}\n    resources: [{}]\n    reason: a reason of ten\n    \
             fix: a fix of ten characters\n    compensating: something else\n",
            rule.to_uppercase().replace('-', "."),
            resources.join(", ")
        ))
        .remove(0)
    }

    fn outcomes(rule: &str, outcome: Outcome) -> BTreeMap<String, BTreeMap<String, Outcome>> {
        BTreeMap::from([(
            "prod".to_string(),
            BTreeMap::from([(rule.to_string(), outcome)]),
        )])
    }

    fn fail(resources: &[&str]) -> Outcome {
        Outcome::Fail(resources.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_listed_failure_passes_and_an_unlisted_one_does_not() {
        let controls = [control("ct-s3-pr-9")];
        let listed = [exception("ct-s3-pr-9", "departure", &["A"])];
        let none = BTreeSet::new();
        assert!(
            compare(
                &controls,
                &outcomes("ct-s3-pr-9", fail(&["A"])),
                &listed,
                &none
            )
            .is_empty()
        );
        let problems = compare(
            &controls,
            &outcomes("ct-s3-pr-9", fail(&["A", "B"])),
            &listed,
            &none,
        );
        assert!(
            problems.iter().any(|p| p.contains("fails on B")),
            "{problems:?}"
        );
        let problems = compare(&controls, &outcomes("ct-s3-pr-9", fail(&["B"])), &[], &none);
        assert!(
            problems.iter().any(|p| p.contains("fails on B")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_listed_resource_that_passes_now_is_reported() {
        let controls = [control("ct-s3-pr-9")];
        let listed = [exception("ct-s3-pr-9", "fix pending (lead)", &["A", "B"])];
        let problems = compare(
            &controls,
            &outcomes("ct-s3-pr-9", fail(&["A"])),
            &listed,
            &BTreeSet::new(),
        );
        assert!(
            problems.iter().any(|p| p.contains("B is listed")),
            "{problems:?}"
        );
        let problems = compare(
            &controls,
            &outcomes("ct-s3-pr-9", Outcome::Pass),
            &listed,
            &BTreeSet::new(),
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_false_positive_covers_a_failure_that_names_no_resource_and_nothing_else() {
        let controls = [control("ct-s3-pr-9")];
        let listed = [exception(
            "ct-s3-pr-9",
            "false positive (cfn-guard 3.2.1)",
            &[],
        )];
        let none = BTreeSet::new();
        assert!(
            compare(
                &controls,
                &outcomes("ct-s3-pr-9", fail(&[])),
                &listed,
                &none
            )
            .is_empty()
        );
        let problems = compare(
            &controls,
            &outcomes("ct-s3-pr-9", fail(&["A"])),
            &listed,
            &none,
        );
        assert!(
            problems.iter().any(|p| p.contains("fails on A")),
            "{problems:?}"
        );
        let problems = compare(
            &controls,
            &outcomes("ct-s3-pr-9", Outcome::Skip),
            &listed,
            &none,
        );
        assert!(
            problems.iter().any(|p| p.contains("no longer fails")),
            "{problems:?}"
        );
    }

    #[test]
    fn an_entry_must_name_its_control_and_our_rules_correctly() {
        let controls = [control("ct-s3-pr-9")];
        let mut entry = exception("ct-s3-pr-9", "departure", &["A"]);
        entry.control = "CT.S3.PR.1".into();
        entry.pack_rules = vec!["NO_SUCH_RULE".into()];
        let problems = compare(
            &controls,
            &outcomes("ct-s3-pr-9", fail(&["A"])),
            &[entry],
            &BTreeSet::new(),
        );
        assert!(
            problems.iter().any(|p| p.contains("not CT.S3.PR.1")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("NO_SUCH_RULE")),
            "{problems:?}"
        );
    }

    #[test]
    fn getatt_is_written_as_a_list_and_parameters_take_their_values() {
        let doc: Yaml = serde_yaml::from_str(
            "A: !GetAtt Key.Arn\nB: !Ref Level\nC: !Ref Other\nD: !Sub x-${AWS::Region}\n\
             E: !GetAtt [Key, Arn]\nF: 3\n",
        )
        .unwrap();
        let parameters = BTreeMap::from([("Level".to_string(), json!("ERROR"))]);
        assert_eq!(
            as_deployed(&doc, &parameters),
            json!({
                "A": {"Fn::GetAtt": ["Key", "Arn"]},
                "B": "ERROR",
                "C": {"Ref": "Other"},
                "D": {"Fn::Sub": "x-${AWS::Region}"},
                "E": {"Fn::GetAtt": ["Key", "Arn"]},
                "F": 3
            })
        );
    }

    #[test]
    fn only_top_level_rules_are_named() {
        let guard = "rule a_check when %x not empty {\n}\nrule a_check when is_hook(%d) {\n}\n\
                     rule check(x) {\n}\nrule b_rule {\n}\n";
        assert_eq!(
            rule_names(guard),
            BTreeSet::from(["a_check".to_string(), "b_rule".to_string()])
        );
    }
}
