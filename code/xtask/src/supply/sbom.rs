//! A CycloneDX 1.5 JSON SBOM of each function, written by xtask from `cargo metadata`
//! (no cargo-cyclonedx: its cold `cargo install` took 11.6 min on the 2-core CI machine).
//!
//! - the graph: the function's normal dependencies for the deploy target
//!   (aarch64-unknown-linux-gnu), no build or dev dependencies (graph.rs prunes what cargo
//!   does not build);
//! - each component: name, version, purl `pkg:cargo/<name>@<version>`, the licence as an
//!   SPDX expression, SHA-256 from Cargo.lock's `checksum` (crates.io's own hash of the
//!   `.crate` file) for crates.io packages; `metadata.component` is the function;
//! - checked three ways: against the official CycloneDX 1.5 JSON schema (shipped by the
//!   pinned `cyclonedx-python-lib`, strict validator), against `cargo tree` (nothing cargo
//!   builds into the function is missing), and `verify_sbom`'s own sanity checks.
//!
//! Spec: https://cyclonedx.org/docs/1.5/json/ ; purl type cargo:
//! https://github.com/package-url/purl-spec (PURL-TYPES: `pkg:cargo/rand@0.7.2`); target
//! property: https://github.com/CycloneDX/cyclonedx-property-taxonomy (cdx/rustc.md).

use super::graph::{Graph, Kind};
use super::spdx;
use crate::project::Project;
use crate::shell;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// The platform the functions deploy on (Lambda, arm64): the SBOM lists that graph.
pub const TARGET: &str = "aarch64-unknown-linux-gnu";

/// `(name, version)` → SHA-256 of the `.crate`, from Cargo.lock's `checksum` fields.
pub fn checksums(lock: &str) -> Result<BTreeMap<(String, String), String>, String> {
    let lock = super::toml_to_json(lock).map_err(|e| format!("Cargo.lock: {e}"))?;
    Ok(lock["package"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                (
                    p["name"].as_str()?.to_string(),
                    p["version"].as_str()?.to_string(),
                ),
                p["checksum"].as_str()?.to_string(),
            ))
        })
        .collect())
}

fn purl(name: &str, version: &str) -> String {
    // Cargo names are ASCII letters, digits, `-` and `_`; versions are semver, where only
    // `+` (build metadata) must be percent-encoded in a purl version.
    format!("pkg:cargo/{name}@{}", version.replace('+', "%2B"))
}

fn licenses(license: Option<&str>) -> Option<Value> {
    let license = license?;
    let expression = spdx::parse(license).map_or_else(|_| license.to_string(), |e| e.render());
    Some(json!([{ "expression": expression }]))
}

/// The SBOM of the function `root` (a package id of `graph`).
pub fn document(
    graph: &Graph,
    root: &str,
    checksums: &BTreeMap<(String, String), String>,
    serial: &str,
    timestamp: &str,
) -> Value {
    let normal = [Kind::Normal];
    let reached = graph.reachable(&[root.to_string()], &normal);
    let reference = |id: &str| {
        let p = &graph.packages[id];
        purl(&p.name, &p.version)
    };
    let component = |id: &str, kind: &str| {
        let p = &graph.packages[id];
        let mut c = json!({
            "type": kind,
            "bom-ref": reference(id),
            "name": p.name,
            "version": p.version,
            "purl": purl(&p.name, &p.version),
        });
        if let Some(description) = &p.description {
            c["description"] = json!(description.trim());
        }
        if let Some(licenses) = licenses(p.license.as_deref()) {
            c["licenses"] = licenses;
        }
        if p.source.is_some()
            && let Some(sha256) = checksums.get(&(p.name.clone(), p.version.clone()))
        {
            c["hashes"] = json!([{ "alg": "SHA-256", "content": sha256 }]);
        }
        c
    };
    let mut ids: Vec<&String> = reached.keys().filter(|id| id.as_str() != root).collect();
    ids.sort_by_key(|id| (&graph.packages[*id].name, &graph.packages[*id].version));
    let mut dependencies = Vec::new();
    for id in std::iter::once(&root.to_string()).chain(ids.iter().copied()) {
        let mut on: Vec<String> = graph
            .dependencies(id, &normal)
            .iter()
            .map(|d| reference(d))
            .collect();
        on.sort();
        dependencies.push(json!({ "ref": reference(id), "dependsOn": on }));
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{
                "type": "application",
                "name": "xtask",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "cargo xtask sbom: this repository's tooling (code/xtask/src/supply/sbom.rs), from cargo metadata",
            }]},
            "component": component(root, "application"),
            "properties": [{"name": "cdx:rustc:meta:target:triple", "value": TARGET}],
        },
        "components": ids.iter().map(|id| {
            let mut c = component(id, "library");
            c["scope"] = json!("required");
            c
        }).collect::<Vec<_>>(),
        "dependencies": dependencies,
    })
}

