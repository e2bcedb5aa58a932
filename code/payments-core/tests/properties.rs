//! Property tests: arbitrary and adversarial input never panics, always ends in a typed
//! answer, and settlement never records a transaction twice — however concurrent attempts
//! interleave with each other, with claim expiry and with the card's cap.

use payments_core::errors::{Classify, ErrorClass, StoreError};
use payments_core::fraud::{FraudRules, assess};
use payments_core::memory::{MemoryClock, MemoryDecisionStore, block_on};
use payments_core::merchant::MerchantConfig;
use payments_core::payment::{FIELDS, Payment, RawPayment};
use payments_core::ports::{ClaimOutcome, Clock, CompleteOutcome, Completion, DecisionStore};
use payments_core::records::{CardHistory, Claim, DecisionRecord, Outcome};
use payments_core::settlement::{
    Attempt, Decision, SettlementAnswer, SettlementError, SettlementRequest, settle,
};
use payments_core::validation::{ValidationRules, validate};
use payments_core::velocity::Velocity;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

fn sample() -> Value {
    json!({
        "transaction_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "merchant_id": "merchant-001",
        "amount_minor": 1250,
        "currency": "EUR",
        "payment_token": "tok_4f9a8b7c6d5e4f3a",
        "card_last4": "4242",
        "country": "DE"
    })
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,80}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(".{0,20}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_are_refused_with_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(error) = Payment::from_slice(&bytes) {
            prop_assert!(!error.field.is_empty());
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_names_a_field(value in any_json()) {
        if Payment::from_value(&value).is_ok() {
            prop_assert!(false, "random JSON should not be a valid payment: {}", value);
        }
    }

    #[test]
    fn replacing_one_field_is_refused_by_that_field_or_accepted(
        index in 0..FIELDS.len(),
        replacement in any_json(),
    ) {
        let field = FIELDS[index];
        let mut body = sample();
        body[field] = replacement;
        if let Err(error) = Payment::from_value(&body) {
            prop_assert_eq!(error.field, field);
        }
    }

    #[test]
    fn adding_any_field_is_refused(name in "[a-z_]{1,12}", value in any_json()) {
        prop_assume!(!FIELDS.contains(&name.as_str()));
        let mut body = sample();
        body[&name] = value;
        prop_assert_eq!(Payment::from_value(&body).unwrap_err().field, name);
    }

    #[test]
    fn decisions_are_consistent_for_any_amount_and_currency(
        amount in 1u64..=10_000_000_000,
        currency in prop::sample::select(vec!["EUR", "JPY", "KWD", "USD", "CLP"]),
        country in "[A-Z]{2}",
    ) {
        let mut body = sample();
        body["amount_minor"] = amount.into();
        body["currency"] = currency.into();
        body["country"] = country.into();
        let payment = Payment::from_value(&body).unwrap();
        let fraud = FraudRules::from_json(
            r#"{"decline_score": 70, "velocity_window_seconds": 600, "velocity_max_per_token": 5,
                "rapid_retry_seconds": 30,
                "high_amount_minor": {"EUR": 500000, "JPY": 750000, "KWD": 1500000},
                "round_amount_minor": {"EUR": 100000, "JPY": 100000, "KWD": 300000},
                "blocked_countries": ["KP"]}"#).unwrap();
        let assessment = assess(&payment, &CardHistory::default(), &fraud, 1_800_000_000_000);
        prop_assert!(assessment.score <= 100);
        prop_assert_eq!(assessment.approved, assessment.score < fraud.decline_score);
        let rules = ValidationRules::from_json(
            r#"{"min_amount_minor": 1, "max_amount_minor": 10000000, "currencies": ["EUR"]}"#).unwrap();
        let merchant = MerchantConfig {
            merchant_id: "merchant-001".into(),
            active: true,
            currencies: Default::default(),
            api_key_ids: Default::default(),
        };
        let rejections = validate(&payment, &merchant, &rules);
        prop_assert_eq!(rejections.is_empty(), currency == "EUR" && amount <= 10_000_000);
    }

    #[test]
    fn interleaved_attempts_settle_at_most_once(
        attempts in prop::collection::vec((any::<bool>(), 1u64..3_000), 1..8),
        schedule in prop::collection::vec((0usize..8, 0u64..400), 1..64),
        fail_at in prop::option::of(0usize..8),
    ) {
        let store = MemoryDecisionStore::default();
        let clock = MemoryClock::at(1_800_000_000_000);
        let velocity = Velocity { window_seconds: 600, max_per_token: 5 };
        let yielding = Yielding { store: &store, fail_complete_of: fail_at.map(|i| format!("attempt-{i}")) };
        let requests: Vec<(SettlementRequest, Attempt)> = attempts
            .iter()
            .enumerate()
            .map(|(index, &(approve, remaining_ms))| {
                let request = SettlementRequest {
                    decision: if approve { Decision::Approved } else { Decision::Declined },
                    payment: RawPayment(sample()),
                    screening: json!({"validation": {"rejections": []}, "fraud": {"score": 0, "signals": []}}),
                };
                let attempt = Attempt {
                    attempt_id: format!("attempt-{index}"),
                    deadline_ms: clock.now_ms() + remaining_ms,
                    reserve_ms: 0,
                    audit_retention_days: 90,
                };
                (request, attempt)
            })
            .collect();
        let futures: Vec<_> = requests
            .iter()
            .map(|(request, attempt)| settle(&yielding, &clock, request, attempt, &velocity))
            .collect();
        let answers = run_interleaved(futures, &schedule, &clock);
        let mut outcomes = Vec::new();
        for answer in answers {
            match answer {
                Ok(SettlementAnswer::Recorded(result)) => outcomes.push(result.outcome),
                Ok(other) => prop_assert!(false, "same payload, so never refused: {:?}", other),
                Err(error) => prop_assert_eq!(error.class(), ErrorClass::Retryable, "{}", error),
            }
        }
        let audits = store.audit_entries();
        prop_assert!(audits.len() <= 1);
        prop_assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "every answer is the recorded one");
        if let Some(first) = outcomes.first() {
            prop_assert_eq!(audits.len(), 1);
            prop_assert_eq!(audits[0].outcome, *first);
        }
        let counted: u64 = store.cards().iter().map(|c| c.payments).sum();
        prop_assert_eq!(counted, audits.len() as u64, "the card counts each decision once");
    }
}

