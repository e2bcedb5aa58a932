//! settlement: records the workflow's decision exactly once with its audit entry and its
//! card's count, sets the outbox marker on a settlement, and answers replays with the
//! recorded decision (`payments_core::settlement`). Input `{"decision", "payment",
//! "screening"}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::decisions::DynamoDecisions;
use payments_aws::lambda::{Failure, SystemClock, init_logging, workflow_input};
use payments_aws::{SdkTimeouts, aws_config, required_env};
use payments_core::fraud::FraudRules;
use payments_core::settlement::{
    Attempt, SettlementAnswer, SettlementRequest, parse_retention_days, settle,
};

/// The SDK calls an attempt may still make after it stops waiting for another attempt's
/// claim: its claim and two completing transactions (the second when the card's cap
/// declines it). Each is bounded by SDK_TIMEOUTS.operation_ms.
const CALLS_AFTER_WAITING: u64 = 3;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let timeouts = SdkTimeouts::from_env()?;
    let config = aws_config(&timeouts).await;
    let store = DynamoDecisions::new(
        &config,
        required_env("TRANSACTIONS_TABLE")?,
        required_env("AUDIT_LOGS_TABLE")?,
        required_env("CARD_ACTIVITY_TABLE")?,
    );
    let velocity = FraudRules::from_json(&required_env("FRAUD_RULES")?)?.velocity();
    let audit_retention_days = parse_retention_days(&required_env("AUDIT_RETENTION_DAYS")?)?;
    let reserve_ms = CALLS_AFTER_WAITING * timeouts.operation_ms;
    let (store, velocity) = (&store, &velocity);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let request: SettlementRequest = workflow_input(event.payload)?;
            let attempt = Attempt {
                attempt_id: event.context.request_id.clone(),
                deadline_ms: event.context.deadline,
                reserve_ms,
                audit_retention_days,
            };
            let answer = settle(store, &SystemClock, &request, &attempt, velocity).await?;
            match &answer {
                SettlementAnswer::Recorded(result) => tracing::info!(
                    transaction_id = %result.transaction_id,
                    merchant_id = %result.merchant_id,
                    outcome = ?result.outcome,
                    replayed = result.replayed,
                    "decision recorded"
                ),
                SettlementAnswer::Refused(refusal) => tracing::info!(
                    transaction_id = %refusal.transaction_id,
                    error = refusal.error,
                    "refused"
                ),
            }
            Ok::<_, Failure>(answer)
        },
    ))
    .await
}
// ANCHOR_END: main
