//! The receipt signing key, read from Secrets Manager at cold start and cached. The cache
//! is refreshed after [`REFRESH`], so a rotated key reaches warm environments too; if
//! Secrets Manager cannot be read at a refresh, the cached key serves for up to [`GRACE`]
//! more. The value is never put in an environment variable or a log.

use crate::errors::classify;
use crate::rotation::CURRENT;
use aws_sdk_secretsmanager::Client;
use payments_core::errors::StoreError;
use payments_core::receipt::SigningKey;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const REFRESH: Duration = Duration::from_secs(15 * 60);
pub const GRACE: Duration = Duration::from_secs(60 * 60);

pub struct SigningKeyCache {
    client: Client,
    secret_arn: String,
    cached: Mutex<Option<Cached>>,
}

/// A key read from the secret, and until when it may be used without reading again.
struct Cached {
    key: SigningKey,
    /// Served without reading the secret until then (read time + REFRESH).
    fresh_until: Instant,
    /// Served while Secrets Manager is unavailable until then (read time + REFRESH + GRACE).
    usable_until: Instant,
}

impl Cached {
    fn read_at(key: SigningKey, now: Instant) -> Self {
        Cached {
            key,
            fresh_until: now + REFRESH,
            usable_until: now + REFRESH + GRACE,
        }
    }
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
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.fresh_until
        {
            return Ok(c.key.clone());
        }
        match self.read().await {
            Ok(key) => {
                *cached = Some(Cached::read_at(key.clone(), Instant::now()));
                Ok(key)
            }
            // Unavailable, not malformed: a bad secret must not be papered over.
            Err(StoreError::Unavailable { .. })
                if cached
                    .as_ref()
                    .is_some_and(|c| Instant::now() < c.usable_until) =>
            {
                Ok(cached.as_ref().expect("checked above").key.clone())
            }
            Err(error) => Err(error),
        }
    }

    async fn read(&self) -> Result<SigningKey, StoreError> {
        let value = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_arn)
            // Secrets Manager's default, said explicitly: the version rotation made current
            // (API reference, GetSecretValue: VersionStage; moto 5.2.5 keeps answering the
            // first version by default after UpdateSecretVersionStage moved AWSCURRENT).
            .version_stage(CURRENT)
            .send()
            .await
            .map_err(|e| classify("Secrets Manager", e))?;
        let text = value.secret_string().ok_or_else(|| {
            StoreError::Malformed("the signing secret has no string value".into())
        })?;
        SigningKey::from_secret(text).map_err(|e| StoreError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::config::Credentials;

    const KEY_ID: &str = "v1";

    fn key() -> SigningKey {
        SigningKey::new(KEY_ID, "0123456789abcdef0123456789abcdef").unwrap()
    }

    /// A cache whose reads fail as when Secrets Manager cannot be reached (nothing listens
    /// on the port), holding `cached`.
    async fn unreachable(cached: Option<Cached>) -> SigningKeyCache {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let cache = SigningKeyCache::new(&config, "signing-key".into());
        *cache.cached.lock().await = cached;
        cache
    }

    fn cached(fresh_for: Duration, usable_for: Duration) -> Option<Cached> {
        let now = Instant::now();
        Some(Cached {
            key: key(),
            fresh_until: now + fresh_for,
            usable_until: now + usable_for,
        })
    }

    #[tokio::test]
    async fn a_fresh_key_is_served_without_reading_the_secret() {
        let cache = unreachable(cached(REFRESH, REFRESH + GRACE)).await;
        assert_eq!(cache.current().await.unwrap().key_id, KEY_ID);
    }

    #[tokio::test]
    async fn a_stale_key_bridges_an_outage_until_the_grace_period_ends() {
        let hour = Duration::from_secs(3600);
        let stale = unreachable(cached(Duration::ZERO, hour)).await;
        assert_eq!(stale.current().await.unwrap().key_id, KEY_ID);
        let expired = unreachable(cached(Duration::ZERO, Duration::ZERO)).await;
        assert!(matches!(
            expired.current().await,
            Err(StoreError::Unavailable { .. })
        ));
        let never_read = unreachable(None).await;
        assert!(matches!(
            never_read.current().await,
            Err(StoreError::Unavailable { .. })
        ));
    }

    #[test]
    fn a_key_read_is_fresh_for_refresh_and_bridges_outages_for_grace_more() {
        // A rotated key reaches every warm environment within 15 minutes (appendix
        // "Functions", section 6); an outage of Secrets Manager is bridged for an hour more.
        assert_eq!(REFRESH, Duration::from_secs(15 * 60));
        assert_eq!(GRACE, Duration::from_secs(60 * 60));
        let now = Instant::now();
        let c = Cached::read_at(key(), now);
        assert_eq!(c.fresh_until - now, REFRESH);
        assert_eq!(c.usable_until - now, REFRESH + GRACE);
    }
}
