//! The `transactions`, `audit_logs` and `card-activity` tables as settlement writes them.
//!
//! Exactly-once is enforced by DynamoDB, not by the code: the claim is a conditional
//! `PutItem`, and completion is one `TransactWriteItems` whose record update holds only
//! while this attempt owns the claim, whose audit put holds only while no audit entry
//! exists, and whose card count holds only while the card's window is under its cap.

use crate::errors::{Cancellation, classify, classify_cancellation};
use crate::items::{Item, list, n, s};
use crate::transactions::{SERVICE, decision_from_item, read_decision};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use payments_core::errors::StoreError;
use payments_core::ports::{ClaimOutcome, CompleteOutcome, Completion, DecisionStore};
use payments_core::records::{Claim, DecisionRecord, StoredStatus};
use sha2::{Digest, Sha256};

// ANCHOR: conditions
/// A claim may be written when no record exists, or when the record is a claim whose
/// holder's time has run out (Powertools' EXPIRED).
const CLAIM_CONDITION: &str = "attribute_not_exists(transaction_id) OR (#status = :in_progress AND in_progress_expiry_ms < :now)";
/// Completion, and the release of a failed attempt's claim, hold only while this attempt
/// still owns the claim.
const OWNER_CONDITION: &str = "#status = :in_progress AND attempt_id = :attempt";
/// A settlement counts only while its card's window is under the cap.
const CARD_CAP_CONDITION: &str = "attribute_not_exists(payments) OR payments < :max";
// ANCHOR_END: conditions

/// Positions of the completing transaction's items, for its cancellation reasons.
const RECORD_ITEM: usize = 0;
const AUDIT_ITEM: usize = 1;
const CARD_ITEM: usize = 2;

#[derive(Clone)]
pub struct DynamoDecisions {
    client: Client,
    transactions: String,
    audit_logs: String,
    card_activity: String,
}

impl DynamoDecisions {
    pub fn new(
        config: &aws_config::SdkConfig,
        transactions: String,
        audit_logs: String,
        card_activity: String,
    ) -> Self {
        DynamoDecisions {
            client: Client::new(config),
            transactions,
            audit_logs,
            card_activity,
        }
    }
}

/// DynamoDB's idempotency token for one completing transaction: at most 36 characters,
/// the same for the SDK's retries of it and different for the second (declined) one.
fn request_token(attempt_id: &str, status: StoredStatus) -> String {
    let digest = Sha256::digest(format!("{attempt_id}|{}", status.as_str()).as_bytes());
    hex::encode(digest)[..36].to_string()
}

