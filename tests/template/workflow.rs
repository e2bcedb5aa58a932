//! 000 §C3: the Step Functions workflow — parallel screening, retries with exponential
//! backoff, catch paths, and the time budget that keeps it within 60 s (and the API's 29 s).

use crate::template;
use payment_workflow_book::budget::{self, Budget};
use payment_workflow_book::template::{at, ref_target};
use payment_workflow_book::{generated, repo};
use serde_json::Value;
use std::process::Command;

/// API Gateway's default integration timeout for a REST API (Regional APIs may raise it through a
/// quota request since June 2024, at the cost of account throttle; the design keeps the default).
const API_INTEGRATION_LIMIT_MS: u64 = 29_000;
/// 000 §C3: the workflow must finish within 60 seconds.
const SPEC_LIMIT_SECONDS: f64 = 60.0;
/// Review H9: the slowest path must leave at least this much of the state machine's timeout.
const MIN_SLACK_SECONDS: f64 = 1.0;

/// The definition as Step Functions receives it, substitutions filled with example ARNs.
fn definition() -> Value {
    template().resolved_definition(|name| match name {
        "SqsSendMessage" => "arn:aws:states:::sqs:sendMessage".into(),
        "SnsPublish" => "arn:aws:states:::sns:publish".into(),
        "NotificationQueueUrl" => "https://sqs.eu-west-1.amazonaws.com/111122223333/q".into(),
        "FailedTransactionsTopicArn" => "arn:aws:sns:eu-west-1:111122223333:failed".into(),
        other => format!("arn:aws:lambda:eu-west-1:111122223333:function:{other}"),
    })
}

fn machine() -> &'static serde_yaml::Value {
    template().resource("PaymentStateMachine")
}

/// Every Task state of the definition, branches included.
fn tasks(definition: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (name, state) in definition["States"].as_object().unwrap() {
        match state["Type"].as_str() {
            Some("Task") => found.push((name.clone(), state.clone())),
            Some("Parallel") => {
                for branch in state["Branches"].as_array().unwrap() {
                    found.extend(tasks(branch));
                }
            }
            _ => {}
        }
    }
    found
}

fn lambda_tasks(definition: &Value) -> Vec<(String, Value)> {
    tasks(definition)
        .into_iter()
        .filter(|(_, s)| s["Resource"].as_str().unwrap().contains(":lambda:"))
        .collect()
}

#[test]
fn req_000_3_workflow_is_a_synchronous_express_state_machine() {
    assert_eq!(
        at(machine(), "Properties.StateMachineType").as_str(),
        Some("EXPRESS")
    );
    assert!(
        !at(machine(), "Properties.Definition").is_null(),
        "a Definition object, readable by linters"
    );
    assert!(at(machine(), "Properties.DefinitionString").is_null());
}

