//! The cfn-guard rule pack: it passes the template, its own tests pass, every rule has a
//! test for each scenario its header names, and every single broken constraint — applied
//! to a copy of the template — makes `cfn-guard validate` fail naming the rule.

use payment_workflow_book::policy::{self, RuleHeader};
use payment_workflow_book::template::TEMPLATE;
use payment_workflow_book::{generated, repo};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

/// cfn-guard's exit code when a template violates a rule.
const VIOLATION: i32 = 19;

fn template() -> Value {
    serde_yaml::from_str(&fs::read_to_string(repo::root().join(TEMPLATE)).unwrap()).unwrap()
}

#[test]
fn the_rule_pack_passes_the_template() {
    let (code, report) = policy::validate(&repo::root().join(TEMPLATE));
    assert_eq!(
        code, 0,
        "cfn-guard validate failed on the template:\n{report}"
    );
}

#[test]
fn every_rule_file_has_a_test_for_each_scenario_and_its_tests_pass() {
    let files = policy::rule_files();
    assert!(files.len() >= 9, "one rule file per concern");
    for file in files {
        let tests = policy::test_file(&file);
        assert!(
            tests.exists(),
            "{} has no test file {}",
            file.display(),
            tests.display()
        );
        let tested = policy::tested_outcomes(&tests);
        let headers = policy::headers(&file);
        assert!(!headers.is_empty(), "{} has no rule header", file.display());
        for rule in headers {
            assert!(
                !rule.requirements.is_empty(),
                "{}: no requirement ids",
                rule.name
            );
            assert!(
                rule.scenarios.len() >= 3,
                "{}: the header names fewer than three scenarios",
                rule.name
            );
            for outcome in &rule.scenarios {
                let case = (rule.name.clone(), outcome.clone());
                assert!(
                    tested.contains(&case),
                    "{}: no {outcome} case in {}",
                    rule.name,
                    tests.display()
                );
            }
        }
        let output = Command::new(policy::tool("cfn-guard"))
            .args(["test", "--rules-file"])
            .arg(&file)
            .arg("--test-data")
            .arg(&tests)
            .output()
            .expect("cfn-guard runs");
        assert!(
            output.status.success(),
            "cfn-guard test failed for {}:\n{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

fn properties<'a>(doc: &'a mut Value, id: &str) -> &'a mut Value {
    let found = &mut doc["Resources"][id]["Properties"];
    assert!(!found.is_null(), "the template has no resource {id}");
    found
}

fn state<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    &mut properties(doc, "PaymentStateMachine")["Definition"]["States"][name]
}

fn remove(value: &mut Value, key: &str) {
    assert!(
        value.as_mapping_mut().unwrap().remove(key).is_some(),
        "nothing to remove at {key}"
    );
}

fn statement(allow: &str, resource: &str) -> Value {
    serde_yaml::from_str(&format!(
        "{{Effect: Allow, Action: '{allow}', Resource: '{resource}'}}"
    ))
    .unwrap()
}

type Mutation = (&'static str, &'static str, fn(&mut Value));

