//! `cargo xtask deploy --env dev|staging|prod [--profile P] [--region R] [--dry-run] [--yes]
//! [--create-only | --execute <change-set>] [--packages DIR] [--emulator <work_dir> [--endpoint-url URL]]`,
//! `cargo xtask destroy --env dev` and `cargo xtask runbook --env prod`: the path to an AWS
//! account, and the very same path to the embedded AWS.
//!
//! A deployment uploads the packages and the template under content-addressed keys (never
//! overwriting one: `If-None-Match: *`), creates a uniquely named change set from the
//! template's S3 URL (it is over CloudFormation's 51,200-byte `TemplateBody` limit), shows it,
//! and executes it after confirmation, then applies the stack policy. `--create-only` stops
//! after showing it and `--execute <name>` runs a reviewed one (prod approval is given on the
//! change set itself, review H8). `--dry-run` prints the commands the run makes.

pub mod flow;
mod release;

use crate::package;
use crate::project::Project;
use crate::shell;
use flow::{Kind, Outcome, Runner};
use payment_workflow_book::limits::partitions;
use payment_workflow_book::template::Template;
use release::Release;
use std::io::{BufRead, Write};
use std::path::PathBuf;

pub const TEMPLATE: &str = "templates/payment-workflow.yaml";
pub const STACK_POLICY: &str = "templates/stack-policy.json";
/// The emulator's Region when none is given (tools/emulator/up.py deploys there too).
pub const EMULATOR_REGION: &str = "eu-west-1";

/// Which part of a deployment to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Create, show, confirm, execute.
    Full,
    /// Create and show the change set; print its name and ARN for `--execute`.
    CreateOnly,
    /// Execute a change set created earlier.
    Execute(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub env: String,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub dry_run: bool,
    pub yes: bool,
    pub mode: Mode,
    /// The embedded AWS's work dir: its credentials and endpoint are read from there.
    pub emulator: Option<PathBuf>,
    /// Where the packages and their manifest are (default: `cargo xtask package`'s output),
    /// e.g. the artifact a release job downloaded.
    pub packages: Option<PathBuf>,
    pub endpoint_url: Option<String>,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        env: String::new(),
        profile: None,
        region: None,
        dry_run: false,
        yes: false,
        mode: Mode::Full,
        emulator: None,
        packages: None,
        endpoint_url: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        let set_mode = |mode: Mode, options: &mut Options| {
            if options.mode != Mode::Full {
                return Err("--create-only and --execute exclude each other".to_string());
            }
            options.mode = mode;
            Ok(())
        };
        match arg.as_str() {
            "--env" => options.env = value()?,
            "--profile" => options.profile = Some(value()?),
            "--region" => options.region = Some(value()?),
            "--dry-run" => options.dry_run = true,
            "--yes" => options.yes = true,
            "--create-only" => set_mode(Mode::CreateOnly, &mut options)?,
            "--execute" => {
                let name = value()?;
                if !release::valid_change_set_name(&name) {
                    return Err(format!("{name} is not a change-set name"));
                }
                set_mode(Mode::Execute(name), &mut options)?
            }
            "--emulator" => options.emulator = Some(PathBuf::from(value()?)),
            "--packages" => options.packages = Some(PathBuf::from(value()?)),
            "--endpoint-url" => options.endpoint_url = Some(value()?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !["dev", "staging", "prod"].contains(&options.env.as_str()) {
        return Err("--env must be dev, staging or prod".into());
    }
    if options.endpoint_url.is_some() && options.emulator.is_none() {
        return Err("--endpoint-url goes with --emulator <work_dir>".into());
    }
    if options.emulator.is_some() && options.profile.is_some() {
        return Err("--profile names real AWS credentials; the emulator has its own".into());
    }
    Ok(options)
}

/// What a parameter file says about where things go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub env: String,
    pub stack: String,
    pub bucket: String,
    /// The file's entries, in order.
    pub parameters: Vec<(String, String)>,
}

pub fn target(project: &Project, env: &str) -> Result<Target, String> {
    let path = project.path(&params_file(env));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let parameters: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| {
            Some((
                e["ParameterKey"].as_str()?.to_string(),
                e["ParameterValue"].as_str()?.to_string(),
            ))
        })
        .collect();
    let value = |key: &str| {
        parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("{} sets no {key}", path.display()))
    };
    Ok(Target {
        env: env.to_string(),
        stack: format!("payment-workflow-{}", value("EnvironmentSuffix")?),
        bucket: value("ArtifactBucket")?,
        parameters,
    })
}

fn params_file(env: &str) -> String {
    format!("templates/params/{env}.json")
}

/// The parameter file the change set reads (written by the tool; ignored by git).
pub fn merged_params_file(env: &str) -> String {
    format!("target/deploy/{env}-parameters.json")
}

/// One aws CLI call and why it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub why: &'static str,
    pub argv: Vec<String>,
}

