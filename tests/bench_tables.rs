//! The book's benchmark and capacity tables are rendered from `bench/results.json` (written by
//! `cargo xtask bench`), the template, the parameter files and `bench/capacity-inputs.yaml`, and
//! must match the checked-in Markdown; `cargo xtask regen` rewrites them.

use payment_workflow_book::bench::{FUNCTIONS_TABLE, PER_PAYMENT_TABLE, PIPELINE_TABLE, Results};
use payment_workflow_book::generated;

#[test]
fn function_table_is_rendered_from_the_recorded_results() {
    generated::check(FUNCTIONS_TABLE, &Results::load().functions_table());
}

#[test]
fn per_payment_table_is_rendered_from_the_recorded_results() {
    generated::check(PER_PAYMENT_TABLE, &Results::load().per_payment_table());
}

#[test]
fn pipeline_table_is_rendered_from_the_recorded_results() {
    generated::check(PIPELINE_TABLE, &Results::load().pipeline_table());
}

/// Capacity as an invariant, like the time budget: Appendix F's tables, and the check that
/// prod's parameters carry the rate prod's stage admits, with every account quota that rate
/// exceeds named in the list of increases (tests/support/capacity.rs, the model;
/// bench/capacity-inputs.yaml, its quotas, headroom and increases).
mod capacity {
    use payment_workflow_book::bench::Results;
    use payment_workflow_book::capacity::{
        self, CAPACITY_TABLE, COST_TABLE, ENVIRONMENTS_TABLE, Inputs, PROD, Parameters, Plan,
    };
    use payment_workflow_book::generated;
    use payment_workflow_book::template::Template;
    use std::sync::OnceLock;

