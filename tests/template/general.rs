//! 000 §C8 and the template rules of DESIGN.md §1: intrinsics, naming, tags, outputs,
//! section order and the per-environment parameter files.

use crate::template;
use payment_workflow_book::repo;
use payment_workflow_book::template::{
    at, getatt_target, intrinsic, ref_target, scalar, sub_text, walk,
};
use regex::Regex;
use serde_yaml::Value;

const ALLOWED_INTRINSICS: [&str; 3] = ["!Ref", "!GetAtt", "!Sub"];

#[test]
fn req_000_8_only_ref_getatt_and_sub_intrinsics() {
    let t = template();
    walk(&t.doc, &mut Vec::new(), &mut |path, value| {
        if let Some((tag, _)) = intrinsic(value) {
            assert!(
                ALLOWED_INTRINSICS.contains(&tag.as_str()),
                "{tag} at {}",
                path.join(".")
            );
        }
        if let Value::Mapping(map) = value {
            for key in map.keys().filter_map(Value::as_str) {
                assert!(
                    !key.starts_with("Fn::"),
                    "long-form {key} at {}",
                    path.join(".")
                );
            }
        }
    });
    assert!(
        t.doc["Conditions"].is_null()
            && t.doc["Mappings"].is_null()
            && t.doc["Transform"].is_null()
    );
}

#[test]
fn req_000_8_no_hard_coded_account_region_or_partition() {
    let text = &template().text;
    let account = Regex::new(r"\b\d{12}\b").unwrap();
    assert!(
        account.find(text).is_none(),
        "an account id: {:?}",
        account.find(text)
    );
    let region = Regex::new(r"\b(us|eu|ap|sa|ca|me|af|il|mx|cn)-(east|west|north|south|central|northeast|southeast)-\d\b").unwrap();
    assert!(
        region.find(text).is_none(),
        "a Region: {:?}",
        region.find(text)
    );
    assert!(!text.contains("arn:aws:"), "a literal partition in an ARN");
    // Service principals are `<service>.amazonaws.com` in every partition, China included
    // (review B3; AWS CDK's region-info): the only literal domain allowed.
    let principal = Regex::new(r"^\s*(Service|Principal): [a-z0-9.-]+\.amazonaws\.com$").unwrap();
    for line in text.lines().filter(|l| !principal.is_match(l)) {
        assert!(
            !line.contains(".amazonaws.com"),
            "a literal domain: use ${{AWS::URLSuffix}}: {line}"
        );
    }
}

#[test]
fn design_sections_are_in_the_agreed_order() {
    let keys: Vec<&str> = template()
        .doc
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "AWSTemplateFormatVersion",
            "Description",
            "Metadata",
            "Parameters",
            "Resources",
            "Outputs"
        ]
    );
}

