//! `cargo xtask bench`: the side-by-side performance table of the book's chapter 3 and the
//! inputs of its capacity appendix, measured in one run on this machine.
//!
//! 1. Builds the release packages (`cargo xtask package`) and the two Rust baselines
//!    (`code/bench`: the no-op floor and the entry points on in-memory ports).
//! 2. Drives every process through a Runtime API served here ([`runtime_api`]): init,
//!    first invocation, 1,000 warm invocations, peak RSS ([`driver`]). The Python baseline
//!    runs under `awslambdaric`, the runtime interface client of AWS's Python images.
//! 3. Starts the embedded AWS with the template deployed, runs fixed batches of payments
//!    through `StartSyncExecution`, then the function binaries against it with the
//!    environment CloudFormation gave the deployed functions.
//! 4. Times validation + fraud scoring per payment: criterion for Rust, the same rules in
//!    the Python baseline.
//! 5. Loads the whole workflow through its front door on a fresh deployment, then the same
//!    load on the no-op floor (`cargo xtask load`, [`crate::load`]).
//!
//! Writes `bench/results.json` and regenerates the book's tables from it. `--smoke` runs
//! every row with a few invocations into `target/bench/` instead (the test stage): it
//! proves the harness and every answer, and records nothing.

mod driver;
mod rows;
mod runtime_api;

use crate::project::Project;
use crate::{load, package, shell, tools};
use payment_workflow_book::bench::{PerPayment, Pipeline, RESULTS, Results, Row};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};
use std::{fs, net::TcpListener};

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    tools::setup(project)?;
    package::run(project, false)?;
    measure(project, args.iter().any(|a| a == "--smoke"))
}

/// Everything after the function packages exist (the test stage calls this with `smoke`).
pub fn measure(project: &Project, smoke: bool) -> Result<(), String> {
    let invocations = if smoke { 20 } else { 1000 };
    build_baselines(project)?;
    let work = project.target("bench");
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let python_package = zip_python_baseline(project)?;
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);

    // The local rows first, with no emulator running beside them.
    let mut measured = Vec::new();
    for spec in &rows::local(project, run, &python_package) {
        measured.push(measure_row(spec, invocations, &work)?);
    }
    println!("\n== starting the embedded AWS and deploying the template");
    let mut backend = Backend::start(project, "emulator", None)?;
    // The pipeline before the emulator rows, whose thousands of settlements would slow
    // every later DynamoDB call of the emulator.
    let batches: &[(usize, usize)] = if smoke {
        &[(4, 2)]
    } else {
        &[(20, 1), (40, 2), (40, 4)]
    };
    let mut pipeline = Vec::new();
    for &(count, concurrency) in batches {
        println!("== {count} payments through StartSyncExecution, {concurrency} at a time");
        pipeline.push(backend.pipeline(count, concurrency, &work)?);
    }
    for spec in &rows::emulated(project, run, &backend.described) {
        measured.push(measure_row(spec, invocations, &work)?);
    }
    backend.stop();
    let per_payment = per_payment(project, smoke)?;
    // The front door under load, on fresh deployments: the workflow, then the no-op floor.
    let load = load::measure(project, &load::Spec::for_bench(smoke), true)?;
    let results = Results {
        machine: machine(project)?,
        invocations,
        rows: measured,
        per_payment,
        pipeline,
        load: Some(load),
    };
    println!(
        "\n{}\n{}\n{}\n{}",
        results.functions_table(),
        results.per_payment_table(),
        results.pipeline_table(),
        results.load.as_ref().map_or(String::new(), |l| l.table())
    );
    let json = serde_json::to_string_pretty(&results).expect("results serialise") + "\n";
    if smoke {
        let out = work.join("smoke.json");
        fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))?;
        println!(
            "smoke run: every row answered correctly; nothing recorded ({})",
            shell::relative(project, &out)
        );
        return Ok(());
    }
    fs::write(project.path(RESULTS), json).map_err(|e| format!("{RESULTS}: {e}"))?;
    // The book's tables are rendered from the results by the test that checks them.
    let mut render = shell::command(project, "cargo");
    render
        .args([
            "test",
            "--locked",
            "--package",
            "payment-workflow-book",
            "--test",
            "bench_tables",
        ])
        .env("UPDATE_GENERATED", "1");
    shell::run(render)?;
    println!("recorded {RESULTS} and regenerated the book's tables; review and commit them");
    Ok(())
}

