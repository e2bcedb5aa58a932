//! Fraud scoring by pattern (seed 004): each signal adds weight; a score at or above the
//! configured threshold declines the payment. Thresholds are read in hundredths of a major
//! unit so that one rule set reads alike for EUR, JPY and KWD.

use crate::errors::{Classify, ConfigError, ErrorClass, StoreError};
use crate::payment::{InvalidPayment, Payment};
use crate::ports::PaymentHistory;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rule settings (SSM `fraud-rules`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FraudRules {
    pub decline_score: u32,
    pub velocity_window_seconds: u64,
    pub velocity_max_per_token: u32,
    pub high_amount_minor: u64,
    pub round_amount_minor: u64,
    pub blocked_countries: Vec<String>,
    pub rapid_retry_seconds: u64,
}

impl FraudRules {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let rules: FraudRules = serde_json::from_str(text).map_err(|e| ConfigError {
            name: "FRAUD_RULES".into(),
            detail: e.to_string(),
        })?;
        if rules.decline_score == 0 || rules.round_amount_minor == 0 {
            return Err(ConfigError {
                name: "FRAUD_RULES".into(),
                detail: "decline_score and round_amount_minor must be positive".into(),
            });
        }
        Ok(rules)
    }
}

/// One earlier payment of the same merchant, as the merchant index returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentPayment {
    pub transaction_id: String,
    pub token_fingerprint: String,
    pub amount_minor: u64,
    pub currency: String,
    pub created_at_ms: u64,
}

/// A pattern that raised the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum FraudSignal {
    BlockedCountry { country: String },
    Velocity { payments_in_window: u32 },
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

/// The fraud-detector's answer, as the state machine's `Choice` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FraudAssessment {
    pub score: u32,
    pub approved: bool,
    pub signals: Vec<FraudSignal>,
}

