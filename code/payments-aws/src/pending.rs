//! The sparse `notification-pending-index` as the reconciler reads it (KEYS_ONLY: shard,
//! `created_at` and the table's key), and the touch that makes the stream deliver a
//! still-pending record again.

use crate::errors::classify;
use crate::items::{get_s, n, s};
use crate::transactions::SERVICE;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use payments_core::errors::StoreError;
use payments_core::ports::PendingNotifications;

#[derive(Clone)]
pub struct DynamoPending {
    client: Client,
    transactions: String,
    index: String,
}

impl DynamoPending {
    pub fn new(config: &aws_config::SdkConfig, transactions: String, index: String) -> Self {
        DynamoPending {
            client: Client::new(config),
            transactions,
            index,
        }
    }
}

impl PendingNotifications for DynamoPending {
    async fn stale(&self, shard: &str, created_before: &str) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.transactions)
            .index_name(&self.index)
            .key_condition_expression("notification_pending = :shard AND created_at < :before")
            .expression_attribute_values(":shard", s(shard))
            .expression_attribute_values(":before", s(created_before))
            .into_paginator()
            .items()
            .send();
        let mut ids = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify(SERVICE, e))?;
            ids.push(get_s(&item, "transaction_id")?);
        }
        Ok(ids)
    }

    async fn retrigger(&self, transaction_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let touched = self
            .client
            .update_item()
            .table_name(&self.transactions)
            .key("transaction_id", s(transaction_id))
            .update_expression("SET notification_retry = :now")
            .condition_expression("attribute_exists(notification_pending)")
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match touched {
            Ok(_) => Ok(true),
            // Notified meanwhile.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(classify(SERVICE, error)),
        }
    }
}
