//! `cargo xtask <command>`: the project's own tooling, in Rust so it needs nothing the
//! workspace does not already have. README.md names the two commands users run.

mod bench;
mod book;
mod browser;
mod deploy;
mod evidence;
mod load;
mod mutants;
mod ops;
mod package;
mod project;
mod shell;
mod stages;
mod supply;
mod test;
mod tools;
mod up;

use project::Project;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

  setup     install every pinned tool (DESIGN.md §6); skips tools already at their version
  test      run every check in order and print a stage table (what CI runs)
  up        the main job: build the book and packages, deploy to the embedded AWS, run payments
            [--once: exit after the report instead of waiting for Ctrl-C]
  down      stop the embedded AWS that `up` left running
  package   build one Lambda zip per function into target/lambda/packages [--arm64], with
            manifest.json (architecture, sha256, size of each) for deploy
  deploy    deploy to AWS by change set: --env dev|staging|prod [--profile P] [--region R]
            [--dry-run] [--yes] [--create-only | --execute <change-set-name>]
            [--packages DIR (default target/lambda/packages)]
            [--emulator <work_dir> [--endpoint-url http://127.0.0.1:PORT]]: the same plan
            against the embedded AWS (needs `cargo xtask package`; keys from its work dir)
  destroy   delete a dev or staging stack (data resources are retained): --env dev [--dry-run]
  runbook   print the operator's commands for an environment (runs nothing): --env prod
  bootstrap before the first deploy: check the Region's Lambda concurrency and the
            organisation trail, create the artifact bucket: --env dev [--dry-run]
  onboard   a merchant: its API key in the usage plan and its record (idempotent):
            --env dev --merchant ID [--currency EUR:100:1000000 ...] [--active true|false]
            [--new-key | --retire-key KEY_ID] [--dry-run] [--stack NAME]
            [--emulator <work_dir> [--endpoint-url URL]]
  smoke     one payment through the stack's endpoint: 200 SETTLED, its replay, its receipt:
            --env dev [--merchant ID (default smoke-test)] [--dry-run] [--stack NAME]
            [--emulator <work_dir> [--endpoint-url URL]]
  bench     measure every function side by side with the floor and the Python baseline,
            record bench/results.json and regenerate the book's tables [--smoke: a short
            run that checks every answer and records nothing]; includes `load`
  load      payments through the API's front door on warm Lambda environments, then the same
            load on the no-op floor: throughput, latency per outcome, cold starts, throttles,
            and the nothing-lost check [--duration S (60)] [--concurrency N (4) | --rate R]
            [--no-floor]
  mutants   mutation testing of payments-core and payments-aws with cargo-mutants: record
            mutants/results.json and regenerate Appendix A's table [--package NAME]
            [--shard K/N: a sample] [--record-only: record the last run, even a stopped
            one]; --changed: only the mutants of the change, as `test` runs them
  book      build the book into target/book/html
  browser   check the built book (`cargo xtask book` first) in headless Chromium: mermaid
            diagrams rendered, no table wider than its column at 1400 px and at 412 px
  sbom      write a CycloneDX 1.5 SBOM of every function to target/sbom/ (from cargo
            metadata; checked against the CycloneDX schema and `cargo tree`)
  supply    the supply-chain stage of `test`: the SBOMs, deny.toml's licences, bans and
            sources (judged by xtask) and every GitHub Action pinned by commit SHA
  advisories
            cargo-deny (installed on demand) with deny.toml: RustSec advisories, fetched
            from github.com, and licences, bans, sources once more (GitHub CI runs it)
  evidence  a dated evidence pack for an assessor in target/evidence/<date>/: the book as
            PDF, traceability, the last test run's stage table, cfn-guard and checkov
            results, SBOMs, SHA-256 of the template and packages, the fidelity report
  regen     regenerate the checked-in tables the tests produce (then commit them)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let project = Project::locate();
    let outcome = match args.first().map(String::as_str) {
        Some("setup") => tools::setup(&project),
        Some("test") => test::run(&project),
        Some("up") => up::run(&project, &args[1..]),
        Some("down") => up::down(&project),
        Some("bench") => bench::run(&project, &args[1..]),
        Some("load") => load::run(&project, &args[1..]),
        Some("mutants") => mutants::run(&project, &args[1..]),
        Some("book") => tools::setup(&project).and_then(|()| book::build(&project)),
        Some("browser") => browser::check(&project),
        Some("sbom") => tools::setup(&project)
            .and_then(|()| supply::sbom(&project))
            .map(|paths| paths.iter().for_each(|p| println!("{}", p.display()))),
        Some("supply") => tools::setup(&project).and_then(|()| supply::check(&project)),
        Some("advisories") => supply::advisories(&project),
        Some("evidence") => evidence::run(&project),
        Some("regen") => test::regenerate(&project),
        Some("package") => {
            let arm64 = args.iter().any(|a| a == "--arm64");
            tools::setup(&project).and_then(|()| package::run(&project, arm64))
        }
        Some("deploy") => deploy::run(&project, &args[1..]),
        Some("destroy") => deploy::destroy(&project, &args[1..]),
        Some("runbook") => deploy::runbook(&project, &args[1..]),
        Some("bootstrap") => ops::bootstrap::run(&project, &args[1..]),
        Some("onboard") => ops::onboard::run(&project, &args[1..]),
        Some("smoke") => ops::smoke::run(&project, &args[1..]),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
