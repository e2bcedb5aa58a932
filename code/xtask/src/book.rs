//! Building and testing the book with the pinned mdBook toolchain.

use crate::project::Project;
use crate::shell;

/// Renders the book to `target/book/html` and link-checks it: book.toml names two
/// renderers, html and linkcheck2 (broken internal links and anchors are errors), so a
/// plain `mdbook build` anywhere checks links too. Mermaid's assets are copied in first.
pub fn build(project: &Project) -> Result<(), String> {
    // `install` writes mermaid.min.js and mermaid-init.js next to book.toml (ignored by
    // git); book.toml already names them, so it leaves the config alone.
    let mut mermaid = shell::command(project, "mdbook-mermaid");
    mermaid.arg("install").arg(&project.root);
    shell::run(mermaid)?;
    let mut mdbook = shell::command(project, "mdbook");
    mdbook.arg("build");
    shell::run(mdbook)?;
    let page = project.target("book/html/index.html");
    if page.exists() {
        println!("    book: {}", page.display());
        Ok(())
    } else {
        Err(format!("mdbook build wrote no {}", page.display()))
    }
}

/// The workspace crates the book's Rust examples use, built into a target dir of their own
/// so rustdoc finds exactly one rlib of each (`-L target/mdbook/debug/deps`).
const BOOK_CRATES: [&str; 1] = ["payments-core"];

/// Compiles and runs every Rust block of the book with rustdoc.
pub fn test(project: &Project) -> Result<(), String> {
    let mut build = shell::command(project, "cargo");
    build.args(["build", "--locked", "--target-dir", "target/mdbook"]);
    for krate in BOOK_CRATES {
        build.args(["--package", krate]);
    }
    shell::run(build)?;
    let mut mdbook = shell::command(project, "mdbook");
    mdbook.args(["test", "-L", "target/mdbook/debug/deps"]);
    shell::run(mdbook)
}
