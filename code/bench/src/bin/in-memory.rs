//! The function entry points of `payments_core`, served by `lambda_runtime` exactly as the
//! function binaries serve them, but on the in-memory ports: `cargo xtask bench` uses it to
//! measure what a function costs apart from the AWS calls it makes.
//!
//! `BENCH_FUNCTION` picks the entry point: `validator`, `fraud-detector`, `settlement`,
//! `notification`, or `screen` (validation and fraud scoring in one invocation, the work
//! the Python baseline does). The rule settings come from `VALIDATION_RULES` and
//! `FRAUD_RULES`, the merchants from `MERCHANTS` (a JSON object keyed by merchant id).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_core::fraud::{self, FraudRules};
use payments_core::memory::{MemoryAnnouncer, MemoryArchive, MemoryDecisionStore, MemoryMerchants};
use payments_core::receipt::{SigningKey, notify};
use payments_core::settlement::{Attempt, SettlementRequest, settle};
use payments_core::validation::{self, ValidationRules};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
                json!(validation::screen(&payload, &self.merchants, &self.validation).await?)
            }
            "fraud-detector" => {
                json!(fraud::screen(&payload, &self.decisions, &self.fraud, now_ms()).await?)
            }
            "screen" => json!({
                "validation": validation::screen(&payload, &self.merchants, &self.validation).await?,
                "fraud": fraud::screen(&payload, &self.decisions, &self.fraud, now_ms()).await?,
            }),
            "settlement" => {
                let request: SettlementRequest = serde_json::from_value(payload)?;
                let attempt = Attempt {
                    attempt_id: event.context.request_id,
                    now_ms: now_ms(),
                    remaining_ms: 2_000,
                    audit_retention_days: 90,
                };
                json!(settle(&self.decisions, &request, &attempt).await?)
            }
            "notification" => {
                let batch: SqsEvent = serde_json::from_value(payload)?;
                for message in batch.records {
                    let body = message.body.unwrap_or_default();
                    notify(&body, &self.key, &self.archive, &self.announcer).await?;
                }
                json!(SqsBatchResponse::default())
            }
            other => return Err(format!("BENCH_FUNCTION {other:?} is not an entry point").into()),
        })
    }
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
