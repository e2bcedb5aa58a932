//! Reconciliation: the outbox's safety net. A settled record whose marker is still there
//! long after its commit was not notified — the stream delivery failed and went to its
//! dead-letter queue, or is stuck. The reconciler finds such records shard by shard on the
//! sparse `notification-pending-index`, touches each one so that the stream delivers it
//! again, and reports how many it found (the `UnnotifiedSettlements` metric, alarmed
//! above zero).

use crate::errors::{ConfigError, StoreError};
use crate::ports::PendingNotifications;
use crate::records::NOTIFICATION_SHARDS;
use crate::time::rfc3339_millis;
use serde::Serialize;

/// What one run found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Settled records still pending after the grace period.
    pub stale: usize,
    /// Those touched so that the stream delivers them again.
    pub retriggered: Vec<String>,
}

/// How long a settled record may wait for its receipt before the reconciler hands it back:
/// the stream retries a failing record for at most an hour (the template's
/// MaximumRecordAgeInSeconds), but delivers a healthy one within seconds.
pub const RECONCILE_AFTER_SECONDS: u64 = 600;

/// Records handed back per run at most: the rest wait for the next run, so one run's SDK
/// calls stay within the function's timeout (the template test
/// `f7_sdk_timeouts_fit_every_functions_timeout` counts 32 queries and these updates).
pub const MAX_RETRIGGERED_PER_RUN: usize = 50;

/// One run's horizon. The schedule's event carries nothing and gets the defaults; an operator
/// who has just fixed the notifier may invoke the function with `{"older_than_seconds": 0}`
/// to hand back everything still pending at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    pub after_seconds: u64,
    pub max_retriggered: usize,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            after_seconds: RECONCILE_AFTER_SECONDS,
            max_retriggered: MAX_RETRIGGERED_PER_RUN,
        }
    }
}

impl ReconcileSettings {
    /// The settings for one invocation: `older_than_seconds` (0 to one day) from the event,
    /// when it has one.
    pub fn for_event(event: &serde_json::Value) -> Result<Self, ConfigError> {
        let mut settings = ReconcileSettings::default();
        if let Some(value) = event.get("older_than_seconds") {
            settings.after_seconds = value.as_u64().filter(|s| *s <= 86_400).ok_or_else(|| {
                ConfigError::new("older_than_seconds", "must be a number from 0 to 86400")
            })?;
        }
        Ok(settings)
    }
}

/// One run over every shard.
pub async fn reconcile(
    pending: &impl PendingNotifications,
    settings: &ReconcileSettings,
    now_ms: u64,
) -> Result<ReconcileReport, StoreError> {
    let cutoff = rfc3339_millis(now_ms.saturating_sub(settings.after_seconds.saturating_mul(1000)));
    let mut report = ReconcileReport::default();
    for shard in 0..NOTIFICATION_SHARDS {
        for transaction_id in pending.stale(&format!("{shard:02}"), &cutoff).await? {
            report.stale += 1;
            if report.retriggered.len() < settings.max_retriggered
                && pending.retrigger(&transaction_id, now_ms).await?
            {
                report.retriggered.push(transaction_id);
            }
        }
    }
    Ok(report)
}

/// The run's result as one CloudWatch embedded-metric-format line (namespace
/// `PaymentWorkflow`, dimension `Environment`), which CloudWatch Logs turns into the
/// `UnnotifiedSettlements` metric.
/// Source: "Specification: Embedded metric format", Amazon CloudWatch User Guide.
pub fn metric_line(report: &ReconcileReport, environment: &str, now_ms: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "PaymentWorkflow",
                "Dimensions": [["Environment"]],
                "Metrics": [{"Name": "UnnotifiedSettlements", "Unit": "Count"}]
            }]
        },
        "Environment": environment,
        "UnnotifiedSettlements": report.stale
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryDecisionStore, block_on};
    use crate::records::{Outcome, SettlementResult};

    fn settled(id: &str) -> SettlementResult {
        SettlementResult {
            transaction_id: id.into(),
            merchant_id: "merchant-001".into(),
            outcome: Outcome::Settled,
            replayed: false,
            amount_minor: 1,
            currency: "EUR".into(),
            fraud_score: 0,
            reasons: vec![],
            recorded_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn only_records_pending_past_the_grace_period_are_retriggered() {
        let store = MemoryDecisionStore::default();
        let now = 10_000_000;
        store.insert_settled(&settled("old"), now - 700_000);
        store.insert_settled(&settled("fresh"), now - 10_000);
        store.insert_settled(&settled("notified"), now - 700_000);
        block_on(crate::ports::SettledRecords::clear_pending(
            &store, "notified",
        ))
        .unwrap();
        let mut declined = settled("declined");
        declined.outcome = Outcome::Declined;
        store.insert_settled(&declined, now - 700_000);
        let settings = ReconcileSettings::default();
        let report = block_on(reconcile(&store, &settings, now)).unwrap();
        assert_eq!(
            report,
            ReconcileReport {
                stale: 1,
                retriggered: vec!["old".into()]
            }
        );
        assert_eq!(store.notification_retry("old"), Some(now));
        assert_eq!(store.notification_retry("fresh"), None);
    }

    #[test]
    fn the_metric_line_is_embedded_metric_format() {
        let report = ReconcileReport {
            stale: 3,
            retriggered: vec![],
        };
        let line: serde_json::Value =
            serde_json::from_str(&metric_line(&report, "dev", 42)).unwrap();
        assert_eq!(line["UnnotifiedSettlements"], 3);
        assert_eq!(line["Environment"], "dev");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "PaymentWorkflow");
        assert_eq!(directive["Metrics"][0]["Name"], "UnnotifiedSettlements");
        assert_eq!(directive["Dimensions"][0][0], "Environment");
    }

    #[test]
    fn a_run_hands_back_at_most_its_cap_and_counts_every_stale_record() {
        let store = MemoryDecisionStore::default();
        let now = 10_000_000;
        for i in 0..5 {
            store.insert_settled(&settled(&format!("old-{i}")), now - 700_000);
        }
        let settings = ReconcileSettings {
            max_retriggered: 2,
            ..ReconcileSettings::default()
        };
        let report = block_on(reconcile(&store, &settings, now)).unwrap();
        assert_eq!(report.stale, 5);
        assert_eq!(report.retriggered.len(), 2);
    }

    #[test]
    fn an_operator_may_shorten_the_horizon_for_one_run() {
        let defaults = ReconcileSettings::for_event(&serde_json::json!({})).unwrap();
        assert_eq!(defaults, ReconcileSettings::default());
        let now =
            ReconcileSettings::for_event(&serde_json::json!({"older_than_seconds": 0})).unwrap();
        assert_eq!(now.after_seconds, 0);
        for bad in [
            serde_json::json!({"older_than_seconds": -1}),
            serde_json::json!({"older_than_seconds": "60"}),
            serde_json::json!({"older_than_seconds": 86_401}),
        ] {
            assert!(ReconcileSettings::for_event(&bad).is_err(), "{bad}");
        }
    }
}
