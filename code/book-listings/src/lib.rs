//! Listing captions for the book (DESIGN.md §3; reader review §4.3 and items 15, 23).
//!
//! mdBook shows an `{{#include file:anchor}}` without saying where it came from, and keeps
//! the file's indentation, so a YAML excerpt from deep inside the template starts ten
//! columns in. This preprocessor runs before mdBook's own `links` preprocessor. For every
//! fenced block whose body is only include directives it writes a caption above the fence:
//! listing number, file and line range, derived from the directive, never typed. For
//! `{{#include}}` it also inlines the selected lines itself, with their common indentation
//! removed; `{{#rustdoc_include}}` is captioned and left to mdBook, which hides the rest of
//! the file behind `#` lines for rustdoc. A standalone include of a file outside `src/`
//! (the README's commands) is captioned too; generated tables under `src/` are prose.
//!
//! The source Markdown keeps its bare fences, so the book-drift check is unchanged, and an
//! include that names a missing file or anchor fails the build here instead of being
//! shown as raw text, as mdBook would.

use payment_workflow_book::anchors;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Where one chapter sits, which its includes and captions are relative to.
pub struct Chapter<'a> {
    /// "2" for chapter 2, "C" for Appendix C; `None` numbers no listing.
    pub label: Option<&'a str>,
    /// The folder of the chapter's file: include paths are relative to it.
    pub dir: &'a Path,
    /// The repository root: captions name files relative to it.
    pub root: &'a Path,
    /// The book's source folder: a standalone include of a file inside it is prose.
    pub src: &'a Path,
}

/// The label of a chapter: its section number, or the letter of "Appendix C: …".
pub fn label(number: Option<&[u64]>, name: &str) -> Option<String> {
    if let Some(number) = number.filter(|n| !n.is_empty()) {
        let parts: Vec<String> = number.iter().map(u64::to_string).collect();
        return Some(parts.join("."));
    }
    let rest = name.strip_prefix("Appendix ")?;
    let letter: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
    (!letter.is_empty()).then_some(letter)
}

/// The chapter's Markdown with every listing captioned and every `{{#include}}` listing
/// inlined and dedented; an error names the directive that cannot be resolved.
pub fn process(content: &str, chapter: &Chapter) -> Result<String, String> {
    let mut out = String::with_capacity(content.len() + 1024);
    let mut listings = 0;
    let mut lines = content.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(fence) = Fence::opening(line) {
            let mut body = Vec::new();
            let mut closing = None;
            for next in lines.by_ref() {
                if fence.closes(next) {
                    closing = Some(next);
                    break;
                }
                body.push(next);
            }
            let Some(closing) = closing else {
                // Unclosed: left as it is (the drift check reports it).
                out.push_str(line);
                body.iter().for_each(|l| out.push_str(l));
                break;
            };
            match listing(&body, chapter)? {
                Some(listing) => {
                    listings += 1;
                    out.push_str(&caption(&listing.sources, chapter, listings, fence.indent));
                    out.push_str(line);
                    out.push_str(&listing.body);
                }
                None => {
                    out.push_str(line);
                    body.iter().for_each(|l| out.push_str(l));
                }
            }
            out.push_str(closing);
            continue;
        }
        match standalone(line, chapter)? {
            Some(source) => {
                listings += 1;
                out.push_str(&caption(&[source], chapter, listings, 0));
                out.push_str(line);
            }
            None => out.push_str(line),
        }
    }
    Ok(out)
}

/// An opening code fence: its marker, run length and indentation (CommonMark rules).
struct Fence {
    marker: char,
    run: usize,
    indent: usize,
}

impl Fence {
    fn opening(line: &str) -> Option<Fence> {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let run = trimmed.chars().take_while(|c| *c == marker).count();
        let info = &trimmed[run..];
        let valid = run >= 3 && indent <= 3 && !(marker == '`' && info.contains('`'));
        valid.then_some(Fence {
            marker,
            run,
            indent,
        })
    }

    fn closes(&self, line: &str) -> bool {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let run = trimmed.chars().take_while(|c| *c == self.marker).count();
        indent <= 3 && run >= self.run && trimmed[run..].trim().is_empty()
    }
}

/// One include directive found on a line: its kind, target and byte span.
#[derive(Debug, PartialEq, Eq)]
struct Directive {
    rustdoc: bool,
    path: String,
    selector: Option<String>,
    start: usize,
    end: usize,
}

