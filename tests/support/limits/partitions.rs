//! AWS's partitions and their Regions, read from the SDK's endpoint data in the project venv
//! (botocore's `endpoints.json` and `partitions.json`), never from a hand-written list: a
//! Region added by a newer SDK lengthens the worst case without anyone editing a test.
//!
//! The venv holds two botocore copies: boto3's (`site-packages/botocore`) and the one awscli
//! vendors (`site-packages/awscli/botocore`), which is newer and knows more Regions
//! (`us-isof-south-1`, `aws-eusc`). Every copy found is read and the Regions are merged.

use crate::repo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// `AWS::Partition`: aws, aws-cn, aws-us-gov, …
    pub name: String,
    /// `AWS::URLSuffix`: amazonaws.com, amazonaws.com.cn, …
    pub dns_suffix: String,
    /// Real Regions, sorted (pseudo-Regions such as `aws-global` are left out).
    pub regions: Vec<String>,
}

impl Partition {
    /// The partition's longest Region name (the worst case for a name that embeds it).
    pub fn longest_region(&self) -> Option<&str> {
        self.regions
            .iter()
            .map(String::as_str)
            .max_by_key(|r| r.len())
    }
}

/// Every partition the SDK data of the project venv knows, sorted by name.
pub fn load() -> Vec<Partition> {
    let files = data_files(&repo::root().join(".tools/venv/lib"));
    assert!(
        !files.is_empty(),
        "no botocore endpoint data under .tools/venv/lib/python3*/site-packages: run `cargo xtask setup`"
    );
    let documents: Vec<Value> = files
        .iter()
        .map(|path| {
            let text =
                fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect();
    merge(&documents).unwrap_or_else(|e| panic!("SDK endpoint data: {e}"))
}

/// `endpoints.json` and `partitions.json` of every botocore copy in the venv's site-packages.
pub fn data_files(venv_lib: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let pythons = fs::read_dir(venv_lib).into_iter().flatten().flatten();
    for python in pythons.filter(|e| e.file_name().to_string_lossy().starts_with("python3")) {
        let site = python.path().join("site-packages");
        let packages = fs::read_dir(&site).into_iter().flatten().flatten();
        for package in packages {
            for data in [
                package.path().join("data"),
                package.path().join("botocore/data"),
            ] {
                let is_botocore = data
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "botocore");
                for file in ["endpoints.json", "partitions.json"] {
                    if is_botocore && data.join(file).is_file() {
                        found.push(data.join(file));
                    }
                }
            }
        }
    }
    found.sort();
    found
}

/// Merges endpoint documents (`{"partitions": [{"partition", "dnsSuffix", "regions"}]}`) and
/// partition documents (`{"partitions": [{"id", "outputs": {"dnsSuffix"}, "regions"}]}`).
pub fn merge(documents: &[Value]) -> Result<Vec<Partition>, String> {
    let mut merged: BTreeMap<String, Partition> = BTreeMap::new();
    for document in documents {
        let partitions = document["partitions"]
            .as_array()
            .ok_or("a document without `partitions`")?;
        for p in partitions {
            let name = p["partition"]
                .as_str()
                .or_else(|| p["id"].as_str())
                .ok_or("a partition without a name")?;
            let suffix = p["dnsSuffix"]
                .as_str()
                .or_else(|| p["outputs"]["dnsSuffix"].as_str())
                .ok_or_else(|| format!("{name} has no dnsSuffix"))?;
            let entry = merged.entry(name.to_string()).or_insert_with(|| Partition {
                name: name.to_string(),
                dns_suffix: suffix.to_string(),
                regions: Vec::new(),
            });
            if entry.dns_suffix != suffix {
                return Err(format!(
                    "{name}: dnsSuffix {} in one copy, {suffix} in another",
                    entry.dns_suffix
                ));
            }
            let regions = p["regions"].as_object().into_iter().flat_map(|m| m.keys());
            for region in regions.filter(|r| is_real_region(r)) {
                if !entry.regions.contains(region) {
                    entry.regions.push(region.clone());
                }
            }
            entry.regions.sort();
        }
    }
    Ok(merged.into_values().collect())
}

/// Real Regions end in a number (`eu-west-1`); pseudo-Regions do not (`aws-global`).
fn is_real_region(name: &str) -> bool {
    name.rsplit('-')
        .next()
        .is_some_and(|last| !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn copies_are_merged_and_pseudo_regions_dropped() {
        let old = json!({"partitions": [
            {"partition": "aws", "dnsSuffix": "amazonaws.com", "regions": {"us-east-1": {}}},
            {"partition": "aws-iso-f", "dnsSuffix": "csp.hci.ic.gov", "regions": {}}
        ]});
        let new = json!({"partitions": [
            {"id": "aws-iso-f", "outputs": {"dnsSuffix": "csp.hci.ic.gov"},
             "regions": {"aws-iso-f-global": {}, "us-isof-south-1": {}}}
        ]});
        let merged = merge(&[old, new]).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[1].regions, ["us-isof-south-1"]);
        assert_eq!(merged[1].longest_region(), Some("us-isof-south-1"));
    }

    #[test]
    fn disagreeing_copies_are_an_error() {
        let a = json!({"partitions": [{"partition": "aws", "dnsSuffix": "a", "regions": {}}]});
        let b = json!({"partitions": [{"partition": "aws", "dnsSuffix": "b", "regions": {}}]});
        assert!(merge(&[a, b]).is_err());
    }
}
