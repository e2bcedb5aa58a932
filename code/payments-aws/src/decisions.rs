//! The `transactions` and `audit_logs` tables as the settlement and fraud ports need them.
//!
//! Exactly-once is enforced by DynamoDB, not by the code: the claim is a conditional
//! `PutItem`, and completion is one `TransactWriteItems` whose update holds only while this
//! attempt owns the claim and whose audit put holds only while no audit entry exists.

use crate::errors::classify;
use crate::items::{Item, get_n, get_s, get_strings, list, n, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use payments_core::errors::StoreError;
use payments_core::fraud::RecentPayment;
use payments_core::idempotency::{DecisionRecord, StoredStatus};
use payments_core::ports::{ClaimOutcome, CompleteOutcome, DecisionStore, PaymentHistory};
use payments_core::settlement::{AuditEntry, Claim, Outcome, SettlementResult};
use payments_core::time::{parse_rfc3339_millis, rfc3339_millis};

const SERVICE: &str = "DynamoDB";

// ANCHOR: conditions
/// A claim may be written when no record exists, or when the record is a claim whose
/// holder's time has run out (Powertools' EXPIRED).
const CLAIM_CONDITION: &str = "attribute_not_exists(transaction_id) OR (#status = :in_progress AND in_progress_expiry_ms < :now)";
/// Completion holds only while this attempt still owns the claim.
const OWNER_CONDITION: &str = "#status = :in_progress AND attempt_id = :attempt";
// ANCHOR_END: conditions

#[derive(Clone)]
pub struct DynamoDecisions {
    client: Client,
    transactions: String,
    audit_logs: String,
    merchant_index: String,
}

impl DynamoDecisions {
    pub fn new(
        config: &aws_config::SdkConfig,
        transactions: String,
        audit_logs: String,
        merchant_index: String,
    ) -> Self {
        DynamoDecisions {
            client: Client::new(config),
            transactions,
            audit_logs,
            merchant_index,
        }
    }
}

/// DynamoDB's idempotency token for a transaction: at most 36 characters.
fn request_token(attempt_id: &str) -> String {
    attempt_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(36)
        .collect()
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
            .send()
            .await;
        match written {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(error) if error.code() == Some("ConditionalCheckFailedException") => {
                match self.get(&claim.transaction_id).await? {
                    Some(record) => Ok(ClaimOutcome::Exists(Box::new(record))),
                    // Deleted in between: nothing to replay, the next attempt claims afresh.
                    None => Err(StoreError::Unavailable {
                        service: SERVICE,
                        detail: "record vanished".into(),
                    }),
                }
            }
            Err(error) => Err(classify(SERVICE, error)),
        }
    }

    async fn complete(
        &self,
        claim: &Claim,
        result: &SettlementResult,
        audit: &AuditEntry,
    ) -> Result<CompleteOutcome, StoreError> {
        let status = StoredStatus::of(result.outcome).as_str();
        let update = Update::builder()
            .table_name(&self.transactions)
            .key("transaction_id", s(&claim.transaction_id))
            .update_expression(
                "SET #status = :status, outcome = :outcome, fraud_score = :score, reasons = :reasons, recorded_at = :at",
            )
            .condition_expression(OWNER_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":outcome", s(status))
            .expression_attribute_values(":score", n(result.fraud_score))
            .expression_attribute_values(":reasons", list(&result.reasons))
            .expression_attribute_values(":at", s(&result.recorded_at))
            .expression_attribute_values(":in_progress", s(StoredStatus::InProgress.as_str()))
            .expression_attribute_values(":attempt", s(&claim.attempt_id))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let entry: Item = [
            ("transaction_id", s(&audit.transaction_id)),
            ("event", s(&audit.event)),
            ("outcome", s(status)),
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
        // ANCHOR: transaction
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .client_request_token(request_token(&claim.attempt_id))
            .send()
            .await;
        match written {
            Ok(_) => Ok(CompleteOutcome::Recorded),
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let lost = cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed"));
                    if lost {
                        Ok(CompleteOutcome::ClaimLost)
                    } else {
                        Err(classify(SERVICE, error))
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

    async fn get(&self, transaction_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let read = self
            .client
            .get_item()
            .table_name(&self.transactions)
            .key("transaction_id", s(transaction_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(SERVICE, e))?;
        read.item().map(record_from_item).transpose()
    }
}

fn record_from_item(item: &Item) -> Result<DecisionRecord, StoreError> {
    let status_text = get_s(item, "status")?;
    let status = StoredStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Malformed(format!("unknown status {status_text}")))?;
    let outcome = match status {
        StoredStatus::InProgress => None,
        StoredStatus::Settled => Some(Outcome::Settled),
        StoredStatus::Declined => Some(Outcome::Declined),
    };
    let result = match outcome {
        None => None,
        Some(outcome) => Some(SettlementResult {
            transaction_id: get_s(item, "transaction_id")?,
            merchant_id: get_s(item, "merchant_id")?,
            outcome,
            replayed: false,
            amount_minor: get_n(item, "amount_minor")?,
            currency: get_s(item, "currency")?,
            fraud_score: get_n(item, "fraud_score")?,
            reasons: get_strings(item, "reasons")?,
            recorded_at: get_s(item, "recorded_at")?,
        }),
    };
    Ok(DecisionRecord {
        transaction_id: get_s(item, "transaction_id")?,
        status,
        attempt_id: get_s(item, "attempt_id")?,
        in_progress_expiry_ms: get_n(item, "in_progress_expiry_ms")?,
        payload_hash: get_s(item, "payload_hash")?,
        result,
    })
}

impl PaymentHistory for DynamoDecisions {
    async fn recent(
        &self,
        merchant_id: &str,
        since_ms: u64,
    ) -> Result<Vec<RecentPayment>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.transactions)
            .index_name(&self.merchant_index)
            .key_condition_expression("merchant_id = :merchant AND created_at >= :since")
            .expression_attribute_values(":merchant", s(merchant_id))
            .expression_attribute_values(":since", s(rfc3339_millis(since_ms)))
            .into_paginator()
            .items()
            .send();
        let mut recent = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify(SERVICE, e))?;
            let created_at = get_s(&item, "created_at")?;
            recent.push(RecentPayment {
                transaction_id: get_s(&item, "transaction_id")?,
                token_fingerprint: get_s(&item, "token_fingerprint")?,
                amount_minor: get_n(&item, "amount_minor")?,
                currency: get_s(&item, "currency")?,
                created_at_ms: parse_rfc3339_millis(&created_at)
                    .ok_or_else(|| StoreError::Malformed(format!("created_at {created_at}")))?,
            });
        }
        Ok(recent)
    }
}

#[cfg(test)]
mod tests {
    use super::request_token;

    #[test]
    fn request_tokens_fit_dynamodb_limits() {
        assert_eq!(
            request_token("0f8fad5b-d9cb-469f-a165-70867728950e"),
            "0f8fad5b-d9cb-469f-a165-70867728950e"
        );
        assert_eq!(request_token(&"x".repeat(80)).len(), 36);
    }
}
