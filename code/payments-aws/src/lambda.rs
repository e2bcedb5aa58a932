//! What every function shares with the Lambda runtime: JSON logs, the clock, the workflow
//! input, and errors reported with the error type the state machine matches.

use lambda_runtime::{Context, Diagnostic};
use payments_core::errors::{Classify, ErrorClass};
use payments_core::ports::Clock;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A handler failure as Lambda reports it: `errorType` is the class
/// (`RetryableError`, `PaymentSystemError`, `RotationError`), `errorMessage` the cause.
/// `lambda_runtime` logs every handler error it reports (at ERROR, with this `Debug`); the
/// conversion to a `Diagnostic` logs the class as a field of its own.
#[derive(Debug)]
pub struct Failure {
    pub class: ErrorClass,
    pub message: String,
}

impl<E: Classify> From<E> for Failure {
    fn from(error: E) -> Self {
        // Messages name fields and identifiers, never payment data (see payments_core::payment).
        Failure {
            class: error.class(),
            message: error.to_string(),
        }
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Self {
        let error_type = failure.class.error_type();
        // lambda_runtime's own ERROR line holds only this Failure's Debug text; this one
        // carries the class the saved ErrorsByFunctionQuery groups by (`fields.error_type`).
        lambda_runtime::tracing::error!(error_type, detail = %failure.message, "invocation failed");
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: failure.message,
        }
    }
}

/// The task input the state machine built. Not matching its contract is a fault of the
/// workflow's definition, never of the client: `PaymentSystemError`.
pub fn workflow_input<T: DeserializeOwned>(payload: Value) -> Result<T, Failure> {
    serde_json::from_value(payload).map_err(|e| Failure {
        class: ErrorClass::Fatal,
        message: format!("the workflow sent a malformed task input: {e}"),
    })
}

/// JSON logs at the level Lambda's `LoggingConfig` sets (AWS_LAMBDA_LOG_FORMAT/LEVEL).
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Milliseconds this invocation has left before Lambda stops it.
pub fn remaining_ms(context: &Context) -> u64 {
    context.deadline.saturating_sub(now_ms())
}

/// The system clock, and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payments_core::settlement::SettlementRequest;

    #[test]
    fn a_malformed_task_input_is_a_system_fault_that_does_not_echo_the_payment() {
        let failure = workflow_input::<SettlementRequest>(serde_json::json!({
            "decision": "MAYBE",
            "payment": {"payment_token": "tok_4f9a8b7c6d5e4f3a"},
            "screening": {}
        }))
        .unwrap_err();
        assert_eq!(failure.class.error_type(), "PaymentSystemError");
        assert!(!failure.message.contains("tok_4f9a8b7c6d5e4f3a"));
        let diagnostic = Diagnostic::from(failure);
        assert_eq!(diagnostic.error_type, "PaymentSystemError");
    }

    #[test]
    fn the_time_left_counts_down_to_the_invocations_deadline() {
        let mut context = Context::default();
        context.deadline = now_ms() + 60_000;
        let left = remaining_ms(&context);
        assert!((59_000..=60_000).contains(&left), "{left}");
        // Past the deadline: nothing left, not a wrapped-around eternity.
        context.deadline = now_ms() - 1_000;
        assert_eq!(remaining_ms(&context), 0);
    }

    #[tokio::test]
    async fn the_system_clock_tells_epoch_milliseconds_and_sleeps_as_long_as_asked() {
        let system = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        for now in [now_ms(), SystemClock.now_ms()] {
            assert!(now.abs_diff(system) < 5_000, "{now} vs {system}");
        }
        let start = std::time::Instant::now();
        SystemClock.sleep(50).await;
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
