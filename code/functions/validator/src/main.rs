//! validator: business rules and merchant configuration for one payment (the first branch
//! of the workflow's `Screen` state). The rules live in `payments_core::validation`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::lambda::{Failure, init_logging};
use payments_aws::merchants::DynamoMerchants;
use payments_aws::{aws_config, required_env};
use payments_core::validation::{ValidationOutcome, ValidationRules, screen};
use serde_json::Value;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config().await;
    let merchants = DynamoMerchants::new(&config, required_env("MERCHANTS_TABLE")?);
    let rules = ValidationRules::from_json(&required_env("VALIDATION_RULES")?)?;
    let (merchants, rules) = (&merchants, &rules);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let outcome: ValidationOutcome = screen(&event.payload, merchants, rules).await?;
        tracing::info!(transaction_id = %event.payload["transaction_id"], accepted = outcome.accepted, "validated");
        Ok::<_, Failure>(outcome)
    }))
    .await
}
// ANCHOR_END: main
