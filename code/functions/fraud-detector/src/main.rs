//! fraud-detector: pattern-based fraud score for one payment (the second branch of the
//! workflow's `Screen` state). The rules live in `payments_core::fraud`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::decisions::DynamoDecisions;
use payments_aws::lambda::{Failure, init_logging, now_ms};
use payments_aws::{aws_config, required_env};
use payments_core::fraud::{FraudRules, screen};
use serde_json::Value;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config().await;
    let history = DynamoDecisions::new(
        &config,
        required_env("TRANSACTIONS_TABLE")?,
        String::new(), // this function writes no audit entry
        required_env("TRANSACTIONS_BY_MERCHANT_INDEX")?,
    );
    let rules = FraudRules::from_json(&required_env("FRAUD_RULES")?)?;
    let (history, rules) = (&history, &rules);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let assessment = screen(&event.payload, history, rules, now_ms()).await?;
        tracing::info!(
            transaction_id = %event.payload["transaction_id"],
            score = assessment.score,
            approved = assessment.approved,
            "scored"
        );
        Ok::<_, Failure>(assessment)
    }))
    .await
}
// ANCHOR_END: main
