//! What every function shares with the Lambda runtime: JSON logs, the clock, and errors
//! reported with the error type the state machine matches.

use lambda_runtime::{Context, Diagnostic};
use payments_core::errors::{Classify, ErrorClass};
use std::time::{SystemTime, UNIX_EPOCH};

/// A handler failure as Lambda reports it: `errorType` is the class
/// (`RetryableError`, `InvalidPayment`, `RejectedPayment`), `errorMessage` the cause.
#[derive(Debug)]
pub struct Failure {
    pub class: ErrorClass,
    pub message: String,
}

impl<E: Classify> From<E> for Failure {
    fn from(error: E) -> Self {
        let failure = Failure {
            class: error.class(),
            message: error.to_string(),
        };
        // Messages name fields and identifiers, never payment data (see payments_core::payment).
        tracing::error!(error_type = failure.class.error_type(), message = %failure.message, "handler failed");
        failure
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Self {
        Diagnostic {
            error_type: failure.class.error_type().to_string(),
            error_message: failure.message,
        }
    }
}

/// JSON logs at the level Lambda's `LoggingConfig` sets (AWS_LAMBDA_LOG_FORMAT/LEVEL).
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds this invocation has left before Lambda stops it.
pub fn remaining_ms(context: &Context) -> u64 {
    context.deadline.saturating_sub(now_ms())
}
