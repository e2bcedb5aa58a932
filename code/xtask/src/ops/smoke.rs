//! `cargo xtask smoke --env <env> [--merchant <id>] [--stack <name>] [--emulator <work_dir>
//! [--endpoint-url URL]]`: one payment through the stack's real endpoint, as a merchant sends
//! it. It reads the stack's outputs, warns about alarm e-mail subscriptions nobody confirmed,
//! takes an enabled key bound to the merchant, posts a fresh payment (expects 200 SETTLED),
//! posts it again (expects the recorded answer, `replayed: true`) and waits up to 60 s for its
//! signed receipt in the archive bucket. HTTP goes through `curl` (xtask has no HTTP client);
//! the key reaches curl on standard input, never on a command line.

use super::records::{self, Stored};
use super::{Common, Stack};
use crate::deploy::flow::Runner;
use crate::deploy::{self, Step};
use crate::project::Project;
use crate::shell;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// The merchant smoke payments are made for when `--merchant` is not given: the operator's
/// own, onboarded once per environment, so test payments never mix with a merchant's.
pub const DEFAULT_MERCHANT: &str = "smoke-test";
/// The stack outputs read (checked against the template below).
pub const ENDPOINT: &str = "ApiEndpoint";
pub const ARCHIVE: &str = "ArchiveBucketName";
pub const TOPICS: [&str; 2] = ["AlertsTopicArn", "FailedTransactionsTopicArn"];
/// How long the receipt may take: the stream, the notifier's retries, and slack.
const RECEIPT_WAIT: Duration = Duration::from_secs(60);
const RECEIPT_POLL: Duration = Duration::from_secs(2);
/// The amount of a smoke payment, within the merchant's limits.
const AMOUNT_MINOR: u64 = 1250;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub common: Common,
    pub merchant: String,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut common = Common::default();
    let mut merchant = DEFAULT_MERCHANT.to_string();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        if common.take(arg, &mut value)? {
            continue;
        }
        match arg.as_str() {
            "--merchant" => merchant = value()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    common.check()?;
    if !records::valid_merchant_id(&merchant) {
        return Err(format!("--merchant {merchant}: not a merchant id"));
    }
    Ok(Options { common, merchant })
}

/// The aws CLI calls and the HTTP requests of a smoke test.
#[derive(Debug, Clone)]
pub struct Calls {
    pub stack: Stack,
    pub merchant: String,
    pub options: deploy::Options,
}

impl Calls {
    fn aws(&self, why: &'static str, args: &[&str]) -> Step {
        deploy::aws(why, args, &self.options)
    }

    pub fn outputs(&self) -> Step {
        self.aws(
            "read the stack's outputs: the endpoint, the archive bucket, the alarm topics",
            &[
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                &self.stack.name,
                "--query",
                "Stacks[0].Outputs[].[OutputKey,OutputValue]",
                "--output",
                "text",
            ],
        )
    }

    pub fn subscriptions(&self, topic: &str) -> Step {
        self.aws(
            "is the alarm e-mail confirmed? (PendingConfirmation: nobody is told until someone follows the link SNS sent)",
            &[
                "sns",
                "list-subscriptions-by-topic",
                "--topic-arn",
                topic,
                "--query",
                "Subscriptions[].[Protocol,SubscriptionArn]",
                "--output",
                "text",
            ],
        )
    }

    pub fn merchants_table(&self) -> Step {
        super::stack_resource(
            &self.stack,
            super::onboard::MERCHANTS_TABLE,
            "find the stack's merchant table",
            &self.options,
        )
    }

    pub fn read_record(&self, table: &str) -> Step {
        self.aws(
            "read the merchant's record: its bound keys and currencies",
            &[
                "dynamodb",
                "get-item",
                "--table-name",
                table,
                "--key",
                &records::key(&self.merchant).to_string(),
                "--consistent-read",
                "--output",
                "json",
            ],
        )
    }

    pub fn key_value(&self, key: &str) -> Step {
        self.aws(
            "the key's value (kept in memory, never printed); a disabled key is skipped",
            &[
                "apigateway",
                "get-api-key",
                "--api-key",
                key,
                "--include-value",
                "--query",
                "[enabled,value]",
                "--output",
                "text",
            ],
        )
    }

