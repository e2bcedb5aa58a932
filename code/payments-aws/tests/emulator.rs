//! Adapter tests against moto server: the DynamoDB conditions that make settlement
//! exactly-once, the merchant index, the receipt archive and the announcement topic.

mod common;

use common::{Moto, create_table_from_template};
use payments_aws::announcer::SnsAnnouncer;
use payments_aws::archive::S3Archive;
use payments_aws::decisions::DynamoDecisions;
use payments_aws::merchants::DynamoMerchants;
use payments_core::errors::{Classify, ErrorClass};
use payments_core::ports::{MerchantDirectory, PaymentHistory};
use payments_core::receipt::{SigningKey, notify};
use payments_core::settlement::{Attempt, Decision, Outcome, SettlementRequest, settle};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

const INDEX: &str = "merchant_id-created_at-index";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn payment(transaction_id: &str, token: &str) -> Value {
    json!({
        "transaction_id": transaction_id,
        "merchant_id": "merchant-001",
        "amount_minor": 1250,
        "currency": "EUR",
        "payment_token": token,
        "card_last4": "4242",
        "country": "DE",
        "screening": {"validation": {"rejections": []}, "fraud": {"score": 0, "signals": []}}
    })
}

fn attempt(id: &str) -> Attempt {
    Attempt {
        attempt_id: id.into(),
        now_ms: now_ms(),
        remaining_ms: 2_000,
        audit_retention_days: 90,
    }
}

async fn decision_tables(moto: &Moto) -> (DynamoDecisions, aws_sdk_dynamodb::Client) {
    let config = moto.config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table_from_template(&client, "TransactionsTable", "transactions-test").await;
    create_table_from_template(&client, "AuditLogsTable", "audit-logs-test").await;
    let store = DynamoDecisions::new(
        &config,
        "transactions-test".into(),
        "audit-logs-test".into(),
        INDEX.into(),
    );
    (store, client)
}

