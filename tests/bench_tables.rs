//! The book's benchmark tables are rendered from `bench/results.json` (written by `cargo
//! xtask bench`) and must match the checked-in Markdown; `cargo xtask regen` rewrites them.

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

mod capacity {
    use payment_workflow_book::bench::Results;
    use payment_workflow_book::capacity::{CAPACITY_TABLE, COST_TABLE, Inputs, Plan};
    use payment_workflow_book::generated;
    use payment_workflow_book::template::Template;

    fn plan() -> (Plan, Inputs) {
        let inputs = Inputs::load();
        (
            Plan::new(&Results::load(), &Template::load(), &inputs),
            inputs,
        )
    }

    #[test]
    fn capacity_table_follows_results_template_and_quotas() {
        let (plan, inputs) = plan();
        generated::check(CAPACITY_TABLE, &plan.capacity_table(&inputs));
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
}
