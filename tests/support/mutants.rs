//! What `cargo xtask mutants` records in `mutants/results.json` (cargo-mutants over
//! payments-core and payments-aws), the reasons a person wrote for each surviving mutant
//! (`mutants/reasons.yaml`), and the table Appendix A includes, rendered from both.
//!
//! A mutant is named as cargo-mutants names it without line and column —
//! `code/payments-core/src/money.rs: replace == with != in Money::major_units` — so a reason
//! stays attached when code above it moves. Two identical mutations in one function share
//! the name, and so share a reason.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const RESULTS: &str = "mutants/results.json";
pub const REASONS: &str = "mutants/reasons.yaml";
pub const TABLE: &str = "src/generated/mutants.md";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// "cargo-mutants 27.1.0".
    pub tool: String,
    /// One run per crate, sorted by package name.
    pub crates: Vec<CrateRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrateRun {
    pub package: String,
    /// The tests run against each mutant, in words.
    pub tests: String,
    pub caught: usize,
    pub missed: usize,
    pub timeouts: usize,
    pub unviable: usize,
    /// Wall time of the run on the recording machine.
    pub minutes: f64,
    /// Set when only a sample of the mutants ran: "shard 0/8, round-robin".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// Every mutant that was missed or timed out, sorted by file, line and mutation.
    pub survivors: Vec<Survivor>,
    /// SHA-256 of every source file the run mutated, by workspace-relative path: the CI
    /// stage tests again only the files that differ from what this run measured.
    pub sources: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Survivor {
    pub file: String,
    pub line: u32,
    /// cargo-mutants' description: "replace > with >= in Limits::check".
    pub mutation: String,
    /// "missed" or "timeout".
    pub outcome: String,
}

impl Survivor {
    /// The line-free name that `mutants/reasons.yaml` is keyed by.
    pub fn id(&self) -> String {
        mutant_id(&self.file, &self.mutation)
    }
}

pub fn mutant_id(file: &str, mutation: &str) -> String {
    format!("{file}: {mutation}")
}

/// Splits cargo-mutants' name `file:line:column: mutation` into file, line and mutation.
pub fn parse_name(name: &str) -> Option<(String, u32, String)> {
    let mut parts = name.splitn(4, ':');
    let file = parts.next()?;
    let line = parts.next()?.parse().ok()?;
    let _column: u32 = parts.next()?.parse().ok()?;
    let mutation = parts.next()?.trim_start();
    Some((file.to_string(), line, mutation.to_string()))
}

/// Survivor name → reason: "equivalent: <why no test can tell>" or "gap: <the missing test>".
pub type Reasons = BTreeMap<String, String>;

pub const NO_REASON: &str = "no reason recorded";

pub fn parse_reasons(text: &str) -> Result<Reasons, String> {
    let reasons: Option<Reasons> =
        serde_yaml::from_str(text).map_err(|e| format!("{REASONS}: {e}"))?;
    let reasons = reasons.unwrap_or_default();
    for (id, reason) in &reasons {
        if !(reason.starts_with("equivalent: ") || reason.starts_with("gap: ")) {
            return Err(format!(
                "{REASONS}: the reason for `{id}` must start with `equivalent: ` or `gap: `"
            ));
        }
    }
    Ok(reasons)
}

impl CrateRun {
    pub fn viable(&self) -> usize {
        self.caught + self.missed + self.timeouts
    }

    /// Caught ÷ viable, in percent; a timeout counts as not caught.
    pub fn score(&self) -> f64 {
        match self.viable() {
            0 => 100.0,
            viable => 100.0 * self.caught as f64 / viable as f64,
        }
    }
}

impl Results {
    pub fn load() -> Results {
        let path = crate::repo::root().join(RESULTS);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask mutants`", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{RESULTS}: {e}"))
    }

    pub fn load_reasons() -> Reasons {
        let path = crate::repo::root().join(REASONS);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        parse_reasons(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Survivors that no reason explains, by name.
    pub fn unexplained(&self, reasons: &Reasons) -> Vec<String> {
        let mut ids: Vec<String> = self
            .crates
            .iter()
            .flat_map(|c| &c.survivors)
            .map(Survivor::id)
            .filter(|id| !reasons.contains_key(id))
            .collect();
        ids.dedup();
        ids
    }

    /// Reasons for mutants that no longer survive: delete them once a test catches the mutant.
    pub fn stale<'a>(&self, reasons: &'a Reasons) -> Vec<&'a str> {
        let survivors: std::collections::BTreeSet<String> = self
            .crates
            .iter()
            .flat_map(|c| &c.survivors)
            .map(Survivor::id)
            .collect();
        reasons
            .keys()
            .filter(|id| !survivors.contains(*id))
            .map(String::as_str)
            .collect()
    }

    /// The table per crate, then every survivor with its reason.
    pub fn table(&self, reasons: &Reasons) -> String {
        let mut out = String::from(
            "| crate | tests run per mutant | viable | caught | missed | timeouts | unviable | score | run |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for c in &self.crates {
            let sample = c
                .sample
                .as_ref()
                .map_or(String::new(), |s| format!(" (sample: {s})"));
            out += &format!(
                "| `{}` | {} | {} | {} | {} | {} | {} | {:.1} % | {:.0} min{sample} |\n",
                c.package,
                c.tests,
                c.viable(),
                c.caught,
                c.missed,
                c.timeouts,
                c.unviable,
                c.score(),
                c.minutes
            );
        }
        out += &format!(
            "\nScore: caught ÷ viable (caught + missed + timeouts); unviable mutants do not compile \
             and count for nothing. Measured with {}.\n",
            self.tool
        );
        let survivors: Vec<(&CrateRun, &Survivor)> = self
            .crates
            .iter()
            .flat_map(|c| c.survivors.iter().map(move |s| (c, s)))
            .collect();
        if survivors.is_empty() {
            out += "\nEvery viable mutant is caught.\n";
            return out;
        }
        out += "\n| where | mutation | outcome | reason |\n| --- | --- | --- | --- |\n";
        for (_, s) in survivors {
            let reason = reasons.get(&s.id()).map_or(NO_REASON, String::as_str);
            out += &format!(
                "| `{}:{}` | {} | {} | {} |\n",
                s.file.trim_start_matches("code/"),
                s.line,
                cell(&s.mutation),
                s.outcome,
                cell(reason)
            );
        }
        out
    }
}

/// Text safe in a Markdown table cell: pipes escaped, code-like text kept literal.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('*', "\\*")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(survivors: Vec<Survivor>) -> Results {
        Results {
            tool: "cargo-mutants 27.1.0".into(),
            crates: vec![CrateRun {
                package: "payments-core".into(),
                tests: "unit and property tests".into(),
                caught: 18,
                missed: survivors.len(),
                timeouts: 0,
                unviable: 3,
                minutes: 4.0,
                sample: None,
                survivors,
                sources: BTreeMap::new(),
            }],
        }
    }

    fn survivor(line: u32, mutation: &str) -> Survivor {
        Survivor {
            file: "code/payments-core/src/money.rs".into(),
            line,
            mutation: mutation.into(),
            outcome: "missed".into(),
        }
    }

    #[test]
    fn names_lose_line_and_column() {
        let (file, line, mutation) =
            parse_name("code/payments-core/src/money.rs:72:21: replace == with != in Money::f")
                .unwrap();
        assert_eq!(file, "code/payments-core/src/money.rs");
        assert_eq!(line, 72);
        assert_eq!(
            mutant_id(&file, &mutation),
            "code/payments-core/src/money.rs: replace == with != in Money::f"
        );
        assert_eq!(parse_name("no line here"), None);
    }

    #[test]
    fn a_survivor_without_a_reason_is_shown_and_reported() {
        let results = run(vec![survivor(72, "replace > with >= in Money::f")]);
        let reasons = Reasons::new();
        assert!(results.table(&reasons).contains(
            "| `payments-core/src/money.rs:72` | replace &gt; with &gt;= in Money::f | missed | no reason recorded |"
        ));
        assert_eq!(
            results.unexplained(&reasons),
            vec!["code/payments-core/src/money.rs: replace > with >= in Money::f"]
        );
    }

    #[test]
    fn a_reason_no_survivor_needs_is_stale() {
        let results = run(vec![]);
        let reasons = parse_reasons(
            "\"code/payments-core/src/money.rs: replace > with >= in Money::f\": \"gap: a test\"\n",
        )
        .unwrap();
        assert_eq!(
            results.stale(&reasons),
            vec!["code/payments-core/src/money.rs: replace > with >= in Money::f"]
        );
        assert!(
            results
                .table(&reasons)
                .contains("Every viable mutant is caught.")
        );
    }

    #[test]
    fn a_reason_says_whether_it_is_equivalent_or_a_gap() {
        assert!(parse_reasons("\"x\": \"because\"\n").is_err());
        assert!(parse_reasons("\"x\": \"equivalent: same output\"\n").is_ok());
        assert_eq!(parse_reasons("").unwrap(), Reasons::new());
    }

    #[test]
    fn score_counts_timeouts_as_not_caught() {
        let mut results = run(vec![survivor(1, "a"), survivor(2, "b")]);
        results.crates[0].timeouts = 1;
        // 18 caught of 21 viable.
        assert!((results.crates[0].score() - 85.714).abs() < 0.01);
        assert!(
            results
                .table(&Reasons::new())
                .contains("| 21 | 18 | 2 | 1 | 3 | 85.7 % |")
        );
    }
}
