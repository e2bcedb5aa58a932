//! `cargo xtask package`: one Lambda zip per function (a `bootstrap` inside), built by
//! cargo-lambda in release mode, named as the template's S3 keys expect:
//! `target/lambda/packages/<function>.zip`.
//!
//! By default the zips are x86_64, which this machine can build (it has no aarch64
//! standard library) and the local emulator runs. `--arm64` builds what the template
//! deploys (Graviton); the release and deploy workflows use it.

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

pub fn run(project: &Project, arm64: bool) -> Result<(), String> {
    let functions = functions(project)?;
    let mut build = shell::command(project, "cargo");
    build
        .args(["lambda", "build", "--release", "--output-format", "zip"])
        .arg(if arm64 { "--arm64" } else { "--x86-64" })
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
