//! AWS's own rule set against the template: every AWS Control Tower proactive control whose
//! metadata evaluates a resource type the template declares, run with the project's pinned
//! cfn-guard (never the binary the npm package bundles). A failure passes only when
//! templates/policy/aws-control-tower-exceptions.yaml lists that control and resource, and a
//! listed resource that passes now fails the test, so the list cannot grow stale.
//! How the template is handed to the rules: tests/support/control_tower.rs.

use payment_workflow_book::control_tower::{self as ct, Control, Outcome, Status};
use payment_workflow_book::template::TEMPLATE;
use payment_workflow_book::{generated, policy, repo};
use serde_json::{Value as Json, json};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The cfn-guard version DESIGN.md §6 pins.
const GUARD: &str = "cfn-guard 3.2.1";

fn template() -> Yaml {
    serde_yaml::from_str(&fs::read_to_string(repo::root().join(TEMPLATE)).unwrap()).unwrap()
}

/// The installed package's controls that apply to the template.
fn applicable(template: &Yaml) -> (Vec<Control>, usize) {
    let installed = ct::installed_version();
    assert_eq!(
        installed.as_deref(),
        Some(ct::pinned_version().as_str()),
        "{} is not installed at the version tools/package.json pins: run `cargo xtask setup`",
        ct::PACKAGE
    );
    let all = ct::controls(&ct::package_dir());
    let applicable = ct::applicable(&all, &ct::resource_types(template));
    (applicable, all.len())
}

/// A fresh folder under cargo's per-test scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, stem: &str, doc: &Json) {
    fs::write(
        dir.join(format!("{stem}.json")),
        serde_json::to_vec(doc).unwrap(),
    )
    .unwrap();
}

#[test]
fn the_pinned_control_tower_rules_are_installed_and_read() {
    let template = template();
    let (applicable, total) = applicable(&template);
    assert!(total >= 200, "only {total} controls in {}", ct::PACKAGE);
    assert!(
        applicable.len() >= 25,
        "only {} controls apply",
        applicable.len()
    );
    for control in &applicable {
        assert!(
            control.id.starts_with("CT.") && !control.title.is_empty(),
            "{}: no id or title in its metadata",
            control.rule
        );
        assert!(
            !control.rule_names.is_empty(),
            "{}: no top-level rule in {}",
            control.rule,
            control.guard.display()
        );
    }
    // Services the template uses: each must be covered by at least one control.
    for service in [
        "APIGATEWAY",
        "CLOUDWATCH",
        "DYNAMODB",
        "IAM",
        "KMS",
        "LAMBDA",
        "S3",
        "SQS",
        "STEPFUNCTIONS",
        "WAFV2",
    ] {
        assert!(
            applicable
                .iter()
                .any(|c| c.id.starts_with(&format!("CT.{service}."))),
            "no control of {service} was selected"
        );
    }
    let version = ct::guard_version();
    assert_eq!(version, GUARD, "the pinned cfn-guard runs these rules");
    assert!(
        !policy::tool("cfn-guard").starts_with(repo::root().join("tools/node_modules")),
        "the npm package's bundled cfn-guard must not be the one used"
    );
}

#[test]
fn aws_control_tower_rules_pass_the_template_or_are_listed_departures() {
    let template = template();
    let (controls, total) = applicable(&template);
    let dir = scratch("aws-control-tower");
    let environments = ct::environments(&template);
    assert!(
        environments.len() >= 3,
        "no parameter files in {}",
        ct::PARAMS_DIR
    );
    for (env, parameters) in &environments {
        write(&dir, env, &ct::as_deployed(&template, parameters));
    }
    let outcomes = ct::evaluate(&controls, &dir);
    assert_eq!(
        outcomes.keys().collect::<Vec<_>>(),
        environments.keys().collect::<Vec<_>>()
    );
    let exceptions = ct::exceptions();
    let problems = ct::compare(&controls, &outcomes, &exceptions, &ct::pack_rule_names());
    assert!(
        problems.is_empty(),
        "AWS Control Tower controls disagree with {}:\n{}",
        ct::EXCEPTIONS,
        problems.join("\n")
    );
    generated::check(
        "src/generated/aws-control-tower.md",
        &table(&template, &controls, total, &outcomes, &exceptions),
    );
}

