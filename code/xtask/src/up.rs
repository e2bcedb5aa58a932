//! `cargo xtask up`: the main job. Builds the book and the function packages, starts the
//! embedded AWS (moto server with the patches of `tools/emulator/launcher.py`), deploys
//! the template unchanged through the CloudFormation API, reports what the emulator kept,
//! runs sample payments through `StartSyncExecution` and shows where their data lies.
//! `cargo xtask down` stops an emulator left running.

use crate::project::Project;
use crate::{book, package, shell, tools};
use std::net::TcpListener;

/// Where the emulator keeps its PID, logs and unpacked functions (ignored by git).
const WORK_DIR: &str = "target/emulator";
/// The run's deterministic results, included by the book and compared on every check.
const RESULTS: &str = "src/generated/e2e-results.md";

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let once = args.iter().any(|a| a == "--once");
    tools::setup(project)?;
    book::build(project)?;
    package::run(project, false)?;
    println!(
        "\n  book      {}",
        project.target("book/html/index.html").display()
    );
    println!("  packages  {}", package::packages_dir(project).display());
    emulate(project, if once { Mode::Once } else { Mode::Serve })
}

/// How the embedded AWS is used.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `up`: deploy, run the sample payments, report, keep serving until Ctrl-C.
    Serve,
    /// `up --once`: the same, then stop.
    Once,
    /// The end-to-end suite (`tests/e2e/suite.py`) on a fresh emulator; fails on any missing
    /// evidence or on results that differ from the checked-in table.
    Suite,
    /// The suite, rewriting the checked-in table (`cargo xtask regen`).
    Regenerate,
}

pub fn emulate(project: &Project, mode: Mode) -> Result<(), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))?
        .port();
    let script = match mode {
        Mode::Serve | Mode::Once => "tools/emulator/up.py",
        Mode::Suite | Mode::Regenerate => "tests/e2e/suite.py",
    };
    let mut driver = shell::command(project, project.venv().join("bin/python"));
    driver
        .arg(project.path(script))
        .arg("--repo")
        .arg(&project.root)
        .args(["--port", &port.to_string(), "--work-dir"])
        .arg(project.path(WORK_DIR));
    match mode {
        Mode::Serve => {}
        Mode::Once => {
            driver.arg("--once");
        }
        Mode::Suite => {
            driver.arg("--results").arg(project.path(RESULTS));
        }
        Mode::Regenerate => {
            driver
                .arg("--results")
                .arg(project.path(RESULTS))
                .env("UPDATE_GENERATED", "1");
        }
    }
    shell::run(driver)
}

/// Stops an emulator that `up` left running, by the PID it recorded.
pub fn down(project: &Project) -> Result<(), String> {
    let pid_file = project.path(&format!("{WORK_DIR}/emulator.pid"));
    let Ok(pid) = std::fs::read_to_string(&pid_file) else {
        println!("no emulator is running ({} is absent)", pid_file.display());
        return Ok(());
    };
    let mut kill = shell::command(project, "kill");
    kill.arg(pid.trim());
    let stopped = shell::run(kill);
    let _ = std::fs::remove_file(&pid_file);
    stopped
}
