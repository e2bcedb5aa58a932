//! `cargo xtask setup`: installs every pinned tool of DESIGN.md §6, idempotently.
//!
//! Each tool is checked first and skipped when already at its pinned version, so a warm
//! machine pays seconds. Pins live in one place per registry: the table below for
//! crates.io, `tools/requirements.txt` (+ `constraints.txt`) for PyPI,
//! `tools/package.json` (+ lock) for npm.

use crate::project::Project;
use crate::shell;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// A binary crate installed with `cargo install --locked` into the cargo root.
struct CargoTool {
    krate: &'static str,
    version: &'static str,
    /// Rough cold build time on 2 cores, shown so a long wait is expected.
    minutes: u32,
}

// ANCHOR: cargo-tools
const CARGO_TOOLS: [CargoTool; 5] = [
    CargoTool {
        krate: "mdbook",
        version: "0.5.4",
        minutes: 5,
    },
    CargoTool {
        krate: "mdbook-mermaid",
        version: "0.17.1",
        minutes: 1,
    },
    CargoTool {
        krate: "mdbook-linkcheck2",
        version: "0.13.0",
        minutes: 6,
    },
    CargoTool {
        krate: "cfn-guard",
        version: "3.2.1",
        minutes: 5,
    },
    // Mutation testing (`cargo xtask mutants`, and the changed code in `cargo xtask test`);
    // measured 11.9 min cold on the same loaded machine.
    CargoTool {
        krate: "cargo-mutants",
        version: "27.1.0",
        minutes: 12,
    },
];

/// Installed by the one command that needs them, never by `setup`, so `cargo xtask test`
/// does not pay their cold build.
const ON_DEMAND_TOOLS: [CargoTool; 1] = [
    // RustSec advisories (+ licences, bans, sources once more) in GitHub CI: `cargo xtask
    // advisories`. Measured 17.2 min cold on the loaded 2-core CI machine; the SBOM and the
    // licence/bans/sources checks of `cargo xtask test` are xtask's own (src/supply/).
    CargoTool {
        krate: "cargo-deny",
        version: "0.20.2",
        minutes: 17,
    },
];
// ANCHOR_END: cargo-tools

pub fn setup(project: &Project) -> Result<(), String> {
    println!("== setup: pinned tools (DESIGN.md §6)");
    cargo_tools(project)?;
    python_tools(project)?;
    node_tools(project)?;
    chromium(project)?;
    println!("== setup: every tool is at its pinned version");
    Ok(())
}

fn cargo_tools(project: &Project) -> Result<(), String> {
    let installed = cargo_installed(project)?;
    CARGO_TOOLS
        .iter()
        .try_for_each(|tool| install_cargo_tool(project, tool, &installed))
}

/// Installs one pinned tool (at its version) when it is missing: for a command that needs
/// only that tool, such as `cargo xtask advisories`.
pub fn cargo_tool(project: &Project, krate: &str) -> Result<(), String> {
    let tool = CARGO_TOOLS
        .iter()
        .chain(&ON_DEMAND_TOOLS)
        .find(|t| t.krate == krate)
        .ok_or_else(|| format!("{krate} is not a pinned tool"))?;
    install_cargo_tool(project, tool, &cargo_installed(project)?)
}

/// The pinned version of a tool of the tables.
pub fn pinned(krate: &str) -> Option<&'static str> {
    CARGO_TOOLS
        .iter()
        .chain(&ON_DEMAND_TOOLS)
        .find(|t| t.krate == krate)
        .map(|t| t.version)
}

fn cargo_installed(project: &Project) -> Result<String, String> {
    let mut list = shell::command(project, "cargo");
    list.args(["install", "--list"]);
    shell::output(list)
}

fn install_cargo_tool(project: &Project, tool: &CargoTool, installed: &str) -> Result<(), String> {
    let line = format!("{} v{}:", tool.krate, tool.version);
    if installed.lines().any(|l| l.trim() == line) {
        println!(
            "  {} {} (crates.io): already installed",
            tool.krate, tool.version
        );
        return Ok(());
    }
    println!(
        "  {} {} (crates.io): installing, about {} min on 2 cores …",
        tool.krate, tool.version, tool.minutes
    );
    let mut install = shell::command(project, "cargo");
    install.args(["install", "--locked", tool.krate, "--version", tool.version]);
    shell::run(install).map_err(|e| {
        format!(
            "installing {} {} from crates.io failed: {e}",
            tool.krate, tool.version
        )
    })
}

