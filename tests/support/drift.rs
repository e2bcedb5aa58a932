//! The book-drift check (DESIGN.md §3): every code fence in `src/**/*.md` shows a file that
//! is compiled, linted or deployed — by `{{#include}}` / `{{#rustdoc_include}}` of an
//! existing file and anchor — or is a block that something executes (Rust compiled by
//! `mdbook test`, mermaid rendered and checked in a browser). Anything else could drift
//! from the code unnoticed, so it is a finding with its file and line.

use crate::anchors;
use crate::repo;
use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// One problem, located at a line of a chapter or of an included file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Source trees whose anchors must be well formed even before a chapter includes them.
const ANCHORED_TREES: [&str; 3] = ["templates", "code", "tests"];
/// This checker's own sources, whose fixtures hold broken anchors on purpose.
const CHECKER: &str = "tests/support";
const ANCHORED_SUFFIXES: [&str; 6] = [".yaml", ".rs", ".guard", ".json", ".txt", ".sh"];

/// Checks the whole book under `root/src` and the anchors of the trees it draws from.
pub fn check_book(root: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut anchored: BTreeSet<PathBuf> = BTreeSet::new();
    // Generated tables are compared with their generator by their own tests; the chapters
    // that include them are checked here.
    let generated = root.join("src/generated");
    for chapter in repo::files_with_suffix(&root.join("src"), ".md") {
        if chapter.starts_with(&generated) {
            continue;
        }
        let text = fs::read_to_string(&chapter).unwrap_or_default();
        let shown = PathBuf::from(repo::display(&chapter, root));
        findings.extend(check_chapter(&chapter, &shown, &text, &mut anchored));
    }
    for tree in ANCHORED_TREES {
        for suffix in ANCHORED_SUFFIXES {
            let files = repo::files_with_suffix(&root.join(tree), suffix);
            anchored.extend(
                files
                    .into_iter()
                    .filter(|f| !f.starts_with(root.join(CHECKER))),
            );
        }
    }
    for file in anchored {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (line, message) in anchors::scan(&text).problems {
            let file = PathBuf::from(repo::display(&file, root));
            findings.push(Finding {
                file,
                line,
                message,
            });
        }
    }
    findings
}

/// Checks one chapter; `path` locates its includes, `shown` names it in findings.
/// Every file it includes is added to `included` for the anchor check.
pub fn check_chapter(
    path: &Path,
    shown: &Path,
    text: &str,
    included: &mut BTreeSet<PathBuf>,
) -> Vec<Finding> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut findings = Vec::new();
    let mut report = |line: usize, message: String| {
        findings.push(Finding {
            file: shown.to_path_buf(),
            line,
            message,
        });
    };

    for (number, directive) in directives(text) {
        match resolve(base, &directive) {
            Ok(file) => {
                included.insert(file);
            }
            Err(message) => report(number, message),
        }
    }
    for fence in fences(text) {
        if let Some(message) = judge(&fence) {
            report(fence.line, message);
        }
    }
    findings
}

/// An include directive: the file and, when given, an anchor or a line range.
#[derive(Debug, PartialEq, Eq)]
struct Directive {
    kind: String,
    path: String,
    selector: Option<String>,
}

/// Every `{{#include …}}` / `{{#rustdoc_include …}}` not escaped with a backslash.
fn directives(text: &str) -> Vec<(usize, Directive)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut rest = line;
        let mut offset = 0;
        while let Some(start) = rest.find("{{#") {
            let escaped = start > 0 && rest.as_bytes()[start - 1] == b'\\';
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else { break };
            let body = after[..end].trim();
            let (kind, target) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
            // Like mdBook, a directive needs a target: a bare `{{#include}}` is prose.
            let target = target.split_whitespace().next().unwrap_or("");
            if !escaped && !target.is_empty() && (kind == "include" || kind == "rustdoc_include") {
                let (path, selector) = match target.split_once(':') {
                    Some((path, selector)) => (path, Some(selector.to_string())),
                    None => (target, None),
                };
                let directive = Directive {
                    kind: kind.to_string(),
                    path: path.to_string(),
                    selector,
                };
                found.push((index + 1, directive));
            }
            offset += start + 3 + end + 2;
            rest = &line[offset..];
        }
    }
    found
}

