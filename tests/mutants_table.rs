//! Appendix A's mutation-testing table is rendered from `mutants/results.json` (written by
//! `cargo xtask mutants`) and `mutants/reasons.yaml`, and must match the checked-in
//! Markdown; `cargo xtask regen` rewrites it. Every surviving mutant needs a reason.

use payment_workflow_book::generated;
use payment_workflow_book::mutants::{REASONS, Results, TABLE};

#[test]
fn mutants_table_is_rendered_from_the_recorded_results() {
    let results = Results::load();
    generated::check(TABLE, &results.table(&Results::load_reasons()));
}

#[test]
fn every_surviving_mutant_has_a_reason() {
    let unexplained = Results::load().unexplained(&Results::load_reasons());
    assert!(
        unexplained.is_empty(),
        "survivors without a reason in {REASONS} (\"equivalent: <argument>\" or \
         \"gap: <the missing test>\"):\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn every_reason_belongs_to_a_survivor() {
    let reasons = Results::load_reasons();
    let stale = Results::load().stale(&reasons);
    assert!(
        stale.is_empty(),
        "{REASONS} explains mutants that no longer survive; delete:\n{}",
        stale.join("\n")
    );
}
