//! `cargo xtask package`: one Lambda zip per function (a `bootstrap` inside), built by
//! cargo-lambda in release mode, named as the template's S3 keys expect:
//! `target/lambda/packages/<function>.zip`.
//!
//! Here the zips are x86_64: this machine has no aarch64 standard library. The arm64
//! zips the template deploys are built by `.github/workflows/release.yml`.

use crate::project::Project;
use crate::shell;
use std::fs;
use std::path::PathBuf;

/// The function crates: every folder under `code/functions/`.
pub fn functions(project: &Project) -> Result<Vec<String>, String> {
    let dir = project.path("code/functions");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

pub fn packages_dir(project: &Project) -> PathBuf {
    project.target("lambda/packages")
}

pub fn run(project: &Project) -> Result<(), String> {
    let functions = functions(project)?;
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
        // zig, cargo-lambda's linker, caches its work here (ignored by git).
        .env("XDG_CACHE_HOME", project.path(".tools/cache"));
    for function in &functions {
        build.args(["--package", function]);
    }
    println!(
        "    building {} functions in release mode (a cold build takes about 6 minutes)",
        functions.len()
    );
    shell::run(build)?;
    let out = packages_dir(project);
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("\n| function | package | size (MB) |\n| --- | --- | ---: |");
    for function in &functions {
        let built = project.target(&format!("lambda/{function}/bootstrap.zip"));
        let package = out.join(format!("{function}.zip"));
        fs::copy(&built, &package)
            .map_err(|e| format!("{} → {}: {e}", built.display(), package.display()))?;
        let size = fs::metadata(&package).map_err(|e| e.to_string())?.len();
        println!(
            "| {function} | {} | {:.1} |",
            shell::relative(project, &package),
            size as f64 / 1_048_576.0
        );
    }
    Ok(())
}
