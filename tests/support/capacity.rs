//! The capacity and cost appendix, computed from three sources and nothing else: the
//! measurements (`bench/results.json`), the template (reserved concurrency, memory, the
//! notification stream trigger's batch size, stage throttle) and
//! `bench/capacity-inputs.yaml` (published quotas and prices, assumed AWS call latencies,
//! measured log volume). Little's law does the rest: concurrency = rate × duration.

use crate::bench::Results;
use crate::repo;
use crate::template::Template;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const INPUTS: &str = "bench/capacity-inputs.yaml";
pub const CAPACITY_TABLE: &str = "src/generated/capacity.md";
pub const COST_TABLE: &str = "src/generated/cost.md";

#[derive(Debug, Deserialize)]
pub struct Inputs {
    pub target_rps: f64,
    pub quotas: BTreeMap<String, Quota>,
    pub assumed_call_ms: BTreeMap<String, f64>,
    pub calls_per_payment: BTreeMap<String, Vec<String>>,
    pub read_units_per_payment: f64,
    pub write_units_per_payment: f64,
    pub index_writes_per_payment: f64,
    pub merchant_read_units_per_payment: f64,
    pub log_bytes_per_payment: f64,
    pub prices: BTreeMap<String, f64>,
    pub express_billed_gb: f64,
}

#[derive(Debug, Deserialize)]
pub struct Quota {
    pub value: f64,
    pub what: String,
    pub source: String,
}

impl Inputs {
    pub fn load() -> Inputs {
        let text = std::fs::read_to_string(repo::root().join(INPUTS))
            .unwrap_or_else(|e| panic!("{INPUTS}: {e}"));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{INPUTS}: {e}"))
    }

    fn quota(&self, id: &str) -> f64 {
        self.quotas
            .get(id)
            .unwrap_or_else(|| panic!("{INPUTS} has no quota {id}"))
            .value
    }

    fn price(&self, id: &str) -> f64 {
        *self
            .prices
            .get(id)
            .unwrap_or_else(|| panic!("{INPUTS} has no price {id}"))
    }

    fn call_ms(&self, call: &str) -> f64 {
        *self
            .assumed_call_ms
            .get(call)
            .unwrap_or_else(|| panic!("{INPUTS} has no latency for {call}"))
    }
}

/// Little's law: the requests in flight at `rate_per_s` when each takes `duration_ms`.
pub fn in_flight(rate_per_s: f64, duration_ms: f64) -> f64 {
    rate_per_s * duration_ms / 1000.0
}

/// The rate `slots` in-flight requests sustain when each takes `duration_ms`.
pub fn sustained_rate(slots: f64, duration_ms: f64) -> f64 {
    slots * 1000.0 / duration_ms
}

/// One function on the payment path, as deployed and as estimated on AWS.
pub struct FunctionPlan {
    pub name: &'static str,
    pub reserved: f64,
    pub memory_gb: f64,
    pub measured_ms: f64,
    pub calls_ms: f64,
}

impl FunctionPlan {
    pub fn duration_ms(&self) -> f64 {
        self.measured_ms + self.calls_ms
    }
}

/// One limit on the path of every payment.
pub struct Limit {
    pub component: String,
    pub quota: String,
    pub needed: String,
    /// The payments per second it sustains.
    pub sustains: f64,
    /// Behind the table's stream: exceeding it delays receipts, fails no payment.
    pub behind_stream: bool,
}

/// The functions on the payment path with their template settings.
const FUNCTIONS: [(&str, &str); 4] = [
    ("validator", "ValidatorFunction"),
    ("fraud-detector", "FraudDetectorFunction"),
    ("settlement", "SettlementFunction"),
    ("notification", "NotificationFunction"),
];

pub struct Plan {
    pub target: f64,
    pub functions: Vec<FunctionPlan>,
    pub batch_size: f64,
    pub stage_rps: f64,
    /// One execution of the state machine, end to end, on AWS.
    pub execution_ms: f64,
}

impl Plan {
    pub fn new(results: &Results, template: &Template, inputs: &Inputs) -> Plan {
        let functions: Vec<FunctionPlan> = FUNCTIONS
            .iter()
            .map(|&(name, id)| {
                let properties = &template.resource(id)["Properties"];
                let calls = inputs
                    .calls_per_payment
                    .get(name)
                    .unwrap_or_else(|| panic!("{INPUTS} lists no calls for {name}"));
                FunctionPlan {
                    name,
                    reserved: properties["ReservedConcurrentExecutions"]
                        .as_f64()
                        .unwrap_or_else(|| panic!("{id} has no reserved concurrency")),
                    memory_gb: properties["MemorySize"].as_f64().expect("MemorySize") / 1024.0,
                    measured_ms: results.row(name, "in-memory").median_us / 1000.0,
                    calls_ms: calls.iter().map(|c| inputs.call_ms(c)).sum(),
                }
            })
            .collect();
        let duration = |name: &str| {
            functions
                .iter()
                .find(|f| f.name == name)
                .expect("a planned function")
                .duration_ms()
        };
        // Screen runs both checks in parallel, then Settle answers; the receipt follows the
        // committed record on the table's stream, outside the execution.
        let execution_ms = duration("validator").max(duration("fraud-detector"))
            + duration("settlement")
            + 2.0 * inputs.call_ms("lambda_invoke_overhead");
        let batch_size = template.resource("NotificationStreamTrigger")["Properties"]["BatchSize"]
            .as_f64()
            .expect("NotificationStreamTrigger BatchSize");
        let stage_rps = template.doc["Parameters"]["ApiThrottleRateLimit"]["Default"]
            .as_f64()
            .expect("ApiThrottleRateLimit default");
        Plan {
            target: inputs.target_rps,
            functions,
            batch_size,
            stage_rps,
            execution_ms,
        }
    }

