//! AWS's limits and defaults that the template depends on (issue 14 [J]): request sizes,
//! physical names in every Region of every partition, service principals per partition, the
//! S3 lifecycle's small-object default and CloudFormation's deletion defaults. Each limit
//! carries its source in `tests/support/limits*.rs`. Every check has a mutant test below (or a
//! fixture test next to the checker) that shows it failing.

use payment_workflow_book::limits::names::{self, Piece, WorstCase, explicit_names, rule_for};
use payment_workflow_book::limits::partitions::{self, Partition};
use payment_workflow_book::limits::pattern::shape_of;
use payment_workflow_book::limits::{self, payload, principals};
use payment_workflow_book::template::{Template, at, sub_text, to_json};
use payment_workflow_book::{generated, repo};
use serde_yaml::Value;
use std::sync::OnceLock;

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(Template::load)
}

fn partitions() -> &'static [Partition] {
    static PARTITIONS: OnceLock<Vec<Partition>> = OnceLock::new();
    PARTITIONS.get_or_init(partitions::load)
}

/// The template with one change made to its parsed document (robust to edits elsewhere).
fn mutant(change: impl FnOnce(&mut Value)) -> Template {
    template().mutated(change)
}

// ---------------------------------------------------------------------------------------
// Request sizes
// ---------------------------------------------------------------------------------------

/// The runbook's deploy listing is generated from xtask's `deploy::plan` (the test
/// `the_runbook_shows_the_dev_dry_run_as_generated` in code/xtask/src/deploy.rs keeps it equal
/// to the plan); xtask's own `aws_limit_the_plan_passes_the_template_by_url` checks the plan.
const DEPLOY_LISTING: &str = "src/generated/deploy-dev.md";

/// Whether a deployment listing passes the template inline when it must not.
fn passes_template_inline(listing: &str, template_bytes: usize) -> Option<String> {
    let over = template_bytes > limits::TEMPLATE_BODY_MAX_BYTES;
    let inline = listing.contains("--template-body");
    let by_url = ["--template-url https://", "--template-url 'https://"]
        .iter()
        .any(|form| listing.contains(form));
    (over && (inline || !by_url)).then(|| {
        format!(
            "the template is {template_bytes} bytes, over CloudFormation's TemplateBody limit of {} \
             bytes, and the deploy plan does not pass it with --template-url https://…",
            limits::TEMPLATE_BODY_MAX_BYTES
        )
    })
}

#[test]
fn aws_limit_template_body_the_deploy_plan_uses_a_template_url_when_the_template_is_too_big() {
    let bytes = template().text.len();
    let listing = std::fs::read_to_string(repo::root().join(DEPLOY_LISTING)).unwrap();
    assert_eq!(passes_template_inline(&listing, bytes), None);
    // Mutant: the old plan's `--template-body file://…` fails the same check.
    let old = listing.replace("--template-url", "--template-body");
    assert!(
        bytes <= limits::TEMPLATE_BODY_MAX_BYTES || passes_template_inline(&old, bytes).is_some()
    );
    assert!(
        passes_template_inline("create-change-set --template-body file://t.yaml", 60_000).is_some()
    );
}

fn fits_a_template_url(text: &str) -> Result<(), String> {
    let bytes = text.len();
    (bytes <= limits::TEMPLATE_URL_MAX_BYTES)
        .then_some(())
        .ok_or(format!(
            "the template is {bytes} bytes; a TemplateURL object may hold {}",
            limits::TEMPLATE_URL_MAX_BYTES
        ))
}

#[test]
fn aws_limit_template_url_the_template_fits_the_s3_object_limit() {
    fits_a_template_url(&template().text).unwrap();
    // Mutant: the template grown past the object limit (a comment block is enough).
    let grown = format!(
        "{}\n#{}",
        template().text,
        " ".repeat(limits::TEMPLATE_URL_MAX_BYTES)
    );
    assert!(fits_a_template_url(&grown).is_err());
}

/// The definition as Step Functions receives it, every substitution at the longest ARN.
fn worst_definition_bytes(t: &Template) -> usize {
    let definition = t.resolved_definition(|_| "a".repeat(limits::SUBSTITUTION_MAX_CHARS));
    serde_json::to_string(&definition).unwrap().len()
}

