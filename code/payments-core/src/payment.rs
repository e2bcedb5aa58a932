//! A payment as the workflow receives it, parsed into checked fields. Anything malformed
//! becomes an [`InvalidPayment`] naming the field — never a panic, never a partial value.
//! Neither the raw body nor the parsed payment can print the card's token.

use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

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

/// The processor's token for a card: kept only to fingerprint, never stored, logged or
/// printed (its `Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentToken(String);

impl PaymentToken {
    /// A stable, non-reversible fingerprint (SHA-256, first 16 bytes): enough to count a
    /// card's payments, useless to charge it.
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..16])
    }
}

impl fmt::Debug for PaymentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PaymentToken(<redacted>)")
    }
}

/// The client's payment body exactly as the workflow passes it on, before parsing. It may
/// hold a token (or worse, a card number the parser will refuse), so it prints nothing.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct RawPayment(pub Value);

impl fmt::Debug for RawPayment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawPayment(<redacted>)")
    }
}

/// A payment whose every field has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub transaction_id: String,
    pub merchant_id: String,
    pub amount: Money,
    payment_token: PaymentToken,
    pub card_last4: String,
    pub country: String,
}

/// Why a payment request was refused: the field and what is wrong with it. The reason
/// names the rule, never the value sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("invalid payment: {field}: {reason}")]
pub struct InvalidPayment {
    pub field: String,
    pub reason: String,
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

    /// Parses the body the workflow passed on.
    pub fn from_raw(raw: &RawPayment) -> Result<Payment, InvalidPayment> {
        Payment::from_value(&raw.0)
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
        let currency = Currency::from_code(currency_code)
            .ok_or_else(|| invalid("currency", "is not a supported ISO 4217 code"))?;
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
            payment_token: PaymentToken(checked(
                object,
                "payment_token",
                is_token,
                "must be tok_ and 16-64 letters or digits, and must not contain a card number",
            )?),
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

    /// The card's fingerprint (see [`PaymentToken::fingerprint`]).
    pub fn token_fingerprint(&self) -> String {
        self.payment_token.fingerprint()
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
        (16..=64).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            && !contains_card_number(rest)
    })
}

