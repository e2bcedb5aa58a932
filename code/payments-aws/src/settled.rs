//! Committed settlements as the notifier reads them: the `transactions` table only.

use crate::errors::classify;
use crate::items::s;
use crate::transactions::{SERVICE, read_decision};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use payments_core::errors::StoreError;
use payments_core::ports::SettledRecords;
use payments_core::records::DecisionRecord;

#[derive(Clone)]
pub struct DynamoSettled {
    client: Client,
    transactions: String,
}

impl DynamoSettled {
    pub fn new(config: &aws_config::SdkConfig, transactions: String) -> Self {
        DynamoSettled {
            client: Client::new(config),
            transactions,
        }
    }
}

impl SettledRecords for DynamoSettled {
    async fn settled(&self, transaction_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        read_decision(&self.client, &self.transactions, transaction_id).await
    }

    async fn clear_pending(&self, transaction_id: &str) -> Result<(), StoreError> {
        let cleared = self
            .client
            .update_item()
            .table_name(&self.transactions)
            .key("transaction_id", s(transaction_id))
            .update_expression("REMOVE notification_pending")
            .condition_expression("attribute_exists(notification_pending)")
            .send()
            .await;
        match cleared {
            Ok(_) => Ok(()),
            // Another delivery cleared it first: the same end state.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(classify(SERVICE, error)),
        }
    }
}
