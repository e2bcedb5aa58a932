//! Decision records of the `transactions` table, read strictly: every attribute the
//! settlement writes must read back with its type and a valid value, or the record is
//! `Malformed` — a settlement is never answered, replayed or signed from a default.

use crate::errors::classify;
use crate::items::{Item, get_n, get_s, get_strings, malformed, optional};
use aws_sdk_dynamodb::Client;
use payments_core::errors::StoreError;
use payments_core::money::Currency;
use payments_core::records::{
    DecisionRecord, Outcome, SettlementResult, StoredStatus, is_notification_shard,
};
use payments_core::time::parse_rfc3339_millis;

pub const SERVICE: &str = "DynamoDB";

fn hex_of_len(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn checked(
    item: &Item,
    name: &str,
    valid: impl Fn(&str) -> bool,
    rule: &str,
) -> Result<String, StoreError> {
    let value = get_s(item, name)?;
    if valid(&value) {
        Ok(value)
    } else {
        Err(malformed(name, rule))
    }
}

fn timestamp(item: &Item, name: &str) -> Result<String, StoreError> {
    checked(
        item,
        name,
        |t| parse_rfc3339_millis(t).is_some(),
        "is not an RFC 3339 UTC time",
    )
}

/// Reads a decision record; `key` is the transaction id it was read under.
pub fn decision_from_item(item: &Item, key: &str) -> Result<DecisionRecord, StoreError> {
    let transaction_id = checked(item, "transaction_id", |t| t == key, "is not the key read")?;
    let status_text = get_s(item, "status")?;
    let status = StoredStatus::parse(&status_text)
        .ok_or_else(|| malformed("status", "is not a known status"))?;
    let merchant_id = checked(item, "merchant_id", |m| !m.is_empty(), "is empty")?;
    timestamp(item, "created_at")?;
    let attempt_id = checked(item, "attempt_id", |a| !a.is_empty(), "is empty")?;
    let in_progress_expiry_ms = get_n(item, "in_progress_expiry_ms")?;
    let payload_hash = checked(item, "payload_hash", |h| hex_of_len(h, 64), "is not a hash")?;
    checked(
        item,
        "token_fingerprint",
        |f| hex_of_len(f, 32),
        "is not a fingerprint",
    )?;
    checked(
        item,
        "country",
        |c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()),
        "is not a country code",
    )?;
    let amount_minor: u64 = get_n(item, "amount_minor")?;
    if amount_minor == 0 {
        return Err(malformed("amount_minor", "is zero"));
    }
    let currency = checked(
        item,
        "currency",
        |c| Currency::from_code(c).is_some(),
        "is not a known currency",
    )?;
    let notification_pending = optional(item, "notification_pending", get_s)?;
    optional(item, "notification_retry", get_n::<u64>)?;
    let outcome = match status {
        StoredStatus::InProgress => None,
        StoredStatus::Settled => Some(Outcome::Settled),
        StoredStatus::Declined => Some(Outcome::Declined),
    };
    if let Some(shard) = &notification_pending
        && (outcome != Some(Outcome::Settled) || !is_notification_shard(shard))
    {
        return Err(malformed(
            "notification_pending",
            "is not a shard of a settled record",
        ));
    }
    let result = match outcome {
        None => None,
        Some(outcome) => {
            checked(
                item,
                "outcome",
                |o| o == status_text,
                "does not match status",
            )?;
            Some(SettlementResult {
                transaction_id: transaction_id.clone(),
                merchant_id,
                outcome,
                replayed: false,
                amount_minor,
                currency,
                fraud_score: get_n(item, "fraud_score")?,
                reasons: get_strings(item, "reasons")?,
                recorded_at: timestamp(item, "recorded_at")?,
            })
        }
    };
    Ok(DecisionRecord {
        transaction_id,
        status,
        attempt_id,
        in_progress_expiry_ms,
        payload_hash,
        result,
        notification_pending,
    })
}

