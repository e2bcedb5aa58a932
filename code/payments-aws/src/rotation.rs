//! Rotation of the receipt signing key, in the four steps Secrets Manager calls:
//! `createSecret` (stage a new key as AWSPENDING), `setSecret` (nothing to configure: the
//! key lives only in the secret), `testSecret` (the pending key parses and signs), and
//! `finishSecret` (move AWSCURRENT to it). Every step is safe to repeat. This is Secrets
//! Manager's protocol, not payment domain: it lives with the adapters; the domain keeps
//! only [`SigningKey`].

use payments_core::errors::{Classify, ErrorClass, StoreError};
use payments_core::receipt::SigningKey;
use payments_core::records::{Outcome, SettlementResult};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::future::Future;

pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";

/// The event Secrets Manager sends to a rotation function.
#[derive(Debug, Clone, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
    #[serde(rename = "Step")]
    pub step: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

impl Step {
    pub fn parse(step: &str) -> Result<Step, RotationError> {
        match step {
            "createSecret" => Ok(Step::CreateSecret),
            "setSecret" => Ok(Step::SetSecret),
            "testSecret" => Ok(Step::TestSecret),
            "finishSecret" => Ok(Step::FinishSecret),
            other => Err(RotationError::Refused(format!(
                "unknown rotation step {other:?}"
            ))),
        }
    }
}

/// What the secret's metadata says about rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretMetadata {
    pub rotation_enabled: bool,
    /// Version id → its staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
}