fn table(
    template: &Yaml,
    controls: &[Control],
    total: usize,
    outcomes: &BTreeMap<String, BTreeMap<String, Outcome>>,
    exceptions: &[ct::Exception],
) -> String {
    let envs: Vec<&String> = outcomes.keys().collect();
    let cell = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "/")
    };
    let mut text = format!(
        "<!-- generated by aws_control_tower_rules_pass_the_template_or_are_listed_departures \
         (tests/aws_rules.rs); `cargo xtask regen` -->\n\
         AWS's own rules: the AWS Control Tower proactive controls of `{}` {} \
         (`rules/control-tower`, written by AWS). {} of its {total} controls evaluate a resource \
         type the template declares; each ran with {} against the template as each environment \
         deploys it ({}). A failure is accepted only as a listed departure, pending fix or false \
         positive (`{}`), resource by resource.\n\n\
         | control | rule | what it requires | PCI DSS 3.2.1 | result |\n| --- | --- | --- | --- | --- |\n",
        ct::PACKAGE,
        ct::pinned_version(),
        controls.len(),
        GUARD,
        envs.iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        ct::EXCEPTIONS,
    );
    for control in controls {
        let results: Vec<&Outcome> = outcomes
            .values()
            .filter_map(|r| r.get(&control.rule))
            .collect();
        let failing_in: Vec<&str> = outcomes
            .iter()
            .filter(|(_, r)| matches!(r.get(&control.rule), Some(Outcome::Fail(_))))
            .map(|(env, _)| env.as_str())
            .collect();
        let result = if failing_in.is_empty() {
            if results.contains(&&Outcome::Pass) {
                "pass".to_string()
            } else {
                "skip (nothing to check)".to_string()
            }
        } else {
            let mut entries: Vec<String> = exceptions
                .iter()
                .filter(|e| e.rule == control.rule)
                .map(|e| {
                    if e.resources.is_empty() {
                        e.status.label().to_string()
                    } else {
                        format!("{}: {}", e.status.label(), e.resources.join(", "))
                    }
                })
                .collect();
            if failing_in.len() < envs.len() {
                entries.push(format!("in {} only", failing_in.join(", ")));
            }
            entries.join("; ")
        };
        let pci = if control.pci.is_empty() {
            "—".to_string()
        } else {
            control.pci.join(", ")
        };
        text += &format!(
            "| {} | `{}` | {} | {} | {} |\n",
            control.id,
            control.rule,
            cell(&control.title),
            pci,
            result
        );
    }
    text += "\nEvery failure, why it is accepted and what stands in its place:\n\n\
             | control | resources | status | reason | in its place |\n| --- | --- | --- | --- | --- |\n";
    let mut sorted: Vec<&ct::Exception> = exceptions.iter().collect();
    sorted.sort_by_key(|e| ct::sort_key(&e.rule));
    for entry in sorted {
        let mut reason = cell(&entry.reason);
        if let Some(fix) = &entry.fix {
            reason += &format!(" Fix: {}", cell(fix));
        }
        let mut instead = cell(&entry.compensating);
        if !entry.pack_rules.is_empty() {
            instead += &format!(
                " Our rules: {}.",
                entry
                    .pack_rules
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let resources = if entry.resources.is_empty() {
            "none named".to_string()
        } else {
            entry.resources.join(", ")
        };
        let status = match entry.status {
            Status::FixPending => "**fix pending (lead)**",
            other => other.label(),
        };
        text += &format!(
            "| {} | {resources} | {status} | {reason} | {instead} |\n",
            entry.control
        );
    }
    let evaluated: BTreeSet<&String> = controls.iter().flat_map(|c| &c.types).collect();
    let unchecked: Vec<String> = ct::resource_types(template)
        .into_iter()
        .filter(|t| !evaluated.contains(t))
        .collect();
    text += &format!(
        "\nResource types of the template that no control of the package evaluates (our own \
         rules and tests cover them): {}.\n\n\
         The test also breaks a copy of the template in {} ways (a new violation, a new \
         resource, a departure that is no longer needed); each is reported.\n",
        unchecked.join(", "),
        MUTATIONS.len()
    );
    text
}

type Mutation = (&'static str, &'static str, &'static str, fn(&mut Json));

fn props<'a>(doc: &'a mut Json, id: &str) -> &'a mut Json {
    let found = &mut doc["Resources"][id]["Properties"];
    assert!(found.is_object(), "the template has no resource {id}");
    found
}