    fn template() -> &'static Template {
        static TEMPLATE: OnceLock<Template> = OnceLock::new();
        TEMPLATE.get_or_init(Template::load)
    }

    fn results() -> &'static Results {
        static RESULTS: OnceLock<Results> = OnceLock::new();
        RESULTS.get_or_init(Results::load)
    }

    /// The plan of the template's defaults (seed 000's values).
    fn plan() -> (Plan, Inputs) {
        let inputs = Inputs::load();
        (Plan::new(results(), template(), &inputs), inputs)
    }

    /// One plan per parameter file.
    fn environment_plans(inputs: &Inputs) -> Vec<Plan> {
        capacity::environments(template())
            .iter()
            .map(|(env, parameters)| Plan::of(results(), template(), inputs, env, parameters))
            .collect()
    }

    /// Prod's plan, with one change to its parameter values.
    fn prod_with(inputs: &Inputs, change: impl FnOnce(&mut Parameters)) -> Plan {
        let mut parameters = capacity::environments(template())
            .remove(PROD)
            .expect("templates/params/prod.json");
        change(&mut parameters);
        Plan::of(results(), template(), inputs, PROD, &parameters)
    }

    #[test]
    fn capacity_table_follows_results_template_and_quotas() {
        let (plan, inputs) = plan();
        generated::check(CAPACITY_TABLE, &plan.capacity_table(&inputs));
    }

    #[test]
    fn capacity_environments_table_follows_the_parameter_files() {
        let inputs = Inputs::load();
        let plans = environment_plans(&inputs);
        generated::check(
            ENVIRONMENTS_TABLE,
            &capacity::environments_table(&plans, &inputs),
        );
    }

    #[test]
    fn cost_table_follows_results_template_and_prices() {
        let (plan, inputs) = plan();
        generated::check(COST_TABLE, &plan.cost_table(&inputs));
    }

    #[test]
    fn every_function_on_the_payment_path_has_its_calls_listed() {
        let (plan, inputs) = plan();
        for f in &plan.functions {
            assert!(
                inputs.calls_per_payment.contains_key(f.name),
                "{} has no calls",
                f.name
            );
        }
        assert_eq!(inputs.calls_per_payment.len(), plan.functions.len());
    }

    /// REQ-000-1's 10,000 requests per second, as an invariant of prod's parameter file: the
    /// stage admits at least the target, and each function's reserved concurrency carries
    /// what the stage admits (Little's law on the modelled duration, times the headroom, and
    /// at least one environment per 10 invocations a second).
    ///
    /// Mutant, tried: prod's `SettlementReservedConcurrency` back to seed 000's 50 fails
    /// naming `SettlementReservedConcurrency` and the 1,000 it needs
    /// (`capacity_mutant_prod_settlement_at_the_seed_value_fails_naming_its_parameter`).
    #[test]
    fn capacity_prod_parameters_carry_the_stage_rate() {
        let inputs = Inputs::load();
        let prod = prod_with(&inputs, |_| {});
        assert!(
            prod.stage_rps.value >= inputs.target_rps,
            "prod's stage admits {} requests per second, below REQ-000-1's {}",
            prod.stage_rps.value,
            inputs.target_rps
        );
        let shortfalls = prod.parameter_shortfalls(&inputs);
        assert!(
            shortfalls.is_empty(),
            "prod's parameters do not carry its stage's rate (templates/params/prod.json):\n{}",
            shortfalls.join("\n")
        );
    }

    /// Every account and Region quota prod's stage rate exceeds is in
    /// `quota_increases.prod` of bench/capacity-inputs.yaml, at or above what prod needs, so
    /// the runbook can ask for it; an entry prod no longer needs fails too.
    ///
    /// Mutant, tried: the Lambda concurrency increase dropped from the list fails naming
    /// `lambda_account_concurrency`
    /// (`capacity_mutant_a_quota_increase_dropped_from_the_list_fails`).
    #[test]
    fn capacity_prod_names_every_quota_increase_it_needs() {
        let inputs = Inputs::load();
        let prod = prod_with(&inputs, |_| {});
        let shortfalls = prod.quota_shortfalls(&inputs, inputs.increases(PROD));
        assert!(
            shortfalls.is_empty(),
            "prod's account quotas and the increases listed disagree:\n{}",
            shortfalls.join("\n")
        );
    }

    #[test]
    fn capacity_mutant_prod_settlement_at_the_seed_value_fails_naming_its_parameter() {
        let inputs = Inputs::load();
        let prod = prod_with(&inputs, |p| {
            p.insert("SettlementReservedConcurrency".into(), 50.into());
        });
        let shortfalls = prod.parameter_shortfalls(&inputs);
        assert_eq!(shortfalls.len(), 1, "{shortfalls:?}");
        assert!(
            shortfalls[0].contains("SettlementReservedConcurrency is 50")
                && shortfalls[0].contains("need 1,000"),
            "{}",
            shortfalls[0]
        );
    }

    #[test]
    fn capacity_mutant_a_smaller_notification_batch_needs_more_environments() {
        // One record an invocation: 10,000 invocations a second need 1,000 environments by
        // Lambda's 10 per environment, so prod's notifier must still reserve at least that.
        let inputs = Inputs::load();
        let prod = prod_with(&inputs, |p| {
            p.insert("NotificationBatchSize".into(), 1.into());
            p.insert("NotificationReservedConcurrency".into(), 999.into());
        });
        let shortfalls = prod.parameter_shortfalls(&inputs);
        assert!(
            shortfalls.len() == 1 && shortfalls[0].contains("NotificationReservedConcurrency"),
            "{shortfalls:?}"
        );
    }

    #[test]
    fn capacity_mutant_a_quota_increase_dropped_from_the_list_fails() {
        let inputs = Inputs::load();
        let prod = prod_with(&inputs, |_| {});
        let mut increases = inputs.increases(PROD).to_vec();
        increases.retain(|i| i.quota != "lambda_account_concurrency");
        let shortfalls = prod.quota_shortfalls(&inputs, &increases);
        assert!(
            shortfalls.len() == 1 && shortfalls[0].contains("lambda_account_concurrency needs"),
            "{shortfalls:?}"
        );
        // A request below the need fails, and so does an entry prod does not need.
        let mut low = inputs.increases(PROD).to_vec();
        low.iter_mut()
            .filter(|i| i.quota == "express_start_rate")
            .for_each(|i| i.request = 9_000.0);
        let shortfalls = prod.quota_shortfalls(&inputs, &low);
        assert!(
            shortfalls.len() == 1 && shortfalls[0].contains("asks express_start_rate for 9,000"),
            "{shortfalls:?}"
        );
        let dev = Plan::new(results(), template(), &inputs);
        let mut quiet = dev.stage_rps.clone();
        quiet.value = 100.0;
        let dev = Plan {
            stage_rps: quiet,
            ..dev
        };
        let shortfalls = dev.quota_shortfalls(&inputs, inputs.increases(PROD));
        assert!(
            !shortfalls.is_empty() && shortfalls.iter().all(|s| s.contains("drop the entry")),
            "{shortfalls:?}"
        );
    }

    #[test]
    fn capacity_mutant_prod_throttle_above_the_api_gateway_quota_fails_without_an_increase() {
        let inputs = Inputs::load();
        let prod = prod_with(&inputs, |p| {
            p.insert("ApiThrottleRateLimit".into(), 12_000.into());
        });
        let shortfalls = prod.quota_shortfalls(&inputs, inputs.increases(PROD));
        assert!(
            shortfalls
                .iter()
                .any(|s| s.starts_with("prod: api_gateway_rps needs 12,000")),
            "{shortfalls:?}"
        );
        // The burst is AWS's to set: the fix is the parameter, not a request.
        let prod = prod_with(&inputs, |p| {
            p.insert("ApiThrottleBurstLimit".into(), 6_000.into());
        });
        let shortfalls = prod.quota_shortfalls(&inputs, inputs.increases(PROD));
        assert!(
            shortfalls.len() == 1 && shortfalls[0].contains("lower ApiThrottleBurstLimit"),
            "{shortfalls:?}"
        );
    }

    #[test]
    fn capacity_mutant_a_stage_below_the_target_fails() {
        let inputs = Inputs::load();
        let prod = prod_with(&inputs, |p| {
            p.insert("ApiThrottleRateLimit".into(), 500.into());
        });
        // Everything carries 500 rps: only the stage check catches it.
        assert!(prod.parameter_shortfalls(&inputs).is_empty());
        assert!(prod.stage_rps.value < inputs.target_rps);
    }

    /// The request units by table are the per-payment totals split, and name tables and
    /// indexes the template declares.
    #[test]
    fn capacity_units_by_table_add_up_and_name_the_templates_tables() {
        let inputs = Inputs::load();
        for (units, total) in [
            (&inputs.read_units_by_table, inputs.read_units_per_payment),
            (&inputs.write_units_by_table, inputs.write_units_per_payment),
        ] {
            assert_eq!(units.values().sum::<f64>(), total);
            for key in units.keys() {
                let (table, index) = match key.split_once('/') {
                    Some((table, index)) => (table, Some(index)),
                    None => (key.as_str(), None),
                };
                let resource = template().resource(table);
                assert_eq!(resource["Type"].as_str(), Some("AWS::DynamoDB::Table"));
                if let Some(index) = index {
                    let indexes = resource["Properties"]["GlobalSecondaryIndexes"]
                        .as_sequence()
                        .expect("indexes");
                    assert!(
                        indexes
                            .iter()
                            .any(|i| i["IndexName"].as_str() == Some(index)),
                        "{table} has no index {index}"
                    );
                }
            }
        }
    }
}

