//! `cargo xtask deploy --env dev|staging|prod [--profile P] [--region R] [--dry-run] [--yes]`
//! and `cargo xtask destroy --env dev`: the path to a real AWS account.
//!
//! Deployment is by change set: upload the function zips, create a change set, show it,
//! execute it only after confirmation (or `--yes`), wait, then apply the stack policy that
//! protects the data resources. `--dry-run` prints the exact commands instead — the same
//! list the real run executes, so the runbook (which includes that output) cannot drift.

use crate::package;
use crate::project::Project;
use crate::shell;
use std::io::{BufRead, Write};

pub const TEMPLATE: &str = "templates/payment-workflow.yaml";
pub const STACK_POLICY: &str = "templates/stack-policy.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub env: String,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub dry_run: bool,
    pub yes: bool,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        env: String::new(),
        profile: None,
        region: None,
        dry_run: false,
        yes: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--env" => options.env = value()?,
            "--profile" => options.profile = Some(value()?),
            "--region" => options.region = Some(value()?),
            "--dry-run" => options.dry_run = true,
            "--yes" => options.yes = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !["dev", "staging", "prod"].contains(&options.env.as_str()) {
        return Err("--env must be dev, staging or prod".into());
    }
    Ok(options)
}

/// What a parameter file says about where things go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub env: String,
    pub stack: String,
    pub bucket: String,
    pub prefix: String,
}

pub fn target(project: &Project, env: &str) -> Result<Target, String> {
    let path = project.path(&params_file(env));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let value = |key: &str| {
        entries
            .iter()
            .find(|e| e["ParameterKey"] == key)
            .and_then(|e| e["ParameterValue"].as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("{} sets no {key}", path.display()))
    };
    Ok(Target {
        env: env.to_string(),
        stack: format!("payment-workflow-{}", value("EnvironmentSuffix")?),
        bucket: value("ArtifactBucket")?,
        prefix: value("ArtifactKeyPrefix")?,
    })
}

fn params_file(env: &str) -> String {
    format!("templates/params/{env}.json")
}

/// One aws CLI call and why it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub why: &'static str,
    pub argv: Vec<String>,
}

fn aws(why: &'static str, args: &[&str], options: &Options) -> Step {
    let mut argv: Vec<String> = std::iter::once("aws")
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect();
    if let Some(region) = &options.region {
        argv.extend(["--region".to_string(), region.clone()]);
    }
    if let Some(profile) = &options.profile {
        argv.extend(["--profile".to_string(), profile.clone()]);
    }
    Step { why, argv }
}

/// The change set's name: one per release prefix, so a retry reuses none by accident.
pub fn change_set_name(target: &Target) -> String {
    let release: String = target
        .prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("deploy-{}", release.trim_matches('-'))
}

// ANCHOR: plan
/// Every command of a deployment, in order. `exists` is whether the stack is already
/// there (the real run asks `describe-stacks`; a dry run shows the first deployment).
pub fn plan(functions: &[String], target: &Target, options: &Options, exists: bool) -> Vec<Step> {
    let stack = target.stack.as_str();
    let change_set = change_set_name(target);
    let mut steps = Vec::new();
    for function in functions {
        let zip = format!("target/lambda/packages/{function}.zip");
        let key = format!("s3://{}/{}/{function}.zip", target.bucket, target.prefix);
        steps.push(aws(
            "upload the function package",
            &["s3", "cp", &zip, &key],
            options,
        ));
    }
    let (kind, wait) = if exists {
        ("UPDATE", "stack-update-complete")
    } else {
        ("CREATE", "stack-create-complete")
    };
    let template = format!("file://{TEMPLATE}");
    let parameters = format!("file://{}", params_file(&target.env));
    let tags = format!("Key=Environment,Value={}", target.env);
    steps.push(aws(
        "create the change set",
        &[
            "cloudformation",
            "create-change-set",
            "--stack-name",
            stack,
            "--change-set-name",
            &change_set,
            "--change-set-type",
            kind,
            "--template-body",
            &template,
            "--parameters",
            &parameters,
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
            "--tags",
            &tags,
        ],
        options,
    ));
    let names = ["--stack-name", stack, "--change-set-name", &change_set];
    let wait_created = [
        &["cloudformation", "wait", "change-set-create-complete"][..],
        &names,
    ]
    .concat();
    steps.push(aws(
        "wait until the change set is ready",
        &wait_created,
        options,
    ));
    let query = "Changes[].ResourceChange.{Action:Action,Resource:LogicalResourceId,Type:ResourceType,Replacement:Replacement}";
    let show = [
        &["cloudformation", "describe-change-set"][..],
        &names,
        &["--query", query, "--output", "table"],
    ]
    .concat();
    steps.push(aws(
        "show the change set (review it: Replacement True on a data resource means stop)",
        &show,
        options,
    ));
    let execute = [&["cloudformation", "execute-change-set"][..], &names].concat();
    steps.push(aws("execute it, after confirmation", &execute, options));
    steps.push(aws(
        "wait for the stack",
        &["cloudformation", "wait", wait, "--stack-name", stack],
        options,
    ));
    let policy = format!("file://{STACK_POLICY}");
    steps.push(aws(
        "protect the data resources from replacement and deletion",
        &[
            "cloudformation",
            "set-stack-policy",
            "--stack-name",
            stack,
            "--stack-policy-body",
            &policy,
        ],
        options,
    ));
    steps
}
// ANCHOR_END: plan

