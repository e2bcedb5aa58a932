//! How failures are classified for the workflow. The class becomes the Lambda error type,
//! and the state machine matches it: it retries `RetryableError` and routes anything else
//! to the failure path with an alert. Client mistakes are not errors at all: the functions
//! answer them as data (an `INVALID` or `FORBIDDEN` verdict, a `TransactionIdReused`
//! answer), so they never count as function errors or page anyone.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// ANCHOR: error-class
pub enum ErrorClass {
    /// Transient: throttling, timeouts, a concurrent attempt. Trying again may succeed.
    Retryable,
    /// Nothing a retry or the client can fix: configuration or stored state is wrong.
    /// Alert a person.
    Fatal,
    /// A step of the signing key's rotation failed; Secrets Manager retries the rotation.
    Rotation,
}
// ANCHOR_END: error-class

impl ErrorClass {
    /// The Lambda error type the state machine's `Retry` and `Catch` match.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "RetryableError",
            ErrorClass::Fatal => "PaymentSystemError",
            ErrorClass::Rotation => "RotationError",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_type())
    }
}

/// Every error of an operation knows its class.
pub trait Classify: std::error::Error {
    fn class(&self) -> ErrorClass;
}

/// A failure of a port (table, bucket, topic, secret), classified by the adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{service} is throttling or unavailable: {detail}")]
    Unavailable {
        service: &'static str,
        detail: String,
    },
    #[error("{service} refused the request: {detail}")]
    Refused {
        service: &'static str,
        detail: String,
    },
    /// A stored record that does not read back as written: never replaced by a default.
    #[error("stored data is malformed: {0}")]
    Malformed(String),
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Unavailable { .. } => ErrorClass::Retryable,
            StoreError::Refused { .. } | StoreError::Malformed(_) => ErrorClass::Fatal,
        }
    }
}

/// Settings (from SSM through the environment) that do not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration {name} is invalid: {detail}")]
pub struct ConfigError {
    pub name: String,
    pub detail: String,
}

impl ConfigError {
    pub fn new(name: &str, detail: impl Into<String>) -> Self {
        ConfigError {
            name: name.into(),
            detail: detail.into(),
        }
    }
}

impl Classify for ConfigError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_the_names_the_workflow_matches() {
        assert_eq!(ErrorClass::Retryable.error_type(), "RetryableError");
        assert_eq!(ErrorClass::Fatal.error_type(), "PaymentSystemError");
        assert_eq!(ErrorClass::Rotation.error_type(), "RotationError");
        let malformed = StoreError::Malformed("x".into());
        assert_eq!(malformed.class(), ErrorClass::Fatal);
    }

    #[test]
    fn every_error_class_prints_as_the_error_type_the_workflow_matches() {
        // A log line and the Lambda errorType name a failure alike.
        for class in [
            ErrorClass::Retryable,
            ErrorClass::Fatal,
            ErrorClass::Rotation,
        ] {
            assert_eq!(class.to_string(), class.error_type());
        }
    }
}
