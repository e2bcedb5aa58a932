//! Card activity windows (`card-activity`) as the fraud detector reads them: one
//! `BatchGetItem` of the current and previous window, whatever the merchant's rate.

use crate::errors::classify;
use crate::items::{Item, get_n, get_s, malformed, s};
use crate::transactions::SERVICE;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use payments_core::errors::StoreError;
use payments_core::money::Currency;
use payments_core::ports::CardActivityReader;
use payments_core::records::{CardActivity, CardHistory};
use std::time::Duration;

/// BatchGetItem may leave keys unprocessed under throttling; they are asked again this
/// many times before the read counts as unavailable. Source: DynamoDB API reference,
/// BatchGetItem ("UnprocessedKeys … we strongly recommend that you use an exponential
/// backoff algorithm").
const BATCH_TRIES: u32 = 3;

#[derive(Clone)]
pub struct DynamoCardActivity {
    client: Client,
    table: String,
}

impl DynamoCardActivity {
    pub fn new(config: &aws_config::SdkConfig, table: String) -> Self {
        DynamoCardActivity {
            client: Client::new(config),
            table,
        }
    }
}

/// Reads one window item strictly; `keys` are the keys that were asked for.
pub fn card_from_item(item: &Item, keys: &[&str]) -> Result<CardActivity, StoreError> {
    let card_key = get_s(item, "card_key")?;
    if !keys.contains(&card_key.as_str()) {
        return Err(malformed("card_key", "is not a key that was read"));
    }
    let last_currency = get_s(item, "last_currency")?;
    if Currency::from_code(&last_currency).is_none() {
        return Err(malformed("last_currency", "is not a known currency"));
    }
    let last_transaction_id = get_s(item, "last_transaction_id")?;
    if last_transaction_id.is_empty() {
        return Err(malformed("last_transaction_id", "is empty"));
    }
    let payments: u64 = get_n(item, "payments")?;
    if payments == 0 {
        return Err(malformed("payments", "is zero"));
    }
    Ok(CardActivity {
        card_key,
        payments,
        last_amount_minor: get_n(item, "last_amount_minor")?,
        last_currency,
        last_at_ms: get_n(item, "last_at_ms")?,
        last_transaction_id,
        expires_at: get_n(item, "expires_at")?,
    })
}