// ANCHOR: operations
/// The operator's commands for one environment: rotate the signing key now, redrive the
/// notification DLQ, watch or cancel a stack update. Printed by `cargo xtask runbook`.
pub fn operations(target: &Target, suffix: &str, options: &Options) -> Vec<Step> {
    let secret = format!("payment-workflow/{suffix}/notification-signing-key");
    let dlq = format!("payment-notifications-dlq-{suffix}");
    let queue = format!("payment-notifications-{suffix}");
    vec![
        aws(
            "rotate the receipt signing key now (the four rotation steps run at once)",
            &["secretsmanager", "rotate-secret", "--secret-id", &secret],
            options,
        ),
        aws(
            "find the dead-letter queue's ARN",
            &[
                "sqs",
                "get-queue-attributes",
                "--queue-url",
                &format!(
                    "$(aws sqs get-queue-url --queue-name {dlq} --query QueueUrl --output text)"
                ),
                "--attribute-names",
                "QueueArn",
                "ApproximateNumberOfMessages",
            ],
            options,
        ),
        aws(
            "redrive it to the notification queue once the cause is fixed (SQS moves the messages back)",
            &[
                "sqs",
                "start-message-move-task",
                "--source-arn",
                "<DLQ ARN from above>",
                "--destination-arn",
                &format!("<ARN of {queue}>"),
            ],
            options,
        ),
        aws(
            "follow a stack update",
            &[
                "cloudformation",
                "describe-stack-events",
                "--stack-name",
                &target.stack,
                "--max-items",
                "20",
            ],
            options,
        ),
        aws(
            "cancel an update that is going wrong (CloudFormation rolls back to the last good state)",
            &[
                "cloudformation",
                "cancel-update-stack",
                "--stack-name",
                &target.stack,
            ],
            options,
        ),
    ]
}
// ANCHOR_END: operations

/// The parameter set a deployment passes, as comment lines.
pub fn parameter_listing(project: &Project, env: &str) -> Result<String, String> {
    let path = project.path(&params_file(env));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut listing = format!("# parameters ({}):\n", params_file(env));
    for entry in entries {
        let key = entry["ParameterKey"].as_str().unwrap_or("");
        let value = entry["ParameterValue"].as_str().unwrap_or("");
        listing += &format!("#   {key} = {value}\n");
    }
    Ok(listing + "\n")
}

/// The plan as a shell script a person can read (and run).
pub fn render(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|step| format!("# {}\n{}\n", step.why, shell_words(&step.argv)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = a.starts_with("$(")
                || a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let target = target(project, &options.env)?;
    let functions = package::functions(project)?;
    if options.dry_run {
        println!(
            "# cargo xtask deploy --env {} (dry run: nothing is called)\n",
            options.env
        );
        println!(
            "# If the stack already exists, --change-set-type is UPDATE and the wait is stack-update-complete.\n"
        );
        print!("{}", parameter_listing(project, &options.env)?);
        print!("{}", render(&plan(&functions, &target, &options, false)));
        return Ok(());
    }
    let mut describe = shell::command(project, "aws");
    describe.args([
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        &target.stack,
    ]);
    let exists = shell::output(describe).is_ok();
    for function in &functions {
        let zip = package::packages_dir(project).join(format!("{function}.zip"));
        if !zip.exists() {
            return Err(format!(
                "{} is missing: run `cargo xtask package --arm64` first",
                zip.display()
            ));
        }
    }
    for step in plan(&functions, &target, &options, exists) {
        if step.argv.contains(&"execute-change-set".to_string())
            && !options.yes
            && !confirm(&target)?
        {
            return Err("deployment cancelled; the change set is left for review".into());
        }
        println!("== {}", step.why);
        let mut command = shell::command(project, &step.argv[0]);
        command.args(&step.argv[1..]);
        shell::run(command)?;
    }
    Ok(())
}

fn confirm(target: &Target) -> Result<bool, String> {
    print!(
        "Execute this change set on {}? Type the stack name to continue: ",
        target.stack
    );
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer.trim() == target.stack)
}

