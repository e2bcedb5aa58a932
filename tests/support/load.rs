//! The load run `cargo xtask bench` records in `bench/results.json` (`load`), and what the
//! book shows of it: the tables and two SVG plots (latency distribution, throughput over
//! time), rendered as pure functions of the recorded run and compared on every check
//! (`tests/bench_tables.rs`). The load itself is `tools/bench/load.py`, driven by
//! `cargo xtask load`.

use crate::bench::{quantile, ratio};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const LOAD_TABLE: &str = "src/generated/load.md";
pub const LATENCY_PLOT: &str = "src/generated/load-latency.svg";
pub const THROUGHPUT_PLOT: &str = "src/generated/load-throughput.svg";

/// The same load against the real workflow and against the no-op floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRun {
    pub seconds: u64,
    /// "concurrency" (N clients, closed) or "rate" (N payments per second, open).
    pub mode: String,
    pub level: f64,
    pub passes: Vec<LoadPass>,
}

/// One deployment under the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPass {
    /// "workflow" (the real functions) or "floor" (code/bench/src/bin/workflow-floor.rs).
    pub deployment: String,
    pub wall_s: f64,
    pub samples: Vec<Sample>,
    /// Per deployed function, from its platform.report records during the load.
    pub functions: BTreeMap<String, FunctionLoad>,
    /// Accepted payments (200, 502, 504) and those neither recorded nor alerted: the
    /// nothing-lost check (the workflow only; the floor records nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<Vec<String>>,
}

/// One answered payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was answered, seconds from the start of the load.
    pub t: f64,
    /// From when it was due (sent, in the closed model) to its answer.
    pub ms: f64,
    /// approved, declined, invalid or replayed.
    pub kind: String,
    /// "200 SETTLED", "422 InvalidPayment", …
    pub answer: String,
    /// The answer its kind must get.
    pub expected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionLoad {
    pub invocations: usize,
    pub cold_starts: usize,
    pub throttles: usize,
    pub max_memory_mb: f64,
    pub duration_ms_p50: f64,
    pub duration_ms_p99: f64,
}

impl LoadPass {
    pub fn throughput(&self) -> f64 {
        self.samples.len() as f64 / self.wall_s
    }

    fn latencies<'a>(&'a self, kind: Option<&'a str>) -> Vec<f64> {
        let mut ms: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| kind.is_none_or(|k| s.kind == k))
            .map(|s| s.ms)
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    }

    pub fn unexpected(&self) -> usize {
        self.samples.iter().filter(|s| !s.expected).count()
    }

    fn total(&self, field: fn(&FunctionLoad) -> usize) -> usize {
        self.functions.values().map(field).sum()
    }
}

impl LoadRun {
    pub fn pass(&self, deployment: &str) -> Option<&LoadPass> {
        self.passes.iter().find(|p| p.deployment == deployment)
    }

    fn shape(&self) -> String {
        match self.mode.as_str() {
            "rate" => format!("{} payments/s offered for {} s", self.level, self.seconds),
            _ => format!("{} clients for {} s", self.level, self.seconds),
        }
    }

    /// Throughput and latency per deployment and outcome, the workflow as ratios to the
    /// floor, each function's environments, and the nothing-lost check.
    pub fn table(&self) -> String {
        let mut out = format!(
            "Load: {}, through the front door (API key → API Gateway → StartSyncExecution).\n\n\
             | deployment | payments | kind | answered as expected | payments/s | p50 ms | p90 ms | p99 ms | max ms |\n\
             | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            self.shape()
        );
        for pass in &self.passes {
            let mut kinds: Vec<Option<&str>> = vec![None];
            let mut seen: Vec<&str> = pass.samples.iter().map(|s| s.kind.as_str()).collect();
            seen.sort();
            seen.dedup();
            kinds.extend(seen.into_iter().map(Some));
            for kind in kinds {
                let ms = pass.latencies(kind);
                if ms.is_empty() {
                    continue;
                }
                let of_kind = |s: &&Sample| kind.is_none_or(|k| s.kind == k);
                let expected = pass.samples.iter().filter(of_kind).filter(|s| s.expected);
                out += &format!(
                    "| {} | {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
                    pass.deployment,
                    ms.len(),
                    kind.unwrap_or("all"),
                    expected.count(),
                    ms.len() as f64 / pass.wall_s,
                    quantile(&ms, 0.50),
                    quantile(&ms, 0.90),
                    quantile(&ms, 0.99),
                    ms[ms.len() - 1],
                );
            }
        }
        if let (Some(work), Some(floor)) = (self.pass("workflow"), self.pass("floor")) {
            let (w, f) = (work.latencies(None), floor.latencies(None));
            if !w.is_empty() && !f.is_empty() {
                out += &format!(
                    "\nThe workflow against the no-op floor (same template, same state machine, \
                     functions that do nothing): throughput {} of the floor's, p50 latency {}, \
                     p99 {}.\n",
                    ratio(work.throughput(), floor.throughput()),
                    ratio(quantile(&w, 0.5), quantile(&f, 0.5)),
                    ratio(quantile(&w, 0.99), quantile(&f, 0.99)),
                );
            }
        }
        out += "\n| deployment | function | invocations | cold starts | throttles | p50 ms | p99 ms | peak memory MB |\n\
                | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
        for pass in &self.passes {
            for (name, f) in &pass.functions {
                out += &format!(
                    "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.0} |\n",
                    pass.deployment,
                    name,
                    f.invocations,
                    f.cold_starts,
                    f.throttles,
                    f.duration_ms_p50,
                    f.duration_ms_p99,
                    f.max_memory_mb
                );
            }
        }
        for pass in &self.passes {
            out += &format!(
                "\n{}: {} answers not as their kind must be answered; {} cold starts and {} \
                 throttles over {} invocations.",
                pass.deployment,
                pass.unexpected(),
                pass.total(|f| f.cold_starts),
                pass.total(|f| f.throttles),
                pass.total(|f| f.invocations),
            );
            if let (Some(accepted), Some(lost)) = (pass.accepted, &pass.lost) {
                out += &format!(
                    " {}: {} of {accepted} accepted payments neither settled, declined nor \
                     alerted.",
                    if lost.is_empty() {
                        "Nothing lost"
                    } else {
                        "LOST"
                    },
                    lost.len()
                );
            }
            out += "\n";
        }
        out
    }

