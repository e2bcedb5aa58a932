//! `cargo xtask evidence`: a dated evidence pack for an assessor (issue 15 [K]), in
//! `target/evidence/<YYYY-MM-DD>/`:
//!
//! - the book as PDF (headless Chromium prints `print.html`);
//! - the traceability matrix (`src/generated/traceability.md`);
//! - the stage table of the last `cargo xtask test` (`target/test-stages.md`);
//! - the policy results: `cfn-guard validate` with the rule pack, `checkov` on the template;
//! - the SBOM of every function (`target/sbom/`), regenerated;
//! - the template, and the SHA-256 of it and of every package in `target/lambda/packages/`;
//! - the emulator's fidelity report (`src/generated/fidelity.md`, written by the end-to-end
//!   stage and compared with the checked-in copy on every run);
//! - `index.md`: each item with its SHA-256, and what is missing and why.
//!
//! Nothing is faked: an item whose source does not exist is listed as missing with the
//! command that produces it, and a check that fails is recorded as failing.

use crate::project::Project;
use crate::{book, browser, package, shell, supply, tools};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const TEMPLATE: &str = "templates/payment-workflow.yaml";
const POLICY_DIR: &str = "templates/policy";

/// One file of the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub title: String,
    /// Path inside the pack.
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    /// Where it comes from: a command or a source file.
    pub origin: String,
    /// The outcome, for a check ("pass", "FAIL: …"); empty otherwise.
    pub result: String,
}

/// An artefact hashed but not copied (the packages are megabytes each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

/// An item that could not be included, and how to produce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub title: String,
    pub why: String,
}

/// What the index says about the pack as a whole.
pub struct Pack {
    pub date: String,
    pub created: String,
    pub commit: String,
    pub items: Vec<Item>,
    pub hashed: Vec<Hashed>,
    pub missing: Vec<Missing>,
}