fn measure_row(
    spec: &driver::Spec,
    invocations: usize,
    work: &std::path::Path,
) -> Result<Row, String> {
    println!(
        "== {} ({}, {}): {invocations} invocations",
        spec.name, spec.language, spec.backend
    );
    let row = driver::measure(spec, invocations, &work.join("logs"))?;
    println!(
        "   init {:.1} ms, first {:.0} µs, warm median {:.0} µs, p99 {:.0} µs, peak RSS {:.1} MiB",
        row.init_ms,
        row.first_us,
        row.median_us,
        row.p99_us,
        row.peak_rss_kib as f64 / 1024.0
    );
    Ok(row)
}

/// The no-op floors and the in-memory entry points, built like the functions.
pub fn build_baselines(project: &Project) -> Result<(), String> {
    let mut build = shell::command(project, "cargo");
    build
        .args([
            "lambda",
            "build",
            "--release",
            "--x86-64",
            "--output-format",
            "zip",
        ])
        .args(["--package", "bench-lambdas"])
        .env("XDG_CACHE_HOME", project.path(".tools/cache"));
    shell::run(build)
}

/// The Python baseline's deployment package: its one file (the managed runtime brings
/// Python, boto3 and the runtime interface client).
fn zip_python_baseline(project: &Project) -> Result<std::path::PathBuf, String> {
    let out = project.target("bench/python-baseline.zip");
    let mut zip = shell::command(project, project.venv().join("bin/python"));
    zip.args(["-m", "zipfile", "-c"])
        .arg(&out)
        .arg(project.path("tools/bench/python_baseline.py"));
    shell::output(zip)?;
    Ok(out)
}

/// `tools/bench/backend.py`: the emulator with the template deployed, commanded over stdin.
pub struct Backend {
    child: Child,
    /// Closing it ends the backend, which stops the emulator.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    described: Value,
    /// Its emulator's work folder (logs, emulator.log).
    work: std::path::PathBuf,
}

impl Backend {
    /// A fresh emulator in `target/bench/<name>`, with the packages `cargo xtask package`
    /// built or those in `packages`.
    pub fn start(
        project: &Project,
        name: &str,
        packages: Option<&std::path::Path>,
    ) -> Result<Backend, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let work = project.target(&format!("bench/{name}"));
        // A previous run's logs would be counted as this run's invocations.
        let _ = fs::remove_dir_all(work.join("logs"));
        let describe = project.target(&format!("bench/{name}-functions.json"));
        let mut command = shell::command(project, project.venv().join("bin/python"));
        command
            .arg(project.path("tools/bench/backend.py"))
            .arg("--repo")
            .arg(&project.root)
            .args(["--port", &port.to_string(), "--work-dir"])
            .arg(&work)
            .arg("--describe")
            .arg(&describe)
            .args(
                packages
                    .map(|p| p.as_os_str())
                    .map(|p| ["--packages".as_ref(), p])
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start tools/bench/backend.py: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut backend = Backend {
            child,
            stdin,
            stdout,
            described: Value::Null,
            work: work.clone(),
        };
        backend.expect("ready")?;
        let text =
            fs::read_to_string(&describe).map_err(|e| format!("{}: {e}", describe.display()))?;
        backend.described = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(backend)
    }