#[test]
fn aws_limit_state_machine_definition_fits_step_functions() {
    let bytes = worst_definition_bytes(template());
    println!("resolved definition: at most {bytes} bytes");
    assert!(
        bytes <= limits::STATE_MACHINE_DEFINITION_MAX_BYTES,
        "{bytes} bytes > {}",
        limits::STATE_MACHINE_DEFINITION_MAX_BYTES
    );
    // Mutant: a definition padded past 1 MiB fails the same comparison.
    let padded = mutant(|doc| {
        for (_, resource) in doc["Resources"].as_mapping_mut().unwrap().iter_mut() {
            if resource["Type"].as_str() == Some("AWS::StepFunctions::StateMachine") {
                resource["Properties"]["Definition"]["Comment"] = "x".repeat(1 << 20).into();
            }
        }
    });
    assert!(worst_definition_bytes(&padded) > limits::STATE_MACHINE_DEFINITION_MAX_BYTES);
}

/// The request model's schema (the `AWS::ApiGateway::Model` the POST method requires).
fn request_schema(t: &Template) -> serde_json::Value {
    let models = t.of_type("AWS::ApiGateway::Model");
    assert_eq!(models.len(), 1, "one request model expected");
    to_json(&models[0].1["Properties"]["Schema"])
}

#[test]
fn aws_limit_the_largest_request_the_model_admits_fits_the_workflow_payload() {
    let payment = payload::max_json_bytes(&request_schema(template()))
        .unwrap_or_else(|e| panic!("the request model does not bound the payment: {e}"));
    let input = payload::workflow_input_bytes(payment, limits::API_KEY_ID_MAX_CHARS);
    println!("largest payment body {payment} bytes; largest workflow input {input} bytes");
    assert!(
        input <= limits::STATE_PAYLOAD_MAX_BYTES,
        "the workflow input can reach {input} bytes > {}",
        limits::STATE_PAYLOAD_MAX_BYTES
    );
    // Mutant: a model that admits additional properties no longer bounds the input.
    let open = mutant(|doc| {
        for (_, resource) in doc["Resources"].as_mapping_mut().unwrap().iter_mut() {
            if resource["Type"].as_str() == Some("AWS::ApiGateway::Model") {
                resource["Properties"]["Schema"]["additionalProperties"] = true.into();
            }
        }
    });
    assert!(payload::max_json_bytes(&request_schema(&open)).is_err());
}

// ---------------------------------------------------------------------------------------
// Physical names
// ---------------------------------------------------------------------------------------

const NAME_TABLE: &str = "src/generated/aws-name-limits.md";

fn render_table(cases: &[WorstCase], partitions: &[Partition]) -> String {
    let regions: usize = partitions.iter().map(|p| p.regions.len()).sum();
    let mut text = format!(
        "<!-- generated by aws_limit_every_explicit_name_fits_its_service_in_every_region_of_every_partition \
         (tests/limits.rs); `cargo xtask regen` -->\n\
         Worst case of every explicit name over {regions} Regions in {} partitions (from the AWS SDK's \
         endpoint data), each parameter at the longest value its pattern allows.\n\n\
         | name | written as | service rule | longest | where | limit |\n| --- | --- | --- | ---: | --- | ---: |\n",
        partitions.len()
    );
    for case in cases {
        let longest = case.longest.map_or("unbounded".into(), |n| n.to_string());
        let limit = case
            .limit
            .map_or("none documented".into(), |n| n.to_string());
        let shown = case.text.replace('|', "\\|");
        text += &format!(
            "| {} | `{shown}` | {} | {longest} | {} | {limit} |\n",
            case.label, case.service, case.at
        );
    }
    text
}