/// The directive that makes up the whole (trimmed) line, if any, as mdBook parses it.
fn directive(line: &str) -> Option<Directive> {
    let start = line.find("{{#")?;
    let escaped = start > 0 && line.as_bytes()[start - 1] == b'\\';
    let end = start + line[start..].find("}}")? + 2;
    if escaped || !line[..start].trim().is_empty() || !line[end..].trim().is_empty() {
        return None;
    }
    let body = line[start + 3..end - 2].trim();
    let (kind, rest) = body.split_once(char::is_whitespace)?;
    let rustdoc = match kind {
        "include" => false,
        "rustdoc_include" => true,
        _ => return None,
    };
    let target = rest.split_whitespace().next()?;
    let (path, selector) = match target.split_once(':') {
        Some((path, selector)) => (path, Some(selector.to_string())),
        None => (target, None),
    };
    Some(Directive {
        rustdoc,
        path: path.to_string(),
        selector,
        start,
        end,
    })
}

/// Where a listing's lines come from, as its caption names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file, relative to the repository root.
    pub file: String,
    /// First and last line shown (1-based, inclusive).
    pub lines: (usize, usize),
    /// The anchor, when the directive names one.
    pub anchor: Option<String>,
    /// Whether the directive shows the whole file.
    pub whole: bool,
}

struct Listing {
    sources: Vec<Source>,
    body: String,
}

/// A fence body made only of include directives becomes a listing; anything else is not.
fn listing(body: &[&str], chapter: &Chapter) -> Result<Option<Listing>, String> {
    let mut directives = Vec::new();
    for line in body.iter().filter(|l| !l.trim().is_empty()) {
        match directive(line) {
            Some(d) => directives.push((*line, d)),
            None => return Ok(None),
        }
    }
    if directives.is_empty() {
        return Ok(None);
    }
    let mut sources = Vec::new();
    let mut texts = Vec::new();
    for (_, directive) in &directives {
        let (source, text) = resolve(directive, chapter)?;
        sources.push(source);
        texts.push(text);
    }
    // rustdoc_include stays mdBook's: it hides the rest of the file for rustdoc.
    if directives.iter().any(|(_, d)| d.rustdoc) {
        return Ok(Some(Listing {
            sources,
            body: body.concat(),
        }));
    }
    let indent = common_indent(texts.iter().flat_map(|t| t.iter().map(String::as_str)));
    let mut out = String::new();
    let mut texts = texts.into_iter();
    for line in body {
        match directive(line) {
            Some(d) => {
                let text = texts.next().unwrap_or_default();
                let shown: Vec<String> = text
                    .iter()
                    .map(|l| escape(l.get(indent..).unwrap_or("").trim_end()))
                    .collect();
                // The directive's indentation (a fence inside a list item) on every line.
                let pad = &line[..d.start];
                out.push_str(pad);
                out.push_str(&shown.join(&format!("\n{pad}")));
                out.push_str(&line[d.end..]);
            }
            None => out.push_str(line),
        }
    }
    Ok(Some(Listing { sources, body: out }))
}

/// A line that is only an include of a file outside the book's sources.
fn standalone(line: &str, chapter: &Chapter) -> Result<Option<Source>, String> {
    let Some(directive) = directive(line) else {
        return Ok(None);
    };
    let file = normalize(&chapter.dir.join(&directive.path));
    if file.starts_with(normalize(chapter.src)) {
        return Ok(None);
    }
    resolve(&directive, chapter).map(|(source, _)| Some(source))
}

