//! Receipts of settled payments, signed with the rotated HMAC key so that anyone holding
//! the key can prove a receipt came from this system unaltered.

use crate::errors::{Classify, ConfigError, ErrorClass, StoreError};
use crate::money::{Currency, Money};
use crate::ports::{Announcer, ReceiptArchive};
use crate::settlement::{Outcome, SettlementResult};
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
        let parsed: SigningKey = serde_json::from_str(secret).map_err(|e| ConfigError {
            name: "signing key".into(),
            detail: e.to_string(),
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
pub struct SignedReceipt {
    pub receipt: Receipt,
    /// Hex HMAC-SHA256 of the receipt's canonical JSON.
    pub signature: String,
}

pub fn sign(result: &SettlementResult, key: &SigningKey) -> Result<SignedReceipt, NotifyError> {
    let currency = Currency::from_code(&result.currency)
        .ok_or_else(|| NotifyError::Message(format!("unknown currency {}", result.currency)))?;
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

/// Where a receipt is archived: one object per transaction, so a redelivery overwrites it
/// with the same bytes.
pub fn archive_key(result: &SettlementResult) -> String {
    format!(
        "receipts/{}/{}.json",
        result.merchant_id, result.transaction_id
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("the queued message is not a settlement result: {0}")]
    Message(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for NotifyError {
    fn class(&self) -> ErrorClass {
        match self {
            NotifyError::Message(_) => ErrorClass::Rejected,
            NotifyError::Store(e) => e.class(),
        }
    }
}

// ANCHOR: notify
/// Handles one queued settlement: sign, archive, announce. Safe to repeat.
pub async fn notify(
    body: &str,
    key: &SigningKey,
    archive: &impl ReceiptArchive,
    announcer: &impl Announcer,
) -> Result<SignedReceipt, NotifyError> {
    let result: SettlementResult =
        serde_json::from_str(body).map_err(|e| NotifyError::Message(e.to_string()))?;
    let signed = sign(&result, key)?;
    let bytes = serde_json::to_vec_pretty(&signed).expect("a receipt serialises");
    archive.put(&archive_key(&result), bytes).await?;
    // Identifiers and amount only: subscribers are outside the cardholder-data boundary.
    let message = format!(
        "Payment {} of merchant {} settled: {} {} at {}.",
        result.transaction_id,
        result.merchant_id,
        signed.receipt.amount,
        result.currency,
        result.recorded_at
    );
    announcer.announce("Payment settled", &message).await?;
    Ok(signed)
}
// ANCHOR_END: notify

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryAnnouncer, MemoryArchive, block_on};

    fn result() -> SettlementResult {
        SettlementResult {
            transaction_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
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
    fn short_keys_are_refused_and_key_material_is_not_printed() {
        assert!(SigningKey::new("v1", "short").is_err());
        assert!(!format!("{:?}", key()).contains("0123456789"));
        let parsed = SigningKey::from_secret(
            r#"{"key_id": "v1", "hmac_key": "0123456789abcdef0123456789abcdef"}"#,
        );
        assert_eq!(parsed.unwrap(), key());
    }

    #[test]
    fn notify_archives_one_object_per_transaction_and_announces() {
        let archive = MemoryArchive::default();
        let announcer = MemoryAnnouncer::default();
        let body = serde_json::to_string(&result()).unwrap();
        block_on(notify(&body, &key(), &archive, &announcer)).unwrap();
        block_on(notify(&body, &key(), &archive, &announcer)).unwrap();
        let objects = archive.objects.lock().unwrap();
        assert_eq!(objects.len(), 1);
        assert!(
            objects.contains_key("receipts/merchant-001/0f8fad5b-d9cb-469f-a165-70867728950e.json")
        );
        assert!(
            announcer.messages.lock().unwrap()[0]
                .1
                .contains("12.50 EUR")
        );
    }

    #[test]
    fn a_malformed_message_is_rejected() {
        let error = block_on(notify(
            "{}",
            &key(),
            &MemoryArchive::default(),
            &MemoryAnnouncer::default(),
        ));
        assert_eq!(error.unwrap_err().class(), ErrorClass::Rejected);
    }
}
