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

#[test]
fn req_001_dead_letter_queue_keeps_messages_14_days() {
    let t = template();
    let redrive = at(t.resource("NotificationQueue"), "Properties.RedrivePolicy");
    let dlq = getatt_target(&redrive["deadLetterTargetArn"]).unwrap().0;
    assert_eq!(
        at(t.resource(dlq), "Properties.MessageRetentionPeriod").as_u64(),
        Some(14 * 24 * 3600)
    );
    assert!(redrive["maxReceiveCount"].as_u64().unwrap() >= 1);
    for (id, queue) in t.of_type("AWS::SQS::Queue") {
        let is_dlq = id == dlq;
        assert!(
            is_dlq || !at(queue, "Properties.RedrivePolicy").is_null(),
            "{id} needs a DLQ"
        );
    }
}

#[test]
fn design_queue_visibility_is_six_times_the_consumer_timeout() {
    let t = template();
    let timeout = at(t.resource("NotificationFunction"), "Properties.Timeout")
        .as_u64()
        .unwrap();
    let visibility = at(
        t.resource("NotificationQueue"),
        "Properties.VisibilityTimeout",
    )
    .as_u64()
    .unwrap();
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} s < 6 × {timeout} s"
    );
}

#[test]
fn design_notification_reports_partial_batch_failures() {
    let trigger = template().resource("NotificationQueueTrigger");
    let types = at(trigger, "Properties.FunctionResponseTypes");
    assert_eq!(types[0].as_str(), Some("ReportBatchItemFailures"));
    let cap = at(trigger, "Properties.ScalingConfig.MaximumConcurrency")
        .as_u64()
        .unwrap();
    let reserved = at(
        template().resource("NotificationFunction"),
        "Properties.ReservedConcurrentExecutions",
    );
    assert!(
        cap <= reserved.as_u64().unwrap(),
        "the queue must not drive the function into throttling"
    );
}
