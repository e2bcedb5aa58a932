//! What a deployment ships and what it is called: the packages the template names, checked
//! against the manifest `cargo xtask package` wrote, and the content-addressed names derived
//! from them (review M12: CloudFormation updates a function's code only when its `S3Key`
//! changes, so a new build must land under a new key, and an old key is never overwritten).

use crate::package::{Manifest, sha256_hex};
use payment_workflow_book::template::{Template, sub_text};
use std::time::{SystemTime, UNIX_EPOCH};

/// One function's package, as the template names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPackage {
    /// The function's logical id.
    pub function: String,
    /// The package name: `S3Key: !Sub ${ArtifactKeyPrefix}/<package>.zip`.
    pub package: String,
    /// `Architectures[0]`; Lambda's default is x86_64 ("The default value is x86_64",
    /// https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html).
    pub architecture: String,
}

const KEY_PREFIX: &str = "${ArtifactKeyPrefix}/";

/// Every function's package, in template order.
pub fn template_packages(t: &Template) -> Result<Vec<FunctionPackage>, String> {
    let mut packages = Vec::new();
    for (id, function) in t.of_type("AWS::Lambda::Function") {
        let properties = &function["Properties"];
        let key = sub_text(&properties["Code"]["S3Key"])
            .ok_or_else(|| format!("{id}: Code.S3Key is not a !Sub of ${{ArtifactKeyPrefix}}"))?;
        let package = key
            .strip_prefix(KEY_PREFIX)
            .and_then(|k| k.strip_suffix(".zip"))
            .filter(|p| !p.contains('/') && !p.contains('$'))
            .ok_or_else(|| format!("{id}: S3Key {key} is not {KEY_PREFIX}<package>.zip"))?;
        let architecture = properties["Architectures"][0]
            .as_str()
            .unwrap_or("x86_64")
            .to_string();
        packages.push(FunctionPackage {
            function: id.to_string(),
            package: package.to_string(),
            architecture,
        });
    }
    if packages.is_empty() {
        return Err("the template has no AWS::Lambda::Function".into());
    }
    Ok(packages)
}

/// Refuses a package that is missing or built for another architecture than its function
/// runs on: AWS runs each function on its `Architectures`; the embedded AWS runs every
/// package natively, on this machine's architecture (`runs_on`).
pub fn check_architectures(
    packages: &[FunctionPackage],
    manifest: &Manifest,
    runs_on: Option<&str>,
) -> Result<(), String> {
    let mut wrong = Vec::new();
    for p in packages {
        let wanted = runs_on.unwrap_or(&p.architecture);
        match manifest.get(&p.package) {
            None => wrong.push(format!("{}.zip is not in the manifest", p.package)),
            Some(built) if built.architecture != wanted => wrong.push(format!(
                "{}.zip is built for {} but {} runs on {wanted}",
                p.package, built.architecture, p.function
            )),
            Some(_) => {}
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        let rebuild = match runs_on {
            None => "cargo xtask package --arm64",
            Some(_) => "cargo xtask package",
        };
        Err(format!(
            "refusing to deploy: {}; rebuild with `{rebuild}`",
            wrong.join("; ")
        ))
    }
}

/// The content-addressed names of one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// SHA-256 over the shipped packages' names, architectures and digests.
    pub digest: String,
    /// The `ArtifactKeyPrefix` parameter: `releases/<digest>`.
    pub prefix: String,
    /// Where the template goes, next to the packages, named by its own digest.
    pub template_key: String,
}

impl Release {
    pub fn of(manifest: &Manifest, packages: &[FunctionPackage], template: &[u8]) -> Release {
        let mut lines: Vec<String> = packages
            .iter()
            .filter_map(|p| {
                let built = manifest.get(&p.package)?;
                Some(format!(
                    "{} {} {}\n",
                    p.package, built.architecture, built.sha256
                ))
            })
            .collect();
        lines.sort();
        lines.dedup();
        let digest = sha256_hex(lines.concat().as_bytes());
        let prefix = format!("releases/{digest}");
        let template_key = format!(
            "{prefix}/payment-workflow-{}.yaml",
            &sha256_hex(template)[..16]
        );
        Release {
            digest,
            prefix,
            template_key,
        }
    }

    /// What the runbook shows instead of one build's digests.
    pub fn placeholder() -> Release {
        Release {
            digest: "<release>".into(),
            prefix: "releases/<release>".into(),
            template_key: "releases/<release>/payment-workflow-<template-sha256>.yaml".into(),
        }
    }
}

/// A change-set name unique per run: the UTC time and the release, e.g.
/// `deploy-20250102T030405Z-3fa9c2d41b07`.
pub fn change_set_name(release: &Release, now: SystemTime) -> String {
    let short: String = release
        .digest
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("deploy-{}-{short}", utc_stamp(now))
}

/// CreateChangeSet's rule: 1-128 characters, `[a-zA-Z][-a-zA-Z0-9]*`
/// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html).
pub fn valid_change_set_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=128).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `YYYYMMDDTHHMMSSZ` for a time (civil-from-days, proleptic Gregorian calendar).
pub fn utc_stamp(now: SystemTime) -> String {
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The parameter file the change set gets: the environment's file with `ArtifactKeyPrefix`
/// set to the release (the file's own value is never used).
pub fn merged_parameters(entries: &[(String, String)], prefix: &str) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = entries
        .iter()
        .filter(|(k, _)| k != "ArtifactKeyPrefix")
        .cloned()
        .collect();
    merged.push(("ArtifactKeyPrefix".into(), prefix.into()));
    merged
}

