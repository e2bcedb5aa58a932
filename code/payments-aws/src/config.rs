//! Process-wide configuration: the AWS SDK settings and the environment values the
//! template sets (from SSM parameters and resource references).

use payments_core::errors::ConfigError;

/// The SDK configuration, loaded once at cold start. It reads the Region, credentials and
/// `AWS_ENDPOINT_URL` from the environment like every AWS SDK.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An environment value the template must set.
pub fn required_env(name: &str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError {
        name: name.into(),
        detail: "is not set".into(),
    })
}
