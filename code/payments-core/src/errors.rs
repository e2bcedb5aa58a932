//! How failures are classified for the workflow. The class becomes the Lambda error type,
//! and the state machine matches it: it retries `RetryableError`, answers
//! `InvalidPayment` with 422, and routes anything else to the failure path with an alert.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// ANCHOR: error-class
pub enum ErrorClass {
    /// Transient: throttling, timeouts, a concurrent attempt. Trying again may succeed.
    Retryable,
    /// The client's input cannot be processed as sent. Trying again cannot succeed.
    Invalid,
    /// Nothing the client can fix: configuration or stored state is wrong. Alert a person.
    Rejected,
}
// ANCHOR_END: error-class

impl ErrorClass {
    /// The Lambda error type the state machine's `Retry` and `Catch` match.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "RetryableError",
            ErrorClass::Invalid => "InvalidPayment",
            ErrorClass::Rejected => "RejectedPayment",
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
    #[error("stored data is malformed: {0}")]
    Malformed(String),
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Unavailable { .. } => ErrorClass::Retryable,
            StoreError::Refused { .. } | StoreError::Malformed(_) => ErrorClass::Rejected,
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

impl Classify for ConfigError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Rejected
    }
}
