//! 000 SECURITY and seed 004's customer-managed keys: encryption, secrets, least privilege.

use crate::{denies_plain_http, role_statements, template};
use payment_workflow_book::template::{at, getatt_target, ref_target, scalar, walk};
use regex::Regex;
use serde_yaml::Value;

fn uses_data_key(value: &Value) -> bool {
    ref_target(value) == Some("DataKey") || getatt_target(value) == Some(("DataKey", "Arn"))
}

#[test]
fn req_004_one_customer_managed_key_with_rotation() {
    let t = template();
    let keys = t.of_type("AWS::KMS::Key");
    assert_eq!(keys.len(), 1);
    assert_eq!(
        at(keys[0].1, "Properties.EnableKeyRotation").as_bool(),
        Some(true)
    );
}

#[test]
fn req_004_the_key_encrypts_tables_queues_topics_logs_and_the_secret() {
    let t = template();
    let checks = [
        (
            "AWS::DynamoDB::Table",
            "Properties.SSESpecification.KMSMasterKeyId",
        ),
        ("AWS::SQS::Queue", "Properties.KmsMasterKeyId"),
        ("AWS::SNS::Topic", "Properties.KmsMasterKeyId"),
        ("AWS::Logs::LogGroup", "Properties.KmsKeyId"),
        ("AWS::SecretsManager::Secret", "Properties.KmsKeyId"),
    ];
    for (kind, path) in checks {
        let resources = t.of_type(kind);
        assert!(!resources.is_empty(), "{kind}");
        for (id, resource) in resources {
            assert!(
                uses_data_key(at(resource, path)),
                "{id} must be encrypted with DataKey"
            );
        }
    }
}

#[test]
fn req_000_sec_signing_secret_is_generated_and_rotated_every_30_days() {
    let t = template();
    let secret = t.resource("SigningSecret");
    assert!(
        !at(secret, "Properties.GenerateSecretString").is_null(),
        "generated, never written down"
    );
    assert!(at(secret, "Properties.SecretString").is_null());
    let schedule = t.resource("SigningSecretRotation");
    assert_eq!(
        ref_target(at(schedule, "Properties.SecretId")),
        Some("SigningSecret")
    );
    assert_eq!(
        at(schedule, "Properties.RotationRules.ScheduleExpression").as_str(),
        Some("rate(30 days)")
    );
    assert_eq!(
        getatt_target(at(schedule, "Properties.RotationLambdaARN")),
        Some(("SecretRotationFunction", "Arn"))
    );
}

#[test]
fn req_000_sec_no_credentials_in_the_template() {
    let t = template();
    let suspicious = Regex::new(
        r"(password|passwd|secret|secretstring|token|apikey|api_key|accesskey|secretkey|privatekey|credentials?)$",
    )
    .unwrap();
    for (id, resource) in t.resources() {
        walk(resource, &mut Vec::new(), &mut |path, value| {
            let Some(key) = path.last() else { return };
            // Generation settings of a secret are not a credential.
            if path.iter().any(|p| p == "GenerateSecretString") {
                return;
            }
            let key = key.to_ascii_lowercase();
            if !suspicious.is_match(&key) {
                return;
            }
            // A reference to a generated secret is the only allowed value.
            let allowed = ref_target(value).is_some() || !matches!(value, Value::String(_));
            assert!(allowed, "{id}.{}: a literal credential", path.join("."));
        });
    }
    assert!(!t.text.contains("AKIA"), "an access key id in the template");
}

#[test]
fn req_000_sec_the_notification_reads_the_secret_by_arn_not_by_value() {
    let variables = at(
        template().resource("NotificationFunction"),
        "Properties.Environment.Variables",
    );
    assert_eq!(
        ref_target(&variables["SIGNING_SECRET_ARN"]),
        Some("SigningSecret")
    );
}

/// Actions that AWS defines without resource-level permissions.
const UNSCOPED_ACTIONS: [&str; 14] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "secretsmanager:GetRandomPassword",
    "kms:*",
];

