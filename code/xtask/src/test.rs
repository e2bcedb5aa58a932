//! `cargo xtask test`: every check, cheapest first (DESIGN.md §4), in one stage table.

use crate::project::Project;
use crate::stages::{run_all, stage};
use crate::{bench, book, browser, mutants, package, shell, tools, up};

/// The root package, whose integration tests each get a stage of their own.
const ROOT_PACKAGE: &str = "payment-workflow-book";

pub fn run(project: &Project) -> Result<(), String> {
    tools::setup(project)?;
    let cargo = |args: &[&str]| {
        let mut command = shell::command(project, "cargo");
        command.args(args);
        shell::run(command)
    };
    let root_test = |name: &str| {
        cargo(&[
            "test",
            "--locked",
            "--package",
            ROOT_PACKAGE,
            "--test",
            name,
        ])
    };
    // ANCHOR: stages
    let stages = vec![
        stage("cargo fmt", || cargo(&["fmt", "--all", "--check"])),
        stage("cargo clippy", || {
            cargo(&[
                "clippy",
                "--locked",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
        }),
        stage("cargo test (crates + emulator adapters)", || {
            cargo(&["test", "--locked", "--workspace", "--exclude", ROOT_PACKAGE])?;
            cargo(&["test", "--locked", "--package", ROOT_PACKAGE, "--lib"])
        }),
        stage("yamllint", || {
            let mut yamllint = shell::command(project, "yamllint");
            yamllint.args(["--strict", "."]);
            shell::run(yamllint)
        }),
        stage("actionlint", || {
            shell::run(shell::command(project, "actionlint"))
        }),
        // The embedded AWS's own checks: its Python linted (ruff.toml), each module's unit
        // tests against the AWS behaviour it follows.
        stage("emulator (ruff + unit tests)", || {
            let mut ruff = shell::command(project, project.venv().join("bin/ruff"));
            ruff.arg("check").arg(&project.root);
            shell::run(ruff)?;
            let mut unittest = shell::command(project, project.venv().join("bin/python"));
            unittest
                .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
                .current_dir(project.path("tools/emulator"));
            shell::run(unittest)
        }),
        // SBOMs of the functions; deny.toml's licences, bans, sources; Actions pinned by SHA.
        stage("supply chain", || crate::supply::check(project)),
        // .cfnlintrc.yaml names the template, the serverless rules and every ignored check.
        stage("cfn-lint", || {
            shell::run(shell::command(project, "cfn-lint"))
        }),
        stage("template tests", || root_test("template")),
        stage("AWS limits", || root_test("limits")),
        stage("policy (cfn-guard + checkov)", || root_test("policy")),
        // AWS's own Control Tower rules (npm, tools/package.json) with the pinned cfn-guard;
        // departures are listed in templates/policy/aws-control-tower-exceptions.yaml.
        stage("AWS Control Tower rules", || root_test("aws_rules")),
        stage("mdbook build + link check", || book::build(project)),
        stage("mdbook test", || book::test(project)),
        stage("book drift check", || root_test("book_drift")),
        stage("package (cargo lambda)", || package::run(project, false)),
        stage("end to end (embedded AWS)", || {
            up::emulate(project, up::Mode::Suite)
        })
        .after("package (cargo lambda)"),
        // Every benchmark row, briefly: the harness works and every answer is right.
        // Timings are printed, never compared; `cargo xtask bench` records them.
        stage("bench harness (smoke)", || bench::measure(project, true))
            .after("package (cargo lambda)"),
        stage("bench tables (capacity, cost, load)", || {
            root_test("bench_tables")
        }),
        // The table of `cargo xtask mutants`, then only the mutants of the change.
        stage("mutants (table + changed code)", || {
            root_test("mutants_table").and_then(|()| mutants::changed(project))
        }),
        stage("browser check", || browser::check(project)).after("mdbook build + link check"),
    ];
    // ANCHOR_END: stages
    run_all(stages)
}

/// Reruns every test that owns a generated table with `UPDATE_GENERATED=1`, so it rewrites
/// the table instead of comparing (tests/support/generated.rs): the root package's tests,
/// xtask's own, and the end-to-end suite.
pub fn regenerate(project: &Project) -> Result<(), String> {
    tools::setup(project)?;
    let mut cargo = shell::command(project, "cargo");
    cargo
        .args(["test", "--locked", "--package", ROOT_PACKAGE, "--tests"])
        .env("UPDATE_GENERATED", "1");
    shell::run(cargo)?;
    let mut xtask = shell::command(project, "cargo");
    xtask
        .args(["test", "--locked", "--package", "xtask"])
        .env("UPDATE_GENERATED", "1");
    shell::run(xtask)?;
    package::run(project, false)?;
    up::emulate(project, up::Mode::Regenerate)?;
    println!("regenerated; review and commit with `git diff`");
    Ok(())
}
