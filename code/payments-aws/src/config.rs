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

/// True when an endpoint override is in force (the local emulator): S3 then needs
/// path-style addressing, since `bucket.127.0.0.1` does not resolve.
pub fn endpoint_overridden() -> bool {
    std::env::var_os("AWS_ENDPOINT_URL").is_some()
}
