//! fraud-detector: pattern-based fraud score for one payment (the second branch of the
//! workflow's `Screen` state). Input `{"payment": …}`; reads the card's two activity
//! windows. The rules live in `payments_core::fraud`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::cards::DynamoCardActivity;
use payments_aws::lambda::{Failure, init_logging, now_ms, workflow_input};
use payments_aws::{SdkTimeouts, aws_config, required_env};
use payments_core::fraud::{FraudInput, FraudRules, screen};
use serde_json::Value;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config(&SdkTimeouts::from_env()?).await;
    let cards = DynamoCardActivity::new(&config, required_env("CARD_ACTIVITY_TABLE")?);
    let rules = FraudRules::from_json(&required_env("FRAUD_RULES")?)?;
    let (cards, rules) = (&cards, &rules);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let input: FraudInput = workflow_input(event.payload)?;
        let assessment = screen(&input, cards, rules, now_ms()).await?;
        tracing::info!(
            transaction_id = assessment.transaction_id.as_deref().unwrap_or("-"),
            score = assessment.score,
            approved = assessment.approved,
            "scored"
        );
        Ok::<_, Failure>(assessment)
    }))
    .await
}
// ANCHOR_END: main
