//! `cargo xtask bootstrap --env <env> [--profile P] [--region R] [--dry-run]`: what an account
//! needs before the first `cargo xtask deploy`. It checks the Region's Lambda concurrency
//! against what the template reserves, looks for an organisation CloudTrail trail, and
//! creates the artifact bucket `ArtifactBucket` of the environment's parameter file:
//! versioned, encrypted (SSE-S3), owner-enforced, public access blocked, TLS only. Every
//! step is safe to repeat.

use super::Common;
use crate::deploy::flow::Runner;
use crate::deploy::{self, Step};
use crate::project::Project;
use payment_workflow_book::template::Template;
use serde_json::json;

/// What Lambda keeps unreserved for the functions without a reservation: "You can reserve up
/// to the Unreserved account concurrency value that is shown, minus 100"
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
pub const UNRESERVED_MINIMUM: u64 = 100;
/// Lambda's "Concurrent executions" quota, for the increase request
/// (Service Quotas code L-B99A9384; uncertain beyond the Service Quotas console's listing).
pub const CONCURRENCY_QUOTA: &str = "L-B99A9384";

/// Each function's reserved concurrency in environment `env` (logical id, reservation): the
/// template's value, or its parameter as `templates/params/<env>.json` sets it (defaults
/// otherwise).
pub fn reservations(template: &Template, env: &str) -> Vec<(String, u64)> {
    use payment_workflow_book::capacity;
    let parameters = capacity::environments(template)
        .remove(env)
        .unwrap_or_else(|| capacity::defaults(template));
    capacity::reservations(template, &parameters)
}

#[derive(Debug, Clone)]
pub struct Calls {
    pub env: String,
    pub stack: String,
    pub bucket: String,
    /// The Region and its partition (`<region>` / `<partition>` in a dry run without one).
    pub region: String,
    pub partition: String,
    pub options: deploy::Options,
}

impl Calls {
    fn aws(&self, why: &'static str, args: &[&str]) -> Step {
        deploy::aws(why, args, &self.options)
    }

    pub fn account_settings(&self) -> Step {
        self.aws(
            "the Region's Lambda concurrency: the account's limit and what is still unreserved",
            &[
                "lambda",
                "get-account-settings",
                "--query",
                "[AccountLimit.ConcurrentExecutions,AccountLimit.UnreservedConcurrentExecutions]",
                "--output",
                "text",
            ],
        )
    }

    pub fn stack_status(&self) -> Step {
        self.aws(
            "is the stack deployed already? (then its reservations are already counted)",
            &[
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                &self.stack,
                "--query",
                "Stacks[0].StackStatus",
                "--output",
                "text",
            ],
        )
    }

    pub fn organisation_trails(&self) -> Step {
        self.aws(
            "is an organisation trail recording this account's API calls? (shadow trails included)",
            &[
                "cloudtrail",
                "describe-trails",
                "--query",
                "trailList[?IsOrganizationTrail].Name",
                "--output",
                "text",
            ],
        )
    }

