//! The capacity and cost appendix, computed from four sources and nothing else: the
//! measurements (`bench/results.json`), the template (memory, which parameter sets each
//! function's reserved concurrency, the notification stream trigger's batch size and the
//! stage throttle), each environment's parameter file (`templates/params/<env>.json`, over
//! the template's defaults) and `bench/capacity-inputs.yaml` (published quotas and prices,
//! assumed AWS call latencies, the headroom, measured log volume, the quota increases prod's
//! account needs). Little's law does the rest: concurrency = rate × duration.
//!
//! The invariant (tests/bench_tables.rs): prod's parameters carry the rate prod's stage
//! admits, and every account quota that rate exceeds is in the list of increases.

use crate::bench::Results;
use crate::repo;
use crate::template::{Template, ref_target};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value;
use std::collections::BTreeMap;

pub const INPUTS: &str = "bench/capacity-inputs.yaml";
pub const CAPACITY_TABLE: &str = "src/generated/capacity.md";
pub const ENVIRONMENTS_TABLE: &str = "src/generated/capacity-environments.md";
pub const COST_TABLE: &str = "src/generated/cost.md";
/// The environment whose parameters must carry the target.
pub const PROD: &str = "prod";
/// What the plan of the template's own defaults is called.
pub const DEFAULTS: &str = "defaults";

#[derive(Debug, Deserialize)]
pub struct Inputs {
    pub target_rps: f64,
    /// What each request's modelled cost (time in flight, request units) is multiplied by.
    pub headroom: f64,
    pub quotas: BTreeMap<String, Quota>,
    pub quota_increases: BTreeMap<String, Vec<Increase>>,
    pub assumed_call_ms: BTreeMap<String, f64>,
    pub calls_per_payment: BTreeMap<String, Vec<String>>,
    /// Durations measured on AWS, replacing a function's in-memory time plus assumed calls.
    #[serde(default)]
    pub aws_duration_ms: BTreeMap<String, Measured>,
    pub read_units_per_payment: f64,
    pub write_units_per_payment: f64,
    /// Per table (logical id) or index (`Table/index-name`).
    pub read_units_by_table: BTreeMap<String, f64>,
    pub write_units_by_table: BTreeMap<String, f64>,
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
    /// False for a quota AWS sets and will not raise on request (API Gateway's burst).
    #[serde(default = "adjustable")]
    pub adjustable: bool,
}

fn adjustable() -> bool {
    true
}

/// A figure measured on AWS, with how.
#[derive(Debug, Clone, Deserialize)]
pub struct Measured {
    pub value: f64,
    pub how: String,
}

/// One quota increase an account must be granted.
#[derive(Debug, Clone, Deserialize)]
pub struct Increase {
    /// The id under `quotas`.
    pub quota: String,
    /// Where to ask: the service and the quota's name (and code, where known).
    pub service_quota: String,
    /// The value to ask for.
    pub request: f64,
}

impl Inputs {
    pub fn load() -> Inputs {
        let text = std::fs::read_to_string(repo::root().join(INPUTS))
            .unwrap_or_else(|e| panic!("{INPUTS}: {e}"));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{INPUTS}: {e}"))
    }

    pub fn quota(&self, id: &str) -> f64 {
        self.quota_entry(id).value
    }

    pub fn quota_entry(&self, id: &str) -> &Quota {
        self.quotas
            .get(id)
            .unwrap_or_else(|| panic!("{INPUTS} has no quota {id}"))
    }

