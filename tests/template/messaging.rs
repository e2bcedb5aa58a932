//! 000 §C6 and seed 001: topics with e-mail subscriptions, the notification queue and its DLQ.

use crate::template;
use payment_workflow_book::template::{at, getatt_target, ref_target};

#[test]
fn req_000_6_alert_and_failed_transaction_topics_have_email_subscriptions() {
    let t = template();
    for id in ["AlertsTopic", "FailedTransactionsTopic"] {
        let subscription = at(t.resource(id), "Properties.Subscription.0");
        assert_eq!(subscription["Protocol"].as_str(), Some("email"), "{id}");
        assert_eq!(
            ref_target(&subscription["Endpoint"]),
            Some("AlertEmail"),
            "{id}"
        );
    }
}

/// SNS suspends an e-mail subscription that receives more than 10 messages a second; a
/// message per settled payment would reach that at 10 payments a second and silence the
/// alarms sharing the subscription (Appendix F). Per-payment messages go to a topic for
/// systems.
#[test]
fn design_settled_payments_are_announced_on_a_topic_without_email_subscribers() {
    let t = template();
    let env = at(
        t.resource("NotificationFunction"),
        "Properties.Environment.Variables",
    );
    let topic = ref_target(&env["SETTLEMENTS_TOPIC_ARN"]).expect("a !Ref to a topic");
    let resource = t.resource(topic);
    assert_eq!(resource["Type"].as_str(), Some("AWS::SNS::Topic"));
    assert!(
        at(resource, "Properties.Subscription").is_null(),
        "{topic} must have no e-mail (or any inline) subscription"
    );
    assert!(
        !at(resource, "Properties.KmsMasterKeyId").is_null(),
        "{topic} is encrypted"
    );
    for (id, function) in t.of_type("AWS::Lambda::Function") {
        let vars = at(function, "Properties.Environment.Variables");
        for target in ["AlertsTopic", "FailedTransactionsTopic"] {
            let referenced = vars
                .as_mapping()
                .into_iter()
                .flatten()
                .any(|(_, v)| ref_target(v) == Some(target));
            assert!(
                !referenced,
                "{id} must not publish to the e-mailed {target}"
            );
        }
    }
}

#[test]
fn req_001_dead_letter_queue_keeps_messages_14_days() {
    let t = template();
    let trigger = t.resource("NotificationStreamTrigger");
    let dlq = getatt_target(at(
        trigger,
        "Properties.DestinationConfig.OnFailure.Destination",
    ))
    .expect("the stream mapping parks failures in a queue")
    .0;
    assert_eq!(
        at(t.resource(dlq), "Properties.MessageRetentionPeriod").as_u64(),
        Some(14 * 24 * 3600)
    );
}

/// The outbox relay: the notification function reads the committed records from the
/// transactions table's stream, only settled payments still pending a receipt.
#[test]
fn design_receipts_follow_the_committed_record_through_the_table_stream() {
    let t = template();
    let trigger = t.resource("NotificationStreamTrigger");
    assert_eq!(
        getatt_target(at(trigger, "Properties.EventSourceArn")),
        Some(("TransactionsTable", "StreamArn"))
    );
    assert_eq!(
        ref_target(at(trigger, "Properties.FunctionName")),
        Some("NotificationFunction")
    );
    assert!(
        !at(
            t.resource("TransactionsTable"),
            "Properties.StreamSpecification.StreamViewType"
        )
        .is_null(),
        "the table must have a stream"
    );
    let pattern = at(trigger, "Properties.FilterCriteria.Filters.0.Pattern")
        .as_str()
        .expect("a filter pattern");
    let pattern: serde_json::Value = serde_json::from_str(pattern).expect("the pattern is JSON");
    let image = &pattern["dynamodb"]["NewImage"];
    assert_eq!(image["status"]["S"], serde_json::json!(["SETTLED"]));
    // DynamoDB filters match at the leaf: `exists` on the attribute value, not the attribute.
    assert_eq!(
        image["notification_pending"]["S"],
        serde_json::json!([{"exists": true}])
    );
}

/// A failing record is retried alone (bisect, partial batch response) a bounded number of
/// times, then parked: the default, unlimited retries would hold its shard for 24 hours.
#[test]
fn design_notification_failures_are_isolated_bounded_and_parked() {
    let trigger = at(
        template().resource("NotificationStreamTrigger"),
        "Properties",
    );
    assert_eq!(
        trigger["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert_eq!(trigger["BisectBatchOnFunctionError"].as_bool(), Some(true));
    let retries = trigger["MaximumRetryAttempts"]
        .as_u64()
        .expect("bounded retries");
    assert!((1..=10).contains(&retries));
    assert!(trigger["MaximumRecordAgeInSeconds"].as_u64().is_some());
    assert!(!at(trigger, "DestinationConfig.OnFailure.Destination").is_null());
}
