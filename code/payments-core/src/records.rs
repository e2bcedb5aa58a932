//! The records the system stores, as the domain sees them: decision records and their
//! audit entries (`transactions`, `audit_logs`), and per-card activity windows
//! (`card-activity`). Records sit below the ports ([`crate::ports`]), which sit below the
//! services (validation, fraud, settlement, notification, reconciliation).

use crate::payment::Payment;
use crate::time::rfc3339_millis;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Settled,
    Declined,
}

/// The recorded answer: what the client receives and what a replay returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementResult {
    pub transaction_id: String,
    pub merchant_id: String,
    pub outcome: Outcome,
    pub replayed: bool,
    pub amount_minor: u64,
    pub currency: String,
    pub fraud_score: u32,
    pub reasons: Vec<String>,
    pub recorded_at: String,
}

impl SettlementResult {
    /// The answer an attempt records for `claim`'s payment when it decides: not a replay,
    /// dated when the payment was claimed.
    pub fn decided(
        claim: &Claim,
        outcome: Outcome,
        fraud_score: u32,
        reasons: Vec<String>,
    ) -> Self {
        SettlementResult {
            transaction_id: claim.transaction_id.clone(),
            merchant_id: claim.merchant_id.clone(),
            outcome,
            replayed: false,
            amount_minor: claim.amount_minor,
            currency: claim.currency.clone(),
            fraud_score,
            reasons,
            recorded_at: claim.created_at.clone(),
        }
    }
}

/// What a stored record says, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    InProgress,
    Settled,
    Declined,
}

impl StoredStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredStatus::InProgress => "INPROGRESS",
            StoredStatus::Settled => "SETTLED",
            StoredStatus::Declined => "DECLINED",
        }
    }

    pub fn parse(text: &str) -> Option<StoredStatus> {
        [
            StoredStatus::InProgress,
            StoredStatus::Settled,
            StoredStatus::Declined,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// The stored status of a completed outcome.
    pub fn of(outcome: Outcome) -> StoredStatus {
        match outcome {
            Outcome::Settled => StoredStatus::Settled,
            Outcome::Declined => StoredStatus::Declined,
        }
    }
}

/// A decision record of the `transactions` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub transaction_id: String,
    pub status: StoredStatus,
    pub attempt_id: String,
    pub in_progress_expiry_ms: u64,
    pub payload_hash: String,
    /// The recorded answer, present once the record is completed.
    pub result: Option<SettlementResult>,
    /// The outbox marker: set (to the record's shard) when a settlement commits, removed
    /// once its receipt is archived and announced.
    pub notification_pending: Option<String>,
}

/// The `INPROGRESS` record an attempt writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub transaction_id: String,
    pub merchant_id: String,
    pub attempt_id: String,
    /// When the claim was written, as stored (`created_at`, the indexes' sort key).
    pub created_at: String,
    /// The same instant in milliseconds, for the claim's condition.
    pub now_ms: u64,
    pub in_progress_expiry_ms: u64,
    pub payload_hash: String,
    pub amount_minor: u64,
    pub currency: String,
    pub token_fingerprint: String,
    pub country: String,
}

impl Claim {
    pub fn new(payment: &Payment, attempt_id: &str, now_ms: u64, expiry_ms: u64) -> Claim {
        Claim {
            transaction_id: payment.transaction_id.clone(),
            merchant_id: payment.merchant_id.clone(),
            attempt_id: attempt_id.to_string(),
            created_at: rfc3339_millis(now_ms),
            now_ms,
            in_progress_expiry_ms: expiry_ms,
            payload_hash: payment.payload_hash(),
            amount_minor: payment.amount.minor,
            currency: payment.amount.currency.code().to_string(),
            token_fingerprint: payment.token_fingerprint(),
            country: payment.country.clone(),
        }
    }
}

/// The audit event name of a decision; one per transaction.
pub const DECISION_EVENT: &str = "DECISION";

/// The one audit entry of a decision (`audit_logs`), expiring by DynamoDB TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub transaction_id: String,
    pub event: String,
    pub outcome: Outcome,
    pub merchant_id: String,
    pub attempt_id: String,
    pub fraud_score: u32,
    pub reasons: Vec<String>,
    pub recorded_at: String,
    pub expires_at: u64,
}

/// One card's payments in one fixed window (`card-activity`, key
/// `<token_fingerprint>#<window_start_epoch_seconds>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardActivity {
    pub card_key: String,
    pub payments: u64,
    pub last_amount_minor: u64,
    pub last_currency: String,
    pub last_at_ms: u64,
    /// The payment that wrote `last_*`, so a replay is not its own rapid retry.
    pub last_transaction_id: String,
    pub expires_at: u64,
}

/// The current and previous windows of one card, as the fraud detector reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardHistory {
    pub current: Option<CardActivity>,
    pub previous: Option<CardActivity>,
}

/// The count a completing settlement adds to its card's current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCount {
    pub card_key: String,
    pub amount_minor: u64,
    pub currency: String,
    pub at_ms: u64,
    pub transaction_id: String,
    pub expires_at: u64,
    /// For a settlement: the window's cap, enforced by the store's condition. A decline
    /// is counted without one.
    pub cap: Option<u32>,
}

/// The reason recorded when the card's cap refused a settlement.
pub const VELOCITY_LIMIT: &str = "velocity_limit";

/// How many shards the outbox marker spreads over (`notification-pending-index`).
pub const NOTIFICATION_SHARDS: u32 = 32;

/// The outbox shard of a transaction: `"00"`..`"31"`, from a hash of its id so that the
/// sparse index spreads over partitions.
pub fn notification_shard(transaction_id: &str) -> String {
    let digest = Sha256::digest(transaction_id.as_bytes());
    let value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    format!("{:02}", value % NOTIFICATION_SHARDS)
}

/// True for a shard name `notification_shard` can produce.
pub fn is_notification_shard(text: &str) -> bool {
    text.len() == 2
        && text
            .parse::<u32>()
            .is_ok_and(|shard| shard < NOTIFICATION_SHARDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_two_digits_below_the_count_and_stable() {
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..2_000 {
            let shard = notification_shard(&format!("txn-{n}"));
            assert!(is_notification_shard(&shard), "{shard}");
            seen.insert(shard);
        }
        assert_eq!(
            seen.len(),
            NOTIFICATION_SHARDS as usize,
            "every shard is used"
        );
        assert_eq!(notification_shard("a"), notification_shard("a"));
        assert!(!is_notification_shard("32"));
        assert!(!is_notification_shard("7"));
    }

    #[test]
    fn stored_status_round_trips() {
        for status in [
            StoredStatus::InProgress,
            StoredStatus::Settled,
            StoredStatus::Declined,
        ] {
            assert_eq!(StoredStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(StoredStatus::of(Outcome::Settled), StoredStatus::Settled);
        assert_eq!(StoredStatus::parse("settled"), None);
    }
}