/// Secrets Manager, as rotation needs it.
pub trait SecretVault {
    fn describe(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<SecretMetadata, StoreError>> + Send;
    /// The value of a version (by id, or the one holding `stage`), `None` if there is none.
    fn value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    fn random_key(&self) -> impl Future<Output = Result<String, StoreError>> + Send;
    fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn promote(
        &self,
        secret_id: &str,
        token: &str,
        from_version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    #[error("rotation refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every rotation failure is a `RotationError`: Secrets Manager retries the rotation
/// whatever the cause, and the alarm on the function's errors tells a person.
impl Classify for RotationError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Rotation
    }
}

/// Runs one step. Returns what was done, for the log.
pub async fn rotate(
    vault: &impl SecretVault,
    event: &RotationEvent,
) -> Result<&'static str, RotationError> {
    let step = Step::parse(&event.step)?;
    let metadata = vault.describe(&event.secret_id).await?;
    if !metadata.rotation_enabled {
        return Err(RotationError::Refused(
            "rotation is not enabled on the secret".into(),
        ));
    }
    let stages = metadata
        .versions
        .get(&event.token)
        .ok_or_else(|| RotationError::Refused("the token names no version of the secret".into()))?;
    if stages.iter().any(|s| s == CURRENT) {
        return Ok("already current");
    }
    if !stages.iter().any(|s| s == PENDING) {
        return Err(RotationError::Refused(
            "the token's version is not AWSPENDING".into(),
        ));
    }
    match step {
        Step::CreateSecret => {
            if vault
                .value(&event.secret_id, None, CURRENT)
                .await?
                .is_none()
            {
                return Err(RotationError::Refused(
                    "the secret has no current version".into(),
                ));
            }
            if vault
                .value(&event.secret_id, Some(&event.token), PENDING)
                .await?
                .is_some()
            {
                return Ok("pending key already staged");
            }
            let material = vault.random_key().await?;
            let key = SigningKey::new(&event.token, &material)
                .map_err(|e| RotationError::Refused(e.to_string()))?;
            let value = serde_json::to_string(&key).expect("a key serialises");
            vault
                .put_pending(&event.secret_id, &event.token, &value)
                .await?;
            Ok("new key staged as AWSPENDING")
        }
        Step::SetSecret => Ok("nothing to set: the key is used only from the secret"),
        Step::TestSecret => {
            let value = vault
                .value(&event.secret_id, Some(&event.token), PENDING)
                .await?
                .ok_or_else(|| RotationError::Refused("no pending value to test".into()))?;
            let key = SigningKey::from_secret(&value)
                .map_err(|e| RotationError::Refused(e.to_string()))?;
            let probe = SettlementResult {
                transaction_id: "rotation-test".into(),
                merchant_id: "rotation-test".into(),
                outcome: Outcome::Settled,
                replayed: false,
                amount_minor: 1,
                currency: "EUR".into(),
                fraud_score: 0,
                reasons: vec![],
                recorded_at: String::new(),
            };
            let signed = payments_core::receipt::sign(&probe, &key)
                .map_err(|e| RotationError::Refused(e.to_string()))?;
            if payments_core::receipt::verify(&signed, &key) {
                Ok("pending key signs and verifies")
            } else {
                Err(RotationError::Refused(
                    "the pending key does not verify its own signature".into(),
                ))
            }
        }
        Step::FinishSecret => {
            let current = metadata
                .versions
                .iter()
                .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
                .map(|(id, _)| id.clone())
                .ok_or_else(|| RotationError::Refused("no version is AWSCURRENT".into()))?;
            vault
                .promote(&event.secret_id, &event.token, &current)
                .await?;
            Ok("AWSCURRENT moved to the new key")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payments_core::memory::block_on;
    use std::sync::Mutex;

    /// A secret with versions and stages, as Secrets Manager keeps them.
    struct Vault {
        metadata: Mutex<SecretMetadata>,
        values: Mutex<BTreeMap<String, String>>,
    }

    impl Vault {
        fn new() -> Self {
            let mut versions = BTreeMap::new();
            versions.insert("v0".to_string(), vec![CURRENT.to_string()]);
            versions.insert("t1".to_string(), vec![PENDING.to_string()]);
            let mut values = BTreeMap::new();
            values.insert(
                "v0".to_string(),
                r#"{"key_id": "v0", "hmac_key": "0123456789abcdef0123456789abcdef"}"#.to_string(),
            );
            Vault {
                metadata: Mutex::new(SecretMetadata {
                    rotation_enabled: true,
                    versions,
                }),
                values: Mutex::new(values),
            }
        }
    }

    impl SecretVault for Vault {
        async fn describe(&self, _: &str) -> Result<SecretMetadata, StoreError> {
            Ok(self.metadata.lock().unwrap().clone())
        }
        async fn value(
            &self,
            _: &str,
            version: Option<&str>,
            stage: &str,
        ) -> Result<Option<String>, StoreError> {
            let metadata = self.metadata.lock().unwrap();
            let id = match version {
                Some(id) => metadata
                    .versions
                    .get(id)
                    .filter(|s| s.iter().any(|x| x == stage))
                    .map(|_| id.to_string()),
                None => metadata
                    .versions
                    .iter()
                    .find(|(_, s)| s.iter().any(|x| x == stage))
                    .map(|(id, _)| id.clone()),
            };
            Ok(id.and_then(|id| self.values.lock().unwrap().get(&id).cloned()))
        }
        async fn random_key(&self) -> Result<String, StoreError> {
            Ok("Zr8vN2kQ7pX4mW1sT6yB3cH9jL5dF0gA".repeat(2))
        }
        async fn put_pending(&self, _: &str, token: &str, value: &str) -> Result<(), StoreError> {
            self.values
                .lock()
                .unwrap()
                .insert(token.into(), value.into());
            Ok(())
        }
        async fn promote(&self, _: &str, token: &str, from: &str) -> Result<(), StoreError> {
            let mut metadata = self.metadata.lock().unwrap();
            metadata
                .versions
                .get_mut(from)
                .unwrap()
                .retain(|s| s != CURRENT);
            metadata
                .versions
                .get_mut(token)
                .unwrap()
                .push(CURRENT.into());
            Ok(())
        }
    }

    fn event(step: &str) -> RotationEvent {
        RotationEvent {
            secret_id: "arn:secret".into(),
            token: "t1".into(),
            step: step.into(),
        }
    }

    #[test]
    fn the_four_steps_rotate_the_key_and_repeat_safely() {
        let vault = Vault::new();
        for step in [
            "createSecret",
            "createSecret",
            "setSecret",
            "testSecret",
            "finishSecret",
        ] {
            block_on(rotate(&vault, &event(step))).unwrap();
        }
        let metadata = vault.metadata.lock().unwrap().clone();
        assert!(metadata.versions["t1"].contains(&CURRENT.to_string()));
        assert!(!metadata.versions["v0"].contains(&CURRENT.to_string()));
        assert_eq!(
            block_on(rotate(&vault, &event("finishSecret"))),
            Ok("already current")
        );
        let current = block_on(vault.value("s", None, CURRENT)).unwrap().unwrap();
        assert_eq!(SigningKey::from_secret(&current).unwrap().key_id, "t1");
    }

    #[test]
    fn unknown_steps_tokens_and_disabled_rotation_are_refused() {
        let vault = Vault::new();
        assert!(block_on(rotate(&vault, &event("dance"))).is_err());
        let mut stranger = event("createSecret");
        stranger.token = "nope".into();
        assert!(block_on(rotate(&vault, &stranger)).is_err());
        vault.metadata.lock().unwrap().rotation_enabled = false;
        let error = block_on(rotate(&vault, &event("createSecret"))).unwrap_err();
        assert_eq!(error.class().error_type(), "RotationError");
    }

    #[test]
    fn testing_a_missing_pending_value_fails() {
        let vault = Vault::new();
        assert!(block_on(rotate(&vault, &event("testSecret"))).is_err());
    }
}
