//! The floor of `cargo xtask load`: deployed as every function of the same template, it
//! does no work and answers the smallest output the state machine routes to settlement
//! (validator ACCEPTED, fraud approved, settlement SETTLED). The load against it is what
//! the front door, Step Functions and the Lambda harness cost by themselves; the real
//! workflow's throughput and latency are read as ratios to it. It writes nothing, so the
//! table's stream never fires: the floor has no notification leg.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// What the function named `name` answers to `event`, without doing its work.
fn answer(name: &str, event: &Value) -> Value {
    if name.contains("validator") {
        json!({"verdict": "ACCEPTED"})
    } else if name.contains("fraud") {
        json!({"approved": true})
    } else if name.contains("settlement") {
        json!({
            "transaction_id": event["payment"]["transaction_id"],
            "outcome": "SETTLED",
            "replayed": false,
        })
    } else {
        json!({})
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Lambda sets the function's name in every execution environment.
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let answer = answer(&name, &event.payload);
        async move { Ok::<_, Error>(answer) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_function_answers_what_routes_a_payment_to_settlement() {
        let event = json!({"payment": {"transaction_id": "t-1"}});
        assert_eq!(
            answer("payment-validator-local", &event)["verdict"],
            "ACCEPTED"
        );
        assert_eq!(
            answer("payment-fraud-detector-local", &event)["approved"],
            true
        );
        let settled = answer("payment-settlement-local", &event);
        assert_eq!(
            (&settled["transaction_id"], &settled["outcome"]),
            (&json!("t-1"), &json!("SETTLED"))
        );
        assert_eq!(answer("payment-notification-local", &event), json!({}));
    }
}