    /// The limits on the path of every payment, in path order.
    pub fn limits(&self, inputs: &Inputs) -> Vec<Limit> {
        let t = self.target;
        let mut rows = vec![
            Limit {
                component: "API Gateway, account and Region".into(),
                quota: format!(
                    "{} rps, burst {}",
                    n(inputs.quota("api_gateway_rps")),
                    n(inputs.quota("api_gateway_burst"))
                ),
                needed: format!("{} rps", n(t)),
                sustains: inputs.quota("api_gateway_rps"),
                behind_stream: false,
            },
            Limit {
                component: "API stage throttle (template default)".into(),
                quota: format!("{} rps", n(self.stage_rps)),
                needed: format!("{} rps", n(t)),
                sustains: self.stage_rps,
                behind_stream: false,
            },
            Limit {
                component: "Express StartSyncExecution rate".into(),
                quota: format!("{} per second", n(inputs.quota("express_start_rate"))),
                needed: format!("{} per second", n(t)),
                sustains: inputs.quota("express_start_rate"),
                behind_stream: false,
            },
            Limit {
                component: format!(
                    "Express executions in flight ({:.0} ms each)",
                    self.execution_ms
                ),
                quota: format!(
                    "{} (lowest Region)",
                    n(inputs.quota("express_sync_in_flight_low"))
                ),
                needed: format!("{:.0}", in_flight(t, self.execution_ms)),
                sustains: sustained_rate(
                    inputs.quota("express_sync_in_flight_low"),
                    self.execution_ms,
                ),
                behind_stream: false,
            },
        ];
        for f in &self.functions {
            rows.push(Limit {
                component: format!(
                    "{} reserved concurrency ({:.1} ms each)",
                    f.name,
                    f.duration_ms()
                ),
                quota: n(f.reserved),
                needed: format!("{:.0}", in_flight(t, f.duration_ms())),
                sustains: sustained_rate(f.reserved, f.duration_ms()),
                behind_stream: f.name == "notification",
            });
        }
        rows
    }

    pub fn capacity_table(&self, inputs: &Inputs) -> String {
        let mut out = String::from(
            "| function | measured, in-memory ms | + AWS calls ms (assumed) | duration on AWS ms | in flight at target | reserved concurrency | sustains rps | ramp to target |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for f in &self.functions {
            let needed = in_flight(self.target, f.duration_ms());
            let ramp_s = (needed / inputs.quota("lambda_scale_per_10s")).ceil() * 10.0;
            out += &format!(
                "| {} | {:.3} | {:.0} | {:.1} | {:.0} | {} | {} | ≤ {ramp_s:.0} s |\n",
                f.name,
                f.measured_ms,
                f.calls_ms,
                f.duration_ms(),
                needed,
                n(f.reserved),
                n(sustained_rate(f.reserved, f.duration_ms()).floor()),
            );
        }
        out += &format!(
            "\n| limit | quota | needed at {} rps | sustains rps | carries the target? |\n\
             | --- | --- | --- | ---: | --- |\n",
            n(self.target)
        );
        let limits = self.limits(inputs);
        for l in &limits {
            let verdict = match (l.sustains >= self.target, l.behind_stream) {
                (true, _) => "yes",
                (false, false) => "**no**: throttled, then failed executions",
                (false, true) => "**no**: the stream's iterator age grows",
            };
            out += &format!(
                "| {} | {} | {} | {} | {verdict} |\n",
                l.component,
                l.quota,
                l.needed,
                n(l.sustains.floor())
            );
        }
        let first = |behind_stream: bool| {
            limits
                .iter()
                .filter(|l| l.behind_stream == behind_stream)
                .min_by(|a, b| a.sustains.total_cmp(&b.sustains))
                .expect("limits on both sides of the stream")
        };
        let (answer, stream) = (first(false), first(true));
        let merchant_writes =
            inputs.quota("dynamodb_partition_wcu") / inputs.index_writes_per_payment;
        let merchant_reads =
            inputs.quota("dynamodb_partition_rcu") / inputs.merchant_read_units_per_payment;
        let email = inputs.quota("sns_email_tps");
        out += &format!(
            "\nFirst bottleneck on the answer path: {} at {} rps. Behind the stream: {} at {} rps. \
             One merchant alone: {} payments per second ({} WCU of its `merchant_id` index partition ÷ {} index writes per payment); \
             its configuration item allows {} ({} RCU of one partition ÷ {} read units per payment). \
             Failed-payment e-mails: {} per second before SNS suspends the subscription, a failure rate of {:.2} % at {} rps.\n",
            answer.component,
            n(answer.sustains.floor()),
            stream.component,
            n(stream.sustains.floor()),
            n(merchant_writes.min(merchant_reads).floor()),
            n(inputs.quota("dynamodb_partition_wcu")),
            inputs.index_writes_per_payment,
            n(merchant_reads.floor()),
            n(inputs.quota("dynamodb_partition_rcu")),
            inputs.merchant_read_units_per_payment,
            n(email),
            email / self.target * 100.0,
            n(self.target),
        );
        out
    }

