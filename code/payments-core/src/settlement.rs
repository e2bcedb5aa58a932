//! Settlement: record the workflow's decision exactly once, with one audit entry and its
//! card's count, and answer replays with the recorded decision. The store's conditions do
//! the enforcing ([`crate::ports::DecisionStore`]); this module decides what each outcome
//! means. Every answer a client caused is data: a reused `transaction_id` is answered
//! `{"error": "TransactionIdReused", …}`, not raised (review F3/M4).

use crate::errors::{Classify, ConfigError, ErrorClass, StoreError};
use crate::idempotency::{OnExisting, on_existing};
use crate::payment::{InvalidPayment, Payment, RawPayment};
use crate::ports::{ClaimOutcome, Clock, CompleteOutcome, Completion, DecisionStore};
use crate::records::{
    AuditEntry, CardCount, Claim, DECISION_EVENT, VELOCITY_LIMIT, notification_shard,
};
use crate::velocity::Velocity;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::records::{Outcome, SettlementResult};

/// The workflow's verdict, sent by the `Settle` and `RecordDecline` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Decision {
    Approved,
    Declined,
}

/// What the settlement function receives: the verdict, the client's body and the
/// `screening` results (`{"validation": …, "fraud": …}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    pub decision: Decision,
    pub payment: RawPayment,
    pub screening: Value,
}

/// A client mistake settlement answers as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub error: &'static str,
    pub transaction_id: String,
    pub detail: String,
}

/// The settlement function's answer: the recorded decision, or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SettlementAnswer {
    Recorded(SettlementResult),
    Refused(Refusal),
}

/// This invocation: who it is, when it must be done, and the time its last writes need.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub attempt_id: String,
    /// When Lambda stops the invocation (epoch ms); also the claim's in-progress expiry.
    pub deadline_ms: u64,
    /// Time kept back from waiting for another attempt's claim, for this attempt's own
    /// claim and completing writes.
    pub reserve_ms: u64,
    pub audit_retention_days: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    /// The workflow only settles validated payments: a body that does not parse here is a
    /// fault of the workflow, not of the client.
    #[error("the workflow sent a payment that does not parse: {0}")]
    Payment(InvalidPayment),
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
            SettlementError::InProgress(_) => ErrorClass::Retryable,
            SettlementError::Payment(_) | SettlementError::Screening(_) => ErrorClass::Fatal,
            SettlementError::Store(e) => e.class(),
        }
    }
}

/// Audit retention in days (`AUDIT_RETENTION_DAYS`): 1 to 3650. Zero would let DynamoDB's
/// TTL delete an audit entry as soon as it is written.
pub fn parse_retention_days(text: &str) -> Result<u64, ConfigError> {
    text.parse::<u64>()
        .ok()
        .filter(|days| (1..=3650).contains(days))
        .ok_or_else(|| ConfigError::new("AUDIT_RETENTION_DAYS", "must be a number from 1 to 3650"))
}

/// First wait before looking at another attempt's claim again; doubled up to the maximum.
const POLL_FIRST_MS: u64 = 25;
const POLL_MAX_MS: u64 = 200;

enum Next {
    Claim,
    Poll,
}

