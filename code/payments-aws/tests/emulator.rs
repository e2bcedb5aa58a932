//! Adapter tests against moto server, with tables created from the template: the DynamoDB
//! conditions that make settlement exactly-once (claim, owner-conditioned completion,
//! release, own-claim recognition), the card counter's cap under concurrency, the outbox
//! marker and its index, strict reads of every stored record, the notifier's
//! write-once receipt and attributed announcement, and the signing secret's stages as
//! rotation and the notifier read them.

mod common;
mod records;

use aws_sdk_dynamodb::types::AttributeValue as A;
use common::{Moto, create_table_from_template};
use payments_aws::announcer::SnsAnnouncer;
use payments_aws::archive::S3Archive;
use payments_aws::cards::DynamoCardActivity;
use payments_aws::decisions::DynamoDecisions;
use payments_aws::lambda::SystemClock;
use payments_aws::merchants::DynamoMerchants;
use payments_aws::pending::DynamoPending;
use payments_aws::rotation::{CURRENT, PENDING, SecretVault};
use payments_aws::settled::DynamoSettled;
use payments_aws::signing_key::SigningKeyCache;
use payments_aws::vault::SecretsManagerVault;
use payments_core::errors::{Classify, ErrorClass, StoreError};
use payments_core::payment::{Payment, RawPayment};
use payments_core::ports::{
    CardActivityReader, ClaimOutcome, CompleteOutcome, DecisionStore, MerchantDirectory,
    PendingNotifications, SettledRecords,
};
use payments_core::receipt::{Notified, SigningKey, notify};
use payments_core::records::{
    Claim, DECISION_EVENT, Outcome, SettlementResult, VELOCITY_LIMIT, notification_shard,
};
use payments_core::settlement::{
    Attempt, Decision, SettlementAnswer, SettlementError, SettlementRequest, settle,
};
use payments_core::time::rfc3339_millis;
use payments_core::velocity::Velocity;
use records::completion;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

const TRANSACTIONS: &str = "transactions-test";
const AUDIT: &str = "audit-logs-test";
const CARDS: &str = "card-activity-test";
const PENDING_INDEX: &str = "notification-pending-index";
const VELOCITY: Velocity = Velocity {
    window_seconds: 600,
    max_per_token: 5,
};

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
        "country": "DE"
    })
}

fn request(decision: Decision, transaction_id: &str, token: &str) -> SettlementRequest {
    SettlementRequest {
        decision,
        payment: RawPayment(payment(transaction_id, token)),
        screening: json!({"validation": {"verdict": "ACCEPTED", "rejections": []},
                          "fraud": {"score": 0, "approved": true, "signals": []}}),
    }
}

fn attempt(id: &str) -> Attempt {
    Attempt {
        attempt_id: id.into(),
        deadline_ms: now_ms() + 3_000,
        reserve_ms: 500,
        audit_retention_days: 90,
    }
}

async fn run(
    store: &DynamoDecisions,
    request: &SettlementRequest,
    id: &str,
) -> Result<SettlementAnswer, SettlementError> {
    settle(store, &SystemClock, request, &attempt(id), &VELOCITY).await
}

fn recorded(answer: SettlementAnswer) -> SettlementResult {
    match answer {
        SettlementAnswer::Recorded(result) => result,
        other => panic!("{other:?}"),
    }
}

