//! Secrets Manager as the rotation steps need it.

use crate::errors::classify;
use crate::rotation::{CURRENT, PENDING, SecretMetadata, SecretVault};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use payments_core::errors::StoreError;

const SERVICE: &str = "Secrets Manager";
/// Length of a generated HMAC key (letters and digits).
pub const KEY_LENGTH: i64 = 64;

#[derive(Clone)]
pub struct SecretsManagerVault {
    client: Client,
}

impl SecretsManagerVault {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SecretsManagerVault {
            client: Client::new(config),
        }
    }
}

impl SecretVault for SecretsManagerVault {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| classify(SERVICE, e))?;
        Ok(SecretMetadata {
            rotation_enabled: described.rotation_enabled().unwrap_or(false),
            versions: described
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    async fn value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<Option<String>, StoreError> {
        let read = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_string))
            .version_stage(stage)
            .send()
            .await;
        match read {
            Ok(value) => Ok(value.secret_string().map(str::to_string)),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(GetSecretValueError::ResourceNotFoundException(_))
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify(SERVICE, error)),
        }
    }

    async fn random_key(&self) -> Result<String, StoreError> {
        let random = self
            .client
            .get_random_password()
            .password_length(KEY_LENGTH)
            .exclude_punctuation(true)
            .include_space(false)
            .send()
            .await
            .map_err(|e| classify(SERVICE, e))?;
        random
            .random_password()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Malformed("no password".into()))
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value)
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| classify(SERVICE, e))?;
        Ok(())
    }

    async fn promote(
        &self,
        secret_id: &str,
        token: &str,
        from_version: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(CURRENT)
            .move_to_version_id(token)
            .remove_from_version_id(from_version)
            .send()
            .await
            .map_err(|e| classify(SERVICE, e))?;
        Ok(())
    }
}