mod load {
    use payment_workflow_book::bench::Results;
    use payment_workflow_book::generated;
    use payment_workflow_book::load::{LATENCY_PLOT, LOAD_TABLE, LoadRun, THROUGHPUT_PLOT};

    fn recorded() -> LoadRun {
        Results::load()
            .load
            .expect("bench/results.json has no load run; run `cargo xtask bench`")
    }

    #[test]
    fn load_table_and_plots_are_rendered_from_the_recorded_run() {
        let run = recorded();
        generated::check(LOAD_TABLE, &run.table());
        generated::check(LATENCY_PLOT, &run.latency_svg());
        generated::check(THROUGHPUT_PLOT, &run.throughput_svg());
    }

    /// What the book claims of the recorded run: the workflow and its floor measured in the
    /// same run, nothing lost, every answer as its kind must be, and the workflow within 2× of
    /// the floor's throughput (Appendix F: "met"; a new record that misses it must change the
    /// book, not pass silently).
    #[test]
    fn the_recorded_load_has_its_floor_and_lost_nothing() {
        let run = recorded();
        let workflow = run.pass("workflow").expect("a workflow pass");
        let floor = run.pass("floor").expect("no floor in the same run");
        assert!(
            workflow.throughput() * 2.0 >= floor.throughput(),
            "the workflow carries {:.2} payments/s, under half the floor's {:.2}",
            workflow.throughput(),
            floor.throughput()
        );
        assert_eq!(workflow.lost.as_deref(), Some(&[][..]), "payments lost");
        for pass in &run.passes {
            assert_eq!(pass.unexpected(), 0, "{}", pass.deployment);
        }
    }
}
