//! 000 §C2 (with the owner's Rust runtime) and seed 001's arm64: the Lambda functions.

use crate::{FUNCTIONS, SPEC_FUNCTIONS, template};
use payment_workflow_book::limits;
use payment_workflow_book::template::{
    Template, at, getatt_target, intrinsic, ref_target, sub_text,
};

fn function(prefix: &str) -> &'static serde_yaml::Value {
    template().resource(&format!("{prefix}Function"))
}

#[test]
fn req_000_2_the_four_workflow_functions_exist_with_suffixed_names() {
    for (prefix, stem, _) in FUNCTIONS {
        let name = sub_text(at(function(prefix), "Properties.FunctionName")).unwrap();
        assert_eq!(name, format!("payment-{stem}-${{EnvironmentSuffix}}"));
    }
    assert_eq!(
        template().of_type("AWS::Lambda::Function").len(),
        FUNCTIONS.len()
    );
    assert!(
        SPEC_FUNCTIONS
            .iter()
            .all(|f| FUNCTIONS.iter().any(|(p, _, _)| p == f))
    );
}

#[test]
fn req_000_2_functions_are_rust_on_provided_al2023() {
    for (prefix, _, _) in FUNCTIONS {
        let properties = at(function(prefix), "Properties");
        assert_eq!(
            properties["Runtime"].as_str(),
            Some("provided.al2023"),
            "{prefix}"
        );
        assert_eq!(
            properties["Handler"].as_str(),
            Some("bootstrap"),
            "{prefix}"
        );
    }
}

#[test]
fn req_001_functions_run_on_arm64_graviton() {
    for (prefix, _, _) in FUNCTIONS {
        let architectures = at(function(prefix), "Properties.Architectures");
        assert_eq!(
            architectures.as_sequence().map(Vec::len),
            Some(1),
            "{prefix}"
        );
        assert_eq!(architectures[0].as_str(), Some("arm64"), "{prefix}");
    }
}

#[test]
fn req_000_2_functions_have_512_mb() {
    for (prefix, _, _) in FUNCTIONS {
        assert_eq!(
            at(function(prefix), "Properties.MemorySize").as_u64(),
            Some(512),
            "{prefix}"
        );
    }
}

/// A function's reserved concurrency as the template's defaults deploy it: the default of
/// the parameter its `ReservedConcurrentExecutions` takes (`!Ref`), or a literal; with the
/// parameter's name. Environments override the parameter (Appendix F); 000 §C2's values
/// are the defaults.
fn default_reservation(prefix: &str) -> (Option<u64>, Option<&'static str>) {
    let reserved = at(function(prefix), "Properties.ReservedConcurrentExecutions");
    match ref_target(reserved) {
        Some(parameter) => (
            template().parameter(parameter)["Default"].as_u64(),
            Some(parameter),
        ),
        None => (reserved.as_u64(), None),
    }
}

#[test]
fn req_000_2_validator_reserved_concurrency_is_100() {
    assert_eq!(
        default_reservation("Validator"),
        (Some(100), Some("ValidatorReservedConcurrency"))
    );
}

#[test]
fn req_000_2_other_workflow_functions_reserved_concurrency_is_50() {
    for prefix in ["FraudDetector", "Settlement", "Notification"] {
        let parameter = format!("{prefix}ReservedConcurrency");
        assert_eq!(
            default_reservation(prefix),
            (Some(50), Some(parameter.as_str())),
            "{prefix}"
        );
    }
    // The rotation function, an addition to 000, is reserved its own single environment.
    assert_eq!(default_reservation("SecretRotation"), (Some(1), None));
}

/// Every reservation parameter keeps a function alive (MinValue 1: 0 would stop it) and
/// bounds a typo (MaxValue), and no environment's file sets one outside those bounds.
#[test]
fn design_reserved_concurrency_parameters_are_bounded_in_every_environment() {
    let t = template();
    for (prefix, _, _) in FUNCTIONS {
        let (_, Some(parameter)) = default_reservation(prefix) else {
            continue;
        };
        let declared = t.parameter(parameter);
        assert_eq!(declared["Type"].as_str(), Some("Number"), "{parameter}");
        let (min, max) = (
            declared["MinValue"].as_u64().expect("MinValue"),
            declared["MaxValue"].as_u64().expect("MaxValue"),
        );
        assert_eq!(min, 1, "{parameter}");
        for environment in ["dev", "staging", "prod"] {
            let path = payment_workflow_book::repo::root()
                .join(format!("templates/params/{environment}.json"));
            let entries: Vec<serde_json::Value> =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for entry in entries.iter().filter(|e| e["ParameterKey"] == parameter) {
                let value: u64 = entry["ParameterValue"].as_str().unwrap().parse().unwrap();
                assert!(
                    (min..=max).contains(&value),
                    "{environment}: {parameter}={value} outside {min}..={max}"
                );
            }
        }
    }
}

