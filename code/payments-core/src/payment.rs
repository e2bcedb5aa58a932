//! A payment as the workflow receives it, parsed into checked fields. Anything malformed
//! becomes an [`InvalidPayment`] naming the field — never a panic, never a partial value.

use crate::errors::{Classify, ErrorClass};
use crate::money::{Currency, Money};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The fields a payment request carries; any other field is refused.
pub const FIELDS: [&str; 7] = [
    "transaction_id",
    "merchant_id",
    "amount_minor",
    "currency",
    "payment_token",
    "card_last4",
    "country",
];

/// The largest amount accepted, in minor units (the API model's maximum).
pub const MAX_AMOUNT_MINOR: u64 = 10_000_000_000;

/// A payment whose every field has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub transaction_id: String,
    pub merchant_id: String,
    pub amount: Money,
    /// The processor's token for the card; kept only to fingerprint, never stored or logged.
    payment_token: String,
    pub card_last4: String,
    pub country: String,
}

/// Why a payment request was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("invalid payment: {field}: {reason}")]
pub struct InvalidPayment {
    pub field: String,
    pub reason: String,
}

impl Classify for InvalidPayment {
    fn class(&self) -> ErrorClass {
        ErrorClass::Invalid
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> InvalidPayment {
    InvalidPayment {
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl Payment {
    /// Parses raw bytes (a request body).
    pub fn from_slice(bytes: &[u8]) -> Result<Payment, InvalidPayment> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| invalid("body", format!("not JSON: {e}")))?;
        Payment::from_value(&value)
    }

    // ANCHOR: parse
    /// Parses a JSON value; exactly the fields of [`FIELDS`] must be present.
    pub fn from_value(value: &Value) -> Result<Payment, InvalidPayment> {
        let object = value
            .as_object()
            .ok_or_else(|| invalid("body", "not a JSON object"))?;
        let unknown: Vec<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|k| !FIELDS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(invalid(
                unknown[0],
                "is not a payment field (card numbers are never accepted)",
            ));
        }
        let currency_code = text(object, "currency")?;
        let currency = Currency::from_code(currency_code).ok_or_else(|| {
            invalid(
                "currency",
                format!("{currency_code:?} is not a supported ISO 4217 code"),
            )
        })?;
        let amount_minor = object
            .get("amount_minor")
            .ok_or_else(|| invalid("amount_minor", "is missing"))?
            .as_u64()
            .filter(|a| (1..=MAX_AMOUNT_MINOR).contains(a))
            .ok_or_else(|| {
                invalid(
                    "amount_minor",
                    format!("must be an integer from 1 to {MAX_AMOUNT_MINOR}"),
                )
            })?;
        Ok(Payment {
            transaction_id: checked(
                object,
                "transaction_id",
                is_uuid,
                "must be a lower-case UUID",
            )?,
            merchant_id: checked(
                object,
                "merchant_id",
                is_merchant_id,
                "must be 3-64 of A-Z a-z 0-9 _ -",
            )?,
            amount: Money::new(amount_minor, currency),
            payment_token: checked(
                object,
                "payment_token",
                is_token,
                "must be tok_ and 16-64 letters or digits",
            )?,
            card_last4: checked(
                object,
                "card_last4",
                |s| is_digits(s, 4),
                "must be exactly 4 digits",
            )?,
            country: checked(
                object,
                "country",
                is_country,
                "must be an ISO 3166 alpha-2 code",
            )?,
        })
    }
    // ANCHOR_END: parse

    /// A stable, non-reversible fingerprint of the payment token (SHA-256, first 16 bytes):
    /// enough to count a card's payments, useless to charge it.
    pub fn token_fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.payment_token.as_bytes())[..16])
    }

    /// A hash of every field, to tell a replay from a different payment reusing its id.
    pub fn payload_hash(&self) -> String {
        let canonical = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.transaction_id,
            self.merchant_id,
            self.amount.minor,
            self.amount.currency,
            self.token_fingerprint(),
            self.card_last4,
            self.country
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, InvalidPayment> {
    match object.get(field) {
        None => Err(invalid(field, "is missing")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn checked(
    object: &Map<String, Value>,
    field: &str,
    valid: impl Fn(&str) -> bool,
    rule: &str,
) -> Result<String, InvalidPayment> {
    let value = text(object, field)?;
    if valid(value) {
        Ok(value.to_string())
    } else {
        Err(invalid(field, rule))
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups.iter().zip(lengths).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

fn is_merchant_id(s: &str) -> bool {
    (3..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_token(s: &str) -> bool {
    s.strip_prefix("tok_").is_some_and(|rest| {
        (16..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

fn is_digits(s: &str, count: usize) -> bool {
    s.len() == count && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn sample() -> Value {
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

    #[test]
    fn a_well_formed_payment_parses() {
        let payment = Payment::from_value(&sample()).unwrap();
        assert_eq!(payment.amount.to_string(), "12.50 EUR");
        assert_eq!(payment.token_fingerprint().len(), 32);
        assert!(!format!("{payment:?}").is_empty());
    }

    #[test]
    fn a_card_number_is_refused_by_name() {
        let mut body = sample();
        body["pan"] = json!("4242424242424242");
        let error = Payment::from_value(&body).unwrap_err();
        assert_eq!(error.field, "pan");
        assert_eq!(error.class(), ErrorClass::Invalid);
    }

    #[test]
    fn each_field_is_checked() {
        let cases = [
            (
                "transaction_id",
                json!("0F8FAD5B-D9CB-469F-A165-70867728950E"),
            ),
            ("merchant_id", json!("m!")),
            ("amount_minor", json!(12.5)),
            ("amount_minor", json!(0)),
            ("amount_minor", json!(MAX_AMOUNT_MINOR + 1)),
            ("currency", json!("XXX")),
            ("payment_token", json!("4242424242424242")),
            ("card_last4", json!("42a2")),
            ("country", json!("de")),
        ];
        for (field, value) in cases {
            let mut body = sample();
            body[field] = value.clone();
            let error = Payment::from_value(&body).unwrap_err();
            assert_eq!(error.field, field, "{field} = {value}");
        }
        let mut body = sample();
        body.as_object_mut().unwrap().remove("country");
        assert_eq!(Payment::from_value(&body).unwrap_err().reason, "is missing");
    }

    #[test]
    fn replays_hash_alike_and_changed_payments_do_not() {
        let first = Payment::from_value(&sample()).unwrap();
        let again = Payment::from_value(&sample()).unwrap();
        let mut changed = sample();
        changed["amount_minor"] = json!(1251);
        let changed = Payment::from_value(&changed).unwrap();
        assert_eq!(first.payload_hash(), again.payload_hash());
        assert_ne!(first.payload_hash(), changed.payload_hash());
    }
}
