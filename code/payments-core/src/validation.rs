//! Business validation: who may submit this merchant's payments, is the merchant active,
//! does it accept this currency, is the amount within its bounds? Every answer is data —
//! a verdict the workflow routes on — never a Lambda error: a client's mistake is not a
//! fault of the system (reviews M5, F15).

use crate::errors::{ConfigError, StoreError};
use crate::merchant::{AmountLimits, MerchantConfig};
use crate::money::Currency;
use crate::payment::{InvalidPayment, Payment, RawPayment};
use crate::ports::MerchantDirectory;
use serde::{Deserialize, Serialize};

/// Defaults for merchants without per-currency bounds (SSM `validation-rules`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ValidationRules {
    pub min_amount_minor: u64,
    pub max_amount_minor: u64,
    pub currencies: Vec<String>,
}

impl ValidationRules {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let name = "VALIDATION_RULES";
        let rules: ValidationRules =
            serde_json::from_str(text).map_err(|e| ConfigError::new(name, e.to_string()))?;
        if rules.min_amount_minor > rules.max_amount_minor {
            return Err(ConfigError::new(name, "min above max"));
        }
        if let Some(code) = rules
            .currencies
            .iter()
            .find(|c| Currency::from_code(c).is_none())
        {
            return Err(ConfigError::new(name, format!("unknown currency {code}")));
        }
        Ok(rules)
    }
}

/// What the validator function receives: the client's body and who sent it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorInput {
    pub payment: RawPayment,
    pub caller: Caller,
}

/// The caller as API Gateway identified it (`$context.identity.apiKeyId`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caller {
    pub api_key_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Every rule passed.
    Accepted,
    /// A business rule declined it; it is recorded as declined.
    Declined,
    /// The body is not a payment (422).
    Invalid,
    /// The caller's key is not bound to the merchant, or the merchant is unknown (403).
    Forbidden,
}

/// Why validation declined or refused a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rejection {
    /// Unknown merchant and foreign key alike: the answer does not tell which merchant ids
    /// exist.
    MerchantNotBound,
    MerchantInactive,
    CurrencyNotAccepted {
        currency: String,
    },
    AmountBelowMinimum {
        min_amount_minor: u64,
    },
    AmountAboveMaximum {
        max_amount_minor: u64,
    },
}

/// The validator's answer, as the state machine's `Choice` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationAnswer {
    pub verdict: Verdict,
    pub rejections: Vec<Rejection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<InvalidPayment>,
    /// The parsed transaction id, for the function's log line; not part of the answer.
    #[serde(skip)]
    pub transaction_id: Option<String>,
}

// ANCHOR: validate
/// Applies the merchant's rules, or the defaults where the merchant sets none.
pub fn validate(
    payment: &Payment,
    merchant: &MerchantConfig,
    rules: &ValidationRules,
) -> Vec<Rejection> {
    let mut rejections = Vec::new();
    let currency = payment.amount.currency.code();
    if !merchant.active {
        rejections.push(Rejection::MerchantInactive);
    }
    let limits = if merchant.currencies.is_empty() {
        rules
            .currencies
            .iter()
            .any(|c| c == currency)
            .then_some(AmountLimits {
                min_amount_minor: rules.min_amount_minor,
                max_amount_minor: rules.max_amount_minor,
            })
    } else {
        merchant.currencies.get(currency).copied()
    };
    match limits {
        None => rejections.push(Rejection::CurrencyNotAccepted {
            currency: currency.to_string(),
        }),
        Some(limits) => {
            let amount = payment.amount.minor;
            if amount < limits.min_amount_minor {
                rejections.push(Rejection::AmountBelowMinimum {
                    min_amount_minor: limits.min_amount_minor,
                });
            }
            if amount > limits.max_amount_minor {
                rejections.push(Rejection::AmountAboveMaximum {
                    max_amount_minor: limits.max_amount_minor,
                });
            }
        }
    }
    rejections
}
// ANCHOR_END: validate

