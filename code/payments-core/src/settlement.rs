//! Settlement: record the workflow's decision exactly once, with one audit entry, and
//! answer replays with the recorded decision. The store's conditions do the enforcing
//! ([`crate::ports::DecisionStore`]); this module decides what each outcome means.

use crate::errors::{Classify, ErrorClass, StoreError};
use crate::idempotency::{self, OnExisting, StoredStatus};
use crate::payment::{InvalidPayment, Payment};
use crate::ports::{ClaimOutcome, CompleteOutcome, DecisionStore};
use crate::time::rfc3339_millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The workflow's verdict, sent by the `Settle` and `RecordDecline` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Decision {
    Approved,
    Declined,
}

/// What the settlement function receives: the verdict and the workflow state (the payment
/// fields plus the `screening` results).
#[derive(Debug, Clone, Deserialize)]
pub struct SettlementRequest {
    pub decision: Decision,
    pub payment: Value,
}

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

/// The `INPROGRESS` record an attempt writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub transaction_id: String,
    pub merchant_id: String,
    pub attempt_id: String,
    pub created_at: String,
    pub now_ms: u64,
    pub in_progress_expiry_ms: u64,
    pub payload_hash: String,
    pub amount_minor: u64,
    pub currency: String,
    pub token_fingerprint: String,
    pub country: String,
}

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