/// `name==version` pins of a requirements file, lower-cased, extras dropped.
fn pins(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once("=="))
        .map(|(name, version)| {
            let name = name.split('[').next().unwrap_or(name);
            (name.trim().to_ascii_lowercase(), version.trim().to_string())
        })
        .collect())
}

fn python_tools(project: &Project) -> Result<(), String> {
    let requirements = project.path("tools/requirements.txt");
    let wanted = pins(&requirements)?;
    let python = project.venv().join("bin/python");
    if !python.exists() {
        println!("  venv .tools/venv: creating");
        let mut create = shell::command(project, "python3");
        create.args(["-m", "venv"]).arg(project.venv());
        shell::run(create).map_err(|e| format!("creating the Python venv failed: {e}"))?;
    }
    let installed = python_versions(project)?;
    let missing: Vec<_> = wanted
        .iter()
        .filter(|(name, version)| installed.get(*name) != Some(version))
        .collect();
    for (name, version) in &wanted {
        if !missing.iter().any(|(n, _)| *n == name) {
            println!("  {name} {version} (PyPI): already installed");
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(|(n, v)| format!("{n} {v}")).collect();
    println!(
        "  {} (PyPI): installing into .tools/venv …",
        names.join(", ")
    );
    let mut pip = shell::command(project, &python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
    ])
    .arg("-r")
    .arg(&requirements)
    .arg("-c")
    .arg(project.path("tools/constraints.txt"));
    shell::run(pip)
        .map_err(|e| format!("installing {} from PyPI failed: {e}", names.join(", ")))?;
    let installed = python_versions(project)?;
    for (name, version) in &wanted {
        if installed.get(name) != Some(version) {
            return Err(format!(
                "{name} {version} (PyPI) is still missing after pip install"
            ));
        }
    }
    Ok(())
}

/// Installed distributions of the venv, lower-cased name → version.
fn python_versions(project: &Project) -> Result<BTreeMap<String, String>, String> {
    let mut list = shell::command(project, project.venv().join("bin/python"));
    list.args([
        "-c",
        "import importlib.metadata as m\n\
         for d in m.distributions(): print(d.metadata['Name'], d.version)",
    ]);
    Ok(shell::output(list)?
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (n.to_ascii_lowercase().replace('_', "-"), v.to_string()))
        .collect())
}

fn node_tools(project: &Project) -> Result<(), String> {
    let manifest = read_json(&project.path("tools/package.json"))?;
    let wanted = manifest["dependencies"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut up_to_date = true;
    for (name, version) in &wanted {
        let version = version.as_str().unwrap_or_default();
        let installed =
            read_json(&project.path(&format!("tools/node_modules/{name}/package.json")))
                .ok()
                .and_then(|package| package["version"].as_str().map(str::to_string));
        if installed.as_deref() == Some(version) {
            println!("  {name} {version} (npm): already installed");
        } else {
            println!("  {name} {version} (npm): installing into tools/node_modules …");
            up_to_date = false;
        }
    }
    if up_to_date {
        return Ok(());
    }
    let mut npm = shell::command(project, "npm");
    npm.current_dir(project.path("tools"))
        .args(["ci", "--no-audit", "--no-fund"]);
    shell::run(npm)
        .map_err(|e| format!("installing the npm tools (tools/package.json) failed: {e}"))
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn chromium(project: &Project) -> Result<(), String> {
    let mut version = shell::command(project, "chromium");
    version.arg("--version");
    if let Ok(text) = shell::output(version) {
        println!("  {} (Debian): already installed", text.trim());
        return Ok(());
    }
    println!("  chromium (Debian): installing with apt-get …");
    let mut update = shell::command(project, "apt-get");
    update.args(["update", "-qq"]);
    let mut install = shell::command(project, "apt-get");
    install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq", "chromium"]);
    shell::run(update)
        .and_then(|()| shell::run(install))
        .map_err(|e| format!("installing chromium from Debian's packages failed (needs root): {e}"))
}