impl DecisionStore for DynamoDecisions {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let item: Item = [
            ("transaction_id", s(&claim.transaction_id)),
            ("merchant_id", s(&claim.merchant_id)),
            ("created_at", s(&claim.created_at)),
            ("status", s(StoredStatus::InProgress.as_str())),
            ("attempt_id", s(&claim.attempt_id)),
            ("in_progress_expiry_ms", n(claim.in_progress_expiry_ms)),
            ("payload_hash", s(&claim.payload_hash)),
            ("amount_minor", n(claim.amount_minor)),
            ("currency", s(&claim.currency)),
            ("token_fingerprint", s(&claim.token_fingerprint)),
            ("country", s(&claim.country)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let written = self
            .client
            .put_item()
            .table_name(&self.transactions)
            .set_item(Some(item))
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(StoredStatus::InProgress.as_str()))
            .expression_attribute_values(":now", n(claim.now_ms))
            // The record that failed the condition comes back with the error: no extra
            // read, and an SDK retry of an applied claim sees its own attempt id (F8).
            // Source: DynamoDB API reference, PutItem ReturnValuesOnConditionCheckFailure.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match written {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let record = match failed.item() {
                        Some(item) => Some(decision_from_item(item, &claim.transaction_id)?),
                        None => self.get(&claim.transaction_id).await?,
                    };
                    match record {
                        Some(record) => Ok(ClaimOutcome::Exists(Box::new(record))),
                        // Released in between: nothing to replay, the next try claims afresh.
                        None => Err(StoreError::Unavailable {
                            service: SERVICE,
                            detail: "the record vanished while claiming".into(),
                        }),
                    }
                }
                _ => Err(classify(SERVICE, error)),
            },
        }
    }

    async fn complete(&self, completion: &Completion) -> Result<CompleteOutcome, StoreError> {
        let (claim, result, audit, card) = (
            &completion.claim,
            &completion.result,
            &completion.audit,
            &completion.card,
        );
        let status = StoredStatus::of(result.outcome);
        // The outbox marker is committed with the decision itself (F1): the stream
        // delivers the record to the notifier however this invocation's answer is lost.
        let mut update = Update::builder()
            .table_name(&self.transactions)
            .key("transaction_id", s(&claim.transaction_id))
            .update_expression(record_update_text(
                completion.notification_pending.is_some(),
            ))
            .condition_expression(OWNER_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":outcome", s(status.as_str()))
            .expression_attribute_values(":score", n(result.fraud_score))
            .expression_attribute_values(":reasons", list(&result.reasons))
            .expression_attribute_values(":at", s(&result.recorded_at))
            .expression_attribute_values(":in_progress", s(StoredStatus::InProgress.as_str()))
            .expression_attribute_values(":attempt", s(&claim.attempt_id));
        if let Some(shard) = &completion.notification_pending {
            update = update.expression_attribute_values(":pending", s(shard));
        }
        let update = update
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let entry: Item = [
            ("transaction_id", s(&audit.transaction_id)),
            ("event", s(&audit.event)),
            ("outcome", s(status.as_str())),
            ("merchant_id", s(&audit.merchant_id)),
            ("attempt_id", s(&audit.attempt_id)),
            ("fraud_score", n(audit.fraud_score)),
            ("reasons", list(&audit.reasons)),
            ("recorded_at", s(&audit.recorded_at)),
            ("expires_at", n(audit.expires_at)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let put = Put::builder()
            .table_name(&self.audit_logs)
            .set_item(Some(entry))
            .condition_expression("attribute_not_exists(transaction_id)")
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut count = Update::builder()
            .table_name(&self.card_activity)
            .key("card_key", s(&card.card_key))
            .update_expression("SET last_amount_minor = :amount, last_currency = :currency, last_at_ms = :at_ms, last_transaction_id = :txn, expires_at = :expires ADD payments :one")
            .expression_attribute_values(":amount", n(card.amount_minor))
            .expression_attribute_values(":currency", s(&card.currency))
            .expression_attribute_values(":at_ms", n(card.at_ms))
            .expression_attribute_values(":txn", s(&card.transaction_id))
            .expression_attribute_values(":expires", n(card.expires_at))
            .expression_attribute_values(":one", n(1));
        if let Some(cap) = card.cap {
            count = count
                .condition_expression(CARD_CAP_CONDITION)
                .expression_attribute_values(":max", n(cap));
        }
        let count = count
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        // ANCHOR: transaction
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .client_request_token(request_token(&claim.attempt_id, status))
            .send()
            .await;
        match written {
            Ok(_) => Ok(CompleteOutcome::Recorded),
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    match classify_cancellation(cancelled, &[RECORD_ITEM, AUDIT_ITEM], CARD_ITEM) {
                        Cancellation::ClaimLost => Ok(CompleteOutcome::ClaimLost),
                        Cancellation::CardCapReached => Ok(CompleteOutcome::CardCapReached),
                        Cancellation::Transient(detail) => Err(StoreError::Unavailable {
                            service: SERVICE,
                            detail,
                        }),
                        Cancellation::Refused(detail) => Err(StoreError::Refused {
                            service: SERVICE,
                            detail,
                        }),
                    }
                }
                Some(TransactWriteItemsError::IdempotentParameterMismatchException(_)) => {
                    Ok(CompleteOutcome::ClaimLost)
                }
                _ => Err(classify(SERVICE, error)),
            },
        }
        // ANCHOR_END: transaction
    }

    async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.transactions)
            .key("transaction_id", s(&claim.transaction_id))
            .condition_expression(OWNER_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(StoredStatus::InProgress.as_str()))
            .expression_attribute_values(":attempt", s(&claim.attempt_id))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(error) => match error.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(classify(SERVICE, error)),
            },
        }
    }

    async fn get(&self, transaction_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        read_decision(&self.client, &self.transactions, transaction_id).await
    }
}

fn record_update_text(with_marker: bool) -> String {
    let mut text = "SET #status = :status, outcome = :outcome, fraud_score = :score, reasons = :reasons, recorded_at = :at".to_string();
    if with_marker {
        text.push_str(", notification_pending = :pending");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_tokens_fit_dynamodb_limits_and_differ_per_decision() {
        let attempt = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let settled = request_token(attempt, StoredStatus::Settled);
        assert_eq!(settled.len(), 36);
        assert_eq!(settled, request_token(attempt, StoredStatus::Settled));
        assert_ne!(settled, request_token(attempt, StoredStatus::Declined));
        assert_ne!(settled, request_token("another", StoredStatus::Settled));
    }
}
