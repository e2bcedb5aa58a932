//! Mutation testing with cargo-mutants (pinned in `tools.rs`, configured by
//! `.cargo/mutants.toml`): does a test fail when the code it guards breaks?
//!
//! - `cargo xtask mutants [--package NAME]`: every mutant of payments-core and payments-aws;
//!   records `mutants/results.json` and renders Appendix A's table (like `cargo xtask bench`).
//! - `changed`, a stage of `cargo xtask test`: only the mutants of the lines a change touches
//!   (`--in-diff`), failing on a survivor that `mutants/reasons.yaml` does not explain.
//!
//! cargo-mutants copies the tree and builds the copy in a target directory outside it
//! (`Build`), so dependencies are compiled once, not per run. One job at a time: a shared
//! build directory must not be rebuilt by a second job while the first runs its tests, and
//! the machine has two cores.

use crate::project::Project;
use crate::{shell, tools};
use payment_workflow_book::mutants::{
    CrateRun, REASONS, RESULTS, Reasons, Results, Survivor, TABLE, parse_name, parse_reasons,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const TOOL: &str = "cargo-mutants";

/// A crate whose mutants are measured, and the tests run against each of them.
struct Crate {
    package: &'static str,
    source_dir: &'static str,
    tests: &'static str,
    /// Extra cargo-mutants arguments for this crate.
    args: &'static [&'static str],
    /// Environment of the tests: name and a path relative to the project, so that the
    /// copy cargo-mutants tests finds what git ignores (and the copy leaves out) in place.
    env: &'static [(&'static str, &'static str)],
    /// At most this many mutants of a change in `cargo xtask test` (about 10 minutes here).
    ci_budget: usize,
}

// ANCHOR: crates
const CRATES: [Crate; 2] = [
    Crate {
        package: "payments-core",
        source_dir: "code/payments-core/src",
        tests: "unit and property tests",
        // Nothing outside the tree is needed: skip copying .tools (1.2 GB), target, book.
        args: &["--gitignore=true"],
        env: &[],
        // About 10 s each (build + unit and property tests).
        ci_budget: 60,
    },
    Crate {
        package: "payments-aws",
        source_dir: "code/payments-aws/src",
        tests: "unit tests and the adapter tests against moto server",
        // The copy leaves out what git ignores: the adapter tests start moto from the
        // project's venv where it is (copying its 1.2 GB took 45 s a run, and the disk).
        args: &["--gitignore=true"],
        env: &[("MOTO_PYTHON", ".tools/venv/bin/python")],
        // 20 to 40 s each (the full run: 182 mutants in 48 min): the emulator tests dominate.
        ci_budget: 4,
    },
];
// ANCHOR_END: crates

const USAGE: &str = "usage: cargo xtask mutants [--package payments-core|payments-aws] \
                     [--shard K/N] [--record-only] | --changed";

