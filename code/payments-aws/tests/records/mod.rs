//! The records settlement completes with, built the same way by every adapter test.

use payments_core::ports::Completion;
use payments_core::records::{
    AuditEntry, CardCount, Claim, DECISION_EVENT, Outcome, SettlementResult, notification_shard,
};

/// What settlement writes when `claim`'s attempt decides `outcome` (score 0, no reasons).
pub fn completion(claim: &Claim, outcome: Outcome) -> Completion {
    let result = SettlementResult::decided(claim, outcome, 0, vec![]);
    Completion {
        claim: claim.clone(),
        audit: AuditEntry {
            transaction_id: claim.transaction_id.clone(),
            event: DECISION_EVENT.into(),
            outcome,
            merchant_id: claim.merchant_id.clone(),
            attempt_id: claim.attempt_id.clone(),
            fraud_score: 0,
            reasons: vec![],
            recorded_at: claim.created_at.clone(),
            expires_at: 1,
        },
        card: CardCount {
            card_key: "card#1".into(),
            amount_minor: claim.amount_minor,
            currency: claim.currency.clone(),
            at_ms: claim.now_ms,
            transaction_id: claim.transaction_id.clone(),
            expires_at: 1,
            cap: Some(5),
        },
        notification_pending: (outcome == Outcome::Settled)
            .then(|| notification_shard(&claim.transaction_id)),
        result,
    }
}
