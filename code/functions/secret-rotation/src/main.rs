//! secret-rotation: the four rotation steps Secrets Manager calls for the receipt signing
//! key (`payments_aws::rotation`). Any failure is a `RotationError`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::lambda::{Failure, init_logging};
use payments_aws::rotation::{RotationEvent, rotate};
use payments_aws::vault::SecretsManagerVault;
use payments_aws::{SdkTimeouts, aws_config};

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config(&SdkTimeouts::from_env()?).await;
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
