//! Answers DynamoDB gives and moto never does (or not on demand), served by a scripted
//! loopback server: keys left unprocessed by `BatchGetItem`, a reused client request token,
//! a conditional check failing, and refusals of other kinds. Each test states what the
//! adapter makes of the answer.

mod records;

use payments_aws::cards::DynamoCardActivity;
use payments_aws::decisions::DynamoDecisions;
use payments_aws::pending::DynamoPending;
use payments_aws::settled::DynamoSettled;
use payments_core::errors::StoreError;
use payments_core::payment::Payment;
use payments_core::ports::{
    CardActivityReader, CompleteOutcome, Completion, DecisionStore, PendingNotifications,
    SettledRecords,
};
use payments_core::records::{Claim, Outcome};
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A DynamoDB endpoint that answers every request with `status` and `body`, noting when
/// each request arrived.
struct Scripted {
    endpoint: String,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Scripted {
    fn start(status: u16, body: &str) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let (seen, body) = (arrivals.clone(), body.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, body) = (seen.clone(), body.clone());
                std::thread::spawn(move || serve(stream, status, &body, &seen));
            }
        });
        Scripted { endpoint, arrivals }
    }

    /// An SDK configuration for this endpoint, without the SDK's own retries (what is
    /// tested is the adapter's answer to one response).
    async fn config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

/// Answers every HTTP/1.1 request on `stream` (keep-alive) with `status` and `body`.
fn serve(stream: TcpStream, status: u16, body: &str, arrivals: &Mutex<Vec<Instant>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    loop {
        let (mut length, mut line) = (0usize, String::new());
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return; // the client closed the connection
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut request = vec![0; length];
        if reader.read_exact(&mut request).is_err() {
            return;
        }
        arrivals.lock().unwrap().push(Instant::now());
        let answer = format!(
            "HTTP/1.1 {status} Scripted\r\nContent-Type: application/x-amz-json-1.0\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A DynamoDB error answer (`__type` names the exception, as the JSON protocol does).
fn error(exception: &str) -> String {
    json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{exception}"),
        "message": "scripted",
    })
    .to_string()
}

/// Keys DynamoDB leaves unprocessed are asked for again after an exponentially growing
/// pause (DynamoDB API reference, BatchGetItem: "we strongly recommend that you use an
/// exponential backoff algorithm"), three requests in all; then the read is Unavailable,
/// never an empty history.
#[tokio::test]
async fn unprocessed_keys_are_asked_again_with_growing_pauses_then_unavailable() {
    let unprocessed = json!({
        "Responses": {"card-activity": []},
        "UnprocessedKeys": {"card-activity": {"Keys": [{"card_key": {"S": "cdcd#2"}}]}},
    });
    let dynamodb = Scripted::start(200, &unprocessed.to_string());
    let cards = DynamoCardActivity::new(&dynamodb.config().await, "card-activity".into());

    let read = cards.windows("cdcd#2", "cdcd#1").await;

    assert!(
        matches!(read, Err(StoreError::Unavailable { .. })),
        "{read:?}"
    );
    let arrivals = dynamodb.arrivals();
    assert_eq!(arrivals.len(), 3, "three requests in all");
    // At least 20 ms, then 40 ms (10 ms doubled per retry): lower bounds, which a slow
    // machine cannot break.
    let pauses: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(pauses[0] >= Duration::from_millis(20), "{pauses:?}");
    assert!(pauses[1] >= Duration::from_millis(40), "{pauses:?}");
}

fn completion() -> Completion {
    let payment = Payment::from_value(&json!({
        "transaction_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "merchant_id": "merchant-001",
        "amount_minor": 1250,
        "currency": "EUR",
        "payment_token": "tok_scriptedAnswers01",
        "card_last4": "4242",
        "country": "DE",
    }))
    .unwrap();
    let claim = Claim::new(&payment, "attempt-1", 1_800_000_000_000, 1_800_000_003_000);
    records::completion(&claim, Outcome::Settled)
}

/// The settlement transaction's client request token is the attempt's and the status's: a
/// token DynamoDB already saw with other parameters (IdempotentParameterMismatchException,
/// TransactWriteItems API reference) means another write holds this attempt's place, which
/// reads as the claim lost, never as a failure of the payment; any other refusal is an error.
#[tokio::test]
async fn a_reused_request_token_reads_as_the_claim_lost_and_other_refusals_as_errors() {
    let mismatch = Scripted::start(400, &error("IdempotentParameterMismatchException"));
    let store = DynamoDecisions::new(
        &mismatch.config().await,
        "transactions".into(),
        "audit".into(),
        "cards".into(),
    );
    assert_eq!(
        store.complete(&completion()).await.unwrap(),
        CompleteOutcome::ClaimLost
    );
    let missing = Scripted::start(400, &error("ResourceNotFoundException"));
    let store = DynamoDecisions::new(
        &missing.config().await,
        "transactions".into(),
        "audit".into(),
        "cards".into(),
    );
    assert!(store.complete(&completion()).await.is_err());
}

/// The reconciler touches a pending record only while it is still pending: a failed
/// condition means the notifier cleared it meanwhile (false, nothing to do); any other
/// refusal is an error the reconciler reports, never "already notified".
#[tokio::test]
async fn a_retrigger_of_a_record_notified_meanwhile_is_false_and_other_refusals_are_errors() {
    let cleared = Scripted::start(400, &error("ConditionalCheckFailedException"));
    let pending = DynamoPending::new(
        &cleared.config().await,
        "transactions".into(),
        "index".into(),
    );
    assert!(!pending.retrigger("t-1", 1).await.unwrap());
    let missing = Scripted::start(400, &error("ResourceNotFoundException"));
    let pending = DynamoPending::new(
        &missing.config().await,
        "transactions".into(),
        "index".into(),
    );
    assert!(pending.retrigger("t-1", 1).await.is_err());
}

/// The notifier clears the outbox marker only while it is set: a failed condition means
/// another delivery of the same record cleared it first (the same end state, no error); any
/// other refusal is an error, so the stream delivers the record again.
#[tokio::test]
async fn a_marker_another_delivery_cleared_is_done_and_other_refusals_are_errors() {
    let cleared = Scripted::start(400, &error("ConditionalCheckFailedException"));
    let settled = DynamoSettled::new(&cleared.config().await, "transactions".into());
    assert!(settled.clear_pending("t-1").await.is_ok());
    let missing = Scripted::start(400, &error("ResourceNotFoundException"));
    let settled = DynamoSettled::new(&missing.config().await, "transactions".into());
    assert!(settled.clear_pending("t-1").await.is_err());
}
