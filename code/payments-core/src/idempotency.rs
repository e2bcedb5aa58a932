//! The idempotency record lifecycle of AWS Lambda Powertools, ported: a record is claimed
//! `INPROGRESS` with an in-progress expiry taken from the invocation's remaining time,
//! then completed with its result; an attempt that fails releases its claim (Powertools
//! deletes the record). A record found `INPROGRESS` past that expiry is `EXPIRED` — its
//! invocation died — and may be claimed again. Unlike Powertools, a completed payment
//! decision never expires: a `transaction_id` settles once, for ever.

use crate::records::{DecisionRecord, SettlementResult, StoredStatus};

/// Powertools' three states, derived from a stored record and the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    InProgress,
    Completed,
    Expired,
}

impl DecisionRecord {
    /// Expired strictly after the expiry instant, as the store's claim condition
    /// (`in_progress_expiry_ms < :now`) reads it.
    pub fn status_at(&self, now_ms: u64) -> RecordStatus {
        match self.status {
            StoredStatus::InProgress if now_ms > self.in_progress_expiry_ms => {
                RecordStatus::Expired
            }
            StoredStatus::InProgress => RecordStatus::InProgress,
            StoredStatus::Settled | StoredStatus::Declined => RecordStatus::Completed,
        }
    }
}

/// The in-progress expiry of a claim: when the invocation that holds it must have ended.
pub fn in_progress_expiry(now_ms: u64, remaining_ms: u64) -> u64 {
    now_ms.saturating_add(remaining_ms)
}

/// What a claim that found an existing record should do.
#[derive(Debug, Clone, PartialEq)]
pub enum OnExisting {
    /// This attempt's own claim: an SDK retry of a claim whose first try was applied.
    OwnClaim,
    /// Completed with the same payload: answer with the recorded result.
    Replay(SettlementResult),
    /// Completed, but for a different payment: the client reused a transaction_id.
    KeyReused,
    /// Another invocation holds the claim: wait for it, then answer or retry.
    InProgress,
    /// The holder died: claim again.
    Expired,
}

// ANCHOR: on-existing
/// Powertools' decision after a failed conditional claim, plus recognising our own claim.
pub fn on_existing(
    record: &DecisionRecord,
    attempt_id: &str,
    payload_hash: &str,
    now_ms: u64,
) -> OnExisting {
    if record.status == StoredStatus::InProgress && record.attempt_id == attempt_id {
        return OnExisting::OwnClaim;
    }
    match record.status_at(now_ms) {
        RecordStatus::Completed if record.payload_hash != payload_hash => OnExisting::KeyReused,
        RecordStatus::Completed => match &record.result {
            Some(result) => OnExisting::Replay(SettlementResult {
                replayed: true,
                ..result.clone()
            }),
            None => OnExisting::InProgress,
        },
        RecordStatus::InProgress => OnExisting::InProgress,
        RecordStatus::Expired => OnExisting::Expired,
    }
}
// ANCHOR_END: on-existing

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Outcome;

    fn record(status: StoredStatus, expiry: u64) -> DecisionRecord {
        DecisionRecord {
            transaction_id: "t".into(),
            status,
            attempt_id: "a".into(),
            in_progress_expiry_ms: expiry,
            payload_hash: "h".into(),
            result: (status != StoredStatus::InProgress).then(|| SettlementResult {
                transaction_id: "t".into(),
                merchant_id: "m".into(),
                outcome: Outcome::Settled,
                replayed: false,
                amount_minor: 1,
                currency: "EUR".into(),
                fraud_score: 0,
                reasons: vec![],
                recorded_at: "2026-01-01T00:00:00.000Z".into(),
            }),
            notification_pending: None,
        }
    }

    #[test]
    fn in_progress_expires_after_its_deadline_and_completed_never_does() {
        let claim = record(StoredStatus::InProgress, 1000);
        assert_eq!(claim.status_at(999), RecordStatus::InProgress);
        assert_eq!(claim.status_at(1000), RecordStatus::InProgress);
        assert_eq!(claim.status_at(1001), RecordStatus::Expired);
        assert_eq!(
            record(StoredStatus::Settled, 0).status_at(u64::MAX),
            RecordStatus::Completed
        );
    }

    #[test]
    fn a_completed_record_replays_only_for_the_same_payload() {
        let done = record(StoredStatus::Settled, 0);
        match on_existing(&done, "b", "h", 5) {
            OnExisting::Replay(result) => assert!(result.replayed),
            other => panic!("{other:?}"),
        }
        assert_eq!(on_existing(&done, "b", "other", 5), OnExisting::KeyReused);
        // Our own completed record is a replay too, not a claim.
        assert!(matches!(
            on_existing(&done, "a", "h", 5),
            OnExisting::Replay(_)
        ));
    }

    #[test]
    fn live_and_dead_claims_of_others_are_waited_for_and_our_own_is_ours() {
        let live = record(StoredStatus::InProgress, 10);
        assert_eq!(on_existing(&live, "b", "h", 5), OnExisting::InProgress);
        assert_eq!(on_existing(&live, "b", "h", 50), OnExisting::Expired);
        assert_eq!(on_existing(&live, "a", "h", 5), OnExisting::OwnClaim);
    }

    #[test]
    fn expiry_comes_from_remaining_time() {
        assert_eq!(in_progress_expiry(1_000, 1_500), 2_500);
        assert_eq!(in_progress_expiry(u64::MAX, 1), u64::MAX);
    }
}