// ANCHOR: card-number
/// True when the text holds 13 or more consecutive digits: the length of a card number
/// (13 to 19 digits). PCI DSS tokenization guidance asks that a token cannot be mistaken for
/// a card number; a "token" that could be one would put this system in scope, so it is
/// refused whether or not its digits pass the Luhn check (most 16-digit runs contain a
/// 13-digit window that does).
pub fn contains_card_number(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 13)
}
// ANCHOR_END: card-number

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
    }

    #[test]
    fn no_type_holding_the_token_prints_it() {
        let token = "tok_4f9a8b7c6d5e4f3a";
        let payment = Payment::from_value(&sample()).unwrap();
        let raw = RawPayment(sample());
        let printed = [
            format!("{payment:?}"),
            format!("{payment:#?}"),
            format!("{:?}", payment.payment_token),
            format!("{raw:?}"),
            format!("{raw:#?}"),
        ];
        for text in printed {
            assert!(!text.contains(token), "{text}");
            assert!(!text.contains("4f9a8b7c6d5e4f3a"), "{text}");
        }
        // A refused token is named by field, never echoed.
        let mut bad = sample();
        bad["currency"] = json!(token);
        let error = Payment::from_value(&bad).unwrap_err();
        assert!(!format!("{error:?} {error}").contains(token));
    }

    #[test]
    fn a_redacted_value_says_so_where_the_value_would_be() {
        // A log reader sees that a token or a body was there, and that it was withheld.
        let payment = Payment::from_value(&sample()).unwrap();
        assert_eq!(
            format!("{:?}", payment.payment_token),
            "PaymentToken(<redacted>)"
        );
        assert!(format!("{payment:?}").contains("payment_token: PaymentToken(<redacted>)"));
        assert_eq!(
            format!("{:?}", RawPayment(sample())),
            "RawPayment(<redacted>)"
        );
    }

    /// The field's error for each value, `None` when the payment parses.
    fn refusal(field: &str, value: &str) -> Option<String> {
        let mut body = sample();
        body[field] = json!(value);
        Payment::from_value(&body).err().map(|e| e.field)
    }

    #[test]
    fn merchant_ids_of_every_malformed_shape_are_refused() {
        let refused = |id: &str| refusal("merchant_id", id) == Some("merchant_id".into());
        // Length: 3 to 64 characters.
        for length in [0, 1, 2, 65, 100] {
            assert!(refused(&"m".repeat(length)), "length {length}");
        }
        // Every ASCII character other than letters, digits, `_` and `-`, at a valid length
        // and at every position; and a non-ASCII letter.
        for byte in (0u8..=127).filter(|b| !b.is_ascii_alphanumeric() && !b"_-".contains(b)) {
            let c = char::from(byte);
            for id in [
                format!("{c}merchant"),
                format!("mer{c}chant"),
                format!("merchant{c}"),
            ] {
                assert!(refused(&id), "{id:?}");
            }
        }
        assert!(refused("m\u{e9}rchant-001"));
    }

    #[test]
    fn merchant_ids_of_the_whole_alphabet_and_both_length_limits_are_accepted() {
        for id in [
            "abc",
            "m".repeat(64).as_str(),
            "merchant_001",
            "merchant-001",
            "_-_",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        ] {
            assert_eq!(refusal("merchant_id", id), None, "{id}");
        }
    }

    #[test]
    fn tokens_of_every_malformed_shape_are_refused() {
        let body = |n: usize| "a1B2".repeat(n).chars().take(n).collect::<String>();
        assert_eq!(refusal("payment_token", &format!("tok_{}", body(16))), None);
        assert_eq!(refusal("payment_token", &format!("tok_{}", body(64))), None);
        let mut malformed = vec![
            format!("tok_{}", body(15)),
            format!("tok_{}", body(65)),
            body(20),
            format!("TOK_{}", body(16)),
            format!("tok{}", body(17)),
            format!("tok_{}_x", body(16)),
            format!("tok_{}\u{e9}", body(16)),
        ];
        malformed.extend(
            (0u8..=127)
                .filter(|b| !b.is_ascii_alphanumeric())
                .map(|b| format!("tok_{}{}", body(16), char::from(b))),
        );
        for token in malformed {
            assert_eq!(
                refusal("payment_token", &token),
                Some("payment_token".into()),
                "{token:?}"
            );
        }
    }

    #[test]
    fn transaction_ids_of_every_malformed_shape_are_refused() {
        let valid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(refusal("transaction_id", valid), None);
        let mut malformed = vec![
            valid.to_uppercase(),
            valid.replace('-', ""),
            format!("{valid}-0"),
            valid[1..].to_string(),
            format!("{valid}0"),
            valid.replacen('f', "g", 1),
            "0f8fad5bd-9cb-469f-a165-70867728950e".to_string(),
            String::new(),
        ];
        // Each group one character short or long.
        for (start, len) in [(0, 8), (9, 4), (14, 4), (19, 4), (24, 12)] {
            malformed.push(format!(
                "{}{}",
                &valid[..start + len - 1],
                &valid[start + len..]
            ));
            malformed.push(format!(
                "{}0{}",
                &valid[..start + len],
                &valid[start + len..]
            ));
        }
        for id in malformed {
            assert_eq!(
                refusal("transaction_id", &id),
                Some("transaction_id".into()),
                "{id:?}"
            );
        }
    }

    #[test]
    fn a_card_number_is_refused_by_name() {
        let mut body = sample();
        body["pan"] = json!("4242424242424242");
        let error = Payment::from_value(&body).unwrap_err();
        assert_eq!(error.field, "pan");
        assert!(!error.to_string().contains("4242424242424242"));
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

    #[test]
    fn a_token_shaped_like_a_card_number_is_refused() {
        for token in [
            "tok_4111111111111111",
            "tok_ab4242424242424242cd",
            "tok_5555555555554444",
        ] {
            let mut body = sample();
            body["payment_token"] = json!(token);
            let error = Payment::from_value(&body).unwrap_err();
            assert_eq!(error.field, "payment_token", "{token}");
        }
    }

    #[test]
    fn only_runs_of_13_or_more_digits_look_like_card_numbers() {
        assert!(contains_card_number("x4111111111111"));
        assert!(!contains_card_number("x411111111111y4111"));
        assert!(!contains_card_number("abcd1234efgh5678ijkl"));
    }
}
