//! 000 §C7, seeds 001/002/004: alarms, tracing, dashboard, Logs Insights queries.

use crate::{FUNCTIONS, template};
use payment_workflow_book::template::{at, ref_target, sub_text};
use serde_yaml::Value;

fn alarms() -> Vec<(&'static str, &'static Value)> {
    template().of_type("AWS::CloudWatch::Alarm")
}

/// The function a metric-math alarm watches, with its threshold and expression.
fn error_rate_alarm(function: &str) -> Option<&'static Value> {
    alarms().into_iter().map(|(_, a)| a).find(|alarm| {
        let metrics = at(alarm, "Properties.Metrics");
        metrics.as_sequence().is_some_and(|list| {
            list.iter().any(|m| {
                m["MetricStat"]["Metric"]["MetricName"].as_str() == Some("Errors")
                    && ref_target(&m["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
                        == Some(function)
            })
        })
    })
}

#[test]
fn req_000_7_every_function_alarms_when_more_than_1_percent_of_invocations_fail() {
    for (prefix, _, _) in FUNCTIONS {
        let function = format!("{prefix}Function");
        let alarm = error_rate_alarm(&function)
            .unwrap_or_else(|| panic!("no error-rate alarm for {function}"));
        assert_eq!(
            at(alarm, "Properties.Threshold").as_f64(),
            Some(1.0),
            "{function}"
        );
        assert_eq!(
            at(alarm, "Properties.ComparisonOperator").as_str(),
            Some("GreaterThanThreshold")
        );
        let expression = at(alarm, "Properties.Metrics")
            .as_sequence()
            .unwrap()
            .iter()
            .find_map(|m| m["Expression"].as_str())
            .expect("a rate expression");
        assert!(
            expression.contains("100 * errors / invocations"),
            "{function}: {expression}"
        );
    }
}

#[test]
fn req_000_7_api_alarms_when_more_than_5_percent_of_requests_get_4xx() {
    let alarm = template().resource("Api4xxRateAlarm");
    let properties = at(alarm, "Properties");
    assert_eq!(properties["MetricName"].as_str(), Some("4XXError"));
    assert_eq!(
        properties["Statistic"].as_str(),
        Some("Average"),
        "the average of 4XXError is the rate"
    );
    assert_eq!(properties["Threshold"].as_f64(), Some(0.05));
    assert_eq!(
        properties["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
}

#[test]
fn req_000_7_alarms_notify_and_say_what_to_do() {
    for (id, alarm) in alarms() {
        let properties = at(alarm, "Properties");
        assert_eq!(
            ref_target(&properties["AlarmActions"][0]),
            Some("AlertsTopic"),
            "{id}"
        );
        assert_eq!(
            properties["TreatMissingData"].as_str(),
            Some("notBreaching"),
            "{id}"
        );
        let description = properties["AlarmDescription"].as_str().unwrap_or("");
        assert!(
            description.len() > 80,
            "{id}: the description must tell the operator what to do"
        );
        assert!(
            sub_text(&properties["AlarmName"])
                .unwrap()
                .ends_with("-${EnvironmentSuffix}"),
            "{id}"
        );
    }
}

#[test]
fn req_000_7_all_components_are_traced_with_xray() {
    let t = template();
    assert_eq!(
        at(t.resource("ApiStage"), "Properties.TracingEnabled").as_bool(),
        Some(true)
    );
    assert_eq!(
        at(
            t.resource("PaymentStateMachine"),
            "Properties.TracingConfiguration.Enabled"
        )
        .as_bool(),
        Some(true)
    );
    for (id, function) in t.of_type("AWS::Lambda::Function") {
        assert_eq!(
            at(function, "Properties.TracingConfig.Mode").as_str(),
            Some("Active"),
            "{id}"
        );
    }
}

#[test]
fn req_002_dlq_throttle_and_workflow_failures_have_alarms() {
    let watched: Vec<String> = alarms()
        .iter()
        .filter_map(|(_, a)| at(a, "Properties.MetricName").as_str().map(str::to_string))
        .collect();
    for metric in [
        "ApproximateNumberOfMessagesVisible",
        "Throttles",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    ] {
        assert!(watched.iter().any(|m| m == metric), "no alarm on {metric}");
    }
}

#[test]
fn req_004_dashboard_exists_and_its_url_is_exported() {
    let t = template();
    assert_eq!(t.of_type("AWS::CloudWatch::Dashboard").len(), 1);
    let output = &t.doc["Outputs"]["DashboardUrl"];
    assert!(
        sub_text(&output["Value"])
            .unwrap()
            .contains("#dashboards:name=${OperationsDashboard}")
    );
    assert!(!output["Export"].is_null());
    let body = sub_text(at(
        t.resource("OperationsDashboard"),
        "Properties.DashboardBody",
    ))
    .unwrap();
    for metric in ["Invocations", "Errors", "Duration"] {
        assert!(
            body.contains(metric),
            "the dashboard shows Lambda {metric} (seed 004)"
        );
    }
}

#[test]
fn req_001_logs_insights_queries_are_saved() {
    let queries = template().of_type("AWS::Logs::QueryDefinition");
    assert!(queries.len() >= 3);
    for (id, query) in queries {
        assert!(
            !at(query, "Properties.LogGroupNames")
                .as_sequence()
                .unwrap()
                .is_empty(),
            "{id}"
        );
    }
}

#[test]
fn design_the_runbook_lists_every_alarm_with_what_to_do() {
    let mut table = String::from(
        "<!-- generated by design_the_runbook_lists_every_alarm_with_what_to_do; `cargo xtask regen` -->\n\
         | alarm | what to do |\n| --- | --- |\n",
    );
    for (_, alarm) in alarms() {
        let name = sub_text(&alarm["Properties"]["AlarmName"])
            .unwrap()
            .replace("${EnvironmentSuffix}", "<env>");
        let description = alarm["Properties"]["AlarmDescription"]
            .as_str()
            .unwrap()
            .replace('|', "/");
        table += &format!("| `{name}` | {description} |\n");
    }
    payment_workflow_book::generated::check("src/generated/alarm-runbook.md", &table);
}

/// H3: with execution logging on, API Gateway writes to `API-Gateway-Execution-Logs_<api>/<stage>`
/// and creates that group itself, unencrypted and kept for ever, unless it exists: the stack
/// owns it, encrypted and expiring, and the stage is created after it.
#[test]
fn design_api_execution_logs_are_owned_encrypted_and_expire() {
    let t = template();
    let group = at(t.resource("ApiExecutionLogGroup"), "Properties");
    let stage = at(t.resource("ApiStage"), "Properties.StageName")
        .as_str()
        .unwrap();
    assert_eq!(
        sub_text(&group["LogGroupName"]),
        Some(format!("API-Gateway-Execution-Logs_${{PaymentApi}}/{stage}").as_str())
    );
    assert!(group["RetentionInDays"].as_u64().is_some());
    assert!(!group["KmsKeyId"].is_null());
    let depends = &t.resource("ApiStage")["DependsOn"];
    assert!(
        depends
            .as_sequence()
            .unwrap()
            .iter()
            .any(|d| d.as_str() == Some("ApiExecutionLogGroup")),
        "the stage must not log before the group exists"
    );
}

/// H6: a throttle alarm must point at something an operator can open: Contributor Insights
/// on the tables and the merchant index, and read throttles watched with writes.
#[test]
fn design_throttle_alarms_can_be_acted_on() {
    let t = template();
    for id in ["TransactionsTable", "CardActivityTable"] {
        assert_eq!(
            at(
                t.resource(id),
                "Properties.ContributorInsightsSpecification.Enabled"
            )
            .as_bool(),
            Some(true),
            "{id}"
        );
    }
    let merchant_index = at(
        t.resource("TransactionsTable"),
        "Properties.GlobalSecondaryIndexes.0",
    );
    assert_eq!(
        merchant_index["IndexName"].as_str(),
        Some("merchant_id-created_at-index")
    );
    assert_eq!(
        merchant_index["ContributorInsightsSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    let metrics: Vec<&str> = at(
        t.resource("TransactionsThrottleAlarm"),
        "Properties.Metrics",
    )
    .as_sequence()
    .unwrap()
    .iter()
    .filter_map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str())
    .collect();
    assert!(metrics.contains(&"ReadThrottleEvents") && metrics.contains(&"WriteThrottleEvents"));
}

/// H4: every state of every execution is logged in dev; production keeps errors only, since
/// ALL is about 20 log events per payment at the stage's rate.
#[test]
fn design_workflow_logs_everything_in_dev_and_errors_in_production() {
    for (env, level) in [("dev", "ALL"), ("staging", "ERROR"), ("prod", "ERROR")] {
        let path = payment_workflow_book::repo::root().join(format!("templates/params/{env}.json"));
        let params: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let value = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["ParameterKey"] == "WorkflowLogLevel")
            .map(|p| p["ParameterValue"].as_str().unwrap());
        assert_eq!(value, Some(level), "{env}");
    }
}

/// PCI DSS 10.7.2: failures of security controls reach the alerts topic. The event names are
/// CloudTrail's: KMS `DisableKey` / `ScheduleKeyDeletion` (KMS Developer Guide, "Logging AWS KMS
/// API calls with AWS CloudTrail"), Secrets Manager's `RotationFailed` (Secrets Manager User
/// Guide, "AWS CloudTrail entries for Secrets Manager", rotation entries) and WAF's
/// `DeleteLoggingConfiguration` (WAFv2 API). EventBridge receives CloudTrail management
/// events only where a trail records them (EventBridge User Guide, "Events from AWS services"):
/// the organisation trail is a prerequisite (section 4.2).
#[test]
fn design_security_control_failures_alert_the_operators() {
    let rule = template().resource("SecurityControlFailureRule");
    let pattern = at(rule, "Properties.EventPattern");
    let list = |value: &Value| -> Vec<String> {
        value
            .as_sequence()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut sources = list(&pattern["source"]);
    sources.sort();
    assert_eq!(sources, ["aws.kms", "aws.secretsmanager", "aws.wafv2"]);
    let events = list(&pattern["detail"]["eventName"]);
    for event in [
        "DisableKey",
        "ScheduleKeyDeletion",
        "RotationFailed",
        "DeleteLoggingConfiguration",
    ] {
        assert!(events.iter().any(|e| e == event), "{event} is not matched");
    }
    assert_eq!(at(rule, "Properties.State").as_str(), Some("ENABLED"));
    let targets = at(rule, "Properties.Targets")
        .as_sequence()
        .expect("targets");
    assert!(
        targets
            .iter()
            .any(|t| ref_target(&t["Arn"]) == Some("AlertsTopic")),
        "the rule must notify the alerts topic"
    );
}

/// A saved query that reads Lambda's `platform.report` records needs them written: Lambda
/// emits `start` and `report` only at system log level INFO or finer ("By default, Lambda
/// sets the system log level to INFO. With this setting, Lambda automatically sends `start`
/// and `report` log messages to CloudWatch" — Lambda Developer Guide, "Log-level filtering").
/// At WARN the latency query returns no rows on AWS, silently.
#[test]
fn design_the_latency_query_reads_records_every_function_it_names_writes() {
    let query = template().resource("LatencyQuery");
    assert!(
        at(query, "Properties.QueryString")
            .as_str()
            .is_some_and(|q| q.contains("platform.report"))
    );
    let groups = at(query, "Properties.LogGroupNames")
        .as_sequence()
        .expect("log groups");
    for group in groups {
        let group = ref_target(group).expect("a Ref to a stack log group");
        let (function, _) = template()
            .of_type("AWS::Lambda::Function")
            .into_iter()
            .find(|(_, f)| ref_target(at(f, "Properties.LoggingConfig.LogGroup")) == Some(group))
            .unwrap_or_else(|| panic!("no function logs to {group}"));
        let level = at(
            template().resource(function),
            "Properties.LoggingConfig.SystemLogLevel",
        )
        .as_str()
        .unwrap_or("INFO");
        assert!(
            matches!(level, "INFO" | "DEBUG"),
            "{function} writes no platform.report at system level {level}"
        );
    }
}