    pub fn post(&self, why: &'static str, url: &str, body: &str) -> Step {
        let argv = [
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "35",
            "--request",
            "POST",
            url,
            "--header",
            "Content-Type: application/json",
            "--config",
            "-",
            "--data-binary",
            body,
            "--write-out",
            "\\n%{http_code}",
        ];
        Step {
            why,
            argv: argv.iter().map(|a| a.to_string()).collect(),
        }
    }

    pub fn receipt(&self, bucket: &str, key: &str) -> Step {
        self.aws(
            "is the signed receipt in the archive? (polled every 2 s for up to 60 s: it follows the record through the table's stream)",
            &[
                "s3api",
                "head-object",
                "--bucket",
                bucket,
                "--key",
                key,
                "--query",
                "ContentLength",
                "--output",
                "text",
            ],
        )
    }
}

const FIRST: &str = "post the payment with the merchant's key (curl reads the x-api-key header from standard input, so the key is on no command line): expect 200 and outcome SETTLED";
const REPLAY: &str = "post the same body again: expect 200, the recorded answer, replayed: true";

/// Sends a request with the API key: (HTTP status, body).
pub trait Http {
    fn post(&mut self, step: &Step, api_key: &str) -> Result<(u16, String), String>;
}

/// A smoke payment: a fresh transaction id and a letters-only token (13 or more consecutive
/// digits would be refused as card-number-shaped, `payments_core::payment::contains_card_number`).
pub fn payment(merchant: &str, stored: &Stored, random: &[u8]) -> Value {
    let (currency, amount) = currency_and_amount(stored);
    json!({
        "transaction_id": uuid_v4(&random[..16]),
        "merchant_id": merchant,
        "amount_minor": amount,
        "currency": currency,
        "payment_token": token(&random[16..]),
        "card_last4": "4242",
        "country": "DE",
    })
}

/// 36 random bytes: a UUID and a token.
pub const RANDOM_BYTES: usize = 36;

/// EUR when the merchant takes it (or its record names no currencies: the defaults include
/// EUR), else its first currency; the amount clamped into that currency's limits.
fn currency_and_amount(stored: &Stored) -> (String, u64) {
    match &stored.currencies {
        Some(currencies) if !currencies.is_empty() => {
            let (code, limits) = currencies
                .get_key_value("EUR")
                .or_else(|| currencies.iter().next())
                .expect("not empty");
            (code.clone(), AMOUNT_MINOR.clamp(limits.min, limits.max))
        }
        _ => ("EUR".into(), AMOUNT_MINOR),
    }
}

/// RFC 4122 version 4, lower case (the API model's `transaction_id` pattern).
fn uuid_v4(bytes: &[u8]) -> String {
    let mut b: [u8; 16] = bytes.try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn token(bytes: &[u8]) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let letters: String = bytes
        .iter()
        .take(20)
        .map(|b| LETTERS[usize::from(*b) % LETTERS.len()] as char)
        .collect();
    format!("tok_{letters}")
}

/// The emulator serves every API on loopback (tools/emulator/apigateway.py): the stack's
/// `https://{api}.execute-api.{region}.{suffix}/{stage}/{path}` becomes
/// `{base}/restapis/{api}/{stage}/_user_request_/{path}`, which names the API even when
/// several stacks have a stage of the same name.
pub fn emulator_url(api_endpoint: &str, base: &str) -> Result<String, String> {
    let rest = api_endpoint
        .strip_prefix("https://")
        .ok_or_else(|| format!("{api_endpoint} is not an https URL"))?;
    let (host, path) = rest
        .split_once('/')
        .ok_or_else(|| format!("{api_endpoint} has no stage"))?;
    let api = host.split('.').next().unwrap_or_default();
    let (stage, path) = path.split_once('/').unwrap_or((path, ""));
    Ok(format!(
        "{}/restapis/{api}/{stage}/_user_request_/{path}",
        base.trim_end_matches('/')
    ))
}

/// `scheme://host:port` of the emulator's API server, from endpoint.json's `url`.
pub fn emulator_api_base(work_dir: &std::path::Path) -> Result<String, String> {
    let path = work_dir.join("endpoint.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let endpoint: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let url = endpoint["url"]
        .as_str()
        .ok_or_else(|| format!("{} has no url", path.display()))?;
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    Ok(url[..end].to_string())
}

/// What a smoke test found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub transaction_id: String,
    pub receipt: String,
    /// Things a person must fix that do not stop payments (unconfirmed alarm e-mails).
    pub warnings: Vec<String>,
}

