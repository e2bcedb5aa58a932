//! The rows of the side-by-side table: what runs, against which backend, with which events,
//! and what a right answer looks like.

use super::driver::Spec;
use crate::package;
use crate::project::Project;
use payment_workflow_book::template::Template;
use serde_json::{Value, json};
use std::path::Path;

/// The merchants of the sample payments; `tools/emulator/up.py` seeds the same file into
/// the emulator's merchants table.
const MERCHANTS: &str = include_str!("../../../../tools/emulator/sample-merchants.json");

/// Rule settings exactly as the template's SSM parameters hold them.
pub fn rule_settings() -> Vec<(String, String)> {
    let template = Template::load();
    let value = |id: &str| {
        template.resource(id)["Properties"]["Value"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has a literal Value"))
            .to_string()
    };
    vec![
        ("VALIDATION_RULES".into(), value("ValidationRulesParameter")),
        ("FRAUD_RULES".into(), value("FraudRulesParameter")),
        ("MERCHANTS".into(), MERCHANTS.to_string()),
    ]
}

/// An approvable payment, new for every run, row and invocation.
pub fn payment(run: u32, row: u16, i: usize) -> Value {
    json!({
        "transaction_id": format!("{run:08x}-{row:04x}-4000-8000-{i:012x}"),
        "merchant_id": "merchant-001",
        "amount_minor": 1250,
        "currency": "EUR",
        // One card per payment: the velocity rules stay quiet, as for distinct customers.
        // Letters only: 13 or more consecutive digits look like a card number and are refused.
        "payment_token": format!("tok_bench{}", letters(i)),
        "card_last4": "4242",
        "country": "DE",
    })
}

/// `i` written with the letters a-j for the digits 0-9, 16 wide: a distinct token per payment.
fn letters(i: usize) -> String {
    format!("{i:016}")
        .bytes()
        .map(|digit| char::from(b'a' + (digit - b'0')))
        .collect()
}

/// The key id the sample merchant's record binds (sample-merchants.json). Against the
/// emulator the onboarded record binds the deployed key's id instead.
const SAMPLE_API_KEY_ID: &str = "sample-key-merchant-001";

/// The validator's task input: the body and the caller (PLAN: Validate's Parameters).
fn validator_input(run: u32, row: u16, i: usize) -> Value {
    json!({"payment": payment(run, row, i), "caller": {"api_key_id": SAMPLE_API_KEY_ID}})
}

/// The fraud detector's task input.
fn fraud_input(run: u32, row: u16, i: usize) -> Value {
    json!({"payment": payment(run, row, i)})
}

fn settlement_request(run: u32, row: u16, i: usize) -> Value {
    json!({
        "decision": "APPROVED",
        "payment": payment(run, row, i),
        "screening": {
            "validation": {"verdict": "ACCEPTED", "rejections": []},
            "fraud": {"score": 0, "approved": true, "signals": []}
        }
    })
}

/// One committed settlement, as the transactions table's stream delivers it (a batch of
/// one; the fields Lambda's DynamoDB event carries).
fn committed_settlement(run: u32, row: u16, i: usize) -> Value {
    let payment = payment(run, row, i);
    let id = payment["transaction_id"].clone();
    json!({"Records": [{
        "eventID": format!("bench-{i}"),
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/transactions-local/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_796_000_000,
            "Keys": {"transaction_id": {"S": id}},
            "NewImage": {
                "transaction_id": {"S": id},
                "merchant_id": {"S": "merchant-001"},
                "status": {"S": "SETTLED"},
                "amount_minor": {"N": "1250"},
                "currency": {"S": "EUR"},
                "recorded_at": {"S": "2026-11-29T12:00:00.000Z"},
                "notification_pending": {"S": "07"}
            },
            "SequenceNumber": format!("{:021}", i + 1),
            "SizeBytes": 300,
            "StreamViewType": "NEW_IMAGE"
        }
    }]})
}

fn accepted(v: &Value) -> bool {
    v["verdict"] == "ACCEPTED"
}
fn approved(v: &Value) -> bool {
    v["approved"] == true
}
fn screened(v: &Value) -> bool {
    accepted(&v["validation"]) && approved(&v["fraud"])
}
/// The Python baseline's answer keeps the first version's validator shape.
fn screened_baseline(v: &Value) -> bool {
    v["validation"]["accepted"] == true && approved(&v["fraud"])
}
fn settled(v: &Value) -> bool {
    v["outcome"] == "SETTLED" && v["replayed"] == false
}
fn delivered(v: &Value) -> bool {
    v["batchItemFailures"].as_array().is_some_and(Vec::is_empty)
}
fn empty(v: &Value) -> bool {
    *v == json!({})
}

type Event = fn(u32, u16, usize) -> Value;
type Check = fn(&Value) -> bool;

/// The functions on the payment path, their events and checks. secret-rotation is left
/// out: it runs four steps once per rotation period, never per payment.
pub const FUNCTIONS: [(&str, Event, Check); 4] = [
    ("validator", validator_input, accepted),
    ("fraud-detector", fraud_input, approved),
    ("settlement", settlement_request, settled),
    ("notification", committed_settlement, delivered),
];

fn event_of(make: Event, run: u32, row: u16) -> Box<dyn Fn(usize) -> Value> {
    Box::new(move |i| make(run, row, i))
}