pub fn run(project: &Project) -> Result<(), String> {
    tools::setup(project)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let date = utc_date(now);
    let dir = project.target(&format!("evidence/{date}"));
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut pack = Pack {
        date,
        created: utc_timestamp(now),
        commit: commit(project),
        items: Vec::new(),
        hashed: Vec::new(),
        missing: Vec::new(),
    };

    println!("== evidence: the book as PDF");
    book::build(project)?;
    let pdf = dir.join("book.pdf");
    print_pdf(project, &pdf)?;
    pack.items.push(item(
        &dir,
        "The book, printed",
        "book.pdf",
        "`cargo xtask book`, then headless Chromium prints target/book/html/print.html",
        "",
    )?);

    println!("== evidence: traceability and the last test run");
    copy(
        &project.path("src/generated/traceability.md"),
        &dir.join("traceability.md"),
    )?;
    pack.items.push(item(
        &dir,
        "Traceability matrix: requirement → guard rule → PCI DSS v4.0.1 → test",
        "traceability.md",
        "src/generated/traceability.md (regenerated and compared by `cargo xtask test`)",
        "",
    )?);
    let stages = project.target("test-stages.md");
    if stages.exists() {
        copy(&stages, &dir.join("test-stages.md"))?;
        let text = fs::read_to_string(&stages).unwrap_or_default();
        let summary = text
            .lines()
            .find(|l| l.starts_with("stages: "))
            .unwrap_or("")
            .to_string();
        pack.items.push(item(
            &dir,
            "Stage table of the last `cargo xtask test`",
            "test-stages.md",
            "target/test-stages.md, written by `cargo xtask test`",
            &summary,
        )?);
    } else {
        pack.missing.push(Missing {
            title: "Stage table of the last `cargo xtask test`".into(),
            why: "target/test-stages.md does not exist: run `cargo xtask test` first".into(),
        });
    }

    println!("== evidence: policy (cfn-guard, checkov)");
    fs::create_dir_all(dir.join("policy")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (guard, guard_result) = cfn_guard(project)?;
    write(&dir.join("policy/cfn-guard-validate.txt"), &guard)?;
    pack.items.push(item(
        &dir,
        "cfn-guard validate: the rule pack against the template",
        "policy/cfn-guard-validate.txt",
        &format!("cfn-guard validate --show-summary all --rules {POLICY_DIR} --data {TEMPLATE}"),
        &guard_result,
    )?);
    let (checkov, checkov_result) = checkov(project)?;
    write(&dir.join("policy/checkov.json"), &checkov)?;
    pack.items.push(item(
        &dir,
        "checkov: AWS baseline checks of the template",
        "policy/checkov.json",
        &format!("checkov --framework cloudformation --output json --file {TEMPLATE}"),
        &checkov_result,
    )?);

    println!("== evidence: SBOM");
    fs::create_dir_all(dir.join("sbom")).map_err(|e| format!("{}: {e}", dir.display()))?;
    for sbom in supply::sbom(project)? {
        let name = file_name(&sbom);
        copy(&sbom, &dir.join("sbom").join(&name))?;
        pack.items.push(item(
            &dir,
            &format!("CycloneDX SBOM of {}", name.trim_end_matches(".cdx.json")),
            &format!("sbom/{name}"),
            "cargo xtask sbom: CycloneDX 1.5 from cargo metadata (target aarch64-unknown-linux-gnu, normal dependencies), schema-validated",
            "",
        )?);
    }

    println!("== evidence: template and packages");
    fs::create_dir_all(dir.join("templates")).map_err(|e| format!("{}: {e}", dir.display()))?;
    copy(&project.path(TEMPLATE), &dir.join(TEMPLATE))?;
    pack.items.push(item(
        &dir,
        "The CloudFormation template",
        TEMPLATE,
        TEMPLATE,
        "",
    )?);
    let packages = project.target("lambda/packages");
    let mut zips: Vec<PathBuf> = fs::read_dir(&packages)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    zips.retain(|p| p.is_file());
    zips.sort();
    if zips.is_empty() {
        pack.missing.push(Missing {
            title: "SHA-256 of the function packages".into(),
            why: "target/lambda/packages/ holds no package: run `cargo xtask package` \
                  (x86_64, this machine) or `cargo xtask package --arm64` (what deploys)"
                .into(),
        });
    }
    for zip in zips {
        let bytes = fs::read(&zip).map_err(|e| format!("{}: {e}", zip.display()))?;
        pack.hashed.push(Hashed {
            file: shell::relative(project, &zip),
            sha256: package::sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        });
    }

    let fidelity = project.path("src/generated/fidelity.md");
    if fidelity.exists() {
        copy(&fidelity, &dir.join("fidelity.md"))?;
        pack.items.push(item(
            &dir,
            "The emulator's fidelity report: what the embedded AWS executes, approximates or leaves out",
            "fidelity.md",
            "src/generated/fidelity.md, written by the end-to-end stage of `cargo xtask test`",
            "",
        )?);
    } else {
        pack.missing.push(Missing {
            title: "The emulator's fidelity report".into(),
            why: "src/generated/fidelity.md does not exist: run `cargo xtask regen`".into(),
        });
    }

    // `sha256sum -c` format: SHA256SUMS checks the pack in its folder, packages.sha256
    // the packages from the repository root.
    let sums: String = pack
        .items
        .iter()
        .map(|i| format!("{}  {}\n", i.sha256, i.file))
        .collect();
    write(&dir.join("SHA256SUMS"), &sums)?;
    let packages: String = pack
        .hashed
        .iter()
        .map(|h| format!("{}  {}\n", h.sha256, h.file))
        .collect();
    write(&dir.join("packages.sha256"), &packages)?;
    write(&dir.join("index.md"), &index(&pack))?;
    println!(
        "    evidence pack: {} ({} items, {} hashed artefacts, {} missing)",
        shell::relative(project, &dir),
        pack.items.len(),
        pack.hashed.len(),
        pack.missing.len()
    );
    for missing in &pack.missing {
        println!("    missing: {} — {}", missing.title, missing.why);
    }
    Ok(())
}

/// The pack's `index.md`: what each file is, where it comes from, its SHA-256.
pub fn index(pack: &Pack) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "# Evidence pack {}\n\n\
         Created {} by `cargo xtask evidence` from commit `{}`.\n\
         Every file below is in this folder; `SHA256SUMS` repeats the hashes for \
         `sha256sum -c SHA256SUMS` (run in this folder, it checks the copied files).\n\n\
         | item | file | SHA-256 | bytes | from | result |\n\
         | --- | --- | --- | --- | --- | --- |\n",
        pack.date, pack.created, pack.commit
    );
    for item in &pack.items {
        out += &format!(
            "| {} | [`{}`]({}) | `{}` | {} | {} | {} |\n",
            cell(&item.title),
            item.file,
            item.file,
            item.sha256,
            item.bytes,
            cell(&item.origin),
            cell(if item.result.is_empty() {
                "—"
            } else {
                &item.result
            })
        );
    }
    out += "\n## Artefacts hashed, not copied\n\n";
    if pack.hashed.is_empty() {
        out += "None: no function package was built when the pack was made (see below).\n";
    } else {
        out += "The deployable packages as built in this repository (compare them with a \
                release's `SHA256SUMS` or the deploy manifest; from the repository root, \
                `sha256sum -c` on this folder's `packages.sha256` checks them).\n\n\
                | file | SHA-256 | bytes |\n| --- | --- | --- |\n";
        for hashed in &pack.hashed {
            out += &format!(
                "| `{}` | `{}` | {} |\n",
                hashed.file, hashed.sha256, hashed.bytes
            );
        }
    }
    out += "\n## Missing\n\n";
    if pack.missing.is_empty() {
        out += "Nothing: every item of the pack is present.\n";
    } else {
        for missing in &pack.missing {
            out += &format!("- **{}**: {}\n", missing.title, missing.why);
        }
    }
    out
}

