//! A DynamoDB stream batch, handled one record at a time with partial batch responses.
//!
//! A record that fails is reported by its `SequenceNumber` and processing stops there:
//! Lambda checkpoints before the lowest failed sequence number and retries every record
//! from it, so later records would be delivered again anyway. A record is started only
//! while the invocation has time for it; otherwise it is reported, so the batch ends
//! before the deadline instead of failing whole. An empty or null `itemIdentifier` would
//! fail the whole batch, so a record without a sequence number fails the invocation
//! instead (Lambda retries and bisects it). Source: AWS Lambda Developer Guide,
//! "Configuring partial batch response with DynamoDB and Lambda".

use crate::lambda::Failure;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use payments_core::ErrorClass;
use std::future::Future;

/// The record's `transaction_id` key.
pub fn transaction_id(record: &EventRecord) -> Result<String, Failure> {
    let keys = serde_json::to_value(&record.change.keys).unwrap_or_default();
    keys["transaction_id"]["S"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Failure {
            class: ErrorClass::Fatal,
            message: "a stream record without a string transaction_id key".into(),
        })
}

/// Runs `handle` on each record's transaction id, in order, while `time_left()` stays at
/// or above `budget_ms`; answers the batch's failures.
pub async fn each_record<F, Fut>(
    records: &[EventRecord],
    budget_ms: u64,
    time_left: impl Fn() -> u64,
    mut handle: F,
) -> Result<DynamoDbEventResponse, Failure>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let mut response = DynamoDbEventResponse::default();
    for record in records {
        let sequence_number = record
            .change
            .sequence_number
            .clone()
            .ok_or_else(|| Failure {
                class: ErrorClass::Fatal,
                message: "a stream record without a SequenceNumber".into(),
            })?;
        let outcome = if time_left() < budget_ms {
            Err(Failure {
                class: ErrorClass::Retryable,
                message: "out of time: the rest of the batch is retried".into(),
            })
        } else {
            match transaction_id(record) {
                Ok(id) => handle(id).await,
                Err(failure) => Err(failure),
            }
        };
        if let Err(failure) = outcome {
            tracing::warn!(
                %sequence_number,
                error_type = failure.class.error_type(),
                message = %failure.message,
                "record failed: the stream retries from it"
            );
            let mut item = DynamoDbBatchItemFailure::default();
            item.item_identifier = Some(sequence_number);
            response.batch_item_failures.push(item);
            break;
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use payments_core::memory::block_on;
    use serde_json::json;
    use std::cell::RefCell;

    fn record(id: &str, sequence: Option<&str>) -> EventRecord {
        let mut change = json!({"Keys": {"transaction_id": {"S": id}}, "SizeBytes": 10});
        if let Some(sequence) = sequence {
            change["SequenceNumber"] = json!(sequence);
        }
        serde_json::from_value(json!({
            "awsRegion": "eu-west-1", "eventID": "e", "eventName": "MODIFY", "dynamodb": change
        }))
        .unwrap()
    }

    fn failures(response: &DynamoDbEventResponse) -> Vec<String> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone().unwrap())
            .collect()
    }

    #[test]
    fn a_failing_record_is_reported_and_ends_the_batch() {
        let records = [
            record("a", Some("1")),
            record("b", Some("2")),
            record("c", Some("3")),
        ];
        let seen = RefCell::new(Vec::new());
        let response = block_on(each_record(
            &records,
            0,
            || 1,
            |id| {
                seen.borrow_mut().push(id.clone());
                async move {
                    if id == "b" {
                        Err(Failure {
                            class: ErrorClass::Retryable,
                            message: "x".into(),
                        })
                    } else {
                        Ok(())
                    }
                }
            },
        ))
        .unwrap();
        assert_eq!(failures(&response), vec!["2"]);
        assert_eq!(
            *seen.borrow(),
            vec!["a", "b"],
            "c is retried from the checkpoint"
        );
    }

    #[test]
    fn a_whole_batch_succeeds_with_no_failures() {
        let records = [record("a", Some("1")), record("b", Some("2"))];
        let response = block_on(each_record(&records, 0, || 1, |_| async { Ok(()) })).unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": []})
        );
    }

    #[test]
    fn a_record_is_started_with_exactly_its_budget_left_and_not_with_less() {
        let records = [record("a", Some("1"))];
        let handled = |left: u64| {
            let response =
                block_on(each_record(&records, 600, || left, |_| async { Ok(()) })).unwrap();
            failures(&response).is_empty()
        };
        assert!(handled(600));
        assert!(!handled(599));
    }

    #[test]
    fn out_of_time_the_next_record_is_reported_not_started() {
        let records = [record("a", Some("1")), record("b", Some("2"))];
        let left = RefCell::new(1_000u64);
        let response = block_on(each_record(
            &records,
            600,
            || *left.borrow(),
            |_| {
                *left.borrow_mut() = 500;
                async { Ok(()) }
            },
        ))
        .unwrap();
        assert_eq!(failures(&response), vec!["2"]);
    }

    #[test]
    fn a_record_without_sequence_number_fails_the_invocation_and_one_without_key_is_reported() {
        let error = block_on(each_record(
            &[record("a", None)],
            0,
            || 1,
            |_| async { Ok(()) },
        ));
        assert_eq!(error.unwrap_err().class, ErrorClass::Fatal);
        let mut keyless = record("a", Some("9"));
        keyless.change =
            serde_json::from_value(json!({"Keys": {}, "SizeBytes": 1, "SequenceNumber": "9"}))
                .unwrap();
        let response = block_on(each_record(&[keyless], 0, || 1, |_| async { Ok(()) })).unwrap();
        assert_eq!(failures(&response), vec!["9"]);
    }
}