#[test]
fn req_000_2_every_function_has_its_own_log_group_with_30_day_retention() {
    let t = template();
    for (prefix, stem, _) in FUNCTIONS {
        let group_id =
            ref_target(at(function(prefix), "Properties.LoggingConfig.LogGroup")).unwrap();
        assert_eq!(group_id, format!("{prefix}LogGroup"));
        let group = t.resource(group_id);
        assert_eq!(
            at(group, "Properties.RetentionInDays").as_u64(),
            Some(30),
            "{prefix}"
        );
        let name = sub_text(at(group, "Properties.LogGroupName")).unwrap();
        assert_eq!(
            name,
            format!("/aws/lambda/payment-{stem}-${{EnvironmentSuffix}}")
        );
        assert_eq!(
            at(function(prefix), "Properties.LoggingConfig.LogFormat").as_str(),
            Some("JSON")
        );
    }
}

#[test]
fn req_000_2_functions_have_active_xray_tracing() {
    for (prefix, _, _) in FUNCTIONS {
        assert_eq!(
            at(function(prefix), "Properties.TracingConfig.Mode").as_str(),
            Some("Active"),
            "{prefix}"
        );
    }
}

#[test]
fn req_000_2_function_settings_come_from_ssm_parameters() {
    let t = template();
    let expected = [
        ("Validator", "VALIDATION_RULES"),
        ("FraudDetector", "FRAUD_RULES"),
        ("Settlement", "AUDIT_RETENTION_DAYS"),
    ];
    for (prefix, variable) in expected {
        let value = at(
            function(prefix),
            &format!("Properties.Environment.Variables.{variable}"),
        );
        let (parameter, attribute) =
            getatt_target(value).unwrap_or_else(|| panic!("{prefix} {variable}"));
        assert_eq!(attribute, "Value");
        assert_eq!(
            t.resource(parameter)["Type"].as_str(),
            Some("AWS::SSM::Parameter")
        );
    }
}

#[test]
fn req_000_2_environment_values_are_references_never_literals() {
    // Names and ARNs come from the resources, settings from SSM; a literal could be a stale
    // copy or, worse, a credential.
    // An index name cannot be referenced.
    let allowed_literals = ["NOTIFICATION_PENDING_INDEX"];
    for (prefix, _, _) in FUNCTIONS {
        let Some(variables) = at(function(prefix), "Properties.Environment.Variables").as_mapping()
        else {
            continue;
        };
        for (key, value) in variables {
            let key = key.as_str().unwrap();
            if intrinsic(value).is_none() {
                assert!(
                    allowed_literals.contains(&key),
                    "{prefix}: {key} is a literal"
                );
            }
        }
    }
}

#[test]
fn design_code_comes_from_the_artifact_bucket_one_zip_per_function() {
    for (prefix, stem, _) in FUNCTIONS {
        let code = at(function(prefix), "Properties.Code");
        assert_eq!(ref_target(&code["S3Bucket"]), Some("ArtifactBucket"));
        assert_eq!(
            sub_text(&code["S3Key"]),
            Some(format!("${{ArtifactKeyPrefix}}/{stem}.zip").as_str())
        );
    }
}

#[test]
fn design_each_function_has_its_own_role() {
    let mut roles: Vec<&str> = FUNCTIONS
        .iter()
        .map(|(prefix, _, _)| {
            getatt_target(at(function(prefix), "Properties.Role"))
                .unwrap()
                .0
        })
        .collect();
    roles.sort();
    roles.dedup();
    assert_eq!(roles.len(), FUNCTIONS.len(), "roles are not shared");
}

#[test]
fn design_function_timeouts_fit_their_task_timeouts() {
    // A function outliving its task's TimeoutSeconds would keep working after the workflow
    // has given up on it; the time-budget test bounds the tasks.
    for prefix in ["Validator", "FraudDetector", "Settlement"] {
        assert!(
            at(function(prefix), "Properties.Timeout").as_u64().unwrap() <= 2,
            "{prefix}"
        );
    }
}