#[test]
fn design_iam_policies_grant_named_actions_on_named_resources() {
    for (id, statement) in role_statements() {
        let actions: Vec<String> = match &statement["Action"] {
            Value::Sequence(list) => list.iter().filter_map(scalar).collect(),
            other => scalar(other).into_iter().collect(),
        };
        for action in &actions {
            assert!(!action.ends_with('*'), "{id}: wildcard action {action}");
            let unscoped = UNSCOPED_ACTIONS.contains(&action.as_str());
            assert!(
                statement["Resource"].as_str() != Some("*") || unscoped,
                "{id}: {action} on \"*\""
            );
        }
    }
    for (id, role) in template().of_type("AWS::IAM::Role") {
        let managed = !at(role, "Properties.ManagedPolicyArns").is_null();
        assert!(
            !managed || id == "ApiGatewayCloudWatchRole",
            "{id} attaches a managed policy"
        );
    }
}

#[test]
fn design_key_use_by_functions_is_limited_to_named_services() {
    for (id, statement) in role_statements() {
        let actions = serde_yaml::to_string(&statement["Action"]).unwrap();
        if actions.contains("kms:") {
            let via = &statement["Condition"]["StringEquals"]["kms:ViaService"];
            assert!(!via.is_null(), "{id}: key use without kms:ViaService");
        }
    }
}

#[test]
fn design_topics_and_queues_refuse_plain_http() {
    let t = template();
    let mut policies = t.of_type("AWS::SNS::TopicPolicy");
    policies.extend(t.of_type("AWS::SQS::QueueInlinePolicy"));
    let protected: Vec<String> = policies
        .iter()
        .filter(|(_, p)| denies_plain_http(at(p, "Properties.PolicyDocument.Statement")))
        .flat_map(|(_, p)| {
            let mut targets: Vec<String> = at(p, "Properties.Topics")
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|v| ref_target(v).map(str::to_string))
                .collect();
            targets.extend(ref_target(at(p, "Properties.Queue")).map(str::to_string));
            targets
        })
        .collect();
    for kind in ["AWS::SNS::Topic", "AWS::SQS::Queue"] {
        for (id, _) in t.of_type(kind) {
            assert!(
                protected.iter().any(|p| p == id),
                "{id} must deny requests without TLS"
            );
        }
    }
}

#[test]
fn req_001_waf_rate_based_rule_and_req_004_managed_rule_sets_protect_the_stage() {
    let t = template();
    let acl = t.resource("ApiWebAcl");
    let rules = at(acl, "Properties.Rules").as_sequence().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| !r["Statement"]["RateBasedStatement"].is_null())
    );
    let managed: Vec<&str> = rules
        .iter()
        .filter_map(|r| r["Statement"]["ManagedRuleGroupStatement"]["Name"].as_str())
        .collect();
    assert!(managed.contains(&"AWSManagedRulesCommonRuleSet"));
    assert!(managed.contains(&"AWSManagedRulesKnownBadInputsRuleSet"));
    let association = t.resource("ApiWebAclAssociation");
    assert_eq!(
        getatt_target(at(association, "Properties.WebACLArn")),
        Some(("ApiWebAcl", "Arn"))
    );
    let target =
        payment_workflow_book::template::sub_text(at(association, "Properties.ResourceArn"))
            .unwrap();
    assert!(target.contains("/restapis/${PaymentApi}/stages/${ApiStage}"));
}

#[test]
fn design_no_payment_data_reaches_the_logs() {
    let t = template();
    assert_eq!(
        at(
            t.resource("PaymentStateMachine"),
            "Properties.LoggingConfiguration.IncludeExecutionData"
        )
        .as_bool(),
        Some(false)
    );
    assert_eq!(
        at(
            t.resource("ApiStage"),
            "Properties.MethodSettings.0.DataTraceEnabled"
        )
        .as_bool(),
        Some(false)
    );
    let redacted = at(
        t.resource("ApiWebAclLogging"),
        "Properties.RedactedFields.0.SingleHeader.Name",
    );
    assert_eq!(redacted.as_str(), Some("x-api-key"));
}
