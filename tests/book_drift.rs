//! Every code fence in the book shows a checked file or is itself executed (DESIGN.md §3).

use payment_workflow_book::{drift, repo};

#[test]
fn every_fence_in_the_book_is_included_or_tested() {
    let findings = drift::check_book(&repo::root());
    let report: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "the book drifts from the code:\n{}",
        report.join("\n")
    );
}