#[test]
fn design_every_function_crate_is_deployed_by_the_template() {
    let dir = payment_workflow_book::repo::root().join("code/functions");
    let mut crates: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let mut deployed: Vec<String> = FUNCTIONS
        .iter()
        .map(|(_, stem, _)| stem.to_string())
        .collect();
    deployed.sort();
    assert_eq!(
        crates, deployed,
        "code/functions/* and the template's functions differ"
    );
}

/// The longest chain of sequential AWS SDK calls one invocation of each function makes (the
/// code paths named beside each count). Settlement's wait for a concurrent attempt polls only
/// while its own deadline allows, so it adds nothing to this bound.
const SEQUENTIAL_SDK_CALLS: [(&str, u64); 6] = [
    // GetItem of the merchant.
    ("Validator", 1),
    // BatchGetItem of the card's two windows.
    ("FraudDetector", 1),
    // Claim, complete, complete again as a velocity decline, release a failed attempt's claim.
    ("Settlement", 4),
    // Per record: GetItem, PutObject, GetObject, Publish, UpdateItem, and the signing key
    // (the notifier's CALLS_PER_RECORD), times the largest batch NotificationBatchSize allows.
    ("Notification", NOTIFIER_CALLS_PER_RECORD),
    // DescribeSecret, GetSecretValue ×2, GetRandomPassword, PutSecretValue, UpdateSecretVersionStage.
    ("SecretRotation", 6),
    // One Query per shard (32) and at most 50 records handed back.
    ("Reconciler", 82),
];

/// Start-up, the Runtime API round trip and the handler's own work.
const RESERVE_MS: u64 = 200;

/// code/functions/notification's CALLS_PER_RECORD; its calls per invocation also scale
/// with the batch the stream hands it.
const NOTIFIER_CALLS_PER_RECORD: u64 = 6;

/// The most records one notification invocation can be handed: the MaxValue of the
/// parameter the stream trigger's BatchSize takes (a literal batch counts as itself).
fn largest_notification_batch(t: &Template) -> u64 {
    let batch = at(
        t.resource("NotificationStreamTrigger"),
        "Properties.BatchSize",
    );
    match ref_target(batch) {
        Some(parameter) => t.parameter(parameter)["MaxValue"]
            .as_u64()
            .unwrap_or_else(|| panic!("{parameter} has no MaxValue: the batch is unbounded")),
        None => batch.as_u64().expect("a numeric BatchSize"),
    }
}

/// One function's SDK limits: the SSM parameter its `SDK_TIMEOUTS` comes from, and its value.
struct SdkLimits {
    parameter: String,
    connect_ms: u64,
    attempt_ms: u64,
    operation_ms: u64,
}

fn sdk_limits(t: &Template, prefix: &str) -> Result<SdkLimits, String> {
    let function = t.resource(&format!("{prefix}Function"));
    let source = &function["Properties"]["Environment"]["Variables"]["SDK_TIMEOUTS"];
    let Some((parameter, "Value")) = getatt_target(source) else {
        return Err(format!(
            "{prefix}: SDK_TIMEOUTS is not the Value of an SSM parameter"
        ));
    };
    let value = at(t.resource(parameter), "Properties.Value")
        .as_str()
        .ok_or_else(|| format!("{parameter}: not a JSON string"))?;
    let json: serde_json::Value =
        serde_json::from_str(value).map_err(|e| format!("{parameter}: {e}"))?;
    let ms = |key: &str| {
        json[key]
            .as_u64()
            .ok_or_else(|| format!("{parameter}: no {key}"))
    };
    Ok(SdkLimits {
        parameter: parameter.to_string(),
        connect_ms: ms("connect_ms")?,
        attempt_ms: ms("attempt_ms")?,
        operation_ms: ms("operation_ms")?,
    })
}

/// Whether a function's role may read or write objects in S3 (an `s3:…Object…` action, or
/// `s3:*`).
fn calls_s3_objects(t: &Template, prefix: &str) -> bool {
    let role = getatt_target(at(
        t.resource(&format!("{prefix}Function")),
        "Properties.Role",
    ))
    .map(|(role, _)| role)
    .expect("a role of the template");
    let statements = t.resource(role)["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .into_iter()
                .flatten()
        });
    statements
        .flat_map(|s| match &s["Action"] {
            serde_yaml::Value::Sequence(actions) => actions.clone(),
            action => vec![action.clone()],
        })
        .filter_map(|a| a.as_str().map(str::to_string))
        .any(|a| a == "s3:*" || (a.starts_with("s3:") && a.contains("Object")))
}