/// A random-looking RFC 4122 version-4 UUID URN: a serial number per generated SBOM.
fn serial(function: &str, nanos: u128) -> String {
    let digest = Sha256::digest(format!("{function} {nanos} {}", std::process::id()));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The function crates of the graph: members whose manifest is `code/functions/*/Cargo.toml`.
pub fn functions(project: &Project, graph: &Graph) -> Vec<(String, String)> {
    let dir = project.path("code/functions");
    let mut found: Vec<(String, String)> = graph
        .members
        .iter()
        .filter_map(|id| {
            let p = graph.packages.get(id)?;
            (p.manifest.parent()?.parent()? == dir).then(|| (p.name.clone(), id.clone()))
        })
        .collect();
    found.sort();
    found
}

/// Writes `target/sbom/<function>.cdx.json` for every function and checks each.
pub fn write_all(project: &Project, graph: &Graph) -> Result<Vec<PathBuf>, String> {
    let out_dir = project.target("sbom");
    if out_dir.exists() {
        fs::remove_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    }
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let lock_path = project.path("Cargo.lock");
    let lock = fs::read_to_string(&lock_path).map_err(|e| format!("Cargo.lock: {e}"))?;
    let checksums = checksums(&lock)?;
    let functions = functions(project, graph);
    let expected = crate::package::functions(project)?;
    let found: Vec<&String> = functions.iter().map(|(name, _)| name).collect();
    if found != expected.iter().collect::<Vec<_>>() {
        return Err(format!(
            "code/functions/ holds {expected:?}, but cargo metadata has the function crates {found:?}"
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let timestamp = crate::evidence::utc_timestamp(now.as_secs()).replace(' ', "T") + "Z";
    let built = built_by_cargo(project, &expected)?;
    // Every SBOM is written (to be read when a check fails), then every check runs.
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    for (function, id) in &functions {
        let bom = document(
            graph,
            id,
            &checksums,
            &serial(function, now.as_nanos()),
            &timestamp,
        );
        let path = out_dir.join(format!("{function}.cdx.json"));
        let shown = shell::relative(project, &path);
        let text = serde_json::to_string_pretty(&bom).map_err(|e| e.to_string())?;
        fs::write(&path, text + "\n").map_err(|e| format!("{shown}: {e}"))?;
        let checked = verify_sbom(&bom, function).and_then(|()| {
            built
                .get(function)
                .ok_or_else(|| format!("`cargo tree` printed no tree for {function}"))
                .and_then(|built| complete(&bom, built))
        });
        match checked {
            Ok(extra) => println!(
                "    {shown}: {} components ({extra} more than `cargo tree` builds: features unified over the workspace)",
                bom["components"].as_array().map_or(0, Vec::len),
            ),
            Err(e) => errors.push(format!("{shown}: {e}")),
        }
        paths.push(path);
    }
    if let Err(e) = validate_schema(project, &paths) {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(paths)
    } else {
        Err(errors.join("\n"))
    }
}

/// What cargo builds into each function, `name version` per package, from `cargo tree`
/// over all functions at once (as `cargo xtask package` builds them: features unified
/// across the functions, per target, dev and build dependencies apart).
fn built_by_cargo(
    project: &Project,
    functions: &[String],
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut tree = shell::command(project, "cargo");
    tree.args(["tree", "--locked", "--target", TARGET, "-e", "normal"])
        .args(["--prefix", "depth", "--format", "{p}"]);
    for function in functions {
        tree.args(["--package", function]);
    }
    Ok(parse_tree(&shell::output(tree)?, functions))
}

/// `cargo tree --prefix depth` → the packages below each root (the roots are the depth-0
/// lines). Later roots show shared subtrees once, marked `(*)`, so the edges are rebuilt
/// and walked per root.
pub fn parse_tree(output: &str, roots: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    let mut root_ids = BTreeMap::new();
    for line in output.lines() {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let Ok(depth) = line[..digits].parse::<usize>() else {
            continue;
        };
        let mut words = line[digits..].split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let package = format!("{name} {}", version.trim_start_matches('v'));
        stack.truncate(depth);
        if let Some(parent) = stack.last() {
            edges
                .entry(parent.clone())
                .or_default()
                .insert(package.clone());
        } else if roots.iter().any(|r| r == name) {
            root_ids.insert(name.to_string(), package.clone());
        }
        stack.push(package);
    }
    root_ids
        .into_iter()
        .map(|(root, id)| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![id.clone()];
            while let Some(at) = todo.pop() {
                for next in edges.get(&at).into_iter().flatten() {
                    if seen.insert(next.clone()) {
                        todo.push(next.clone());
                    }
                }
            }
            seen.remove(&id);
            (root, seen)
        })
        .collect()
}

/// Every package cargo builds into the function is a component; returns how many
/// components cargo does not build (features unified over the workspace by metadata).
pub fn complete(bom: &Value, built: &BTreeSet<String>) -> Result<usize, String> {
    let listed: BTreeSet<String> = bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(format!(
                "{} {}",
                c["name"].as_str()?,
                c["version"].as_str()?
            ))
        })
        .collect();
    let missing: Vec<&String> = built.difference(&listed).collect();
    if missing.is_empty() {
        Ok(listed.difference(built).count())
    } else {
        Err(format!(
            "{} packages `cargo tree` builds into the function are not components: {}",
            missing.len(),
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// A function's SBOM: CycloneDX, describing that function, listing its dependencies
/// with package URLs and licences, the Lambda runtime among them.
pub fn verify_sbom(bom: &Value, function: &str) -> Result<(), String> {
    if bom["bomFormat"] != "CycloneDX" {
        return Err("not a CycloneDX document".into());
    }
    let described = bom["metadata"]["component"]["name"].as_str().unwrap_or("");
    if described != function {
        return Err(format!("describes `{described}`, not `{function}`"));
    }
    let components = bom["components"].as_array().cloned().unwrap_or_default();
    let named = |name: &str| components.iter().any(|c| c["name"] == name);
    if !named("lambda_runtime") {
        return Err("lists no lambda_runtime: not a function's dependency graph".into());
    }
    let count = |missing: &dyn Fn(&Value) -> bool| components.iter().filter(|c| missing(c)).count();
    let without_purl = count(&|c| c["purl"].as_str().is_none());
    if without_purl > 0 {
        return Err(format!("{without_purl} components without a package URL"));
    }
    let without_licence = count(&|c| c["licenses"].as_array().is_none_or(Vec::is_empty));
    if without_licence > 0 {
        return Err(format!("{without_licence} components without a licence"));
    }
    Ok(())
}

/// Validates SBOM files against the CycloneDX 1.5 JSON schema with cyclonedx-python-lib's
/// strict validator (the schema files of the CycloneDX specification, shipped in the
/// wheel), through the project's venv.
pub fn validate_schema(project: &Project, paths: &[PathBuf]) -> Result<(), String> {
    const VALIDATE: &str = "\
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

validator = JsonStrictValidator(SchemaVersion.V1_5)
failed = 0
for path in sys.argv[1:]:
    with open(path, encoding='utf-8') as bom:
        error = validator.validate_str(bom.read())
    if error is not None:
        failed += 1
        message = error.data.message
        if len(message) > 300:
            message = message[:300] + ' ...'
        print(f'{path}: {error.data.json_path}: {message}', file=sys.stderr)
sys.exit(1 if failed else 0)
";
    let python = project.venv().join("bin/python");
    if !python.exists() {
        return Err(format!(
            "{} is missing: run `cargo xtask setup` (cyclonedx-python-lib validates the SBOMs)",
            python.display()
        ));
    }
    let mut validate = shell::command(project, &python);
    validate
        .arg("-c")
        .arg(VALIDATE)
        .args(paths.iter().map(|p| shell::relative(project, p)));
    let output = validate
        .output()
        .map_err(|e| format!("could not start {}: {e}", python.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "not valid CycloneDX 1.5 (JSON schema, cyclonedx-python-lib's strict validator):\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supply::graph::tests::metadata;

    fn bom(name: &str, components: Value) -> Value {
        json!({"bomFormat": "CycloneDX", "metadata": {"component": {"name": name}}, "components": components})
    }

    #[test]
    fn an_sbom_must_describe_its_function_and_its_runtime() {
        let runtime = json!([{"name": "lambda_runtime", "purl": "pkg:cargo/lambda_runtime@1.5.0", "licenses": [{"expression": "Apache-2.0"}]}]);
        assert_eq!(
            verify_sbom(&bom("validator", runtime.clone()), "validator"),
            Ok(())
        );
        assert!(
            verify_sbom(&bom("settlement", runtime.clone()), "validator")
                .unwrap_err()
                .contains("describes `settlement`")
        );
        assert!(
            verify_sbom(&bom("validator", json!([])), "validator")
                .unwrap_err()
                .contains("no lambda_runtime")
        );
        let unnamed = json!([{"name": "lambda_runtime", "purl": "pkg:cargo/x@1", "licenses": [{"expression": "MIT"}]}, {"name": "y"}]);
        assert!(
            verify_sbom(&bom("validator", unnamed), "validator")
                .unwrap_err()
                .contains("1 components without a package URL")
        );
        let unlicensed = json!([{"name": "lambda_runtime", "purl": "pkg:cargo/x@1"}]);
        assert!(
            verify_sbom(&bom("validator", unlicensed), "validator")
                .unwrap_err()
                .contains("1 components without a licence")
        );
        assert!(verify_sbom(&json!({"bomFormat": "SPDX"}), "validator").is_err());
    }

    fn sample() -> Value {
        let doc = metadata(
            &[
                (
                    "fn-a",
                    "MIT",
                    &[
                        ("lambda_runtime", None, false),
                        ("cc", Some("build"), false),
                    ],
                ),
                (
                    "lambda_runtime",
                    "Apache-2.0/MIT",
                    &[("untrusted", None, false)],
                ),
                ("untrusted", "ISC", &[]),
                ("cc", "MIT OR Apache-2.0", &[]),
            ],
            &[],
        );
        let graph = Graph::from_metadata(&doc).unwrap();
        let checksums = BTreeMap::from([
            (("lambda_runtime".into(), "1.0.0".into()), "ab".repeat(32)),
            (("untrusted".into(), "1.0.0".into()), "cd".repeat(32)),
        ]);
        document(
            &graph,
            &graph.members[0],
            &checksums,
            &serial("fn-a", 7),
            "2026-12-01T10:00:00Z",
        )
    }

    #[test]
    fn the_document_lists_normal_dependencies_with_purl_licence_and_hash() {
        let bom = sample();
        assert_eq!(bom["metadata"]["component"]["name"], "fn-a");
        assert_eq!(bom["metadata"]["component"]["type"], "application");
        let components = bom["components"].as_array().unwrap();
        let names: Vec<&str> = components
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            vec!["lambda_runtime", "untrusted"],
            "no build dependency"
        );
        assert_eq!(components[0]["purl"], "pkg:cargo/lambda_runtime@1.0.0");
        assert_eq!(
            components[0]["licenses"][0]["expression"],
            "Apache-2.0 OR MIT"
        );
        assert_eq!(components[1]["hashes"][0]["content"], "cd".repeat(32));
        assert_eq!(
            bom["dependencies"][0]["dependsOn"],
            json!(["pkg:cargo/lambda_runtime@1.0.0"])
        );
        let serial = bom["serialNumber"].as_str().unwrap();
        assert_eq!(serial.len(), "urn:uuid:".len() + 36);
        assert_eq!(&serial[23..24], "4", "a version-4 UUID: {serial}");
    }

    #[test]
    fn build_metadata_is_percent_encoded_in_a_purl() {
        assert_eq!(
            purl("toml_edit", "0.25.20+spec-1.1.0"),
            "pkg:cargo/toml_edit@0.25.20%2Bspec-1.1.0"
        );
    }

    #[test]
    fn cargo_tree_is_walked_per_function() {
        let output = "0fn-a v0.1.0 (/repo/fn-a)\n1shared v1.0.0\n2leaf v1.0.0\n1only-a v1.0.0\n\n0fn-b v0.1.0 (/repo/fn-b)\n1shared v1.0.0 (*)\n";
        let built = parse_tree(output, &["fn-a".into(), "fn-b".into()]);
        assert_eq!(
            built["fn-a"],
            BTreeSet::from([
                "shared 1.0.0".into(),
                "leaf 1.0.0".into(),
                "only-a 1.0.0".into()
            ])
        );
        assert_eq!(
            built["fn-b"],
            BTreeSet::from(["shared 1.0.0".into(), "leaf 1.0.0".into()])
        );
    }

    #[test]
    fn a_package_cargo_builds_but_the_sbom_omits_fails() {
        let bom = sample();
        let built = BTreeSet::from(["lambda_runtime 1.0.0".to_string()]);
        assert_eq!(complete(&bom, &built), Ok(1));
        let more = BTreeSet::from([
            "lambda_runtime 1.0.0".to_string(),
            "ring 0.17.14".to_string(),
        ]);
        assert!(complete(&bom, &more).unwrap_err().contains("ring 0.17.14"));
    }

    /// The schema check passes the generated document and fails each mutant, naming the
    /// file and the JSON path. Needs `.tools/venv` (`cargo xtask setup`).
    #[test]
    fn the_schema_check_fails_invalid_sboms() {
        let project = Project::locate();
        let dir = project.target("sbom-schema-test");
        fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.cdx.json");
        fs::write(&good, sample().to_string()).unwrap();
        validate_schema(&project, std::slice::from_ref(&good)).unwrap();
        type Mutation = fn(&mut Value);
        let mutants: [(&str, Mutation); 4] = [
            ("short-hash", |b| {
                b["components"][1]["hashes"][0]["content"] = json!("cd")
            }),
            ("unknown-field", |b| {
                b["components"][0]["licence"] = json!("MIT")
            }),
            ("bad-type", |b| b["components"][0]["type"] = json!("crate")),
            ("no-format", |b| {
                b.as_object_mut().unwrap().remove("bomFormat");
            }),
        ];
        let mut paths = Vec::new();
        for (name, mutate) in mutants {
            let mut bom = sample();
            mutate(&mut bom);
            let path = dir.join(format!("{name}.cdx.json"));
            fs::write(&path, bom.to_string()).unwrap();
            let error = validate_schema(&project, std::slice::from_ref(&path)).unwrap_err();
            assert!(
                error.contains(&format!("{name}.cdx.json: $")),
                "{name}: {error}"
            );
            paths.push(path);
        }
        let error = validate_schema(&project, &paths).unwrap_err();
        assert_eq!(error.matches(".cdx.json: $").count(), 4, "{error}");
    }
}
