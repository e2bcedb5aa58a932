//! `cargo xtask up`: the main job. Today it builds the book and reports what exists; the
//! template deployment to the local emulator joins it with issue [E] — nothing is faked.

use crate::project::Project;
use crate::{book, tools};

pub fn run(project: &Project) -> Result<(), String> {
    tools::setup(project)?;
    book::build(project)?;
    println!("\n== up: what was produced");
    println!(
        "  book      {}",
        project.target("book/html/index.html").display()
    );
    let functions = project.path("code/functions");
    if functions.is_dir() {
        println!("  functions {}", functions.display());
    } else {
        println!("  functions none yet: code/functions/ arrives with issue [C]");
    }
    println!("  deploy    not built yet: the local emulator arrives with issue [E]");
    Ok(())
}
