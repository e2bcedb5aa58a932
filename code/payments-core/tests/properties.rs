//! Property tests: arbitrary and adversarial input never panics, always ends in a typed
//! answer, and settlement never records a transaction twice.

use payments_core::errors::{Classify, ErrorClass};
use payments_core::fraud::{FraudRules, assess};
use payments_core::memory::{MemoryDecisionStore, block_on};
use payments_core::payment::{FIELDS, Payment};
use payments_core::settlement::{Attempt, Decision, Outcome, SettlementRequest, settle};
use payments_core::validation::{ValidationRules, validate};
use proptest::prelude::*;
use serde_json::{Value, json};

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
            prop_assert_eq!(error.class(), ErrorClass::Invalid);
            prop_assert!(!error.field.is_empty());
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_names_a_field(value in any_json()) {
        match Payment::from_value(&value) {
            Ok(_) => prop_assert!(false, "random JSON should not be a valid payment: {}", value),
            Err(error) => prop_assert_eq!(error.class(), ErrorClass::Invalid),
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
                "high_amount_minor": 500000, "round_amount_minor": 100000,
                "blocked_countries": ["KP"], "rapid_retry_seconds": 30}"#).unwrap();
        let assessment = assess(&payment, &[], &fraud, 1_800_000_000_000);
        prop_assert!(assessment.score <= 100);
        prop_assert_eq!(assessment.approved, assessment.score < fraud.decline_score);
        let rules = ValidationRules::from_json(
            r#"{"min_amount_minor": 1, "max_amount_minor": 10000000, "currencies": ["EUR"]}"#).unwrap();
        let outcome = validate(&payment, None, &rules);
        prop_assert_eq!(outcome.accepted, outcome.rejections.is_empty());
    }

    #[test]
    fn any_sequence_of_attempts_settles_at_most_once(
        attempts in prop::collection::vec((any::<bool>(), 0u64..10_000, 1u64..3_000), 1..20),
    ) {
        let store = MemoryDecisionStore::default();
        let mut outcomes = Vec::new();
        for (index, (approve, now_ms, remaining_ms)) in attempts.into_iter().enumerate() {
            let mut state = sample();
            state["screening"] = json!({"validation": {"rejections": []}, "fraud": {"score": 0, "signals": []}});
            let request = SettlementRequest {
                decision: if approve { Decision::Approved } else { Decision::Declined },
                payment: state,
            };
            let attempt = Attempt { attempt_id: format!("attempt-{index}"), now_ms, remaining_ms, audit_retention_days: 90 };
            match block_on(settle(&store, &request, &attempt)) {
                Ok(result) => outcomes.push(result.outcome),
                Err(error) => prop_assert_eq!(error.class(), ErrorClass::Retryable),
            }
        }
        prop_assert!(store.audit_entries().len() <= 1);
        prop_assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "every answer is the recorded one");
        if let Some(first) = outcomes.first() {
            prop_assert!(matches!(first, Outcome::Settled | Outcome::Declined));
            prop_assert_eq!(store.audit_entries().len(), 1);
        }
    }
}
