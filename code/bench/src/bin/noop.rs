//! The floor of `cargo xtask bench`: a `lambda_runtime` function that does nothing. Its
//! init time, round trip and memory are what the runtime itself costs; every other row is
//! read as a multiple of it.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({}))
    }))
    .await
}
