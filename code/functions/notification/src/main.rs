//! notification: for each queued settlement, signs a receipt with the rotated key,
//! archives it in S3 and announces it on the settlements topic
//! (`payments_core::receipt::notify`). A failed record is reported alone, so the queue
//! redelivers only it and, after five receives, moves it to the dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::announcer::SnsAnnouncer;
use payments_aws::archive::S3Archive;
use payments_aws::lambda::{Failure, init_logging};
use payments_aws::signing_key::SigningKeyCache;
use payments_aws::{aws_config, required_env};
use payments_core::receipt::notify;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_config().await;
    let archive = S3Archive::new(&config, required_env("ARCHIVE_BUCKET")?);
    let announcer = SnsAnnouncer::new(&config, required_env("SETTLEMENTS_TOPIC_ARN")?);
    let keys = SigningKeyCache::new(&config, required_env("SIGNING_SECRET_ARN")?);
    let (archive, announcer, keys) = (&archive, &announcer, &keys);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let mut response = SqsBatchResponse::default();
        for message in event.payload.records {
            let id = message.message_id.unwrap_or_default();
            let outcome = match keys.current().await {
                Ok(key) => notify(message.body.as_deref().unwrap_or(""), &key, archive, announcer)
                    .await
                    .map_err(Failure::from),
                Err(error) => Err(Failure::from(error)),
            };
            match outcome {
                Ok(signed) => tracing::info!(transaction_id = %signed.receipt.transaction_id, "receipt archived"),
                Err(failure) => {
                    tracing::warn!(message_id = %id, error_type = failure.class.error_type(), "record returned to the queue");
                    let mut item = BatchItemFailure::default();
                    item.item_identifier = id;
                    response.batch_item_failures.push(item);
                }
            }
        }
        Ok::<_, Failure>(response)
    }))
    .await
}
// ANCHOR_END: main
