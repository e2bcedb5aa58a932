//! A list of named stages run in order, timed, and summed up in one table.
//!
//! A stage that fails does not stop the run: later independent stages still report, so
//! one CI run shows every broken check. A stage whose prerequisite failed is shown as
//! "not run" and counts as failed — nothing is skipped silently.

use std::time::Instant;

type Action<'a> = Box<dyn FnOnce() -> Result<(), String> + 'a>;

pub struct Stage<'a> {
    name: &'static str,
    needs: Option<&'static str>,
    action: Action<'a>,
}

pub fn stage<'a>(
    name: &'static str,
    action: impl FnOnce() -> Result<(), String> + 'a,
) -> Stage<'a> {
    Stage {
        name,
        needs: None,
        action: Box::new(action),
    }
}

impl Stage<'_> {
    /// Runs this stage only when the named earlier stage passed.
    pub fn after(mut self, prerequisite: &'static str) -> Self {
        self.needs = Some(prerequisite);
        self
    }
}

enum Outcome {
    Passed,
    Failed(String),
    NotRun(&'static str),
}

/// Runs the stages, prints the table, and fails naming every stage that did not pass.
pub fn run_all(stages: Vec<Stage<'_>>) -> Result<(), String> {
    let mut results: Vec<(&'static str, Outcome, f64)> = Vec::new();
    let total = stages.len();
    for (index, stage) in stages.into_iter().enumerate() {
        let blocked = stage.needs.filter(|needed| {
            !results
                .iter()
                .any(|(name, outcome, _)| name == needed && matches!(outcome, Outcome::Passed))
        });
        if let Some(needed) = blocked {
            println!(
                "\n== [{}/{total}] {}: not run, `{needed}` did not pass",
                index + 1,
                stage.name
            );
            results.push((stage.name, Outcome::NotRun(needed), 0.0));
            continue;
        }
        println!("\n== [{}/{total}] {}", index + 1, stage.name);
        let started = Instant::now();
        let outcome = match (stage.action)() {
            Ok(()) => Outcome::Passed,
            Err(message) => {
                eprintln!("!! {} failed: {message}", stage.name);
                Outcome::Failed(message)
            }
        };
        results.push((stage.name, outcome, started.elapsed().as_secs_f64()));
    }
    print_table(&results);
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(name, outcome, _)| match outcome {
            Outcome::Passed => None,
            Outcome::Failed(message) => {
                Some(format!("{name} ({})", message.lines().next().unwrap_or("")))
            }
            Outcome::NotRun(needed) => Some(format!("{name} (needs {needed})")),
        })
        .collect();
    println!(
        "stages: {} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed stages: {}", failed.join("; ")))
    }
}

fn print_table(results: &[(&'static str, Outcome, f64)]) {
    let label = |outcome: &Outcome| match outcome {
        Outcome::Passed => "pass".to_string(),
        Outcome::Failed(_) => "FAIL".to_string(),
        Outcome::NotRun(needed) => format!("not run (needs {needed})"),
    };
    let widest =
        |texts: Vec<usize>, least: usize| texts.into_iter().max().unwrap_or(least).max(least);
    let width = widest(results.iter().map(|(name, _, _)| name.len()).collect(), 5);
    let result_width = widest(results.iter().map(|(_, o, _)| label(o).len()).collect(), 6);
    println!(
        "\n| {:width$} | {:result_width$} | seconds |",
        "stage", "result"
    );
    println!(
        "|{}|{}|---------|",
        "-".repeat(width + 2),
        "-".repeat(result_width + 2)
    );
    for (name, outcome, seconds) in results {
        println!(
            "| {name:width$} | {:result_width$} | {seconds:7.1} |",
            label(outcome)
        );
    }
    println!();
}