/// `cargo xtask runbook --env E`: prints the operational commands; runs nothing.
pub fn runbook(project: &Project, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let target = target(project, &options.env)?;
    let suffix = target
        .stack
        .trim_start_matches("payment-workflow-")
        .to_string();
    print!("{}", render(&operations(&target, &suffix, &options)));
    Ok(())
}

/// `cargo xtask destroy --env dev`: deletes the stack. Retained data resources (tables,
/// archive buckets, the KMS key, audit log groups) stay; the command lists them.
pub fn destroy(project: &Project, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    if options.env == "prod" {
        return Err("destroy refuses prod: delete a production stack through change review".into());
    }
    let target = target(project, &options.env)?;
    let delete = aws(
        "delete the stack",
        &[
            "cloudformation",
            "delete-stack",
            "--stack-name",
            &target.stack,
        ],
        &options,
    );
    let wait = aws(
        "wait until it is gone",
        &[
            "cloudformation",
            "wait",
            "stack-delete-complete",
            "--stack-name",
            &target.stack,
        ],
        &options,
    );
    for step in [delete, wait] {
        println!("== {}\n    {}", step.why, shell_words(&step.argv));
        if !options.dry_run {
            let mut command = shell::command(project, "aws");
            command.args(&step.argv[1..]);
            shell::run(command)?;
        }
    }
    println!(
        "\nRetained on purpose (DeletionPolicy: Retain): the three DynamoDB tables, both archive buckets, \
         the KMS key, the API access and WAF log groups of {}. Remove them by hand if this environment \
         held no real data.",
        target.stack
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Target {
        Target {
            env: "dev".into(),
            stack: "payment-workflow-dev".into(),
            bucket: "artifacts-dev".into(),
            prefix: "releases/0.1.0".into(),
        }
    }

    fn options(args: &[&str]) -> Options {
        parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn options_are_checked() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--env".into(), "qa".into()]).is_err());
        let parsed = options(&["--env", "prod", "--profile", "payments", "--dry-run"]);
        assert_eq!(parsed.profile.as_deref(), Some("payments"));
        assert!(parsed.dry_run && !parsed.yes);
    }

    #[test]
    fn a_first_deploy_uploads_creates_shows_executes_waits_and_protects() {
        let steps = plan(
            &["validator".into()],
            &dev(),
            &options(&["--env", "dev"]),
            false,
        );
        let script = render(&steps);
        assert!(script.contains("aws s3 cp target/lambda/packages/validator.zip s3://artifacts-dev/releases/0.1.0/validator.zip"));
        assert!(script.contains("--change-set-type CREATE"));
        assert!(script.contains("--parameters file://templates/params/dev.json"));
        let order: Vec<&str> = [
            "create-change-set",
            "describe-change-set",
            "execute-change-set",
            "set-stack-policy",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = order.iter().map(|c| script.find(c).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{script}");
        assert_eq!(change_set_name(&dev()), "deploy-releases-0-1-0");
    }

    #[test]
    fn an_update_waits_for_update_and_profile_and_region_reach_every_call() {
        let steps = plan(
            &[],
            &dev(),
            &options(&["--env", "dev", "--profile", "p", "--region", "eu-west-1"]),
            true,
        );
        assert!(render(&steps).contains("--change-set-type UPDATE"));
        assert!(render(&steps).contains("stack-update-complete"));
        assert!(
            steps
                .iter()
                .all(|s| s.argv.ends_with(&["--profile".into(), "p".into()]))
        );
    }

    #[test]
    fn the_runbook_shows_the_dev_dry_run_as_generated() {
        let project = Project::locate();
        let functions = package::functions(&project).unwrap();
        let target = target(&project, "dev").unwrap();
        let script = render(&plan(
            &functions,
            &target,
            &options(&["--env", "dev"]),
            false,
        ));
        let text = format!(
            "<!-- generated by the_runbook_shows_the_dev_dry_run_as_generated (code/xtask/src/deploy.rs); \
             `cargo xtask regen` -->\n```sh\n{listing}{script}```\n",
            listing = parameter_listing(&project, "dev").unwrap()
        );
        payment_workflow_book::generated::check("src/generated/deploy-dev.md", &text);
        let prod = super::target(&project, "prod").unwrap();
        let operations = render(&operations(&prod, "prod", &options(&["--env", "prod"])));
        let text = format!(
            "<!-- generated by the_runbook_shows_the_dev_dry_run_as_generated (code/xtask/src/deploy.rs); \
             `cargo xtask regen` -->\n```sh\n{operations}```\n"
        );
        payment_workflow_book::generated::check("src/generated/operations-prod.md", &text);
    }
}