/// F7: the SDK's defaults (a 3.1 s connect timeout, no operation timeout) exceed a 2 s
/// function, turning a typed, retryable error into a Lambda timeout. Every function takes
/// its SDK limits from an SSM parameter; its worst chain of calls fits its Timeout; and a
/// function that reads or writes S3 objects waits as long as S3 asks before retrying.
fn sdk_timeout_problems(t: &Template) -> Vec<String> {
    let mut problems = vec![];
    for (prefix, calls) in SEQUENTIAL_SDK_CALLS {
        let sdk = match sdk_limits(t, prefix) {
            Ok(sdk) => sdk,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let (connect, attempt, operation) = (sdk.connect_ms, sdk.attempt_ms, sdk.operation_ms);
        if !(connect < attempt && attempt <= operation) {
            problems.push(format!(
                "{}: connect {connect} ms < attempt {attempt} ms <= operation {operation} ms does not hold",
                sdk.parameter
            ));
        }
        let properties = at(t.resource(&format!("{prefix}Function")), "Properties");
        let timeout_ms = properties["Timeout"].as_u64().unwrap() * 1000;
        let calls = if prefix == "Notification" {
            calls * largest_notification_batch(t)
        } else {
            calls
        };
        if calls * operation + RESERVE_MS > timeout_ms {
            problems.push(format!(
                "{prefix}: {calls} calls × {operation} ms + {RESERVE_MS} ms > its Timeout of {timeout_ms} ms"
            ));
        }
        if calls_s3_objects(t, prefix) && attempt < limits::S3_SMALL_REQUEST_RETRY_AFTER_MS {
            problems.push(format!(
                "{prefix} reads or writes S3 objects but gives up on an attempt after {attempt} ms; \
                 S3 asks for {} ms before a small GET or PUT is retried ({})",
                limits::S3_SMALL_REQUEST_RETRY_AFTER_MS,
                sdk.parameter
            ));
        }
    }
    problems
}

#[test]
fn f7_sdk_timeouts_fit_every_functions_timeout() {
    assert_eq!(SEQUENTIAL_SDK_CALLS.len(), FUNCTIONS.len());
    let notifier = std::fs::read_to_string(
        payment_workflow_book::repo::root().join("code/functions/notification/src/main.rs"),
    )
    .expect("the notifier's source");
    assert!(
        notifier.contains(&format!(
            "const CALLS_PER_RECORD: u64 = {NOTIFIER_CALLS_PER_RECORD};"
        )),
        "the notifier's CALLS_PER_RECORD is no longer {NOTIFIER_CALLS_PER_RECORD}"
    );
    let problems = sdk_timeout_problems(template());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn f7_notifier_waits_as_long_as_s3_asks() {
    // Mutant: the notifier back on the client path's limits (150 ms per attempt).
    let shared = template().mutated(|doc| {
        doc["Resources"]["NotificationFunction"]["Properties"]["Environment"]["Variables"]["SDK_TIMEOUTS"] =
            serde_yaml::from_str("!GetAtt SdkTimeoutsParameter.Value").unwrap();
    });
    let problems = sdk_timeout_problems(&shared);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("Notification reads or writes S3 objects")),
        "{problems:?}"
    );
}

#[test]
fn f7_a_batch_that_outlasts_the_notifiers_timeout_is_refused() {
    // Mutant: the notifier's Timeout as it was before its limits grew (30 s for 270 s of calls).
    let short = template().mutated(|doc| {
        doc["Resources"]["NotificationFunction"]["Properties"]["Timeout"] = 30.into();
    });
    let problems = sdk_timeout_problems(&short);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("Notification: 60 calls × 4500 ms")),
        "{problems:?}"
    );
}

#[test]
fn f7_a_function_without_sdk_limits_is_refused() {
    let unbounded = template().mutated(|doc| {
        doc["Resources"]["SettlementFunction"]["Properties"]["Environment"]["Variables"]
            .as_mapping_mut()
            .unwrap()
            .remove("SDK_TIMEOUTS");
    });
    assert_eq!(
        sdk_timeout_problems(&unbounded),
        ["Settlement: SDK_TIMEOUTS is not the Value of an SSM parameter"]
    );
}