async fn decision_tables(moto: &Moto) -> (DynamoDecisions, aws_sdk_dynamodb::Client) {
    let config = moto.config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table_from_template(&client, "TransactionsTable", TRANSACTIONS).await;
    create_table_from_template(&client, "AuditLogsTable", AUDIT).await;
    create_table_from_template(&client, "CardActivityTable", CARDS).await;
    let store = DynamoDecisions::new(&config, TRANSACTIONS.into(), AUDIT.into(), CARDS.into());
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

async fn item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: (&str, &str),
) -> Option<std::collections::HashMap<String, A>> {
    client
        .get_item()
        .table_name(table)
        .key(key.0, A::S(key.1.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_records_once_replays_and_answers_a_reused_id_as_data() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let first = recorded(
        run(
            &store,
            &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
            "attempt-1",
        )
        .await
        .unwrap(),
    );
    assert_eq!((first.outcome, first.replayed), (Outcome::Settled, false));

    let again = recorded(
        run(
            &store,
            &request(Decision::Declined, id, "tok_4f9a8b7c6d5e4f3a"),
            "attempt-2",
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        (again.outcome, again.replayed),
        (Outcome::Settled, true),
        "the recorded decision wins"
    );

    let mut other = request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a");
    other.payment.0["amount_minor"] = json!(999);
    let reused = run(&store, &other, "attempt-3").await.unwrap();
    assert!(
        matches!(&reused, SettlementAnswer::Refused(r) if r.error == "TransactionIdReused"),
        "{reused:?}"
    );

    assert_eq!(count(&client, TRANSACTIONS).await, 1);
    assert_eq!(count(&client, AUDIT).await, 1);
    let card = &item(&client, CARDS, ("card_key", &card_key_of(id)))
        .await
        .expect("one card window")["payments"];
    assert_eq!(
        card.as_n().unwrap(),
        "1",
        "replays and refusals count nothing"
    );
}

fn card_key_of(transaction_id: &str) -> String {
    let payment = Payment::from_value(&payment(transaction_id, "tok_4f9a8b7c6d5e4f3a")).unwrap();
    Velocity::card_key(
        &payment.token_fingerprint(),
        VELOCITY.window_start(now_ms()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_entry_expires_90_days_after_the_decision() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed";
    let before = now_ms() / 1000;
    run(
        &store,
        &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
        "attempt-1",
    )
    .await
    .unwrap();
    let entry = client
        .get_item()
        .table_name(AUDIT)
        .key("transaction_id", A::S(id.into()))
        .key("event", A::S(DECISION_EVENT.into()))
        .send()
        .await
        .unwrap();
    let expires: u64 = entry.item().expect("one audit entry")["expires_at"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
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
        tasks.push(tokio::spawn(async move {
            run(
                &store,
                &request(decision, id, "tok_4f9a8b7c6d5e4f3a"),
                &format!("attempt-{n:03}"),
            )
            .await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(answer) => answers.push(recorded(answer)),
            // Losers that outwait their own time while the winner is still in progress.
            Err(error) => assert_eq!(error.class(), ErrorClass::Retryable, "{error}"),
        }
    }
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
    assert_eq!(count(&client, TRANSACTIONS).await, 1);
    assert_eq!(count(&client, AUDIT).await, 1);
    assert_eq!(count(&client, CARDS).await, 1);
}

/// Concurrent payments of one card cannot all slip through: the card counter's condition
/// in the completing transaction caps the window at `velocity_max_per_token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_of_one_card_settle_at_most_the_cap() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let ids: Vec<String> = (0..12)
        .map(|n| format!("0f8fad5b-d9cb-469f-a165-7086772895{n:02}"))
        .collect();
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().cloned().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            run(
                &store,
                &request(Decision::Approved, &id, "tok_samecard0000000001"),
                &format!("attempt-{n:02}"),
            )
            .await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(recorded(
            task.await.unwrap().expect("every payment is answered"),
        ));
    }
    let settled: Vec<_> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Settled)
        .collect();
    let capped: Vec<_> = results
        .iter()
        .filter(|r| {
            r.outcome == Outcome::Declined && r.reasons.contains(&VELOCITY_LIMIT.to_string())
        })
        .collect();
    assert_eq!(settled.len(), 5, "{results:?}");
    assert_eq!(capped.len(), 7);
    let windows = client.scan().table_name(CARDS).send().await.unwrap();
    let total: u64 = windows
        .items()
        .iter()
        .map(|w| w["payments"].as_n().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 12, "declines count too");
    for result in &results {
        let record = item(
            &client,
            TRANSACTIONS,
            ("transaction_id", &result.transaction_id),
        )
        .await
        .unwrap();
        assert_eq!(
            record.contains_key("notification_pending"),
            result.outcome == Outcome::Settled,
            "only settlements carry the outbox marker"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_marker_is_committed_with_the_settlement_indexed_and_cleared_once() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let config = moto.config().await;
    let settled_id = "5f0a6bd5-0f6d-4a3e-9f0a-7b8c9d0e1f2a";
    let declined_id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    run(
        &store,
        &request(Decision::Approved, settled_id, "tok_4f9a8b7c6d5e4f3a"),
        "a1",
    )
    .await
    .unwrap();
    run(
        &store,
        &request(Decision::Declined, declined_id, "tok_4f9a8b7c6d5e4f3b"),
        "a2",
    )
    .await
    .unwrap();
    let record = item(&client, TRANSACTIONS, ("transaction_id", settled_id))
        .await
        .unwrap();
    let shard = notification_shard(settled_id);
    assert_eq!(record["notification_pending"].as_s().unwrap(), &shard);
    assert!(
        !item(&client, TRANSACTIONS, ("transaction_id", declined_id))
            .await
            .unwrap()
            .contains_key("notification_pending")
    );

    let pending = DynamoPending::new(&config, TRANSACTIONS.into(), PENDING_INDEX.into());
    let later = rfc3339_millis(now_ms() + 60_000);
    let earlier = rfc3339_millis(now_ms() - 60_000);
    assert_eq!(
        pending.stale(&shard, &later).await.unwrap(),
        vec![settled_id.to_string()]
    );
    assert!(
        pending.stale(&shard, &earlier).await.unwrap().is_empty(),
        "not stale yet"
    );
    assert!(pending.retrigger(settled_id, 42).await.unwrap());
    let touched = item(&client, TRANSACTIONS, ("transaction_id", settled_id))
        .await
        .unwrap();
    assert_eq!(touched["notification_retry"].as_n().unwrap(), "42");

    let settled = DynamoSettled::new(&config, TRANSACTIONS.into());
    let read = settled.settled(settled_id).await.unwrap().unwrap();
    assert_eq!(read.notification_pending, Some(shard.clone()));
    settled.clear_pending(settled_id).await.unwrap();
    settled.clear_pending(settled_id).await.unwrap();
    assert_eq!(
        settled
            .settled(settled_id)
            .await
            .unwrap()
            .unwrap()
            .notification_pending,
        None
    );
    assert!(pending.stale(&shard, &later).await.unwrap().is_empty());
    assert!(
        !pending.retrigger(settled_id, 43).await.unwrap(),
        "nothing pending to retrigger"
    );
}

/// F5: an attempt that fails after claiming deletes its own claim, so the workflow's retry
/// need not wait for it to expire; it never deletes another attempt's claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_releases_its_own_claim_only() {
    let moto = Moto::start();
    let (_, client) = decision_tables(&moto).await;
    let config = moto.config().await;
    // The audit table does not exist: the completing transaction fails after the claim.
    let broken = DynamoDecisions::new(
        &config,
        TRANSACTIONS.into(),
        "no-such-table".into(),
        CARDS.into(),
    );
    let id = "9b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b";
    let error = run(
        &broken,
        &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
        "a1",
    )
    .await
    .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Fatal, "{error}");
    assert!(
        item(&client, TRANSACTIONS, ("transaction_id", id))
            .await
            .is_none(),
        "the claim was released"
    );

    let store = DynamoDecisions::new(&config, TRANSACTIONS.into(), AUDIT.into(), CARDS.into());
    let payment = Payment::from_value(&payment(id, "tok_4f9a8b7c6d5e4f3a")).unwrap();
    let theirs = Claim::new(&payment, "someone-else", now_ms(), now_ms() + 5_000);
    assert_eq!(store.claim(&theirs).await.unwrap(), ClaimOutcome::Claimed);
    let mine = Claim::new(&payment, "me", now_ms(), now_ms() + 5_000);
    assert!(!store.release(&mine).await.unwrap());
    assert!(store.release(&theirs).await.unwrap());
    assert!(
        item(&client, TRANSACTIONS, ("transaction_id", id))
            .await
            .is_none()
    );
}

/// F8: a claim whose first try was applied (its answer lost, the SDK retried) comes back
/// with ALL_OLD holding this attempt's own id, and the attempt goes on to settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_recognises_its_own_applied_claim() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "3c4d5e6f-7a8b-49c0-9d1e-2f3a4b5c6d7e";
    let payment = Payment::from_value(&payment(id, "tok_4f9a8b7c6d5e4f3a")).unwrap();
    let first_try = Claim::new(&payment, "attempt-1", now_ms(), now_ms() + 3_000);
    assert_eq!(
        store.claim(&first_try).await.unwrap(),
        ClaimOutcome::Claimed
    );
    let retry = Claim::new(&payment, "attempt-1", now_ms(), now_ms() + 3_000);
    match store.claim(&retry).await.unwrap() {
        ClaimOutcome::Exists(record) => assert_eq!(record.attempt_id, "attempt-1"),
        other => panic!("{other:?}"),
    }
    let result = recorded(
        run(
            &store,
            &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
            "attempt-1",
        )
        .await
        .unwrap(),
    );
    assert_eq!((result.outcome, result.replayed), (Outcome::Settled, false));
    assert_eq!(count(&client, AUDIT).await, 1);
}

/// A holder whose claim expired and was taken over cannot complete: the owner condition
/// cancels its transaction (ConditionalCheckFailed on the record), which reads as ClaimLost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_holder_loses_to_the_attempt_that_took_over() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "4d5e6f7a-8b9c-40d1-8e2f-3a4b5c6d7e8f";
    let payment = Payment::from_value(&payment(id, "tok_4f9a8b7c6d5e4f3a")).unwrap();
    let now = now_ms();
    let old = Claim::new(&payment, "old", now - 5_000, now - 3_000);
    assert_eq!(store.claim(&old).await.unwrap(), ClaimOutcome::Claimed);
    let new = Claim::new(&payment, "new", now, now + 3_000);
    assert_eq!(
        store.claim(&new).await.unwrap(),
        ClaimOutcome::Claimed,
        "expired: taken over"
    );
    assert_eq!(
        store
            .complete(&completion(&old, Outcome::Settled))
            .await
            .unwrap(),
        CompleteOutcome::ClaimLost
    );
    assert_eq!(
        store
            .complete(&completion(&new, Outcome::Declined))
            .await
            .unwrap(),
        CompleteOutcome::Recorded
    );
    assert_eq!(count(&client, AUDIT).await, 1);
    let record = store.get(id).await.unwrap().unwrap();
    assert_eq!(record.result.unwrap().outcome, Outcome::Declined);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fraud_detector_reads_the_cards_two_windows_in_one_call_and_refuses_a_corrupted_one() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let config = moto.config().await;
    for (n, id) in [
        "5e6f7a8b-9c0d-41e2-9f3a-4b5c6d7e8f90",
        "6f7a8b9c-0d1e-42f3-8a4b-5c6d7e8f9a01",
    ]
    .iter()
    .enumerate()
    {
        run(
            &store,
            &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
            &format!("a{n}"),
        )
        .await
        .unwrap();
    }
    let cards = DynamoCardActivity::new(&config, CARDS.into());
    let fingerprint = Payment::from_value(&payment(
        "5e6f7a8b-9c0d-41e2-9f3a-4b5c6d7e8f90",
        "tok_4f9a8b7c6d5e4f3a",
    ))
    .unwrap()
    .token_fingerprint();
    let (current, previous) = VELOCITY.keys(&fingerprint, now_ms());
    let history = cards.windows(&current, &previous).await.unwrap();
    assert_eq!(history.current.as_ref().map(|w| w.payments), Some(2));
    assert_eq!(history.previous, None);

    client
        .update_item()
        .table_name(CARDS)
        .key("card_key", A::S(current.clone()))
        .update_expression("SET last_currency = :bad")
        .expression_attribute_values(":bad", A::N("978".into()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        cards.windows(&current, &previous).await,
        Err(StoreError::Malformed(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_decision_record_is_malformed_when_read_back() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let id = "7a8b9c0d-1e2f-43a4-8b5c-6d7e8f9a0b12";
    run(
        &store,
        &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
        "a1",
    )
    .await
    .unwrap();
    client
        .update_item()
        .table_name(TRANSACTIONS)
        .key("transaction_id", A::S(id.into()))
        .update_expression("SET fraud_score = :bad")
        .expression_attribute_values(":bad", A::S("high".into()))
        .send()
        .await
        .unwrap();
    assert!(matches!(store.get(id).await, Err(StoreError::Malformed(_))));
    // A replay of it is a system fault, never an answer made of defaults.
    let error = run(
        &store,
        &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
        "a2",
    )
    .await
    .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Fatal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_are_read_strictly_from_their_table() {
    let moto = Moto::start();
    let config = moto.config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table_from_template(&client, "MerchantsTable", "merchants-test").await;
    let limits = A::M(
        [
            ("min_amount_minor".into(), A::N("100".into())),
            ("max_amount_minor".into(), A::N("5000".into())),
        ]
        .into(),
    );
    let put = |merchant: &str, currencies: A| {
        client
            .put_item()
            .table_name("merchants-test")
            .item("merchant_id", A::S(merchant.into()))
            .item("active", A::Bool(true))
            .item("currencies", currencies)
            .item("api_key_ids", A::Ss(vec!["key-a".into()]))
            .send()
    };
    put("merchant-001", A::M([("EUR".to_string(), limits)].into()))
        .await
        .unwrap();
    put(
        "merchant-002",
        A::M([("EUR".to_string(), A::S("100..5000".into()))].into()),
    )
    .await
    .unwrap();
    let merchants = DynamoMerchants::new(&config, "merchants-test".into());
    let found = merchants
        .merchant("merchant-001")
        .await
        .unwrap()
        .expect("stored merchant");
    assert!(found.active && found.binds("key-a") && !found.binds("key-b"));
    assert_eq!(found.currencies["EUR"].max_amount_minor, 5000);
    assert_eq!(merchants.merchant("merchant-404").await.unwrap(), None);
    // A malformed `currencies` used to be ignored (the defaults applied): now it is an error.
    assert!(matches!(
        merchants.merchant("merchant-002").await,
        Err(StoreError::Malformed(_))
    ));
}

struct Archive {
    s3: aws_sdk_s3::Client,
    topic: String,
}

async fn archive_and_topic(moto: &Moto) -> Archive {
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
    // Versioned, as the template's archive bucket is: an overwrite would add a version.
    s3.put_bucket_versioning()
        .bucket("archive-test")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let topic = aws_sdk_sns::Client::new(&config)
        .create_topic()
        .name("settlements-test")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    Archive { s3, topic }
}

fn announcements(moto: &Moto, topic: &str) -> Vec<Value> {
    let topics = moto.state()["sns"]["Topic"].clone();
    topics
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["arn"] == topic)
        .unwrap()["sent_notifications"]
        .as_array()
        .unwrap()
        .clone()
}

/// The notifier signs the committed record, archives the receipt once (If-None-Match), and
/// announces the archived bytes with attributes; a redelivery after a crash that left the
/// marker reuses the archived bytes, and one after the marker is gone does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_settlement_is_archived_once_and_announced_with_attributes() {
    let moto = Moto::start();
    let (store, client) = decision_tables(&moto).await;
    let config = moto.config().await;
    let Archive { s3, topic } = archive_and_topic(&moto).await;
    let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    run(
        &store,
        &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
        "a1",
    )
    .await
    .unwrap();

    let records = DynamoSettled::new(&config, TRANSACTIONS.into());
    let archive = S3Archive::new(&config, "archive-test".into());
    let announcer = SnsAnnouncer::new(&config, topic.clone());
    let key = SigningKey::new("v1", "0123456789abcdef0123456789abcdef").unwrap();
    let Notified::Announced(receipt) = notify(id, &records, &key, &archive, &announcer)
        .await
        .unwrap()
    else {
        panic!("announced");
    };
    assert!(payments_core::receipt::verify(&receipt, &key));

    let object = format!("receipts/merchant-001/{id}.json");
    let head = s3
        .head_object()
        .bucket("archive-test")
        .key(&object)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    let stored = s3
        .get_object()
        .bucket("archive-test")
        .key(&object)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let sent = announcements(&moto, &topic);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0][1].as_str().unwrap().as_bytes(),
        &stored[..],
        "the announcement is the archived receipt"
    );
    let attributes = sent[0][3].to_string();
    for expected in [
        id,
        "merchant-001",
        "SETTLED",
        "transaction_id",
        "merchant_id",
        "outcome",
    ] {
        assert!(attributes.contains(expected), "{attributes}");
    }
    assert!(
        !item(&client, TRANSACTIONS, ("transaction_id", id))
            .await
            .unwrap()
            .contains_key("notification_pending")
    );

    // Redelivered with the marker gone: nothing more.
    assert_eq!(
        notify(id, &records, &key, &archive, &announcer)
            .await
            .unwrap(),
        Notified::AlreadyDone
    );
    assert_eq!(announcements(&moto, &topic).len(), 1);

    // A crash after the archive and before the marker was cleared, and a rotated key: the
    // redelivery finds the object (412) and announces the very same bytes.
    client
        .update_item()
        .table_name(TRANSACTIONS)
        .key("transaction_id", A::S(id.into()))
        .update_expression("SET notification_pending = :shard")
        .expression_attribute_values(":shard", A::S(notification_shard(id)))
        .send()
        .await
        .unwrap();
    let rotated = SigningKey::new("v2", "fedcba9876543210fedcba9876543210").unwrap();
    notify(id, &records, &rotated, &archive, &announcer)
        .await
        .unwrap();
    let sent = announcements(&moto, &topic);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1][1], sent[0][1]);
    let versions = s3
        .list_object_versions()
        .bucket("archive-test")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "never overwritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_archived_receipt_is_malformed_not_announced() {
    let moto = Moto::start();
    let (store, _) = decision_tables(&moto).await;
    let config = moto.config().await;
    let Archive { s3, topic } = archive_and_topic(&moto).await;
    let id = "8b9c0d1e-2f3a-44b5-9c6d-7e8f9a0b1c23";
    run(
        &store,
        &request(Decision::Approved, id, "tok_4f9a8b7c6d5e4f3a"),
        "a1",
    )
    .await
    .unwrap();
    s3.put_object()
        .bucket("archive-test")
        .key(format!("receipts/merchant-001/{id}.json"))
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"{\"receipt\": {}, \"signature\": \"\"}",
        ))
        .send()
        .await
        .unwrap();
    let records = DynamoSettled::new(&config, TRANSACTIONS.into());
    let key = SigningKey::new("v1", "0123456789abcdef0123456789abcdef").unwrap();
    let error = notify(
        id,
        &records,
        &key,
        &S3Archive::new(&config, "archive-test".into()),
        &SnsAnnouncer::new(&config, topic.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Fatal, "{error}");
    assert!(announcements(&moto, &topic).is_empty());
}

