//! Process-wide configuration: the AWS SDK settings and the environment values the
//! template sets (from SSM parameters and resource references).
//!
//! Every SDK client gets the connect, attempt and operation timeouts and the attempt count
//! of `SDK_TIMEOUTS` (review F7): the SDK for Rust sets no attempt or operation timeout by
//! default and waits 3.1 s to connect, longer than these functions live. Source: "Configuring
//! timeouts in the AWS SDK for Rust" and "Best practices for using AWS SDK for Rust"
//! (AWS SDK for Rust Developer Guide).

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use payments_core::errors::ConfigError;
use serde::Deserialize;
use std::time::Duration;

/// `SDK_TIMEOUTS`: `{"connect_ms", "attempt_ms", "operation_ms", "max_attempts"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkTimeouts {
    pub connect_ms: u64,
    pub attempt_ms: u64,
    pub operation_ms: u64,
    pub max_attempts: u32,
}

/// The first retry waits up to this long (full jitter, doubling), so that retries fit
/// inside an attempt timeout of a few hundred milliseconds. The SDK's default is 1 s.
const INITIAL_BACKOFF: Duration = Duration::from_millis(25);

impl SdkTimeouts {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let fail = |detail: String| ConfigError::new("SDK_TIMEOUTS", detail);
        let t: SdkTimeouts = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        if t.connect_ms == 0 || t.connect_ms > t.attempt_ms || t.attempt_ms > t.operation_ms {
            return Err(fail(
                "need 0 < connect_ms <= attempt_ms <= operation_ms".into(),
            ));
        }
        if t.operation_ms > 60_000 || !(1..=10).contains(&t.max_attempts) {
            return Err(fail(
                "operation_ms at most 60000, max_attempts from 1 to 10".into(),
            ));
        }
        Ok(t)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        SdkTimeouts::from_json(&required_env("SDK_TIMEOUTS")?)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(self.connect_ms))
            .operation_attempt_timeout(Duration::from_millis(self.attempt_ms))
            .operation_timeout(Duration::from_millis(self.operation_ms))
            .build()
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(INITIAL_BACKOFF)
            .with_max_backoff(Duration::from_millis(self.attempt_ms))
    }

    /// Applies these limits to an SDK configuration loader.
    pub fn apply(&self, loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
        loader
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
    }
}

/// The SDK configuration, loaded once at cold start with the function's `SDK_TIMEOUTS`. It
/// reads the Region, credentials and `AWS_ENDPOINT_URL` from the environment like every
/// AWS SDK.
pub async fn aws_config(timeouts: &SdkTimeouts) -> aws_config::SdkConfig {
    timeouts
        .apply(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .load()
        .await
}

/// An environment value the template must set.
pub fn required_env(name: &str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError::new(name, "is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE_VALUE: &str =
        r#"{"connect_ms": 100, "attempt_ms": 250, "operation_ms": 600, "max_attempts": 3}"#;

    #[test]
    fn the_template_value_becomes_the_sdk_limits() {
        let t = SdkTimeouts::from_json(TEMPLATE_VALUE).unwrap();
        let timeouts = t.timeout_config();
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(100)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_millis(600))
        );
        let retry = t.retry_config();
        assert_eq!(retry.max_attempts(), 3);
        assert_eq!(retry.initial_backoff(), INITIAL_BACKOFF);
    }

    #[tokio::test]
    async fn an_sdk_configuration_loaded_through_apply_has_the_template_limits() {
        let t = SdkTimeouts::from_json(TEMPLATE_VALUE).unwrap();
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ));
        let config = t.apply(loader).load().await;
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(100)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_millis(600))
        );
        let retry = config.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), 3);
        assert_eq!(retry.initial_backoff(), INITIAL_BACKOFF);
        assert_eq!(retry.max_backoff(), Duration::from_millis(250));
    }

    #[test]
    fn limits_may_be_equal_and_as_long_as_a_minute_but_no_longer() {
        let limits = |connect: u64, attempt: u64, operation: u64, attempts: u32| {
            SdkTimeouts::from_json(&format!(
                r#"{{"connect_ms": {connect}, "attempt_ms": {attempt}, "operation_ms": {operation}, "max_attempts": {attempts}}}"#
            ))
        };
        assert!(limits(1, 1, 1, 1).is_ok());
        assert!(limits(60_000, 60_000, 60_000, 10).is_ok());
        assert!(limits(100, 250, 60_001, 3).is_err());
        assert!(limits(100, 250, 600, 11).is_err());
    }

    #[test]
    fn a_required_setting_is_read_from_the_environment_or_named_as_missing() {
        assert_eq!(required_env("PATH").ok(), std::env::var("PATH").ok());
        let missing = required_env("PAYMENTS_AWS_NO_SUCH_SETTING").unwrap_err();
        assert_eq!(missing.name, "PAYMENTS_AWS_NO_SUCH_SETTING");
    }

    #[test]
    fn inconsistent_limits_are_refused() {
        for bad in [
            r#"{"connect_ms": 0, "attempt_ms": 250, "operation_ms": 600, "max_attempts": 3}"#,
            r#"{"connect_ms": 300, "attempt_ms": 250, "operation_ms": 600, "max_attempts": 3}"#,
            r#"{"connect_ms": 100, "attempt_ms": 700, "operation_ms": 600, "max_attempts": 3}"#,
            r#"{"connect_ms": 100, "attempt_ms": 250, "operation_ms": 600, "max_attempts": 0}"#,
            r#"{"connect_ms": 100, "attempt_ms": 250, "operation_ms": 600}"#,
            r#"{"connect_ms": 100, "attempt_ms": 250, "operation_ms": 600, "max_attempts": 3, "x": 1}"#,
        ] {
            assert!(SdkTimeouts::from_json(bad).is_err(), "{bad}");
        }
    }
}