    fn expect(&mut self, word: &str) -> Result<(), String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim() == word {
            Ok(())
        } else {
            Err(format!(
                "the emulator backend stopped before `{word}` (see {}/emulator.log)",
                self.work.display()
            ))
        }
    }

    fn pipeline(
        &mut self,
        count: usize,
        concurrency: usize,
        work: &std::path::Path,
    ) -> Result<Pipeline, String> {
        let out = work.join(format!("pipeline-{count}x{concurrency}.json"));
        let stdin = self.stdin.as_mut().expect("open until the backend stops");
        writeln!(stdin, "pipeline {count} {concurrency} {}", out.display())
            .map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
        self.expect("done")?;
        let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        // Reported, not required: the end-to-end suite proves the outcomes; here the
        // emulator's own failures under load are part of what is measured.
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", out.display()))
    }

    /// `load.py` against this deployment: `seconds` of payments, `mode` "concurrency" or
    /// "rate" at `level`; `deployment` names it in the results ("workflow" or "floor").
    pub fn load(
        &mut self,
        spec: &load::Spec,
        deployment: &str,
        work: &std::path::Path,
    ) -> Result<payment_workflow_book::load::LoadPass, String> {
        let out = work.join(format!("load-{deployment}.json"));
        let stdin = self.stdin.as_mut().expect("open until the backend stops");
        writeln!(
            stdin,
            "load {} {} {} {deployment} {}",
            spec.seconds,
            spec.mode,
            spec.level,
            out.display()
        )
        .map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
        self.expect("done")?;
        let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", out.display()))
    }

    pub fn stop(self) {
        drop(self); // see Drop
    }
}

impl Drop for Backend {
    /// Also on an early return: the emulator never outlives the benchmark.
    fn drop(&mut self) {
        self.stdin.take(); // end of commands: the backend stops the emulator
        let _ = self.child.wait();
    }
}

/// Validation + fraud scoring of one payment, in-process: criterion for Rust, the same
/// rules timed in the Python baseline.
fn per_payment(project: &Project, smoke: bool) -> Result<PerPayment, String> {
    let payment = rows::payment(0, 0, 0).to_string();
    let mut criterion = shell::command(project, "cargo");
    criterion
        .args([
            "bench",
            "--locked",
            "--package",
            "payments-core",
            "--bench",
            "screening",
            "--",
        ])
        .envs(rows::rule_settings())
        .env("BENCH_PAYMENT", &payment);
    if smoke {
        criterion.args(["--warm-up-time", "0.2", "--measurement-time", "0.5"]);
    }
    shell::run(criterion)?;
    let estimates = project.target("criterion/screen_one_payment/new/estimates.json");
    let text =
        fs::read_to_string(&estimates).map_err(|e| format!("{}: {e}", estimates.display()))?;
    let rust_ns = serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())?["median"]["point_estimate"]
        .as_f64()
        .ok_or("criterion's estimates.json has no median")?;
    let mut python = shell::command(project, project.venv().join("bin/python"));
    python
        .arg(project.path("tools/bench/python_baseline.py"))
        .args(["--per-payment", if smoke { "200" } else { "5000" }])
        .envs(rows::rule_settings())
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env("BENCH_PAYMENT", &payment);
    let answer: Value = serde_json::from_str(&shell::output(python)?).map_err(|e| e.to_string())?;
    let python_ns = answer["median_ns"]
        .as_f64()
        .ok_or("the Python timing printed no median_ns")?;
    Ok(PerPayment { rust_ns, python_ns })
}

/// CPU model and count, kernel and toolchain: what the numbers are true for.
fn machine(project: &Project) -> Result<String, String> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rustc = shell::output({
        let mut c = shell::command(project, "rustc");
        c.arg("--version");
        c
    })?;
    let date = shell::output({
        let mut c = shell::command(project, "date");
        c.args(["-u", "+%Y-%m-%d"]);
        c
    })?;
    Ok(format!(
        "{} ({cores} cores, x86_64 Linux), {}, {}",
        model,
        rustc.split(" (").next().unwrap_or("rustc").trim(),
        date.trim()
    ))
}
