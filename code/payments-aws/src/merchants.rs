//! Merchant configuration from the `merchant-configs` table.

use crate::errors::classify;
use crate::items::{Item, get_bool, get_n, get_s};
use aws_sdk_dynamodb::Client;
use payments_core::errors::StoreError;
use payments_core::merchant::{AmountLimits, MerchantConfig};
use payments_core::ports::MerchantDirectory;
use std::collections::BTreeMap;

#[derive(Clone)]
pub struct DynamoMerchants {
    client: Client,
    table: String,
}

impl DynamoMerchants {
    pub fn new(config: &aws_config::SdkConfig, table: String) -> Self {
        DynamoMerchants {
            client: Client::new(config),
            table,
        }
    }
}

impl MerchantDirectory for DynamoMerchants {
    async fn merchant(&self, merchant_id: &str) -> Result<Option<MerchantConfig>, StoreError> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("merchant_id", crate::items::s(merchant_id))
            .send()
            .await
            .map_err(|e| classify("DynamoDB", e))?;
        read.item().map(merchant_from_item).transpose()
    }
}

fn merchant_from_item(item: &Item) -> Result<MerchantConfig, StoreError> {
    let mut currencies = BTreeMap::new();
    if let Some(map) = item.get("currencies").and_then(|v| v.as_m().ok()) {
        for (code, limits) in map {
            let limits = limits
                .as_m()
                .map_err(|_| StoreError::Malformed(format!("currencies.{code} is not a map")))?;
            currencies.insert(
                code.clone(),
                AmountLimits {
                    min_amount_minor: get_n(limits, "min_amount_minor")?,
                    max_amount_minor: get_n(limits, "max_amount_minor")?,
                },
            );
        }
    }
    Ok(MerchantConfig {
        merchant_id: get_s(item, "merchant_id")?,
        active: get_bool(item, "active")?,
        currencies,
    })
}