pub fn aws(why: &'static str, args: &[&str], options: &Options) -> Step {
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

/// `https://<bucket>.s3.<region>.<url suffix>/<key>`: the virtual-hosted URL CloudFormation
/// reads a template from ("The location for an Amazon S3 bucket must start with https://",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html).
/// moto's CloudFormation reads the same URL from its own S3 (bucket = first host label).
pub fn template_url(bucket: &str, region: &str, url_suffix: &str, key: &str) -> String {
    format!("https://{bucket}.s3.{region}.{url_suffix}/{key}")
}

/// Every AWS call of one deployment, built from what it deploys; `flow` decides which run.
#[derive(Debug, Clone)]
pub struct Steps {
    pub target: Target,
    pub options: Options,
    pub release: Release,
    /// (local file, S3 key) of every package and of the template, the template last.
    pub artifacts: Vec<(String, String)>,
    pub template_url: String,
    pub change_set: String,
    /// Where the merged parameter file is (relative to the repository).
    pub parameters: String,
    pub region: String,
}

impl Steps {
    fn aws(&self, why: &'static str, args: &[&str]) -> Step {
        aws(why, args, &self.options)
    }

    fn names(&self) -> [&str; 4] {
        [
            "--stack-name",
            &self.target.stack,
            "--change-set-name",
            &self.change_set,
        ]
    }

    /// The emulator starts empty; on AWS the artifact bucket is a prerequisite (runbook).
    pub fn prepare(&self) -> Vec<Step> {
        if self.options.emulator.is_none() {
            return vec![];
        }
        let location = format!("LocationConstraint={}", self.region);
        let mut args = vec!["s3api", "create-bucket", "--bucket", &self.target.bucket];
        // us-east-1 takes no location constraint (CreateBucket refuses one).
        if self.region != "us-east-1" {
            args.extend(["--create-bucket-configuration", &location]);
        }
        vec![self.aws(
            "create the artifact bucket (the embedded AWS starts empty)",
            &args,
        )]
    }

    /// Content-addressed uploads that never overwrite: S3 answers 412 when the key exists.
    pub fn uploads(&self) -> Vec<Step> {
        self.artifacts
            .iter()
            .map(|(file, key)| {
                let why = if key.ends_with(".zip") {
                    "upload the function package (never overwrites: a taken key answers 412)"
                } else {
                    "upload the template next to the packages (CloudFormation reads it by URL)"
                };
                self.aws(
                    why,
                    &[
                        "s3api",
                        "put-object",
                        "--bucket",
                        &self.target.bucket,
                        "--key",
                        key,
                        "--body",
                        file,
                        "--if-none-match",
                        "*",
                    ],
                )
            })
            .collect()
    }

    pub fn describe_stack(&self) -> Step {
        self.aws(
            "is there a stack? (none or REVIEW_IN_PROGRESS: CREATE; ROLLBACK_COMPLETE: delete it, then CREATE; otherwise UPDATE)",
            &[
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                &self.target.stack,
                "--query",
                "Stacks[0].StackStatus",
                "--output",
                "text",
            ],
        )
    }

    /// A stack whose first creation rolled back cannot be updated: delete it and wait.
    pub fn delete_stack(&self) -> Vec<Step> {
        let stack = ["--stack-name", self.target.stack.as_str()];
        vec![
            self.aws(
                "delete the stack whose creation rolled back (ROLLBACK_COMPLETE cannot be updated)",
                &[&["cloudformation", "delete-stack"][..], &stack].concat(),
            ),
            self.aws(
                "wait until it is gone",
                &[
                    &["cloudformation", "wait", "stack-delete-complete"][..],
                    &stack,
                ]
                .concat(),
            ),
        ]
    }

    pub fn create_change_set(&self, kind: Kind) -> Step {
        let parameters = format!("file://{}", self.parameters);
        let tags = format!("Key=Environment,Value={}", self.target.env);
        self.aws(
            "create the change set from the template's S3 URL (the template is over the 51,200-byte inline limit)",
            &[
                "cloudformation",
                "create-change-set",
                "--stack-name",
                &self.target.stack,
                "--change-set-name",
                &self.change_set,
                "--change-set-type",
                kind.name(),
                "--template-url",
                &self.template_url,
                "--parameters",
                &parameters,
                "--capabilities",
                "CAPABILITY_NAMED_IAM",
                "--tags",
                &tags,
                "--query",
                "Id",
                "--output",
                "text",
            ],
        )
    }

    pub fn wait_change_set(&self) -> Step {
        self.aws(
            "wait until the change set is ready (it fails when there is nothing to change)",
            &[
                &["cloudformation", "wait", "change-set-create-complete"][..],
                &self.names(),
            ]
            .concat(),
        )
    }

    pub fn change_set_status(&self) -> Step {
        self.aws(
            "read the change set's status",
            &[
                &["cloudformation", "describe-change-set"][..],
                &self.names(),
                &[
                    "--query",
                    "[Status,ExecutionStatus,StatusReason]",
                    "--output",
                    "text",
                ],
            ]
            .concat(),
        )
    }

    pub fn delete_change_set(&self) -> Step {
        self.aws(
            "nothing to change: delete the empty change set (success)",
            &[&["cloudformation", "delete-change-set"][..], &self.names()].concat(),
        )
    }

    pub fn show_change_set(&self) -> Step {
        let query = "Changes[].ResourceChange.{Action:Action,Resource:LogicalResourceId,Type:ResourceType,Replacement:Replacement}";
        self.aws(
            "show the change set (review it: Replacement True on a data resource means stop)",
            &[
                &["cloudformation", "describe-change-set"][..],
                &self.names(),
                &["--query", query, "--output", "table"],
            ]
            .concat(),
        )
    }

    /// Execute, wait, protect. `--retain-except-on-create`: resources created by a failed
    /// operation are deleted on rollback, even those marked Retain (ExecuteChangeSet,
    /// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html).
    pub fn execute(&self, kind: Kind) -> Vec<Step> {
        let policy = format!("file://{STACK_POLICY}");
        vec![
            self.aws(
                "execute it, after review",
                &[
                    &["cloudformation", "execute-change-set"][..],
                    &self.names(),
                    &["--retain-except-on-create"],
                ]
                .concat(),
            ),
            self.aws(
                "wait for the stack",
                &[
                    "cloudformation",
                    "wait",
                    kind.waiter(),
                    "--stack-name",
                    &self.target.stack,
                ],
            ),
            self.aws(
                "protect the data resources from replacement and deletion",
                &[
                    "cloudformation",
                    "set-stack-policy",
                    "--stack-name",
                    &self.target.stack,
                    "--stack-policy-body",
                    &policy,
                ],
            ),
        ]
    }
}

// ANCHOR: plan
/// The commands of a deployment that creates (`Kind::Create`) or updates the stack, in order,
/// as the dry run and the runbook show them. `flow::deploy` runs these same steps and decides
/// the branches: a 412 on upload is "already there", ROLLBACK_COMPLETE deletes the stack
/// first, a change set without changes is deleted and the run succeeds.
pub fn plan(steps: &Steps, kind: Kind) -> Vec<Step> {
    let mut plan = steps.prepare();
    plan.extend(steps.uploads());
    plan.push(steps.describe_stack());
    plan.push(steps.create_change_set(kind));
    plan.push(steps.wait_change_set());
    plan.push(steps.show_change_set());
    match &steps.options.mode {
        Mode::CreateOnly => {}
        _ => plan.extend(steps.execute(kind)),
    }
    plan
}
// ANCHOR_END: plan

// ANCHOR: operations
/// The names `operations` uses, each a `!Sub` of the template with the suffix filled in
/// (`operations_name_the_template_s_resources` checks them against the template).
pub fn operation_names(suffix: &str) -> [(&'static str, String); 4] {
    [
        ("ReconcilerFunction", format!("payment-reconciler-{suffix}")),
        (
            "NotificationDeadLetterQueue",
            format!("payment-notifications-dlq-{suffix}"),
        ),
        (
            "SigningSecret",
            format!("payment-workflow/{suffix}/notification-signing-key"),
        ),
        ("TransactionsTable", format!("transactions-{suffix}")),
    ]
}

/// The operator's commands for one environment, printed by `cargo xtask runbook`: the outbox
/// (run the reconciler now, read the parked DLQ records), the signing key and a merchant's API
/// key rotated now, a point-in-time restore drill, and a stack update followed or cancelled.
pub fn operations(target: &Target, suffix: &str, options: &Options) -> Vec<Step> {
    let [reconciler, dlq, secret, table] = operation_names(suffix).map(|(_, name)| name);
    let drill = format!("{table}-drill");
    let queue_url =
        format!("$(aws sqs get-queue-url --queue-name {dlq} --query QueueUrl --output text)");
    let merchant = |flag: &[&str]| -> Vec<String> {
        let base = [
            "cargo",
            "xtask",
            "onboard",
            "--env",
            &target.env,
            "--merchant",
            "<merchant-id>",
        ];
        base.iter().chain(flag).map(|a| a.to_string()).collect()
    };
    let stack = ["--stack-name", target.stack.as_str()];
    let step = |why: &'static str, args: &[&str]| aws(why, args, options);
    vec![
        step(
            "run the reconciler now: it re-sends every settled payment whose receipt is still pending after 10 minutes; \
             its answer {\"stale\": n, \"retriggered\": [ids]} is in reconciler-answer.json (run it again a minute later: stale 0 means nothing is owed)",
            &[
                "lambda",
                "invoke",
                "--function-name",
                &reconciler,
                "--cli-binary-format",
                "raw-in-base64-out",
                "--payload",
                "{}",
                "reconciler-answer.json",
            ],
        ),
        step(
            "how many records the notifier parked on its dead-letter queue (each names a failed batch of the table's stream: shard and sequence numbers, not the payment)",
            &[
                "sqs",
                "get-queue-attributes",
                "--queue-url",
                &queue_url,
                "--attribute-names",
                "ApproximateNumberOfMessages",
            ],
        ),
        step(
            "read them without taking them (visibility timeout 0); their payments keep notification_pending, so the reconciler re-sends them once the cause is fixed",
            &[
                "sqs",
                "receive-message",
                "--queue-url",
                &queue_url,
                "--max-number-of-messages",
                "10",
                "--visibility-timeout",
                "0",
            ],
        ),
        step(
            "when the reconciler answers stale 0, the parked records are spent: clear them",
            &["sqs", "purge-queue", "--queue-url", &queue_url],
        ),
        step(
            "rotate the receipt signing key now (the four rotation steps run at once)",
            &["secretsmanager", "rotate-secret", "--secret-id", &secret],
        ),
        step(
            "check it: the new version is AWSCURRENT (each receipt names the key_id that signed it)",
            &[
                "secretsmanager",
                "describe-secret",
                "--secret-id",
                &secret,
                "--query",
                "{LastRotated:LastRotatedDate,Stages:VersionIdsToStages}",
            ],
        ),
        Step {
            why: "rotate a merchant's API key: bind a new key next to the old one (both work)",
            argv: merchant(&["--new-key"]),
        },
        step(
            "hand the new key's value to the merchant",
            &[
                "apigateway",
                "get-api-key",
                "--api-key",
                "<new-key-id>",
                "--include-value",
                "--query",
                "value",
                "--output",
                "text",
            ],
        ),
        Step {
            why: "once the API access log shows only the new apiKeyId for the merchant: unbind and disable the old key",
            argv: merchant(&["--retire-key", "<old-key-id>"]),
        },
        step(
            "restore drill: the transactions table as it was (or --restore-date-time <UTC time> within 35 days) into a new table; \
             its indexes and encryption come back, its stream, TTL, point-in-time recovery and tags do not",
            &[
                "dynamodb",
                "restore-table-to-point-in-time",
                "--source-table-name",
                &table,
                "--target-table-name",
                &drill,
                "--use-latest-restorable-time",
            ],
        ),
        step(
            "wait for it",
            &["dynamodb", "wait", "table-exists", "--table-name", &drill],
        ),
        step(
            "compare: a payment settled before the restore point is there, with the same record",
            &[
                "dynamodb",
                "get-item",
                "--table-name",
                &drill,
                "--key",
                r#"{"transaction_id": {"S": "<transaction-id>"}}"#,
            ],
        ),
        step(
            "a restored table that is to serve: turn its stream back on (a new stream ARN: the notifier's trigger must be pointed at it)",
            &[
                "dynamodb",
                "update-table",
                "--table-name",
                &drill,
                "--stream-specification",
                "StreamEnabled=true,StreamViewType=NEW_IMAGE",
            ],
        ),
        step(
            "and its point-in-time recovery",
            &[
                "dynamodb",
                "update-continuous-backups",
                "--table-name",
                &drill,
                "--point-in-time-recovery-specification",
                "PointInTimeRecoveryEnabled=true",
            ],
        ),
        step(
            "check what came back and what is on again: status, indexes, encryption, stream",
            &[
                "dynamodb",
                "describe-table",
                "--table-name",
                &drill,
                "--query",
                "Table.{Status:TableStatus,Indexes:GlobalSecondaryIndexes[].IndexName,Encryption:SSEDescription.SSEType,Stream:StreamSpecification}",
            ],
        ),
        step(
            "a restored audit-logs or card-activity table: its TTL too (the transactions table has none)",
            &[
                "dynamodb",
                "update-time-to-live",
                "--table-name",
                "<restored-table>",
                "--time-to-live-specification",
                "Enabled=true,AttributeName=expires_at",
            ],
        ),
        step(
            "end of the drill: delete the restored table",
            &["dynamodb", "delete-table", "--table-name", &drill],
        ),
        step(
            "follow a stack update",
            &[
                &["cloudformation", "describe-stack-events"][..],
                &stack,
                &["--max-items", "20"],
            ]
            .concat(),
        ),
        step(
            "cancel an update that is going wrong (CloudFormation rolls back to the last good state)",
            &[&["cloudformation", "cancel-update-stack"][..], &stack].concat(),
        ),
        step(
            "an update whose rollback failed (UPDATE_ROLLBACK_FAILED): fix what the events name, then finish the rollback",
            &[&["cloudformation", "continue-update-rollback"][..], &stack].concat(),
        ),
    ]
}
// ANCHOR_END: operations

/// The parameters a deployment passes, as comment lines.
pub fn parameter_listing(env: &str, merged: &[(String, String)]) -> String {
    let mut listing = format!(
        "# parameters ({} with ArtifactKeyPrefix set by the tool, written to {}):\n",
        params_file(env),
        merged_params_file(env)
    );
    for (key, value) in merged {
        listing += &format!("#   {key} = {value}\n");
    }
    listing + "\n"
}

/// The plan as a shell script a person can read (and run).
pub fn render(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|step| format!("# {}\n{}\n", step.why, shell_words(&step.argv)))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn shell_words(argv: &[String]) -> String {
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

/// Where the commands go: an AWS account (the CLI's own credentials) or the embedded AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    pub endpoint_url: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The embedded AWS's endpoint and administrator keys, from its work dir: the keys from
/// `admin-credentials.json` (written by tools/emulator/iam.py when IAM is enforced; absent,
/// moto accepts any key), the endpoint from `--endpoint-url` or `endpoint.json`'s
/// `aws_endpoint_url`.
pub fn emulator(
    work_dir: &std::path::Path,
    endpoint_url: Option<&str>,
) -> Result<Emulator, String> {
    let read = |name: &str| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(work_dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let endpoint_url = match endpoint_url {
        Some(url) => url.to_string(),
        None => read("endpoint.json")
            .and_then(|e| e["aws_endpoint_url"].as_str().map(str::to_string))
            .ok_or_else(|| {
                format!(
                    "no endpoint: pass --endpoint-url http://127.0.0.1:PORT or let the emulator write \
                     aws_endpoint_url to {}",
                    work_dir.join("endpoint.json").display()
                )
            })?,
    };
    let credentials = read("admin-credentials.json");
    let key = |name: &str| {
        credentials
            .as_ref()
            .and_then(|c| c[name].as_str())
            .unwrap_or("testing")
            .to_string()
    };
    Ok(Emulator {
        endpoint_url,
        access_key_id: key("AccessKeyId"),
        secret_access_key: key("SecretAccessKey"),
    })
}

/// The environment every aws CLI call gets for the emulator.
pub fn emulator_env(emulator: &Emulator, region: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", emulator.endpoint_url.clone()),
        ("AWS_ACCESS_KEY_ID", emulator.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", emulator.secret_access_key.clone()),
        ("AWS_DEFAULT_REGION", region.to_string()),
        ("AWS_REGION", region.to_string()),
    ]
}

/// The aws CLI, run from the repository root with the project's PATH (the venv's awscli
/// first) and, for the emulator, its endpoint and keys instead of the user's.
pub struct ShellRunner<'a> {
    pub project: &'a Project,
    pub env: Vec<(&'static str, String)>,
}

impl Runner for ShellRunner<'_> {
    fn run(&mut self, step: &Step) -> Result<String, String> {
        println!("== {}\n    $ {}", step.why, shell_words(&step.argv));
        let mut command = shell::command(self.project, &step.argv[0]);
        command.args(&step.argv[1..]);
        if !self.env.is_empty() {
            for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"] {
                command.env_remove(name);
            }
            command.envs(self.env.iter().map(|(k, v)| (k, v)));
        }
        shell::output(command)
    }
}

/// The Region the template's URL names: `--region`, the environment, the CLI's profile, or
/// (for the emulator) the emulator's.
pub fn region(project: &Project, options: &Options) -> Option<String> {
    if let Some(region) = &options.region {
        return Some(region.clone());
    }
    if options.emulator.is_some() {
        return Some(EMULATOR_REGION.into());
    }
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = std::env::var(name).ok().filter(|r| !r.is_empty()) {
            return Some(region);
        }
    }
    let mut configured = shell::command(project, "aws");
    configured.args(["configure", "get", "region"]);
    if let Some(profile) = &options.profile {
        configured.args(["--profile", profile]);
    }
    shell::output(configured)
        .ok()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
}

/// `AWS::URLSuffix` of the partition that holds `region`, from the SDK's endpoint data.
fn url_suffix(project: &Project, region: &str) -> Result<String, String> {
    partition(project, region).map(|p| p.dns_suffix)
}

/// The partition (`AWS::Partition`, `AWS::URLSuffix`) that holds `region`, from the SDK's
/// endpoint data.
pub fn partition(project: &Project, region: &str) -> Result<partitions::Partition, String> {
    let files = partitions::data_files(&project.path(".tools/venv/lib"));
    let documents: Vec<serde_json::Value> = files
        .iter()
        .filter_map(|f| serde_json::from_str(&std::fs::read_to_string(f).ok()?).ok())
        .collect();
    partitions::merge(&documents)?
        .into_iter()
        .find(|p| p.regions.iter().any(|r| r == region))
        .ok_or_else(|| {
            format!("{region} is not a Region the AWS SDK data knows (cargo xtask setup)")
        })
}

/// Everything `plan` needs, from the repository, the packages' manifest and the options.
fn steps_for(
    project: &Project,
    options: &Options,
    now: std::time::SystemTime,
) -> Result<Steps, String> {
    let target = target(project, &options.env)?;
    let change_set_only = matches!(options.mode, Mode::Execute(_));
    let template_text =
        std::fs::read(project.path(TEMPLATE)).map_err(|e| format!("{TEMPLATE}: {e}"))?;
    let template = Template::parse(&String::from_utf8_lossy(&template_text));
    let packages = release::template_packages(&template)?;
    let dir = options
        .packages
        .clone()
        .unwrap_or_else(|| package::packages_dir(project));
    let release = match package::read_manifest(&dir) {
        Ok(manifest) => {
            let runs_on = options
                .emulator
                .as_ref()
                .map(|_| package::host_architecture());
            release::check_architectures(&packages, &manifest, runs_on)?;
            Release::of(&manifest, &packages, &template_text)
        }
        Err(_) if options.dry_run || change_set_only => Release::placeholder(),
        Err(e) => return Err(e),
    };
    // Executing a change set needs no URL: the change set already holds the template.
    let region = region(project, options);
    let (url_region, suffix) = match &region {
        Some(region) if !change_set_only => (region.clone(), url_suffix(project, region)?),
        Some(region) => (region.clone(), "<url-suffix>".into()),
        None if options.dry_run || change_set_only => ("<region>".into(), "<url-suffix>".into()),
        None => return Err("no Region: pass --region or configure one for the aws CLI".into()),
    };
    if target.bucket.contains('.') {
        return Err(format!(
            "{}: a virtual-hosted template URL needs a bucket name without dots",
            target.bucket
        ));
    }
    let dir = shell::relative(project, &dir);
    let mut artifacts: Vec<(String, String)> = packages
        .iter()
        .map(|p| {
            (
                format!("{dir}/{}.zip", p.package),
                format!("{}/{}.zip", release.prefix, p.package),
            )
        })
        .collect();
    artifacts.dedup();
    artifacts.push((TEMPLATE.to_string(), release.template_key.clone()));
    let change_set = match &options.mode {
        Mode::Execute(name) => name.clone(),
        _ => release::change_set_name(&release, now),
    };
    Ok(Steps {
        template_url: template_url(&target.bucket, &url_region, &suffix, &release.template_key),
        target,
        options: options.clone(),
        release,
        artifacts,
        change_set,
        parameters: merged_params_file(&options.env),
        region: url_region,
    })
}

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let emulator = match &options.emulator {
        Some(dir) => Some(emulator(dir, options.endpoint_url.as_deref())?),
        None => None,
    };
    let steps = steps_for(project, &options, std::time::SystemTime::now())?;
    let merged = release::merged_parameters(&steps.target.parameters, &steps.release.prefix);
    if options.dry_run {
        println!(
            "# cargo xtask deploy --env {} (dry run: nothing is called)\n",
            options.env
        );
        if let Some(emulator) = &emulator {
            println!("# embedded AWS: every command runs with");
            println!(
                "#   AWS_ENDPOINT_URL={} AWS_DEFAULT_REGION={}",
                emulator.endpoint_url, steps.region
            );
            println!("#   and the administrator keys of its admin-credentials.json\n");
        }
        match &options.mode {
            Mode::Execute(_) => print!("{}", render(&steps.execute(Kind::Update))),
            _ => {
                print!("{}", parameter_listing(&options.env, &merged));
                print!("{}", render(&plan(&steps, Kind::Create)));
            }
        }
        return Ok(());
    }
    let mut runner = ShellRunner {
        project,
        env: emulator
            .as_ref()
            .map(|e| emulator_env(e, &steps.region))
            .unwrap_or_default(),
    };
    let outcome = match &options.mode {
        Mode::Execute(_) => flow::execute(&steps, &mut runner)?,
        mode => {
            let path = project.path(&steps.parameters);
            std::fs::create_dir_all(path.parent().expect("target/deploy"))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::write(&path, release::parameters_json(&merged))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let stack = steps.target.stack.clone();
            flow::deploy(&steps, *mode == Mode::CreateOnly, &mut runner, &mut || {
                if options.yes {
                    Ok(true)
                } else {
                    confirm(&stack)
                }
            })?
        }
    };
    report(&outcome)
}