/// `cargo xtask mutants [--package NAME] [--shard K/N] [--record-only]`: the full run,
/// recorded. `--shard K/N` tests every N-th mutant from the K-th (the adapters' emulator
/// tests can make the full run longer than the time at hand): recorded as a sample until
/// all N shards have run on the same sources, then as the complete run they add up to.
/// `--record-only` records what the last run left in `target/mutants-out/` — one that was
/// stopped is recorded as the part it tested. `--changed` runs the stage of `cargo xtask
/// test` alone.
pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let (mut only, mut shard, mut record_only) = (None, None, false);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--package" => only = Some(args.next().ok_or(USAGE)?.as_str()),
            "--shard" => shard = Some(args.next().ok_or(USAGE)?.clone()),
            "--record-only" => record_only = true,
            // What `cargo xtask test` runs: only the mutants of the change.
            "--changed" => return changed(project),
            _ => return Err(USAGE.into()),
        }
    }
    let selected: Vec<&Crate> = CRATES
        .iter()
        .filter(|c| only.is_none_or(|name| c.package == name))
        .collect();
    if selected.is_empty() {
        return Err(format!("{} is not a measured crate", only.unwrap_or("")));
    }
    let shard = shard.as_deref().map(parse_shard).transpose()?;
    let mut runs = Vec::new();
    for krate in selected {
        // Hashed before the run copies the tree: what was measured, not what changed since.
        let sources = hash_sources(project, krate.source_dir)?;
        let name = match shard {
            Some((k, n)) => shard_name(krate, k, n),
            None => format!("full-{}", krate.package),
        };
        let out = if record_only {
            project.target(&format!("mutants-out/{name}/mutants.out"))
        } else {
            tools::cargo_tool(project, TOOL)?;
            let extra: Vec<String> = shard
                .iter()
                .flat_map(|(k, n)| [format!("--shard={k}/{n}"), "--sharding=round-robin".into()])
                .collect();
            let out = cargo_mutants(project, krate, &extra, &name, Build::Own)?;
            let measured = serde_json::to_string_pretty(&sources).expect("hashes serialise");
            write_file(
                &project.target(&format!("mutants-out/{name}/{SOURCES}")),
                &measured,
            )?;
            out
        };
        let (mut run, sample) = match shard {
            Some((_, n)) => shards(&project.target("mutants-out"), krate, n, &sources)?,
            None => {
                let run = crate_run(krate, &out)?;
                let sample = stopped(&out, &run)?.map(|(tested, planned)| {
                    format!("{tested} of {planned} in source order: stopped")
                });
                (run, sample)
            }
        };
        // Only a complete run vouches for the files it measured (the CI stage skips them).
        match sample {
            None => run.sources = sources,
            Some(sample) => run.sample = Some(sample),
        }
        println!(
            "== {}: {} viable, {} caught, {} missed, {} timeouts, {} unviable ({:.1} %) in {:.1} min{}",
            run.package,
            run.viable(),
            run.caught,
            run.missed,
            run.timeouts,
            run.unviable,
            run.score(),
            run.minutes,
            run.sample
                .as_ref()
                .map_or(String::new(), |s| format!(" ({s})"))
        );
        runs.push(run);
    }
    // Read now, not before the run: another crate's run may have recorded meanwhile.
    let mut results = load_results(project).unwrap_or_else(|| Results {
        tool: String::new(),
        crates: Vec::new(),
    });
    results.tool = format!("{TOOL} {}", tools::pinned(TOOL).unwrap_or("?"));
    for run in runs {
        results.crates.retain(|c| c.package != run.package);
        results.crates.push(run);
    }
    results.crates.sort_by(|a, b| a.package.cmp(&b.package));
    let json = serde_json::to_string_pretty(&results).expect("results serialise") + "\n";
    write(project, RESULTS, &json)?;
    let reasons = load_reasons(project)?;
    write(project, TABLE, &results.table(&reasons))?;
    let unexplained = results.unexplained(&reasons);
    println!("recorded {RESULTS} and rendered {TABLE}; review and commit them");
    if !unexplained.is_empty() {
        println!(
            "{} surviving mutants have no reason in {REASONS} (the table test fails until they do):\n  {}",
            unexplained.len(),
            unexplained.join("\n  ")
        );
    }
    Ok(())
}

/// The CI stage: the mutants of the lines a change touches, in the files that differ from
/// what the recorded full run measured; fails on a survivor without a reason.
pub fn changed(project: &Project) -> Result<(), String> {
    let Some((base, what)) = change_base(project)? else {
        println!("no commit to compare with (a single-commit clone): no changed code to mutate");
        return Ok(());
    };
    let recorded = load_results(project);
    let reasons = load_reasons(project)?;
    let mut new_survivors = Vec::new();
    for krate in &CRATES {
        let record = recorded
            .as_ref()
            .and_then(|r| r.crates.iter().find(|c| c.package == krate.package));
        // Survivors are "new" only against a complete run: without one, every old gap in a
        // touched file would fail the change. Said loudly, never skipped silently.
        let Some(measured) = record.filter(|c| c.sample.is_none()).map(|c| &c.sources) else {
            println!(
                "{}: NOT MUTATED: {RESULTS} holds no complete run of it to compare a change \
                 with; record one with `cargo xtask mutants --package {}`",
                krate.package, krate.package
            );
            continue;
        };
        let files = changed_files(project, &base, krate.source_dir, measured)?;
        if files.is_empty() {
            println!(
                "{}: no source changed since {what}, or every changed file is as {RESULTS} measured it",
                krate.package
            );
            continue;
        }
        let diff = project.target(&format!("mutants-out/{}.diff", krate.package));
        let mut git = shell::command(project, "git");
        git.args(["diff", "--no-color", "--no-ext-diff", &base, "--"])
            .args(&files);
        write_file(&diff, &shell::output(git)?)?;
        tools::cargo_tool(project, TOOL)?;
        let mut in_diff = vec!["--in-diff".to_string(), diff.display().to_string()];
        let count = list(project, krate, &in_diff)?;
        println!(
            "{}: {count} mutants in the lines changed since {what} ({})",
            krate.package,
            files.join(", ")
        );
        if count == 0 {
            continue;
        }
        // A change larger than the budget is sampled, evenly and loudly, so CI stays
        // within its time; `cargo xtask mutants` measures all of it.
        let shards = count.div_ceil(krate.ci_budget);
        if shards > 1 {
            println!(
                "{}: more than the stage's budget of {} mutants; testing every {shards}th \
                 (shard 0/{shards}); run `cargo xtask mutants` for the rest",
                krate.package, krate.ci_budget
            );
            in_diff.extend([
                format!("--shard=0/{shards}"),
                "--sharding=round-robin".into(),
            ]);
        }
        let out = cargo_mutants(
            project,
            krate,
            &in_diff,
            &format!("changed-{}", krate.package),
            Build::Shared,
        )?;
        let run = crate_run(krate, &out)?;
        for s in &run.survivors {
            let known = reasons.contains_key(&s.id());
            println!(
                "  {} {}:{}: {}{}",
                s.outcome,
                s.file,
                s.line,
                s.mutation,
                if known { " (explained)" } else { "" }
            );
            if s.outcome == "missed" && !known {
                new_survivors.push(format!("{}:{}: {}", s.file, s.line, s.mutation));
            }
        }
    }
    if new_survivors.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} mutants of the change survive the tests; add a test that states the rule, or a \
         reason in {REASONS}:\n  {}",
        new_survivors.len(),
        new_survivors.join("\n  ")
    ))
}

