//! The measurements `cargo xtask bench` records in `bench/results.json`, and the tables the
//! book includes, rendered from them. Rendering is a pure function of the checked-in file,
//! so the book's tables are compared on every run (`tests/bench_tables.rs`) while the
//! numbers themselves change only when someone runs the benchmark again.

use serde::{Deserialize, Serialize};

pub const RESULTS: &str = "bench/results.json";
pub const FUNCTIONS_TABLE: &str = "src/generated/bench-functions.md";
pub const PER_PAYMENT_TABLE: &str = "src/generated/bench-per-payment.md";
pub const PIPELINE_TABLE: &str = "src/generated/bench-pipeline.md";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// What ran the benchmark: CPU model, cores, kernel, toolchain.
    pub machine: String,
    pub invocations: usize,
    pub rows: Vec<Row>,
    pub per_payment: PerPayment,
    pub pipeline: Vec<Pipeline>,
    /// The front door under load, against the workflow and the no-op floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::load::LoadRun>,
}

/// One process driven through the Runtime API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    /// "floor", "baseline" or "function".
    pub role: String,
    /// "Rust" or "Python 3.11".
    pub language: String,
    /// "none", "in-memory" or "emulator".
    pub backend: String,
    /// Spawn to the first `/next`, median of the init runs.
    pub init_ms: f64,
    /// The first invocation after init (lazy work: connections, key fetches).
    pub first_us: f64,
    pub min_us: f64,
    pub median_us: f64,
    pub p99_us: f64,
    /// VmHWM of the process after all invocations.
    pub peak_rss_kib: u64,
    /// The deployment package, when there is one.
    pub package_bytes: Option<u64>,
}

/// Validation + fraud scoring of one payment, in-process (no Runtime API, no I/O).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerPayment {
    /// criterion's median estimate.
    pub rust_ns: f64,
    /// The same rules in the Python baseline, median of 15 timed rounds.
    pub python_ns: f64,
}

/// A fixed batch through `StartSyncExecution` on the emulator, as `tools/bench/backend.py`
/// reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub payments: usize,
    pub concurrency: usize,
    pub wall_s: f64,
    pub latencies_ms: Vec<f64>,
    /// Each outcome (SETTLED, or an error name) and how many payments ended so.
    pub outcomes: std::collections::BTreeMap<String, usize>,
}

/// The value at quantile `q` (nearest rank) of sorted `values`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "no values");
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Results {
    pub fn load() -> Results {
        let path = crate::repo::root().join(RESULTS);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask bench`", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{RESULTS}: {e}"))
    }

    pub fn row(&self, name: &str, backend: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| r.name == name && r.backend == backend)
            .unwrap_or_else(|| panic!("{RESULTS} has no row {name} ({backend})"))
    }

    fn floor(&self) -> &Row {
        self.rows
            .iter()
            .find(|r| r.role == "floor")
            .expect("a floor row")
    }

    fn python(&self) -> &Row {
        self.rows
            .iter()
            .find(|r| r.role == "baseline")
            .expect("a Python baseline row")
    }

    /// The side-by-side table: every row with its ratios to the floor and to Python.
    pub fn functions_table(&self) -> String {
        let (floor, python) = (self.floor(), self.python());
        let mut out = String::from(
            "| process | language | backend | init ms | first µs | warm min µs | warm median µs | warm p99 µs | peak RSS MiB | package | median ÷ floor | median ÷ Python | init ÷ Python | RSS ÷ Python |\n\
             | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for row in &self.rows {
            let package = row.package_bytes.map_or("—".to_string(), size);
            out += &format!(
                "| {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {package} | {} | {} | {} | {} |\n",
                row.name,
                row.language,
                row.backend,
                row.init_ms,
                row.first_us,
                row.min_us,
                row.median_us,
                row.p99_us,
                row.peak_rss_kib as f64 / 1024.0,
                ratio(row.median_us, floor.median_us),
                ratio(row.median_us, python.median_us),
                ratio(row.init_ms, python.init_ms),
                ratio(row.peak_rss_kib as f64, python.peak_rss_kib as f64),
            );
        }
        out += &format!(
            "\n{} warm invocations per row, one at a time, after 10 unmeasured ones. Measured on {}.\n",
            self.invocations, self.machine
        );
        out
    }

    pub fn per_payment_table(&self) -> String {
        let p = &self.per_payment;
        format!(
            "| validation + fraud scoring of one payment | median per payment | ÷ Rust |\n\
             | --- | ---: | ---: |\n\
             | Rust (`payments_core`, criterion) | {:.2} µs | 1.00× |\n\
             | Python 3.11 (the baseline's rules, timed in-process) | {:.2} µs | {} |\n",
            p.rust_ns / 1000.0,
            p.python_ns / 1000.0,
            ratio(p.python_ns, p.rust_ns),
        )
    }

    pub fn pipeline_table(&self) -> String {
        let mut out = String::from(
            "| batch | at a time | settled | other outcomes | wall s | payments/s | p50 ms | p90 ms | p99 ms | max ms |\n\
             | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for p in &self.pipeline {
            let mut sorted = p.latencies_ms.clone();
            sorted.sort_by(f64::total_cmp);
            let settled = p.outcomes.get("SETTLED").copied().unwrap_or(0);
            let other: Vec<String> = p
                .outcomes
                .iter()
                .filter(|(k, _)| *k != "SETTLED")
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            out += &format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
                p.payments,
                p.concurrency,
                settled,
                if other.is_empty() {
                    "none".into()
                } else {
                    other.join(", ")
                },
                p.wall_s,
                p.payments as f64 / p.wall_s,
                quantile(&sorted, 0.50),
                quantile(&sorted, 0.90),
                quantile(&sorted, 0.99),
                sorted[sorted.len() - 1],
            );
        }
        out
    }
}

/// A package size: "4.2 MB", or "3 kB" below a tenth of a megabyte.
fn size(bytes: u64) -> String {
    let mb = bytes as f64 / 1_048_576.0;
    if mb >= 0.1 {
        format!("{mb:.1} MB")
    } else {
        format!("{:.0} kB", (bytes as f64 / 1024.0).ceil())
    }
}

/// `a / b` as "1.23×", with enough digits for ratios far from 1.
pub fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 {
        return "—".into();
    }
    let r = a / b;
    if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 0.1 {
        format!("{r:.2}×")
    } else {
        format!("{r:.3}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn ratios_keep_their_digits() {
        assert_eq!(ratio(2.0, 1.0), "2.00×");
        assert_eq!(ratio(250.0, 1.0), "250×");
        assert_eq!(ratio(1.0, 50.0), "0.020×");
        assert_eq!(ratio(1.0, 0.0), "—");
    }
}