/// Where cargo-lambda leaves a release binary (the `bootstrap` its zip holds).
fn release_binary(project: &Project, name: &str) -> std::path::PathBuf {
    project.target(&format!("x86_64-unknown-linux-gnu/release/{name}"))
}

/// The floor, the Python baseline and the in-memory rows: no backend process needed.
pub fn local(project: &Project, run: u32, python_package: &Path) -> Vec<Spec> {
    let rules = rule_settings();
    let mut specs = vec![
        Spec {
            name: "no-op (floor)".into(),
            role: "floor",
            language: "Rust",
            backend: "none",
            program: release_binary(project, "noop"),
            args: vec![],
            env: vec![],
            package: Some(project.target("lambda/noop/bootstrap.zip")),
            event: event_of(payment, run, 0),
            check: empty,
        },
        Spec {
            name: "validation + fraud (Python baseline)".into(),
            role: "baseline",
            language: "Python 3.11",
            backend: "in-memory",
            program: project.venv().join("bin/python"),
            args: vec![
                "-m".into(),
                "awslambdaric".into(),
                "python_baseline.handler".into(),
            ],
            env: [
                ("PYTHONPATH", project.path("tools/bench")),
                ("LAMBDA_TASK_ROOT", project.path("tools/bench")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.display().to_string()))
            .chain([("AWS_DEFAULT_REGION".into(), "eu-west-1".into())])
            .chain(rules.clone())
            .collect(),
            package: Some(python_package.to_path_buf()),
            event: event_of(payment, run, 1),
            check: screened_baseline,
        },
    ];
    let in_memory = [(
        "validation + fraud",
        validator_input as Event,
        screened as Check,
        "screen",
    )]
    .into_iter()
    .chain(
        FUNCTIONS
            .iter()
            .map(|&(name, event, check)| (name, event, check, name)),
    );
    for (row, (name, event, check, entry)) in in_memory.enumerate() {
        specs.push(Spec {
            name: name.into(),
            role: "function",
            language: "Rust",
            backend: "in-memory",
            program: release_binary(project, "in-memory"),
            args: vec![],
            env: rules
                .iter()
                .cloned()
                .chain([("BENCH_FUNCTION".into(), entry.into())])
                .collect(),
            package: Some(project.target("lambda/in-memory/bootstrap.zip")),
            event: event_of(event, run, 2 + row as u16),
            check,
        });
    }
    specs
}

/// SDK timeouts for the emulator rows (the deployed value stays in force in the end-to-end
/// suite, where a timed-out call is retried by the workflow). The notifier starts a record
/// only with six operations' time left: 6 × 4 s fits its 30 s timeout.
const EMULATOR_SDK_TIMEOUTS: &str =
    r#"{"connect_ms":1000,"attempt_ms":2000,"operation_ms":4000,"max_attempts":3}"#;

/// The release binaries of the functions against the emulator, each with the environment
/// CloudFormation gave the deployed function (SDK_TIMEOUTS excepted).
pub fn emulated(project: &Project, run: u32, described: &Value) -> Vec<Spec> {
    let endpoint = described["endpoint"].as_str().unwrap_or_default();
    let region = described["region"].as_str().unwrap_or_default();
    // The emulator enforces IAM: its administrator's keys (tools/bench/backend.py says why).
    let key_id = described["credentials"]["access_key_id"]
        .as_str()
        .unwrap_or_default();
    let secret = described["credentials"]["secret_access_key"]
        .as_str()
        .unwrap_or_default();
    FUNCTIONS
        .iter()
        .enumerate()
        .map(|(row, &(name, event, check))| {
            let deployed = &described["functions"][name]["environment"];
            let mut env: Vec<(String, String)> = deployed
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            env.extend(
                [
                    ("AWS_ENDPOINT_URL", endpoint),
                    ("AWS_REGION", region),
                    ("AWS_DEFAULT_REGION", region),
                    ("AWS_ACCESS_KEY_ID", key_id),
                    ("AWS_SECRET_ACCESS_KEY", secret),
                    // The template's timeouts budget AWS's latencies; moto's grow with the
                    // thousand writes of a row, and a timed-out call would stop the run.
                    ("SDK_TIMEOUTS", EMULATOR_SDK_TIMEOUTS),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            Spec {
                name: name.into(),
                role: "function",
                language: "Rust",
                backend: "emulator",
                program: release_binary(project, name),
                args: vec![],
                env,
                package: Some(package::packages_dir(project).join(format!("{name}.zip"))),
                event: bound_caller(
                    event_of(event, run, 16 + ids_row(name, row) as u16),
                    described["api_key_ids"]["merchant-001"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
                check,
            }
        })
        .collect()
}

/// Which row's payment ids a function's events carry against the emulator: the notifier
/// re-reads the committed record and refuses one that is not there (review F11), so its
/// stream records name the payments the settlement row committed.
fn ids_row(name: &str, row: usize) -> usize {
    let settlement = FUNCTIONS.iter().position(|f| f.0 == "settlement");
    match (name, settlement) {
        ("notification", Some(settlement)) => settlement,
        _ => row,
    }
}

/// Against the emulator the validator's caller is the key onboarding bound to the merchant
/// (the sample record's key id exists only in the in-memory rows).
fn bound_caller(event: Box<dyn Fn(usize) -> Value>, key_id: String) -> Box<dyn Fn(usize) -> Value> {
    Box::new(move |i| {
        let mut input = event(i);
        if input.get("caller").is_some() {
            input["caller"]["api_key_id"] = json!(key_id);
        }
        input
    })
}