/// What "the change" is compared with. On a branch: its merge base with main (origin/main
/// when the clone has it). On main itself, where CI runs in a fresh clone: the parent of
/// HEAD, so the change is the last commit. Uncommitted edits are part of the change.
fn change_base(project: &Project) -> Result<Option<(String, String)>, String> {
    let git = |args: &[&str]| {
        let mut command = shell::command(project, "git");
        command.args(args);
        shell::output(command).map(|s| s.trim().to_string())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    for main in ["origin/main", "main"] {
        if let Ok(base) = git(&["merge-base", "HEAD", main]) {
            if base != head {
                return Ok(Some((base, format!("the merge base with {main}"))));
            }
            break;
        }
    }
    Ok(git(&["rev-parse", "--verify", "--quiet", "HEAD~1"])
        .ok()
        .map(|parent| (parent, "HEAD~1 (the last commit is the change)".to_string())))
}

/// Rust files under `dir` that differ from `base` (committed or not) and from the recorded
/// run's hashes. A file deleted since has no mutants; a new untracked file is not in the
/// diff until it is added.
fn changed_files(
    project: &Project,
    base: &str,
    dir: &str,
    measured: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let mut git = shell::command(project, "git");
    git.args(["diff", "--name-only", "--no-renames", base, "--", dir]);
    let mut files = Vec::new();
    for file in shell::output(git)?.lines().filter(|f| f.ends_with(".rs")) {
        let path = project.path(file);
        if !path.exists() {
            continue;
        }
        if measured.get(file) != Some(&sha256(&path)?) {
            files.push(file.to_string());
        }
    }
    Ok(files)
}

/// Where cargo-mutants' copy of the tree builds.
#[derive(Clone, Copy)]
enum Build {
    /// `target/mutants/<package>`, without debug info: the full run, kept between runs.
    Own,
    /// The project's `target/`, as `cargo test` left it: the CI stage reuses the compiled
    /// dependencies (a cold build of the AWS SDK takes 10 minutes or more here). The copy's
    /// crates replace the tree's in it, so the next build recompiles the two crates.
    Shared,
}

fn cargo_command(project: &Project, krate: &Crate, build: Build) -> std::process::Command {
    let mut cargo = shell::command(project, "cargo");
    cargo
        .args(["mutants", "--package", krate.package])
        .args(krate.args);
    for (name, path) in krate.env {
        cargo.env(name, project.path(path));
    }
    match build {
        Build::Own => cargo
            .env(
                "CARGO_TARGET_DIR",
                project.target(&format!("mutants/{}", krate.package)),
            )
            .env("CARGO_PROFILE_DEV_DEBUG", "0")
            .env("CARGO_PROFILE_TEST_DEBUG", "0"),
        Build::Shared => cargo.env("CARGO_TARGET_DIR", project.path("target")),
    };
    cargo
}

/// How many mutants cargo-mutants would test (`--list`, which builds nothing).
fn list(project: &Project, krate: &Crate, extra: &[String]) -> Result<usize, String> {
    let mut cargo = cargo_command(project, krate, Build::Shared);
    cargo.args(["--list", "--json"]).args(extra);
    let listed: serde_json::Value = serde_json::from_str(&shell::output(cargo)?)
        .map_err(|e| format!("cargo mutants --list --json: {e}"))?;
    Ok(listed.as_array().map_or(0, Vec::len))
}

/// Runs cargo-mutants and returns its output directory. Exit 2 (missed) and 3 (timeouts)
/// are results to record, not failures of the run.
fn cargo_mutants(
    project: &Project,
    krate: &Crate,
    extra: &[String],
    name: &str,
    build: Build,
) -> Result<PathBuf, String> {
    let out = project.target(&format!("mutants-out/{name}"));
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut cargo = cargo_command(project, krate, build);
    cargo
        .args(["--jobs", "1", "--no-shuffle", "--output"])
        .arg(&out)
        .args(extra);
    let shown = shell::describe(&cargo);
    println!("    $ {shown}");
    let status = cargo
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    match status.code() {
        Some(0 | 2 | 3) => Ok(out.join("mutants.out")),
        Some(4) => Err(format!(
            "`{shown}`: the tests fail without any mutation (see {}/mutants.out/log)",
            out.display()
        )),
        _ => Err(format!("`{shown}` exited with {status}")),
    }
}

/// The hashes of the sources a shard measured, beside its `mutants.out`.
const SOURCES: &str = "sources.json";

/// `K/N` with K < N: the K-th of N round-robin shards, from 0.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parse = |s: &str| s.parse::<usize>().ok();
    match text.split_once('/').map(|(k, n)| (parse(k), parse(n))) {
        Some((Some(k), Some(n))) if k < n => Ok((k, n)),
        _ => Err(format!("--shard {text}: expected K/N with 0 <= K < N")),
    }
}

