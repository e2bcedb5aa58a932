//! The browser check: headless Chromium looks at the built book as a reader would.
//!
//! - Mermaid: the architecture chapter's diagrams must become `<svg>` holding their labels
//!   (mermaid draws a "Syntax error" picture instead when the source is wrong).
//! - Tables: every page is laid out at a desktop width (1400 px) and a phone width
//!   (412 px), and no table may be wider than the column it sits in: mdBook wraps tables in
//!   a scrolling `.table-wrapper`, so a wider table hides its last columns behind a
//!   scrollbar (reader review §1, item 17). theme/book.css makes them wrap.
//!
//! The tables are measured by a harness page in `target/browser/` that loads each page in
//! an iframe of the given width (the iframe is the page's viewport, so media queries
//! apply) and writes what it measured into its own DOM, which `--dump-dom` prints: one
//! Chromium run per width instead of one per page.

use crate::project::Project;
use crate::shell;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::time::Instant;

const PAGE: &str = "book/html/01-reference-architecture.html";
/// Node labels the rendered diagram must show.
const LABELS: [&str; 4] = ["API Gateway", "validator", "settlement", "audit_logs"];
/// The widths every page is laid out at: the reviewer's desktop and a common phone.
const WIDTHS: [(&str, u32); 2] = [("desktop", 1400), ("phone", 412)];
/// Built pages that are not chapters: the print page repeats every chapter.
const NOT_CHAPTERS: [&str; 3] = ["print.html", "404.html", "toc.html"];

pub fn check(project: &Project) -> Result<(), String> {
    let mermaid = mermaid(project);
    let tables = tables(project);
    match (mermaid, tables) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(a), Err(b)) => Err(format!("{a}\n{b}")),
        (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
    }
}

fn mermaid(project: &Project) -> Result<(), String> {
    let page = project.target(PAGE);
    if !page.exists() {
        return Err(format!(
            "{} is missing: build the book first",
            page.display()
        ));
    }
    let url = format!("file://{}", page.display());
    let out_dir = project.target("browser");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let profile = out_dir.join("profile");

    let mut dump = chromium(project, &profile);
    dump.args(["--virtual-time-budget=20000", "--dump-dom", &url]);
    let dom = shell::output(dump)?;
    fs::write(out_dir.join("reference-architecture.dom.html"), &dom)
        .map_err(|e| format!("saving the DOM: {e}"))?;
    verify_dom(&dom)?;

    let screenshot = out_dir.join("reference-architecture.png");
    let mut shot = chromium(project, &profile);
    shot.args([
        "--virtual-time-budget=20000",
        "--window-size=1280,2400",
        "--hide-scrollbars",
    ])
    .arg(format!("--screenshot={}", screenshot.display()))
    .arg(&url);
    shell::output(shot)?;
    println!(
        "    mermaid rendered to <svg>; screenshot {}",
        screenshot.display()
    );
    Ok(())
}

/// Chromium with the flags this closed network needs (no background connections).
pub fn chromium(project: &Project, profile: &Path) -> std::process::Command {
    let mut command = shell::command(project, "chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Every `class="mermaid"` element holds an svg with the diagram's labels.
fn verify_dom(dom: &str) -> Result<(), String> {
    let blocks: Vec<&str> = dom.split("class=\"mermaid\"").skip(1).collect();
    if blocks.is_empty() {
        return Err("the page has no mermaid block".into());
    }
    for (index, block) in blocks.iter().enumerate() {
        let element = &block[..block.find("</pre>").unwrap_or(block.len())];
        if !element.contains("<svg") {
            return Err(format!(
                "mermaid block {} was not rendered to <svg>",
                index + 1
            ));
        }
        if element.contains("Syntax error") {
            return Err(format!(
                "mermaid block {} rendered a syntax error",
                index + 1
            ));
        }
    }
    let missing: Vec<&str> = LABELS
        .iter()
        .copied()
        .filter(|l| !dom.contains(l))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("the rendered diagram lacks the labels {missing:?}"))
    }
}