pub fn parameters_json(entries: &[(String, String)]) -> String {
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|(k, v)| serde_json::json!({"ParameterKey": k, "ParameterValue": v}))
        .collect();
    serde_json::to_string_pretty(&list).expect("a list serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Package;
    use std::time::Duration;

    fn template(architecture: &str) -> Template {
        Template::parse(&format!(
            "Resources:\n  ValidatorFunction:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
             Architectures: [{architecture}]\n      Code:\n        S3Bucket: !Ref ArtifactBucket\n        \
             S3Key: !Sub ${{ArtifactKeyPrefix}}/validator.zip\n"
        ))
    }

    fn manifest(architecture: &str, sha: &str) -> Manifest {
        Manifest::from([(
            "validator".to_string(),
            Package {
                architecture: architecture.into(),
                sha256: sha.into(),
                size: 10,
            },
        )])
    }

    #[test]
    fn an_x86_64_package_for_an_arm64_function_is_refused() {
        let packages = template_packages(&template("arm64")).unwrap();
        assert_eq!(packages[0].package, "validator");
        let refused = check_architectures(&packages, &manifest("x86_64", "aa"), None).unwrap_err();
        assert!(
            refused
                .contains("validator.zip is built for x86_64 but ValidatorFunction runs on arm64")
        );
        assert!(refused.contains("cargo xtask package --arm64"));
        assert!(check_architectures(&packages, &manifest("arm64", "aa"), None).is_ok());
    }

    #[test]
    fn the_emulator_runs_packages_built_for_this_machine() {
        let packages = template_packages(&template("arm64")).unwrap();
        assert!(check_architectures(&packages, &manifest("x86_64", "aa"), Some("x86_64")).is_ok());
        assert!(check_architectures(&packages, &manifest("arm64", "aa"), Some("x86_64")).is_err());
    }

    #[test]
    fn a_missing_package_or_an_unexpected_key_is_refused() {
        let packages = template_packages(&template("arm64")).unwrap();
        assert!(check_architectures(&packages, &Manifest::new(), None).is_err());
        let odd = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code:\n        S3Key: fixed/key.zip\n",
        );
        assert!(template_packages(&odd).is_err());
        let default = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code:\n        S3Key: !Sub ${ArtifactKeyPrefix}/f.zip\n",
        );
        assert_eq!(
            template_packages(&default).unwrap()[0].architecture,
            "x86_64"
        );
    }

    #[test]
    fn a_new_build_or_a_new_template_gets_a_new_key_and_the_same_inputs_the_same_key() {
        let packages = template_packages(&template("arm64")).unwrap();
        let a = Release::of(&manifest("arm64", "aa"), &packages, b"template");
        assert_eq!(
            a,
            Release::of(&manifest("arm64", "aa"), &packages, b"template")
        );
        let rebuilt = Release::of(&manifest("arm64", "bb"), &packages, b"template");
        assert_ne!(a.prefix, rebuilt.prefix);
        let edited = Release::of(&manifest("arm64", "aa"), &packages, b"template v2");
        assert_eq!(
            a.prefix, edited.prefix,
            "a template edit leaves the packages' keys alone"
        );
        assert_ne!(a.template_key, edited.template_key);
        assert!(
            a.template_key
                .starts_with(&format!("{}/payment-workflow-", a.prefix))
        );
        assert!(
            a.prefix.len() <= 200,
            "ArtifactKeyPrefix allows 200 characters"
        );
    }

    #[test]
    fn change_set_names_are_unique_per_run_and_valid() {
        let release = Release::of(
            &manifest("arm64", "aa"),
            &template_packages(&template("arm64")).unwrap(),
            b"t",
        );
        let first = change_set_name(&release, UNIX_EPOCH + Duration::from_secs(1_735_787_045));
        assert!(first.starts_with("deploy-20250102T030405Z-"), "{first}");
        let later = change_set_name(&release, UNIX_EPOCH + Duration::from_secs(1_735_787_046));
        assert_ne!(first, later);
        assert!(valid_change_set_name(&first) && first.len() <= 128);
        assert!(!valid_change_set_name("deploy-releases/0.1.0"));
        assert!(!valid_change_set_name("1deploy"));
        assert!(!valid_change_set_name(&"a".repeat(129)));
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
    }

    #[test]
    fn the_tool_sets_the_artifact_prefix_whatever_the_file_says() {
        let file = vec![
            ("EnvironmentSuffix".to_string(), "dev".to_string()),
            (
                "ArtifactKeyPrefix".to_string(),
                "releases/0.1.0".to_string(),
            ),
        ];
        let merged = merged_parameters(&file, "releases/abc");
        assert_eq!(
            merged
                .iter()
                .filter(|(k, _)| k == "ArtifactKeyPrefix")
                .count(),
            1
        );
        assert!(merged.contains(&("ArtifactKeyPrefix".into(), "releases/abc".into())));
        let json: serde_json::Value = serde_json::from_str(&parameters_json(&merged)).unwrap();
        assert_eq!(json[1]["ParameterValue"], "releases/abc");
    }
}
