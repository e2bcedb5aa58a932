//! secret-rotation: the four rotation steps Secrets Manager calls for the receipt signing
//! key (`payments_core::rotation`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::aws_config;
use payments_aws::lambda::{Failure, init_logging};
use payments_aws::vault::SecretsManagerVault;
use payments_core::rotation::{RotationEvent, rotate};

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config().await;
    let vault = SecretsManagerVault::new(&config);
    let vault = &vault;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<RotationEvent>| async move {
            let done = rotate(vault, &event.payload).await?;
            tracing::info!(step = %event.payload.step, done, "rotation step finished");
            Ok::<_, Failure>(())
        },
    ))
    .await
}
// ANCHOR_END: main