/// The included file when the directive's path, anchor or line range exists.
fn resolve(base: &Path, directive: &Directive) -> Result<PathBuf, String> {
    let name = format!("{{{{#{} {}}}}}", directive.kind, directive.path);
    let file = base.join(&directive.path);
    let text = fs::read_to_string(&file)
        .map_err(|_| format!("{name}: file {} does not exist", directive.path))?;
    let Some(selector) = directive.selector.as_deref() else {
        return Ok(file);
    };
    let numeric = selector
        .split(':')
        .all(|part| part.is_empty() || part.parse::<usize>().is_ok());
    if numeric {
        let lines = text.lines().count();
        let beyond = selector
            .split(':')
            .filter_map(|part| part.parse::<usize>().ok())
            .find(|&line| line > lines);
        return match beyond {
            Some(line) => Err(format!(
                "{name}:{selector}: line {line} is past the end ({lines} lines)"
            )),
            None => Ok(file),
        };
    }
    let found = anchors::scan(&text);
    match found.spans.get(selector) {
        Some(_) => Ok(file),
        None if text.contains(&format!("ANCHOR: {selector}")) => Err(format!(
            "{name}:{selector}: anchor is never closed in {}",
            directive.path
        )),
        None => Err(format!(
            "{name}:{selector}: no anchor {selector} in {}",
            directive.path
        )),
    }
}

/// A fenced block: its opening line, info string and body lines.
#[derive(Debug)]
struct Fence {
    line: usize,
    info: String,
    body: Vec<String>,
}

/// The fenced code blocks of a Markdown text (CommonMark fences, backticks or tildes).
fn fences(text: &str) -> Vec<Fence> {
    let mut found = Vec::new();
    let mut open: Option<(char, usize, Fence)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match open.take() {
            Some((c, width, fence)) => {
                let closes = marker == Some(c)
                    && run >= width
                    && indent <= 3
                    && trimmed[run..].trim().is_empty();
                if closes {
                    found.push(fence);
                } else {
                    let mut fence = fence;
                    fence.body.push(line.to_string());
                    open = Some((c, width, fence));
                }
            }
            None => {
                if let Some(c) = marker.filter(|_| run >= 3 && indent <= 3) {
                    let info = trimmed[run..].trim().to_string();
                    let fence = Fence {
                        line: index + 1,
                        info,
                        body: Vec::new(),
                    };
                    open = Some((c, run, fence));
                }
            }
        }
    }
    if let Some((_, _, fence)) = open {
        found.push(Fence {
            info: format!("{} (never closed)", fence.info),
            ..fence
        });
    }
    found
}