    /// USD per million payments, line by line.
    pub fn cost_lines(&self, inputs: &Inputs) -> Vec<(String, String, f64)> {
        let p = |id: &str| inputs.price(id);
        let batch = self.batch_size;
        let lambda_gb_s: f64 = self
            .functions
            .iter()
            .map(|f| f.duration_ms().ceil() / 1000.0 * f.memory_gb)
            .sum();
        let express_s = (self.execution_ms / 100.0).ceil() * 0.1;
        vec![
            (
                "API Gateway REST requests".into(),
                "1 per payment".into(),
                p("api_gateway_rest_per_million"),
            ),
            (
                "WAF requests".into(),
                "1 per payment".into(),
                p("waf_per_million_requests"),
            ),
            (
                "Step Functions Express requests".into(),
                "1 per payment".into(),
                p("express_per_million_requests"),
            ),
            (
                "Step Functions Express duration".into(),
                format!("{} GB × {express_s:.1} s", inputs.express_billed_gb),
                1e6 * inputs.express_billed_gb * express_s * p("express_per_gb_second"),
            ),
            (
                "Lambda requests".into(),
                format!("3 + 1/{} (stream batches of settled records)", n(batch)),
                (3.0 + 1.0 / batch) * p("lambda_per_million_requests"),
            ),
            (
                "Lambda duration (arm64)".into(),
                format!("{lambda_gb_s:.4} GB-s per payment"),
                1e6 * lambda_gb_s * p("lambda_arm_per_gb_second"),
            ),
            (
                "DynamoDB writes (on demand)".into(),
                format!("write units: {}", inputs.write_units_per_payment),
                inputs.write_units_per_payment * p("dynamodb_per_million_write_units"),
            ),
            (
                "DynamoDB reads (on demand)".into(),
                format!("read units: {}", inputs.read_units_per_payment),
                inputs.read_units_per_payment * p("dynamodb_per_million_read_units"),
            ),
            (
                "S3 PUT (receipt)".into(),
                "1 per payment".into(),
                1000.0 * p("s3_put_per_thousand"),
            ),
            (
                "DynamoDB Streams reads".into(),
                "GetRecords by the Lambda trigger: free".into(),
                0.0,
            ),
            (
                "SNS publish (settlements topic)".into(),
                "1 per payment".into(),
                p("sns_publish_per_million"),
            ),
            (
                "CloudWatch Logs ingestion".into(),
                format!("{} bytes per payment", n(inputs.log_bytes_per_payment)),
                1e6 * inputs.log_bytes_per_payment / 1e9 * p("cloudwatch_logs_per_gb_ingested"),
            ),
        ]
    }

    pub fn cost_table(&self, inputs: &Inputs) -> String {
        let lines = self.cost_lines(inputs);
        let mut out = String::from(
            "| item | quantity per payment | USD per million payments |\n| --- | --- | ---: |\n",
        );
        for (item, quantity, usd) in &lines {
            out += &format!("| {item} | {quantity} | {usd:.2} |\n");
        }
        let total: f64 = lines.iter().map(|l| l.2).sum();
        out += &format!("| **total** | | **{total:.2}** |\n");
        out
    }
}

/// A whole number with thousands separators: 10000 → "10,000".
fn n(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn littles_law_both_ways() {
        assert_eq!(in_flight(10_000.0, 25.0), 250.0);
        assert_eq!(sustained_rate(50.0, 25.0), 2_000.0);
        // The rate a function's own in-flight count sustains is the rate it was computed at.
        assert_eq!(sustained_rate(in_flight(6_000.0, 8.0), 8.0), 6_000.0);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(n(10_000.0), "10,000");
        assert_eq!(n(999.0), "999");
        assert_eq!(n(1_234_567.0), "1,234,567");
        assert_eq!(n(0.0), "0");
    }
}
