//! The operator's commands after a deployment: `cargo xtask bootstrap` (the artifact bucket and
//! the account's prerequisites), `cargo xtask onboard` (a merchant, its API key and its
//! record) and `cargo xtask smoke` (one payment through the real endpoint). Like `deploy`,
//! each is a list of aws CLI `Step`s with their reasons, rendered by `--dry-run` and by the
//! runbook's generated listings, and its decisions run over a `Runner`, so they are
//! unit-tested with scripted AWS answers; `--emulator <work_dir>` runs the same steps against
//! the embedded AWS.

pub mod bootstrap;
pub mod onboard;
pub mod records;
pub mod retained;
pub mod smoke;

use crate::deploy::{self, Mode, ShellRunner};
use crate::project::Project;
use std::path::PathBuf;

/// The options every operator command shares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Common {
    pub env: String,
    /// `--stack`: another stack than `payment-workflow-<EnvironmentSuffix>` (the emulator's
    /// `cargo xtask up` deploys `payment-workflow-local`).
    pub stack: Option<String>,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub dry_run: bool,
    pub emulator: Option<PathBuf>,
    pub endpoint_url: Option<String>,
}

impl Common {
    /// Takes `arg` (and its value from `value`) when it is a shared option.
    pub fn take(
        &mut self,
        arg: &str,
        value: &mut dyn FnMut() -> Result<String, String>,
    ) -> Result<bool, String> {
        match arg {
            "--env" => self.env = value()?,
            "--stack" => self.stack = Some(value()?),
            "--profile" => self.profile = Some(value()?),
            "--region" => self.region = Some(value()?),
            "--dry-run" => self.dry_run = true,
            "--emulator" => self.emulator = Some(PathBuf::from(value()?)),
            "--endpoint-url" => self.endpoint_url = Some(value()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The same rules as `deploy`'s options.
    pub fn check(&self) -> Result<(), String> {
        if !["dev", "staging", "prod"].contains(&self.env.as_str()) {
            return Err("--env must be dev, staging or prod".into());
        }
        if self.endpoint_url.is_some() && self.emulator.is_none() {
            return Err("--endpoint-url goes with --emulator <work_dir>".into());
        }
        if self.emulator.is_some() && self.profile.is_some() {
            return Err("--profile names real AWS credentials; the emulator has its own".into());
        }
        if let Some(stack) = &self.stack {
            suffix_of(stack)?;
        }
        Ok(())
    }

    /// What `deploy::aws` needs to add `--region` / `--profile` to every call.
    pub fn aws_options(&self) -> deploy::Options {
        deploy::Options {
            env: self.env.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
            dry_run: self.dry_run,
            yes: false,
            mode: Mode::Full,
            emulator: self.emulator.clone(),
            packages: None,
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

/// Which stack the commands address, and its `EnvironmentSuffix` (every name carries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub suffix: String,
}

const STACK_PREFIX: &str = "payment-workflow-";

fn suffix_of(stack: &str) -> Result<String, String> {
    stack
        .strip_prefix(STACK_PREFIX)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("--stack {stack}: the stack is named {STACK_PREFIX}<suffix>"))
}

/// The stack of `--stack`, else the one the environment's parameter file names.
pub fn stack(project: &Project, common: &Common) -> Result<Stack, String> {
    let name = match &common.stack {
        Some(name) => name.clone(),
        None => deploy::target(project, &common.env)?.stack,
    };
    Ok(Stack {
        suffix: suffix_of(&name)?,
        name,
    })
}

/// The aws CLI as `deploy` runs it: the user's credentials, or the emulator's endpoint and
/// administrator keys.
pub fn runner<'a>(project: &'a Project, common: &Common) -> Result<ShellRunner<'a>, String> {
    let env = match &common.emulator {
        Some(dir) => {
            let emulator = deploy::emulator(dir, common.endpoint_url.as_deref())?;
            let region = common
                .region
                .clone()
                .unwrap_or_else(|| deploy::EMULATOR_REGION.to_string());
            deploy::emulator_env(&emulator, &region)
        }
        None => vec![],
    };
    Ok(ShellRunner { project, env })
}

/// The physical id of one of the stack's resources, by logical id. ListStackResources, not
/// DescribeStackResources: without a logical id the latter returns only the first 100
/// resources and this stack has more
/// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html),
/// the aws CLI follows ListStackResources' NextToken itself, and the emulator's
/// DescribeStackResource(s) fails on a stack holding resources it skipped (moto 5.2.5:
/// AttributeError on a `None` resource), while its ListStackResources answers.
pub fn stack_resource(
    stack: &Stack,
    logical_id: &str,
    why: &'static str,
    options: &deploy::Options,
) -> deploy::Step {
    let query = format!(
        "StackResourceSummaries[?LogicalResourceId==`\"{logical_id}\"`].PhysicalResourceId"
    );
    deploy::aws(
        why,
        &[
            "cloudformation",
            "list-stack-resources",
            "--stack-name",
            &stack.name,
            "--query",
            &query,
            "--output",
            "text",
        ],
        options,
    )
}

/// Reads a `--output text` answer that must name something.
pub fn physical_id(
    answer: Result<String, String>,
    stack: &Stack,
    logical_id: &str,
) -> Result<String, String> {
    let text = answer?;
    let id = text.trim();
    if id.is_empty() || id == "None" {
        return Err(format!(
            "the stack {} has no {logical_id}: is it deployed (cargo xtask deploy --env …)?",
            stack.name
        ));
    }
    Ok(id.to_string())
}

/// Random bytes from the operating system (transaction ids and tokens of smoke payments).
pub fn random_bytes(count: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut bytes = vec![0; count];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::deploy::Step;
    use crate::deploy::flow::Runner;

    /// Answers scripted per command (the first answer whose needle the command contains,
    /// consumed when it is marked `once`); every command it was asked is recorded.
    pub struct Fake {
        answers: Vec<(String, Result<String, String>, bool)>,
        pub asked: Vec<String>,
    }

    impl Fake {
        pub fn new(answers: &[(&str, Result<&str, &str>)]) -> Self {
            Fake {
                answers: answers
                    .iter()
                    .map(|(n, a)| {
                        let once = n.starts_with("once:");
                        (
                            n.trim_start_matches("once:").to_string(),
                            a.map(str::to_string).map_err(str::to_string),
                            once,
                        )
                    })
                    .collect(),
                asked: vec![],
            }
        }

        pub fn called(&self, needle: &str) -> bool {
            self.asked.iter().any(|c| c.contains(needle))
        }

        pub fn count(&self, needle: &str) -> usize {
            self.asked.iter().filter(|c| c.contains(needle)).count()
        }

        pub fn position(&self, needle: &str) -> usize {
            self.asked
                .iter()
                .position(|c| c.contains(needle))
                .unwrap_or_else(|| panic!("{needle} was not called: {:#?}", self.asked))
        }
    }

    impl Runner for Fake {
        fn run(&mut self, step: &Step) -> Result<String, String> {
            let command = deploy::shell_words(&step.argv);
            self.asked.push(command.clone());
            let found = self
                .answers
                .iter()
                .position(|(needle, _, _)| command.contains(needle.as_str()));
            match found {
                Some(index) if self.answers[index].2 => self.answers.remove(index).1,
                Some(index) => self.answers[index].1.clone(),
                None => Ok(String::new()),
            }
        }
    }

    pub fn common(args: &[&str]) -> Common {
        let mut common = Common::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || Ok(args.next().expect("a value").to_string());
            assert!(common.take(arg, &mut value).unwrap(), "{arg}");
        }
        common.check().unwrap();
        common
    }

    #[test]
    fn shared_options_are_checked() {
        let mut stray = common(&["--env", "dev"]);
        stray.endpoint_url = Some("http://127.0.0.1:1".into());
        assert!(stray.check().is_err());
        let mut both = common(&["--env", "dev", "--emulator", "target/emulator"]);
        both.profile = Some("payments".into());
        assert!(both.check().is_err());
        let mut odd = common(&["--env", "dev"]);
        odd.stack = Some("payments-local".into());
        assert!(odd.check().is_err());
        odd.env = "qa".into();
        odd.stack = None;
        assert!(odd.check().is_err());
        let local = common(&["--env", "dev", "--stack", "payment-workflow-local"]);
        let stack = stack(&Project::locate(), &local).unwrap();
        assert_eq!(stack.suffix, "local");
        let dev = stack_of_env("dev");
        assert_eq!(
            (dev.name.as_str(), dev.suffix.as_str()),
            ("payment-workflow-dev", "dev")
        );
    }

    pub fn stack_of_env(env: &str) -> Stack {
        stack(&Project::locate(), &common(&["--env", env])).unwrap()
    }

    #[test]
    fn a_resource_the_stack_lacks_is_an_error_naming_it() {
        let stack = stack_of_env("dev");
        assert_eq!(
            physical_id(Ok("abc123\n".into()), &stack, "ApiUsagePlan").unwrap(),
            "abc123"
        );
        for empty in ["", "None\n"] {
            let error = physical_id(Ok(empty.into()), &stack, "ApiUsagePlan").unwrap_err();
            assert!(error.contains("payment-workflow-dev has no ApiUsagePlan"));
        }
        assert!(physical_id(Err("ValidationError".into()), &stack, "X").is_err());
    }
}