/// The file, line span and selected lines of one directive, with mdBook's semantics:
/// an anchor shows the lines between its markers minus any other marker line; `a:b` shows
/// lines a to b; `a` line a; `a:` from a; `:b` up to b; no selector the whole file.
fn resolve(directive: &Directive, chapter: &Chapter) -> Result<(Source, Vec<String>), String> {
    let shown = format!(
        "{{{{#{} {}{}}}}}",
        if directive.rustdoc {
            "rustdoc_include"
        } else {
            "include"
        },
        directive.path,
        directive
            .selector
            .as_deref()
            .map(|s| format!(":{s}"))
            .unwrap_or_default()
    );
    let path = chapter.dir.join(&directive.path);
    let text = fs::read_to_string(&path)
        .map_err(|e| format!("{shown}: cannot read {}: {e}", path.display()))?;
    let all: Vec<&str> = text.lines().collect();
    let file = display(&path, chapter.root);
    let count = all.len();
    let (first, last, anchor) = match range(directive.selector.as_deref()) {
        Selector::Anchor(name) => {
            let spans = anchors::scan(&text).spans;
            let &(first, last) = spans
                .get(name)
                .ok_or_else(|| format!("{shown}: no closed anchor `{name}` in {file}"))?;
            (first, last, Some(name.to_string()))
        }
        Selector::Lines(first, last) => {
            let last = last.unwrap_or(count).min(count);
            if first > last {
                return Err(format!(
                    "{shown}: selects no line of {file} ({count} lines)"
                ));
            }
            (first, last, None)
        }
    };
    let selected: Vec<String> = all[first - 1..last]
        .iter()
        .filter(|l| anchor.is_none() || !is_marker(l))
        .map(|l| l.to_string())
        .collect();
    let source = Source {
        file,
        lines: (first, last),
        whole: directive.selector.is_none(),
        anchor,
    };
    Ok((source, selected))
}

enum Selector<'a> {
    Anchor(&'a str),
    /// First line (1-based) and last line, `None` for the end of the file.
    Lines(usize, Option<usize>),
}

/// mdBook's `parse_range_or_anchor`, in 1-based inclusive lines.
fn range(selector: Option<&str>) -> Selector<'_> {
    let mut parts = selector.unwrap_or("").splitn(3, ':');
    let head = parts.next().unwrap_or("");
    let first = match head.parse::<usize>() {
        Ok(n) => Some(n.max(1)),
        Err(_) if head.is_empty() => None,
        Err(_) => return Selector::Anchor(head),
    };
    match (first, parts.next().map(str::parse::<usize>)) {
        (Some(first), Some(Ok(end))) => Selector::Lines(first, Some(end)),
        (Some(first), Some(Err(_))) => Selector::Lines(first, None),
        (Some(first), None) => Selector::Lines(first, Some(first)),
        (None, Some(Ok(end))) => Selector::Lines(1, Some(end)),
        (None, _) => Selector::Lines(1, None),
    }
}

/// A line holding an `ANCHOR:` or `ANCHOR_END:` marker (mdBook drops them from excerpts).
fn is_marker(line: &str) -> bool {
    ["ANCHOR:", "ANCHOR_END:"].iter().any(|keyword| {
        line.match_indices(keyword).any(|(at, _)| {
            line[at + keyword.len()..]
                .trim_start()
                .starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
        })
    })
}

/// The smallest indentation of the non-blank lines.
fn common_indent<'a>(lines: impl Iterator<Item = &'a str>) -> usize {
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0)
}

