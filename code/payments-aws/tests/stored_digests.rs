//! The digests a decision record stores are read back only in their exact shape: the payload
//! hash is 64 hexadecimal characters (SHA-256), the token fingerprint 32. A value of the
//! right length with another character, or of hexadecimal characters and another length,
//! is a corrupted record (Malformed), never a payment to compare against.

use payments_aws::items::{Item, list, n, s};
use payments_aws::transactions::decision_from_item;
use payments_core::errors::StoreError;

const TXN: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// A settled record as settlement writes it, with `name` set to `value`.
fn record_with(name: &str, value: String) -> Item {
    let mut item: Item = [
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
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    item.insert(name.to_string(), s(value));
    item
}

#[test]
fn stored_digests_read_back_only_at_their_exact_length_in_hexadecimal() {
    for (name, len) in [("payload_hash", 64), ("token_fingerprint", 32)] {
        let exact = "0123456789abcdef".repeat(4)[..len].to_string();
        assert!(
            decision_from_item(&record_with(name, exact.clone()), TXN).is_ok(),
            "{name}: {len} hex characters read back"
        );
        let one_short = exact[1..].to_string();
        let one_long = format!("{exact}0");
        let not_hex = format!("{}g", &exact[1..]);
        for bad in [one_short, one_long, not_hex, String::new()] {
            assert!(
                matches!(
                    decision_from_item(&record_with(name, bad.clone()), TXN),
                    Err(StoreError::Malformed(_))
                ),
                "{name} = {bad:?} must be malformed"
            );
        }
    }
}