// ANCHOR: settle
/// Records the decision once and answers; a replay answers with the recorded decision.
/// A live claim of another attempt is waited for (polling the record, within this
/// attempt's own time) rather than reported at once (review F15).
pub async fn settle(
    store: &impl DecisionStore,
    clock: &impl Clock,
    request: &SettlementRequest,
    attempt: &Attempt,
    velocity: &Velocity,
) -> Result<SettlementAnswer, SettlementError> {
    let payment = Payment::from_raw(&request.payment).map_err(SettlementError::Payment)?;
    let (fraud_score, reasons) = read_screening(&request.screening)?;
    let mut next = Next::Claim;
    let mut poll_ms = POLL_FIRST_MS;
    loop {
        let now = clock.now_ms();
        let claim = Claim::new(&payment, &attempt.attempt_id, now, attempt.deadline_ms);
        let found = match next {
            Next::Claim => match store.claim(&claim).await? {
                ClaimOutcome::Claimed => None,
                ClaimOutcome::Exists(record) => Some(*record),
            },
            Next::Poll => match store.get(&claim.transaction_id).await? {
                Some(record) => Some(record),
                // Released by a failed attempt: claim it at once.
                None => {
                    next = Next::Claim;
                    continue;
                }
            },
        };
        let ours = match found {
            None => true,
            Some(record) => {
                match on_existing(&record, &attempt.attempt_id, &claim.payload_hash, now) {
                    OnExisting::OwnClaim => true,
                    OnExisting::Replay(result) => return Ok(SettlementAnswer::Recorded(result)),
                    OnExisting::KeyReused => return Ok(reused(&claim.transaction_id)),
                    OnExisting::InProgress => {
                        next = Next::Poll;
                        false
                    }
                    OnExisting::Expired => {
                        next = Next::Claim;
                        false
                    }
                }
            }
        };
        if ours {
            let first = completion(
                &claim,
                request.decision,
                fraud_score,
                &reasons,
                attempt,
                velocity,
            );
            match record_decision(store, first).await {
                Ok(Some(result)) => return Ok(SettlementAnswer::Recorded(result)),
                // Taken over after our claim expired: wait for the winner's answer.
                Ok(None) => next = Next::Poll,
                Err(error) => {
                    // Powertools deletes the record when the handler fails (review F5): the
                    // workflow's retry need not wait for this claim to expire. Best effort:
                    // the original error is the answer either way.
                    let _ = store.release(&claim).await;
                    return Err(error);
                }
            }
        }
        let waited_enough = clock.now_ms().saturating_add(poll_ms)
            > attempt.deadline_ms.saturating_sub(attempt.reserve_ms);
        if waited_enough {
            return Err(SettlementError::InProgress(claim.transaction_id));
        }
        clock.sleep(poll_ms).await;
        poll_ms = (poll_ms * 2).min(POLL_MAX_MS);
    }
}
// ANCHOR_END: settle

/// Completes a held claim. A settlement the card's cap refuses is recorded declined, in a
/// second transaction that counts without a cap. `None`: the claim was lost.
async fn record_decision(
    store: &impl DecisionStore,
    first: Completion,
) -> Result<Option<SettlementResult>, SettlementError> {
    match store.complete(&first).await? {
        CompleteOutcome::Recorded => Ok(Some(first.result)),
        CompleteOutcome::ClaimLost => Ok(None),
        CompleteOutcome::CardCapReached => {
            let mut second = first;
            second.result.outcome = Outcome::Declined;
            second.result.reasons.push(VELOCITY_LIMIT.to_string());
            second.audit.outcome = Outcome::Declined;
            second.audit.reasons = second.result.reasons.clone();
            second.card.cap = None;
            second.notification_pending = None;
            match store.complete(&second).await? {
                CompleteOutcome::Recorded => Ok(Some(second.result)),
                CompleteOutcome::ClaimLost => Ok(None),
                CompleteOutcome::CardCapReached => Err(StoreError::Malformed(
                    "the store capped a count written without a cap".into(),
                )
                .into()),
            }
        }
    }
}

/// Everything the completing transaction writes for this decision.
fn completion(
    claim: &Claim,
    decision: Decision,
    fraud_score: u32,
    reasons: &[String],
    attempt: &Attempt,
    velocity: &Velocity,
) -> Completion {
    let outcome = match decision {
        Decision::Approved => Outcome::Settled,
        Decision::Declined => Outcome::Declined,
    };
    let result = SettlementResult::decided(claim, outcome, fraud_score, reasons.to_vec());
    let audit = AuditEntry {
        transaction_id: result.transaction_id.clone(),
        event: DECISION_EVENT.to_string(),
        outcome,
        merchant_id: result.merchant_id.clone(),
        attempt_id: attempt.attempt_id.clone(),
        fraud_score,
        reasons: result.reasons.clone(),
        recorded_at: result.recorded_at.clone(),
        expires_at: (claim.now_ms / 1000)
            .saturating_add(attempt.audit_retention_days.saturating_mul(86_400)),
    };
    let window_start = velocity.window_start(claim.now_ms);
    let card = CardCount {
        card_key: Velocity::card_key(&claim.token_fingerprint, window_start),
        amount_minor: claim.amount_minor,
        currency: claim.currency.clone(),
        at_ms: claim.now_ms,
        transaction_id: claim.transaction_id.clone(),
        expires_at: velocity.expires_at(window_start),
        cap: (outcome == Outcome::Settled).then_some(velocity.max_per_token),
    };
    Completion {
        claim: claim.clone(),
        notification_pending: (outcome == Outcome::Settled)
            .then(|| notification_shard(&claim.transaction_id)),
        result,
        audit,
        card,
    }
}

