//! Merchant configuration from the `merchant-configs` table, read strictly: a malformed
//! `currencies` or `api_key_ids` is `Malformed` (an alert), never silently the defaults or
//! "no key bound".

use crate::errors::classify;
use crate::items::{Item, get_bool, get_n, get_s, get_string_set, malformed};
use aws_sdk_dynamodb::Client;
use payments_core::errors::StoreError;
use payments_core::merchant::{AmountLimits, MerchantConfig};
use payments_core::money::Currency;
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
        read.item()
            .map(|item| merchant_from_item(item, merchant_id))
            .transpose()
    }
}

/// Reads a merchant record; `key` is the merchant id it was read under. `currencies` may
/// be absent (the defaults apply) but not malformed; `api_key_ids` is a non-empty string
/// set (DynamoDB stores no empty set) and required.
pub fn merchant_from_item(item: &Item, key: &str) -> Result<MerchantConfig, StoreError> {
    let merchant_id = get_s(item, "merchant_id")?;
    if merchant_id != key {
        return Err(malformed("merchant_id", "is not the key read"));
    }
    let mut currencies = BTreeMap::new();
    if let Some(value) = item.get("currencies") {
        let map = value
            .as_m()
            .map_err(|_| malformed("currencies", "is not a map"))?;
        for (code, limits) in map {
            let name = format!("currencies.{code}");
            if Currency::from_code(code).is_none() {
                return Err(malformed(&name, "is not a known currency"));
            }
            let limits = limits
                .as_m()
                .map_err(|_| malformed(&name, "is not a map"))?;
            if limits.len() != 2 {
                return Err(malformed(
                    &name,
                    "must hold exactly min_amount_minor and max_amount_minor",
                ));
            }
            let limits = AmountLimits {
                min_amount_minor: get_n(limits, "min_amount_minor")
                    .map_err(|_| malformed(&name, "min_amount_minor is missing or not a number"))?,
                max_amount_minor: get_n(limits, "max_amount_minor")
                    .map_err(|_| malformed(&name, "max_amount_minor is missing or not a number"))?,
            };
            if limits.min_amount_minor > limits.max_amount_minor {
                return Err(malformed(&name, "has min above max"));
            }
            currencies.insert(code.clone(), limits);
        }
    }
    let api_key_ids = get_string_set(item, "api_key_ids")?;
    if api_key_ids.iter().any(String::is_empty) {
        return Err(malformed("api_key_ids", "holds an empty id"));
    }
    Ok(MerchantConfig {
        merchant_id,
        active: get_bool(item, "active")?,
        currencies,
        api_key_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::{n, s};
    use crate::transactions::tests::retyped;
    use aws_sdk_dynamodb::types::AttributeValue as A;

    fn limits(min: u64, max: u64) -> A {
        A::M(
            [
                ("min_amount_minor".to_string(), n(min)),
                ("max_amount_minor".to_string(), n(max)),
            ]
            .into(),
        )
    }

    fn item() -> Item {
        [
            ("merchant_id", s("merchant-001")),
            ("active", A::Bool(true)),
            (
                "currencies",
                A::M([("EUR".to_string(), limits(100, 5000))].into()),
            ),
            ("api_key_ids", A::Ss(vec!["key-a".into(), "key-b".into()])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn read(item: &Item) -> Result<MerchantConfig, StoreError> {
        merchant_from_item(item, "merchant-001")
    }

    #[test]
    fn a_well_formed_merchant_reads_back_and_currencies_may_be_absent() {
        let merchant = read(&item()).unwrap();
        assert!(merchant.binds("key-b"));
        assert_eq!(merchant.currencies["EUR"].max_amount_minor, 5000);
        let mut defaults = item();
        defaults.remove("currencies");
        assert!(read(&defaults).unwrap().currencies.is_empty());
    }

    #[test]
    fn a_merchant_may_accept_a_single_amount_but_not_none() {
        // Limits are inclusive, as validation applies them: min == max admits one amount.
        let mut single = item();
        single.insert(
            "currencies".into(),
            A::M([("EUR".to_string(), limits(500, 500))].into()),
        );
        assert_eq!(
            read(&single).unwrap().currencies["EUR"].min_amount_minor,
            500
        );
        single.insert(
            "currencies".into(),
            A::M([("EUR".to_string(), limits(501, 500))].into()),
        );
        assert!(matches!(read(&single), Err(StoreError::Malformed(_))));
    }

    /// Every attribute of a merchant record, corrupted in turn (retyped, removed where
    /// required, impossible values inside `currencies` and `api_key_ids`): each is refused
    /// as malformed.
    #[test]
    fn a_corrupted_merchant_record_is_malformed_attribute_by_attribute() {
        let good = item();
        for (name, value) in &good {
            let mut bad = good.clone();
            bad.insert(name.clone(), retyped(value));
            assert!(
                matches!(read(&bad), Err(StoreError::Malformed(_))),
                "{name} retyped"
            );
            if name != "currencies" {
                let mut without = good.clone();
                without.remove(name);
                assert!(
                    matches!(read(&without), Err(StoreError::Malformed(_))),
                    "{name} removed"
                );
            }
        }
        let min_only = A::M([("min_amount_minor".to_string(), n(1))].into());
        let extra = A::M(
            [
                ("min_amount_minor".to_string(), n(1)),
                ("max_amount_minor".to_string(), n(2)),
                ("note".to_string(), s("x")),
            ]
            .into(),
        );
        for (name, value) in [
            ("merchant_id", s("merchant-002")),
            (
                "currencies",
                A::M([("EURO".to_string(), limits(1, 2))].into()),
            ),
            ("currencies", A::M([("EUR".to_string(), s("1-2"))].into())),
            (
                "currencies",
                A::M([("EUR".to_string(), limits(9, 1))].into()),
            ),
            ("currencies", A::M([("EUR".to_string(), min_only)].into())),
            ("currencies", A::M([("EUR".to_string(), extra)].into())),
            ("api_key_ids", A::L(vec![s("key-a")])),
            ("api_key_ids", A::Ns(vec!["1".into()])),
            ("api_key_ids", A::Ss(vec!["".into()])),
        ] {
            let mut bad = good.clone();
            bad.insert(name.to_string(), value.clone());
            assert!(
                matches!(read(&bad), Err(StoreError::Malformed(_))),
                "{name} = {value:?}"
            );
        }
    }
}