/// Inlined text is shown, never expanded again: `{{#` becomes mdBook's escaped `\{{#`.
fn escape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("{{#") {
        out.push_str(&rest[..at]);
        if !out.ends_with('\\') {
            out.push('\\');
        }
        out.push_str("{{#");
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

/// The caption paragraph above a listing; `indent` keeps it inside a list item.
fn caption(sources: &[Source], chapter: &Chapter, number: usize, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let (id, title) = match chapter.label {
        Some(label) => (
            format!(
                " id=\"listing-{}-{number}\"",
                label.to_ascii_lowercase().replace('.', "-")
            ),
            format!("<span class=\"listing-number\">Listing {label}.{number}</span> "),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "{pad}<p class=\"listing-caption\"{id}>{title}{}</p>\n\n",
        describe(sources)
    )
}

/// "`file` lines 3–10 (anchor `x`), 12–20 (anchor `y`); `other` whole file (24 lines)".
pub fn describe(sources: &[Source]) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for source in sources {
        let (first, last) = source.lines;
        let mut span = if source.whole {
            format!("whole file ({last} lines)")
        } else if first == last {
            format!("line {first}")
        } else {
            format!("lines {first}–{last}")
        };
        if let Some(anchor) = &source.anchor {
            span.push_str(&format!(" (anchor <code>{}</code>)", html(anchor)));
        }
        match groups.last_mut() {
            Some((file, spans)) if *file == source.file => spans.push(span),
            _ => groups.push((source.file.clone(), vec![span])),
        }
    }
    groups
        .iter()
        .map(|(file, spans)| format!("<code>{}</code> {}", html(file), spans.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `path` without `.` and `..` components (the file need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to the repository root, with `/` separators.
fn display(path: &Path, root: &Path) -> String {
    let path = normalize(path);
    let root = normalize(root);
    let shown = path.strip_prefix(&root).unwrap_or(&path);
    shown
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A throwaway repository: `src/` plus the files chapters include.
    struct Repo {
        root: PathBuf,
    }

    impl Repo {
        fn new(files: &[(&str, &str)]) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let root = std::env::temp_dir().join(format!(
                "listings-fixture-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ));
            // Chapters live in src/, which `../` paths pass through.
            fs::create_dir_all(root.join("src")).unwrap();
            for (name, text) in files {
                let path = root.join(name);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                // Fixtures spell markers `@@:` so that the book-drift check, which reads
                // every anchor under code/, does not take them for this file's anchors.
                fs::write(path, text.replace("@@", "ANCHOR")).unwrap();
            }
            Repo { root }
        }

        fn run(&self, label: Option<&str>, chapter: &str) -> Result<String, String> {
            let src = self.root.join("src");
            let chapter_info = Chapter {
                label,
                dir: &src,
                root: &self.root,
                src: &src,
            };
            process(chapter, &chapter_info)
        }
    }

    impl Drop for Repo {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    const TEMPLATE: &str = "Resources:\n  # @@: table\n  Table:\n    Type: X\n    # @@: inner\n    Properties: {}\n    # @@_END: inner\n  # @@_END: table\n";

    #[test]
    fn anchored_yaml_is_captioned_with_its_lines_and_dedented() {
        let repo = Repo::new(&[("templates/t.yaml", TEMPLATE)]);
        let out = repo
            .run(
                Some("2"),
                "Intro.\n\n```yaml\n{{#include ../templates/t.yaml:table}}\n```\n",
            )
            .unwrap();
        assert_eq!(
            out,
            "Intro.\n\n<p class=\"listing-caption\" id=\"listing-2-1\">\
             <span class=\"listing-number\">Listing 2.1</span> \
             <code>templates/t.yaml</code> lines 3–7 (anchor <code>table</code>)</p>\n\n\
             ```yaml\nTable:\n  Type: X\n  Properties: {}\n```\n"
        );
    }

    #[test]
    fn listings_are_numbered_in_order_and_prose_is_untouched() {
        let repo = Repo::new(&[
            ("templates/t.yaml", TEMPLATE),
            ("src/generated/table.md", "| a |\n| --- |\n"),
        ]);
        let chapter = "```yaml\n{{#include ../templates/t.yaml:inner}}\n```\n\n\
                       {{#include generated/table.md}}\n\n```rust\nfn main() {}\n```\n\n\
                       ```text\n{{#include ../templates/t.yaml:2:3}}\n```\n";
        let out = repo.run(Some("C"), chapter).unwrap();
        assert!(out.contains("Listing C.1</span> <code>templates/t.yaml</code> line 6 (anchor <code>inner</code>)"), "{out}");
        assert!(
            out.contains("Listing C.2</span> <code>templates/t.yaml</code> lines 2–3</p>"),
            "{out}"
        );
        // A generated table is prose, an executed Rust block is not a listing.
        assert!(out.contains("\n{{#include generated/table.md}}\n"), "{out}");
        assert!(out.contains("```rust\nfn main() {}\n```"), "{out}");
        assert_eq!(out.matches("listing-caption").count(), 2, "{out}");
        // A line range keeps marker lines, as mdBook's include does.
        assert!(
            out.contains(&"```text\n# @@: table\nTable:\n```".replace("@@", "ANCHOR")),
            "{out}"
        );
    }

    #[test]
    fn two_includes_of_one_file_share_a_caption_and_an_indent() {
        let repo = Repo::new(&[(
            "bench/in.yaml",
            "a:\n  # @@: x\n  x: 1\n  # @@_END: x\n  # @@: y\n  y:\n    z: 2\n  # @@_END: y\n",
        )]);
        let out = repo
            .run(
                Some("F"),
                "```yaml\n{{#include ../bench/in.yaml:x}}\n{{#include ../bench/in.yaml:y}}\n```\n",
            )
            .unwrap();
        assert!(out.contains("<code>bench/in.yaml</code> line 3 (anchor <code>x</code>), lines 6–7 (anchor <code>y</code>)</p>"), "{out}");
        assert!(out.contains("```yaml\nx: 1\ny:\n  z: 2\n```"), "{out}");
    }

    #[test]
    fn rustdoc_include_is_captioned_and_left_to_mdbook() {
        let repo = Repo::new(&[(
            "code/lib.rs",
            "use x;\n// @@: f\n    fn f() {}\n// @@_END: f\n",
        )]);
        let fence = "```rust,ignore\n{{#rustdoc_include ../code/lib.rs:f}}\n```\n";
        let out = repo.run(Some("1"), fence).unwrap();
        assert!(out.ends_with(fence), "{out}");
        assert!(out.contains("<code>code/lib.rs</code> line 3 (anchor <code>f</code>)"));
    }

    #[test]
    fn whole_files_and_standalone_includes_outside_src_are_listings() {
        let repo = Repo::new(&[
            ("tools/req.txt", "a==1\nb==2\n"),
            (
                "README.md",
                "<!-- @@: c -->\n```console\ncargo x\n```\n<!-- @@_END: c -->\n",
            ),
        ]);
        let out = repo
            .run(
                None,
                "```text\n{{#include ../tools/req.txt}}\n```\n\n{{#include ../README.md:c}}\n",
            )
            .unwrap();
        assert!(out.starts_with("<p class=\"listing-caption\"><code>tools/req.txt</code> whole file (2 lines)</p>\n\n```text\na==1\nb==2\n```\n"), "{out}");
        assert!(out.contains("<p class=\"listing-caption\"><code>README.md</code> lines 2–4 (anchor <code>c</code>)</p>\n\n{{#include ../README.md:c}}\n"), "{out}");
    }

    #[test]
    fn included_directives_are_escaped_and_escaped_ones_are_not_listings() {
        let repo = Repo::new(&[("code/doc.rs", "// {{#include x}}\n")]);
        let out = repo
            .run(
                Some("1"),
                "```rust\n{{#include ../code/doc.rs}}\n```\n\nWrite `\\{{#include f:a}}`.\n\\{{#include ../code/doc.rs}}\n",
            )
            .unwrap();
        assert!(out.contains("```rust\n// \\{{#include x}}\n```"), "{out}");
        assert_eq!(out.matches("listing-caption").count(), 1, "{out}");
    }

    #[test]
    fn a_missing_anchor_or_file_fails_naming_the_directive() {
        let repo = Repo::new(&[("templates/t.yaml", TEMPLATE)]);
        let err = repo
            .run(
                Some("2"),
                "```yaml\n{{#include ../templates/t.yaml:nope}}\n```\n",
            )
            .unwrap_err();
        assert!(
            err.contains("{{#include ../templates/t.yaml:nope}}")
                && err.contains("no closed anchor `nope`"),
            "{err}"
        );
        let err = repo
            .run(Some("2"), "```yaml\n{{#include ../gone.yaml}}\n```\n")
            .unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn a_fence_in_a_list_item_keeps_its_caption_in_the_item() {
        let repo = Repo::new(&[("templates/t.yaml", TEMPLATE)]);
        let out = repo
            .run(
                Some("4"),
                "- item\n\n  ```yaml\n  {{#include ../templates/t.yaml:inner}}\n  ```\n",
            )
            .unwrap();
        assert!(
            out.contains("\n  <p class=\"listing-caption\" id=\"listing-4-1\">"),
            "{out}"
        );
        assert!(
            out.contains("  ```yaml\n  Properties: {}\n  ```\n"),
            "{out}"
        );
    }

    #[test]
    fn labels_come_from_the_section_number_or_the_appendix_letter() {
        assert_eq!(label(Some(&[2]), "Resource Wiring").as_deref(), Some("2"));
        assert_eq!(label(Some(&[3, 1]), "x").as_deref(), Some("3.1"));
        assert_eq!(
            label(None, "Appendix C: The functions").as_deref(),
            Some("C")
        );
        assert_eq!(label(None, "About this book"), None);
    }

    #[test]
    fn unclosed_fences_and_plain_fences_pass_through() {
        let repo = Repo::new(&[]);
        let text = "```yaml\na: 1\n```\n\n```text\nnever closed\n";
        assert_eq!(repo.run(Some("1"), text).unwrap(), text);
    }
}