fn reused(transaction_id: &str) -> SettlementAnswer {
    SettlementAnswer::Refused(Refusal {
        error: "TransactionIdReused",
        transaction_id: transaction_id.to_string(),
        detail: "this transaction_id was already used for a different payment; send the new payment with a new transaction_id".into(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryClock, MemoryDecisionStore, block_on};
    use crate::payment::tests::sample;
    use crate::records::StoredStatus;
    use serde_json::json;

    const VELOCITY: Velocity = Velocity {
        window_seconds: 600,
        max_per_token: 5,
    };

    fn request(decision: Decision, payment: Value) -> SettlementRequest {
        SettlementRequest {
            decision,
            payment: RawPayment(payment),
            screening: json!({
                "validation": {"verdict": "ACCEPTED", "rejections": []},
                "fraud": {"score": 15, "approved": true, "signals": [{"signal": "round_amount"}]}
            }),
        }
    }

    fn attempt(id: &str, clock: &MemoryClock) -> Attempt {
        Attempt {
            attempt_id: id.into(),
            deadline_ms: clock.now_ms() + 2_000,
            reserve_ms: 0,
            audit_retention_days: 90,
        }
    }

    fn settle_now(
        store: &MemoryDecisionStore,
        clock: &MemoryClock,
        request: &SettlementRequest,
        id: &str,
    ) -> Result<SettlementAnswer, SettlementError> {
        block_on(settle(
            store,
            clock,
            request,
            &attempt(id, clock),
            &VELOCITY,
        ))
    }

    fn recorded(answer: SettlementAnswer) -> SettlementResult {
        match answer {
            SettlementAnswer::Recorded(result) => result,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_first_settlement_records_the_decision_one_audit_entry_and_the_outbox_marker() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(1_000_000));
        let result = recorded(
            settle_now(&store, &clock, &request(Decision::Approved, sample()), "a1").unwrap(),
        );
        assert_eq!(result.outcome, Outcome::Settled);
        assert!(!result.replayed);
        assert_eq!(result.reasons, vec!["round_amount"]);
        let audits = store.audit_entries();
        assert_eq!(audits.len(), 1);
        assert_eq!(audits[0].expires_at, 1_000 + 90 * 86_400);
        let record = store.record(&result.transaction_id).unwrap();
        assert_eq!(record.status, StoredStatus::Settled);
        assert_eq!(
            record.notification_pending,
            Some(notification_shard(&result.transaction_id))
        );
        assert_eq!(store.cards()[0].payments, 1);
    }

    #[test]
    fn a_decline_sets_no_outbox_marker_but_counts_for_the_card() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(1_000_000));
        let result = recorded(
            settle_now(&store, &clock, &request(Decision::Declined, sample()), "a1").unwrap(),
        );
        assert_eq!(result.outcome, Outcome::Declined);
        assert_eq!(
            store
                .record(&result.transaction_id)
                .unwrap()
                .notification_pending,
            None
        );
        assert_eq!(store.cards()[0].payments, 1);
    }

    #[test]
    fn a_replay_returns_the_recorded_decision_and_writes_nothing() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(1_000));
        let first = recorded(
            settle_now(&store, &clock, &request(Decision::Approved, sample()), "a1").unwrap(),
        );
        clock.advance(8_000);
        // The retry was screened again and this time declined: the record still wins.
        let again = recorded(
            settle_now(&store, &clock, &request(Decision::Declined, sample()), "a2").unwrap(),
        );
        assert!(again.replayed);
        assert_eq!(again.outcome, Outcome::Settled);
        assert_eq!(again.recorded_at, first.recorded_at);
        assert_eq!(store.audit_entries().len(), 1);
        assert_eq!(store.cards()[0].payments, 1);
    }

    #[test]
    fn a_reused_transaction_id_is_answered_as_data() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(1_000));
        settle_now(&store, &clock, &request(Decision::Approved, sample()), "a1").unwrap();
        let mut other = sample();
        other["amount_minor"] = json!(99);
        let answer = settle_now(&store, &clock, &request(Decision::Approved, other), "a2").unwrap();
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({"error": "TransactionIdReused",
                   "transaction_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                   "detail": "this transaction_id was already used for a different payment; send the new payment with a new transaction_id"})
        );
    }

    #[test]
    fn a_live_claim_is_waited_for_and_a_dead_one_taken_over() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(4_000));
        let payment = Payment::from_value(&sample()).unwrap();
        store.insert_claim(&payment, "crashed", 5_000);
        // Its own deadline comes before the claim's expiry: waits, then asks for a retry.
        let mut short = attempt("a2", &clock);
        short.deadline_ms = 4_500;
        let busy = block_on(settle(
            &store,
            &clock,
            &request(Decision::Approved, sample()),
            &short,
            &VELOCITY,
        ))
        .unwrap_err();
        assert_eq!(busy.class(), ErrorClass::Retryable);
        assert!(clock.now_ms() <= 4_500, "waited within its own time");
        // With time to spare it outwaits the dead holder and takes over.
        let taken = recorded(
            settle_now(&store, &clock, &request(Decision::Approved, sample()), "a3").unwrap(),
        );
        assert!(!taken.replayed);
        assert!(clock.now_ms() > 5_000);
        assert_eq!(store.audit_entries().len(), 1);
    }

    /// The in-memory clock, recording every wait.
    struct RecordingClock {
        clock: MemoryClock,
        sleeps: std::sync::Mutex<Vec<u64>>,
    }

    impl Clock for RecordingClock {
        fn now_ms(&self) -> u64 {
            self.clock.now_ms()
        }

        async fn sleep(&self, ms: u64) {
            self.sleeps.lock().unwrap().push(ms);
            self.clock.sleep(ms).await;
        }
    }

    /// The waits of an attempt that finds a live claim (expiring long after its own
    /// deadline) at 4 000 ms and may wait until `wait_until`; it always ends InProgress.
    fn waits_for_a_live_claim(wait_until: u64) -> Vec<u64> {
        let store = MemoryDecisionStore::default();
        let clock = RecordingClock {
            clock: MemoryClock::at(4_000),
            sleeps: Default::default(),
        };
        store.insert_claim(&Payment::from_value(&sample()).unwrap(), "busy", 60_000);
        let reserve_ms = 300;
        let waiting = Attempt {
            deadline_ms: wait_until + reserve_ms,
            reserve_ms,
            ..attempt("a2", &clock.clock)
        };
        let error = block_on(settle(
            &store,
            &clock,
            &request(Decision::Approved, sample()),
            &waiting,
            &VELOCITY,
        ))
        .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Retryable);
        assert!(clock.now_ms() <= wait_until, "waited into its reserve");
        clock.sleeps.into_inner().unwrap()
    }

    #[test]
    fn a_waiting_settlement_doubles_its_wait_up_to_the_cap() {
        let sleeps = waits_for_a_live_claim(4_000 + 25 + 50 + 100 + 200 + 200 + 200);
        assert_eq!(sleeps, [25, 50, 100, 200, 200, 200]);
        assert_eq!(POLL_MAX_MS, 200);
    }

    #[test]
    fn a_poll_landing_exactly_at_the_deadline_minus_the_reserve_still_waits() {
        // The reserve is kept for this attempt's own writes: waiting may use all the time
        // before it, to the millisecond, and not one more.
        assert_eq!(waits_for_a_live_claim(4_000 + 25 + 50), [25, 50]);
        assert_eq!(waits_for_a_live_claim(4_000 + 25 + 50 - 1), [25]);
        assert_eq!(waits_for_a_live_claim(4_000 + 24), Vec::<u64>::new());
    }

    #[test]
    fn a_live_claim_that_completes_meanwhile_is_answered_as_a_replay() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(4_000));
        let payment = Payment::from_value(&sample()).unwrap();
        store.insert_claim(&payment, "slow", 5_900);
        // The holder completes while we wait.
        store.complete_on_next_poll("slow");
        let answer = recorded(
            settle_now(&store, &clock, &request(Decision::Approved, sample()), "a2").unwrap(),
        );
        assert!(answer.replayed);
    }

    #[test]
    fn a_claim_whose_first_try_was_applied_is_recognised_as_ours() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(1_000));
        store.apply_next_claim_twice();
        let result = recorded(
            settle_now(&store, &clock, &request(Decision::Approved, sample()), "a1").unwrap(),
        );
        assert!(!result.replayed);
        assert_eq!(store.audit_entries().len(), 1);
    }

    #[test]
    fn a_failed_attempt_releases_its_own_claim_and_only_its_own() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(1_000));
        store.fail_next_complete(StoreError::Unavailable {
            service: "DynamoDB",
            detail: "timeout".into(),
        });
        let error =
            settle_now(&store, &clock, &request(Decision::Approved, sample()), "a1").unwrap_err();
        assert_eq!(error.class(), ErrorClass::Retryable);
        assert!(
            store
                .record("0f8fad5b-d9cb-469f-a165-70867728950e")
                .is_none(),
            "released"
        );
        // The workflow's retry settles at once.
        let retried = recorded(
            settle_now(&store, &clock, &request(Decision::Approved, sample()), "a2").unwrap(),
        );
        assert!(!retried.replayed);

        let payment = Payment::from_value(&sample()).unwrap();
        let other = MemoryDecisionStore::default();
        other.insert_claim(&payment, "someone-else", 9_000);
        let theirs = Claim::new(&payment, "me", 1_000, 2_000);
        assert!(!block_on(other.release(&theirs)).unwrap());
        assert!(other.record(&payment.transaction_id).is_some());
    }

    #[test]
    fn the_card_cap_declines_the_settlement_that_would_exceed_it() {
        let (store, clock) = (
            MemoryDecisionStore::default(),
            MemoryClock::at(1_800_000_000_000),
        );
        let mut outcomes = Vec::new();
        for n in 0..7 {
            let mut body = sample();
            body["transaction_id"] = json!(format!("0f8fad5b-d9cb-469f-a165-7086772895{n:02}"));
            let result = recorded(
                settle_now(
                    &store,
                    &clock,
                    &request(Decision::Approved, body),
                    &format!("a{n}"),
                )
                .unwrap(),
            );
            outcomes.push((
                result.outcome,
                result.reasons.contains(&VELOCITY_LIMIT.to_string()),
            ));
        }
        let settled = outcomes
            .iter()
            .filter(|(o, _)| *o == Outcome::Settled)
            .count();
        assert_eq!(settled, 5);
        assert_eq!(outcomes[5], (Outcome::Declined, true));
        assert_eq!(store.cards()[0].payments, 7, "declines count too");
        let declined_id = "0f8fad5b-d9cb-469f-a165-708677289505";
        assert_eq!(
            store.record(declined_id).unwrap().notification_pending,
            None
        );
    }

    #[test]
    fn missing_screening_and_an_unparseable_payment_are_system_faults() {
        let (store, clock) = (MemoryDecisionStore::default(), MemoryClock::at(1));
        let mut bad = request(Decision::Approved, sample());
        bad.screening = Value::Null;
        let error = settle_now(&store, &clock, &bad, "a1").unwrap_err();
        assert_eq!(error.class(), ErrorClass::Fatal);
        let unparseable = request(Decision::Approved, json!({"pan": "4242424242424242"}));
        let error = settle_now(&store, &clock, &unparseable, "a1").unwrap_err();
        assert_eq!(error.class(), ErrorClass::Fatal);
        assert!(!error.to_string().contains("4242424242424242"));
    }

    #[test]
    fn retention_is_bounded() {
        assert_eq!(parse_retention_days("90"), Ok(90));
        for bad in ["0", "3651", "-1", "ninety", ""] {
            assert!(parse_retention_days(bad).is_err(), "{bad}");
        }
    }
}