fn signing_secret(key_id: &str) -> String {
    serde_json::to_string(&SigningKey::new(key_id, &key_id.repeat(32)).unwrap()).unwrap()
}

/// What rotation stores under each staging label reads back through the vault (a label no
/// version holds is `None`, not an error), and the notifier's key cache keeps serving the
/// key it read until REFRESH, whatever the secret holds meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_stages_read_back_as_stored_and_the_signing_key_is_cached() {
    let moto = Moto::start();
    let config = moto.config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let arn = secrets
        .create_secret()
        .name("signing-key-test")
        .secret_string(signing_secret("v1"))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let vault = SecretsManagerVault::new(&config);
    let described = vault.describe(&arn).await.unwrap();
    assert!(!described.rotation_enabled);
    assert_eq!(described.versions.len(), 1, "{described:?}");
    let (first, stages) = described.versions.into_iter().next().unwrap();
    assert_eq!(stages, [CURRENT]);
    assert_eq!(
        vault.value(&arn, None, CURRENT).await.unwrap(),
        Some(signing_secret("v1"))
    );
    assert_eq!(vault.value(&arn, None, PENDING).await.unwrap(), None);
    let token = "11111111-2222-4333-8444-555555555555";
    assert_eq!(vault.value(&arn, Some(token), PENDING).await.unwrap(), None);

    let material = vault.random_key().await.unwrap();
    assert_eq!(material.len(), 64);
    assert!(
        material.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{material}"
    );
    assert_ne!(material, vault.random_key().await.unwrap());

    let cache = SigningKeyCache::new(&config, arn.clone());
    assert_eq!(cache.current().await.unwrap().key_id, "v1");

    vault
        .put_pending(&arn, token, &signing_secret("v2"))
        .await
        .unwrap();
    assert_eq!(
        vault.value(&arn, Some(token), PENDING).await.unwrap(),
        Some(signing_secret("v2"))
    );
    assert_eq!(
        vault.value(&arn, None, CURRENT).await.unwrap(),
        Some(signing_secret("v1"))
    );
    vault.promote(&arn, token, &first).await.unwrap();
    assert_eq!(
        vault.value(&arn, None, CURRENT).await.unwrap(),
        Some(signing_secret("v2"))
    );
    let promoted = vault.describe(&arn).await.unwrap().versions;
    assert!(promoted[token].iter().any(|s| s == CURRENT), "{promoted:?}");
    assert!(
        !promoted[&first].iter().any(|s| s == CURRENT),
        "{promoted:?}"
    );

    // Within REFRESH the warm cache answers the key it read; a cold one reads the new key.
    assert_eq!(cache.current().await.unwrap().key_id, "v1");
    let cold = SigningKeyCache::new(&config, arn.clone());
    assert_eq!(cold.current().await.unwrap().key_id, "v2");
    // Only a missing version is "none": a secret that cannot be read is an error. One
    // scheduled for deletion answers InvalidRequestException (Secrets Manager API
    // reference, GetSecretValue errors: "The secret is scheduled for deletion").
    secrets
        .create_secret()
        .name("deleted-key")
        .secret_string(signing_secret("v4"))
        .send()
        .await
        .unwrap();
    secrets
        .delete_secret()
        .secret_id("deleted-key")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert!(vault.value("deleted-key", None, CURRENT).await.is_err());
    // A value that is not a signing key, or no text at all, is malformed, never served.
    for (name, value) in
        [
            (
                "not-a-key",
                secrets.create_secret().secret_string("not a key"),
            ),
            (
                "binary-key",
                secrets.create_secret().secret_binary(
                    aws_sdk_secretsmanager::primitives::Blob::new(signing_secret("v3")),
                ),
            ),
        ]
    {
        let arn = value
            .name(name)
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string();
        let cache = SigningKeyCache::new(&config, arn);
        assert!(
            matches!(cache.current().await, Err(StoreError::Malformed(_))),
            "{name}"
        );
    }
}
