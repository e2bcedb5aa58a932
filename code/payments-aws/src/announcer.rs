//! Announcements on the settlements topic: the receipt's JSON, with `transaction_id`,
//! `merchant_id` and `outcome` as message attributes so that subscribers can filter per
//! merchant and deduplicate by transaction (delivery is at least once).
//! Source: Amazon SNS Developer Guide, "Amazon SNS message attributes".

use crate::errors::classify;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use payments_core::errors::StoreError;
use payments_core::ports::{Announcement, Announcer};
use payments_core::records::StoredStatus;

#[derive(Clone)]
pub struct SnsAnnouncer {
    client: Client,
    topic_arn: String,
}

impl SnsAnnouncer {
    pub fn new(config: &aws_config::SdkConfig, topic_arn: String) -> Self {
        SnsAnnouncer {
            client: Client::new(config),
            topic_arn,
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, StoreError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| StoreError::Malformed(e.to_string()))
}

impl Announcer for SnsAnnouncer {
    async fn announce(&self, announcement: &Announcement) -> Result<(), StoreError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(&announcement.message)
            .message_attributes("transaction_id", attribute(&announcement.transaction_id)?)
            .message_attributes("merchant_id", attribute(&announcement.merchant_id)?)
            .message_attributes(
                "outcome",
                attribute(StoredStatus::of(announcement.outcome).as_str())?,
            )
            .send()
            .await
            .map_err(|e| classify("SNS", e))?;
        Ok(())
    }
}