fn shard_name(krate: &Crate, k: usize, n: usize) -> String {
    format!("full-{}-shard-{k}-of-{n}", krate.package)
}

/// Every recorded shard of N that measured exactly `sources`, counted as one run: complete
/// (no sample) once all N shards ran to their end on these sources, a sample naming the
/// shards otherwise. Shards run at different times (or on different machines) add up
/// only while the sources stay as they were.
fn shards(
    outputs: &Path,
    krate: &Crate,
    n: usize,
    sources: &BTreeMap<String, String>,
) -> Result<(CrateRun, Option<String>), String> {
    let mut total: Option<CrateRun> = None;
    let (mut done, mut notes) = (Vec::new(), Vec::new());
    for k in 0..n {
        let dir = outputs.join(shard_name(krate, k, n));
        let measured: Option<BTreeMap<String, String>> = fs::read_to_string(dir.join(SOURCES))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        match measured {
            None => continue,
            Some(measured) if &measured != sources => {
                notes.push(format!("shard {k}/{n} measured other sources: left out"));
                continue;
            }
            Some(_) => {}
        }
        let out = dir.join("mutants.out");
        let run = crate_run(krate, &out)?;
        match stopped(&out, &run)? {
            Some((tested, planned)) => {
                notes.push(format!("shard {k}/{n} stopped after {tested} of {planned}"));
            }
            None => done.push(k),
        }
        total = Some(match total {
            None => run,
            Some(mut sum) => {
                sum.caught += run.caught;
                sum.missed += run.missed;
                sum.timeouts += run.timeouts;
                sum.unviable += run.unviable;
                sum.minutes = ((sum.minutes + run.minutes) * 10.0).round() / 10.0;
                sum.survivors.extend(run.survivors);
                sum.survivors.sort();
                sum
            }
        });
    }
    let run = total.ok_or_else(|| format!("no shard of {n} recorded for {}", krate.package))?;
    if done.len() == n {
        return Ok((run, None));
    }
    let listed: Vec<String> = done.iter().map(usize::to_string).collect();
    let mut sample = vec![format!(
        "shards {} of 0..{n}, round-robin",
        if listed.is_empty() {
            "none complete".to_string()
        } else {
            listed.join(", ")
        }
    )];
    sample.extend(notes);
    Ok((run, Some(sample.join("; "))))
}