// ANCHOR: assess
/// Scores a payment against the merchant's recent payments (other transactions only).
pub fn assess(
    payment: &Payment,
    recent: &[RecentPayment],
    rules: &FraudRules,
    now_ms: u64,
) -> FraudAssessment {
    let mut signals = Vec::new();
    if rules.blocked_countries.contains(&payment.country) {
        signals.push(FraudSignal::BlockedCountry {
            country: payment.country.clone(),
        });
    }
    let fingerprint = payment.token_fingerprint();
    let same_card: Vec<&RecentPayment> = recent
        .iter()
        .filter(|p| {
            p.transaction_id != payment.transaction_id && p.token_fingerprint == fingerprint
        })
        .collect();
    let window_start = now_ms.saturating_sub(rules.velocity_window_seconds * 1000);
    let in_window = same_card
        .iter()
        .filter(|p| p.created_at_ms >= window_start)
        .count() as u32;
    if in_window >= rules.velocity_max_per_token {
        signals.push(FraudSignal::Velocity {
            payments_in_window: in_window,
        });
    }
    let retry_start = now_ms.saturating_sub(rules.rapid_retry_seconds * 1000);
    let rapid_retry = same_card.iter().any(|p| {
        p.created_at_ms >= retry_start
            && p.amount_minor == payment.amount.minor
            && p.currency == payment.amount.currency.code()
    });
    if rapid_retry {
        signals.push(FraudSignal::RapidRetry);
    }
    let hundredths = payment.amount.in_hundredths();
    if hundredths >= u128::from(rules.high_amount_minor) {
        signals.push(FraudSignal::HighAmount);
    }
    let round = u128::from(rules.round_amount_minor);
    if hundredths >= round && hundredths.is_multiple_of(round) {
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
    }
}
// ANCHOR_END: assess

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FraudError {
    #[error(transparent)]
    Invalid(#[from] InvalidPayment),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for FraudError {
    fn class(&self) -> ErrorClass {
        match self {
            FraudError::Invalid(e) => e.class(),
            FraudError::Store(e) => e.class(),
        }
    }
}

/// The fraud-detector function's work: parse, read the merchant's recent payments, score.
pub async fn screen(
    input: &Value,
    history: &impl PaymentHistory,
    rules: &FraudRules,
    now_ms: u64,
) -> Result<FraudAssessment, FraudError> {
    let payment = Payment::from_value(input)?;
    let since =
        now_ms.saturating_sub(rules.velocity_window_seconds.max(rules.rapid_retry_seconds) * 1000);
    let recent = history.recent(&payment.merchant_id, since).await?;
    Ok(assess(&payment, &recent, rules, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::tests::sample;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000_000;

    fn rules() -> FraudRules {
        FraudRules::from_json(
            r#"{"decline_score": 70, "velocity_window_seconds": 600, "velocity_max_per_token": 5,
                "high_amount_minor": 500000, "round_amount_minor": 100000,
                "blocked_countries": ["KP"], "rapid_retry_seconds": 30}"#,
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

    fn earlier(p: &Payment, id: usize, seconds_ago: u64, amount: u64) -> RecentPayment {
        RecentPayment {
            transaction_id: format!("earlier-{id}"),
            token_fingerprint: p.token_fingerprint(),
            amount_minor: amount,
            currency: "EUR".into(),
            created_at_ms: NOW - seconds_ago * 1000,
        }
    }

    #[test]
    fn an_ordinary_payment_is_approved_with_no_signal() {
        let assessment = assess(&payment(json!({})), &[], &rules(), NOW);
        assert_eq!(
            assessment,
            FraudAssessment {
                score: 0,
                approved: true,
                signals: vec![]
            }
        );
    }

    #[test]
    fn a_blocked_country_declines_alone() {
        let assessment = assess(&payment(json!({"country": "KP"})), &[], &rules(), NOW);
        assert!(!assessment.approved);
        assert_eq!(assessment.score, 100);
    }

    #[test]
    fn velocity_counts_the_same_card_inside_the_window_only() {
        let p = payment(json!({}));
        let mut recent: Vec<_> = (0..5).map(|i| earlier(&p, i, 60 + i as u64, 999)).collect();
        recent.push(earlier(&p, 9, 3600, 999));
        let assessment = assess(&p, &recent, &rules(), NOW);
        assert_eq!(
            assessment.signals,
            vec![FraudSignal::Velocity {
                payments_in_window: 5
            }]
        );
        assert!(assessment.approved, "velocity alone scores 60, under 70");
    }

    #[test]
    fn velocity_and_rapid_retry_together_decline() {
        let p = payment(json!({}));
        let mut recent: Vec<_> = (0..4).map(|i| earlier(&p, i, 100, 999)).collect();
        recent.push(earlier(&p, 7, 5, 1250));
        let assessment = assess(&p, &recent, &rules(), NOW);
        assert!(assessment.signals.contains(&FraudSignal::RapidRetry));
        assert!(!assessment.approved);
    }

    #[test]
    fn the_payment_itself_is_not_counted_on_replay() {
        let p = payment(json!({}));
        let mut own = earlier(&p, 0, 1, 1250);
        own.transaction_id = p.transaction_id.clone();
        assert!(assess(&p, &[own], &rules(), NOW).signals.is_empty());
    }

    #[test]
    fn amount_thresholds_read_alike_across_exponents() {
        let eur = assess(
            &payment(json!({"amount_minor": 510000})),
            &[],
            &rules(),
            NOW,
        );
        let jpy = assess(
            &payment(json!({"amount_minor": 5100, "currency": "JPY"})),
            &[],
            &rules(),
            NOW,
        );
        assert_eq!(eur.signals, vec![FraudSignal::HighAmount]);
        assert_eq!(jpy.signals, eur.signals);
        let round = assess(
            &payment(json!({"amount_minor": 200000})),
            &[],
            &rules(),
            NOW,
        );
        assert_eq!(round.signals, vec![FraudSignal::RoundAmount]);
    }

    #[test]
    fn invalid_rules_are_refused() {
        assert!(FraudRules::from_json(r#"{"decline_score": 0}"#).is_err());
    }
}
