//! Running the tools: every command gets the project's PATH and a clear error naming it.

use crate::project::Project;
use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// A command run from the repository root with the project's tool PATH.
pub fn command(project: &Project, program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(&project.root)
        .env("PATH", project.tool_path());
    command
}

/// Runs `command` with its output on the terminal; fails naming the command and status.
pub fn run(mut command: Command) -> Result<(), String> {
    let shown = describe(&command);
    println!("    $ {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` exited with {status}"))
    }
}

/// Runs `command` quietly and returns its standard output, or an error with its stderr.
pub fn output(mut command: Command) -> Result<String, String> {
    let shown = describe(&command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{shown}` exited with {}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

pub fn describe(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// A path shown relative to the repository root.
pub fn relative(project: &Project, path: &std::path::Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}
