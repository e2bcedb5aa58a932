//! No type that holds a payment token or a secret prints it, through `Debug` (`{:?}` and
//! `{:#?}`) or `Display`, whatever path the value took: parsed, raw in a task input, or
//! refused by the parser.

use payments_core::fraud::FraudInput;
use payments_core::payment::{Payment, RawPayment};
use payments_core::receipt::SigningKey;
use payments_core::settlement::SettlementRequest;
use payments_core::validation::ValidatorInput;
use serde_json::json;

const TOKEN: &str = "tok_4f9a8b7c6d5e4f3a9b8c";
const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";

fn body() -> serde_json::Value {
    json!({
        "transaction_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "merchant_id": "merchant-001",
        "amount_minor": 1250,
        "currency": "EUR",
        "payment_token": TOKEN,
        "card_last4": "4242",
        "country": "DE"
    })
}

fn printed(value: &impl std::fmt::Debug) -> [String; 2] {
    [format!("{value:?}"), format!("{value:#?}")]
}

#[test]
fn no_type_holding_a_token_or_a_secret_prints_it() {
    let payment = Payment::from_value(&body()).unwrap();
    let raw = RawPayment(body());
    let validator: ValidatorInput =
        serde_json::from_value(json!({"payment": body(), "caller": {"api_key_id": "k"}})).unwrap();
    let fraud: FraudInput = serde_json::from_value(json!({"payment": body()})).unwrap();
    let settlement: SettlementRequest = serde_json::from_value(
        json!({"decision": "APPROVED", "payment": body(), "screening": {"fraud": {"score": 0}}}),
    )
    .unwrap();
    let key = SigningKey::new("v1", SECRET).unwrap();
    let mut texts: Vec<String> = Vec::new();
    texts.extend(printed(&payment));
    texts.extend(printed(&raw));
    texts.extend(printed(&validator));
    texts.extend(printed(&fraud));
    texts.extend(printed(&settlement));
    texts.extend(printed(&key));
    // A token sent in the wrong field, and a card number, are refused by name only.
    for (field, value) in [("currency", TOKEN), ("pan", "4242424242424242")] {
        let mut bad = body();
        bad[field] = json!(value);
        let refused = Payment::from_value(&bad).unwrap_err();
        texts.extend(printed(&refused));
        texts.push(refused.to_string());
    }
    // A malformed secret is refused without quoting it.
    let refused = SigningKey::from_secret(&format!(r#"{{"key_id": "v1", "hmac_key": {SECRET}}}"#))
        .unwrap_err();
    texts.extend(printed(&refused));
    texts.push(refused.to_string());
    for text in &texts {
        for needle in [TOKEN, "4f9a8b7c6d5e4f3a9b8c", SECRET, "4242424242424242"] {
            assert!(!text.contains(needle), "{needle} printed in {text}");
        }
    }
}
