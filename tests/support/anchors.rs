//! mdBook anchors (`ANCHOR: name` … `ANCHOR_END: name`) in any source file.
//!
//! mdBook silently includes nothing for a missing anchor and everything after an
//! unclosed one, so both are errors here.

use std::collections::BTreeMap;

/// The line span (1-based, markers excluded) of each anchor found in a file.
#[derive(Debug, Default)]
pub struct Anchors {
    pub spans: BTreeMap<String, (usize, usize)>,
    pub problems: Vec<(usize, String)>,
}

/// Reads the anchor markers of one file's text.
pub fn scan(text: &str) -> Anchors {
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = Anchors::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some(name) = marker(line, "ANCHOR_END:") {
            match open.remove(&name) {
                Some(start) => {
                    anchors.spans.insert(name, (start + 1, number - 1));
                }
                None => anchors.problems.push((
                    number,
                    format!("ANCHOR_END: {name} has no ANCHOR before it"),
                )),
            }
        } else if let Some(name) = marker(line, "ANCHOR:") {
            if anchors.spans.contains_key(&name) || open.contains_key(&name) {
                anchors
                    .problems
                    .push((number, format!("anchor {name} is defined twice")));
            }
            open.insert(name, number);
        }
    }
    for (name, start) in open {
        anchors.problems.push((
            start,
            format!("ANCHOR: {name} is never closed by ANCHOR_END: {name}"),
        ));
    }
    anchors
}

/// The anchor name after `keyword`, with mdBook's rule: word characters, `_` and `-`.
fn marker(line: &str, keyword: &str) -> Option<String> {
    let rest = &line[line.find(keyword)? + keyword.len()..];
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_anchor_spans_the_lines_between_markers() {
        let anchors = scan("a\n# ANCHOR: api\nb\nc\n# ANCHOR_END: api\n");
        assert_eq!(anchors.spans["api"], (3, 4));
        assert!(anchors.problems.is_empty());
    }

    #[test]
    fn unclosed_anchor_is_reported_at_its_line() {
        let anchors = scan("x\n// ANCHOR: handler\nfn f() {}\n");
        assert_eq!(anchors.problems.len(), 1);
        assert_eq!(anchors.problems[0].0, 2);
        assert!(anchors.problems[0].1.contains("never closed"));
    }

    #[test]
    fn end_without_start_and_duplicates_are_reported() {
        let anchors =
            scan("# ANCHOR_END: a\n# ANCHOR: b\n# ANCHOR_END: b\n# ANCHOR: b\n# ANCHOR_END: b\n");
        let messages: Vec<_> = anchors.problems.iter().map(|p| p.1.as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("no ANCHOR before")));
        assert!(messages.iter().any(|m| m.contains("defined twice")));
    }
}