    pub fn bucket(&self) -> Vec<Step> {
        let b = self.bucket.as_str();
        let location = format!("LocationConstraint={}", self.region);
        let mut create = vec!["s3api", "create-bucket", "--bucket", b];
        // us-east-1 takes no location constraint (CreateBucket refuses one).
        if self.region != "us-east-1" {
            create.extend(["--create-bucket-configuration", &location]);
        }
        let encryption =
            json!({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
                .to_string();
        let arn = format!("arn:{}:s3:::{b}", self.partition);
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, format!("{arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }],
        })
        .to_string();
        vec![
            self.aws(
                "create the artifact bucket (yours already: BucketAlreadyOwnedByYou, fine)",
                &create,
            ),
            self.aws(
                "version it: an overwritten or deleted package stays recoverable",
                &[
                    "s3api",
                    "put-bucket-versioning",
                    "--bucket",
                    b,
                    "--versioning-configuration",
                    "Status=Enabled",
                ],
            ),
            self.aws(
                "encrypt at rest with SSE-S3 (Lambda and CloudFormation read it without a key grant)",
                &[
                    "s3api",
                    "put-bucket-encryption",
                    "--bucket",
                    b,
                    "--server-side-encryption-configuration",
                    &encryption,
                ],
            ),
            self.aws(
                "block every form of public access",
                &[
                    "s3api",
                    "put-public-access-block",
                    "--bucket",
                    b,
                    "--public-access-block-configuration",
                    "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
                ],
            ),
            self.aws(
                "the bucket owner owns every object; ACLs are off",
                &[
                    "s3api",
                    "put-bucket-ownership-controls",
                    "--bucket",
                    b,
                    "--ownership-controls",
                    "Rules=[{ObjectOwnership=BucketOwnerEnforced}]",
                ],
            ),
            self.aws(
                "refuse any request that is not over TLS",
                &["s3api", "put-bucket-policy", "--bucket", b, "--policy", &policy],
            ),
        ]
    }
}

/// Whether the Region can take the stack's reservations, from `get-account-settings`'s
/// `limit\tunreserved` and whether the stack exists already.
pub fn concurrency_check(
    answer: &str,
    reserved: u64,
    stack_exists: bool,
) -> Result<String, String> {
    let numbers: Vec<u64> = answer
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [limit, unreserved] = numbers[..] else {
        return Err(format!("get-account-settings answered {answer:?}"));
    };
    let needed = reserved + UNRESERVED_MINIMUM;
    if stack_exists || unreserved >= needed {
        return Ok(format!(
            "Lambda concurrency: limit {limit}, unreserved {unreserved}; the stack reserves {reserved}{}",
            if stack_exists {
                " (deployed: already counted)"
            } else {
                ""
            }
        ));
    }
    Err(format!(
        "Lambda concurrency: {unreserved} unreserved of {limit}, but the stack reserves {reserved} and Lambda keeps \
         {UNRESERVED_MINIMUM} unreserved: {needed} are needed, or the first deployment rolls back \
         (\"decreases account's UnreservedConcurrentExecution below its minimum value\"). Ask for more: \
         aws service-quotas request-service-quota-increase --service-code lambda --quota-code {CONCURRENCY_QUOTA} \
         --desired-value {}",
        limit + needed - unreserved
    ))
}

/// Checks the account, then makes the bucket; returns warnings a person should act on.
pub fn bootstrap(
    calls: &Calls,
    reserved: u64,
    runner: &mut dyn Runner,
) -> Result<Vec<String>, String> {
    let settings = runner.run(&calls.account_settings())?;
    let exists = match deploy::flow::stack_state(runner.run(&calls.stack_status()))? {
        deploy::flow::StackState::Absent => false,
        deploy::flow::StackState::Status(_) => true,
    };
    println!("    {}", concurrency_check(&settings, reserved, exists)?);
    let mut warnings = vec![];
    match runner.run(&calls.organisation_trails()) {
        Ok(names) if !names.trim().is_empty() => println!("    organisation trail: {}", names.trim()),
        Ok(_) => warnings.push(
            "no organisation CloudTrail trail is visible: the security-control alarms (PCI DSS 10.7) and the \
             audit of human access rely on one (or on an account trail you create)"
                .to_string(),
        ),
        Err(e) => warnings.push(format!("could not list CloudTrail trails: {e}")),
    }
    for (index, step) in calls.bucket().iter().enumerate() {
        match runner.run(step) {
            Err(e) if index == 0 && e.contains("BucketAlreadyOwnedByYou") => {
                println!("    (the bucket is there already)")
            }
            Err(e) if index == 0 && e.contains("BucketAlreadyExists") => {
                return Err(format!(
                    "the bucket name {} is taken by another account: choose another ArtifactBucket in templates/params/{}.json",
                    calls.bucket, calls.env
                ));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(warnings)
}

/// The dry run as the runbook shows it.
pub fn dry_run(calls: &Calls, reservations: &[(String, u64)]) -> String {
    let reserved: u64 = reservations.iter().map(|(_, r)| r).sum();
    let parts: Vec<String> = reservations
        .iter()
        .map(|(id, r)| format!("{} {r}", id.trim_end_matches("Function")))
        .collect();
    let mut steps = vec![
        calls.account_settings(),
        calls.stack_status(),
        calls.organisation_trails(),
    ];
    steps.extend(calls.bucket());
    format!(
        "# the stack reserves {reserved} ({}); Lambda keeps {UNRESERVED_MINIMUM} unreserved,\n\
         # so a Region without the stack needs {} unreserved (N stacks in one account: {UNRESERVED_MINIMUM} + {reserved} × N)\n\n{}",
        parts.join(" + "),
        reserved + UNRESERVED_MINIMUM,
        deploy::render(&steps)
    )
}

pub fn parse(args: &[String]) -> Result<Common, String> {
    let mut common = Common::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        if !common.take(arg, &mut value)? {
            return Err(format!("unknown option {arg}"));
        }
    }
    common.check()?;
    if common.emulator.is_some() || common.stack.is_some() {
        return Err(
            "bootstrap prepares an AWS account (the emulator's deploy makes its own bucket)".into(),
        );
    }
    Ok(common)
}

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let common = parse(args)?;
    let target = deploy::target(project, &common.env)?;
    let options = common.aws_options();
    let (region, partition) = match deploy::region(project, &options) {
        Some(region) => {
            let partition = deploy::partition(project, &region)?.name;
            (region, partition)
        }
        None if common.dry_run => ("<region>".into(), "<partition>".into()),
        None => return Err("no Region: pass --region or configure one for the aws CLI".into()),
    };
    let calls = Calls {
        env: common.env.clone(),
        stack: target.stack,
        bucket: target.bucket,
        region,
        partition,
        options,
    };
    let template = Template::load_from(project.path(deploy::TEMPLATE));
    let reservations = reservations(&template, &common.env);
    if common.dry_run {
        println!(
            "# cargo xtask bootstrap --env {} (dry run: nothing is called)",
            common.env
        );
        print!("{}", dry_run(&calls, &reservations));
        return Ok(());
    }
    let reserved = reservations.iter().map(|(_, r)| r).sum();
    let mut runner = super::runner(project, &common)?;
    for warning in bootstrap(&calls, reserved, &mut runner)? {
        println!("WARNING: {warning}");
    }
    println!(
        "s3://{} is ready; next: edit templates/params/{}.json, then `cargo xtask package --arm64` and `cargo xtask deploy --env {}`",
        calls.bucket, calls.env, calls.env
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::{Fake, common};

    fn calls(region: &str) -> Calls {
        Calls {
            env: "dev".into(),
            stack: "payment-workflow-dev".into(),
            bucket: "payment-workflow-artifacts-dev".into(),
            region: region.into(),
            partition: "aws".into(),
            options: common(&["--env", "dev"]).aws_options(),
        }
    }

    const ABSENT: (&str, Result<&str, &str>) = (
        "describe-stacks",
        Err(
            "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id payment-workflow-dev does not exist",
        ),
    );

    #[test]
    fn the_stack_reserves_what_the_template_says_and_a_small_account_is_refused() {
        let template = Template::load_from(Project::locate().path(deploy::TEMPLATE));
        let reserved: u64 = reservations(&template, "dev").iter().map(|(_, r)| r).sum();
        assert_eq!(
            reservations(&template, "dev").len(),
            template.of_type("AWS::Lambda::Function").len()
        );
        assert!(concurrency_check("1000\t1000", reserved, false).is_ok());
        assert!(concurrency_check(&format!("1000\t{}", reserved + 100), reserved, false).is_ok());
        let refused =
            concurrency_check(&format!("400\t{}", reserved + 99), reserved, false).unwrap_err();
        assert!(
            refused.contains("request-service-quota-increase")
                && refused.contains("--desired-value 401"),
            "{refused}"
        );
        // A new account at 10: refused; a deployed stack's reservations are already counted.
        assert!(concurrency_check("10\t10", reserved, false).is_err());
        assert!(concurrency_check("400\t148", reserved, true).is_ok());
        assert!(concurrency_check("None", reserved, false).is_err());
        // Prod's parameters reserve for 10,000 requests a second (Appendix F): an account at
        // Lambda's default 1,000 is refused before anything is deployed.
        let prod: u64 = reservations(&template, "prod").iter().map(|(_, r)| r).sum();
        assert!(prod > reserved, "prod reserves more than dev");
        assert!(concurrency_check("1000\t1000", prod, false).is_err());
    }

    #[test]
    fn the_bucket_is_made_once_and_a_name_taken_elsewhere_stops_the_run() {
        let mut fake = Fake::new(&[
            ("get-account-settings", Ok("1000\t1000\n")),
            ABSENT,
            ("describe-trails", Ok("org-trail\n")),
            (
                "create-bucket",
                Err(
                    "An error occurred (BucketAlreadyOwnedByYou) when calling the CreateBucket operation",
                ),
            ),
        ]);
        let warnings = bootstrap(&calls("eu-west-1"), 252, &mut fake).unwrap();
        assert!(warnings.is_empty());
        for step in [
            "put-bucket-versioning",
            "put-bucket-encryption",
            "put-public-access-block",
            "put-bucket-ownership-controls",
            "put-bucket-policy",
        ] {
            assert!(fake.called(step), "{step}");
        }
        let policy = &fake.asked[fake.position("put-bucket-policy")];
        assert!(
            policy.contains(r#""aws:SecureTransport":"false""#)
                && policy.contains("arn:aws:s3:::payment-workflow-artifacts-dev/*")
        );
        let mut taken = Fake::new(&[
            ("get-account-settings", Ok("1000\t1000\n")),
            ABSENT,
            (
                "create-bucket",
                Err("An error occurred (BucketAlreadyExists)"),
            ),
        ]);
        let error = bootstrap(&calls("eu-west-1"), 252, &mut taken).unwrap_err();
        assert!(error.contains("templates/params/dev.json") && !taken.called("put-bucket-policy"));
        let mut small = Fake::new(&[("get-account-settings", Ok("50\t50\n")), ABSENT]);
        assert!(bootstrap(&calls("eu-west-1"), 252, &mut small).is_err());
        assert!(
            !small.called("create-bucket"),
            "nothing is made in an account that cannot take the stack"
        );
    }

    #[test]
    fn a_missing_organisation_trail_is_a_warning_and_us_east_1_takes_no_location() {
        let mut fake = Fake::new(&[("get-account-settings", Ok("1000\t1000\n")), ABSENT]);
        let warnings = bootstrap(&calls("us-east-1"), 252, &mut fake).unwrap();
        assert!(warnings[0].contains("organisation CloudTrail trail"));
        assert!(!fake.asked[fake.position("create-bucket")].contains("LocationConstraint"));
    }

    #[test]
    fn the_runbook_shows_the_bootstrap_as_generated() {
        let template = Template::load_from(Project::locate().path(deploy::TEMPLATE));
        let mut calls = calls("<region>");
        calls.partition = "<partition>".into();
        let text = format!(
            "<!-- generated by the_runbook_shows_the_bootstrap_as_generated (code/xtask/src/ops/bootstrap.rs); \
             `cargo xtask regen` -->\n```sh\n# cargo xtask bootstrap --env dev\n{}```\n",
            dry_run(&calls, &reservations(&template, "dev"))
        );
        payment_workflow_book::generated::check("src/generated/runbook-bootstrap.md", &text);
    }
}
