//! Fraud scoring by pattern (seed 004): each signal adds weight; a score at or above the
//! configured threshold declines the payment. Amount thresholds are per currency, in that
//! currency's minor units (review F10): one number for every currency would flag ¥5,000
//! (about €30) as large. Velocity and rapid retry read the card's two activity windows —
//! O(1) per payment at any merchant rate (review F9); the settlement's capped counter is
//! what stops concurrent payments of one card ([`crate::velocity`]).

use crate::errors::{ConfigError, StoreError};
use crate::money::Currency;
use crate::payment::{InvalidPayment, Payment, RawPayment};
use crate::ports::CardActivityReader;
use crate::records::CardHistory;
use crate::velocity::Velocity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rule settings (SSM `fraud-rules`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudRules {
    pub decline_score: u32,
    pub velocity_window_seconds: u64,
    pub velocity_max_per_token: u32,
    pub rapid_retry_seconds: u64,
    /// Per currency, in its minor units; a currency missing here raises no signal.
    pub high_amount_minor: BTreeMap<String, u64>,
    /// Per currency, in its minor units; a currency missing here raises no signal.
    pub round_amount_minor: BTreeMap<String, u64>,
    pub blocked_countries: Vec<String>,
}

/// The longest velocity window accepted: one day.
pub const MAX_WINDOW_SECONDS: u64 = 86_400;

impl FraudRules {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let fail = |detail: String| ConfigError::new("FRAUD_RULES", detail);
        let rules: FraudRules = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        if !(1..=100).contains(&rules.decline_score) {
            return Err(fail("decline_score must be 1..=100".into()));
        }
        if !(1..=MAX_WINDOW_SECONDS).contains(&rules.velocity_window_seconds) {
            return Err(fail(format!(
                "velocity_window_seconds must be 1..={MAX_WINDOW_SECONDS}"
            )));
        }
        if rules.velocity_max_per_token == 0 {
            return Err(fail("velocity_max_per_token must be at least 1".into()));
        }
        // Rapid retry reads last_* of the two windows the detector reads.
        if rules.rapid_retry_seconds > rules.velocity_window_seconds {
            return Err(fail(
                "rapid_retry_seconds must not exceed velocity_window_seconds".into(),
            ));
        }
        for (name, map) in [
            ("high_amount_minor", &rules.high_amount_minor),
            ("round_amount_minor", &rules.round_amount_minor),
        ] {
            for (code, threshold) in map {
                if Currency::from_code(code).is_none() {
                    return Err(fail(format!("{name}: unknown currency {code}")));
                }
                if *threshold == 0 {
                    return Err(fail(format!("{name}.{code} must be positive")));
                }
            }
        }
        Ok(rules)
    }

    /// The velocity window and per-card cap settlement enforces.
    pub fn velocity(&self) -> Velocity {
        Velocity {
            window_seconds: self.velocity_window_seconds,
            max_per_token: self.velocity_max_per_token,
        }
    }
}

/// A pattern that raised the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum FraudSignal {
    BlockedCountry { country: String },
    Velocity { payments_in_window: u64 },
    RapidRetry,
    HighAmount,
    RoundAmount,
}

// ANCHOR: weights
impl FraudSignal {
    fn weight(&self) -> u32 {
        match self {
            FraudSignal::BlockedCountry { .. } => 100,
            FraudSignal::Velocity { .. } => 60,
            FraudSignal::RapidRetry => 40,
            FraudSignal::HighAmount => 30,
            FraudSignal::RoundAmount => 15,
        }
    }
}
// ANCHOR_END: weights

/// The fraud-detector's answer, as the state machine's `Choice` reads it. A body that is
/// not a payment is answered, not raised: score 0, not approved, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FraudAssessment {
    pub score: u32,
    pub approved: bool,
    pub signals: Vec<FraudSignal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<InvalidPayment>,
    /// The parsed transaction id, for the function's log line; not part of the answer.
    #[serde(skip)]
    pub transaction_id: Option<String>,
}

// ANCHOR: assess
/// Scores a payment against its card's activity windows.
pub fn assess(
    payment: &Payment,
    history: &CardHistory,
    rules: &FraudRules,
    now_ms: u64,
) -> FraudAssessment {
    let mut signals = Vec::new();
    if rules.blocked_countries.contains(&payment.country) {
        signals.push(FraudSignal::BlockedCountry {
            country: payment.country.clone(),
        });
    }
    let in_window = rules.velocity().estimate(history, now_ms);
    if in_window >= u64::from(rules.velocity_max_per_token) {
        signals.push(FraudSignal::Velocity {
            payments_in_window: in_window,
        });
    }
    let last = [&history.current, &history.previous]
        .into_iter()
        .flatten()
        .max_by_key(|w| w.last_at_ms);
    let rapid_retry = last.is_some_and(|last| {
        last.last_transaction_id != payment.transaction_id
            && now_ms.saturating_sub(last.last_at_ms)
                <= rules.rapid_retry_seconds.saturating_mul(1000)
            && last.last_amount_minor == payment.amount.minor
            && last.last_currency == payment.amount.currency.code()
    });
    if rapid_retry {
        signals.push(FraudSignal::RapidRetry);
    }
    let code = payment.amount.currency.code();
    let amount = payment.amount.minor;
    if rules
        .high_amount_minor
        .get(code)
        .is_some_and(|&high| amount >= high)
    {
        signals.push(FraudSignal::HighAmount);
    }
    if rules
        .round_amount_minor
        .get(code)
        .is_some_and(|&round| amount >= round && amount.is_multiple_of(round))
    {
        signals.push(FraudSignal::RoundAmount);
    }
    let score = signals
        .iter()
        .map(FraudSignal::weight)
        .sum::<u32>()
        .min(100);
    FraudAssessment {
        score,
        approved: score < rules.decline_score,
        signals,
        invalid: None,
        transaction_id: Some(payment.transaction_id.clone()),
    }
}
// ANCHOR_END: assess