/// Counts and survivors of one run, from cargo-mutants' `outcomes.json`.
fn crate_run(krate: &Crate, out: &Path) -> Result<CrateRun, String> {
    let path = out.join("outcomes.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let outcomes: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut run = CrateRun {
        package: krate.package.to_string(),
        tests: krate.tests.to_string(),
        caught: 0,
        missed: 0,
        timeouts: 0,
        unviable: 0,
        minutes: 0.0,
        sample: None,
        survivors: Vec::new(),
        sources: BTreeMap::new(),
    };
    let mut seconds = 0.0;
    for outcome in outcomes["outcomes"].as_array().into_iter().flatten() {
        let phases = outcome["phase_results"].as_array().into_iter().flatten();
        seconds += phases.filter_map(|p| p["duration"].as_f64()).sum::<f64>();
        let Some(name) = outcome["scenario"]["Mutant"]["name"].as_str() else {
            continue; // the baseline
        };
        let survived = match outcome["summary"].as_str() {
            Some("CaughtMutant") => {
                run.caught += 1;
                None
            }
            Some("Unviable") => {
                run.unviable += 1;
                None
            }
            Some("MissedMutant") => {
                run.missed += 1;
                Some("missed")
            }
            Some("Timeout") => {
                run.timeouts += 1;
                Some("timeout")
            }
            other => return Err(format!("{}: {name}: outcome {other:?}", path.display())),
        };
        if let Some(outcome) = survived {
            let (file, line, mutation) =
                parse_name(name).ok_or_else(|| format!("unexpected mutant name `{name}`"))?;
            run.survivors.push(Survivor {
                file,
                line,
                mutation,
                outcome: outcome.to_string(),
            });
        }
    }
    run.survivors.sort();
    // Building and testing, baseline included; copying the tree is not counted.
    run.minutes = (seconds / 6.0).round() / 10.0;
    Ok(run)
}