impl CardActivityReader for DynamoCardActivity {
    async fn windows(&self, current: &str, previous: &str) -> Result<CardHistory, StoreError> {
        let keys = [current, previous];
        let mut request = KeysAndAttributes::builder()
            .keys([("card_key".to_string(), s(current))].into())
            .keys([("card_key".to_string(), s(previous))].into())
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut history = CardHistory::default();
        for attempt in 0..BATCH_TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            let read = self
                .client
                .batch_get_item()
                .request_items(&self.table, request.clone())
                .send()
                .await
                .map_err(|e| classify(SERVICE, e))?;
            for item in read
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let window = card_from_item(item, &keys)?;
                if window.card_key == current {
                    history.current = Some(window);
                } else {
                    history.previous = Some(window);
                }
            }
            match read.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                Some(left) if !left.keys().is_empty() => request = left.clone(),
                _ => return Ok(history),
            }
        }
        Err(StoreError::Unavailable {
            service: SERVICE,
            detail: "card activity keys left unprocessed".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::n;
    use crate::transactions::tests::retyped;

    fn item() -> Item {
        [
            ("card_key", s("cdcd#1800000000")),
            ("payments", n(3)),
            ("last_amount_minor", n(1250)),
            ("last_currency", s("EUR")),
            ("last_at_ms", n(1_800_000_000_123u64)),
            (
                "last_transaction_id",
                s("0f8fad5b-d9cb-469f-a165-70867728950e"),
            ),
            ("expires_at", n(1_800_001_200u64)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Every attribute of a card window item, corrupted in turn: retyped, removed and
    /// given an impossible value. Each is refused as malformed.
    #[test]
    fn a_corrupted_card_window_is_malformed_attribute_by_attribute() {
        let keys = ["cdcd#1800000000", "cdcd#1799999400"];
        assert_eq!(card_from_item(&item(), &keys).unwrap().payments, 3);
        let good = item();
        for (name, value) in &good {
            let mut bad = good.clone();
            bad.insert(name.clone(), retyped(value));
            assert!(
                matches!(card_from_item(&bad, &keys), Err(StoreError::Malformed(_))),
                "{name} retyped"
            );
            let mut without = good.clone();
            without.remove(name);
            assert!(
                matches!(
                    card_from_item(&without, &keys),
                    Err(StoreError::Malformed(_))
                ),
                "{name} removed"
            );
        }
        for (name, value) in [
            ("card_key", s("other#1")),
            ("payments", n(0)),
            ("payments", n(-2)),
            ("last_amount_minor", n(-1)),
            ("last_currency", s("XXX")),
            ("last_at_ms", n("1e3")),
            ("last_transaction_id", s("")),
            ("expires_at", n(-5)),
        ] {
            let mut bad = good.clone();
            bad.insert(name.to_string(), value.clone());
            assert!(
                matches!(card_from_item(&bad, &keys), Err(StoreError::Malformed(_))),
                "{name} = {value:?}"
            );
        }
    }

    /// DynamoDB's JSON for the window item with this key (the `item()` above, re-keyed).
    fn wire_item(key: &str) -> serde_json::Value {
        serde_json::json!({
            "card_key": {"S": key}, "payments": {"N": "3"}, "last_amount_minor": {"N": "1250"},
            "last_currency": {"S": "EUR"}, "last_at_ms": {"N": "1800000000123"},
            "last_transaction_id": {"S": "0f8fad5b-d9cb-469f-a165-70867728950e"},
            "expires_at": {"N": "1800001200"}
        })
    }

    /// A DynamoDB endpoint on a loopback port that answers each BatchGetItem with the next
    /// of `answers` and records the request bodies. moto never leaves keys unprocessed,
    /// so the retry of BatchGetItem is tested against this script instead.
    fn scripted(
        answers: Vec<serde_json::Value>,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for stream in listener.incoming() {
                let mut stream = BufReader::new(stream.unwrap());
                // Requests on one connection until the client closes it.
                loop {
                    let mut length = None;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(value) = lower.strip_prefix("content-length:") {
                            length = value.trim().parse::<usize>().ok();
                        }
                    }
                    let Some(length) = length else { break };
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).unwrap();
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let answer = answers.next().expect("a scripted answer").to_string();
                    let stream = stream.get_mut();
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n\
                         Content-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    )
                    .unwrap();
                    stream.flush().unwrap();
                }
            }
        });
        (endpoint, requests)
    }

    async fn reader(endpoint: &str) -> DynamoCardActivity {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        DynamoCardActivity::new(&config, "cards".into())
    }

    fn unprocessed(keys: &[&str]) -> serde_json::Value {
        let keys: Vec<_> = keys
            .iter()
            .map(|k| serde_json::json!({"card_key": {"S": k}}))
            .collect();
        serde_json::json!({"cards": {"Keys": keys}})
    }

    /// The keys of each BatchGetItem the reader sent, in order.
    fn asked(requests: &std::sync::Mutex<Vec<serde_json::Value>>) -> Vec<Vec<String>> {
        let requests = requests.lock().unwrap();
        requests
            .iter()
            .map(|r| {
                r["RequestItems"]["cards"]["Keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k["card_key"]["S"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn keys_left_unprocessed_are_asked_again_with_growing_waits() {
        let (current, previous) = ("cdcd#1800000000", "cdcd#1799999400");
        let (endpoint, requests) = scripted(vec![
            serde_json::json!({"Responses": {"cards": [wire_item(previous)]},
                               "UnprocessedKeys": unprocessed(&[current])}),
            serde_json::json!({"Responses": {"cards": []},
                               "UnprocessedKeys": unprocessed(&[current])}),
            serde_json::json!({"Responses": {"cards": [wire_item(current)]},
                               "UnprocessedKeys": {}}),
        ]);
        let started = std::time::Instant::now();
        let history = reader(&endpoint)
            .await
            .windows(current, previous)
            .await
            .unwrap();
        assert_eq!(history.current.unwrap().card_key, current);
        assert_eq!(history.previous.unwrap().card_key, previous);
        // Only the unprocessed key is asked again, after 20 and then 40 ms.
        assert_eq!(
            asked(&requests),
            [vec![current, previous], vec![current], vec![current]]
        );
        assert!(started.elapsed() >= Duration::from_millis(20 + 40));
    }

    #[tokio::test]
    async fn keys_still_unprocessed_after_every_try_make_the_read_unavailable() {
        let (current, previous) = ("cdcd#1800000000", "cdcd#1799999400");
        let left = serde_json::json!({"Responses": {"cards": [wire_item(previous)]},
                                      "UnprocessedKeys": unprocessed(&[current])});
        let (endpoint, requests) = scripted(vec![left; BATCH_TRIES as usize]);
        let read = reader(&endpoint).await.windows(current, previous).await;
        assert!(
            matches!(read, Err(StoreError::Unavailable { .. })),
            "{read:?}"
        );
        assert_eq!(asked(&requests).len(), BATCH_TRIES as usize);
    }

    #[tokio::test]
    async fn a_table_listed_without_keys_left_is_done() {
        let (current, previous) = ("cdcd#1800000000", "cdcd#1799999400");
        let (endpoint, requests) = scripted(vec![serde_json::json!({
            "Responses": {"cards": [wire_item(current)]},
            "UnprocessedKeys": {"cards": {"Keys": []}}
        })]);
        let history = reader(&endpoint)
            .await
            .windows(current, previous)
            .await
            .unwrap();
        assert!(history.current.is_some() && history.previous.is_none());
        assert_eq!(asked(&requests).len(), 1);
    }
}
