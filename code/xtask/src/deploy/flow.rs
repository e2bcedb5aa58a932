//! The deployment as decisions over what AWS answers: which change set to create, what to do
//! with a stack whose first creation rolled back, a change set without changes, an artifact
//! that is already uploaded. Every AWS call goes through a `Runner`, so each decision is
//! unit-tested with scripted answers (the e2e suite runs the same flow on the embedded AWS).

use super::{Step, Steps};

/// Runs one AWS CLI call: its standard output, or its error text.
pub trait Runner {
    fn run(&mut self, step: &Step) -> Result<String, String>;
}

/// What `describe-stacks` says about the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackState {
    Absent,
    Status(String),
}

/// The change set's type, which also decides what to wait for after executing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    Update,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "CREATE",
            Kind::Update => "UPDATE",
        }
    }

    pub fn waiter(self) -> &'static str {
        match self {
            Kind::Create => "stack-create-complete",
            Kind::Update => "stack-update-complete",
        }
    }
}

/// What to do before creating the change set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// A stack whose creation rolled back (ROLLBACK_COMPLETE) "can not be updated"; it holds
    /// no resources (RetainExceptOnCreate deleted them), so delete it and create it again.
    DeleteThenCreate,
}

/// Reads `describe-stacks --query Stacks[0].StackStatus`.
pub fn stack_state(answer: Result<String, String>) -> Result<StackState, String> {
    match answer {
        Ok(text) if text.trim().is_empty() || text.trim() == "None" => Ok(StackState::Absent),
        Ok(text) => Ok(StackState::Status(text.trim().to_string())),
        // "Stack with id payment-workflow-dev does not exist" (ValidationError).
        Err(e) if e.contains("does not exist") => Ok(StackState::Absent),
        Err(e) => Err(e),
    }
}

/// CloudFormation's stack statuses
/// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html).
pub fn decide(state: &StackState) -> Result<Action, String> {
    let status = match state {
        StackState::Absent => return Ok(Action::Create),
        StackState::Status(status) => status.as_str(),
    };
    match status {
        // A stack made by a CREATE change set that was never executed takes another CREATE.
        "REVIEW_IN_PROGRESS" => Ok(Action::Create),
        "ROLLBACK_COMPLETE" => Ok(Action::DeleteThenCreate),
        "CREATE_COMPLETE"
        | "UPDATE_COMPLETE"
        | "UPDATE_ROLLBACK_COMPLETE"
        | "IMPORT_COMPLETE"
        | "IMPORT_ROLLBACK_COMPLETE" => Ok(Action::Update),
        busy if busy.ends_with("_IN_PROGRESS") => Err(format!(
            "the stack is busy ({busy}); wait for it to settle and deploy again"
        )),
        other => Err(format!(
            "the stack is in {other}, which needs a person (see the runbook: continue-update-rollback, \
             or delete the stack and its retained resources)"
        )),
    }
}

/// S3's answer when `If-None-Match: *` finds the key taken: "412 Precondition Failed". The
/// key is content-addressed, so the object there holds these very bytes.
pub fn already_uploaded(error: &str) -> bool {
    error.contains("PreconditionFailed") || error.contains("(412)")
}

/// A change set that changes nothing ends FAILED with "The submitted information didn't
/// contain changes. Submit different information to create a change set." (an older API and
/// some emulators refuse the request itself with "No updates are to be performed.").
pub fn has_no_changes(answer: &str) -> bool {
    answer.contains("didn't contain changes") || answer.contains("No updates are to be performed")
}

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The change set ran and the stack policy is set.
    Deployed { change_set: String },
    /// Nothing to change: the empty change set was deleted.
    NoChanges,
    /// `--create-only`: the change set waits for review and `--execute <name>`.
    Created { change_set: String, arn: String },
}

/// Uploads, creates the change set, shows it and (unless `create_only`) executes it after
/// `confirm`.
pub fn deploy(
    steps: &Steps,
    create_only: bool,
    runner: &mut dyn Runner,
    confirm: &mut dyn FnMut() -> Result<bool, String>,
) -> Result<Outcome, String> {
    for step in steps.prepare().iter().chain(&steps.uploads()) {
        match runner.run(step) {
            Ok(_) => {}
            Err(e) if already_uploaded(&e) => {
                println!("    (already there: the key is content-addressed, so are its bytes)");
            }
            Err(e) if e.contains("BucketAlreadyOwnedByYou") => {
                println!("    (the bucket is there)")
            }
            Err(e) => return Err(e),
        }
    }
    let state = stack_state(runner.run(&steps.describe_stack()))?;
    let kind = match decide(&state)? {
        Action::Create => Kind::Create,
        Action::Update => Kind::Update,
        Action::DeleteThenCreate => {
            for step in steps.delete_stack() {
                runner.run(&step)?;
            }
            Kind::Create
        }
    };
    let arn = match runner.run(&steps.create_change_set(kind)) {
        Ok(arn) => arn.trim().to_string(),
        Err(e) if has_no_changes(&e) => return Ok(Outcome::NoChanges),
        Err(e) => return Err(e),
    };
    if let Err(waited) = runner.run(&steps.wait_change_set()) {
        let status = runner.run(&steps.change_set_status())?;
        if has_no_changes(&status) {
            runner.run(&steps.delete_change_set())?;
            return Ok(Outcome::NoChanges);
        }
        return Err(format!(
            "the change set {} failed: {}\n({waited})",
            steps.change_set,
            status.trim()
        ));
    }
    println!("{}", runner.run(&steps.show_change_set())?);
    if create_only {
        return Ok(Outcome::Created {
            change_set: steps.change_set.clone(),
            arn,
        });
    }
    if !confirm()? {
        return Err(format!(
            "deployment cancelled; the change set {} is left for review",
            steps.change_set
        ));
    }
    for step in steps.execute(kind) {
        runner.run(&step)?;
    }
    Ok(Outcome::Deployed {
        change_set: steps.change_set.clone(),
    })
}

/// `--execute <name>`: runs a change set created (and reviewed) earlier.
pub fn execute(steps: &Steps, runner: &mut dyn Runner) -> Result<Outcome, String> {
    let kind = match stack_state(runner.run(&steps.describe_stack()))? {
        StackState::Status(s) if s == "REVIEW_IN_PROGRESS" => Kind::Create,
        state => match decide(&state)? {
            Action::Update => Kind::Update,
            _ => {
                return Err(format!(
                    "no stack can take the change set {}: {state:?}",
                    steps.change_set
                ));
            }
        },
    };
    let status = runner.run(&steps.change_set_status())?;
    let ready = status.split_whitespace().take(2).collect::<Vec<_>>();
    if ready != ["CREATE_COMPLETE", "AVAILABLE"] {
        return Err(format!(
            "the change set {} cannot be executed: {}",
            steps.change_set,
            status.trim()
        ));
    }
    println!("{}", runner.run(&steps.show_change_set())?);
    for step in steps.execute(kind) {
        runner.run(&step)?;
    }
    Ok(Outcome::Deployed {
        change_set: steps.change_set.clone(),
    })
}
