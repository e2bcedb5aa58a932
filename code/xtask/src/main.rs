//! `cargo xtask <command>`: the project's own tooling, in Rust so it needs nothing the
//! workspace does not already have. README.md names the two commands users run.

mod bench;
mod book;
mod browser;
mod deploy;
mod package;
mod project;
mod shell;
mod stages;
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
  package   build one Lambda zip per function into target/lambda/packages [--arm64]
  deploy    deploy to AWS by change set: --env dev|staging|prod [--profile P] [--region R]
            [--dry-run] [--yes]
  destroy   delete a dev or staging stack (data resources are retained): --env dev [--dry-run]
  runbook   print the operator's commands for an environment (runs nothing): --env prod
  bench     measure every function side by side with the floor and the Python baseline,
            record bench/results.json and regenerate the book's tables [--smoke: a short
            run that checks every answer and records nothing]
  book      build the book into target/book/html
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
        Some("book") => tools::setup(&project).and_then(|()| book::build(&project)),
        Some("regen") => test::regenerate(&project),
        Some("package") => {
            let arm64 = args.iter().any(|a| a == "--arm64");
            tools::setup(&project).and_then(|()| package::run(&project, arm64))
        }
        Some("deploy") => deploy::run(&project, &args[1..]),
        Some("destroy") => deploy::destroy(&project, &args[1..]),
        Some("runbook") => deploy::runbook(&project, &args[1..]),
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
