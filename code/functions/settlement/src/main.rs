//! settlement: records the workflow's decision exactly once with its audit entry, and
//! answers replays with the recorded decision (`payments_core::settlement`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::decisions::DynamoDecisions;
use payments_aws::lambda::{Failure, init_logging, now_ms, remaining_ms};
use payments_aws::{aws_config, required_env};
use payments_core::ErrorClass;
use payments_core::errors::ConfigError;
use payments_core::settlement::{Attempt, SettlementRequest, settle};
use serde_json::Value;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config().await;
    let store = DynamoDecisions::new(
        &config,
        required_env("TRANSACTIONS_TABLE")?,
        required_env("AUDIT_LOGS_TABLE")?,
        String::new(), // settlement reads no history
    );
    let retention = required_env("AUDIT_RETENTION_DAYS")?;
    let audit_retention_days: u64 = retention.parse().map_err(|_| ConfigError {
        name: "AUDIT_RETENTION_DAYS".into(),
        detail: retention.clone(),
    })?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let request: SettlementRequest =
            serde_json::from_value(event.payload).map_err(|e| Failure {
                class: ErrorClass::Rejected,
                message: format!("the workflow sent a malformed settlement request: {e}"),
            })?;
        let attempt = Attempt {
            attempt_id: event.context.request_id.clone(),
            now_ms: now_ms(),
            remaining_ms: remaining_ms(&event.context),
            audit_retention_days,
        };
        let result = settle(store, &request, &attempt).await?;
        tracing::info!(
            transaction_id = %result.transaction_id,
            merchant_id = %result.merchant_id,
            outcome = ?result.outcome,
            replayed = result.replayed,
            "decision recorded"
        );
        Ok::<_, Failure>(result)
    }))
    .await
}
// ANCHOR_END: main