/// Says how it ended; for `--create-only` also writes the change set to `$GITHUB_OUTPUT`.
fn report(outcome: &Outcome) -> Result<(), String> {
    let (lines, message) = match outcome {
        Outcome::Deployed { change_set } => {
            (vec![], format!("deployed by change set {change_set}"))
        }
        Outcome::NoChanges => (
            vec!["change-set-name=".to_string()],
            "no changes: the stack already runs this release".to_string(),
        ),
        Outcome::Created { change_set, arn } => (
            vec![
                format!("change-set-name={change_set}"),
                format!("change-set-arn={arn}"),
            ],
            format!(
                "change set ready for review; run it with `cargo xtask deploy --env <env> --execute {change_set}`"
            ),
        ),
    };
    for line in &lines {
        println!("{line}");
    }
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|_| !lines.is_empty()) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| format!("GITHUB_OUTPUT: {e}"))?;
        writeln!(file, "{}", lines.join("\n")).map_err(|e| format!("GITHUB_OUTPUT: {e}"))?;
    }
    println!("{message}");
    Ok(())
}

fn confirm(stack: &str) -> Result<bool, String> {
    print!("Execute this change set on {stack}? Type the stack name to continue: ");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer.trim() == stack)
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
/// archive buckets, the KMS key, the signing secret, audit log groups) stay; the command
/// lists them.
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
        "\nRetained on purpose (DeletionPolicy RetainExceptOnCreate: kept when the stack is deleted) \
         from {}; a named one makes the next creation fail with \"already exists\" until it is \
         deleted (no real data) or imported (Appendix E):",
        target.stack
    );
    let template = Template::load_from(project.path(TEMPLATE));
    for kept in crate::ops::retained::retained(&template) {
        let suffix = target.stack.trim_start_matches("payment-workflow-");
        let name = kept.name.map_or("(named by CloudFormation)".into(), |n| {
            n.replace("<env>", suffix)
        });
        println!("  {} {} {name}", kept.logical_id, kept.kind);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::flow::{self, Outcome, Runner};
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn options(args: &[&str]) -> Options {
        parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn dev(args: &[&str]) -> Steps {
        let release = Release {
            digest: "3fa9c2d41b07aa".into(),
            prefix: "releases/3fa9c2d41b07aa".into(),
            template_key: "releases/3fa9c2d41b07aa/payment-workflow-0011.yaml".into(),
        };
        Steps {
            target: Target {
                env: "dev".into(),
                stack: "payment-workflow-dev".into(),
                bucket: "artifacts-dev".into(),
                parameters: vec![],
            },
            options: options(&[&["--env", "dev"][..], args].concat()),
            artifacts: vec![
                (
                    "target/lambda/packages/validator.zip".into(),
                    format!("{}/validator.zip", release.prefix),
                ),
                (TEMPLATE.into(), release.template_key.clone()),
            ],
            template_url: template_url(
                "artifacts-dev",
                "eu-west-1",
                "amazonaws.com",
                &release.template_key,
            ),
            change_set: release::change_set_name(
                &release,
                UNIX_EPOCH + Duration::from_secs(1_735_787_045),
            ),
            release,
            parameters: merged_params_file("dev"),
            region: "eu-west-1".into(),
        }
    }

    /// Answers scripted per command (the first answer whose needle the command contains);
    /// every command it was asked is recorded.
    struct Fake {
        answers: Vec<(&'static str, Result<String, String>)>,
        asked: Vec<String>,
    }

    impl Fake {
        fn new(answers: &[(&'static str, Result<&str, &str>)]) -> Self {
            Fake {
                answers: answers
                    .iter()
                    .map(|(n, a)| (*n, a.map(str::to_string).map_err(str::to_string)))
                    .collect(),
                asked: vec![],
            }
        }

        fn called(&self, needle: &str) -> bool {
            self.asked.iter().any(|c| c.contains(needle))
        }

        fn position(&self, needle: &str) -> usize {
            self.asked
                .iter()
                .position(|c| c.contains(needle))
                .unwrap_or_else(|| panic!("{needle} was not called: {:#?}", self.asked))
        }
    }

    impl Runner for Fake {
        fn run(&mut self, step: &Step) -> Result<String, String> {
            let command = shell_words(&step.argv);
            self.asked.push(command.clone());
            let answer = self
                .answers
                .iter()
                .find(|(needle, _)| command.contains(needle))
                .map(|(_, answer)| answer.clone());
            answer.unwrap_or(Ok(String::new()))
        }
    }

    const ABSENT: (&str, Result<&str, &str>) = (
        "describe-stacks",
        Err(
            "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id payment-workflow-dev does not exist",
        ),
    );
    const CREATED: (&str, Result<&str, &str>) = (
        "create-change-set",
        Ok("arn:aws:cloudformation:eu-west-1:123456789012:changeSet/x/1\n"),
    );

    fn deploy(fake: &mut Fake, steps: &Steps) -> Result<Outcome, String> {
        flow::deploy(
            steps,
            steps.options.mode == Mode::CreateOnly,
            fake,
            &mut || Ok(true),
        )
    }

    #[test]
    fn options_are_checked() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--env".into(), "qa".into()]).is_err());
        let parsed = options(&["--env", "prod", "--profile", "payments", "--dry-run"]);
        assert_eq!(parsed.profile.as_deref(), Some("payments"));
        assert!(parsed.dry_run && !parsed.yes && parsed.mode == Mode::Full);
        let both = ["--env", "prod", "--create-only", "--execute", "deploy-x"].map(String::from);
        assert!(parse(&both).is_err());
        let bad = ["--env", "prod", "--execute", "deploy/x"].map(String::from);
        assert!(parse(&bad).is_err());
        let stray = ["--env", "dev", "--endpoint-url", "http://127.0.0.1:1"].map(String::from);
        assert!(parse(&stray).is_err());
        let emulated = options(&[
            "--env",
            "dev",
            "--emulator",
            "target/emulator",
            "--endpoint-url",
            "http://127.0.0.1:5000",
        ]);
        assert_eq!(emulated.emulator, Some(PathBuf::from("target/emulator")));
        let downloaded = options(&["--env", "prod", "--packages", "artifacts/lambda"]);
        assert_eq!(downloaded.packages, Some(PathBuf::from("artifacts/lambda")));
    }

    #[test]
    fn aws_limit_the_plan_passes_the_template_by_url_after_uploading_it() {
        // CloudFormation's TemplateBody takes at most 51,200 bytes; the template is larger.
        let template = std::fs::read(Project::locate().path(TEMPLATE)).unwrap();
        assert!(
            template.len() > 51_200,
            "still over TemplateBody: keep it by URL"
        );
        let script = render(&plan(&dev(&[]), Kind::Create));
        assert!(!script.contains("--template-body"), "{script}");
        let url = "--template-url https://artifacts-dev.s3.eu-west-1.amazonaws.com/releases/3fa9c2d41b07aa/payment-workflow-0011.yaml";
        assert!(script.contains(url), "{script}");
        let upload = script
            .find("--key releases/3fa9c2d41b07aa/payment-workflow-0011.yaml --body templates/payment-workflow.yaml --if-none-match")
            .expect("the template is uploaded");
        assert!(upload < script.find("create-change-set").unwrap());
    }

    #[test]
    fn uploads_never_overwrite_and_an_existing_key_is_fine() {
        let script = render(&dev(&[]).uploads());
        assert_eq!(script.matches("--if-none-match '*'").count(), 2, "{script}");
        let mut fake = Fake::new(&[
            (
                "validator.zip",
                Err(
                    "An error occurred (PreconditionFailed) when calling the PutObject operation: At least one of the pre-conditions you specified did not hold",
                ),
            ),
            ABSENT,
            CREATED,
        ]);
        assert!(matches!(
            deploy(&mut fake, &dev(&[])),
            Ok(Outcome::Deployed { .. })
        ));
        let mut denied = Fake::new(&[("validator.zip", Err("An error occurred (AccessDenied)"))]);
        assert!(deploy(&mut denied, &dev(&[])).is_err());
        assert!(!denied.called("create-change-set"));
    }

    #[test]
    fn a_first_deploy_creates_shows_executes_waits_and_protects() {
        let mut fake = Fake::new(&[ABSENT, CREATED]);
        let outcome = deploy(&mut fake, &dev(&[])).unwrap();
        assert!(matches!(outcome, Outcome::Deployed { .. }));
        assert!(fake.called("--change-set-type CREATE"));
        assert!(fake.called("wait stack-create-complete"));
        assert!(fake.called("execute-change-set") && fake.called("--retain-except-on-create"));
        let order = [
            "put-object",
            "describe-stacks",
            "create-change-set",
            "wait change-set-create-complete",
            "--output table",
            "execute-change-set",
            "wait stack-create-complete",
            "set-stack-policy",
        ]
        .map(|step| fake.position(step));
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{:#?}", fake.asked);
        assert!(!fake.called("delete-stack"));
    }

    #[test]
    fn an_existing_stack_is_updated() {
        for status in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
        ] {
            let mut fake = Fake::new(&[("describe-stacks", Ok(status)), CREATED]);
            deploy(&mut fake, &dev(&[])).unwrap();
            assert!(
                fake.called("--change-set-type UPDATE")
                    && fake.called("wait stack-update-complete")
            );
        }
    }

    #[test]
    fn a_stack_whose_creation_rolled_back_is_deleted_then_created() {
        let mut fake = Fake::new(&[("describe-stacks", Ok("ROLLBACK_COMPLETE\n")), CREATED]);
        deploy(&mut fake, &dev(&[])).unwrap();
        assert!(fake.position("delete-stack") < fake.position("wait stack-delete-complete"));
        assert!(fake.position("wait stack-delete-complete") < fake.position("create-change-set"));
        assert!(fake.called("--change-set-type CREATE"));
    }

    #[test]
    fn a_busy_or_broken_stack_stops_the_run() {
        for status in [
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_FAILED",
            "DELETE_FAILED",
        ] {
            let mut fake = Fake::new(&[("describe-stacks", Ok(status))]);
            let error = deploy(&mut fake, &dev(&[])).unwrap_err();
            assert!(error.contains(status), "{error}");
            assert!(!fake.called("create-change-set"));
        }
        let mut fake = Fake::new(&[("describe-stacks", Err("ExpiredToken"))]);
        assert!(deploy(&mut fake, &dev(&[])).is_err());
    }

    #[test]
    fn a_change_set_without_changes_is_deleted_and_the_run_succeeds() {
        let mut fake = Fake::new(&[
            ("describe-stacks", Ok("UPDATE_COMPLETE")),
            CREATED,
            (
                "wait change-set-create-complete",
                Err(
                    "Waiter ChangeSetCreateComplete failed: Waiter encountered a terminal failure state: For expression \"Status\" we matched expected path: \"FAILED\"",
                ),
            ),
            (
                "[Status,ExecutionStatus,StatusReason]",
                Ok(
                    "FAILED\tUNAVAILABLE\tThe submitted information didn't contain changes. Submit different information to create a change set.",
                ),
            ),
        ]);
        assert_eq!(deploy(&mut fake, &dev(&[])).unwrap(), Outcome::NoChanges);
        assert!(fake.called("delete-change-set"));
        assert!(!fake.called("execute-change-set"));
    }

    #[test]
    fn a_change_set_that_fails_for_another_reason_fails_the_run_and_stays_for_inspection() {
        let mut fake = Fake::new(&[
            ABSENT,
            CREATED,
            (
                "wait change-set-create-complete",
                Err("Waiter ChangeSetCreateComplete failed"),
            ),
            (
                "[Status,ExecutionStatus,StatusReason]",
                Ok("FAILED\tUNAVAILABLE\tTemplate error: unresolved resource dependencies"),
            ),
        ]);
        let error = deploy(&mut fake, &dev(&[])).unwrap_err();
        assert!(
            error.contains("unresolved resource dependencies"),
            "{error}"
        );
        assert!(!fake.called("delete-change-set") && !fake.called("execute-change-set"));
    }

    #[test]
    fn create_only_shows_the_change_set_and_stops() {
        let steps = dev(&["--create-only"]);
        let mut fake = Fake::new(&[ABSENT, CREATED]);
        let outcome = deploy(&mut fake, &steps).unwrap();
        assert_eq!(
            outcome,
            Outcome::Created {
                change_set: steps.change_set.clone(),
                arn: "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/x/1".into()
            }
        );
        assert!(fake.called("--output table") && !fake.called("execute-change-set"));
        assert!(!render(&plan(&steps, Kind::Create)).contains("execute-change-set"));
    }

    #[test]
    fn a_declined_confirmation_leaves_the_change_set_unexecuted() {
        let mut fake = Fake::new(&[ABSENT, CREATED]);
        let steps = dev(&[]);
        let result = flow::deploy(&steps, false, &mut fake, &mut || Ok(false));
        assert!(result.unwrap_err().contains("left for review"));
        assert!(!fake.called("execute-change-set"));
    }

    #[test]
    fn execute_runs_a_reviewed_change_set_with_the_right_waiter() {
        let mut steps = dev(&["--execute", "deploy-20250102T030405Z-3fa9c2d41b07"]);
        steps.change_set = "deploy-20250102T030405Z-3fa9c2d41b07".into();
        let ready = (
            "[Status,ExecutionStatus,StatusReason]",
            Ok("CREATE_COMPLETE\tAVAILABLE\tNone"),
        );
        let mut first = Fake::new(&[("describe-stacks", Ok("REVIEW_IN_PROGRESS")), ready]);
        assert!(matches!(
            flow::execute(&steps, &mut first),
            Ok(Outcome::Deployed { .. })
        ));
        assert!(first.called("execute-change-set --stack-name payment-workflow-dev --change-set-name deploy-20250102T030405Z-3fa9c2d41b07"));
        assert!(first.called("wait stack-create-complete") && first.called("set-stack-policy"));
        let mut update = Fake::new(&[("describe-stacks", Ok("UPDATE_COMPLETE")), ready]);
        flow::execute(&steps, &mut update).unwrap();
        assert!(update.called("wait stack-update-complete"));
        let stale = (
            "[Status,ExecutionStatus,StatusReason]",
            Ok("CREATE_COMPLETE\tOBSOLETE\tNone"),
        );
        let mut obsolete = Fake::new(&[("describe-stacks", Ok("UPDATE_COMPLETE")), stale]);
        assert!(
            flow::execute(&steps, &mut obsolete)
                .unwrap_err()
                .contains("OBSOLETE")
        );
        assert!(!obsolete.called("execute-change-set"));
    }

    #[test]
    fn the_emulator_target_runs_the_same_plan_with_its_own_endpoint_and_keys() {
        let dir = std::env::temp_dir().join(format!("xtask-emulator-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let anonymous = emulator(&dir, Some("http://127.0.0.1:5000")).unwrap();
        assert_eq!(anonymous.access_key_id, "testing");
        assert!(emulator(&dir, None).is_err(), "no endpoint anywhere");
        std::fs::write(
            dir.join("admin-credentials.json"),
            r#"{"AccessKeyId": "AKIA1", "SecretAccessKey": "s"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("endpoint.json"),
            r#"{"aws_endpoint_url": "http://127.0.0.1:6000"}"#,
        )
        .unwrap();
        let admin = emulator(&dir, None).unwrap();
        assert_eq!(
            (admin.endpoint_url.as_str(), admin.access_key_id.as_str()),
            ("http://127.0.0.1:6000", "AKIA1")
        );
        let env = emulator_env(&admin, "eu-west-1");
        assert!(env.contains(&("AWS_ENDPOINT_URL", "http://127.0.0.1:6000".into())));
        std::fs::remove_dir_all(&dir).unwrap();
        let emulated = dev(&[
            "--emulator",
            "target/emulator",
            "--endpoint-url",
            "http://127.0.0.1:5000",
        ]);
        let local = render(&plan(&emulated, Kind::Create));
        let aws = render(&plan(&dev(&[]), Kind::Create));
        assert!(local.starts_with("# create the artifact bucket"));
        assert!(local.ends_with(&aws), "the same steps after the bucket");
    }

    /// Every name the operator's commands use is the template's, with the suffix filled in.
    #[test]
    fn operations_name_the_template_s_resources() {
        let template = Template::load_from(Project::locate().path(TEMPLATE));
        for (logical_id, name) in operation_names("prod") {
            let properties = &template.resource(logical_id)["Properties"];
            let pattern = ["FunctionName", "QueueName", "Name", "TableName"]
                .iter()
                .find_map(|p| payment_workflow_book::template::sub_text(&properties[*p]))
                .unwrap_or_else(|| panic!("{logical_id} has no !Sub name"));
            assert_eq!(pattern.replace("${EnvironmentSuffix}", "prod"), name);
        }
        let prod = target(&Project::locate(), "prod").unwrap();
        let script = render(&operations(&prod, "prod", &options(&["--env", "prod"])));
        assert!(
            !script.contains("start-message-move-task"),
            "no queue to redrive into"
        );
        for needle in [
            "lambda invoke --function-name payment-reconciler-prod",
            "--retire-key",
            "restore-table-to-point-in-time --source-table-name transactions-prod",
            "StreamEnabled=true",
        ] {
            assert!(script.contains(needle), "{needle}");
        }
    }

    #[test]
    fn the_runbook_shows_the_dev_dry_run_as_generated() {
        let project = Project::locate();
        let target = target(&project, "dev").unwrap();
        let release = Release::placeholder();
        let steps = Steps {
            template_url: template_url(
                &target.bucket,
                "<region>",
                "<url-suffix>",
                &release.template_key,
            ),
            artifacts: {
                let template = Template::load_from(project.path(TEMPLATE));
                let mut files: Vec<(String, String)> = release::template_packages(&template)
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            format!("target/lambda/packages/{}.zip", p.package),
                            format!("{}/{}.zip", release.prefix, p.package),
                        )
                    })
                    .collect();
                files.push((TEMPLATE.into(), release.template_key.clone()));
                files
            },
            change_set: "deploy-<utc-time>-<release>".into(),
            parameters: merged_params_file("dev"),
            region: "<region>".into(),
            options: options(&["--env", "dev"]),
            release,
            target,
        };
        let merged = release::merged_parameters(&steps.target.parameters, &steps.release.prefix);
        let text = format!(
            "<!-- generated by the_runbook_shows_the_dev_dry_run_as_generated (code/xtask/src/deploy.rs); \
             `cargo xtask regen` -->\n```sh\n\
             # <release>: SHA-256 of the packages (target/lambda/packages/manifest.json); a new build is a new prefix.\n\
             # <template-sha256>: the template's own digest; <region>/<url-suffix>: the Region and its partition's domain.\n\
             # <utc-time>: when the change set is made, so every run's name is new.\n\n\
             {listing}{script}```\n",
            listing = parameter_listing("dev", &merged),
            script = render(&plan(&steps, Kind::Create))
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
