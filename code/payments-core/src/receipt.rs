//! Receipts of settled payments, signed with the rotated HMAC key so that anyone holding
//! the key can prove a receipt came from this system unaltered. The notifier signs only
//! what the committed record says (review F11), stores one object per settlement (the
//! first delivery's bytes win), announces that object, and then clears the record's outbox
//! marker — so every delivery of the same settlement has the same effect (review F12).

use crate::errors::{Classify, ConfigError, ErrorClass, StoreError};
use crate::money::{Currency, Money};
use crate::ports::{Announcement, Announcer, ReceiptArchive, SettledRecords};
use crate::records::{Outcome, SettlementResult, StoredStatus};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The signing key as the secret stores it: `{"key_id": …, "hmac_key": …}`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SigningKey {
    pub key_id: String,
    hmac_key: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key material never reaches a log.
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Keys shorter than this are refused: HMAC-SHA256 wants at least 32 bytes of key.
pub const MIN_KEY_LENGTH: usize = 32;

impl SigningKey {
    pub fn new(key_id: &str, hmac_key: &str) -> Result<Self, ConfigError> {
        if hmac_key.len() < MIN_KEY_LENGTH {
            return Err(ConfigError {
                name: "signing key".into(),
                detail: format!("shorter than {MIN_KEY_LENGTH} characters"),
            });
        }
        Ok(SigningKey {
            key_id: key_id.into(),
            hmac_key: hmac_key.into(),
        })
    }

    pub fn from_secret(secret: &str) -> Result<Self, ConfigError> {
        // The parser's message could quote the secret: report where, never what.
        let parsed: SigningKey = serde_json::from_str(secret).map_err(|e| ConfigError {
            name: "signing key".into(),
            detail: format!(
                "not a {{key_id, hmac_key}} JSON object ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
        SigningKey::new(&parsed.key_id, &parsed.hmac_key)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.hmac_key.as_bytes())
            .expect("HMAC takes keys of any length")
    }
}

/// What a receipt states; serialised in field order, which is the signed canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub transaction_id: String,
    pub merchant_id: String,
    pub outcome: Outcome,
    pub amount: String,
    pub currency: String,
    pub recorded_at: String,
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    pub receipt: Receipt,
    /// Hex HMAC-SHA256 of the receipt's canonical JSON.
    pub signature: String,
}

pub fn sign(result: &SettlementResult, key: &SigningKey) -> Result<SignedReceipt, StoreError> {
    let currency = Currency::from_code(&result.currency)
        .ok_or_else(|| StoreError::Malformed(format!("unknown currency {}", result.currency)))?;
    let receipt = Receipt {
        transaction_id: result.transaction_id.clone(),
        merchant_id: result.merchant_id.clone(),
        outcome: result.outcome,
        amount: Money::new(result.amount_minor, currency).major_units(),
        currency: result.currency.clone(),
        recorded_at: result.recorded_at.clone(),
        key_id: key.key_id.clone(),
    };
    let mut mac = key.mac();
    mac.update(&serde_json::to_vec(&receipt).expect("a receipt serialises"));
    Ok(SignedReceipt {
        receipt,
        signature: hex::encode(mac.finalize().into_bytes()),
    })
}

/// True when `signed` was signed with `key` and not changed since.
pub fn verify(signed: &SignedReceipt, key: &SigningKey) -> bool {
    let Ok(signature) = hex::decode(&signed.signature) else {
        return false;
    };
    let mut mac = key.mac();
    mac.update(&serde_json::to_vec(&signed.receipt).expect("a receipt serialises"));
    mac.verify_slice(&signature).is_ok()
}

/// Where a receipt is archived: one object per transaction.
pub fn archive_key(result: &SettlementResult) -> String {
    format!(
        "receipts/{}/{}.json",
        result.merchant_id, result.transaction_id
    )
}

/// Reads back a stored receipt object and checks it states exactly what the record says.
/// A malformed or mismatching object is an error, never replaced: the archive is the
/// proof. Its signature is checked when it was made with the key at hand (a receipt made
/// before a rotation carries an older `key_id`).
pub fn check_stored_receipt(
    bytes: &[u8],
    result: &SettlementResult,
    key: &SigningKey,
) -> Result<SignedReceipt, StoreError> {
    let malformed =
        |what: &str| StoreError::Malformed(format!("receipt of {}: {what}", result.transaction_id));
    let stored: SignedReceipt =
        serde_json::from_slice(bytes).map_err(|e| malformed(&e.to_string()))?;
    let expected = sign(result, key)?.receipt;
    let r = &stored.receipt;
    let same_facts = r.transaction_id == expected.transaction_id
        && r.merchant_id == expected.merchant_id
        && r.outcome == expected.outcome
        && r.amount == expected.amount
        && r.currency == expected.currency
        && r.recorded_at == expected.recorded_at;
    if !same_facts {
        return Err(malformed("does not state what the record says"));
    }
    let signature_shape =
        stored.signature.len() == 64 && stored.signature.bytes().all(|b| b.is_ascii_hexdigit());
    if r.key_id.is_empty() || !signature_shape {
        return Err(malformed("key_id or signature is malformed"));
    }
    if r.key_id == key.key_id && !verify(&stored, key) {
        return Err(malformed("signature does not verify"));
    }
    Ok(stored)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// A record that is not a committed settlement was delivered: the stream's filter
    /// should have dropped it. Nothing is signed.
    #[error("transaction {0} is not a settled payment: {1}")]
    NotSettled(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for NotifyError {
    fn class(&self) -> ErrorClass {
        match self {
            NotifyError::NotSettled(..) => ErrorClass::Fatal,
            NotifyError::Store(e) => e.class(),
        }
    }
}

/// What one delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    /// The receipt is archived (now or before) and was announced.
    Announced(SignedReceipt),
    /// An earlier delivery finished the job: the marker is gone.
    AlreadyDone,
}

// ANCHOR: notify
/// Handles one committed settlement: read the record, sign what it says, archive once,
/// announce the archived receipt, clear the outbox marker. Safe to repeat at any point.
pub async fn notify(
    transaction_id: &str,
    records: &impl SettledRecords,
    key: &SigningKey,
    archive: &impl ReceiptArchive,
    announcer: &impl Announcer,
) -> Result<Notified, NotifyError> {
    let not_settled = |why: &str| NotifyError::NotSettled(transaction_id.into(), why.into());
    let record = records
        .settled(transaction_id)
        .await?
        .ok_or_else(|| not_settled("no record"))?;
    if record.status != StoredStatus::Settled {
        return Err(not_settled(record.status.as_str()));
    }
    if record.notification_pending.is_none() {
        return Ok(Notified::AlreadyDone);
    }
    let result = record
        .result
        .ok_or_else(|| StoreError::Malformed(format!("settled {transaction_id} has no result")))?;
    let signed = sign(&result, key)?;
    let bytes = serde_json::to_vec(&signed).expect("a receipt serialises");
    let stored = archive.put_once(&archive_key(&result), bytes).await?;
    let receipt = check_stored_receipt(&stored, &result, key)?;
    // Identifiers and amount only: subscribers are outside the cardholder-data boundary.
    let announcement = Announcement {
        message: String::from_utf8(stored).expect("checked as JSON above"),
        transaction_id: result.transaction_id.clone(),
        merchant_id: result.merchant_id.clone(),
        outcome: Outcome::Settled,
    };
    announcer.announce(&announcement).await?;
    records.clear_pending(transaction_id).await?;
    Ok(Notified::Announced(receipt))
}
// ANCHOR_END: notify

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryAnnouncer, MemoryArchive, MemoryDecisionStore, block_on};
    use serde_json::{Value, json};

    const TXN: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const OBJECT: &str = "receipts/merchant-001/0f8fad5b-d9cb-469f-a165-70867728950e.json";

    fn result() -> SettlementResult {
        SettlementResult {
            transaction_id: TXN.into(),
            merchant_id: "merchant-001".into(),
            outcome: Outcome::Settled,
            replayed: false,
            amount_minor: 1250,
            currency: "EUR".into(),
            fraud_score: 0,
            reasons: vec![],
            recorded_at: "2026-11-29T12:00:00.000Z".into(),
        }
    }

    fn key() -> SigningKey {
        SigningKey::new("v1", "0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn a_signing_key_prints_which_key_it_is_and_never_its_material() {
        // The key id tells an operator which rotation's key signed; the material stays out.
        let printed = format!("{:?}", key());
        assert_eq!(printed, r#"SigningKey { key_id: "v1", .. }"#);
        assert!(!printed.contains("0123456789abcdef"));
    }

    #[test]
    fn a_signed_receipt_verifies_and_a_changed_one_does_not() {
        let signed = sign(&result(), &key()).unwrap();
        assert_eq!(signed.receipt.amount, "12.50");
        assert!(verify(&signed, &key()));
        let mut forged = signed.clone();
        forged.receipt.amount = "1250.00".into();
        assert!(!verify(&forged, &key()));
        let other = SigningKey::new("v2", "fedcba9876543210fedcba9876543210").unwrap();
        assert!(!verify(&signed, &other));
    }

    #[test]
    fn short_keys_are_refused_and_key_material_is_never_printed() {
        assert!(SigningKey::new("v1", "short").is_err());
        for text in [format!("{:?}", key()), format!("{:#?}", key())] {
            assert!(!text.contains("0123456789"), "{text}");
        }
        let parsed = SigningKey::from_secret(
            r#"{"key_id": "v1", "hmac_key": "0123456789abcdef0123456789abcdef"}"#,
        );
        assert_eq!(parsed.unwrap(), key());
        // A malformed secret is refused without echoing it.
        let error =
            SigningKey::from_secret(r#"{"key_id": "v1", "hmac_key": 0123456789}"#).unwrap_err();
        assert!(!format!("{error:?} {error}").contains("0123456789"));
    }

    struct World {
        store: MemoryDecisionStore,
        archive: MemoryArchive,
        announcer: MemoryAnnouncer,
    }

    fn world() -> World {
        let store = MemoryDecisionStore::default();
        store.insert_settled(&result(), 1_000);
        World {
            store,
            archive: MemoryArchive::default(),
            announcer: MemoryAnnouncer::default(),
        }
    }

    impl World {
        fn notify(&self) -> Result<Notified, NotifyError> {
            block_on(notify(
                TXN,
                &self.store,
                &key(),
                &self.archive,
                &self.announcer,
            ))
        }
    }

    #[test]
    fn notify_signs_the_stored_record_archives_once_announces_and_clears_the_marker() {
        let w = world();
        let Notified::Announced(receipt) = w.notify().unwrap() else {
            panic!("announced");
        };
        assert!(verify(&receipt, &key()));
        let objects = w.archive.objects.lock().unwrap().clone();
        assert_eq!(objects.keys().collect::<Vec<_>>(), vec![OBJECT]);
        let announced = w.announcer.announcements.lock().unwrap().clone();
        assert_eq!(announced.len(), 1);
        assert_eq!(announced[0].message.as_bytes(), objects[OBJECT].as_slice());
        assert_eq!(
            (
                announced[0].transaction_id.as_str(),
                announced[0].merchant_id.as_str(),
                announced[0].outcome
            ),
            (TXN, "merchant-001", Outcome::Settled)
        );
        assert_eq!(w.store.record(TXN).unwrap().notification_pending, None);
        // A redelivery finds the marker gone and does nothing.
        assert_eq!(w.notify().unwrap(), Notified::AlreadyDone);
        assert_eq!(w.announcer.announcements.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_crash_after_the_receipt_is_finished_by_the_redelivery_with_the_same_bytes() {
        let w = world();
        w.announcer.fail_next();
        assert_eq!(w.notify().unwrap_err().class(), ErrorClass::Retryable);
        let first = w.archive.objects.lock().unwrap()[OBJECT].clone();
        assert!(w.store.record(TXN).unwrap().notification_pending.is_some());
        // The key rotated meanwhile: the archived receipt still wins.
        let rotated = SigningKey::new("v2", "fedcba9876543210fedcba9876543210").unwrap();
        block_on(notify(TXN, &w.store, &rotated, &w.archive, &w.announcer)).unwrap();
        let announced = w.announcer.announcements.lock().unwrap().clone();
        assert_eq!(announced[0].message.as_bytes(), first.as_slice());
        assert_eq!(w.archive.objects.lock().unwrap()[OBJECT], first);
    }

    #[test]
    fn only_a_settled_record_is_signed() {
        let w = world();
        assert_eq!(
            block_on(notify(
                "unknown",
                &w.store,
                &key(),
                &w.archive,
                &w.announcer
            ))
            .unwrap_err()
            .class(),
            ErrorClass::Fatal
        );
        let store = MemoryDecisionStore::default();
        let mut declined = result();
        declined.outcome = Outcome::Declined;
        store.insert_settled(&declined, 1_000);
        let error = block_on(notify(TXN, &store, &key(), &w.archive, &w.announcer)).unwrap_err();
        assert!(matches!(error, NotifyError::NotSettled(..)), "{error:?}");
        assert!(w.archive.objects.lock().unwrap().is_empty());
    }

    /// Every attribute of a stored receipt object, corrupted in turn, is refused as
    /// malformed — never re-signed over, never announced. Each case runs on a receipt made
    /// with the key at hand and on one made before a rotation (whose signature cannot be
    /// checked here), so the comparison with the record is tested on its own.
    #[test]
    fn a_corrupted_stored_receipt_is_malformed_attribute_by_attribute() {
        let old_key = SigningKey::new("v0", "fedcba9876543210fedcba9876543210").unwrap();
        let current = serde_json::to_value(sign(&result(), &key()).unwrap()).unwrap();
        let rotated = serde_json::to_value(sign(&result(), &old_key).unwrap()).unwrap();
        let check =
            |value: &Value| check_stored_receipt(value.to_string().as_bytes(), &result(), &key());
        assert!(check(&current).is_ok() && check(&rotated).is_ok());
        let facts: Vec<(&str, Value)> = vec![
            (
                "/receipt/transaction_id",
                json!("1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"),
            ),
            ("/receipt/merchant_id", json!("merchant-002")),
            ("/receipt/outcome", json!("DECLINED")),
            ("/receipt/outcome", json!("MAYBE")),
            ("/receipt/amount", json!("1250.00")),
            ("/receipt/currency", json!("USD")),
            ("/receipt/recorded_at", json!("2026-11-29T12:00:00.001Z")),
            ("/receipt/key_id", json!("")),
            ("/receipt/key_id", json!(7)),
            ("/signature", json!("not hex")),
            ("/signature", json!("ab")),
        ];
        let mut tested = std::collections::BTreeSet::new();
        for base in [&current, &rotated] {
            for (pointer, value) in &facts {
                let mut bad = base.clone();
                *bad.pointer_mut(pointer).unwrap() = value.clone();
                let error = check(&bad).unwrap_err();
                assert!(
                    matches!(error, StoreError::Malformed(_)),
                    "{pointer} = {value}: {error:?}"
                );
                tested.insert(pointer.rsplit('/').next().unwrap().to_string());
            }
        }
        // With the key at hand, a well-formed but wrong signature is caught too. (Under a
        // key rotated away it cannot be: the notifier holds only the current key.)
        let mut forged = current.clone();
        forged["signature"] = json!("00".repeat(32));
        assert!(matches!(check(&forged), Err(StoreError::Malformed(_))));
        // Removing any attribute, or adding one, is malformed too.
        for pointer in [
            "/receipt/transaction_id",
            "/receipt/merchant_id",
            "/receipt/outcome",
            "/receipt/amount",
            "/receipt/currency",
            "/receipt/recorded_at",
            "/receipt/key_id",
            "/signature",
        ] {
            let mut bad = current.clone();
            let (parent, field) = pointer.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                &mut bad
            } else {
                bad.pointer_mut(parent).unwrap()
            };
            parent.as_object_mut().unwrap().remove(field);
            assert!(
                matches!(check(&bad), Err(StoreError::Malformed(_))),
                "without {pointer}"
            );
        }
        let mut extra = current.clone();
        extra["receipt"]["note"] = json!("x");
        assert!(matches!(check(&extra), Err(StoreError::Malformed(_))));
        assert!(matches!(
            check_stored_receipt(b"not json", &result(), &key()),
            Err(StoreError::Malformed(_))
        ));
        let fields: Vec<String> = current["receipt"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .chain(["signature".to_string()])
            .collect();
        for field in fields {
            assert!(tested.contains(&field), "{field} has no corruption case");
        }
    }

    #[test]
    fn a_stored_receipt_from_before_a_rotation_is_accepted() {
        let old = SigningKey::new("v0", "fedcba9876543210fedcba9876543210").unwrap();
        let bytes = serde_json::to_vec(&sign(&result(), &old).unwrap()).unwrap();
        assert!(check_stored_receipt(&bytes, &result(), &key()).is_ok());
    }
}