/// The validator function's work: parse the payment (INVALID), look the merchant up and
/// check the caller's key is bound to it (FORBIDDEN), then the business rules (ACCEPTED or
/// DECLINED). Only a failing or malformed store is an error.
pub async fn screen(
    input: &ValidatorInput,
    merchants: &impl MerchantDirectory,
    rules: &ValidationRules,
) -> Result<ValidationAnswer, StoreError> {
    let payment = match Payment::from_raw(&input.payment) {
        Ok(payment) => payment,
        Err(invalid) => {
            return Ok(ValidationAnswer {
                verdict: Verdict::Invalid,
                rejections: Vec::new(),
                invalid: Some(invalid),
                transaction_id: None,
            });
        }
    };
    let transaction_id = Some(payment.transaction_id.clone());
    let merchant = if input.caller.api_key_id.is_empty() {
        None
    } else {
        merchants.merchant(&payment.merchant_id).await?
    };
    let Some(merchant) = merchant.filter(|m| m.binds(&input.caller.api_key_id)) else {
        return Ok(ValidationAnswer {
            verdict: Verdict::Forbidden,
            rejections: vec![Rejection::MerchantNotBound],
            invalid: None,
            transaction_id,
        });
    };
    let rejections = validate(&payment, &merchant, rules);
    Ok(ValidationAnswer {
        verdict: if rejections.is_empty() {
            Verdict::Accepted
        } else {
            Verdict::Declined
        },
        rejections,
        invalid: None,
        transaction_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryMerchants, block_on};
    use crate::payment::tests::sample;
    use serde_json::json;
    use std::collections::BTreeMap;

    const KEY: &str = "key-merchant-001";

    fn rules() -> ValidationRules {
        ValidationRules::from_json(
            r#"{"min_amount_minor": 1, "max_amount_minor": 100000, "currencies": ["EUR", "USD"]}"#,
        )
        .unwrap()
    }

    fn merchant(active: bool, currencies: &[(&str, u64, u64)]) -> MerchantConfig {
        MerchantConfig {
            merchant_id: "merchant-001".into(),
            active,
            currencies: currencies
                .iter()
                .map(|&(c, min, max)| {
                    (
                        c.to_string(),
                        AmountLimits {
                            min_amount_minor: min,
                            max_amount_minor: max,
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            api_key_ids: [KEY.to_string()].into(),
        }
    }

    fn payment(amount: u64, currency: &str) -> Payment {
        let mut body = sample();
        body["amount_minor"] = amount.into();
        body["currency"] = currency.into();
        Payment::from_value(&body).unwrap()
    }

    fn input(payment: serde_json::Value, key: &str) -> ValidatorInput {
        serde_json::from_value(json!({"payment": payment, "caller": {"api_key_id": key}})).unwrap()
    }

    fn directory(merchant: MerchantConfig) -> MemoryMerchants {
        let mut merchants = MemoryMerchants::default();
        merchants
            .merchants
            .insert(merchant.merchant_id.clone(), merchant);
        merchants
    }

    #[test]
    fn an_active_merchant_within_default_bounds_is_accepted() {
        let rejections = validate(&payment(1250, "EUR"), &merchant(true, &[]), &rules());
        assert!(rejections.is_empty(), "{rejections:?}");
    }

    #[test]
    fn an_inactive_merchant_is_declined() {
        let rejections = validate(&payment(1250, "EUR"), &merchant(false, &[]), &rules());
        assert_eq!(rejections, vec![Rejection::MerchantInactive]);
    }

    #[test]
    fn merchant_bounds_are_per_currency() {
        let m = merchant(true, &[("EUR", 100, 5000), ("JPY", 50, 9000)]);
        assert!(validate(&payment(1250, "EUR"), &m, &rules()).is_empty());
        assert_eq!(
            validate(&payment(6000, "EUR"), &m, &rules()),
            vec![Rejection::AmountAboveMaximum {
                max_amount_minor: 5000
            }]
        );
        assert_eq!(
            validate(&payment(10, "JPY"), &m, &rules()),
            vec![Rejection::AmountBelowMinimum {
                min_amount_minor: 50
            }]
        );
        assert_eq!(
            validate(&payment(1250, "USD"), &m, &rules()),
            vec![Rejection::CurrencyNotAccepted {
                currency: "USD".into()
            }]
        );
    }

    #[test]
    fn an_amount_exactly_at_the_merchant_minimum_or_maximum_is_accepted() {
        // Both bounds are inclusive, for a merchant's own limits and for the defaults
        // (whose minimum, 1, is the parser's: 0 never reaches validation).
        let own = merchant(true, &[("EUR", 100, 5000)]);
        let defaults = merchant(true, &[]);
        for (m, min, max) in [(&own, 100, 5000), (&defaults, 1, 100_000)] {
            assert!(validate(&payment(min, "EUR"), m, &rules()).is_empty());
            assert!(validate(&payment(max, "EUR"), m, &rules()).is_empty());
            assert_eq!(
                validate(&payment(max + 1, "EUR"), m, &rules()),
                vec![Rejection::AmountAboveMaximum {
                    max_amount_minor: max
                }]
            );
        }
        assert_eq!(
            validate(&payment(99, "EUR"), &own, &rules()),
            vec![Rejection::AmountBelowMinimum {
                min_amount_minor: 100
            }]
        );
    }

    #[test]
    fn a_merchant_without_its_own_limits_accepts_only_the_default_currencies() {
        let defaults = merchant(true, &[]);
        for accepted in ["EUR", "USD"] {
            assert!(validate(&payment(1250, accepted), &defaults, &rules()).is_empty());
        }
        for refused in ["GBP", "JPY", "CHF"] {
            assert_eq!(
                validate(&payment(1250, refused), &defaults, &rules()),
                vec![Rejection::CurrencyNotAccepted {
                    currency: refused.into()
                }],
                "{refused}"
            );
        }
    }

    #[test]
    fn every_verdict_is_an_answer_in_the_documented_order() {
        let merchants = directory(merchant(true, &[]));
        let screen = |input: ValidatorInput| block_on(screen(&input, &merchants, &rules()));

        let accepted = screen(input(sample(), KEY)).unwrap();
        assert_eq!(accepted.verdict, Verdict::Accepted);
        assert_eq!(
            serde_json::to_value(&accepted).unwrap(),
            json!({"verdict": "ACCEPTED", "rejections": []})
        );

        // A body that is not a payment is INVALID before anyone is looked up.
        let mut bad = sample();
        bad["currency"] = json!("XXX");
        let invalid = screen(input(bad, "")).unwrap();
        assert_eq!(
            serde_json::to_value(&invalid).unwrap(),
            json!({"verdict": "INVALID", "rejections": [],
                   "invalid": {"field": "currency", "reason": "is not a supported ISO 4217 code"}})
        );

        for (merchant_id, key) in [
            ("merchant-001", "key-of-another-merchant"),
            ("merchant-001", ""),
            ("merchant-404", KEY),
        ] {
            let mut body = sample();
            body["merchant_id"] = json!(merchant_id);
            let forbidden = screen(input(body, key)).unwrap();
            assert_eq!(
                serde_json::to_value(&forbidden).unwrap(),
                json!({"verdict": "FORBIDDEN", "rejections": [{"rule": "merchant_not_bound"}]}),
                "{merchant_id} {key}"
            );
        }

        let mut big = sample();
        big["amount_minor"] = json!(100_001);
        let declined = screen(input(big, KEY)).unwrap();
        assert_eq!(declined.verdict, Verdict::Declined);
        assert_eq!(
            declined.transaction_id.as_deref(),
            Some("0f8fad5b-d9cb-469f-a165-70867728950e")
        );
    }

    #[test]
    fn an_inactive_bound_merchant_is_declined_not_forbidden() {
        let merchants = directory(merchant(false, &[]));
        let answer = block_on(screen(&input(sample(), KEY), &merchants, &rules())).unwrap();
        assert_eq!(answer.verdict, Verdict::Declined);
        assert_eq!(answer.rejections, vec![Rejection::MerchantInactive]);
    }

    #[test]
    fn the_input_must_name_the_caller() {
        let missing: Result<ValidatorInput, _> = serde_json::from_value(json!({"payment": {}}));
        assert!(missing.is_err());
    }

    #[test]
    fn default_limits_may_admit_a_single_amount_but_not_none() {
        let equal = ValidationRules::from_json(
            r#"{"min_amount_minor": 500, "max_amount_minor": 500, "currencies": ["EUR"]}"#,
        )
        .unwrap();
        let defaults = merchant(true, &[]);
        assert!(validate(&payment(500, "EUR"), &defaults, &equal).is_empty());
        assert!(!validate(&payment(501, "EUR"), &defaults, &equal).is_empty());
        assert!(
            ValidationRules::from_json(
                r#"{"min_amount_minor": 501, "max_amount_minor": 500, "currencies": ["EUR"]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn broken_rules_are_a_configuration_error() {
        assert!(ValidationRules::from_json("{}").is_err());
        assert!(
            ValidationRules::from_json(
                r#"{"min_amount_minor": 9, "max_amount_minor": 1, "currencies": []}"#
            )
            .is_err()
        );
        assert!(
            ValidationRules::from_json(
                r#"{"min_amount_minor": 1, "max_amount_minor": 9, "currencies": ["EURO"]}"#
            )
            .is_err()
        );
    }
}