/// Why a fence may drift from the code, or `None` when something checks it.
fn judge(fence: &Fence) -> Option<String> {
    if fence.info.ends_with("(never closed)") {
        return Some("code fence is never closed".to_string());
    }
    let mut words = fence.info.split(|c: char| c == ',' || c.is_whitespace());
    let language = words.next().unwrap_or("").to_ascii_lowercase();
    let attributes: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
    if language.is_empty() {
        return Some(
            "code fence has no language: mdbook test would compile it as Rust; name one".into(),
        );
    }
    let lines: Vec<&str> = fence
        .body
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let only_includes = !lines.is_empty()
        && lines.iter().all(|l| {
            (l.starts_with("{{#include ") || l.starts_with("{{#rustdoc_include "))
                && l.ends_with("}}")
        });
    if only_includes || language == "mermaid" {
        return None;
    }
    if language == "rust" {
        return attributes.contains(&"ignore").then(|| {
            "`rust,ignore` block is compiled by nothing: include it from a crate source instead"
                .to_string()
        });
    }
    Some(format!(
        "`{language}` fence has literal content that nothing checks: \
         show it with {{{{#include file:anchor}}}} from a tested file"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A throwaway book: `src/chapter.md` plus the files it may include.
    struct Fixture {
        dir: PathBuf,
    }

    impl Fixture {
        fn new(files: &[(&str, &str)]) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "drift-fixture-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ));
            for (name, text) in files {
                let path = dir.join(name);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, text).unwrap();
            }
            Fixture { dir }
        }

        fn findings(&self) -> Vec<String> {
            check_book(&self.dir)
                .iter()
                .map(ToString::to_string)
                .collect()
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    const TEMPLATE: &str = "Resources:\n  # ANCHOR: table\n  Table: {}\n  # ANCHOR_END: table\n";

    #[test]
    fn anchored_include_of_a_real_file_passes() {
        let book = Fixture::new(&[
            ("templates/t.yaml", TEMPLATE),
            (
                "src/chapter.md",
                "# C\n\n```yaml\n{{#include ../templates/t.yaml:table}}\n```\n",
            ),
        ]);
        assert_eq!(book.findings(), Vec::<String>::new());
    }

    #[test]
    fn missing_anchor_is_reported_with_file_and_line() {
        let book = Fixture::new(&[
            ("templates/t.yaml", TEMPLATE),
            (
                "src/chapter.md",
                "# C\n\n```yaml\n{{#include ../templates/t.yaml:queue}}\n```\n",
            ),
        ]);
        let findings = book.findings();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].starts_with("src/chapter.md:4: "),
            "{}",
            findings[0]
        );
        assert!(findings[0].contains("no anchor queue"), "{}", findings[0]);
    }

    #[test]
    fn unclosed_anchor_is_reported_in_the_source_file() {
        let book = Fixture::new(&[
            ("templates/t.yaml", "# ANCHOR: table\nTable: {}\n"),
            (
                "src/chapter.md",
                "```yaml\n{{#include ../templates/t.yaml:table}}\n```\n",
            ),
        ]);
        let findings = book.findings().join("\n");
        assert!(findings.contains("src/chapter.md:2: "), "{findings}");
        assert!(
            findings.contains("templates/t.yaml:1: ANCHOR: table is never closed"),
            "{findings}"
        );
    }

    #[test]
    fn missing_file_is_reported() {
        let book = Fixture::new(&[(
            "src/chapter.md",
            "```yaml\n{{#include ../nope.yaml}}\n```\n",
        )]);
        let findings = book.findings();
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].contains("src/chapter.md:2: ") && findings[0].contains("does not exist")
        );
    }

    #[test]
    fn literal_yaml_fence_is_untested() {
        let book = Fixture::new(&[("src/a/chapter.md", "text\n\n```yaml\nTable: {}\n```\n")]);
        let findings = book.findings();
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].starts_with("src/a/chapter.md:3: `yaml` fence"),
            "{}",
            findings[0]
        );
    }

    #[test]
    fn fence_without_language_and_ignored_rust_are_findings() {
        let book = Fixture::new(&[(
            "src/chapter.md",
            "```\nplain\n```\n\n```rust,ignore\nfn main() {}\n```\n",
        )]);
        let findings = book.findings().join("\n");
        assert!(
            findings.contains("chapter.md:1: code fence has no language"),
            "{findings}"
        );
        assert!(
            findings.contains("chapter.md:5: `rust,ignore`"),
            "{findings}"
        );
    }

    #[test]
    fn tested_rust_mermaid_and_escaped_directives_pass() {
        let book = Fixture::new(&[(
            "src/chapter.md",
            "```rust\nfn main() {}\n```\n\n```mermaid\nflowchart LR\n  a --> b\n```\n\n\
             Write `\\{{#include file:anchor}}` to show code.\n",
        )]);
        assert_eq!(book.findings(), Vec::<String>::new());
    }

    #[test]
    fn tilde_fences_and_longer_backtick_runs_are_parsed() {
        let book = Fixture::new(&[(
            "src/chapter.md",
            "~~~~text\n```\nnot a close\n```\n~~~~\n\n````json\n{}\n````\n",
        )]);
        let findings = book.findings();
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings[0].contains(":1: `text`") && findings[1].contains(":7: `json`"));
    }

    #[test]
    fn unclosed_fence_is_a_finding() {
        let book = Fixture::new(&[("src/chapter.md", "para\n\n```rust\nfn main() {}\n")]);
        assert_eq!(
            book.findings(),
            vec!["src/chapter.md:3: code fence is never closed"]
        );
    }

    #[test]
    fn line_ranges_past_the_end_are_reported() {
        let book = Fixture::new(&[
            ("templates/t.yaml", TEMPLATE),
            (
                "src/chapter.md",
                "```yaml\n{{#include ../templates/t.yaml:2:40}}\n```\n",
            ),
        ]);
        let findings = book.findings();
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].contains("line 40 is past the end (4 lines)"),
            "{}",
            findings[0]
        );
    }
}