/// The memory store, yielding once before each call so that the scheduler can interleave
/// attempts between any two store operations; it can fail one attempt's completion.
struct Yielding<'a> {
    store: &'a MemoryDecisionStore,
    fail_complete_of: Option<String>,
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

impl DecisionStore for Yielding<'_> {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        YieldOnce(false).await;
        self.store.claim(claim).await
    }
    async fn complete(&self, completion: &Completion) -> Result<CompleteOutcome, StoreError> {
        YieldOnce(false).await;
        if self.fail_complete_of.as_deref() == Some(completion.claim.attempt_id.as_str()) {
            return Err(StoreError::Unavailable {
                service: "test",
                detail: "injected".into(),
            });
        }
        self.store.complete(completion).await
    }
    async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        YieldOnce(false).await;
        self.store.release(claim).await
    }
    async fn get(&self, transaction_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        YieldOnce(false).await;
        self.store.get(transaction_id).await
    }
}

/// Polls the futures in the order the schedule gives (cycling through it), moving the
/// clock between steps, until every one has answered.
fn run_interleaved<F: Future<Output = Result<SettlementAnswer, SettlementError>>>(
    futures: Vec<F>,
    schedule: &[(usize, u64)],
    clock: &MemoryClock,
) -> Vec<Result<SettlementAnswer, SettlementError>> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut answers: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut context = Context::from_waker(Waker::noop());
    let mut step = 0usize;
    while answers.iter().any(Option::is_none) {
        let (pick, advance) = schedule[step % schedule.len()];
        // The pick among the unfinished ones, so that no step is wasted.
        let pending: Vec<usize> = (0..futures.len())
            .filter(|&i| answers[i].is_none())
            .collect();
        let index = pending[pick % pending.len()];
        if let Poll::Ready(answer) = futures[index].as_mut().poll(&mut context) {
            answers[index] = Some(answer);
        }
        clock.advance(advance);
        step += 1;
        assert!(
            step < 1_000_000,
            "the attempts must end within their deadlines"
        );
    }
    answers
        .into_iter()
        .map(|a| a.expect("all answered"))
        .collect()
}

#[test]
fn a_crashed_holder_is_taken_over_once_its_claim_expires() {
    let store = MemoryDecisionStore::default();
    let clock = MemoryClock::at(1_000);
    let payment = Payment::from_value(&sample()).unwrap();
    store.insert_claim(&payment, "crashed", 1_500);
    let request = SettlementRequest {
        decision: Decision::Approved,
        payment: RawPayment(sample()),
        screening: json!({"fraud": {"score": 0}}),
    };
    let attempt = Attempt {
        attempt_id: "next".into(),
        deadline_ms: 3_000,
        reserve_ms: 0,
        audit_retention_days: 90,
    };
    let velocity = Velocity {
        window_seconds: 600,
        max_per_token: 5,
    };
    let answer = block_on(settle(&store, &clock, &request, &attempt, &velocity)).unwrap();
    assert!(
        matches!(answer, SettlementAnswer::Recorded(ref r) if r.outcome == Outcome::Settled && !r.replayed)
    );
}
