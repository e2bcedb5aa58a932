//! A list of named stages run in order, timed, and summed up in one table.
//!
//! A stage that fails does not stop the run: later independent stages still report, so
//! one CI run shows every broken check. A stage whose prerequisite failed is shown as
//! "not run" and counts as failed — nothing is skipped silently.
//!
//! The table is also written to `target/test-stages.md`, where `cargo xtask evidence`
//! picks up the last run's result for an assessor.

use crate::project::Project;
use std::fs;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

/// Runs the stages, prints the table (also to `target/test-stages.md`), and fails naming
/// every stage that did not pass.
pub fn run_all(stages: Vec<Stage<'_>>) -> Result<(), String> {
    run_all_recorded(stages, &Project::locate().target("test-stages.md"))
}

fn run_all_recorded(stages: Vec<Stage<'_>>, record: &Path) -> Result<(), String> {
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
    let table = table(&results);
    println!("\n{table}");
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
    let summary = format!(
        "stages: {} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    println!("{summary}");
    let written = record_table(record, &table, &summary, &failed);
    if let Err(message) = &written {
        eprintln!("!! {message}");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed stages: {}", failed.join("; ")))
    }
}

/// The stage table in Markdown (printed, and recorded for the evidence pack).
fn table(results: &[(&'static str, Outcome, f64)]) -> String {
    let label = |outcome: &Outcome| match outcome {
        Outcome::Passed => "pass".to_string(),
        Outcome::Failed(_) => "FAIL".to_string(),
        Outcome::NotRun(needed) => format!("not run (needs {needed})"),
    };
    let widest =
        |texts: Vec<usize>, least: usize| texts.into_iter().max().unwrap_or(least).max(least);
    let width = widest(results.iter().map(|(name, _, _)| name.len()).collect(), 5);
    let result_width = widest(results.iter().map(|(_, o, _)| label(o).len()).collect(), 6);
    let mut table = format!(
        "| {:width$} | {:result_width$} | seconds |\n|{}|{}|---------|\n",
        "stage",
        "result",
        "-".repeat(width + 2),
        "-".repeat(result_width + 2)
    );
    for (name, outcome, seconds) in results {
        table += &format!(
            "| {name:width$} | {:result_width$} | {seconds:7.1} |\n",
            label(outcome)
        );
    }
    table
}

/// Writes the table with when it ran and why each failed stage failed.
fn record_table(path: &Path, table: &str, summary: &str, failed: &[String]) -> Result<(), String> {
    let finished = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut text = format!(
        "# Stage table of the last `cargo xtask test`\n\nFinished at {} UTC.\n\n{table}\n{summary}\n",
        crate::evidence::utc_timestamp(finished)
    );
    for failure in failed {
        text += &format!("\n- failed: {failure}");
    }
    if !failed.is_empty() {
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(path, text)
        .map_err(|e| format!("recording the stage table in {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_printed_and_recorded_with_every_outcome() {
        let record = std::env::temp_dir().join(format!("stages-{}.md", std::process::id()));
        let stages = vec![
            stage("fmt", || Ok(())),
            stage("clippy", || Err("two warnings\nsecond line".to_string())),
            stage("browser", || Ok(())).after("clippy"),
        ];
        let outcome = run_all_recorded(stages, &record);
        assert_eq!(
            outcome.unwrap_err(),
            "failed stages: clippy (two warnings); browser (needs clippy)"
        );
        let text = fs::read_to_string(&record).unwrap();
        let _ = fs::remove_file(&record);
        assert!(
            text.starts_with("# Stage table of the last `cargo xtask test`\n\nFinished at "),
            "{text}"
        );
        assert!(
            text.contains("| stage   | result                 | seconds |"),
            "{text}"
        );
        assert!(
            text.contains("| clippy  | FAIL                   |"),
            "{text}"
        );
        assert!(
            text.contains("| browser | not run (needs clippy) |     0.0 |"),
            "{text}"
        );
        assert!(text.contains("stages: 1 passed, 2 failed"), "{text}");
        assert!(text.contains("- failed: clippy (two warnings)"), "{text}");
    }
}