/// Lays every chapter page out at each width and fails naming every table that is wider
/// than its column.
fn tables(project: &Project) -> Result<(), String> {
    let html = project.target("book/html");
    let mut pages: Vec<String> = fs::read_dir(&html)
        .map_err(|e| format!("{}: {e}: build the book first", html.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".html") && !NOT_CHAPTERS.contains(&name.as_str()))
        .collect();
    pages.sort();
    if pages.is_empty() {
        return Err(format!("{} holds no page", html.display()));
    }
    let out_dir = project.target("browser");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut problems = Vec::new();
    for (name, width) in WIDTHS {
        let started = Instant::now();
        let harness = out_dir.join(format!("tables-{width}.html"));
        let relative: Vec<String> = pages.iter().map(|p| format!("../book/html/{p}")).collect();
        fs::write(&harness, harness_html(&relative, width))
            .map_err(|e| format!("{}: {e}", harness.display()))?;
        let mut dump = chromium(project, &out_dir.join("profile"));
        dump.args([
            "--virtual-time-budget=120000",
            "--window-size=1500,1000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", harness.display()));
        let dom = shell::output(dump)?;
        fs::write(out_dir.join(format!("tables-{width}.dom.html")), &dom)
            .map_err(|e| format!("saving the DOM: {e}"))?;
        let report = parse_report(&dom)?;
        let count: u64 = report.iter().filter_map(|p| p["tables"].as_u64()).sum();
        match verify_tables(&report, &relative, name, width) {
            Ok(()) => println!(
                "    tables at {width} px ({name}): {count} tables on {} pages fit their column ({:.1} s)",
                pages.len(),
                started.elapsed().as_secs_f64()
            ),
            Err(message) => problems.push(message),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The harness page: loads each page in an iframe `width` px wide, one after the other,
/// and writes, as JSON in `<pre id="result">`, every table wider than its column.
fn harness_html(pages: &[String], width: u32) -> String {
    let pages = serde_json::to_string(pages).expect("page names serialize");
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>table check at {width} px</title></head>
<body>
<pre id="result">pending</pre>
<script>
const pages = {pages};
const width = {width};
// The nearest heading above the table, and its header row: how a reader finds it.
function name(table) {{
  let node = table.closest('.table-wrapper') || table;
  while (node && node.tagName !== 'MAIN') {{
    let sibling = node.previousElementSibling;
    while (sibling) {{
      if (/^H[1-6]$/.test(sibling.tagName)) return sibling.textContent.trim();
      sibling = sibling.previousElementSibling;
    }}
    node = node.parentElement;
  }}
  return '';
}}
async function measure(page) {{
  const frame = document.createElement('iframe');
  frame.style.width = width + 'px';
  frame.style.height = '1000px';
  const loaded = new Promise(resolve => frame.onload = resolve);
  frame.src = page;
  document.body.appendChild(frame);
  await loaded;
  const doc = frame.contentDocument;
  if (doc.fonts) await doc.fonts.ready;
  const wide = [];
  const tables = Array.from(doc.querySelectorAll('main table'));
  tables.forEach((table, index) => {{
    const column = table.closest('.table-wrapper') || table.parentElement;
    if (table.scrollWidth > column.clientWidth + 1 || column.scrollWidth > column.clientWidth + 1) {{
      const header = table.rows.length ? Array.from(table.rows[0].cells).map(c => c.textContent.trim()) : [];
      wide.push({{index: index + 1, heading: name(table), header, table_px: table.scrollWidth, column_px: column.clientWidth}});
    }}
  }});
  const viewport = doc.documentElement.clientWidth;
  frame.remove();
  return {{page, tables: tables.length, viewport, wide}};
}}
(async () => {{
  const results = [];
  for (const page of pages) {{
    try {{ results.push(await measure(page)); }}
    catch (error) {{ results.push({{page, error: String(error)}}); }}
  }}
  document.getElementById('result').textContent = JSON.stringify(results);
}})();
</script>
</body></html>
"#
    )
}

/// The JSON the harness wrote into `<pre id="result">` of the dumped DOM.
fn parse_report(dom: &str) -> Result<Vec<Value>, String> {
    const OPEN: &str = "<pre id=\"result\">";
    let start = dom
        .find(OPEN)
        .ok_or("the table harness wrote no result element")?
        + OPEN.len();
    let end = start
        + dom[start..]
            .find("</pre>")
            .ok_or("the table harness's result element is not closed")?;
    let text = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    if text.trim() == "pending" {
        return Err("the table harness did not finish within Chromium's time budget".into());
    }
    serde_json::from_str(&text).map_err(|e| format!("the table harness's result: {e}"))
}

/// Every page was measured at (about) `width` px and none has a table wider than its
/// column; the error names each page, table and width.
fn verify_tables(report: &[Value], pages: &[String], name: &str, width: u32) -> Result<(), String> {
    let mut problems = Vec::new();
    for page in pages {
        let Some(entry) = report.iter().find(|e| e["page"].as_str() == Some(page)) else {
            problems.push(format!("{page}: not measured"));
            continue;
        };
        let shown = page.rsplit('/').next().unwrap_or(page);
        if let Some(error) = entry["error"].as_str() {
            problems.push(format!("{shown}: could not be measured: {error}"));
            continue;
        }
        // The viewport is the iframe less a vertical scrollbar: a page laid out at another
        // width would prove nothing.
        let viewport = entry["viewport"].as_u64().unwrap_or(0);
        if viewport > u64::from(width) || viewport + 24 < u64::from(width) {
            problems.push(format!(
                "{shown}: laid out {viewport} px wide instead of {width} px"
            ));
        }
        for table in entry["wide"].as_array().into_iter().flatten() {
            let header: Vec<&str> = table["header"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut columns = header.join(" | ");
            if columns.chars().count() > 60 {
                columns = columns.chars().take(57).collect::<String>() + "…";
            }
            problems.push(format!(
                "{shown}: table {} under “{}” ({}) is {} px wide in a {} px column",
                table["index"],
                table["heading"].as_str().unwrap_or(""),
                columns,
                table["table_px"],
                table["column_px"]
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "at {width} px ({name}) tables hide columns:\n  {}",
            problems.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unrendered_or_broken_mermaid_fails() {
        assert!(verify_dom("<p>none</p>").is_err());
        assert!(verify_dom("<pre class=\"mermaid\">flowchart LR</pre>").is_err());
        let broken = "<pre class=\"mermaid\"><svg>Syntax error in text</svg></pre>";
        assert!(verify_dom(broken).unwrap_err().contains("syntax error"));
    }

    #[test]
    fn rendered_diagram_with_labels_passes() {
        let dom =
            "<pre class=\"mermaid\"><svg>API Gateway validator settlement audit_logs</svg></pre>";
        assert_eq!(verify_dom(dom), Ok(()));
    }

    fn pages() -> Vec<String> {
        vec!["../book/html/a.html".into(), "../book/html/b.html".into()]
    }

    #[test]
    fn a_table_wider_than_its_column_is_named_with_page_heading_and_width() {
        let report = vec![
            json!({"page": "../book/html/a.html", "tables": 2, "viewport": 397, "wide": []}),
            json!({"page": "../book/html/b.html", "tables": 1, "viewport": 397, "wide": [
                {"index": 1, "heading": "Throttling", "header": ["control", "value", "test"],
                 "table_px": 1164, "column_px": 357}]}),
        ];
        let error = verify_tables(&report, &pages(), "phone", 412).unwrap_err();
        assert!(
            error.starts_with("at 412 px (phone) tables hide columns:"),
            "{error}"
        );
        assert!(
            error.contains(
                "b.html: table 1 under “Throttling” (control | value | test) is 1164 px wide in a 357 px column"
            ),
            "{error}"
        );
        assert!(!error.contains("a.html"), "{error}");
    }

    #[test]
    fn tables_that_fit_pass_and_missing_or_mis_sized_pages_fail() {
        let fits = vec![
            json!({"page": "../book/html/a.html", "tables": 2, "viewport": 1385, "wide": []}),
            json!({"page": "../book/html/b.html", "tables": 0, "viewport": 1400, "wide": []}),
        ];
        assert_eq!(verify_tables(&fits, &pages(), "desktop", 1400), Ok(()));
        let error = verify_tables(&fits[..1], &pages(), "desktop", 1400).unwrap_err();
        assert!(error.contains("b.html: not measured"), "{error}");
        let error = verify_tables(&fits, &pages(), "phone", 412).unwrap_err();
        assert!(
            error.contains("laid out 1385 px wide instead of 412 px"),
            "{error}"
        );
        let failed = vec![json!({"page": "../book/html/a.html", "error": "TypeError"})];
        let error = verify_tables(&failed, &pages()[..1], "phone", 412).unwrap_err();
        assert!(
            error.contains("a.html: could not be measured: TypeError"),
            "{error}"
        );
    }

    #[test]
    fn the_report_is_read_back_from_the_dumped_dom() {
        let dom = "<html><body><pre id=\"result\">[{&quot;page&quot;:&quot;a&amp;b.html&quot;}]</pre><script>x</script>";
        assert_eq!(
            parse_report(dom).unwrap(),
            vec![json!({"page": "a&b.html"})]
        );
        let pending = "<pre id=\"result\">pending</pre>";
        assert!(parse_report(pending).unwrap_err().contains("time budget"));
        assert!(parse_report("<p></p>").is_err());
    }

    #[test]
    fn the_harness_lists_the_pages_and_the_width() {
        let html = harness_html(&pages(), 412);
        assert!(html.contains(r#"const pages = ["../book/html/a.html","../book/html/b.html"];"#));
        assert!(html.contains("const width = 412;"));
        assert!(html.contains("table.scrollWidth > column.clientWidth + 1"));
    }
}