/// Each breaks one constraint the book claims; the second field is the rule that must fire.
const MUTATIONS: &[Mutation] = &[
    ("delete PITR", "TABLES_HAVE_POINT_IN_TIME_RECOVERY", |d| {
        remove(
            properties(d, "AuditLogsTable"),
            "PointInTimeRecoverySpecification",
        )
    }),
    ("provisioned billing", "TABLES_ARE_ON_DEMAND", |d| {
        properties(d, "TransactionsTable")["BillingMode"] = "PROVISIONED".into()
    }),
    (
        "table without the customer key",
        "TABLES_ENCRYPTED_WITH_THE_CUSTOMER_KEY",
        |d| remove(properties(d, "MerchantsTable"), "SSESpecification"),
    ),
    ("table deleted with the stack", "TABLES_ARE_RETAINED", |d| {
        d["Resources"]["TransactionsTable"]["DeletionPolicy"] = "Delete".into()
    }),
    (
        "timestamp sort key on transactions",
        "TRANSACTIONS_INDEXED_BY_MERCHANT_AND_KEYED_BY_TRANSACTION_ID",
        |d| {
            let key = serde_yaml::from_str("{AttributeName: created_at, KeyType: RANGE}").unwrap();
            properties(d, "TransactionsTable")["KeySchema"]
                .as_sequence_mut()
                .unwrap()
                .push(key)
        },
    ),
    (
        "merchant index dropped",
        "TRANSACTIONS_INDEXED_BY_MERCHANT_AND_KEYED_BY_TRANSACTION_ID",
        |d| remove(properties(d, "TransactionsTable"), "GlobalSecondaryIndexes"),
    ),
    ("TTL disabled", "AUDIT_LOGS_EXPIRE_AFTER_90_DAYS", |d| {
        properties(d, "AuditLogsTable")["TimeToLiveSpecification"]["Enabled"] = false.into()
    }),
    (
        "audit kept 30 days",
        "AUDIT_LOGS_EXPIRE_AFTER_90_DAYS",
        |d| properties(d, "AuditRetentionParameter")["Value"] = "30".into(),
    ),
    (
        "validator concurrency lowered",
        "VALIDATOR_RESERVED_CONCURRENCY_IS_100",
        |d| properties(d, "ValidatorFunction")["ReservedConcurrentExecutions"] = 10.into(),
    ),
    (
        "renamed validator with lowered concurrency",
        "VALIDATOR_RESERVED_CONCURRENCY_IS_100",
        |d| {
            let resources = d["Resources"].as_mapping_mut().unwrap();
            let mut validator = resources.remove("ValidatorFunction").unwrap();
            validator["Properties"]["ReservedConcurrentExecutions"] = 20.into();
            resources.insert("CheckoutRulesFunction".into(), validator);
        },
    ),
    (
        "settlement concurrency lowered",
        "WORKFLOW_FUNCTIONS_RESERVED_CONCURRENCY_IS_50",
        |d| properties(d, "SettlementFunction")["ReservedConcurrentExecutions"] = 5.into(),
    ),
    (
        "no reserved concurrency",
        "FUNCTIONS_RESERVE_CONCURRENCY",
        |d| {
            remove(
                properties(d, "SecretRotationFunction"),
                "ReservedConcurrentExecutions",
            )
        },
    ),
    (
        "validator's parameter defaults to 10",
        "VALIDATOR_RESERVED_CONCURRENCY_IS_100",
        |d| d["Parameters"]["ValidatorReservedConcurrency"]["Default"] = 10.into(),
    ),
    (
        "validator takes the settlement's parameter",
        "VALIDATOR_RESERVED_CONCURRENCY_IS_100",
        |d| {
            properties(d, "ValidatorFunction")["ReservedConcurrentExecutions"] =
                serde_yaml::from_str("!Ref SettlementReservedConcurrency").unwrap()
        },
    ),
    (
        "notification's parameter defaults to 100",
        "WORKFLOW_FUNCTIONS_RESERVED_CONCURRENCY_IS_50",
        |d| d["Parameters"]["NotificationReservedConcurrency"]["Default"] = 100.into(),
    ),
    (
        "a reservation parameter allows 0",
        "FUNCTIONS_RESERVE_CONCURRENCY",
        |d| d["Parameters"]["FraudDetectorReservedConcurrency"]["MinValue"] = 0.into(),
    ),
    ("1 GB function", "FUNCTIONS_HAVE_512_MB", |d| {
        properties(d, "NotificationFunction")["MemorySize"] = 1024.into()
    }),
    (
        "Python runtime",
        "FUNCTIONS_RUN_RUST_ON_PROVIDED_AL2023",
        |d| properties(d, "FraudDetectorFunction")["Runtime"] = "python3.12".into(),
    ),
    ("x86_64 function", "FUNCTIONS_RUN_ON_ARM64", |d| {
        properties(d, "SettlementFunction")["Architectures"] =
            serde_yaml::from_str("[x86_64]").unwrap()
    }),
    ("function tracing off", "FUNCTIONS_TRACED_WITH_XRAY", |d| {
        properties(d, "ValidatorFunction")["TracingConfig"]["Mode"] = "PassThrough".into()
    }),
    (
        "function logs kept 14 days",
        "FUNCTIONS_LOG_TO_OWN_GROUP_FOR_30_DAYS",
        |d| properties(d, "SettlementLogGroup")["RetentionInDays"] = 14.into(),
    ),
    (
        "literal password in the environment",
        "FUNCTIONS_TAKE_NO_LITERAL_SECRETS",
        |d| {
            properties(d, "SettlementFunction")["Environment"]["Variables"]["DB_PASSWORD"] =
                "hunter2".into()
        },
    ),
    (
        "secret value instead of its ARN",
        "FUNCTIONS_TAKE_NO_LITERAL_SECRETS",
        |d| {
            properties(d, "NotificationFunction")["Environment"]["Variables"]["SIGNING_SECRET_ARN"] =
                "0123456789abcdef0123456789abcdef".into()
        },
    ),
    (
        "access key under an innocent name",
        "FUNCTIONS_TAKE_NO_LITERAL_SECRETS",
        |d| {
            properties(d, "ValidatorFunction")["Environment"]["Variables"]["UPSTREAM"] =
                "AKIAABCDEFGHIJKLMNOP".into()
        },
    ),
    (
        "table name copied as a literal",
        "FUNCTIONS_TAKE_SETTINGS_BY_REFERENCE",
        |d| {
            properties(d, "ValidatorFunction")["Environment"]["Variables"]["MERCHANTS_TABLE"] =
                "merchant-configs-prod".into()
        },
    ),
    (
        "archive on KMS instead of SSE-S3",
        "ARCHIVE_USES_SSE_S3",
        |d| {
            properties(d, "ArchiveBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                [0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] = "aws:kms".into()
        },
    ),
    (
        "Glacier at 90 days",
        "ARCHIVE_MOVES_TO_GLACIER_AT_30_DAYS",
        |d| {
            properties(d, "ArchiveBucket")["LifecycleConfiguration"]["Rules"][0]["Transitions"][0]
                ["TransitionInDays"] = 90.into()
        },
    ),
    (
        "public access allowed",
        "BUCKETS_ENCRYPTED_VERSIONED_AND_PRIVATE",
        |d| {
            properties(d, "ArchiveBucket")["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] =
                false.into()
        },
    ),
    ("bucket policy dropped", "BUCKETS_REFUSE_PLAIN_HTTP", |d| {
        d["Resources"]
            .as_mapping_mut()
            .unwrap()
            .remove("ArchiveBucketPolicy");
    }),
    ("DLQ kept 4 days", "FAILURES_ARE_KEPT_14_DAYS", |d| {
        properties(d, "NotificationDeadLetterQueue")["MessageRetentionPeriod"] = 345_600.into()
    }),
    (
        "stream mapping without an on-failure destination",
        "FAILURES_ARE_KEPT_14_DAYS",
        |d| {
            remove(
                properties(d, "NotificationStreamTrigger"),
                "DestinationConfig",
            )
        },
    ),
    (
        "failed-payment record kept 4 days",
        "FAILURES_ARE_KEPT_14_DAYS",
        |d| properties(d, "FailedTransactionsQueue")["MessageRetentionPeriod"] = 345_600.into(),
    ),
    (
        "queue unencrypted",
        "QUEUES_ENCRYPTED_WITH_THE_CUSTOMER_KEY",
        |d| remove(properties(d, "FailedTransactionsQueue"), "KmsMasterKeyId"),
    ),
    (
        "topic without e-mail",
        "TOPICS_ENCRYPTED_WITH_EMAIL_SUBSCRIBERS",
        |d| remove(properties(d, "FailedTransactionsTopic"), "Subscription"),
    ),
    (
        "queue policy dropped",
        "TOPICS_AND_QUEUES_REFUSE_PLAIN_HTTP",
        |d| {
            d["Resources"]
                .as_mapping_mut()
                .unwrap()
                .remove("FailedTransactionsQueuePolicy");
        },
    ),
    ("API key not required", "API_POST_REQUIRES_API_KEY", |d| {
        properties(d, "PostTransactionMethod")["ApiKeyRequired"] = false.into()
    }),
    ("body not validated", "API_REQUEST_BODY_VALIDATED", |d| {
        properties(d, "PaymentRequestValidator")["ValidateRequestBody"] = false.into()
    }),
    (
        "model open to extra properties",
        "API_REQUEST_BODY_VALIDATED",
        |d| properties(d, "PaymentRequestModel")["Schema"]["additionalProperties"] = true.into(),
    ),
    ("API tracing off", "API_STAGE_TRACED", |d| {
        properties(d, "ApiStage")["TracingEnabled"] = false.into()
    }),
    (
        "throttle lowered",
        "API_STAGE_THROTTLED_AT_10000_RPS",
        |d| d["Parameters"]["ApiThrottleRateLimit"]["Default"] = 5000.into(),
    ),
    (
        "per-key throttle raised",
        "API_USAGE_PLAN_THROTTLES_EACH_KEY",
        |d| d["Parameters"]["ApiKeyRateLimit"]["Default"] = 5000.into(),
    ),
    (
        "bodies logged",
        "API_STAGE_ACCESS_LOGS_WITHOUT_BODIES",
        |d| properties(d, "ApiStage")["MethodSettings"][0]["DataTraceEnabled"] = true.into(),
    ),
    (
        "integration waits 60 s",
        "API_INTEGRATION_ANSWERS_WITHIN_29_SECONDS",
        |d| {
            properties(d, "PostTransactionMethod")["Integration"]["TimeoutInMillis"] = 60_000.into()
        },
    ),
    ("WAF detached", "API_PROTECTED_BY_WAF", |d| {
        d["Resources"]
            .as_mapping_mut()
            .unwrap()
            .remove("ApiWebAclAssociation");
    }),
    (
        "standard state machine",
        "WORKFLOW_IS_SYNCHRONOUS_EXPRESS",
        |d| properties(d, "PaymentStateMachine")["StateMachineType"] = "STANDARD".into(),
    ),
    (
        "workflow timeout 60 s",
        "WORKFLOW_TIMES_OUT_BEFORE_THE_API",
        |d| properties(d, "PaymentStateMachine")["Definition"]["TimeoutSeconds"] = 60.into(),
    ),
    (
        "retry dropped from settlement",
        "WORKFLOW_LAMBDA_TASKS_RETRY_3_TIMES_WITH_BACKOFF",
        |d| remove(state(d, "Settle"), "Retry"),
    ),
    (
        "retry dropped from a branch",
        "WORKFLOW_LAMBDA_TASKS_RETRY_3_TIMES_WITH_BACKOFF",
        |d| {
            remove(
                &mut state(d, "Screen")["Branches"][1]["States"]["ScoreFraud"],
                "Retry",
            )
        },
    ),
    (
        "one attempt only",
        "WORKFLOW_LAMBDA_TASKS_RETRY_3_TIMES_WITH_BACKOFF",
        |d| state(d, "RecordDecline")["Retry"][0]["MaxAttempts"] = 1.into(),
    ),
    (
        "no backoff growth",
        "WORKFLOW_LAMBDA_TASKS_RETRY_3_TIMES_WITH_BACKOFF",
        |d| state(d, "Settle")["Retry"][0]["BackoffRate"] = 1.0.into(),
    ),
    ("task without timeout", "WORKFLOW_TASKS_ARE_BOUNDED", |d| {
        remove(state(d, "Settle"), "TimeoutSeconds")
    }),
    ("catch dropped", "WORKFLOW_FAILURES_ARE_CAUGHT", |d| {
        remove(state(d, "Settle"), "Catch")
    }),
    (
        "sequential screening",
        "WORKFLOW_SCREENS_IN_PARALLEL",
        |d| {
            state(d, "Screen")["Branches"]
                .as_sequence_mut()
                .unwrap()
                .truncate(1)
        },
    ),
    (
        "execution data logged",
        "WORKFLOW_LOGS_WITHOUT_PAYMENT_DATA_AND_IS_TRACED",
        |d| {
            properties(d, "PaymentStateMachine")["LoggingConfiguration"]["IncludeExecutionData"] =
                true.into()
        },
    ),
    (
        "workflow tracing off",
        "WORKFLOW_LOGS_WITHOUT_PAYMENT_DATA_AND_IS_TRACED",
        |d| properties(d, "PaymentStateMachine")["TracingConfiguration"]["Enabled"] = false.into(),
    ),
    (
        "error alarm at 5 %",
        "EVERY_FUNCTION_ALARMS_ABOVE_1_PERCENT_ERRORS",
        |d| properties(d, "SettlementErrorRateAlarm")["Threshold"] = 5.into(),
    ),
    (
        "a function without an error alarm",
        "EVERY_FUNCTION_ALARMS_ABOVE_1_PERCENT_ERRORS",
        |d| {
            d["Resources"]
                .as_mapping_mut()
                .unwrap()
                .remove("NotificationErrorRateAlarm");
        },
    ),
    (
        "a function without a throttle alarm",
        "EVERY_FUNCTION_ALARMS_ON_THROTTLES",
        |d| {
            d["Resources"]
                .as_mapping_mut()
                .unwrap()
                .remove("ValidatorThrottleAlarm");
        },
    ),
    ("4xx alarm at 50 %", "API_ALARMS_ABOVE_5_PERCENT_4XX", |d| {
        properties(d, "Api4xxRateAlarm")["Threshold"] = 0.5.into()
    }),
    (
        "DLQ alarm dropped",
        "FAILURES_OF_QUEUES_AND_WORKFLOW_ARE_ALARMED",
        |d| {
            d["Resources"]
                .as_mapping_mut()
                .unwrap()
                .remove("NotificationDeadLetterAlarm");
        },
    ),
    ("dashboard dropped", "DASHBOARD_AND_QUERIES_EXIST", |d| {
        d["Resources"]
            .as_mapping_mut()
            .unwrap()
            .remove("OperationsDashboard");
    }),
    (
        "alarm notifies nobody",
        "ALARMS_NOTIFY_AND_SAY_WHAT_TO_DO",
        |d| remove(properties(d, "WorkflowFailedAlarm"), "AlarmActions"),
    ),
    (
        "logs kept for ever",
        "LOG_GROUPS_ENCRYPTED_WITH_RETENTION",
        |d| remove(properties(d, "ApiAccessLogGroup"), "RetentionInDays"),
    ),
    ("wildcard action", "IAM_NO_WILDCARD_ACTIONS", |d| {
        let statements =
            &mut properties(d, "SettlementRole")["Policies"][0]["PolicyDocument"]["Statement"];
        statements
            .as_sequence_mut()
            .unwrap()
            .push(statement("dynamodb:*", "arn:aws:dynamodb:*:*:table/x"))
    }),
    (
        "wildcard policy",
        "IAM_WILDCARD_RESOURCES_ONLY_FOR_UNSCOPED_ACTIONS",
        |d| {
            let statements = &mut properties(d, "NotificationRole")["Policies"][0]["PolicyDocument"]
                ["Statement"];
            statements
                .as_sequence_mut()
                .unwrap()
                .push(statement("s3:PutObject", "*"))
        },
    ),
    (
        "administrator attached",
        "IAM_ROLES_TRUST_SERVICES_AND_AVOID_BROAD_MANAGED_POLICIES",
        |d| {
            let arn = serde_yaml::from_str(
                "!Sub arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess",
            )
            .unwrap();
            properties(d, "ValidatorRole")["ManagedPolicyArns"] = Value::Sequence(vec![arn])
        },
    ),
    (
        "key rotation off",
        "KMS_KEYS_ROTATE_AND_ARE_RETAINED",
        |d| properties(d, "DataKey")["EnableKeyRotation"] = false.into(),
    ),
    (
        "secret written into the template",
        "SECRETS_ARE_GENERATED_ENCRYPTED_AND_ROTATED_EVERY_30_DAYS",
        |d| {
            let secret = properties(d, "SigningSecret");
            remove(secret, "GenerateSecretString");
            secret["SecretString"] =
                r#"{"key_id": "v1", "hmac_key": "hunter2hunter2hunter2hunter2hunter2"}"#.into()
        },
    ),
    (
        "rotation every 90 days",
        "SECRETS_ARE_GENERATED_ENCRYPTED_AND_ROTATED_EVERY_30_DAYS",
        |d| {
            properties(d, "SigningSecretRotation")["RotationRules"]["ScheduleExpression"] =
                "rate(90 days)".into()
        },
    ),
    ("Owner tag dropped", "RESOURCES_CARRY_COST_TAGS", |d| {
        properties(d, "AuditLogsTable")["Tags"]
            .as_sequence_mut()
            .unwrap()
            .retain(|t| t["Key"] != "Owner")
    }),
    (
        "workflow logging can be switched off",
        "WORKFLOW_LOGS_WITHOUT_PAYMENT_DATA_AND_IS_TRACED",
        |d| {
            d["Parameters"]["WorkflowLogLevel"]["AllowedValues"]
                .as_sequence_mut()
                .unwrap()
                .push("OFF".into())
        },
    ),
    (
        "table left behind by a failed first deployment",
        "TABLES_ARE_RETAINED",
        |d| d["Resources"]["TransactionsTable"]["DeletionPolicy"] = "Retain".into(),
    ),
    (
        "signing secret deleted with the stack",
        "SECRETS_OUTLIVE_THE_STACK",
        |d| d["Resources"]["SigningSecret"]["DeletionPolicy"] = "Delete".into(),
    ),
    (
        "API role demands aws:SourceAccount",
        "API_GATEWAY_ROLES_TRUST_WITHOUT_SOURCE_CONDITIONS",
        |d| {
            properties(d, "ApiStartExecutionRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] =
                serde_yaml::from_str("{StringEquals: {'aws:SourceAccount': !Ref AWS::AccountId}}")
                    .unwrap()
        },
    ),
    ("WAF log kept 90 days", "AUDIT_LOGS_KEPT_A_YEAR", |d| {
        properties(d, "WafLogGroup")["RetentionInDays"] = 90.into()
    }),
    (
        "fixed resource name",
        "NAMES_CARRY_THE_ENVIRONMENT_SUFFIX",
        |d| {
            properties(d, "FailedTransactionsQueue")["QueueName"] =
                "payment-failed-transactions".into()
        },
    ),
];

#[test]
fn every_single_broken_constraint_fails_cfn_guard_validate() {
    let out = repo::root().join("target/policy-mutants");
    fs::create_dir_all(&out).unwrap();
    let mut missed = Vec::new();
    for (index, (name, rule, mutate)) in MUTATIONS.iter().enumerate() {
        let mut doc = template();
        mutate(&mut doc);
        let path = out.join(format!("{index:02}.yaml"));
        fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
        let (code, report) = policy::validate(&path);
        if code != VIOLATION || !report.contains(rule) {
            missed.push(format!(
                "{name} (expected {rule}, exit {code}): {}",
                path.display()
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "mutations the rule pack did not catch:\n{}",
        missed.join("\n")
    );
}

#[test]
fn every_rule_is_exercised_by_a_mutation_of_the_real_template() {
    let rules: Vec<String> = policy::rule_files()
        .iter()
        .flat_map(|f| policy::headers(f))
        .map(|r| r.name)
        .collect();
    for rule in rules {
        assert!(
            MUTATIONS.iter().any(|(_, r, _)| *r == rule),
            "{rule} is never broken by a template mutation"
        );
    }
}

#[test]
fn rule_messages_cite_only_the_pci_requirements_of_their_header() {
    // The header feeds Appendix D; a message is what an engineer reads when CI fails. Both
    // must name the same PCI DSS v4.0.1 requirements (headers citing v4.0 fail to parse).
    for file in policy::rule_files() {
        for rule in policy::headers(&file) {
            for cited in &rule.cited_pci {
                assert!(
                    rule.pci.contains(cited),
                    "{} ({}): a message cites PCI DSS {cited}, which its header does not name",
                    rule.name,
                    rule.file
                );
            }
        }
    }
}

/// The requirements traced by the appendix, each summarised; the catalogue (Appendix G)
/// has the full entry under the same id.
const REQUIREMENTS: [(&str, &str, &str); 13] = [
    (
        "REQ-000-1",
        "req_000_1_",
        "API Gateway REST: request validation, API key, 10,000 RPS, X-Ray",
    ),
    (
        "REQ-000-2",
        "req_000_2_",
        "Lambda: runtime, 512 MB, reserved concurrency 100/50, 30-day logs, X-Ray, SSM settings",
    ),
    (
        "REQ-000-3",
        "req_000_3_",
        "Step Functions: parallel screening, 3 retries with exponential backoff, ≤ 60 s, error handling",
    ),
    (
        "REQ-000-4",
        "req_000_4_",
        "DynamoDB: transactions (on-demand, merchant_id GSI, PITR), audit_logs (on-demand, PITR, TTL 90 days)",
    ),
    (
        "REQ-000-5",
        "req_000_5_",
        "S3 transaction-archives: SSE-S3, Glacier at 30 days",
    ),
    (
        "REQ-000-6",
        "req_000_6_",
        "SNS: alert and failed-transaction topics with e-mail subscriptions",
    ),
    (
        "REQ-000-7",
        "req_000_7_",
        "Monitoring: Lambda errors > 1 %, API 4xx > 5 %, X-Ray everywhere",
    ),
    (
        "REQ-000-8",
        "req_000_8_",
        "General: !Ref/!GetAtt/!Sub only, parameters per environment, exported outputs",
    ),
    (
        "REQ-000-SEC",
        "req_000_sec_",
        "Security: no hard-coded credentials; secrets in Secrets Manager, rotated",
    ),
    (
        "REQ-001",
        "req_001_",
        "Webhook variant: arm64, DLQ 14 days, cost tags, suffixed names, WAF rate rule, per-key throttle, Logs Insights",
    ),
    (
        "REQ-002",
        "req_002_",
        "First attempt's checklist: DLQ, throttle and workflow alarms with actions",
    ),
    (
        "REQ-004",
        "req_004_",
        "Merchant-configuration variant: customer-managed KMS keys, WAF managed rules, dashboard, merchant configuration",
    ),
    (
        "DESIGN",
        "design_",
        "This book's own design decisions (section 1 and section 1.1)",
    ),
];

/// Names of the template tests, from their sources.
fn template_tests() -> Vec<String> {
    let mut names = Vec::new();
    for file in repo::files_with_suffix(&repo::root().join("tests/template"), ".rs") {
        let text = fs::read_to_string(file).unwrap();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line.trim() == "#[test]"
                && let Some(next) = lines.peek()
                && let Some(name) = next.trim().strip_prefix("fn ")
            {
                names.push(name.split('(').next().unwrap().to_string());
            }
        }
    }
    names.sort();
    names
}

#[test]
fn the_traceability_appendix_is_current() {
    let headers: Vec<RuleHeader> = policy::rule_files()
        .iter()
        .flat_map(|f| policy::headers(f))
        .collect();
    let tests = template_tests();
    let mut table = String::from(
        "<!-- generated by the_traceability_appendix_is_current (tests/policy.rs); `cargo xtask regen` -->\n",
    );
    for (id, prefix, text) in REQUIREMENTS {
        let rules: Vec<&RuleHeader> = headers
            .iter()
            .filter(|h| h.requirements.iter().any(|r| r == id))
            .collect();
        let proving: Vec<&String> = tests.iter().filter(|t| t.starts_with(prefix)).collect();
        assert!(
            id == "DESIGN" || !proving.is_empty(),
            "{id} has no template test"
        );
        let entry = id.to_lowercase();
        table += &format!(
            "\n## {id}\n\n{text}. Catalogue: [{id}](appendix-requirements.md#{entry}).\n\n"
        );
        if !rules.is_empty() {
            table += "| guard rule | PCI DSS v4.0.1 | checks |\n| --- | --- | --- |\n";
            for rule in &rules {
                let pci = if rule.pci.is_empty() {
                    "—".to_string()
                } else {
                    rule.pci.join(", ")
                };
                table += &format!(
                    "| `{}` ({}) | {} | `{}` |\n",
                    rule.name, rule.file, pci, rule.checks
                );
            }
            table += "\n";
        }
        table += "Template tests: ";
        table += &proving
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ");
        table += "\n";
    }
    let mut controls: BTreeMap<Vec<u32>, (String, Vec<String>)> = BTreeMap::new();
    for header in &headers {
        for control in &header.pci {
            let order = control.split('.').filter_map(|n| n.parse().ok()).collect();
            let entry = controls
                .entry(order)
                .or_insert_with(|| (control.clone(), Vec::new()));
            entry.1.push(format!("`{}`", header.name));
        }
    }
    table += "\n## By PCI DSS v4.0.1 requirement\n\n| requirement | guard rules |\n| --- | --- |\n";
    for (control, rules) in controls.into_values() {
        table += &format!("| {control} | {} |\n", rules.join(", "));
    }
    generated::check("src/generated/traceability.md", &table);
}

#[test]
fn checkov_finds_no_failed_check_and_every_skip_has_a_reason() {
    let output = Command::new(policy::tool("checkov"))
        .args([
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--file",
        ])
        .arg(repo::root().join(TEMPLATE))
        .output()
        .expect("checkov runs");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("checkov prints JSON");
    let summary = &report["summary"];
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} on {}", c["check_id"], c["resource"]))
        .collect();
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
    let mut skips = String::new();
    for check in report["results"]["skipped_checks"].as_array().unwrap() {
        let reason = check["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        assert!(
            reason.len() > 20,
            "{} on {} is skipped without a reason",
            check["check_id"],
            check["resource"]
        );
        skips += &format!(
            "| {} | {} | {} |\n",
            check["check_id"].as_str().unwrap(),
            check["resource"].as_str().unwrap(),
            reason.replace('|', "/")
        );
    }
    // That the pack passes the template and catches every mutation is asserted by
    // `the_rule_pack_passes_the_template` and `every_single_broken_constraint_fails_cfn_guard_validate`
    // in this same stage; the summary states their result.
    let rules: Vec<RuleHeader> = policy::rule_files()
        .iter()
        .flat_map(|f| policy::headers(f))
        .collect();
    let summary_text = format!(
        "<!-- generated by checkov_finds_no_failed_check_and_every_skip_has_a_reason (tests/policy.rs); \
         `cargo xtask regen` -->\n\
         | check | result |\n| --- | --- |\n\
         | cfn-guard {} rules in {} files | all pass on the template |\n\
         | cfn-guard mutations of the template | {} of {} caught, each by the rule it targets |\n\
         | checkov {} | {} passed, {} failed, {} skipped |\n\n\
         Checkov checks skipped, each with the reason written in the resource's `Metadata`:\n\n\
         | check | resource | reason |\n| --- | --- | --- |\n{skips}",
        rules.len(),
        policy::rule_files().len(),
        MUTATIONS.len(),
        MUTATIONS.len(),
        summary["checkov_version"].as_str().unwrap_or("?"),
        summary["passed"],
        summary["failed"],
        summary["skipped"],
    );
    generated::check("src/generated/policy-summary.md", &summary_text);
}
