//! `cargo xtask load`: the whole workflow under load through its front door, against the
//! emulator's warm Lambda environments, then the same load against the no-op floor (the
//! same template and state machine, every function `workflow-floor`): what the emulator
//! and the harness cost by themselves.
//!
//! The load is `tools/bench/load.py` (a mix of approved, declined, invalid and replayed
//! payments, each answer checked), driven through the benchmark's emulator backend. It
//! prints throughput and latency per outcome, the functions' cold starts, throttles and
//! durations, and fails if any accepted payment is lost (neither settled, declined nor
//! alerted) or any answer is not the one its kind must get. Timings are reported, never
//! compared: `cargo xtask bench` records them with everything else.

use crate::bench::{Backend, build_baselines};
use crate::project::Project;
use crate::{package, tools};
use payment_workflow_book::load::LoadRun;
use std::fs;

const USAGE: &str = "usage: cargo xtask load [--duration SECONDS] \
                     [--concurrency N | --rate PER_SECOND] [--no-floor]";

/// The load's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub seconds: u64,
    /// "concurrency" (closed: N clients) or "rate" (open: N payments per second).
    pub mode: &'static str,
    pub level: f64,
}

impl Spec {
    /// What `cargo xtask bench` records, or its short smoke run in `cargo xtask test`.
    pub fn for_bench(smoke: bool) -> Spec {
        Spec {
            seconds: if smoke { 5 } else { 60 },
            mode: "concurrency",
            level: 4.0,
        }
    }

    fn parse(args: &[String]) -> Result<(Spec, bool), String> {
        let mut spec = Spec {
            seconds: 60,
            mode: "concurrency",
            level: 4.0,
        };
        let mut floor = true;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || -> Result<f64, String> {
                args.next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| *v > 0.0 && v.is_finite())
                    .ok_or_else(|| format!("{flag} needs a positive number; {USAGE}"))
            };
            match flag.as_str() {
                "--duration" => spec.seconds = value()?.ceil() as u64,
                "--concurrency" => (spec.mode, spec.level) = ("concurrency", value()?.ceil()),
                "--rate" => (spec.mode, spec.level) = ("rate", value()?),
                "--no-floor" => floor = false,
                _ => return Err(USAGE.into()),
            }
        }
        Ok((spec, floor))
    }
}

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let (spec, floor) = Spec::parse(args)?;
    tools::setup(project)?;
    package::run(project, false)?;
    let run = measure(project, &spec, floor)?;
    println!("\n{}", run.table());
    Ok(())
}

/// The load against the workflow and, with `floor`, against the no-op floor; fails if a
/// payment was lost or answered other than its kind must be.
pub fn measure(project: &Project, spec: &Spec, floor: bool) -> Result<LoadRun, String> {
    let work = project.target("bench");
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut passes = Vec::new();
    println!(
        "\n== load: {} s at {} {} through the front door, against the workflow",
        spec.seconds, spec.mode, spec.level
    );
    let mut backend = Backend::start(project, "load-workflow", None)?;
    passes.push(backend.load(spec, "workflow", &work)?);
    backend.stop();
    if floor {
        build_baselines(project)?;
        let packages = floor_packages(project)?;
        println!("\n== the same load against the no-op floor (every function workflow-floor)");
        let mut backend = Backend::start(project, "load-floor", Some(&packages))?;
        passes.push(backend.load(spec, "floor", &work)?);
        backend.stop();
    }
    let run = LoadRun {
        seconds: spec.seconds,
        mode: spec.mode.into(),
        level: spec.level,
        passes,
    };
    check(&run)?;
    Ok(run)
}

/// Nothing lost, every answer as its kind must be.
fn check(run: &LoadRun) -> Result<(), String> {
    let mut problems = Vec::new();
    for pass in &run.passes {
        if pass.samples.is_empty() {
            problems.push(format!("{}: no payment was answered", pass.deployment));
        }
        if pass.unexpected() > 0 {
            let odd: Vec<String> = pass
                .samples
                .iter()
                .filter(|s| !s.expected)
                .take(5)
                .map(|s| format!("{} answered {}", s.kind, s.answer))
                .collect();
            problems.push(format!(
                "{}: {} answers not as their kind must be answered (e.g. {})",
                pass.deployment,
                pass.unexpected(),
                odd.join("; ")
            ));
        }
        if let Some(lost) = pass.lost.as_ref().filter(|l| !l.is_empty()) {
            problems.push(format!(
                "{}: {} accepted payments neither settled, declined nor alerted: {}",
                pass.deployment,
                lost.len(),
                lost.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if run.pass("workflow").is_some_and(|p| p.lost.is_none()) {
        problems.push("workflow: the nothing-lost check did not run".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("the load failed:\n  {}", problems.join("\n  ")))
    }
}

/// A package folder in which every function of `code/functions` is `workflow-floor`.
fn floor_packages(project: &Project) -> Result<std::path::PathBuf, String> {
    let floor = project.target("lambda/workflow-floor/bootstrap.zip");
    let folder = project.target("bench/floor-packages");
    fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let functions =
        fs::read_dir(project.path("code/functions")).map_err(|e| format!("code/functions: {e}"))?;
    for entry in functions {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let to = folder.join(format!("{}.zip", name.to_string_lossy()));
        fs::copy(&floor, &to)
            .map_err(|e| format!("{} -> {}: {e}", floor.display(), to.display()))?;
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use payment_workflow_book::load::{LoadPass, Sample};

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_load_is_shaped_by_its_flags() {
        assert_eq!(
            Spec::parse(&args("")).unwrap(),
            (Spec::for_bench(false), true)
        );
        let (spec, floor) = Spec::parse(&args("--duration 10 --rate 2.5 --no-floor")).unwrap();
        assert_eq!(
            (spec.seconds, spec.mode, spec.level, floor),
            (10, "rate", 2.5, false)
        );
        for bad in ["--rate 0", "--duration", "--concurrency x", "--fast"] {
            assert!(Spec::parse(&args(bad)).is_err(), "{bad}");
        }
    }

    fn pass(expected: bool, lost: Option<Vec<String>>) -> LoadPass {
        LoadPass {
            deployment: "workflow".into(),
            wall_s: 1.0,
            samples: vec![Sample {
                t: 0.5,
                ms: 10.0,
                kind: "approved".into(),
                answer: "200 SETTLED".into(),
                expected,
            }],
            functions: Default::default(),
            accepted: lost.as_ref().map(|_| 1),
            lost,
        }
    }

    #[test]
    fn a_lost_payment_or_a_wrong_answer_fails_the_load() {
        let run = |pass| LoadRun {
            seconds: 1,
            mode: "concurrency".into(),
            level: 1.0,
            passes: vec![pass],
        };
        assert!(check(&run(pass(true, Some(vec![])))).is_ok());
        let lost = check(&run(pass(true, Some(vec!["t-1".into()])))).unwrap_err();
        assert!(
            lost.contains("neither settled, declined nor alerted: t-1"),
            "{lost}"
        );
        let wrong = check(&run(pass(false, Some(vec![])))).unwrap_err();
        assert!(wrong.contains("approved answered 200 SETTLED"), "{wrong}");
        let unchecked = check(&run(pass(true, None))).unwrap_err();
        assert!(unchecked.contains("did not run"), "{unchecked}");
    }
}
