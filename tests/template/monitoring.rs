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
