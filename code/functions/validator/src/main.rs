//! validator: who may pay this merchant, and its business rules, for one payment (the
//! first branch of the workflow's `Screen` state). Input `{"payment": …, "caller":
//! {"api_key_id": …}}`; the answer is always a verdict (`payments_core::validation`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::lambda::{Failure, init_logging, workflow_input};
use payments_aws::merchants::DynamoMerchants;
use payments_aws::{SdkTimeouts, aws_config, required_env};
use payments_core::validation::{ValidationRules, ValidatorInput, screen};
use serde_json::Value;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config(&SdkTimeouts::from_env()?).await;
    let merchants = DynamoMerchants::new(&config, required_env("MERCHANTS_TABLE")?);
    let rules = ValidationRules::from_json(&required_env("VALIDATION_RULES")?)?;
    let (merchants, rules) = (&merchants, &rules);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let input: ValidatorInput = workflow_input(event.payload)?;
        let answer = screen(&input, merchants, rules).await?;
        tracing::info!(
            transaction_id = answer.transaction_id.as_deref().unwrap_or("-"),
            verdict = ?answer.verdict,
            "validated"
        );
        Ok::<_, Failure>(answer)
    }))
    .await
}
// ANCHOR_END: main
