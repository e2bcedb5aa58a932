//! Business validation: is this merchant active, does it accept this currency, is the
//! amount within its bounds? The answer is a decision, not an error: a rejected payment is
//! declined and recorded like any other.

use crate::errors::{Classify, ConfigError, ErrorClass, StoreError};
use crate::merchant::{AmountLimits, MerchantConfig};
use crate::payment::{InvalidPayment, Payment};
use crate::ports::MerchantDirectory;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Defaults for merchants without per-currency bounds (SSM `validation-rules`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ValidationRules {
    pub min_amount_minor: u64,
    pub max_amount_minor: u64,
    pub currencies: Vec<String>,
}

impl ValidationRules {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let rules: ValidationRules = serde_json::from_str(text).map_err(|e| ConfigError {
            name: "VALIDATION_RULES".into(),
            detail: e.to_string(),
        })?;
        if rules.min_amount_minor > rules.max_amount_minor {
            return Err(ConfigError {
                name: "VALIDATION_RULES".into(),
                detail: "min above max".into(),
            });
        }
        Ok(rules)
    }
}

/// Why validation declined a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rejection {
    UnknownMerchant,
    MerchantInactive,
    CurrencyNotAccepted { currency: String },
    AmountBelowMinimum { min_amount_minor: u64 },
    AmountAboveMaximum { max_amount_minor: u64 },
}

/// The validator's answer, as the state machine's `Choice` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationOutcome {
    pub accepted: bool,
    pub rejections: Vec<Rejection>,
}

// ANCHOR: validate
/// Applies the merchant's rules, or the defaults where the merchant sets none.
pub fn validate(
    payment: &Payment,
    merchant: Option<&MerchantConfig>,
    rules: &ValidationRules,
) -> ValidationOutcome {
    let mut rejections = Vec::new();
    let currency = payment.amount.currency.code();
    let limits = match merchant {
        None => {
            rejections.push(Rejection::UnknownMerchant);
            None
        }
        Some(merchant) => {
            if !merchant.active {
                rejections.push(Rejection::MerchantInactive);
            }
            if merchant.currencies.is_empty() {
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
            }
        }
    };
    match limits {
        None if merchant.is_some() => rejections.push(Rejection::CurrencyNotAccepted {
            currency: currency.to_string(),
        }),
        None => {}
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
    ValidationOutcome {
        accepted: rejections.is_empty(),
        rejections,
    }
}
// ANCHOR_END: validate

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Invalid(#[from] InvalidPayment),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for ValidateError {
    fn class(&self) -> ErrorClass {
        match self {
            ValidateError::Invalid(e) => e.class(),
            ValidateError::Store(e) => e.class(),
        }
    }
}

/// The validator function's work: parse the workflow input, look the merchant up, validate.
pub async fn screen(
    input: &Value,
    merchants: &impl MerchantDirectory,
    rules: &ValidationRules,
) -> Result<ValidationOutcome, ValidateError> {
    let payment = Payment::from_value(input)?;
    let merchant = merchants.merchant(&payment.merchant_id).await?;
    Ok(validate(&payment, merchant.as_ref(), rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::tests::sample;
    use std::collections::BTreeMap;

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
        }
    }

    fn payment(amount: u64, currency: &str) -> Payment {
        let mut body = sample();
        body["amount_minor"] = amount.into();
        body["currency"] = currency.into();
        Payment::from_value(&body).unwrap()
    }

    #[test]
    fn an_active_merchant_within_default_bounds_is_accepted() {
        let outcome = validate(&payment(1250, "EUR"), Some(&merchant(true, &[])), &rules());
        assert!(outcome.accepted, "{outcome:?}");
    }

    #[test]
    fn unknown_and_inactive_merchants_are_declined() {
        let unknown = validate(&payment(1250, "EUR"), None, &rules());
        assert_eq!(unknown.rejections, vec![Rejection::UnknownMerchant]);
        let inactive = validate(&payment(1250, "EUR"), Some(&merchant(false, &[])), &rules());
        assert_eq!(inactive.rejections, vec![Rejection::MerchantInactive]);
    }

    #[test]
    fn merchant_bounds_are_per_currency() {
        let m = merchant(true, &[("EUR", 100, 5000), ("JPY", 50, 9000)]);
        assert!(validate(&payment(1250, "EUR"), Some(&m), &rules()).accepted);
        assert_eq!(
            validate(&payment(6000, "EUR"), Some(&m), &rules()).rejections,
            vec![Rejection::AmountAboveMaximum {
                max_amount_minor: 5000
            }]
        );
        assert_eq!(
            validate(&payment(10, "JPY"), Some(&m), &rules()).rejections,
            vec![Rejection::AmountBelowMinimum {
                min_amount_minor: 50
            }]
        );
        assert_eq!(
            validate(&payment(1250, "USD"), Some(&m), &rules()).rejections,
            vec![Rejection::CurrencyNotAccepted {
                currency: "USD".into()
            }]
        );
    }

    #[test]
    fn screening_parses_and_looks_the_merchant_up() {
        let mut merchants = crate::memory::MemoryMerchants::default();
        merchants
            .merchants
            .insert("merchant-001".into(), merchant(true, &[]));
        let outcome = crate::memory::block_on(screen(&sample(), &merchants, &rules())).unwrap();
        assert!(outcome.accepted);
        let error = crate::memory::block_on(screen(&serde_json::json!([]), &merchants, &rules()))
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Invalid);
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
    }
}