/// (what, the control's rule, the resource it must be reported on, the change). The last two
/// fix a listed departure: the test must then demand the entry's removal.
const MUTATIONS: &[Mutation] = &[
    (
        "point-in-time recovery off",
        "ct-dynamodb-pr-1",
        "TransactionsTable",
        |d| {
            props(d, "TransactionsTable")
                .as_object_mut()
                .unwrap()
                .remove("PointInTimeRecoverySpecification");
        },
    ),
    (
        "a cache without encryption",
        "ct-apigateway-pr-3",
        "ApiStage",
        |d| {
            props(d, "ApiStage")["CacheClusterEnabled"] = json!(true);
        },
    ),
    (
        "an inline policy allowing */*",
        "ct-iam-pr-1",
        "ValidatorRole",
        |d| {
            props(d, "ValidatorRole")["Policies"][0]["PolicyDocument"]["Statement"]
                .as_array_mut()
                .unwrap()
                .push(json!({"Effect": "Allow", "Action": "*", "Resource": "*"}));
        },
    ),
    (
        "an RSA-2048 encryption key",
        "ct-kms-pr-2",
        "DataKey",
        |d| {
            props(d, "DataKey")["KeySpec"] = json!("RSA_2048");
            props(d, "DataKey")["KeyUsage"] = json!("ENCRYPT_DECRYPT");
        },
    ),
    ("key rotation off", "ct-kms-pr-1", "DataKey", |d| {
        props(d, "DataKey")["EnableKeyRotation"] = json!(false);
    }),
    (
        "a seventh function, outside a VPC",
        "ct-lambda-pr-3",
        "ExtraFunction",
        |d| {
            let copy = d["Resources"]["ValidatorFunction"].clone();
            d["Resources"]["ExtraFunction"] = copy;
        },
    ),
    (
        "anyone may invoke a function",
        "ct-lambda-pr-2",
        "PublicPermission",
        |d| {
            d["Resources"]["PublicPermission"] = json!({
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "ValidatorFunction"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "*"
                }
            });
        },
    ),
    (
        "the validator moved into a VPC",
        "ct-lambda-pr-3",
        "ValidatorFunction",
        |d| {
            props(d, "ValidatorFunction")["VpcConfig"] =
                json!({"SubnetIds": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0a1b2c3d"]});
        },
    ),
    (
        "the validator's logs kept a year",
        "ct-cloudwatch-pr-2",
        "ValidatorLogGroup",
        |d| {
            props(d, "ValidatorLogGroup")["RetentionInDays"] = json!(365);
        },
    ),
];

#[test]
fn a_new_violation_or_a_departure_no_longer_needed_is_reported() {
    let template = template();
    // Only the controls the mutations target: the run costs about a second per data file.
    let targets: BTreeSet<&str> = MUTATIONS.iter().map(|m| m.1).collect();
    let (mut controls, _) = applicable(&template);
    controls.retain(|c| targets.contains(c.rule.as_str()));
    assert_eq!(
        controls.len(),
        targets.len(),
        "a mutation targets no applicable control"
    );
    let environments = ct::environments(&template);
    let prod = ct::as_deployed(&template, &environments["prod"]);
    let dir = scratch("aws-control-tower-mutants");
    for (i, (_, _, _, mutate)) in MUTATIONS.iter().enumerate() {
        let mut doc = prod.clone();
        mutate(&mut doc);
        write(&dir, &format!("mutant-{i:02}"), &doc);
    }
    let outcomes = ct::evaluate(&controls, &dir);
    let mut exceptions = ct::exceptions();
    exceptions.retain(|e| targets.contains(e.rule.as_str()));
    let pack = ct::pack_rule_names();
    let mut missed = Vec::new();
    for (i, (what, rule, resource, _)) in MUTATIONS.iter().enumerate() {
        let stem = format!("mutant-{i:02}");
        let one = BTreeMap::from([(stem.clone(), outcomes[&stem].clone())]);
        let problems = ct::compare(&controls, &one, &exceptions, &pack);
        // "ct-s3-pr-1" must not match a problem of "ct-s3-pr-10".
        let about_rule =
            |p: &String| p.starts_with(&format!("{rule} ")) || p.starts_with(&format!("{rule}:"));
        // Other controls may object as well (an admin statement is also full access).
        let caught = problems
            .iter()
            .any(|p| about_rule(p) && p.contains(resource));
        if !caught {
            missed.push(format!(
                "{what}: expected {rule} on {resource}, got {problems:?}"
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "mutations not reported:\n{}",
        missed.join("\n")
    );
}
