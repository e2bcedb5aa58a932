//! Announcements on the settlements topic.

use crate::errors::classify;
use aws_sdk_sns::Client;
use payments_core::errors::StoreError;
use payments_core::ports::Announcer;

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

impl Announcer for SnsAnnouncer {
    async fn announce(&self, subject: &str, message: &str) -> Result<(), StoreError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| classify("SNS", e))?;
        Ok(())
    }
}