#[test]
fn req_000_3_validation_and_fraud_detection_run_in_parallel() {
    let definition = definition();
    let start = definition["StartAt"].as_str().unwrap();
    let first = &definition["States"][start];
    assert_eq!(first["Type"].as_str(), Some("Parallel"));
    let resources: Vec<String> = first["Branches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(tasks)
        .map(|(_, s)| s["Resource"].as_str().unwrap().to_string())
        .collect();
    assert!(
        resources
            .iter()
            .any(|r| r.ends_with("ValidatorFunctionArn"))
    );
    assert!(
        resources
            .iter()
            .any(|r| r.ends_with("FraudDetectorFunctionArn"))
    );
}

#[test]
fn req_000_3_lambda_tasks_retry_3_times_with_exponential_backoff_and_jitter() {
    let definition = definition();
    let lambda_tasks = lambda_tasks(&definition);
    assert_eq!(
        lambda_tasks.len(),
        4,
        "validate, score, settle, record decline"
    );
    for (name, state) in lambda_tasks {
        let retrier = &state["Retry"][0];
        assert_eq!(retrier["MaxAttempts"].as_u64(), Some(3), "{name}");
        assert!(
            retrier["BackoffRate"].as_f64().unwrap() > 1.0,
            "{name}: backoff must grow"
        );
        assert_eq!(retrier["JitterStrategy"].as_str(), Some("FULL"), "{name}");
        let errors: Vec<&str> = retrier["ErrorEquals"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            errors.contains(&"RetryableError"),
            "{name} retries the functions' retryable errors"
        );
        assert!(
            !errors.contains(&"States.ALL"),
            "{name}: rejections must not be retried"
        );
        assert!(
            !errors.contains(&"InvalidPayment"),
            "{name}: invalid input must not be retried"
        );
    }
}

#[test]
fn req_000_3_every_failure_is_caught_and_alerted() {
    let definition = definition();
    let states = definition["States"].as_object().unwrap();
    for (name, state) in states {
        let kind = state["Type"].as_str().unwrap();
        if kind != "Task" && kind != "Parallel" {
            continue;
        }
        let catchers = state["Catch"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no Catch"));
        let last = catchers.last().unwrap();
        assert_eq!(
            last["ErrorEquals"][0].as_str(),
            Some("States.ALL"),
            "{name} must catch everything last"
        );
    }
    let alert = &states["AlertFailure"];
    assert!(
        alert["Resource"]
            .as_str()
            .unwrap()
            .ends_with(":sns:publish")
    );
    assert!(
        alert["Parameters"]["TopicArn"]
            .as_str()
            .unwrap()
            .contains("failed")
    );
    assert_eq!(
        states[alert["Next"].as_str().unwrap()]["Type"].as_str(),
        Some("Fail")
    );
}

#[test]
fn req_000_3_workflow_finishes_within_60_seconds_and_the_api_timeout() {
    let budget = budget::analyse(&definition()).expect("every path is bounded");
    let timeout = budget
        .timeout_seconds
        .expect("the definition sets TimeoutSeconds");
    let api_ms = at(
        template().resource("PostTransactionMethod"),
        "Properties.Integration.TimeoutInMillis",
    )
    .as_u64()
    .unwrap();
    // H9: state transitions and invocation overhead are outside every task's timer; keep
    // room for them.
    assert!(
        budget.worst_seconds + MIN_SLACK_SECONDS <= timeout,
        "worst case {} s along {:?} leaves less than {MIN_SLACK_SECONDS} s of TimeoutSeconds {timeout}",
        budget.worst_seconds,
        budget.worst_path
    );
    assert!(
        timeout * 1000.0 < api_ms as f64,
        "the workflow must time out before the API does"
    );
    assert!(api_ms <= API_INTEGRATION_LIMIT_MS);
    assert!(timeout <= SPEC_LIMIT_SECONDS);
    generated::check(
        "src/generated/time-budget.md",
        &budget_table(&budget, timeout, api_ms),
    );
}

/// The table section 3 of the book includes.
fn budget_table(budget: &Budget, timeout: f64, api_ms: u64) -> String {
    let mut rows = String::from(
        "<!-- generated by req_000_3_workflow_finishes_within_60_seconds_and_the_api_timeout; \
         `cargo xtask regen` -->\n\
         | state | attempts | seconds per attempt | longest retry waits (s) | worst case (s) |\n\
         | --- | ---: | ---: | ---: | ---: |\n",
    );
    for cost in &budget.costs {
        rows += &format!(
            "| {} | {} | {} | {} | {} |\n",
            cost.state,
            cost.attempts,
            cost.attempt_seconds,
            cost.wait_seconds,
            cost.total()
        );
    }
    rows += &format!(
        "\nSlowest path: {}.\n\n\
         | bound | seconds |\n| --- | ---: |\n\
         | worst case of the slowest path | {} |\n\
         | state machine `TimeoutSeconds` | {timeout} |\n\
         | API integration timeout | {} |\n\
         | REQ-000-3 limit | {SPEC_LIMIT_SECONDS} |\n",
        budget.worst_path.join(" → "),
        budget.worst_seconds,
        api_ms as f64 / 1000.0
    );
    rows
}

#[test]
fn req_000_3_workflow_logs_without_execution_data_and_is_traced() {
    let logging = at(machine(), "Properties.LoggingConfiguration");
    let level = ref_target(&logging["Level"]).expect("the level is a parameter");
    assert_eq!(level, "WorkflowLogLevel");
    assert_eq!(
        logging["IncludeExecutionData"].as_bool(),
        Some(false),
        "execution data holds payment tokens"
    );
    assert_eq!(
        at(machine(), "Properties.TracingConfiguration.Enabled").as_bool(),
        Some(true)
    );
}

#[test]
fn design_replays_and_declines_are_recorded_by_settlement() {
    let definition = definition();
    let states = &definition["States"];
    assert_eq!(
        states["Settle"]["Parameters"]["decision"].as_str(),
        Some("APPROVED")
    );
    assert_eq!(
        states["RecordDecline"]["Parameters"]["decision"].as_str(),
        Some("DECLINED")
    );
    // Effects follow the committed record (the table's stream), never the workflow's
    // memory of who wrote it: no state queues, publishes or archives a settlement.
    for (name, state) in states.as_object().unwrap() {
        let resource = state["Resource"].as_str().unwrap_or("");
        assert!(
            !(resource.contains("sqs:") || resource.contains("sns:") && name != "AlertFailure"),
            "{name} must not announce a settlement"
        );
    }
    assert_eq!(states["Settle"]["Next"].as_str(), Some("Respond"));
}

#[test]
fn design_definition_passes_asl_validator() {
    let root = repo::root();
    let out = root.join("target/asl/payment-workflow.asl.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&definition()).unwrap()).unwrap();
    let validator = root.join("tools/node_modules/.bin/asl-validator");
    assert!(
        validator.exists(),
        "asl-validator is missing: run `cargo xtask setup`"
    );
    let output = Command::new(&validator)
        .arg("--json-path")
        .arg(&out)
        .output()
        .expect("asl-validator runs");
    assert!(
        output.status.success(),
        "asl-validator rejected {}:\n{}{}",
        out.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