    /// The increases listed for one environment's account (none when it lists none).
    pub fn increases(&self, environment: &str) -> &[Increase] {
        self.quota_increases
            .get(environment)
            .map(Vec::as_slice)
            .unwrap_or_default()
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

// ---------------------------------------------------------------------------------------
// Parameters: what a stack of one environment is deployed with
// ---------------------------------------------------------------------------------------

/// Parameter values as CloudFormation hands them to resources (numbers for `Number`).
pub type Parameters = BTreeMap<String, Json>;

/// The template's defaults: what a parameter file that sets nothing deploys.
pub fn defaults(template: &Template) -> Parameters {
    crate::control_tower::defaults(&template.doc)
}

/// Each environment's values: `templates/params/<env>.json` over the template's defaults.
pub fn environments(template: &Template) -> BTreeMap<String, Parameters> {
    crate::control_tower::environments(&template.doc)
}

/// A number the template sets, literally or through a parameter (`!Ref`).
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub value: f64,
    /// The parameter that sets it, if any: what an environment's file changes.
    pub parameter: Option<String>,
}

impl Setting {
    /// `value` resolved with `parameters`; None when it is neither a number nor a `!Ref` to
    /// a numeric parameter.
    pub fn of(value: &Value, parameters: &Parameters) -> Option<Setting> {
        if let Some(number) = value.as_f64() {
            return Some(Setting {
                value: number,
                parameter: None,
            });
        }
        let name = ref_target(value)?;
        let resolved = parameters.get(name)?;
        let number = resolved
            .as_f64()
            .or_else(|| resolved.as_str()?.parse().ok())?;
        Some(Setting {
            value: number,
            parameter: Some(name.to_string()),
        })
    }

    /// `` `Parameter` = 1,000 ``, or the bare value when it is written into the template.
    pub fn label(&self) -> String {
        match &self.parameter {
            Some(name) => format!("`{name}` = {}", n(self.value)),
            None => n(self.value),
        }
    }

