//! Drives one function process through the Runtime API: init (spawn → first `/next`),
//! the first invocation, then warm invocations one at a time, and the process's peak RSS.

use super::runtime_api::RuntimeApi;
use payment_workflow_book::bench::{Row, quantile};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Spawns measured for init only, before the process that serves the invocations.
const INIT_RUNS: usize = 5;
/// Unmeasured invocations after the first one.
const WARMUP: usize = 10;
const TIMEOUT: Duration = Duration::from_secs(30);

/// One process to measure.
pub struct Spec {
    pub name: String,
    pub role: &'static str,
    pub language: &'static str,
    pub backend: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub package: Option<PathBuf>,
    /// The event of invocation `i`.
    pub event: Box<dyn Fn(usize) -> Value>,
    /// Whether an answer is the right one; a wrong answer fails the benchmark.
    pub check: fn(&Value) -> bool,
}

pub fn measure(spec: &Spec, invocations: usize, logs: &Path) -> Result<Row, String> {
    fs::create_dir_all(logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let log = logs.join(format!("{}-{}.log", spec.name, spec.backend));
    let mut inits = Vec::new();
    for _ in 0..INIT_RUNS {
        let (mut process, init) = start(spec, &log)?;
        inits.push(init.as_secs_f64() * 1000.0);
        stop(&mut process.child);
    }
    let (mut process, init) = start(spec, &log)?;
    inits.push(init.as_secs_f64() * 1000.0);
    let outcome = invoke_all(spec, &process.api, invocations);
    let peak_rss_kib = peak_rss_kib(process.child.id());
    stop(&mut process.child);
    let (first, mut warm) = outcome?;
    warm.sort_by(f64::total_cmp);
    inits.sort_by(f64::total_cmp);
    let package_bytes = match &spec.package {
        Some(path) => Some(
            fs::metadata(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len(),
        ),
        None => None,
    };
    Ok(Row {
        name: spec.name.clone(),
        role: spec.role.into(),
        language: spec.language.into(),
        backend: spec.backend.into(),
        init_ms: quantile(&inits, 0.5),
        first_us: first,
        min_us: warm[0],
        median_us: quantile(&warm, 0.5),
        p99_us: quantile(&warm, 0.99),
        peak_rss_kib: peak_rss_kib?,
        package_bytes,
    })
}

struct Running {
    child: Child,
    api: RuntimeApi,
}

fn start(spec: &Spec, log: &Path) -> Result<(Running, Duration), String> {
    let api = RuntimeApi::start(&format!(
        "arn:aws:lambda:eu-west-1:123456789012:function:{}",
        spec.name
    ))?;
    let output = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let errors = output.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(&spec.program);
    // A Lambda-like environment: nothing inherited from the shell but PATH.
    command
        .args(&spec.args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors);
    let spawned = Instant::now();
    let mut child = command.spawn().map_err(|e| {
        format!(
            "{}: cannot start {}: {e}",
            spec.name,
            spec.program.display()
        )
    })?;
    let ready = api.ready(TIMEOUT, || matches!(child.try_wait(), Ok(Some(_))));
    match ready {
        Ok(at) => Ok((Running { child, api }, at - spawned)),
        Err(e) => {
            stop(&mut child);
            Err(format!(
                "{} ({}): {e}; see {}",
                spec.name,
                spec.backend,
                log.display()
            ))
        }
    }
}

/// The first invocation's round trip and the warm ones', in microseconds.
fn invoke_all(
    spec: &Spec,
    api: &RuntimeApi,
    invocations: usize,
) -> Result<(f64, Vec<f64>), String> {
    let mut first = 0.0;
    let mut warm = Vec::with_capacity(invocations);
    for i in 0..1 + WARMUP + invocations {
        let event = serde_json::to_vec(&(spec.event)(i)).expect("events serialise");
        let answer = api.invoke(&format!("bench-{i:06}"), event, TIMEOUT)?;
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        if !answer.ok || !(spec.check)(&body) {
            return Err(format!(
                "{} ({}): invocation {i} answered {}: {body}",
                spec.name,
                spec.backend,
                if answer.ok {
                    "wrongly"
                } else {
                    "with an error"
                }
            ));
        }
        let micros = answer.round_trip.as_secs_f64() * 1e6;
        match i {
            0 => first = micros,
            i if i > WARMUP => warm.push(micros),
            _ => {}
        }
    }
    Ok((first, warm))
}

/// The kernel's high-water mark of the process's resident memory.
fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