/// Reads one decision with strong consistency.
pub async fn read_decision(
    client: &Client,
    table: &str,
    transaction_id: &str,
) -> Result<Option<DecisionRecord>, StoreError> {
    let read = client
        .get_item()
        .table_name(table)
        .key("transaction_id", crate::items::s(transaction_id))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify(SERVICE, e))?;
    read.item()
        .map(|item| decision_from_item(item, transaction_id))
        .transpose()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::items::{list, n, s};
    use aws_sdk_dynamodb::types::AttributeValue;

    pub const TXN: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    /// A settled record exactly as settlement writes it.
    pub fn settled_item() -> Item {
        [
            ("transaction_id", s(TXN)),
            ("merchant_id", s("merchant-001")),
            ("created_at", s("2026-11-29T12:00:00.000Z")),
            ("status", s("SETTLED")),
            ("attempt_id", s("attempt-1")),
            ("in_progress_expiry_ms", n(1_800_000_002_000u64)),
            ("payload_hash", s("ab".repeat(32))),
            ("amount_minor", n(1250)),
            ("currency", s("EUR")),
            ("token_fingerprint", s("cd".repeat(16))),
            ("country", s("DE")),
            ("outcome", s("SETTLED")),
            ("fraud_score", n(15)),
            ("reasons", list(&["round_amount".to_string()])),
            ("recorded_at", s("2026-11-29T12:00:00.000Z")),
            ("notification_pending", s("07")),
            ("notification_retry", n(1_800_000_900_000u64)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A value of another type than the attribute's.
    pub fn retyped(value: &AttributeValue) -> AttributeValue {
        match value {
            AttributeValue::S(_) => AttributeValue::N("1".into()),
            AttributeValue::N(_) => AttributeValue::S("one".into()),
            AttributeValue::Bool(_) => AttributeValue::S("true".into()),
            _ => AttributeValue::S("x".into()),
        }
    }

    #[test]
    fn a_well_formed_settled_record_reads_back() {
        let record = decision_from_item(&settled_item(), TXN).unwrap();
        assert_eq!(record.status, StoredStatus::Settled);
        assert_eq!(record.notification_pending.as_deref(), Some("07"));
        assert_eq!(record.result.unwrap().reasons, vec!["round_amount"]);
    }

    /// The digests are read back only in their exact shape: the payload hash is 64
    /// hexadecimal characters (SHA-256), the token fingerprint 32. One character short or
    /// long, or of the right length with a non-hexadecimal character, is a corrupted record.
    #[test]
    fn stored_digests_read_back_only_at_their_exact_length_in_hexadecimal() {
        for (name, len) in [("payload_hash", 64), ("token_fingerprint", 32)] {
            let with = |value: &str| {
                let mut item = settled_item();
                item.insert(name.to_string(), s(value));
                decision_from_item(&item, TXN)
            };
            let exact = &"0123456789abcdef".repeat(4)[..len];
            assert!(
                with(exact).is_ok(),
                "{name}: {len} hex characters read back"
            );
            let not_hex = format!("{}g", &exact[1..]);
            for bad in [&exact[1..], &format!("{exact}0"), &not_hex, ""] {
                assert!(
                    matches!(with(bad), Err(StoreError::Malformed(_))),
                    "{name} = {bad:?} must be malformed"
                );
            }
        }
    }

    /// Every attribute of a stored decision record, corrupted in turn: retyped, emptied
    /// of meaning, and (where required) removed. Each is refused as malformed.
    #[test]
    fn a_corrupted_decision_record_is_malformed_attribute_by_attribute() {
        let good = settled_item();
        let optional = ["notification_pending", "notification_retry"];
        for (name, value) in &good {
            let mut bad = good.clone();
            bad.insert(name.clone(), retyped(value));
            let error = decision_from_item(&bad, TXN).unwrap_err();
            assert!(
                matches!(error, StoreError::Malformed(_)),
                "{name} retyped: {error:?}"
            );
            if !optional.contains(&name.as_str()) {
                let mut without = good.clone();
                without.remove(name);
                assert!(
                    matches!(
                        decision_from_item(&without, TXN),
                        Err(StoreError::Malformed(_))
                    ),
                    "{name} removed"
                );
            }
        }
        let wrong_values = [
            ("transaction_id", s("1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed")),
            ("status", s("PAID")),
            ("merchant_id", s("")),
            ("created_at", s("yesterday")),
            ("attempt_id", s("")),
            ("in_progress_expiry_ms", n(-1)),
            ("payload_hash", s("short")),
            ("amount_minor", n(0)),
            ("currency", s("XXX")),
            ("token_fingerprint", s("tok_4f9a8b7c6d5e4f3a")),
            ("country", s("de")),
            ("outcome", s("DECLINED")),
            ("fraud_score", n(-3)),
            ("reasons", AttributeValue::L(vec![n(1)])),
            ("recorded_at", s("2026-13-01T00:00:00.000Z")),
            ("notification_pending", s("32")),
            ("notification_retry", n("1.5")),
        ];
        for (name, value) in wrong_values {
            let mut bad = good.clone();
            bad.insert(name.to_string(), value.clone());
            assert!(
                matches!(decision_from_item(&bad, TXN), Err(StoreError::Malformed(_))),
                "{name} = {value:?}"
            );
        }
        // A marker on a declined record is a corruption too.
        let mut declined = good.clone();
        declined.insert("status".into(), s("DECLINED"));
        declined.insert("outcome".into(), s("DECLINED"));
        assert!(decision_from_item(&declined, TXN).is_err());
        declined.remove("notification_pending");
        assert!(decision_from_item(&declined, TXN).is_ok());
    }
}