#[test]
fn design_every_parameter_is_in_a_parameter_group() {
    let t = template();
    let grouped: Vec<&str> = at(
        &t.doc,
        "Metadata.AWS::CloudFormation::Interface.ParameterGroups",
    )
    .as_sequence()
    .unwrap()
    .iter()
    .flat_map(|g| {
        g["Parameters"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
    })
    .collect();
    for name in t.doc["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
    {
        assert!(grouped.contains(&name), "{name} is in no parameter group");
    }
}

/// Names scoped inside an already-suffixed parent need no suffix of their own.
const SCOPED_NAMES: [&str; 2] = [
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
];
/// The properties that give a resource its name in the account.
const NAME_PROPERTIES: [&str; 13] = [
    "Name",
    "AliasName",
    "AlarmName",
    "BucketName",
    "DashboardName",
    "FunctionName",
    "LogGroupName",
    "QueueName",
    "RoleName",
    "StateMachineName",
    "TableName",
    "TopicName",
    "UsagePlanName",
];

#[test]
fn req_001_every_resource_name_carries_the_environment_suffix() {
    for (id, resource) in template().resources() {
        let kind = resource["Type"].as_str().unwrap();
        let Some(properties) = resource["Properties"].as_mapping() else {
            continue;
        };
        for (key, value) in properties {
            let key = key.as_str().unwrap();
            let is_name = NAME_PROPERTIES.contains(&key);
            // A reference names another resource, which carries its own suffix; so does a
            // name AWS fixes around another resource's id (API-Gateway-Execution-Logs_<api>).
            let reference = ref_target(value).is_some()
                || getatt_target(value).is_some()
                || sub_text(value).is_some_and(|s| s.contains("${PaymentApi}"));
            if !is_name || reference || SCOPED_NAMES.contains(&kind) {
                continue;
            }
            let text = sub_text(value).unwrap_or_else(|| panic!("{id}.{key} is not a !Sub"));
            assert!(text.contains("${EnvironmentSuffix}"), "{id}.{key} = {text}");
        }
    }
}

const TAGGABLE: [&str; 17] = [
    "AWS::KMS::Key",
    "AWS::SSM::Parameter",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlan",
    "AWS::WAFv2::WebACL",
    "AWS::CloudWatch::Alarm",
];

#[test]
fn req_001_every_taggable_resource_has_environment_owner_and_costcenter_tags() {
    for (id, resource) in template().resources() {
        if !TAGGABLE.contains(&resource["Type"].as_str().unwrap()) {
            continue;
        }
        let tags = at(resource, "Properties.Tags");
        let keys: Vec<String> = match tags {
            Value::Sequence(list) => list.iter().filter_map(|t| scalar(&t["Key"])).collect(),
            Value::Mapping(map) => map.keys().filter_map(scalar).collect(),
            _ => panic!("{id} has no Tags"),
        };
        for wanted in ["Environment", "Owner", "CostCenter"] {
            assert!(
                keys.iter().any(|k| k == wanted),
                "{id} lacks the {wanted} tag"
            );
        }
    }
}

#[test]
fn req_000_8_key_outputs_are_exported() {
    let outputs = &template().doc["Outputs"];
    for name in [
        "ApiEndpoint",
        "StateMachineArn",
        "TransactionsTableArn",
        "AuditLogsTableArn",
        "DashboardUrl",
    ] {
        let export = sub_text(&outputs[name]["Export"]["Name"])
            .unwrap_or_else(|| panic!("{name} is not exported"));
        assert_eq!(export, format!("${{AWS::StackName}}-{name}"));
    }
}

#[test]
fn req_000_8_environment_values_are_parameters_with_one_file_per_environment() {
    let t = template();
    let parameters = t.doc["Parameters"].as_mapping().unwrap();
    for environment in ["dev", "staging", "prod"] {
        let path = repo::root().join(format!("templates/params/{environment}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let entries: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON list");
        let given: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e["ParameterKey"].as_str().unwrap(),
                    e["ParameterValue"].as_str().unwrap(),
                )
            })
            .collect();
        for (key, value) in &given {
            let declared = &parameters[*key];
            assert!(
                !declared.is_null(),
                "{environment}: unknown parameter {key}"
            );
            if let Some(allowed) = declared["AllowedValues"].as_sequence() {
                assert!(
                    allowed.iter().filter_map(scalar).any(|a| a == *value),
                    "{environment}: {key}={value}"
                );
            }
            if let Some(pattern) = declared["AllowedPattern"].as_str() {
                assert!(
                    Regex::new(pattern).unwrap().is_match(value),
                    "{environment}: {key}={value} ≁ {pattern}"
                );
            }
        }
        for (name, declared) in parameters {
            let name = name.as_str().unwrap();
            let has_default = !declared["Default"].is_null();
            assert!(
                has_default || given.iter().any(|(k, _)| *k == name),
                "{environment} must set {name}"
            );
        }
        assert!(given.contains(&("Environment", environment)));
        let protected = if environment == "dev" {
            "false"
        } else {
            "true"
        };
        assert!(
            given.contains(&("TableDeletionProtection", protected)),
            "{environment}"
        );
    }
}
