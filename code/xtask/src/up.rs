//! `cargo xtask up`: the main job. Today it builds the book and the function packages and
//! reports them; deployment to the local emulator joins it with issue E — nothing is faked.

use crate::project::Project;
use crate::{book, package, tools};

pub fn run(project: &Project) -> Result<(), String> {
    tools::setup(project)?;
    book::build(project)?;
    package::run(project, false)?;
    println!("\n== up: what was produced");
    println!(
        "  book       {}",
        project.target("book/html/index.html").display()
    );
    println!("  packages   {}", package::packages_dir(project).display());
    println!(
        "  deployment not built yet: the local emulator and sample payments arrive with issue E"
    );
    Ok(())
}