    /// The share of payments answered within each latency, per deployment (a CDF).
    pub fn latency_svg(&self) -> String {
        let max = self
            .passes
            .iter()
            .flat_map(|p| p.samples.iter().map(|s| s.ms))
            .fold(1.0_f64, f64::max);
        let series = self
            .passes
            .iter()
            .map(|p| {
                let ms = p.latencies(None);
                let n = ms.len() as f64;
                let points = ms
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (v, (i + 1) as f64 / n * 100.0))
                    .collect();
                (p.deployment.clone(), points)
            })
            .collect();
        plot(
            "Latency: share of payments answered within",
            "latency, ms (from when the payment was due)",
            "% of payments",
            (max * 1.05, 100.0),
            SeriesLabelPosition::LowerRight,
            series,
        )
    }

    /// Payments answered in each second of the load, per deployment.
    pub fn throughput_svg(&self) -> String {
        let seconds = self
            .passes
            .iter()
            .flat_map(|p| p.samples.iter().map(|s| s.t))
            .fold(1.0_f64, f64::max)
            .ceil();
        let mut top = 1.0_f64;
        let series = self
            .passes
            .iter()
            .map(|p| {
                let mut per_second = vec![0.0; seconds as usize + 1];
                for s in &p.samples {
                    per_second[s.t.floor() as usize] += 1.0;
                }
                top = per_second.iter().copied().fold(top, f64::max);
                let points = per_second
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (i as f64 + 0.5, n))
                    .collect();
                (p.deployment.clone(), points)
            })
            .collect();
        plot(
            "Throughput over time",
            "seconds from the start of the load",
            "payments answered per second",
            // Room above the lines for the legend.
            (seconds + 1.0, top * 1.5),
            SeriesLabelPosition::UpperRight,
            series,
        )
    }
}

const COLOURS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];

/// A line chart as SVG text: deterministic for the same input (no fonts are read; plotters'
/// SVG backend writes text elements the browser lays out).
fn plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    (x_max, y_max): (f64, f64),
    legend: SeriesLabelPosition,
    series: Vec<(String, Vec<(f64, f64)>)>,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 360)).into_drawing_area();
        root.fill(&WHITE).expect("fill");
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .expect("chart");
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .expect("mesh");
        for (i, (name, points)) in series.into_iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .expect("series")
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(legend)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .expect("legend");
        root.present().expect("svg");
    }
    svg + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(deployment: &str, ms: &[f64]) -> LoadPass {
        LoadPass {
            deployment: deployment.into(),
            wall_s: 2.0,
            samples: ms
                .iter()
                .enumerate()
                .map(|(i, &ms)| Sample {
                    t: i as f64 * 0.5,
                    ms,
                    kind: if i % 2 == 0 { "approved" } else { "invalid" }.into(),
                    answer: "200 SETTLED".into(),
                    expected: i != 3,
                })
                .collect(),
            functions: BTreeMap::from([(
                "payment-settlement-local".to_string(),
                FunctionLoad {
                    invocations: 4,
                    cold_starts: 1,
                    throttles: 2,
                    max_memory_mb: 9.0,
                    duration_ms_p50: 3.0,
                    duration_ms_p99: 7.0,
                },
            )]),
            accepted: (deployment == "workflow").then_some(4),
            lost: (deployment == "workflow").then(Vec::new),
        }
    }

    fn run() -> LoadRun {
        LoadRun {
            seconds: 2,
            mode: "concurrency".into(),
            level: 4.0,
            passes: vec![
                pass("workflow", &[40.0, 10.0, 30.0, 20.0]),
                pass("floor", &[5.0, 10.0, 10.0, 5.0]),
            ],
        }
    }

    #[test]
    fn the_table_counts_outcomes_and_reads_the_workflow_against_the_floor() {
        let table = run().table();
        assert!(
            table.contains("| workflow | 4 | all | 3 | 2.0 | 20 | 40 | 40 | 40 |"),
            "{table}"
        );
        assert!(table.contains("| workflow | 2 | invalid | 1 |"), "{table}");
        assert!(
            table.contains("throughput 1.00× of the floor's, p50 latency 4.00×, p99 4.00×"),
            "{table}"
        );
        assert!(
            table.contains("| workflow | payment-settlement-local | 4 | 1 | 2 | 3.0 | 7.0 | 9 |"),
            "{table}"
        );
        assert!(
            table.contains("workflow: 1 answers not as their kind"),
            "{table}"
        );
        assert!(table.contains("Nothing lost: 0 of 4 accepted"), "{table}");
        assert!(!table.contains("floor: 1 answers not as their kind must be answered; 1 cold starts and 2 throttles over 4 invocations. Nothing"));
    }

    #[test]
    fn the_plots_are_svg_with_both_deployments_and_deterministic() {
        let run = run();
        for svg in [run.latency_svg(), run.throughput_svg()] {
            assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
            assert!(svg.contains("workflow") && svg.contains("floor"));
            assert!(svg.contains("<polyline"), "a line per deployment");
        }
        assert_eq!(run.latency_svg(), run.latency_svg());
    }
}
