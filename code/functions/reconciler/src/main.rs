//! reconciler: the outbox's safety net, run on a schedule (`payments_core::reconcile`).
//! Finds settled records whose notification is still pending after the grace period,
//! touches each so that the table's stream delivers it to the notifier again, prints the
//! `UnnotifiedSettlements` metric (embedded metric format) and answers
//! `{"stale": n, "retriggered": [ids]}`. The schedule's event sets nothing; an operator may
//! invoke it with `{"older_than_seconds": 0}` to hand back everything pending now.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::lambda::{Failure, init_logging, now_ms};
use payments_aws::pending::DynamoPending;
use payments_aws::{SdkTimeouts, aws_config, required_env};
use payments_core::errors::ConfigError;
use payments_core::reconcile::{ReconcileSettings, metric_line, reconcile};
use serde_json::Value;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config(&SdkTimeouts::from_env()?).await;
    let pending = DynamoPending::new(
        &config,
        required_env("TRANSACTIONS_TABLE")?,
        required_env("NOTIFICATION_PENDING_INDEX")?,
    );
    let environment = required_env("ENVIRONMENT")?;
    if environment.is_empty() {
        return Err(ConfigError::new("ENVIRONMENT", "is empty").into());
    }
    let (pending, environment) = (&pending, environment.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let settings = ReconcileSettings::for_event(&event.payload)?;
        let now = now_ms();
        let report = reconcile(pending, &settings, now).await?;
        // One EMF line on stdout: CloudWatch Logs extracts the metric the alarm watches.
        println!("{}", metric_line(&report, environment, now));
        tracing::info!(
            stale = report.stale,
            retriggered = report.retriggered.len(),
            "reconciled"
        );
        Ok::<_, Failure>(report)
    }))
    .await
}
// ANCHOR_END: main