#[test]
fn aws_limit_every_explicit_name_fits_its_service_in_every_region_of_every_partition() {
    let cases = names::worst_cases(template(), partitions());
    generated::check(NAME_TABLE, &render_table(&cases, partitions()));
    let broken = names::violations(template(), partitions());
    assert!(
        broken.is_empty(),
        "{} names break their service's rule:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn aws_limit_every_name_property_has_a_rule_with_a_source() {
    let t = template();
    let found = explicit_names(t);
    assert!(found.len() > 30, "the scan finds the template's names");
    for name in &found {
        rule_for(&name.kind, &name.path).unwrap_or_else(|e| panic!("{}: {e}", name.label()));
    }
    for (parameter, declared) in t.doc["Parameters"].as_mapping().unwrap() {
        if let Some(pattern) = declared["AllowedPattern"].as_str() {
            shape_of(pattern).unwrap_or_else(|e| panic!("{parameter:?}: {e}"));
        }
    }
}

#[test]
fn aws_limit_regions_come_from_the_sdk_and_include_every_partition() {
    let names: Vec<&str> = partitions().iter().map(|p| p.name.as_str()).collect();
    for wanted in ["aws", "aws-cn", "aws-us-gov"] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    let longest = partitions()
        .iter()
        .filter_map(Partition::longest_region)
        .max_by_key(|r| r.len())
        .unwrap();
    println!(
        "partitions {names:?}; longest Region {longest} ({})",
        longest.len()
    );
    assert!(longest.len() >= 14);
}

fn broken_names_of(t: &Template, label: &str) -> Vec<String> {
    names::violations(t, partitions())
        .into_iter()
        .filter(|v| v.starts_with(label))
        .collect()
}

#[test]
fn aws_limit_mutant_a_seventy_character_bucket_name_fails() {
    let name = "a".repeat(70);
    let t = mutant(|doc| {
        let bucket: Value = serde_yaml::from_str(&format!(
            "{{Type: AWS::S3::Bucket, Properties: {{BucketName: {name}}}}}"
        ))
        .unwrap();
        doc["Resources"]["MutantBucket"] = bucket;
    });
    let broken = broken_names_of(&t, "MutantBucket.BucketName");
    assert!(
        broken
            .iter()
            .any(|v| v.contains("up to 70 characters (limit 63)")),
        "{broken:?}"
    );
}

#[test]
fn aws_limit_mutant_a_longer_suffix_pattern_breaks_names() {
    let t = mutant(|doc| {
        doc["Parameters"]["EnvironmentSuffix"]["AllowedPattern"] = "^[a-z][a-z0-9-]{1,63}$".into();
    });
    let before = names::violations(template(), partitions()).len();
    let after = names::violations(&t, partitions());
    assert!(after.len() > before, "{after:?}");
    assert!(
        after
            .iter()
            .any(|v| v.contains("RoleName") && v.contains("(limit 64)"))
    );
}

#[test]
fn aws_limit_mutant_a_name_without_a_rule_or_an_unbounded_parameter_fails() {
    let t = mutant(|doc| {
        let resource: Value = serde_yaml::from_str(
            "{Type: AWS::Glue::Database, Properties: {DatabaseInput: {Name: !Sub 'db-${EnvironmentSuffix}'}}}",
        )
        .unwrap();
        doc["Resources"]["MutantDatabase"] = resource;
        let queue: Value = serde_yaml::from_str(
            "{Type: AWS::SQS::Queue, Properties: {QueueName: !Sub 'q-${Owner}'}}",
        )
        .unwrap();
        doc["Resources"]["MutantQueue"] = queue;
    });
    assert!(!broken_names_of(&t, "MutantDatabase").is_empty());
    let queue = broken_names_of(&t, "MutantQueue.QueueName");
    assert!(
        queue.iter().any(|v| v.contains("unbounded length")),
        "{queue:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Service principals per partition (review B3)
// ---------------------------------------------------------------------------------------

#[test]
fn aws_partition_service_principals_are_the_ones_aws_uses_in_every_partition() {
    let broken = principals::violations(template(), partitions());
    assert!(
        broken.is_empty(),
        "{} principals are wrong somewhere:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn aws_partition_mutant_a_url_suffix_principal_fails_in_china() {
    let with = |principal: &str| {
        mutant(|doc| {
            let role: Value = serde_yaml::from_str(&format!(
                "{{Type: AWS::IAM::Role, Properties: {{AssumeRolePolicyDocument: {{Statement: \
                 [{{Effect: Allow, Principal: {{Service: {principal}}}, Action: 'sts:AssumeRole'}}]}}}}}}"
            ))
            .unwrap();
            doc["Resources"]["MutantRole"] = role;
        })
    };
    let mutant_broken = |t: &Template| {
        principals::violations(t, partitions())
            .into_iter()
            .filter(|v| v.starts_with("MutantRole"))
            .collect::<Vec<_>>()
    };
    let suffixed = mutant_broken(&with("!Sub 'lambda.${AWS::URLSuffix}'"));
    assert!(
        suffixed
            .iter()
            .any(|v| v.contains("`lambda.amazonaws.com.cn`") && v.contains("aws-cn/")),
        "{suffixed:?}"
    );
    assert!(mutant_broken(&with("lambda.amazonaws.com")).is_empty());
    assert!(mutant_broken(&with("!Sub 'logs.${AWS::Region}.${AWS::URLSuffix}'")).is_empty());
    assert!(!mutant_broken(&with("logs.amazonaws.com")).is_empty());
}

// ---------------------------------------------------------------------------------------
// Defaults: S3 lifecycle, deletion, console links
// ---------------------------------------------------------------------------------------

/// Every (bucket, rule, storage class) whose transition would leave a receipt behind.
fn receipts_left_behind(t: &Template) -> Vec<String> {
    let mut stuck = Vec::new();
    for (id, bucket) in t.of_type("AWS::S3::Bucket") {
        let lifecycle = at(bucket, "Properties.LifecycleConfiguration");
        for rule in lifecycle["Rules"].as_sequence().into_iter().flatten() {
            let transitions = ["Transitions", "NoncurrentVersionTransitions"]
                .iter()
                .flat_map(|key| rule[*key].as_sequence().into_iter().flatten());
            for transition in transitions {
                let class = transition["StorageClass"].as_str().unwrap_or_default();
                if !limits::transitions(lifecycle, rule, class, limits::RECEIPT_MAX_BYTES) {
                    stuck.push(format!(
                        "{id} rule {:?}: a {}-byte object never moves to {class}",
                        rule["Id"].as_str().unwrap_or_default(),
                        limits::RECEIPT_MAX_BYTES
                    ));
                }
            }
        }
    }
    stuck
}

#[test]
fn aws_default_s3_lifecycle_moves_small_receipts_to_glacier() {
    let stuck = receipts_left_behind(template());
    assert!(
        stuck.is_empty(),
        "S3 does not transition objects under 128 KB by default (since September 2024); set \
         LifecycleConfiguration.TransitionDefaultMinimumObjectSize: varies_by_storage_class:\n{}",
        stuck.join("\n")
    );
    // Mutant: without the property the archive's receipts stay in S3 Standard.
    let default = mutant(|doc| {
        let lifecycle =
            &mut doc["Resources"]["ArchiveBucket"]["Properties"]["LifecycleConfiguration"];
        if let Some(map) = lifecycle.as_mapping_mut() {
            map.remove("TransitionDefaultMinimumObjectSize");
        }
    });
    assert!(!receipts_left_behind(&default).is_empty());
}

/// Logical ids the stack policy forbids replacing or deleting.
fn stack_policy_protects() -> Vec<String> {
    let path = repo::root().join("templates/stack-policy.json");
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Deny")
        .filter(|s| {
            let actions = s["Action"].as_array().cloned().unwrap_or_default();
            ["Update:Replace", "Update:Delete"]
                .iter()
                .all(|a| actions.iter().any(|x| x == a))
        })
        .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| {
            r.as_str()?
                .strip_prefix("LogicalResourceId/")
                .map(str::to_string)
        })
        .collect()
}

/// What is wrong with how `t` keeps its secrets, given the stack policy's protected ids.
fn unprotected_secrets(t: &Template, protected: &[String]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (id, secret) in t.of_type("AWS::SecretsManager::Secret") {
        let deletion = secret["DeletionPolicy"].as_str().unwrap_or("Delete");
        if !["Retain", "RetainExceptOnCreate"].contains(&deletion) {
            wrong.push(format!(
                "{id}: DeletionPolicy {deletion} force-deletes every key version"
            ));
        }
        if secret["UpdateReplacePolicy"].as_str() != Some("Retain") {
            wrong.push(format!("{id}: UpdateReplacePolicy is not Retain"));
        }
        if !protected.iter().any(|p| p == id) {
            wrong.push(format!("{id}: not in templates/stack-policy.json"));
        }
    }
    wrong
}

/// CloudFormation deletes an `AWS::SecretsManager::Secret` with ForceDeleteWithoutRecovery:
/// "the default deletionpolicy for an AWS::SecretsManager::Secret resource is
/// force-delete-without-recovery" (aws-cloudformation/cloudformation-coverage-roadmap#1999,
/// citing the DeletionPolicy documentation; #838). The API's 30-day window does not apply.
#[test]
fn aws_default_secret_deletion_is_forced_so_the_signing_secret_is_retained_and_protected() {
    let wrong = unprotected_secrets(template(), &stack_policy_protects());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let deleted = mutant(|doc| {
        doc["Resources"]["SigningSecret"]["DeletionPolicy"] = "Delete".into();
    });
    assert!(!unprotected_secrets(&deleted, &stack_policy_protects()).is_empty());
    assert!(!unprotected_secrets(template(), &[]).is_empty());
}

/// Resources kept on deletion that carry a fixed physical name must not survive a failed
/// first create: a retained `transactions-dev` blocks every retry with "already exists".
/// `RetainExceptOnCreate` "behaves like Retain for stack operations, except for the stack
/// operation that initially created the resource" (AWS What's New 2023-07-31;
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html).
fn retained_fixed_names_blocking_retries(t: &Template) -> Vec<String> {
    let named: Vec<String> = explicit_names(t)
        .into_iter()
        .filter(|n| n.kind != "Outputs" && !n.path.contains('.'))
        .filter(|n| matches!(rule_for(&n.kind, &n.path), Ok(Some(_))))
        .map(|n| n.id)
        .collect();
    let mut wrong = Vec::new();
    for (id, resource) in t.resources() {
        let deletion = resource["DeletionPolicy"].as_str().unwrap_or("Delete");
        if deletion == "Delete" || !named.iter().any(|n| n == id) {
            continue;
        }
        if deletion != "RetainExceptOnCreate" {
            wrong.push(format!("{id}: DeletionPolicy {deletion} with a fixed name"));
        }
        if resource["UpdateReplacePolicy"].as_str() != Some("Retain") {
            wrong.push(format!("{id}: UpdateReplacePolicy is not Retain"));
        }
    }
    wrong
}

#[test]
fn aws_default_fixed_name_data_resources_are_retained_except_on_create() {
    let wrong = retained_fixed_names_blocking_retries(template());
    assert!(
        wrong.is_empty(),
        "a failed first deploy would leave these behind and block the retry (review M11):\n{}",
        wrong.join("\n")
    );
    let plain = mutant(|doc| {
        doc["Resources"]["MutantTable"] = serde_yaml::from_str(
            "{Type: AWS::DynamoDB::Table, DeletionPolicy: Retain, UpdateReplacePolicy: Retain, \
             Properties: {TableName: fixed-name}}",
        )
        .unwrap();
    });
    assert!(
        retained_fixed_names_blocking_retries(&plain)
            .iter()
            .any(|w| w.starts_with("MutantTable"))
    );
}

/// The hosts of `text` in `partition` that AWS does not serve there, for one choice of the
/// parameters it uses.
fn foreign_hosts(text: &str, partition: &Partition, chosen: &[(String, String)]) -> Vec<String> {
    let region = partition.longest_region().unwrap_or("us-east-1");
    let mut resolved = text
        .replace("${AWS::Region}", region)
        .replace("${AWS::URLSuffix}", &partition.dns_suffix)
        .replace("${AWS::Partition}", &partition.name);
    for (name, value) in chosen {
        resolved = resolved.replace(&format!("${{{name}}}"), value);
    }
    limits::url_hosts(&resolved)
        .into_iter()
        .filter(|host| !limits::host_belongs_to(host, partition))
        .collect()
}

/// Every output URL that cannot point at a host of some partition, whatever value its
/// parameters take (a parameter in a URL must list its values in AllowedValues). Partitions
/// without a public console are not held to console links.
fn outputs_with_foreign_hosts(t: &Template) -> Vec<String> {
    let mut wrong = Vec::new();
    for (name, output) in t.doc["Outputs"].as_mapping().unwrap() {
        let Some(text) = sub_text(&output["Value"]) else {
            continue;
        };
        let mut choices: Vec<Vec<(String, String)>> = vec![vec![]];
        for piece in names::sub_pieces(text) {
            let Piece::Var(var) = piece else { continue };
            let declared = &t.doc["Parameters"][var.as_str()];
            if declared.is_null() {
                continue;
            }
            let Some(values) = declared["AllowedValues"].as_sequence() else {
                wrong.push(format!(
                    "{name:?}: ${{{var}}} in a URL has no AllowedValues"
                ));
                continue;
            };
            let mut widened = Vec::new();
            for chosen in &choices {
                for value in values.iter().filter_map(|v| v.as_str()) {
                    let mut next = chosen.clone();
                    next.push((var.clone(), value.to_string()));
                    widened.push(next);
                }
            }
            choices = widened;
        }
        for partition in partitions() {
            let has_console = limits::CONSOLE_DOMAINS
                .iter()
                .any(|(p, _)| *p == partition.name);
            let best = choices
                .iter()
                .map(|chosen| foreign_hosts(text, partition, chosen))
                .min_by_key(Vec::len)
                .unwrap_or_default();
            for host in best {
                if has_console || !host.contains("console") {
                    wrong.push(format!("{name:?} in {}: {host}", partition.name));
                }
            }
        }
    }
    wrong
}

/// N4: an output URL must work in the partition the stack runs in. API endpoints are built
/// from `${AWS::URLSuffix}`; a console link hard-codes one partition's console.
#[test]
fn aws_partition_output_urls_point_at_hosts_of_their_own_partition() {
    let wrong = outputs_with_foreign_hosts(template());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let console = mutant(|doc| {
        doc["Outputs"]["MutantUrl"] = serde_yaml::from_str(
            "{Value: !Sub 'https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home'}",
        )
        .unwrap();
    });
    assert!(
        outputs_with_foreign_hosts(&console)
            .iter()
            .any(|w| w.contains("aws-cn"))
    );
}
