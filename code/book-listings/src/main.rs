//! `mdbook-listings`: the mdBook preprocessor of book.toml's `[preprocessor.listings]`.
//!
//! mdBook's protocol: `mdbook-listings supports <renderer>` answers by exit status (every
//! renderer is supported); otherwise stdin holds `[context, book]` as JSON and stdout gets
//! the book back. Only each chapter's `content` changes (see the library).

use book_listings::{Chapter, label, process};
use serde_json::Value;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("supports") {
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mdbook-listings: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut input = String::new();
    io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("reading mdBook's input: {e}"))?;
    let value: Value = serde_json::from_str(&input).map_err(|e| format!("mdBook's input: {e}"))?;
    let [context, mut book] = <[Value; 2]>::try_from(value.as_array().cloned().unwrap_or_default())
        .map_err(|_| "mdBook's input is not [context, book]".to_string())?;
    let root = PathBuf::from(context["root"].as_str().unwrap_or("."));
    let src = root.join(context["config"]["book"]["src"].as_str().unwrap_or("src"));
    if let Some(items) = book["items"].as_array_mut() {
        for item in items {
            chapter(item, &root, &src)?;
        }
    }
    let out = serde_json::to_string(&book).map_err(|e| format!("writing the book: {e}"))?;
    io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| format!("writing the book: {e}"))
}

/// Processes one `{"Chapter": …}` item and its sub-items; separators pass through.
fn chapter(item: &mut Value, root: &Path, src: &Path) -> Result<(), String> {
    let Some(chapter) = item.get_mut("Chapter") else {
        return Ok(());
    };
    let number: Option<Vec<u64>> = chapter["number"]
        .as_array()
        .map(|n| n.iter().filter_map(Value::as_u64).collect());
    let name = chapter["name"].as_str().unwrap_or_default().to_string();
    if let Some(path) = chapter["path"].as_str() {
        let dir = src.join(path);
        let dir = dir.parent().unwrap_or(src);
        let label = label(number.as_deref(), &name);
        let info = Chapter {
            label: label.as_deref(),
            dir,
            root,
            src,
        };
        let content = chapter["content"].as_str().unwrap_or_default();
        let processed = process(content, &info).map_err(|e| format!("{path}: {e}"))?;
        chapter["content"] = Value::String(processed);
    }
    if let Some(items) = chapter["sub_items"].as_array_mut() {
        for item in items {
            self::chapter(item, root, src)?;
        }
    }
    Ok(())
}
