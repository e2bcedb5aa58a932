//! The browser check: headless Chromium loads the built architecture chapter and the
//! check fails unless every mermaid block became an `<svg>` holding the diagram's labels
//! (mermaid draws a "Syntax error" picture instead when the source is wrong).

use crate::project::Project;
use crate::shell;
use std::fs;

const PAGE: &str = "book/html/01-reference-architecture.html";
/// Node labels the rendered diagram must show.
const LABELS: [&str; 4] = ["API Gateway", "validator", "settlement", "audit_logs"];

pub fn check(project: &Project) -> Result<(), String> {
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
fn chromium(project: &Project, profile: &std::path::Path) -> std::process::Command {
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

#[cfg(test)]
mod tests {
    use super::verify_dom;

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
}