async fn count(client: &aws_sdk_dynamodb::Client, table: &str) -> i32 {
    client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_records_once_and_replays_the_recorded_decision() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let approve = SettlementRequest {
        decision: Decision::Approved,
        payment: payment(id, "tok_4f9a8b7c6d5e4f3a"),
    };
    let first = settle(&store, &approve, &attempt("attempt-1"))
        .await
        .unwrap();
    assert_eq!((first.outcome, first.replayed), (Outcome::Settled, false));

    let decline = SettlementRequest {
        decision: Decision::Declined,
        ..approve.clone()
    };
    let again = settle(&store, &decline, &attempt("attempt-2"))
        .await
        .unwrap();
    assert_eq!(
        (again.outcome, again.replayed),
        (Outcome::Settled, true),
        "the recorded decision wins"
    );

    let mut other = approve.clone();
    other.payment["amount_minor"] = json!(999);
    let reused = settle(&store, &other, &attempt("attempt-3"))
        .await
        .unwrap_err();
    assert_eq!(reused.class(), ErrorClass::Invalid);

    assert_eq!(count(&client, "transactions-test").await, 1);
    assert_eq!(count(&client, "audit-logs-test").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_entry_expires_90_days_after_the_decision() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed";
    let before = now_ms() / 1000;
    let request = SettlementRequest {
        decision: Decision::Approved,
        payment: payment(id, "tok_4f9a8b7c6d5e4f3a"),
    };
    settle(&store, &request, &attempt("attempt-1"))
        .await
        .unwrap();
    let item = client
        .get_item()
        .table_name("audit-logs-test")
        .key(
            "transaction_id",
            aws_sdk_dynamodb::types::AttributeValue::S(id.into()),
        )
        .key(
            "event",
            aws_sdk_dynamodb::types::AttributeValue::S("DECISION".into()),
        )
        .send()
        .await
        .unwrap();
    let item = item.item().expect("one audit entry");
    let expires: u64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let ninety_days = 90 * 86_400;
    assert!(
        (before + ninety_days..=now_ms() / 1000 + ninety_days).contains(&expires),
        "{expires}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_settlements_leave_one_item_and_one_audit_entry() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b";
    let mut tasks = Vec::new();
    for n in 0..100 {
        let store = store.clone();
        let decision = if n % 2 == 0 {
            Decision::Approved
        } else {
            Decision::Declined
        };
        let request = SettlementRequest {
            decision,
            payment: payment(id, "tok_4f9a8b7c6d5e4f3a"),
        };
        tasks.push(tokio::spawn(async move {
            let attempt = attempt(&format!("attempt-{n:03}"));
            settle(&store, &request, &attempt).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(result) => answers.push(result),
            // Losers that find the winner still in progress are told to retry.
            Err(error) => assert_eq!(error.class(), ErrorClass::Retryable, "{error}"),
        }
    }
    assert!(!answers.is_empty());
    let first = answers
        .iter()
        .find(|a| !a.replayed)
        .expect("one attempt recorded the decision");
    assert!(
        answers.iter().all(|a| a.outcome == first.outcome),
        "every answer is the recorded decision"
    );
    assert_eq!(
        answers.iter().filter(|a| !a.replayed).count(),
        1,
        "exactly one attempt settled"
    );
    assert_eq!(count(&client, "transactions-test").await, 1);
    assert_eq!(count(&client, "audit-logs-test").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merchant_index_returns_recent_payments() {
    let moto = Moto::start();
    let (store, _) = decision_tables(&moto).await;
    let since = now_ms() - 1_000;
    for (n, id) in [
        "5f0a6bd5-0f6d-4a3e-9f0a-7b8c9d0e1f2a",
        "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    ]
    .iter()
    .enumerate()
    {
        let request = SettlementRequest {
            decision: Decision::Approved,
            payment: payment(id, "tok_4f9a8b7c6d5e4f3a"),
        };
        settle(&store, &request, &attempt(&format!("a{n}")))
            .await
            .unwrap();
    }
    let recent = store.recent("merchant-001", since).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert!(
        recent
            .iter()
            .all(|p| p.amount_minor == 1250 && p.token_fingerprint.len() == 32)
    );
    assert!(
        store
            .recent("merchant-001", now_ms() + 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .recent("merchant-999", since)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_are_read_from_their_table() {
    let moto = Moto::start();
    let config = moto.config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table_from_template(&client, "MerchantsTable", "merchants-test").await;
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let limits = A::M(
        [
            ("min_amount_minor".into(), A::N("100".into())),
            ("max_amount_minor".into(), A::N("5000".into())),
        ]
        .into(),
    );
    client
        .put_item()
        .table_name("merchants-test")
        .item("merchant_id", A::S("merchant-001".into()))
        .item("active", A::Bool(true))
        .item("currencies", A::M([("EUR".to_string(), limits)].into()))
        .send()
        .await
        .unwrap();
    let merchants = DynamoMerchants::new(&config, "merchants-test".into());
    let found = merchants
        .merchant("merchant-001")
        .await
        .unwrap()
        .expect("stored merchant");
    assert!(found.active);
    assert_eq!(found.currencies["EUR"].max_amount_minor, 5000);
    assert_eq!(merchants.merchant("merchant-404").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_archived_encrypted_and_announced() {
    let moto = Moto::start();
    let config = moto.config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("archive-test")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name("settlements-test")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();

    let result = json!({
        "transaction_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "merchant_id": "merchant-001",
        "outcome": "SETTLED", "replayed": false, "amount_minor": 1250, "currency": "EUR",
        "fraud_score": 0, "reasons": [], "recorded_at": "2026-11-29T12:00:00.000Z"
    });
    let key = SigningKey::new("v1", "0123456789abcdef0123456789abcdef").unwrap();
    let archive = S3Archive::new(&config, "archive-test".into());
    let announcer = SnsAnnouncer::new(&config, topic.clone());
    notify(&result.to_string(), &key, &archive, &announcer)
        .await
        .unwrap();

    let object = "receipts/merchant-001/0f8fad5b-d9cb-469f-a165-70867728950e.json";
    let head = s3
        .head_object()
        .bucket("archive-test")
        .key(object)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    let body = s3
        .get_object()
        .bucket("archive-test")
        .key(object)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    let signed: payments_core::receipt::SignedReceipt =
        serde_json::from_slice(&body.into_bytes()).unwrap();
    assert!(payments_core::receipt::verify(&signed, &key));

    let topics = moto.state()["sns"]["Topic"].clone();
    let sent = topics
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["arn"] == topic.as_str())
        .unwrap()["sent_notifications"]
        .to_string();
    assert!(
        sent.contains("0f8fad5b-d9cb-469f-a165-70867728950e"),
        "{sent}"
    );
}
