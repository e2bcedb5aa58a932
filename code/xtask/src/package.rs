//! `cargo xtask package`: one Lambda zip per function (a `bootstrap` inside), built by
//! cargo-lambda in release mode, named as the template's S3 keys expect:
//! `target/lambda/packages/<function>.zip`.
//!
//! By default the zips are x86_64, which this machine can build (it has no aarch64
//! standard library) and the local emulator runs. `--arm64` builds what the template
//! deploys (Graviton); the release and deploy workflows use it.
//!
//! Next to the zips, `manifest.json` records each package's architecture, SHA-256 and size:
//! `deploy` refuses a package built for another architecture than its function's and names
//! the release after the packages' digests (content-addressed artifacts).

use crate::project::Project;
use crate::shell;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// What `manifest.json` says about one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Lambda's name for it: `arm64` or `x86_64`.
    pub architecture: String,
    pub sha256: String,
    pub size: u64,
}

/// Package name (the function crate, as in `<prefix>/<name>.zip`) → what was built.
pub type Manifest = BTreeMap<String, Package>;

pub const MANIFEST: &str = "manifest.json";

/// Lambda's architecture name for a build: `--arm64` or cargo-lambda's `--x86-64`.
pub fn architecture(arm64: bool) -> &'static str {
    if arm64 { "arm64" } else { "x86_64" }
}

/// The architecture of this machine in Lambda's terms (what the emulator runs natively).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn manifest_json(manifest: &Manifest) -> String {
    let entries: serde_json::Map<String, serde_json::Value> = manifest
        .iter()
        .map(|(name, p)| {
            let entry = serde_json::json!({
                "architecture": p.architecture, "sha256": p.sha256, "size": p.size
            });
            (name.clone(), entry)
        })
        .collect();
    serde_json::to_string_pretty(&entries).expect("a map serialises") + "\n"
}

pub fn parse_manifest(text: &str) -> Result<Manifest, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{MANIFEST}: {e}"))?;
    let entries = value
        .as_object()
        .ok_or_else(|| format!("{MANIFEST}: not an object"))?;
    entries
        .iter()
        .map(|(name, entry)| {
            let text = |key: &str| {
                entry[key]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{MANIFEST}: {name} has no {key}"))
            };
            let package = Package {
                architecture: text("architecture")?,
                sha256: text("sha256")?,
                size: entry["size"]
                    .as_u64()
                    .ok_or_else(|| format!("{MANIFEST}: {name} has no size"))?,
            };
            Ok((name.clone(), package))
        })
        .collect()
}

/// The manifest of the packages in `dir`, or why there is none.
pub fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e}; run `cargo xtask package --arm64` (for AWS) or `cargo xtask package` (for the emulator) first",
            path.display()
        )
    })?;
    parse_manifest(&text)
}

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
    // A manifest from an earlier build must not describe these zips while they are copied.
    let _ = fs::remove_file(out.join(MANIFEST));
    println!(
        "\n| function | package | architecture | size (MB) | sha256 |\n| --- | --- | --- | ---: | --- |"
    );
    let mut manifest = Manifest::new();
    for function in &functions {
        let built = project.target(&format!("lambda/{function}/bootstrap.zip"));
        let package = out.join(format!("{function}.zip"));
        fs::copy(&built, &package)
            .map_err(|e| format!("{} → {}: {e}", built.display(), package.display()))?;
        let bytes = fs::read(&package).map_err(|e| format!("{}: {e}", package.display()))?;
        let entry = Package {
            architecture: architecture(arm64).to_string(),
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
        };
        println!(
            "| {function} | {} | {} | {:.1} | {} |",
            shell::relative(project, &package),
            entry.architecture,
            entry.size as f64 / 1_048_576.0,
            &entry.sha256[..12]
        );
        manifest.insert(function.clone(), entry);
    }
    let path = out.join(MANIFEST);
    fs::write(&path, manifest_json(&manifest)).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("    {}", shell::relative(project, &path));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_round_trips_and_rejects_incomplete_entries() {
        let mut manifest = Manifest::new();
        manifest.insert(
            "validator".into(),
            Package {
                architecture: "arm64".into(),
                sha256: sha256_hex(b"zip"),
                size: 3,
            },
        );
        assert_eq!(parse_manifest(&manifest_json(&manifest)).unwrap(), manifest);
        assert!(parse_manifest(r#"{"validator": {"sha256": "00", "size": 1}}"#).is_err());
        assert_eq!(architecture(true), "arm64");
        assert_eq!(architecture(false), "x86_64");
    }
}