/// What the fraud-detector function receives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudInput {
    pub payment: RawPayment,
}

/// The fraud-detector function's work: parse, read the card's two windows, score.
pub async fn screen(
    input: &FraudInput,
    cards: &impl CardActivityReader,
    rules: &FraudRules,
    now_ms: u64,
) -> Result<FraudAssessment, StoreError> {
    let payment = match Payment::from_raw(&input.payment) {
        Ok(payment) => payment,
        Err(invalid) => {
            return Ok(FraudAssessment {
                score: 0,
                approved: false,
                signals: Vec::new(),
                invalid: Some(invalid),
                transaction_id: None,
            });
        }
    };
    let (current, previous) = rules.velocity().keys(&payment.token_fingerprint(), now_ms);
    let history = cards.windows(&current, &previous).await?;
    Ok(assess(&payment, &history, rules, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::tests::sample;
    use crate::records::CardActivity;
    use serde_json::json;

    /// The start of a 10-minute window (a multiple of 600 000 ms), so the previous window
    /// counts fully.
    const NOW: u64 = 1_800_000_000_000;

    pub(crate) fn rules() -> FraudRules {
        FraudRules::from_json(
            r#"{"decline_score": 70, "velocity_window_seconds": 600, "velocity_max_per_token": 5,
                "rapid_retry_seconds": 30,
                "high_amount_minor": {"EUR": 500000, "JPY": 750000, "KWD": 1500000},
                "round_amount_minor": {"EUR": 100000, "JPY": 100000, "KWD": 300000},
                "blocked_countries": ["KP"]}"#,
        )
        .unwrap()
    }

    fn payment(changes: serde_json::Value) -> Payment {
        let mut body = sample();
        for (k, v) in changes.as_object().unwrap() {
            body[k] = v.clone();
        }
        Payment::from_value(&body).unwrap()
    }

    fn window(payments: u64, seconds_ago: u64, amount: u64, txn: &str) -> CardActivity {
        CardActivity {
            card_key: "k".into(),
            payments,
            last_amount_minor: amount,
            last_currency: "EUR".into(),
            last_at_ms: NOW - seconds_ago * 1000,
            last_transaction_id: txn.into(),
            expires_at: 0,
        }
    }

    fn signals(p: &Payment, history: &CardHistory) -> Vec<FraudSignal> {
        assess(p, history, &rules(), NOW).signals
    }

    #[test]
    fn an_ordinary_payment_is_approved_with_no_signal() {
        let assessment = assess(&payment(json!({})), &CardHistory::default(), &rules(), NOW);
        assert_eq!((assessment.score, assessment.approved), (0, true));
        assert!(assessment.signals.is_empty());
    }

    #[test]
    fn a_blocked_country_declines_alone() {
        let assessment = assess(
            &payment(json!({"country": "KP"})),
            &CardHistory::default(),
            &rules(),
            NOW,
        );
        assert!(!assessment.approved);
        assert_eq!(assessment.score, 100);
    }

    #[test]
    fn velocity_counts_both_windows_of_the_card() {
        let p = payment(json!({}));
        let history = CardHistory {
            current: Some(window(2, 60, 999, "t1")),
            previous: Some(window(3, 700, 999, "t0")),
        };
        let found = signals(&p, &history);
        assert_eq!(
            found,
            vec![FraudSignal::Velocity {
                payments_in_window: 5
            }]
        );
        assert!(
            assess(&p, &history, &rules(), NOW).approved,
            "velocity alone scores 60, under 70"
        );
        let fewer = CardHistory {
            current: Some(window(4, 60, 999, "t1")),
            previous: None,
        };
        assert!(signals(&p, &fewer).is_empty());
    }

    #[test]
    fn velocity_and_rapid_retry_together_decline() {
        let p = payment(json!({}));
        let history = CardHistory {
            current: Some(window(5, 5, 1250, "earlier")),
            previous: None,
        };
        let assessment = assess(&p, &history, &rules(), NOW);
        assert!(assessment.signals.contains(&FraudSignal::RapidRetry));
        assert!(!assessment.approved);
    }

    #[test]
    fn rapid_retry_needs_the_same_amount_within_the_retry_time() {
        let p = payment(json!({}));
        let at = |seconds_ago, amount| CardHistory {
            current: Some(window(1, seconds_ago, amount, "earlier")),
            previous: None,
        };
        assert_eq!(signals(&p, &at(30, 1250)), vec![FraudSignal::RapidRetry]);
        assert!(signals(&p, &at(31, 1250)).is_empty());
        assert!(signals(&p, &at(5, 1251)).is_empty());
    }

    #[test]
    fn the_payment_itself_is_not_its_own_rapid_retry_on_replay() {
        let p = payment(json!({}));
        let own = CardHistory {
            current: Some(window(1, 1, 1250, &p.transaction_id)),
            previous: None,
        };
        assert!(signals(&p, &own).is_empty());
    }

    #[test]
    fn amount_thresholds_are_per_currency_in_minor_units() {
        let none = CardHistory::default();
        // ¥5,100 is about €30: not large, and not round at ¥100,000.
        assert!(
            signals(
                &payment(json!({"amount_minor": 5100, "currency": "JPY"})),
                &none
            )
            .is_empty()
        );
        assert_eq!(
            signals(&payment(json!({"amount_minor": 510000})), &none),
            vec![FraudSignal::HighAmount]
        );
        assert_eq!(
            signals(
                &payment(json!({"amount_minor": 750000, "currency": "JPY"})),
                &none
            ),
            vec![FraudSignal::HighAmount]
        );
        assert_eq!(
            signals(&payment(json!({"amount_minor": 200000})), &none),
            vec![FraudSignal::RoundAmount]
        );
        // 1000.005 KWD is not round; 300.000 KWD is.
        assert!(
            signals(
                &payment(json!({"amount_minor": 1000005, "currency": "KWD"})),
                &none
            )
            .is_empty()
        );
        assert_eq!(
            signals(
                &payment(json!({"amount_minor": 300000, "currency": "KWD"})),
                &none
            ),
            vec![FraudSignal::RoundAmount]
        );
        // A currency without a threshold raises no amount signal.
        assert!(
            signals(
                &payment(json!({"amount_minor": 100000000, "currency": "USD"})),
                &none
            )
            .is_empty()
        );
    }

    #[test]
    fn an_unparseable_payment_is_answered_not_raised() {
        let cards = crate::memory::MemoryDecisionStore::default();
        let input: FraudInput = serde_json::from_value(json!({"payment": {"x": 1}})).unwrap();
        let answer = crate::memory::block_on(screen(&input, &cards, &rules(), NOW)).unwrap();
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({"score": 0, "approved": false, "signals": [],
                   "invalid": {"field": "x", "reason": "is not a payment field (card numbers are never accepted)"}})
        );
    }

    #[test]
    fn a_score_exactly_at_decline_score_is_declined() {
        // A high, round euro amount scores 30 + 15 = 45.
        let p = payment(json!({"amount_minor": 500000}));
        let at = |decline_score| {
            let rules = FraudRules {
                decline_score,
                ..rules()
            };
            let assessment = assess(&p, &CardHistory::default(), &rules, NOW);
            assert_eq!(assessment.score, 45);
            assessment.approved
        };
        assert!(!at(45), "at the threshold: declined");
        assert!(!at(44));
        assert!(at(46), "one point below the threshold: approved");
    }

    #[test]
    fn rapid_retry_may_last_as_long_as_the_velocity_window_but_no_longer() {
        let with = |rapid_retry_seconds: u64| {
            FraudRules::from_json(
                &json!({
                    "decline_score": 70, "velocity_window_seconds": 600,
                    "velocity_max_per_token": 5, "rapid_retry_seconds": rapid_retry_seconds,
                    "high_amount_minor": {}, "round_amount_minor": {}, "blocked_countries": []
                })
                .to_string(),
            )
        };
        assert!(with(600).is_ok());
        assert!(with(601).is_err());
    }

    #[test]
    fn invalid_rules_are_refused() {
        let valid = serde_json::to_value(json!({
            "decline_score": 70, "velocity_window_seconds": 600, "velocity_max_per_token": 5,
            "rapid_retry_seconds": 30, "high_amount_minor": {"EUR": 1}, "round_amount_minor": {"EUR": 1},
            "blocked_countries": []
        }))
        .unwrap();
        assert!(FraudRules::from_json(&valid.to_string()).is_ok());
        for (field, value) in [
            ("decline_score", json!(0)),
            ("decline_score", json!(101)),
            ("velocity_window_seconds", json!(0)),
            ("velocity_window_seconds", json!(86_401)),
            ("velocity_max_per_token", json!(0)),
            ("rapid_retry_seconds", json!(601)),
            ("high_amount_minor", json!({"EURO": 1})),
            ("round_amount_minor", json!({"EUR": 0})),
            ("high_amount_minor", json!(500000)),
            ("surprise", json!(1)),
        ] {
            let mut broken = valid.clone();
            broken[field] = value;
            assert!(
                FraudRules::from_json(&broken.to_string()).is_err(),
                "{field}"
            );
        }
    }
}
