//! The receipt signing key, read from Secrets Manager at cold start and cached. The cache
//! is refreshed after [`REFRESH`], so a rotated key reaches warm environments too; the
//! value is never put in an environment variable or a log.

use crate::errors::classify;
use aws_sdk_secretsmanager::Client;
use payments_core::errors::StoreError;
use payments_core::receipt::SigningKey;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const REFRESH: Duration = Duration::from_secs(15 * 60);

pub struct SigningKeyCache {
    client: Client,
    secret_arn: String,
    cached: Mutex<Option<(SigningKey, Instant)>>,
}

impl SigningKeyCache {
    pub fn new(config: &aws_config::SdkConfig, secret_arn: String) -> Self {
        SigningKeyCache {
            client: Client::new(config),
            secret_arn,
            cached: Mutex::new(None),
        }
    }

    /// The current key: from the cache while fresh, else from Secrets Manager.
    pub async fn current(&self) -> Result<SigningKey, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some((key, read_at)) = cached.as_ref()
            && read_at.elapsed() < REFRESH
        {
            return Ok(key.clone());
        }
        let value = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_arn)
            .send()
            .await
            .map_err(|e| classify("Secrets Manager", e))?;
        let text = value.secret_string().ok_or_else(|| {
            StoreError::Malformed("the signing secret has no string value".into())
        })?;
        let key =
            SigningKey::from_secret(text).map_err(|e| StoreError::Malformed(e.to_string()))?;
        *cached = Some((key.clone(), Instant::now()));
        Ok(key)
    }
}
