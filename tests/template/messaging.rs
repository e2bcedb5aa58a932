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
