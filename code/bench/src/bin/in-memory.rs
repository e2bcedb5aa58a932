//! The function entry points of `payments_core`, served by `lambda_runtime` exactly as the
//! function binaries serve them, but on the in-memory ports: `cargo xtask bench` uses it to
//! measure what a function costs apart from the AWS calls it makes.
//!
//! `BENCH_FUNCTION` picks the entry point: `validator`, `fraud-detector`, `settlement`,
//! `notification`, or `screen` (validation and fraud scoring in one invocation, the work
//! the Python baseline does). The rule settings come from `VALIDATION_RULES` and
//! `FRAUD_RULES`, the merchants from `MERCHANTS` (a JSON object keyed by merchant id).
//! Events have the functions' shapes: `{"payment", "caller"}`, `{"payment"}`,
//! `{"decision", "payment", "screening"}` and a DynamoDB stream batch.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_core::fraud::{self, FraudInput, FraudRules};
use payments_core::memory::{MemoryAnnouncer, MemoryArchive, MemoryDecisionStore, MemoryMerchants};
use payments_core::ports::Clock;
use payments_core::receipt::{SigningKey, notify};
use payments_core::records::{Outcome, SettlementResult};
use payments_core::settlement::{Attempt, SettlementRequest, settle};
use payments_core::validation::{self, ValidationRules, ValidatorInput};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        now_ms()
    }
    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// The ports and settings every entry point may use, built once at init as the real
/// functions build their clients.
struct Ports {
    merchants: MemoryMerchants,
    decisions: MemoryDecisionStore,
    archive: MemoryArchive,
    announcer: MemoryAnnouncer,
    validation: ValidationRules,
    fraud: FraudRules,
    key: SigningKey,
}

impl Ports {
    fn from_env() -> Result<Ports, Error> {
        Ok(Ports {
            merchants: MemoryMerchants {
                merchants: serde_json::from_str(&env("MERCHANTS")?)?,
            },
            decisions: MemoryDecisionStore::default(),
            archive: MemoryArchive::default(),
            announcer: MemoryAnnouncer::default(),
            validation: ValidationRules::from_json(&env("VALIDATION_RULES")?)?,
            fraud: FraudRules::from_json(&env("FRAUD_RULES")?)?,
            key: SigningKey::new("bench", "a benchmark key of at least thirty-two bytes")?,
        })
    }

    async fn handle(&self, function: &str, event: LambdaEvent<Value>) -> Result<Value, Error> {
        let payload = event.payload;
        Ok(match function {
            "validator" => {
                let input: ValidatorInput = serde_json::from_value(payload)?;
                json!(validation::screen(&input, &self.merchants, &self.validation).await?)
            }
            "fraud-detector" => {
                let input: FraudInput = serde_json::from_value(payload)?;
                json!(fraud::screen(&input, &self.decisions, &self.fraud, now_ms()).await?)
            }
            "screen" => {
                let input: ValidatorInput = serde_json::from_value(payload)?;
                let fraud_input = FraudInput {
                    payment: input.payment.clone(),
                };
                json!({
                    "validation": validation::screen(&input, &self.merchants, &self.validation).await?,
                    "fraud": fraud::screen(&fraud_input, &self.decisions, &self.fraud, now_ms()).await?,
                })
            }
            "settlement" => {
                let request: SettlementRequest = serde_json::from_value(payload)?;
                let attempt = Attempt {
                    attempt_id: event.context.request_id,
                    deadline_ms: now_ms() + 2_000,
                    reserve_ms: 0,
                    audit_retention_days: 90,
                };
                let velocity = self.fraud.velocity();
                json!(settle(&self.decisions, &SystemClock, &request, &attempt, &velocity).await?)
            }
            "notification" => {
                let batch: Event = serde_json::from_value(payload)?;
                for record in batch.records {
                    // The stream delivers what settlement committed: commit it here first,
                    // from the record's image, then notify as the function does.
                    let image = serde_json::to_value(&record.change.new_image)?;
                    let field =
                        |name: &str| image[name]["S"].as_str().unwrap_or_default().to_string();
                    let result = SettlementResult {
                        transaction_id: field("transaction_id"),
                        merchant_id: field("merchant_id"),
                        outcome: Outcome::Settled,
                        replayed: false,
                        amount_minor: field_n(&image, "amount_minor"),
                        currency: field("currency"),
                        fraud_score: 0,
                        reasons: vec![],
                        recorded_at: field("recorded_at"),
                    };
                    self.decisions.insert_settled(&result, now_ms());
                    notify(
                        &result.transaction_id,
                        &self.decisions,
                        &self.key,
                        &self.archive,
                        &self.announcer,
                    )
                    .await?;
                }
                json!(DynamoDbEventResponse::default())
            }
            other => return Err(format!("BENCH_FUNCTION {other:?} is not an entry point").into()),
        })
    }
}

fn field_n(image: &Value, name: &str) -> u64 {
    image[name]["N"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let function = env("BENCH_FUNCTION")?;
    let ports = Ports::from_env()?;
    let (function, ports) = (function.as_str(), &ports);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        ports.handle(function, event)
    }))
    .await
}