/// `Some((tested, planned))` when the run in `out` stopped before its last mutant.
fn stopped(out: &Path, run: &CrateRun) -> Result<Option<(usize, usize)>, String> {
    let path = out.join("mutants.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let planned: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let tested = run.viable() + run.unviable;
    Ok((tested < planned.len()).then_some((tested, planned.len())))
}

fn hash_sources(project: &Project, dir: &str) -> Result<BTreeMap<String, String>, String> {
    let mut files = Vec::new();
    collect_rs(&project.path(dir), &mut files)?;
    files
        .into_iter()
        .map(|path| {
            let relative = shell::relative(project, &path);
            sha256(&path).map(|hash| (relative, hash))
        })
        .collect()
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

fn sha256(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

fn load_results(project: &Project) -> Option<Results> {
    let text = fs::read_to_string(project.path(RESULTS)).ok()?;
    serde_json::from_str(&text).ok()
}

fn load_reasons(project: &Project) -> Result<Reasons, String> {
    parse_reasons(&fs::read_to_string(project.path(REASONS)).unwrap_or_default())
}

fn write(project: &Project, relative: &str, text: &str) -> Result<(), String> {
    write_file(&project.path(relative), text)
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use payment_workflow_book::mutants::mutant_id;

    fn outcomes(dir: &Path, summaries: &[(&str, &str)]) {
        let outcomes: Vec<serde_json::Value> = std::iter::once(serde_json::json!({
            "scenario": "Baseline", "summary": "Success"
        }))
        .chain(summaries.iter().map(|(name, summary)| {
            serde_json::json!({"scenario": {"Mutant": {"name": name}}, "summary": summary})
        }))
        .collect();
        fs::create_dir_all(dir).unwrap();
        fs::write(
            dir.join("outcomes.json"),
            serde_json::json!({ "outcomes": outcomes }).to_string(),
        )
        .unwrap();
    }

    #[test]
    fn outcomes_are_counted_and_survivors_named_without_their_column() {
        let dir = std::env::temp_dir().join(format!("mutants-{}", std::process::id()));
        outcomes(
            &dir,
            &[
                (
                    "code/payments-core/src/money.rs:9:5: replace a with b",
                    "CaughtMutant",
                ),
                (
                    "code/payments-core/src/money.rs:7:9: replace > with >= in f",
                    "MissedMutant",
                ),
                (
                    "code/payments-core/src/fraud.rs:3:1: replace g with ()",
                    "Timeout",
                ),
                (
                    "code/payments-core/src/fraud.rs:4:1: replace h with 1",
                    "Unviable",
                ),
            ],
        );
        let run = crate_run(&CRATES[0], &dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            (run.caught, run.missed, run.timeouts, run.unviable),
            (1, 1, 1, 1)
        );
        let ids: Vec<String> = run.survivors.iter().map(Survivor::id).collect();
        assert_eq!(
            ids,
            [
                "code/payments-core/src/fraud.rs: replace g with ()",
                "code/payments-core/src/money.rs: replace > with >= in f",
            ]
        );
        assert_eq!(run.survivors[1].line, 7);
        assert_eq!(
            mutant_id("a.rs", "replace x with y"),
            "a.rs: replace x with y"
        );
    }

    #[test]
    fn a_run_that_stopped_early_says_how_far_it_got() {
        let dir = std::env::temp_dir().join(format!("mutants-stop-{}", std::process::id()));
        outcomes(&dir, &[("code/a.rs:1:1: replace a with b", "CaughtMutant")]);
        let planned = |n: usize| {
            let list = vec![serde_json::json!({}); n];
            fs::write(
                dir.join("mutants.json"),
                serde_json::json!(list).to_string(),
            )
            .unwrap();
        };
        let run = crate_run(&CRATES[0], &dir).unwrap();
        planned(3);
        assert_eq!(stopped(&dir, &run).unwrap(), Some((1, 3)));
        planned(1);
        assert_eq!(stopped(&dir, &run).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shards_of_the_same_sources_add_up_to_a_complete_run() {
        let outputs = std::env::temp_dir().join(format!("mutants-shards-{}", std::process::id()));
        let sources: BTreeMap<String, String> = [("a.rs".to_string(), "1".to_string())].into();
        let shard = |k: usize, measured: &BTreeMap<String, String>, summaries: &[(&str, &str)]| {
            let dir = outputs.join(shard_name(&CRATES[1], k, 3));
            outcomes(&dir.join("mutants.out"), summaries);
            let planned = vec![serde_json::json!({}); summaries.len()];
            fs::write(
                dir.join("mutants.out/mutants.json"),
                serde_json::json!(planned).to_string(),
            )
            .unwrap();
            fs::write(dir.join(SOURCES), serde_json::to_string(measured).unwrap()).unwrap();
        };
        shard(
            0,
            &sources,
            &[("code/a.rs:1:1: replace a with b", "CaughtMutant")],
        );
        let (run, sample) = shards(&outputs, &CRATES[1], 3, &sources).unwrap();
        assert_eq!((run.caught, run.missed), (1, 0));
        assert_eq!(sample.as_deref(), Some("shards 0 of 0..3, round-robin"));
        // A shard of other sources is left out, loudly.
        let changed: BTreeMap<String, String> = [("a.rs".to_string(), "2".to_string())].into();
        shard(
            1,
            &changed,
            &[("code/a.rs:2:1: replace c with d", "MissedMutant")],
        );
        let (run, sample) = shards(&outputs, &CRATES[1], 3, &sources).unwrap();
        assert_eq!(run.missed, 0);
        assert!(sample.unwrap().contains("shard 1/3 measured other sources"));
        shard(
            1,
            &sources,
            &[("code/a.rs:2:1: replace c with d", "MissedMutant")],
        );
        shard(
            2,
            &sources,
            &[("code/a.rs:3:1: replace e with f", "Unviable")],
        );
        let (run, sample) = shards(&outputs, &CRATES[1], 3, &sources).unwrap();
        fs::remove_dir_all(&outputs).unwrap();
        assert_eq!((run.caught, run.missed, run.unviable), (1, 1, 1));
        assert_eq!(run.survivors.len(), 1);
        assert_eq!(sample, None, "all three shards: complete");
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
        for bad in ["3/3", "1", "a/3", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unknown_outcome_fails_the_run() {
        let dir = std::env::temp_dir().join(format!("mutants-bad-{}", std::process::id()));
        outcomes(&dir, &[("code/a.rs:1:1: replace a with b", "Failure")]);
        let error = crate_run(&CRATES[0], &dir).unwrap_err();
        fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("Failure"), "{error}");
    }

    #[test]
    fn every_measured_crate_is_a_workspace_member_with_sources() {
        let project = Project::locate();
        for krate in &CRATES {
            let sources = hash_sources(&project, krate.source_dir).unwrap();
            assert!(
                sources.keys().any(|f| f.ends_with("/lib.rs")),
                "{}",
                krate.package
            );
        }
    }
}
