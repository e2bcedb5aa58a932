//! Every code fence in the book shows a checked file or is itself executed (DESIGN.md §3).

use payment_workflow_book::{drift, repo};

#[test]
fn every_fence_in_the_book_is_included_or_tested() {
    let findings = drift::check_book(&repo::root());
    let report: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "the book drifts from the code:\n{}",
        report.join("\n")
    );
}

/// Every test or rule the book names by its identifier (`a_failed_attempt_releases_its_own_claim`,
/// `AUDIT_LOGS_KEPT_A_YEAR`) still exists in the repository: a renamed test must not leave
/// the book citing evidence nobody runs.
#[test]
fn every_test_and_rule_the_book_names_exists() {
    let root = repo::root();
    let name = regex::Regex::new(r"`([a-z0-9]+(?:_[a-z0-9]+){3,}|[A-Z0-9]+(?:_[A-Z0-9]+){2,})`")
        .expect("pattern");
    let mut cited = std::collections::BTreeSet::new();
    for chapter in files(&root.join("src"), "md") {
        if chapter.components().any(|c| c.as_os_str() == "generated") {
            continue; // generated tables are checked by the tests that write them
        }
        let text = std::fs::read_to_string(&chapter).expect("chapter");
        cited.extend(name.captures_iter(&text).map(|c| c[1].to_string()));
    }
    let mut sources = String::new();
    for dir in ["code", "tests", "tools", "templates", ".github"] {
        for ext in ["rs", "py", "guard", "yaml", "yml", "json", "toml"] {
            for file in files(&root.join(dir), ext) {
                sources.push_str(&std::fs::read_to_string(&file).unwrap_or_default());
            }
        }
    }
    let missing: Vec<&String> = cited
        .iter()
        .filter(|id| !sources.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the book names tests or rules that do not exist: {missing:?}"
    );
}

/// The generated end-to-end table: its distinct scenario numbers.
fn e2e_scenarios(table: &str) -> std::collections::BTreeSet<u32> {
    let number = regex::Regex::new(r"(?m)^\| (\d+) ").expect("pattern");
    number
        .captures_iter(table)
        .map(|c| c[1].parse().expect("a scenario number"))
        .collect()
}

/// Every "N scenarios" / "N end-to-end scenarios" in `text` that is not `count`.
fn stale_scenario_counts(text: &str, count: usize) -> Vec<String> {
    let stated = regex::Regex::new(r"\b(\d+) (?:end-to-end )?scenarios\b").expect("pattern");
    stated
        .captures_iter(text)
        .filter(|c| c[1].parse::<usize>() != Ok(count))
        .map(|c| c[0].to_string())
        .collect()
}

/// A count of the end-to-end scenarios written in prose is the suite's count (from the
/// generated results), so adding a scenario without updating the book fails here.
#[test]
fn the_scenario_count_the_book_states_is_the_suites() {
    let root = repo::root();
    let table = std::fs::read_to_string(root.join("src/generated/e2e-results.md")).expect("table");
    let count = e2e_scenarios(&table).len();
    assert!(count > 0, "no scenario in the generated table");
    let mut stale = Vec::new();
    for file in files(&root.join("src"), "md")
        .into_iter()
        .chain([root.join("README.md")])
    {
        let text = std::fs::read_to_string(&file).expect("a page");
        for found in stale_scenario_counts(&text, count) {
            stale.push(format!(
                "{}: \"{found}\" (the suite has {count})",
                file.display()
            ));
        }
    }
    assert!(stale.is_empty(), "{}", stale.join("\n"));
    // Mutant: the book one scenario behind.
    assert_eq!(
        stale_scenario_counts(&format!("the {} scenarios", count - 1), count).len(),
        1
    );
}

/// Files under `dir` with extension `ext`, skipping what git ignores here (node_modules,
/// caches).
fn files(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let skip = ["node_modules", "__pycache__", "target"];
        if path.is_dir() {
            if !skip.iter().any(|s| path.ends_with(s)) {
                found.extend(files(&path, ext));
            }
        } else if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    found
}