/// This invocation: who it is, when it runs and how long it has.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub attempt_id: String,
    pub now_ms: u64,
    pub remaining_ms: u64,
    pub audit_retention_days: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error(transparent)]
    Invalid(#[from] InvalidPayment),
    #[error("transaction_id {0} was already used for a different payment")]
    KeyReused(String),
    #[error("transaction {0} is being settled by another attempt")]
    InProgress(String),
    #[error("the workflow sent malformed screening results: {0}")]
    Screening(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for SettlementError {
    fn class(&self) -> ErrorClass {
        match self {
            SettlementError::Invalid(_) | SettlementError::KeyReused(_) => ErrorClass::Invalid,
            SettlementError::InProgress(_) => ErrorClass::Retryable,
            SettlementError::Screening(_) => ErrorClass::Rejected,
            SettlementError::Store(e) => e.class(),
        }
    }
}

/// The audit event name of a decision; one per transaction.
pub const DECISION_EVENT: &str = "DECISION";

// ANCHOR: settle
/// Records the decision once and answers; a replay answers with the recorded decision.
pub async fn settle(
    store: &impl DecisionStore,
    request: &SettlementRequest,
    attempt: &Attempt,
) -> Result<SettlementResult, SettlementError> {
    let mut state = request.payment.clone();
    let screening = state
        .as_object_mut()
        .and_then(|o| o.remove("screening"))
        .unwrap_or(Value::Null);
    let payment = Payment::from_value(&state)?;
    let (fraud_score, reasons) = read_screening(&screening)?;
    let claim = Claim {
        transaction_id: payment.transaction_id.clone(),
        merchant_id: payment.merchant_id.clone(),
        attempt_id: attempt.attempt_id.clone(),
        created_at: rfc3339_millis(attempt.now_ms),
        now_ms: attempt.now_ms,
        in_progress_expiry_ms: idempotency::in_progress_expiry(
            attempt.now_ms,
            attempt.remaining_ms,
        ),
        payload_hash: payment.payload_hash(),
        amount_minor: payment.amount.minor,
        currency: payment.amount.currency.code().to_string(),
        token_fingerprint: payment.token_fingerprint(),
        country: payment.country.clone(),
    };
    if let ClaimOutcome::Exists(record) = store.claim(&claim).await? {
        return answer_existing(&record, &claim, attempt.now_ms);
    }
    let outcome = match request.decision {
        Decision::Approved => Outcome::Settled,
        Decision::Declined => Outcome::Declined,
    };
    let result = SettlementResult {
        transaction_id: claim.transaction_id.clone(),
        merchant_id: claim.merchant_id.clone(),
        outcome,
        replayed: false,
        amount_minor: claim.amount_minor,
        currency: claim.currency.clone(),
        fraud_score,
        reasons,
        recorded_at: claim.created_at.clone(),
    };
    let audit = AuditEntry {
        transaction_id: result.transaction_id.clone(),
        event: DECISION_EVENT.to_string(),
        outcome,
        merchant_id: result.merchant_id.clone(),
        attempt_id: attempt.attempt_id.clone(),
        fraud_score,
        reasons: result.reasons.clone(),
        recorded_at: result.recorded_at.clone(),
        expires_at: attempt.now_ms / 1000 + attempt.audit_retention_days * 86_400,
    };
    match store.complete(&claim, &result, &audit).await? {
        CompleteOutcome::Recorded => Ok(result),
        CompleteOutcome::ClaimLost => match store.get(&claim.transaction_id).await? {
            Some(record) => answer_existing(&record, &claim, attempt.now_ms),
            None => Err(SettlementError::InProgress(claim.transaction_id)),
        },
    }
}
// ANCHOR_END: settle

fn answer_existing(
    record: &idempotency::DecisionRecord,
    claim: &Claim,
    now_ms: u64,
) -> Result<SettlementResult, SettlementError> {
    match idempotency::on_existing(record, &claim.payload_hash, now_ms) {
        OnExisting::Replay(result) => Ok(result),
        OnExisting::KeyReused => Err(SettlementError::KeyReused(claim.transaction_id.clone())),
        OnExisting::InProgress | OnExisting::Expired => {
            Err(SettlementError::InProgress(claim.transaction_id.clone()))
        }
    }
}

/// The fraud score and every reason the screening gave, as short audit strings.
fn read_screening(screening: &Value) -> Result<(u32, Vec<String>), SettlementError> {
    let score = screening["fraud"]["score"]
        .as_u64()
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| SettlementError::Screening("screening.fraud.score is missing".into()))?;
    let mut reasons = Vec::new();
    for (list, tag) in [
        ("/validation/rejections", "rule"),
        ("/fraud/signals", "signal"),
    ] {
        for item in screening
            .pointer(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = item[tag]
                .as_str()
                .ok_or_else(|| SettlementError::Screening(format!("{list} item without {tag}")))?;
            reasons.push(name.to_string());
        }
    }
    Ok((score, reasons))
}

impl StoredStatus {
    /// The stored status of a completed outcome.
    pub fn of(outcome: Outcome) -> StoredStatus {
        match outcome {
            Outcome::Settled => StoredStatus::Settled,
            Outcome::Declined => StoredStatus::Declined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryDecisionStore;
    use crate::payment::tests::sample;
    use serde_json::json;

    fn request(decision: Decision, payment: Value) -> SettlementRequest {
        let mut state = payment;
        state["screening"] = json!({
            "validation": {"accepted": true, "rejections": []},
            "fraud": {"score": 15, "approved": true, "signals": [{"signal": "round_amount"}]}
        });
        SettlementRequest {
            decision,
            payment: state,
        }
    }

    fn attempt(id: &str, now_ms: u64) -> Attempt {
        Attempt {
            attempt_id: id.into(),
            now_ms,
            remaining_ms: 2_000,
            audit_retention_days: 90,
        }
    }

    fn run<F: std::future::Future>(future: F) -> F::Output {
        crate::memory::block_on(future)
    }

    #[test]
    fn a_first_settlement_records_the_decision_and_one_audit_entry() {
        let store = MemoryDecisionStore::default();
        let result = run(settle(
            &store,
            &request(Decision::Approved, sample()),
            &attempt("a1", 1_000_000),
        ))
        .unwrap();
        assert_eq!(result.outcome, Outcome::Settled);
        assert!(!result.replayed);
        assert_eq!(result.reasons, vec!["round_amount"]);
        let audits = store.audit_entries();
        assert_eq!(audits.len(), 1);
        assert_eq!(audits[0].expires_at, 1_000 + 90 * 86_400);
    }

    #[test]
    fn a_replay_returns_the_recorded_decision_and_writes_nothing() {
        let store = MemoryDecisionStore::default();
        let first = run(settle(
            &store,
            &request(Decision::Approved, sample()),
            &attempt("a1", 1_000),
        ))
        .unwrap();
        // The retry was screened again and this time declined: the record still wins.
        let again = run(settle(
            &store,
            &request(Decision::Declined, sample()),
            &attempt("a2", 9_000),
        ))
        .unwrap();
        assert!(again.replayed);
        assert_eq!(again.outcome, Outcome::Settled);
        assert_eq!(again.recorded_at, first.recorded_at);
        assert_eq!(store.audit_entries().len(), 1);
    }

    #[test]
    fn a_reused_transaction_id_for_another_payment_is_invalid() {
        let store = MemoryDecisionStore::default();
        run(settle(
            &store,
            &request(Decision::Approved, sample()),
            &attempt("a1", 1_000),
        ))
        .unwrap();
        let mut other = sample();
        other["amount_minor"] = json!(99);
        let error = run(settle(
            &store,
            &request(Decision::Approved, other),
            &attempt("a2", 2_000),
        ))
        .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Invalid);
    }

    #[test]
    fn a_live_claim_is_retryable_and_a_dead_one_is_taken_over() {
        let store = MemoryDecisionStore::default();
        let payment = Payment::from_value(&sample()).unwrap();
        store.insert_claim(&payment, "crashed", 5_000);
        let busy = run(settle(
            &store,
            &request(Decision::Approved, sample()),
            &attempt("a2", 4_000),
        ))
        .unwrap_err();
        assert_eq!(busy.class(), ErrorClass::Retryable);
        let taken = run(settle(
            &store,
            &request(Decision::Approved, sample()),
            &attempt("a3", 6_000),
        ))
        .unwrap();
        assert!(!taken.replayed);
        assert_eq!(store.audit_entries().len(), 1);
    }

    #[test]
    fn missing_screening_is_rejected_not_retried() {
        let store = MemoryDecisionStore::default();
        let bad = SettlementRequest {
            decision: Decision::Approved,
            payment: sample(),
        };
        let error = run(settle(&store, &bad, &attempt("a1", 1))).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Rejected);
    }
}