/// Headless Chromium prints the book's print page to `pdf`.
fn print_pdf(project: &Project, pdf: &Path) -> Result<(), String> {
    let page = project.target("book/html/print.html");
    let profile = project.target("browser/profile-print");
    let mut print = browser::chromium(project, &profile);
    // No --virtual-time-budget: with it this Chromium (Debian, 156) writes no PDF at all.
    // Printing waits for the load event, by which mermaid has drawn its diagrams.
    print
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()));
    shell::output(print)?;
    let bytes = fs::read(pdf).map_err(|e| format!("Chromium wrote no {}: {e}", pdf.display()))?;
    if !bytes.starts_with(b"%PDF") {
        return Err(format!("{} is not a PDF", pdf.display()));
    }
    println!("    book.pdf: {} bytes", bytes.len());
    Ok(())
}

/// `cfn-guard validate` of the template with the whole pack, as tests/policy.rs runs it
/// but with every rule's result shown: (report, result).
fn cfn_guard(project: &Project) -> Result<(String, String), String> {
    let mut guard = shell::command(project, "cfn-guard");
    guard.args([
        "validate",
        "--show-summary",
        "all",
        "--rules",
        POLICY_DIR,
        "--data",
        TEMPLATE,
    ]);
    let output = guard
        .output()
        .map_err(|e| format!("could not start cfn-guard: {e}"))?;
    let report = format!(
        "$ {}\n\n{}{}",
        shell::describe(&guard),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result = match output.status.code() {
        Some(0) => "pass: no rule violated".to_string(),
        // cfn-guard's exit code for violations (DESIGN.md §8).
        Some(19) => "FAIL: rules violated (exit 19)".to_string(),
        other => format!("FAIL: cfn-guard exited with {other:?}"),
    };
    Ok((report, result))
}

/// `checkov` on the template, JSON as tests/policy.rs reads it: (report, result).
fn checkov(project: &Project) -> Result<(String, String), String> {
    let mut checkov = shell::command(project, "checkov");
    checkov.args([
        "--framework",
        "cloudformation",
        "--output",
        "json",
        "--file",
        TEMPLATE,
    ]);
    let output = checkov
        .output()
        .map_err(|e| format!("could not start checkov: {e}"))?;
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let summary = serde_json::from_str::<serde_json::Value>(&report)
        .map(|v| v["summary"].clone())
        .map_err(|e| {
            format!(
                "checkov printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let count = |key: &str| summary[key].as_u64().unwrap_or(0);
    let result = format!(
        "{}: {} passed, {} failed, {} skipped (each skip justified in the template)",
        if count("failed") == 0 { "pass" } else { "FAIL" },
        count("passed"),
        count("failed"),
        count("skipped")
    );
    Ok((report, result))
}

fn item(dir: &Path, title: &str, file: &str, origin: &str, result: &str) -> Result<Item, String> {
    let path = dir.join(file);
    let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Item {
        title: title.to_string(),
        file: file.to_string(),
        sha256: package::sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        origin: origin.to_string(),
        result: result.to_string(),
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The commit the pack was made from, marked when the working tree differs from it.
fn commit(project: &Project) -> String {
    let mut head = shell::command(project, "git");
    head.args(["rev-parse", "HEAD"]);
    let Ok(head) = shell::output(head) else {
        return "unknown (not a git checkout)".into();
    };
    let mut status = shell::command(project, "git");
    status.args(["status", "--porcelain"]);
    let dirty = shell::output(status)
        .map(|s| !s.trim().is_empty())
        .unwrap_or(true);
    format!(
        "{}{}",
        head.trim(),
        if dirty { " + uncommitted changes" } else { "" }
    )
}

/// `YYYY-MM-DD` of a Unix time, in UTC (the calendar of `payments_core::time`).
pub fn utc_date(seconds: u64) -> String {
    payments_core::time::rfc3339_millis(seconds.saturating_mul(1000))[..10].to_string()
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time, in UTC.
pub fn utc_timestamp(seconds: u64) -> String {
    let text = payments_core::time::rfc3339_millis(seconds.saturating_mul(1000));
    format!("{} {}", &text[..10], &text[11..19])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> Pack {
        Pack {
            date: "2026-11-30".into(),
            created: "2026-11-30 20:00:00".into(),
            commit: "abc123 + uncommitted changes".into(),
            items: vec![
                Item {
                    title: "The book, printed".into(),
                    file: "book.pdf".into(),
                    sha256: "aa".repeat(32),
                    bytes: 1234,
                    origin: "print.html".into(),
                    result: String::new(),
                },
                Item {
                    title: "checkov".into(),
                    file: "policy/checkov.json".into(),
                    sha256: "bb".repeat(32),
                    bytes: 99,
                    origin: "checkov | json".into(),
                    result: "pass: 120 passed, 0 failed, 7 skipped".into(),
                },
            ],
            hashed: vec![Hashed {
                file: "target/lambda/packages/validator.zip".into(),
                sha256: "cc".repeat(32),
                bytes: 8_000_000,
            }],
            missing: vec![Missing {
                title: "The emulator's fidelity report".into(),
                why: "run `cargo xtask up --once`".into(),
            }],
        }
    }

    #[test]
    fn the_index_lists_every_item_with_its_hash_and_every_missing_item() {
        let index = index(&pack());
        assert!(index.starts_with("# Evidence pack 2026-11-30\n"), "{index}");
        assert!(
            index.contains("from commit `abc123 + uncommitted changes`"),
            "{index}"
        );
        let aa = "aa".repeat(32);
        assert!(
            index.contains(&format!(
                "| The book, printed | [`book.pdf`](book.pdf) | `{aa}` | 1234 | print.html | — |"
            )),
            "{index}"
        );
        // A `|` inside a cell would split the row.
        assert!(
            index.contains("| checkov \\| json | pass: 120 passed, 0 failed, 7 skipped |"),
            "{index}"
        );
        assert!(
            index.contains(&format!(
                "| `target/lambda/packages/validator.zip` | `{}` | 8000000 |",
                "cc".repeat(32)
            )),
            "{index}"
        );
        assert!(
            index.contains("- **The emulator's fidelity report**: run `cargo xtask up --once`"),
            "{index}"
        );
    }

    #[test]
    fn an_empty_pack_says_what_is_missing_and_that_nothing_was_hashed() {
        let mut empty = pack();
        empty.hashed.clear();
        empty.missing.clear();
        let index = index(&empty);
        assert!(
            index.contains("None: no function package was built"),
            "{index}"
        );
        assert!(
            index.contains("Nothing: every item of the pack is present."),
            "{index}"
        );
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_709_164_800), "2024-02-29");
        assert_eq!(utc_timestamp(1_767_225_599), "2025-12-31 23:59:59");
        assert_eq!(utc_timestamp(1_767_225_600), "2026-01-01 00:00:00");
    }
}