    /// What to change: the parameter, or the template's literal.
    fn knob(&self, literal: &str) -> String {
        self.parameter
            .clone()
            .unwrap_or_else(|| format!("{literal} (a literal in the template)"))
    }
}

/// A numeric property of a resource in one environment; panics naming what is missing.
fn property(template: &Template, id: &str, key: &str, parameters: &Parameters) -> Setting {
    let value = &template.resource(id)["Properties"][key];
    Setting::of(value, parameters).unwrap_or_else(|| {
        panic!("{id}.{key} is neither a number nor a !Ref to a numeric parameter: {value:?}")
    })
}

/// Each function's reserved concurrency in one environment (logical id, value), in template
/// order: what a stack takes from its account's concurrency.
pub fn reservations(template: &Template, parameters: &Parameters) -> Vec<(String, u64)> {
    template
        .of_type("AWS::Lambda::Function")
        .into_iter()
        .map(|(id, _)| {
            let reserved = property(template, id, "ReservedConcurrentExecutions", parameters);
            (id.to_string(), reserved.value as u64)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The plan of one environment
// ---------------------------------------------------------------------------------------

/// One function on the payment path, as deployed and as estimated on AWS.
pub struct FunctionPlan {
    pub name: &'static str,
    pub reserved: Setting,
    /// Payments one invocation handles: 1, or the stream's batch size for the notifier.
    pub records_per_invocation: f64,
    pub memory_gb: f64,
    pub measured_ms: f64,
    pub calls_ms: f64,
    /// Its duration measured on AWS, when someone has (`aws_duration_ms` in the inputs).
    pub aws_ms: Option<f64>,
}

impl FunctionPlan {
    /// One payment's time in the function on AWS: measured there if it has been, else the
    /// round trip measured here plus the AWS calls it makes at their assumed latencies.
    /// The notifier handles a batch's records one after another, so a payment keeps one of
    /// its environments busy this long whatever the batch size.
    pub fn duration_ms(&self) -> f64 {
        self.aws_ms.unwrap_or(self.measured_ms + self.calls_ms)
    }

    /// Where its duration comes from.
    pub fn duration_source(&self) -> &'static str {
        if self.aws_ms.is_some() {
            "measured on AWS"
        } else {
            "assumed calls"
        }
    }

    /// Environments busy at `rate` payments per second (Little's law, a mean).
    pub fn in_flight(&self, rate: f64) -> f64 {
        in_flight(rate, self.duration_ms())
    }

    pub fn invocations(&self, rate: f64) -> f64 {
        rate / self.records_per_invocation
    }

    /// The reserved concurrency `rate` needs: the environments in flight times the headroom,
    /// and never fewer than Lambda's 10 invocations per second per environment allow.
    pub fn needs(&self, rate: f64, inputs: &Inputs) -> f64 {
        let by_duration = self.in_flight(rate) * inputs.headroom;
        let by_invocations = self.invocations(rate) / inputs.quota("lambda_rps_per_environment");
        by_duration.max(by_invocations).ceil()
    }

    /// The rate its reservation carries under the same two rules.
    pub fn carries(&self, inputs: &Inputs) -> f64 {
        let reserved = self.reserved.value;
        let by_duration = sustained_rate(reserved / inputs.headroom, self.duration_ms());
        let by_invocations =
            reserved * inputs.quota("lambda_rps_per_environment") * self.records_per_invocation;
        by_duration.min(by_invocations)
    }

    /// Behind the table's stream: a shortfall delays receipts and fails no payment.
    pub fn behind_stream(&self) -> bool {
        self.name == "notification"
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

/// What an account quota must allow for one environment's parameters.
pub struct AccountNeed {
    /// The id under `quotas` in the inputs.
    pub quota: &'static str,
    pub needs: f64,
    /// How the need follows from the parameters and the model.
    pub why: String,
    /// The parameter that sets the need, if one does: the fix when AWS will not raise it.
    pub parameter: Option<String>,
}

/// The functions on the payment path and their logical ids.
const FUNCTIONS: [(&str, &str); 4] = [
    ("validator", "ValidatorFunction"),
    ("fraud-detector", "FraudDetectorFunction"),
    ("settlement", "SettlementFunction"),
    ("notification", "NotificationFunction"),
];

pub struct Plan {
    /// The environment (a parameter file's name), or [`DEFAULTS`].
    pub environment: String,
    pub target: f64,
    pub functions: Vec<FunctionPlan>,
    pub batch_size: Setting,
    /// The rate the API stage admits, and its burst.
    pub stage_rps: Setting,
    pub stage_burst: Setting,
    /// One execution of the state machine, end to end, on AWS.
    pub execution_ms: f64,
    /// Every function's reservation, the scheduled ones included.
    pub reservations: Vec<(String, u64)>,
}

impl Plan {
    /// The plan of the template's defaults.
    pub fn new(results: &Results, template: &Template, inputs: &Inputs) -> Plan {
        Plan::of(results, template, inputs, DEFAULTS, &defaults(template))
    }

    /// The plan of one environment's parameter values.
    pub fn of(
        results: &Results,
        template: &Template,
        inputs: &Inputs,
        environment: &str,
        parameters: &Parameters,
    ) -> Plan {
        let batch_size = property(
            template,
            "NotificationStreamTrigger",
            "BatchSize",
            parameters,
        );
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
                    reserved: property(template, id, "ReservedConcurrentExecutions", parameters),
                    records_per_invocation: if name == "notification" {
                        batch_size.value
                    } else {
                        1.0
                    },
                    memory_gb: properties["MemorySize"].as_f64().expect("MemorySize") / 1024.0,
                    measured_ms: results.row(name, "in-memory").median_us / 1000.0,
                    calls_ms: calls.iter().map(|c| inputs.call_ms(c)).sum(),
                    aws_ms: inputs.aws_duration_ms.get(name).map(|m| m.value),
                }
            })
            .collect();
        for name in inputs.aws_duration_ms.keys() {
            assert!(
                FUNCTIONS.iter().any(|(f, _)| f == name),
                "{INPUTS}: aws_duration_ms names {name}, which is not on the payment path"
            );
        }
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
        let settings = &template.resource("ApiStage")["Properties"]["MethodSettings"][0];
        let stage = |key: &str| {
            Setting::of(&settings[key], parameters)
                .unwrap_or_else(|| panic!("ApiStage MethodSettings {key} is not a number"))
        };
        Plan {
            environment: environment.to_string(),
            target: inputs.target_rps,
            functions,
            stage_rps: stage("ThrottlingRateLimit"),
            stage_burst: stage("ThrottlingBurstLimit"),
            batch_size,
            execution_ms,
            reservations: reservations(template, parameters),
        }
    }

    /// The rate this environment carries: its slowest function's.
    pub fn carries(&self, inputs: &Inputs) -> f64 {
        self.functions
            .iter()
            .map(|f| f.carries(inputs))
            .fold(f64::INFINITY, f64::min)
    }

    /// Each function whose reservation does not carry the stage's rate, named by what sets
    /// it, with the value the rate needs.
    pub fn parameter_shortfalls(&self, inputs: &Inputs) -> Vec<String> {
        let rate = self.stage_rps.value;
        self.functions
            .iter()
            .filter(|f| f.reserved.value < f.needs(rate, inputs))
            .map(|f| {
                format!(
                    "{}: {} is {} and carries {} rps; the stage's {} rps need {} \
                     ({} in flight × {} headroom = {}; {} invocations/s ÷ {} per environment = {})",
                    self.environment,
                    f.reserved
                        .knob(&format!("{} ReservedConcurrentExecutions", f.name)),
                    n(f.reserved.value),
                    n(f.carries(inputs).floor()),
                    n(rate),
                    n(f.needs(rate, inputs)),
                    round1(f.in_flight(rate)),
                    inputs.headroom,
                    n((f.in_flight(rate) * inputs.headroom).ceil()),
                    n(f.invocations(rate)),
                    n(inputs.quota("lambda_rps_per_environment")),
                    n((f.invocations(rate) / inputs.quota("lambda_rps_per_environment")).ceil()),
                )
            })
            .collect()
    }

    /// What the account's quotas must allow for the stage's rate, quota by quota.
    pub fn account_needs(&self, inputs: &Inputs) -> Vec<AccountNeed> {
        let rate = self.stage_rps.value;
        let headroom = inputs.headroom;
        let reserved: u64 = self.reservations.iter().map(|(_, r)| r).sum();
        let unreserved = inputs.quota("lambda_unreserved_minimum");
        let busiest = |units: &BTreeMap<String, f64>| {
            units
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(table, per_payment)| (table.clone(), *per_payment))
                .expect("units by table")
        };
        let (write_table, writes) = busiest(&inputs.write_units_by_table);
        let (read_table, reads) = busiest(&inputs.read_units_by_table);
        let express_in_flight = in_flight(rate, self.execution_ms);
        vec![
            AccountNeed {
                quota: "api_gateway_rps",
                needs: rate,
                why: "the stage's rate".into(),
                parameter: self.stage_rps.parameter.clone(),
            },
            AccountNeed {
                quota: "api_gateway_burst",
                needs: self.stage_burst.value,
                why: "the stage's burst".into(),
                parameter: self.stage_burst.parameter.clone(),
            },
            AccountNeed {
                quota: "express_start_rate",
                needs: rate,
                why: "one StartSyncExecution per admitted request".into(),
                parameter: self.stage_rps.parameter.clone(),
            },
            AccountNeed {
                quota: "express_sync_in_flight_low",
                needs: (express_in_flight * headroom).ceil(),
                why: format!(
                    "{} in flight ({:.0} ms each) × {headroom} headroom",
                    round1(express_in_flight),
                    self.execution_ms
                ),
                parameter: self.stage_rps.parameter.clone(),
            },
            AccountNeed {
                quota: "lambda_account_concurrency",
                needs: reserved as f64 + unreserved,
                why: format!(
                    "the stack's reservations {} + {} left unreserved",
                    n(reserved as f64),
                    n(unreserved)
                ),
                parameter: None,
            },
            AccountNeed {
                quota: "dynamodb_table_write_units",
                needs: (writes * rate * headroom).ceil(),
                why: format!(
                    "{write_table}: {writes} a payment × {} payments/s × {headroom} headroom",
                    n(rate)
                ),
                parameter: self.stage_rps.parameter.clone(),
            },
            AccountNeed {
                quota: "dynamodb_table_read_units",
                needs: (reads * rate * headroom).ceil(),
                why: format!(
                    "{read_table}: {reads} a payment × {} payments/s × {headroom} headroom",
                    n(rate)
                ),
                parameter: self.stage_rps.parameter.clone(),
            },
        ]
    }

    /// Each account quota the stage's rate exceeds without an increase in `increases` that
    /// covers it, each quota AWS will not raise, and each listed increase no longer needed.
    pub fn quota_shortfalls(&self, inputs: &Inputs, increases: &[Increase]) -> Vec<String> {
        let env = &self.environment;
        let needs = self.account_needs(inputs);
        let mut found = Vec::new();
        for need in &needs {
            let quota = inputs.quota_entry(need.quota);
            let listed = increases.iter().find(|i| i.quota == need.quota);
            if need.needs <= quota.value {
                if let Some(increase) = listed {
                    found.push(format!(
                        "{env}: quota_increases lists {} ({}), which {env} does not exceed: \
                         it needs {} ({}), the quota is {}; drop the entry",
                        need.quota,
                        increase.service_quota,
                        n(need.needs),
                        need.why,
                        n(quota.value)
                    ));
                }
                continue;
            }
            if !quota.adjustable {
                found.push(format!(
                    "{env}: {} needs {} ({}) but the quota is {} and AWS does not raise it on \
                     request: lower {}",
                    need.quota,
                    n(need.needs),
                    need.why,
                    n(quota.value),
                    need.parameter
                        .as_deref()
                        .unwrap_or("the setting that needs it")
                ));
                continue;
            }
            match listed {
                None => found.push(format!(
                    "{env}: {} needs {} ({}), above the quota of {} ({}): add an increase to \
                     quota_increases.{env} in {INPUTS}",
                    need.quota,
                    n(need.needs),
                    need.why,
                    n(quota.value),
                    quota.what
                )),
                Some(increase) if increase.request < need.needs => found.push(format!(
                    "{env}: quota_increases asks {} for {}, but {env} needs {} ({})",
                    need.quota,
                    n(increase.request),
                    n(need.needs),
                    need.why
                )),
                Some(_) => {}
            }
        }
        for increase in increases {
            if !needs.iter().any(|need| need.quota == increase.quota) {
                found.push(format!(
                    "{env}: quota_increases lists {}, which the capacity model does not check",
                    increase.quota
                ));
            }
        }
        found
    }

    /// The limits on the path of every payment, in path order.
    pub fn limits(&self, inputs: &Inputs) -> Vec<Limit> {
        let t = self.target;
        let h = inputs.headroom;
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
                quota: format!("{} rps", n(self.stage_rps.value)),
                needed: format!("{} rps", n(t)),
                sustains: self.stage_rps.value,
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
                needed: n((in_flight(t, self.execution_ms) * h).ceil()),
                sustains: sustained_rate(
                    inputs.quota("express_sync_in_flight_low") / h,
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
                quota: n(f.reserved.value),
                needed: n(f.needs(t, inputs)),
                sustains: f.carries(inputs),
                behind_stream: f.behind_stream(),
            });
        }
        rows
    }

    pub fn capacity_table(&self, inputs: &Inputs) -> String {
        let mut out = format!(
            "| function | measured, in-memory ms | + AWS calls ms (assumed) | duration on AWS ms | from | in flight at target | needs (× {} headroom, ≥ invocations ÷ {}) | reserved concurrency (default) | carries rps | ramp to target |\n\
             | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
            inputs.headroom,
            n(inputs.quota("lambda_rps_per_environment")),
        );
        for f in &self.functions {
            let needs = f.needs(self.target, inputs);
            let ramp_s = (needs / inputs.quota("lambda_scale_per_10s")).ceil() * 10.0;
            out += &format!(
                "| {} | {:.3} | {:.0} | {:.1} | {} | {:.0} | {} | {} | {} | ≤ {ramp_s:.0} s |\n",
                f.name,
                f.measured_ms,
                f.calls_ms,
                f.duration_ms(),
                f.duration_source(),
                f.in_flight(self.target),
                n(needs),
                n(f.reserved.value),
                n(f.carries(inputs).floor()),
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

    /// The settings that decide capacity, to group environments that share them.
    fn capacity_settings(&self) -> Vec<u64> {
        let mut key: Vec<u64> = self
            .functions
            .iter()
            .map(|f| f.reserved.value as u64)
            .collect();
        key.extend([
            self.batch_size.value as u64,
            self.stage_rps.value as u64,
            self.stage_burst.value as u64,
        ]);
        key.extend(self.reservations.iter().map(|(_, r)| *r));
        key
    }

    /// One environment's table: each function at the stage's rate, and its verdict.
    fn environment_table(&self, names: &[&str], inputs: &Inputs) -> String {
        let rate = self.stage_rps.value;
        let files: Vec<String> = names
            .iter()
            .map(|e| format!("`templates/params/{e}.json`"))
            .collect();
        let mut out = format!(
            "**{}** ({}): the stage admits {} requests per second ({}), burst {}; \
             the stream hands the notifier {} settled payments per invocation ({}).\n\n",
            names.join(", "),
            files.join(", "),
            n(rate),
            self.stage_rps.label(),
            n(self.stage_burst.value),
            n(self.batch_size.value),
            self.batch_size.label(),
        );
        out += &format!(
            "| function | duration on AWS ms | from | in flight at {} rps | × {} headroom | invocations/s ÷ {} | needs | reserved concurrency | carries rps | carries the stage's rate? |\n\
             | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |\n",
            n(rate),
            inputs.headroom,
            n(inputs.quota("lambda_rps_per_environment")),
        );
        for f in &self.functions {
            let needs = f.needs(rate, inputs);
            let verdict = match (f.reserved.value >= needs, f.behind_stream()) {
                (true, _) => "yes".to_string(),
                (false, false) => format!(
                    "**no**: needs {}; throttled, then failed executions",
                    n(needs)
                ),
                (false, true) => format!(
                    "**no**: needs {}; the stream's iterator age grows",
                    n(needs)
                ),
            };
            out += &format!(
                "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {verdict} |\n",
                f.name,
                f.duration_ms(),
                f.duration_source(),
                round1(f.in_flight(rate)),
                n((f.in_flight(rate) * inputs.headroom).ceil()),
                n((f.invocations(rate) / inputs.quota("lambda_rps_per_environment")).ceil()),
                n(needs),
                f.reserved.label(),
                n(f.carries(inputs).floor()),
            );
        }
        let reserved: u64 = self.reservations.iter().map(|(_, r)| r).sum();
        out += &format!(
            "\nThese settings carry {} requests per second. The stack reserves {} of its account's \
             Lambda concurrency ({}).\n",
            n(self.carries(inputs).floor()),
            n(reserved as f64),
            self.reservations
                .iter()
                .map(|(id, r)| format!("{} {}", id.trim_end_matches("Function"), n(*r as f64)))
                .collect::<Vec<_>>()
                .join(" + "),
        );
        out
    }

    /// The account quotas this environment's stage rate needs, and the increases listed.
    pub fn quota_table(&self, inputs: &Inputs) -> String {
        let increases = inputs.increases(&self.environment);
        let mut out = format!(
            "| quota | default | {} needs | because | increase to request | where |\n\
             | --- | ---: | ---: | --- | ---: | --- |\n",
            self.environment
        );
        for need in self.account_needs(inputs) {
            let quota = inputs.quota_entry(need.quota);
            let (request, place) = match increases.iter().find(|i| i.quota == need.quota) {
                Some(increase) => (n(increase.request), increase.service_quota.clone()),
                None if need.needs > quota.value => ("**missing**".into(), String::new()),
                None if need.needs == quota.value => ("— (at the quota)".into(), String::new()),
                None => ("—".into(), String::new()),
            };
            out += &format!(
                "| {} (`{}`) | {} | {} | {} | {request} | {place} |\n",
                quota.what,
                need.quota,
                n(quota.value),
                n(need.needs),
                need.why,
            );
        }
        out
    }
}

/// Every environment's table, environments with the same capacity settings together, then
/// the quota increases prod's account needs.
pub fn environments_table(plans: &[Plan], inputs: &Inputs) -> String {
    let mut groups: Vec<(Vec<u64>, Vec<&str>, &Plan)> = Vec::new();
    for plan in plans {
        let key = plan.capacity_settings();
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, names, _)) => names.push(&plan.environment),
            None => groups.push((key, vec![&plan.environment], plan)),
        }
    }
    let mut out = String::new();
    for (_, names, plan) in &groups {
        out += &plan.environment_table(names, inputs);
        out += "\n";
    }
    let prod = plans
        .iter()
        .find(|p| p.environment == PROD)
        .expect("a prod parameter file");
    out += &format!(
        "Account and Region quotas at prod's {} requests per second (one account for prod alone; \
         another stack in the account adds its own reservations and traffic):\n\n",
        n(prod.stage_rps.value)
    );
    out += &prod.quota_table(inputs);
    out
}