/// What the answer to a POST must be: 200, SETTLED, this transaction, and for the replay
/// `replayed: true`. The first answer may be a replay too: the workflow retries settlement
/// after a timeout, and the retry answers with what the first attempt recorded.
fn expect(status: u16, body: &str, transaction_id: &str, replay: bool) -> Result<bool, String> {
    let answer: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let fields = (
        answer["outcome"].as_str(),
        answer["transaction_id"].as_str(),
    );
    let replayed = answer["replayed"].as_bool();
    if status == 200
        && fields == (Some("SETTLED"), Some(transaction_id))
        && (replayed == Some(true) || (!replay && replayed == Some(false)))
    {
        return Ok(replayed == Some(true));
    }
    let replayed = if replay {
        "replayed true"
    } else {
        "replayed false"
    };
    let hint = match (status, answer["outcome"].as_str()) {
        (200, Some("DECLINED")) => {
            "declined: the merchant's currencies and limits (onboard --currency), the fraud rules; see reasons"
        }
        (403, _) => {
            "the key is missing, disabled or not in the usage plan (gateway error), or not bound to the merchant (MerchantNotBound): cargo xtask onboard"
        }
        (422, _) => {
            "the payment was refused (InvalidPayment / TransactionIdReused): see field and reason"
        }
        (429, _) => "throttled by the usage plan or the stage: try again later",
        (500..=599, _) => {
            "the workflow or its configuration failed: see the alarms and the alarm table"
        }
        _ => "an answer outside the client contract",
    };
    Err(format!(
        "expected 200 with outcome SETTLED, {replayed} for {transaction_id}; got {status} {body}\n({hint})"
    ))
}

