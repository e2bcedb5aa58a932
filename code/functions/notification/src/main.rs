//! notification: the outbox's consumer. Triggered by the `transactions` table's stream
//! (filtered to settled records that still carry the `notification_pending` marker), it
//! reads each record, signs what the record says, archives the receipt once, announces it
//! on the settlements topic and clears the marker (`payments_core::receipt::notify`).
//! Failures are reported per record by sequence number (`payments_aws::stream`).

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use payments_aws::announcer::SnsAnnouncer;
use payments_aws::archive::S3Archive;
use payments_aws::lambda::{Failure, init_logging, remaining_ms};
use payments_aws::settled::DynamoSettled;
use payments_aws::signing_key::SigningKeyCache;
use payments_aws::stream::each_record;
use payments_aws::{SdkTimeouts, aws_config, required_env};
use payments_core::receipt::{Notified, notify};

/// The SDK calls one record may need (read the record, the key on refresh, put the
/// receipt, read an existing one, publish, clear the marker), each bounded by
/// SDK_TIMEOUTS.operation_ms: a record is started only with this much time left.
const CALLS_PER_RECORD: u64 = 6;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let timeouts = SdkTimeouts::from_env()?;
    let config = aws_config(&timeouts).await;
    let records = DynamoSettled::new(&config, required_env("TRANSACTIONS_TABLE")?);
    let archive = S3Archive::new(&config, required_env("ARCHIVE_BUCKET")?);
    let announcer = SnsAnnouncer::new(&config, required_env("SETTLEMENTS_TOPIC_ARN")?);
    let keys = SigningKeyCache::new(&config, required_env("SIGNING_SECRET_ARN")?);
    let budget_ms = CALLS_PER_RECORD * timeouts.operation_ms;
    let (records, archive, announcer, keys) = (&records, &archive, &announcer, &keys);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let context = &event.context;
        each_record(
            &event.payload.records,
            budget_ms,
            || remaining_ms(context),
            |id| async move {
                let key = keys.current().await?;
                match notify(&id, records, &key, archive, announcer).await? {
                    Notified::Announced(_) => {
                        tracing::info!(transaction_id = %id, "receipt archived and announced")
                    }
                    Notified::AlreadyDone => {
                        tracing::info!(transaction_id = %id, "already notified")
                    }
                }
                Ok::<_, Failure>(())
            },
        )
        .await
    }))
    .await
}
// ANCHOR_END: main