impl Plan {
    /// USD per million payments, line by line.
    pub fn cost_lines(&self, inputs: &Inputs) -> Vec<(String, String, f64)> {
        let p = |id: &str| inputs.price(id);
        let batch = self.batch_size.value;
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

/// One decimal, with thousands separated above 1,000: 41.7, 534.2, 5,020.0.
fn round1(value: f64) -> String {
    let tenths = (value * 10.0).round();
    format!(
        "{}.{}",
        n((tenths / 10.0).trunc()),
        (tenths % 10.0).abs() as u64
    )
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

    fn function(reserved: f64, duration_ms: f64, records: f64) -> FunctionPlan {
        FunctionPlan {
            name: "settlement",
            reserved: Setting {
                value: reserved,
                parameter: Some("SettlementReservedConcurrency".into()),
            },
            records_per_invocation: records,
            memory_gb: 0.5,
            measured_ms: 0.0,
            calls_ms: duration_ms,
            aws_ms: None,
        }
    }

    fn inputs() -> Inputs {
        let mut inputs = Inputs::load();
        inputs.headroom = 2.0;
        inputs
            .quotas
            .get_mut("lambda_rps_per_environment")
            .unwrap()
            .value = 10.0;
        inputs
    }

    #[test]
    fn a_reservation_needs_littles_law_with_headroom_or_ten_invocations_per_environment() {
        let inputs = inputs();
        // 18 ms at 10,000/s: 180 in flight, 360 with headroom; 10,000 invocations need 1,000.
        assert_eq!(function(50.0, 18.0, 1.0).needs(10_000.0, &inputs), 1_000.0);
        // 50 ms a record, 10 records an invocation: 500 in flight, 1,000 with headroom; the
        // 1,000 invocations a second need only 100 environments.
        assert_eq!(function(50.0, 50.0, 10.0).needs(10_000.0, &inputs), 1_000.0);
        // What a reservation carries is the least of the two rules, and what it needs carries.
        assert_eq!(function(50.0, 18.0, 1.0).carries(&inputs), 500.0);
        let needed = function(0.0, 18.0, 1.0).needs(7_300.0, &inputs);
        assert!(function(needed, 18.0, 1.0).carries(&inputs) >= 7_300.0);
        assert!(function(needed - 1.0, 18.0, 1.0).carries(&inputs) < 7_300.0);
    }

    #[test]
    fn settings_resolve_literals_and_parameters() {
        let parameters: Parameters = [
            ("Reserved".to_string(), Json::from(400)),
            ("Text".to_string(), Json::from("12")),
        ]
        .into_iter()
        .collect();
        let reference: Value = serde_yaml::from_str("!Ref Reserved").unwrap();
        assert_eq!(
            Setting::of(&reference, &parameters),
            Some(Setting {
                value: 400.0,
                parameter: Some("Reserved".into())
            })
        );
        let text: Value = serde_yaml::from_str("!Ref Text").unwrap();
        assert_eq!(Setting::of(&text, &parameters).unwrap().value, 12.0);
        assert_eq!(
            Setting::of(&Value::from(7), &parameters).unwrap().parameter,
            None
        );
        let unknown: Value = serde_yaml::from_str("!Ref Missing").unwrap();
        assert_eq!(Setting::of(&unknown, &parameters), None);
        assert_eq!(
            Setting::of(&reference, &parameters).unwrap().label(),
            "`Reserved` = 400"
        );
    }

    #[test]
    fn one_decimal_rounds_and_separates() {
        assert_eq!(round1(41.666), "41.7");
        assert_eq!(round1(5_020.04), "5,020.0");
        assert_eq!(round1(0.96), "1.0");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(n(10_000.0), "10,000");
        assert_eq!(n(999.0), "999");
        assert_eq!(n(1_234_567.0), "1,234,567");
        assert_eq!(n(0.0), "0");
    }
}