// ANCHOR: smoke
/// Runs a smoke test: `url_of` maps the stack's endpoint to the URL to call (the emulator's
/// loopback), `random` gives `RANDOM_BYTES` bytes, `sleep` waits between receipt polls.
pub fn smoke(
    calls: &Calls,
    runner: &mut dyn Runner,
    http: &mut dyn Http,
    url_of: &dyn Fn(&str) -> Result<String, String>,
    random: &[u8],
    sleep: &mut dyn FnMut(Duration),
) -> Result<Report, String> {
    let outputs: BTreeMap<String, String> = runner
        .run(&calls.outputs())?
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let output = |key: &str| {
        outputs.get(key).cloned().ok_or_else(|| {
            format!(
                "the stack {} has no output {key}: is it deployed?",
                calls.stack.name
            )
        })
    };
    let (endpoint, bucket) = (output(ENDPOINT)?, output(ARCHIVE)?);
    let mut warnings = vec![];
    for topic in TOPICS.iter().filter_map(|t| outputs.get(*t)) {
        let answer = runner.run(&calls.subscriptions(topic)).unwrap_or_default();
        let emails: Vec<&str> = answer.lines().filter(|l| l.starts_with("email")).collect();
        if emails.is_empty() {
            // SNS deletes a subscription left unconfirmed (48 hours, "Deleting an Amazon SNS
            // subscription and topic"); the stack does not recreate it on its own.
            warnings.push(format!(
                "{topic} has no e-mail subscription: nobody is told. Subscribe again: \
                 aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint <AlertEmail>"
            ));
        }
        for line in emails.iter().filter(|l| l.contains("PendingConfirmation")) {
            warnings.push(format!(
                "{topic}: {line}: confirm the e-mail SNS sent to AlertEmail"
            ));
        }
    }
    let table = super::physical_id(
        runner.run(&calls.merchants_table()),
        &calls.stack,
        super::onboard::MERCHANTS_TABLE,
    )?;
    let onboard = format!(
        "cargo xtask onboard --env {} --merchant {}",
        calls.options.env, calls.merchant
    );
    let stored = records::parse_get_item(&runner.run(&calls.read_record(&table))?)?
        .filter(|s| !s.api_key_ids.is_empty())
        .ok_or_else(|| format!("{} has no record binding a key: {onboard}", calls.merchant))?;
    let mut api_key = None;
    for key in &stored.api_key_ids {
        let answer = runner.run(&calls.key_value(key))?;
        if let Some(("True", value)) = answer.trim().split_once('\t') {
            api_key = Some(value.trim().to_string());
            break;
        }
    }
    let api_key = api_key.ok_or_else(|| {
        format!(
            "none of {}'s keys is enabled: {onboard} --new-key",
            calls.merchant
        )
    })?;
    let body = payment(&calls.merchant, &stored, random);
    let transaction_id = body["transaction_id"].as_str().expect("set").to_string();
    let text = body.to_string();
    let url = url_of(&endpoint)?;
    for (why, replay) in [(FIRST, false), (REPLAY, true)] {
        let (status, answer) = http.post(&calls.post(why, &url, &text), &api_key)?;
        println!("    {status} {}", answer.trim_end());
        if expect(status, &answer, &transaction_id, replay)? && !replay {
            warnings.push(
                "the first answer was already a replay: the workflow retried settlement after a timeout \
                 (a cold start?); one payment was still recorded once"
                    .to_string(),
            );
        }
    }
    let receipt = format!("receipts/{}/{transaction_id}.json", calls.merchant);
    let tries = RECEIPT_WAIT.as_secs() / RECEIPT_POLL.as_secs();
    for attempt in 1..=tries {
        match runner.run(&calls.receipt(&bucket, &receipt)) {
            Ok(_) => {
                return Ok(Report {
                    transaction_id,
                    receipt: format!("s3://{bucket}/{receipt}"),
                    warnings,
                });
            }
            Err(e) if e.contains("404") || e.contains("Not Found") => {
                if attempt < tries {
                    sleep(RECEIPT_POLL)
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(format!(
        "the payment settled but no receipt reached s3://{bucket}/{receipt} within {} s: run the reconciler \
         and look at the notification DLQ (cargo xtask runbook --env {})",
        RECEIPT_WAIT.as_secs(),
        calls.options.env
    ))
}
// ANCHOR_END: smoke

/// curl, with the key's header given on standard input (`--config -`).
struct Curl<'a> {
    project: &'a Project,
}

impl Http for Curl<'_> {
    fn post(&mut self, step: &Step, api_key: &str) -> Result<(u16, String), String> {
        println!("== {}\n    $ {}", step.why, deploy::shell_words(&step.argv));
        let mut command = shell::command(self.project, &step.argv[0]);
        command
            .args(&step.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("could not start curl: {e}"))?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(format!("header = \"x-api-key: {api_key}\"\n").as_bytes())
            .map_err(|e| format!("curl's standard input: {e}"))?;
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "curl failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        let status = status
            .trim()
            .parse()
            .map_err(|_| format!("curl wrote no status: {text}"))?;
        Ok((status, body.to_string()))
    }
}

/// The dry run as the runbook shows it.
pub fn dry_run(calls: &Calls) -> String {
    let example = json!({
        "transaction_id": "<fresh-uuid>",
        "merchant_id": calls.merchant,
        "amount_minor": AMOUNT_MINOR,
        "currency": "EUR",
        "payment_token": "tok_<20-random-letters>",
        "card_last4": "4242",
        "country": "DE",
    })
    .to_string();
    let steps = vec![
        calls.outputs(),
        calls.subscriptions(&format!("<{}>", TOPICS[0])),
        calls.subscriptions(&format!("<{}>", TOPICS[1])),
        calls.merchants_table(),
        calls.read_record("<merchants-table>"),
        calls.key_value("<bound-key-id>"),
        calls.post(FIRST, &format!("<{ENDPOINT}>"), &example),
        calls.post(REPLAY, &format!("<{ENDPOINT}>"), &example),
        calls.receipt(
            &format!("<{ARCHIVE}>"),
            &format!("receipts/{}/<fresh-uuid>.json", calls.merchant),
        ),
    ];
    format!(
        "# <…>: read from the stack, its merchant record and API Gateway as the run goes; the key\n\
         # travels to curl on standard input as `header = \"x-api-key: <value>\"`\n\n{}",
        deploy::render(&steps)
    )
}

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let calls = Calls {
        stack: super::stack(project, &options.common)?,
        merchant: options.merchant.clone(),
        options: options.common.aws_options(),
    };
    if options.common.dry_run {
        println!(
            "# cargo xtask smoke --env {} --merchant {} (dry run: nothing is called)",
            options.common.env, options.merchant
        );
        print!("{}", dry_run(&calls));
        return Ok(());
    }
    let base = match &options.common.emulator {
        Some(dir) => Some(emulator_api_base(dir)?),
        None => None,
    };
    let url_of = |endpoint: &str| match &base {
        Some(base) => emulator_url(endpoint, base),
        None => Ok(endpoint.to_string()),
    };
    let mut runner = super::runner(project, &options.common)?;
    let random = super::random_bytes(RANDOM_BYTES)?;
    let report = smoke(
        &calls,
        &mut runner,
        &mut Curl { project },
        &url_of,
        &random,
        &mut std::thread::sleep,
    )?;
    for warning in &report.warnings {
        println!("WARNING: {warning}");
    }
    println!(
        "smoke test passed on {}: {} settled, replayed, and its receipt is at {}",
        calls.stack.name, report.transaction_id, report.receipt
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::records::Limits;
    use crate::ops::tests::{Fake, stack_of_env};
    use payment_workflow_book::template::Template;

    fn calls(merchant: &str) -> Calls {
        Calls {
            stack: stack_of_env("dev"),
            merchant: merchant.into(),
            options: crate::ops::tests::common(&["--env", "dev"]).aws_options(),
        }
    }

    /// Answers POSTs from a script; records the URL, body and key of each.
    struct Server {
        answers: Vec<(u16, String)>,
        seen: Seen,
    }

    impl Http for Server {
        fn post(&mut self, step: &Step, api_key: &str) -> Result<(u16, String), String> {
            let body =
                step.argv[step.argv.iter().position(|a| a == "--data-binary").unwrap() + 1].clone();
            self.seen
                .push((step.argv[7].clone(), body, api_key.to_string()));
            Ok(self.answers.remove(0))
        }
    }

    fn settled(replayed: bool) -> impl Fn(&str) -> (u16, String) {
        move |body: &str| {
            let sent: Value = serde_json::from_str(body).unwrap();
            (
                200,
                json!({"transaction_id": sent["transaction_id"], "merchant_id": sent["merchant_id"],
                       "outcome": "SETTLED", "replayed": replayed})
                .to_string(),
            )
        }
    }

    const OUTPUTS: (&str, Result<&str, &str>) = (
        "describe-stacks",
        Ok(
            "ApiEndpoint\thttps://abc123.execute-api.eu-west-1.amazonaws.com/v1/transactions\n\
            ArchiveBucketName\ttransaction-archives-dev-1-eu-west-1\n\
            AlertsTopicArn\tarn:aws:sns:eu-west-1:1:payment-alerts-dev\n\
            FailedTransactionsTopicArn\tarn:aws:sns:eu-west-1:1:payment-failed-transactions-dev\n",
        ),
    );
    const TABLE: (&str, Result<&str, &str>) = ("\"MerchantsTable\"", Ok("merchant-configs-dev\n"));
    const RECORD: (&str, Result<&str, &str>) = (
        "get-item",
        Ok(
            r#"{"Item": {"merchant_id": {"S": "smoke-test"}, "active": {"BOOL": true}, "api_key_ids": {"SS": ["old", "new"]}}}"#,
        ),
    );
    const KEYS: [(&str, Result<&str, &str>); 2] = [
        ("get-api-key --api-key new", Ok("False\tdisabledvalue\n")),
        ("get-api-key --api-key old", Ok("True\tsecretvalue\n")),
    ];

    /// (URL, body, key) of each request the server saw.
    type Seen = Vec<(String, String, String)>;
    /// What a scripted server answers, from the body it was sent.
    type Answer<'a> = &'a dyn Fn(&str) -> (u16, String);

    /// A run with the emulator's URL mapping, a fixed random seed and a scripted server;
    /// (the result, the aws calls, the requests, how many times it slept).
    fn run(
        answers: &[(&str, Result<&str, &str>)],
        server: &[Answer],
    ) -> (Result<Report, String>, Fake, Seen, usize) {
        let calls = calls("smoke-test");
        let mut fake = Fake::new(answers);
        let stored = records::parse_get_item(RECORD.1.unwrap()).unwrap().unwrap();
        let random = [7u8; RANDOM_BYTES];
        let body = payment("smoke-test", &stored, &random).to_string();
        let mut http = Server {
            answers: server.iter().map(|answer| answer(&body)).collect(),
            seen: vec![],
        };
        let mut slept = 0;
        let result = smoke(
            &calls,
            &mut fake,
            &mut http,
            &|e| emulator_url(e, "http://127.0.0.1:5001"),
            &random,
            &mut |_| slept += 1,
        );
        (result, fake, http.seen, slept)
    }

    #[test]
    fn a_payment_settles_replays_and_its_receipt_appears() {
        let (report, fake, seen, slept) = run(
            &[
                OUTPUTS,
                TABLE,
                RECORD,
                KEYS[0],
                KEYS[1],
                (
                    "once:head-object",
                    Err("An error occurred (404) when calling the HeadObject operation: Not Found"),
                ),
                ("head-object", Ok("1234\n")),
                (
                    "list-subscriptions-by-topic",
                    Ok("email\tarn:aws:sns:eu-west-1:1:payment-alerts-dev:1\n"),
                ),
            ],
            &[&settled(false), &settled(true)],
        );
        let report = report.unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(slept, 1, "one poll before the receipt was there");
        assert!(
            report
                .receipt
                .starts_with("s3://transaction-archives-dev-1-eu-west-1/receipts/smoke-test/")
        );
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[0], seen[1],
            "the replay sends the very same body with the same key"
        );
        assert_eq!(
            seen[0].2, "secretvalue",
            "the enabled key, not the disabled one"
        );
        assert_eq!(
            seen[0].0,
            "http://127.0.0.1:5001/restapis/abc123/v1/_user_request_/transactions"
        );
        assert!(
            !fake.asked.iter().any(|c| c.contains("secretvalue")),
            "the key is on no command line"
        );
        assert_eq!(fake.count("head-object"), 2);
    }

    #[test]
    fn a_declined_or_refused_payment_or_a_missing_replay_fails_with_a_hint() {
        let base = [OUTPUTS, TABLE, RECORD, KEYS[0], KEYS[1]];
        let declined = |_: &str| {
            (
                200,
                r#"{"outcome": "DECLINED", "replayed": false}"#.to_string(),
            )
        };
        let (result, ..) = run(&base, &[&declined]);
        assert!(result.unwrap_err().contains("onboard --currency"));
        let forbidden = |_: &str| (403, r#"{"error": "MerchantNotBound"}"#.to_string());
        let (result, ..) = run(&base, &[&forbidden]);
        assert!(result.unwrap_err().contains("usage plan"));
        // A first answer that is already a replay (settlement retried) passes, with a warning.
        let (report, ..) = run(
            &[
                OUTPUTS,
                TABLE,
                RECORD,
                KEYS[0],
                KEYS[1],
                ("head-object", Ok("1")),
            ],
            &[&settled(true), &settled(true)],
        );
        assert!(
            report
                .unwrap()
                .warnings
                .iter()
                .any(|w| w.contains("already a replay"))
        );
        // Mutant: a replay that settles again instead of replaying is caught.
        let (result, fake, ..) = run(&base, &[&settled(false), &settled(false)]);
        assert!(result.unwrap_err().contains("replayed true"));
        assert!(!fake.called("head-object"));
    }

    #[test]
    fn a_receipt_that_never_comes_fails_after_sixty_seconds() {
        let missing = (
            "head-object",
            Err("An error occurred (404) when calling the HeadObject operation: Not Found"),
        );
        let (result, fake, _, slept) = run(
            &[OUTPUTS, TABLE, RECORD, KEYS[0], KEYS[1], missing],
            &[&settled(false), &settled(true)],
        );
        assert!(result.unwrap_err().contains("reconciler"));
        assert_eq!(fake.count("head-object"), 30);
        assert_eq!(slept, 29);
        let denied = (
            "head-object",
            Err("An error occurred (403) when calling the HeadObject operation: Forbidden"),
        );
        let (result, fake, ..) = run(
            &[OUTPUTS, TABLE, RECORD, KEYS[0], KEYS[1], denied],
            &[&settled(false), &settled(true)],
        );
        assert!(result.is_err() && fake.count("head-object") == 1);
    }

    #[test]
    fn unconfirmed_alarm_emails_are_warned_about_and_a_merchant_without_a_key_stops_the_run() {
        let pending = (
            "list-subscriptions-by-topic",
            Ok("email\tPendingConfirmation\n"),
        );
        let (report, ..) = run(
            &[OUTPUTS, TABLE, RECORD, KEYS[0], KEYS[1], pending],
            &[&settled(false), &settled(true)],
        );
        let warnings = report.unwrap().warnings;
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("PendingConfirmation"));
        let (report, ..) = run(
            &[OUTPUTS, TABLE, RECORD, KEYS[0], KEYS[1]],
            &[&settled(false), &settled(true)],
        );
        assert!(report.unwrap().warnings[0].contains("no e-mail subscription"));
        let (result, _, seen, _) = run(&[OUTPUTS, TABLE, ("get-item", Ok("{}"))], &[]);
        assert!(
            result
                .unwrap_err()
                .contains("cargo xtask onboard --env dev --merchant smoke-test")
        );
        assert!(seen.is_empty());
        let all_disabled = ("get-api-key", Ok("False\tv\n"));
        let (result, ..) = run(&[OUTPUTS, TABLE, RECORD, all_disabled], &[]);
        assert!(result.unwrap_err().contains("--new-key"));
    }

    #[test]
    fn smoke_payments_are_valid_payments_with_fresh_ids_and_letter_tokens() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let random = crate::ops::random_bytes(RANDOM_BYTES).unwrap();
            let body = payment("smoke-test", &Stored::default(), &random);
            let token = body["payment_token"].as_str().unwrap();
            assert!(
                !payments_core::payment::contains_card_number(token),
                "{token}"
            );
            let parsed = payments_core::Payment::from_value(&body).unwrap();
            assert_eq!(parsed.merchant_id, "smoke-test");
            assert!(seen.insert(body["transaction_id"].as_str().unwrap().to_string()));
        }
        // The merchant's own currency and limits.
        let stored = Stored {
            currencies: Some(BTreeMap::from([(
                "JPY".to_string(),
                Limits {
                    min: 5000,
                    max: 9000,
                },
            )])),
            ..Stored::default()
        };
        let body = payment("m01", &stored, &[0; RANDOM_BYTES]);
        assert_eq!(
            (body["currency"].as_str(), body["amount_minor"].as_u64()),
            (Some("JPY"), Some(5000))
        );
    }

    #[test]
    fn the_emulator_url_names_the_api_and_the_stage() {
        assert_eq!(
            emulator_url(
                "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/transactions",
                "http://127.0.0.1:5001/"
            )
            .unwrap(),
            "http://127.0.0.1:5001/restapis/abc123/v1/_user_request_/transactions"
        );
        assert!(emulator_url("http://x/v1/transactions", "http://127.0.0.1:1").is_err());
        let dir = std::env::temp_dir().join(format!("xtask-smoke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("endpoint.json"),
            r#"{"url": "http://127.0.0.1:5001/v1/transactions"}"#,
        )
        .unwrap();
        assert_eq!(emulator_api_base(&dir).unwrap(), "http://127.0.0.1:5001");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_stack_has_the_outputs_the_smoke_test_reads() {
        let template = Template::load_from(Project::locate().path(deploy::TEMPLATE));
        for output in [ENDPOINT, ARCHIVE].iter().chain(&TOPICS) {
            assert!(!template.doc["Outputs"][*output].is_null(), "{output}");
        }
        let endpoint =
            payment_workflow_book::template::sub_text(&template.doc["Outputs"][ENDPOINT]["Value"])
                .unwrap();
        assert!(
            endpoint.starts_with("https://${PaymentApi}.execute-api."),
            "{endpoint}: emulator_url's shape"
        );
    }

    #[test]
    fn the_runbook_shows_the_smoke_test_as_generated() {
        let text = format!(
            "<!-- generated by the_runbook_shows_the_smoke_test_as_generated (code/xtask/src/ops/smoke.rs); \
             `cargo xtask regen` -->\n```sh\n# cargo xtask smoke --env dev\n{}```\n",
            dry_run(&calls(DEFAULT_MERCHANT))
        );
        payment_workflow_book::generated::check("src/generated/runbook-smoke.md", &text);
    }
}
